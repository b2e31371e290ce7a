//! Parser for one rule: header, option tokenizer and per-keyword handling.

use super::content::{parse_content_value, Content, FastPattern};
use super::header::{parse_addr, parse_ports, Vars};
use super::keywords::{
    parse_dce_iface, parse_dce_opnum, parse_filesize, parse_flags, parse_flowbits, parse_flowint,
    parse_pcre, parse_stream_size, parse_threshold, parse_xbits, Base, Base64Decode, ByteExtract,
    ByteJump, ByteMath, ByteOp, ByteTest, Cmp, CsumKind, Endian, EtypeCond, Extract, FileCondSpec,
    IsDataAt, MathOp, PacketCond, Value, MAX_VARS,
};
use super::{Action, Buffer, FlowMatch, Inspect, Rule, Target, L4};

/// App-layer protocol names accepted in the header, with the transport they run on.
const APP_PROTOS: &[(&str, L4)] = &[
    ("http", L4::Tcp),
    ("http1", L4::Tcp),
    ("http2", L4::Tcp),
    ("doh2", L4::Tcp),
    ("tls", L4::Tcp),
    ("ssl", L4::Tcp),
    ("ftp", L4::Tcp),
    ("ftp-data", L4::Tcp),
    ("smb", L4::Tcp),
    ("dcerpc", L4::Any),
    ("smtp", L4::Tcp),
    ("imap", L4::Tcp),
    ("pop3", L4::Tcp),
    ("ssh", L4::Tcp),
    ("modbus", L4::Tcp),
    ("enip", L4::Tcp),
    ("dnp3", L4::Tcp),
    ("nfs", L4::Tcp),
    ("rdp", L4::Tcp),
    ("rfb", L4::Tcp),
    ("mqtt", L4::Tcp),
    ("pgsql", L4::Tcp),
    ("telnet", L4::Tcp),
    ("websocket", L4::Tcp),
    ("ldap", L4::Tcp),
    ("irc", L4::Tcp),
    ("dns", L4::Any),
    ("krb5", L4::Any),
    ("dhcp", L4::Udp),
    ("ntp", L4::Udp),
    ("snmp", L4::Udp),
    ("sip", L4::Any),
    ("tftp", L4::Udp),
    ("ike", L4::Udp),
    ("ikev2", L4::Udp),
    ("quic", L4::Udp),
    ("bittorrent-dht", L4::Udp),
];

/// Sticky buffers (`http.uri;`) and their legacy content-modifier spellings (`http_uri`).
/// Each maps to the canonical buffer name contents are bound to.
const STICKY_BUFFERS: &[(&str, &str)] = &[
    ("http.uri", "http.uri"),
    ("http.uri.raw", "http.uri.raw"),
    ("http.method", "http.method"),
    ("http.protocol", "http.protocol"),
    ("http.request_line", "http.request_line"),
    ("http.header", "http.header"),
    ("http.header.raw", "http.header.raw"),
    ("http.header_names", "http.header_names"),
    ("http_header_names", "http.header_names"),
    ("http.host", "http.host"),
    ("http.host.raw", "http.host.raw"),
    ("http.user_agent", "http.user_agent"),
    ("http.cookie", "http.cookie"),
    ("http.content_type", "http.content_type"),
    ("http.content_len", "http.content_len"),
    ("http.referer", "http.referer"),
    ("http.accept", "http.accept"),
    ("http.accept_lang", "http.accept_lang"),
    ("http.accept_enc", "http.accept_enc"),
    ("http.connection", "http.connection"),
    ("http.start", "http.start"),
    ("http.request_body", "http.request_body"),
    ("http.client_body", "http.request_body"),
    ("http.stat_code", "http.stat_code"),
    ("http.stat_msg", "http.stat_msg"),
    ("http.response_line", "http.response_line"),
    ("http.response_body", "http.response_body"),
    ("http.server", "http.server"),
    ("http.location", "http.location"),
    ("http.request_header", "http.request_header"),
    ("http.response_header", "http.response_header"),
    ("file.data", "file.data"),
    ("file_data", "file.data"),
    ("file.name", "file.name"),
    ("file.magic", "file.magic"),
    ("ssh.hassh.string", "ssh.hassh.string"),
    ("ssh.hassh.server.string", "ssh.hassh.server.string"),
    ("tls.sni", "tls.sni"),
    ("tls_sni", "tls.sni"),
    ("tls.cert_subject", "tls.cert_subject"),
    ("tls.cert_issuer", "tls.cert_issuer"),
    ("tls.cert_serial", "tls.cert_serial"),
    ("tls.cert_fingerprint", "tls.cert_fingerprint"),
    ("tls.certs", "tls.certs"),
    ("tls.random", "tls.random"),
    ("ja3.hash", "ja3.hash"),
    ("ja3_hash", "ja3.hash"),
    ("ja3.string", "ja3.string"),
    ("ja3s.hash", "ja3s.hash"),
    ("ja3s.string", "ja3s.string"),
    ("ja4.hash", "ja4.hash"),
    ("dns.query", "dns.query"),
    ("dns_query", "dns.query"),
    ("dns.queries.rrname", "dns.queries.rrname"),
    ("dns.answers.rrname", "dns.answers.rrname"),
    ("ssh.software", "ssh.software"),
    ("ssh_software", "ssh.software"),
    ("ssh.proto", "ssh.proto"),
    ("ssh_proto", "ssh.proto"),
    ("ssh.hassh", "ssh.hassh"),
    ("ssh.hassh.server", "ssh.hassh.server"),
    ("smb.named_pipe", "smb.named_pipe"),
    ("smb.share", "smb.share"),
    ("smb.ntlmssp_user", "smb.ntlmssp_user"),
    ("smb.ntlmssp_domain", "smb.ntlmssp_domain"),
    ("dce_stub_data", "dce_stub_data"),
    ("dcerpc.stub_data", "dce_stub_data"),
    ("smtp.helo", "smtp.helo"),
    ("smtp.mail_from", "smtp.mail_from"),
    ("smtp.rcpt_to", "smtp.rcpt_to"),
    ("mqtt.connect.clientid", "mqtt.connect.clientid"),
    ("mqtt.connect.username", "mqtt.connect.username"),
    ("mqtt.connect.password", "mqtt.connect.password"),
    ("mqtt.connect.willtopic", "mqtt.connect.willtopic"),
    ("mqtt.connect.willmessage", "mqtt.connect.willmessage"),
    (
        "mqtt.connect.protocol_string",
        "mqtt.connect.protocol_string",
    ),
    ("mqtt.publish.topic", "mqtt.publish.topic"),
    ("mqtt.publish.message", "mqtt.publish.message"),
    ("mqtt.subscribe.topic", "mqtt.subscribe.topic"),
    ("mqtt.unsubscribe.topic", "mqtt.unsubscribe.topic"),
    ("http2.header_name", "http2.header_name"),
    ("ike.init_spi", "ike.init_spi"),
    ("ike.resp_spi", "ike.resp_spi"),
    ("ike.vendor", "ike.vendor"),
    ("ike.key_exchange_payload", "ike.key_exchange_payload"),
    ("ike.nonce_payload", "ike.nonce_payload"),
    ("krb5_cname", "krb5.cname"),
    ("krb5_sname", "krb5.sname"),
    ("krb5.cname", "krb5.cname"),
    ("krb5.sname", "krb5.sname"),
    ("sip.method", "sip.method"),
    ("sip.uri", "sip.uri"),
    ("ftp.command", "ftp.command"),
    ("ftp.command_data", "ftp.command_data"),
    ("quic.sni", "quic.sni"),
    ("tcp.hdr", "tcp.hdr"),
    ("udp.hdr", "udp.hdr"),
    ("ipv4.hdr", "ipv4.hdr"),
    ("ipv6.hdr", "ipv6.hdr"),
    ("icmpv4.hdr", "icmpv4.hdr"),
    ("icmpv6.hdr", "icmpv6.hdr"),
    ("ip.src", "ip.src"),
    ("ip.dst", "ip.dst"),
];

/// Legacy content modifiers that move the preceding content into a buffer.
const LEGACY_MODIFIERS: &[(&str, &str)] = &[
    ("http_uri", "http.uri"),
    ("http_raw_uri", "http.uri.raw"),
    ("http_method", "http.method"),
    ("http_header", "http.header"),
    ("http_raw_header", "http.header.raw"),
    ("http_cookie", "http.cookie"),
    ("http_raw_cookie", "http.cookie"),
    ("http_user_agent", "http.user_agent"),
    ("http_host", "http.host"),
    ("http_raw_host", "http.host.raw"),
    ("http_client_body", "http.request_body"),
    ("http_server_body", "http.response_body"),
    ("http_stat_code", "http.stat_code"),
    ("http_stat_msg", "http.stat_msg"),
    ("http_content_type", "http.content_type"),
    ("http_content_len", "http.content_len"),
    ("http_referer", "http.referer"),
    ("http_accept", "http.accept"),
    ("http_accept_lang", "http.accept_lang"),
    ("http_accept_enc", "http.accept_enc"),
    ("http_connection", "http.connection"),
    ("http_protocol", "http.protocol"),
    ("http_request_line", "http.request_line"),
    ("http_response_line", "http.response_line"),
    ("http_start", "http.start"),
];

