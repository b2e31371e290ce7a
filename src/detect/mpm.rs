//! The multi-pattern prefilter: one Hyperscan block database per rule group.
//!
//! Each distinct fast pattern (bytes + case) becomes one Hyperscan expression; a hit makes every
//! rule using that pattern a candidate, which is then verified in full. The database is built
//! once and shared read-only by all workers; each worker owns a [`hyperscan::Scratch`].

use std::collections::HashMap;
use std::fmt::Write as _;
use std::path::Path;

use hyperscan::prelude::*;
use hyperscan::Serialized;

/// What happened to a database when a cache directory was given.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CacheUse {
    /// No cache configured.
    Off,
    /// Loaded from the cache.
    Hit,
    /// Compiled and written to the cache.
    Stored,
    /// Compiled; the cache could not be written (reported, not fatal).
    Unwritable,
}

/// Longest literal given to Hyperscan (its expression limit is about 16,000 characters, and
/// non-alphanumeric bytes are written as four).
pub const MAX_LITERAL: usize = 1024;

/// Cache file magic and format version.
const CACHE_MAGIC: &[u8; 8] = b"SKMHSDB1";

/// FNV-1a: a stable 64-bit hash (unlike std's, it is the same in every build).
fn fnv1a(mut h: u64, bytes: &[u8]) -> u64 {
    for &b in bytes {
        h = (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3);
    }
    h
}

/// A compiled prefilter.
pub struct Mpm {
    db: BlockDatabase,
    /// Rules (engine indices) per pattern id.
    rules_of: Vec<Vec<u32>>,
}

/// Collects fast patterns before compilation.
#[derive(Default)]
pub struct MpmBuilder {
    ids: HashMap<(Vec<u8>, bool), u32>,
    rules_of: Vec<Vec<u32>>,
}

/// Writes `bytes` as a Hyperscan expression matching them literally.
fn literal_expr(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(bytes.len() * 4);
    for &b in bytes {
        if b.is_ascii_alphanumeric() {
            s.push(b as char);
        } else {
            let _ = write!(s, "\\x{b:02x}");
        }
    }
    s
}

impl MpmBuilder {
    /// Registers `rule` as a candidate whenever `pattern` occurs.
    /// Length of the longest pattern added.
    pub fn max_len(&self) -> usize {
        self.ids.keys().map(|(p, _)| p.len()).max().unwrap_or(0)
    }

    /// Adds `rule`'s fast pattern. Patterns longer than [`MAX_LITERAL`] are cut to their
    /// first bytes: a prefilter only selects candidates, which are verified in full, and
    /// Hyperscan refuses expressions over its length limit.
    pub fn add(&mut self, pattern: &[u8], nocase: bool, rule: u32) {
        let pattern = &pattern[..pattern.len().min(MAX_LITERAL)];
        // Case-insensitive matching of a pattern without letters is exact matching.
        let nocase = nocase && pattern.iter().any(|b| b.is_ascii_alphabetic());
        let key = (pattern.to_vec(), nocase);
        let next = self.rules_of.len() as u32;
        let id = *self.ids.entry(key).or_insert(next);
        if id == next {
            self.rules_of.push(Vec::new());
        }
        self.rules_of[id as usize].push(rule);
    }

    /// Number of distinct patterns.
    pub fn len(&self) -> usize {
        self.rules_of.len()
    }

    /// Whether no pattern was added.
    pub fn is_empty(&self) -> bool {
        self.rules_of.is_empty()
    }

    /// Compiles the database; `None` when there are no patterns.
    pub fn build(self) -> Result<Option<Mpm>, String> {
        self.build_cached(None).map(|(m, _)| m)
    }

    /// Patterns in id order.
    fn ordered(&self) -> Vec<(&(Vec<u8>, bool), u32)> {
        let mut by_id: Vec<(&(Vec<u8>, bool), u32)> =
            self.ids.iter().map(|(k, v)| (k, *v)).collect();
        by_id.sort_by_key(|(_, id)| *id);
        by_id
    }

