//! The incident and notification policy of a tuning file: `[incidents]` (how alerts group into
//! incidents) and `[notify]` (which incidents reach a person, and what the action card says).
//!
//! Several tuning files merge key by key: a later file's value replaces an earlier one's, and
//! `[[notify.card]]` entries accumulate (a later card for the same type and severity wins).

use std::time::Duration;

use serde::Deserialize;

use super::file::Criticality;
use super::taxonomy::{IncidentType, Severity};

/// A duration in a tuning file: seconds, or a number with `s`, `m`, `h` or `d`.
#[derive(Clone, Debug, Deserialize)]
#[serde(untagged)]
pub enum DurationValue {
    /// Seconds.
    Seconds(u64),
    /// `"90s"`, `"30m"`, `"1h"`, `"2d"`.
    Text(String),
}

impl DurationValue {
    /// The duration, or why the text is not one.
    pub fn get(&self) -> Result<Duration, String> {
        match self {
            DurationValue::Seconds(s) => Ok(Duration::from_secs(*s)),
            DurationValue::Text(t) => parse_duration(t),
        }
    }
}

/// Parses `90`, `90s`, `30m`, `1h`, `2d`.
pub fn parse_duration(t: &str) -> Result<Duration, String> {
    let t = t.trim();
    let (num, unit) = match t.find(|c: char| !c.is_ascii_digit()) {
        Some(i) => t.split_at(i),
        None => (t, "s"),
    };
    let n: u64 = num
        .parse()
        .map_err(|_| format!("'{t}' is not a duration (like 90s, 30m, 1h, 2d)"))?;
    let mult = match unit.trim() {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => return Err(format!("'{t}' is not a duration (like 90s, 30m, 1h, 2d)")),
    };
    Ok(Duration::from_secs(n.saturating_mul(mult)))
}

/// `[incidents]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IncidentSection {
    /// Group alerts into incidents (default true).
    pub enabled: Option<bool>,
    /// An incident closes after this long without an alert (default 1 h).
    pub idle: Option<DurationValue>,
    /// An incident closes this long after its first alert, active or not (default 24 h).
    pub max: Option<DurationValue>,
    /// Open incidents kept at most; past it the least recently active closes (default 10,000).
    pub cap: Option<usize>,
    /// Distinct signatures on one incident that raise it one level (default 3; 0 turns it off).
    pub corroboration: Option<usize>,
    /// Raise an incident one level when an earlier stage hit the same victim (default true).
    pub stages: Option<bool>,
}

/// `[notify]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NotifySection {
    /// Notify at all (default true).
    pub enabled: Option<bool>,
    /// Lowest incident severity that notifies (default Serious).
    pub min_severity: Option<Severity>,
    /// Incident types that notify (default all six).
    pub types: Option<Vec<u16>>,
    /// Lowest victim asset criticality that notifies (default low: any; a victim outside the
    /// inventory counts as medium).
    pub min_criticality: Option<Criticality>,
    /// Notifications per hour of traffic time at most; the rest are counted (default 20).
    pub per_hour: Option<usize>,
    /// `[[notify.card]]`: what the analyst is asked to do.
    #[serde(default)]
    pub card: Vec<CardEntry>,
}

/// `[[notify.card]]`: the action text for a type and/or a severity.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CardEntry {
    /// Incident type code; absent: every type.
    #[serde(rename = "type")]
    pub itype: Option<u16>,
    /// Severity; absent: every severity.
    pub severity: Option<Severity>,
    /// What to do.
    pub action: String,
}

/// An action card text, resolved.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Card {
    /// Type it applies to (None: all).
    pub itype: Option<IncidentType>,
    /// Severity it applies to (None: all).
    pub severity: Option<Severity>,
    /// What to do.
    pub action: String,
    /// Where it was set (`file`), or "built-in".
    pub from: String,
}

/// The merged incident and notification policy.
#[derive(Clone, Debug)]
pub struct IncidentPolicy {
    /// Incidents on.
    pub enabled: bool,
    /// Idle window.
    pub idle: Duration,
    /// Longest incident.
    pub max: Duration,
    /// Open incidents kept at most.
    pub cap: usize,
    /// Distinct signatures that raise an incident (0: off).
    pub corroboration: usize,
    /// Stage escalation on.
    pub stages: bool,
    /// The notification policy.
    pub notify: NotifyPolicy,
}

/// Which incidents notify.
#[derive(Clone, Debug)]
pub struct NotifyPolicy {
    /// Notifications on.
    pub enabled: bool,
    /// Lowest severity.
    pub min_severity: Severity,
    /// Types that notify.
    pub types: Vec<IncidentType>,
    /// Lowest victim criticality.
    pub min_criticality: Criticality,
    /// Per hour at most.
    pub per_hour: usize,
    /// Cards from the files, later files last.
    pub cards: Vec<Card>,
}

impl Default for IncidentPolicy {
    fn default() -> Self {
        IncidentPolicy {
            enabled: true,
            idle: Duration::from_secs(3600),
            max: Duration::from_secs(86_400),
            cap: 10_000,
            corroboration: 3,
            stages: true,
            notify: NotifyPolicy {
                enabled: true,
                min_severity: Severity::Serious,
                types: ALL_TYPES.to_vec(),
                min_criticality: Criticality::Low,
                per_hour: 20,
                cards: Vec::new(),
            },
        }
    }
}

