//! Threat intelligence on crafted traffic: one `[[intel]]` list per indicator kind, each
//! matched where its kind appears; malformed lists; expiry; `iprep` rules on reputation
//! files.

mod common;

use std::net::Ipv4Addr;
use std::path::Path;

use common::*;
use md5::Digest;
use sekimori::testgen::synth::{
    dns_query, tls_client_hello, udp_frame, write_pcap, Frame, TcpSession,
};

const BODY: &[u8] = b"MZ\x90\x00 not really a program, but a payload all the same";

/// DNS, UDP to a listed address, TLS and HTTP with a file, each in its own flow.
fn traffic() -> Vec<Frame> {
    let c = Ipv4Addr::new(10, 0, 0, 1);
    let mut frames: Vec<Frame> = vec![
        (
            1_000_000,
            udp_frame(
                (c, 5353),
                (Ipv4Addr::new(10, 0, 0, 53), 53),
                &dns_query(7, "Update.Evil.Example"),
            ),
        ),
        (
            1_000_100,
            udp_frame((c, 5000), (Ipv4Addr::new(203, 0, 113, 9), 9999), b"beacon"),
        ),
        (
            1_000_200,
            udp_frame((c, 5001), (Ipv4Addr::new(192, 0, 2, 10), 9999), b"beacon"),
        ),
    ];
    let mut tls = TcpSession::open((c, 40_001), (Ipv4Addr::new(10, 0, 0, 2), 443), 2_000_000);
    tls.send(true, &tls_client_hello("portal.phish.example"));
    frames.extend(tls.close());
    let mut http = TcpSession::open((c, 40_002), (Ipv4Addr::new(10, 0, 0, 3), 80), 3_000_000);
    http.send(
        true,
        b"GET /payload/drop.exe?id=1 HTTP/1.1\r\nHost: Files.Example\r\n\r\n",
    );
    let mut resp = format!(
        "HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nContent-Length: {}\r\n\r\n",
        BODY.len()
    )
    .into_bytes();
    resp.extend_from_slice(BODY);
    http.send(false, &resp);
    frames.extend(http.close());
    frames
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn replay(
    dir: &Path,
    config: &str,
    rules: &str,
    frames: &[Frame],
) -> (String, bool, Vec<serde_json::Value>) {
    let pcap = dir.join("t.pcap");
    write_pcap(&pcap, frames).unwrap();
    let cfg = dir.join("c.toml");
    std::fs::write(&cfg, config).unwrap();
    let rfile = dir.join("t.rules");
    std::fs::write(&rfile, rules).unwrap();
    let eve = dir.join("eve.json");
    let _ = std::fs::remove_file(&eve);
    let out = run(&[
        "replay",
        "--config",
        cfg.to_str().unwrap(),
        "--rules",
        rfile.to_str().unwrap(),
        "--eve",
        eve.to_str().unwrap(),
        pcap.to_str().unwrap(),
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let events = if eve.exists() {
        read_eve(&eve)
    } else {
        Vec::new()
    };
    (stderr, out.status.success(), events)
}

const NO_RULES: &str = "alert udp any any -> any 1 (msg:\"unused\"; content:\"zz\"; sid:1;)\n";

#[test]
fn each_indicator_kind_alerts_where_it_appears() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let frames = traffic();
    // The fingerprints the sensor computes for the crafted ClientHello.
    let (err, ok, events) = replay(d, "[output]\ntls = true\n", NO_RULES, &frames);
    assert!(ok, "{err}");
    let tls = of_type(&events, "tls");
    let ja3 = tls[0]["tls"]["ja3"]["hash"].as_str().unwrap().to_string();
    let ja4 = tls[0]["tls"]["ja4"].as_str().unwrap().to_string();

    let lists: &[(&str, &str, String)] = &[
        (
            "ips",
            "ip",
            "# c2\n203.0.113.0/24,90\n192.0.2.10,80,1\n".into(),
        ),
        (
            "domains",
            "domain",
            "evil.example\nphish.example,70\nfiles.example\n".into(),
        ),
        (
            "urls",
            "url",
            "http://files.example/payload/drop.exe\n".into(),
        ),
        ("md5s", "md5", hex(&md5::Md5::digest(BODY))),
        (
            "sha1s",
            "sha1",
            hex(&sha1_smol::Sha1::from(BODY).digest().bytes()),
        ),
        (
            "sha256s",
            "sha256",
            format!(
                "indicator,expires\n{},2030-01-01\n",
                hex(&sha2::Sha256::digest(BODY))
            ),
        ),
        ("ja3s", "ja3", ja3.to_uppercase()),
        ("ja4s", "ja4", ja4.clone()),
    ];
    let mut cfg = String::from("[output]\nhttp = true\n");
    for (i, (name, kind, text)) in lists.iter().enumerate() {
        std::fs::write(d.join(format!("{name}.lst")), text).unwrap();
        cfg.push_str(&format!(
            "\n[[intel]]\nname = \"{name}\"\nkind = \"{kind}\"\nfile = \"{name}.lst\"\nseverity = \"{}\"\n",
            if i % 2 == 0 { "Critical" } else { "Medium" }
        ));
    }
    let (err, ok, events) = replay(d, &cfg, NO_RULES, &frames);
    assert!(ok, "{err}");
    assert!(err.contains("intel: 8 lists, 11 indicators"), "{err}");
    // Suricata's schema (with the extension removed) when ../shared has it, ours always.
    match eve_validator() {
        Some(v) => assert_valid_eve(&v, &events),
        None => {
            let ours = sekimori_validator();
            for e in &events {
                check_schema(&ours, e);
            }
        }
    }
    let alerts = of_type(&events, "alert");
    let by = |list: &str| -> Vec<&serde_json::Value> {
        alerts
            .iter()
            .copied()
            .filter(|a| a["sekimori"]["intel"]["list"] == list)
            .collect()
    };
    let one = |list: &str, field: &str, indicator: &str| {
        let a = by(list);
        assert_eq!(a.len(), 1, "{list}: {a:?}");
        let i = &a[0]["sekimori"]["intel"];
        assert_eq!(i["field"], field, "{list}");
        assert_eq!(i["indicator"], indicator, "{list}");
        a[0].clone()
    };
    // The address inside a listed network, once per flow; the expired one (expiry 1 s,
    // packet at 1 s) is not matched.
    let a = one("ips", "dest_ip", "203.0.113.0/24");
    assert_eq!(a["sekimori"]["intel"]["seen"], "203.0.113.9");
    assert_eq!(a["sekimori"]["intel"]["confidence"], 90);
    assert_eq!(a["alert"]["signature_id"], 9_100_001);
    assert_eq!(a["alert"]["severity"], 1);
    // A subdomain of a listed domain in a DNS query, another in TLS SNI, the HTTP host
    // (one alert per transaction).
    let d = by("domains");
    assert_eq!(d.len(), 3, "{d:?}");
    let host = d
        .iter()
        .find(|a| a["sekimori"]["intel"]["field"] == "http.host")
        .unwrap();
    assert_eq!(host["sekimori"]["intel"]["indicator"], "files.example");
    let dns = d
        .iter()
        .find(|a| a["sekimori"]["intel"]["field"] == "dns.query")
        .unwrap();
    assert_eq!(dns["sekimori"]["intel"]["indicator"], "evil.example");
    assert_eq!(dns["sekimori"]["intel"]["seen"], "update.evil.example");
    assert_eq!(dns["alert"]["severity"], 3, "the list's severity (Medium)");
    let sni = d
        .iter()
        .find(|a| a["sekimori"]["intel"]["field"] == "tls.sni")
        .unwrap();
    assert_eq!(sni["sekimori"]["intel"]["indicator"], "phish.example");
    assert_eq!(sni["sekimori"]["intel"]["confidence"], 70);
    // The URL without its query string; the file's digests; both fingerprints.
    let a = one("urls", "http.url", "files.example/payload/drop.exe");
    assert_eq!(
        a["sekimori"]["intel"]["seen"],
        "files.example/payload/drop.exe?id=1"
    );
    assert_eq!(a["http"]["hostname"], "files.example");
    one("md5s", "file.md5", &hex(&md5::Md5::digest(BODY)));
    one(
        "sha1s",
        "file.sha1",
        &hex(&sha1_smol::Sha1::from(BODY).digest().bytes()),
    );
    one("sha256s", "file.sha256", &hex(&sha2::Sha256::digest(BODY)));
    one("ja3s", "ja3.hash", &ja3);
    one("ja4s", "ja4.hash", &ja4);
    assert!(
        err.contains("intel ips: 2 ip indicators (0 added at runtime), 1 alerts"),
        "{err}"
    );
}

#[test]
fn domains_in_sni_and_the_subdomain_switch() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(d.join("d.lst"), "phish.example\n").unwrap();
    let cfg = |sub: bool| {
        format!(
            "[[intel]]\nname = \"d\"\nkind = \"domain\"\nfile = \"d.lst\"\nsubdomains = {sub}\n"
        )
    };
    let (err, ok, events) = replay(d, &cfg(true), NO_RULES, &traffic());
    assert!(ok, "{err}");
    let a = of_type(&events, "alert");
    assert_eq!(a.len(), 1, "{a:?}");
    assert_eq!(a[0]["sekimori"]["intel"]["field"], "tls.sni");
    assert_eq!(a[0]["sekimori"]["intel"]["seen"], "portal.phish.example");
    let (err, ok, events) = replay(d, &cfg(false), NO_RULES, &traffic());
    assert!(ok, "{err}");
    assert!(of_type(&events, "alert").is_empty());
}

#[test]
fn malformed_lists_and_bad_definitions_stop_the_start_with_their_place() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(d.join("bad.lst"), "203.0.113.9\n300.1.1.1\nok.example\n").unwrap();
    let (err, ok, _) = replay(
        d,
        "[[intel]]\nname = \"c2\"\nkind = \"ip\"\nfile = \"bad.lst\"\n",
        NO_RULES,
        &traffic(),
    );
    assert!(!ok);
    assert!(err.contains("bad.lst:2: '300.1.1.1'"), "{err}");
    assert!(err.contains("bad.lst:3: 'ok.example'"), "{err}");
    for (cfg, says) in [
        ("[[intel]]\nname = \"x\"\nkind = \"ipv5\"\n", "kind 'ipv5'"),
        (
            "[[intel]]\nname = \"x\"\nkind = \"ip\"\nseverity = \"Huge\"\n",
            "severity 'Huge'",
        ),
        (
            "[[intel]]\nname = \"x\"\nkind = \"ip\"\nsid = 1\n",
            "sid 1 is also a loaded rule's",
        ),
        (
            "[[intel]]\nname = \"x\"\nkind = \"ip\"\n[[intel]]\nname = \"x\"\nkind = \"domain\"\n",
            "defined twice",
        ),
    ] {
        let (err, ok, _) = replay(d, cfg, NO_RULES, &traffic());
        assert!(!ok && err.contains(says), "{cfg}: {err}");
    }
}

