//! The multi-pattern prefilter: one Hyperscan block database per rule group.
//!
//! Each distinct fast pattern (bytes + case) becomes one Hyperscan expression; a hit makes every
//! rule using that pattern a candidate, which is then verified in full. The database is built
//! once and shared read-only by all workers; each worker owns a [`hyperscan::Scratch`].

use std::collections::HashMap;
use std::fmt::Write as _;

use hyperscan::prelude::*;

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
    pub fn add(&mut self, pattern: &[u8], nocase: bool, rule: u32) {
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
        if self.rules_of.is_empty() {
            return Ok(None);
        }
        let mut by_id: Vec<(&(Vec<u8>, bool), u32)> =
            self.ids.iter().map(|(k, v)| (k, *v)).collect();
        by_id.sort_by_key(|(_, id)| *id);
        let patterns: Patterns = by_id
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
        Ok(Some(Mpm {
            db,
            rules_of: self.rules_of,
        }))
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
        mut hit: impl FnMut(&[u32]),
    ) -> Result<(), String> {
        let rules_of = &self.rules_of;
        self.db
            .scan(
                data,
                scratch,
                |id: u32, _from: u64, _to: u64, _flags: u32| {
                    if let Some(rules) = rules_of.get(id as usize) {
                        hit(rules);
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
        mpm.scan(b"xx\x00\xffA.yy HeLLo hello 1234", &scratch, |r| {
            got.extend_from_slice(r)
        })
        .unwrap();
        got.sort();
        assert_eq!(got, vec![7, 8, 9, 10]);
        got.clear();
        mpm.scan(b"\x00\xffa.", &scratch, |r| got.extend_from_slice(r))
            .unwrap();
        assert!(got.is_empty(), "case-sensitive pattern matched other case");
    }

    #[test]
    fn empty_builder_builds_nothing() {
        assert!(MpmBuilder::default().build().unwrap().is_none());
    }
}
