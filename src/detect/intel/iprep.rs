//! IP reputation in Suricata's format, and the `iprep` rule keyword.
//!
//! The categories file maps `id,shortname,description` (ids 1-60); each reputation file
//! lists `address-or-CIDR,category,score` (score 1-127). `iprep:side,category,op,value`
//! compares the score of the packet's source, destination, either (`any`) or both ends;
//! `isset`/`isnotset` test membership. An address without a score in the category matches
//! only `isnotset`. Reputation reloads with the intel lists (`ctl reload-intel`, the file
//! watch), without touching the rules.

use std::collections::HashMap;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use super::{addr_bits, mask, Hasher, Key};
use crate::detect::dataset::RepOp;

/// Highest category id (as in Suricata).
pub const MAX_CATEGORY: u8 = 60;

/// Where reputation comes from (`[reputation]` in the config).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RepConfig {
    /// The categories file.
    pub categories: PathBuf,
    /// Reputation files.
    pub files: Vec<PathBuf>,
}

impl RepConfig {
    /// The files' modification stamps (the watch compares them).
    pub(super) fn stamps(&self) -> Vec<Option<(std::time::SystemTime, u64)>> {
        std::iter::once(&self.categories)
            .chain(&self.files)
            .map(|p| {
                let m = std::fs::metadata(p).ok()?;
                Some((m.modified().ok()?, m.len()))
            })
            .collect()
    }
}

/// Scores of one address or network: (category, score) pairs.
type Scores = Box<[(u8, u8)]>;

/// Loaded reputation.
#[derive(Debug, Default)]
pub struct Reputation {
    categories: Vec<(u8, String)>,
    addrs: HashMap<u128, Scores, Hasher>,
    nets: Vec<(u8, HashMap<u128, Scores, Hasher>)>,
}

fn read(p: &Path) -> Result<String, String> {
    std::fs::read_to_string(p).map_err(|e| format!("reputation: {}: {e}", p.display()))
}

impl Reputation {
    /// Loads the categories and reputation files; errors name `file:line`.
    pub fn load(cfg: &RepConfig) -> Result<Reputation, String> {
        let mut r = Reputation::default();
        let at = |p: &Path, i: usize| format!("{}:{}", p.display(), i + 1);
        let text = read(&cfg.categories)?;
        for (i, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let mut f = line.splitn(3, ',').map(str::trim);
            let id = f.next().and_then(|v| v.parse::<u8>().ok());
            let name = f.next().filter(|n| !n.is_empty());
            match (id, name) {
                (Some(id @ 1..=MAX_CATEGORY), Some(name)) => {
                    if r.categories.iter().any(|c| c.0 == id || c.1 == name) {
                        return Err(format!(
                            "{}: category {id} or '{name}' defined twice",
                            at(&cfg.categories, i)
                        ));
                    }
                    r.categories.push((id, name.to_string()));
                }
                _ => {
                    return Err(format!(
                        "{}: expected id,shortname,description with an id of 1-{MAX_CATEGORY}",
                        at(&cfg.categories, i)
                    ))
                }
            }
        }
        let mut acc: HashMap<Key, Vec<(u8, u8)>> = HashMap::new();
        for p in &cfg.files {
            let text = read(p)?;
            for (i, line) in text.lines().enumerate() {
                let line = line.trim();
                if line.is_empty() || line.starts_with('#') {
                    continue;
                }
                let f: Vec<&str> = line.split(',').map(str::trim).collect();
                let bad = |why: &str| format!("{}: {why}", at(p, i));
                if f.len() != 3 {
                    return Err(bad("expected address,category,score"));
                }
                let key = super::parse_value(super::Kind::Ip, f[0]).map_err(|e| bad(&e))?;
                let cat = f[1]
                    .parse::<u8>()
                    .ok()
                    .filter(|c| r.categories.iter().any(|x| x.0 == *c))
                    .ok_or_else(|| {
                        bad(&format!(
                            "category '{}' is not in the categories file",
                            f[1]
                        ))
                    })?;
                let score = f[2]
                    .parse::<u8>()
                    .ok()
                    .filter(|s| (1..=127).contains(s))
                    .ok_or_else(|| bad(&format!("score '{}' is not 1-127", f[2])))?;
                let v = acc.entry(key).or_default();
                match v.iter_mut().find(|x| x.0 == cat) {
                    Some(x) => x.1 = score,
                    None => v.push((cat, score)),
                }
            }
        }
        for (k, v) in acc {
            let Key::Net(a, p) = k else { continue };
            let v: Scores = v.into_boxed_slice();
            if p == 128 {
                r.addrs.insert(a, v);
            } else {
                match r.nets.iter_mut().find(|n| n.0 == p) {
                    Some(n) => {
                        n.1.insert(a, v);
                    }
                    None => {
                        let mut t = HashMap::default();
                        t.insert(a, v);
                        r.nets.push((p, t));
                    }
                }
            }
        }
        r.nets.sort_by_key(|n| std::cmp::Reverse(n.0));
        Ok(r)
    }

