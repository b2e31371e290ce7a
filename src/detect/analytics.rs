//! The sensor's own detections: behaviours that no single packet or rule shows, found from
//! what the parsers already decoded. Each analytic is one signature of the engine (its own
//! sid, generated as a rule flagged `external`, which the engine never matches itself), so
//! tuning, suppressions and thresholds address it like any rule; its alerts carry
//! `sekimori.analytic` with the figures behind the finding. Analytics are off unless the
//! config names them (`[analytics]`), so a Suricata rule set alone raises what Suricata does.
//!
//! - **`dns_tunnel`**: one host sends many distinct names under one registered domain, and
//!   those names carry data: the bytes of their subdomain labels (numeric labels left out,
//!   since reversed addresses are lookup keys of blocklists and reverse zones) add up past a
//!   threshold within a window, at `min_length` bytes per name or more on average (encoded
//!   data makes long labels; host names are short). Names under `arpa` and `local` are not counted. The
//!   registered domain is the last two labels, or three under a two-letter country code
//!   whose second level is three letters or fewer (`example.co.uk`). Distinct names are
//!   counted by linear counting in a 512-bit map per host and domain, so an entry has a
//!   fixed size whatever the host sends; bytes count once per newly seen name.
//! - **`admin_share_exec`**: a whole Windows executable (PE) crosses an administrative share
//!   (`C$`, `ADMIN$`, any `X$` except `IPC$`) over SMB: written by the client (pushed to the
//!   host, as remote service creation and PsExec-style tools do), or read to the end of the
//!   size the server announced (pulled from it). Both are the tool transfer step of lateral
//!   movement. A partial read, such as a file browser reading an executable's first bytes
//!   for its icon, is not counted.
//!
//! - **`beacon`**: an internal host (`$HOME_NET`) opens TCP sessions to one external
//!   server address and port at a steady interval: at least `min_sessions` within the
//!   window, their median interval at least `min_interval`, and the median absolute
//!   deviation of the intervals at most `max_jitter` of the median. Malware calling its
//!   controller on a timer, or reconnecting to it in a loop, does this; people do not.
//!   The latest 32 intervals are kept per pair.
//!
//! - **`exe_delivery`**: a Windows executable reaches an internal host from an external
//!   server by a way software vendors do not ship it: over HTTP from a server named by a
//!   bare IP address (or by no name at all), or as the first bytes of a TCP session that
//!   speaks no application protocol (a stager's second stage, as Metasploit sends it). The
//!   image is recognised by its DOS header pointing at a PE header (after a 4-byte length
//!   prefix on raw TCP too).
//! - **`auth_overflow`**: HTTP Basic credentials that cannot be a login: longer than
//!   `max_length` bytes encoded, or decoding to bytes that are not `user:password` text
//!   (control bytes, invalid UTF-8, no colon). Overflows in the Authorization header of web
//!   servers and appliances are exploited this way.
//! - **`tor`**: a TLS session from an internal host whose server certificate is a Tor relay's
//!   link certificate: subject `CN=www.<random>.net`, issuer `CN=www.<random>.com` (random
//!   base32 names, one per relay identity), and a `www.<random>.com` SNI when there is one.
//!   Tor from inside the network is a way out past the perimeter's controls, and a C2 and
//!   exfiltration channel of ransomware and RATs.
//! - **`ftp_upload`**: a file sent by an internal host to an external FTP server (STOR,
//!   APPE, STOU over the announced data connection, either mode), whole: data and the
//!   account's password both leave in cleartext. Information stealers exfiltrate this way.
//!
//! Analytics that speak of internal and external hosts use `$HOME_NET`.
//!
//! State is per worker. Workers are assigned by address pair (replay, autofp, and the
//! default fanout of live workers), so one client's queries to one resolver meet in one
//! worker. The host table is capped (`max_tracked`); when it is full, expired entries go
//! first and new hosts past the cap are counted, not tracked.

use std::collections::HashMap;
use std::hash::BuildHasher;
use std::io::Write;
use std::net::IpAddr;

use crate::applayer::{AppProto, Buf, TxRef};
use crate::common::json::{push_json_bytes, push_json_str};
use crate::common::time::Micros;

/// One analytic.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Analytic {
    /// Data carried in DNS query names.
    DnsTunnel,
    /// A whole executable copied over an administrative SMB share.
    AdminShareExec,
    /// An internal host opening TCP sessions to one external server at a steady interval.
    Beacon,
    /// An executable to an internal host from a bare-IP web server or over raw TCP.
    ExeDelivery,
    /// HTTP Basic credentials too long or binary to be a login.
    AuthOverflow,
    /// TLS with a Tor relay's link certificate, from an internal host.
    Tor,
    /// A file uploaded over cleartext FTP from an internal host to an external server.
    FtpUpload,
}

impl Analytic {
    /// Every analytic, in sid order.
    pub const ALL: [Analytic; 7] = [
        Analytic::DnsTunnel,
        Analytic::AdminShareExec,
        Analytic::Beacon,
        Analytic::ExeDelivery,
        Analytic::AuthOverflow,
        Analytic::Tor,
        Analytic::FtpUpload,
    ];

