//! Application layer: protocol detection by content, and the HTTP/1.x, TLS and DNS parsers
//! that turn reassembled streams (and UDP datagrams) into transactions whose buffers the
//! detection engine inspects.
//!
//! A flow's [`AppLayer`] probes the first bytes of each direction; once a protocol is
//! recognised the flow's parser consumes every new contiguous byte of the stream. Parsers keep
//! bounded state per flow and per transaction; malformed input becomes an event counted on the
//! transaction, never a panic.

pub mod dns;
pub mod http;
pub mod tls;

/// Application protocol of a flow.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum AppProto {
    /// Not decided yet.
    #[default]
    Unknown,
    /// HTTP/1.x.
    Http,
    /// TLS (and SSL).
    Tls,
    /// DNS over UDP or TCP.
    Dns,
    /// Probing gave up: none of the parsers recognised the traffic.
    Failed,
}

impl AppProto {
    /// EVE `app_proto` value.
    pub fn name(self) -> &'static str {
        match self {
            AppProto::Unknown => "unknown",
            AppProto::Http => "http",
            AppProto::Tls => "tls",
            AppProto::Dns => "dns",
            AppProto::Failed => "failed",
        }
    }

    /// Parses a rule's protocol name (`http`, `tls`...); None for protocols without a parser.
    pub fn from_rule_name(name: &str) -> Option<AppProto> {
        Some(match name {
            "http" | "http1" => AppProto::Http,
            "tls" | "ssl" => AppProto::Tls,
            "dns" => AppProto::Dns,
            "failed" => AppProto::Failed,
            "unknown" => AppProto::Unknown,
            _ => return None,
        })
    }
}

/// Sticky buffers the parsers fill, by id. The detection engine binds rule buffers to these.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[allow(missing_docs)]
pub enum Buf {
    HttpMethod,
    HttpUri,
    HttpUriRaw,
    HttpProtocol,
    HttpRequestLine,
    HttpHeader,
    HttpHeaderRaw,
    HttpHeaderNames,
    HttpHost,
    HttpHostRaw,
    HttpUserAgent,
    HttpCookie,
    HttpContentType,
    HttpContentLen,
    HttpReferer,
    HttpAccept,
    HttpAcceptLang,
    HttpAcceptEnc,
    HttpConnection,
    HttpStart,
    HttpRequestBody,
    HttpStatCode,
    HttpStatMsg,
    HttpResponseLine,
    HttpResponseBody,
    HttpServer,
    HttpLocation,
    HttpRequestHeader,
    HttpResponseHeader,
    FileData,
    TlsSni,
    TlsCertSubject,
    TlsCertIssuer,
    TlsCertSerial,
    TlsCertFingerprint,
    TlsCerts,
    TlsRandom,
    Ja3Hash,
    Ja3String,
    Ja3sHash,
    Ja3sString,
    Ja4Hash,
    DnsQuery,
    DnsQueriesRrname,
    DnsAnswersRrname,
}

/// Canonical rule buffer names and the parser buffer behind each.
const BUF_NAMES: &[(&str, Buf)] = &[
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
    ("http.start", Buf::HttpStart),
    ("http.request_body", Buf::HttpRequestBody),
    ("http.stat_code", Buf::HttpStatCode),
    ("http.stat_msg", Buf::HttpStatMsg),
    ("http.response_line", Buf::HttpResponseLine),
    ("http.response_body", Buf::HttpResponseBody),
    ("http.server", Buf::HttpServer),
    ("http.location", Buf::HttpLocation),
    ("http.request_header", Buf::HttpRequestHeader),
    ("http.response_header", Buf::HttpResponseHeader),
    ("file.data", Buf::FileData),
    ("tls.sni", Buf::TlsSni),
    ("tls.cert_subject", Buf::TlsCertSubject),
    ("tls.cert_issuer", Buf::TlsCertIssuer),
    ("tls.cert_serial", Buf::TlsCertSerial),
    ("tls.cert_fingerprint", Buf::TlsCertFingerprint),
    ("tls.certs", Buf::TlsCerts),
    ("tls.random", Buf::TlsRandom),
    ("ja3.hash", Buf::Ja3Hash),
    ("ja3.string", Buf::Ja3String),
    ("ja3s.hash", Buf::Ja3sHash),
    ("ja3s.string", Buf::Ja3sString),
    ("ja4.hash", Buf::Ja4Hash),
    ("dns.query", Buf::DnsQuery),
    ("dns.queries.rrname", Buf::DnsQueriesRrname),
    ("dns.answers.rrname", Buf::DnsAnswersRrname),
];

impl Buf {
    /// The parser buffer behind a canonical rule buffer name, if a parser fills it.
    pub fn from_name(name: &str) -> Option<Buf> {
        BUF_NAMES.iter().find(|(n, _)| *n == name).map(|(_, b)| *b)
    }

