//! `dataset` and `datarep`: named sets of buffer values (domains, hosts, hashes, addresses)
//! that rules test and fill, shared by all workers. A SOC deploys threat intelligence as a
//! dataset file (`load`) and updates the list without touching rules; `state`/`save` keep
//! what rules added across restarts; `memcap` bounds what traffic can make a set grow to.
//!
//! Values are kept in their binary form: strings as bytes (base64 in files), digests as
//! bytes (hex in files), `ipv4` as 4 bytes and `ip` as 16 (IPv4 mapped into IPv6; dotted or
//! colon notation in files). A set with reputation (`datarep`, or `value,rep` lines) keeps a
//! number per value.
//!
//! Like xbits, a dataset is consulted only after the rest of its buffer's chain matched, so
//! its sharded locks stay off the path of every other rule.

use std::collections::hash_map::DefaultHasher;
use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Mutex;

const SHARDS: usize = 16;

/// Bytes a value costs beyond its own length (table slot, allocation), for the memcap.
const ENTRY_OVERHEAD: usize = 48;

/// A reputation comparison (`datarep`, `iprep`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RepOp {
    /// `<`.
    Lt,
    /// `<=`.
    Le,
    /// `>`.
    Gt,
    /// `>=`.
    Ge,
    /// `==`.
    Eq,
}

impl RepOp {
    /// Parses `<`, `<=`, `>`, `>=`, `==` (or `=`).
    pub fn parse(s: &str) -> Option<RepOp> {
        Some(match s {
            "<" => RepOp::Lt,
            "<=" => RepOp::Le,
            ">" => RepOp::Gt,
            ">=" => RepOp::Ge,
            "==" | "=" => RepOp::Eq,
            _ => return None,
        })
    }

    /// Whether `have` passes against `want`.
    pub fn holds(self, have: u32, want: u32) -> bool {
        match self {
            RepOp::Lt => have < want,
            RepOp::Le => have <= want,
            RepOp::Gt => have > want,
            RepOp::Ge => have >= want,
            RepOp::Eq => have == want,
        }
    }
}

/// What a rule does with the dataset.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DatasetCmd {
    /// Adds the value; matches when it was not there yet.
    Set,
    /// Matches when the value is in the set.
    IsSet,
    /// Matches when the value is not in the set.
    IsNotSet,
    /// Removes the value; matches when it was there.
    Unset,
    /// `datarep`: matches when the value is in the set with a reputation passing the test.
    Rep(RepOp, u32),
}

/// The value type of a dataset (how files spell values, and what buffers give).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DatasetType {
    /// Byte strings; base64 in files.
    String,
    /// 16-byte MD5 digests; hex in files.
    Md5,
    /// 32-byte SHA-256 digests; hex in files.
    Sha256,
    /// IPv4 addresses (4 bytes: `ip.src`/`ip.dst`); dotted in files.
    Ipv4,
    /// IPv4 or IPv6 addresses (16 bytes, IPv4 mapped); either notation in files.
    Ip,
}

/// A parsed `dataset` or `datarep` keyword.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DatasetSpec {
    /// Command.
    pub cmd: DatasetCmd,
    /// Set name (shared by every rule naming it).
    pub name: String,
    /// Value type.
    pub kind: DatasetType,
    /// File of initial values (`load`, or `state`).
    pub load: Option<String>,
    /// File the set is written to when the sensor stops (`save`, or `state`).
    pub save: Option<String>,
    /// Most bytes the set may hold (`memcap`); adds past it are refused and counted.
    pub memcap: Option<usize>,
}

/// Parses a size: bytes, or with a `kb`/`mb`/`gb` suffix.
fn parse_size(s: &str) -> Result<usize, String> {
    let t = s.trim().to_ascii_lowercase();
    let (num, mul) = [("kb", 1usize << 10), ("mb", 1 << 20), ("gb", 1 << 30)]
        .iter()
        .find_map(|(suf, m)| t.strip_suffix(suf).map(|n| (n.trim().to_string(), *m)))
        .unwrap_or((t.clone(), 1));
    num.parse::<usize>()
        .ok()
        .and_then(|n| n.checked_mul(mul))
        .ok_or_else(|| format!("'{s}' is not a size (bytes, or with kb/mb/gb)"))
}

impl DatasetSpec {
    /// Parses `cmd,name[, type T][, load FILE][, state FILE][, save FILE][, memcap N]
    /// [, hashsize N]`.
    pub fn parse(v: &str) -> Result<DatasetSpec, String> {
        let mut parts = v.split(',').map(str::trim);
        let cmd = match parts.next().unwrap_or("") {
            "set" => DatasetCmd::Set,
            "isset" => DatasetCmd::IsSet,
            "isnotset" => DatasetCmd::IsNotSet,
            "unset" => DatasetCmd::Unset,
            other => return Err(format!("unknown dataset command '{other}'")),
        };
        let name = parts.next().unwrap_or("");
        Self::with_options(cmd, name, parts)
    }

