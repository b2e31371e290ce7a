//! HTTP/2 in clear text (prior knowledge: the client preface): frames per direction, HPACK
//! header blocks (with CONTINUATION), one transaction per stream and one per frame on stream
//! 0 (SETTINGS, PING, GOAWAY... affect the whole connection), as Suricata groups them.
//!
//! A stream answers the `http.*` buffers the way Suricata fills them for HTTP/2 (`http.uri`
//! is `:path`, `http.host` the normalised `:authority`, `http.header` every field as
//! `name: value`), so `alert http` rules inspect both versions. DNS over HTTP/2
//! (`application/dns-message` bodies, `?dns=` requests) is parsed as DNS: the flow becomes
//! `doh2` and `dns.*` rules see its messages.
//!
//! Bounds: a header block at most `header_limit` bytes (longer ones leave the direction's
//! HPACK state unknown: later blocks are not decoded, an event), `max_headers` fields per
//! message, bodies up to the HTTP body limits, frames recorded per stream up to
//! [`MAX_FRAMES`], streams per flow up to `max_txs`. DATA frames are never buffered.

use std::collections::VecDeque;
use std::io::Write as _;

use super::dns::DnsMessage;
use super::files::{File, MAGIC_BYTES};
use super::http::{Decoder, INFLATE_STATE};
use super::parser::{ParseCtx, Parser, Protocol, Transaction, TxDetect};
use super::{AppConfig, AppProto, AppStats, Buf, Probe};
use crate::common::json::{push_json_bytes, push_key};

/// HTTP/2 anomalies (`app-layer-event:http2.<name>`).
pub mod event {
    /// A frame header that cannot be right (a CONTINUATION without its HEADERS).
    pub const INVALID_FRAME_HEADER: u32 = 1 << 0;
    /// The client did not start with the connection preface.
    pub const INVALID_CLIENT_MAGIC: u32 = 1 << 1;
    /// A frame whose payload does not parse (padding longer than the frame).
    pub const INVALID_FRAME_DATA: u32 = 1 << 2;
    /// A header block HPACK could not decode.
    pub const INVALID_HEADER: u32 = 1 << 3;
    /// A fixed-size frame (PRIORITY, RST_STREAM, WINDOW_UPDATE, PING, SETTINGS) of the wrong
    /// length.
    pub const INVALID_FRAME_LENGTH: u32 = 1 << 4;
    /// A header block or control frame too long to keep.
    pub const LONG_FRAME_DATA: u32 = 1 << 5;
    /// HEADERS on a stream already closed.
    pub const STREAM_ID_REUSE: u32 = 1 << 6;
    /// An HPACK integer past 32 bits.
    pub const HEADER_INTEGER_OVERFLOW: u32 = 1 << 7;
    /// The flow held its stream limit: the oldest stream was dropped.
    pub const TOO_MANY_STREAMS: u32 = 1 << 8;
    /// `:authority` and `host` name different hosts.
    pub const AUTHORITY_HOST_MISMATCH: u32 = 1 << 9;
    /// `:authority` carries user information (`user@host`).
    pub const USERINFO_IN_URI: u32 = 1 << 10;
    /// A DNS-over-HTTP/2 request body longer than a DNS message can be.
    pub const DNS_REQUEST_TOO_LONG: u32 = 1 << 11;
    /// A DNS-over-HTTP/2 response body longer than a DNS message can be.
    pub const DNS_RESPONSE_TOO_LONG: u32 = 1 << 12;
    /// More header fields than kept.
    pub const TOO_MANY_HEADERS: u32 = 1 << 13;
    /// A body announced as gzip or deflate that does not decompress.
    pub const FAILED_DECOMPRESSION: u32 = 1 << 14;

    /// The bit of an `app-layer-event:http2.<name>` name.
    pub fn by_name(name: &str) -> Option<u32> {
        Some(match name {
            "invalid_frame_header" => INVALID_FRAME_HEADER,
            "invalid_client_magic" => INVALID_CLIENT_MAGIC,
            "invalid_frame_data" => INVALID_FRAME_DATA,
            "invalid_header" => INVALID_HEADER,
            "invalid_frame_length" => INVALID_FRAME_LENGTH,
            "long_frame_data" => LONG_FRAME_DATA,
            "stream_id_reuse" => STREAM_ID_REUSE,
            "header_integer_overflow" => HEADER_INTEGER_OVERFLOW,
            "too_many_streams" => TOO_MANY_STREAMS,
            "authority_host_mismatch" => AUTHORITY_HOST_MISMATCH,
            "userinfo_in_uri" => USERINFO_IN_URI,
            "dns_request_too_long" => DNS_REQUEST_TOO_LONG,
            "dns_response_too_long" => DNS_RESPONSE_TOO_LONG,
            "too_many_headers" => TOO_MANY_HEADERS,
            "failed_decompression" => FAILED_DECOMPRESSION,
            _ => return None,
        })
    }
}

/// The client connection preface.
pub const PREFACE: &[u8; 24] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
/// Frames recorded per stream and direction (for `http2.frametype` and EVE).
pub const MAX_FRAMES: usize = 64;
/// Control frames (SETTINGS, GOAWAY...) kept whole up to this length.
const MAX_CONTROL: usize = 16 * 1024;
/// SETTINGS entries kept per frame.
const MAX_SETTINGS: usize = 16;
/// Largest DNS message (a DoH body past it raises an event).
const MAX_DNS: usize = 65_535;
/// HPACK dynamic table size the decoder accepts (as Suricata's limit).
const MAX_TABLE: usize = 65_536;

/// Frame types.
pub mod frame {
    #![allow(missing_docs)]
    pub const DATA: u8 = 0;
    pub const HEADERS: u8 = 1;
    pub const PRIORITY: u8 = 2;
    pub const RST_STREAM: u8 = 3;
    pub const SETTINGS: u8 = 4;
    pub const PUSH_PROMISE: u8 = 5;
    pub const PING: u8 = 6;
    pub const GOAWAY: u8 = 7;
    pub const WINDOW_UPDATE: u8 = 8;
    pub const CONTINUATION: u8 = 9;

