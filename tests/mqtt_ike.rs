//! MQTT and IKE end to end: crafted sessions replayed through the sensor, checking the rule
//! keywords and events each protocol gives, that MQTT is only probed on its port, that a
//! server message completing a transaction is inspected in its own direction before the
//! transaction is freed, and that the EVE objects validate against Suricata's schema.

mod common;

use common::*;
use sekimori::testgen::synth::{udp_frame, Frame, TcpSession};
use std::net::Ipv4Addr;

const CLIENT: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
const SERVER: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 2);

fn session(port: u16, f: impl FnOnce(&mut TcpSession)) -> Vec<Frame> {
    let mut s = TcpSession::open((CLIENT, 40_000), (SERVER, port), 1_000_000);
    f(&mut s);
    s.close()
}

/// An MQTT control packet: the first header byte, then the body with its length.
fn msg(first: u8, body: &[u8]) -> Vec<u8> {
    let mut v = vec![first];
    let mut n = body.len();
    loop {
        let b = (n & 0x7f) as u8;
        n >>= 7;
        v.push(if n > 0 { b | 0x80 } else { b });
        if n == 0 {
            break;
        }
    }
    v.extend_from_slice(body);
    v
}

/// A two-byte length and the bytes.
fn lstr(b: &[u8]) -> Vec<u8> {
    let mut v = (b.len() as u16).to_be_bytes().to_vec();
    v.extend_from_slice(b);
    v
}

fn connect() -> Vec<u8> {
    let mut body = lstr(b"MQTT");
    body.extend_from_slice(&[4, 0xc2, 0, 60]);
    body.extend_from_slice(&lstr(b"sensor-17"));
    body.extend_from_slice(&lstr(b"admin"));
    body.extend_from_slice(&lstr(b"hunter2"));
    msg(0x10, &body)
}

fn publish(qos: u8, retain: bool, id: u16, topic: &[u8], payload: &[u8]) -> Vec<u8> {
    let mut body = lstr(topic);
    if qos > 0 {
        body.extend_from_slice(&id.to_be_bytes());
    }
    body.extend_from_slice(payload);
    msg(0x30 | qos << 1 | u8::from(retain), &body)
}

const MQTT_RULES: &str = r##"alert mqtt any any -> any any (msg:"client id"; mqtt.connect.clientid; content:"sensor-"; startswith; sid:1;)
alert mqtt any any -> any any (msg:"user admin with password"; mqtt.connect.username; content:"admin"; mqtt.connect.flags:username,password,!will; sid:2;)
alert mqtt any any -> any any (msg:"retained qos1 command"; mqtt.type:PUBLISH; mqtt.qos:1; mqtt.flags:retain,!dup; mqtt.publish.topic; content:"cmd/"; mqtt.publish.message; content:"reboot"; sid:3;)
alert mqtt any any -> any any (msg:"wildcard subscription"; mqtt.subscribe.topic; content:"#"; endswith; sid:4;)
alert mqtt any any -> any any (msg:"session resumed"; flow:to_client; mqtt.connack.session_present:true; sid:5;)
alert mqtt any any -> any any (msg:"protocol 3.1.1"; mqtt.protocol_version:4; mqtt.type:CONNECT; sid:6;)
alert mqtt any any -> any any (msg:"qos2 (none sent)"; mqtt.qos:2; sid:7;)
alert mqtt any any -> any any (msg:"refused"; mqtt.reason_code:>0; sid:8;)
alert mqtt any any -> any any (msg:"unsolicited ack"; app-layer-event:mqtt.missing_publish; sid:9;)
alert mqtt any any -> any any (msg:"invalid qos"; app-layer-event:mqtt.invalid_qos_level; sid:10;)
"##;

fn mqtt_session(port: u16) -> Vec<Frame> {
    session(port, |s| {
        s.send(true, &connect())
            .send(false, &msg(0x20, &[1, 0]))
            .send(true, &publish(1, true, 7, b"cmd/plc4", b"reboot now"))
            .send(false, &msg(0x40, &[0, 7]));
        let mut sub = vec![0, 8];
        sub.extend_from_slice(&lstr(b"plant/#"));
        sub.push(1);
        // A SUBSCRIBE split across two segments, and a stray PUBACK.
        let sub = msg(0x82, &sub);
        s.send(true, &sub[..5])
            .send(true, &sub[5..])
            .send(false, &msg(0x90, &[0, 8, 1]))
            .send(false, &msg(0x40, &[0, 99]))
            .send(true, &msg(0xc0, &[]))
            .send(false, &msg(0xd0, &[]))
            .send(true, &msg(0xe0, &[]));
    })
}

