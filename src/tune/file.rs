//! The tuning file (TOML, plain serde data with spans for `file:line` references) and
//! Suricata's `threshold.config` line format.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::Deserialize;
use toml::Spanned;

use super::taxonomy::Severity;

/// One tuning file.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TuningFile {
    /// Changes to the default classtype/metadata mapping.
    #[serde(default)]
    pub taxonomy: TaxonomySection,
    /// `[[asset]]`: the inventory.
    #[serde(default, rename = "asset")]
    pub assets: Vec<Spanned<AssetEntry>>,
    /// `[[override]]`: severity and type overrides.
    #[serde(default, rename = "override")]
    pub overrides: Vec<Spanned<OverrideEntry>>,
    /// `[[suppress]]`.
    #[serde(default)]
    pub suppress: Vec<Spanned<SuppressEntry>>,
    /// `[[threshold]]`.
    #[serde(default)]
    pub threshold: Vec<Spanned<ThresholdEntry>>,
    /// Suricata threshold.config files (relative to this file) read after this file.
    #[serde(default)]
    pub threshold_config: Vec<PathBuf>,
    /// `[incidents]`: how alerts group into incidents.
    pub incidents: Option<super::policy::IncidentSection>,
    /// `[notify]`: which incidents notify, and the action cards.
    pub notify: Option<super::policy::NotifySection>,
}

/// `[taxonomy]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TaxonomySection {
    /// Use ET's `signature_severity` metadata (default true).
    pub signature_severity: Option<bool>,
    /// How `signature_severity` values read (`Minor = "Medium"`, ...).
    #[serde(default)]
    pub metadata_severity: BTreeMap<String, Severity>,
    /// Per classtype: incident type and/or a fixed base severity.
    #[serde(default)]
    pub classtype: BTreeMap<String, Spanned<ClassEntry>>,
}

/// `[taxonomy.classtype.NAME]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClassEntry {
    /// Incident type code (100..600).
    #[serde(rename = "type")]
    pub itype: Option<u16>,
    /// Base severity for the class (instead of the vendor priority).
    pub severity: Option<Severity>,
}

/// Asset criticality: `low` lowers by one, `high` raises by one.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Criticality {
    /// Lab, guest, test systems.
    Low,
    /// Default.
    #[default]
    Medium,
    /// Crown jewels.
    High,
}

/// Whether an asset can be reached from the internet.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Exposure {
    /// Reachable from the internet.
    Internet,
    /// Not reachable from the internet (behind the perimeter).
    Internal,
}

/// `[[asset]]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AssetEntry {
    /// Name, used in EVE and in `src`/`dst`/`target` conditions.
    pub name: String,
    /// Addresses and networks.
    pub networks: Vec<String>,
    /// Criticality.
    #[serde(default)]
    pub criticality: Criticality,
    /// Exposure.
    pub exposure: Option<Exposure>,
    /// Roles in ET `attack_target` terms (`Web_Server`, `Client_Endpoint`, ...); set it to let
    /// rules aimed at other kinds of systems count one level lower.
    pub roles: Option<Vec<String>>,
    /// Known vulnerabilities (CVE ids). Set (even empty) to say the list is complete: rules
    /// for other CVEs then count one level lower, rules for listed ones one level higher.
    pub vulnerabilities: Option<Vec<String>>,
    /// Ports the asset serves; set it to lower rules aimed at other ports.
    pub services: Option<Vec<u16>>,
}

/// A sid selector: `2019401`, `"1:2019401"`, `"2000000-2000100"`.
#[derive(Clone, Debug, Deserialize)]
#[serde(untagged)]
pub enum SidValue {
    /// A plain sid.
    Int(u32),
    /// `gid:sid` or a range.
    Text(String),
}