    const NAMES: [&str; 10] = [
        "DATA",
        "HEADERS",
        "PRIORITY",
        "RST_STREAM",
        "SETTINGS",
        "PUSH_PROMISE",
        "PING",
        "GOAWAY",
        "WINDOW_UPDATE",
        "CONTINUATION",
    ];

    /// A frame type's number from its name (`http2.frametype:GOAWAY`).
    pub fn by_name(name: &str) -> Option<u8> {
        NAMES
            .iter()
            .position(|n| n.eq_ignore_ascii_case(name))
            .map(|i| i as u8)
    }
}

const END_STREAM: u8 = 0x1;
const END_HEADERS: u8 = 0x4;
const PADDED: u8 = 0x8;
const PRIORITY_FLAG: u8 = 0x20;

/// Error code names (RFC 9113 section 7).
const ERRORS: [&str; 14] = [
    "NO_ERROR",
    "PROTOCOL_ERROR",
    "INTERNAL_ERROR",
    "FLOW_CONTROL_ERROR",
    "SETTINGS_TIMEOUT",
    "STREAM_CLOSED",
    "FRAME_SIZE_ERROR",
    "REFUSED_STREAM",
    "CANCEL",
    "COMPRESSION_ERROR",
    "CONNECT_ERROR",
    "ENHANCE_YOUR_CALM",
    "INADEQUATE_SECURITY",
    "HTTP_1_1_REQUIRED",
];

/// An error code's number from its name (`http2.errorcode:CANCEL`).
pub fn error_by_name(name: &str) -> Option<u32> {
    ERRORS
        .iter()
        .position(|n| n.eq_ignore_ascii_case(name))
        .map(|i| i as u32)
}

fn setting_name(id: u16) -> &'static str {
    match id {
        1 => "SETTINGS_HEADER_TABLE_SIZE",
        2 => "SETTINGS_ENABLE_PUSH",
        3 => "SETTINGS_MAX_CONCURRENT_STREAMS",
        4 => "SETTINGS_INITIAL_WINDOW_SIZE",
        5 => "SETTINGS_MAX_FRAME_SIZE",
        6 => "SETTINGS_MAX_HEADER_LIST_SIZE",
        8 => "SETTINGS_ENABLE_CONNECT_PROTOCOL",
        _ => "SETTINGS_UNKNOWN",
    }
}

/// What a recorded frame carried, for the integer keywords and EVE.
#[derive(Clone, Copy, Debug, Default)]
pub struct FrameInfo {
    /// Frame type.
    pub kind: u8,
    /// Flags.
    pub flags: u8,
    /// RST_STREAM/GOAWAY error code.
    pub error: Option<u32>,
    /// WINDOW_UPDATE increment.
    pub window: Option<u32>,
    /// HEADERS/PRIORITY weight.
    pub priority: Option<u8>,
}

/// One direction of a stream.
#[derive(Debug, Default)]
pub struct Half {
    /// Header fields (name, value), in order, trailers included.
    pub headers: Vec<(Vec<u8>, Vec<u8>)>,
    /// Name and value bytes of `headers` (held to `header_limit`).
    header_bytes: usize,
    /// Body bytes kept as received (up to the direction's body limit), when not compressed.
    body: Vec<u8>,
    /// The body's decompressor (`content-encoding: gzip` or `deflate`).
    decoder: Option<Decoder>,
    /// Bytes of the body already given to the direction's file.
    filed: usize,
    /// Body bytes seen.
    pub body_len: u64,
    /// END_STREAM (or RST_STREAM) seen.
    pub ended: bool,
    /// Frames seen (at most [`MAX_FRAMES`]).
    pub frames: Vec<FrameInfo>,
    /// SETTINGS entries (stream 0 transactions).
    pub settings: Vec<(u16, u32)>,
    /// DNS message of a DNS-over-HTTP/2 body.
    pub dns: Option<Box<DnsMessage>>,
    /// Derived buffers, rebuilt when a header block is added.
    derived: Derived,
}

/// The `http.*` buffers of one direction, built once per header block.
#[derive(Debug, Default)]
struct Derived {
    /// `http.header`: every field but cookies, `name: value\r\n`, values trimmed.
    header: Vec<u8>,
    /// `http.header.raw`: every field as sent.
    raw: Vec<u8>,
    /// `http.header_names`.
    names: Vec<u8>,
    /// `http.request_header` / `http.response_header`: `name: value` per field.
    lines: Vec<Vec<u8>>,
    /// `http.request_line` / `http.response_line`.
    line: Vec<u8>,
    /// `http.host`: `:authority` (else `host`) lower-cased, without user info and port.
    host: Vec<u8>,
}

/// A stream (or one stream-0 frame) as a transaction.
#[derive(Debug, Default)]
pub struct H2Tx {
    id: u64,
    /// Stream id (0: a connection-level frame).
    pub stream: u32,
    /// Client (0) and server (1) halves.
    pub half: [Half; 2],
    /// [`event`] bits.
    pub events: u32,
    /// The bodies as files (a request's upload, a response's download).
    pub files: Vec<File>,
    /// Detection and logging state.
    pub det: TxDetect,
}

/// A header block being assembled across CONTINUATION frames.
#[derive(Debug)]
struct Block {
    stream: u32,
    end_stream: bool,
    bytes: Vec<u8>,
}

/// The frame whose payload is arriving.
#[derive(Clone, Copy, Debug)]
struct Cur {
    kind: u8,
    flags: u8,
    stream: u32,
    len: u32,
    /// Payload bytes of the frame seen so far.
    got: u32,
    /// DATA: padding length, once read.
    pad: Option<u8>,
    /// The payload is buffered (non-DATA frames that fit).
    keep: bool,
}

/// One direction's framing state.
#[derive(Debug, Default)]
struct Side {
    /// Preface bytes still expected (client side).
    preface: usize,
    hdr: [u8; 9],
    hdr_len: usize,
    cur: Option<Cur>,
    buf: Vec<u8>,
    block: Option<Block>,
    /// The HPACK state is unknown (a block was lost): later blocks are not decoded.
    hpack_lost: bool,
}

/// HPACK decoder of one direction (the crate's type has no `Debug`).
struct Hpack(loona_hpack::Decoder<'static>);

impl std::fmt::Debug for Hpack {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Hpack")
    }
}

