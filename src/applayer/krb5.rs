//! Kerberos 5 over UDP and TCP (RFC 4120): AS and TGS requests and replies and KRB-ERROR.
//! Each message is a transaction with its type, client and server principal names, realm,
//! error code and the encryption types of the reply and of its ticket, so rules can spot
//! roasting (weak ticket encryption), brute force (pre-authentication errors) and requests
//! for sensitive services.
//!
//! DER is read with a small bounded reader that only descends the fixed paths of these
//! messages: lengths past the message or indefinite lengths end the parse (an event), never
//! a panic.

use std::collections::VecDeque;
use std::io::Write;

use super::parser::{ParseCtx, Parser, Protocol, Transaction, TxDetect};
use super::{AppProto, Buf, Probe};
use crate::common::json::push_json_bytes;

/// Kerberos anomalies.
pub mod event {
    /// A message that is not valid DER Kerberos.
    pub const MALFORMED_DATA: u32 = 1 << 0;
    /// A TCP record longer than the sensor buffers.
    pub const RECORD_TOO_LONG: u32 = 1 << 1;

    /// The bit of an `app-layer-event:krb5.<name>` name.
    pub fn by_name(name: &str) -> Option<u32> {
        match name {
            "malformed_data" => Some(MALFORMED_DATA),
            "record_too_long" => Some(RECORD_TOO_LONG),
            _ => None,
        }
    }
}

/// Longest TCP record buffered (Kerberos tickets with PACs are a few KiB; 64 KiB is ample).
const MAX_RECORD: usize = 64 * 1024;
/// Name components kept per principal.
const MAX_PARTS: usize = 8;

/// Message types.
pub mod msg {
    /// AS-REQ.
    pub const AS_REQ: u8 = 10;
    /// AS-REP.
    pub const AS_REP: u8 = 11;
    /// TGS-REQ.
    pub const TGS_REQ: u8 = 12;
    /// TGS-REP.
    pub const TGS_REP: u8 = 13;
    /// KRB-ERROR.
    pub const ERROR: u8 = 30;

    /// EVE name of a message type.
    pub fn name(t: u8) -> &'static str {
        match t {
            AS_REQ => "KRB_AS_REQ",
            AS_REP => "KRB_AS_REP",
            TGS_REQ => "KRB_TGS_REQ",
            TGS_REP => "KRB_TGS_REP",
            14 => "KRB_AP_REQ",
            15 => "KRB_AP_REP",
            ERROR => "KRB_ERROR",
            _ => "UNKNOWN",
        }
    }
}

/// Encryption types considered weak (DES, 3DES-MD5, RC4): what Kerberoasting asks for.
pub fn weak_etype(e: i32) -> bool {
    matches!(e, 1 | 2 | 3 | 5 | 7 | 15 | 23 | 24)
}

/// An encryption type's name (RFC 3961/4757/8009), or its number.
pub fn etype_name(e: i32) -> String {
    match e {
        1 => "des-cbc-crc".into(),
        2 => "des-cbc-md4".into(),
        3 => "des-cbc-md5".into(),
        5 => "des3-cbc-md5".into(),
        7 => "des3-cbc-sha1".into(),
        16 => "des3-cbc-sha1-kd".into(),
        17 => "aes128-cts-hmac-sha1-96".into(),
        18 => "aes256-cts-hmac-sha1-96".into(),
        19 => "aes128-cts-hmac-sha256-128".into(),
        20 => "aes256-cts-hmac-sha384-192".into(),
        23 => "rc4-hmac".into(),
        24 => "rc4-hmac-exp".into(),
        25 => "camellia128-cts-cmac".into(),
        26 => "camellia256-cts-cmac".into(),
        e => e.to_string(),
    }
}

/// Parses an encryption type given by name or number.
pub fn etype_by_name(s: &str) -> Option<i32> {
    if let Ok(n) = s.parse() {
        return Some(n);
    }
    [1, 2, 3, 5, 7, 16, 17, 18, 19, 20, 23, 24, 25, 26]
        .into_iter()
        .find(|&e| etype_name(e).eq_ignore_ascii_case(s))
}

