//! The intel [`Store`]: immutable [`Snapshot`]s published to the workers, and the control
//! side that builds the next one (file loads, `ctl intel add|remove`, expiry).
//!
//! A snapshot holds, per list, the indicators of its file (shared, rebuilt only when the file
//! changes) and two small runtime tables: what `ctl intel add` added and what `ctl intel
//! remove` took out of the file's set. An update copies only those small tables, so with a
//! million indicators loaded it still publishes in microseconds. Workers compare the store's
//! generation (one atomic load per packet) and take the new snapshot when it moved, so every
//! worker switches between two packets, all lists at once.

use std::net::IpAddr;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::SystemTime;

use super::iprep::{RepConfig, Reputation};
use super::{addr_bits, mask, parse_list, parse_value, Entries, Hit, Key, Kind, ListSpec, Meta};
use crate::applayer::{Buf, TxRef};

/// Per-list counters, kept across snapshots and reloads.
#[derive(Debug, Default)]
struct Counters {
    hits: AtomicU64,
    rejects: AtomicU64,
    expired: AtomicU64,
    /// Unix seconds of the last change that took effect.
    updated: AtomicU64,
}

/// One list in a snapshot.
#[derive(Clone, Debug)]
pub struct ListView {
    /// The list's definition.
    pub spec: Arc<ListSpec>,
    base: Arc<Entries>,
    adds: Arc<Entries>,
    removed: Arc<Entries>,
    counters: Arc<Counters>,
}

impl ListView {
    fn new(spec: Arc<ListSpec>, base: Entries) -> ListView {
        ListView {
            spec,
            base: Arc::new(base),
            adds: Default::default(),
            removed: Default::default(),
            counters: Default::default(),
        }
    }

    fn usable(&self, m: Meta, now: u32) -> bool {
        m.live(now) && m.confidence >= self.spec.min_confidence
    }

    /// The listed network or address covering `a`, with its metadata.
    #[inline]
    fn lookup_addr(&self, a: u128, now: u32) -> Option<(Key, Meta)> {
        if !self.adds.is_empty() {
            if let Some((p, m)) = self.adds.find_addr(a).filter(|x| self.usable(x.1, now)) {
                return Some((Key::Net(mask(a, p), p), m));
            }
        }
        let (p, m) = self.base.find_addr(a).filter(|x| self.usable(x.1, now))?;
        let key = Key::Net(mask(a, p), p);
        (self.removed.is_empty() || !self.removed.contains(&key)).then_some((key, m))
    }

    #[inline]
    fn lookup_bytes(&self, b: &[u8], now: u32) -> Option<Meta> {
        if let Some(m) = self.adds.find_bytes(b).filter(|m| self.usable(*m, now)) {
            return Some(m);
        }
        let m = self.base.find_bytes(b).filter(|m| self.usable(*m, now))?;
        (self.removed.is_empty() || self.removed.find_bytes(b).is_none()).then_some(m)
    }

    /// A domain and, when the list allows, its parent domains; the listed one that matched.
    fn lookup_domain<'a>(&self, d: &'a [u8], now: u32) -> Option<(&'a [u8], Meta)> {
        let mut rest = d;
        loop {
            if let Some(m) = self.lookup_bytes(rest, now) {
                return Some((rest, m));
            }
            if !self.spec.subdomains {
                return None;
            }
            let dot = memchr::memchr(b'.', rest)?;
            rest = &rest[dot + 1..];
        }
    }

    fn indicators(&self) -> usize {
        self.base.len() + self.adds.len() - self.removed.len().min(self.base.len())
    }
}

/// What the workers read: every list and the IP reputation, as of one update.
#[derive(Debug, Default)]
pub struct Snapshot {
    /// Bumped by every published change.
    pub generation: u64,
    lists: Vec<ListView>,
    /// IP reputation (`iprep`).
    pub rep: Arc<Reputation>,
    /// Whether any list holds addresses (packets need a lookup).
    has_ip: bool,
    /// Whether any list looks at transactions.
    has_tx: bool,
}