/// The six incident types.
pub const ALL_TYPES: [IncidentType; 6] = [
    IncidentType::UnauthorizedAccess,
    IncidentType::DenialOfService,
    IncidentType::Malware,
    IncidentType::Suspicious,
    IncidentType::Reconnaissance,
    IncidentType::Other,
];

fn type_of(code: u16, at: &str, errors: &mut Vec<String>) -> Option<IncidentType> {
    let t = IncidentType::from_code(code);
    if t.is_none() {
        errors.push(format!(
            "{at}: type {code} is not one of 100, 200, 300, 400, 500, 600"
        ));
    }
    t
}

impl IncidentPolicy {
    /// Applies one file's sections over the policy so far; problems go to `errors`, each
    /// prefixed with `at` (the file name).
    pub fn merge(
        &mut self,
        inc: Option<&IncidentSection>,
        notify: Option<&NotifySection>,
        at: &str,
        errors: &mut Vec<String>,
    ) {
        if let Some(s) = inc {
            if let Some(b) = s.enabled {
                self.enabled = b;
            }
            let mut dur = |v: &Option<DurationValue>, key: &str, into: &mut Duration| {
                if let Some(v) = v {
                    match v.get() {
                        Ok(d) if d.as_secs() > 0 => *into = d,
                        Ok(_) => errors.push(format!("{at}: incidents.{key} must be at least 1s")),
                        Err(e) => errors.push(format!("{at}: incidents.{key}: {e}")),
                    }
                }
            };
            dur(&s.idle, "idle", &mut self.idle);
            dur(&s.max, "max", &mut self.max);
            if let Some(c) = s.cap {
                if c == 0 {
                    errors.push(format!("{at}: incidents.cap must be at least 1"));
                } else {
                    self.cap = c;
                }
            }
            if let Some(c) = s.corroboration {
                if c == 1 {
                    errors.push(format!(
                        "{at}: incidents.corroboration 1 would raise every incident; use 0 (off) or 2 and more"
                    ));
                } else {
                    self.corroboration = c;
                }
            }
            if let Some(b) = s.stages {
                self.stages = b;
            }
            if self.max < self.idle {
                errors.push(format!(
                    "{at}: incidents.max ({}s) is shorter than incidents.idle ({}s)",
                    self.max.as_secs(),
                    self.idle.as_secs()
                ));
            }
        }
        if let Some(n) = notify {
            let p = &mut self.notify;
            if let Some(b) = n.enabled {
                p.enabled = b;
            }
            if let Some(s) = n.min_severity {
                p.min_severity = s;
            }
            if let Some(types) = &n.types {
                let at = format!("{at}: notify.types");
                p.types = types
                    .iter()
                    .filter_map(|&c| type_of(c, &at, errors))
                    .collect();
            }
            if let Some(c) = n.min_criticality {
                p.min_criticality = c;
            }
            if let Some(h) = n.per_hour {
                p.per_hour = h;
            }
            for c in &n.card {
                let itype = match c.itype {
                    Some(code) => match type_of(code, &format!("{at}: notify.card"), errors) {
                        Some(t) => Some(t),
                        None => continue,
                    },
                    None => None,
                };
                if c.action.trim().is_empty() {
                    errors.push(format!("{at}: notify.card: action is empty"));
                    continue;
                }
                p.cards
                    .retain(|o| (o.itype, o.severity) != (itype, c.severity));
                p.cards.push(Card {
                    itype,
                    severity: c.severity,
                    action: c.action.trim().to_string(),
                    from: at.to_string(),
                });
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_units() {
        assert_eq!(parse_duration("90").unwrap().as_secs(), 90);
        assert_eq!(parse_duration("30m").unwrap().as_secs(), 1800);
        assert_eq!(parse_duration("1h").unwrap().as_secs(), 3600);
        assert_eq!(parse_duration("2d").unwrap().as_secs(), 172_800);
        assert!(parse_duration("1w").is_err());
        assert!(parse_duration("h").is_err());
    }

    #[test]
    fn later_files_refine_and_errors_name_the_key() {
        let a: NotifySection = toml::from_str(
            "min_severity = \"Medium\"\ntypes = [100, 300]\n[[card]]\ntype = 300\naction = \"isolate\"\n",
        )
        .unwrap();
        let b: NotifySection = toml::from_str(
            "per_hour = 5\n[[card]]\ntype = 300\naction = \"reimage\"\n[[card]]\ntype = 700\naction = \"x\"\n",
        )
        .unwrap();
        let inc: IncidentSection = toml::from_str("idle = \"2h\"\nmax = \"1h\"\n").unwrap();
        let mut p = IncidentPolicy::default();
        let mut errors = Vec::new();
        p.merge(None, Some(&a), "a.toml", &mut errors);
        p.merge(Some(&inc), Some(&b), "b.toml", &mut errors);
        assert_eq!(p.notify.min_severity, Severity::Medium);
        assert_eq!(p.notify.per_hour, 5);
        assert_eq!(p.notify.types.len(), 2);
        assert_eq!(p.notify.cards.len(), 1);
        assert_eq!(p.notify.cards[0].action, "reimage");
        assert_eq!(errors.len(), 2, "{errors:?}");
        assert!(errors[0].contains("incidents.max"), "{errors:?}");
        assert!(errors[1].contains("type 700"), "{errors:?}");
    }
}
