//! The tuning advisor: reads EVE alerts back, measures how each signature behaves
//! ([`report`]), suggests a tuning file with the evidence for each line ([`suggest_toml`]), and
//! shows what a tuning would change before it is deployed ([`diff`]).
//!
//! Flags (documented in the README):
//! - *noise*: on a `--baseline` (traffic known to be clean) every signature that fired; else
//!   a signature that dominates (>= 5% of all alerts and >= 20 hits), is widespread (>= 10
//!   distinct sources or destinations), or fires steadily (>= 50 hits, burstiness <= 0.2);
//! - *high value*: not noise, an attack class (100/200/300), vendor severity Serious or
//!   Critical, at most 20 hits on at most 3 sources and 3 destinations.
//!
//! Burstiness is the share of a signature's hits that fall in its busiest minute: 1.0 is one
//! burst, values near 0 are a steady drip.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt::Write as _;
use std::io::{BufRead, BufReader};
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use serde_json::Value;

use super::taxonomy::{sig_type, IncidentType, Severity};
use super::{AlertFacts, Decision, SigInfo, Tuner};
use crate::detect::rules::classification::Classifications;
use crate::detect::rules::keywords::ThresholdSpec;
use crate::detect::rules::Vars;
use crate::detect::threshold::{Subject, Thresholds};

/// One alert read back from EVE.
#[derive(Clone, Debug)]
pub struct EveAlert {
    /// Microseconds since the epoch.
    pub ts: i64,
    /// gid.
    pub gid: u32,
    /// sid.
    pub sid: u32,
    /// msg.
    pub msg: String,
    /// Category text.
    pub category: String,
    /// Severity as logged.
    pub severity: u8,
    /// The vendor's severity (the tuning object's `vendor_severity`, else `severity`).
    pub vendor: u8,
    /// Metadata pairs.
    pub metadata: Vec<(String, String)>,
    /// Source.
    pub src: IpAddr,
    /// Destination.
    pub dst: IpAddr,
    /// Source port.
    pub sport: u16,
    /// Destination port.
    pub dport: u16,
    /// The rule's target address, when the rule had `target`.
    pub target: Option<IpAddr>,
    /// Packet direction in its flow, when known.
    pub to_server: Option<bool>,
    /// Flow identity (flow_id, else community_id, else the address pair).
    pub flow: String,
}

/// Alerts and what could not be read.
#[derive(Debug, Default)]
pub struct EveInput {
    /// Alerts in file order.
    pub alerts: Vec<EveAlert>,
    /// Lines that were not JSON or lacked alert fields.
    pub bad_lines: usize,
    /// Events of other types.
    pub other_events: usize,
}

pub use crate::common::time::parse_timestamp;

fn alert_from(v: &Value) -> Option<EveAlert> {
    let a = v.get("alert")?;
    let ip = |k: &str| v.get(k)?.as_str()?.parse::<IpAddr>().ok();
    let port = |k: &str| v.get(k).and_then(Value::as_u64).unwrap_or(0) as u16;
    let severity = a.get("severity")?.as_u64()? as u8;
    let vendor = v
        .pointer("/sekimori/tuning/vendor_severity")
        .and_then(Value::as_u64)
        .map_or(severity, |x| x as u8);
    let mut metadata = Vec::new();
    if let Some(m) = a.get("metadata").and_then(Value::as_object) {
        for (k, vals) in m {
            for x in vals.as_array().into_iter().flatten() {
                if let Some(s) = x.as_str() {
                    metadata.push((k.clone(), s.to_string()));
                }
            }
        }
    }
    let (src, dst) = (ip("src_ip")?, ip("dest_ip")?);
    let flow = match (v.get("flow_id"), v.get("community_id")) {
        (Some(f), _) => f.to_string(),
        (None, Some(c)) => c.to_string(),
        _ => format!("{src}-{dst}"),
    };
    Some(EveAlert {
        ts: v
            .get("timestamp")
            .and_then(Value::as_str)
            .and_then(parse_timestamp)
            .unwrap_or(0),
        gid: a.get("gid").and_then(Value::as_u64).unwrap_or(1) as u32,
        sid: a.get("signature_id")?.as_u64()? as u32,
        msg: a.get("signature")?.as_str()?.to_string(),
        category: a
            .get("category")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string(),
        severity,
        vendor,
        metadata,
        src,
        dst,
        sport: port("src_port"),
        dport: port("dest_port"),
        target: a
            .pointer("/target/ip")
            .and_then(Value::as_str)
            .and_then(|s| s.parse().ok()),
        to_server: v
            .get("direction")
            .and_then(Value::as_str)
            .map(|d| d == "to_server"),
        flow,
    })
}