/// Keywords of the rule language that parse but whose semantics the engine does not run yet.
/// A rule using one loads as "unsupported" (reported, not silently weakened).
const NOT_YET: &[&str] = &[
    "hostbits",
    "tos",
    "ipopts",
    "fragbits",
    "fragoffset",
    "tls.version",
    "tls.subject",
    "tls.issuerdn",
    "tls.fingerprint",
    "tls.store",
    "tls_cert_notbefore",
    "tls_cert_notafter",
    "tls_cert_expired",
    "tls_cert_valid",
    "ssl_state",
    "ssl_version",
    "engine-event",
    "tcp.mss",
    "dns.opcode",
    "dns.rrtype",
    "lua",
    "luajit",
    "replace",
    "geoip",
    "rpc",
    "requires",
    "bypass",
    "config",
    "entropy",
    "tcp.flags",
    "prefilter",
    "http2.frametype",
    "http2.errorcode",
    "http2.priority",
    "http2.window",
    "http2.size_update",
    "http2.settings",
    "http2.header_name",
    "http2.header",
    "mqtt.type",
    "mqtt.flags",
    "mqtt.qos",
    "mqtt.reason_code",
    "mqtt.connect.flags",
    "mqtt.protocol_version",
    "ike.exchtype",
    "ike.key_exchange_payload_length",
    "ike.chosen_sa_attribute",
    "ike.nonce_payload_length",
    "ike.vendor",
    "ike.key_exchange_payload",
    "ike.nonce_payload",
    "ike.spi.initiator",
    "ike.spi.responder",
    "snmp.version",
    "snmp.community",
    "snmp.pdu_type",
    "modbus",
    "dnp3_func",
    "dnp3_ind",
    "dnp3_obj",
    "dnp3_data",
    "enip_command",
    "cip_service",
    "nfs_procedure",
    "nfs.version",
    "file.data.toclient",
    "app-layer-state",
    "frame",
    "flow.age",
    "flow.pkts",
    "flow.bytes",
    "tcp.ack",
    "tcp.seq",
    "tcp.window",
];

/// Buffer transforms: recorded on the current sticky buffer.
const TRANSFORMS: &[&str] = &[
    "to_lowercase",
    "to_uppercase",
    "dotprefix",
    "strip_whitespace",
    "compress_whitespace",
    "url_decode",
    "to_md5",
    "to_sha1",
    "to_sha256",
    "xor",
    "pcrexform",
    "header_lowercase",
    "strip_pseudo_headers",
    "from_base64",
];

/// What an app-layer protocol or buffer needs before rules on it can match.
fn app_need(name: &str) -> &'static str {
    let proto = name.split(['.', '_']).next().unwrap_or(name);
    match proto {
        "http" | "http1" | "urilen" => "http parser",
        "file" | "ftpdata" => "file tracking",
        "http2" => "http2 parser",
        "tls" | "ssl" | "ja3" | "ja3s" | "ja4" => "tls parser",
        "dns" => "dns parser",
        "smb" => "smb parser",
        "dce" | "dcerpc" => "dcerpc parser",
        "smtp" | "imap" | "pop3" => "smtp parser",
        "ssh" => "ssh parser",
        "ftp" | "ftp-data" => "ftp parser",
        "krb5" => "krb5 parser",
        "mqtt" => "mqtt parser",
        "ike" | "ikev2" => "ike parser",
        "sip" => "sip parser",
        "quic" => "quic parser",
        "base64" => "base64 decoding",
        "tcp" | "udp" | "ipv4" | "ipv6" | "icmpv4" | "icmpv6" | "ip" => "header buffers",
        _ => "app-layer parser",
    }
}

/// Suricata's header action keywords.
fn parse_action(s: &str) -> Result<Action, String> {
    Ok(match s {
        "alert" => Action::Alert,
        "drop" => Action::Drop,
        "reject" | "rejectsrc" | "rejectdst" | "rejectboth" => Action::Reject,
        "pass" => Action::Pass,
        other => return Err(format!("unknown action '{other}'")),
    })
}

fn parse_proto(s: &str) -> Result<(L4, Option<String>), String> {
    let lower = s.to_ascii_lowercase();
    let l4 = match lower.as_str() {
        "ip" | "pkthdr" | "any" | "ipv4" | "ip4" | "ipv6" | "ip6" => L4::Any,
        "tcp" | "tcp-pkt" | "tcp-stream" => L4::Tcp,
        "udp" => L4::Udp,
        "icmp" => L4::IcmpAny,
        "icmpv4" => L4::Icmp4,
        "icmpv6" => L4::Icmp6,
        "sctp" => L4::Sctp,
        name => {
            let (_, l4) = APP_PROTOS
                .iter()
                .find(|(n, _)| *n == name)
                .ok_or_else(|| format!("unknown protocol '{s}'"))?;
            let app = if name == "ssl" { "tls" } else { name };
            return Ok((*l4, Some(app.to_string())));
        }
    };
    Ok((l4, None))
}

/// Splits the option body at unescaped `;` into `(keyword, value)` pairs.
pub fn split_options(body: &str) -> Result<Vec<(&str, Option<&str>)>, String> {
    let mut out = Vec::new();
    let bytes = body.as_bytes();
    let mut start = 0;
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'\\' => i += 2,
            b';' => {
                push_option(&body[start..i], &mut out)?;
                i += 1;
                start = i;
            }
            _ => i += 1,
        }
    }
    if !body[start.min(body.len())..].trim().is_empty() {
        return Err(format!(
            "option '{}' is not terminated by ';'",
            body[start..].trim()
        ));
    }
    Ok(out)
}

fn push_option<'a>(opt: &'a str, out: &mut Vec<(&'a str, Option<&'a str>)>) -> Result<(), String> {
    let opt = opt.trim();
    if opt.is_empty() {
        return Ok(());
    }
    match opt.split_once(':') {
        Some((k, v)) => out.push((k.trim(), Some(v.trim()))),
        None => out.push((opt, None)),
    }
    Ok(())
}

/// The text between a quoted option value's quotes (the trimmed value when unquoted).
fn strip_quotes(v: &str) -> &str {
    let v = v.trim();
    v.strip_prefix('"')
        .and_then(|x| x.strip_suffix('"'))
        .unwrap_or(v)
}

/// A quoted option value whose backslashes mostly belong to it (a regular expression):
/// only the rule-level escapes `\"`, `\;` and `\\` are undone.
fn unquote_verbatim(v: &str) -> String {
    let v = strip_quotes(v);
    let mut out = String::with_capacity(v.len());
    let mut chars = v.chars().peekable();
    while let Some(c) = chars.next() {
        match (c, chars.peek()) {
            ('\\', Some(&n)) if matches!(n, '"' | ';' | '\\') => {
                out.push(n);
                chars.next();
            }
            _ => out.push(c),
        }
    }
    out
}

/// Removes `\` escapes from a quoted string option (msg) and strips its quotes.
fn unquote(v: &str) -> String {
    let v = strip_quotes(v);
    let mut out = String::with_capacity(v.len());
    let mut chars = v.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            if let Some(n) = chars.next() {
                out.push(n);
            }
        } else {
            out.push(c);
        }
    }
    out
}

fn num<T: std::str::FromStr>(kw: &str, v: Option<&str>) -> Result<T, String> {
    let v = v.ok_or_else(|| format!("'{kw}' needs a value"))?;
    v.trim()
        .parse::<T>()
        .map_err(|_| format!("'{kw}' value '{v}' is not a valid number"))
}

fn parse_flow(v: &str) -> Result<FlowMatch, String> {
    let mut f = FlowMatch::default();
    for part in v.split(',') {
        let part = part.trim().to_ascii_lowercase();
        let (slot, val) = match part.as_str() {
            "to_server" | "from_client" => (&mut f.to_server, true),
            "to_client" | "from_server" => (&mut f.to_server, false),
            "established" => (&mut f.established, true),
            "not_established" => (&mut f.established, false),
            "only_stream" => (&mut f.stream, true),
            "no_stream" => (&mut f.stream, false),
            "only_frag" => (&mut f.frag, true),
            "no_frag" => (&mut f.frag, false),
            "stateless" => continue,
            other => return Err(format!("unknown flow option '{other}'")),
        };
        if slot.is_some_and(|old| old != val) {
            return Err(format!("conflicting flow options in '{v}'"));
        }
        *slot = Some(val);
    }
    Ok(f)
}

/// An option of a byte_* keyword that the shared parser did not consume: `(key, argument)`.
type KeyArg<'a> = (&'a str, Option<&'a str>);

