//! Payload inspection on TCP as Suricata does it: rules pinned to a position (depth, offset,
//! startswith) look at each packet's payload as well as the stream; unanchored rules look at
//! the stream in chunks; a packet match is not repeated when the flow ends; `tcp-pkt` and
//! `tcp-stream` select one of the two.

mod common;

use common::*;
use sekimori::testgen::synth::{Frame, TcpSession};

fn session(f: impl FnOnce(&mut TcpSession)) -> Vec<Frame> {
    http_port_session(f)
}

/// The alerts' (sid, pcap_cnt), in order, replaying with `extra` arguments.
fn alerts_with(rules: &str, frames: &[Frame], extra: &[&str]) -> Vec<(u64, u64)> {
    replay_alerts(rules, frames, extra)
        .iter()
        .map(|e| {
            let sid = e["alert"]["signature_id"].as_u64().unwrap();
            (sid, e["pcap_cnt"].as_u64().unwrap_or(0))
        })
        .collect()
}

fn alerts(rules: &str, frames: &[Frame]) -> Vec<(u64, u64)> {
    alerts_with(rules, frames, &[])
}

const ANCHORED: &str = r#"alert tcp any any -> any 80 (msg:"message start"; flow:established,to_server; content:"{|22|id|22 3a|"; depth:6; content:"mining."; distance:0; sid:1;)
"#;

#[test]
fn anchored_rule_matches_each_message_of_a_stream() {
    // One JSON message per packet (stratum mining): the rule is anchored to the start of
    // the buffer, which is each packet's payload, not only the stream's first bytes.
    let f = session(|s| {
        for i in 0..3 {
            let msg = format!("{{\"id\": {i}, \"method\": \"mining.submit\"}}\n");
            s.send(true, msg.as_bytes());
        }
    });
    // One per message packet: frames 4, 6 and 8 (after the handshake, each message is
    // followed by the server's ACK). The client's FIN (frame 10) makes raw detection look at
    // the stream, whose start matches too: Suricata alerts there as well.
    let a = alerts(ANCHORED, &f);
    assert_eq!(a, [(1, 4), (1, 6), (1, 8), (1, 10)]);
}

#[test]
fn a_packet_match_is_not_repeated_when_the_flow_ends() {
    let mut f = session(|s| {
        s.send(true, b"{\"id\": 1, \"method\": \"mining.subscribe\"}\n");
    });
    // No FIN: the flow ends with the capture, and its last inspection sees the same data.
    f.truncate(f.len() - 3);
    assert_eq!(alerts(ANCHORED, &f), [(1, 4)]);
}

const UNANCHORED: &str = r#"alert tcp any any -> any 80 (msg:"anywhere"; flow:established,to_server; content:"evil"; sid:2;)
"#;

#[test]
fn unanchored_rules_inspect_the_stream_in_chunks() {
    let f = session(|s| {
        for _ in 0..3 {
            s.send(true, b"xx evil xx\n");
        }
    });
    // The three messages are fewer bytes than a chunk: raw detection looks once, when the
    // client's FIN (frame 10) closes its direction.
    assert_eq!(alerts(UNANCHORED, &f), [(2, 10)]);
    // With a chunk of 1 byte every acknowledged message is inspected on the client's next
    // packet: the second and third messages, and the FIN.
    let cfg = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(cfg.path(), "[stream]\nraw_chunk = 1\n").unwrap();
    let small = alerts_with(UNANCHORED, &f, &["--config", cfg.path().to_str().unwrap()]);
    assert_eq!(small, [(2, 6), (2, 8), (2, 10)]);
}

#[test]
fn a_large_message_is_inspected_once_a_chunk_is_acknowledged() {
    let mut big = vec![b'a'; 3000];
    big[100..104].copy_from_slice(b"evil");
    let f = session(|s| {
        s.send(true, &big);
        s.send(true, b"tail");
    });
    // 3,000 acknowledged bytes are more than a chunk: the next client packet (frame 6)
    // inspects them, before the FIN.
    assert_eq!(alerts(UNANCHORED, &f), [(2, 6)]);
}

