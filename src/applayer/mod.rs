//! Application layer: protocol detection by content, and the parsers (HTTP/1.x, TLS, DNS,
//! SMTP, FTP and FTP data, SSH, SMB, DCERPC, Kerberos, MQTT, IKE, HTTP/2) that turn reassembled streams (and UDP datagrams) into
//! transactions whose buffers the detection engine inspects, with the files they carry.
//!
//! A flow's [`AppLayer`] probes the first bytes of each direction; once a protocol is
//! recognised the flow's parser consumes every new contiguous byte of the stream. Parsers keep
//! bounded state per flow and per transaction; malformed input becomes an event counted on the
//! transaction, never a panic.

pub mod dcerpc;
pub mod dns;
pub mod expect;
pub mod files;
pub mod ftp;
pub mod http;
pub mod http2;
pub mod ike;
pub mod krb5;
mod line;
pub mod mime;
pub mod mqtt;
pub mod ntlmssp;
pub mod parser;
pub mod smb;
pub mod smtp;
pub mod ssh;
pub mod tls;
pub mod wire;

pub use files::{File, FileConfig, FileState};
pub use parser::{Expectation, ParseCtx, Parser, Protocol, Transaction, TxDetect, TxRef};

/// Every parser the sensor runs, in probing order. A new protocol registers here (and names
/// its [`AppProto`] variant and its [`Buf`] buffers); see ARCHITECTURE.md.
pub static PROTOCOLS: [&Protocol; 13] = [
    &http::PROTOCOL,
    &tls::PROTOCOL,
    &dns::PROTOCOL,
    &smtp::PROTOCOL,
    &ftp::PROTOCOL,
    &ssh::PROTOCOL,
    &ftp::DATA_PROTOCOL,
    &smb::PROTOCOL,
    &dcerpc::PROTOCOL,
    &krb5::PROTOCOL,
    &mqtt::PROTOCOL,
    &ike::PROTOCOL,
    &http2::PROTOCOL,
];

/// Number of registered protocols (sizes per-protocol counters and switches).
pub const PROTOCOL_COUNT: usize = PROTOCOLS.len();

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
    /// SMTP (and its STARTTLS hand-over).
    Smtp,
    /// FTP control channel.
    Ftp,
    /// An FTP data connection, linked to its control session.
    FtpData,
    /// SSH, up to where it becomes encrypted.
    Ssh,
    /// SMB 1/2/3 (with DCERPC over its named pipes).
    Smb,
    /// DCERPC over TCP.
    Dcerpc,
    /// Kerberos 5 over UDP and TCP.
    Krb5,
    /// MQTT over TCP.
    Mqtt,
    /// IKE (versions 1 and 2) over UDP.
    Ike,
    /// HTTP/2 in clear text.
    Http2,
    /// DNS over HTTP/2: an HTTP/2 flow whose streams carry DNS messages (no parser of its
    /// own; the HTTP/2 parser goes on).
    Doh2,
    /// A rule's `http`: HTTP/1 or HTTP/2 (never a flow's protocol).
    HttpAny,
    /// Probing gave up: none of the parsers recognised the traffic.
    Failed,
}