    /// The config and EVE name.
    pub fn name(self) -> &'static str {
        match self {
            Analytic::DnsTunnel => "dns_tunnel",
            Analytic::AdminShareExec => "admin_share_exec",
            Analytic::Beacon => "beacon",
            Analytic::ExeDelivery => "exe_delivery",
            Analytic::AuthOverflow => "auth_overflow",
            Analytic::Tor => "tor",
            Analytic::FtpUpload => "ftp_upload",
        }
    }

    /// Default sid (`9_200_001`...; the bundled rules use `9_000_001`..., intel lists
    /// `9_100_001`...).
    pub fn default_sid(self) -> u32 {
        match self {
            Analytic::DnsTunnel => 9_200_001,
            Analytic::AdminShareExec => 9_200_002,
            Analytic::Beacon => 9_200_003,
            Analytic::ExeDelivery => 9_200_004,
            Analytic::AuthOverflow => 9_200_005,
            Analytic::Tor => 9_200_006,
            Analytic::FtpUpload => 9_200_007,
        }
    }

    /// The signature's message, classtype and ET-style `signature_severity`.
    fn rule_parts(self) -> (&'static str, &'static str, &'static str) {
        match self {
            Analytic::DnsTunnel => (
                "SEKIMORI ANALYTICS DNS tunnel: data in many distinct names under one domain",
                "bad-unknown",
                "Major",
            ),
            Analytic::AdminShareExec => (
                "SEKIMORI ANALYTICS Executable copied over an administrative SMB share",
                "attempted-admin",
                "Major",
            ),
            Analytic::Beacon => (
                "SEKIMORI ANALYTICS Beacon: steady sessions from an internal host to one external server",
                "command-and-control",
                "Major",
            ),
            Analytic::ExeDelivery => (
                "SEKIMORI ANALYTICS Executable delivered to an internal host from a bare-IP web server or over raw TCP",
                "trojan-activity",
                "Major",
            ),
            Analytic::AuthOverflow => (
                "SEKIMORI ANALYTICS HTTP Basic credentials too long or binary to be a login (Authorization header overflow)",
                "attempted-admin",
                "Major",
            ),
            Analytic::Tor => (
                "SEKIMORI ANALYTICS Tor connection from an internal host (relay link certificate)",
                "policy-violation",
                "Major",
            ),
            Analytic::FtpUpload => (
                "SEKIMORI ANALYTICS File uploaded in cleartext FTP from an internal host to an external server",
                "policy-violation",
                "Major",
            ),
        }
    }
}

/// `dns_tunnel` thresholds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DnsTunnel {
    /// Window, seconds: counts start again when it has passed since the entry began.
    pub window: u32,
    /// Distinct names (estimated) under one domain within the window.
    pub min_names: u32,
    /// Bytes of non-numeric subdomain labels in those names.
    pub min_bytes: u32,
    /// Those bytes per distinct name, on average: encoded data makes long names, host
    /// names are short.
    pub min_length: u32,
}

impl Default for DnsTunnel {
    /// 10 minutes, 50 names, 2,000 bytes, 20 bytes per name.
    fn default() -> Self {
        DnsTunnel {
            window: 600,
            min_names: 50,
            min_bytes: 2000,
            min_length: 20,
        }
    }
}

/// `beacon` thresholds.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Beacon {
    /// Window, seconds: counts start again when it has passed since the entry began.
    pub window: u32,
    /// Sessions to the same server address and port within the window.
    pub min_sessions: u32,
    /// Shortest median interval between session starts, seconds (faster is a download or
    /// a retry storm, not a beacon).
    pub min_interval: f64,
    /// Largest median absolute deviation of the intervals, as a share of their median.
    pub max_jitter: f64,
}

impl Eq for Beacon {}

impl Default for Beacon {
    /// One hour, 20 sessions, at least 1 s apart, jitter at most 10%.
    fn default() -> Self {
        Beacon {
            window: 3600,
            min_sessions: 20,
            min_interval: 1.0,
            max_jitter: 0.1,
        }
    }
}

/// `auth_overflow` threshold.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AuthOverflow {
    /// Longest Basic credentials token (base64 bytes) taken for a login.
    pub max_length: u32,
}

impl Default for AuthOverflow {
    /// 1,024 bytes (768 decoded: far past any user name and password).
    fn default() -> Self {
        AuthOverflow { max_length: 1024 }
    }
}

/// The analytics the config turned on, with their sids.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Specs {
    /// On analytics and their sids.
    pub on: Vec<(Analytic, u32)>,
    /// `dns_tunnel` thresholds.
    pub dns: DnsTunnel,
    /// `beacon` thresholds.
    pub beacon: Beacon,
    /// `auth_overflow` threshold.
    pub auth: AuthOverflow,
    /// `$HOME_NET`: the internal hosts (beacons, deliveries, Tor and uploads start inside it).
    pub home: Option<crate::detect::rules::header::AddrSet>,
    /// Host-and-domain (and host-and-server) entries each worker tracks at most.
    pub max_tracked: usize,
}

