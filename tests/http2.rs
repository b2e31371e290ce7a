//! HTTP/2 end to end: prior-knowledge and `h2c`-upgraded sessions and DNS over HTTP/2,
//! replayed through the sensor. `alert http` rules see both HTTP versions, `http1`/`http2`
//! only theirs; `app-layer-protocol` rules that need nothing else fire once, when the
//! protocol is found; a DoH flow is `doh2` and its queries reach `dns.query`. Every event
//! validates against Suricata's schema.

mod common;

use common::*;
use sekimori::testgen::synth::{Frame, TcpSession};
use std::net::Ipv4Addr;

const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

fn frame(kind: u8, flags: u8, stream: u32, payload: &[u8]) -> Vec<u8> {
    let mut v = (payload.len() as u32).to_be_bytes()[1..].to_vec();
    v.extend_from_slice(&[kind, flags]);
    v.extend_from_slice(&stream.to_be_bytes());
    v.extend_from_slice(payload);
    v
}

/// A header block with every field a literal without indexing (no Huffman): what HPACK
/// decoders must accept, and easy to write by hand.
fn literal_block(fields: &[(&str, &str)]) -> Vec<u8> {
    let mut b = Vec::new();
    for (n, v) in fields {
        b.push(0x00);
        b.push(n.len() as u8);
        b.extend_from_slice(n.as_bytes());
        b.push(v.len() as u8);
        b.extend_from_slice(v.as_bytes());
    }
    b
}

const HEADERS: u8 = 1;
const END_STREAM: u8 = 1;
const END_HEADERS: u8 = 4;

fn h2_session(
    port: u16,
    upgrade: bool,
    request: &[(&str, &str)],
    response: &[(&str, &str)],
) -> Vec<Frame> {
    let mut s = TcpSession::open(
        (Ipv4Addr::new(10, 0, 0, 1), 41_000),
        (Ipv4Addr::new(10, 0, 0, 2), port),
        1_000_000,
    );
    let settings = frame(4, 0, 0, &[0, 3, 0, 0, 0, 100]);
    if upgrade {
        s.send(
            true,
            b"GET /up HTTP/1.1\r\nHost: localhost\r\nConnection: Upgrade, HTTP2-Settings\r\n\
Upgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQAoAAAAAIAAAAA\r\n\r\n",
        );
        s.send(
            false,
            b"HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: h2c\r\n\r\n",
        );
    }
    let mut first = PREFACE.to_vec();
    first.extend_from_slice(&settings);
    s.send(true, &first);
    s.send(false, &frame(4, 0, 0, &[]));
    let stream = if upgrade { 3 } else { 1 };
    s.send(
        true,
        &frame(
            HEADERS,
            END_STREAM | END_HEADERS,
            stream,
            &literal_block(request),
        ),
    );
    let mut resp = frame(HEADERS, END_HEADERS, stream, &literal_block(response));
    resp.extend_from_slice(&frame(0, END_STREAM, stream, b"<html>hello</html>"));
    s.send(false, &resp);
    s.close()
}

const RULES: &str = r#"alert http any any -> any any (msg:"any version"; http.uri; content:"/doc/index.html"; sid:1;)
alert http1 any any -> any any (msg:"http1 only"; http.uri; content:"/doc/index.html"; sid:2;)
alert http2 any any -> any any (msg:"http2 only"; http.uri; content:"/doc/index.html"; sid:3;)
alert tcp any any -> any any (msg:"buffer alone"; http.uri; content:"/doc/index.html"; http.host; content:"localhost"; endswith; sid:4;)
alert http2 any any -> any any (msg:"response header"; flow:to_client; http.header; content:"accept-ranges: bytes|0d 0a|"; sid:5;)
alert tcp any any -> any any (msg:"found http2"; app-layer-protocol:http2; sid:6;)
alert http any any -> any any (msg:"settings frame"; http2.frametype:SETTINGS; sid:7;)
alert http2 any any -> any any (msg:"request header"; http.request_header; content:"user-agent: h2load"; sid:8;)
"#;

const REQUEST: &[(&str, &str)] = &[
    (":method", "GET"),
    (":path", "/doc/index.html"),
    (":scheme", "http"),
    (":authority", "LocalHost:8080"),
    ("user-agent", "h2load"),
];
const RESPONSE: &[(&str, &str)] = &[(":status", "200"), ("accept-ranges", "bytes")];