/// Error code names (RFC 4120 7.5.9).
fn error_name(code: i32) -> String {
    let n = match code {
        6 => "KDC_ERR_C_PRINCIPAL_UNKNOWN",
        7 => "KDC_ERR_S_PRINCIPAL_UNKNOWN",
        12 => "KDC_ERR_POLICY",
        14 => "KDC_ERR_ETYPE_NOSUPP",
        18 => "KDC_ERR_CLIENT_REVOKED",
        23 => "KDC_ERR_KEY_EXPIRED",
        24 => "KDC_ERR_PREAUTH_FAILED",
        25 => "KDC_ERR_PREAUTH_REQUIRED",
        31 => "KRB_AP_ERR_BAD_INTEGRITY",
        32 => "KRB_AP_ERR_TKT_EXPIRED",
        37 => "KRB_AP_ERR_SKEW",
        41 => "KRB_AP_ERR_MODIFIED",
        52 => "KRB_ERR_RESPONSE_TOO_BIG",
        60 => "KRB_ERR_GENERIC",
        68 => "KDC_ERR_WRONG_REALM",
        c => return format!("{c}"),
    };
    n.to_string()
}

/// A DER element: tag byte, content, and the rest after it.
fn der(d: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, rest) = d.split_first()?;
    let (&l0, rest) = rest.split_first()?;
    let (len, rest) = if l0 < 0x80 {
        (usize::from(l0), rest)
    } else {
        let n = usize::from(l0 & 0x7f);
        if n == 0 || n > 4 || rest.len() < n {
            return None;
        }
        let len = rest[..n]
            .iter()
            .fold(0usize, |a, &b| a << 8 | usize::from(b));
        (len, &rest[n..])
    };
    if len > rest.len() {
        return None;
    }
    Some((tag, &rest[..len], &rest[len..]))
}

/// The content of context tag `[n]` inside a SEQUENCE's content (the first such element).
fn field(seq: &[u8], n: u8) -> Option<&[u8]> {
    let mut d = seq;
    while !d.is_empty() {
        let (tag, content, rest) = der(d)?;
        if tag == 0xa0 | n {
            return Some(content);
        }
        d = rest;
    }
    None
}

/// An INTEGER element's value (up to 4 bytes, signed).
fn integer(d: &[u8]) -> Option<i32> {
    let (tag, c, _) = der(d)?;
    if tag != 0x02 || c.is_empty() || c.len() > 4 {
        return None;
    }
    let neg = c[0] & 0x80 != 0;
    Some(
        c.iter()
            .fold(if neg { -1i32 } else { 0 }, |a, &b| a << 8 | i32::from(b)),
    )
}

/// A GeneralString/KerberosString element.
fn string(d: &[u8]) -> Option<Vec<u8>> {
    let (tag, c, _) = der(d)?;
    matches!(tag, 0x1b | 0x16 | 0x0c | 0x13).then(|| c.to_vec())
}

/// A PrincipalName SEQUENCE { name-type [0], name-string [1] SEQUENCE OF string }: its parts.
fn principal(d: &[u8]) -> Option<Vec<Vec<u8>>> {
    let (tag, seq, _) = der(d)?;
    if tag != 0x30 {
        return None;
    }
    let (tag, mut parts, _) = der(field(seq, 1)?)?;
    if tag != 0x30 {
        return None;
    }
    let mut out = Vec::new();
    while !parts.is_empty() && out.len() < MAX_PARTS {
        let (_, _, rest) = der(parts)?;
        out.push(string(parts)?);
        parts = rest;
    }
    Some(out)
}

/// The etype of an EncryptedData SEQUENCE { etype [0], kvno [1], cipher [2] }.
fn enc_etype(d: &[u8]) -> Option<i32> {
    let (tag, seq, _) = der(d)?;
    if tag != 0x30 {
        return None;
    }
    integer(field(seq, 0)?)
}