/// Reads the alert events of EVE files (other events are counted and skipped).
pub fn read_eve(paths: &[PathBuf]) -> Result<EveInput, String> {
    let mut out = EveInput::default();
    for p in paths {
        let f = std::fs::File::open(p).map_err(|e| format!("{}: {e}", p.display()))?;
        // Lines are read as bytes: one that is not UTF-8 or not JSON (a cut or corrupted
        // line) is counted and skipped, not fatal to the whole file.
        let mut reader = BufReader::new(f);
        let mut line = Vec::new();
        loop {
            line.clear();
            let n = reader
                .read_until(b'\n', &mut line)
                .map_err(|e| format!("{}: {e}", p.display()))?;
            if n == 0 {
                break;
            }
            if line.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            let Ok(v) = serde_json::from_slice::<Value>(&line) else {
                out.bad_lines += 1;
                continue;
            };
            if v.get("event_type").and_then(Value::as_str) != Some("alert") {
                out.other_events += 1;
                continue;
            }
            match alert_from(&v) {
                Some(a) => out.alerts.push(a),
                None => out.bad_lines += 1,
            }
        }
    }
    Ok(out)
}

/// How one signature behaved.
#[derive(Clone, Debug)]
pub struct SigReport {
    /// gid.
    pub gid: u32,
    /// sid.
    pub sid: u32,
    /// msg.
    pub msg: String,
    /// Incident type (default mapping from the category's classtype).
    pub itype: IncidentType,
    /// Vendor severity (EVE scale).
    pub vendor: u8,
    /// Most common logged severity.
    pub now: u8,
    /// ET `signature_severity`, when present.
    pub vendor_label: Option<String>,
    /// Alerts.
    pub hits: u64,
    /// Share of all alerts.
    pub share: f64,
    /// Distinct sources.
    pub sources: usize,
    /// Distinct destinations.
    pub destinations: usize,
    /// Distinct flows.
    pub flows: usize,
    /// Share of hits in the busiest minute.
    pub burstiness: f64,
    /// Likely noise, with the evidence.
    pub noise: Option<String>,
    /// Likely high value, with the evidence.
    pub high_value: Option<String>,
}

impl SigReport {
    /// The severity `suggest_toml` proposes, if it differs from the current one.
    pub fn suggestion(&self, baseline: bool) -> Option<Severity> {
        let now = Severity::from_eve(self.now);
        let want = if self.noise.is_some() {
            if baseline || !self.itype.is_attack() {
                Severity::Informational
            } else {
                Severity::Medium
            }
        } else if self.high_value.is_some() {
            now.step(1).max(Severity::Serious)
        } else {
            return None;
        };
        (want != now).then_some(want)
    }
}

/// "1 hit", "2 hits".
fn counted(n: usize, noun: &str) -> String {
    format!("{n} {noun}{}", if n == 1 { "" } else { "s" })
}