#[test]
fn prior_knowledge_session_answers_http_rules() {
    let f = h2_session(8080, false, REQUEST, RESPONSE);
    let (_, events) = replay_with_outputs(RULES, &f, &["http2", "http", "fileinfo"]);
    let sids = alert_sids(&events);
    // The settings rule fires on each SETTINGS frame's transaction (client, server, and
    // their acknowledgements are not sent here: two).
    assert_eq!(sids, vec![1, 3, 4, 5, 6, 7, 7, 8], "{sids:?}");
    let http = of_type(&events, "http");
    let stream1 = http
        .iter()
        .find(|e| e["http"]["http2"]["stream_id"] == 1)
        .expect("stream 1 logged");
    assert_eq!(stream1["http"]["protocol"], "HTTP/2");
    assert_eq!(stream1["http"]["hostname"], "localhost");
    assert_eq!(stream1["http"]["status"], 200);
    // The response body is a file.
    let info = of_type(&events, "fileinfo");
    assert_eq!(info.len(), 1, "{info:?}");
    assert_eq!(info[0]["fileinfo"]["filename"], "/doc/index.html");
    assert_eq!(info[0]["fileinfo"]["size"], 18);
    assert_eq!(info[0]["fileinfo"]["state"], "CLOSED");
    assert_eq!(info[0]["app_proto"], "http2");
}

#[test]
fn h2c_upgrade_hands_the_session_to_http2() {
    let f = h2_session(80, true, REQUEST, RESPONSE);
    let (_, events) = replay_with_outputs(RULES, &f, &["http2", "http"]);
    let sids = alert_sids(&events);
    // The upgrade request is HTTP/1, the stream after it HTTP/2; `app-layer-protocol`
    // fires once for each protocol the flow was found to speak.
    for want in [1, 3, 5, 8] {
        assert!(sids.contains(&want), "{want} missing from {sids:?}");
    }
    assert!(!sids.contains(&2), "{sids:?}");
    assert_eq!(sids.iter().filter(|&&s| s == 6).count(), 1, "{sids:?}");
    let http = of_type(&events, "http");
    assert!(http
        .iter()
        .any(|e| e["http"]["url"] == "/up" && e["http"].get("http2").is_none()));
    assert!(http.iter().any(|e| e["http"]["http2"]["stream_id"] == 3));
}

/// A DNS query for `name`.
fn dns_query(name: &str) -> Vec<u8> {
    let mut q = vec![0, 0, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0];
    for label in name.split('.') {
        q.push(label.len() as u8);
        q.extend_from_slice(label.as_bytes());
    }
    q.extend_from_slice(&[0, 0, 1, 0, 1]);
    q
}

#[test]
fn dns_over_http2_is_dns_to_rules() {
    let mut s = TcpSession::open(
        (Ipv4Addr::new(10, 0, 0, 1), 41_001),
        (Ipv4Addr::new(10, 0, 0, 3), 80),
        1_000_000,
    );
    let mut first = PREFACE.to_vec();
    first.extend_from_slice(&frame(4, 0, 0, &[]));
    first.extend_from_slice(&frame(
        HEADERS,
        END_HEADERS,
        1,
        &literal_block(&[
            (":method", "POST"),
            (":path", "/dns-query"),
            (":scheme", "http"),
            (":authority", "dns.example"),
            ("content-type", "application/dns-message"),
        ]),
    ));
    first.extend_from_slice(&frame(0, END_STREAM, 1, &dns_query("c2.evil.example")));
    s.send(true, &first);
    s.send(false, &frame(4, 0, 0, &[]));
    let f = s.close();
    let rules = r#"alert dns any any -> any any (msg:"query"; dns.query; content:"evil.example"; endswith; sid:1;)
alert tcp any any -> any any (msg:"dns, as Suricata counts it"; app-layer-protocol:dns; sid:2;)
alert tcp any any -> any any (msg:"dns exactly"; app-layer-protocol:dns,exact; sid:3;)
alert tcp any any -> any any (msg:"doh2 exactly"; app-layer-protocol:doh2,exact; sid:4;)
alert tcp any any -> any any (msg:"not dns"; app-layer-protocol:!dns; sid:5;)
alert http2 any any -> any any (msg:"http2 rule"; http.method; content:"POST"; sid:6;)
"#;
    let (_, events) = replay_with_outputs(rules, &f, &["http2"]);
    assert_eq!(alert_sids(&events), vec![1, 2, 4, 6]);
    for a in of_type(&events, "alert") {
        assert_eq!(a["app_proto"], "doh2");
    }
}
