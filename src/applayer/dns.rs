//! DNS messages over UDP (one per datagram) and TCP (length-prefixed on the stream): header,
//! questions and answers, with name compression followed under a jump limit.

use std::cell::RefCell;
use std::io::Write;

use super::parser::{ParseCtx, Parser, Protocol, Transaction, TxDetect, TxRef};
use super::{AppProto, AppStats, Buf, Probe};
use crate::common::json::{push_json_bytes, push_json_str};

/// Compression pointers followed per name before the name is declared malformed.
const MAX_JUMPS: usize = 16;
/// Questions/answers kept per message.
const MAX_RECORDS: usize = 64;
/// Largest message accepted on TCP.
const MAX_TCP_MESSAGE: usize = 65_535;

/// One resource record (answer).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Answer {
    /// Owner name, dotted.
    pub name: Vec<u8>,
    /// Record type.
    pub rrtype: u16,
    /// TTL.
    pub ttl: u32,
    /// Printable rdata (address, name or nothing).
    pub rdata: String,
}

/// A parsed DNS message. Reused between packets: [`DnsMessage::parse`] overwrites it.
#[derive(Clone, Debug, Default)]
pub struct DnsMessage {
    /// Transaction id.
    pub id: u16,
    /// Header flags.
    pub flags: u16,
    /// Question names (dotted, as sent) and types.
    pub queries: Vec<(Vec<u8>, u16)>,
    /// Answer records.
    pub answers: Vec<Answer>,
    /// The answer section could not be parsed completely.
    pub truncated: bool,
}

impl DnsMessage {
    /// QR bit: a response.
    pub fn is_response(&self) -> bool {
        self.flags & 0x8000 != 0
    }

    /// Opcode.
    pub fn opcode(&self) -> u8 {
        ((self.flags >> 11) & 0xf) as u8
    }

    /// Response code.
    pub fn rcode(&self) -> u8 {
        (self.flags & 0xf) as u8
    }

    /// Parses `data` into `self`. Err when the header or the question section is malformed
    /// (the message is then not DNS, or too broken to inspect).
    pub fn parse(&mut self, data: &[u8]) -> Result<(), &'static str> {
        // The name and rdata buffers of the previous message are reused (a worker parses
        // every DNS datagram into the same message): no allocation in steady state.
        let (mut nq, mut na) = (0, 0);
        let r = self.parse_into(data, &mut nq, &mut na);
        self.queries.truncate(nq);
        self.answers.truncate(na);
        r
    }

    fn parse_into(
        &mut self,
        data: &[u8],
        nq: &mut usize,
        na: &mut usize,
    ) -> Result<(), &'static str> {
        self.truncated = false;
        if data.len() < 12 {
            return Err("shorter than a DNS header");
        }
        let be16 = |i: usize| u16::from_be_bytes([data[i], data[i + 1]]);
        self.id = be16(0);
        self.flags = be16(2);
        let qd = usize::from(be16(4));
        let an = usize::from(be16(6));
        if qd == 0 && !self.is_response() {
            return Err("query without a question");
        }
        if qd > MAX_RECORDS {
            return Err("too many questions");
        }
        let mut pos = 12;
        for _ in 0..qd {
            if *nq == self.queries.len() {
                self.queries.push((Vec::new(), 0));
            }
            let (name, qtype) = &mut self.queries[*nq];
            name.clear();
            pos = read_name(data, pos, name)?;
            if pos + 4 > data.len() {
                return Err("question truncated");
            }
            *qtype = be16(pos);
            pos += 4;
            *nq += 1;
        }
        for _ in 0..an.min(MAX_RECORDS) {
            if *na == self.answers.len() {
                self.answers.push(Answer::default());
            }
            let a = &mut self.answers[*na];
            a.name.clear();
            a.rdata.clear();
            let Ok(p) = read_name(data, pos, &mut a.name) else {
                self.truncated = true;
                break;
            };
            if p + 10 > data.len() {
                self.truncated = true;
                break;
            }
            let rrtype = be16(p);
            let ttl = u32::from_be_bytes([data[p + 4], data[p + 5], data[p + 6], data[p + 7]]);
            let rdlen = usize::from(be16(p + 8));
            let rstart = p + 10;
            if rstart + rdlen > data.len() {
                self.truncated = true;
                break;
            }
            let rd = &data[rstart..rstart + rdlen];
            use std::fmt::Write as _;
            match (rrtype, rdlen) {
                (1, 4) => {
                    let _ = write!(
                        a.rdata,
                        "{}",
                        std::net::Ipv4Addr::new(rd[0], rd[1], rd[2], rd[3])
                    );
                }
                (28, 16) => {
                    let mut b = [0u8; 16];
                    b.copy_from_slice(rd);
                    let _ = write!(a.rdata, "{}", std::net::Ipv6Addr::from(b));
                }
                (5 | 2 | 12, _) => {
                    let mut n = Vec::new();
                    if read_name(data, rstart, &mut n).is_ok() {
                        a.rdata.push_str(&String::from_utf8_lossy(&n));
                    }
                }
                _ => {}
            }
            a.rrtype = rrtype;
            a.ttl = ttl;
            *na += 1;
            pos = rstart + rdlen;
        }
        Ok(())
    }

    /// Calls `f` on each instance of `b`.
    pub fn each(&self, b: Buf, f: &mut dyn FnMut(&[u8]) -> bool) -> Option<bool> {
        match b {
            // dns.query: the questions of requests.
            Buf::DnsQuery if !self.is_response() && !self.queries.is_empty() => {
                Some(self.queries.iter().any(|(n, _)| f(n)))
            }
            Buf::DnsQueriesRrname if !self.queries.is_empty() => {
                Some(self.queries.iter().any(|(n, _)| f(n)))
            }
            Buf::DnsAnswersRrname if !self.answers.is_empty() => {
                Some(self.answers.iter().any(|a| f(&a.name)))
            }
            _ => None,
        }
    }
}