/// Per-signature behaviour, busiest first.
pub fn report(input: &EveInput, classes: &Classifications, baseline: bool) -> Vec<SigReport> {
    #[derive(Default)]
    struct Acc<'a> {
        first: Option<&'a EveAlert>,
        hits: u64,
        src: HashSet<IpAddr>,
        dst: HashSet<IpAddr>,
        flows: HashSet<&'a str>,
        minutes: HashMap<i64, u64>,
        logged: BTreeMap<u8, u64>,
    }
    let mut by: HashMap<(u32, u32), Acc<'_>> = HashMap::new();
    for a in &input.alerts {
        let e = by.entry((a.gid, a.sid)).or_default();
        e.first.get_or_insert(a);
        e.hits += 1;
        e.src.insert(a.src);
        e.dst.insert(a.dst);
        e.flows.insert(&a.flow);
        *e.minutes.entry(a.ts.div_euclid(60_000_000)).or_default() += 1;
        *e.logged.entry(a.severity).or_default() += 1;
    }
    let total = input.alerts.len().max(1) as f64;
    let mut out: Vec<SigReport> = by
        .into_iter()
        .filter_map(|((gid, sid), e)| {
            let a = e.first?;
            let itype = sig_type(classes.name_for_category(&a.category).unwrap_or(""), &a.msg);
            let burst = e.minutes.values().copied().max().unwrap_or(0) as f64 / e.hits as f64;
            let share = e.hits as f64 / total;
            let (srcs, dsts) = (e.src.len(), e.dst.len());
            let evidence = format!(
                "{} ({:.1}% of alerts), {}, {}, {}, burstiness {burst:.2}",
                counted(e.hits as usize, "hit"),
                share * 100.0,
                counted(srcs, "source"),
                counted(dsts, "destination"),
                counted(e.flows.len(), "flow")
            );
            let noise = if baseline {
                Some(format!("fired on known-clean baseline traffic: {evidence}"))
            } else if share >= 0.05 && e.hits >= 20 {
                Some(format!("dominates the alert stream: {evidence}"))
            } else if srcs >= 10 || dsts >= 10 {
                Some(format!("widespread across hosts: {evidence}"))
            } else if e.hits >= 50 && burst <= 0.2 {
                Some(format!("steady background rate: {evidence}"))
            } else {
                None
            };
            let high_value = (noise.is_none()
                && itype.is_attack()
                && a.vendor <= 2
                && e.hits <= 20
                && srcs <= 3
                && dsts <= 3)
                .then(|| format!("rare and targeted {} detection: {evidence}", itype.label()));
            Some(SigReport {
                gid,
                sid,
                msg: a.msg.clone(),
                itype,
                vendor: a.vendor,
                now: e
                    .logged
                    .iter()
                    .max_by_key(|(_, n)| **n)
                    .map_or(a.severity, |(s, _)| *s),
                vendor_label: a
                    .metadata
                    .iter()
                    .find(|(k, _)| k == "signature_severity")
                    .map(|(_, v)| v.clone()),
                hits: e.hits,
                share,
                sources: srcs,
                destinations: dsts,
                flows: e.flows.len(),
                burstiness: burst,
                noise,
                high_value,
            })
        })
        .collect();
    out.sort_by(|a, b| b.hits.cmp(&a.hits).then(a.sid.cmp(&b.sid)));
    out
}

/// The report as a table.
pub fn render_table(rows: &[SigReport]) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "{:>10} {:>7} {:>6} {:>5} {:>5} {:>6} {:>5}  {:<13} {:<6} {:<5}  msg",
        "gid:sid",
        "hits",
        "share",
        "srcs",
        "dsts",
        "flows",
        "burst",
        "severity now",
        "vendor",
        "flag"
    );
    for r in rows {
        let flag = if r.noise.is_some() {
            "noise"
        } else if r.high_value.is_some() {
            "high"
        } else {
            ""
        };
        let _ = writeln!(
            s,
            "{:>10} {:>7} {:>5.1}% {:>5} {:>5} {:>6} {:>5.2}  {:<13} {:<6} {:<5}  {}",
            format!("{}:{}", r.gid, r.sid),
            r.hits,
            r.share * 100.0,
            r.sources,
            r.destinations,
            r.flows,
            r.burstiness,
            Severity::from_eve(r.now).label(),
            r.vendor,
            flag,
            r.msg
        );
    }
    s
}