#[test]
fn drop_lists_block_inline_and_alerts_tune_like_rules() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(d.join("c2.lst"), "203.0.113.9\n").unwrap();
    std::fs::write(
        d.join("tuning.toml"),
        "[[override]]\nsid = 9100001\nseverity = \"Informational\"\nreason = \"sinkholed\"\n",
    )
    .unwrap();
    let cfg = "[[intel]]\nname = \"c2\"\nkind = \"ip\"\nfile = \"c2.lst\"\naction = \"drop\"\n\
               [tuning]\nfiles = [\"tuning.toml\"]\n";
    let mut frames = traffic();
    frames.push((
        1_000_300,
        udp_frame(
            (Ipv4Addr::new(10, 0, 0, 1), 5000),
            (Ipv4Addr::new(203, 0, 113, 9), 9999),
            b"beacon again",
        ),
    ));
    let pcap = d.join("t.pcap");
    write_pcap(&pcap, &frames).unwrap();
    std::fs::write(d.join("c.toml"), cfg).unwrap();
    std::fs::write(d.join("t.rules"), NO_RULES).unwrap();
    let out = run(&[
        "replay",
        "--ips",
        "--config",
        d.join("c.toml").to_str().unwrap(),
        "--rules",
        d.join("t.rules").to_str().unwrap(),
        "--eve",
        d.join("eve.json").to_str().unwrap(),
        pcap.to_str().unwrap(),
    ]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    let events = read_eve(&d.join("eve.json"));
    let a = of_type(&events, "alert");
    assert_eq!(a.len(), 1, "one alert, then the flow is dropped: {a:?}");
    assert_eq!(a[0]["alert"]["action"], "blocked");
    assert_eq!(a[0]["sekimori"]["tuning"]["severity"], "Informational");
    assert_eq!(a[0]["sekimori"]["tuning"]["reason"], "sinkholed");
    assert!(err.contains(" 2 dropped"), "{err}");
}

