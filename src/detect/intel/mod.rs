//! Threat intelligence the sensor matches by itself: IOC lists (`[[intel]]` in the config)
//! and IP reputation (Suricata's `iprep` files), held in a [`Store`] that the control side
//! updates at runtime and every worker reads without locking.
//!
//! A list has one kind of indicator. The sensor looks each kind up where it appears:
//! addresses on every packet's two ends (once per flow and list update), domains in DNS
//! queries and CNAME chains, HTTP hosts, TLS SNI and SMTP envelopes, URLs in HTTP requests, file hashes on finished files,
//! JA3/JA4 fingerprints on TLS client hellos. Each list is one signature of the engine
//! (its own sid), so thresholds, suppressions and tuning apply to it like to any rule, and
//! its hits are alerts that name the list and the indicator.
//!
//! List files hold one indicator per line, or CSV lines `value,confidence,expires` (a
//! header line naming the columns may reorder them; other columns are ignored). `#` starts
//! a comment. `expires` is Unix seconds or an RFC 3339 UTC date; an expired indicator stops
//! matching on its own. A line that does not parse fails the whole file with its
//! `file:line`, and the list keeps what it had.

pub mod iprep;
mod store;

use std::collections::HashMap;
use std::net::IpAddr;
use std::path::PathBuf;

pub use store::{ListStats, Snapshot, Store};

/// Hasher of the indicator tables (randomly seeded per process).
type Hasher = foldhash::fast::RandomState;

/// Longest indicator accepted (domains are at most 253 bytes; URLs are the long ones).
pub const MAX_INDICATOR: usize = 2048;

/// Most `[[intel]]` lists (each list's per-flow "alerted" mark is one bit of a u64).
pub const MAX_LISTS: usize = 64;

/// What a list holds, and so where the sensor looks its indicators up.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// IPv4/IPv6 addresses and CIDR networks: either end of a packet.
    Ip,
    /// Domains: DNS queries and CNAME chains, HTTP hosts, TLS SNI, SMTP envelope addresses
    /// (and their subdomains, unless the list says `subdomains = false`).
    Domain,
    /// URLs (`host/path?query`, scheme optional): HTTP requests.
    Url,
    /// File MD5 digests.
    Md5,
    /// File SHA-1 digests.
    Sha1,
    /// File SHA-256 digests.
    Sha256,
    /// JA3 client fingerprints (MD5 hex).
    Ja3,
    /// JA3S server fingerprints (MD5 hex).
    Ja3s,
    /// JA4 client fingerprints.
    Ja4,
}

impl Kind {
    /// Parses a config name.
    pub fn parse(s: &str) -> Option<Kind> {
        Some(match s.trim().to_ascii_lowercase().as_str() {
            "ip" | "ipv4" | "ipv6" | "cidr" | "address" => Kind::Ip,
            "domain" | "fqdn" | "hostname" => Kind::Domain,
            "url" | "uri" => Kind::Url,
            "md5" => Kind::Md5,
            "sha1" => Kind::Sha1,
            "sha256" => Kind::Sha256,
            "ja3" => Kind::Ja3,
            "ja3s" => Kind::Ja3s,
            "ja4" => Kind::Ja4,
            _ => return None,
        })
    }

    /// The name EVE and stats use.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Ip => "ip",
            Kind::Domain => "domain",
            Kind::Url => "url",
            Kind::Md5 => "md5",
            Kind::Sha1 => "sha1",
            Kind::Sha256 => "sha256",
            Kind::Ja3 => "ja3",
            Kind::Ja3s => "ja3s",
            Kind::Ja4 => "ja4",
        }
    }

    /// The file digest the parsers must compute for this kind
    /// ([`crate::applayer::files::hash`] bits), 0 for other kinds.
    pub fn file_hash(self) -> u8 {
        use crate::applayer::files::hash;
        match self {
            Kind::Md5 => hash::MD5,
            Kind::Sha1 => hash::SHA1,
            Kind::Sha256 => hash::SHA256,
            _ => 0,
        }
    }
}

/// What a hit on a list does.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ListAction {
    /// Alert.
    #[default]
    Alert,
    /// Alert and, inline, drop the packet and the rest of its flow.
    Drop,
}

