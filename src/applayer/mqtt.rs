//! MQTT 3.1, 3.1.1 and 5.0 over TCP (port 1883): each control packet is parsed into a
//! message, and messages pair into transactions the way the protocol pairs them (CONNECT with
//! CONNACK, a QoS 1 PUBLISH with its PUBACK, a QoS 2 one with PUBREC/PUBREL/PUBCOMP,
//! SUBSCRIBE with SUBACK, UNSUBSCRIBE with UNSUBACK). Out-of-order messages (an
//! acknowledgement nobody asked for, traffic before the session is introduced) become events.
//!
//! A message is buffered until complete, up to [`MAX_MSG`]; a longer one keeps only its
//! fixed header (`truncated`, with its length) and its bytes are skipped. Properties,
//! subscription topics and transactions are bounded; what a bound leaves out is counted.

use std::collections::VecDeque;
use std::io::Write as _;

use super::parser::{ParseCtx, Parser, Protocol, Transaction, TxDetect};
use super::{AppConfig, AppProto, AppStats, Buf, Probe};
use crate::common::json::{push_json_bytes, push_key, strip_leading_comma};

/// MQTT anomalies (`app-layer-event:mqtt.<name>`).
pub mod event {
    /// A CONNACK with no CONNECT before it.
    pub const MISSING_CONNECT: u32 = 1 << 0;
    /// A PUBACK/PUBREC/PUBREL/PUBCOMP for no pending PUBLISH.
    pub const MISSING_PUBLISH: u32 = 1 << 1;
    /// A SUBACK for no pending SUBSCRIBE.
    pub const MISSING_SUBSCRIBE: u32 = 1 << 2;
    /// An UNSUBACK for no pending UNSUBSCRIBE.
    pub const MISSING_UNSUBSCRIBE: u32 = 1 << 3;
    /// A CONNECT on a session already connected.
    pub const DOUBLE_CONNECT: u32 = 1 << 4;
    /// A message before CONNECT/CONNACK completed.
    pub const UNINTRODUCED_MESSAGE: u32 = 1 << 5;
    /// QoS 3 in a fixed header.
    pub const INVALID_QOS_LEVEL: u32 = 1 << 6;
    /// A PUBLISH with QoS above 0 and no message id.
    pub const MISSING_MSG_ID: u32 = 1 << 7;
    /// Message type 0 (or AUTH before MQTT 5).
    pub const UNASSIGNED_MSG_TYPE: u32 = 1 << 8;
    /// The flow held its transaction limit: the oldest was dropped.
    pub const TOO_MANY_TRANSACTIONS: u32 = 1 << 9;
    /// A message that does not parse.
    pub const MALFORMED_TRAFFIC: u32 = 1 << 10;

    /// The bit of an `app-layer-event:mqtt.<name>` name.
    pub fn by_name(name: &str) -> Option<u32> {
        Some(match name {
            "missing_connect" => MISSING_CONNECT,
            "missing_publish" => MISSING_PUBLISH,
            "missing_subscribe" => MISSING_SUBSCRIBE,
            "missing_unsubscribe" => MISSING_UNSUBSCRIBE,
            "double_connect" => DOUBLE_CONNECT,
            "unintroduced_message" => UNINTRODUCED_MESSAGE,
            "invalid_qos_level" => INVALID_QOS_LEVEL,
            "missing_msg_id" => MISSING_MSG_ID,
            "unassigned_msg_type" => UNASSIGNED_MSG_TYPE,
            "too_many_transactions" => TOO_MANY_TRANSACTIONS,
            "malformed_traffic" => MALFORMED_TRAFFIC,
            _ => return None,
        })
    }
}

/// Largest message parsed whole (Suricata's `max-msg-length` default); longer ones keep their
/// fixed header only.
pub const MAX_MSG: usize = 1 << 20;
/// MQTT 5 properties kept per message.
const MAX_PROPS: usize = 64;
/// Topics kept per SUBSCRIBE/UNSUBSCRIBE and reason codes per acknowledgement.
const MAX_TOPICS: usize = 256;
/// Messages kept per transaction: a QoS 2 exchange needs four; resent acknowledgements past
/// this are counted, not kept.
const MAX_TX_MSGS: usize = 8;
/// Pending id of a CONNECT waiting for its CONNACK (message ids are 16-bit).
const CONNECT_ID: u32 = u32::MAX;

/// Control packet types.
pub mod kind {
    #![allow(missing_docs)]
    pub const CONNECT: u8 = 1;
    pub const CONNACK: u8 = 2;
    pub const PUBLISH: u8 = 3;
    pub const PUBACK: u8 = 4;
    pub const PUBREC: u8 = 5;
    pub const PUBREL: u8 = 6;
    pub const PUBCOMP: u8 = 7;
    pub const SUBSCRIBE: u8 = 8;
    pub const SUBACK: u8 = 9;
    pub const UNSUBSCRIBE: u8 = 10;
    pub const UNSUBACK: u8 = 11;
    pub const PINGREQ: u8 = 12;
    pub const PINGRESP: u8 = 13;
    pub const DISCONNECT: u8 = 14;
    pub const AUTH: u8 = 15;

    /// The type's number from its name (`mqtt.type:PUBLISH`; `UNASSIGNED` is 0).
    pub fn by_name(name: &str) -> Option<u8> {
        const NAMES: [&str; 16] = [
            "UNASSIGNED",
            "CONNECT",
            "CONNACK",
            "PUBLISH",
            "PUBACK",
            "PUBREC",
            "PUBREL",
            "PUBCOMP",
            "SUBSCRIBE",
            "SUBACK",
            "UNSUBSCRIBE",
            "UNSUBACK",
            "PINGREQ",
            "PINGRESP",
            "DISCONNECT",
            "AUTH",
        ];
        NAMES
            .iter()
            .position(|n| n.eq_ignore_ascii_case(name))
            .map(|i| i as u8)
    }
}

/// An MQTT 5 property value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PropVal {
    /// Byte, two-byte, four-byte and variable-byte integers.
    Int(u32),
    /// UTF-8 strings and binary data.
    Bytes(Vec<u8>),
    /// A user property (name, value).
    Pair(Vec<u8>, Vec<u8>),
}

