//! Reading rule files and directories into a rule set, reporting every rule that fails.

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::header::Vars;
use super::parse::{parse_rule, sniff_sid};
use super::{Action, Origin, Rule};

/// One selector of `[rules] enable/disable/drop`, in suricata-update's spellings:
/// `2019401` or `1:2019401` (sid), `2000000-2000100` (sid range), `re:REGEX` (on the rule text,
/// as suricata-update does), `group:FILE` (rule file name, `*` allowed at the end).
#[derive(Debug)]
pub enum Matcher {
    /// A sid, with an optional gid.
    Sid(Option<u32>, u32),
    /// An inclusive sid range.
    Range(u32, u32),
    /// A regular expression on the rule text.
    Re(pcre2::bytes::Regex),
    /// A rule file name (or prefix, with a trailing `*`).
    Group(String),
}

impl Matcher {
    /// Parses one selector.
    pub fn parse(s: &str) -> Result<Matcher, String> {
        let t = s.trim();
        if let Some(re) = t.strip_prefix("re:") {
            return pcre2::bytes::RegexBuilder::new()
                .caseless(true)
                .build(re)
                .map(Matcher::Re)
                .map_err(|e| format!("'{t}': {e}"));
        }
        if let Some(g) = t.strip_prefix("group:") {
            return Ok(Matcher::Group(g.trim().to_string()));
        }
        if let Some((a, b)) = t.split_once('-') {
            let (a, b) = (a.trim().parse::<u32>(), b.trim().parse::<u32>());
            return match (a, b) {
                (Ok(a), Ok(b)) if a <= b => Ok(Matcher::Range(a, b)),
                _ => Err(format!("'{t}' is not a sid range")),
            };
        }
        if let Some((g, sid)) = t.split_once(':') {
            return match (g.parse::<u32>(), sid.parse::<u32>()) {
                (Ok(g), Ok(sid)) => Ok(Matcher::Sid(Some(g), sid)),
                _ => Err(format!("'{t}' is not gid:sid")),
            };
        }
        t.parse::<u32>()
            .map(|sid| Matcher::Sid(None, sid))
            .map_err(|_| format!("'{t}' is not a sid, range, re:REGEX or group:FILE"))
    }

    fn matches(&self, rule: &Rule, file: &Path) -> bool {
        match self {
            Matcher::Sid(gid, sid) => rule.sid == *sid && gid.is_none_or(|g| g == rule.gid),
            Matcher::Range(a, b) => (*a..=*b).contains(&rule.sid),
            Matcher::Re(re) => re.is_match(rule.text.as_bytes()).unwrap_or(false),
            Matcher::Group(g) => {
                let name = file
                    .file_name()
                    .map(|n| n.to_string_lossy())
                    .unwrap_or_default();
                match g.strip_suffix('*') {
                    Some(prefix) => name.starts_with(prefix),
                    None => name == g.as_str(),
                }
            }
        }
    }
}

/// Which rules to take: suricata-update's enable/disable/drop lists, as config.
/// A rule commented out in its file loads only if `enable` selects it; `disable` wins over
/// `enable`; `drop` turns the selected rules' action into `drop` (for inline mode).
#[derive(Debug, Default)]
pub struct Selection {
    /// Rules to enable (also commented-out ones).
    pub enable: Vec<Matcher>,
    /// Rules to leave out.
    pub disable: Vec<Matcher>,
    /// Rules whose action becomes drop.
    pub drop: Vec<Matcher>,
}

impl Selection {
    fn any(list: &[Matcher], rule: &Rule, file: &Path) -> bool {
        list.iter().any(|m| m.matches(rule, file))
    }
}

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
    /// Rules replaced by a rule with the same gid:sid in a later pack.
    pub overridden: usize,
    /// Duplicate gid:sid within one pack: the lower `rev` (or, at equal revs, the later
    /// one) was left out, with a warning naming both places.
    pub duplicates: usize,
    /// Rules left out by `disable`.
    pub disabled: usize,
    /// Commented-out rules loaded by `enable`.
    pub enabled: usize,
    /// Rules turned into `drop` by `drop`.
    pub dropped: usize,
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

/// Whether a comment line is a rule that was commented out (`# alert tcp ...`).
fn commented_rule(line: &str) -> Option<&str> {
    let body = line.strip_prefix('#')?.trim_start();
    let action = body.split_whitespace().next()?;
    (matches!(
        action,
        "alert" | "drop" | "reject" | "rejectsrc" | "rejectdst" | "rejectboth" | "pass"
    ) && body.contains("sid:"))
    .then_some(body)
}