    /// The protocol whose parser fills the buffer.
    pub fn proto(self) -> AppProto {
        use Buf::*;
        match self {
            TlsSni | TlsCertSubject | TlsCertIssuer | TlsCertSerial | TlsCertFingerprint
            | TlsCerts | TlsRandom | Ja3Hash | Ja3String | Ja3sHash | Ja3sString | Ja4Hash => {
                AppProto::Tls
            }
            DnsQuery | DnsQueriesRrname | DnsAnswersRrname => AppProto::Dns,
            _ => AppProto::Http,
        }
    }

    /// Number of buffer ids (for per-buffer tables).
    pub const COUNT: usize = Buf::DnsAnswersRrname as usize + 1;
}

/// One transaction as detection sees it.
#[derive(Clone, Copy)]
pub enum TxRef<'a> {
    /// An HTTP request/response pair.
    Http(&'a http::HttpTx),
    /// A TLS session's handshake.
    Tls(&'a tls::TlsSession),
    /// A DNS message.
    Dns(&'a dns::DnsMessage),
}

impl TxRef<'_> {
    /// Calls `f` on each instance of buffer `b` as seen when inspecting in direction
    /// `to_server`, until `f` returns true. Returns whether it did; None when the transaction
    /// does not have the buffer (yet).
    pub fn each(&self, b: Buf, to_server: bool, f: &mut dyn FnMut(&[u8]) -> bool) -> Option<bool> {
        match self {
            TxRef::Http(tx) => tx.each(b, to_server, f),
            TxRef::Tls(s) => s.each(b, f),
            TxRef::Dns(m) => m.each(b, f),
        }
    }

    /// Whether buffer `b` (seen in direction `to_server`) can no longer appear: its message
    /// is complete. `absent` only holds then.
    pub fn settled(&self, b: Buf, to_server: bool) -> bool {
        match self {
            TxRef::Http(tx) => tx.settled(b, to_server),
            TxRef::Tls(_) | TxRef::Dns(_) => true,
        }
    }

    /// Parser events raised on the transaction (HTTP: [`http::event`] bits).
    pub fn events(&self) -> u32 {
        match self {
            TxRef::Http(tx) => tx.events,
            _ => 0,
        }
    }

    /// The protocol of the transaction.
    pub fn proto(&self) -> AppProto {
        match self {
            TxRef::Http(_) => AppProto::Http,
            TxRef::Tls(_) => AppProto::Tls,
            TxRef::Dns(_) => AppProto::Dns,
        }
    }
}

/// Application-layer settings.
#[derive(Clone, Debug)]
pub struct AppConfig {
    /// HTTP request body bytes kept for inspection.
    pub request_body_limit: usize,
    /// HTTP response body bytes kept for inspection (after decompression).
    pub response_body_limit: usize,
    /// Largest request/response line plus headers accepted before the message is cut.
    pub header_limit: usize,
    /// HTTP transactions kept per flow (older completed ones are freed).
    pub max_txs: usize,
    /// Header fields kept per HTTP message; further ones are counted, not kept.
    pub max_headers: usize,
    /// Heap bytes the parsers of one worker's flows may hold; past it, new stream data is not
    /// parsed (counted) until flows end or free transactions.
    pub memcap: usize,
}

impl Default for AppConfig {
    fn default() -> Self {
        AppConfig {
            request_body_limit: 100 * 1024,
            response_body_limit: 100 * 1024,
            header_limit: 64 * 1024,
            max_txs: 64,
            max_headers: 1024,
            memcap: 256 << 20,
        }
    }
}

/// What a probe of a direction's first bytes decided.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Probe {
    /// The protocol is recognised.
    Found(AppProto),
    /// Too few bytes to tell.
    NeedMore,
    /// None of the parsers accepts this data.
    NoMatch,
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

/// Recognises the protocol of a TCP stream from its first bytes in one direction.
pub fn probe_tcp(data: &[u8]) -> Probe {
    if data.is_empty() {
        return Probe::NeedMore;
    }
    // HTTP: a known method and a space, or a response status line.
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
    match tls::probe(data) {
        Probe::NoMatch => {}
        other => return other,
    }
    dns::probe_tcp(data)
}

/// Per-flow application-layer state.
#[derive(Debug, Default)]
pub struct AppLayer {
    /// The flow's protocol.
    pub proto: AppProto,
    /// Directions (to-server, to-client) whose probe found nothing.
    no_match: [bool; 2],
    /// Stream offset up to which each direction was given to the parser.
    fed: [u64; 2],
    /// The parser.
    pub state: AppState,
    /// DNS messages seen on a UDP flow (their EVE `tx_id`s).
    pub udp_txs: u64,
    /// A packet of the flow was `established`: the flow's end may inspect transactions once
    /// more.
    pub was_established: bool,
}

/// The parser state of a flow.
#[derive(Debug, Default)]
pub enum AppState {
    /// No parser.
    #[default]
    None,
    /// HTTP/1.x.
    Http(Box<http::HttpState>),
    /// TLS.
    Tls(Box<tls::TlsSession>),
    /// DNS over TCP.
    DnsTcp(Box<dns::DnsTcp>),
}

/// Parser counters of one worker.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct AppStats {
    /// Flows whose protocol was recognised, per protocol: http, tls, dns.
    pub detected: [u64; 3],
    /// Flows where probing gave up.
    pub failed: u64,
    /// HTTP transactions seen.
    pub http_txs: u64,
    /// DNS messages parsed.
    pub dns_messages: u64,
    /// Parser anomalies (malformed messages, limits hit).
    pub parse_errors: u64,
    /// HTTP header blocks cut at `max_headers` fields or `header_limit` bytes.
    pub header_limit_hits: u64,
    /// Stream data not given to a parser because the worker's app-layer memcap was reached.
    pub memcap_skips: u64,
    /// Stream bytes the parsers could not see (data that slid out before the protocol was
    /// known, or gaps).
    pub missed_bytes: u64,
}