    /// Identity of this database's input: every pattern with its flags and id, and the
    /// Hyperscan version (a serialized database only loads into the version that wrote it).
    fn cache_key(&self) -> u64 {
        let mut h = fnv1a(0xcbf2_9ce4_8422_2325, hyperscan::version_str().to_bytes());
        h = fnv1a(h, env!("CARGO_PKG_VERSION").as_bytes());
        for ((bytes, nocase), id) in self.ordered() {
            h = fnv1a(h, &id.to_le_bytes());
            h = fnv1a(h, &[u8::from(*nocase)]);
            h = fnv1a(h, &(bytes.len() as u32).to_le_bytes());
            h = fnv1a(h, bytes);
        }
        h
    }

    /// Like [`MpmBuilder::build`], reusing a database serialized in `cache` by an earlier run
    /// with exactly the same patterns, and storing a freshly compiled one there.
    pub fn build_cached(self, cache: Option<&Path>) -> Result<(Option<Mpm>, CacheUse), String> {
        if self.rules_of.is_empty() {
            return Ok((None, CacheUse::Off));
        }
        let Some(dir) = cache else {
            return Ok((Some(self.compile()?), CacheUse::Off));
        };
        let key = self.cache_key();
        let count = self.rules_of.len() as u64;
        let path = dir.join(format!("{key:016x}.hsdb"));
        if let Ok(bytes) = std::fs::read(&path) {
            let header_ok = bytes.len() > 24
                && &bytes[..8] == CACHE_MAGIC
                && bytes[8..16] == key.to_le_bytes()
                && bytes[16..24] == count.to_le_bytes();
            if header_ok {
                if let Ok(db) = (&bytes[24..]).deserialize::<hyperscan::Block>() {
                    return Ok((
                        Some(Mpm {
                            db,
                            rules_of: self.rules_of,
                        }),
                        CacheUse::Hit,
                    ));
                }
            }
            tracing::warn!(
                "{}: unusable Hyperscan cache file, recompiling",
                path.display()
            );
        }
        let mpm = self.compile()?;
        let stored = (|| -> std::io::Result<()> {
            std::fs::create_dir_all(dir)?;
            let ser = mpm
                .db
                .serialize()
                .map_err(|e| std::io::Error::other(e.to_string()))?;
            let mut out = Vec::with_capacity(24 + ser.len());
            out.extend_from_slice(CACHE_MAGIC);
            out.extend_from_slice(&key.to_le_bytes());
            out.extend_from_slice(&count.to_le_bytes());
            out.extend_from_slice(&ser);
            // Write then rename, so a concurrent reader never sees half a file.
            let tmp = dir.join(format!(".{key:016x}.{}.tmp", std::process::id()));
            std::fs::write(&tmp, &out)?;
            std::fs::rename(&tmp, &path)
        })();
        match stored {
            Ok(()) => Ok((Some(mpm), CacheUse::Stored)),
            Err(e) => {
                tracing::warn!("cannot write Hyperscan cache {}: {e}", path.display());
                Ok((Some(mpm), CacheUse::Unwritable))
            }
        }
    }

    fn compile(self) -> Result<Mpm, String> {
        let patterns: Patterns = self
            .ordered()
            .iter()
            .map(|((bytes, nocase), id)| {
                let mut flags = CompileFlags::SINGLEMATCH;
                if *nocase {
                    flags |= CompileFlags::CASELESS;
                }
                Pattern {
                    expression: literal_expr(bytes),
                    flags,
                    id: Some(*id as usize),
                    ext: Default::default(),
                    som: None,
                }
            })
            .collect();
        let db: BlockDatabase = patterns
            .build()
            .map_err(|e| format!("hyperscan compile: {e}"))?;
        Ok(Mpm {
            db,
            rules_of: self.rules_of,
        })
    }
}