/// A CONNECT's fields.
#[derive(Clone, Debug, Default)]
pub struct Connect {
    /// `MQTT` or `MQIsdp`.
    pub protocol_string: Vec<u8>,
    /// Protocol level: 3 (3.1), 4 (3.1.1) or 5.
    pub version: u8,
    /// Connect flags byte.
    pub flags: u8,
    /// Keep-alive seconds.
    pub keepalive: u16,
    /// Client identifier.
    pub client_id: Vec<u8>,
    /// Will topic and message, when the will flag is set.
    pub will: Option<(Vec<u8>, Vec<u8>)>,
    /// User name, when its flag is set.
    pub username: Option<Vec<u8>>,
    /// Password, when its flag is set.
    pub password: Option<Vec<u8>>,
}

/// What a message carries past its fixed header.
#[derive(Clone, Debug)]
pub enum Body {
    /// CONNECT.
    Connect(Box<Connect>),
    /// CONNACK: session present, return (reason) code.
    Connack {
        /// The broker resumed a stored session.
        session_present: bool,
        /// Return code (3.1.x) or reason code (5).
        code: u8,
    },
    /// PUBLISH.
    Publish {
        /// Topic name.
        topic: Vec<u8>,
        /// Message id (QoS 1 and 2).
        id: Option<u16>,
        /// Application message.
        message: Vec<u8>,
    },
    /// PUBACK, PUBREC, PUBREL, PUBCOMP: message id and the MQTT 5 reason code.
    Ack {
        /// Message id.
        id: u16,
        /// Reason code (MQTT 5).
        reason: Option<u8>,
    },
    /// SUBSCRIBE: message id, (topic filter, requested QoS) pairs.
    Subscribe {
        /// Message id.
        id: u16,
        /// Topic filters and their options byte.
        topics: Vec<(Vec<u8>, u8)>,
    },
    /// UNSUBSCRIBE: message id and topic filters.
    Unsubscribe {
        /// Message id.
        id: u16,
        /// Topic filters.
        topics: Vec<Vec<u8>>,
    },
    /// SUBACK and UNSUBACK: message id and the return/reason code per topic.
    SubAck {
        /// Message id.
        id: u16,
        /// Codes, one per topic.
        codes: Vec<u8>,
    },
    /// DISCONNECT and AUTH: the MQTT 5 reason code.
    Reason(Option<u8>),
    /// PINGREQ, PINGRESP, or a type without fields.
    Empty,
    /// Longer than [`MAX_MSG`]: only its fixed header was kept.
    Truncated,
}

/// One control packet.
#[derive(Clone, Debug)]
pub struct Message {
    /// Control packet type (0-15).
    pub kind: u8,
    /// The fixed header's flag nibble (DUP 0x8, QoS 0x6, RETAIN 0x1).
    pub flags: u8,
    /// Remaining length from the fixed header.
    pub len: usize,
    /// Sent by the client.
    pub to_server: bool,
    /// The type's fields.
    pub body: Body,
    /// MQTT 5 properties (id, value), at most [`MAX_PROPS`].
    pub props: Vec<(u8, PropVal)>,
}

impl Message {
    /// QoS from the fixed header (3 is invalid).
    pub fn qos(&self) -> u8 {
        self.flags >> 1 & 3
    }

    fn id(&self) -> Option<u16> {
        match &self.body {
            Body::Publish { id, .. } => *id,
            Body::Ack { id, .. }
            | Body::Subscribe { id, .. }
            | Body::Unsubscribe { id, .. }
            | Body::SubAck { id, .. } => Some(*id),
            _ => None,
        }
    }

    fn heap(&self) -> usize {
        let b = |v: &Vec<u8>| v.capacity();
        let body = match &self.body {
            Body::Connect(c) => {
                std::mem::size_of::<Connect>()
                    + b(&c.protocol_string)
                    + b(&c.client_id)
                    + c.will.as_ref().map_or(0, |(t, m)| b(t) + b(m))
                    + c.username.as_ref().map_or(0, b)
                    + c.password.as_ref().map_or(0, b)
            }
            Body::Publish { topic, message, .. } => b(topic) + b(message),
            Body::Subscribe { topics, .. } => topics.iter().map(|(t, _)| b(t) + 32).sum::<usize>(),
            Body::Unsubscribe { topics, .. } => topics.iter().map(|t| b(t) + 24).sum::<usize>(),
            Body::SubAck { codes, .. } => codes.capacity(),
            _ => 0,
        };
        let props = self
            .props
            .iter()
            .map(|(_, v)| match v {
                PropVal::Int(_) => 40,
                PropVal::Bytes(x) => 40 + x.capacity(),
                PropVal::Pair(a, c) => 40 + a.capacity() + c.capacity(),
            })
            .sum::<usize>();
        body + props
    }
}

/// A transaction: the messages of one exchange.
#[derive(Debug, Default)]
pub struct MqttTx {
    id: u64,
    /// Message id of the acknowledgement awaited ([`CONNECT_ID`] for a CONNACK).
    pending: Option<u32>,
    /// Messages, in order.
    pub msgs: Vec<Message>,
    /// The exchange finished.
    pub done: bool,
    /// Protocol level in force when it started (0 before a CONNECT).
    pub version: u8,
    /// [`event`] bits.
    pub events: u32,
    /// Detection and logging state.
    pub det: TxDetect,
}

/// One direction's framing state.
#[derive(Debug, Default)]
struct Side {
    /// Bytes of an incomplete message.
    buf: Vec<u8>,
    /// Bytes of a too-long message still to skip.
    skip: u64,
    /// Framing was lost (an impossible length): the direction is no longer parsed.
    dead: bool,
    /// Bytes were lost: data is skipped until a segment starts with a plausible message.
    resync: bool,
}

/// A flow's MQTT state.
#[derive(Debug, Default)]
pub struct MqttState {
    sides: [Side; 2],
    txs: VecDeque<MqttTx>,
    next_id: u64,
    /// CONNECT answered by CONNACK.
    connected: bool,
    /// Protocol level of the session's CONNECT (0 before one).
    version: u8,
}

/// MQTT's registration.
pub static PROTOCOL: Protocol = Protocol {
    proto: AppProto::Mqtt,
    names: &["mqtt"],
    event_type: "mqtt",
    switch: None,
    parser_error_event: "mqtt.parser_error",
    buffers: &[
        ("mqtt.connect.clientid", Buf::MqttClientId),
        ("mqtt.connect.username", Buf::MqttUsername),
        ("mqtt.connect.password", Buf::MqttPassword),
        ("mqtt.connect.willtopic", Buf::MqttWillTopic),
        ("mqtt.connect.willmessage", Buf::MqttWillMessage),
        ("mqtt.connect.protocol_string", Buf::MqttProtocolString),
        ("mqtt.publish.topic", Buf::MqttPublishTopic),
        ("mqtt.publish.message", Buf::MqttPublishMessage),
        ("mqtt.subscribe.topic", Buf::MqttSubscribeTopic),
        ("mqtt.unsubscribe.topic", Buf::MqttUnsubscribeTopic),
        ("mqtt.type", Buf::MqttType),
        ("mqtt.flags", Buf::MqttFlags),
        ("mqtt.qos", Buf::MqttQos),
        ("mqtt.protocol_version", Buf::MqttVersion),
        ("mqtt.reason_code", Buf::MqttReasonCode),
        ("mqtt.connack.session_present", Buf::MqttSessionPresent),
        ("mqtt.connect.flags", Buf::MqttConnectFlags),
    ],
    ports: &[1883],
    probe_tcp: Some(probe),
    probe_udp: None,
    new_parser: |_| Box::<MqttState>::default(),
    event_by_name: event::by_name,
    triggers_raw: true,
};