/// One `[[intel]]` list, as the config defines it.
#[derive(Clone, Debug)]
pub struct ListSpec {
    /// Name (`ctl intel add NAME ...`, EVE `sekimori.intel.list`).
    pub name: String,
    /// Indicator kind.
    pub kind: Kind,
    /// The list file, if any (a list may start empty and be filled by `ctl intel add`).
    pub file: Option<PathBuf>,
    /// The signature id its alerts carry.
    pub sid: u32,
    /// The alerts' `signature` (default: `SEKIMORI INTEL <name> (<kind>)`).
    pub msg: String,
    /// Rule priority (1 Critical .. 4 Informational), so the tuning layer starts there.
    pub priority: u8,
    /// Classtype, which gives the category and the incident type.
    pub classtype: String,
    /// Alert or drop.
    pub action: ListAction,
    /// Indicators below this confidence (0-100) do not match.
    pub min_confidence: u8,
    /// Domain lists: a listed domain also matches its subdomains.
    pub subdomains: bool,
    /// Where the list's runtime adds and removals are kept, so they survive a restart.
    pub state: Option<PathBuf>,
}

impl ListSpec {
    /// A list with the config's defaults: no file, Serious, malware (`command-and-control`),
    /// alert, every confidence, subdomains, no state file.
    pub fn new(name: &str, kind: Kind, sid: u32) -> ListSpec {
        ListSpec {
            name: name.to_string(),
            kind,
            file: None,
            sid,
            msg: format!("SEKIMORI INTEL {name} ({})", kind.name()),
            priority: 2,
            classtype: "command-and-control".into(),
            action: ListAction::Alert,
            min_confidence: 0,
            subdomains: true,
            state: None,
        }
    }

    /// The rule the engine carries for this list: it never matches traffic by itself (the
    /// worker raises it on a hit); it gives the list's alerts their sid, message,
    /// classtype, priority and action, and lets tuning and thresholds address them.
    pub fn rule_text(&self) -> String {
        let action = match self.action {
            ListAction::Alert => "alert",
            ListAction::Drop => "drop",
        };
        let msg = self.msg.replace(['"', ';', '\\'], " ");
        format!(
            "{action} ip any any -> any any (msg:\"{msg}\"; classtype:{}; priority:{}; \
             metadata:sekimori_intel {}; sid:{}; rev:1;)",
            self.classtype,
            self.priority,
            self.name.replace([',', ';', ' '], "_"),
            self.sid
        )
    }
}

/// What the sensor keeps per indicator.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Meta {
    /// Confidence 0-100 (100 when the list does not say).
    pub confidence: u8,
    /// Expiry, Unix seconds (0: never).
    pub expires: u32,
}

impl Meta {
    /// Whether the indicator is still valid at `now` (Unix seconds).
    #[inline]
    pub fn live(self, now: u32) -> bool {
        self.expires == 0 || now < self.expires
    }
}

/// A normalised indicator: the table key.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Key {
    /// An address or network: IPv6-mapped address masked to `prefix` bits (0-128).
    Net(u128, u8),
    /// Any other kind: normalised bytes.
    Bytes(Box<[u8]>),
}

impl Key {
    /// The indicator as logged: `10.0.0.0/8`, `203.0.113.7`, a domain, a hex digest.
    pub fn display(&self, kind: Kind) -> String {
        match self {
            Key::Net(a, p) => {
                let v6 = std::net::Ipv6Addr::from(*a);
                match v6.to_ipv4_mapped() {
                    Some(v4) if *p >= 96 => {
                        if *p == 128 {
                            v4.to_string()
                        } else {
                            format!("{v4}/{}", p - 96)
                        }
                    }
                    _ if *p == 128 => v6.to_string(),
                    _ => format!("{v6}/{p}"),
                }
            }
            Key::Bytes(b) => match kind {
                Kind::Md5 | Kind::Sha1 | Kind::Sha256 => {
                    b.iter().map(|x| format!("{x:02x}")).collect()
                }
                _ => String::from_utf8_lossy(b).into_owned(),
            },
        }
    }
}

