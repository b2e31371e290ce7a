//! HTTP/1.x over a reassembled TCP stream: request and response parsing with pipelining,
//! header folding, chunked transfer coding and gzip/deflate bodies (bounded), into
//! transactions that carry the sticky buffers rules inspect.
//!
//! Each direction is a small state machine fed with contiguous stream data in arbitrary
//! pieces. Lines and header blocks are bounded by [`AppConfig::header_limit`], bodies by the
//! body limits; data past a limit is counted, not kept.

use std::collections::VecDeque;
use std::io::Write;

use super::parser::{ParseCtx, Parser, Protocol, Transaction, TxDetect};
use super::{AppConfig, AppProto, AppStats, Buf, Probe};
use crate::common::json::push_opt;

/// Events (anomalies) seen while parsing a transaction, as bits of [`HttpTx::events`].
pub mod event {
    /// A chunk-size line carried an extension (`;name=value`).
    pub const REQUEST_CHUNK_EXTENSION: u32 = 1 << 0;
    /// A line or header block exceeded the header limit and was cut.
    pub const LINE_TOO_LONG: u32 = 1 << 1;
    /// A header line without a colon.
    pub const INVALID_HEADER: u32 = 1 << 2;
    /// The request line had no protocol (HTTP/0.9 style).
    pub const MISSING_PROTOCOL: u32 = 1 << 3;
    /// A response that does not start with a status line.
    pub const INVALID_RESPONSE: u32 = 1 << 4;
    /// Content-Length that is not a number.
    pub const INVALID_CONTENT_LENGTH: u32 = 1 << 5;
    /// A chunk size that is not hexadecimal.
    pub const INVALID_CHUNK: u32 = 1 << 6;
    /// A body that claims gzip/deflate but does not decode.
    pub const DECOMPRESSION_FAILED: u32 = 1 << 7;
    /// A response chunk-size line carried an extension.
    pub const RESPONSE_CHUNK_EXTENSION: u32 = 1 << 8;
    /// Data after a complete request that is not a new request (libhtp's "unexpected
    /// request body").
    pub const REQUEST_BODY_UNEXPECTED: u32 = 1 << 9;
    /// A request Transfer-Encoding other than chunked/identity.
    pub const INVALID_TE_REQUEST: u32 = 1 << 10;
    /// A response Transfer-Encoding other than chunked/identity.
    pub const INVALID_TE_RESPONSE: u32 = 1 << 11;
    /// An Authorization scheme other than Basic, Digest or Bearer.
    pub const AUTH_UNRECOGNIZED: u32 = 1 << 12;
    /// More header fields than `max_headers`, or a header block over `header_limit` bytes:
    /// the rest were not kept.
    pub const TOO_MANY_HEADERS: u32 = 1 << 13;

    /// The event behind Suricata's `app-layer-event:http.<name>`, if the parser raises it.
    pub fn by_name(name: &str) -> Option<u32> {
        Some(match name {
            "request_chunk_extension" => REQUEST_CHUNK_EXTENSION,
            "response_chunk_extension" => RESPONSE_CHUNK_EXTENSION,
            "request_body_unexpected" => REQUEST_BODY_UNEXPECTED,
            "invalid_transfer_encoding_value_in_request" => INVALID_TE_REQUEST,
            "invalid_transfer_encoding_value_in_response" => INVALID_TE_RESPONSE,
            "request_auth_unrecognized" => AUTH_UNRECOGNIZED,
            "invalid_content_length_field_in_request"
            | "invalid_content_length_field_in_response" => INVALID_CONTENT_LENGTH,
            "request_field_missing_colon" | "response_field_missing_colon" => INVALID_HEADER,
            "invalid_request_chunk_len" | "invalid_response_chunk_len" => INVALID_CHUNK,
            "request_line_missing_protocol" => MISSING_PROTOCOL,
            "request_too_many_headers" | "response_too_many_headers" => TOO_MANY_HEADERS,
            "response_gzip_decompression_failed" => DECOMPRESSION_FAILED,
            _ => return None,
        })
    }
}

/// Parse progress of one message.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord)]
pub enum Phase {
    /// Nothing received.
    #[default]
    None,
    /// Request/status line received, headers in progress.
    Headers,
    /// Headers complete, body in progress.
    Body,
    /// Message complete.
    Done,
}

/// Header fields of one message, after unfolding, with duplicates merged (`a, b`) as the
/// normalised table rules see. Each field is stored as `Name: value` in one arena.
#[derive(Clone, Debug, Default)]
pub struct Headers {
    /// The header block as received (lines with their line ends, and the empty line).
    pub raw: Vec<u8>,
    arena: Vec<u8>,
    /// (start, name length, end) of each field in `arena`.
    fields: Vec<(u32, u32, u32)>,
    /// Fields were left out: over `max_headers` or `header_limit`.
    pub limited: bool,
}

impl Headers {
    fn push(&mut self, name: &[u8], value: &[u8]) {
        let start = self.arena.len() as u32;
        self.arena.extend_from_slice(name);
        self.arena.extend_from_slice(b": ");
        self.arena.extend_from_slice(value);
        self.fields
            .push((start, name.len() as u32, self.arena.len() as u32));
    }

    /// Appends a folded continuation line to the last field.
    fn fold(&mut self, more: &[u8]) -> bool {
        let Some(last) = self.fields.last_mut() else {
            return false;
        };
        if last.2 as usize != self.arena.len() {
            return false;
        }
        self.arena.push(b' ');
        self.arena.extend_from_slice(more);
        last.2 = self.arena.len() as u32;
        true
    }

    /// Merges fields with the same name (case-insensitive) into the first one, values joined
    /// with `, ` in order. Sorting the field indexes by name makes it O(n log n).
    fn merge_duplicates(&mut self) {
        let n = self.fields.len();
        if n < 2 {
            return;
        }
        let cmp = |a: &[u8], b: &[u8]| {
            a.iter()
                .map(u8::to_ascii_lowercase)
                .cmp(b.iter().map(u8::to_ascii_lowercase))
        };
        let mut order: Vec<usize> = (0..n).collect();
        order.sort_by(|&a, &b| cmp(self.name_at(a), self.name_at(b)).then(a.cmp(&b)));
        // first[i]: the first field with field i's name.
        let mut first: Vec<usize> = (0..n).collect();
        let mut dup = false;
        for w in order.windows(2) {
            if cmp(self.name_at(w[0]), self.name_at(w[1])).is_eq() {
                first[w[1]] = first[w[0]];
                dup = true;
            }
        }
        if !dup {
            return;
        }
        let mut out = Headers {
            raw: std::mem::take(&mut self.raw),
            limited: self.limited,
            ..Headers::default()
        };
        // Fields of one name are adjacent in `order`, in their original order.
        let mut group_start = 0;
        let mut merged: Vec<(usize, Vec<u8>)> = Vec::new();
        while group_start < n {
            let head = order[group_start];
            let mut end = group_start + 1;
            while end < n && first[order[end]] == head {
                end += 1;
            }
            let mut value = self.value_at(head).to_vec();
            for &j in &order[group_start + 1..end] {
                value.extend_from_slice(b", ");
                value.extend_from_slice(self.value_at(j));
            }
            merged.push((head, value));
            group_start = end;
        }
        merged.sort_unstable_by_key(|(head, _)| *head);
        for (head, value) in merged {
            out.push(self.name_at(head), &value);
        }
        *self = out;
    }

    fn name_at(&self, i: usize) -> &[u8] {
        let (s, n, _) = self.fields[i];
        &self.arena[s as usize..(s + n) as usize]
    }

    fn value_at(&self, i: usize) -> &[u8] {
        let (s, n, e) = self.fields[i];
        &self.arena[(s + n + 2) as usize..e as usize]
    }

    fn field_at(&self, i: usize) -> &[u8] {
        let (s, _, e) = self.fields[i];
        &self.arena[s as usize..e as usize]
    }

    /// Number of fields.
    pub fn len(&self) -> usize {
        self.fields.len()
    }

    /// Whether there are no fields.
    pub fn is_empty(&self) -> bool {
        self.fields.is_empty()
    }

    /// The value of header `name` (case-insensitive).
    pub fn get(&self, name: &str) -> Option<&[u8]> {
        (0..self.fields.len())
            .find(|&i| self.name_at(i).eq_ignore_ascii_case(name.as_bytes()))
            .map(|i| self.value_at(i))
    }