impl Default for Hpack {
    fn default() -> Hpack {
        let mut d = loona_hpack::Decoder::new();
        d.set_max_allowed_table_size(MAX_TABLE);
        Hpack(d)
    }
}

/// A flow's HTTP/2 state.
#[derive(Debug)]
pub struct H2State {
    sides: [Side; 2],
    hpack: [Hpack; 2],
    txs: VecDeque<H2Tx>,
    next_id: u64,
    /// A stream carried DNS: the flow is DNS over HTTP/2.
    doh: bool,
}

impl Default for H2State {
    fn default() -> H2State {
        H2State {
            sides: [
                Side {
                    preface: PREFACE.len(),
                    ..Side::default()
                },
                Side::default(),
            ],
            hpack: Default::default(),
            txs: VecDeque::new(),
            next_id: 0,
            doh: false,
        }
    }
}

/// HTTP/2's registration.
pub static PROTOCOL: Protocol = Protocol {
    proto: AppProto::Http2,
    names: &["http2"],
    event_type: "http",
    switch: Some("http2"),
    parser_error_event: "http2.parser_error",
    buffers: super::http::http_buffers![
        ("http2.header_name", Buf::Http2HeaderName),
        ("http2.frametype", Buf::Http2FrameType),
        ("http2.errorcode", Buf::Http2ErrorCode),
        ("http2.window", Buf::Http2Window),
        ("http2.priority", Buf::Http2Priority),
        ("dns.query", Buf::DnsQuery),
        ("dns.queries.rrname", Buf::DnsQueriesRrname),
        ("dns.answers.rrname", Buf::DnsAnswersRrname),
    ],
    ports: &[],
    probe_tcp: Some(probe),
    probe_udp: None,
    new_parser: |_| Box::<H2State>::default(),
    event_by_name: event::by_name,
    triggers_raw: true,
};

/// Probe: the client preface (the server speaks second in prior-knowledge HTTP/2).
pub fn probe(data: &[u8], to_server: bool) -> Probe {
    let n = data.len().min(PREFACE.len());
    if !to_server || data[..n] != PREFACE[..n] {
        Probe::NoMatch
    } else if n < PREFACE.len() {
        Probe::NeedMore
    } else {
        Probe::Found(AppProto::Http2)
    }
}

fn be32(d: &[u8]) -> u32 {
    u32::from_be_bytes([d[0], d[1], d[2], d[3]])
}

/// Base64url (RFC 4648 section 5, padding optional) as DoH's `dns=` parameter carries it;
/// None on any other byte.
fn base64url(input: &[u8]) -> Option<Vec<u8>> {
    let body = input.split(|&b| b == b'=').next().unwrap_or(input);
    let mut out = Vec::with_capacity(body.len() * 3 / 4);
    (crate::common::base64_decode(body, true, &mut out) == body.len()).then_some(out)
}

impl Half {
    /// Values of header `name` (lower case) joined with `, `, as Suricata gives repeated
    /// fields; borrowed when there is one.
    fn value(&self, name: &[u8]) -> Option<std::borrow::Cow<'_, [u8]>> {
        let mut it = self.headers.iter().filter(|(n, _)| n == name);
        let (_, first) = it.next()?;
        let mut joined = std::borrow::Cow::Borrowed(first.as_slice());
        for (_, v) in it {
            let j = joined.to_mut();
            j.extend_from_slice(b", ");
            j.extend_from_slice(v);
        }
        Some(joined)
    }

    fn first(&self, name: &[u8]) -> Option<&[u8]> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_slice())
    }

    /// Rebuilds the derived buffers after a header block (`client`: the request side).
    fn derive(&mut self, client: bool) {
        let cookie: &[u8] = if client { b"cookie" } else { b"set-cookie" };
        let mut d = Derived::default();
        d.names.extend_from_slice(b"\r\n");
        for (n, v) in &self.headers {
            d.names.extend_from_slice(n);
            d.names.extend_from_slice(b"\r\n");
            d.raw.extend_from_slice(n);
            d.raw.extend_from_slice(b": ");
            d.raw.extend_from_slice(v);
            d.raw.extend_from_slice(b"\r\n");
            if n.as_slice() != cookie {
                d.header.extend_from_slice(n);
                d.header.extend_from_slice(b": ");
                d.header.extend_from_slice(v.trim_ascii());
                d.header.extend_from_slice(b"\r\n");
            }
            let mut line = Vec::with_capacity(n.len() + 2 + v.len());
            line.extend_from_slice(n);
            line.extend_from_slice(b": ");
            line.extend_from_slice(v);
            d.lines.push(line);
        }
        d.names.extend_from_slice(b"\r\n");
        if client {
            if let (Some(m), Some(p)) = (self.first(b":method"), self.first(b":path")) {
                d.line.extend_from_slice(m);
                d.line.push(b' ');
                d.line.extend_from_slice(p);
                d.line.extend_from_slice(b" HTTP/2");
            }
            let auth = self.first(b":authority").or_else(|| self.first(b"host"));
            if let Some(a) = auth {
                let a = match a.iter().rposition(|&b| b == b'@') {
                    Some(i) => &a[i + 1..],
                    None => a,
                };
                let end = a.iter().position(|&b| b == b':').unwrap_or(a.len());
                d.host = a[..end].to_ascii_lowercase();
            }
        } else if let Some(s) = self.first(b":status") {
            d.line.extend_from_slice(b"HTTP/2 ");
            d.line.extend_from_slice(s);
        }
        self.derived = d;
    }

    fn record(&mut self, f: FrameInfo) {
        if self.frames.len() < MAX_FRAMES {
            self.frames.push(f);
        }
    }

    fn heap(&self) -> usize {
        self.headers
            .iter()
            .map(|(n, v)| 48 + n.capacity() + v.capacity())
            .sum::<usize>()
            + self.body.capacity()
            + self
                .decoder
                .as_ref()
                .map_or(0, |d| INFLATE_STATE + d.output().len())
            + self.frames.capacity() * std::mem::size_of::<FrameInfo>()
            + self.settings.capacity() * 8
            + self.dns.as_ref().map_or(0, |m| {
                256 + m
                    .queries
                    .iter()
                    .map(|(n, _)| n.capacity() + 32)
                    .sum::<usize>()
                    + m.answers
                        .iter()
                        .map(|a| a.name.capacity() + a.rdata.capacity() + 64)
                        .sum::<usize>()
            })
            + self.derived.header.capacity()
            + self.derived.raw.capacity()
            + self.derived.names.capacity()
            + self
                .derived
                .lines
                .iter()
                .map(|l| 24 + l.capacity())
                .sum::<usize>()
            + self.derived.line.capacity()
            + self.derived.host.capacity()
    }

    /// The body as inspected: decompressed when it was compressed.
    pub fn body(&self) -> &[u8] {
        match &self.decoder {
            Some(d) => d.output(),
            None => &self.body,
        }
    }

    /// The body is a DNS message (DoH): by content type.
    fn dns_body(&self) -> bool {
        self.first(b"content-type").is_some_and(|t| {
            t.trim_ascii()
                .eq_ignore_ascii_case(b"application/dns-message")
        })
    }
}