/// An address in the IPv6-mapped space the tables use.
#[inline]
pub fn addr_bits(a: IpAddr) -> u128 {
    match a {
        IpAddr::V4(v4) => u128::from(v4.to_ipv6_mapped()),
        IpAddr::V6(v6) => u128::from(v6),
    }
}

/// The IPv4 address of an IPv4-mapped one.
#[inline]
fn v4_of(a: u128) -> Option<u32> {
    (a >> 32 == 0xffff).then_some(a as u32)
}

#[inline]
fn mask(a: u128, prefix: u8) -> u128 {
    match prefix {
        0 => 0,
        p if p >= 128 => a,
        p => a & !(u128::MAX >> p),
    }
}

/// The indicators of one list (or one runtime overlay).
#[derive(Clone, Debug, Default)]
pub struct Entries {
    /// Exact values (every kind but networks).
    bytes: HashMap<Box<[u8]>, Meta, Hasher>,
    /// Single IPv4 addresses (4-byte keys: a third of the memory of mapped ones).
    addrs4: HashMap<u32, Meta, Hasher>,
    /// Single IPv6 addresses.
    addrs: HashMap<u128, Meta, Hasher>,
    /// Networks, by prefix length (longest first).
    nets: Vec<(u8, HashMap<u128, Meta, Hasher>)>,
    /// Earliest expiry of any entry (0: none expires).
    pub next_expiry: u32,
    /// Heap bytes of the `bytes` keys (kept as they change: stats read it often).
    key_bytes: usize,
}

impl Entries {
    /// Number of indicators.
    pub fn len(&self) -> usize {
        self.bytes.len()
            + self.addrs4.len()
            + self.addrs.len()
            + self.nets.iter().map(|n| n.1.len()).sum::<usize>()
    }