/// Iterates over the rules of a file's text: `(first line, joined text)`, joining lines that
/// end in `\` and skipping blank lines and comments.
pub fn rule_lines(text: &str) -> impl Iterator<Item = (usize, String)> + '_ {
    all_rule_lines(text, false).map(|(line, text, _)| (line, text))
}

/// Like [`rule_lines`]; with `commented`, also yields commented-out rules (flag set).
fn all_rule_lines(text: &str, commented: bool) -> impl Iterator<Item = (usize, String, bool)> + '_ {
    let mut lines = text.lines().enumerate();
    std::iter::from_fn(move || loop {
        let (idx, line) = lines.next()?;
        let mut trimmed = line.trim();
        let mut is_commented = false;
        if trimmed.starts_with('#') {
            match commented.then(|| commented_rule(trimmed)).flatten() {
                Some(body) => {
                    trimmed = body;
                    is_commented = true;
                }
                None => continue,
            }
        }
        if trimmed.is_empty() {
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
        return Some((idx + 1, joined, is_commented));
    })
}

impl RuleSet {
    /// Loads every pack in order. Only an unreadable path is an error; bad rules are recorded
    /// in `failures` and the rest load.
    pub fn load(paths: &[PathBuf], vars: &Vars) -> Result<RuleSet, String> {
        Self::load_selected(paths, vars, &Selection::default())
    }