/// Reads a fixed header: (first byte, header length, remaining length); None when more bytes
/// are needed, Err for a length of more than four bytes.
fn fixed_header(d: &[u8]) -> Result<Option<(u8, usize, usize)>, ()> {
    let Some(&first) = d.first() else {
        return Ok(None);
    };
    let mut len = 0usize;
    for i in 0..4 {
        let Some(&b) = d.get(1 + i) else {
            return Ok(None);
        };
        len |= usize::from(b & 0x7f) << (7 * i);
        if b & 0x80 == 0 {
            return Ok(Some((first, 2 + i, len)));
        }
    }
    Err(())
}

/// Probe (on the protocol's ports): a plausible fixed header, from either side.
pub fn probe(data: &[u8], _to_server: bool) -> Probe {
    match fixed_header(data) {
        Ok(None) => Probe::NeedMore,
        Ok(Some((b, _, _))) if b >> 4 != 0 && (b >> 1 & 3) != 3 => Probe::Found(AppProto::Mqtt),
        _ => Probe::NoMatch,
    }
}

/// A bounds-checked reader over a message body.
struct Rd<'a>(&'a [u8]);

impl<'a> Rd<'a> {
    fn u8(&mut self) -> Option<u8> {
        let (&b, rest) = self.0.split_first()?;
        self.0 = rest;
        Some(b)
    }

    fn u16(&mut self) -> Option<u16> {
        Some(u16::from(self.u8()?) << 8 | u16::from(self.u8()?))
    }

    fn u32(&mut self) -> Option<u32> {
        Some(u32::from(self.u16()?) << 16 | u32::from(self.u16()?))
    }

    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        if n > self.0.len() {
            return None;
        }
        let (a, b) = self.0.split_at(n);
        self.0 = b;
        Some(a)
    }

    /// A two-byte length, then that many bytes.
    fn bytes(&mut self) -> Option<&'a [u8]> {
        let n = usize::from(self.u16()?);
        self.take(n)
    }

    fn varint(&mut self) -> Option<u32> {
        let mut v = 0u32;
        for i in 0..4 {
            let b = self.u8()?;
            v |= u32::from(b & 0x7f) << (7 * i);
            if b & 0x80 == 0 {
                return Some(v);
            }
        }
        None
    }

    fn rest(&mut self) -> &'a [u8] {
        std::mem::take(&mut self.0)
    }
}

/// Reads an MQTT 5 property block into `out` (at most [`MAX_PROPS`] kept; `cut` counts the
/// bytes of those left out). None when it does not parse.
fn properties(r: &mut Rd<'_>, out: &mut Vec<(u8, PropVal)>, cut: &mut u64) -> Option<()> {
    let len = r.varint()? as usize;
    let mut p = Rd(r.take(len)?);
    while !p.0.is_empty() {
        let before = p.0.len();
        let id = p.u8()?;
        let v = match id {
            1 | 23 | 25 | 36 | 37 | 40 | 41 | 42 => PropVal::Int(u32::from(p.u8()?)),
            19 | 33 | 34 | 35 => PropVal::Int(u32::from(p.u16()?)),
            2 | 17 | 24 | 39 => PropVal::Int(p.u32()?),
            11 => PropVal::Int(p.varint()?),
            3 | 8 | 9 | 18 | 21 | 22 | 26 | 28 | 31 => PropVal::Bytes(p.bytes()?.to_vec()),
            38 => {
                let k = p.bytes()?;
                PropVal::Pair(k.to_vec(), p.bytes()?.to_vec())
            }
            _ => return None,
        };
        if out.len() < MAX_PROPS {
            out.push((id, v));
        } else {
            *cut += (before - p.0.len()) as u64;
        }
    }
    Some(())
}

/// Parses one message's body (the bytes after its fixed header). None when it does not
/// parse. `v5`: the session speaks MQTT 5 (properties present).
fn parse_body(
    kind: u8,
    flags: u8,
    body: &[u8],
    v5: bool,
    props: &mut Vec<(u8, PropVal)>,
    cut: &mut u64,
) -> Option<Body> {
    let mut r = Rd(body);
    let b = match kind {
        kind::CONNECT => {
            let protocol_string = r.bytes()?.to_vec();
            let version = r.u8()?;
            let cflags = r.u8()?;
            let keepalive = r.u16()?;
            let v5 = version == 5;
            if v5 {
                properties(&mut r, props, cut)?;
            }
            let client_id = r.bytes()?.to_vec();
            let will = if cflags & 0x04 != 0 {
                if v5 {
                    // Will properties are read for framing; the message's own are kept.
                    let mut ignored = Vec::new();
                    properties(&mut r, &mut ignored, cut)?;
                }
                let topic = r.bytes()?.to_vec();
                Some((topic, r.bytes()?.to_vec()))
            } else {
                None
            };
            let username = if cflags & 0x80 != 0 {
                Some(r.bytes()?.to_vec())
            } else {
                None
            };
            let password = if cflags & 0x40 != 0 {
                Some(r.bytes()?.to_vec())
            } else {
                None
            };
            Body::Connect(Box::new(Connect {
                protocol_string,
                version,
                flags: cflags,
                keepalive,
                client_id,
                will,
                username,
                password,
            }))
        }
        kind::CONNACK => {
            let ack = r.u8()?;
            let code = r.u8()?;
            if v5 && !r.0.is_empty() {
                properties(&mut r, props, cut)?;
            }
            Body::Connack {
                session_present: ack & 1 != 0,
                code,
            }
        }
        kind::PUBLISH => {
            let topic = r.bytes()?.to_vec();
            let id = if flags >> 1 & 3 != 0 {
                Some(r.u16()?)
            } else {
                None
            };
            if v5 {
                properties(&mut r, props, cut)?;
            }
            Body::Publish {
                topic,
                id,
                message: r.rest().to_vec(),
            }
        }
        kind::PUBACK | kind::PUBREC | kind::PUBREL | kind::PUBCOMP => {
            let id = r.u16()?;
            let reason = if v5 { r.u8() } else { None };
            if v5 && !r.0.is_empty() {
                properties(&mut r, props, cut)?;
            }
            Body::Ack { id, reason }
        }
        kind::SUBSCRIBE | kind::UNSUBSCRIBE => {
            let id = r.u16()?;
            if v5 {
                properties(&mut r, props, cut)?;
            }
            let sub = kind == kind::SUBSCRIBE;
            let (mut subs, mut unsubs) = (Vec::new(), Vec::new());
            while !r.0.is_empty() {
                let t = r.bytes()?;
                let opts = if sub { r.u8()? } else { 0 };
                if subs.len() + unsubs.len() >= MAX_TOPICS {
                    *cut += t.len() as u64;
                } else if sub {
                    subs.push((t.to_vec(), opts));
                } else {
                    unsubs.push(t.to_vec());
                }
            }
            if subs.is_empty() && unsubs.is_empty() {
                return None;
            }
            if sub {
                Body::Subscribe { id, topics: subs }
            } else {
                Body::Unsubscribe { id, topics: unsubs }
            }
        }
        kind::SUBACK | kind::UNSUBACK => {
            let id = r.u16()?;
            if v5 {
                properties(&mut r, props, cut)?;
            }
            let rest = r.rest();
            let keep = rest.len().min(MAX_TOPICS);
            *cut += (rest.len() - keep) as u64;
            Body::SubAck {
                id,
                codes: rest[..keep].to_vec(),
            }
        }
        kind::DISCONNECT | kind::AUTH => {
            let reason = r.u8();
            if v5 && !r.0.is_empty() {
                properties(&mut r, props, cut)?;
            }
            Body::Reason(reason)
        }
        _ => Body::Empty,
    };
    Some(b)
}

