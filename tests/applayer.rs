//! App-layer detection end to end: HTTP split across segments and pipelined, bodies chunked
//! and gzip-compressed, a response cut by the close, TLS and DNS over TCP, protocol detection
//! by content on unusual ports.

mod common;

use common::*;
use sekimori::testgen::synth::{tls_client_hello, write_pcap, Frame, TcpSession};
use std::io::Write;
use std::net::Ipv4Addr;

fn session(port: u16, f: impl FnOnce(&mut TcpSession)) -> Vec<Frame> {
    let mut s = TcpSession::open(
        (Ipv4Addr::new(10, 0, 0, 1), 40_000),
        (Ipv4Addr::new(10, 0, 0, 2), port),
        1_000_000,
    );
    f(&mut s);
    s.close()
}

/// Replays `frames` with `rules`; returns the alert events.
fn alerts(rules: &str, frames: &[Frame]) -> Vec<serde_json::Value> {
    let (out, events) = replay_frames(rules, frames);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(!stderr.contains("not loaded"), "{stderr}");
    events
}

fn sids(events: &[serde_json::Value]) -> Vec<u64> {
    alert_sids(events)
}

#[test]
fn http_buffers_across_segments_and_pipelined_requests() {
    let rules = r#"alert http any any -> any any (msg:"uri"; flow:established,to_server; http.uri; content:"/admin/config.php"; http.host; content:"intranet.example"; bsize:16; sid:1;)
alert http any any -> any any (msg:"method+ua"; http.method; content:"POST"; http.user_agent; content:"sqlmap"; sid:2;)
alert http any any -> any any (msg:"second request"; http.uri; content:"/second"; sid:3;)
alert http any any -> any any (msg:"status"; flow:to_client; http.stat_code; content:"404"; sid:4;)
alert tcp any any -> any any (msg:"raw uri split"; content:"/admin/%63onfig"; http_raw_uri; sid:5;)
"#;
    // One request split mid-header over three segments, then a second request pipelined.
    let f = session(8000, |s| {
        s.send(true, b"GET /admin/%63onfig.php HTTP/1.1\r\nHo")
            .send(true, b"st: Intranet.Example:8000\r\nUser-A")
            .send(true, b"gent: x\r\n\r\nPOST /second HTTP/1.1\r\nUser-Agent: sqlmap/1.7\r\nContent-Length: 3\r\n\r\na=1")
            .send(false, b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokHTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n");
    });
    let events = alerts(rules, &f);
    assert_eq!(sids(&events), vec![1, 2, 3, 4, 5]);
    // Each alert names its transaction.
    let tx = |sid: u64| {
        events
            .iter()
            .find(|e| e["alert"]["signature_id"] == sid)
            .unwrap()["tx_id"]
            .as_u64()
            .unwrap()
    };
    assert_eq!((tx(1), tx(2), tx(3), tx(4)), (0, 1, 1, 1));
}

#[test]
fn bodies_are_dechunked_and_decompressed() {
    let rules = r#"alert http any any -> any any (msg:"body"; flow:to_client; file.data; content:"secret-token-42"; sid:1;)
alert http any any -> any any (msg:"gzip magic never seen"; file.data; content:"|1f 8b 08|"; startswith; sid:2;)
"#;
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(b"<html>... secret-token-42 ...</html>")
        .unwrap();
    let body = gz.finish().unwrap();
    let mut resp =
        b"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
    for part in body.chunks(9) {
        resp.extend_from_slice(format!("{:x}\r\n", part.len()).as_bytes());
        resp.extend_from_slice(part);
        resp.extend_from_slice(b"\r\n");
    }
    resp.extend_from_slice(b"0\r\n\r\n");
    let f = session(80, |s| {
        s.send(true, b"GET / HTTP/1.1\r\nHost: a\r\n\r\n")
            .send(false, &resp);
    });
    assert_eq!(sids(&alerts(rules, &f)), vec![1]);
}

#[test]
fn a_response_cut_by_the_close_is_complete() {
    // No empty line after the headers: only the close completes them.
    let rules = r#"alert http any any -> any any (msg:"server"; flow:established,from_server; http.server; content:"ng1nx"; sid:1;)"#;
    let f = session(80, |s| {
        s.send(true, b"GET / HTTP/1.0\r\nHost: a\r\n\r\n")
            .send(false, b"HTTP/1.0 200 OK\r\nServer: ng1nx\r\n");
    });
    let events = alerts(rules, &f);
    assert_eq!(sids(&events), vec![1]);
    assert_eq!(events[0]["http"]["status"], 200);
}

#[test]
fn data_never_acknowledged_is_inspected_when_the_flow_ends() {
    let rules = r#"alert tcp any any -> any any (msg:"raw"; flow:established,to_server; content:"User-Agent: Mozilla"; sid:1;)
alert http any any -> any any (msg:"ua"; http.user_agent; content:"Mozilla"; sid:2;)"#;
    let mut f = session(80, |s| {
        s.send(true, b"GET / HTTP/1.1\r\nUser-Agent: Mozilla\r\n\r\n");
    });
    // Handshake and the request only: the server never acknowledges it, nobody closes.
    f.truncate(4);
    let events = alerts(rules, &f);
    assert_eq!(sids(&events), vec![1, 2]);
    for e in &events {
        assert_eq!(e["pkt_src"], "stream (flow timeout)", "{e}");
        assert_eq!(e["direction"], "to_server");
    }
}

#[test]
fn protocols_are_detected_by_content_not_port() {
    let rules = r#"alert http any any -> any any (msg:"http anywhere"; http.uri; content:"/x"; sid:1;)
alert tls any any -> any any (msg:"sni"; tls.sni; content:"c2.example"; endswith; sid:2;)
alert tcp any any -> any any (msg:"not http on 80"; app-layer-protocol:!http; flow:to_server; content:"HELLO"; sid:3;)
alert dns any any -> any any (msg:"dns over tcp"; dns.query; content:"tunnel.example"; sid:4;)
alert dns any any -> any any (msg:"tcp response, to client"; flow:to_client; dns.queries.rrname; content:"tunnel.example"; sid:5;)
"#;
    let mut frames = session(4444, |s| {
        s.send(true, b"GET /x HTTP/1.1\r\nHost: a\r\n\r\n");
    });
    frames.extend(session(8443, |s| {
        s.send(true, &tls_client_hello("evil.c2.example"));
    }));
    // `!http` holds once the protocol is decided: SMTP, on port 80.
    frames.extend(session(80, |s| {
        s.send(true, b"EHLO not http\r\n")
            .send(false, b"220 mail.example ESMTP ready\r\n")
            .send(true, b"HELLO again\r\n");
    }));
    let q = sekimori::testgen::synth::dns_query(7, "data.tunnel.example");
    let mut framed = (q.len() as u16).to_be_bytes().to_vec();
    framed.extend_from_slice(&q);
    // The response is parsed on the client's acknowledgement and inspected, as to-client, on
    // the server's next packet.
    let mut resp = q.clone();
    resp[2] |= 0x80;
    let mut framed_resp = (resp.len() as u16).to_be_bytes().to_vec();
    framed_resp.extend_from_slice(&resp);
    frames.extend(session(53, |s| {
        s.send(true, &framed).send(false, &framed_resp);
    }));
    // Each session reuses the same ports only where the server port differs: distinct flows.
    let events = alerts(rules, &frames);
    assert_eq!(sids(&events), vec![1, 2, 3, 4, 5]);
    let proto = |sid: u64| {
        events
            .iter()
            .find(|e| e["alert"]["signature_id"] == sid)
            .unwrap()["app_proto"]
            .as_str()
            .unwrap()
            .to_string()
    };
    assert_eq!(proto(1), "http");
    assert_eq!(proto(2), "tls");
    assert_eq!(proto(3), "smtp");
    assert_eq!(proto(4), "dns");
}

#[test]
fn a_rule_fires_once_per_transaction() {
    let rules =
        r#"alert http any any -> any any (msg:"host"; http.host; content:"a.example"; sid:1;)"#;
    let f = session(80, |s| {
        s.send(true, b"GET /1 HTTP/1.1\r\nHost: a.example\r\n\r\n")
            .send(false, b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
            .send(true, b"GET /2 HTTP/1.1\r\nHost: a.example\r\n\r\n")
            .send(false, b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
    });
    // Two transactions: two alerts, although the host is seen again with every update.
    assert_eq!(sids(&alerts(rules, &f)), vec![1, 1]);
}

#[test]
fn threat_intel_dataset_loaded_from_a_file_beside_the_rules() {
    let dir = tempfile::tempdir().unwrap();
    // Domains in base64 (Suricata's dataset file format for strings).
    std::fs::write(
        dir.path().join("c2-domains.lst"),
        "# intel feed\nYmFkLWMyLmV4YW1wbGU=\n",
    )
    .unwrap();
    let rules = dir.path().join("ti.rules");
    std::fs::write(
        &rules,
        r#"alert dns any any -> any any (msg:"TI C2 domain"; dns.query; dataset:isset,c2-domains, type string, load c2-domains.lst; sid:1;)
alert dns any any -> any any (msg:"first sighting"; dns.query; dataset:set,seen-domains, type string; sid:2;)
"#,
    )
    .unwrap();
    let (c, s) = (Ipv4Addr::new(10, 0, 0, 5), Ipv4Addr::new(10, 0, 0, 53));
    let q = |port: u16, id: u16, name: &str| {
        (
            1_000_000 + i64::from(id) * 1000,
            sekimori::testgen::synth::udp_frame(
                (c, port),
                (s, 53),
                &sekimori::testgen::synth::dns_query(id, name),
            ),
        )
    };
    let frames = vec![
        q(40_001, 1, "bad-c2.example"),
        q(40_002, 2, "good.example"),
        q(40_003, 3, "good.example"),
    ];
    let pcap = dir.path().join("t.pcap");
    let eve = dir.path().join("eve.json");
    write_pcap(&pcap, &frames).unwrap();
    let out = run(&[
        "replay",
        "--rules",
        rules.to_str().unwrap(),
        "--eve",
        eve.to_str().unwrap(),
        pcap.to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // sid 1 on the listed domain only; sid 2 on the first sighting of each name.
    assert_eq!(sids(&read_eve(&eve)), vec![1, 2, 2]);
}

#[test]
fn http_bodies_are_files_for_the_file_keywords() {
    let rules = r#"alert http any any -> any any (msg:"exe download"; flow:to_client; fileext:"exe"; filemagic:"MS-DOS"; filesize:>10; sid:1;)
alert http any any -> any any (msg:"named by disposition"; flow:to_client; filename:"report.pdf"; sid:2;)
"#;
    let f = session(8080, |s| {
        s.send(true, b"GET /dl/tool.exe?x=1 HTTP/1.1\r\nHost: a\r\n\r\n")
            .send(false, b"HTTP/1.1 200 OK\r\nContent-Length: 20\r\n\r\nMZ..................")
            .send(true, b"GET /r HTTP/1.1\r\nHost: a\r\n\r\n")
            .send(false, b"HTTP/1.1 200 OK\r\nContent-Disposition: attachment; filename=\"report.pdf\"\r\nContent-Length: 4\r\n\r\n%PDF");
    });
    assert_eq!(sids(&alerts(rules, &f)), vec![1, 2]);
}