/// Reads a (possibly compressed) name at `pos` into `out` as dotted text; returns the offset
/// after the name's in-place part.
fn read_name(data: &[u8], mut pos: usize, out: &mut Vec<u8>) -> Result<usize, &'static str> {
    let mut end = None;
    let mut jumps = 0;
    loop {
        let len = *data.get(pos).ok_or("name truncated")?;
        match len & 0xc0 {
            0x00 => {
                if len == 0 {
                    return Ok(end.unwrap_or(pos + 1));
                }
                let l = usize::from(len);
                let label = data.get(pos + 1..pos + 1 + l).ok_or("label truncated")?;
                if !out.is_empty() {
                    out.push(b'.');
                }
                if out.len() + l > 255 {
                    return Err("name too long");
                }
                out.extend_from_slice(label);
                pos += 1 + l;
            }
            0xc0 => {
                let lo = *data.get(pos + 1).ok_or("pointer truncated")?;
                if end.is_none() {
                    end = Some(pos + 2);
                }
                jumps += 1;
                if jumps > MAX_JUMPS {
                    return Err("compression loop");
                }
                pos = usize::from(u16::from_be_bytes([len & 0x3f, lo]));
            }
            _ => return Err("bad label type"),
        }
    }
}

/// Whether a UDP payload is a DNS message (content-based: the whole question section must
/// parse).
pub fn probe_udp(data: &[u8]) -> bool {
    thread_local! {
        static SCRATCH: RefCell<DnsMessage> = RefCell::default();
    }
    SCRATCH.with_borrow_mut(|m| m.parse(data).is_ok() && !m.queries.is_empty())
}