impl H2Tx {
    fn done(&self) -> bool {
        self.stream == 0 || (self.half[0].ended && self.half[1].ended)
    }
}

impl H2State {
    fn feed(&mut self, to_server: bool, mut data: &[u8], cfg: &AppConfig, stats: &mut AppStats) {
        let d = usize::from(!to_server);
        if self.sides[d].preface > 0 {
            let side = &mut self.sides[d];
            let done = PREFACE.len() - side.preface;
            let n = side.preface.min(data.len());
            if data[..n] != PREFACE[done..done + n] {
                side.preface = 0;
                stats.parse_errors += 1;
                let tx = self.tx_for(0, to_server, cfg, stats);
                tx.events |= event::INVALID_CLIENT_MAGIC;
            } else {
                side.preface -= n;
                data = &data[n..];
            }
        }
        while !data.is_empty() {
            let side = &mut self.sides[d];
            let Some(mut cur) = side.cur else {
                let n = (9 - side.hdr_len).min(data.len());
                side.hdr[side.hdr_len..side.hdr_len + n].copy_from_slice(&data[..n]);
                side.hdr_len += n;
                data = &data[n..];
                if side.hdr_len == 9 {
                    side.hdr_len = 0;
                    let h = side.hdr;
                    self.frame_start(d, &h, cfg, stats);
                }
                continue;
            };
            let n = ((cur.len - cur.got) as usize).min(data.len());
            let chunk = &data[..n];
            data = &data[n..];
            if cur.kind == frame::DATA {
                self.data_chunk(d, &mut cur, chunk, cfg, stats);
            } else if cur.keep {
                side.buf.extend_from_slice(chunk);
            }
            cur.got += n as u32;
            if cur.got == cur.len {
                self.sides[d].cur = None;
                self.frame_end(d, cur, cfg, stats);
            } else {
                self.sides[d].cur = Some(cur);
            }
        }
    }

    /// A frame header arrived.
    fn frame_start(&mut self, d: usize, h: &[u8; 9], cfg: &AppConfig, stats: &mut AppStats) {
        let len = u32::from_be_bytes([0, h[0], h[1], h[2]]);
        let (kind, flags) = (h[3], h[4]);
        let stream = be32(&h[5..9]) & 0x7fff_ffff;
        let limit = match kind {
            frame::HEADERS | frame::CONTINUATION | frame::PUSH_PROMISE => cfg.header_limit,
            _ => MAX_CONTROL,
        };
        let keep = kind != frame::DATA && (len as usize) <= limit;
        let cur = Cur {
            kind,
            flags,
            stream,
            len,
            got: 0,
            pad: None,
            keep,
        };
        let side = &mut self.sides[d];
        side.buf.clear();
        if !keep && kind != frame::DATA {
            stats.data_cut += u64::from(len);
            if matches!(
                kind,
                frame::HEADERS | frame::CONTINUATION | frame::PUSH_PROMISE
            ) {
                // The block cannot be decoded: the HPACK state of the direction is lost.
                side.hpack_lost = true;
                side.block = None;
            }
            let tx = self.tx_for(stream, d == 0, cfg, stats);
            tx.events |= event::LONG_FRAME_DATA;
        }
        if len == 0 {
            self.frame_end(d, cur, cfg, stats);
        } else {
            self.sides[d].cur = Some(cur);
        }
    }

    /// DATA payload bytes: padding stripped, the rest to the stream's body.
    fn data_chunk(
        &mut self,
        d: usize,
        cur: &mut Cur,
        mut chunk: &[u8],
        cfg: &AppConfig,
        stats: &mut AppStats,
    ) {
        let mut off = cur.got;
        if cur.flags & PADDED != 0 && cur.pad.is_none() {
            if let Some((&p, rest)) = chunk.split_first() {
                cur.pad = Some(p);
                chunk = rest;
                off += 1;
            }
        }
        let data_end = cur.len.saturating_sub(u32::from(cur.pad.unwrap_or(0)));
        let keep = (data_end.saturating_sub(off) as usize).min(chunk.len());
        let chunk = &chunk[..keep];
        if chunk.is_empty() || cur.stream == 0 {
            return;
        }
        let limit = if d == 0 {
            cfg.request_body_limit
        } else {
            cfg.response_body_limit
        };
        let tx = self.tx_for(cur.stream, d == 0, cfg, stats);
        let tx_id = tx.id;
        let H2Tx {
            half,
            files,
            events,
            ..
        } = tx;
        let h = &mut half[d];
        h.body_len += chunk.len() as u64;
        let mut cut = false;
        match h.decoder.as_mut() {
            Some(dec) if dec.output().len() < limit => {
                if dec.write(chunk).is_err() {
                    *events |= event::FAILED_DECOMPRESSION;
                    cut = true;
                    h.decoder = None;
                }
            }
            Some(_) => cut = true,
            None => {
                let room = limit.saturating_sub(h.body.len());
                h.body.extend_from_slice(&chunk[..chunk.len().min(room)]);
            }
        }
        // The body is also a file (as sent, or as decompressed); `file.data` inspects the
        // body itself, so the file keeps only what its type needs.
        let fcfg = super::files::FileConfig {
            inspect_limit: MAGIC_BYTES,
            ..cfg.files
        };
        let slot = match files.iter().position(|f| f.to_server == (d == 0)) {
            Some(i) => i,
            None if files.len() < 2 => {
                let path = half[0].first(b":path").unwrap_or(b"");
                let end = path.iter().position(|&b| b == b'?').unwrap_or(path.len());
                files.push(File::new(&path[..end], d == 0, tx_id, &fcfg));
                files.len() - 1
            }
            None => return,
        };
        let h = &mut half[d];
        if h.decoder.is_some() {
            let out = h.body();
            let new = &out[h.filed.min(out.len())..];
            files[slot].append(new, &fcfg);
            h.filed = out.len();
        } else if !cut {
            files[slot].append(chunk, &fcfg);
        }
        if cut {
            files[slot].truncate();
        }
        let h = &tx.half[d];
        if h.body_len > MAX_DNS as u64 && h.dns_body() {
            tx.events |= if d == 0 {
                event::DNS_REQUEST_TOO_LONG
            } else {
                event::DNS_RESPONSE_TOO_LONG
            };
        }
    }

