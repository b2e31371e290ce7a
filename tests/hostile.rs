//! Hostile input end to end: inputs an attacker (or a careless operator) feeds the sensor must
//! cost bounded work, be reported with a clear reason, and never stop the rest from loading or
//! replaying. Small generated inputs; the large ones are in `scripts/bench-hostile.sh`.

mod common;

use common::*;
use sekimori::testgen::synth::{write_pcap, TcpSession};
use std::net::Ipv4Addr;

fn stderr(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// The count before `what` in the summary's `limits:` line.
fn limit(err: &str, what: &str) -> u64 {
    let line = err.lines().find(|l| l.starts_with("limits:")).unwrap();
    line.trim_start_matches("limits: ")
        .split(", ")
        .find(|p| p.contains(what))
        .and_then(|p| p.split_whitespace().next()?.parse().ok())
        .unwrap_or_else(|| panic!("no '{what}' in {line}"))
}

#[test]
fn a_content_longer_than_hyperscan_literals_loads_and_matches_across_segments() {
    let big = "A".repeat(17_000);
    let mid: String = (0..5000).map(|i| (b'a' + (i % 26) as u8) as char).collect();
    let huge = "C".repeat(40_000);
    let rules = format!(
        "alert tcp any any -> any any (msg:\"ok\"; flow:established,to_server; content:\"hello\"; sid:1;)\n\
         alert tcp any any -> any any (msg:\"17k\"; flow:established,to_server; content:\"{big}\"; sid:2;)\n\
         alert tcp any any -> any any (msg:\"5k\"; flow:established,to_server; content:\"{mid}\"; sid:3;)\n\
         alert tcp any any -> any any (msg:\"40k\"; content:\"{huge}\"; sid:4;)\n"
    );
    let mut s = TcpSession::open(
        (Ipv4Addr::new(10, 0, 0, 1), 40_000),
        (Ipv4Addr::new(10, 0, 0, 2), 80),
        1_000_000,
    );
    let mut data = b"hello ".to_vec();
    data.extend_from_slice(big.as_bytes());
    data.extend_from_slice(b" and ");
    data.extend_from_slice(mid.as_bytes());
    for chunk in data.chunks(1400) {
        s.send(true, chunk);
    }
    let (out, events) = replay_frames_with(&rules, &s.close(), &["-v"]);
    let err = stderr(&out);
    // The one rule the engine cannot inspect is named with its sid and reason (-v; else its
    // reason is counted); the rest load.
    assert!(
        err.contains(":4: sid 4: content of 40000 bytes is longer than"),
        "{err}"
    );
    assert_eq!(alert_sids(&events), vec![1, 2, 3], "{err}");
}

#[test]
fn a_backtracking_pcre_on_a_stream_is_cut_at_the_limit_and_counted() {
    let frames = sekimori::testgen::hostile::backtracking_stream(50, 1400, 1_000_000);
    let (out, events) = replay_frames(sekimori::testgen::hostile::BACKTRACKING_RULES, &frames);
    let err = stderr(&out);
    assert!(out.status.success(), "{err}");
    assert!(alert_sids(&events).is_empty());
    // The limit is hit, then the rules back off on this flow: a few searches run to the
    // limit, most inspections of the two rules are skipped. (Raw detection looks once per
    // 2,560 acknowledged bytes: 27 times on these 70,000 bytes, for each of the two rules.)
    let (hits, skips) = (
        limit(&err, "match limit"),
        limit(&err, "skipped by backoff"),
    );
    assert!((2..30).contains(&hits), "{err}");
    assert!(skips > 30 && skips > 3 * hits, "{err}");
}

#[test]
fn a_header_flood_is_cut_with_an_event_a_rule_can_match() {
    let frames = sekimori::testgen::hostile::header_flood(20_000, 1, 1_000_000);
    let rules = "alert http any any -> any any (msg:\"too many headers\"; app-layer-event:http.request_too_many_headers; sid:7;)\n\
                 alert http any any -> any any (msg:\"host\"; http.host; content:\"victim.example\"; sid:8;)\n";
    let (out, events) = replay_frames(rules, &frames);
    let err = stderr(&out);
    assert!(out.status.success(), "{err}");
    assert_eq!(alert_sids(&events), vec![7, 8], "{err}");
    assert!(err.contains("1 http header blocks cut"), "{err}");
}

#[test]
fn syn_and_fragment_floods_past_the_tables_are_counted_not_lost() {
    let dir = tempfile::tempdir().unwrap();
    let pcap = dir.path().join("flood.pcap");
    let mut frames: Vec<_> = sekimori::testgen::hostile::syn_flood(30_000, 1_000_000, 2).collect();
    frames.extend(sekimori::testgen::hostile::fragment_flood(
        30_000, 1_100_000, 2,
    ));
    write_pcap(&pcap, &frames).unwrap();
    let cfg = dir.path().join("c.toml");
    std::fs::write(&cfg, "[flow]\ncapacity = 1000\n[defrag]\nmemcap = 65536\n").unwrap();
    let out = run(&[
        "replay",
        "--config",
        cfg.to_str().unwrap(),
        "--rules",
        "signatures/sekimori-starter.rules",
        "--eve",
        dir.path().join("eve.json").to_str().unwrap(),
        "--workers",
        "1",
        pcap.to_str().unwrap(),
    ]);
    let err = stderr(&out);
    assert!(out.status.success(), "{err}");
    assert!(err.contains("60000 packets"), "{err}");
    assert_eq!(limit(&err, "without room"), 0, "{err}");
    assert!(limit(&err, "flows evicted") >= 58_000, "{err}");
    assert!(limit(&err, "fragments refused") > 29_000, "{err}");
}

#[test]
fn bad_input_paths_are_reported_and_the_rest_is_replayed_once() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().join("caps");
    std::fs::create_dir_all(d.join("sub")).unwrap();
    std::fs::copy(root().join("pcaps/log4shell.pcap"), d.join("sub/a.pcap")).unwrap();
    // A loop back to the top, a second link to the same file, a dangling link, a FIFO.
    std::os::unix::fs::symlink(&d, d.join("sub/loop")).unwrap();
    std::os::unix::fs::symlink(d.join("sub/a.pcap"), d.join("b.pcap")).unwrap();
    std::os::unix::fs::symlink(d.join("gone.pcap"), d.join("dangling.pcap")).unwrap();
    let fifo = d.join("fifo.pcap");
    let made = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .is_ok_and(|s| s.success());
    let eve = dir.path().join("eve.json");
    let out = run(&[
        "replay",
        "--rules",
        "signatures/sekimori-starter.rules",
        "--eve",
        eve.to_str().unwrap(),
        dir.path().join("missing.pcap").to_str().unwrap(),
        d.to_str().unwrap(),
    ]);
    let err = stderr(&out);
    // Exit 2: some inputs failed, the others were replayed.
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("missing.pcap"), "{err}");
    assert!(err.contains("dangling.pcap"), "{err}");
    if made {
        assert!(err.contains("fifo.pcap: not a regular file"), "{err}");
    }
    assert!(
        err.contains("replay: 1 files"),
        "the capture is read once: {err}"
    );
    assert!(!alert_sids(&read_eve(&eve)).is_empty(), "{err}");
}