/// One Kerberos message.
#[derive(Debug, Default)]
pub struct Krb5Tx {
    /// Transaction number within its flow (EVE `tx_id`).
    pub id: u64,
    /// Message type ([`msg`]).
    pub msg_type: u8,
    /// Sent by the client (requests) or the KDC.
    pub to_server: bool,
    /// Client principal name parts.
    pub cname: Vec<Vec<u8>>,
    /// Server principal name parts.
    pub sname: Vec<Vec<u8>>,
    /// Realm (the request's, the reply's ticket's, or the error's).
    pub realm: Vec<u8>,
    /// Encryption type of the reply's encrypted part.
    pub etype: Option<i32>,
    /// Encryption type of the reply's ticket.
    pub ticket_etype: Option<i32>,
    /// Error code (KRB-ERROR).
    pub error_code: Option<i32>,
    /// The request type an error answers.
    pub failed_request: Option<u8>,
    /// [`event`] bits.
    pub events: u32,
    /// Detection and logging state.
    pub det: TxDetect,
}

/// Reads a Kerberos message into a transaction; None when it is not one.
fn parse_message(d: &[u8]) -> Option<Krb5Tx> {
    let (app, body, _) = der(d)?;
    if app & 0xe0 != 0x60 {
        return None;
    }
    let msg_type = app & 0x1f;
    let (tag, seq, _) = der(body)?;
    if tag != 0x30 {
        return None;
    }
    let mut tx = Krb5Tx {
        msg_type,
        ..Krb5Tx::default()
    };
    match msg_type {
        msg::AS_REQ | msg::TGS_REQ => {
            tx.to_server = true;
            let (tag, rb, _) = der(field(seq, 4)?)?;
            if tag != 0x30 {
                return None;
            }
            tx.cname = field(rb, 1).and_then(principal).unwrap_or_default();
            tx.realm = field(rb, 2).and_then(string).unwrap_or_default();
            tx.sname = field(rb, 3).and_then(principal).unwrap_or_default();
        }
        msg::AS_REP | msg::TGS_REP => {
            tx.realm = field(seq, 3).and_then(string).unwrap_or_default();
            tx.cname = field(seq, 4).and_then(principal).unwrap_or_default();
            tx.etype = field(seq, 6).and_then(enc_etype);
            // Ticket ::= [APPLICATION 1] SEQUENCE { tkt-vno [0], realm [1], sname [2],
            // enc-part [3] }
            if let Some((0x61, t, _)) = field(seq, 5).and_then(der) {
                if let Some((0x30, ts, _)) = der(t) {
                    tx.sname = field(ts, 2).and_then(principal).unwrap_or_default();
                    tx.ticket_etype = field(ts, 3).and_then(enc_etype);
                }
            }
        }
        msg::ERROR => {
            tx.error_code = field(seq, 6).and_then(integer);
            tx.cname = field(seq, 8).and_then(principal).unwrap_or_default();
            tx.realm = field(seq, 9).and_then(string).unwrap_or_default();
            tx.sname = field(seq, 10).and_then(principal).unwrap_or_default();
        }
        _ => return None,
    }
    Some(tx)
}

/// The service ticket of a Kerberos AP-REQ inside a security blob (SPNEGO in an SMB session
/// setup): its realm and server principal name parts. Scans at most the blob's first 64
/// candidate tags.
pub fn ap_req_ticket(blob: &[u8]) -> Option<(Vec<u8>, Vec<Vec<u8>>)> {
    let mut from = 0;
    for _ in 0..64 {
        let i = from + memchr::memchr(0x6e, &blob[from..])?;
        from = i + 1;
        let Some((0x6e, body, _)) = der(&blob[i..]) else {
            continue;
        };
        let Some((0x30, seq, _)) = der(body) else {
            continue;
        };
        let Some((0x61, t, _)) = field(seq, 3).and_then(der) else {
            continue;
        };
        let Some((0x30, ts, _)) = der(t) else {
            continue;
        };
        let realm = field(ts, 1).and_then(string).unwrap_or_default();
        let sname = field(ts, 2).and_then(principal).unwrap_or_default();
        return Some((realm, sname));
    }
    None
}