impl AppProto {
    /// The protocol's registration, for protocols with a parser.
    pub fn protocol(self) -> Option<&'static Protocol> {
        PROTOCOLS.iter().copied().find(|p| p.proto == self)
    }

    /// Position in [`PROTOCOLS`], for protocols with a parser.
    pub fn index(self) -> Option<usize> {
        PROTOCOLS.iter().position(|p| p.proto == self)
    }

    /// The protocol's bit in protocol masks (0 for protocols without a parser).
    pub fn bit(self) -> u32 {
        self.index().map_or(0, |i| 1 << i)
    }

    /// The protocols of a mask.
    pub fn of_mask(mask: u32) -> impl Iterator<Item = AppProto> {
        PROTOCOLS
            .iter()
            .enumerate()
            .filter(move |(i, _)| mask & (1 << i) != 0)
            .map(|(_, p)| p.proto)
    }

    /// Whether protocol `sig` named in a rule (`app-layer-protocol` without `exact`) is the
    /// flow's protocol `flow`, as Suricata compares them: `http` is HTTP/1 or HTTP/2, and a
    /// DNS-over-HTTP/2 flow is also `dns` and `http2`.
    pub fn equals(sig: AppProto, flow: AppProto) -> bool {
        use AppProto::*;
        sig == flow
            || matches!(
                (sig, flow),
                (HttpAny, Http | Http2 | Doh2) | (Dns | Http2, Doh2)
            )
    }

    /// Whether a rule written for protocol `rule` (its header) applies to a flow of
    /// protocol `flow`: as [`AppProto::equals`], and DCERPC rules also apply to SMB, which
    /// carries DCERPC over its pipes.
    pub fn rule_matches(rule: AppProto, flow: AppProto) -> bool {
        AppProto::equals(rule, flow) || (rule == AppProto::Dcerpc && flow == AppProto::Smb)
    }

    /// The protocols (parsers) whose transactions a rule written for `rule` inspects, as a
    /// mask of bits.
    pub fn of_rule_mask(rule: AppProto) -> u32 {
        use AppProto::*;
        match rule {
            Dcerpc => Dcerpc.bit() | Smb.bit(),
            HttpAny => Http.bit() | Http2.bit(),
            Dns => Dns.bit() | Http2.bit(),
            Doh2 => Http2.bit(),
            p => p.bit(),
        }
    }

    /// EVE `app_proto` value.
    pub fn name(self) -> &'static str {
        match self {
            AppProto::Unknown => "unknown",
            AppProto::Failed => "failed",
            AppProto::Doh2 => "doh2",
            AppProto::HttpAny => "http",
            p => p.protocol().map_or("unknown", Protocol::name),
        }
    }

    /// Parses a rule's protocol name (`http`, `tls`...); None for protocols without a parser.
    pub fn from_rule_name(name: &str) -> Option<AppProto> {
        match name {
            "failed" => Some(AppProto::Failed),
            "unknown" => Some(AppProto::Unknown),
            "http" => Some(AppProto::HttpAny),
            "doh2" => Some(AppProto::Doh2),
            _ => PROTOCOLS
                .iter()
                .find(|p| p.names.contains(&name))
                .map(|p| p.proto),
        }
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
    FileName,
    FileMagic,
    FtpDataCommand,
    /// The address of an FTP PORT command (4 bytes), for `ftpbounce`; no rule names it.
    FtpPortAddr,
    SmtpHelo,
    SmtpMailFrom,
    SmtpRcptTo,
    FtpCommand,
    FtpCommandData,
    SshProto,
    SshSoftware,
    SshHassh,
    SshHasshString,
    SshHasshServer,
    SshHasshServerString,
    SmbShare,
    SmbNamedPipe,
    /// The share of the tree an SMB create (and so its file) was opened on. Internal: no
    /// rule keyword names it (`smb.share` is the tree connect's, as in Suricata); the
    /// sensor's own analytics read it.
    SmbTreeShare,
    SmbNtlmsspUser,
    SmbNtlmsspDomain,
    /// The transaction's SMB version (one byte, 1 or 2), for `smb.version`.
    SmbVersion,
    DceStubData,
    /// The interface a DCERPC request's context names (UUID, versions, first-fragment
    /// flag), for `dce_iface`; no rule names it.
    DceIface,
    /// A DCERPC request's opnum (2 bytes LE), for `dce_opnum`; no rule names it.
    DceOpnum,
    Krb5Cname,
    Krb5Sname,
    /// The Kerberos message type (one byte), for `krb5_msg_type`; no rule names it.
    Krb5MsgType,
    /// A KRB-ERROR's code (4 bytes LE), for `krb5_err_code`; no rule names it.
    Krb5ErrCode,
    /// A reply's ticket encryption type (4 bytes LE), for `krb5.ticket_encryption`.
    Krb5TicketEtype,
    MqttClientId,
    MqttUsername,
    MqttPassword,
    MqttWillTopic,
    MqttWillMessage,
    MqttProtocolString,
    MqttPublishTopic,
    MqttPublishMessage,
    MqttSubscribeTopic,
    MqttUnsubscribeTopic,
    /// Each message's type (one byte), for `mqtt.type`.
    MqttType,
    /// Each message's DUP and RETAIN flags (one byte: 0x8, 0x1), for `mqtt.flags`.
    MqttFlags,
    /// Each message's QoS (one byte), for `mqtt.qos`.
    MqttQos,
    /// The protocol level (one byte), for `mqtt.protocol_version`.
    MqttVersion,
    /// Reason and return codes (one byte each), for `mqtt.reason_code`.
    MqttReasonCode,
    /// A CONNACK's session-present flag (one byte, 0 or 1).
    MqttSessionPresent,
    /// A CONNECT's flags byte, for `mqtt.connect.flags`.
    MqttConnectFlags,
    Http2HeaderName,
    /// Each frame's type (one byte), for `http2.frametype`.
    Http2FrameType,
    /// RST_STREAM/GOAWAY error codes (4 bytes LE), for `http2.errorcode`.
    Http2ErrorCode,
    /// WINDOW_UPDATE increments (4 bytes LE), for `http2.window`.
    Http2Window,
    /// HEADERS/PRIORITY weights (one byte), for `http2.priority`.
    Http2Priority,
    /// Initiator SPI as lower-case hex.
    IkeInitSpi,
    /// Responder SPI as lower-case hex.
    IkeRespSpi,
    /// Each vendor ID as lower-case hex.
    IkeVendor,
    IkeKePayload,
    IkeNoncePayload,
    /// Exchange type (one byte), for `ike.exchtype`.
    IkeExchType,
    /// Key-exchange data length (4 bytes LE).
    IkeKeLen,
    /// Nonce length (4 bytes LE).
    IkeNonceLen,
}

