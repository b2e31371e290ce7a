//! The sensor's own detections (`[analytics]`) end to end on crafted traffic: each fires on
//! the behaviour it names and stays quiet on the look-alikes an analyst would dismiss (a
//! blocklist resolver, a share that is not administrative, a file browser reading an
//! icon, a busy but irregular client, a vendor's download, a long bearer token, an ordinary
//! certificate, a download over FTP); all are off without `[analytics]`; findings carry
//! `sekimori.analytic` and validate against the schema; bad settings are errors.

mod common;

use common::*;
use sekimori::testgen::smb::{
    close, create, create_resp, nbss, read, read_resp, tree_connect, tree_connect_resp, write,
};
use sekimori::testgen::synth::{
    dns_query, tls_client_hello, tls_handshake, udp_frame, Frame, TcpSession,
};
use std::net::Ipv4Addr;

/// Every analytic on.
const ANALYTICS: &str =
    "[analytics.dns_tunnel]\n[analytics.admin_share_exec]\n[analytics.beacon]\n\
[analytics.exe_delivery]\n[analytics.auth_overflow]\n[analytics.tor]\n[analytics.ftp_upload]\n";

/// An internal host (the default `$HOME_NET` holds 10.0.0.0/8) and external servers.
const INSIDE: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
const INSIDE_SERVER: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 2);
const OUTSIDE: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 7);

/// Replays `frames` with `config` (no rules of its own but one that never matches) and
/// returns the replay's stderr and events.
fn replay_config(config: &str, frames: &[Frame]) -> (String, Vec<serde_json::Value>) {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("c.toml");
    std::fs::write(&cfg, config).unwrap();
    let rules =
        "alert tcp any any -> any any (msg:\"never\"; content:\"no-such-bytes-here\"; sid:1;)\n";
    let (out, events) = replay_frames_with(rules, frames, &["--config", cfg.to_str().unwrap()]);
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "{stderr}");
    (stderr, events)
}

/// The analytic findings among the alerts: (sid, the `sekimori.analytic` object).
fn findings(events: &[serde_json::Value]) -> Vec<(u64, serde_json::Value)> {
    let v = sekimori_validator();
    of_type(events, "alert")
        .into_iter()
        .filter_map(|e| {
            check_schema(&v, e);
            let a = e["sekimori"]["analytic"].clone();
            (!a.is_null()).then(|| (e["alert"]["signature_id"].as_u64().unwrap(), a))
        })
        .collect()
}

/// A minimal PE32 image of `len` bytes.
fn pe(len: usize) -> Vec<u8> {
    let mut d = vec![0u8; len.max(0x100)];
    d[..2].copy_from_slice(b"MZ");
    d[0x3c..0x40].copy_from_slice(&0x80u32.to_le_bytes());
    d[0x80..0x84].copy_from_slice(b"PE\0\0");
    d[0x80 + 24..0x80 + 26].copy_from_slice(&0x10bu16.to_le_bytes());
    d
}

/// An SMB2 session on `share` that writes `data` as `name`.
fn smb_write(share: &str, name: &str, data: &[u8]) -> Vec<Frame> {
    let mut s = TcpSession::open(
        (Ipv4Addr::new(10, 0, 0, 1), 40_001),
        (Ipv4Addr::new(10, 0, 0, 2), 445),
        1_000_000,
    );
    s.send(true, &nbss(&tree_connect(1, share)))
        .send(false, &nbss(&tree_connect_resp(1, 5, 1)))
        .send(true, &nbss(&create(2, 5, name)))
        .send(false, &nbss(&create_resp(2, 5, 9)))
        .send(true, &nbss(&write(3, 5, 9, 0, data)))
        .send(true, &nbss(&close(4, 5, 9)));
    s.close()
}

/// An SMB2 session on `share` that opens `name` (the server announcing `size` bytes) and
/// reads `data` from its start.
fn smb_read(share: &str, name: &str, size: u64, data: &[u8]) -> Vec<Frame> {
    let mut s = TcpSession::open(
        (Ipv4Addr::new(10, 0, 0, 1), 40_002),
        (Ipv4Addr::new(10, 0, 0, 2), 445),
        1_000_000,
    );
    let mut resp = create_resp(2, 5, 9);
    // End of file: the create response's body starts after the 64-byte header.
    resp[64 + 48..64 + 56].copy_from_slice(&size.to_le_bytes());
    s.send(true, &nbss(&tree_connect(1, share)))
        .send(false, &nbss(&tree_connect_resp(1, 5, 1)))
        .send(true, &nbss(&create(2, 5, name)))
        .send(false, &nbss(&resp))
        .send(true, &nbss(&read(3, 5, 9, 0, data.len() as u32)))
        .send(false, &nbss(&read_resp(3, data)))
        .send(true, &nbss(&close(4, 5, 9)));
    s.close()
}

