//! `dataset`: named sets of buffer values (domains, hosts, hashes) that rules test and fill,
//! shared by all workers. A SOC deploys threat intelligence as a dataset file (`load`) and
//! updates the list without touching rules.
//!
//! Like xbits, a dataset is consulted only after the rest of its buffer's chain matched, so
//! its sharded locks stay off the path of every other rule.

use std::collections::hash_map::DefaultHasher;
use std::collections::HashSet;
use std::hash::{Hash, Hasher};
use std::path::Path;
use std::sync::Mutex;

const SHARDS: usize = 16;

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
}

/// The value type of a dataset (how `load` files spell values).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DatasetType {
    /// Byte strings; base64 in files.
    String,
    /// 16-byte MD5 digests; hex in files.
    Md5,
    /// 32-byte SHA-256 digests; hex in files.
    Sha256,
    /// Addresses; dotted/colon notation in files, compared as text.
    Ip,
}

/// A parsed `dataset` keyword.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DatasetSpec {
    /// Command.
    pub cmd: DatasetCmd,
    /// Set name (shared by every rule naming it).
    pub name: String,
    /// Value type.
    pub kind: DatasetType,
    /// File of initial values.
    pub load: Option<String>,
}

impl DatasetSpec {
    /// Parses `cmd,name[, type T][, load FILE][, state FILE][, memcap N][, hashsize N]`.
    pub fn parse(v: &str) -> Result<DatasetSpec, String> {
        let mut parts = v.split(',').map(str::trim);
        let cmd = match parts.next().unwrap_or("") {
            "set" => DatasetCmd::Set,
            "isset" => DatasetCmd::IsSet,
            "isnotset" => DatasetCmd::IsNotSet,
            "unset" => DatasetCmd::Unset,
            other => return Err(format!("unknown dataset command '{other}'")),
        };
        let name = parts
            .next()
            .filter(|n| !n.is_empty())
            .ok_or("dataset needs a name")?
            .to_string();
        let mut spec = DatasetSpec {
            cmd,
            name,
            kind: DatasetType::String,
            load: None,
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
                        "ipv4" | "ipv6" | "ip" => DatasetType::Ip,
                        other => return Err(format!("dataset type '{other}' not supported")),
                    }
                }
                "load" | "state" => spec.load = Some(val.to_string()),
                "memcap" | "hashsize" | "format" | "context_key" | "value_key" => {}
                other => return Err(format!("unknown dataset option '{other}'")),
            }
        }
        Ok(spec)
    }
}

/// All datasets of an engine, by id.
#[derive(Debug, Default)]
pub struct Datasets {
    sets: Vec<[Mutex<HashSet<Vec<u8>>>; SHARDS]>,
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

impl Datasets {
    /// Adds an empty dataset and returns its id.
    pub fn add(&mut self) -> u32 {
        self.sets.push(Default::default());
        (self.sets.len() - 1) as u32
    }

    /// Loads values from `path` (one per line; `#` comments) into dataset `id`. Returns how
    /// many were loaded; a line that does not decode is an error naming the line.
    pub fn load(&self, id: u32, kind: DatasetType, path: &Path) -> Result<usize, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("dataset file {}: {e}", path.display()))?;
        let mut n = 0;
        for (i, line) in text.lines().enumerate() {
            // Lines may carry ",reputation" columns; the value is the first field.
            let line = line.split(',').next().unwrap_or("").trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let value = match kind {
                DatasetType::String => unbase64(line),
                DatasetType::Md5 | DatasetType::Sha256 => unhex(line),
                DatasetType::Ip => Some(line.as_bytes().to_vec()),
            }
            .ok_or_else(|| format!("{}:{}: value does not decode", path.display(), i + 1))?;
            self.apply(id, DatasetCmd::Set, &value);
            n += 1;
        }
        Ok(n)
    }

    /// Runs a rule's command on `value`; returns whether it matches.
    pub fn apply(&self, id: u32, cmd: DatasetCmd, value: &[u8]) -> bool {
        let Some(set) = self.sets.get(id as usize) else {
            return false;
        };
        let mut s = set[shard(value)]
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        match cmd {
            DatasetCmd::Set => {
                if s.contains(value) {
                    false
                } else {
                    s.insert(value.to_vec())
                }
            }
            DatasetCmd::IsSet => s.contains(value),
            DatasetCmd::IsNotSet => !s.contains(value),
            DatasetCmd::Unset => s.remove(value),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_and_commands() {
        let s = DatasetSpec::parse("isset,bad-domains, type string, load bad.lst").unwrap();
        assert_eq!(s.cmd, DatasetCmd::IsSet);
        assert_eq!(s.load.as_deref(), Some("bad.lst"));
        assert!(DatasetSpec::parse("frobnicate,x").is_err());
        assert!(DatasetSpec::parse("set,").is_err());
        let mut d = Datasets::default();
        let id = d.add();
        assert!(d.apply(id, DatasetCmd::Set, b"a.example"));
        assert!(!d.apply(id, DatasetCmd::Set, b"a.example"));
        assert!(d.apply(id, DatasetCmd::IsSet, b"a.example"));
        assert!(d.apply(id, DatasetCmd::IsNotSet, b"b.example"));
        assert!(d.apply(id, DatasetCmd::Unset, b"a.example"));
        assert!(!d.apply(id, DatasetCmd::IsSet, b"a.example"));
    }

    #[test]
    fn load_files() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("bad.lst");
        // "evil.example" and "c2.example" in base64, a comment, a reputation column.
        std::fs::write(&f, "# intel\nZXZpbC5leGFtcGxl\nYzIuZXhhbXBsZQ==,100\n").unwrap();
        let mut d = Datasets::default();
        let id = d.add();
        assert_eq!(d.load(id, DatasetType::String, &f).unwrap(), 2);
        assert!(d.apply(id, DatasetCmd::IsSet, b"evil.example"));
        assert!(d.apply(id, DatasetCmd::IsSet, b"c2.example"));
        std::fs::write(&f, "not base64!\n").unwrap();
        assert!(d
            .load(id, DatasetType::String, &f)
            .unwrap_err()
            .contains(":1:"));
    }
}