/// Per-flow Kerberos state.
#[derive(Debug, Default)]
pub struct Krb5State {
    tcp: bool,
    /// TCP: a partial record per direction.
    buf: [Vec<u8>; 2],
    /// TCP: a direction stopped making sense.
    lost: [bool; 2],
    txs: VecDeque<Krb5Tx>,
    next_id: u64,
    /// The last request's type, for the error that answers it.
    last_request: Option<u8>,
}

/// Kerberos's registration.
pub static PROTOCOL: Protocol = Protocol {
    proto: AppProto::Krb5,
    names: &["krb5"],
    event_type: "krb5",
    switch: None,
    parser_error_event: "krb5.parser_error",
    buffers: &[
        ("krb5.cname", Buf::Krb5Cname),
        ("krb5.sname", Buf::Krb5Sname),
        ("krb5_msg_type", Buf::Krb5MsgType),
        ("krb5_err_code", Buf::Krb5ErrCode),
        ("krb5.ticket_encryption", Buf::Krb5TicketEtype),
    ],
    ports: &[],
    probe_tcp: Some(probe_tcp),
    probe_udp: Some(probe_udp),
    new_parser: |tcp| {
        Box::new(Krb5State {
            tcp,
            ..Krb5State::default()
        })
    },
    event_by_name: event::by_name,
    triggers_raw: true,
};

/// Whether `d` starts like a Kerberos message: an AS/TGS request or reply or an error.
fn looks_like(d: &[u8]) -> bool {
    matches!(d.first(), Some(0x6a | 0x6b | 0x6c | 0x6d | 0x7e))
        && d.get(2..4).is_some_and(|_| parse_message(d).is_some())
}

/// UDP probe: the datagram is a whole Kerberos message.
pub fn probe_udp(d: &[u8]) -> bool {
    looks_like(d)
}

/// TCP probe: a 4-byte record length, then a Kerberos message.
pub fn probe_tcp(d: &[u8], _to_server: bool) -> Probe {
    if d[0] != 0 {
        return Probe::NoMatch;
    }
    if d.len() < 6 {
        return Probe::NeedMore;
    }
    let len = u32::from_be_bytes([d[0], d[1], d[2], d[3]]) as usize;
    if len == 0 || len > MAX_RECORD || !matches!(d[4], 0x6a | 0x6b | 0x6c | 0x6d | 0x7e) {
        return Probe::NoMatch;
    }
    if d.len() < 4 + len {
        return if d.len() > 1024 {
            Probe::NoMatch
        } else {
            Probe::NeedMore
        };
    }
    if looks_like(&d[4..4 + len]) {
        Probe::Found(AppProto::Krb5)
    } else {
        Probe::NoMatch
    }
}

impl Krb5State {
    fn message(&mut self, to_server: bool, d: &[u8], cx: &mut ParseCtx<'_>) -> bool {
        let mut tx = match parse_message(d) {
            Some(t) => t,
            None => {
                cx.stats.parse_errors += 1;
                Krb5Tx {
                    to_server,
                    events: event::MALFORMED_DATA,
                    ..Krb5Tx::default()
                }
            }
        };
        match tx.msg_type {
            msg::AS_REQ | msg::TGS_REQ => self.last_request = Some(tx.msg_type),
            msg::ERROR => tx.failed_request = self.last_request,
            _ => {}
        }
        if self.txs.len() >= cx.cfg.max_txs {
            self.txs.pop_front();
            cx.stats.tx_limit_hits += 1;
        }
        cx.stats.count_tx(AppProto::Krb5);
        tx.id = self.next_id;
        self.next_id += 1;
        tx.det.updated[usize::from(!to_server)] = true;
        self.txs.push_back(tx);
        true
    }
}

impl Transaction for Krb5Tx {
    fn proto(&self) -> AppProto {
        AppProto::Krb5
    }

    fn id(&self) -> u64 {
        self.id
    }