/// `[[override]]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OverrideEntry {
    /// Sid, gid:sid or sid range.
    pub sid: Option<SidValue>,
    /// Regular expression on the rule's msg (case-insensitive).
    pub msg: Option<String>,
    /// Classtype name.
    pub classtype: Option<String>,
    /// Metadata key = value pairs that must all be present (values case-insensitive).
    #[serde(default)]
    pub metadata: BTreeMap<String, String>,
    /// Source: networks or asset names.
    pub src: Option<Vec<String>>,
    /// Destination: networks or asset names.
    pub dst: Option<Vec<String>>,
    /// The attacked side (rule `target`, else the destination): networks or asset names.
    pub target: Option<Vec<String>>,
    /// New severity.
    pub severity: Option<Severity>,
    /// New incident type.
    #[serde(rename = "type")]
    pub itype: Option<u16>,
    /// Why (written to EVE).
    pub reason: Option<String>,
}

/// Which address a suppression looks at.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SuppressTrack {
    /// The source.
    BySrc,
    /// The destination.
    ByDst,
    /// Either.
    ByEither,
}

/// `[[suppress]]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SuppressEntry {
    /// Sid, gid:sid or sid range (all rules when absent and `msg` is absent too).
    pub sid: Option<SidValue>,
    /// Regular expression on msg.
    pub msg: Option<String>,
    /// Address to compare; without it every alert of the rule is suppressed.
    pub track: Option<SuppressTrack>,
    /// Addresses, networks, `$VARS` or asset names.
    #[serde(default)]
    pub ip: Vec<String>,
    /// Why.
    pub reason: Option<String>,
}

/// `[[threshold]]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ThresholdEntry {
    /// Sid, gid:sid or sid range (all rules when absent and `msg` is absent too).
    pub sid: Option<SidValue>,
    /// Regular expression on msg.
    pub msg: Option<String>,
    /// limit, threshold, both or backoff.
    #[serde(rename = "type")]
    pub kind: String,
    /// by_src, by_dst, by_rule, by_both, by_flow.
    pub track: String,
    /// Count.
    pub count: u32,
    /// Window (not for backoff).
    pub seconds: Option<u32>,
    /// Growth factor (backoff only).
    pub multiplier: Option<u32>,
}

/// One parsed threshold.config line.
#[derive(Debug, PartialEq, Eq)]
pub enum ThresholdLine {
    /// `suppress gen_id G, sig_id S[, track T, ip LIST]`.
    Suppress {
        /// gen_id (0 with sig_id 0: every rule).
        gid: u32,
        /// sig_id.
        sid: u32,
        /// Track and address list.
        track: Option<(SuppressTrack, String)>,
    },
    /// `threshold`/`event_filter gen_id G, sig_id S, type ..., track ..., count ..., seconds ...`.
    Threshold {
        /// gen_id.
        gid: u32,
        /// sig_id.
        sid: u32,
        /// The remaining options, in rule keyword syntax.
        spec: String,
    },
}