/// A tuning file with one override per suggested change, each with its evidence.
pub fn suggest_toml(rows: &[SigReport], baseline: bool, sources: &[PathBuf]) -> String {
    let mut s = String::new();
    let names: Vec<String> = sources.iter().map(|p| p.display().to_string()).collect();
    let _ = writeln!(
        s,
        "# Suggested by `sekimori tune report{}` from {}.",
        if baseline { " --baseline" } else { "" },
        names.join(", ")
    );
    let _ = writeln!(
        s,
        "# Review every entry, then check its effect with `sekimori tune diff` before deploying."
    );
    let mut n = 0;
    for r in rows {
        let Some(want) = r.suggestion(baseline) else {
            continue;
        };
        n += 1;
        let why = r.noise.as_deref().or(r.high_value.as_deref()).unwrap_or("");
        let _ = writeln!(s);
        let _ = writeln!(s, "# {}", r.msg);
        let _ = writeln!(
            s,
            "# {why}; logged {} (vendor {}{}).",
            Severity::from_eve(r.now).label(),
            r.vendor,
            r.vendor_label
                .as_deref()
                .map(|l| format!(", ET signature_severity {l}"))
                .unwrap_or_default()
        );
        let _ = writeln!(s, "[[override]]");
        if r.gid == 1 {
            let _ = writeln!(s, "sid = {}", r.sid);
        } else {
            let _ = writeln!(s, "sid = \"{}:{}\"", r.gid, r.sid);
        }
        let _ = writeln!(s, "severity = \"{}\"", want.label());
        let tag = if r.noise.is_some() {
            "noise"
        } else {
            "high value"
        };
        let _ = writeln!(
            s,
            "reason = \"tune report: {tag}, {}, {}, {}\"",
            counted(r.hits as usize, "hit"),
            counted(r.sources, "source"),
            counted(r.destinations, "destination")
        );
    }
    if n == 0 {
        let _ = writeln!(s, "\n# No changes suggested.");
    }
    s
}

/// One side of a diff: vendor severities, or a tuning.
pub enum Side {
    /// The vendor's severities, nothing suppressed.
    Vendor,
    /// A compiled tuning.
    Tuned(Box<Tuner>),
}

/// Counts for one side.
#[derive(Clone, Debug, Default)]
pub struct SideCounts {
    /// Alerts by severity (Informational..Critical).
    pub by_severity: [u64; 4],
    /// Suppressed.
    pub suppressed: u64,
    /// Removed by a tuning threshold.
    pub thresholded: u64,
}

impl SideCounts {
    /// Serious plus Critical.
    pub fn escalations(&self) -> u64 {
        self.by_severity[2] + self.by_severity[3]
    }
}

/// One signature in a diff: msg, then alerts by outcome on the old and the new side
/// (Informational, Medium, Serious, Critical, removed).
pub type SigChange = (String, [u64; 5], [u64; 5]);

/// What a change of tuning does to a set of alerts.
#[derive(Debug, Default)]
pub struct Diff {
    /// Old side.
    pub old: SideCounts,
    /// New side.
    pub new: SideCounts,
    /// Per signature (gid, sid): msg and the old and new outcomes.
    pub per_sig: BTreeMap<(u32, u32), SigChange>,
    /// Flows with at least one alert, and those with an escalation, per side.
    pub flows: (usize, usize, usize),
}