impl MqttState {
    fn feed(
        &mut self,
        to_server: bool,
        mut data: &[u8],
        cfg: &AppConfig,
        stats: &mut AppStats,
    ) -> bool {
        let d = usize::from(!to_server);
        let mut progressed = false;
        if self.sides[d].resync {
            if probe(data, to_server) == Probe::NoMatch {
                return false;
            }
            self.sides[d].resync = false;
        }
        while !data.is_empty() && !self.sides[d].dead {
            let side = &mut self.sides[d];
            if side.skip > 0 {
                let n = side.skip.min(data.len() as u64) as usize;
                side.skip -= n as u64;
                data = &data[n..];
                continue;
            }
            // The message in `data` alone, or completed from the buffered part.
            let buffered = !side.buf.is_empty();
            let view: &[u8] = if buffered { &side.buf } else { data };
            let (first, hlen, rem) = match fixed_header(view) {
                Ok(Some(h)) => h,
                Ok(None) if buffered => {
                    // Add header bytes one at a time until the length is known (at most 5).
                    side.buf.push(data[0]);
                    data = &data[1..];
                    continue;
                }
                Ok(None) => {
                    side.buf.extend_from_slice(data);
                    break;
                }
                Err(()) => {
                    side.dead = true;
                    side.buf = Vec::new();
                    stats.parse_errors += 1;
                    self.malformed(to_server, cfg, stats);
                    progressed = true;
                    break;
                }
            };
            let total = hlen + rem;
            if total > MAX_MSG + hlen {
                // Too long to keep: the fixed header is what is known of it.
                let used = if buffered { 0 } else { hlen };
                let had = if buffered { side.buf.len() } else { hlen };
                side.skip = (total - had) as u64;
                side.buf = Vec::new();
                data = &data[used..];
                stats.data_cut += rem as u64;
                let msg = Message {
                    kind: first >> 4,
                    flags: first & 0x0f,
                    len: rem,
                    to_server,
                    body: Body::Truncated,
                    props: Vec::new(),
                };
                self.handle(msg, cfg, stats);
                progressed = true;
                continue;
            }
            let msg_bytes: &[u8];
            let owned;
            if buffered {
                let need = total - side.buf.len().min(total);
                let n = need.min(data.len());
                side.buf.extend_from_slice(&data[..n]);
                data = &data[n..];
                if side.buf.len() < total {
                    break;
                }
                owned = std::mem::take(&mut side.buf);
                msg_bytes = &owned;
            } else if data.len() < total {
                side.buf.extend_from_slice(data);
                break;
            } else {
                msg_bytes = &data[..total];
                data = &data[total..];
            }
            self.message(first, &msg_bytes[hlen..total], to_server, cfg, stats);
            progressed = true;
        }
        progressed
    }

    /// Parses one complete message and pairs it into a transaction.
    fn message(
        &mut self,
        first: u8,
        body: &[u8],
        to_server: bool,
        cfg: &AppConfig,
        stats: &mut AppStats,
    ) {
        let (k, flags) = (first >> 4, first & 0x0f);
        let mut props = Vec::new();
        let mut cut = 0;
        let parsed = parse_body(k, flags, body, self.version == 5, &mut props, &mut cut);
        stats.data_cut += cut;
        let Some(body_parsed) = parsed else {
            stats.parse_errors += 1;
            self.malformed(to_server, cfg, stats);
            return;
        };
        let msg = Message {
            kind: k,
            flags,
            len: body.len(),
            to_server,
            body: body_parsed,
            props,
        };
        self.handle(msg, cfg, stats);
    }

    /// A message that did not parse: a transaction of its own with the event.
    fn malformed(&mut self, to_server: bool, cfg: &AppConfig, stats: &mut AppStats) {
        let tx = self.new_tx(cfg, stats, to_server);
        tx.events |= event::MALFORMED_TRAFFIC;
        tx.done = true;
    }

    fn new_tx(&mut self, cfg: &AppConfig, stats: &mut AppStats, to_server: bool) -> &mut MqttTx {
        let mut events = 0;
        if self.txs.len() >= cfg.max_txs {
            self.txs.pop_front();
            stats.tx_limit_hits += 1;
            events = event::TOO_MANY_TRANSACTIONS;
        }
        stats.count_tx(AppProto::Mqtt);
        let id = self.next_id;
        self.next_id += 1;
        let mut det = TxDetect::default();
        det.updated[usize::from(!to_server)] = true;
        self.txs.push_back(MqttTx {
            id,
            events,
            version: self.version,
            det,
            ..MqttTx::default()
        });
        self.txs.back_mut().expect("just pushed")
    }