#[test]
fn tcp_pkt_and_tcp_stream_select_packet_or_stream() {
    let rules = r#"alert tcp-pkt any any -> any 80 (msg:"packets"; content:"EVIL-PART"; sid:3;)
alert tcp-stream any any -> any 80 (msg:"stream"; content:"EVIL-PART"; sid:4;)
alert tcp-pkt any any -> any 80 (msg:"packets, whole"; content:"WHOLE"; sid:5;)
alert tcp-stream any any -> any 80 (msg:"stream, whole"; content:"WHOLE"; depth:5; sid:6;)
"#;
    let split = session(|s| {
        s.send_parts(true, &[(0, b"xEVIL-"), (6, b"PARTx")]);
    });
    // Only the stream sees the content across the two segments.
    let sids: Vec<u64> = alerts(rules, &split).iter().map(|a| a.0).collect();
    assert_eq!(sids, [4]);
    let whole = session(|s| {
        s.send(true, b"WHOLE message");
    });
    // The packet rule on its packet; the stream rule (anchored, yet stream only) once on
    // the stream.
    let sids: Vec<u64> = alerts(rules, &whole).iter().map(|a| a.0).collect();
    assert_eq!(sids, [5, 6]);
}

#[test]
fn base64_data_on_an_http_request_body() {
    // As ET's XML-RPC and Exchange rules: decode after a marker in the body, match the
    // decoded bytes.
    let rules = r#"alert http any any -> any any (msg:"decoded"; flow:established,to_server; http.request_body; content:"<base64>"; base64_decode:bytes 64, offset 0, relative; base64_data; content:"system("; sid:7;)
"#;
    let body = "<methodCall><base64>c3lzdGVtKCJpZCIp</base64></methodCall>";
    let req = format!(
        "POST /xmlrpc HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    let f = session(|s| {
        s.send(true, req.as_bytes());
        s.send(false, b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
    });
    let sids: Vec<u64> = alerts(rules, &f).iter().map(|a| a.0).collect();
    assert_eq!(sids, [7]);
    // The same body with other decoded bytes does not match.
    let other = req.replace("c3lzdGVtKCJpZCIp", "ZWNobyAiaGki");
    let f = session(|s| {
        s.send(true, other.as_bytes());
        s.send(false, b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
    });
    assert!(alerts(rules, &f).is_empty());
}

#[test]
fn flowint_counts_across_packets_of_a_flow() {
    // A counting rule (no alert) runs before the rule that tests the count on the same
    // packet, as Suricata orders modifying rules first.
    let rules = r#"alert tcp-pkt any any -> any 80 (msg:"test"; flow:established,to_server; content:"req"; depth:3; flowint:n,>=,3; sid:11;)
alert tcp-pkt any any -> any 80 (msg:"count"; flow:established,to_server; content:"req"; depth:3; flowint:n,+,1; noalert; sid:10;)
alert tcp-pkt any any -> any 80 (msg:"never set"; flow:established,to_server; content:"req"; flowint:other,isset; sid:12;)
"#;
    let f = session(|s| {
        for i in 0..4 {
            s.send(true, format!("req{i}").as_bytes());
        }
    });
    // Third and fourth requests: frames 8 and 10.
    assert_eq!(alerts(rules, &f), [(11, 8), (11, 10)]);
}

#[test]
fn alerts_carry_the_flows_flowbits_and_flowints_as_metadata() {
    let rules = r#"alert tcp-pkt any any -> any 80 (msg:"irc"; content:"NICK "; depth:5; flowbits:set,is_proto_irc; flowint:joins,=,0; flowbits:noalert; sid:20;)
alert tcp-pkt any any -> any 80 (msg:"join"; content:"JOIN "; depth:5; flowbits:isset,is_proto_irc; flowint:joins,+,1; sid:21;)
"#;
    let f = session(|s| {
        s.send(true, b"NICK bob\r\n");
        s.send(true, b"JOIN #c2\r\n");
    });
    let (out, events) = replay_frames(rules, &f);
    assert!(out.status.success());
    let alerts: Vec<&serde_json::Value> = events
        .iter()
        .filter(|e| e["event_type"] == "alert")
        .collect();
    assert_eq!(alerts.len(), 1);
    assert_eq!(
        alerts[0]["metadata"],
        serde_json::json!({"flowbits": ["is_proto_irc"], "flowints": {"joins": 1}})
    );
    if let Some(v) = eve_validator() {
        assert_valid_eve(&v, &events);
    }
    // Flowbits named traffic/id/... and traffic/label/... are the flow's traffic tags.
    let tagged = r#"alert tcp-pkt any any -> any 80 (msg:"tag"; content:"NICK "; depth:5; flowbits:set,traffic/id/irc; flowbits:set,traffic/label/chat; flowbits:noalert; sid:23;)
alert tcp-pkt any any -> any 80 (msg:"j"; content:"JOIN "; sid:24;)
"#;
    let (_, events) = replay_frames(tagged, &f);
    let a = events.iter().find(|e| e["event_type"] == "alert").unwrap();
    assert_eq!(
        a["traffic"],
        serde_json::json!({"id": ["irc"], "label": ["chat"]})
    );
    assert!(a.get("metadata").is_none(), "{a}");
    if let Some(v) = eve_validator() {
        assert_valid_eve(&v, &events);
    }
    // A flow without variables gets no metadata.
    let plain = "alert tcp-pkt any any -> any 80 (msg:\"j\"; content:\"JOIN \"; sid:22;)\n";
    let (_, events) = replay_frames(plain, &f);
    let a = events.iter().find(|e| e["event_type"] == "alert").unwrap();
    assert!(a.get("metadata").is_none(), "{a}");
}

#[test]
fn pcre_captures_become_flow_and_packet_variables_in_alert_metadata() {
    let rules = r#"alert http any any -> any any (msg:"user agent captured"; flow:to_server; http.user_agent; pcre:"/^(\w+)\/([\d.]+)/,flow:ua_name,pkt:ua_version"; sid:1;)
alert http any any -> any any (msg:"later request"; flow:to_server; http.uri; content:"/second"; sid:2;)
alert http any any -> any any (msg:"named group"; flow:to_server; http.host; pcre:"/(?P<pkt_hostname>[a-z]+)\.example/"; sid:3;)
"#;
    let f = session(|s| {
        s.send(
            true,
            b"GET /first HTTP/1.1\r\nHost: www.example\r\nUser-Agent: curl/8.5.0\r\n\r\n",
        )
        .send(false, b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
        .send(true, b"GET /second HTTP/1.1\r\nHost: x\r\n\r\n")
        .send(false, b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
    });
    let events = replay_alerts(rules, &f, &[]);
    if let Some(v) = eve_validator() {
        assert_valid_eve(&v, &events);
    }
    let of = |sid: u64| {
        events
            .iter()
            .find(|e| e["alert"]["signature_id"] == sid)
            .unwrap_or_else(|| panic!("no alert {sid}"))
    };
    let first = of(1);
    assert_eq!(first["metadata"]["flowvars"][0]["ua_name"], "curl");
    assert_eq!(first["metadata"]["pktvars"][0]["ua_version"], "8.5.0");
    // The flow variable stays with the flow; the packet variable does not.
    let later = of(2);
    assert_eq!(later["metadata"]["flowvars"][0]["ua_name"], "curl");
    assert!(later["metadata"].get("pktvars").is_none(), "{later}");
    // Packet variables are the packet's: every alert on it shows all of them.
    let pkt = of(3)["metadata"]["pktvars"].as_array().unwrap().clone();
    assert!(pkt.iter().any(|v| v["hostname"] == "www"), "{pkt:?}");
}