    /// Parses `datarep:name, op, value[, type T][, load FILE][, memcap N]...`.
    pub fn parse_rep(v: &str) -> Result<DatasetSpec, String> {
        let mut parts = v.split(',').map(str::trim);
        let name = parts.next().unwrap_or("");
        let op = parts.next().unwrap_or("");
        let op = RepOp::parse(op)
            .ok_or_else(|| format!("datarep operator '{op}' is not <, <=, >, >= or =="))?;
        let value = parts.next().unwrap_or("");
        let value = value
            .parse::<u32>()
            .map_err(|_| format!("datarep value '{value}' is not a number"))?;
        Self::with_options(DatasetCmd::Rep(op, value), name, parts)
    }

    fn with_options<'a>(
        cmd: DatasetCmd,
        name: &str,
        parts: impl Iterator<Item = &'a str>,
    ) -> Result<DatasetSpec, String> {
        if name.is_empty() {
            return Err("dataset needs a name".into());
        }
        let mut spec = DatasetSpec {
            cmd,
            name: name.to_string(),
            kind: DatasetType::String,
            load: None,
            save: None,
            memcap: None,
        };
        for opt in parts {
            let (k, val) = opt.split_once(' ').unwrap_or((opt, ""));
            let val = val.trim();
            match k {
                "type" => {
                    spec.kind = match val {
                        "string" => DatasetType::String,
                        "md5" => DatasetType::Md5,
                        "sha256" => DatasetType::Sha256,
                        "ipv4" => DatasetType::Ipv4,
                        "ipv6" | "ip" => DatasetType::Ip,
                        other => return Err(format!("dataset type '{other}' not supported")),
                    }
                }
                "load" => spec.load = Some(val.to_string()),
                "save" => spec.save = Some(val.to_string()),
                "state" => {
                    spec.load = Some(val.to_string());
                    spec.save = Some(val.to_string());
                }
                "memcap" => spec.memcap = Some(parse_size(val)?),
                // The tables grow as needed; a size hint changes nothing.
                "hashsize" => {
                    parse_size(val)?;
                }
                "format" | "context_key" | "value_key" => {}
                other => return Err(format!("unknown dataset option '{other}'")),
            }
        }
        Ok(spec)
    }
}

/// One set.
#[derive(Debug)]
struct Set {
    name: String,
    kind: DatasetType,
    shards: [Mutex<HashMap<Vec<u8>, u32>>; SHARDS],
    /// Bytes held (values plus overhead), against `memcap`.
    bytes: AtomicUsize,
    memcap: usize,
    /// Adds refused at the memcap.
    refused: AtomicU64,
    /// Where it is written when the sensor stops.
    save: Option<PathBuf>,
}

/// Figures for one set.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SetStats {
    /// Set name.
    pub name: String,
    /// Values held.
    pub entries: usize,
    /// Bytes held (estimated), against the memcap.
    pub bytes: usize,
    /// Adds refused at the memcap.
    pub refused: u64,
}

/// All datasets of an engine, by id.
#[derive(Debug, Default)]
pub struct Datasets {
    sets: Vec<Set>,
}

fn shard(v: &[u8]) -> usize {
    let mut h = DefaultHasher::new();
    v.hash(&mut h);
    (h.finish() as usize) % SHARDS
}