impl Mpm {
    /// Allocates (or grows) `scratch` so it can scan this database.
    pub fn prepare_scratch(&self, scratch: &mut Option<Scratch>) -> Result<(), String> {
        match scratch {
            Some(s) => self
                .db
                .realloc_scratch(s)
                .map(|_| ())
                .map_err(|e| e.to_string()),
            None => {
                *scratch = Some(self.db.alloc_scratch().map_err(|e| e.to_string())?);
                Ok(())
            }
        }
    }

    /// Scans `data`, calling `hit` with the rules of each pattern found (once per pattern).
    #[inline]
    pub fn scan(
        &self,
        data: &[u8],
        scratch: &Scratch,
        mut hit: impl FnMut(&[u32], u64),
    ) -> Result<(), String> {
        let rules_of = &self.rules_of;
        self.db
            .scan(
                data,
                scratch,
                |id: u32, _from: u64, to: u64, _flags: u32| {
                    if let Some(rules) = rules_of.get(id as usize) {
                        hit(rules, to);
                    }
                    Matching::Continue
                },
            )
            .map_err(|e| e.to_string())
    }

    /// Size of the compiled database in bytes.
    pub fn size(&self) -> usize {
        self.db.size().unwrap_or(0)
    }

    /// Number of patterns.
    pub fn patterns(&self) -> usize {
        self.rules_of.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_binary_and_caseless_patterns() {
        let mut b = MpmBuilder::default();
        b.add(b"\x00\xffA.", false, 7);
        b.add(b"hello", true, 8);
        b.add(b"hello", true, 9);
        b.add(b"1234", true, 10);
        assert_eq!(b.len(), 3);
        let mpm = b.build().unwrap().unwrap();
        let mut scratch = None;
        mpm.prepare_scratch(&mut scratch).unwrap();
        let scratch = scratch.unwrap();
        let mut got = Vec::new();
        mpm.scan(b"xx\x00\xffA.yy HeLLo hello 1234", &scratch, |r, _| {
            got.extend_from_slice(r)
        })
        .unwrap();
        got.sort();
        assert_eq!(got, vec![7, 8, 9, 10]);
        got.clear();
        mpm.scan(b"\x00\xffa.", &scratch, |r, _| got.extend_from_slice(r))
            .unwrap();
        assert!(got.is_empty(), "case-sensitive pattern matched other case");
    }

    #[test]
    fn cache_round_trip_and_corruption() {
        let dir = tempfile::tempdir().unwrap();
        let make = || {
            let mut b = MpmBuilder::default();
            b.add(b"needle", false, 1);
            b.add(b"other", true, 2);
            b
        };
        let (m, u) = make().build_cached(Some(dir.path())).unwrap();
        assert_eq!(u, CacheUse::Stored);
        let (m2, u2) = make().build_cached(Some(dir.path())).unwrap();
        assert_eq!(u2, CacheUse::Hit);
        let (m, m2) = (m.unwrap(), m2.unwrap());
        let mut s = None;
        m2.prepare_scratch(&mut s).unwrap();
        let mut got = Vec::new();
        m2.scan(b"a needle and OTHER", s.as_ref().unwrap(), |r, _| {
            got.extend_from_slice(r)
        })
        .unwrap();
        got.sort();
        assert_eq!(got, vec![1, 2]);
        assert_eq!(m.size(), m2.size());
        // A different pattern set does not reuse the file; a corrupted file is recompiled.
        let mut b = MpmBuilder::default();
        b.add(b"needle", true, 1);
        assert_eq!(
            b.build_cached(Some(dir.path())).unwrap().1,
            CacheUse::Stored
        );
        for entry in std::fs::read_dir(dir.path()).unwrap() {
            let p = entry.unwrap().path();
            let mut bytes = std::fs::read(&p).unwrap();
            let n = bytes.len();
            bytes.truncate(n / 2);
            std::fs::write(&p, bytes).unwrap();
        }
        assert_eq!(
            make().build_cached(Some(dir.path())).unwrap().1,
            CacheUse::Stored
        );
    }

    #[test]
    fn empty_builder_builds_nothing() {
        assert!(MpmBuilder::default().build().unwrap().is_none());
    }
}