impl Specs {
    /// The rule text of each analytic that is on: never matched by the engine; it gives
    /// the alerts their sid, message, classtype, priority and metadata.
    pub fn rules(&self) -> Vec<(Analytic, u32, String)> {
        self.on
            .iter()
            .map(|&(a, sid)| {
                let (msg, class, sev) = a.rule_parts();
                (
                    a,
                    sid,
                    format!(
                        "alert ip any any -> any any (msg:\"{msg}\"; classtype:{class}; \
                         priority:2; metadata:signature_severity {sev}, sekimori_analytic {}; \
                         sid:{sid}; rev:1;)",
                        a.name()
                    ),
                )
            })
            .collect()
    }
}

/// What an analytic found: its name and the figures behind it, as JSON members
/// (`"key":value,...`) for `sekimori.analytic`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Finding {
    /// The analytic.
    pub analytic: Analytic,
    /// JSON members describing the finding.
    pub detail: Vec<u8>,
}

/// Bits of the per-entry distinct-name map.
const MAP_BITS: usize = 512;

/// One host and registered domain under watch.
#[derive(Clone, Debug)]
struct Entry {
    /// Packet time the window began.
    start: Micros,
    /// Linear-counting map of the names seen.
    map: [u64; MAP_BITS / 64],
    /// Bytes of non-numeric subdomain labels of newly seen names.
    bytes: u32,
    /// Already raised in this window.
    fired: bool,
}

impl Entry {
    fn new(start: Micros) -> Entry {
        Entry {
            start,
            map: [0; MAP_BITS / 64],
            bytes: 0,
            fired: false,
        }
    }

    /// Distinct names so far, by linear counting: `-m ln(zero bits / m)`.
    fn names(&self) -> u32 {
        let ones: u32 = self.map.iter().map(|w| w.count_ones()).sum();
        let zeros = MAP_BITS as f64 - f64::from(ones);
        let m = MAP_BITS as f64;
        (-m * (zeros.max(0.5) / m).ln()).round() as u32
    }
}

/// A worker's analytics: the config, each analytic's engine index, and what it tracks.
pub struct Tracker {
    specs: std::sync::Arc<Specs>,
    /// Engine index of each analytic's signature (`u32::MAX`: none), in `Analytic::ALL`
    /// order.
    sigs: [u32; Analytic::ALL.len()],
    dns: HashMap<(IpAddr, u64), Entry, foldhash::fast::RandomState>,
    beacons: HashMap<(IpAddr, IpAddr, u16), Sessions, foldhash::fast::RandomState>,
    hasher: foldhash::fast::RandomState,
    /// Packet time of the last sweep of expired entries (DNS, beacons).
    swept: Micros,
    swept_beacons: Micros,
    /// New host-and-domain pairs not tracked because the table was full.
    pub untracked: u64,
}

impl Tracker {
    /// A tracker for `specs`; `index` gives the engine index of a sid's external signature.
    pub fn new(specs: std::sync::Arc<Specs>, index: impl Fn(u32) -> Option<u32>) -> Tracker {
        let mut t = Tracker {
            specs,
            sigs: [u32::MAX; Analytic::ALL.len()],
            dns: HashMap::default(),
            beacons: HashMap::default(),
            hasher: Default::default(),
            swept: 0,
            swept_beacons: 0,
            untracked: 0,
        };
        t.map(index);
        t
    }

    /// Maps the analytics to a (new) engine's signatures; what is tracked stays.
    pub fn map(&mut self, index: impl Fn(u32) -> Option<u32>) {
        for (i, a) in Analytic::ALL.into_iter().enumerate() {
            self.sigs[i] = self
                .specs
                .on
                .iter()
                .find(|(x, _)| *x == a)
                .and_then(|&(_, sid)| index(sid))
                .unwrap_or(u32::MAX);
        }
    }

    /// The settings it runs with.
    pub fn specs(&self) -> &std::sync::Arc<Specs> {
        &self.specs
    }

    fn sig(&self, a: Analytic) -> Option<u32> {
        let i = Analytic::ALL.iter().position(|&x| x == a)?;
        (self.sigs[i] != u32::MAX).then_some(self.sigs[i])
    }

    /// Whether `inner` is in `$HOME_NET` and `outer` is not.
    fn outbound(&self, inner: IpAddr, outer: IpAddr) -> bool {
        self.specs
            .home
            .as_ref()
            .is_some_and(|h| h.contains(inner) && !h.contains(outer))
    }