    /// The pending transaction awaiting acknowledgement `id` (and, for PUBREL/PUBCOMP, the
    /// PUBREC before it).
    fn pending(&mut self, id: u32) -> Option<&mut MqttTx> {
        self.txs
            .iter_mut()
            .rev()
            .find(|t| !t.done && t.pending == Some(id))
    }

    /// Starts a transaction with `msg` (complete unless it awaits `pending`), with `events`.
    fn open(
        &mut self,
        msg: Message,
        pending: Option<u32>,
        events: u32,
        cfg: &AppConfig,
        stats: &mut AppStats,
    ) {
        let tx = self.new_tx(cfg, stats, msg.to_server);
        tx.events |= events;
        tx.pending = pending;
        tx.done = pending.is_none();
        tx.msgs.push(msg);
    }

    /// Adds `msg` to the transaction awaiting `id`, completing it when `last`; Err(msg) when
    /// no transaction awaits it. Past [`MAX_TX_MSGS`] (a PUBREC or PUBREL resent without end)
    /// the message is counted in `data_cut`, not kept.
    fn answer(
        &mut self,
        id: u32,
        msg: Message,
        last: bool,
        stats: &mut AppStats,
    ) -> Result<(), Message> {
        let Some(tx) = self.pending(id) else {
            return Err(msg);
        };
        let d = usize::from(!msg.to_server);
        tx.det.updated[d] = true;
        if tx.msgs.len() < MAX_TX_MSGS {
            tx.msgs.push(msg);
        } else {
            stats.data_cut += msg.len as u64;
        }
        if last {
            tx.done = true;
            tx.pending = None;
        }
        Ok(())
    }

    /// Pairs a parsed message into the session's transactions.
    fn handle(&mut self, msg: Message, cfg: &AppConfig, stats: &mut AppStats) {
        let k = msg.kind;
        let mut events = 0;
        if msg.qos() == 3 {
            events |= event::INVALID_QOS_LEVEL;
        }
        if k == 0 || (k == kind::AUTH && self.version != 5 && self.version != 0) {
            events |= event::UNASSIGNED_MSG_TYPE;
            return self.open(msg, None, events, cfg, stats);
        }
        if matches!(msg.body, Body::Truncated) {
            return self.open(msg, None, events, cfg, stats);
        }
        match k {
            kind::CONNECT => {
                if let Body::Connect(c) = &msg.body {
                    self.version = c.version;
                }
                if self.connected {
                    events |= event::DOUBLE_CONNECT;
                }
                self.open(msg, Some(CONNECT_ID), events, cfg, stats);
            }
            kind::CONNACK => match self.answer(CONNECT_ID, msg, true, stats) {
                Ok(()) => self.connected = true,
                Err(msg) => self.open(msg, None, events | event::MISSING_CONNECT, cfg, stats),
            },
            _ if !self.connected => {
                self.open(msg, None, events | event::UNINTRODUCED_MESSAGE, cfg, stats);
            }
            kind::PUBLISH => match (msg.qos(), msg.id()) {
                (0, _) | (3, _) => self.open(msg, None, events, cfg, stats),
                (_, None) => self.open(msg, None, events | event::MISSING_MSG_ID, cfg, stats),
                (_, Some(id)) => self.open(msg, Some(u32::from(id)), events, cfg, stats),
            },
            kind::PUBACK | kind::PUBREC | kind::PUBREL | kind::PUBCOMP => {
                let id = u32::from(msg.id().unwrap_or(0));
                let last = matches!(k, kind::PUBACK | kind::PUBCOMP);
                if let Err(msg) = self.answer(id, msg, last, stats) {
                    self.open(msg, None, events | event::MISSING_PUBLISH, cfg, stats);
                }
            }
            kind::SUBSCRIBE | kind::UNSUBSCRIBE => {
                let id = msg.id().map(u32::from);
                self.open(msg, id, events, cfg, stats);
            }
            kind::SUBACK | kind::UNSUBACK => {
                let id = u32::from(msg.id().unwrap_or(0));
                let missing = if k == kind::SUBACK {
                    event::MISSING_SUBSCRIBE
                } else {
                    event::MISSING_UNSUBSCRIBE
                };
                if let Err(msg) = self.answer(id, msg, true, stats) {
                    self.open(msg, None, events | missing, cfg, stats);
                }
            }
            _ => self.open(msg, None, events, cfg, stats),
        }
    }
}

/// EVE key of a message type.
fn kind_name(k: u8) -> Option<&'static str> {
    Some(match k {
        kind::CONNECT => "connect",
        kind::CONNACK => "connack",
        kind::PUBLISH => "publish",
        kind::PUBACK => "puback",
        kind::PUBREC => "pubrec",
        kind::PUBREL => "pubrel",
        kind::PUBCOMP => "pubcomp",
        kind::SUBSCRIBE => "subscribe",
        kind::SUBACK => "suback",
        kind::UNSUBSCRIBE => "unsubscribe",
        kind::UNSUBACK => "unsuback",
        kind::PINGREQ => "pingreq",
        kind::PINGRESP => "pingresp",
        kind::DISCONNECT => "disconnect",
        _ => return None,
    })
}

/// EVE name of an MQTT 5 property.
fn prop_name(id: u8) -> &'static str {
    match id {
        1 => "payload_format_indicator",
        2 => "message_expiry_interval",
        3 => "content_type",
        8 => "response_topic",
        9 => "correlation_data",
        11 => "subscription_identifier",
        17 => "session_expiry_interval",
        18 => "assigned_client_identifier",
        19 => "server_keep_alive",
        21 => "authentication_method",
        22 => "authentication_data",
        23 => "request_problem_information",
        24 => "will_delay_interval",
        25 => "request_response_information",
        26 => "response_information",
        28 => "server_reference",
        31 => "reason_string",
        33 => "receive_maximum",
        34 => "topic_alias_maximum",
        35 => "topic_alias",
        36 => "maximum_qos",
        37 => "retain_available",
        39 => "maximum_packet_size",
        40 => "wildcard_subscription_available",
        41 => "subscription_identifier_available",
        42 => "shared_subscription_available",
        _ => "user_property",
    }
}

/// Appends `,"key":` (the object's first comma is stripped when it closes).
fn field(out: &mut Vec<u8>, k: &str) {
    out.push(b',');
    push_key(out, k);
}

fn push_bool(out: &mut Vec<u8>, key: &str, v: bool) {
    field(out, key);
    out.extend_from_slice(if v { b"true" } else { b"false" });
}