/// Probe for DNS over TCP: a length prefix and a well-formed message start.
pub fn probe_tcp(data: &[u8]) -> Probe {
    // Rule out what cannot be DNS from the bytes there are: a length below a header's, or
    // an impossible question count.
    if data.len() >= 2 && usize::from(u16::from_be_bytes([data[0], data[1]])) < 12 {
        return Probe::NoMatch;
    }
    if data.len() >= 8
        && !(1..=MAX_RECORDS as u16).contains(&u16::from_be_bytes([data[6], data[7]]))
    {
        return Probe::NoMatch;
    }
    if data.len() < 14 {
        return Probe::NeedMore;
    }
    let len = usize::from(u16::from_be_bytes([data[0], data[1]]));
    if data.len() < 2 + len {
        // Check what we have: the header's counts must be sane.
        let qd = u16::from_be_bytes([data[6], data[7]]);
        return if (1..=MAX_RECORDS as u16).contains(&qd) && len <= 4096 {
            Probe::NeedMore
        } else {
            Probe::NoMatch
        };
    }
    let mut m = DnsMessage::default();
    if m.parse(&data[2..2 + len]).is_ok() && !m.queries.is_empty() {
        Probe::Found(super::AppProto::Dns)
    } else {
        Probe::NoMatch
    }
}

/// DNS's registration.
pub static PROTOCOL: Protocol = Protocol {
    proto: AppProto::Dns,
    names: &["dns"],
    event_type: "dns",
    switch: None,
    parser_error_event: "dns.parser_error",
    buffers: &[
        ("dns.query", Buf::DnsQuery),
        ("dns.queries.rrname", Buf::DnsQueriesRrname),
        ("dns.answers.rrname", Buf::DnsAnswersRrname),
    ],
    ports: &[],
    probe_tcp: Some(|d, _| probe_tcp(d)),
    probe_udp: Some(probe_udp),
    new_parser: |tcp| {
        Box::new(DnsParser {
            tcp,
            ..DnsParser::default()
        })
    },
    event_by_name: |_| None,
    triggers_raw: true,
};

/// One DNS message as a transaction.
#[derive(Debug, Default)]
pub struct DnsTx {
    /// Transaction number within its flow (EVE `tx_id`); a response shares its request's.
    pub id: u64,
    /// Sent by the client.
    pub to_server: bool,
    /// The message.
    pub msg: DnsMessage,
    /// Detection and logging state.
    pub det: TxDetect,
    /// Heap bytes of the message's names and records, measured when it was parsed (so the
    /// per-packet memcap accounting does not walk every record).
    records: usize,
}

impl Transaction for DnsTx {
    fn proto(&self) -> AppProto {
        AppProto::Dns
    }

    fn id(&self) -> u64 {
        self.id
    }

    fn each(&self, b: Buf, _to_server: bool, f: &mut dyn FnMut(&[u8]) -> bool) -> Option<bool> {
        self.msg.each(b, f)
    }

    fn complete(&self) -> bool {
        true
    }

    fn sent_by_client(&self) -> bool {
        self.to_server
    }

    fn write_eve(&self, out: &mut Vec<u8>) {
        self.msg.write_eve(out)
    }
}

impl DnsMessage {
    /// Appends the EVE `dns` object (leading comma included).
    pub fn write_eve(&self, out: &mut Vec<u8>) {
        let kind = if self.is_response() {
            "response"
        } else {
            "request"
        };
        let _ = write!(
            out,
            ",\"dns\":{{\"version\":3,\"type\":\"{kind}\",\"id\":{},\"flags\":\"{:x}\",\"qr\":{},\"rd\":{},\"opcode\":{}",
            self.id,
            self.flags,
            self.is_response(),
            self.flags & 0x0100 != 0,
            self.opcode()
        );
        if self.is_response() {
            let _ = write!(
                out,
                ",\"ra\":{},\"rcode\":\"{}\"",
                self.flags & 0x0080 != 0,
                rcode_name(self.rcode())
            );
        }
        if !self.queries.is_empty() {
            out.extend_from_slice(b",\"queries\":[");
            for (i, (name, t)) in self.queries.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                out.extend_from_slice(b"{\"rrname\":");
                push_json_bytes(out, name);
                out.extend_from_slice(b",\"rrtype\":");
                push_json_str(out, &rrtype_name(*t));
                out.push(b'}');
            }
            out.push(b']');
        }
        if !self.answers.is_empty() {
            out.extend_from_slice(b",\"answers\":[");
            for (i, a) in self.answers.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                out.extend_from_slice(b"{\"rrname\":");
                push_json_bytes(out, &a.name);
                out.extend_from_slice(b",\"rrtype\":");
                push_json_str(out, &rrtype_name(a.rrtype));
                let _ = write!(out, ",\"ttl\":{}", a.ttl);
                if !a.rdata.is_empty() {
                    out.extend_from_slice(b",\"rdata\":");
                    push_json_str(out, &a.rdata);
                }
                out.push(b'}');
            }
            out.push(b']');
        }
        out.push(b'}');
    }
}

