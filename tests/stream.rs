//! TCP reassembly end to end: content split across segments, out of order, overlapping
//! retransmissions, and no double alerts.

mod common;

use common::*;
use sekimori::testgen::synth::{write_pcap, Frame, TcpSession};

const RULES: &str = r#"alert tcp any any -> any 80 (msg:"split"; flow:established,to_server; content:"EVIL-PAYLOAD-MARKER"; sid:1;)
alert tcp any any -> any 80 (msg:"packet only"; flow:to_server,no_stream; content:"EVIL"; sid:2;)
alert tcp any any -> any 80 (msg:"two parts"; flow:established,to_server; content:"GET /a"; content:"Host|3a| b"; distance:0; sid:3;)
"#;

fn session(f: impl FnOnce(&mut TcpSession)) -> Vec<Frame> {
    http_port_session(f)
}

fn alerts(frames: &[Frame]) -> Vec<u64> {
    let (out, events) = replay_frames(RULES, frames);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    alert_sids(&events)
}

#[test]
fn content_in_one_segment_alerts_once() {
    let f = session(|s| {
        s.send(true, b"xxEVIL-PAYLOAD-MARKERxx");
    });
    // sid 1 on the stream, sid 2 on the packet (no_stream): each once.
    assert_eq!(alerts(&f), vec![1, 2]);
}

#[test]
fn content_split_across_segments() {
    let f = session(|s| {
        s.send_parts(true, &[(0, b"xxEVIL-PAY"), (10, b"LOAD-MARKERxx")]);
    });
    // The packet-only rule still sees "EVIL" in the first segment.
    assert_eq!(alerts(&f), vec![1, 2]);
}

#[test]
fn out_of_order_segments_are_reassembled() {
    let f = session(|s| {
        s.send_parts(true, &[(10, b"LOAD-MARKERxx"), (0, b"xxEVIL-PAY")]);
    });
    assert_eq!(alerts(&f), vec![1, 2]);
}

#[test]
fn overlapping_retransmission_cannot_rewrite_inspected_data() {
    // The first copy ("harmless") is delivered; a retransmission claims the same bytes were
    // the marker. The receiver keeps the first copy, so must the sensor: no alert.
    let f = session(|s| {
        s.send_parts(
            true,
            &[(0, b"xxharmless-text-here-ok"), (2, b"EVIL-PAYLOAD-MARKER")],
        );
    });
    assert_eq!(alerts(&f), vec![2]);
}

#[test]
fn relative_match_spanning_segments_and_pipelined_requests() {
    let f = session(|s| {
        s.send_parts(
            true,
            &[(0, b"GET /a HTTP/1.1\r\n"), (17, b"Host: b\r\n\r\n")],
        );
        s.send(true, b"GET /a HTTP/1.1\r\nHost: b\r\n\r\n");
    });
    // Two requests, two alerts: the second is new data, the first is not re-reported.
    assert_eq!(alerts(&f), vec![3, 3]);
}

#[test]
fn evasion_attempt_is_logged_as_anomaly() {
    let frames = session(|s| {
        s.send_parts(
            true,
            &[(0, b"xxharmless-text-here-ok"), (2, b"EVIL-PAYLOAD-MARKER")],
        );
    });
    let dir = tempfile::tempdir().unwrap();
    let (pcap, rules, cfg, eve) = (
        dir.path().join("t.pcap"),
        dir.path().join("t.rules"),
        dir.path().join("c.toml"),
        dir.path().join("eve.json"),
    );
    write_pcap(&pcap, &frames).unwrap();
    std::fs::write(&rules, RULES).unwrap();
    std::fs::write(&cfg, "[output]\nanomaly = true\n").unwrap();
    let out = run(&[
        "replay",
        "--config",
        cfg.to_str().unwrap(),
        "--rules",
        rules.to_str().unwrap(),
        "--eve",
        eve.to_str().unwrap(),
        pcap.to_str().unwrap(),
    ]);
    assert!(out.status.success());
    let events = read_eve(&eve);
    let anomalies: Vec<&serde_json::Value> = events
        .iter()
        .filter(|e| e["event_type"] == "anomaly")
        .collect();
    assert_eq!(anomalies.len(), 1, "{events:?}");
    assert_eq!(anomalies[0]["anomaly"]["type"], "stream");
    assert_eq!(
        anomalies[0]["anomaly"]["event"],
        "stream.reassembly_overlap_different_data"
    );
    assert_eq!(anomalies[0]["src_ip"], "10.0.0.1");
    if let Some(v) = eve_validator() {
        assert_valid_eve(&v, &events);
    }
}