    /// Fields as (name, value).
    pub fn iter(&self) -> impl Iterator<Item = (&[u8], &[u8])> {
        (0..self.fields.len()).map(|i| (self.name_at(i), self.value_at(i)))
    }
}

/// A body decompressor (gzip, zlib or raw deflate), shared with HTTP/2.
#[derive(Debug)]
pub(super) enum Decoder {
    Gzip(flate2::write::GzDecoder<Vec<u8>>),
    Zlib(flate2::write::ZlibDecoder<Vec<u8>>),
    Deflate(flate2::write::DeflateDecoder<Vec<u8>>),
}

impl Decoder {
    /// The decompressor a `content-encoding` value asks for (gzip, deflate), if any.
    pub(super) fn for_encoding(enc: &[u8]) -> Option<Decoder> {
        let enc = enc.to_ascii_lowercase();
        let has = |w: &[u8]| enc.windows(w.len()).any(|x| x == w);
        if has(b"gzip") {
            Some(Decoder::Gzip(flate2::write::GzDecoder::new(Vec::new())))
        } else if has(b"deflate") {
            Some(Decoder::Zlib(flate2::write::ZlibDecoder::new(Vec::new())))
        } else {
            None
        }
    }

    /// Decompresses more input; the output accumulates (see [`Decoder::output`]).
    pub(super) fn write(&mut self, data: &[u8]) -> std::io::Result<()> {
        // Flushed after each write: the decoders hold output back until the next call.
        match self {
            Decoder::Gzip(d) => d.write_all(data).and_then(|()| d.flush()),
            Decoder::Zlib(d) => d.write_all(data).and_then(|()| d.flush()),
            Decoder::Deflate(d) => d.write_all(data).and_then(|()| d.flush()),
        }
    }

    /// Everything decompressed so far.
    pub(super) fn output(&self) -> &[u8] {
        match self {
            Decoder::Gzip(d) => d.get_ref(),
            Decoder::Zlib(d) => d.get_ref(),
            Decoder::Deflate(d) => d.get_ref(),
        }
    }
}

/// Heap an inflate stream holds (zlib's state and 32 KiB window), counted per decompressor.
pub(super) const INFLATE_STATE: usize = 48 * 1024;

/// One HTTP message (request or response).
#[derive(Debug, Default)]
pub struct Message {
    /// Request or status line, without its line end.
    pub line: Vec<u8>,
    /// The three parts of the line: method/uri/protocol or protocol/code/message.
    parts: [(u32, u32); 3],
    /// Header fields.
    pub headers: Headers,
    /// `Name: value\r\n` per field except cookies, then `\r\n` (Suricata's `http.header`).
    header_norm: Vec<u8>,
    /// Line, fields and the empty line (`http.start`).
    start: Vec<u8>,
    /// `\r\n` + names joined by `\r\n` + `\r\n\r\n` (`http.header_names`).
    header_names: Vec<u8>,
    /// Body as received after dechunking, up to the body limit.
    raw_body: Vec<u8>,
    decoder: Option<Decoder>,
    /// Body bytes seen (after dechunking, before limits).
    pub body_len: u64,
    /// Body length when detection last looked at it.
    inspected_body: usize,
    /// Progress.
    pub phase: Phase,
}

impl Message {
    /// Heap bytes held (buffer capacities, and a decompressor's state), for the app-layer
    /// memcap.
    pub fn heap(&self) -> usize {
        let h = &self.headers;
        let decoder = match &self.decoder {
            // zlib's inflate state and window, plus the output buffer.
            Some(Decoder::Gzip(d)) => INFLATE_STATE + d.get_ref().capacity(),
            Some(Decoder::Zlib(d)) => INFLATE_STATE + d.get_ref().capacity(),
            Some(Decoder::Deflate(d)) => INFLATE_STATE + d.get_ref().capacity(),
            None => 0,
        };
        self.line.capacity()
            + h.raw.capacity()
            + h.arena.capacity()
            + h.fields.capacity() * 12
            + self.header_norm.capacity()
            + self.start.capacity()
            + self.header_names.capacity()
            + self.raw_body.capacity()
            + decoder
    }

    fn part(&self, i: usize) -> &[u8] {
        let (s, e) = self.parts[i];
        &self.line[s as usize..e as usize]
    }

    /// The body as rules see it: decompressed when the message said so and it decodes.
    pub fn body(&self) -> &[u8] {
        match &self.decoder {
            Some(d) => d.output(),
            None => &self.raw_body,
        }
    }

    fn line_part(&self, i: usize) -> Option<&[u8]> {
        self.has_line().then(|| self.part(i))
    }

    fn header(&self, name: &str) -> Option<&[u8]> {
        if self.headers_done() {
            self.headers.get(name)
        } else {
            None
        }
    }

    fn has_line(&self) -> bool {
        self.phase > Phase::None
    }

    fn headers_done(&self) -> bool {
        self.phase >= Phase::Body
    }

    /// Builds the derived header buffers once the header block is complete.
    fn finish_headers(&mut self, to_server: bool) {
        self.headers.merge_duplicates();
        let skip: &[u8] = if to_server { b"cookie" } else { b"set-cookie" };
        let h = &self.headers;
        self.start.extend_from_slice(&self.line);
        self.start.extend_from_slice(b"\r\n");
        self.header_names.extend_from_slice(b"\r\n");
        for i in 0..h.len() {
            let field = h.field_at(i);
            self.start.extend_from_slice(field);
            self.start.extend_from_slice(b"\r\n");
            self.header_names.extend_from_slice(h.name_at(i));
            self.header_names.extend_from_slice(b"\r\n");
            if !h.name_at(i).eq_ignore_ascii_case(skip) {
                self.header_norm.extend_from_slice(field);
                self.header_norm.extend_from_slice(b"\r\n");
            }
        }
        self.start.extend_from_slice(b"\r\n");
        self.header_names.extend_from_slice(b"\r\n");
        self.header_norm.extend_from_slice(b"\r\n");
        if let Some(enc) = self.headers.get("content-encoding") {
            self.decoder = Decoder::for_encoding(enc);
        }
    }

    /// Adds body bytes (already dechunked).
    fn add_body(&mut self, data: &[u8], limit: usize, events: &mut u32) {
        self.body_len += data.len() as u64;
        let room = limit.saturating_sub(self.raw_body.len());
        let kept = &data[..data.len().min(room)];
        self.raw_body.extend_from_slice(kept);
        if let Some(d) = &mut self.decoder {
            if d.output().len() >= limit {
                return;
            }
            if d.write(kept).is_err() {
                *events |= event::DECOMPRESSION_FAILED;
                if d.output().is_empty() {
                    // Not compressed after all (or a raw deflate stream): retry raw deflate,
                    // else inspect the body as received.
                    let mut raw = flate2::write::DeflateDecoder::new(Vec::new());
                    let ok = matches!(d, Decoder::Zlib(_))
                        && raw
                            .write_all(&self.raw_body)
                            .and_then(|()| raw.flush())
                            .is_ok()
                        && !raw.get_ref().is_empty();
                    self.decoder = ok.then_some(Decoder::Deflate(raw));
                } else {
                    // Keep what decoded; stop feeding.
                    let out = d.output().to_vec();
                    self.decoder = None;
                    self.raw_body = out;
                }
            }
        }
    }
}

/// HTTP/1 request methods recognised by the probe.
const METHODS: &[&[u8]] = &[
    b"GET",
    b"POST",
    b"HEAD",
    b"PUT",
    b"DELETE",
    b"OPTIONS",
    b"CONNECT",
    b"TRACE",
    b"PATCH",
    b"PROPFIND",
    b"PROPPATCH",
    b"MKCOL",
    b"COPY",
    b"MOVE",
    b"LOCK",
    b"UNLOCK",
    b"SEARCH",
    b"REPORT",
    b"CHECKOUT",
    b"MERGE",
    b"NOTIFY",
    b"SUBSCRIBE",
    b"UNSUBSCRIBE",
    b"M-SEARCH",
    b"PURGE",
    b"BPROPFIND",
    b"POLL",
];