    /// Looks at one transaction of a flow from `client` to `server`, inspected for its
    /// direction to the server (`to_server`) or to the client; each finding is pushed with
    /// its signature's engine index. `done(idx)`: that signature already alerted on this
    /// transaction. A check runs on the direction that brings what it reads, so a long
    /// download does not rescan its request headers on every packet.
    pub fn on_tx(
        &mut self,
        tx: TxRef<'_>,
        (client, server): (IpAddr, IpAddr),
        to_server: bool,
        now: Micros,
        done: impl Fn(u32) -> bool,
        out: &mut Vec<(u32, Finding)>,
    ) {
        let sig = |a| self.sig(a).filter(|&i| !done(i));
        match tx.proto() {
            AppProto::Http if !to_server => {
                if let Some(idx) = sig(Analytic::ExeDelivery) {
                    if self.outbound(client, server) {
                        if let Some(f) = http_exe(tx, server) {
                            out.push((idx, f));
                        }
                    }
                }
            }
            AppProto::Http => {
                if let Some(idx) = sig(Analytic::AuthOverflow) {
                    if let Some(f) = auth_overflow(tx, self.specs.auth.max_length) {
                        out.push((idx, f));
                    }
                }
            }
            // The certificate comes from the server.
            AppProto::Tls if !to_server => {
                if let Some(idx) = sig(Analytic::Tor) {
                    if self.outbound(client, server) {
                        if let Some(f) = tor_link(tx, server) {
                            out.push((idx, f));
                        }
                    }
                }
            }
            AppProto::FtpData => {
                if let Some(idx) = sig(Analytic::FtpUpload) {
                    if let Some(f) = self.ftp_upload(tx, client, server) {
                        out.push((idx, f));
                    }
                }
            }
            AppProto::Dns | AppProto::Doh2 => {
                if let Some(idx) = self.sig(Analytic::DnsTunnel).filter(|&i| !done(i)) {
                    if tx.sent_by_client() {
                        self.dns_tx(tx, client, now, idx, out);
                    }
                }
            }
            AppProto::Smb => {
                if let Some(idx) = self.sig(Analytic::AdminShareExec).filter(|&i| !done(i)) {
                    if let Some(f) = admin_share_exec(tx) {
                        out.push((idx, f));
                    }
                }
            }
            _ => {}
        }
    }

    fn dns_tx(
        &mut self,
        tx: TxRef<'_>,
        client: IpAddr,
        now: Micros,
        idx: u32,
        out: &mut Vec<(u32, Finding)>,
    ) {
        let cfg = self.specs.dns;
        let window = i64::from(cfg.window) * 1_000_000;
        let mut found = None;
        tx.each(Buf::DnsQuery, true, &mut |name| {
            let Some((domain, payload)) = split_name(name) else {
                return false;
            };
            let key = (client, self.hasher.hash_one(domain));
            let room = Room {
                cap: self.specs.max_tracked,
                now,
                window,
            };
            if !room.admit(&mut self.dns, &key, &mut self.swept, |e| e.start) {
                self.untracked += 1;
                return false;
            }
            let e = self.dns.entry(key).or_insert_with(|| Entry::new(now));
            if now.saturating_sub(e.start) > window || now < e.start {
                *e = Entry::new(now);
            }
            let bit = (self.hasher.hash_one(name) % MAP_BITS as u64) as usize;
            let (w, b) = (bit / 64, 1u64 << (bit % 64));
            if e.map[w] & b == 0 {
                e.map[w] |= b;
                e.bytes = e.bytes.saturating_add(payload);
            }
            let names = e.names();
            let long = u64::from(e.bytes) >= u64::from(cfg.min_length) * u64::from(names);
            if !e.fired && names >= cfg.min_names && e.bytes >= cfg.min_bytes && long {
                e.fired = true;
                let mut detail = b"\"domain\":".to_vec();
                push_json_bytes(&mut detail, domain);
                let _ = write!(
                    detail,
                    ",\"names\":{names},\"bytes\":{},\"window\":{},\"example\":",
                    e.bytes, cfg.window
                );
                push_json_bytes(&mut detail, name);
                found = Some(detail);
                return true;
            }
            false
        });
        if let Some(detail) = found {
            out.push((
                idx,
                Finding {
                    analytic: Analytic::DnsTunnel,
                    detail,
                },
            ));
        }
    }
}

/// A capped table's room for a new entry at packet time `now`.
struct Room {
    cap: usize,
    now: Micros,
    /// Entries that began longer ago than this (microseconds) have expired.
    window: i64,
}

impl Room {
    /// Whether `key` is in `map` or fits: a full table drops its expired entries first, at
    /// most once a second of packet time (`swept`), so a full table of live entries costs
    /// no sweep per packet.
    fn admit<K: Eq + std::hash::Hash, V, S: BuildHasher>(
        &self,
        map: &mut HashMap<K, V, S>,
        key: &K,
        swept: &mut Micros,
        start: impl Fn(&V) -> Micros,
    ) -> bool {
        if map.len() < self.cap || map.contains_key(key) {
            return true;
        }
        if self.now.saturating_sub(*swept) >= 1_000_000 {
            *swept = self.now;
            map.retain(|_, v| self.now.saturating_sub(start(v)) <= self.window);
        }
        map.len() < self.cap
    }
}

/// Intervals kept per client and server for the beacon test.
const INTERVALS: usize = 32;