#[test]
fn executables_copied_over_administrative_shares() {
    let image = pe(3000);
    // Pushed to C$ and ADMIN$: raised, as written.
    for share in ["\\\\ws7\\C$", "\\\\ws7\\ADMIN$"] {
        let (_, ev) = replay_config(ANALYTICS, &smb_write(share, "tool.exe", &image));
        let f = findings(&ev);
        assert_eq!(f.len(), 1, "{share}: {f:?}");
        assert_eq!(f[0].0, 9_200_002);
        assert_eq!(f[0].1["name"], "admin_share_exec");
        assert_eq!(f[0].1["direction"], "written");
        assert_eq!(f[0].1["filename"], "tool.exe");
        assert_eq!(f[0].1["size"], 3000);
        let alert = of_type(&ev, "alert")[0];
        assert_eq!(
            alert["alert"]["category"],
            "Attempted Administrator Privilege Gain"
        );
    }
    // A whole copy pulled from C$: raised, as read.
    let (_, ev) = replay_config(
        ANALYTICS,
        &smb_read("\\\\ws7\\C$", "tool.exe", 3000, &image),
    );
    let f = findings(&ev);
    assert_eq!(f.len(), 1, "{f:?}");
    assert_eq!(f[0].1["direction"], "read");
    // Not raised: an ordinary share, IPC$, a document, the first bytes of a larger file (a
    // file browser reading the icon), and the analytic off.
    let quiet: Vec<(&str, Vec<Frame>)> = vec![
        (
            "ordinary share",
            smb_write("\\\\ws7\\tools", "tool.exe", &image),
        ),
        ("IPC$", smb_write("\\\\ws7\\IPC$", "tool.exe", &image)),
        (
            "document",
            smb_write("\\\\ws7\\C$", "notes.txt", b"plain text, not an executable"),
        ),
        (
            "partial read",
            smb_read("\\\\ws7\\C$", "tool.exe", 900_000, &image),
        ),
    ];
    for (what, frames) in quiet {
        let (_, ev) = replay_config(ANALYTICS, &frames);
        assert!(findings(&ev).is_empty(), "{what}");
    }
    let (_, ev) = replay_config("", &smb_write("\\\\ws7\\C$", "tool.exe", &image));
    assert!(
        of_type(&ev, "alert").is_empty(),
        "analytics are off without [analytics]"
    );
}

/// One DNS query per name from `client` to the resolver, a second apart.
fn queries(client: Ipv4Addr, names: &[String]) -> Vec<Frame> {
    names
        .iter()
        .enumerate()
        .map(|(i, n)| {
            let q = dns_query(i as u16, n);
            (
                1_000_000 + i as i64 * 1_000_000,
                udp_frame(
                    (client, 50_000 + i as u16),
                    (Ipv4Addr::new(10, 0, 0, 53), 53),
                    &q,
                ),
            )
        })
        .collect()
}

/// A label of `len` characters that differs for each `i`.
fn label(i: usize, len: usize) -> String {
    let alphabet = b"abcdefghijklmnopqrstuvwxyz234567";
    let mut x = (i as u64 + 1).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    (0..len)
        .map(|_| {
            x ^= x >> 29;
            x = x.wrapping_mul(0xbf58_476d_1ce4_e5b9);
            alphabet[(x % 32) as usize] as char
        })
        .collect()
}