/// Lower-cases a domain into `buf` (dropping a trailing dot); None when it does not fit.
fn lower<'a>(d: &[u8], buf: &'a mut [u8; 256]) -> Option<&'a [u8]> {
    let d = d.strip_suffix(b".").unwrap_or(d);
    let out = buf.get_mut(..d.len())?;
    for (o, b) in out.iter_mut().zip(d) {
        *o = b.to_ascii_lowercase();
    }
    Some(out)
}

fn digest_hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

impl Snapshot {
    /// The lists, in config order.
    pub fn lists(&self) -> impl Iterator<Item = &ListSpec> {
        self.lists.iter().map(|l| &*l.spec)
    }

    /// Whether any list holds addresses.
    #[inline]
    pub fn has_ip(&self) -> bool {
        self.has_ip
    }

    /// Whether any list is matched on transactions.
    #[inline]
    pub fn has_tx(&self) -> bool {
        self.has_tx
    }

    /// Counts a hit that became an alert.
    pub fn count_hit(&self, list: usize) {
        if let Some(l) = self.lists.get(list) {
            l.counters.hits.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Address lists that hold `dst` or `src` (destination first): at most one hit per
    /// list. `skip(list)`: lists not to report (already alerted on the flow).
    pub fn match_addrs(
        &self,
        src: IpAddr,
        dst: IpAddr,
        now: u32,
        skip: impl Fn(usize) -> bool,
        out: &mut Vec<Hit>,
    ) {
        if !self.has_ip {
            return;
        }
        let (s, d) = (addr_bits(src), addr_bits(dst));
        for (i, l) in self.lists.iter().enumerate() {
            if l.spec.kind != Kind::Ip || skip(i) {
                continue;
            }
            let found = l
                .lookup_addr(d, now)
                .map(|x| (x, "dest_ip", dst))
                .or_else(|| l.lookup_addr(s, now).map(|x| (x, "src_ip", src)));
            if let Some(((key, m), field, addr)) = found {
                let indicator = key.display(Kind::Ip);
                let seen = addr.to_string();
                out.push(Hit {
                    list: i,
                    seen: (seen != indicator).then_some(seen),
                    indicator,
                    field,
                    confidence: m.confidence,
                });
            }
        }
    }

    /// Lists matching what transaction `tx` carries: domains (DNS query, HTTP host, TLS SNI),
    /// URLs (HTTP host + URI), fingerprints (JA3/JA3S/JA4) and digests of its finished files.
    /// At most one hit per list; `skip(list)` leaves out lists that already alerted on it.
    pub fn match_tx(
        &self,
        tx: TxRef<'_>,
        now: u32,
        skip: impl Fn(usize) -> bool,
        out: &mut Vec<Hit>,
    ) {
        if !self.has_tx {
            return;
        }
        for (i, l) in self.lists.iter().enumerate() {
            if l.spec.kind == Kind::Ip || skip(i) {
                continue;
            }
            let hit = match l.spec.kind {
                Kind::Domain => domain_hit(l, tx, now),
                Kind::Url => url_hit(l, tx, now),
                Kind::Ja3 | Kind::Ja3s | Kind::Ja4 => {
                    let (b, field) = match l.spec.kind {
                        Kind::Ja3 => (Buf::Ja3Hash, "ja3.hash"),
                        Kind::Ja3s => (Buf::Ja3sHash, "ja3s.hash"),
                        _ => (Buf::Ja4Hash, "ja4.hash"),
                    };
                    let mut found = None;
                    let to_server = l.spec.kind != Kind::Ja3s;
                    tx.each(b, to_server, &mut |v| {
                        let mut buf = [0u8; 256];
                        found = lower(v, &mut buf)
                            .and_then(|v| l.lookup_bytes(v, now).map(|m| (v.to_vec(), m)));
                        found.is_some()
                    });
                    found.map(|(v, m)| (String::from_utf8_lossy(&v).into_owned(), None, field, m))
                }
                Kind::Md5 | Kind::Sha1 | Kind::Sha256 => tx.files().iter().find_map(|f| {
                    let (digest, field): (Option<&[u8]>, _) = match l.spec.kind {
                        Kind::Md5 => (f.md5.as_ref().map(|d| &d[..]), "file.md5"),
                        Kind::Sha1 => (f.sha1.as_ref().map(|d| &d[..]), "file.sha1"),
                        _ => (f.sha256.as_ref().map(|d| &d[..]), "file.sha256"),
                    };
                    let d = digest?;
                    l.lookup_bytes(d, now)
                        .map(|m| (digest_hex(d), None, field, m))
                }),
                Kind::Ip => None,
            };
            if let Some((indicator, seen, field, m)) = hit {
                out.push(Hit {
                    list: i,
                    indicator,
                    field,
                    seen,
                    confidence: m.confidence,
                });
            }
        }
    }
}

type TxHit = (String, Option<String>, &'static str, Meta);

/// The domain of a mail address as SMTP carries it (`<user@Evil.Example> SIZE=10`).
fn mail_domain(v: &[u8]) -> &[u8] {
    let end = v
        .iter()
        .position(|&b| b == b'>' || b.is_ascii_whitespace())
        .unwrap_or(v.len());
    let v = &v[..end];
    match memchr::memrchr(b'@', v) {
        Some(at) => &v[at + 1..],
        None => &[],
    }
}

/// Where domains appear: the buffer, its field name, and whether it holds mail addresses.
const DOMAIN_FIELDS: [(Buf, &str, bool); 6] = [
    (Buf::DnsQuery, "dns.query", false),
    (Buf::DnsAnswersRrname, "dns.answers.rrname", false),
    (Buf::HttpHost, "http.host", false),
    (Buf::TlsSni, "tls.sni", false),
    (Buf::SmtpMailFrom, "smtp.mail_from", true),
    (Buf::SmtpRcptTo, "smtp.rcpt_to", true),
];

fn domain_hit(l: &ListView, tx: TxRef<'_>, now: u32) -> Option<TxHit> {
    let mut found = None;
    for (b, field, mail) in DOMAIN_FIELDS {
        tx.each(b, true, &mut |v| {
            let v = if mail { mail_domain(v) } else { v };
            let mut buf = [0u8; 256];
            let Some(d) = lower(v, &mut buf).filter(|d| !d.is_empty()) else {
                return false;
            };
            let Some((listed, m)) = l.lookup_domain(d, now) else {
                return false;
            };
            // A response's answer for the name it was asked (the request alerted on that):
            // only the other names of a CNAME chain count. Checked on a hit only, so a
            // response's records cost one lookup each.
            if b == Buf::DnsAnswersRrname
                && tx.each(Buf::DnsQueriesRrname, true, &mut |q| {
                    q.eq_ignore_ascii_case(d)
                }) == Some(true)
            {
                return false;
            }
            let listed = String::from_utf8_lossy(listed).into_owned();
            let seen = (listed.len() != d.len()).then(|| String::from_utf8_lossy(d).into());
            found = Some((listed, seen, field, m));
            true
        });
        if found.is_some() {
            break;
        }
    }
    found
}

fn url_hit(l: &ListView, tx: TxRef<'_>, now: u32) -> Option<TxHit> {
    let mut host = [0u8; 256];
    let mut hlen = None;
    tx.each(Buf::HttpHost, true, &mut |v| {
        hlen = lower(v, &mut host).map(<[u8]>::len);
        true
    });
    let hlen = hlen?;
    let mut found = None;
    tx.each(Buf::HttpUri, true, &mut |uri| {
        let mut url = [0u8; super::MAX_INDICATOR];
        let total = hlen + uri.len();
        if total > url.len() {
            return false;
        }
        url[..hlen].copy_from_slice(&host[..hlen]);
        url[hlen..total].copy_from_slice(uri);
        let full = &url[..total];
        let no_query = memchr::memchr(b'?', uri).map(|q| &url[..hlen + q]);
        let hit = l
            .lookup_bytes(full, now)
            .map(|m| (full, m))
            .or_else(|| no_query.and_then(|u| l.lookup_bytes(u, now).map(|m| (u, m))));
        if let Some((u, m)) = hit {
            let listed = String::from_utf8_lossy(u).into_owned();
            let seen = (u.len() != total).then(|| String::from_utf8_lossy(full).into());
            found = Some((listed, seen, "http.url", m));
        }
        found.is_some()
    });
    found
}

/// Figures for one list (`ctl intel stats`, EVE stats, metrics).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ListStats {
    /// List name.
    pub name: String,
    /// Indicator kind.
    pub kind: &'static str,
    /// Indicators in force (file plus runtime adds, minus runtime removals).
    pub indicators: usize,
    /// Of those, added at runtime.
    pub runtime_adds: usize,
    /// Hits that became alerts.
    pub hits: u64,
    /// Lines and values rejected (malformed file lines, bad `ctl intel add` values).
    pub rejects: u64,
    /// Indicators dropped because they expired.
    pub expired: u64,
    /// Unix seconds of the last change that took effect (0: never since start).
    pub updated: u64,
    /// Estimated heap bytes of its tables.
    pub bytes: usize,
}

/// A watched file's identity: modification time and length.
type Stamp = Option<(SystemTime, u64)>;

fn stamp(p: &Path) -> Stamp {
    let m = std::fs::metadata(p).ok()?;
    Some((m.modified().ok()?, m.len()))
}

/// Control-side state (one writer at a time).
#[derive(Debug, Default)]
struct Writer {
    /// Per list: its file's stamp when last loaded.
    stamps: Vec<Stamp>,
    rep: Option<RepConfig>,
    rep_stamps: Vec<Stamp>,
    /// When file tables were last purged (Unix seconds).
    base_purged_at: u32,
}

/// Seconds between purges of a file's table: rebuilding a million-entry table every second
/// for entries that expire one by one would cost more than the memory it frees (expired
/// entries stop matching at their expiry whatever this says).
const BASE_PURGE_EVERY: u32 = 60;

/// The intel the sensor runs with: published snapshots plus the control side.
#[derive(Debug, Default)]
pub struct Store {
    generation: AtomicU64,
    current: RwLock<Arc<Snapshot>>,
    writer: Mutex<Writer>,
}

fn wall_secs() -> u32 {
    (crate::common::time::now_micros() / 1_000_000).clamp(0, u32::MAX as i64) as u32
}

/// Reads a list's runtime state: `+value[,expires]` (added) and `-value` (removed) lines.
fn load_state(spec: &ListSpec, path: &Path) -> Result<(Entries, Entries), String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("intel list {}: {}: {e}", spec.name, path.display()))?;
    let (mut adds, mut removed) = (Entries::default(), Entries::default());
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let bad = |e: String| {
            format!(
                "intel list {}: {}:{}: {e}",
                spec.name,
                path.display(),
                i + 1
            )
        };
        if let Some(rest) = line.strip_prefix('+') {
            let (value, expires) = rest.rsplit_once(',').unwrap_or((rest, ""));
            let key = parse_value(spec.kind, value).map_err(bad)?;
            let expires = super::parse_expiry(expires).map_err(bad)?;
            let meta = Meta {
                confidence: 100,
                expires,
            };
            adds.insert(key, meta);
        } else if let Some(value) = line.strip_prefix('-') {
            removed.insert(parse_value(spec.kind, value).map_err(bad)?, Meta::default());
        } else {
            return Err(bad("a state line starts with + or -".into()));
        }
    }
    Ok((adds, removed))
}