#[test]
fn iprep_rules_read_the_reputation_files() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(
        d.join("categories.txt"),
        "1,BadHosts,Known bad\n2,CnC,C2 servers\n",
    )
    .unwrap();
    std::fs::write(
        d.join("rep.list"),
        "203.0.113.0/24,2,100\n192.0.2.10,1,20\n",
    )
    .unwrap();
    let cfg = "[reputation]\ncategories = \"categories.txt\"\nfiles = [\"rep.list\"]\n";
    let rules = "alert ip any any -> any any (msg:\"to CnC\"; iprep:dst,CnC,>,90; sid:10;)\n\
                 alert udp any any -> any any (msg:\"bad src\"; iprep:src,BadHosts,isset; sid:11;)\n\
                 alert udp any any -> any 9999 (msg:\"low rep\"; iprep:dst,BadHosts,<,50; content:\"beacon\"; sid:12;)\n";
    let (err, ok, events) = replay(d, cfg, rules, &traffic());
    assert!(ok, "{err}");
    assert!(err.contains("0 not supported yet"), "{err}");
    let sids = alert_sids(&events);
    assert_eq!(sids.iter().filter(|&&s| s == 10).count(), 1, "{sids:?}");
    assert!(!sids.contains(&11), "{sids:?}");
    assert_eq!(sids.iter().filter(|&&s| s == 12).count(), 1, "{sids:?}");
    std::fs::write(d.join("rep.list"), "203.0.113.0/24,7,100\n").unwrap();
    let (err, ok, _) = replay(d, cfg, rules, &traffic());
    assert!(!ok && err.contains("rep.list:1"), "{err}");
}