/// Parses one line of threshold.config; `Ok(None)` for blank and comment lines.
pub fn parse_threshold_line(line: &str) -> Result<Option<ThresholdLine>, String> {
    let t = line.trim();
    if t.is_empty() || t.starts_with('#') {
        return Ok(None);
    }
    let (cmd, rest) = t
        .split_once(char::is_whitespace)
        .ok_or_else(|| format!("'{t}': no options"))?;
    let mut gid = None;
    let mut sid = None;
    let mut track = None;
    let mut ip = None;
    let mut other = Vec::new();
    for part in split_options(rest) {
        let (k, v) = part
            .trim()
            .split_once(char::is_whitespace)
            .ok_or_else(|| format!("'{}': expected 'name value'", part.trim()))?;
        let v = v.trim();
        match k {
            "gen_id" => gid = Some(v.parse::<u32>().map_err(|_| format!("bad gen_id '{v}'"))?),
            "sig_id" => sid = Some(v.parse::<u32>().map_err(|_| format!("bad sig_id '{v}'"))?),
            "track" if cmd == "suppress" => track = Some(v.to_string()),
            "ip" => ip = Some(v.to_string()),
            _ => other.push(format!("{k} {v}")),
        }
    }
    let (Some(gid), Some(sid)) = (gid, sid) else {
        return Err("gen_id and sig_id are required".into());
    };
    match cmd {
        "suppress" => {
            if !other.is_empty() {
                return Err(format!("unknown suppress option '{}'", other[0]));
            }
            let track = match (track.as_deref(), ip) {
                (None, None) => None,
                (Some(t), Some(ip)) => Some((
                    match t {
                        "by_src" => SuppressTrack::BySrc,
                        "by_dst" => SuppressTrack::ByDst,
                        "by_either" => SuppressTrack::ByEither,
                        o => return Err(format!("unknown suppress track '{o}'")),
                    },
                    ip,
                )),
                _ => return Err("suppress needs both track and ip, or neither".into()),
            };
            Ok(Some(ThresholdLine::Suppress { gid, sid, track }))
        }
        "threshold" | "event_filter" => {
            if ip.is_some() {
                return Err("'ip' is only valid for suppress".into());
            }
            Ok(Some(ThresholdLine::Threshold {
                gid,
                sid,
                spec: other.join(", "),
            }))
        }
        "rate_filter" => Err("rate_filter (changing a rule's action) is not supported".into()),
        o => Err(format!("unknown command '{o}'")),
    }
}

/// Splits on commas outside `[...]` (ip lists).
fn split_options(s: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let (mut depth, mut start) = (0i32, 0);
    for (i, c) in s.char_indices() {
        match c {
            '[' => depth += 1,
            ']' => depth -= 1,
            ',' if depth == 0 => {
                out.push(&s[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    out.push(&s[start..]);
    out.into_iter().filter(|p| !p.trim().is_empty()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn threshold_config_lines() {
        assert_eq!(parse_threshold_line("  # comment").unwrap(), None);
        assert_eq!(
            parse_threshold_line("suppress gen_id 1, sig_id 2003614").unwrap(),
            Some(ThresholdLine::Suppress {
                gid: 1,
                sid: 2003614,
                track: None
            })
        );
        assert_eq!(
            parse_threshold_line(
                "suppress gen_id 1, sig_id 2009557, track by_either, ip [10.0.0.0/8, 192.0.2.1]"
            )
            .unwrap(),
            Some(ThresholdLine::Suppress {
                gid: 1,
                sid: 2009557,
                track: Some((SuppressTrack::ByEither, "[10.0.0.0/8, 192.0.2.1]".into()))
            })
        );
        assert_eq!(
            parse_threshold_line(
                "event_filter gen_id 1, sig_id 1000, type limit, track by_src, count 1, seconds 60"
            )
            .unwrap(),
            Some(ThresholdLine::Threshold {
                gid: 1,
                sid: 1000,
                spec: "type limit, track by_src, count 1, seconds 60".into()
            })
        );
        for bad in [
            "suppress sig_id 1",
            "suppress gen_id 1, sig_id 1, track by_src",
            "rate_filter gen_id 1, sig_id 1000, track by_rule, count 100, seconds 60, new_action alert, timeout 30",
            "frobnicate gen_id 1, sig_id 1",
            "suppress gen_id x, sig_id 1",
        ] {
            assert!(parse_threshold_line(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn spans_give_lines() {
        let text = "\n[[override]]\nsid = 1\nseverity = \"Medium\"\n\n[[override]]\nsid = 2\n";
        let f: TuningFile = toml::from_str(text).unwrap();
        let lines: Vec<usize> = f
            .overrides
            .iter()
            .map(|o| text[..o.span().start].lines().count() + 1)
            .collect();
        assert_eq!(f.overrides.len(), 2);
        assert!(lines[0] <= 3 && lines[1] > lines[0], "{lines:?}");
    }
}