/// Probe for HTTP/1: a known method and a space, or a response status line.
pub fn probe(data: &[u8]) -> Probe {
    // Stray line ends before a request or response do not hide it.
    let skip = data
        .iter()
        .take(64)
        .take_while(|&&b| b == b'\r' || b == b'\n')
        .count();
    let data = &data[skip..];
    if data.is_empty() {
        return if skip < 64 {
            Probe::NeedMore
        } else {
            Probe::NoMatch
        };
    }
    let token_end = data.iter().position(|&b| b == b' ' || b == b'\t');
    match token_end {
        Some(end) if METHODS.iter().any(|m| m.eq_ignore_ascii_case(&data[..end])) => {
            return Probe::Found(AppProto::Http)
        }
        None if data.len() < 12
            && METHODS
                .iter()
                .any(|m| m.len() >= data.len() && m[..data.len()].eq_ignore_ascii_case(data)) =>
        {
            return Probe::NeedMore
        }
        _ => {}
    }
    if data.len() >= 5 && data[..5].eq_ignore_ascii_case(b"HTTP/") {
        return Probe::Found(AppProto::Http);
    }
    if data.len() < 5 && b"HTTP/"[..data.len()].eq_ignore_ascii_case(data) {
        return Probe::NeedMore;
    }
    Probe::NoMatch
}

/// An HTTP transaction: one request and its response.
#[derive(Debug, Default)]
pub struct HttpTx {
    /// Transaction id within the flow (EVE `tx_id`).
    pub id: u64,
    /// The request.
    pub request: Message,
    /// The response.
    pub response: Message,
    /// Normalised request URI (path decoded and normalised, query as sent).
    pub uri: Vec<u8>,
    /// Normalised host name (lowercase, no port): from the URI or the Host header.
    pub host: Vec<u8>,
    /// Anomalies ([`event`] bits).
    pub events: u32,
    /// Files: the request body (an upload) and the response body, as they come.
    pub files: Vec<super::files::File>,
    /// Detection and logging state.
    pub det: TxDetect,
}

impl HttpTx {
    fn msg(&self, to_server: bool) -> &Message {
        if to_server {
            &self.request
        } else {
            &self.response
        }
    }

    /// Request method.
    pub fn method(&self) -> Option<&[u8]> {
        self.request.has_line().then(|| self.request.part(0))
    }

    /// Request URI as sent.
    pub fn uri_raw(&self) -> Option<&[u8]> {
        self.request.has_line().then(|| self.request.part(1))
    }

    /// Request protocol (`HTTP/1.1`), if the request line had one.
    pub fn protocol(&self) -> Option<&[u8]> {
        let p = self.request.part(2);
        (self.request.has_line() && !p.is_empty()).then_some(p)
    }

    /// Response status code.
    pub fn status(&self) -> Option<u16> {
        if !self.response.has_line() {
            return None;
        }
        std::str::from_utf8(self.response.part(1))
            .ok()
            .and_then(|s| s.parse().ok())
    }

    /// Whether the message that carries buffer `b` (in direction `to_server`) is complete.
    pub fn settled(&self, b: Buf, to_server: bool) -> bool {
        let msg = match b {
            Buf::HttpStatCode
            | Buf::HttpStatMsg
            | Buf::HttpResponseLine
            | Buf::HttpResponseBody
            | Buf::HttpServer
            | Buf::HttpLocation
            | Buf::HttpResponseHeader => &self.response,
            Buf::FileData
            | Buf::HttpHeader
            | Buf::HttpHeaderRaw
            | Buf::HttpHeaderNames
            | Buf::HttpStart
            | Buf::HttpContentType
            | Buf::HttpContentLen
            | Buf::HttpConnection
            | Buf::HttpCookie
            | Buf::HttpProtocol => self.msg(to_server),
            _ => &self.request,
        };
        msg.phase == Phase::Done
    }

    /// Whether both messages are complete.
    pub fn complete(&self) -> bool {
        self.request.phase == Phase::Done && self.response.phase == Phase::Done
    }

    /// Calls `f` on each instance of `b` for inspection in direction `to_server`.
    pub fn each(&self, b: Buf, to_server: bool, f: &mut dyn FnMut(&[u8]) -> bool) -> Option<bool> {
        let req = &self.request;
        let resp = &self.response;
        let dir = self.msg(to_server);
        let line = Message::line_part;
        let hdr = Message::header;
        let nonempty = |s: &[u8]| !s.is_empty();
        let one: Option<&[u8]> = match b {
            Buf::HttpMethod => line(req, 0),
            Buf::HttpUri => req.has_line().then_some(self.uri.as_slice()),
            Buf::HttpUriRaw => line(req, 1),
            Buf::HttpProtocol => {
                let m = if to_server || !resp.has_line() {
                    req
                } else {
                    resp
                };
                line(m, if std::ptr::eq(m, req) { 2 } else { 0 }).filter(|s| nonempty(s))
            }
            Buf::HttpRequestLine => req.has_line().then_some(req.line.as_slice()),
            Buf::HttpResponseLine => resp.has_line().then_some(resp.line.as_slice()),
            Buf::HttpStatCode => line(resp, 1),
            Buf::HttpStatMsg => line(resp, 2).filter(|s| nonempty(s)),
            Buf::HttpHeader => dir.headers_done().then_some(dir.header_norm.as_slice()),
            Buf::HttpHeaderRaw => dir.headers_done().then_some(dir.headers.raw.as_slice()),
            Buf::HttpHeaderNames => dir.headers_done().then_some(dir.header_names.as_slice()),
            Buf::HttpStart => dir.headers_done().then_some(dir.start.as_slice()),
            Buf::HttpHost => (!self.host.is_empty()).then_some(self.host.as_slice()),
            Buf::HttpHostRaw => hdr(req, "host"),
            Buf::HttpUserAgent => hdr(req, "user-agent"),
            Buf::HttpCookie => {
                if to_server {
                    hdr(req, "cookie")
                } else {
                    hdr(resp, "set-cookie")
                }
            }
            Buf::HttpContentType => hdr(dir, "content-type"),
            Buf::HttpContentLen => hdr(dir, "content-length"),
            Buf::HttpConnection => hdr(dir, "connection"),
            Buf::HttpReferer => hdr(req, "referer"),
            Buf::HttpAccept => hdr(req, "accept"),
            Buf::HttpAcceptLang => hdr(req, "accept-language"),
            Buf::HttpAcceptEnc => hdr(req, "accept-encoding"),
            Buf::HttpServer => hdr(resp, "server"),
            Buf::HttpLocation => hdr(resp, "location"),
            Buf::HttpRequestBody => Some(req.body()).filter(|s| nonempty(s)),
            Buf::HttpResponseBody => Some(resp.body()).filter(|s| nonempty(s)),
            Buf::FileData => Some(dir.body()).filter(|s| nonempty(s)),
            Buf::HttpRequestHeader | Buf::HttpResponseHeader => {
                let m = if b == Buf::HttpRequestHeader {
                    req
                } else {
                    resp
                };
                if !m.headers_done() || m.headers.is_empty() {
                    return None;
                }
                return Some((0..m.headers.len()).any(|i| f(m.headers.field_at(i))));
            }
            Buf::FileName | Buf::FileMagic => {
                let file = self.files.iter().find(|x| x.to_server == to_server)?;
                return match b {
                    Buf::FileName => Some(f(&file.name)),
                    _ => file.magic().map(|m| f(m.as_bytes())),
                };
            }
            _ => return None,
        };
        one.map(f)
    }
}

/// Parser mode of one direction.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
enum Mode {
    /// Expecting a request/status line.
    #[default]
    Line,
    /// In the header block.
    Headers,
    /// Body of known length: bytes left.
    Length(u64),
    /// Chunked: expecting a chunk-size line.
    ChunkSize,
    /// Chunked: chunk data left.
    ChunkData(u64),
    /// Chunked: the line end after chunk data.
    ChunkEnd,
    /// Chunked: trailer lines until the empty line.
    Trailer,
    /// Body until the connection closes.
    UntilClose,
    /// The connection left HTTP (CONNECT, Upgrade): not parsed further.
    Tunnel,
}

#[derive(Debug, Default)]
struct Direction {
    mode: Mode,
    /// Partial line carried over between pieces of data.
    line: Vec<u8>,
    /// Line bytes dropped past the header limit.
    overflow: bool,
    /// Id of the transaction this direction is filling.
    tx: Option<u64>,
}

/// HTTP parser state of one flow.
#[derive(Debug, Default)]
pub struct HttpState {
    /// Live transactions, oldest first.
    pub txs: VecDeque<HttpTx>,
    next_id: u64,
    req: Direction,
    resp: Direction,
    /// The server switched to HTTP/2 (`101` with `Upgrade: h2c`); Some once the session
    /// was handed over.
    h2c: Option<bool>,
    /// Bytes of each direction after the switch, for the HTTP/2 parser.
    tail: [Vec<u8>; 2],
}