    /// Makes room for `n` indicators of `kind` (one allocation instead of a doubling series:
    /// a big list loads without peaks of twice its size).
    fn reserve(&mut self, kind: Kind, n: usize) {
        match kind {
            Kind::Ip => self.addrs4.reserve(n),
            _ => self.bytes.reserve(n),
        }
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Adds (or replaces) an indicator.
    pub fn insert(&mut self, key: Key, meta: Meta) {
        if meta.expires != 0 && (self.next_expiry == 0 || meta.expires < self.next_expiry) {
            self.next_expiry = meta.expires;
        }
        match key {
            Key::Bytes(b) => {
                let n = b.len().max(8);
                if self.bytes.insert(b, meta).is_none() {
                    self.key_bytes += n;
                }
            }
            Key::Net(a, 128) => match v4_of(a) {
                Some(v4) => {
                    self.addrs4.insert(v4, meta);
                }
                None => {
                    self.addrs.insert(a, meta);
                }
            },
            Key::Net(a, p) => {
                let i = match self.nets.iter().position(|n| n.0 == p) {
                    Some(i) => i,
                    None => {
                        self.nets.push((p, HashMap::default()));
                        self.nets.sort_by_key(|n| std::cmp::Reverse(n.0));
                        self.nets.iter().position(|n| n.0 == p).unwrap_or(0)
                    }
                };
                self.nets[i].1.insert(mask(a, p), meta);
            }
        }
    }

    /// Removes an indicator; whether it was there.
    pub fn remove(&mut self, key: &Key) -> bool {
        match key {
            Key::Bytes(b) => {
                let gone = self.bytes.remove(b).is_some();
                if gone {
                    self.key_bytes -= b.len().max(8);
                }
                gone
            }
            Key::Net(a, 128) => match v4_of(*a) {
                Some(v4) => self.addrs4.remove(&v4).is_some(),
                None => self.addrs.remove(a).is_some(),
            },
            Key::Net(a, p) => self
                .nets
                .iter_mut()
                .find(|n| n.0 == *p)
                .is_some_and(|n| n.1.remove(&mask(*a, *p)).is_some()),
        }
    }

    /// Whether the exact indicator is there.
    pub fn contains(&self, key: &Key) -> bool {
        self.get(key).is_some()
    }

    fn get(&self, key: &Key) -> Option<Meta> {
        match key {
            Key::Bytes(b) => self.bytes.get(b).copied(),
            Key::Net(a, 128) => match v4_of(*a) {
                Some(v4) => self.addrs4.get(&v4).copied(),
                None => self.addrs.get(a).copied(),
            },
            Key::Net(a, p) => self
                .nets
                .iter()
                .find(|n| n.0 == *p)
                .and_then(|n| n.1.get(&mask(*a, *p)).copied()),
        }
    }

    /// The most specific entry covering address `a`: (prefix, meta).
    #[inline]
    pub fn find_addr(&self, a: u128) -> Option<(u8, Meta)> {
        let exact = match v4_of(a) {
            Some(v4) => self.addrs4.get(&v4),
            None => self.addrs.get(&a),
        };
        if let Some(m) = exact {
            return Some((128, *m));
        }
        self.nets
            .iter()
            .find_map(|(p, t)| t.get(&mask(a, *p)).map(|m| (*p, *m)))
    }

    /// The entry for exact bytes.
    #[inline]
    pub fn find_bytes(&self, b: &[u8]) -> Option<Meta> {
        self.bytes.get(b).copied()
    }

    /// Drops entries expired at `now`; returns how many.
    pub fn purge(&mut self, now: u32) -> usize {
        let before = self.len();
        self.bytes.retain(|_, m| m.live(now));
        self.key_bytes = self.bytes.keys().map(|k| k.len().max(8)).sum();
        self.addrs4.retain(|_, m| m.live(now));
        self.addrs.retain(|_, m| m.live(now));
        for n in &mut self.nets {
            n.1.retain(|_, m| m.live(now));
        }
        self.nets.retain(|n| !n.1.is_empty());
        self.next_expiry = self
            .bytes
            .values()
            .chain(self.addrs4.values())
            .chain(self.addrs.values())
            .chain(self.nets.iter().flat_map(|n| n.1.values()))
            .filter(|m| m.expires != 0)
            .map(|m| m.expires)
            .min()
            .unwrap_or(0);
        before - self.len()
    }

    /// Every entry, for saving and listing.
    pub fn iter(&self) -> impl Iterator<Item = (Key, Meta)> + '_ {
        self.bytes
            .iter()
            .map(|(b, m)| (Key::Bytes(b.clone()), *m))
            .chain(
                self.addrs4
                    .iter()
                    .map(|(a, m)| (Key::Net(addr_bits(IpAddr::from(a.to_be_bytes())), 128), *m)),
            )
            .chain(self.addrs.iter().map(|(a, m)| (Key::Net(*a, 128), *m)))
            .chain(
                self.nets
                    .iter()
                    .flat_map(|(p, t)| t.iter().map(move |(a, m)| (Key::Net(*a, *p), *m))),
            )
    }

    /// Heap bytes the tables hold (estimated from their capacity).
    pub fn heap_bytes(&self) -> usize {
        // hashbrown: one control byte per bucket plus the (key, value) slot.
        let slot = |kv: usize, cap: usize| cap * 8 / 7 * (kv + 1);
        slot(
            std::mem::size_of::<(Box<[u8]>, Meta)>(),
            self.bytes.capacity(),
        ) + self.key_bytes
            + slot(std::mem::size_of::<(u32, Meta)>(), self.addrs4.capacity())
            + slot(std::mem::size_of::<(u128, Meta)>(), self.addrs.capacity())
            + self
                .nets
                .iter()
                .map(|n| slot(std::mem::size_of::<(u128, Meta)>(), n.1.capacity()))
                .sum::<usize>()
    }
}

/// Lower-cases ASCII and drops a trailing dot: the form domains are compared in.
fn norm_domain(s: &str) -> Result<Vec<u8>, String> {
    let d = s.trim().trim_end_matches('.').to_ascii_lowercase();
    let d = d.strip_prefix("*.").unwrap_or(&d);
    if d.is_empty() || d.len() > 253 {
        return Err("not a domain (empty or longer than 253 bytes)".into());
    }
    if d.bytes()
        .any(|b| b.is_ascii_whitespace() || b"/:@?#,\"".contains(&b))
    {
        return Err(format!("'{d}' is not a domain"));
    }
    Ok(d.as_bytes().to_vec())
}