fn push_num(out: &mut Vec<u8>, key: &str, v: impl std::fmt::Display) {
    field(out, key);
    let _ = write!(out, "{v}");
}

fn push_str(out: &mut Vec<u8>, key: &str, v: &[u8]) {
    field(out, key);
    push_json_bytes(out, v);
}

impl Message {
    /// Writes the message's EVE object under its type's key (nothing for AUTH).
    fn write_eve(&self, out: &mut Vec<u8>) {
        let Some(name) = kind_name(self.kind) else {
            return;
        };
        field(out, name);
        out.push(b'{');
        let mark = out.len();
        push_num(out, "qos", self.qos());
        push_bool(out, "retain", self.flags & 1 != 0);
        push_bool(out, "dup", self.flags & 8 != 0);
        match &self.body {
            Body::Connect(c) => {
                push_str(out, "protocol_string", &c.protocol_string);
                push_num(out, "protocol_version", c.version);
                field(out, "flags");
                out.push(b'{');
                let fm = out.len();
                push_bool(out, "username", c.flags & 0x80 != 0);
                push_bool(out, "password", c.flags & 0x40 != 0);
                push_bool(out, "will_retain", c.flags & 0x20 != 0);
                push_bool(out, "will", c.flags & 0x04 != 0);
                push_bool(out, "clean_session", c.flags & 0x02 != 0);
                strip_leading_comma(out, fm);
                out.push(b'}');
                push_str(out, "client_id", &c.client_id);
                if let Some(u) = &c.username {
                    push_str(out, "username", u);
                }
                if let Some(p) = &c.password {
                    push_str(out, "password", p);
                }
                if let Some((t, m)) = &c.will {
                    field(out, "will");
                    out.push(b'{');
                    let wm = out.len();
                    push_str(out, "topic", t);
                    push_str(out, "message", m);
                    strip_leading_comma(out, wm);
                    out.push(b'}');
                }
            }
            Body::Connack {
                session_present,
                code,
            } => {
                push_bool(out, "session_present", *session_present);
                push_num(out, "return_code", code);
            }
            Body::Publish { topic, id, message } => {
                push_str(out, "topic", topic);
                if let Some(id) = id {
                    push_num(out, "message_id", id);
                }
                push_str(out, "message", message);
            }
            Body::Ack { id, reason } => {
                push_num(out, "message_id", id);
                if let Some(r) = reason {
                    push_num(out, "reason_code", r);
                }
            }
            Body::Subscribe { id, topics } => {
                push_num(out, "message_id", id);
                field(out, "topics");
                out.push(b'[');
                for (i, (t, o)) in topics.iter().enumerate() {
                    if i > 0 {
                        out.push(b',');
                    }
                    out.extend_from_slice(b"{\"topic\":");
                    push_json_bytes(out, t);
                    let _ = write!(out, ",\"qos\":{}}}", o & 3);
                }
                out.push(b']');
            }
            Body::Unsubscribe { id, topics } => {
                push_num(out, "message_id", id);
                field(out, "topics");
                out.push(b'[');
                for (i, t) in topics.iter().enumerate() {
                    if i > 0 {
                        out.push(b',');
                    }
                    push_json_bytes(out, t);
                }
                out.push(b']');
            }
            Body::SubAck { id, codes } => {
                push_num(out, "message_id", id);
                if !codes.is_empty() {
                    let key = if self.kind == kind::SUBACK {
                        "qos_granted"
                    } else {
                        "reason_codes"
                    };
                    field(out, key);
                    out.push(b'[');
                    for (i, c) in codes.iter().enumerate() {
                        if i > 0 {
                            out.push(b',');
                        }
                        let _ = write!(out, "{c}");
                    }
                    out.push(b']');
                }
            }
            Body::Reason(Some(r)) if self.kind == kind::DISCONNECT => {
                push_num(out, "reason_code", r);
            }
            Body::Truncated if self.kind == kind::PUBLISH => {
                push_bool(out, "truncated", true);
                push_num(out, "skipped_length", self.len);
            }
            _ => {}
        }
        let with_props = matches!(
            self.kind,
            kind::CONNECT | kind::CONNACK | kind::PUBLISH | kind::DISCONNECT
        );
        if with_props && !self.props.is_empty() {
            field(out, "properties");
            out.push(b'{');
            let pm = out.len();
            for (id, v) in &self.props {
                match v {
                    PropVal::Int(n) => push_num(out, prop_name(*id), n),
                    PropVal::Bytes(b) => push_str(out, prop_name(*id), b),
                    PropVal::Pair(k, v) => {
                        out.push(b',');
                        push_json_bytes(out, k);
                        out.push(b':');
                        push_json_bytes(out, v);
                    }
                }
            }
            strip_leading_comma(out, pm);
            out.push(b'}');
        }
        strip_leading_comma(out, mark);
        out.push(b'}');
    }
}

impl Transaction for MqttTx {
    fn proto(&self) -> AppProto {
        AppProto::Mqtt
    }

    fn id(&self) -> u64 {
        self.id
    }

    fn each(&self, b: Buf, to_server: bool, f: &mut dyn FnMut(&[u8]) -> bool) -> Option<bool> {
        let mut any = false;
        for m in &self.msgs {
            let hit = match (b, &m.body) {
                (Buf::MqttType, _) => Some(f(&[m.kind])),
                (Buf::MqttFlags, _) => Some(f(&[m.flags & 0x9])),
                (Buf::MqttQos, _) => Some(f(&[m.qos()])),
                (Buf::MqttReasonCode, Body::Connack { code, .. }) => Some(f(&[*code])),
                (
                    Buf::MqttReasonCode,
                    Body::Ack {
                        reason: Some(r), ..
                    },
                )
                | (Buf::MqttReasonCode, Body::Reason(Some(r))) => Some(f(&[*r])),
                (Buf::MqttReasonCode, Body::SubAck { codes, .. }) if m.kind == kind::UNSUBACK => {
                    Some(codes.iter().any(|c| f(&[*c])))
                }
                (
                    Buf::MqttSessionPresent,
                    Body::Connack {
                        session_present, ..
                    },
                ) => Some(f(&[u8::from(*session_present)])),
                (Buf::MqttVersion, Body::Connect(c)) => Some(f(&[c.version])),
                (_, Body::Connect(c)) if to_server => match b {
                    Buf::MqttConnectFlags => Some(f(&[c.flags])),
                    Buf::MqttClientId => Some(f(&c.client_id)),
                    Buf::MqttProtocolString => Some(f(&c.protocol_string)),
                    Buf::MqttUsername => c.username.as_deref().map(&mut *f),
                    Buf::MqttPassword => c.password.as_deref().map(&mut *f),
                    Buf::MqttWillTopic => c.will.as_ref().map(|(t, _)| f(t)),
                    Buf::MqttWillMessage => c.will.as_ref().map(|(_, w)| f(w)),
                    _ => None,
                },
                (Buf::MqttPublishTopic, Body::Publish { topic, .. })
                    if m.to_server == to_server =>
                {
                    Some(f(topic))
                }
                (Buf::MqttPublishMessage, Body::Publish { message, .. })
                    if m.to_server == to_server =>
                {
                    Some(f(message))
                }
                (Buf::MqttSubscribeTopic, Body::Subscribe { topics, .. }) if to_server => {
                    Some(topics.iter().any(|(t, _)| f(t)))
                }
                (Buf::MqttUnsubscribeTopic, Body::Unsubscribe { topics, .. }) if to_server => {
                    Some(topics.iter().any(|t| f(t)))
                }
                _ => None,
            };
            match hit {
                Some(true) => return Some(true),
                Some(false) => any = true,
                None => {}
            }
        }
        if b == Buf::MqttVersion && !any && self.version != 0 {
            // Messages after the CONNECT carry the session's protocol level.
            return Some(f(&[self.version]));
        }
        any.then_some(false)
    }