#[test]
fn datasets_on_addresses_datarep_state_and_memcap() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(d.join("bad-ips.lst"), "203.0.113.9\n2001:db8::9\n").unwrap();
    // "files.example" scores 80, "news.example" 10 (base64 values).
    std::fs::write(
        d.join("hosts.csv"),
        "ZmlsZXMuZXhhbXBsZQ==,80\nbmV3cy5leGFtcGxl,10\n",
    )
    .unwrap();
    let rules = "alert udp any any -> any any (msg:\"bad dst\"; ip.dst; dataset:isset,bad-ips, type ip, load bad-ips.lst; sid:20;)\n\
                 alert http any any -> any any (msg:\"host rep\"; http.host; datarep:host-rep, >, 50, load hosts.csv; sid:21;)\n\
                 alert dns any any -> any any (msg:\"new query\"; dns.query; dataset:set,seen-queries, type string, state seen.lst, memcap 1kb; sid:22;)\n\
                 alert udp any any -> any any (msg:\"new dst\"; ip.dst; dataset:set,dsts, type ipv4, memcap 100; sid:23;)\n";
    let (err, ok, events) = replay(d, "", rules, &traffic());
    assert!(ok, "{err}");
    let sids = alert_sids(&events);
    assert_eq!(sids.iter().filter(|&&s| s == 20).count(), 1, "{sids:?}");
    assert_eq!(sids.iter().filter(|&&s| s == 21).count(), 1, "{sids:?}");
    assert_eq!(sids.iter().filter(|&&s| s == 22).count(), 1, "{sids:?}");
    // Three UDP destinations; 100 bytes hold one 4-byte value (52 bytes with its overhead).
    assert_eq!(sids.iter().filter(|&&s| s == 23).count(), 1, "{sids:?}");
    assert!(err.contains("dataset dsts: 1 values"), "{err}");
    assert!(err.contains("2 adds refused at its memcap"), "{err}");
    assert!(
        err.contains("dataset seen-queries: 1 values saved to"),
        "{err}"
    );
    // The state file carries what the rule added into the next run: the query is not new.
    let (err, ok, events) = replay(d, "", rules, &traffic());
    assert!(ok, "{err}");
    assert!(!alert_sids(&events).contains(&22), "{err}");
}

/// A DNS response to `q` whose answers are a CNAME to `target`, then `target`'s address
/// (names written out, no compression).
fn dns_cname_response(id: u16, q: &str, target: &str) -> Vec<u8> {
    let name = |n: &str| {
        let mut v = Vec::new();
        for l in n.split('.') {
            v.push(l.len() as u8);
            v.extend_from_slice(l.as_bytes());
        }
        v.push(0);
        v
    };
    let mut m = id.to_be_bytes().to_vec();
    m.extend_from_slice(&[0x81, 0x80, 0, 1, 0, 2, 0, 0, 0, 0]);
    m.extend(name(q));
    m.extend_from_slice(&[0, 1, 0, 1]);
    let cname = name(target);
    m.extend(name(q));
    m.extend_from_slice(&[0, 5, 0, 1, 0, 0, 0, 60]);
    m.extend_from_slice(&(cname.len() as u16).to_be_bytes());
    m.extend(cname);
    m.extend(name(target));
    m.extend_from_slice(&[0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 203, 0, 113, 50]);
    m
}