/// Decodes a hex string (even length, no separators); None when it is not one.
pub(crate) fn unhex(s: &str) -> Option<Vec<u8>> {
    if s.len() % 2 != 0 {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}

/// Decodes standard base64 (with or without padding); None unless all of it is base64.
fn unbase64(s: &str) -> Option<Vec<u8>> {
    let body = s.trim_end_matches('=');
    let mut out = Vec::with_capacity(body.len() * 3 / 4);
    super::inspect::decode_base64(body.as_bytes(), &mut out);
    // The decoder stops at the first byte outside the alphabet: all of it was decoded when
    // the output has the length the input gives (a lone trailing character gives none).
    (body.len() % 4 != 1 && out.len() == body.len() * 3 / 4).then_some(out)
}

/// A value as a file spells it, decoded for a set of type `kind`.
fn decode(kind: DatasetType, s: &str) -> Option<Vec<u8>> {
    match kind {
        DatasetType::String => unbase64(s),
        DatasetType::Md5 => unhex(s).filter(|b| b.len() == 16),
        DatasetType::Sha256 => unhex(s).filter(|b| b.len() == 32),
        DatasetType::Ipv4 | DatasetType::Ip => addr_bytes(kind, s).map(|(b, n)| b[..n].to_vec()),
    }
}

/// An address in text as a set of type `kind` keeps it: 4 bytes (`ipv4`; IPv6 is None) or
/// 16 (`ip`, IPv4 mapped), in the first `n` bytes of the array.
fn addr_bytes(kind: DatasetType, s: &str) -> Option<([u8; 16], usize)> {
    let mut b = [0u8; 16];
    match (kind, s.parse::<IpAddr>().ok()?) {
        (DatasetType::Ipv4, IpAddr::V4(a)) => {
            b[..4].copy_from_slice(&a.octets());
            Some((b, 4))
        }
        (DatasetType::Ip, IpAddr::V4(a)) => Some((a.to_ipv6_mapped().octets(), 16)),
        (DatasetType::Ip, IpAddr::V6(a)) => Some((a.octets(), 16)),
        _ => None,
    }
}

/// A value as files spell it.
fn encode(kind: DatasetType, v: &[u8]) -> String {
    match kind {
        DatasetType::String => {
            let mut out = vec![0u8; v.len().div_ceil(3) * 4];
            crate::common::base64(v, &mut out);
            String::from_utf8_lossy(&out).into_owned()
        }
        DatasetType::Md5 | DatasetType::Sha256 => v.iter().map(|b| format!("{b:02x}")).collect(),
        DatasetType::Ipv4 | DatasetType::Ip => match <[u8; 16]>::try_from(v) {
            Ok(a) => {
                let a = std::net::Ipv6Addr::from(a);
                a.to_ipv4_mapped()
                    .map_or_else(|| a.to_string(), |v4| v4.to_string())
            }
            Err(_) => match <[u8; 4]>::try_from(v) {
                Ok(a) => std::net::Ipv4Addr::from(a).to_string(),
                Err(_) => String::new(),
            },
        },
    }
}

impl Datasets {
    /// Adds an empty dataset and returns its id.
    pub fn add(&mut self, spec: &DatasetSpec, save: Option<PathBuf>) -> u32 {
        self.sets.push(Set {
            name: spec.name.clone(),
            kind: spec.kind,
            shards: Default::default(),
            bytes: AtomicUsize::new(0),
            memcap: spec.memcap.unwrap_or(usize::MAX),
            refused: AtomicU64::new(0),
            save,
        });
        (self.sets.len() - 1) as u32
    }

    /// Loads values from `path` (one per line, optionally `value,reputation`; `#` comments)
    /// into dataset `id`. Returns how many were loaded; a line that does not decode, or a
    /// file past the set's memcap, is an error naming the line.
    pub fn load(&self, id: u32, path: &Path) -> Result<usize, String> {
        let Some(set) = self.sets.get(id as usize) else {
            return Ok(0);
        };
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("dataset file {}: {e}", path.display()))?;
        let mut n = 0;
        for (i, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let at = || format!("{}:{}", path.display(), i + 1);
            let (v, rep) = line.split_once(',').unwrap_or((line, ""));
            let value = decode(set.kind, v.trim())
                .ok_or_else(|| format!("{}: value does not decode as {:?}", at(), set.kind))?;
            let rep = match rep.trim() {
                "" => 0,
                r => r
                    .parse::<u32>()
                    .map_err(|_| format!("{}: reputation '{r}' is not a number", at()))?,
            };
            if set.insert(&value, rep) == Insert::Refused {
                return Err(format!(
                    "{}: dataset {} is full (memcap {} bytes)",
                    at(),
                    set.name,
                    set.memcap
                ));
            }
            n += 1;
        }
        Ok(n)
    }

    /// Runs a rule's command on `value` (a buffer's bytes); returns whether it matches.
    pub fn apply(&self, id: u32, cmd: DatasetCmd, value: &[u8]) -> bool {
        let Some(set) = self.sets.get(id as usize) else {
            return false;
        };
        // Addresses: 4 bytes (ip.src of IPv4) go into `ip` sets mapped; text addresses
        // (an HTTP host that is an address) are read as such.
        let mut buf = [0u8; 16];
        let value: &[u8] = match (set.kind, value.len()) {
            (DatasetType::Ip, 4) => {
                buf[10] = 0xff;
                buf[11] = 0xff;
                buf[12..].copy_from_slice(value);
                &buf
            }
            (DatasetType::Ip | DatasetType::Ipv4, 4 | 16) => value,
            (DatasetType::Ip | DatasetType::Ipv4, _) => {
                match std::str::from_utf8(value)
                    .ok()
                    .and_then(|s| addr_bytes(set.kind, s))
                {
                    Some((b, n)) => {
                        buf = b;
                        &buf[..n]
                    }
                    None => return cmd == DatasetCmd::IsNotSet,
                }
            }
            _ => value,
        };
        match cmd {
            DatasetCmd::Set => set.insert(value, 0) == Insert::Added,
            DatasetCmd::IsSet => set.get(value).is_some(),
            DatasetCmd::IsNotSet => set.get(value).is_none(),
            DatasetCmd::Unset => set.remove(value),
            DatasetCmd::Rep(op, want) => set.get(value).is_some_and(|r| op.holds(r, want)),
        }
    }

    /// Writes every set that has a `save`/`state` file (one value per line, `,rep` when it
    /// has one), through a temporary file renamed into place. Returns a line per set.
    pub fn save(&self) -> Vec<Result<String, String>> {
        self.sets
            .iter()
            .filter_map(|s| Some((s, s.save.as_ref()?)))
            .map(|(s, path)| {
                let mut text = String::new();
                let mut n = 0;
                for shard in &s.shards {
                    let t = shard.lock().unwrap_or_else(|p| p.into_inner());
                    for (v, rep) in t.iter() {
                        text.push_str(&encode(s.kind, v));
                        if *rep != 0 {
                            text.push_str(&format!(",{rep}"));
                        }
                        text.push('\n');
                        n += 1;
                    }
                }
                let tmp = path.with_extension("tmp");
                std::fs::write(&tmp, text)
                    .and_then(|()| std::fs::rename(&tmp, path))
                    .map(|()| format!("dataset {}: {n} values saved to {}", s.name, path.display()))
                    .map_err(|e| format!("dataset {}: {}: {e}", s.name, path.display()))
            })
            .collect()
    }

    /// Figures per set.
    pub fn stats(&self) -> Vec<SetStats> {
        self.sets
            .iter()
            .map(|s| SetStats {
                name: s.name.clone(),
                entries: s
                    .shards
                    .iter()
                    .map(|t| t.lock().unwrap_or_else(|p| p.into_inner()).len())
                    .sum(),
                bytes: s.bytes.load(Ordering::Relaxed),
                refused: s.refused.load(Ordering::Relaxed),
            })
            .collect()
    }
}