/// State while the options of one rule are read in order.
struct Builder {
    rule: Rule,
    /// Buffer set by the last sticky-buffer keyword.
    sticky: Buffer,
    /// Index into `rule.inspect` of the last content, for its modifiers.
    last_content: Option<usize>,
    /// byte_extract / byte_math variable names, by slot.
    vars: Vec<String>,
}

fn parse_int(s: &str) -> Result<i64, String> {
    let t = s.trim();
    let (neg, t) = match t.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, t),
    };
    let v = if let Some(h) = t.strip_prefix("0x").or_else(|| t.strip_prefix("0X")) {
        i64::from_str_radix(h, 16)
    } else {
        t.parse::<i64>()
    }
    .map_err(|_| format!("invalid number '{s}'"))?;
    Ok(if neg { -v } else { v })
}

impl Builder {
    fn last_content(&mut self, kw: &str) -> Result<&mut Content, String> {
        let idx = self
            .last_content
            .ok_or_else(|| format!("'{kw}' needs a preceding content"))?;
        match &mut self.rule.inspect[idx].1 {
            Inspect::Content(c) => Ok(c),
            _ => Err(format!("'{kw}' needs a preceding content")),
        }
    }

    /// A literal or a variable defined earlier in the rule.
    fn value(&self, s: &str) -> Result<Value, String> {
        let t = s.trim();
        if t.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_') {
            return self
                .vars
                .iter()
                .position(|v| v == t)
                .map(|i| Value::Var(i as u8))
                .ok_or_else(|| format!("unknown variable '{t}'"));
        }
        parse_int(t).map(Value::Lit)
    }

    fn define_var(&mut self, name: &str) -> Result<u8, String> {
        let name = name.trim();
        if name.is_empty() || !name.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_') {
            return Err(format!("invalid variable name '{name}'"));
        }
        if let Some(i) = self.vars.iter().position(|v| v == name) {
            return Ok(i as u8);
        }
        if self.vars.len() >= MAX_VARS {
            return Err(format!("more than {MAX_VARS} variables"));
        }
        self.vars.push(name.to_string());
        Ok((self.vars.len() - 1) as u8)
    }

    fn content_window(&mut self, kw: &str, v: &str) -> Result<(), String> {
        let val = self.value(v)?;
        let c = self.last_content(kw)?;
        let plen = c.pattern.len() as i64;
        match kw {
            "offset" | "depth" => {
                if c.is_relative() {
                    return Err(format!(
                        "'{kw}' cannot be combined with distance/within on one content"
                    ));
                }
                if c.startswith {
                    return Err(format!("'{kw}' cannot be combined with startswith"));
                }
                if let Value::Lit(n) = val {
                    if n < 0 || n > i64::from(u16::MAX) {
                        return Err(format!("{kw} {n} is out of range"));
                    }
                    if kw == "depth" && n < plen {
                        return Err(format!(
                            "depth {n} is shorter than the content ({plen} bytes)"
                        ));
                    }
                }
                if kw == "offset" {
                    c.offset = Some(val);
                } else {
                    c.depth = Some(val);
                }
            }
            _ => {
                if c.offset.is_some() || c.depth.is_some() || c.startswith {
                    return Err(format!(
                        "'{kw}' cannot be combined with offset/depth/startswith"
                    ));
                }
                if let Value::Lit(n) = val {
                    if n.abs() > i64::from(u16::MAX) {
                        return Err(format!("{kw} {n} is out of range"));
                    }
                    if kw == "within" && n < plen {
                        return Err(format!(
                            "within {n} is shorter than the content ({plen} bytes)"
                        ));
                    }
                }
                if kw == "distance" {
                    c.distance = Some(val);
                } else {
                    c.within = Some(val);
                }
            }
        }
        Ok(())
    }

    fn not_yet(&mut self, kw: &'static str) {
        if !self.rule.unsupported.contains(&kw) {
            self.rule.unsupported.push(kw);
        }
    }

    fn need(&mut self, what: &'static str) {
        if !self.rule.needs.contains(&what) {
            self.rule.needs.push(what);
        }
    }

    fn push_step(&mut self, step: Inspect) {
        if let Buffer::App(name) = self.sticky {
            self.need(app_need(name));
        }
        self.rule.inspect.push((self.sticky, step));
    }

    /// Common prefix of byte_test/jump/extract: flags after the positional arguments.
    fn extract_opts<'a>(
        &self,
        nbytes: &str,
        offset: &str,
        rest: impl Iterator<Item = &'a str>,
    ) -> Result<(Extract, Vec<KeyArg<'a>>), String> {
        // The byte count may be a variable (`byte_test:len,=,1,0` after a byte_extract).
        let (n, nbytes_var) = match self.value(nbytes)? {
            Value::Var(i) => (8, Some(i)),
            Value::Lit(n) => (n, None),
        };
        let mut ex = Extract {
            nbytes_var,
            // 0 is accepted with `string` only, meaning "to the end of the buffer".
            nbytes: u8::try_from(n)
                .ok()
                .filter(|n| *n <= 20)
                .ok_or_else(|| format!("byte count {n} not in 0..20"))?,
            offset: self.value(offset)?,
            relative: false,
            endian: Endian::Big,
            string: None,
            bitmask: None,
        };
        let mut other = Vec::new();
        let mut it = rest.peekable();
        while let Some(opt) = it.next() {
            let mut words = opt.split_whitespace();
            let key = words.next().unwrap_or("");
            let arg = words.next();
            match key {
                "relative" => ex.relative = true,
                "big" => ex.endian = Endian::Big,
                "little" | "dce" => ex.endian = Endian::Little,
                "string" => {
                    // `string, hex` (two options) or `string hex`.
                    let base = match arg {
                        Some(b) => Some(b),
                        None => match it.peek().map(|s| s.trim()) {
                            Some("hex") | Some("dec") | Some("oct") => it.next().map(str::trim),
                            _ => None,
                        },
                    };
                    ex.string = Some(match base {
                        Some("hex") => Base::Hex,
                        Some("oct") => Base::Oct,
                        Some("dec") | None => Base::Dec,
                        Some(other) => return Err(format!("unknown string type '{other}'")),
                    });
                }
                "bitmask" => {
                    let m = parse_int(arg.ok_or("bitmask needs a value")?)?;
                    if m <= 0 {
                        return Err("bitmask must be positive".into());
                    }
                    ex.bitmask = Some(m as u64);
                }
                _ => other.push((key, arg)),
            }
        }
        // 0 binary bytes reads the value 0 (ET uses `byte_jump:0,0,relative,post_offset N` to
        // move the cursor); 0 with `string` reads to the end of the buffer.
        if ex.string.is_none() && ex.nbytes > 8 {
            return Err(format!(
                "{} binary bytes: at most 8 (more only with 'string')",
                ex.nbytes
            ));
        }
        Ok((ex, other))
    }

    fn byte_test(&mut self, v: &str) -> Result<(), String> {
        let parts: Vec<&str> = v.split(',').map(str::trim).collect();
        if parts.len() < 4 {
            return Err("byte_test needs bytes, operator, value, offset".into());
        }
        let mut op = parts[1];
        let negated = op.starts_with('!');
        if negated {
            op = op[1..].trim();
        }
        let op = match op {
            "<" => ByteOp::Lt,
            ">" => ByteOp::Gt,
            "=" | "" if !op.is_empty() || negated => ByteOp::Eq,
            "<=" => ByteOp::Le,
            ">=" => ByteOp::Ge,
            "&" => ByteOp::And,
            "^" => ByteOp::Xor,
            other => return Err(format!("unknown byte_test operator '{other}'")),
        };
        let value = self.value(parts[2])?;
        let (ex, other) = self.extract_opts(parts[0], parts[3], parts[4..].iter().copied())?;
        if let Some((k, _)) = other.first() {
            return Err(format!("unknown byte_test option '{k}'"));
        }
        self.push_step(Inspect::ByteTest(ByteTest {
            ex,
            op,
            negated,
            value,
        }));
        Ok(())
    }

    fn byte_jump(&mut self, v: &str) -> Result<(), String> {
        let parts: Vec<&str> = v.split(',').map(str::trim).collect();
        if parts.len() < 2 {
            return Err("byte_jump needs bytes, offset".into());
        }
        let (ex, other) = self.extract_opts(parts[0], parts[1], parts[2..].iter().copied())?;
        let mut j = ByteJump {
            ex,
            multiplier: 1,
            align: false,
            from_beginning: false,
            from_end: false,
            post_offset: 0,
        };
        for (k, arg) in other {
            match k {
                "multiplier" => {
                    j.multiplier =
                        parse_int(arg.ok_or("multiplier needs a value")?)?.clamp(1, 65_535) as u32
                }
                "align" => j.align = true,
                "from_beginning" => j.from_beginning = true,
                "from_end" => j.from_end = true,
                "post_offset" => {
                    j.post_offset = parse_int(arg.ok_or("post_offset needs a value")?)?
                }
                other => return Err(format!("unknown byte_jump option '{other}'")),
            }
        }
        self.push_step(Inspect::ByteJump(j));
        Ok(())
    }

    fn byte_extract(&mut self, v: &str) -> Result<(), String> {
        let parts: Vec<&str> = v.split(',').map(str::trim).collect();
        if parts.len() < 3 {
            return Err("byte_extract needs bytes, offset, name".into());
        }
        let (ex, other) = self.extract_opts(parts[0], parts[1], parts[3..].iter().copied())?;
        let mut e = ByteExtract {
            ex,
            multiplier: 1,
            align: 0,
            var: 0,
        };
        for (k, arg) in other {
            match k {
                "multiplier" => {
                    e.multiplier =
                        parse_int(arg.ok_or("multiplier needs a value")?)?.clamp(1, 65_535) as u32
                }
                "align" => {
                    e.align = match arg.map(parse_int).transpose()? {
                        Some(2) => 2,
                        Some(4) => 4,
                        _ => return Err("align must be 2 or 4".into()),
                    }
                }
                other => return Err(format!("unknown byte_extract option '{other}'")),
            }
        }
        e.var = self.define_var(parts[2])?;
        self.push_step(Inspect::ByteExtract(e));
        Ok(())
    }

    fn byte_math(&mut self, v: &str) -> Result<(), String> {
        let (mut nbytes, mut offset, mut oper, mut rvalue, mut result) =
            (None, None, None, None, None);
        let mut rest = Vec::new();
        for part in v.split(',').map(str::trim) {
            let (k, a) = part
                .split_once(char::is_whitespace)
                .map(|(k, a)| (k, a.trim()))
                .unwrap_or((part, ""));
            match k {
                "bytes" => nbytes = Some(a),
                "offset" => offset = Some(a),
                "oper" => oper = Some(a),
                "rvalue" => rvalue = Some(a),
                "result" => result = Some(a),
                "endian" => rest.push(a),
                "string" => rest.push(if a.is_empty() { "string" } else { part }),
                _ => rest.push(part),
            }
        }
        let (Some(nb), Some(off), Some(op), Some(rv), Some(res)) =
            (nbytes, offset, oper, rvalue, result)
        else {
            return Err("byte_math needs bytes, offset, oper, rvalue and result".into());
        };
        let (ex, other) = self.extract_opts(nb, off, rest.into_iter())?;
        if let Some((k, _)) = other.first() {
            return Err(format!("unknown byte_math option '{k}'"));
        }
        let op = match op {
            "+" => MathOp::Add,
            "-" => MathOp::Sub,
            "*" => MathOp::Mul,
            "/" => MathOp::Div,
            "<<" => MathOp::Shl,
            ">>" => MathOp::Shr,
            other => return Err(format!("unknown byte_math operator '{other}'")),
        };
        let rvalue = self.value(rv)?;
        let var = self.define_var(res)?;
        self.push_step(Inspect::ByteMath(ByteMath {
            ex,
            op,
            rvalue,
            var,
        }));
        Ok(())
    }

    fn option(&mut self, kw: &str, v: Option<&str>) -> Result<(), String> {
        let kw_lower = kw.to_ascii_lowercase();
        let kw = kw_lower.as_str();
        let need_v = || v.ok_or_else(|| format!("'{kw}' needs a value"));
        match kw {
            "msg" => self.rule.msg = unquote(need_v()?),
            "sid" => {
                self.rule.sid = num(kw, v)?;
                if self.rule.sid == 0 {
                    return Err("sid must be greater than 0".into());
                }
            }
            "rev" => self.rule.rev = num(kw, v)?,
            "gid" => self.rule.gid = num(kw, v)?,
            "classtype" => self.rule.classtype = Some(need_v()?.trim().to_string()),
            "priority" => {
                let p: u8 = num(kw, v)?;
                if p == 0 {
                    return Err("priority must be 1-255".into());
                }
                self.rule.priority = Some(p);
            }
            "metadata" => {
                for item in need_v()?.split(',') {
                    let item = item.trim();
                    if item.is_empty() {
                        continue;
                    }
                    let (k, val) = item.split_once(' ').unwrap_or((item, ""));
                    self.rule
                        .metadata
                        .push((k.trim().to_string(), val.trim().to_string()));
                }
            }
            "reference" => {
                let v = need_v()?;
                if !v.contains(',') {
                    return Err(format!("reference '{v}' is not 'type,value'"));
                }
                self.rule.references.push(v.trim().to_string());
            }
            "target" => {
                self.rule.target = Some(match v.map(str::trim) {
                    Some("src_ip") => Target::Src,
                    Some("dest_ip") => Target::Dst,
                    other => {
                        return Err(format!("target must be src_ip or dest_ip, not {other:?}"))
                    }
                })
            }
            "flow" => {
                let f = parse_flow(need_v()?)?;
                if f.frag == Some(true) {
                    self.need("ip defragmentation");
                }
                self.rule.flow = f;
            }
            "content" | "uricontent" => {
                let (pattern, negated) = parse_content_value(need_v()?)?;
                let c = Content {
                    pattern,
                    negated,
                    ..Content::default()
                };
                let saved = self.sticky;
                if kw == "uricontent" {
                    self.sticky = Buffer::App("http.uri");
                }
                self.push_step(Inspect::Content(c));
                self.sticky = saved;
                self.last_content = Some(self.rule.inspect.len() - 1);
            }
            "nocase" => self.last_content(kw)?.nocase = true,
            "rawbytes" => self.last_content(kw)?.rawbytes = true,
            "offset" | "depth" | "distance" | "within" => self.content_window(kw, need_v()?)?,
            "startswith" => {
                let c = self.last_content(kw)?;
                if c.offset.is_some() || c.depth.is_some() || c.is_relative() {
                    return Err(
                        "startswith cannot be combined with offset/depth/distance/within".into(),
                    );
                }
                c.startswith = true;
            }
            "endswith" => self.last_content(kw)?.endswith = true,
            "fast_pattern" => {
                let fp = match v.map(str::trim) {
                    None => FastPattern::Yes,
                    Some("only") => FastPattern::Only,
                    Some(spec) => {
                        let (o, l) = spec
                            .split_once(',')
                            .ok_or_else(|| format!("invalid fast_pattern '{spec}'"))?;
                        let o: u16 = num("fast_pattern offset", Some(o))?;
                        let l: u16 = num("fast_pattern length", Some(l))?;
                        FastPattern::Chop(o, l)
                    }
                };
                let c = self.last_content(kw)?;
                if let FastPattern::Chop(o, l) = fp {
                    if l == 0 || usize::from(o) + usize::from(l) > c.pattern.len() {
                        return Err("fast_pattern offset,length exceeds the content".into());
                    }
                }
                c.fast_pattern = fp;
            }
            "pcre" => {
                let (spec, buffer) = parse_pcre(need_v()?)?;
                let saved = self.sticky;
                if let Some(b) = buffer {
                    // A buffer flag names the buffer, also inside a sticky buffer.
                    self.sticky = Buffer::App(b);
                }
                self.push_step(Inspect::Pcre(spec));
                self.sticky = saved;
                self.last_content = None;
            }
            "flowint" => self.rule.flowints.push(parse_flowint(need_v()?)?),
            "base64_decode" => {
                let d = Base64Decode::parse(v)?;
                self.push_step(Inspect::Base64Decode(d));
                self.last_content = None;
            }
            "base64_data" => {
                let decoded = self
                    .rule
                    .inspect
                    .iter()
                    .rev()
                    .find(|(b, _)| *b == self.sticky)
                    .is_some_and(|(_, i)| matches!(i, Inspect::Base64Decode(_)));
                if !decoded {
                    return Err("base64_data must follow a base64_decode on the same buffer".into());
                }
                self.push_step(Inspect::Base64Data);
                self.last_content = None;
            }
            "asn1" => {
                let spec = crate::detect::asn1::Asn1Spec::parse(need_v()?)?;
                self.push_step(Inspect::Asn1(spec));
            }
            "isdataat" => {
                let raw = need_v()?;
                let mut parts = raw.split(',').map(str::trim);
                let first = parts.next().unwrap_or("");
                let (negated, first) = match first.strip_prefix('!') {
                    Some(r) => (true, r),
                    None => (false, first),
                };
                let mut d = IsDataAt {
                    offset: self.value(first)?,
                    relative: false,
                    negated,
                };
                for p in parts {
                    match p {
                        "relative" => d.relative = true,
                        "rawbytes" => {}
                        other => return Err(format!("unknown isdataat option '{other}'")),
                    }
                }
                self.push_step(Inspect::IsDataAt(d));
            }
            "byte_test" => self.byte_test(need_v()?)?,
            "byte_jump" => self.byte_jump(need_v()?)?,
            "byte_extract" => self.byte_extract(need_v()?)?,
            "byte_math" => self.byte_math(need_v()?)?,
            "bsize" => {
                let c = Cmp::parse(need_v()?, u64::from(u32::MAX))?;
                self.push_step(Inspect::Bsize(c));
            }
            "urilen" => {
                // The URI's length: a `bsize` on the normalised (or, with `raw`, the raw) URI.
                let mut parts = need_v()?.split(',');
                let cmp = Cmp::parse(parts.next().unwrap_or("").trim(), 65_535)?;
                let buf = if parts.any(|x| x.trim() == "raw") {
                    "http.uri.raw"
                } else {
                    "http.uri"
                };
                self.rule
                    .inspect
                    .push((Buffer::App(buf), Inspect::Bsize(cmp)));
                self.need("http parser");
            }
            "stream_size" => self.rule.stream_size.push(parse_stream_size(need_v()?)?),
            "dsize" => self
                .rule
                .packet
                .push(PacketCond::Dsize(Cmp::parse(need_v()?, 65_535)?)),
            "ttl" => self
                .rule
                .packet
                .push(PacketCond::Ttl(Cmp::parse(need_v()?, 255)?)),
            "itype" => self
                .rule
                .packet
                .push(PacketCond::Itype(Cmp::parse(need_v()?, 255)?)),
            "icode" => self
                .rule
                .packet
                .push(PacketCond::Icode(Cmp::parse(need_v()?, 255)?)),
            "ip_proto" => {
                let v = need_v()?.trim();
                let named = match v.to_ascii_lowercase().trim_start_matches('!') {
                    "tcp" => Some(6),
                    "udp" => Some(17),
                    "icmp" => Some(1),
                    "ipv6-icmp" | "icmpv6" => Some(58),
                    "igmp" => Some(2),
                    "gre" => Some(47),
                    "esp" => Some(50),
                    "ah" => Some(51),
                    "sctp" => Some(132),
                    _ => None,
                };
                let cmp = match named {
                    Some(n) if v.starts_with('!') => Cmp::Ne(n),
                    Some(n) => Cmp::Eq(n),
                    None => Cmp::parse(v, 255)?,
                };
                self.rule.packet.push(PacketCond::IpProto(cmp));
            }
            "icmp_id" => self.rule.packet.push(PacketCond::IcmpId(num(kw, v)?)),
            "icmp_seq" => self.rule.packet.push(PacketCond::IcmpSeq(num(kw, v)?)),
            "id" => self.rule.packet.push(PacketCond::IpId(num(kw, v)?)),
            "flags" => self
                .rule
                .packet
                .push(PacketCond::Flags(parse_flags(need_v()?)?)),
            "window" => {
                let v = need_v()?.trim();
                let (neg, n) = match v.strip_prefix('!') {
                    Some(r) => (true, r),
                    None => (false, v),
                };
                self.rule
                    .packet
                    .push(PacketCond::Window(neg, num(kw, Some(n))?));
            }
            "seq" => self.rule.packet.push(PacketCond::Seq(num(kw, v)?)),
            "ack" => self.rule.packet.push(PacketCond::Ack(num(kw, v)?)),
            "sameip" => self.rule.packet.push(PacketCond::SameIp),
            "ipv4-csum" | "tcpv4-csum" | "tcpv6-csum" | "udpv4-csum" | "udpv6-csum"
            | "icmpv4-csum" | "icmpv6-csum" => {
                let valid = match need_v()?.trim() {
                    "valid" => true,
                    "invalid" => false,
                    other => return Err(format!("must be valid or invalid, not '{other}'")),
                };
                let v = if kw.contains("v6") { 6 } else { 4 };
                let kind = match kw.split('v').next().unwrap_or("") {
                    "ip" => CsumKind::Ipv4,
                    "tcp" => CsumKind::Tcp(v),
                    "udp" => CsumKind::Udp(v),
                    _ => CsumKind::Icmp(v),
                };
                self.rule.packet.push(PacketCond::Checksum(kind, valid));
            }
            "flowbits" => match parse_flowbits(need_v()?)? {
                Some(op) => self.rule.flowbits.push(op),
                None => self.rule.noalert = true,
            },
            "noalert" => self.rule.noalert = true,
            "iprep" => self
                .rule
                .iprep
                .push(crate::detect::intel::iprep::IprepCond::parse(need_v()?)?),
            "xbits" => match parse_xbits(need_v()?)? {
                Some(x) => self.rule.xbits.push(x),
                None => self.rule.noalert = true,
            },
            "threshold" => self.rule.threshold = Some(parse_threshold(need_v()?, false)?),
            "detection_filter" => {
                self.rule.detection_filter = Some(parse_threshold(need_v()?, true)?)
            }
            "tag" => {
                let spec = crate::detect::tag::TagSpec::parse(need_v()?)?;
                self.rule.tags.push(spec);
            }
            "app-layer-protocol" => {
                // `[!]proto[|proto...][,qualifier...]`: a mode (direction, to_server,
                // to_client, either, final, original) and `exact`. The flow has one protocol,
                // so every mode asks the same question.
                let v = need_v()?.trim();
                let mut parts = v.split(',').map(str::trim);
                let first = parts.next().unwrap_or("");
                let negated = first.starts_with('!');
                let names: Vec<String> = first
                    .trim_start_matches('!')
                    .split('|')
                    .map(|n| n.trim().to_ascii_lowercase())
                    .collect();
                if names.iter().any(String::is_empty) {
                    return Err("app-layer-protocol needs a protocol".into());
                }
                if negated && names.iter().any(|n| n == "unknown") {
                    return Err("'unknown' cannot be negated".into());
                }
                let (mut original, mut exact) = (false, false);
                for q in parts {
                    let modes = ["direction", "to_server", "to_client", "either", "final"];
                    original |= q == "original";
                    exact |= q == "exact";
                    if !modes.contains(&q) && !["original", "exact"].contains(&q) {
                        return Err(format!("unknown app-layer-protocol qualifier '{q}'"));
                    }
                }
                // The rule waits for a parser only when none of the names has one.
                let known = |n: &String| crate::applayer::AppProto::from_rule_name(n).is_some();
                if !names.iter().any(known) {
                    let need = app_need(&names[0]);
                    self.need(if need == "app-layer parser" {
                        "app-layer protocol detection"
                    } else {
                        need
                    });
                }
                self.rule.app_layer_protocol.push(super::AlprotoSpec {
                    negated,
                    names,
                    original,
                    exact,
                });
            }
            "stream-event" => {
                let bit = match crate::detect::stream_event::by_name(need_v()?.trim()) {
                    Some(bit) => bit,
                    None => {
                        self.not_yet("stream-event");
                        0
                    }
                };
                self.rule.stream_events |= bit;
            }
            "decode-event" => match crate::decode::event::by_name(need_v()?.trim()) {
                Some(bit) => self.rule.decode_events |= bit,
                None => self.not_yet("decode-event"),
            },
            "app-layer-event" => {
                let v = need_v()?.trim();
                let (proto, name) = v.split_once('.').unwrap_or(("", v));
                // Events named `http.` are HTTP/1's (libhtp's in Suricata).
                let found = crate::applayer::AppProto::from_rule_name(proto)
                    .map(|p| match p {
                        crate::applayer::AppProto::HttpAny => crate::applayer::AppProto::Http,
                        p => p,
                    })
                    .filter(|p| self.rule.app_event_proto.is_none_or(|q| q == *p))
                    .and_then(|p| Some((p, (p.protocol()?.event_by_name)(name)?)));
                match found {
                    Some((p, bit)) => {
                        self.rule.app_events |= bit;
                        self.rule.app_event_proto = Some(p);
                        self.need(app_need(proto));
                    }
                    None => self.not_yet("app-layer-event"),
                }
            }
            "filename" | "fileext" | "filemagic" => {
                let (mut pattern, negated) = parse_content_value(need_v()?)?;
                let ext = kw == "fileext";
                if ext {
                    pattern.insert(0, b'.');
                }
                let c = Content {
                    pattern,
                    negated,
                    nocase: ext,
                    endswith: ext,
                    ..Content::default()
                };
                let saved = self.sticky;
                self.sticky = Buffer::App(if kw == "filemagic" {
                    "file.magic"
                } else {
                    "file.name"
                });
                self.push_step(Inspect::Content(c));
                self.sticky = saved;
                self.last_content = Some(self.rule.inspect.len() - 1);
            }
            "ftpdata_command" => {
                let v = need_v()?.trim().to_ascii_lowercase();
                if v != "retr" && v != "stor" {
                    return Err(format!("ftpdata_command must be retr or stor, not '{v}'"));
                }
                let c = Content {
                    pattern: v.into_bytes(),
                    nocase: true,
                    startswith: true,
                    endswith: true,
                    ..Content::default()
                };
                let saved = self.sticky;
                self.sticky = Buffer::App("ftpdata_command");
                self.push_step(Inspect::Content(c));
                self.sticky = saved;
            }
            "filestore" => {
                // `filestore[:direction,scope]`: the matched transaction's files are stored.
                if !self.rule.file_conds.contains(&FileCondSpec::Store) {
                    self.rule.file_conds.push(FileCondSpec::Store);
                }
                self.need("file tracking");
            }
            "filesize" => {
                let cmp = parse_filesize(need_v()?)?;
                self.rule.file_conds.push(FileCondSpec::Size(cmp));
                self.need("file tracking");
            }
            "filemd5" | "filesha1" | "filesha256" => {
                let v = need_v()?.trim();
                let (negated, list) = match v.strip_prefix('!') {
                    Some(l) => (true, l.trim()),
                    None => (false, v),
                };
                if list.is_empty() {
                    return Err(format!("'{kw}' needs a list file"));
                }
                let kind = match kw {
                    "filemd5" => crate::applayer::files::hash::MD5,
                    "filesha1" => crate::applayer::files::hash::SHA1,
                    _ => crate::applayer::files::hash::SHA256,
                };
                self.rule.file_conds.push(FileCondSpec::Hash {
                    kind,
                    negated,
                    list: unquote(list),
                });
                self.need("file tracking");
            }
            "ftpbounce" => {
                self.rule.ftpbounce = true;
                self.need("ftp parser");
            }
            "dce_iface" | "dcerpc.iface" => {
                self.rule.dce_iface = Some(parse_dce_iface(need_v()?)?);
                self.need("dcerpc parser");
            }
            "dce_opnum" | "dcerpc.opnum" => {
                self.rule.dce_opnums = parse_dce_opnum(need_v()?)?;
                self.need("dcerpc parser");
            }
            "krb5_msg_type" | "krb5.msg_type" => {
                let cmp = Cmp::parse(need_v()?.trim(), 255)?;
                self.rule.int_conds.push(("krb5_msg_type", cmp));
                self.need("krb5 parser");
            }
            "mqtt.type" => {
                let v = need_v()?.trim();
                let cmp = match crate::applayer::mqtt::kind::by_name(v) {
                    Some(k) => Cmp::Eq(u64::from(k)),
                    None => Cmp::parse(v, 15)
                        .map_err(|e| format!("mqtt.type: unknown type '{v}' ({e})"))?,
                };
                self.rule.int_conds.push(("mqtt.type", cmp));
                self.need("mqtt parser");
            }
            "http2.frametype" => {
                let v = need_v()?.trim();
                let cmp = match crate::applayer::http2::frame::by_name(v) {
                    Some(k) => Cmp::Eq(u64::from(k)),
                    None => Cmp::parse(v, 255)
                        .map_err(|e| format!("http2.frametype: unknown type '{v}' ({e})"))?,
                };
                self.rule.int_conds.push(("http2.frametype", cmp));
                self.need("http2 parser");
            }
            "http2.errorcode" => {
                let v = need_v()?.trim();
                let cmp = match crate::applayer::http2::error_by_name(v) {
                    Some(k) => Cmp::Eq(u64::from(k)),
                    None => Cmp::parse(v, u64::from(u32::MAX))
                        .map_err(|e| format!("http2.errorcode: unknown code '{v}' ({e})"))?,
                };
                self.rule.int_conds.push(("http2.errorcode", cmp));
                self.need("http2 parser");
            }
            "http2.window" | "http2.priority" => {
                let max = if kw == "http2.window" {
                    u64::from(u32::MAX >> 1)
                } else {
                    255
                };
                let cmp = Cmp::parse(need_v()?, max)?;
                let name = if kw == "http2.window" {
                    "http2.window"
                } else {
                    "http2.priority"
                };
                self.rule.int_conds.push((name, cmp));
                self.need("http2 parser");
            }
            "ike.exchtype" => {
                let cmp = Cmp::parse(need_v()?, 255)?;
                self.rule.int_conds.push(("ike.exchtype", cmp));
                self.need("ike parser");
            }
            "ike.key_exchange_payload_length" | "ike.nonce_payload_length" => {
                let cmp = Cmp::parse(need_v()?, u64::from(u32::MAX))?;
                let name = if kw == "ike.nonce_payload_length" {
                    "ike.nonce_payload_length"
                } else {
                    "ike.key_exchange_payload_length"
                };
                self.rule.int_conds.push((name, cmp));
                self.need("ike parser");
            }
            "mqtt.qos" => {
                let cmp = Cmp::parse(need_v()?, 2).map_err(|e| format!("mqtt.qos: {e}"))?;
                self.rule.int_conds.push(("mqtt.qos", cmp));
                self.need("mqtt parser");
            }
            "mqtt.protocol_version" | "mqtt.reason_code" | "mqtt.connack.return_code" => {
                let cmp = Cmp::parse(need_v()?, 255)?;
                let name = if kw == "mqtt.protocol_version" {
                    "mqtt.protocol_version"
                } else {
                    "mqtt.reason_code"
                };
                self.rule.int_conds.push((name, cmp));
                self.need("mqtt parser");
            }
            "mqtt.flags" => {
                let cmp = Cmp::parse_flags(need_v()?, &[("dup", 0x8), ("retain", 0x1)])?;
                self.rule.int_conds.push(("mqtt.flags", cmp));
                self.need("mqtt parser");
            }
            "mqtt.connect.flags" => {
                let flags = [
                    ("username", 0x80),
                    ("password", 0x40),
                    ("will_retain", 0x20),
                    ("will", 0x04),
                    ("clean_session", 0x02),
                ];
                let cmp = Cmp::parse_flags(need_v()?, &flags)?;
                self.rule.int_conds.push(("mqtt.connect.flags", cmp));
                self.need("mqtt parser");
            }
            "mqtt.connack.session_present" => {
                let v = need_v()?.trim();
                let want = match v.to_ascii_lowercase().as_str() {
                    "true" | "yes" | "1" => 1,
                    "false" | "no" | "0" => 0,
                    _ => {
                        return Err(format!(
                            "mqtt.connack.session_present: '{v}' is not a boolean"
                        ))
                    }
                };
                self.rule
                    .int_conds
                    .push(("mqtt.connack.session_present", Cmp::Eq(want)));
                self.need("mqtt parser");
            }
            "krb5_err_code" | "krb5.err_code" => {
                let cmp = Cmp::parse(need_v()?.trim(), u64::from(u32::MAX))?;
                self.rule.int_conds.push(("krb5_err_code", cmp));
                self.need("krb5 parser");
            }
            "krb5.ticket_encryption" => {
                self.rule.ticket_enc = Some(EtypeCond::parse(need_v()?)?);
                self.need("krb5 parser");
            }
            "smb.version" => {
                let v = need_v()?.trim();
                let n: u8 = match v {
                    "1" => 1,
                    "2" | "3" => 2,
                    _ => return Err(format!("smb.version must be 1 or 2, not '{v}'")),
                };
                let c = Content {
                    pattern: vec![n],
                    startswith: true,
                    endswith: true,
                    ..Content::default()
                };
                let saved = self.sticky;
                self.sticky = Buffer::App("smb.version");
                self.push_step(Inspect::Content(c));
                self.sticky = saved;
            }
            "ssh.protoversion" | "ssh.softwareversion" => {
                let v = unquote(need_v()?);
                let proto = kw == "ssh.protoversion";
                if proto && v == "2_compat" {
                    self.not_yet("ssh.protoversion");
                    return Ok(());
                }
                let c = Content {
                    pattern: v.into_bytes(),
                    startswith: true,
                    endswith: proto,
                    ..Content::default()
                };
                let saved = self.sticky;
                self.sticky = Buffer::App(if proto { "ssh.proto" } else { "ssh.software" });
                self.push_step(Inspect::Content(c));
                self.sticky = saved;
            }
            "dataset" | "datarep" => {
                let v = need_v()?;
                let spec = if kw == "dataset" {
                    crate::detect::dataset::DatasetSpec::parse(v)?
                } else {
                    crate::detect::dataset::DatasetSpec::parse_rep(v)?
                };
                match self.sticky {
                    Buffer::App(name) => {
                        self.need(app_need(name));
                        self.rule.datasets.push((self.sticky, spec));
                    }
                    Buffer::Payload => self.not_yet("dataset"),
                }
            }
            "absent" => {
                // The sticky buffer must not exist (`absent`), or may be absent instead of
                // matching what follows (`absent: or_else`).
                let or_else = match v.map(str::trim) {
                    None => false,
                    Some("or_else") => true,
                    Some(o) => {
                        return Err(format!("absent takes no value or 'or_else', not '{o}'"))
                    }
                };
                let Buffer::App(name) = self.sticky else {
                    return Err("absent needs a sticky buffer".into());
                };
                self.need(app_need(name));
                self.rule.absent.push((self.sticky, or_else));
            }
            "pkt_data" => {
                self.sticky = Buffer::Payload;
                self.last_content = None;
            }
            _ => return self.other_keyword(kw, v),
        }
        Ok(())
    }

    fn other_keyword(&mut self, kw: &str, v: Option<&str>) -> Result<(), String> {
        if let Some((_, canon)) = STICKY_BUFFERS.iter().find(|(n, _)| *n == kw) {
            // `file.data:to_client` (transactional rules): the body of that direction.
            let canon = match (*canon, v.map(str::trim)) {
                (_, None) => canon,
                ("file.data", Some("to_client")) => "http.response_body",
                ("file.data", Some("to_server")) => "http.request_body",
                (_, Some("to_client" | "to_server")) => canon,
                _ => return Err(format!("sticky buffer '{kw}' takes no value")),
            };
            self.sticky = Buffer::App(canon);
            self.last_content = None;
            return Ok(());
        }
        if let Some((_, canon)) = LEGACY_MODIFIERS.iter().find(|(n, _)| *n == kw) {
            let idx = self
                .last_content
                .ok_or_else(|| format!("'{kw}' needs a preceding content"))?;
            if self.rule.inspect[idx].0 != Buffer::Payload {
                return Err(format!(
                    "'{kw}' applied to a content already in a sticky buffer"
                ));
            }
            self.rule.inspect[idx].0 = Buffer::App(canon);
            self.need(app_need(canon));
            return Ok(());
        }
        if let Some(name) = TRANSFORMS.iter().find(|n| **n == kw) {
            match self.sticky {
                Buffer::Payload => return Err(format!("transform '{kw}' needs a sticky buffer")),
                b => {
                    let arg = v.map(unquote_verbatim);
                    self.rule.transforms.push((b, name, arg))
                }
            }
            return Ok(());
        }
        if let Some(name) = NOT_YET.iter().find(|n| **n == kw) {
            self.not_yet(name);
            return Ok(());
        }
        Err(format!("unknown keyword '{kw}'"))
    }
}