impl Buf {
    /// The parser buffer behind a canonical rule buffer name, if a parser fills it.
    pub fn from_name(name: &str) -> Option<Buf> {
        PROTOCOLS
            .iter()
            .flat_map(|p| p.buffers.iter())
            .find(|(n, _)| *n == name)
            .map(|(_, b)| *b)
    }

    /// The protocols whose parsers fill the buffer, as a mask of [`AppProto::bit`]s
    /// (`file.data` comes from every protocol that carries files).
    pub fn protos(self) -> u32 {
        static OWNERS: std::sync::OnceLock<[u32; Buf::COUNT]> = std::sync::OnceLock::new();
        OWNERS.get_or_init(|| {
            let mut t = [0u32; Buf::COUNT];
            for p in PROTOCOLS {
                for &(_, b) in p.buffers {
                    t[b as usize] |= p.proto.bit();
                }
            }
            t
        })[self as usize]
    }

    /// Number of buffer ids (for per-buffer tables).
    pub const COUNT: usize = Buf::IkeNonceLen as usize + 1;
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
    /// Parsers switched off (a mask of [`AppProto::bit`]s): never probed nor started.
    pub disabled: u32,
    /// The file model's limits and hashes.
    pub files: FileConfig,
    /// SMTP and FTP: longest command or reply line accepted; longer ones are cut (an event).
    pub line_limit: usize,
    /// MIME: deepest multipart nesting parsed; deeper parts are counted, not parsed.
    pub mime_max_depth: usize,
    /// MIME: header bytes kept per part.
    pub mime_header_limit: usize,
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
            disabled: 0,
            files: FileConfig::default(),
            line_limit: 4096,
            mime_max_depth: 16,
            mime_header_limit: 16 * 1024,
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

/// Recognises the protocol of a TCP stream from its first bytes in one direction
/// (`to_server`: sent by the client) between `ports`: the first protocol whose probe does not
/// rule the data out decides, those registered on one of the ports before the others.
pub fn probe_tcp(data: &[u8], to_server: bool, ports: [u16; 2], disabled: u32) -> Probe {
    if data.is_empty() {
        return Probe::NeedMore;
    }
    // Protocols registered on one of the flow's ports go first (as Suricata's probing
    // ports come before its content patterns), then those probed everywhere.
    let on_port = PROTOCOLS.iter().filter(|p| !p.ports.is_empty());
    let anywhere = PROTOCOLS.iter().filter(|p| p.ports.is_empty());
    on_port
        .chain(anywhere)
        .filter(|p| p.proto.bit() & disabled == 0 && p.probes_ports(ports))
        .filter_map(|p| p.probe_tcp)
        .map(|probe| probe(data, to_server))
        .find(|r| *r != Probe::NoMatch)
        .unwrap_or(Probe::NoMatch)
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
    /// The parser, once the protocol is known.
    pub parser: Option<Box<dyn Parser>>,
    /// A packet of the flow was `established`: the flow's end may inspect transactions once
    /// more.
    pub was_established: bool,
    /// The protocol the session started as, when it handed over (SMTP before STARTTLS).
    pub upgraded_from: Option<AppProto>,
    /// The session went encrypted both ways (SSH after NEWKEYS): the stream offsets of each
    /// direction where it did; past them the stream is no longer inspected.
    pub encrypted: Option<[u64; 2]>,
    /// Stream offset at which the parser started, per direction (0, or where a hand-over
    /// began).
    parser_base: [u64; 2],
    /// The flow's client and server ports, for protocols probed on their ports only.
    ports: [u16; 2],
    /// The protocol the parser found inside its own (DNS over HTTP/2).
    refined: Option<AppProto>,
    /// The protocol detection last reported ([`AppLayer::newly_detected`]).
    reported: AppProto,
}

/// Parser counters of one worker.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct AppStats {
    /// Flows whose protocol was recognised, per protocol (in [`PROTOCOLS`] order).
    pub detected: [u64; PROTOCOL_COUNT],
    /// Flows where probing gave up.
    pub failed: u64,
    /// Transactions (HTTP request/response pairs, TLS handshakes, DNS messages) parsed, per
    /// protocol.
    pub txs: [u64; PROTOCOL_COUNT],
    /// Parser anomalies (malformed messages, limits hit).
    pub parse_errors: u64,
    /// HTTP header blocks cut at `max_headers` fields or `header_limit` bytes.
    pub header_limit_hits: u64,
    /// Transactions not kept because their flow already held its limit (DNS: messages past
    /// 64 in one packet's data).
    pub tx_limit_hits: u64,
    /// Stream data not given to a parser because the worker's app-layer memcap was reached.
    pub memcap_skips: u64,
    /// Stream bytes the parsers could not see (data that slid out before the protocol was
    /// known, or gaps).
    pub missed_bytes: u64,
    /// Sessions that went encrypted (SSH): their streams are no longer inspected.
    pub encrypted: u64,
    /// Announced connections (FTP data) pushed out of a full table before their flow came.
    pub expect_evicted: u64,
    /// Files not tracked because their transaction held `max_files_per_tx`.
    pub files_over_limit: u64,
    /// Bytes a parser let go at one of its limits (DCERPC stub data past what a call keeps,
    /// SMB file data skipped when too much waited out of order).
    pub data_cut: u64,
}