#[test]
fn dns_tunnels_are_told_from_blocklist_lookups() {
    let client = Ipv4Addr::new(10, 0, 0, 7);
    // 80 names of 40-character encoded labels under one domain: raised once.
    let tunnel: Vec<String> = (0..80)
        .map(|i| format!("{}.t.example.net", label(i, 40)))
        .collect();
    let (_, ev) = replay_config(ANALYTICS, &queries(client, &tunnel));
    let f = findings(&ev);
    assert_eq!(f.len(), 1, "{f:?}");
    assert_eq!(f[0].0, 9_200_001);
    assert_eq!(f[0].1["domain"], "example.net");
    assert!(f[0].1["names"].as_u64().unwrap() >= 50);
    assert!(f[0].1["bytes"].as_u64().unwrap() >= 2000);
    let alert = of_type(&ev, "alert")[0];
    assert_eq!(alert["src_ip"], "10.0.0.7");
    assert_eq!(alert["app_proto"], "dns");
    // Not raised: 300 blocklist lookups (reversed addresses are keys, not payload), 300
    // short host names, 40 tunnel names (under the distinct-name threshold), reverse
    // lookups.
    let dnsbl: Vec<String> = (0..300)
        .map(|i| format!("{}.{}.113.203.zen.spamhaus.org", i % 250, i / 250))
        .collect();
    let hosts: Vec<String> = (0..300)
        .map(|i| format!("host{i}.corp.example.com"))
        .collect();
    let few: Vec<String> = tunnel[..40].to_vec();
    let reverse: Vec<String> = (0..300)
        .map(|i| format!("{}.{}.168.192.in-addr.arpa", i % 250, i / 250))
        .collect();
    for (what, names) in [
        ("dnsbl", dnsbl),
        ("hosts", hosts),
        ("few", few),
        ("reverse", reverse),
    ] {
        let (_, ev) = replay_config(ANALYTICS, &queries(client, &names));
        assert!(findings(&ev).is_empty(), "{what}");
    }
}

/// `n` TCP sessions from `client` to `server`, the i-th starting at `start(i)` seconds.
fn sessions(
    client: Ipv4Addr,
    server: (Ipv4Addr, u16),
    n: usize,
    start: impl Fn(usize) -> f64,
) -> Vec<Frame> {
    let mut frames = Vec::new();
    for i in 0..n {
        let at = 1_000_000 + (start(i) * 1e6) as i64;
        let mut s = TcpSession::open((client, 41_000 + i as u16), server, at);
        s.send(true, b"\x16\x03\x01hello")
            .send(false, b"\x16\x03\x03hi");
        frames.extend(s.close());
    }
    frames.sort_by_key(|f| f.0);
    frames
}

#[test]
fn beacons_are_steady_sessions_to_one_external_server() {
    let inside = Ipv4Addr::new(192, 168, 1, 5);
    let outside = (Ipv4Addr::new(203, 0, 113, 9), 8443);
    // Every 30 s with up to 1 s of jitter: raised once, at the 20th session.
    let steady = sessions(inside, outside, 25, |i| {
        i as f64 * 30.0 + (i % 3) as f64 * 0.5
    });
    let (_, ev) = replay_config(ANALYTICS, &steady);
    let f = findings(&ev);
    assert_eq!(f.len(), 1, "{f:?}");
    assert_eq!(f[0].0, 9_200_003);
    assert_eq!(f[0].1["server"], "203.0.113.9");
    assert_eq!(f[0].1["port"], 8443);
    assert_eq!(f[0].1["sessions"], 20);
    let interval = f[0].1["interval"].as_f64().unwrap();
    assert!((29.0..31.0).contains(&interval), "{interval}");
    // Not raised: irregular sessions, a burst faster than the minimum interval, fewer than
    // 20 sessions, and steady sessions between two internal hosts.
    let irregular = sessions(inside, outside, 40, |i| {
        (i * i) as f64 * 3.0 + (i % 7) as f64 * 11.0
    });
    let burst = sessions(inside, outside, 40, |i| i as f64 * 0.2);
    let few = sessions(inside, outside, 15, |i| i as f64 * 30.0);
    let internal = sessions(inside, (Ipv4Addr::new(192, 168, 1, 9), 8443), 25, |i| {
        i as f64 * 30.0
    });
    for (what, frames) in [
        ("irregular", irregular),
        ("burst", burst),
        ("few", few),
        ("internal", internal),
    ] {
        let (_, ev) = replay_config(ANALYTICS, &frames);
        assert!(findings(&ev).is_empty(), "{what}");
    }
}