/// Parses one complete rule (no trailing comment, continuations already joined).
pub fn parse_rule(text: &str, vars: &Vars) -> Result<Rule, String> {
    let text = text.trim();
    let open = text.find('(').ok_or("rule has no '(' option list")?;
    if !text.ends_with(')') {
        return Err("rule does not end with ')'".into());
    }
    let header = &text[..open];
    let body = &text[open + 1..text.len() - 1];
    let parts: Vec<&str> = header.split_whitespace().collect();
    if parts.len() != 7 {
        return Err(format!(
            "header needs 'action proto src sport dir dst dport', got {} fields",
            parts.len()
        ));
    }
    let action = parse_action(parts[0])?;
    let (l4, app_proto) = parse_proto(parts[1])?;
    let bidirectional = match parts[4] {
        "->" => false,
        // `=>`: a transactional rule (request and response of one transaction); its header
        // then applies to the transaction, whichever direction completes the match.
        "<>" | "=>" => true,
        "<-" => return Err("direction '<-' is not valid; write the rule with '->'".into()),
        d => return Err(format!("invalid direction '{d}'")),
    };
    let src = parse_addr(parts[2], vars).map_err(|e| format!("source address: {e}"))?;
    let sport = parse_ports(parts[3], vars).map_err(|e| format!("source port: {e}"))?;
    let dst = parse_addr(parts[5], vars).map_err(|e| format!("destination address: {e}"))?;
    let dport = parse_ports(parts[6], vars).map_err(|e| format!("destination port: {e}"))?;

    let ip_version = match parts[1].to_ascii_lowercase().as_str() {
        "ipv4" | "ip4" => Some(4),
        "ipv6" | "ip6" => Some(6),
        _ => None,
    };
    let mut b = Builder {
        rule: Rule {
            action,
            l4,
            ip_version,
            app_proto,
            src,
            sport,
            dst,
            dport,
            bidirectional,
            sid: 0,
            gid: 1,
            rev: 0,
            msg: String::new(),
            classtype: None,
            priority: None,
            metadata: Vec::new(),
            references: Vec::new(),
            flow: FlowMatch::default(),
            inspect: Vec::new(),
            target: None,
            packet: Vec::new(),
            flowbits: Vec::new(),
            flowints: Vec::new(),
            xbits: Vec::new(),
            noalert: false,
            iprep: Vec::new(),
            external: false,
            tags: Vec::new(),
            stream_size: Vec::new(),
            threshold: None,
            detection_filter: None,
            transforms: Vec::new(),
            app_layer_protocol: Vec::new(),
            absent: Vec::new(),
            app_events: 0,
            app_event_proto: None,
            ftpbounce: false,
            dce_iface: None,
            dce_opnums: Vec::new(),
            int_conds: Vec::new(),
            ticket_enc: None,
            stream_events: 0,
            decode_events: 0,
            datasets: Vec::new(),
            file_conds: Vec::new(),
            needs: Vec::new(),
            unsupported: Vec::new(),
            origin: None,
            text: text.to_string(),
        },
        sticky: Buffer::Payload,
        last_content: None,
        vars: Vec::new(),
    };
    if let Some(app) = b.rule.app_proto.clone() {
        b.need(app_need(&app));
    }
    for (kw, v) in split_options(body)? {
        b.option(kw, v).map_err(|e| format!("{kw}: {e}"))?;
    }
    // `tcp-pkt` matches packets only and `tcp-stream` the reassembled stream only, as
    // `flow:no_stream` / `flow:only_stream` do (an explicit flow option takes precedence).
    if b.rule.flow.stream.is_none() {
        match parts[1].to_ascii_lowercase().as_str() {
            "tcp-pkt" => b.rule.flow.stream = Some(false),
            "tcp-stream" => b.rule.flow.stream = Some(true),
            _ => {}
        }
    }
    if b.rule.sid == 0 {
        return Err("rule has no sid".into());
    }
    Ok(b.rule)
}