    fn each(&self, b: Buf, _to_server: bool, f: &mut dyn FnMut(&[u8]) -> bool) -> Option<bool> {
        let parts = match b {
            Buf::Krb5Cname => &self.cname,
            Buf::Krb5Sname => &self.sname,
            Buf::Krb5MsgType => return (self.msg_type != 0).then(|| f(&[self.msg_type])),
            Buf::Krb5ErrCode => return self.error_code.map(|c| f(&c.to_le_bytes())),
            Buf::Krb5TicketEtype => return self.ticket_etype.map(|e| f(&e.to_le_bytes())),
            _ => return None,
        };
        if parts.is_empty() {
            return None;
        }
        Some(parts.iter().any(|p| f(p)))
    }

    fn events(&self) -> u32 {
        self.events
    }

    fn complete(&self) -> bool {
        true
    }

    fn sent_by_client(&self) -> bool {
        self.to_server
    }

    fn write_eve(&self, out: &mut Vec<u8>) {
        let join = |parts: &[Vec<u8>]| -> Vec<u8> {
            if parts.is_empty() {
                return b"<empty>".to_vec();
            }
            parts.join(&b'/')
        };
        let _ = write!(
            out,
            ",\"krb5\":{{\"msg_type\":\"{}\"",
            msg::name(self.msg_type)
        );
        if let Some(r) = self.failed_request {
            let _ = write!(out, ",\"failed_request\":\"{}\"", msg::name(r));
        }
        if let Some(c) = self.error_code {
            let _ = write!(out, ",\"error_code\":\"{}\"", error_name(c));
        }
        out.extend_from_slice(b",\"cname\":");
        push_json_bytes(out, &join(&self.cname));
        out.extend_from_slice(b",\"realm\":");
        push_json_bytes(
            out,
            if self.realm.is_empty() {
                b"<empty>"
            } else {
                &self.realm
            },
        );
        out.extend_from_slice(b",\"sname\":");
        push_json_bytes(out, &join(&self.sname));
        if let Some(e) = self.etype {
            let _ = write!(
                out,
                ",\"encryption\":\"{}\",\"weak_encryption\":{}",
                etype_name(e),
                weak_etype(e)
            );
        }
        if let Some(e) = self.ticket_etype {
            let _ = write!(
                out,
                ",\"ticket_encryption\":\"{}\",\"ticket_weak_encryption\":{}",
                etype_name(e),
                weak_etype(e)
            );
        }
        out.push(b'}');
    }
}

impl Parser for Krb5State {
    fn feed(&mut self, to_server: bool, data: &[u8], cx: &mut ParseCtx<'_>) -> bool {
        if !self.tcp {
            return self.message(to_server, data, cx);
        }
        let d = usize::from(!to_server);
        if self.lost[d] {
            return false;
        }
        let mut progressed = false;
        let mut data = data;
        while !data.is_empty() {
            let buf = &mut self.buf[d];
            let need = if buf.len() < 4 {
                4
            } else {
                let len = u32::from_be_bytes([buf[0], buf[1], buf[2], buf[3]]) as usize;
                if len > MAX_RECORD {
                    self.lost[d] = true;
                    self.buf[d] = Vec::new();
                    cx.stats.parse_errors += 1;
                    if let Some(t) = self.txs.back_mut() {
                        t.events |= event::RECORD_TOO_LONG;
                    }
                    return progressed;
                }
                4 + len
            };
            let take = (need - buf.len()).min(data.len());
            buf.extend_from_slice(&data[..take]);
            data = &data[take..];
            if buf.len() == need && need > 4 {
                let rec = std::mem::take(&mut self.buf[d]);
                progressed |= self.message(to_server, &rec[4..], cx);
            } else if buf.len() == 4 && buf[..] == [0, 0, 0, 0] {
                // A record of length 0: nothing in it.
                buf.clear();
            }
        }
        progressed
    }

    fn heap(&self) -> usize {
        self.buf.iter().map(Vec::capacity).sum::<usize>()
            + self
                .txs
                .iter()
                .map(|t| {
                    t.cname
                        .iter()
                        .chain(&t.sname)
                        .map(Vec::capacity)
                        .sum::<usize>()
                        + t.realm.capacity()
                        + t.det.heap()
                })
                .sum::<usize>()
    }

    crate::parser_tx_slots!(txs);