impl Set {
    fn table(&self, v: &[u8]) -> std::sync::MutexGuard<'_, HashMap<Vec<u8>, u32>> {
        self.shards[shard(v)]
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn get(&self, v: &[u8]) -> Option<u32> {
        self.table(v).get(v).copied()
    }

    /// Adds a value (a new one only within the memcap, counted when refused).
    fn insert(&self, v: &[u8], rep: u32) -> Insert {
        let mut t = self.table(v);
        if let Some(r) = t.get_mut(v) {
            if rep != 0 {
                *r = rep;
            }
            return Insert::Present;
        }
        let cost = v.len() + ENTRY_OVERHEAD;
        let used = self.bytes.load(Ordering::Relaxed);
        if used.saturating_add(cost) > self.memcap {
            self.refused.fetch_add(1, Ordering::Relaxed);
            return Insert::Refused;
        }
        self.bytes.fetch_add(cost, Ordering::Relaxed);
        t.insert(v.to_vec(), rep);
        Insert::Added
    }

    fn remove(&self, v: &[u8]) -> bool {
        let removed = self.table(v).remove(v).is_some();
        if removed {
            self.bytes
                .fetch_sub(v.len() + ENTRY_OVERHEAD, Ordering::Relaxed);
        }
        removed
    }
}