/// Bytes after an `h2c` switch kept for the HTTP/2 parser before the hand-over.
const MAX_TAIL: usize = 64 * 1024;

impl HttpState {
    /// Heap bytes held by the parser and its transactions, for the app-layer memcap.
    pub fn heap(&self) -> usize {
        let txs: usize = self
            .txs
            .iter()
            .map(|t| {
                std::mem::size_of::<HttpTx>()
                    + t.request.heap()
                    + t.response.heap()
                    + t.uri.capacity()
                    + t.host.capacity()
                    + t.files.iter().map(super::files::File::heap).sum::<usize>()
                    + t.det.heap()
            })
            .sum();
        std::mem::size_of::<HttpState>()
            + txs
            + self.tail.iter().map(Vec::capacity).sum::<usize>()
            + self.req.line.capacity()
            + self.resp.line.capacity()
    }

    /// Feeds contiguous stream data of one direction. Returns whether any transaction
    /// progressed (see [`TxDetect::updated`]).
    pub fn feed(
        &mut self,
        to_server: bool,
        mut data: &[u8],
        cfg: &AppConfig,
        stats: &mut AppStats,
    ) -> bool {
        let mut progressed = false;
        while !data.is_empty() {
            let mode = self.dir(to_server).mode;
            match mode {
                Mode::Tunnel => {
                    if self.h2c == Some(false) {
                        let tail = &mut self.tail[usize::from(!to_server)];
                        let room = MAX_TAIL.saturating_sub(tail.len());
                        tail.extend_from_slice(&data[..data.len().min(room)]);
                        stats.data_cut += data.len().saturating_sub(room) as u64;
                    }
                    break;
                }
                Mode::Length(left) | Mode::ChunkData(left) => {
                    let take = (data.len() as u64).min(left) as usize;
                    let left = left - take as u64;
                    progressed |= self.body(to_server, &data[..take], cfg);
                    data = &data[take..];
                    let next = match (mode, left) {
                        (Mode::Length(_), 0) => {
                            progressed |= self.message_done(to_server);
                            continue;
                        }
                        (Mode::Length(_), n) => Mode::Length(n),
                        (_, 0) => Mode::ChunkEnd,
                        (_, n) => Mode::ChunkData(n),
                    };
                    self.dir_mut(to_server).mode = next;
                }
                Mode::UntilClose => {
                    progressed |= self.body(to_server, data, cfg);
                    data = &[];
                }
                _ => {
                    // Line-oriented modes.
                    let Some(nl) = memchr::memchr(b'\n', data) else {
                        let d = self.dir_mut(to_server);
                        let room = cfg.header_limit.saturating_sub(d.line.len());
                        if data.len() > room {
                            d.overflow = true;
                        }
                        d.line.extend_from_slice(&data[..data.len().min(room)]);
                        break;
                    };
                    let mut line = std::mem::take(&mut self.dir_mut(to_server).line);
                    let room = cfg.header_limit.saturating_sub(line.len());
                    line.extend_from_slice(&data[..(nl + 1).min(room)]);
                    let overflow =
                        std::mem::take(&mut self.dir_mut(to_server).overflow) || nl + 1 > room;
                    data = &data[nl + 1..];
                    progressed |= self.line(to_server, &line, overflow, cfg, stats);
                    line.clear();
                    let d = self.dir_mut(to_server);
                    if d.line.capacity() == 0 {
                        d.line = line;
                    }
                }
            }
        }
        progressed
    }

    fn dir(&self, to_server: bool) -> &Direction {
        if to_server {
            &self.req
        } else {
            &self.resp
        }
    }

    fn dir_mut(&mut self, to_server: bool) -> &mut Direction {
        if to_server {
            &mut self.req
        } else {
            &mut self.resp
        }
    }

    fn tx_mut(&mut self, id: Option<u64>) -> Option<&mut HttpTx> {
        find(&mut self.txs, id)
    }

    fn new_tx(&mut self, cfg: &AppConfig, stats: &mut AppStats) -> u64 {
        // Bounded: the oldest transaction goes first when too many are open.
        while self.txs.len() >= cfg.max_txs {
            if let Some(old) = self.txs.pop_front() {
                if self.resp.tx == Some(old.id) {
                    self.resp.tx = None;
                }
                if self.req.tx == Some(old.id) {
                    self.req.tx = None;
                }
            }
            stats.parse_errors += 1;
        }
        let id = self.next_id;
        self.next_id += 1;
        stats.count_tx(AppProto::Http);
        self.txs.push_back(HttpTx {
            id,
            ..HttpTx::default()
        });
        id
    }

    /// Handles one complete line (with its line end) in a line-oriented mode.
    fn line(
        &mut self,
        to_server: bool,
        raw: &[u8],
        overflow: bool,
        cfg: &AppConfig,
        stats: &mut AppStats,
    ) -> bool {
        let text = trim_eol(raw);
        let mode = self.dir(to_server).mode;
        match mode {
            Mode::Line => {
                if text.iter().all(|b| b.is_ascii_whitespace()) {
                    // Blank lines between messages; after a complete request they are data
                    // the request did not announce.
                    if to_server {
                        if let Some(last) = self.txs.back_mut() {
                            if last.request.phase == Phase::Done {
                                last.events |= event::REQUEST_BODY_UNEXPECTED;
                                last.det.updated[0] = true;
                                return true;
                            }
                        }
                    }
                    return false;
                }
                if to_server {
                    self.request_line(text, overflow, cfg, stats)
                } else {
                    self.status_line(text, overflow, cfg, stats)
                }
            }
            Mode::Headers => {
                let id = self.dir(to_server).tx;
                let Some(tx) = self.tx_mut(id) else {
                    self.dir_mut(to_server).mode = Mode::Line;
                    return false;
                };
                if overflow {
                    tx.events |= event::LINE_TOO_LONG;
                    stats.parse_errors += 1;
                }
                let msg = if to_server {
                    &mut tx.request
                } else {
                    &mut tx.response
                };
                if msg.headers.raw.len() + raw.len() <= cfg.header_limit {
                    msg.headers.raw.extend_from_slice(raw);
                }
                if text.is_empty() {
                    return self.headers_done(to_server, stats);
                }
                // Bounded: at most `max_headers` fields in at most `header_limit` bytes.
                if msg.headers.len() >= cfg.max_headers
                    || msg.headers.arena.len() + text.len() > cfg.header_limit
                {
                    if !msg.headers.limited {
                        msg.headers.limited = true;
                        tx.events |= event::TOO_MANY_HEADERS;
                        stats.parse_errors += 1;
                        stats.header_limit_hits += 1;
                    }
                    return false;
                }
                if matches!(text[0], b' ' | b'\t') {
                    if !msg.headers.fold(trim(text)) {
                        tx.events |= event::INVALID_HEADER;
                    }
                    return false;
                }
                match memchr::memchr(b':', text) {
                    Some(c) => msg.headers.push(trim(&text[..c]), trim(&text[c + 1..])),
                    None => {
                        tx.events |= event::INVALID_HEADER;
                        stats.parse_errors += 1;
                    }
                }
                false
            }
            Mode::ChunkSize => {
                let (size, ext) = parse_chunk_size(text);
                let id = self.dir(to_server).tx;
                let (next, ev) = match size {
                    Some(0) => (Mode::Trailer, 0),
                    Some(n) => (Mode::ChunkData(n), 0),
                    None => {
                        stats.parse_errors += 1;
                        // Resynchronising inside a broken chunked body is guesswork: the
                        // rest of the connection is body.
                        (Mode::UntilClose, event::INVALID_CHUNK)
                    }
                };
                let ev = ev | if ext { chunk_ext_event(to_server) } else { 0 };
                if let Some(tx) = self.tx_mut(id) {
                    tx.events |= ev;
                }
                self.dir_mut(to_server).mode = next;
                false
            }
            Mode::ChunkEnd => {
                self.dir_mut(to_server).mode = Mode::ChunkSize;
                if !text.is_empty() {
                    // Missing line end after the chunk: treat this line as the next size.
                    return self.line(to_server, raw, overflow, cfg, stats);
                }
                false
            }
            Mode::Trailer => {
                if text.is_empty() {
                    return self.message_done(to_server);
                }
                false
            }
            _ => false,
        }
    }