/// `host/path?query` with the host lower-cased, the scheme, a default port and a fragment
/// dropped: the form URLs are compared in.
fn norm_url(s: &str) -> Result<Vec<u8>, String> {
    let mut u = s.trim();
    for scheme in ["http://", "https://"] {
        // `get`: the text may hold multi-byte characters where the scheme would end.
        if u.get(..scheme.len())
            .is_some_and(|p| p.eq_ignore_ascii_case(scheme))
        {
            u = &u[scheme.len()..];
        }
    }
    let u = u.split('#').next().unwrap_or("");
    let (host, path) = match u.find('/') {
        Some(i) => (&u[..i], &u[i..]),
        None => (u, "/"),
    };
    let host = host
        .strip_suffix(":80")
        .or_else(|| host.strip_suffix(":443"))
        .unwrap_or(host);
    if host.is_empty() || host.bytes().any(|b| b.is_ascii_whitespace()) {
        return Err(format!("'{s}' is not a URL (host/path)"));
    }
    let mut out = host.to_ascii_lowercase().into_bytes();
    out.extend_from_slice(path.as_bytes());
    if out.len() > MAX_INDICATOR {
        return Err(format!("URL longer than {MAX_INDICATOR} bytes"));
    }
    Ok(out)
}

fn hex_digest(s: &str, len: usize, what: &str) -> Result<Vec<u8>, String> {
    let s = s.trim();
    match crate::detect::dataset::unhex(s) {
        Some(b) if b.len() == len => Ok(b),
        _ => Err(format!("'{s}' is not a {what} ({} hex digits)", len * 2)),
    }
}

/// Parses one indicator of `kind` into its key.
pub fn parse_value(kind: Kind, s: &str) -> Result<Key, String> {
    let s = s.trim();
    if s.is_empty() {
        return Err("empty indicator".into());
    }
    if s.len() > MAX_INDICATOR {
        return Err(format!("indicator longer than {MAX_INDICATOR} bytes"));
    }
    let bytes = |v: Vec<u8>| Key::Bytes(v.into_boxed_slice());
    Ok(match kind {
        Kind::Ip => {
            if let Ok(a) = s.parse::<IpAddr>() {
                Key::Net(addr_bits(a), 128)
            } else {
                let n: ipnet::IpNet = s
                    .parse()
                    .map_err(|_| format!("'{s}' is not an address or CIDR network"))?;
                let p = match n {
                    ipnet::IpNet::V4(_) => n.prefix_len() + 96,
                    ipnet::IpNet::V6(_) => n.prefix_len(),
                };
                Key::Net(mask(addr_bits(n.network()), p), p)
            }
        }
        Kind::Domain => bytes(norm_domain(s)?),
        Kind::Url => bytes(norm_url(s)?),
        Kind::Md5 => bytes(hex_digest(s, 16, "MD5")?),
        Kind::Sha1 => bytes(hex_digest(s, 20, "SHA-1")?),
        Kind::Sha256 => bytes(hex_digest(s, 32, "SHA-256")?),
        Kind::Ja3 | Kind::Ja3s => {
            hex_digest(s, 16, "JA3 hash")?;
            bytes(s.to_ascii_lowercase().into_bytes())
        }
        Kind::Ja4 => {
            let ok = s.len() >= 10
                && s.split('_').count() == 3
                && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
            if !ok {
                return Err(format!("'{s}' is not a JA4 fingerprint (a_b_c)"));
            }
            bytes(s.to_ascii_lowercase().into_bytes())
        }
    })
}

/// Parses an expiry: Unix seconds, `YYYY-MM-DD` or RFC 3339 (`2026-12-31T23:59:59Z`).
pub fn parse_expiry(s: &str) -> Result<u32, String> {
    let s = s.trim();
    if s.is_empty() {
        return Ok(0);
    }
    if let Ok(n) = s.parse::<u32>() {
        return Ok(n);
    }
    let full = if s.len() == 10 {
        format!("{s}T00:00:00")
    } else {
        s.to_string()
    };
    crate::common::time::parse_timestamp(&full)
        .and_then(|us| u32::try_from(us.div_euclid(1_000_000)).ok())
        .ok_or_else(|| format!("'{s}' is not an expiry (Unix seconds or YYYY-MM-DD[THH:MM:SSZ])"))
}