#[test]
fn mqtt_keywords_events_and_eve() {
    let f = mqtt_session(1883);
    let (_, events) = replay_with_outputs(MQTT_RULES, &f, &["mqtt", "anomaly"]);
    assert_eq!(alert_sids(&events), vec![1, 2, 3, 4, 5, 6, 9]);
    let mqtt = of_type(&events, "mqtt");
    // CONNECT+CONNACK, PUBLISH+PUBACK, SUBSCRIBE+SUBACK, the stray PUBACK, PINGREQ, PINGRESP,
    // DISCONNECT.
    assert_eq!(mqtt.len(), 7, "{mqtt:#?}");
    let c = &mqtt[0]["mqtt"];
    assert_eq!(c["connect"]["client_id"], "sensor-17");
    assert_eq!(c["connect"]["flags"]["password"], true);
    assert_eq!(c["connack"]["session_present"], true);
    let p = &mqtt[1]["mqtt"];
    assert_eq!(p["publish"]["topic"], "cmd/plc4");
    assert_eq!(p["publish"]["retain"], true);
    assert_eq!(p["puback"]["message_id"], 7);
    assert_eq!(
        mqtt[2]["mqtt"]["subscribe"]["topics"][0]["topic"],
        "plant/#"
    );
    assert_eq!(mqtt[2]["mqtt"]["suback"]["qos_granted"][0], 1);
    let a = of_type(&events, "alert")
        .into_iter()
        .find(|e| e["alert"]["signature_id"] == 3)
        .unwrap();
    assert_eq!(a["app_proto"], "mqtt");
    assert_eq!(a["mqtt"]["publish"]["message"], "reboot now");
}

#[test]
fn mqtt_is_probed_on_its_port_only() {
    // The same bytes on port 8080 are not MQTT: no MQTT rule applies.
    let f = mqtt_session(8080);
    let (stderr, events) = replay_with_outputs(MQTT_RULES, &f, &["mqtt"]);
    assert!(alert_sids(&events).is_empty(), "{stderr}");
    assert!(of_type(&events, "mqtt").is_empty());
}

#[test]
fn server_messages_are_inspected_before_their_transaction_is_freed() {
    // With MQTT events off, a transaction counts as logged at once. A CONNACK completes its
    // transaction on the client's acknowledgement; the to-client rule must still see it on
    // the server's next packet, even with later transactions behind it.
    let f = session(1883, |s| {
        s.send(true, &connect())
            .send(false, &msg(0x20, &[1, 0]))
            .send(true, &msg(0xc0, &[]))
            .send(false, &msg(0xd0, &[]))
            .send(true, &msg(0xc0, &[]))
            .send(false, &msg(0xd0, &[]));
    });
    let rules = r#"alert mqtt any any -> any any (msg:"session resumed"; flow:to_client; mqtt.connack.session_present:true; sid:5;)
alert mqtt any any -> any any (msg:"ping answered"; flow:to_client; mqtt.type:PINGRESP; sid:6;)
"#;
    let (_, events) = replay_with_outputs(rules, &f, &[]);
    assert_eq!(alert_sids(&events), vec![5, 6, 6]);
    // The session picked up after its CONNECT was lost: the CONNACK alone raises the event.
    let f = session(1883, |s| {
        s.send(false, &msg(0x20, &[0, 0]))
            .send(true, &publish(3, false, 1, b"t", b"x"));
    });
    let rules = r#"alert mqtt any any -> any any (msg:"no connect"; app-layer-event:mqtt.missing_connect; sid:1;)
alert mqtt any any -> any any (msg:"early"; app-layer-event:mqtt.unintroduced_message; sid:2;)
alert mqtt any any -> any any (msg:"qos 3"; app-layer-event:mqtt.invalid_qos_level; sid:3;)
"#;
    let (_, events) = replay_with_outputs(rules, &f, &[]);
    assert_eq!(alert_sids(&events), vec![1, 2, 3]);
}