/// One internal client and external server under watch for beacons.
#[derive(Clone, Debug)]
struct Sessions {
    /// Packet time the window began.
    start: Micros,
    /// Start of the latest session.
    last: Micros,
    /// Sessions in the window.
    count: u32,
    /// The latest intervals between session starts, milliseconds (a ring).
    gaps: [u32; INTERVALS],
    /// Already raised in this window.
    fired: bool,
}

impl Sessions {
    fn new(now: Micros) -> Sessions {
        Sessions {
            start: now,
            last: now,
            count: 1,
            gaps: [0; INTERVALS],
            fired: false,
        }
    }

    /// Median interval and median absolute deviation of the kept intervals, seconds.
    fn spread(&self) -> (f64, f64) {
        let n = (self.count as usize - 1).min(INTERVALS);
        let mut g = self.gaps;
        let g = &mut g[..n];
        g.sort_unstable();
        let med = f64::from(g[n / 2]) / 1000.0;
        for x in g.iter_mut() {
            *x = (i64::from(*x) - (med * 1000.0) as i64).unsigned_abs() as u32;
        }
        g.sort_unstable();
        (med, f64::from(g[n / 2]) / 1000.0)
    }
}

impl Tracker {
    /// Looks at the first packet of a TCP session from `client` to `server`: a beacon is
    /// raised (with its signature's engine index) when the sessions between them have come
    /// at a steady interval. Only sessions from `$HOME_NET` to outside it are counted.
    pub fn on_session(
        &mut self,
        client: IpAddr,
        server: (IpAddr, u16),
        now: Micros,
    ) -> Option<(u32, Finding)> {
        let idx = self.sig(Analytic::Beacon)?;
        let home = self.specs.home.as_ref()?;
        if !home.contains(client) || home.contains(server.0) {
            return None;
        }
        let cfg = self.specs.beacon;
        let window = i64::from(cfg.window) * 1_000_000;
        let key = (client, server.0, server.1);
        let room = Room {
            cap: self.specs.max_tracked,
            now,
            window,
        };
        if !room.admit(&mut self.beacons, &key, &mut self.swept_beacons, |e| {
            e.start
        }) {
            self.untracked += 1;
            return None;
        }
        let e = match self.beacons.entry(key) {
            std::collections::hash_map::Entry::Vacant(v) => {
                v.insert(Sessions::new(now));
                return None;
            }
            std::collections::hash_map::Entry::Occupied(o) => o.into_mut(),
        };
        if now.saturating_sub(e.start) > window || now < e.last {
            *e = Sessions::new(now);
            return None;
        }
        let gap = ((now - e.last) / 1000).clamp(0, i64::from(u32::MAX)) as u32;
        e.gaps[(e.count as usize - 1) % INTERVALS] = gap;
        e.count += 1;
        e.last = now;
        if e.fired || e.count < cfg.min_sessions.max(3) {
            return None;
        }
        let (med, mad) = e.spread();
        if med < cfg.min_interval || mad > cfg.max_jitter * med {
            return None;
        }
        e.fired = true;
        let mut detail = Vec::new();
        let _ = write!(
            detail,
            "\"server\":\"{}\",\"port\":{},\"sessions\":{},\"interval\":{med:.3},\"jitter\":{mad:.3},\"span\":{}",
            server.0,
            server.1,
            e.count,
            (now - e.start) / 1_000_000
        );
        Some((
            idx,
            Finding {
                analytic: Analytic::Beacon,
                detail,
            },
        ))
    }
}

impl Tracker {
    /// Looks at the start of a TCP session's data from its server, once per session: called
    /// when the bytes the server sent first, `data` (from stream offset 0), grow from
    /// `before` bytes, while the session has no application protocol. An executable image
    /// there, sent from an external server to an internal client, is a delivery.
    pub fn on_raw_start(
        &self,
        client: IpAddr,
        server: (IpAddr, u16),
        data: &[u8],
        before: usize,
    ) -> Option<(u32, Finding)> {
        let idx = self.sig(Analytic::ExeDelivery)?;
        if !self.outbound(client, server.0) {
            return None;
        }
        // Raised once: when the PE header first lies within what was released.
        let (at, end) = pe_header(data)?;
        if end <= before {
            return None;
        }
        let mut detail = Vec::new();
        let _ = write!(
            detail,
            "\"via\":\"tcp\",\"server\":\"{}\",\"port\":{},\"offset\":{at}",
            server.0, server.1
        );
        Some((
            idx,
            Finding {
                analytic: Analytic::ExeDelivery,
                detail,
            },
        ))
    }