impl AppStats {
    /// Adds another worker's counters.
    pub fn merge(&mut self, o: &AppStats) {
        for (a, b) in self.detected.iter_mut().zip(o.detected.iter()) {
            *a += b;
        }
        self.failed += o.failed;
        self.http_txs += o.http_txs;
        self.dns_messages += o.dns_messages;
        self.parse_errors += o.parse_errors;
        self.header_limit_hits += o.header_limit_hits;
        self.memcap_skips += o.memcap_skips;
        self.missed_bytes += o.missed_bytes;
    }
}

impl AppLayer {
    /// Offers new contiguous stream data of direction `dir` (0 to server): `window` is the
    /// reassembler's retained data starting at stream offset `window_off`. Probes until the
    /// protocol is known, then parses. Returns whether the parser made progress (detection
    /// should look at the transactions it marked updated). With `over_memcap` (the worker's
    /// parsers hold more than the app-layer memcap) nothing is parsed, and that is counted.
    pub fn on_stream(
        &mut self,
        dir: usize,
        window: &[u8],
        window_off: u64,
        cfg: &AppConfig,
        over_memcap: bool,
        stats: &mut AppStats,
    ) -> bool {
        if self.proto == AppProto::Failed {
            return false;
        }
        if self.proto == AppProto::Unknown {
            if window_off > 0 {
                // The stream start slid out before anything was recognised.
                self.give_up(stats);
                return false;
            }
            if self.no_match[dir] {
                return false;
            }
            let probe = match probe_tcp(window) {
                Probe::NeedMore if window.len() > 1024 => Probe::NoMatch,
                p => p,
            };
            match probe {
                Probe::NeedMore => return false,
                Probe::NoMatch => {
                    self.no_match[dir] = true;
                    if self.no_match[1 - dir] {
                        self.give_up(stats);
                    }
                    return false;
                }
                Probe::Found(p) => {
                    self.proto = p;
                    let i = match p {
                        AppProto::Http => 0,
                        AppProto::Tls => 1,
                        _ => 2,
                    };
                    stats.detected[i] += 1;
                    self.state = match p {
                        AppProto::Http => AppState::Http(Box::default()),
                        AppProto::Tls => AppState::Tls(Box::default()),
                        _ => AppState::DnsTcp(Box::default()),
                    };
                }
            }
        }
        if over_memcap {
            stats.memcap_skips += 1;
            return false;
        }
        let fed = self.fed[dir];
        let end = window_off + window.len() as u64;
        if end <= fed {
            return false;
        }
        let from = if fed < window_off {
            stats.missed_bytes += window_off - fed;
            0
        } else {
            (fed - window_off) as usize
        };
        self.fed[dir] = end;
        let data = &window[from..];
        let to_server = dir == 0;
        match &mut self.state {
            AppState::None => false,
            AppState::Http(h) => h.feed(to_server, data, cfg, stats),
            AppState::Tls(t) => t.feed(to_server, data, stats),
            AppState::DnsTcp(d) => d.feed(to_server, data, stats),
        }
    }

    /// Heap bytes the parser state holds.
    pub fn heap(&self) -> usize {
        match &self.state {
            AppState::None => 0,
            AppState::Http(h) => h.heap(),
            AppState::Tls(t) => t.heap(),
            AppState::DnsTcp(d) => d.heap(),
        }
    }

    /// Whether a transaction progressed in direction `dir` (0 to server) since detection last
    /// looked at that direction.
    pub fn has_updates(&self, dir: usize) -> bool {
        match &self.state {
            AppState::Http(h) => h.txs.iter().any(|t| t.updated[dir]),
            AppState::Tls(t) => t.updated[dir],
            AppState::DnsTcp(d) => !d.done.is_empty(),
            AppState::None => false,
        }
    }

    /// The direction's stream ended (FIN or RST seen and its data delivered): parsers finish
    /// what the close completes. Returns whether detection should look at transactions.
    pub fn on_close(&mut self, dir: usize, cfg: &AppConfig, stats: &mut AppStats) -> bool {
        match &mut self.state {
            AppState::Http(h) => h.close(dir == 0, cfg, stats),
            _ => false,
        }
    }

    fn give_up(&mut self, stats: &mut AppStats) {
        self.proto = AppProto::Failed;
        stats.failed += 1;
    }
}