impl AppStats {
    /// Adds another worker's counters.
    pub fn merge(&mut self, o: &AppStats) {
        for (a, b) in self.detected.iter_mut().zip(o.detected.iter()) {
            *a += b;
        }
        for (a, b) in self.txs.iter_mut().zip(o.txs.iter()) {
            *a += b;
        }
        self.failed += o.failed;
        self.parse_errors += o.parse_errors;
        self.header_limit_hits += o.header_limit_hits;
        self.tx_limit_hits += o.tx_limit_hits;
        self.memcap_skips += o.memcap_skips;
        self.missed_bytes += o.missed_bytes;
        self.encrypted += o.encrypted;
        self.expect_evicted += o.expect_evicted;
        self.files_over_limit += o.files_over_limit;
        self.data_cut += o.data_cut;
    }

    /// Counts a transaction of protocol `p`.
    pub fn count_tx(&mut self, p: AppProto) {
        if let Some(i) = p.index() {
            self.txs[i] += 1;
        }
    }
}

impl AppLayer {
    /// The flow's protocol as rules and EVE see it: the parser's, or the one it found inside
    /// (`doh2`).
    pub fn detected(&self) -> AppProto {
        self.refined.unwrap_or(self.proto)
    }

    /// Whether the flow's protocol became known or changed since the last call (the packet
    /// where protocol-detection-only rules are inspected).
    pub fn newly_detected(&mut self) -> bool {
        let now = self.detected();
        let changed = now != self.reported && now != AppProto::Unknown;
        self.reported = now;
        changed
    }