    /// A whole file sent by an internal host to an external FTP server on this data
    /// connection.
    fn ftp_upload(&self, tx: TxRef<'_>, client: IpAddr, server: IpAddr) -> Option<Finding> {
        let f = tx.files().first()?;
        if f.state != crate::applayer::files::FileState::Closed || f.size == 0 {
            return None;
        }
        // Active mode: the FTP server opened the data connection, so the sender of a STOR
        // is the flow's server.
        let (from, to) = if f.to_server {
            (client, server)
        } else {
            (server, client)
        };
        if !self.outbound(from, to) {
            return None;
        }
        let mut command = None;
        tx.each(Buf::FtpDataCommand, true, &mut |c| {
            let upload = [&b"STOR"[..], b"APPE", b"STOU"]
                .iter()
                .any(|u| c.eq_ignore_ascii_case(u));
            command = upload.then(|| String::from_utf8_lossy(c).to_ascii_uppercase());
            true
        });
        let command = command?;
        let mut detail = Vec::new();
        let _ = write!(
            detail,
            "\"server\":\"{to}\",\"command\":\"{command}\",\"filename\":"
        );
        push_json_bytes(&mut detail, &f.name);
        let _ = write!(detail, ",\"size\":{}", f.size);
        Some(Finding {
            analytic: Analytic::FtpUpload,
            detail,
        })
    }
}

/// Where a PE image starts in `data` (at 0, or after a 4-byte length prefix) and where its
/// PE header ends: a DOS header (`MZ`) whose `e_lfanew` points at `PE\0\0`.
fn pe_header(data: &[u8]) -> Option<(usize, usize)> {
    [0usize, 4].into_iter().find_map(|at| {
        let d = data.get(at..)?;
        if !d.starts_with(b"MZ") {
            return None;
        }
        let lfanew = u32::from_le_bytes(d.get(0x3c..0x40)?.try_into().ok()?) as usize;
        // The DOS header is 64 bytes; real images put the PE header within the first KiB
        // or so.
        if !(0x40..=0x1000).contains(&lfanew) {
            return None;
        }
        (d.get(lfanew..lfanew + 4)? == b"PE\0\0").then_some((at, at + lfanew + 4))
    })
}

/// An executable sent to the client of this HTTP transaction by a server named by a bare
/// IP address, or by no name.
fn http_exe(tx: TxRef<'_>, server: IpAddr) -> Option<Finding> {
    let (f, magic) = tx
        .files()
        .iter()
        .filter(|f| !f.to_server)
        .find_map(|f| f.magic().filter(|m| m.starts_with("PE32")).map(|m| (f, m)))?;
    let mut named = false;
    tx.each(Buf::HttpHost, true, &mut |h| {
        let h = h
            .strip_prefix(b"[")
            .and_then(|h| h.strip_suffix(b"]"))
            .unwrap_or(h);
        named = std::str::from_utf8(h).map_or(true, |h| h.parse::<IpAddr>().is_err());
        true
    });
    if named {
        return None;
    }
    let mut detail = Vec::new();
    let _ = write!(
        detail,
        "\"via\":\"http\",\"server\":\"{server}\",\"filename\":"
    );
    push_json_bytes(&mut detail, &f.name);
    detail.extend_from_slice(b",\"magic\":");
    push_json_str(&mut detail, magic);
    Some(Finding {
        analytic: Analytic::ExeDelivery,
        detail,
    })
}

/// Basic credentials in this HTTP request that cannot be a login: an encoded token longer
/// than `max_length`, or one decoding to something other than `user:password` text.
fn auth_overflow(tx: TxRef<'_>, max_length: u32) -> Option<Finding> {
    let mut found = None;
    tx.each(Buf::HttpRequestHeader, true, &mut |field| {
        let Some(colon) = memchr::memchr(b':', field) else {
            return false;
        };
        if !field[..colon]
            .trim_ascii()
            .eq_ignore_ascii_case(b"authorization")
        {
            return false;
        }
        let value = field[colon + 1..].trim_ascii();
        let Some(token) = value
            .get(..6)
            .filter(|s| s.eq_ignore_ascii_case(b"basic "))
            .map(|_| value[6..].trim_ascii())
        else {
            return false;
        };
        let reason = if token.len() > max_length as usize {
            "oversized"
        } else if !credentials_text(token) {
            "binary"
        } else {
            return false;
        };
        found = Some((reason, token.len()));
        true
    });
    let (reason, length) = found?;
    let mut detail = Vec::new();
    let _ = write!(
        detail,
        "\"reason\":\"{reason}\",\"length\":{length},\"max_length\":{max_length}"
    );
    Some(Finding {
        analytic: Analytic::AuthOverflow,
        detail,
    })
}