/// What an add did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Insert {
    /// The value is new.
    Added,
    /// It was there (its reputation updated if one was given).
    Present,
    /// Refused at the memcap.
    Refused,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(v: &str) -> DatasetSpec {
        DatasetSpec::parse(v).unwrap()
    }

    #[test]
    fn parse_and_commands() {
        let s = spec("isset,bad-domains, type string, load bad.lst, memcap 1mb, hashsize 1024");
        assert_eq!(s.cmd, DatasetCmd::IsSet);
        assert_eq!(s.load.as_deref(), Some("bad.lst"));
        assert_eq!(s.memcap, Some(1 << 20));
        let st = spec("set,seen, type sha256, state seen.lst");
        assert_eq!(
            (st.load.as_deref(), st.save.as_deref()),
            (Some("seen.lst"), Some("seen.lst"))
        );
        assert!(DatasetSpec::parse("frobnicate,x").is_err());
        assert!(DatasetSpec::parse("set,").is_err());
        assert!(DatasetSpec::parse("set,x, memcap lots").is_err());
        let r = DatasetSpec::parse_rep("ua-rep, >, 50, type string, load ua.csv").unwrap();
        assert_eq!(r.cmd, DatasetCmd::Rep(RepOp::Gt, 50));
        assert!(DatasetSpec::parse_rep("ua, ~, 5").is_err());
        assert!(DatasetSpec::parse_rep("ua, >, many").is_err());
        let mut d = Datasets::default();
        let id = d.add(&spec("set,x"), None);
        assert!(d.apply(id, DatasetCmd::Set, b"a.example"));
        assert!(!d.apply(id, DatasetCmd::Set, b"a.example"));
        assert!(d.apply(id, DatasetCmd::IsSet, b"a.example"));
        assert!(d.apply(id, DatasetCmd::IsNotSet, b"b.example"));
        assert!(d.apply(id, DatasetCmd::Unset, b"a.example"));
        assert!(!d.apply(id, DatasetCmd::IsSet, b"a.example"));
    }

    #[test]
    fn load_files_with_reputation_and_addresses() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("bad.lst");
        // "evil.example" and "c2.example" in base64, a comment, a reputation column.
        std::fs::write(&f, "# intel\nZXZpbC5leGFtcGxl\nYzIuZXhhbXBsZQ==,100\n").unwrap();
        let mut d = Datasets::default();
        let id = d.add(&spec("isset,x"), None);
        assert_eq!(d.load(id, &f).unwrap(), 2);
        assert!(d.apply(id, DatasetCmd::IsSet, b"evil.example"));
        assert!(d.apply(id, DatasetCmd::Rep(RepOp::Ge, 100), b"c2.example"));
        assert!(!d.apply(id, DatasetCmd::Rep(RepOp::Gt, 100), b"c2.example"));
        assert!(d.apply(id, DatasetCmd::Rep(RepOp::Lt, 1), b"evil.example"));
        assert!(!d.apply(id, DatasetCmd::Rep(RepOp::Lt, 1), b"other.example"));
        std::fs::write(&f, "not base64!\n").unwrap();
        assert!(d.load(id, &f).unwrap_err().contains(":1:"));
        // Addresses: text in files, 4 or 16 bytes (or text) from buffers.
        std::fs::write(&f, "198.51.100.7\n2001:db8::1\n").unwrap();
        let ip = d.add(&spec("isset,ips, type ip"), None);
        assert_eq!(d.load(ip, &f).unwrap(), 2);
        assert!(d.apply(ip, DatasetCmd::IsSet, &[198, 51, 100, 7]));
        assert!(d.apply(ip, DatasetCmd::IsSet, b"198.51.100.7"));
        let v6: std::net::Ipv6Addr = "2001:db8::1".parse().unwrap();
        assert!(d.apply(ip, DatasetCmd::IsSet, &v6.octets()));
        assert!(!d.apply(ip, DatasetCmd::IsSet, &[198, 51, 100, 8]));
        let v4 = d.add(&spec("isset,v4, type ipv4"), None);
        assert!(
            d.load(v4, &f).unwrap_err().contains(":2:"),
            "IPv6 in an ipv4 set"
        );
    }

    #[test]
    fn memcap_refuses_and_counts_and_state_round_trips() {
        let dir = tempfile::tempdir().unwrap();
        let state = dir.path().join("seen.lst");
        let mut d = Datasets::default();
        let s = spec("set,seen, memcap 200");
        let id = d.add(&s, Some(state.clone()));
        // 48 bytes of overhead each: three short values fit, the fourth does not.
        for v in [&b"aaaa"[..], b"bbbb", b"cccc"] {
            assert!(d.apply(id, DatasetCmd::Set, v));
        }
        assert!(!d.apply(id, DatasetCmd::Set, b"dddd"));
        assert!(!d.apply(id, DatasetCmd::IsSet, b"dddd"));
        let st = &d.stats()[0];
        assert_eq!((st.entries, st.refused), (3, 1));
        assert!(d.save()[0].as_ref().unwrap().contains("3 values saved"));
        let mut again = Datasets::default();
        let id2 = again.add(&spec("isset,seen"), None);
        assert_eq!(again.load(id2, &state).unwrap(), 3);
        assert!(again.apply(id2, DatasetCmd::IsSet, b"bbbb"));
        // A file past the memcap is refused at load, naming the line.
        let small = again.add(&spec("isset,small, memcap 100"), None);
        assert!(again
            .load(small, &state)
            .unwrap_err()
            .contains(":2: dataset small is full"));
    }
}