#[test]
fn tuning_rates_findings_and_settings_are_checked() {
    let dir = tempfile::tempdir().unwrap();
    let tuning = dir.path().join("t.toml");
    std::fs::write(
        &tuning,
        "[[override]]\nsid = 9200002\nseverity = \"Critical\"\nreason = \"lateral movement is always escalated here\"\n",
    )
    .unwrap();
    let frames = smb_write("\\\\ws7\\C$", "tool.exe", &pe(2000));
    let (_, ev) = replay_config(ANALYTICS, &frames);
    let base = &of_type(&ev, "alert")[0]["alert"];
    assert_eq!(base["severity"], 2, "analytics start at priority 2");
    // With a tuning: the override rates it, and the incident engine opens an unauthorized
    // access incident on the host written to.
    let dir2 = tempfile::tempdir().unwrap();
    let cfg = dir2.path().join("c.toml");
    std::fs::write(&cfg, ANALYTICS).unwrap();
    let (out, ev) = replay_frames_with(
        "alert tcp any any -> any any (msg:\"never\"; content:\"no-such-bytes-here\"; sid:1;)\n",
        &frames,
        &[
            "--config",
            cfg.to_str().unwrap(),
            "--tuning",
            tuning.to_str().unwrap(),
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let alert = of_type(&ev, "alert")[0];
    assert_eq!(alert["sekimori"]["tuning"]["severity"], "Critical");
    assert_eq!(alert["sekimori"]["tuning"]["type"], 100);
    let inc = of_type(&ev, "incident")[0];
    assert_eq!(inc["incident"]["victim"]["ip"], "10.0.0.2");
    assert_eq!(inc["incident"]["severity"], "Critical");
    // The incident carries the finding, as the alert did.
    check_schema(&sekimori_validator(), inc);
    let found = &inc["incident"]["findings"][0];
    assert_eq!(found["signature_id"], 9_200_002);
    assert_eq!(found["analytic"], alert["sekimori"]["analytic"]);
    // `sekimori incidents` lists it under the incident.
    let eve = dir2.path().join("eve.json");
    let lines: Vec<String> = ev.iter().map(|e| e.to_string()).collect();
    std::fs::write(&eve, lines.join("\n") + "\n").unwrap();
    let out = run(&[
        "incidents",
        "--tuning",
        tuning.to_str().unwrap(),
        eve.to_str().unwrap(),
    ]);
    let text = String::from_utf8_lossy(&out.stdout);
    let share = alert["sekimori"]["analytic"]["share"].as_str().unwrap();
    let line = format!("found: analytic admin_share_exec (sid 9200002): share {share}, filename tool.exe, size 2000");
    assert!(text.contains(&line), "{text}");
    // Bad settings name their key; a sid clash with a loaded rule is refused.
    for (config, needle) in [
        ("[analytics.beacon]\nmin_sessions = 2\n", "analytics.beacon"),
        (
            "[analytics.dns_tunnel]\nwindow = 0\n",
            "analytics.dns_tunnel",
        ),
        ("[analytics.dns_tunnel]\nthreshold = 3\n", "threshold"),
        (
            "[analytics.auth_overflow]\nmax_length = 5000\n",
            "analytics.auth_overflow",
        ),
        (
            "[analytics.dns_tunnel]\nsid = 1\n",
            "sid 1 is also a loaded rule",
        ),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let cfg = dir.path().join("c.toml");
        std::fs::write(&cfg, config).unwrap();
        let (out, _) = replay_frames_with(
            "alert tcp any any -> any any (msg:\"never\"; content:\"no-such-bytes-here\"; sid:1;)\n",
            &frames,
            &["--config", cfg.to_str().unwrap()],
        );
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{config}");
        assert!(err.contains(needle), "{config}: {err}");
    }
}

#[test]
fn analytics_load_beside_the_bundled_rules() {
    // Their default sids must not collide with the project's own signatures.
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("c.toml");
    let eve = dir.path().join("eve.json");
    std::fs::write(&cfg, ANALYTICS).unwrap();
    let root = root();
    let out = run(&[
        "replay",
        "--config",
        cfg.to_str().unwrap(),
        "--rules",
        root.join("signatures").to_str().unwrap(),
        "--eve",
        eve.to_str().unwrap(),
        root.join("pcaps").to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(alert_sids(&read_eve(&eve)).len(), 7);
}

/// A worker whose engine carries the analytics' signatures, writing EVE to `eve`.
fn worker_with(
    eve: &std::path::Path,
    analytics: Option<std::sync::Arc<sekimori::detect::analytics::Specs>>,
) -> (
    sekimori::runtime::worker::Worker,
    sekimori::output::EveWriter,
    std::sync::Arc<sekimori::detect::Engine>,
) {
    use sekimori::detect::rules::{classification::Classifications, parse::parse_rule, Vars};
    let vars = Vars::suricata_defaults();
    let rules = beacon_specs()
        .rules()
        .into_iter()
        .map(|(_, _, t)| {
            let mut r = parse_rule(&t, &vars).unwrap();
            r.external = true;
            r
        })
        .collect();
    let engine = std::sync::Arc::new(
        sekimori::detect::Engine::build(rules, &Classifications::bundled()).unwrap(),
    );
    let (writer, sender) = sekimori::output::EveWriter::start(
        &sekimori::output::EveTarget::File(eve.into()),
        sekimori::output::Backpressure::Block,
    )
    .unwrap();
    let cfg = sekimori::runtime::worker::WorkerConfig {
        checksums: sekimori::runtime::worker::ChecksumMode::No,
        analytics,
        ..Default::default()
    };
    let w =
        sekimori::runtime::worker::Worker::new(0, engine.clone(), Default::default(), sender, cfg)
            .unwrap();
    (w, writer, engine)
}

fn beacon_specs() -> sekimori::detect::analytics::Specs {
    use sekimori::detect::analytics::{Analytic, Specs};
    let home = sekimori::detect::rules::header::parse_addr(
        "192.168.0.0/16",
        &sekimori::detect::rules::Vars::suricata_defaults(),
    )
    .unwrap();
    Specs {
        on: vec![(Analytic::Beacon, Analytic::Beacon.default_sid())],
        home: Some(home),
        max_tracked: 64,
        ..Specs::default()
    }
}

#[test]
fn a_reload_hands_workers_the_analytics_and_unchanged_ones_keep_their_state() {
    let frames = sessions(
        Ipv4Addr::new(192, 168, 1, 5),
        (Ipv4Addr::new(203, 0, 113, 9), 8443),
        20,
        |i| i as f64 * 30.0,
    );
    let half = frames.partition_point(|f| f.0 < 1_000_000 + 10 * 30_000_000);
    let specs = std::sync::Arc::new(beacon_specs());
    let feed = |w: &mut sekimori::runtime::worker::Worker, range: std::ops::Range<usize>| {
        for i in range {
            w.process(
                sekimori::decode::LinkType::Ethernet,
                frames[i].0,
                i as u64,
                &frames[i].1,
            );
        }
    };
    // Started with the analytic; an unchanged reload after 10 sessions keeps their count,
    // so the 20th session still raises the beacon.
    let dir = tempfile::tempdir().unwrap();
    let eve = dir.path().join("a.json");
    let (mut w, writer, engine) = worker_with(&eve, Some(specs.clone()));
    feed(&mut w, 0..half);
    w.set_detection(
        engine.clone(),
        Default::default(),
        None,
        Some(std::sync::Arc::new(beacon_specs())),
    )
    .unwrap();
    feed(&mut w, half..frames.len());
    w.finish();
    writer.finish().unwrap();
    assert_eq!(alert_sids(&read_eve(&eve)), vec![9_200_003]);
    // Started without analytics; a reload turns the beacon on: the sessions before it are
    // not counted, 20 after it raise the beacon.
    let later = sessions(
        Ipv4Addr::new(192, 168, 1, 5),
        (Ipv4Addr::new(203, 0, 113, 9), 8443),
        20,
        |i| 2000.0 + i as f64 * 30.0,
    );
    let eve = dir.path().join("b.json");
    let (mut w, writer, engine) = worker_with(&eve, None);
    feed(&mut w, 0..frames.len());
    w.set_detection(engine, Default::default(), None, Some(specs))
        .unwrap();
    for (i, f) in later.iter().enumerate() {
        w.process(sekimori::decode::LinkType::Ethernet, f.0, i as u64, &f.1);
    }
    w.finish();
    writer.finish().unwrap();
    assert_eq!(alert_sids(&read_eve(&eve)), vec![9_200_003]);
}

/// An HTTP GET from the internal host to `server` naming `host`, with extra request
/// `headers`, answered 200 with `body`.
fn http_get(server: Ipv4Addr, host: &str, headers: &str, body: &[u8]) -> Vec<Frame> {
    let mut s = TcpSession::open((INSIDE, 40_010), (server, 80), 1_000_000);
    let req = format!("GET /get HTTP/1.1\r\nHost: {host}\r\n{headers}\r\n");
    let mut resp = format!(
        "HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nContent-Length: {}\r\n\r\n",
        body.len()
    )
    .into_bytes();
    resp.extend_from_slice(body);
    s.send(true, req.as_bytes());
    for chunk in resp.chunks(1000) {
        s.send(false, chunk);
    }
    s.close()
}

/// A TCP session from the internal host to `server`:4444 in which the server sends `data`
/// first, as a stager's handler does.
fn raw_from(server: Ipv4Addr, data: &[u8]) -> Vec<Frame> {
    let mut s = TcpSession::open((INSIDE, 40_020), (server, 4444), 1_000_000);
    for chunk in data.chunks(1000) {
        s.send(false, chunk);
    }
    s.close()
}

#[test]
fn executables_from_bare_ip_servers_and_raw_tcp_stages() {
    let image = pe(3000);
    let outside = OUTSIDE.to_string();
    // From a server named by its address: raised, with the file.
    let (_, ev) = replay_config(ANALYTICS, &http_get(OUTSIDE, &outside, "", &image));
    let f = findings(&ev);
    assert_eq!(f.len(), 1, "{f:?}");
    assert_eq!(f[0].0, 9_200_004);
    assert_eq!(f[0].1["name"], "exe_delivery");
    assert_eq!(f[0].1["via"], "http");
    assert_eq!(f[0].1["server"], "198.51.100.7");
    assert!(f[0].1["magic"].as_str().unwrap().starts_with("PE32"));
    let alert = of_type(&ev, "alert")[0];
    assert_eq!(alert["alert"]["category"], "A Network Trojan was detected");
    // A stage as the first bytes of a raw session, after its 4-byte length: raised.
    let mut stage = (image.len() as u32).to_le_bytes().to_vec();
    stage.extend_from_slice(&image);
    let (_, ev) = replay_config(ANALYTICS, &raw_from(OUTSIDE, &stage));
    let f = findings(&ev);
    assert_eq!(f.len(), 1, "{f:?}");
    assert_eq!(f[0].1["via"], "tcp");
    assert_eq!(f[0].1["offset"], 4);
    assert_eq!(f[0].1["port"], 4444);
    // The same stage, never acknowledged before the capture ends (handshake and the one
    // data segment only): found when the flow ends, from the data released then.
    let mut unacked = TcpSession::open((INSIDE, 40_021), (OUTSIDE, 4444), 1_000_000);
    unacked.send(false, &stage);
    let frames: Vec<Frame> = unacked.close().into_iter().take(4).collect();
    let (_, ev) = replay_config(ANALYTICS, &frames);
    let f = findings(&ev);
    assert_eq!(f.len(), 1, "{f:?}");
    assert_eq!(f[0].1["via"], "tcp");
    assert_eq!(of_type(&ev, "alert")[0]["pkt_src"], "stream (flow timeout)");
    // Not raised: a vendor's download by name, a bare-IP server inside the network, a
    // document from a bare IP, an image that is not at the start of a raw session, a raw
    // stage from an inside server, and the stage with analytics off.
    let mut late = vec![b'x'; 100];
    late.extend_from_slice(&image);
    for (what, config, frames) in [
        (
            "named",
            ANALYTICS,
            http_get(OUTSIDE, "download.vendor.example", "", &image),
        ),
        (
            "internal",
            ANALYTICS,
            http_get(INSIDE_SERVER, "10.0.0.2", "", &image),
        ),
        (
            "document",
            ANALYTICS,
            http_get(OUTSIDE, &outside, "", b"%PDF-1.4 not an executable"),
        ),
        ("late", ANALYTICS, raw_from(OUTSIDE, &late)),
        ("raw inside", ANALYTICS, raw_from(INSIDE_SERVER, &stage)),
        ("off", "", raw_from(OUTSIDE, &stage)),
    ] {
        let (_, ev) = replay_config(config, &frames);
        assert!(findings(&ev).is_empty(), "{what}: {:?}", findings(&ev));
    }
}

/// Standard base64 of `data`.
fn b64(data: &[u8]) -> String {
    const A: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for c in data.chunks(3) {
        let n = c
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, &b)| n | u32::from(b) << (16 - 8 * i));
        for i in 0..4 {
            out.push(if i <= c.len() {
                A[(n >> (18 - 6 * i) & 63) as usize] as char
            } else {
                '='
            });
        }
    }
    out
}

#[test]
fn basic_credentials_that_cannot_be_a_login() {
    let login = |value: &str| {
        let h = format!("Authorization: {value}\r\n");
        replay_config(ANALYTICS, &http_get(INSIDE_SERVER, "intranet", &h, b"ok")).1
    };
    // An overflow's worth of bytes, and a short binary payload: raised.
    let ev = login(&format!("Basic {}", b64(&[0x41; 1500])));
    let f = findings(&ev);
    assert_eq!(f.len(), 1, "{f:?}");
    assert_eq!(f[0].0, 9_200_005);
    assert_eq!(f[0].1["reason"], "oversized");
    assert_eq!(f[0].1["length"], 2000);
    let ev = login(&format!(
        "Basic {}",
        b64(b"\x90\x90\xeb\x06:\x31\xc0\x50\x68")
    ));
    let f = findings(&ev);
    assert_eq!(f.len(), 1, "{f:?}");
    assert_eq!(f[0].1["reason"], "binary");
    assert_eq!(
        of_type(&ev, "alert")[0]["alert"]["category"],
        "Attempted Administrator Privilege Gain"
    );
    // Logins (one with a UTF-8 password), long tokens of other schemes and a broken
    // client's token: not raised.
    for value in [
        format!("Basic {}", b64(b"alice:s3cret")),
        format!("basic {}", b64("jos\u{e9}:m\u{f6}t de passe".as_bytes())),
        format!("Bearer {}", "e".repeat(3000)),
        format!("Negotiate {}", "Y".repeat(4000)),
        "Basic not*base64".to_string(),
    ] {
        let ev = login(&value);
        assert!(findings(&ev).is_empty(), "{value}: {:?}", findings(&ev));
    }
}

/// A DER element.
fn der(tag: u8, body: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    match body.len() {
        n if n < 128 => out.push(n as u8),
        n if n < 256 => out.extend_from_slice(&[0x81, n as u8]),
        n => {
            out.push(0x82);
            out.extend_from_slice(&(n as u16).to_be_bytes());
        }
    }
    out.extend_from_slice(body);
    out
}

/// A certificate for `subject`, signed by `issuer` (each a list of attribute OIDs' last
/// arc under 2.5.4 and values).
fn certificate(subject: &[(u8, &str)], issuer: &[(u8, &str)]) -> Vec<u8> {
    let name = |rdns: &[(u8, &str)]| {
        let sets: Vec<u8> = rdns
            .iter()
            .flat_map(|&(arc, v)| {
                let atv = [der(0x06, &[0x55, 4, arc]), der(0x0c, v.as_bytes())].concat();
                der(0x31, &der(0x30, &atv))
            })
            .collect();
        der(0x30, &sets)
    };
    let alg = der(0x06, &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 1, 1, 0x0b]);
    let tbs = [
        der(0xa0, &der(0x02, &[2])),
        der(0x02, &[0x42]),
        der(0x30, &alg),
        name(issuer),
        der(
            0x30,
            &[der(0x17, b"250101000000Z"), der(0x17, b"270101000000Z")].concat(),
        ),
        name(subject),
    ]
    .concat();
    der(
        0x30,
        &[der(0x30, &tbs), der(0x30, &alg), der(0x03, &[0, 1, 2, 3])].concat(),
    )
}

/// A TLS handshake from `client` to `server`:443 naming `sni`, answered with `cert`.
fn tls_with(client: Ipv4Addr, server: Ipv4Addr, sni: &str, cert: &[u8]) -> Vec<Frame> {
    let mut list = (cert.len() as u32).to_be_bytes()[1..].to_vec();
    list.extend_from_slice(cert);
    let mut body = (list.len() as u32).to_be_bytes()[1..].to_vec();
    body.extend_from_slice(&list);
    let rec = tls_handshake(11, 3, &body);
    let mut s = TcpSession::open((client, 40_443), (server, 443), 1_000_000);
    s.send(true, &tls_client_hello(sni))
        .send(false, &[tls_server_hello(), rec].concat());
    s.close()
}

#[test]
fn tor_link_certificates_from_an_internal_host() {
    let tor = certificate(
        &[(3, "www.fcsyvnlemwxv5p.net")],
        &[(3, "www.gg562izcxdvqdk.com")],
    );
    let (_, ev) = replay_config(
        ANALYTICS,
        &tls_with(INSIDE, OUTSIDE, "www.q4cyamnc6mtokjurvd.com", &tor),
    );
    let f = findings(&ev);
    assert_eq!(f.len(), 1, "{f:?}");
    assert_eq!(f[0].0, 9_200_006);
    assert_eq!(f[0].1["name"], "tor");
    assert_eq!(f[0].1["subject"], "CN=www.fcsyvnlemwxv5p.net");
    assert_eq!(f[0].1["issuer"], "CN=www.gg562izcxdvqdk.com");
    assert_eq!(f[0].1["sni"], "www.q4cyamnc6mtokjurvd.com");
    assert_eq!(f[0].1["server"], "198.51.100.7");
    // Not raised: a web site's certificate, Tor's certificate for a client outside
    // `$HOME_NET`, and a Tor-like certificate for a server named otherwise.
    let site = certificate(
        &[(3, "www.example.com")],
        &[(6, "US"), (10, "Let's Encrypt"), (3, "R3")],
    );
    let outside_client = Ipv4Addr::new(203, 0, 113, 5);
    for (what, frames) in [
        ("site", tls_with(INSIDE, OUTSIDE, "www.example.com", &site)),
        (
            "outside",
            tls_with(outside_client, OUTSIDE, "www.q4cyamnc6mtokjurvd.com", &tor),
        ),
        ("sni", tls_with(INSIDE, OUTSIDE, "shop.example", &tor)),
    ] {
        let (_, ev) = replay_config(ANALYTICS, &frames);
        assert!(findings(&ev).is_empty(), "{what}: {:?}", findings(&ev));
    }
}

/// An FTP session from the internal host to `server` that sends `command` for
/// `report.html` over a passive (or, with `active`, an active) data connection carrying
/// `size` bytes in the command's direction.
fn ftp_transfer(server: Ipv4Addr, command: &str, active: bool, size: usize) -> Vec<Frame> {
    let o = server.octets();
    let mut ctl = TcpSession::open((INSIDE, 40_030), (server, 21), 1_000_000);
    ctl.send(false, b"220 FTP ready\r\n")
        .send(true, b"USER stolen\r\n")
        .send(false, b"331 Password required\r\n")
        .send(true, b"PASS hunter2\r\n")
        .send(false, b"230 Logged in\r\n");
    if active {
        ctl.send(true, b"PORT 10,0,0,1,156,65\r\n")
            .send(false, b"200 PORT command successful\r\n");
    } else {
        ctl.send(true, b"PASV\r\n").send(
            false,
            format!(
                "227 Entering Passive Mode ({},{},{},{},195,80).\r\n",
                o[0], o[1], o[2], o[3]
            )
            .as_bytes(),
        );
    }
    ctl.send(true, format!("{command} report.html\r\n").as_bytes())
        .send(false, b"150 Accepted data connection\r\n");
    let mut data = if active {
        TcpSession::open((server, 20), (INSIDE, 40_001), ctl.now())
    } else {
        TcpSession::open((INSIDE, 40_031), (server, 50_000), ctl.now())
    };
    // Uploads go from the internal host: the flow's client in passive mode, its server
    // in active mode.
    let upload = command != "RETR";
    let from_client = upload != active;
    for chunk in vec![b'p'; size].chunks(1000) {
        data.send(from_client, chunk);
    }
    ftp_finish(ctl, data, b"226 File successfully transferred\r\n")
}

#[test]
fn files_uploaded_over_cleartext_ftp_to_external_servers() {
    for active in [false, true] {
        let (_, ev) = replay_config(ANALYTICS, &ftp_transfer(OUTSIDE, "STOR", active, 2500));
        let f = findings(&ev);
        assert_eq!(f.len(), 1, "active {active}: {f:?}");
        assert_eq!(f[0].0, 9_200_007);
        assert_eq!(f[0].1["name"], "ftp_upload");
        assert_eq!(f[0].1["server"], "198.51.100.7");
        assert_eq!(f[0].1["command"], "STOR");
        assert_eq!(f[0].1["filename"], "report.html");
        assert_eq!(f[0].1["size"], 2500);
    }
    // Not raised: a download, an upload to a server inside the network.
    for (what, frames) in [
        ("download", ftp_transfer(OUTSIDE, "RETR", false, 2500)),
        ("internal", ftp_transfer(INSIDE_SERVER, "STOR", false, 2500)),
    ] {
        let (_, ev) = replay_config(ANALYTICS, &frames);
        assert!(findings(&ev).is_empty(), "{what}: {:?}", findings(&ev));
    }
}