/// Whether a base64 Basic token (at most 1,024 bytes) decodes to `user:password` text: a
/// colon, valid UTF-8, no control bytes. An undecodable token is left alone (a broken
/// client, not an exploit), unless it is oversized.
fn credentials_text(token: &[u8]) -> bool {
    let mut buf = [0u8; 768];
    let (mut acc, mut n, mut len) = (0u32, 0u32, 0usize);
    for &b in token {
        let v = match b {
            b'A'..=b'Z' => b - b'A',
            b'a'..=b'z' => b - b'a' + 26,
            b'0'..=b'9' => b - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            b'=' => break,
            _ => return true,
        };
        acc = (acc << 6) | u32::from(v);
        n += 1;
        if n == 4 {
            if len + 3 > buf.len() {
                return false;
            }
            buf[len..len + 3].copy_from_slice(&acc.to_be_bytes()[1..]);
            (acc, n, len) = (0, 0, len + 3);
        }
    }
    let tail: &[u8] = match n {
        2 => &[(acc >> 4) as u8],
        3 => &((acc >> 2) as u16).to_be_bytes(),
        _ => &[],
    };
    if len + tail.len() > buf.len() {
        return false;
    }
    buf[len..len + tail.len()].copy_from_slice(tail);
    let d = &buf[..len + tail.len()];
    d.contains(&b':') && std::str::from_utf8(d).is_ok() && !d.iter().any(|&c| c < 0x20 || c == 0x7f)
}

/// A Tor relay's link certificate on this TLS handshake (from an internal client).
fn tor_link(tx: TxRef<'_>, server: IpAddr) -> Option<Finding> {
    fn random(name: &[u8], tld: &[u8], lens: std::ops::RangeInclusive<usize>) -> bool {
        name.strip_prefix(b"www.")
            .and_then(|n| n.strip_suffix(tld))
            .is_some_and(|l| {
                lens.contains(&l.len()) && l.iter().all(|c| matches!(c, b'a'..=b'z' | b'2'..=b'7'))
            })
    }
    // Tested in place: nothing is copied unless the handshake is Tor's.
    let test = |b: Buf, to_server: bool, ok: &dyn Fn(&[u8]) -> bool| {
        let mut r = false;
        tx.each(b, to_server, &mut |x| {
            r = ok(x);
            true
        })
        .map(|_| r)
    };
    let cn = |dn: &[u8], tld: &[u8]| {
        dn.strip_prefix(b"CN=")
            .is_some_and(|n| random(n, tld, 8..=20))
    };
    if test(Buf::TlsCertSubject, false, &|s| cn(s, b".net")) != Some(true)
        || test(Buf::TlsCertIssuer, false, &|i| cn(i, b".com")) != Some(true)
        || test(Buf::TlsSni, true, &|n| random(n, b".com", 4..=25)) == Some(false)
    {
        return None;
    }
    let mut detail = Vec::new();
    let _ = write!(detail, "\"server\":\"{server}\"");
    for (b, to_server, key) in [
        (Buf::TlsCertSubject, false, "subject"),
        (Buf::TlsCertIssuer, false, "issuer"),
        (Buf::TlsSni, true, "sni"),
    ] {
        tx.each(b, to_server, &mut |x| {
            let _ = write!(detail, ",\"{key}\":");
            push_json_bytes(&mut detail, x);
            true
        });
    }
    Some(Finding {
        analytic: Analytic::Tor,
        detail,
    })
}

/// The registered domain of a query name and the bytes of its non-numeric subdomain labels;
/// None for names without a subdomain, reverse (`arpa`) and link-local (`local`) names.
fn split_name(name: &[u8]) -> Option<(&[u8], u32)> {
    let name = name.strip_suffix(b".").unwrap_or(name);
    let mut labels = name.rsplit(|&c| c == b'.');
    let tld = labels.next()?;
    if tld.eq_ignore_ascii_case(b"arpa") || tld.eq_ignore_ascii_case(b"local") {
        return None;
    }
    let second = labels.next()?;
    let mut dlen = tld.len() + 1 + second.len();
    if tld.len() == 2 && second.len() <= 3 {
        dlen += 1 + labels.next()?.len();
    }
    let (mut any, mut payload) = (false, 0u32);
    for l in labels {
        any = true;
        if !l.iter().all(u8::is_ascii_digit) {
            payload += l.len() as u32;
        }
    }
    (any && payload > 0).then(|| (&name[name.len() - dlen..], payload))
}