/// Writes a list's runtime adds and removals to its state file (temporary file, then
/// rename); a list without one keeps them in memory only.
fn save_state(v: &ListView) -> Result<(), String> {
    let Some(path) = &v.spec.state else {
        return Ok(());
    };
    let mut text = String::from("# runtime changes of this intel list (sekimori ctl intel)\n");
    for (k, m) in v.adds.iter() {
        text.push('+');
        text.push_str(&k.display(v.spec.kind));
        if m.expires != 0 {
            text.push_str(&format!(",{}", m.expires));
        }
        text.push('\n');
    }
    for (k, _) in v.removed.iter() {
        text.push('-');
        text.push_str(&k.display(v.spec.kind));
        text.push('\n');
    }
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, text)
        .and_then(|()| std::fs::rename(&tmp, path))
        .map_err(|e| format!("intel list {}: state {}: {e}", v.spec.name, path.display()))
}

fn load_file(spec: &ListSpec, path: &Path) -> Result<Entries, (String, usize)> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        (
            format!("intel list {}: {}: {e}", spec.name, path.display()),
            0,
        )
    })?;
    parse_list(spec.kind, &path.display().to_string(), &text)
        .map_err(|(e, n)| (format!("intel list {}: {e}", spec.name), n))
}

impl Store {
    /// Loads every list file and the reputation files. Any error fails the load (each
    /// names its `file:line`).
    pub fn open(specs: Vec<ListSpec>, rep: Option<RepConfig>) -> Result<Store, String> {
        let store = Store::default();
        store.configure(specs, rep)?;
        Ok(store)
    }