    fn gc(&mut self) {
        while self.txs.len() > 1 && self.txs.front().is_some_and(|t| t.det.finished()) {
            self.txs.pop_front();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::applayer::{AppConfig, AppStats};
    use crate::testgen::krb5::{as_rep, as_req, krb_error};

    #[test]
    fn request_reply_and_error_over_udp_and_tcp() {
        let cfg = AppConfig::default();
        let mut stats = AppStats::default();
        let mut cx = ParseCtx {
            cfg: &cfg,
            stats: &mut stats,
        };
        let req = as_req("alice", "CORP.EXAMPLE", &["krbtgt", "CORP.EXAMPLE"]);
        assert!(probe_udp(&req));
        let mut udp = Krb5State::default();
        udp.feed(true, &req, &mut cx);
        udp.feed(
            false,
            &krb_error(25, "alice", &["krbtgt", "CORP.EXAMPLE"]),
            &mut cx,
        );
        udp.feed(
            false,
            &as_rep("alice", &["krbtgt", "CORP.EXAMPLE"], 18, 23),
            &mut cx,
        );
        assert_eq!(udp.txs.len(), 3);
        assert_eq!(udp.txs[0].cname, vec![b"alice".to_vec()]);
        assert_eq!(udp.txs[0].sname[0], b"krbtgt");
        assert_eq!(udp.txs[1].error_code, Some(25));
        assert_eq!(udp.txs[1].failed_request, Some(msg::AS_REQ));
        assert_eq!(
            (udp.txs[2].etype, udp.txs[2].ticket_etype),
            (Some(18), Some(23))
        );
        let mut eve = Vec::new();
        udp.txs[2].write_eve(&mut eve);
        let v: serde_json::Value =
            serde_json::from_str(&format!("{{{}}}", String::from_utf8_lossy(&eve[1..]))).unwrap();
        assert_eq!(v["krb5"]["ticket_encryption"], "rc4-hmac");
        assert_eq!(v["krb5"]["ticket_weak_encryption"], true);
        assert_eq!(v["krb5"]["sname"], "krbtgt/CORP.EXAMPLE");
        // TCP: length-prefixed records, delivered a byte at a time.
        let mut rec = (req.len() as u32).to_be_bytes().to_vec();
        rec.extend_from_slice(&req);
        assert_eq!(probe_tcp(&rec, true), Probe::Found(AppProto::Krb5));
        let mut tcp = Krb5State {
            tcp: true,
            ..Krb5State::default()
        };
        for b in rec.chunks(1) {
            tcp.feed(true, b, &mut cx);
        }
        assert_eq!(tcp.txs.len(), 1);
        assert_eq!(tcp.txs[0].realm, b"CORP.EXAMPLE");
    }

    #[test]
    fn hostile_der_never_panics() {
        let cfg = AppConfig::default();
        let mut stats = AppStats::default();
        let mut cx = ParseCtx {
            cfg: &cfg,
            stats: &mut stats,
        };
        let req = as_req("bob", "R", &["host", "x"]);
        for cut in 0..req.len() {
            let _ = parse_message(&req[..cut]);
            let mut bad = req.clone();
            bad[cut] ^= 0xff;
            let _ = parse_message(&bad);
        }
        let mut s = Krb5State::default();
        s.feed(true, &[0x6a, 0x84, 0xff, 0xff, 0xff, 0xff], &mut cx);
        assert_eq!(s.txs[0].events, event::MALFORMED_DATA);
        // A lying TCP length stops the direction.
        let mut t = Krb5State {
            tcp: true,
            ..Krb5State::default()
        };
        t.feed(true, &[0x7f, 0xff, 0xff, 0xff, 0x6a], &mut cx);
        assert!(t.lost[0]);
        // Empty records are skipped (found by fuzzing: they used to spin).
        let mut e = Krb5State {
            tcp: true,
            ..Krb5State::default()
        };
        e.feed(true, &[0, 0, 0, 0, 0, 0, 0, 0, 0, 0], &mut cx);
        assert!(!e.lost[0] && e.txs.is_empty());
        assert!(t.heap() < 1024);
    }
}