    fn request_line(
        &mut self,
        text: &[u8],
        overflow: bool,
        cfg: &AppConfig,
        stats: &mut AppStats,
    ) -> bool {
        let id = self.new_tx(cfg, stats);
        self.req.tx = Some(id);
        let tx = self.txs.back_mut().expect("just pushed");
        if overflow {
            tx.events |= event::LINE_TOO_LONG;
        }
        let m = &mut tx.request;
        m.line = text.to_vec();
        // method SP uri [SP protocol]; the URI may itself contain spaces.
        let is_sp = |b: &u8| *b == b' ' || *b == b'\t';
        let mend = text.iter().position(is_sp).unwrap_or(text.len());
        let ustart = text[mend..]
            .iter()
            .position(|b| !is_sp(b))
            .map_or(text.len(), |p| mend + p);
        let (uend, pstart) = match text.iter().rposition(is_sp) {
            Some(sp) if sp >= ustart && text[sp + 1..].starts_with(b"HTTP/") => {
                let uend = text[..sp]
                    .iter()
                    .rposition(|b| !is_sp(b))
                    .map_or(ustart, |p| p + 1)
                    .max(ustart);
                (uend, sp + 1)
            }
            _ => (text.len(), text.len()),
        };
        m.parts = [
            (0, mend as u32),
            (ustart as u32, uend as u32),
            (pstart as u32, text.len() as u32),
        ];
        let (uri, host) = normalize_uri(m.part(1));
        tx.uri = uri;
        tx.host = host.unwrap_or_default();
        tx.det.updated[0] = true;
        if pstart == text.len() {
            // No protocol: HTTP/0.9 has no headers, but a request that merely lacks the
            // protocol still sends them; header lines that follow are parsed as such.
            tx.events |= event::MISSING_PROTOCOL;
        }
        tx.request.phase = Phase::Headers;
        self.req.mode = Mode::Headers;
        true
    }

    fn status_line(
        &mut self,
        text: &[u8],
        overflow: bool,
        cfg: &AppConfig,
        stats: &mut AppStats,
    ) -> bool {
        // The oldest transaction still waiting for its response, else a new one (a response
        // without a request we saw).
        let id = match self
            .txs
            .iter()
            .find(|t| t.response.phase == Phase::None && t.request.has_line())
        {
            Some(t) => t.id,
            None => self.new_tx(cfg, stats),
        };
        self.resp.tx = Some(id);
        let tx = find(&mut self.txs, Some(id)).expect("exists");
        if overflow {
            tx.events |= event::LINE_TOO_LONG;
        }
        if !(text.len() >= 5 && text[..5].eq_ignore_ascii_case(b"HTTP/")) {
            tx.events |= event::INVALID_RESPONSE;
            stats.parse_errors += 1;
            // Not a status line: the rest is body of an unparseable response.
            tx.response.phase = Phase::Body;
            tx.response.line = Vec::new();
            self.resp.mode = Mode::UntilClose;
            let cap = cfg.response_body_limit;
            let mut ev = 0;
            tx.response.add_body(text, cap, &mut ev);
            tx.events |= ev;
            tx.det.updated[1] = true;
            return true;
        }
        let m = &mut tx.response;
        m.line = text.to_vec();
        let is_sp = |b: &u8| *b == b' ' || *b == b'\t';
        let pend = text.iter().position(is_sp).unwrap_or(text.len());
        let cstart = text[pend..]
            .iter()
            .position(|b| !is_sp(b))
            .map_or(text.len(), |p| pend + p);
        let cend = text[cstart..]
            .iter()
            .position(is_sp)
            .map_or(text.len(), |p| cstart + p);
        let mstart = text[cend..]
            .iter()
            .position(|b| !is_sp(b))
            .map_or(text.len(), |p| cend + p);
        m.parts = [
            (0, pend as u32),
            (cstart as u32, cend as u32),
            (mstart as u32, text.len() as u32),
        ];
        m.phase = Phase::Headers;
        self.resp.mode = Mode::Headers;
        false
    }

    fn headers_done(&mut self, to_server: bool, stats: &mut AppStats) -> bool {
        let id = self.dir(to_server).tx;
        let Some(tx) = find(&mut self.txs, id) else {
            return false;
        };
        let head = tx.request.has_line() && tx.request.part(0).eq_ignore_ascii_case(b"HEAD");
        let connect = tx.request.has_line() && tx.request.part(0).eq_ignore_ascii_case(b"CONNECT");
        let status = tx.status();
        let msg = if to_server {
            &mut tx.request
        } else {
            &mut tx.response
        };
        msg.finish_headers(to_server);
        msg.phase = Phase::Body;
        if to_server && tx.host.is_empty() {
            if let Some(h) = tx.request.headers.get("host") {
                tx.host = normalize_host(h);
            }
        }
        let msg = if to_server { &tx.request } else { &tx.response };
        let te = msg.headers.get("transfer-encoding");
        let chunked = te.is_some_and(|v| contains_ci(v, b"chunked"));
        if te.is_some_and(|v| !chunked && !trim(v).eq_ignore_ascii_case(b"identity")) {
            tx.events |= if to_server {
                event::INVALID_TE_REQUEST
            } else {
                event::INVALID_TE_RESPONSE
            };
        }
        if to_server {
            if let Some(auth) = msg.headers.get("authorization") {
                let scheme = trim(auth).split(|&b| b == b' ').next().unwrap_or(b"");
                if ![&b"basic"[..], b"digest", b"bearer"]
                    .iter()
                    .any(|s| scheme.eq_ignore_ascii_case(s))
                {
                    tx.events |= event::AUTH_UNRECOGNIZED;
                }
            }
        }
        let length = msg.headers.get("content-length").map(parse_len);
        tx.det.updated[usize::from(!to_server)] = true;
        if !to_server {
            match status {
                // Interim response: the real one follows for the same request.
                Some(s) if (100..200).contains(&s) && s != 101 => {
                    tx.response = Message::default();
                    self.resp.mode = Mode::Line;
                    return true;
                }
                Some(101) => {
                    let h2c = msg
                        .headers
                        .get("upgrade")
                        .is_some_and(|u| trim(u).eq_ignore_ascii_case(b"h2c"));
                    if h2c && self.h2c.is_none() {
                        self.h2c = Some(false);
                    }
                    self.resp.mode = Mode::Tunnel;
                    self.req.mode = Mode::Tunnel;
                    tx.response.phase = Phase::Done;
                    return true;
                }
                Some(s) if connect && (200..300).contains(&s) => {
                    self.resp.mode = Mode::Tunnel;
                    self.req.mode = Mode::Tunnel;
                    tx.response.phase = Phase::Done;
                    return true;
                }
                Some(204) | Some(304) => {
                    self.message_done(false);
                    return true;
                }
                _ if head => {
                    self.message_done(false);
                    return true;
                }
                _ => {}
            }
        }
        let next = if chunked {
            Mode::ChunkSize
        } else {
            match length {
                Some(Some(0)) => {
                    self.message_done(to_server);
                    return true;
                }
                Some(Some(n)) => Mode::Length(n),
                Some(None) => {
                    tx.events |= event::INVALID_CONTENT_LENGTH;
                    stats.parse_errors += 1;
                    if to_server {
                        self.message_done(true);
                        return true;
                    }
                    Mode::UntilClose
                }
                None if to_server => {
                    self.message_done(true);
                    return true;
                }
                None => Mode::UntilClose,
            }
        };
        self.dir_mut(to_server).mode = next;
        true
    }