    /// A frame is complete: its payload (buffered when kept) is handled.
    fn frame_end(&mut self, d: usize, cur: Cur, cfg: &AppConfig, stats: &mut AppStats) {
        let to_server = d == 0;
        let payload = std::mem::take(&mut self.sides[d].buf);
        let mut info = FrameInfo {
            kind: cur.kind,
            flags: cur.flags,
            ..FrameInfo::default()
        };
        let fixed = |n: usize| cur.keep && payload.len() == n;
        match cur.kind {
            frame::DATA => {
                if cur.flags & PADDED != 0 && cur.pad.is_some_and(|p| u32::from(p) >= cur.len) {
                    let tx = self.tx_for(cur.stream, to_server, cfg, stats);
                    tx.events |= event::INVALID_FRAME_DATA;
                }
                if cur.stream != 0 {
                    let tx = self.tx_for(cur.stream, to_server, cfg, stats);
                    tx.half[d].record(info);
                    if cur.flags & END_STREAM != 0 {
                        tx.half[d].ended = true;
                        Self::body_done(tx, d);
                    }
                    let doh = tx.half[d].dns.is_some();
                    self.doh |= doh;
                }
                self.sides[d].buf = payload;
                return;
            }
            frame::HEADERS | frame::PUSH_PROMISE if cur.keep => {
                let mut p = payload.as_slice();
                let mut bad = false;
                if cur.flags & PADDED != 0 {
                    let pad = usize::from(p.first().copied().unwrap_or(0));
                    bad = p.len() < 1 + pad;
                    p = if bad { &[] } else { &p[1..p.len() - pad] };
                }
                let mut stream = cur.stream;
                if cur.kind == frame::PUSH_PROMISE {
                    bad |= p.len() < 4;
                    if !bad {
                        stream = be32(p) & 0x7fff_ffff;
                        p = &p[4..];
                    }
                } else if cur.flags & PRIORITY_FLAG != 0 {
                    bad |= p.len() < 5;
                    if !bad {
                        info.priority = Some(p[4]);
                        p = &p[5..];
                    }
                }
                let reuse = cur.kind == frame::HEADERS
                    && self
                        .find(cur.stream)
                        .is_some_and(|t| t.half[d].ended && t.half[1 - d].ended);
                let tx = self.tx_for(cur.stream, to_server, cfg, stats);
                tx.half[d].record(info);
                if bad {
                    tx.events |= event::INVALID_FRAME_DATA;
                }
                if reuse {
                    tx.events |= event::STREAM_ID_REUSE;
                }
                let end_stream = cur.kind == frame::HEADERS && cur.flags & END_STREAM != 0;
                let block = Block {
                    stream,
                    end_stream,
                    bytes: p.to_vec(),
                };
                if cur.flags & END_HEADERS != 0 {
                    self.header_block(d, block, cfg, stats);
                } else {
                    self.sides[d].block = Some(block);
                }
            }
            frame::CONTINUATION if cur.keep => {
                let side = &mut self.sides[d];
                match side.block.as_mut() {
                    Some(b) if b.stream == cur.stream || cur.stream == 0 => {
                        if b.bytes.len() + payload.len() > cfg.header_limit {
                            side.block = None;
                            side.hpack_lost = true;
                            let tx = self.tx_for(cur.stream, to_server, cfg, stats);
                            tx.events |= event::LONG_FRAME_DATA;
                        } else {
                            b.bytes.extend_from_slice(&payload);
                            if cur.flags & END_HEADERS != 0 {
                                let block = side.block.take().expect("checked above");
                                self.header_block(d, block, cfg, stats);
                            }
                        }
                    }
                    _ => {
                        let tx = self.tx_for(cur.stream, to_server, cfg, stats);
                        tx.events |= event::INVALID_FRAME_HEADER;
                    }
                }
            }
            frame::PRIORITY => {
                if fixed(5) {
                    info.priority = Some(payload[4]);
                }
                self.control(cur, info, fixed(5), to_server, cfg, stats);
            }
            frame::RST_STREAM => {
                if fixed(4) {
                    info.error = Some(be32(&payload));
                }
                let tx = self.control(cur, info, fixed(4), to_server, cfg, stats);
                if tx.stream != 0 {
                    tx.half[0].ended = true;
                    tx.half[1].ended = true;
                    for f in tx.files.iter_mut().filter(|f| !f.done()) {
                        f.truncate();
                    }
                }
            }
            frame::WINDOW_UPDATE => {
                if fixed(4) {
                    info.window = Some(be32(&payload) & 0x7fff_ffff);
                }
                self.control(cur, info, fixed(4), to_server, cfg, stats);
            }
            frame::GOAWAY => {
                let ok = cur.keep && payload.len() >= 8;
                if ok {
                    info.error = Some(be32(&payload[4..8]));
                }
                self.control(cur, info, ok, to_server, cfg, stats);
            }
            frame::PING => {
                self.control(cur, info, fixed(8), to_server, cfg, stats);
            }
            frame::SETTINGS => {
                let ok = cur.keep && payload.len() % 6 == 0;
                let tx = self.control(cur, info, ok, to_server, cfg, stats);
                if ok {
                    for s in payload.chunks_exact(6).take(MAX_SETTINGS) {
                        let (id, v) = (u16::from_be_bytes([s[0], s[1]]), be32(&s[2..6]));
                        tx.half[d].settings.push((id, v));
                    }
                }
            }
            _ => {
                // Unknown frame types are ignored (RFC 9113 section 4.1), as are frames too
                // long to keep (counted when they started).
            }
        }
        let mut payload = payload;
        payload.clear();
        self.sides[d].buf = payload;
    }