#[test]
fn domains_in_mail_envelopes_and_cname_chains() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(
        d.join("d.lst"),
        "phish.example\ncdn-evil.example\nshop.example\n",
    )
    .unwrap();
    let c = Ipv4Addr::new(10, 0, 0, 1);
    let resolver = Ipv4Addr::new(10, 0, 0, 53);
    let mut frames: Vec<Frame> = vec![
        (
            1_000_000,
            udp_frame((c, 5353), (resolver, 53), &dns_query(9, "www.shop.example")),
        ),
        (
            1_000_100,
            udp_frame(
                (resolver, 53),
                (c, 5353),
                &dns_cname_response(9, "www.shop.example", "edge.cdn-evil.example"),
            ),
        ),
    ];
    let mut smtp = TcpSession::open((c, 40_025), (Ipv4Addr::new(10, 0, 0, 25), 25), 2_000_000);
    smtp.send(false, b"220 mx.example ESMTP\r\n")
        .send(true, b"EHLO ws1\r\n")
        .send(false, b"250 mx.example\r\n")
        .send(
            true,
            b"MAIL FROM:<billing@Invoices.Phish.Example> SIZE=1024\r\n",
        )
        .send(false, b"250 OK\r\n")
        .send(true, b"RCPT TO:<ap@corp.example>\r\n")
        .send(false, b"250 OK\r\n");
    frames.extend(smtp.close());
    let cfg = "[[intel]]\nname = \"d\"\nkind = \"domain\"\nfile = \"d.lst\"\n";
    let (err, ok, events) = replay(d, cfg, NO_RULES, &frames);
    assert!(ok, "{err}");
    let hits: Vec<(String, String, String)> = of_type(&events, "alert")
        .iter()
        .map(|a| {
            let i = &a["sekimori"]["intel"];
            (
                i["field"].as_str().unwrap().to_string(),
                i["indicator"].as_str().unwrap().to_string(),
                i["seen"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect();
    // The name asked in the request; in the response, the CNAME target (the name asked
    // again is the request's alert, not a second one); the sender's domain in the envelope
    // (the recipient's is not listed).
    assert_eq!(hits.len(), 3, "{hits:?}");
    assert!(hits.contains(&(
        "dns.query".into(),
        "shop.example".into(),
        "www.shop.example".into()
    )));
    assert!(hits.contains(&(
        "dns.answers.rrname".into(),
        "cdn-evil.example".into(),
        "edge.cdn-evil.example".into()
    )));
    assert!(hits.contains(&(
        "smtp.mail_from".into(),
        "phish.example".into(),
        "invoices.phish.example".into()
    )));
}

#[test]
fn ja3s_lists_match_the_server_hello() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let mut s = TcpSession::open(
        (Ipv4Addr::new(10, 0, 0, 1), 40_443),
        (Ipv4Addr::new(198, 51, 100, 30), 443),
        1_000_000,
    );
    s.send(true, &tls_client_hello("updates.example"))
        .send(false, &tls_server_hello());
    let frames = s.close();
    let (err, ok, events) = replay(d, "[output]\ntls = true\n", NO_RULES, &frames);
    assert!(ok, "{err}");
    let tls = of_type(&events, "tls");
    let ja3s = tls[0]["tls"]["ja3s"]["hash"].as_str().unwrap().to_string();
    std::fs::write(d.join("ja3s.lst"), format!("{ja3s}\n")).unwrap();
    let cfg = "[[intel]]\nname = \"servers\"\nkind = \"ja3s\"\nfile = \"ja3s.lst\"\n";
    let (err, ok, events) = replay(d, cfg, NO_RULES, &frames);
    assert!(ok, "{err}");
    let a = of_type(&events, "alert");
    assert_eq!(a.len(), 1, "{a:?}");
    assert_eq!(a[0]["sekimori"]["intel"]["field"], "ja3s.hash");
    assert_eq!(a[0]["sekimori"]["intel"]["indicator"], ja3s.as_str());
}
