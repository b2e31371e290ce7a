//! Reading rule files and directories into a rule set, reporting every rule that fails.

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::header::Vars;
use super::parse::{parse_rule, sniff_sid};
use super::{Origin, Rule};

/// A rule that could not be loaded, with where it is and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RuleFailure {
    /// Rules file.
    pub file: PathBuf,
    /// 1-based line of the rule.
    pub line: usize,
    /// The sid, when it could be read.
    pub sid: Option<u32>,
    /// Why it failed.
    pub reason: String,
}

impl fmt::Display for RuleFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}: ", self.file.display(), self.line)?;
        match self.sid {
            Some(sid) => write!(f, "sid {sid}: ")?,
            None => write!(f, "sid unknown: ")?,
        }
        f.write_str(&self.reason)
    }
}

/// The rules read from a list of packs, in load order, after later packs override earlier ones.
#[derive(Debug, Default)]
pub struct RuleSet {
    /// Parsed rules.
    pub rules: Vec<Rule>,
    /// Rules that did not parse.
    pub failures: Vec<RuleFailure>,
    /// Rule files read.
    pub files: usize,
    /// Rule lines seen (parsed or not), commented-out rules excluded.
    pub seen: usize,
    /// Rules replaced by a later rule with the same gid:sid.
    pub overridden: usize,
}

/// Collects the `.rules` files under `path` (a file is taken as is), sorted for a stable order.
pub fn rule_files(path: &Path) -> Result<Vec<PathBuf>, String> {
    let meta = std::fs::metadata(path).map_err(|e| format!("{}: {e}", path.display()))?;
    if meta.is_file() {
        return Ok(vec![path.to_path_buf()]);
    }
    let mut out = Vec::new();
    let entries = std::fs::read_dir(path).map_err(|e| format!("{}: {e}", path.display()))?;
    for entry in entries {
        let entry = entry.map_err(|e| format!("{}: {e}", path.display()))?;
        let p = entry.path();
        if p.is_file() && p.extension().is_some_and(|e| e == "rules") {
            out.push(p);
        }
    }
    out.sort();
    if out.is_empty() {
        return Err(format!("{}: no .rules files in directory", path.display()));
    }
    Ok(out)
}

/// Iterates over the rules of a file's text: `(first line, joined text)`, joining lines that
/// end in `\` and skipping blank lines and comments.
pub fn rule_lines(text: &str) -> impl Iterator<Item = (usize, String)> + '_ {
    let mut lines = text.lines().enumerate();
    std::iter::from_fn(move || loop {
        let (idx, line) = lines.next()?;
        let trimmed = line.trim();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        let mut joined = String::new();
        let mut cur = trimmed.to_string();
        while let Some(stripped) = cur.strip_suffix('\\') {
            joined.push_str(stripped);
            match lines.next() {
                Some((_, next)) => cur = next.trim().to_string(),
                None => {
                    cur = String::new();
                    break;
                }
            }
        }
        joined.push_str(&cur);
        return Some((idx + 1, joined));
    })
}

impl RuleSet {
    /// Loads every pack in order. Only an unreadable path is an error; bad rules are recorded
    /// in `failures` and the rest load.
    pub fn load(paths: &[PathBuf], vars: &Vars) -> Result<RuleSet, String> {
        let mut set = RuleSet::default();
        let mut index: HashMap<(u32, u32), usize> = HashMap::new();
        for path in paths {
            for file in rule_files(path)? {
                let bytes = std::fs::read(&file).map_err(|e| format!("{}: {e}", file.display()))?;
                let text = String::from_utf8_lossy(&bytes);
                set.files += 1;
                let shared = Arc::new(file.clone());
                for (line, rule_text) in rule_lines(&text) {
                    set.seen += 1;
                    match parse_rule(&rule_text, vars) {
                        Ok(mut rule) => {
                            rule.origin = Some(Origin {
                                file: shared.clone(),
                                line,
                            });
                            set.insert(rule, &mut index);
                        }
                        Err(reason) => set.failures.push(RuleFailure {
                            file: file.clone(),
                            line,
                            sid: sniff_sid(&rule_text),
                            reason,
                        }),
                    }
                }
            }
        }
        Ok(set)
    }

    /// Adds a rule; a rule with the same gid:sid as an earlier one replaces it.
    fn insert(&mut self, rule: Rule, index: &mut HashMap<(u32, u32), usize>) {
        match index.get(&rule.key()) {
            Some(&at) => {
                let old = &self.rules[at];
                tracing::info!(
                    gid = rule.gid,
                    sid = rule.sid,
                    "rule {}:{} overrides the one at {}",
                    rule.gid,
                    rule.sid,
                    old.origin
                        .as_ref()
                        .map(|o| format!("{}:{}", o.file.display(), o.line))
                        .unwrap_or_default()
                );
                self.rules[at] = rule;
                self.overridden += 1;
            }
            None => {
                index.insert(rule.key(), self.rules.len());
                self.rules.push(rule);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn continuation_and_comments() {
        let text = "# comment\n\nalert tcp any any -> any any \\\n  (sid:1;)\n#alert tcp any any -> any any (sid:2;)\nalert udp any any -> any any (sid:3;)\n";
        let got: Vec<(usize, String)> = rule_lines(text).collect();
        assert_eq!(got.len(), 2);
        assert_eq!(
            got[0],
            (3, "alert tcp any any -> any any (sid:1;)".to_string())
        );
        assert_eq!(got[1].0, 6);
    }

    #[test]
    fn bad_rules_are_reported_and_later_packs_override() {
        let dir = tempfile::tempdir().unwrap();
        let a = dir.path().join("a.rules");
        let b = dir.path().join("b.rules");
        let mut f = std::fs::File::create(&a).unwrap();
        writeln!(
            f,
            "alert tcp any any -> any any (msg:\"v1\"; sid:10; rev:1;)"
        )
        .unwrap();
        writeln!(
            f,
            "alert tcp any any -> any any (msg:\"bad\"; content:\"|4|\"; sid:11;)"
        )
        .unwrap();
        writeln!(f, "alert tcp any any -> any any (msg:\"ok\"; sid:12;)").unwrap();
        std::fs::write(
            &b,
            "alert tcp any any -> any any (msg:\"v2\"; sid:10; rev:2;)\n",
        )
        .unwrap();
        let set = RuleSet::load(&[a.clone(), b], &Vars::default()).unwrap();
        assert_eq!(set.files, 2);
        assert_eq!(set.seen, 4);
        assert_eq!(set.rules.len(), 2);
        assert_eq!(set.overridden, 1);
        assert_eq!(set.rules[0].msg, "v2");
        assert_eq!(set.failures.len(), 1);
        let fail = &set.failures[0];
        assert_eq!((fail.line, fail.sid), (2, Some(11)));
        assert!(
            fail.to_string().contains("a.rules:2: sid 11: content"),
            "{fail}"
        );
    }

    #[test]
    fn missing_path_is_an_error() {
        assert!(RuleSet::load(&[PathBuf::from("/nonexistent/x.rules")], &Vars::default()).is_err());
        let dir = tempfile::tempdir().unwrap();
        assert!(RuleSet::load(&[dir.path().to_path_buf()], &Vars::default()).is_err());
    }
}