    /// Addresses and networks with a score.
    pub fn len(&self) -> usize {
        self.addrs.len() + self.nets.iter().map(|n| n.1.len()).sum::<usize>()
    }

    /// Whether nothing is loaded.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The id of a category short name.
    pub fn category(&self, name: &str) -> Option<u8> {
        self.categories.iter().find(|c| c.1 == name).map(|c| c.0)
    }

    /// The score of `a` in category `cat`: the address's own, else that of the most
    /// specific network listing the category.
    pub fn score(&self, a: IpAddr, cat: u8) -> Option<u8> {
        let a = addr_bits(a);
        let of = |s: &Scores| s.iter().find(|x| x.0 == cat).map(|x| x.1);
        self.addrs.get(&a).and_then(of).or_else(|| {
            self.nets
                .iter()
                .find_map(|(p, t)| t.get(&mask(a, *p)).and_then(of))
        })
    }
}

/// Which end of the packet `iprep` checks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Side {
    /// Source.
    Src,
    /// Destination.
    Dst,
    /// Either.
    Any,
    /// Both.
    Both,
}

/// The test on a score.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RepTest {
    /// The score compares so with `value`.
    Cmp(RepOp),
    /// Has a score in the category.
    IsSet,
    /// Has none.
    IsNotSet,
}

/// A parsed `iprep` keyword.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IprepCond {
    /// Which end.
    pub side: Side,
    /// Category short name (resolved against the loaded categories when checked, so a
    /// reload may add categories).
    pub category: String,
    /// Test.
    pub op: RepTest,
    /// Value compared (0-127).
    pub value: u8,
}

impl IprepCond {
    /// Parses `side,category,op,value` or `side,category,isset|isnotset`.
    pub fn parse(v: &str) -> Result<IprepCond, String> {
        let f: Vec<&str> = v.split(',').map(str::trim).collect();
        let side = match f.first().copied() {
            Some("src") => Side::Src,
            Some("dst") => Side::Dst,
            Some("any") => Side::Any,
            Some("both") => Side::Both,
            other => {
                return Err(format!(
                    "iprep side '{}' is not src, dst, any or both",
                    other.unwrap_or("")
                ))
            }
        };
        let category = f
            .get(1)
            .filter(|c| !c.is_empty())
            .ok_or("iprep needs a category")?
            .to_string();
        let (op, value) = match f.len() {
            3 => match f[2] {
                "isset" => (RepTest::IsSet, 0),
                "isnotset" => (RepTest::IsNotSet, 0),
                o => return Err(format!("iprep '{o}': expected isset, isnotset or op,value")),
            },
            4 => {
                let op = RepOp::parse(f[2])
                    .ok_or_else(|| format!("iprep operator '{}' is not <, <=, >, >= or =", f[2]))?;
                let value = f[3]
                    .parse::<u8>()
                    .ok()
                    .filter(|v| *v <= 127)
                    .ok_or_else(|| format!("iprep value '{}' is not 0-127", f[3]))?;
                (RepTest::Cmp(op), value)
            }
            _ => return Err("iprep:side,category,op,value or side,category,isset|isnotset".into()),
        };
        Ok(IprepCond {
            side,
            category,
            op,
            value,
        })
    }

    fn test(&self, score: Option<u8>) -> bool {
        match (self.op, score) {
            (RepTest::IsNotSet, s) => s.is_none(),
            (_, None) => false,
            (RepTest::IsSet, Some(_)) => true,
            (RepTest::Cmp(op), Some(s)) => op.holds(s.into(), self.value.into()),
        }
    }

    /// Whether the packet's ends pass the test with reputation `rep` (None: nothing loaded,
    /// so only `isnotset` holds).
    pub fn holds(&self, rep: Option<&Reputation>, src: IpAddr, dst: IpAddr) -> bool {
        let cat = rep.and_then(|r| Some((r, r.category(&self.category)?)));
        let t = |a: IpAddr| self.test(cat.and_then(|(r, c)| r.score(a, c)));
        match self.side {
            Side::Src => t(src),
            Side::Dst => t(dst),
            Side::Any => t(src) || t(dst),
            Side::Both => t(src) && t(dst),
        }
    }
}
