//! End to end: pcap -> EVE with the bundled pack and captures, and bad input at the CLI.

mod common;

#[allow(dead_code)]
#[path = "../examples/make_pcaps.rs"]
mod make_pcaps;

use common::*;
use std::io::Write;

fn replay(extra: &[&str], inputs: &[&str]) -> (std::process::Output, Vec<serde_json::Value>) {
    let dir = tempfile::tempdir().unwrap();
    let eve = dir.path().join("eve.json");
    let mut args = vec![
        "replay",
        "--rules",
        "signatures",
        "--eve",
        eve.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    args.extend_from_slice(inputs);
    let out = run(&args);
    let events = read_eve(&eve);
    (out, events)
}

#[test]
fn bundled_pcaps_raise_each_starter_signature_once() {
    let (out, events) = replay(&[], &["pcaps"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        alert_sids(&events),
        vec![9000001, 9000002, 9000003, 9000004, 9000005, 9000006, 9000007]
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("alerts: 7"), "{stderr}");
    assert!(
        stderr.contains("9000003  SEKIMORI EXPLOIT Log4Shell"),
        "{stderr}"
    );
}

#[test]
fn benign_traffic_raises_nothing() {
    let (out, events) = replay(&[], &["pcaps/benign-web.pcap"]);
    assert!(out.status.success());
    assert!(events.is_empty(), "{events:?}");
}

#[test]
fn alert_fields_follow_suricata() {
    let (_, events) = replay(&[], &["pcaps/webshell-root.pcap"]);
    assert_eq!(events.len(), 1);
    let e = &events[0];
    assert_eq!(e["event_type"], "alert");
    assert_eq!(e["src_ip"], "10.10.1.20");
    assert_eq!(e["src_port"], 8080);
    assert_eq!(e["dest_ip"], "203.0.113.66");
    assert_eq!(e["proto"], "TCP");
    assert_eq!(e["direction"], "to_client");
    // IDS mode inspects stream data once the peer acknowledged it, on the next packet of the
    // data's direction (as Suricata): the reply is packet 6, the client ACKs it in 7, the
    // server's next packet is its FIN (9).
    assert_eq!(e["pcap_cnt"], 9);
    assert_eq!(e["timestamp"], "2025-11-24T16:00:00.008000+0000");
    assert!(e["flow_id"].as_u64().unwrap() > 0);
    assert_eq!(
        e["community_id"],
        sekimori::output::community_id::community_id(
            "203.0.113.66".parse().unwrap(),
            "10.10.1.20".parse().unwrap(),
            6,
            51000,
            8080
        )
    );
    let a = &e["alert"];
    assert_eq!(a["action"], "allowed");
    assert_eq!((a["gid"].as_u64(), a["rev"].as_u64()), (Some(1), Some(1)));
    assert_eq!(a["category"], "Potentially Bad Traffic");
    assert_eq!(a["severity"], 2);
    assert_eq!(a["metadata"]["attack_target"][0], "Server");
    let f = &e["flow"];
    assert_eq!(f["src_ip"], "203.0.113.66");
    assert_eq!(f["dest_port"], 8080);
    assert_eq!(
        (f["pkts_toserver"].as_u64(), f["pkts_toclient"].as_u64()),
        (Some(5), Some(4))
    );
}

#[test]
fn ips_mode_blocks_drop_rules_only() {
    let (out, events) = replay(&["--ips"], &["pcaps"]);
    assert!(out.status.success());
    for e in &events {
        let want = if e["alert"]["signature_id"] == 9000005 {
            "blocked"
        } else {
            "allowed"
        };
        assert_eq!(e["alert"]["action"], want, "{e}");
    }
    let stderr = String::from_utf8_lossy(&out.stderr);
    // The matching packet and the 6 later packets of the miner's flow are dropped.
    assert!(stderr.contains(" 7 dropped"), "{stderr}");
}

#[test]
fn one_or_two_workers_give_the_same_alerts() {
    let key = |events: &[serde_json::Value]| {
        let mut v: Vec<(u64, u64)> = events
            .iter()
            .map(|e| {
                (
                    e["pcap_cnt"].as_u64().unwrap(),
                    e["alert"]["signature_id"].as_u64().unwrap(),
                )
            })
            .collect();
        v.sort_unstable();
        v
    };
    let (_, one) = replay(&["--workers", "1"], &["pcaps"]);
    let (_, two) = replay(&["--workers", "2"], &["pcaps"]);
    assert_eq!(key(&one), key(&two));
    assert_eq!(one.len(), 7);
}

#[test]
fn eve_validates_against_suricata_schema() {
    let Some(v) = eve_validator() else {
        eprintln!("skipped: ../shared/eve/schema.json is absent (a plain clone has no ../shared)");
        return;
    };
    let (_, events) = replay(&["--ips", "--flow-events"], &["pcaps"]);
    let flows = events.iter().filter(|e| e["event_type"] == "flow").count();
    assert_eq!((events.len(), flows), (20, 13));
    assert_valid_eve(&v, &events);
}

#[test]
fn committed_pcaps_match_their_generator() {
    let dir = tempfile::tempdir().unwrap();
    for (name, frames) in make_pcaps::scenarios() {
        let fresh = dir.path().join(name);
        sekimori::testgen::synth::write_pcap(&fresh, &frames).unwrap();
        let committed = std::fs::read(root().join("pcaps").join(name)).unwrap();
        assert!(
            std::fs::read(&fresh).unwrap() == committed,
            "pcaps/{name} is stale: run `cargo run --example make_pcaps`"
        );
    }
}

#[test]
fn unreadable_capture_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let junk = dir.path().join("junk.pcap");
    std::fs::write(&junk, b"this is not a pcap").unwrap();
    let (out, _) = replay(&[], &[junk.to_str().unwrap()]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("junk.pcap"), "{stderr}");
    let (out, _) = replay(&[], &["/nonexistent/capture.pcap"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("/nonexistent/capture.pcap"));
}

#[test]
fn truncated_capture_keeps_what_was_read() {
    let dir = tempfile::tempdir().unwrap();
    let full = std::fs::read(root().join("pcaps/sqli-union.pcap")).unwrap();
    let cut = dir.path().join("cut.pcap");
    // Keep the header and the first four records whole, then half of the fifth.
    std::fs::write(&cut, &full[..full.len() * 2 / 3]).unwrap();
    let (out, events) = replay(&[], &[cut.to_str().unwrap()]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("1 truncated"), "{stderr}");
    assert_eq!(alert_sids(&events), vec![9000002]);
}

#[test]
fn bad_rules_are_reported_and_the_rest_load() {
    let dir = tempfile::tempdir().unwrap();
    let rules = dir.path().join("mixed.rules");
    let mut f = std::fs::File::create(&rules).unwrap();
    writeln!(
        f,
        "alert tcp any any -> any any (msg:\"broken\"; content:\"|zz|\"; sid:77;)"
    )
    .unwrap();
    writeln!(
        f,
        "alert udp any any -> any 53 (msg:\"c2\"; content:\"bad-c2\"; nocase; sid:78;)"
    )
    .unwrap();
    let eve = dir.path().join("eve.json");
    let out = run(&[
        "replay",
        "--rules",
        rules.to_str().unwrap(),
        "--eve",
        eve.to_str().unwrap(),
        "pcaps/dns-c2.pcap",
    ]);
    assert!(out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    // One line per reason by default...
    assert!(
        stderr.contains("rules not loaded: 1, by reason")
            && stderr.contains("     1  failed to parse: content: invalid hex digit"),
        "{stderr}"
    );
    assert!(!stderr.contains("sid 77"), "{stderr}");
    assert_eq!(alert_sids(&read_eve(&eve)), vec![78]);
    // ...and every rule with its file, line and sid under -v.
    let out = run(&[
        "replay",
        "-v",
        "--rules",
        rules.to_str().unwrap(),
        "--eve",
        eve.to_str().unwrap(),
        "pcaps/dns-c2.pcap",
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("mixed.rules:1: sid 77: content: invalid hex digit"),
        "{stderr}"
    );
}

#[test]
fn missing_rules_and_bad_config_are_errors() {
    let out = run(&[
        "replay",
        "--rules",
        "/nonexistent.rules",
        "--eve",
        "-",
        "pcaps",
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("/nonexistent.rules"));

    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("sekimori.toml");
    std::fs::write(&cfg, "[flow]\ntimeout_nwe = 5\n").unwrap();
    let out = run(&[
        "replay",
        "--config",
        cfg.to_str().unwrap(),
        "--rules",
        "signatures",
        "--eve",
        "-",
        "pcaps",
    ]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("sekimori.toml") && stderr.contains("timeout_nwe"),
        "{stderr}"
    );
}

#[test]
fn config_variables_change_what_matches() {
    // With HOME_NET moved elsewhere, the starter pack's $HOME_NET rules no longer apply.
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("sekimori.toml");
    std::fs::write(&cfg, "[vars.address]\nHOME_NET = \"[100.64.0.0/10]\"\n").unwrap();
    let eve = dir.path().join("eve.json");
    let out = run(&[
        "replay",
        "--config",
        cfg.to_str().unwrap(),
        "--rules",
        "signatures",
        "--eve",
        eve.to_str().unwrap(),
        "pcaps",
    ]);
    assert!(out.status.success());
    assert!(alert_sids(&read_eve(&eve)).is_empty());
}

#[test]
fn eve_to_stdout() {
    let out = run(&[
        "replay",
        "--rules",
        "signatures",
        "--eve",
        "-",
        "pcaps/dns-c2.pcap",
    ]);
    assert!(out.status.success());
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(stdout.lines().count(), 1);
    assert!(stdout.contains("\"signature_id\":9000004"));
}

#[test]
fn rules_check_reports_counts() {
    let out = run(&["rules", "check", "signatures"]);
    assert!(out.status.success());
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("rules: 7 "), "{stdout}");
    assert!(stdout.contains("loaded: 7 (100.0%)"), "{stdout}");
    // The tcp payload group split by direction (two to_server rules, one to_client), plus
    // http.uri, http.method, and dotprefix(dns.query) and dotprefix(tls.sni): a transformed
    // buffer has a database of its own.
    assert!(stdout.contains("hyperscan: 6 databases"), "{stdout}");
    assert!(stdout.contains("0 rules without fast pattern"), "{stdout}");
}

#[test]
fn hyperscan_cache_is_reused_with_identical_alerts() {
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("hs");
    let check = |expect: &str| {
        let out = run(&[
            "rules",
            "check",
            "--cache-dir",
            cache.to_str().unwrap(),
            "signatures",
        ]);
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(stdout.contains(expect), "{stdout}");
    };
    check("0 databases loaded from cache");
    check("0 compiled");
    let (_, cold) = replay(&[], &["pcaps"]);
    let (_, warm) = replay(&["--cache-dir", cache.to_str().unwrap()], &["pcaps"]);
    assert_eq!(alert_sids(&cold), alert_sids(&warm));
}

#[test]
fn config_disables_and_turns_rules_into_drop() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("sekimori.toml");
    std::fs::write(&cfg, "[rules]\ndisable = [\"9000001\", \"9000002-9000003\"]\ndrop = [\"re:Log4Shell|C2 domain\"]\n").unwrap();
    let eve = dir.path().join("eve.json");
    let out = run(&[
        "replay",
        "--ips",
        "--config",
        cfg.to_str().unwrap(),
        "--rules",
        "signatures",
        "--eve",
        eve.to_str().unwrap(),
        "pcaps",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let events = read_eve(&eve);
    assert_eq!(
        alert_sids(&events),
        vec![9000004, 9000005, 9000006, 9000007]
    );
    let mut blocked: Vec<u64> = events
        .iter()
        .filter(|e| e["alert"]["action"] == "blocked")
        .map(|e| e["alert"]["signature_id"].as_u64().unwrap())
        .collect();
    blocked.sort_unstable();
    // 9000004 and 9000007 were alert rules turned into drop; 9000005 is a drop rule.
    assert_eq!(blocked, vec![9000004, 9000005, 9000007]);
}

#[test]
fn app_layer_alerts_carry_their_transaction() {
    let (out, events) = replay(&[], &["pcaps"]);
    assert!(out.status.success());
    let alert = |sid: u64| {
        events
            .iter()
            .find(|e| e["alert"]["signature_id"] == sid)
            .unwrap_or_else(|| panic!("no alert {sid}"))
    };
    // HTTP: the raw URI is logged, the rule matched the decoded one.
    let sqli = alert(9000002);
    assert_eq!(sqli["app_proto"], "http");
    assert_eq!(sqli["tx_id"], 0);
    assert_eq!(sqli["http"]["hostname"], "shop.example");
    assert_eq!(sqli["http"]["http_method"], "GET");
    assert!(sqli["http"]["url"].as_str().unwrap().contains("%20UnIoN"));
    let dns = alert(9000004);
    assert_eq!(dns["app_proto"], "dns");
    assert_eq!(dns["dns"]["queries"][0]["rrname"], "update.BAD-C2.example");
    assert_eq!(dns["dns"]["queries"][0]["rrtype"], "A");
    let tls = alert(9000007);
    assert_eq!(tls["app_proto"], "tls");
    assert_eq!(tls["tls"]["sni"], "login.evil-c2.example");
    assert_eq!(
        tls["tls"]["ja3"]["string"],
        "771,49199-4865,0-10-11-13-16,29-23,0"
    );
    assert_eq!(tls["tls"]["ja3"]["hash"].as_str().unwrap().len(), 32);
    assert!(tls["tls"]["ja4"]
        .as_str()
        .unwrap()
        .starts_with("t12d0205h2_"));
    // A payload rule on an HTTP flow: app_proto, but no transaction.
    let log4j = alert(9000003);
    assert_eq!(log4j["app_proto"], "http");
    assert!(log4j.get("http").is_none() && log4j.get("tx_id").is_none());
}

#[test]
fn transaction_events_are_off_by_default_and_on_in_toml() {
    let (_, events) = replay(&[], &["pcaps/benign-web.pcap"]);
    assert!(events.is_empty());
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("sekimori.toml");
    std::fs::write(&cfg, "[output]\nhttp = true\ntls = true\ndns = true\n").unwrap();
    let (out, events) = replay(
        &["--config", cfg.to_str().unwrap()],
        &["pcaps/benign-web.pcap"],
    );
    assert!(out.status.success());
    let of = |kind: &str| -> Vec<&serde_json::Value> {
        events.iter().filter(|e| e["event_type"] == kind).collect()
    };
    let mut http = of("http");
    http.sort_by_key(|e| e["http"]["url"].as_str().unwrap().to_string());
    assert_eq!(http.len(), 2, "{events:?}");
    assert_eq!(http[0]["http"]["http_method"], "POST");
    assert_eq!(http[1]["http"]["status"], 200);
    assert_eq!(http[1]["http"]["url"], "/world/european-union-summit");
    assert_eq!(of("tls").len(), 1);
    assert_eq!(of("tls")[0]["tls"]["sni"], "www.example.com");
    let mut dns: Vec<&str> = of("dns")
        .iter()
        .map(|e| e["dns"]["queries"][0]["rrname"].as_str().unwrap())
        .collect();
    dns.sort_unstable();
    assert_eq!(
        dns,
        [
            "c2-monitoring.example",
            "mail.example.org",
            "www.example.com"
        ]
    );
    if let Some(v) = eve_validator() {
        assert_valid_eve(&v, &events);
    }
}

#[test]
fn flow_events_report_each_flow_once() {
    let (_, events) = replay(&["--flow-events"], &["pcaps/webshell-root.pcap"]);
    let flows: Vec<&serde_json::Value> = events
        .iter()
        .filter(|e| e["event_type"] == "flow")
        .collect();
    assert_eq!(flows.len(), 1);
    let f = flows[0];
    assert_eq!(f["flow"]["state"], "closed");
    assert_eq!(f["flow"]["reason"], "shutdown");
    assert_eq!(f["flow"]["alerted"], true);
    assert_eq!(
        (
            f["flow"]["pkts_toserver"].as_u64(),
            f["flow"]["pkts_toclient"].as_u64()
        ),
        (Some(6), Some(4))
    );
    let alert = events.iter().find(|e| e["event_type"] == "alert").unwrap();
    assert_eq!(alert["flow_id"], f["flow_id"]);
    assert_eq!(alert["community_id"], f["community_id"]);
}

#[test]
fn stream_rule_completing_segments_after_its_fast_pattern_still_alerts() {
    use sekimori::testgen::synth::TcpSession;
    // The fast pattern (the longest content) arrives 2,000 bytes before the content that
    // completes the match: the later chunk's prefilter must still report it.
    let rule = "alert tcp any any -> any any (msg:\"split\"; flow:to_server; content:\"FASTPATTERN-MARKER\"; content:\"tail\"; distance:0; sid:7; rev:1;)";
    let mut s = TcpSession::open(
        ("10.0.0.1".parse().unwrap(), 40000),
        ("10.0.0.2".parse().unwrap(), 5555),
        1_700_000_000_000_000,
    );
    let mut first = b"FASTPATTERN-MARKER".to_vec();
    first.extend(std::iter::repeat_n(b'x', 2000));
    s.send(true, &first)
        .send(false, b"ok")
        .send(true, b"more tail")
        .send(false, b"ok");
    let (_, events) = replay_frames(rule, &s.close());
    assert_eq!(alert_sids(&events), vec![7]);
}