    /// A control frame: recorded on its stream's transaction (a new one on stream 0).
    fn control(
        &mut self,
        cur: Cur,
        info: FrameInfo,
        ok: bool,
        to_server: bool,
        cfg: &AppConfig,
        stats: &mut AppStats,
    ) -> &mut H2Tx {
        let tx = if cur.stream == 0 {
            self.new_tx(0, to_server, cfg, stats)
        } else {
            self.tx_for(cur.stream, to_server, cfg, stats)
        };
        tx.half[usize::from(!to_server)].record(info);
        if !ok && cur.keep {
            tx.events |= event::INVALID_FRAME_LENGTH;
        }
        tx
    }

    /// A complete header block: HPACK-decoded into the stream's fields of direction `d`.
    fn header_block(&mut self, d: usize, block: Block, cfg: &AppConfig, stats: &mut AppStats) {
        let to_server = d == 0;
        if self.sides[d].hpack_lost {
            let tx = self.tx_for(block.stream, to_server, cfg, stats);
            tx.events |= event::INVALID_HEADER;
            return;
        }
        // The limits hold for the direction's fields over all its blocks (trailers, repeated
        // HEADERS): more blocks cannot grow a stream past them.
        let (held, held_bytes) = self.find(block.stream).map_or((0, 0), |t| {
            (t.half[d].headers.len(), t.half[d].header_bytes)
        });
        let mut fields: Vec<(Vec<u8>, Vec<u8>)> = Vec::new();
        let (mut bytes, mut dropped) = (held_bytes, 0usize);
        let max = cfg.max_headers.saturating_sub(held);
        let r = self.hpack[d].0.decode_with_cb(&block.bytes, |n, v| {
            if fields.len() < max && bytes + n.len() + v.len() <= cfg.header_limit {
                bytes += n.len() + v.len();
                fields.push((n.into_owned(), v.into_owned()));
            } else {
                dropped += 1;
            }
        });
        let tx = self.tx_for(block.stream, to_server, cfg, stats);
        if let Err(e) = r {
            stats.parse_errors += 1;
            tx.events |= match e {
                loona_hpack::decoder::DecoderError::IntegerDecodingError(
                    loona_hpack::decoder::IntegerDecodingError::TooManyOctets,
                ) => event::HEADER_INTEGER_OVERFLOW,
                _ => event::INVALID_HEADER,
            };
        }
        if dropped > 0 {
            stats.header_limit_hits += 1;
            tx.events |= event::TOO_MANY_HEADERS;
        }
        let h = &mut tx.half[d];
        h.headers.extend(fields);
        h.header_bytes = bytes;
        h.derive(to_server);
        if h.decoder.is_none() && h.body.is_empty() {
            h.decoder = h.first(b"content-encoding").and_then(Decoder::for_encoding);
        }
        if to_server {
            let auth = h.first(b":authority").map(<[u8]>::to_vec);
            if let Some(a) = &auth {
                if a.contains(&b'@') {
                    tx.events |= event::USERINFO_IN_URI;
                }
                let host = h.first(b"host");
                if host.is_some_and(|host| !same_host(a, host)) {
                    tx.events |= event::AUTHORITY_HOST_MISMATCH;
                }
            }
        }
        let h = &mut tx.half[d];
        if block.end_stream {
            h.ended = true;
            Self::body_done(tx, d);
        } else if to_server {
            // A GET with `?dns=`: the DNS query is in the path.
            Self::dns_in_path(tx);
        }
        let doh = tx.half.iter().any(|h| h.dns.is_some());
        self.doh |= doh;
    }

    /// A direction's message is complete: its file closes, and a DoH body is parsed as DNS.
    fn body_done(tx: &mut H2Tx, d: usize) {
        if d == 0 {
            Self::dns_in_path(tx);
        }
        if let Some(f) = tx.files.iter_mut().find(|f| f.to_server == (d == 0)) {
            f.close();
        }
        let h = &mut tx.half[d];
        let body = h.body();
        if h.dns.is_none() && h.dns_body() && !body.is_empty() && body.len() <= MAX_DNS {
            let mut m = DnsMessage::default();
            if m.parse(body).is_ok() {
                h.dns = Some(Box::new(m));
            }
        }
    }

    /// DoH GET: the `dns` query parameter, base64url.
    fn dns_in_path(tx: &mut H2Tx) {
        let h = &mut tx.half[0];
        if h.dns.is_some() || h.first(b":method") != Some(b"GET") {
            return;
        }
        let Some(path) = h.first(b":path") else {
            return;
        };
        let Some(q) = path.iter().position(|&b| b == b'?') else {
            return;
        };
        let param = path[q + 1..]
            .split(|&b| b == b'&')
            .find_map(|kv| kv.strip_prefix(b"dns="));
        if let Some(msg) = param.and_then(base64url) {
            let mut m = DnsMessage::default();
            if m.parse(&msg).is_ok() {
                h.dns = Some(Box::new(m));
            }
        }
    }

    fn find(&self, stream: u32) -> Option<&H2Tx> {
        self.txs.iter().rev().find(|t| t.stream == stream)
    }

    /// The transaction of `stream` (created when new), marked updated in the direction.
    fn tx_for(
        &mut self,
        stream: u32,
        to_server: bool,
        cfg: &AppConfig,
        stats: &mut AppStats,
    ) -> &mut H2Tx {
        let d = usize::from(!to_server);
        match self
            .txs
            .iter()
            .rposition(|t| t.stream == stream && stream != 0)
        {
            Some(i) => {
                let tx = &mut self.txs[i];
                tx.det.updated[d] = true;
                tx
            }
            None => self.new_tx(stream, to_server, cfg, stats),
        }
    }