    fn body(&mut self, to_server: bool, data: &[u8], cfg: &AppConfig) -> bool {
        let id = self.dir(to_server).tx;
        let Some(tx) = self.tx_mut(id) else {
            return false;
        };
        let limit = if to_server {
            cfg.request_body_limit
        } else {
            cfg.response_body_limit
        };
        let msg = if to_server {
            &mut tx.request
        } else {
            &mut tx.response
        };
        let mut ev = 0;
        let decoded_before = msg.decoder.as_ref().map(|d| d.output().len());
        msg.add_body(data, limit, &mut ev);
        tx.events |= ev;
        // The body is also a file: as sent, or as decompressed while the decompressor runs
        // (past its limit the file is cut).
        let msg = if to_server { &tx.request } else { &tx.response };
        let decoded = match (decoded_before, &msg.decoder) {
            (Some(before), Some(d)) => Some(&d.output()[before.min(d.output().len())..]),
            (Some(_), None) => None,
            (None, _) => Some(data),
        };
        // `file.data` inspects the body itself: the file keeps only what its type needs.
        let fcfg = super::files::FileConfig {
            inspect_limit: super::files::MAGIC_BYTES,
            ..cfg.files
        };
        let tx_id = tx.id;
        let slot = match tx.files.iter().position(|f| f.to_server == to_server) {
            Some(i) => i,
            None => {
                let name = file_name(tx, to_server);
                tx.files
                    .push(super::files::File::new(&name, to_server, tx_id, &fcfg));
                tx.files.len() - 1
            }
        };
        let files = &mut tx.files;
        match decoded {
            Some(d) if !d.is_empty() || decoded_before.is_none() => files[slot].append(d, &fcfg),
            Some(_) => {}
            None => files[slot].truncate(),
        }
        if decoded_before.is_some() && msg.body().len() >= limit {
            files[slot].truncate();
        }
        // Re-inspect the body as it grows, in steps, so a large body is not rescanned for
        // every segment.
        let msg = if to_server {
            &mut tx.request
        } else {
            &mut tx.response
        };
        let len = msg.body().len();
        if len >= msg.inspected_body + BODY_INSPECT_STEP
            || (msg.inspected_body == 0 && len > 0 && len < BODY_INSPECT_STEP)
        {
            msg.inspected_body = len;
            tx.det.updated[usize::from(!to_server)] = true;
            return true;
        }
        false
    }

    fn message_done(&mut self, to_server: bool) -> bool {
        let id = self.dir(to_server).tx;
        self.dir_mut(to_server).mode = Mode::Line;
        let Some(tx) = self.tx_mut(id) else {
            return false;
        };
        let msg = if to_server {
            &mut tx.request
        } else {
            &mut tx.response
        };
        msg.phase = Phase::Done;
        msg.inspected_body = msg.body().len();
        tx.det.updated[usize::from(!to_server)] = true;
        if let Some(f) = tx.files.iter_mut().find(|f| f.to_server == to_server) {
            f.close();
        }
        true
    }

    /// The direction's stream ended (FIN/RST): a header block or body cut by the close is
    /// complete as far as it got. Returns whether a transaction progressed.
    pub fn close(&mut self, to_server: bool, cfg: &AppConfig, stats: &mut AppStats) -> bool {
        let mut progressed = false;
        let pending = std::mem::take(&mut self.dir_mut(to_server).line);
        if !pending.is_empty() {
            let mut line = pending;
            line.push(b'\n');
            progressed |= self.line(to_server, &line, false, cfg, stats);
        }
        if matches!(
            self.dir(to_server).mode,
            Mode::Length(_) | Mode::ChunkSize | Mode::ChunkData(_) | Mode::ChunkEnd
        ) {
            // The body was cut by the close: its file is incomplete.
            let id = self.dir(to_server).tx;
            if let Some(tx) = self.tx_mut(id) {
                if let Some(f) = tx.files.iter_mut().find(|f| f.to_server == to_server) {
                    f.truncate();
                }
            }
        }
        match self.dir(to_server).mode {
            Mode::Headers => progressed |= self.headers_done(to_server, stats),
            Mode::Line | Mode::Tunnel => {}
            _ => progressed |= self.message_done(to_server),
        }
        // Whatever the headers said about a body, the stream is over.
        if !matches!(self.dir(to_server).mode, Mode::Line | Mode::Tunnel) {
            progressed |= self.message_done(to_server);
        }
        self.dir_mut(to_server).mode = Mode::Tunnel;
        progressed
    }

    /// Frees transactions that are complete and were inspected, keeping the newest.
    pub fn gc(&mut self) {
        while self.txs.len() > 1 {
            let front = &self.txs[0];
            if front.complete() && front.det.finished() {
                self.txs.pop_front();
            } else {
                break;
            }
        }
    }
}

/// The name of a body's file: the `Content-Disposition` filename, else the request URI's
/// path.
fn file_name(tx: &HttpTx, to_server: bool) -> Vec<u8> {
    let msg = if to_server { &tx.request } else { &tx.response };
    if let Some(name) = msg
        .headers
        .get("content-disposition")
        .and_then(|d| super::mime::param(d, b"filename"))
    {
        return name;
    }
    let path = if tx.uri.is_empty() {
        tx.uri_raw().unwrap_or_default()
    } else {
        &tx.uri
    };
    let end = path.iter().position(|&b| b == b'?').unwrap_or(path.len());
    path[..end].to_vec()
}

/// The rule buffers HTTP/1 and HTTP/2 both fill (so `alert http` rules inspect both), then
/// the `$extra` entries of one version, as a protocol's `buffers` list.
macro_rules! http_buffers {
    ($($extra:expr),* $(,)?) => {
        &[
            ("http.method", Buf::HttpMethod),
            ("http.uri", Buf::HttpUri),
            ("http.uri.raw", Buf::HttpUriRaw),
            ("http.protocol", Buf::HttpProtocol),
            ("http.request_line", Buf::HttpRequestLine),
            ("http.header", Buf::HttpHeader),
            ("http.header.raw", Buf::HttpHeaderRaw),
            ("http.header_names", Buf::HttpHeaderNames),
            ("http.host", Buf::HttpHost),
            ("http.host.raw", Buf::HttpHostRaw),
            ("http.user_agent", Buf::HttpUserAgent),
            ("http.cookie", Buf::HttpCookie),
            ("http.content_type", Buf::HttpContentType),
            ("http.content_len", Buf::HttpContentLen),
            ("http.referer", Buf::HttpReferer),
            ("http.accept", Buf::HttpAccept),
            ("http.accept_lang", Buf::HttpAcceptLang),
            ("http.accept_enc", Buf::HttpAcceptEnc),
            ("http.connection", Buf::HttpConnection),
            ("http.request_body", Buf::HttpRequestBody),
            ("http.stat_code", Buf::HttpStatCode),
            ("http.response_line", Buf::HttpResponseLine),
            ("http.response_body", Buf::HttpResponseBody),
            ("http.server", Buf::HttpServer),
            ("http.location", Buf::HttpLocation),
            ("http.request_header", Buf::HttpRequestHeader),
            ("http.response_header", Buf::HttpResponseHeader),
            ("file.data", Buf::FileData),
            ("file.name", Buf::FileName),
            ("file.magic", Buf::FileMagic),
            $($extra),*
        ]
    };
}
pub(super) use http_buffers;

/// HTTP/1's registration.
pub static PROTOCOL: Protocol = Protocol {
    proto: AppProto::Http,
    names: &["http", "http1"],
    event_type: "http",
    switch: None,
    parser_error_event: "http.parser_error",
    buffers: http_buffers![
        ("http.start", Buf::HttpStart),
        ("http.stat_msg", Buf::HttpStatMsg),
    ],
    ports: &[],
    probe_tcp: Some(|d, _| probe(d)),
    probe_udp: None,
    new_parser: |_| Box::<HttpState>::default(),
    event_by_name: event::by_name,
    triggers_raw: true,
};

impl Transaction for HttpTx {
    fn proto(&self) -> AppProto {
        AppProto::Http
    }

    fn id(&self) -> u64 {
        self.id
    }

    fn each(&self, b: Buf, to_server: bool, f: &mut dyn FnMut(&[u8]) -> bool) -> Option<bool> {
        HttpTx::each(self, b, to_server, f)
    }

    fn settled(&self, b: Buf, to_server: bool) -> bool {
        HttpTx::settled(self, b, to_server)
    }

    fn events(&self) -> u32 {
        self.events
    }

    fn complete(&self) -> bool {
        HttpTx::complete(self)
    }

    fn files(&self) -> &[super::files::File] {
        &self.files
    }

    fn worth_logging(&self) -> bool {
        self.request.phase > Phase::None
    }

    fn write_eve(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(b",\"http\":{");
        let mark = out.len();
        let host = (!self.host.is_empty()).then_some(self.host.as_slice());
        push_opt(out, "hostname", host);
        push_opt(out, "url", self.uri_raw());
        push_opt(
            out,
            "http_user_agent",
            self.request.headers.get("user-agent"),
        );
        let ctype = self.response.headers.get("content-type");
        push_opt(out, "http_content_type", ctype);
        push_opt(out, "http_refer", self.request.headers.get("referer"));
        push_opt(out, "redirect", self.response.headers.get("location"));
        push_opt(out, "http_method", self.method());
        push_opt(out, "protocol", self.protocol());
        if let Some(st) = self.status() {
            let _ = write!(out, ",\"status\":{st}");
        }
        let _ = write!(out, ",\"length\":{}", self.response.body_len);
        // Drop the leading comma of the first field.
        crate::common::json::strip_leading_comma(out, mark);
        out.push(b'}');
    }
}