    /// Loads packs in order, applying `sel` (enable/disable/drop).
    pub fn load_selected(
        paths: &[PathBuf],
        vars: &Vars,
        sel: &Selection,
    ) -> Result<RuleSet, String> {
        let mut set = RuleSet::default();
        let want_commented = !sel.enable.is_empty();
        let mut index: HashMap<(u32, u32), (usize, usize)> = HashMap::new();
        for (pack, path) in paths.iter().enumerate() {
            for file in rule_files(path)? {
                let bytes = std::fs::read(&file).map_err(|e| format!("{}: {e}", file.display()))?;
                let text = String::from_utf8_lossy(&bytes);
                set.files += 1;
                let shared = Arc::new(file.clone());
                for (line, rule_text, commented) in all_rule_lines(&text, want_commented) {
                    if !commented {
                        set.seen += 1;
                    }
                    match parse_rule(&rule_text, vars) {
                        Ok(mut rule) => {
                            if commented && !Selection::any(&sel.enable, &rule, &file) {
                                continue;
                            }
                            if Selection::any(&sel.disable, &rule, &file) {
                                set.disabled += 1;
                                continue;
                            }
                            if commented {
                                set.seen += 1;
                                set.enabled += 1;
                            }
                            if rule.action == Action::Alert
                                && Selection::any(&sel.drop, &rule, &file)
                            {
                                rule.action = Action::Drop;
                                set.dropped += 1;
                            }
                            rule.origin = Some(Origin {
                                file: shared.clone(),
                                line,
                            });
                            set.insert(rule, pack, &mut index);
                        }
                        // A commented-out line that does not parse was never meant to load.
                        Err(_) if commented => {}
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

    /// Adds a rule from pack number `pack`. A rule with the gid:sid of one from an earlier
    /// pack replaces it (a SOC's refined copy of a vendor rule). Within one pack, the higher
    /// `rev` stays (at equal revs the first), as Suricata does, with a warning naming both.
    fn insert(&mut self, rule: Rule, pack: usize, index: &mut HashMap<(u32, u32), (usize, usize)>) {
        let place = |r: &Rule| {
            r.origin
                .as_ref()
                .map(|o| format!("{}:{}", o.file.display(), o.line))
                .unwrap_or_default()
        };
        match index.get(&rule.key()).copied() {
            Some((at, old_pack)) if old_pack == pack => {
                let old = &self.rules[at];
                let keep_new = rule.rev > old.rev;
                let (kept, dropped) = if keep_new { (&rule, old) } else { (old, &rule) };
                tracing::warn!(
                    "duplicate sid {}:{}: keeping rev {} at {}, ignoring rev {} at {}",
                    rule.gid,
                    rule.sid,
                    kept.rev,
                    place(kept),
                    dropped.rev,
                    place(dropped)
                );
                self.duplicates += 1;
                if keep_new {
                    self.rules[at] = rule;
                }
            }
            Some((at, _)) => {
                tracing::info!(
                    gid = rule.gid,
                    sid = rule.sid,
                    "rule {}:{} overrides the one at {}",
                    rule.gid,
                    rule.sid,
                    place(&self.rules[at])
                );
                self.rules[at] = rule;
                index.insert(self.rules[at].key(), (at, pack));
                self.overridden += 1;
            }
            None => {
                index.insert(rule.key(), (self.rules.len(), pack));
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
    fn duplicates_within_a_pack_keep_the_highest_rev() {
        let dir = tempfile::tempdir().unwrap();
        let pack = dir.path().join("pack");
        std::fs::create_dir(&pack).unwrap();
        std::fs::write(
            pack.join("a.rules"),
            "alert tcp any any -> any any (msg:\"new\"; sid:7; rev:3;)\n\
             alert tcp any any -> any any (msg:\"same rev, later\"; sid:8; rev:1;)\n",
        )
        .unwrap();
        std::fs::write(
            pack.join("b.rules"),
            "alert tcp any any -> any any (msg:\"old\"; sid:7; rev:2;)\n\
             alert tcp any any -> any any (msg:\"same rev\"; sid:8; rev:1;)\n\
             alert tcp any any -> any any (msg:\"newest\"; sid:9; rev:5;)\n",
        )
        .unwrap();
        std::fs::write(
            pack.join("c.rules"),
            "alert tcp any any -> any any (msg:\"older\"; sid:9; rev:4;)\n",
        )
        .unwrap();
        let set = RuleSet::load(std::slice::from_ref(&pack), &Vars::default()).unwrap();
        let msgs: Vec<(u32, &str)> = set.rules.iter().map(|r| (r.sid, r.msg.as_str())).collect();
        assert_eq!(
            msgs,
            vec![(7, "new"), (8, "same rev, later"), (9, "newest")]
        );
        assert_eq!((set.duplicates, set.overridden), (3, 0));
        // A later pack still replaces, whatever its rev: the SOC's own copy wins.
        let soc = dir.path().join("soc.rules");
        std::fs::write(
            &soc,
            "alert tcp any any -> any any (msg:\"soc\"; sid:7; rev:1;)\n",
        )
        .unwrap();
        let set = RuleSet::load(&[pack, soc], &Vars::default()).unwrap();
        assert_eq!(set.rules[0].msg, "soc");
        assert_eq!(set.overridden, 1);
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
    fn enable_disable_drop() {
        let dir = tempfile::tempdir().unwrap();
        let a = dir.path().join("emerging-x.rules");
        std::fs::write(
            &a,
            "alert tcp any any -> any any (msg:\"noisy\"; sid:100;)\n\
             alert tcp any any -> any any (msg:\"keep\"; sid:101;)\n\
             alert tcp any any -> any any (msg:\"Heartbleed probe\"; sid:150;)\n\
             # alert tcp any any -> any any (msg:\"off by default\"; sid:200;)\n\
             # a plain comment mentioning sid:201\n",
        )
        .unwrap();
        let sel = Selection {
            enable: vec![Matcher::parse("200").unwrap()],
            disable: vec![Matcher::parse("1:100").unwrap()],
            drop: vec![Matcher::parse("re:heartbleed").unwrap()],
        };
        let set = RuleSet::load_selected(std::slice::from_ref(&a), &Vars::default(), &sel).unwrap();
        let sids: Vec<u32> = set.rules.iter().map(|r| r.sid).collect();
        assert_eq!(sids, vec![101, 150, 200]);
        assert_eq!((set.disabled, set.enabled, set.dropped), (1, 1, 1));
        assert_eq!(set.rules[1].action, Action::Drop);
        assert!(set.failures.is_empty());
        let by_file = Selection {
            disable: vec![Matcher::parse("group:emerging-*").unwrap()],
            ..Selection::default()
        };
        assert!(RuleSet::load_selected(&[a], &Vars::default(), &by_file)
            .unwrap()
            .rules
            .is_empty());
        for bad in ["abc", "5-3", "x:1", "re:(unclosed"] {
            assert!(Matcher::parse(bad).is_err(), "{bad}");
        }
        assert!(matches!(
            Matcher::parse("2000000-2000100").unwrap(),
            Matcher::Range(2_000_000, 2_000_100)
        ));
    }

    #[test]
    fn missing_path_is_an_error() {
        assert!(RuleSet::load(&[PathBuf::from("/nonexistent/x.rules")], &Vars::default()).is_err());
        let dir = tempfile::tempdir().unwrap();
        assert!(RuleSet::load(&[dir.path().to_path_buf()], &Vars::default()).is_err());
    }
}