#[test]
fn worker_counts_out_of_range_are_refused_with_the_reason() {
    for (n, why) in [
        ("0", "must be at least 1"),
        ("1000", "more than the 256 allowed"),
    ] {
        let out = run(&["replay", "--workers", n, "pcaps"]);
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(2), "{err}");
        assert!(err.contains(why), "{err}");
    }
}

#[test]
fn parser_memory_is_counted_against_the_app_layer_memcap() {
    // 40 sessions each hold an unfinished 30 KB header block; the parsers of one worker may
    // hold 256 KB, so later data is not parsed, and that is counted.
    let mut frames = Vec::new();
    for i in 0..40u8 {
        let mut s = TcpSession::open(
            (Ipv4Addr::new(10, 1, 0, i), 40_000),
            (Ipv4Addr::new(10, 0, 0, 2), 80),
            1_000_000 + i64::from(i) * 1000,
        );
        let mut req = b"GET / HTTP/1.1\r\nHost: x\r\n".to_vec();
        for k in 0..1500 {
            req.extend_from_slice(format!("X-{k}: vvvvvvvvvv\r\n").as_bytes());
        }
        for chunk in req.chunks(1400) {
            s.send(true, chunk);
        }
        frames.extend(s.frames);
    }
    frames.sort_by_key(|f| f.0);
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("c.toml");
    std::fs::write(&cfg, "[app_layer]\nmemcap = 262144\n").unwrap();
    let (out, _) = replay_frames_with(
        "alert http any any -> any any (msg:\"h\"; http.host; content:\"x\"; sid:1;)\n",
        &frames,
        &["--config", cfg.to_str().unwrap(), "--workers", "1"],
    );
    let err = stderr(&out);
    assert!(out.status.success(), "{err}");
    assert!(limit(&err, "app-layer memcap") > 100, "{err}");
}

#[test]
fn a_full_disk_is_reported_with_the_path_and_the_lost_events() {
    if !std::path::Path::new("/dev/full").exists() {
        eprintln!("skipped: no /dev/full on this system");
        return;
    }
    let out = run(&[
        "replay",
        "--rules",
        "signatures/sekimori-starter.rules",
        "--eve",
        "/dev/full",
        "pcaps",
    ]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("EVE output /dev/full: No space left on device"),
        "{err}"
    );
    assert!(
        err.contains("0 events written to file /dev/full, 7 lost"),
        "{err}"
    );
}