    fn new_tx(
        &mut self,
        stream: u32,
        to_server: bool,
        cfg: &AppConfig,
        stats: &mut AppStats,
    ) -> &mut H2Tx {
        let mut events = 0;
        if self.txs.len() >= cfg.max_txs {
            self.txs.pop_front();
            stats.tx_limit_hits += 1;
            events = event::TOO_MANY_STREAMS;
        }
        stats.count_tx(AppProto::Http2);
        let mut det = TxDetect::default();
        det.updated[usize::from(!to_server)] = true;
        self.txs.push_back(H2Tx {
            id: self.next_id,
            stream,
            events,
            det,
            ..H2Tx::default()
        });
        self.next_id += 1;
        self.txs.back_mut().expect("just pushed")
    }
}

/// Whether `:authority` and `host` name the same host (user info, port and case aside).
fn same_host(authority: &[u8], host: &[u8]) -> bool {
    let bare = |a: &[u8]| -> Vec<u8> {
        let a = match a.iter().rposition(|&b| b == b'@') {
            Some(i) => &a[i + 1..],
            None => a,
        };
        let a = a.trim_ascii();
        let end = if a.first() == Some(&b'[') {
            a.iter().position(|&b| b == b']').map_or(a.len(), |i| i + 1)
        } else {
            a.iter().position(|&b| b == b':').unwrap_or(a.len())
        };
        a[..end].to_ascii_lowercase()
    };
    bare(authority) == bare(host)
}

impl Transaction for H2Tx {
    fn proto(&self) -> AppProto {
        AppProto::Http2
    }

    fn id(&self) -> u64 {
        self.id
    }

    fn each(&self, b: Buf, to_server: bool, f: &mut dyn FnMut(&[u8]) -> bool) -> Option<bool> {
        let (req, resp) = (&self.half[0], &self.half[1]);
        let own = &self.half[usize::from(!to_server)];
        let some = |v: Option<&[u8]>, f: &mut dyn FnMut(&[u8]) -> bool| v.map(f);
        fn nonempty(v: &[u8]) -> Option<&[u8]> {
            (!v.is_empty()).then_some(v)
        }
        match b {
            Buf::HttpMethod => some(req.first(b":method"), f),
            Buf::HttpUri | Buf::HttpUriRaw => some(req.first(b":path"), f),
            Buf::HttpProtocol if !own.headers.is_empty() => Some(f(b"HTTP/2")),
            Buf::HttpRequestLine => some(nonempty(&req.derived.line), f),
            Buf::HttpResponseLine => some(nonempty(&resp.derived.line), f),
            Buf::HttpHeader => some(nonempty(&own.derived.header), f),
            Buf::HttpHeaderRaw => some(nonempty(&own.derived.raw), f),
            Buf::HttpHeaderNames if !own.headers.is_empty() => Some(f(&own.derived.names)),
            Buf::HttpHost => {
                let has = req.first(b":authority").or_else(|| req.first(b"host"));
                has.map(|_| f(&req.derived.host))
            }
            Buf::HttpHostRaw => {
                let v = req.value(b":authority").or_else(|| req.value(b"host"));
                v.map(|v| f(&v))
            }
            Buf::HttpUserAgent => req.value(b"user-agent").map(|v| f(&v)),
            Buf::HttpCookie if to_server => req.value(b"cookie").map(|v| f(&v)),
            Buf::HttpCookie => resp.value(b"set-cookie").map(|v| f(&v)),
            Buf::HttpContentType => own.value(b"content-type").map(|v| f(&v)),
            Buf::HttpContentLen => own.value(b"content-length").map(|v| f(&v)),
            Buf::HttpReferer => req.value(b"referer").map(|v| f(&v)),
            Buf::HttpAccept => req.value(b"accept").map(|v| f(&v)),
            Buf::HttpAcceptLang => req.value(b"accept-language").map(|v| f(&v)),
            Buf::HttpAcceptEnc => req.value(b"accept-encoding").map(|v| f(&v)),
            Buf::HttpConnection => own.value(b"connection").map(|v| f(&v)),
            Buf::HttpServer => resp.value(b"server").map(|v| f(&v)),
            Buf::HttpLocation => resp.value(b"location").map(|v| f(&v)),
            Buf::HttpStatCode => some(resp.first(b":status"), f),
            Buf::HttpRequestBody => some(nonempty(req.body()), f),
            Buf::HttpResponseBody => some(nonempty(resp.body()), f),
            Buf::FileData => some(nonempty(own.body()), f),
            Buf::FileName | Buf::FileMagic => {
                let mut any = None;
                for file in self.files.iter().filter(|x| x.to_server == to_server) {
                    let v: Option<&[u8]> = if b == Buf::FileName {
                        Some(&file.name)
                    } else {
                        file.magic().map(str::as_bytes)
                    };
                    if let Some(v) = v {
                        if f(v) {
                            return Some(true);
                        }
                        any = Some(false);
                    }
                }
                any
            }
            Buf::HttpRequestHeader if !req.derived.lines.is_empty() => {
                Some(req.derived.lines.iter().any(|l| f(l)))
            }
            Buf::HttpResponseHeader if !resp.derived.lines.is_empty() => {
                Some(resp.derived.lines.iter().any(|l| f(l)))
            }
            Buf::Http2HeaderName if !own.headers.is_empty() => {
                Some(own.headers.iter().any(|(n, _)| f(n)))
            }
            Buf::Http2FrameType => self.frame_field(|fr| Some(u32::from(fr.kind)), 1, f),
            Buf::Http2ErrorCode => self.frame_field(|fr| fr.error, 4, f),
            Buf::Http2Window => self.frame_field(|fr| fr.window, 4, f),
            Buf::Http2Priority => self.frame_field(|fr| fr.priority.map(u32::from), 1, f),
            Buf::DnsQuery | Buf::DnsQueriesRrname | Buf::DnsAnswersRrname => {
                let m = if matches!(b, Buf::DnsAnswersRrname) {
                    resp.dns.as_deref()
                } else {
                    req.dns.as_deref()
                }?;
                m.each(b, f)
            }
            _ => None,
        }
    }