    fn events(&self) -> u32 {
        self.events
    }

    fn complete(&self) -> bool {
        self.done
    }

    fn worth_logging(&self) -> bool {
        !self.msgs.is_empty()
    }

    fn write_eve(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(b",\"mqtt\":{");
        let mark = out.len();
        for m in &self.msgs {
            m.write_eve(out);
        }
        strip_leading_comma(out, mark);
        out.push(b'}');
    }
}

impl MqttTx {
    fn heap(&self) -> usize {
        self.msgs.capacity() * std::mem::size_of::<Message>()
            + self.msgs.iter().map(Message::heap).sum::<usize>()
            + self.det.heap()
    }
}

impl Parser for MqttState {
    fn feed(&mut self, to_server: bool, data: &[u8], cx: &mut ParseCtx<'_>) -> bool {
        MqttState::feed(self, to_server, data, cx.cfg, cx.stats)
    }

    fn gap(&mut self, to_server: bool, _len: u64) {
        // The message framing is lost with the bytes: drop the partial message and resume
        // at the next segment that starts like a message.
        let side = &mut self.sides[usize::from(!to_server)];
        side.buf = Vec::new();
        side.skip = 0;
        side.resync = true;
    }

    fn heap(&self) -> usize {
        self.sides.iter().map(|s| s.buf.capacity()).sum::<usize>()
            + self.txs.iter().map(MqttTx::heap).sum::<usize>()
    }

    crate::parser_tx_slots!(txs);