/// A whole executable copied over an administrative share on this SMB transaction.
fn admin_share_exec(tx: TxRef<'_>) -> Option<Finding> {
    // A whole copy: written, or read to the end the create announced (a read of the first
    // bytes, as Explorer does for icons and versions, is not). The files are checked first:
    // most SMB transactions carry none, and nothing is copied until one qualifies.
    let whole = |f: &&crate::applayer::files::File| {
        f.state == crate::applayer::files::FileState::Closed
            && !f.gaps
            && (f.to_server || tx.announced_size().is_some_and(|n| n > 0 && f.size >= n))
    };
    let (f, magic) = tx
        .files()
        .iter()
        .filter(whole)
        .find_map(|f| f.magic().filter(|m| m.starts_with("PE32")).map(|m| (f, m)))?;
    let mut detail = None;
    tx.each(Buf::SmbTreeShare, true, &mut |share| {
        let last = share.rsplit(|&c| c == b'\\').next().unwrap_or(&[]);
        if last.len() >= 2 && last.ends_with(b"$") && !last.eq_ignore_ascii_case(b"IPC$") {
            let mut d = b"\"share\":".to_vec();
            push_json_bytes(&mut d, share);
            detail = Some(d);
        }
        true
    });
    let mut detail = detail?;
    detail.extend_from_slice(b",\"filename\":");
    push_json_bytes(&mut detail, &f.name);
    let way = if f.to_server { "written" } else { "read" };
    let _ = write!(detail, ",\"size\":{},\"direction\":\"{way}\"", f.size);
    detail.extend_from_slice(b",\"magic\":");
    push_json_str(&mut detail, magic);
    Some(Finding {
        analytic: Analytic::AdminShareExec,
        detail,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_split_into_registered_domain_and_payload() {
        assert_eq!(
            split_name(b"abcd.ef.pirate.sea."),
            Some((&b"pirate.sea"[..], 6))
        );
        assert_eq!(
            split_name(b"x1.mail.example.co.uk"),
            Some((&b"example.co.uk"[..], 6))
        );
        // Reversed addresses are keys, not payload; reverse zones and mDNS are skipped.
        assert_eq!(
            split_name(b"4.3.2.1.zen.spamhaus.org"),
            Some((&b"spamhaus.org"[..], 3))
        );
        assert_eq!(split_name(b"4.3.2.1.spamhaus.org"), None);
        assert_eq!(split_name(b"4.3.2.1.in-addr.arpa"), None);
        assert_eq!(split_name(b"printer._ipp._tcp.local"), None);
        assert_eq!(split_name(b"example.com"), None);
    }

    fn beacon_tracker(max_tracked: usize) -> Tracker {
        let vars = crate::detect::rules::header::Vars::default();
        let specs = Specs {
            on: vec![(Analytic::Beacon, 9)],
            home: Some(crate::detect::rules::header::parse_addr("10.0.0.0/8", &vars).unwrap()),
            max_tracked,
            ..Specs::default()
        };
        Tracker::new(std::sync::Arc::new(specs), |sid| (sid == 9).then_some(0))
    }

    #[test]
    fn beacon_fires_once_on_steady_sessions_and_the_table_is_capped() {
        let c: IpAddr = "10.0.0.5".parse().unwrap();
        let s: IpAddr = "198.51.100.7".parse().unwrap();
        let mut t = beacon_tracker(2);
        let mut fired = Vec::new();
        for i in 0..30i64 {
            // 60 s apart, every third one 2 s late.
            let at = i * 60_000_000 + if i % 3 == 0 { 2_000_000 } else { 0 };
            if let Some((idx, f)) = t.on_session(c, (s, 443), at) {
                fired.push((i, idx, f));
            }
        }
        assert_eq!(fired.len(), 1);
        assert_eq!(fired[0].0, 19, "raised at the 20th session");
        let text = String::from_utf8(fired[0].2.detail.clone()).unwrap();
        assert!(text.contains("\"sessions\":20"), "{text}");
        // Outbound only; a third pair does not fit a table of two and is counted.
        assert!(t
            .on_session(s, ("10.0.0.9".parse().unwrap(), 443), 0)
            .is_none());
        t.on_session(c, ("198.51.100.8".parse().unwrap(), 443), 0);
        t.on_session(c, ("198.51.100.9".parse().unwrap(), 443), 0);
        assert_eq!(t.untracked, 1);
        assert_eq!(t.beacons.len(), 2);
    }

    #[test]
    fn credentials_and_pe_headers_are_read_within_bounds() {
        // "alice:s3cret", and the longest token taken for a login (768 bytes decoded).
        assert!(credentials_text(b"YWxpY2U6czNjcmV0"));
        assert!(
            !credentials_text(&[b'A'; 1024]),
            "768 zero bytes are binary"
        );
        assert!(
            !credentials_text(&[b'Q'; 1100]),
            "past the buffer: not a login"
        );
        assert!(credentials_text(b"no*base64"), "undecodable: left alone");
        let mut image = vec![0u8; 0x200];
        image[..2].copy_from_slice(b"MZ");
        image[0x3c..0x40].copy_from_slice(&0x80u32.to_le_bytes());
        image[0x80..0x84].copy_from_slice(b"PE\0\0");
        assert_eq!(pe_header(&image), Some((0, 0x84)));
        let prefixed = [&[0u8, 2, 0, 0][..], &image].concat();
        assert_eq!(pe_header(&prefixed), Some((4, 0x88)));
        assert_eq!(pe_header(&image[..0x82]), None, "header not yet in");
        assert_eq!(pe_header(&image[..0x30]), None);
        image[0x3c..0x40].copy_from_slice(&u32::MAX.to_le_bytes());
        assert_eq!(pe_header(&image), None);
    }

    #[test]
    fn linear_counting_tracks_distinct_names() {
        let mut e = Entry::new(0);
        let h = foldhash::fast::RandomState::default();
        for i in 0..100u32 {
            let bit = (h.hash_one(i) % MAP_BITS as u64) as usize;
            e.map[bit / 64] |= 1 << (bit % 64);
        }
        let n = e.names();
        assert!((85..=115).contains(&n), "estimate {n} for 100 names");
        assert_eq!(Entry::new(0).names(), 0);
    }
}