impl Parser for HttpState {
    fn feed(&mut self, to_server: bool, data: &[u8], cx: &mut ParseCtx<'_>) -> bool {
        HttpState::feed(self, to_server, data, cx.cfg, cx.stats)
    }

    fn gap(&mut self, to_server: bool, len: u64) {
        // The body being received misses bytes: its file does.
        let id = self.dir(to_server).tx;
        if let Some(tx) = self.tx_mut(id) {
            if let Some(f) = tx.files.iter_mut().find(|f| f.to_server == to_server) {
                f.gap(len);
            }
        }
    }

    fn close(&mut self, to_server: bool, cx: &mut ParseCtx<'_>) -> bool {
        HttpState::close(self, to_server, cx.cfg, cx.stats)
    }

    fn heap(&self) -> usize {
        HttpState::heap(self)
    }

    crate::parser_tx_slots!(txs);

    fn gc(&mut self) {
        HttpState::gc(self)
    }

    /// `101 Switching Protocols` to `h2c`: the session goes on as HTTP/2, once the HTTP/1
    /// transactions were inspected and logged (what follows the switch waits in `tail`).
    fn upgrade(&mut self) -> Option<(AppProto, [Vec<u8>; 2])> {
        if self.h2c != Some(false) || !self.txs.iter().all(|t| t.det.finished()) {
            return None;
        }
        self.h2c = Some(true);
        Some((AppProto::Http2, std::mem::take(&mut self.tail)))
    }
}

fn find(txs: &mut VecDeque<HttpTx>, id: Option<u64>) -> Option<&mut HttpTx> {
    let id = id?;
    txs.iter_mut().find(|t| t.id == id)
}

/// Body growth that triggers another inspection of a body still in progress.
const BODY_INSPECT_STEP: usize = 8 * 1024;

fn chunk_ext_event(to_server: bool) -> u32 {
    if to_server {
        event::REQUEST_CHUNK_EXTENSION
    } else {
        event::RESPONSE_CHUNK_EXTENSION
    }
}

fn trim_eol(line: &[u8]) -> &[u8] {
    let mut l = line;
    if let Some(x) = l.strip_suffix(b"\n") {
        l = x;
    }
    if let Some(x) = l.strip_suffix(b"\r") {
        l = x;
    }
    l
}

fn trim(s: &[u8]) -> &[u8] {
    let start = s.iter().position(|b| !matches!(b, b' ' | b'\t'));
    let Some(start) = start else {
        return &[];
    };
    let end = s
        .iter()
        .rposition(|b| !matches!(b, b' ' | b'\t'))
        .unwrap_or(start);
    &s[start..=end]
}

fn contains_ci(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len())
        .any(|w| w.eq_ignore_ascii_case(needle))
}

/// Content-Length: Some(n), or None when it is not a number.
fn parse_len(v: &[u8]) -> Option<u64> {
    let v = trim(v);
    if v.is_empty() || !v.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(v).ok()?.parse().ok()
}

/// A chunk-size line: the size, and whether it carried an extension.
fn parse_chunk_size(line: &[u8]) -> (Option<u64>, bool) {
    let line = trim(line);
    let (hex, ext) = match memchr::memchr(b';', line) {
        Some(i) => (trim(&line[..i]), true),
        None => (line, false),
    };
    if hex.is_empty() || hex.len() > 15 || !hex.iter().all(u8::is_ascii_hexdigit) {
        return (None, ext);
    }
    let s = std::str::from_utf8(hex).unwrap_or("");
    (u64::from_str_radix(s, 16).ok(), ext)
}

fn normalize_host(h: &[u8]) -> Vec<u8> {
    let h = trim(h);
    let h = match h.iter().rposition(|&b| b == b'@') {
        Some(i) => &h[i + 1..],
        None => h,
    };
    let host = if h.first() == Some(&b'[') {
        match memchr::memchr(b']', h) {
            Some(i) => &h[..=i],
            None => h,
        }
    } else {
        match memchr::memchr(b':', h) {
            Some(i) => &h[..i],
            None => h,
        }
    };
    let mut host = host.to_ascii_lowercase();
    if host.last() == Some(&b'.') {
        host.pop();
    }
    host
}