/// DNS parser of one flow: over UDP one message per datagram, over TCP length-prefixed
/// messages framed per direction. The messages of a packet are inspected and logged on that
/// packet, then their slots are reused (no allocation in steady state).
#[derive(Debug, Default)]
pub struct DnsParser {
    /// Messages are length-prefixed on a stream.
    tcp: bool,
    /// TCP: the partial message being framed, per direction.
    buf: [Vec<u8>; 2],
    /// Message slots; the first `live` hold this packet's messages, oldest first.
    msgs: Vec<DnsTx>,
    live: usize,
    /// Transactions started on the flow (a request and its response share one).
    next_tx: u64,
    /// Requests waiting for their response: (DNS id, transaction), the last few.
    pending: [Option<(u16, u64)>; PENDING],
    /// Next slot of `pending` to overwrite.
    pending_next: usize,
}

/// Requests remembered per flow to pair responses with (oldest forgotten first).
const PENDING: usize = 16;

impl DnsParser {
    /// Parses one message into the next free slot; false when it is malformed (counted).
    fn message(&mut self, to_server: bool, data: &[u8], stats: &mut AppStats) -> bool {
        if self.live == self.msgs.len() {
            if self.msgs.len() >= MAX_RECORDS {
                stats.tx_limit_hits += 1;
                return false;
            }
            self.msgs.push(DnsTx::default());
        }
        let slot = &mut self.msgs[self.live];
        let parsed = slot.msg.parse(data);
        let m = &slot.msg;
        slot.records = m.queries.iter().map(|q| q.0.capacity() + 32).sum::<usize>()
            + m.answers
                .iter()
                .map(|a| a.name.capacity() + a.rdata.capacity() + 64)
                .sum::<usize>();
        if parsed.is_err() {
            stats.parse_errors += 1;
            return false;
        }
        stats.count_tx(AppProto::Dns);
        // As in Suricata, a response belongs to its request's transaction.
        let dns_id = slot.msg.id;
        // The latest request with this id answered by this response, if any (taken: a later
        // response with the same id starts its own transaction).
        let paired = match slot.msg.is_response() {
            true => self
                .pending
                .iter_mut()
                .filter(|p| p.is_some_and(|(id, _)| id == dns_id))
                .max_by_key(|p| p.map_or(0, |(_, tx)| tx))
                .and_then(Option::take),
            false => None,
        };
        slot.id = match paired {
            Some((_, tx)) => tx,
            None => {
                let tx = self.next_tx;
                self.next_tx += 1;
                if !slot.msg.is_response() {
                    self.pending[self.pending_next] = Some((dns_id, tx));
                    self.pending_next = (self.pending_next + 1) % PENDING;
                }
                tx
            }
        };
        slot.to_server = to_server;
        let mut updated = [false; 2];
        updated[usize::from(!to_server)] = true;
        slot.det = TxDetect {
            alerted: std::mem::take(&mut slot.det.alerted),
            updated,
            ..TxDetect::default()
        };
        slot.det.alerted.clear();
        self.live += 1;
        true
    }
}

impl Parser for DnsParser {
    fn feed(&mut self, to_server: bool, data: &[u8], cx: &mut ParseCtx<'_>) -> bool {
        let stats = &mut *cx.stats;
        if !self.tcp {
            return self.message(to_server, data, stats);
        }
        let mut b = std::mem::take(&mut self.buf[usize::from(!to_server)]);
        b.extend_from_slice(data);
        let mut off = 0;
        let mut any = false;
        while b.len() - off >= 2 {
            let len = usize::from(u16::from_be_bytes([b[off], b[off + 1]]));
            if b.len() - off - 2 < len {
                break;
            }
            any |= self.message(to_server, &b[off + 2..off + 2 + len], stats);
            off += 2 + len;
        }
        b.drain(..off);
        if b.len() > MAX_TCP_MESSAGE + 2 {
            b.clear();
            stats.parse_errors += 1;
        }
        self.buf[usize::from(!to_server)] = b;
        any
    }