/// Splits a CSV line into fields (double quotes protect commas; `""` is a quote).
fn csv_fields(line: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '"' if quoted && chars.peek() == Some(&'"') => {
                cur.push('"');
                chars.next();
            }
            '"' => quoted = !quoted,
            ',' if !quoted => out.push(std::mem::take(&mut cur)),
            c => cur.push(c),
        }
    }
    out.push(cur);
    out
}

/// Column positions of a list file.
#[derive(Clone, Copy)]
struct Columns {
    value: usize,
    confidence: Option<usize>,
    expires: Option<usize>,
}

impl Columns {
    const POSITIONAL: Columns = Columns {
        value: 0,
        confidence: Some(1),
        expires: Some(2),
    };

    /// Reads a header line; None when the line is data.
    fn header(fields: &[String]) -> Option<Columns> {
        let name = |f: &String| f.trim().to_ascii_lowercase();
        let pos = |names: &[&str]| {
            fields
                .iter()
                .position(|f| names.contains(&name(f).as_str()))
        };
        let value = pos(&["value", "indicator", "ioc"])?;
        Some(Columns {
            value,
            confidence: pos(&["confidence", "score"]),
            expires: pos(&["expires", "expiry", "valid_until", "expiration"]),
        })
    }
}

/// Parses a list file's text. Errors name `path:line` (the first 10 of them, and how many
/// lines failed in all).
pub fn parse_list(kind: Kind, path: &str, text: &str) -> Result<Entries, (String, usize)> {
    let mut entries = Entries::default();
    entries.reserve(
        kind,
        memchr::memchr_iter(b'\n', text.as_bytes()).count() + 1,
    );
    let mut errors = Vec::new();
    let mut failed = 0;
    let mut cols: Option<Columns> = None;
    for (i, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let fields = csv_fields(line);
        let c = match cols {
            Some(c) => c,
            None => {
                // The first data line may be a header.
                let h = Columns::header(&fields);
                cols = Some(h.unwrap_or(Columns::POSITIONAL));
                if h.is_some() {
                    continue;
                }
                Columns::POSITIONAL
            }
        };
        let field = |i: Option<usize>| i.and_then(|i| fields.get(i)).map(|f| f.trim());
        let parsed = (|| {
            let key = parse_value(kind, field(Some(c.value)).unwrap_or(""))?;
            let confidence = match field(c.confidence).filter(|f| !f.is_empty()) {
                None => 100,
                Some(f) => f
                    .parse::<u8>()
                    .ok()
                    .filter(|v| *v <= 100)
                    .ok_or_else(|| format!("confidence '{f}' is not 0-100"))?,
            };
            let expires = parse_expiry(field(c.expires).unwrap_or(""))?;
            Ok::<_, String>((
                key,
                Meta {
                    confidence,
                    expires,
                },
            ))
        })();
        match parsed {
            Ok((k, m)) => entries.insert(k, m),
            Err(e) => {
                failed += 1;
                if errors.len() < 10 {
                    errors.push(format!("{path}:{}: {e}", i + 1));
                }
            }
        }
    }
    if failed > 0 {
        let more = if failed > errors.len() {
            format!("\n({failed} lines failed in all)")
        } else {
            String::new()
        };
        return Err((format!("{}{more}", errors.join("\n")), failed));
    }
    Ok(entries)
}

/// An indicator hit: which list, what matched.
#[derive(Clone, Debug)]
pub struct Hit {
    /// List index in the store.
    pub list: usize,
    /// The listed indicator that matched (`10.0.0.0/8`, `evil.example`).
    pub indicator: String,
    /// Where it matched (`dest_ip`, `dns.query`, `http.host`, `tls.sni`, `http.url`,
    /// `file.sha256`, `ja3.hash`...).
    pub field: &'static str,
    /// The value seen there, when it differs from the indicator (a subdomain, an address
    /// inside a listed network).
    pub seen: Option<String>,
    /// The indicator's confidence.
    pub confidence: u8,
}

#[cfg(test)]
mod tests;