/// Finds `sid:N` in rule text that failed to parse, for the error report.
pub fn sniff_sid(text: &str) -> Option<u32> {
    let idx = text.find("sid:")?;
    if idx > 0 && text.as_bytes()[idx - 1].is_ascii_alphanumeric() {
        return None;
    }
    let rest = text[idx + 4..].trim_start();
    let end = rest
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(rest.len());
    rest[..end].parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::detect::rules::keywords::{FlowintCmp, FlowintOp, FlowintValue};

    fn parse(s: &str) -> Result<Rule, String> {
        parse_rule(s, &Vars::suricata_defaults())
    }

    fn content(r: &Rule, i: usize) -> &Content {
        r.contents().nth(i).unwrap().1
    }

    #[test]
    fn basic_rule() {
        let r = parse(r#"alert tcp $EXTERNAL_NET any -> $HOME_NET 80 (msg:"A \"quoted\"\; msg"; flow:established,to_server; content:"GET"; nocase; depth:3; classtype:web-application-attack; priority:2; metadata:created_at 2020_01_01, signature_severity Major; reference:url,example.com; sid:1000; rev:3; gid:1;)"#).unwrap();
        assert_eq!(r.action, Action::Alert);
        assert_eq!(r.l4, L4::Tcp);
        assert_eq!(r.msg, "A \"quoted\"; msg");
        assert_eq!((r.gid, r.sid, r.rev), (1, 1000, 3));
        assert_eq!(r.flow.to_server, Some(true));
        assert_eq!(r.flow.established, Some(true));
        assert_eq!(r.priority, Some(2));
        assert_eq!(r.classtype.as_deref(), Some("web-application-attack"));
        assert_eq!(r.metadata[1], ("signature_severity".into(), "Major".into()));
        let c = content(&r, 0);
        assert!(c.nocase);
        assert_eq!(c.depth, Some(Value::Lit(3)));
        assert!(r.dport.contains(80) && !r.dport.contains(81));
        assert!(r.unsupported.is_empty());
    }

    #[test]
    fn every_content_modifier() {
        let r = parse(r#"alert tcp any any -> any any (content:"a"; offset:1; depth:5; content:!"b"; distance:2; within:4; content:"cd"; startswith; content:"ef"; endswith; fast_pattern; content:"ghij"; fast_pattern:1,2; rawbytes; content:"k"; fast_pattern:only; sid:1;)"#).unwrap();
        let c0 = content(&r, 0);
        assert_eq!(
            (c0.offset, c0.depth),
            (Some(Value::Lit(1)), Some(Value::Lit(5)))
        );
        let c1 = content(&r, 1);
        assert!(c1.negated && c1.is_relative());
        assert_eq!(
            (c1.distance, c1.within),
            (Some(Value::Lit(2)), Some(Value::Lit(4)))
        );
        assert!(content(&r, 2).startswith);
        assert!(content(&r, 3).endswith);
        assert_eq!(content(&r, 3).fast_pattern, FastPattern::Yes);
        assert_eq!(content(&r, 4).fast_pattern, FastPattern::Chop(1, 2));
        assert!(content(&r, 4).rawbytes);
        assert_eq!(content(&r, 5).fast_pattern, FastPattern::Only);
    }

    #[test]
    fn sticky_and_legacy_buffers() {
        let r = parse(r#"alert http any any -> any any (content:"x"; http_uri; http.host; content:"y"; pkt_data; content:"z"; sid:2;)"#).unwrap();
        assert_eq!(r.app_proto.as_deref(), Some("http"));
        let bufs: Vec<Buffer> = r.contents().map(|(b, _)| b).collect();
        assert_eq!(
            bufs,
            vec![
                Buffer::App("http.uri"),
                Buffer::App("http.host"),
                Buffer::Payload
            ]
        );
    }

    #[test]
    fn header_forms() {
        let r = parse("alert ip [10.0.0.0/8,!10.0.0.1] [1:1024] <> any !80 (sid:3;)").unwrap();
        assert!(r.bidirectional);
        assert_eq!(r.l4, L4::Any);
        assert!(parse("alert tcp any any <- any any (sid:1;)").is_err());
        assert!(parse("alert foo any any -> any any (sid:1;)").is_err());
        assert!(parse("hello tcp any any -> any any (sid:1;)").is_err());
        assert!(parse("alert tcp any any -> any (sid:1;)").is_err());
        assert!(parse("alert tcp any any -> any any sid:1;").is_err());
    }

    #[test]
    fn invalid_options_are_errors() {
        for bad in [
            r#"alert tcp any any -> any any (content:"a"; sid:0;)"#,
            r#"alert tcp any any -> any any (content:"a";)"#,
            r#"alert tcp any any -> any any (nocase; content:"a"; sid:1;)"#,
            r#"alert tcp any any -> any any (content:"abc"; depth:2; sid:1;)"#,
            r#"alert tcp any any -> any any (content:"abc"; within:2; sid:1;)"#,
            r#"alert tcp any any -> any any (content:"abc"; depth:4; distance:1; sid:1;)"#,
            r#"alert tcp any any -> any any (content:"abc"; startswith; offset:1; sid:1;)"#,
            r#"alert tcp any any -> any any (content:"abc"; fast_pattern:2,5; sid:1;)"#,
            r#"alert tcp any any -> any any (flow:to_server,to_client; sid:1;)"#,
            r#"alert tcp any any -> any any (bogus_keyword; sid:1;)"#,
            r#"alert tcp any any -> any any (content:"a"; sid:1; rev:x;)"#,
            r#"alert tcp any any -> any any (content:"a"; sid:1"#,
            r#"alert tcp any any -> any any (content:"a"; sid:1; msg:"x")"#,
        ] {
            assert!(parse(bad).is_err(), "accepted: {bad}");
        }
    }

    #[test]
    fn transform_values_keep_regex_escapes() {
        let r = parse(r#"alert dns any any -> any any (dns.query; pcrexform:"\\.([^\\.]+)$"; content:"xyz"; sid:1;)"#).unwrap();
        assert_eq!(
            r.transforms,
            vec![(
                Buffer::App("dns.query"),
                "pcrexform",
                Some(r"\.([^\.]+)$".to_string())
            )]
        );
        let r = parse(r#"alert http any any -> any any (http.request_line; pcrexform:"[a-z]+\s+(.*)\s+HTTP"; content:"/x"; sid:1;)"#).unwrap();
        assert_eq!(r.transforms[0].2.as_deref(), Some(r"[a-z]+\s+(.*)\s+HTTP"));
    }

    #[test]
    fn flowint_forms() {
        let r = parse(r#"alert tcp any any -> any any (flowint: a.b, +, 1; flowint:c,notset; flowint:a.b,>=,c; sid:1;)"#).unwrap();
        let ops: Vec<_> = r.flowints.iter().map(|f| (f.name.as_str(), f.op)).collect();
        assert_eq!(
            ops,
            [
                ("a.b", FlowintOp::Add),
                ("c", FlowintOp::NotSet),
                ("a.b", FlowintOp::Cmp(FlowintCmp::Ge))
            ]
        );
        assert_eq!(r.flowints[2].value, Some(FlowintValue::Var("c".into())));
        for bad in ["x", "x,+", "x,isset,1", "x,**,1", "x,=,1,2", ",=,1"] {
            let rule = format!("alert tcp any any -> any any (flowint:{bad}; sid:1;)");
            assert!(parse(&rule).is_err(), "accepted flowint:{bad}");
        }
    }

    #[test]
    fn unimplemented_keywords_are_listed_not_dropped() {
        let r =
            parse(r#"alert tcp any any -> any any (content:"a"; geoip:dst,RU; sid:1;)"#).unwrap();
        assert_eq!(r.unsupported, vec!["geoip"]);
    }

    #[test]
    fn needs_are_recorded() {
        let r = parse(r#"alert http any any -> any any (http.uri; content:"a"; dns.query; dotprefix; content:".x"; sid:1;)"#).unwrap();
        assert_eq!(r.needs, vec!["http parser", "dns parser"]);
        assert_eq!(
            r.transforms,
            vec![(Buffer::App("dns.query"), "dotprefix", None)]
        );
        let r = parse(r#"alert tcp any any -> any any (flow:only_stream; content:"a"; sid:1;)"#)
            .unwrap();
        assert!(r.needs.is_empty());
        assert!(parse(r#"alert tcp any any -> any any (content:"a"; dotprefix; sid:1;)"#).is_err());
    }

    #[test]
    fn byte_keywords_and_variables() {
        let r = parse(r#"alert tcp any any -> any any (content:"x"; byte_extract:2,0,len,relative,little; byte_test:2,>,len,2,relative; byte_jump:2,0,relative,multiplier 2,post_offset -1,from_beginning; byte_math:bytes 1, offset 0, oper +, rvalue len, result total, relative; isdataat:!total,relative; content:"y"; distance:len; sid:1;)"#).unwrap();
        let steps: Vec<&Inspect> = r.inspect.iter().map(|(_, i)| i).collect();
        let Inspect::ByteExtract(e) = steps[1] else {
            panic!()
        };
        assert_eq!(
            (e.ex.nbytes, e.ex.endian, e.var, e.ex.relative),
            (2, Endian::Little, 0, true)
        );
        let Inspect::ByteTest(t) = steps[2] else {
            panic!()
        };
        assert_eq!(
            (t.op, t.value, t.ex.offset),
            (ByteOp::Gt, Value::Var(0), Value::Lit(2))
        );
        let Inspect::ByteJump(j) = steps[3] else {
            panic!()
        };
        assert_eq!(
            (j.multiplier, j.post_offset, j.from_beginning),
            (2, -1, true)
        );
        let Inspect::ByteMath(m) = steps[4] else {
            panic!()
        };
        assert_eq!((m.op, m.rvalue, m.var), (MathOp::Add, Value::Var(0), 1));
        let Inspect::IsDataAt(d) = steps[5] else {
            panic!()
        };
        assert_eq!(
            (d.offset, d.negated, d.relative),
            (Value::Var(1), true, true)
        );
        let c = content(&r, 1);
        assert_eq!(c.distance, Some(Value::Var(0)));
        let r = parse(r#"alert tcp any any -> any any (byte_test:4,!&,0x80,0,string,hex; sid:1;)"#)
            .unwrap();
        let Inspect::ByteTest(t) = &r.inspect[0].1 else {
            panic!()
        };
        assert!(t.negated && t.op == ByteOp::And && t.ex.string == Some(Base::Hex));
        for bad in [
            "byte_test:2,>,nope,0;",
            "byte_test:9,>,1,0;",
            "byte_test:21,>,1,0,string,dec;",
            "byte_test:2,%,1,0;",
            "byte_jump:2;",
            "byte_extract:2,0,1bad;",
            "byte_math:bytes 1, offset 0, oper %, rvalue 1, result r;",
            "isdataat:1,sideways;",
        ] {
            assert!(
                parse(&format!("alert tcp any any -> any any ({bad} sid:1;)")).is_err(),
                "{bad}"
            );
        }
    }

    #[test]
    fn packet_keywords_flowbits_thresholds() {
        let r = parse(r#"alert tcp any any -> any any (dsize:>10; ttl:<5; flags:SA,12; window:!1024; seq:1; ack:2; sameip; ip_proto:!TCP; flowbits:set,a; flowbits:isnotset,b; flowbits:noalert; threshold:type limit, track by_src, count 1, seconds 60; sid:1;)"#).unwrap();
        assert_eq!(r.packet.len(), 8);
        assert_eq!(r.packet[0], PacketCond::Dsize(Cmp::Gt(10)));
        assert_eq!(r.packet[7], PacketCond::IpProto(Cmp::Ne(6)));
        assert_eq!(r.flowbits.len(), 2);
        assert!(r.noalert);
        assert!(r.threshold.is_some());
        let r = parse(r#"alert tcp any any -> any any (pcre:"/x/U"; sid:1;)"#).unwrap();
        assert_eq!(r.inspect[0].0, Buffer::App("http.uri"));
        assert_eq!(r.needs, vec!["http parser"]);
    }

    #[test]
    fn sid_sniffing() {
        assert_eq!(sniff_sid("alert x (msg:\"a\"; sid: 42; rev:1;)"), Some(42));
        assert_eq!(sniff_sid("alert x (msg:\"a\"; rev:1;)"), None);
    }
}