    /// Sets the lists (a config reload): files are read again; a list that keeps its name
    /// keeps its runtime adds, removals and counters. On any error nothing changes.
    pub fn configure(&self, specs: Vec<ListSpec>, rep: Option<RepConfig>) -> Result<(), String> {
        if specs.len() > super::MAX_LISTS {
            return Err(format!(
                "{} intel lists: at most {} are supported",
                specs.len(),
                super::MAX_LISTS
            ));
        }
        let mut w = self.writer.lock().unwrap_or_else(|p| p.into_inner());
        let old = self.snapshot();
        let mut lists = Vec::with_capacity(specs.len());
        let mut stamps = Vec::with_capacity(specs.len());
        let mut errors = Vec::new();
        for spec in specs {
            let spec = Arc::new(spec);
            let st = spec.file.as_deref().and_then(stamp);
            let base = match spec.file.as_deref() {
                Some(p) => match load_file(&spec, p) {
                    Ok(e) => e,
                    Err((e, _)) => {
                        errors.push(e);
                        continue;
                    }
                },
                None => Entries::default(),
            };
            let mut view = ListView::new(spec.clone(), base);
            match old.lists.iter().find(|l| l.spec.name == spec.name) {
                Some(prev) => {
                    if prev.spec.kind == spec.kind {
                        view.adds = prev.adds.clone();
                        view.removed = prev.removed.clone();
                    }
                    view.counters = prev.counters.clone();
                }
                // A list starting: what `ctl` added or removed before a restart.
                None => {
                    if let Some(p) = spec.state.as_deref().filter(|p| p.exists()) {
                        match load_state(&spec, p) {
                            Ok((adds, removed)) => {
                                view.adds = Arc::new(adds);
                                view.removed = Arc::new(removed);
                            }
                            Err(e) => {
                                errors.push(e);
                                continue;
                            }
                        }
                    }
                }
            }
            view.counters
                .updated
                .store(wall_secs().into(), Ordering::Relaxed);
            lists.push(view);
            stamps.push(st);
        }
        let reputation = match &rep {
            Some(r) => match Reputation::load(r) {
                Ok(x) => Arc::new(x),
                Err(e) => {
                    errors.push(e);
                    Arc::default()
                }
            },
            None => Arc::default(),
        };
        if !errors.is_empty() {
            return Err(errors.join("\n"));
        }
        w.rep_stamps = rep.as_ref().map(RepConfig::stamps).unwrap_or_default();
        w.rep = rep;
        w.stamps = stamps;
        self.publish(lists, reputation);
        Ok(())
    }