    fn gc(&mut self) {
        self.txs.retain(|t| !(t.done && t.det.finished()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg(first: u8, body: &[u8]) -> Vec<u8> {
        let mut v = vec![first];
        let mut n = body.len();
        loop {
            let mut b = (n & 0x7f) as u8;
            n >>= 7;
            if n > 0 {
                b |= 0x80;
            }
            v.push(b);
            if n == 0 {
                break;
            }
        }
        v.extend_from_slice(body);
        v
    }

    fn s(b: &[u8]) -> Vec<u8> {
        let mut v = (b.len() as u16).to_be_bytes().to_vec();
        v.extend_from_slice(b);
        v
    }

    fn connect(version: u8, flags: u8, tail: &[u8]) -> Vec<u8> {
        let mut body = s(b"MQTT");
        body.extend_from_slice(&[version, flags, 0, 60]);
        if version == 5 {
            body.push(0);
        }
        body.extend_from_slice(&s(b"client-1"));
        body.extend_from_slice(tail);
        msg(0x10, &body)
    }

    fn run(state: &mut MqttState, to_server: bool, data: &[u8]) -> AppStats {
        let cfg = AppConfig::default();
        let mut stats = AppStats::default();
        state.feed(to_server, data, &cfg, &mut stats);
        stats
    }

    fn events(st: &MqttState) -> Vec<u32> {
        st.txs.iter().map(|t| t.events).collect()
    }

    #[test]
    fn fixed_header_lengths() {
        assert_eq!(fixed_header(&[0x30, 0x00]), Ok(Some((0x30, 2, 0))));
        assert_eq!(
            fixed_header(&[0x30, 0xff, 0x7f]),
            Ok(Some((0x30, 3, 16383)))
        );
        assert_eq!(fixed_header(&[0x30, 0xff]), Ok(None));
        assert_eq!(fixed_header(&[0x30, 0xff, 0xff, 0xff, 0xff, 0x01]), Err(()));
        assert_eq!(probe(&[0x10], true), Probe::NeedMore);
        assert_eq!(probe(&[0x10, 0x10], true), Probe::Found(AppProto::Mqtt));
        assert_eq!(probe(&[0x36, 0x10], true), Probe::NoMatch);
        assert_eq!(probe(&[0x05, 0x10], true), Probe::NoMatch);
        assert_eq!(kind::by_name("publish"), Some(3));
        assert_eq!(kind::by_name("UNASSIGNED"), Some(0));
    }

    #[test]
    fn session_pairs_messages_into_transactions() {
        let mut st = MqttState::default();
        let mut creds = s(b"user");
        creds.extend_from_slice(&s(b"secret"));
        run(&mut st, true, &connect(4, 0xc2, &creds));
        run(&mut st, false, &msg(0x20, &[0, 0]));
        assert!(st.connected);
        // QoS 1 publish split across packets, then its PUBACK.
        let mut pb = s(b"house/bulb");
        pb.extend_from_slice(&[0, 7]);
        pb.extend_from_slice(b"ON");
        let p = msg(0x32, &pb);
        run(&mut st, true, &p[..3]);
        run(&mut st, true, &p[3..]);
        assert!(!st.txs[1].done);
        run(&mut st, false, &msg(0x40, &[0, 7]));
        assert!(st.txs[1].done);
        // A subscribe with two topics and its SUBACK, in one segment with a ping.
        let mut sb = vec![0, 9];
        sb.extend_from_slice(&s(b"a/#"));
        sb.push(1);
        sb.extend_from_slice(&s(b"b/+"));
        sb.push(0);
        let mut seg = msg(0x82, &sb);
        seg.extend_from_slice(&msg(0xc0, &[]));
        run(&mut st, true, &seg);
        run(&mut st, false, &msg(0x90, &[0, 9, 1, 0]));
        assert_eq!(st.txs.len(), 4);
        assert!(st.txs.iter().all(|t| t.done));
        assert_eq!(events(&st), vec![0, 0, 0, 0]);

        let tx = &st.txs[0];
        let mut seen = Vec::new();
        tx.each(Buf::MqttUsername, true, &mut |b| {
            seen.push(b.to_vec());
            false
        });
        assert_eq!(seen, vec![b"user".to_vec()]);
        assert_eq!(tx.each(Buf::MqttType, true, &mut |b| b == [2]), Some(true));
        assert_eq!(
            tx.each(Buf::MqttVersion, true, &mut |b| b == [4]),
            Some(true)
        );
        let sub = &st.txs[2];
        assert_eq!(
            sub.each(Buf::MqttSubscribeTopic, true, &mut |b| b == b"b/+"),
            Some(true)
        );
        let mut eve = Vec::new();
        st.txs[1].write_eve(&mut eve);
        let v: serde_json::Value = serde_json::from_slice(&eve[8..]).unwrap();
        assert_eq!(v["publish"]["topic"], "house/bulb");
        assert_eq!(v["publish"]["message_id"], 7);
        assert_eq!(v["puback"]["message_id"], 7);
        let mut eve = Vec::new();
        st.txs[0].write_eve(&mut eve);
        let v: serde_json::Value = serde_json::from_slice(&eve[8..]).unwrap();
        assert_eq!(v["connect"]["flags"]["username"], true);
        assert_eq!(v["connack"]["return_code"], 0);
    }

    #[test]
    fn out_of_order_messages_raise_events() {
        // CONNACK with no CONNECT (picked up mid-session), then a SUBACK nobody asked for.
        let mut st = MqttState::default();
        run(&mut st, false, &msg(0x20, &[0, 0]));
        run(&mut st, false, &msg(0x90, &[0, 1, 0]));
        assert_eq!(
            events(&st),
            vec![event::MISSING_CONNECT, event::UNINTRODUCED_MESSAGE]
        );

        // A PUBLISH before the CONNACK, then QoS 3, a second CONNECT, stray acks, type 0.
        let mut st = MqttState::default();
        run(&mut st, true, &connect(3, 0x02, &[]));
        let mut pb = s(b"t");
        pb.extend_from_slice(b"x");
        run(&mut st, true, &msg(0x30, &pb));
        run(&mut st, false, &msg(0x20, &[0, 0]));
        let mut q3 = s(b"t");
        q3.extend_from_slice(&[0, 1]);
        run(&mut st, true, &msg(0x36, &q3));
        run(&mut st, true, &connect(4, 0x02, &[]));
        run(&mut st, false, &msg(0x50, &[0, 44]));
        run(&mut st, false, &msg(0xb0, &[0, 45]));
        run(&mut st, true, &msg(0x00, &[]));
        assert_eq!(
            events(&st),
            vec![
                0,
                event::UNINTRODUCED_MESSAGE,
                event::INVALID_QOS_LEVEL,
                event::DOUBLE_CONNECT,
                event::MISSING_PUBLISH,
                event::MISSING_UNSUBSCRIBE,
                event::UNASSIGNED_MSG_TYPE,
            ]
        );
    }

    #[test]
    fn malformed_and_oversized_messages_are_bounded() {
        // MQTT 5 CONNECT whose property length runs past the message.
        let mut st = MqttState::default();
        let mut body = s(b"MQTT");
        body.extend_from_slice(&[5, 0xc2, 0, 60, 0xff, 0x21, 0, 0x14]);
        body.extend_from_slice(&s(b"id"));
        let stats = run(&mut st, true, &msg(0x10, &body));
        assert_eq!(events(&st), vec![event::MALFORMED_TRAFFIC]);
        assert_eq!(stats.parse_errors, 1);
        // The next message still parses.
        run(&mut st, true, &connect(5, 0x02, &[]));
        assert_eq!(st.version, 5);
        assert_eq!(st.txs.len(), 2);

        // A 3 MiB publish: only its header is kept, its bytes are skipped, and the next
        // message after it parses.
        let mut st = MqttState::default();
        run(&mut st, true, &connect(4, 0x02, &[]));
        run(&mut st, false, &msg(0x20, &[0, 0]));
        let mut big = s(b"t");
        big.resize(3 << 20, b'a');
        let mut data = msg(0x30, &big);
        data.extend_from_slice(&msg(0xe0, &[]));
        for c in data.chunks(1460) {
            run(&mut st, true, c);
        }
        let heap = Parser::heap(&st);
        assert!(heap < 64 * 1024, "{heap}");
        let kinds: Vec<_> = st.txs.iter().map(|t| t.msgs[0].kind).collect();
        assert_eq!(kinds, vec![1, 3, 14]);
        assert!(matches!(st.txs[1].msgs[0].body, Body::Truncated));

        // A length of five bytes loses framing: counted once, the direction stops.
        let mut st = MqttState::default();
        let stats = run(
            &mut st,
            true,
            &[0x30, 0xff, 0xff, 0xff, 0xff, 0x01, 0x30, 0x00],
        );
        assert_eq!(stats.parse_errors, 1);
        assert!(st.sides[0].dead);
        assert_eq!(events(&st), vec![event::MALFORMED_TRAFFIC]);

        // Pending transactions never grow past the flow's limit.
        let mut st = MqttState::default();
        run(&mut st, true, &connect(4, 0x02, &[]));
        run(&mut st, false, &msg(0x20, &[0, 0]));
        for id in 0..1000u16 {
            let mut pb = s(b"t");
            pb.extend_from_slice(&id.to_be_bytes());
            run(&mut st, true, &msg(0x32, &pb));
        }
        assert!(st.txs.len() <= AppConfig::default().max_txs);
        assert_ne!(
            st.txs.back().unwrap().events & event::TOO_MANY_TRANSACTIONS,
            0
        );

        // A QoS 2 publish whose PUBREC is resent without end keeps a bounded transaction.
        let mut st = MqttState::default();
        run(&mut st, true, &connect(4, 0x02, &[]));
        run(&mut st, false, &msg(0x20, &[0, 0]));
        let mut pb = s(b"t");
        pb.extend_from_slice(&[0, 5]);
        run(&mut st, true, &msg(0x34, &pb));
        let mut cut = 0;
        for _ in 0..1000 {
            cut += run(&mut st, false, &msg(0x50, &[0, 5])).data_cut;
        }
        assert_eq!(st.txs[1].msgs.len(), MAX_TX_MSGS);
        assert_eq!(cut, 2 * (1000 - (MAX_TX_MSGS as u64 - 1)));
    }
}