/// The distinct signatures of `alerts`, as tuning sees them, and each alert's index into them.
pub fn sig_table<'a>(
    alerts: &'a [EveAlert],
    classes: &'a Classifications,
) -> (Vec<SigInfo<'a>>, Vec<u32>) {
    let mut idx: HashMap<(u32, u32), u32> = HashMap::new();
    let mut infos = Vec::new();
    let mut of = Vec::with_capacity(alerts.len());
    for a in alerts {
        let i = *idx.entry((a.gid, a.sid)).or_insert_with(|| {
            infos.push(SigInfo {
                gid: a.gid,
                sid: a.sid,
                msg: &a.msg,
                classtype: classes.name_for_category(&a.category),
                priority: a.vendor,
                metadata: &a.metadata,
            });
            infos.len() as u32 - 1
        });
        of.push(i);
    }
    (infos, of)
}

/// Compiles a tuning side against the alerts' signatures (`None`: vendor).
pub fn load_side(
    files: Option<&[PathBuf]>,
    infos: &[SigInfo<'_>],
    vars: &Vars,
) -> Result<Side, String> {
    match files {
        None => Ok(Side::Vendor),
        Some(f) => Ok(Side::Tuned(Box::new(Tuner::load(f, infos, vars)?))),
    }
}

/// Outcome index: 0..4 severity (Informational..Critical), 4 removed.
fn outcome(side: &Side, th: &Thresholds, idx: u32, a: &EveAlert) -> (usize, bool) {
    let Side::Tuned(t) = side else {
        return (Severity::from_eve(a.vendor) as usize, false);
    };
    let target = a.target.unwrap_or(a.dst);
    let facts = AlertFacts {
        src: a.src,
        dst: a.dst,
        target,
        target_port: match (target == a.dst, a.to_server) {
            (true, Some(true)) => Some(a.dport),
            (false, Some(false)) => Some(a.sport),
            _ => None,
        },
    };
    if let Some((spec, _)) = t.threshold(idx) {
        let subject = Subject {
            src: a.src,
            dst: a.dst,
            flow_id: flow_num(&a.flow),
            ts: a.ts,
            sport: a.sport,
            dport: a.dport,
        };
        let spec: &ThresholdSpec = spec;
        if !th.allow(spec, idx, 2, subject) {
            return (4, true);
        }
    }
    match t.decide(idx, &facts) {
        Decision::Suppressed(_) => (4, false),
        Decision::Alert(x) => (x.severity as usize, false),
    }
}

fn flow_num(s: &str) -> u64 {
    s.parse().unwrap_or_else(|_| {
        use std::hash::{Hash, Hasher};
        let mut h = std::collections::hash_map::DefaultHasher::new();
        s.hash(&mut h);
        h.finish()
    })
}

/// Applies both sides to every alert (in order, so thresholds count as they would live).
pub fn diff(alerts: &[EveAlert], of: &[u32], old: &Side, new: &Side) -> Diff {
    let (tho, thn) = (Thresholds::default(), Thresholds::default());
    let mut d = Diff::default();
    let mut flows: HashMap<&str, (bool, bool)> = HashMap::new();
    for (a, &i) in alerts.iter().zip(of) {
        let (o, o_th) = outcome(old, &tho, i, a);
        let (n, n_th) = outcome(new, &thn, i, a);
        for (counts, x, th) in [(&mut d.old, o, o_th), (&mut d.new, n, n_th)] {
            match (x, th) {
                (4, true) => counts.thresholded += 1,
                (4, false) => counts.suppressed += 1,
                (s, _) => counts.by_severity[s] += 1,
            }
        }
        let e = d
            .per_sig
            .entry((a.gid, a.sid))
            .or_insert_with(|| (a.msg.clone(), [0; 5], [0; 5]));
        e.1[o] += 1;
        e.2[n] += 1;
        let f = flows.entry(&a.flow).or_default();
        f.0 |= (2..4).contains(&o);
        f.1 |= (2..4).contains(&n);
    }
    d.flows = (
        flows.len(),
        flows.values().filter(|f| f.0).count(),
        flows.values().filter(|f| f.1).count(),
    );
    d
}

/// The diff as text.
pub fn render_diff(d: &Diff, old_name: &str, new_name: &str) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "{:<16} {:>10} {:>10}", "", old_name, new_name);
    for sev in Severity::ALL.iter().rev() {
        let i = *sev as usize;
        let _ = writeln!(
            s,
            "{:<16} {:>10} {:>10}",
            sev.label(),
            d.old.by_severity[i],
            d.new.by_severity[i]
        );
    }
    let _ = writeln!(
        s,
        "{:<16} {:>10} {:>10}",
        "suppressed", d.old.suppressed, d.new.suppressed
    );
    let _ = writeln!(
        s,
        "{:<16} {:>10} {:>10}",
        "thresholded", d.old.thresholded, d.new.thresholded
    );
    let (eo, en) = (d.old.escalations(), d.new.escalations());
    let _ = writeln!(
        s,
        "escalations (Serious+Critical): {eo} -> {en}{}",
        if en > 0 {
            format!(" ({:.1}x fewer)", eo as f64 / en as f64)
        } else if eo > 0 {
            " (none left)".to_string()
        } else {
            String::new()
        }
    );
    let (nf, fo, fnew) = d.flows;
    let _ = writeln!(
        s,
        "alerting flows: {nf}; escalated: {fo} -> {fnew}{}",
        if fo > 0 {
            format!(
                " ({:.1}% of the old escalated flows' count)",
                fnew as f64 * 100.0 / fo as f64
            )
        } else {
            String::new()
        }
    );
    let changed: Vec<_> = d.per_sig.iter().filter(|(_, v)| v.1 != v.2).collect();
    let _ = writeln!(s, "signatures that change: {}", changed.len());
    let label = |c: &[u64; 5]| -> String {
        let mut parts = Vec::new();
        for (i, n) in c.iter().enumerate().rev() {
            if *n > 0 {
                let name = if i == 4 {
                    "removed"
                } else {
                    Severity::ALL[i].label()
                };
                parts.push(format!("{name} {n}"));
            }
        }
        parts.join(", ")
    };
    for ((g, sid), (msg, o, n)) in changed {
        let _ = writeln!(s, "  {g}:{sid}  {} -> {}  {msg}", label(o), label(n));
    }
    s
}