    fn settled(&self, _b: Buf, to_server: bool) -> bool {
        self.half[usize::from(!to_server)].ended
    }

    fn events(&self) -> u32 {
        self.events
    }

    fn files(&self) -> &[File] {
        &self.files
    }

    fn complete(&self) -> bool {
        self.done()
    }

    fn worth_logging(&self) -> bool {
        true
    }

    fn write_eve(&self, out: &mut Vec<u8>) {
        let (req, resp) = (&self.half[0], &self.half[1]);
        out.extend_from_slice(b",\"http\":{");
        let mark = out.len();
        if req
            .first(b":authority")
            .or_else(|| req.first(b"host"))
            .is_some()
        {
            out.extend_from_slice(b",\"hostname\":");
            push_json_bytes(out, &req.derived.host);
        }
        let mut opt = |key: &str, v: Option<&[u8]>| {
            if let Some(v) = v {
                out.push(b',');
                push_key(out, key);
                push_json_bytes(out, v);
            }
        };
        opt("url", req.first(b":path"));
        opt("http_user_agent", req.first(b"user-agent"));
        opt("http_content_type", resp.first(b"content-type"));
        opt("http_method", req.first(b":method"));
        if !req.headers.is_empty() || !resp.headers.is_empty() {
            out.extend_from_slice(b",\"protocol\":\"HTTP/2\"");
        }
        if let Some(s) = resp
            .first(b":status")
            .and_then(|s| std::str::from_utf8(s).ok()?.parse::<u16>().ok())
        {
            let _ = write!(out, ",\"status\":{s}");
        }
        if resp.body_len > 0 {
            let _ = write!(out, ",\"length\":{}", resp.body_len);
        }
        for (key, h) in [("request_headers", req), ("response_headers", resp)] {
            if h.headers.is_empty() {
                continue;
            }
            let _ = write!(out, ",\"{key}\":[");
            for (i, (n, v)) in h.headers.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                out.extend_from_slice(b"{\"name\":");
                push_json_bytes(out, n);
                out.extend_from_slice(b",\"value\":");
                push_json_bytes(out, v);
                out.push(b'}');
            }
            out.push(b']');
        }
        let _ = write!(out, ",\"http2\":{{\"stream_id\":{}", self.stream);
        for (key, h) in [("request", req), ("response", resp)] {
            let error = h.frames.iter().find_map(|f| f.error);
            let priority = h.frames.iter().find_map(|f| f.priority);
            if error.is_none() && priority.is_none() && h.settings.is_empty() {
                continue;
            }
            let _ = write!(out, ",\"{key}\":{{");
            let m = out.len();
            if let Some(e) = error {
                out.extend_from_slice(b",\"error_code\":");
                match ERRORS.get(e as usize) {
                    Some(name) => {
                        let _ = write!(out, "\"{name}\"");
                    }
                    None => {
                        let _ = write!(out, "\"UNKNOWN-{e}\"");
                    }
                }
            }
            if let Some(p) = priority {
                let _ = write!(out, ",\"priority\":{p}");
            }
            if !h.settings.is_empty() {
                out.extend_from_slice(b",\"settings\":[");
                for (i, (id, v)) in h.settings.iter().enumerate() {
                    if i > 0 {
                        out.push(b',');
                    }
                    let _ = write!(
                        out,
                        "{{\"settings_id\":\"{}\",\"settings_value\":{v}}}",
                        setting_name(*id)
                    );
                }
                out.push(b']');
            }
            crate::common::json::strip_leading_comma(out, m);
            out.push(b'}');
        }
        out.push(b'}');
        crate::common::json::strip_leading_comma(out, mark);
        out.push(b'}');
        // A DoH exchange also carries its DNS message (the response when there is one).
        if let Some(m) = resp.dns.as_deref().or(req.dns.as_deref()) {
            m.write_eve(out);
        }
    }
}

impl H2Tx {
    /// Calls `f` on the first `width` little-endian bytes of each value `pick` finds in the
    /// stream's frames (both directions), until `f` returns true; None when no frame has one.
    fn frame_field(
        &self,
        pick: fn(&FrameInfo) -> Option<u32>,
        width: usize,
        f: &mut dyn FnMut(&[u8]) -> bool,
    ) -> Option<bool> {
        let mut values = self
            .half
            .iter()
            .flat_map(|h| h.frames.iter().filter_map(pick))
            .peekable();
        values.peek()?;
        Some(values.any(|v| f(&v.to_le_bytes()[..width])))
    }

    fn heap(&self) -> usize {
        self.half.iter().map(Half::heap).sum::<usize>()
            + self.files.iter().map(File::heap).sum::<usize>()
            + self.det.heap()
    }
}

impl Parser for H2State {
    fn feed(&mut self, to_server: bool, data: &[u8], cx: &mut ParseCtx<'_>) -> bool {
        if data.is_empty() {
            return false;
        }
        H2State::feed(self, to_server, data, cx.cfg, cx.stats);
        true
    }

    fn gap(&mut self, to_server: bool, _len: u64) {
        // Frame boundaries and the HPACK state are lost with the bytes.
        let side = &mut self.sides[usize::from(!to_server)];
        side.cur = None;
        side.hdr_len = 0;
        side.buf.clear();
        side.block = None;
        side.hpack_lost = true;
        side.preface = 0;
    }

    fn heap(&self) -> usize {
        self.sides
            .iter()
            .map(|s| s.buf.capacity() + s.block.as_ref().map_or(0, |b| b.bytes.capacity()))
            .sum::<usize>()
            // The two HPACK dynamic tables, at most MAX_TABLE each (RFC 7541 4.1 sizes).
            + 2 * MAX_TABLE
            + self.txs.iter().map(H2Tx::heap).sum::<usize>()
    }

    crate::parser_tx_slots!(txs);

    fn gc(&mut self) {
        self.txs.retain(|t| {
            let files_logged = t.det.files_logged.count_ones() as usize >= t.files.len().min(64);
            !(t.done() && t.det.finished() && files_logged)
        });
    }

    fn refined(&self) -> Option<AppProto> {
        self.doh.then_some(AppProto::Doh2)
    }
}

#[cfg(test)]
mod tests;