    /// The current snapshot.
    pub fn snapshot(&self) -> Arc<Snapshot> {
        self.current
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// The generation of the current snapshot (one atomic load: workers poll it).
    #[inline]
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    fn publish(&self, lists: Vec<ListView>, rep: Arc<Reputation>) {
        let generation = self.generation.load(Ordering::Relaxed) + 1;
        let snap = Snapshot {
            generation,
            has_ip: lists.iter().any(|l| l.spec.kind == Kind::Ip),
            has_tx: lists.iter().any(|l| l.spec.kind != Kind::Ip),
            lists,
            rep,
        };
        *self.current.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(snap);
        self.generation.store(generation, Ordering::Release);
    }

    fn index_of(snap: &Snapshot, name: &str) -> Result<usize, String> {
        snap.lists
            .iter()
            .position(|l| l.spec.name == name)
            .ok_or_else(|| {
                let names: Vec<&str> = snap.lists.iter().map(|l| l.spec.name.as_str()).collect();
                format!("no intel list '{name}' (lists: {})", names.join(", "))
            })
    }

    /// `ctl intel add NAME VALUE [--expire SECONDS]`: in force for every worker from its next
    /// packet on.
    pub fn add(&self, name: &str, value: &str, expire_secs: Option<u64>) -> Result<String, String> {
        let _w = self.writer.lock().unwrap_or_else(|p| p.into_inner());
        let snap = self.snapshot();
        let i = Self::index_of(&snap, name)?;
        let l = &snap.lists[i];
        let key = match parse_value(l.spec.kind, value) {
            Ok(k) => k,
            Err(e) => {
                l.counters.rejects.fetch_add(1, Ordering::Relaxed);
                return Err(format!("intel list {name}: {e}"));
            }
        };
        let now = wall_secs();
        let expires = match expire_secs {
            Some(s) => u32::try_from(u64::from(now).saturating_add(s.max(1))).unwrap_or(u32::MAX),
            None => 0,
        };
        let shown = key.display(l.spec.kind);
        let mut lists = snap.lists.clone();
        let v = &mut lists[i];
        let mut adds = (*v.adds).clone();
        adds.insert(
            key.clone(),
            Meta {
                confidence: 100,
                expires,
            },
        );
        v.adds = Arc::new(adds);
        if v.removed.contains(&key) {
            let mut r = (*v.removed).clone();
            r.remove(&key);
            v.removed = Arc::new(r);
        }
        v.counters.updated.store(now.into(), Ordering::Relaxed);
        let saved = save_state(v);
        self.publish(lists, snap.rep.clone());
        // In force either way; a state file that cannot be written is said.
        saved?;
        Ok(match expire_secs {
            Some(s) => format!("{name}: added {shown} (expires in {s} s)"),
            None => format!("{name}: added {shown}"),
        })
    }

    /// `ctl intel remove NAME VALUE`: a runtime add is dropped; an indicator of the file is
    /// masked until the file no longer lists it.
    pub fn remove(&self, name: &str, value: &str) -> Result<String, String> {
        let _w = self.writer.lock().unwrap_or_else(|p| p.into_inner());
        let snap = self.snapshot();
        let i = Self::index_of(&snap, name)?;
        let l = &snap.lists[i];
        let key = parse_value(l.spec.kind, value).map_err(|e| format!("intel list {name}: {e}"))?;
        let shown = key.display(l.spec.kind);
        let (in_adds, in_base) = (l.adds.contains(&key), l.base.contains(&key));
        if !in_adds && (!in_base || l.removed.contains(&key)) {
            return Err(format!("{name}: {shown} is not listed"));
        }
        let mut lists = snap.lists.clone();
        let v = &mut lists[i];
        if in_adds {
            let mut a = (*v.adds).clone();
            a.remove(&key);
            v.adds = Arc::new(a);
        }
        if in_base {
            let mut r = (*v.removed).clone();
            r.insert(key, Meta::default());
            v.removed = Arc::new(r);
        }
        v.counters
            .updated
            .store(wall_secs().into(), Ordering::Relaxed);
        let saved = save_state(v);
        self.publish(lists, snap.rep.clone());
        saved?;
        Ok(format!("{name}: removed {shown}"))
    }

    /// Reads the list and reputation files again: all of them (`force`, `ctl reload-intel`)
    /// or those whose file changed (the watch). A file that fails to parse leaves its list as
    /// it was; the others still update. Returns what changed, or every error (each with
    /// `file:line`); None when nothing changed.
    pub fn reload(&self, force: bool) -> Option<Result<String, String>> {
        let mut w = self.writer.lock().unwrap_or_else(|p| p.into_inner());
        let snap = self.snapshot();
        let mut lists = snap.lists.clone();
        let mut done = Vec::new();
        let mut errors = Vec::new();
        for (i, v) in lists.iter_mut().enumerate() {
            let Some(path) = v.spec.file.clone() else {
                continue;
            };
            let st = stamp(&path);
            if !force && w.stamps.get(i).is_some_and(|s| *s == st) {
                continue;
            }
            if let Some(s) = w.stamps.get_mut(i) {
                *s = st;
            }
            match load_file(&v.spec, &path) {
                Ok(e) => {
                    done.push(format!("{} {}", v.spec.name, e.len()));
                    v.base = Arc::new(e);
                    v.counters
                        .updated
                        .store(wall_secs().into(), Ordering::Relaxed);
                }
                Err((e, n)) => {
                    v.counters.rejects.fetch_add(n as u64, Ordering::Relaxed);
                    errors.push(e);
                }
            }
        }
        let mut rep = snap.rep.clone();
        if let Some(cfg) = w.rep.clone() {
            let st = cfg.stamps();
            if force || st != w.rep_stamps {
                w.rep_stamps = st;
                match Reputation::load(&cfg) {
                    Ok(r) => {
                        done.push(format!("reputation {}", r.len()));
                        rep = Arc::new(r);
                    }
                    Err(e) => errors.push(e),
                }
            }
        }
        if done.is_empty() && errors.is_empty() {
            return None;
        }
        if !done.is_empty() {
            self.publish(lists, rep);
        }
        Some(if errors.is_empty() {
            Ok(format!("reloaded: {}", done.join(", ")))
        } else {
            Err(format!(
                "kept the previous set of what failed:\n{}{}",
                errors.join("\n"),
                if done.is_empty() {
                    String::new()
                } else {
                    format!("\nreloaded: {}", done.join(", "))
                }
            ))
        })
    }

    /// Drops indicators expired at `now` (Unix seconds) from the tables; returns how many.
    /// (They stopped matching at their expiry already; this frees them.)
    pub fn purge(&self, now: u32) -> usize {
        let mut w = self.writer.lock().unwrap_or_else(|p| p.into_inner());
        let due = |e: &Entries| e.next_expiry != 0 && e.next_expiry <= now;
        let bases = now >= w.base_purged_at.saturating_add(BASE_PURGE_EVERY);
        let snap = self.snapshot();
        if !snap
            .lists
            .iter()
            .any(|l| (bases && due(&l.base)) || due(&l.adds))
        {
            return 0;
        }
        if bases {
            w.base_purged_at = now;
        }
        let mut lists = snap.lists.clone();
        let mut n = 0;
        for v in &mut lists {
            let mut dropped = 0;
            let adds_due = due(&v.adds);
            for (t, is_base) in [(&mut v.base, true), (&mut v.adds, false)] {
                if due(t) && (bases || !is_base) {
                    let mut e = (**t).clone();
                    dropped += e.purge(now);
                    *t = Arc::new(e);
                }
            }
            if adds_due {
                if let Err(e) = save_state(v) {
                    tracing::error!("{e}");
                }
            }
            v.counters
                .expired
                .fetch_add(dropped as u64, Ordering::Relaxed);
            n += dropped;
        }
        self.publish(lists, snap.rep.clone());
        n
    }

    /// Figures per list.
    pub fn stats(&self) -> Vec<ListStats> {
        let snap = self.snapshot();
        snap.lists
            .iter()
            .map(|l| ListStats {
                name: l.spec.name.clone(),
                kind: l.spec.kind.name(),
                indicators: l.indicators(),
                runtime_adds: l.adds.len(),
                hits: l.counters.hits.load(Ordering::Relaxed),
                rejects: l.counters.rejects.load(Ordering::Relaxed),
                expired: l.counters.expired.load(Ordering::Relaxed),
                updated: l.counters.updated.load(Ordering::Relaxed),
                bytes: l.base.heap_bytes() + l.adds.heap_bytes() + l.removed.heap_bytes(),
            })
            .collect()
    }
}