#[test]
fn data_far_outside_the_receivers_window_is_refused() {
    // An injected segment 200 KB past the 64,240-byte window: the receiver drops it, so the
    // stream must not contain it (it would otherwise be delivered after a gap at close).
    let rules = format!(
        "{RULES}alert tcp any any -> any any (msg:\"oow\"; stream-event:est_packet_out_of_window; sid:9;)\n\
         alert tcp any any -> any 80 (msg:\"stream\"; flow:only_stream; content:\"EVIL-PAYLOAD\"; sid:4;)\n"
    );
    let f = session(|s| {
        s.send(true, b"hello");
        s.send_parts(true, &[(200_000, b"xxEVIL-PAYLOAD-MARKERxx")]);
    });
    let (out, events) = replay_frames(&rules, &f);
    assert!(out.status.success());
    // The refused segment is still inspected as a packet (sids 1 and 2); the stream never
    // holds it, so the stream-only rule stays silent.
    assert_eq!(alert_sids(&events), vec![1, 2, 9]);
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("1 data out of window"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn overlap_policy_follows_the_receiving_host() {
    // Two out-of-order copies of the same bytes, then the hole before them: which copy the
    // stream keeps depends on the receiver's policy, looked up by its network.
    let f = session(|s| {
        s.send_parts(
            true,
            &[
                (5, b"harmless-text-here-ok"),
                (5, b"EVIL-PAYLOAD-MARKER"),
                (0, b"xxxxx"),
            ],
        );
    });
    let with = |cfg: &str| {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.toml");
        std::fs::write(&path, cfg).unwrap();
        let (out, events) = replay_frames_with(RULES, &f, &["--config", path.to_str().unwrap()]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        alert_sids(&events).contains(&1)
    };
    // The server 10.0.0.2 keeps the last copy: the marker is what it receives.
    assert!(with(
        "[stream]\npolicy = \"first\"\n[host_os_policy]\nlast = [\"10.0.0.0/24\"]\n"
    ));
    // A more specific entry for the server says it keeps the first copy.
    assert!(!with(
        "[stream]\npolicy = \"last\"\n[host_os_policy]\nlast = [\"10.0.0.0/8\"]\nfirst = [\"10.0.0.2\"]\n"
    ));
    // No entry covers the server: the default applies.
    assert!(with(
        "[stream]\npolicy = \"last\"\n[host_os_policy]\nfirst = [\"192.168.0.0/16\"]\n"
    ));
    // Broken networks are a config error.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c.toml");
    std::fs::write(&path, "[host_os_policy]\nlinux = [\"10.0.0.0/40\"]\n").unwrap();
    let (out, _) = replay_frames_with(RULES, &f, &["--config", path.to_str().unwrap()]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("10.0.0.0/40"));
}

#[test]
fn tag_logs_the_next_packets_of_the_session() {
    let rules = "alert tcp any any -> any 80 (msg:\"tagging\"; flow:established,to_server; content:\"LOGIN\"; tag:session,3,packets; sid:7;)\n";
    let f = session(|s| {
        s.send(true, b"LOGIN admin");
        s.send(true, b"more");
        s.send(true, b"and more");
    });
    // Raw detection on every acknowledgement (not once a 2,560-byte chunk is there), so the
    // alert comes early in this short session and three packets follow it.
    let cfg = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(cfg.path(), "[stream]\nraw_chunk = 1\n").unwrap();
    let (out, events) = replay_frames_with(rules, &f, &["--config", cfg.path().to_str().unwrap()]);
    assert!(out.status.success());
    assert_eq!(alert_sids(&events), vec![7]);
    let alert_cnt = events.iter().find(|e| e["event_type"] == "alert").unwrap()["pcap_cnt"]
        .as_u64()
        .unwrap();
    let packets: Vec<&serde_json::Value> = events
        .iter()
        .filter(|e| e["event_type"] == "packet")
        .collect();
    // The three packets after the alerting one, in order, on the same flow, with the frame.
    let cnts: Vec<u64> = packets
        .iter()
        .map(|e| e["pcap_cnt"].as_u64().unwrap())
        .collect();
    assert_eq!(cnts, vec![alert_cnt + 1, alert_cnt + 2, alert_cnt + 3]);
    let flow_id = &events.iter().find(|e| e["event_type"] == "alert").unwrap()["flow_id"];
    for (e, n) in packets.iter().zip(&cnts) {
        assert_eq!(&e["flow_id"], flow_id);
        assert_eq!(e["packet_info"]["linktype"], 1);
        let b64 = e["packet"].as_str().unwrap();
        // Ethernet frames of at least 54 bytes: 72+ base64 characters, padded to 4.
        assert!(b64.len() >= 72 && b64.len() % 4 == 0, "{n}: {b64}");
    }
    assert!(String::from_utf8_lossy(&out.stderr).contains("tagged packets logged: 3"));
    if let Some(v) = eve_validator() {
        assert_valid_eve(&v, &events);
    }
}

#[test]
fn inline_mode_inspects_data_queued_past_a_hole_once() {
    // Bytes 5..15 never arrive: the marker waits past a hole until the peer's ACK declares
    // the gap. Inline, it is inspected when it arrives (the packet can still be dropped);
    // either way it alerts once.
    let f = session(|s| {
        s.send_parts(true, &[(0, b"xxxxx"), (15, b"xxEVIL-PAYLOAD-MARKERxx")]);
    });
    let stream_alerts = |extra: &[&str]| {
        replay_alerts(RULES, &f, extra)
            .iter()
            .filter(|e| e["alert"]["signature_id"] == 1)
            .map(|e| e["pcap_cnt"].as_u64().unwrap())
            .collect::<Vec<u64>>()
    };
    // Handshake 1-3, first part 4, the part past the hole 5, the ACK 6.
    assert_eq!(stream_alerts(&["--ips"]), vec![5]);
    assert_eq!(stream_alerts(&[]).len(), 1);
}
