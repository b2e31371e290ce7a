//! `classification.config`: classtype -> category and default priority.

use std::collections::HashMap;
use std::path::Path;

/// One classtype.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Class {
    /// Category text logged as EVE `alert.category`.
    pub category: String,
    /// Default priority (EVE `alert.severity`) for rules without `priority`.
    pub priority: u8,
}

/// All classtypes by short name.
#[derive(Clone, Debug, Default)]
pub struct Classifications {
    by_name: HashMap<String, Class>,
}

/// The bundled table, used when no file is configured.
const BUNDLED: &str = include_str!("../../../signatures/classification.config");

impl Classifications {
    /// The table shipped with sekimori (signatures/classification.config).
    pub fn bundled() -> Self {
        Self::parse(BUNDLED, "bundled classification.config")
            .expect("bundled classification.config is valid")
    }

    /// Reads a classification file.
    pub fn from_file(path: &Path) -> Result<Self, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("{}: cannot read: {e}", path.display()))?;
        Self::parse(&text, &path.display().to_string())
    }

    /// Parses `config classification: name,category,priority` lines; `#` starts a comment.
    pub fn parse(text: &str, what: &str) -> Result<Self, String> {
        let mut by_name = HashMap::new();
        for (i, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let err = |m: &str| format!("{what}:{}: {m}", i + 1);
            let body = line
                .strip_prefix("config classification:")
                .ok_or_else(|| err("expected 'config classification: name,category,priority'"))?;
            let mut parts = body.splitn(3, ',').map(str::trim);
            let (Some(name), Some(category), Some(prio)) =
                (parts.next(), parts.next(), parts.next())
            else {
                return Err(err("expected three comma-separated fields"));
            };
            let priority: u8 = prio
                .parse()
                .ok()
                .filter(|p| *p > 0)
                .ok_or_else(|| err(&format!("invalid priority '{prio}'")))?;
            if name.is_empty() {
                return Err(err("empty classtype name"));
            }
            by_name.insert(
                name.to_string(),
                Class {
                    category: category.to_string(),
                    priority,
                },
            );
        }
        Ok(Classifications { by_name })
    }

    /// Looks up a classtype.
    pub fn get(&self, name: &str) -> Option<&Class> {
        self.by_name.get(name)
    }

    /// The classtype whose category text is `category` (EVE `alert.category` back to its
    /// classtype); the alphabetically first when several share a text.
    pub fn name_for_category(&self, category: &str) -> Option<&str> {
        self.by_name
            .iter()
            .filter(|(_, c)| c.category == category)
            .map(|(n, _)| n.as_str())
            .min()
    }

    /// Every classtype, as (name, class), in no particular order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &Class)> {
        self.by_name.iter().map(|(n, c)| (n.as_str(), c))
    }

    /// Number of classtypes.
    pub fn len(&self) -> usize {
        self.by_name.len()
    }

    /// Whether the table is empty.
    pub fn is_empty(&self) -> bool {
        self.by_name.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bundled_table() {
        let c = Classifications::bundled();
        assert!(c.len() >= 40);
        let t = c.get("trojan-activity").unwrap();
        assert_eq!(
            (t.category.as_str(), t.priority),
            ("A Network Trojan was detected", 1)
        );
        assert_eq!(c.get("bad-unknown").unwrap().priority, 2);
    }

    #[test]
    fn errors_name_the_line() {
        let e = Classifications::parse("# c\nconfig classification: a,b\n", "f").unwrap_err();
        assert!(e.starts_with("f:2:"), "{e}");
        assert!(Classifications::parse("config classification: a,b,0", "f").is_err());
        assert!(Classifications::parse("nonsense", "f").is_err());
    }
}