/// Whether a file starts like a pcap or pcapng capture (else it is read as EVE).
pub fn is_capture(p: &Path) -> bool {
    use std::io::Read;
    let mut magic = [0u8; 4];
    std::fs::File::open(p)
        .and_then(|mut f| f.read_exact(&mut magic))
        .is_ok()
        && matches!(
            magic,
            [0xd4, 0xc3, 0xb2, 0xa1]
                | [0xa1, 0xb2, 0xc3, 0xd4]
                | [0x4d, 0x3c, 0xb2, 0xa1]
                | [0xa1, 0xb2, 0x3c, 0x4d]
                | [0x0a, 0x0d, 0x0d, 0x0a]
        )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_line_that_is_not_utf8_is_counted_not_fatal() {
        let good = br#"{"timestamp":"2025-11-24T16:00:55.005000+0000","flow_id":7,"event_type":"alert","src_ip":"192.168.5.10","src_port":49154,"dest_ip":"198.51.100.66","dest_port":443,"proto":"TCP","alert":{"action":"allowed","gid":1,"signature_id":9000007,"rev":1,"signature":"X","category":"A Network Trojan was detected","severity":1}}"#;
        let mut text = good.to_vec();
        text.extend_from_slice(b"\n{\"event_type\":\"alert\",\"x\":\"\xff\xfe\"}\n\n");
        text.extend_from_slice(good);
        text.extend_from_slice(b"\n{\"event_type\":\"flow\"}\n{\"cut");
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("eve.json");
        std::fs::write(&p, &text).unwrap();
        let input = read_eve(&[p]).unwrap();
        assert_eq!(input.alerts.len(), 2);
        assert_eq!(input.bad_lines, 2);
        assert_eq!(input.other_events, 1);
    }

    #[test]
    fn timestamps_parse_as_eve_writes_them() {
        assert_eq!(
            parse_timestamp("1970-01-01T00:00:01.000002+0000"),
            Some(1_000_002)
        );
        assert_eq!(
            parse_timestamp("2023-11-14T22:13:20.000000+0000"),
            Some(1_700_000_000_000_000)
        );
        assert_eq!(
            parse_timestamp("2023-11-15T00:13:20.5+0200"),
            Some(1_700_000_000_500_000)
        );
        assert_eq!(parse_timestamp("yesterday"), None);
        // Non-ASCII where digits belong is refused, not a panic.
        assert_eq!(parse_timestamp("2023-11-14T22:13:2é.0+0000"), None);
    }

    fn alert(sid: u32, src: &str, dst: &str, ts: i64, cat: &str, sev: u8) -> EveAlert {
        EveAlert {
            ts,
            gid: 1,
            sid,
            msg: format!("rule {sid}"),
            category: cat.into(),
            severity: sev,
            vendor: sev,
            metadata: vec![],
            src: src.parse().unwrap(),
            dst: dst.parse().unwrap(),
            sport: 1000,
            dport: 80,
            target: None,
            to_server: Some(true),
            flow: format!("{src}-{dst}"),
        }
    }

    #[test]
    fn report_flags_noise_and_high_value() {
        let classes = Classifications::bundled();
        let mut alerts = Vec::new();
        // Sid 1: 60 hits from 12 hosts, one a minute: widespread and steady.
        for i in 0..60 {
            alerts.push(alert(
                1,
                &format!("10.0.0.{}", i % 12),
                "192.0.2.1",
                i * 60_000_000,
                "Potentially Bad Traffic",
                2,
            ));
        }
        // Sid 2: two hits, one host pair, malware class: high value.
        for i in 0..2 {
            alerts.push(alert(
                2,
                "10.0.0.5",
                "198.51.100.9",
                i,
                "A Network Trojan was detected",
                2,
            ));
        }
        let input = EveInput {
            alerts,
            ..Default::default()
        };
        let rows = report(&input, &classes, false);
        assert_eq!(rows[0].sid, 1);
        assert_eq!((rows[0].sources, rows[0].destinations), (12, 1));
        assert!(rows[0].noise.as_deref().unwrap().starts_with("dominates"));
        assert!((rows[0].burstiness - 1.0 / 60.0).abs() < 1e-9);
        assert_eq!(rows[0].suggestion(false), Some(Severity::Informational));
        assert!(rows[1].high_value.is_some() && rows[1].noise.is_none());
        assert_eq!(rows[1].itype.code(), 300);
        assert_eq!(rows[1].suggestion(false), Some(Severity::Critical));
        // On a baseline everything is noise.
        let rows = report(&input, &classes, true);
        assert!(rows.iter().all(|r| r.noise.is_some()));
        assert_eq!(rows[1].suggestion(true), Some(Severity::Informational));
        // The suggestion is a valid tuning file for those signatures.
        let toml_text = suggest_toml(&rows, true, &[PathBuf::from("eve.json")]);
        assert!(toml_text.contains("sid = 2\nseverity = \"Informational\""));
        let (infos, of) = sig_table(&input.alerts, &classes);
        let t = Tuner::from_texts(
            &[(PathBuf::from("s.toml"), toml_text)],
            &infos,
            &Vars::suricata_defaults(),
        )
        .unwrap();
        let d = diff(&input.alerts, &of, &Side::Vendor, &Side::Tuned(Box::new(t)));
        assert_eq!(d.old.escalations(), 62);
        assert_eq!(d.new.escalations(), 0);
        assert_eq!(d.new.by_severity[0], 62);
        assert_eq!(d.flows, (13, 13, 0));
        let text = render_diff(&d, "vendor", "s.toml");
        assert!(
            text.contains("escalations (Serious+Critical): 62 -> 0"),
            "{text}"
        );
    }
}