/// An IKEv2 IKE_SA_INIT message: AES-CBC-256, PRF-HMAC-SHA256, HMAC-SHA256-128 and DH
/// `group`, then a key exchange, a nonce and a vendor ID.
fn sa_init(group: u16, response: bool) -> Vec<u8> {
    let transforms = [(1u8, 12u16), (2, 5), (3, 12), (4, group)];
    let mut prop = vec![0, 0, 0, 0, 1, 1, 0, transforms.len() as u8];
    for (i, (k, id)) in transforms.iter().enumerate() {
        let last = if i + 1 == transforms.len() { 0 } else { 3 };
        prop.extend_from_slice(&[last, 0, 0, 8, *k, 0]);
        prop.extend_from_slice(&id.to_be_bytes());
    }
    let plen = prop.len() as u16;
    prop[2..4].copy_from_slice(&plen.to_be_bytes());
    let payload = |next: u8, body: &[u8]| {
        let mut p = vec![next, 0];
        p.extend_from_slice(&((body.len() + 4) as u16).to_be_bytes());
        p.extend_from_slice(body);
        p
    };
    let mut ke = group.to_be_bytes().to_vec();
    ke.extend_from_slice(&[0, 0]);
    ke.extend_from_slice(&[0xab; 96]);
    let mut m = vec![0x5e, 0xc0, 0x0d, 0xe5, 0, 0, 0, 1];
    m.extend_from_slice(&if response { [0x77; 8] } else { [0; 8] });
    let flags = if response { 0x20 } else { 0x08 };
    m.extend_from_slice(&[33, 0x20, 34, flags, 0, 0, 0, 0, 0, 0, 0, 0]);
    m.extend_from_slice(&payload(34, &prop));
    m.extend_from_slice(&payload(40, &ke));
    m.extend_from_slice(&payload(43, &[0x22; 32]));
    m.extend_from_slice(&payload(0, &[0x4a, 0x13, 0x1c, 0x81]));
    let len = m.len() as u32;
    m[24..28].copy_from_slice(&len.to_be_bytes());
    m
}

#[test]
fn ike_weak_dh_keywords_and_nat_traversal() {
    let rules = r#"alert ikev2 any any -> any any (msg:"weak dh"; flow:to_server; app-layer-event:ikev2.weak_crypto_dh; sid:1;)
alert ike any any -> any any (msg:"spi"; ike.init_spi; content:"5ec00de500000001"; sid:2;)
alert ike any any -> any any (msg:"vendor"; ike.vendor; content:"4a131c81"; sid:3;)
alert ike any any -> any any (msg:"sa init"; ike.exchtype:34; ike.nonce_payload_length:32; sid:4;)
alert ike any any -> any any (msg:"responder ke"; flow:to_client; ike.key_exchange_payload_length:>64; sid:5;)
"#;
    let c = (CLIENT, 500);
    let srv = (SERVER, 500);
    let mut natt = vec![0, 0, 0, 0];
    natt.extend_from_slice(&sa_init(2, false));
    let frames: Vec<Frame> = vec![
        (1_000_000, udp_frame(c, srv, &sa_init(2, false))),
        (1_001_000, udp_frame(srv, c, &sa_init(19, true))),
        // NAT traversal: the marker, then IKE; then ESP on the same port, not parsed.
        (1_002_000, udp_frame((CLIENT, 4500), (SERVER, 4500), &natt)),
        (
            1_003_000,
            udp_frame(
                (CLIENT, 4500),
                (SERVER, 4500),
                &[0xde, 0xad, 0xbe, 0xef, 0, 0, 0, 1],
            ),
        ),
    ];
    let (_, events) = replay_with_outputs(rules, &frames, &["ike"]);
    let sids = alert_sids(&events);
    // Request (weak DH, spi, vendor, sa init) and response (spi, vendor, sa init, ke) on
    // 500, and the NAT-T request again.
    assert_eq!(sids.iter().filter(|&&s| s == 1).count(), 2, "{sids:?}");
    assert_eq!(sids.iter().filter(|&&s| s == 5).count(), 1, "{sids:?}");
    assert_eq!(sids.iter().filter(|&&s| s == 2).count(), 3, "{sids:?}");
    let ike = of_type(&events, "ike");
    assert_eq!(ike.len(), 3);
    assert_eq!(ike[0]["ike"]["role"], "initiator");
    assert_eq!(ike[0]["ike"]["payload"][1], "KeyExchange");
    assert_eq!(ike[1]["ike"]["role"], "responder");
    assert_eq!(ike[1]["ike"]["resp_spi"], "7777777777777777");
}