    /// State for a new flow between these client and server ports.
    pub fn new(ports: [u16; 2]) -> AppLayer {
        AppLayer {
            ports,
            ..AppLayer::default()
        }
    }

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
            if self.no_match[dir] {
                return false;
            }
            if window_off > 0 {
                // This direction's start is lost (a gap, or it slid out before anything was
                // recognised): it cannot be probed, but the other direction may still tell.
                stats.missed_bytes += window_off;
                self.no_match[dir] = true;
                if self.no_match[1 - dir] {
                    self.give_up(stats);
                }
                return false;
            }
            let probe = match probe_tcp(window, dir == 0, self.ports, cfg.disabled) {
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
                Probe::Found(p) => self.start(p, true, stats),
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
            if let Some(p) = self.parser.as_deref_mut() {
                p.gap(dir == 0, window_off - fed);
            }
            0
        } else {
            (fed - window_off) as usize
        };
        self.fed[dir] = end;
        let mut cx = ParseCtx { cfg, stats };
        let progressed = match self.parser.as_deref_mut() {
            Some(parser) => parser.feed(dir == 0, &window[from..], &mut cx),
            None => false,
        };
        if progressed {
            self.refined = self.parser.as_deref().and_then(|p| p.refined());
        }
        progressed | self.upgrade(cfg, stats)
    }

    /// Hands the session over when its parser asks (STARTTLS): the new protocol's parser
    /// starts with the bytes the old one received for it. The old parser's transactions end
    /// with it. Returns whether the new parser made progress.
    fn upgrade(&mut self, cfg: &AppConfig, stats: &mut AppStats) -> bool {
        let Some((proto, tails)) = self.parser.as_deref_mut().and_then(|p| p.upgrade()) else {
            return false;
        };
        let Some(p) = proto.protocol() else {
            return false;
        };
        self.upgraded_from = Some(self.proto);
        self.proto = proto;
        if let Some(i) = proto.index() {
            stats.detected[i] += 1;
        }
        let mut parser = (p.new_parser)(true);
        for d in 0..2 {
            self.parser_base[d] = self.fed[d].saturating_sub(tails[d].len() as u64);
        }
        let mut cx = ParseCtx { cfg, stats };
        let mut progressed = false;
        for (d, tail) in tails.iter().enumerate() {
            if !tail.is_empty() {
                progressed |= parser.feed(d == 0, tail, &mut cx);
            }
        }
        self.parser = Some(parser);
        progressed
    }

    /// Starts the parser of a connection a control session announced (an FTP data
    /// connection), before any probing.
    pub fn start_expected(&mut self, e: &Expectation, cfg: &AppConfig, stats: &mut AppStats) {
        if self.proto != AppProto::Unknown || e.proto.bit() & cfg.disabled != 0 {
            return;
        }
        self.start(e.proto, true, stats);
        if let Some(p) = self.parser.as_deref_mut() {
            p.expected(e);
        }
    }

    /// Moves out the connections the parser announced.
    pub fn take_expectations(&mut self, out: &mut Vec<Expectation>) {
        if let Some(p) = self.parser.as_deref_mut() {
            p.take_expectations(out);
        }
    }

    /// Notes when the session went encrypted both ways (no stream inspection is worth it
    /// from then on); counts it once.
    pub fn check_encrypted(&mut self, stats: &mut AppStats) {
        if self.encrypted.is_some() {
            return;
        }
        if let Some(at) = self.parser.as_deref().and_then(|p| p.encrypted()) {
            self.encrypted = Some([self.parser_base[0] + at[0], self.parser_base[1] + at[1]]);
            stats.encrypted += 1;
        }
    }

    /// Offers one datagram of direction `dir` (0 to server): the flow's first datagram is
    /// probed by each protocol that runs over UDP. Returns whether the parser made progress.
    pub fn on_datagram(
        &mut self,
        dir: usize,
        data: &[u8],
        cfg: &AppConfig,
        stats: &mut AppStats,
    ) -> bool {
        if self.proto == AppProto::Unknown {
            let found = PROTOCOLS.iter().find(|p| {
                p.proto.bit() & cfg.disabled == 0
                    && p.probes_ports(self.ports)
                    && p.probe_udp.is_some_and(|probe| probe(data))
            });
            match found {
                Some(p) => self.start(p.proto, false, stats),
                None => self.give_up(stats),
            }
        }
        let mut cx = ParseCtx { cfg, stats };
        match self.parser.as_deref_mut() {
            Some(parser) => parser.feed(dir == 0, data, &mut cx),
            None => false,
        }
    }

    /// The protocol is known: counts it and starts its parser.
    fn start(&mut self, proto: AppProto, tcp: bool, stats: &mut AppStats) {
        self.proto = proto;
        self.parser_base = self.fed;
        if let (Some(i), Some(p)) = (proto.index(), proto.protocol()) {
            stats.detected[i] += 1;
            self.parser = Some((p.new_parser)(tcp));
        }
    }

    /// Whether the flow's parser has finished messages inspected on the raw stream at once.
    pub fn triggers_raw(&self) -> bool {
        self.proto.protocol().is_some_and(|p| p.triggers_raw)
    }

    /// Heap bytes the parser state holds.
    pub fn heap(&self) -> usize {
        self.parser.as_deref().map_or(0, |p| p.heap())
    }

    /// Whether a transaction progressed in direction `dir` (0 to server) since detection last
    /// looked at that direction.
    pub fn has_updates(&self, dir: usize) -> bool {
        let Some(p) = self.parser.as_deref() else {
            return false;
        };
        (0..p.tx_count()).any(|slot| p.tx(slot).is_some_and(|(_, d)| d.updated[dir]))
    }

    /// The direction's stream ended (FIN or RST seen and its data delivered): parsers finish
    /// what the close completes. Returns whether detection should look at transactions.
    pub fn on_close(&mut self, dir: usize, cfg: &AppConfig, stats: &mut AppStats) -> bool {
        let mut cx = ParseCtx { cfg, stats };
        match self.parser.as_deref_mut() {
            Some(p) => p.close(dir == 0, &mut cx),
            None => false,
        }
    }

    fn give_up(&mut self, stats: &mut AppStats) {
        self.proto = AppProto::Failed;
        stats.failed += 1;
    }
}