fn unhex(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// Percent-decodes `s` (invalid escapes stay as they are).
pub fn percent_decode(s: &[u8], out: &mut Vec<u8>) {
    let mut i = 0;
    while i < s.len() {
        if s[i] == b'%' && i + 2 < s.len() {
            if let (Some(h), Some(l)) = (unhex(s[i + 1]), unhex(s[i + 2])) {
                out.push(h << 4 | l);
                i += 3;
                continue;
            }
        }
        out.push(s[i]);
        i += 1;
    }
}

/// The normalised URI of a request target, and the host when the target is absolute:
/// the path is percent-decoded, `.`/`..` segments resolved and repeated `/` compressed; the
/// query stays as sent.
pub fn normalize_uri(raw: &[u8]) -> (Vec<u8>, Option<Vec<u8>>) {
    let mut target = raw;
    let mut host = None;
    for scheme in [&b"http://"[..], b"https://"] {
        if target.len() >= scheme.len() && target[..scheme.len()].eq_ignore_ascii_case(scheme) {
            let rest = &target[scheme.len()..];
            let end = rest
                .iter()
                .position(|&b| b == b'/' || b == b'?')
                .unwrap_or(rest.len());
            host = Some(normalize_host(&rest[..end]));
            target = &rest[end..];
            break;
        }
    }
    let (path, query) = match memchr::memchr(b'?', target) {
        Some(i) => (&target[..i], Some(&target[i..])),
        None => (target, None),
    };
    let mut decoded = Vec::with_capacity(path.len());
    percent_decode(path, &mut decoded);
    let mut out = Vec::with_capacity(raw.len());
    let absolute = decoded.first() == Some(&b'/');
    let mut segs: Vec<&[u8]> = Vec::new();
    let ends_with_slash = decoded.last() == Some(&b'/') && decoded.len() > 1;
    let mut trailing_dot = false;
    for seg in decoded.split(|&b| b == b'/') {
        trailing_dot = false;
        match seg {
            b"" => {}
            b"." => trailing_dot = true,
            b".." => {
                segs.pop();
                trailing_dot = true;
            }
            s => segs.push(s),
        }
    }
    if absolute {
        out.push(b'/');
    }
    for (i, s) in segs.iter().enumerate() {
        if i > 0 {
            out.push(b'/');
        }
        out.extend_from_slice(s);
    }
    if (ends_with_slash || trailing_dot) && !segs.is_empty() {
        out.push(b'/');
    }
    if let Some(q) = query {
        out.extend_from_slice(q);
    }
    (out, host)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn feed_all(h: &mut HttpState, to_server: bool, data: &[u8], piece: usize) {
        let cfg = AppConfig::default();
        let mut st = AppStats::default();
        for chunk in data.chunks(piece.max(1)) {
            h.feed(to_server, chunk, &cfg, &mut st);
        }
    }

    fn get(tx: &HttpTx, b: Buf, to_server: bool) -> Option<Vec<u8>> {
        let mut out = None;
        tx.each(b, to_server, &mut |s| {
            out = Some(s.to_vec());
            true
        });
        out
    }

    const REQ: &[u8] = b"GET /a/./b/../c%41?x=%41 HTTP/1.1\r\nHost: Example.COM:8080\r\nUser-Agent: curl/8\r\nCookie: k=v\r\nX-Long: one\r\n two\r\n\r\n";

    #[test]
    fn leading_empty_lines_are_skipped_by_probe_and_parser() {
        // Clients may send stray line ends before a request (or after a body).
        let data = b"\r\n\r\nGET /x HTTP/1.1\r\nHost: a\r\n\r\n";
        assert_eq!(probe(data), Probe::Found(AppProto::Http));
        assert_eq!(probe(b"\r\n"), Probe::NeedMore);
        assert_eq!(probe(b"\r\nSSH-2.0"), Probe::NoMatch);
        let mut h = HttpState::default();
        feed_all(&mut h, true, data, 5);
        assert_eq!(get(&h.txs[0], Buf::HttpUri, true).unwrap(), b"/x");
    }

    #[test]
    fn request_buffers_in_any_segmentation() {
        for piece in [1, 3, 7, 1000] {
            let mut h = HttpState::default();
            feed_all(&mut h, true, REQ, piece);
            let tx = &h.txs[0];
            assert_eq!(tx.request.phase, Phase::Done, "piece {piece}");
            assert_eq!(get(tx, Buf::HttpMethod, true).unwrap(), b"GET");
            assert_eq!(get(tx, Buf::HttpUri, true).unwrap(), b"/a/cA?x=%41");
            assert_eq!(
                get(tx, Buf::HttpUriRaw, true).unwrap(),
                b"/a/./b/../c%41?x=%41"
            );
            assert_eq!(get(tx, Buf::HttpHost, true).unwrap(), b"example.com");
            assert_eq!(
                get(tx, Buf::HttpHostRaw, true).unwrap(),
                b"Example.COM:8080"
            );
            assert_eq!(get(tx, Buf::HttpUserAgent, true).unwrap(), b"curl/8");
            assert_eq!(get(tx, Buf::HttpProtocol, true).unwrap(), b"HTTP/1.1");
            let hdr = get(tx, Buf::HttpHeader, true).unwrap();
            assert_eq!(
                hdr,
                b"Host: Example.COM:8080\r\nUser-Agent: curl/8\r\nX-Long: one two\r\n\r\n"
            );
            assert_eq!(
                get(tx, Buf::HttpHeaderNames, true).unwrap(),
                b"\r\nHost\r\nUser-Agent\r\nCookie\r\nX-Long\r\n\r\n"
            );
            assert!(get(tx, Buf::HttpRequestBody, true).is_none());
            assert!(get(tx, Buf::HttpStatCode, false).is_none());
        }
    }

    #[test]
    fn pipelined_requests_and_chunked_gzip_response() {
        let mut h = HttpState::default();
        feed_all(
            &mut h,
            true,
            b"POST /p HTTP/1.1\r\nContent-Length: 5\r\n\r\nhelloGET /two HTTP/1.1\r\n\r\n",
            4,
        );
        assert_eq!(h.txs.len(), 2);
        assert_eq!(
            get(&h.txs[0], Buf::HttpRequestBody, true).unwrap(),
            b"hello"
        );
        assert_eq!(get(&h.txs[1], Buf::HttpUri, true).unwrap(), b"/two");
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(b"<html>secret body</html>").unwrap();
        let body = gz.finish().unwrap();
        let mut resp = b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nServer: nginx\r\nContent-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
        for part in body.chunks(7) {
            resp.extend_from_slice(format!("{:x};ext=1\r\n", part.len()).as_bytes());
            resp.extend_from_slice(part);
            resp.extend_from_slice(b"\r\n");
        }
        resp.extend_from_slice(b"0\r\n\r\nHTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n");
        feed_all(&mut h, false, &resp, 5);
        let t0 = &h.txs[0];
        assert_eq!(get(t0, Buf::HttpStatCode, false).unwrap(), b"200");
        assert_eq!(get(t0, Buf::HttpServer, false).unwrap(), b"nginx");
        assert_eq!(
            get(t0, Buf::HttpResponseBody, false).unwrap(),
            b"<html>secret body</html>"
        );
        assert_eq!(
            get(t0, Buf::FileData, false).unwrap(),
            b"<html>secret body</html>"
        );
        assert_eq!(get(t0, Buf::FileData, true).unwrap(), b"hello");
        assert!(t0.events & event::RESPONSE_CHUNK_EXTENSION != 0);
        assert!(t0.complete());
        assert_eq!(h.txs[1].status(), Some(404));
        assert_eq!(
            get(&h.txs[1], Buf::HttpStatMsg, false).unwrap(),
            b"Not Found"
        );
    }

    #[test]
    fn hostile_input_is_bounded() {
        let mut h = HttpState::default();
        let cfg = AppConfig {
            header_limit: 100,
            ..AppConfig::default()
        };
        let mut st = AppStats::default();
        h.feed(true, b"GET /", &cfg, &mut st);
        h.feed(true, &[b'a'; 5000], &cfg, &mut st);
        h.feed(
            true,
            b" HTTP/1.1\r\nContent-Length: x\r\n\r\n",
            &cfg,
            &mut st,
        );
        assert!(h.txs[0].events & event::LINE_TOO_LONG != 0);
        assert!(h.txs[0].request.line.len() <= 100);
        // Responses with garbage, bad chunks, many requests.
        h.feed(false, b"garbage\r\n", &cfg, &mut st);
        for _ in 0..1000 {
            h.feed(true, b"GET / HTTP/1.0\r\n\r\n", &cfg, &mut st);
        }
        assert!(h.txs.len() <= cfg.max_txs);
        let mut h = HttpState::default();
        h.feed(
            false,
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nabc",
            &cfg,
            &mut st,
        );
        assert!(h.txs[0].events & event::INVALID_CHUNK != 0);
    }

    #[test]
    fn anomalies_become_events() {
        let mut h = HttpState::default();
        feed_all(
            &mut h,
            true,
            b"POST /a HTTP/1.1\r\nContent-Length: 3\r\nAuthorization: NTLM abc\r\n\r\nabc\r\n",
            7,
        );
        let e = h.txs[0].events;
        assert!(e & event::AUTH_UNRECOGNIZED != 0);
        assert!(e & event::REQUEST_BODY_UNEXPECTED != 0);
        let mut h = HttpState::default();
        feed_all(
            &mut h,
            true,
            b"POST /b HTTP/1.1\r\nTransfer-Encoding: gzip, chunked\r\n\r\n3;x=y\r\nabc\r\n0\r\n\r\n",
            5,
        );
        let e = h.txs[0].events;
        assert!(e & event::REQUEST_CHUNK_EXTENSION != 0);
        assert_eq!(e & event::INVALID_TE_REQUEST, 0, "chunked is valid");
        assert_eq!(get(&h.txs[0], Buf::HttpRequestBody, true).unwrap(), b"abc");
        assert_eq!(
            event::by_name("request_chunk_extension"),
            Some(event::REQUEST_CHUNK_EXTENSION)
        );
        assert_eq!(event::by_name("no_such_event"), None);
    }

    #[test]
    fn uri_normalisation() {
        let n = |s: &[u8]| normalize_uri(s).0;
        assert_eq!(n(b"/"), b"/");
        assert_eq!(n(b"//a///b/"), b"/a/b/");
        assert_eq!(n(b"/a/../../etc/passwd"), b"/etc/passwd");
        assert_eq!(n(b"/%2e%2e/x"), b"/x");
        assert_eq!(n(b"/uri with space"), b"/uri with space");
        let (u, h) = normalize_uri(b"http://User@Host.Example:80/x?y");
        assert_eq!(
            (u.as_slice(), h.unwrap().as_slice()),
            (&b"/x?y"[..], &b"host.example"[..])
        );
    }

    #[test]
    fn a_flood_of_header_lines_is_bounded_and_duplicates_merge_in_order() {
        let mut req =
            b"GET / HTTP/1.1\r\nHost: a\r\nX-Dup: 1\r\nx-other: o\r\nX-DUP: 2\r\n".to_vec();
        for i in 0..100_000 {
            req.extend_from_slice(format!("X-{i}: v\r\n").as_bytes());
        }
        req.extend_from_slice(b"\r\n");
        let mut h = HttpState::default();
        let cfg = AppConfig::default();
        let mut st = AppStats::default();
        for chunk in req.chunks(1400) {
            h.feed(true, chunk, &cfg, &mut st);
        }
        let tx = &h.txs[0];
        assert_eq!(tx.request.phase, Phase::Body.max(tx.request.phase));
        assert!(tx.request.headers.len() <= cfg.max_headers);
        assert!(tx.request.headers.limited);
        assert_ne!(tx.events & event::TOO_MANY_HEADERS, 0);
        assert_eq!(st.header_limit_hits, 1);
        let all = get(tx, Buf::HttpHeader, true).unwrap();
        assert!(all.starts_with(b"Host: a\r\nX-Dup: 1, 2\r\nx-other: o\r\nX-0: v\r\n"));
        assert!(all.len() <= cfg.header_limit + 4096);
        // Without a flood nothing is cut.
        let mut h = HttpState::default();
        feed_all(&mut h, true, REQ, 7);
        assert!(!h.txs[0].request.headers.limited);
    }
}