    fn heap(&self) -> usize {
        let msgs: usize = self.msgs.iter().map(|m| m.det.heap() + m.records).sum();
        std::mem::size_of::<DnsParser>()
            + self.buf.iter().map(Vec::capacity).sum::<usize>()
            + self.msgs.capacity() * std::mem::size_of::<DnsTx>()
            + msgs
    }

    fn tx_count(&self) -> usize {
        self.live
    }

    fn tx(&self, slot: usize) -> Option<(TxRef<'_>, &TxDetect)> {
        self.msgs[..self.live]
            .get(slot)
            .map(|m| (m as TxRef<'_>, &m.det))
    }

    fn tx_detect(&mut self, slot: usize) -> Option<&mut TxDetect> {
        self.msgs[..self.live].get_mut(slot).map(|m| &mut m.det)
    }

    /// A packet's messages were inspected and logged: their slots are free again. A message
    /// not yet inspected in its own direction stays (on TCP a response is parsed on the
    /// client's acknowledgement and inspected on the server's next packet).
    fn gc(&mut self) {
        let mut keep = 0;
        for i in 0..self.live {
            if self.msgs[i].det.updated != [false; 2] {
                self.msgs.swap(keep, i);
                keep += 1;
            }
        }
        self.live = keep;
    }
}

/// Suricata's name for a record type.
pub fn rrtype_name(t: u16) -> String {
    match t {
        1 => "A".into(),
        2 => "NS".into(),
        5 => "CNAME".into(),
        6 => "SOA".into(),
        12 => "PTR".into(),
        15 => "MX".into(),
        16 => "TXT".into(),
        28 => "AAAA".into(),
        33 => "SRV".into(),
        35 => "NAPTR".into(),
        41 => "OPT".into(),
        43 => "DS".into(),
        46 => "RRSIG".into(),
        47 => "NSEC".into(),
        48 => "DNSKEY".into(),
        64 => "SVCB".into(),
        65 => "HTTPS".into(),
        99 => "SPF".into(),
        252 => "AXFR".into(),
        255 => "ANY".into(),
        n => n.to_string(),
    }
}

/// Suricata's name for a response code.
pub fn rcode_name(c: u8) -> &'static str {
    match c {
        0 => "NOERROR",
        1 => "FORMERR",
        2 => "SERVFAIL",
        3 => "NXDOMAIN",
        4 => "NOTIMP",
        5 => "REFUSED",
        _ => "UNKNOWN",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::applayer::AppConfig;

    fn query(name: &str) -> Vec<u8> {
        let mut m = vec![0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0];
        for l in name.split('.') {
            m.push(l.len() as u8);
            m.extend_from_slice(l.as_bytes());
        }
        m.extend_from_slice(&[0, 0, 1, 0, 1]);
        m
    }

    #[test]
    fn a_response_shares_its_requests_transaction() {
        let msg = |id: u16, response: bool| {
            let mut m = query("x.org");
            m[..2].copy_from_slice(&id.to_be_bytes());
            if response {
                m[2] |= 0x80;
            }
            m
        };
        let cfg = AppConfig::default();
        let mut st = AppStats::default();
        let mut p = (PROTOCOL.new_parser)(false);
        let mut ids = Vec::new();
        for (id, resp) in [(7, false), (9, false), (7, true), (7, true), (9, true)] {
            let mut cx = ParseCtx {
                cfg: &cfg,
                stats: &mut st,
            };
            assert!(p.feed(!resp, &msg(id, resp), &mut cx));
            ids.push(p.tx(0).unwrap().0.id());
            // As the worker does: inspected, then freed.
            p.tx_detect(0).unwrap().updated = [false; 2];
            p.gc();
        }
        // The second response to 7 has no request left: a transaction of its own.
        assert_eq!(ids, [0, 1, 0, 2, 1]);
    }

    #[test]
    fn a_tcp_response_waits_for_its_own_direction() {
        // The response is parsed on the client's acknowledgement: the worker inspects the
        // client's direction, logs, and frees what was inspected; the response stays until
        // the server's next packet inspects it.
        let cfg = AppConfig::default();
        let mut st = AppStats::default();
        let mut p = (PROTOCOL.new_parser)(true);
        let mut cx = ParseCtx {
            cfg: &cfg,
            stats: &mut st,
        };
        let mut resp = query("x.org");
        resp[2] |= 0x80;
        let framed = [&(resp.len() as u16).to_be_bytes()[..], &resp].concat();
        assert!(p.feed(false, &framed, &mut cx));
        p.tx_detect(0).unwrap().updated[0] = false;
        p.tx_detect(0).unwrap().logged = true;
        p.gc();
        assert_eq!(p.tx_count(), 1);
        assert!(p.tx(0).unwrap().1.updated[1]);
        p.tx_detect(0).unwrap().updated[1] = false;
        p.gc();
        assert_eq!(p.tx_count(), 0);
    }

    #[test]
    fn query_and_compressed_answer() {
        let mut q = query("www.example.com");
        let mut m = DnsMessage::default();
        m.parse(&q).unwrap();
        assert_eq!(m.queries, vec![(b"www.example.com".to_vec(), 1)]);
        let mut got = Vec::new();
        m.each(Buf::DnsQuery, &mut |s| {
            got.push(s.to_vec());
            false
        });
        assert_eq!(got, vec![b"www.example.com".to_vec()]);
        // Response: pointer to the question name, A record.
        q[2] = 0x81;
        q[7] = 1;
        q.extend_from_slice(&[0xc0, 12, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 10, 0, 0, 1]);
        m.parse(&q).unwrap();
        assert!(m.is_response());
        assert_eq!(m.answers[0].name, b"www.example.com");
        assert_eq!(m.answers[0].rdata, "10.0.0.1");
        assert_eq!(m.each(Buf::DnsQuery, &mut |_| true), None);
    }

    #[test]
    fn hostile_messages_fail_cleanly() {
        let mut m = DnsMessage::default();
        // Pointer loop.
        let mut q = vec![0, 1, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0xc0, 12, 0, 1, 0, 1];
        assert!(m.parse(&q).is_err());
        q.truncate(13);
        assert!(m.parse(&q).is_err());
        assert!(m.parse(&[0; 5]).is_err());
        for len in 0..40 {
            let full = query("a.b.c");
            let _ = m.parse(&full[..len.min(full.len())]);
        }
        assert_eq!(probe_tcp(b"GET / HTTP/1.1\r\n\r\n"), Probe::NoMatch);
        let q = query("x.org");
        let mut framed = (q.len() as u16).to_be_bytes().to_vec();
        framed.extend_from_slice(&q);
        assert_eq!(
            probe_tcp(&framed),
            Probe::Found(super::super::AppProto::Dns)
        );
        let mut t = (PROTOCOL.new_parser)(true);
        let mut st = AppStats::default();
        let cfg = AppConfig::default();
        let mut done = false;
        for b in framed.chunks(3) {
            let mut cx = ParseCtx {
                cfg: &cfg,
                stats: &mut st,
            };
            done |= t.feed(true, b, &mut cx);
        }
        assert!(done);
        assert_eq!(t.tx_count(), 1);
        assert_eq!(st.txs[AppProto::Dns.index().unwrap()], 1);
        // More messages in one packet's data than a flow keeps: the rest are counted.
        let mut many = Vec::new();
        for _ in 0..70 {
            many.extend_from_slice(&framed);
        }
        let mut t = (PROTOCOL.new_parser)(true);
        let mut cx = ParseCtx {
            cfg: &cfg,
            stats: &mut st,
        };
        t.feed(true, &many, &mut cx);
        assert_eq!(t.tx_count(), MAX_RECORDS);
        assert_eq!(st.tx_limit_hits, 70 - MAX_RECORDS as u64);
        assert_eq!(
            st.txs[AppProto::Dns.index().unwrap()],
            1 + MAX_RECORDS as u64
        );
    }
}
