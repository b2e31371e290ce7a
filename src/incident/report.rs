//! `sekimori incidents`: the funnel from an EVE file (alerts, incidents, notifications, per type
//! and severity) and the incident list, for the terminal; [`super::page`] draws the same as HTML.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::io::{BufRead, BufReader};
use std::path::PathBuf;

use super::{event, Engine, Incident, Settings};
use crate::tune::policy::ALL_TYPES;
use crate::tune::{IncidentType, Severity};

/// One signature across the input.
#[derive(Clone, Debug)]
pub struct SigRow {
    /// gid.
    pub gid: u32,
    /// sid.
    pub sid: u32,
    /// msg.
    pub msg: String,
    /// Alerts.
    pub alerts: u64,
    /// Vendor severity (EVE scale).
    pub vendor: u8,
    /// Highest tuned severity.
    pub tuned: Severity,
    /// Incidents it is on.
    pub incidents: u64,
}

/// What an EVE input comes to.
#[derive(Debug, Default)]
pub struct Outcome {
    /// Files read.
    pub files: Vec<PathBuf>,
    /// Alerts grouped.
    pub alerts: u64,
    /// Lines that were not EVE, and alert lines without the fields an incident needs.
    pub unreadable: u64,
    /// Incident events already in the input (from the sensor).
    pub input_incident_events: u64,
    /// Alerts per vendor severity (Informational..Critical).
    pub vendor: [u64; 4],
    /// Alerts per tuned severity.
    pub tuned: [u64; 4],
    /// Signatures, most alerts first.
    pub sigs: Vec<SigRow>,
    /// Incidents, most severe first.
    pub incidents: Vec<Incident>,
    /// Notifications sent (first ones and severity rises).
    pub notifications: u64,
    /// Notifications the hourly cap held back.
    pub capped: u64,
    /// Incidents closed early by the open-incident cap.
    pub evicted: u64,
    /// The first and last alert times.
    pub span: Option<(i64, i64)>,
}

impl Outcome {
    /// Incidents per type (index by [`ALL_TYPES`]) and final severity.
    pub fn by_type(&self) -> [[u64; 4]; 6] {
        let mut m = [[0u64; 4]; 6];
        for i in &self.incidents {
            m[type_index(i.itype)][i.severity as usize] += 1;
        }
        m
    }

    /// Notified incidents per type and final severity.
    pub fn notified_by_type(&self) -> [[u64; 4]; 6] {
        let mut m = [[0u64; 4]; 6];
        for i in self.incidents.iter().filter(|i| i.notified.is_some()) {
            m[type_index(i.itype)][i.severity as usize] += 1;
        }
        m
    }

    /// Incidents that notified at least once.
    pub fn notified_incidents(&self) -> u64 {
        self.incidents
            .iter()
            .filter(|i| i.notified.is_some())
            .count() as u64
    }
}

/// Index of a type in [`ALL_TYPES`].
pub fn type_index(t: IncidentType) -> usize {
    ALL_TYPES.iter().position(|&x| x == t).unwrap_or(5)
}

/// Reads EVE files in order and groups their alerts.
pub fn run(files: &[PathBuf], mut settings: Settings) -> Result<Outcome, String> {
    settings.keep_closed = true;
    let mut engine = Engine::new(settings);
    let mut out = Outcome {
        files: files.to_vec(),
        ..Outcome::default()
    };
    let mut sigs: HashMap<(u32, u32), SigRow> = HashMap::new();
    let mut sig_incidents: HashMap<(u32, u32), std::collections::HashSet<String>> = HashMap::new();
    let mut sink = Vec::new();
    for path in files {
        let f = std::fs::File::open(path).map_err(|e| format!("{}: {e}", path.display()))?;
        let mut r = BufReader::new(f);
        let mut line = Vec::new();
        loop {
            line.clear();
            let n = r
                .read_until(b'\n', &mut line)
                .map_err(|e| format!("{}: {e}", path.display()))?;
            if n == 0 {
                break;
            }
            let et = crate::common::json::event_type(&line);
            if et.is_empty() && !line.trim_ascii().is_empty() {
                // Not an EVE line: counted, as tune report does.
                out.unreadable += 1;
                continue;
            }
            if et == b"incident" {
                out.input_incident_events += 1;
                continue;
            }
            if et != b"alert" {
                continue;
            }
            let Some(a) = engine.parse(&line) else {
                out.unreadable += 1;
                continue;
            };
            out.alerts += 1;
            out.vendor[Severity::from_eve(a.vendor) as usize] += 1;
            out.tuned[a.severity as usize] += 1;
            out.span = Some(match out.span {
                None => (a.ts, a.ts),
                Some((x, y)) => (x.min(a.ts), y.max(a.ts)),
            });
            let id = engine.alert(&a, &mut sink);
            sink.clear();
            let row = sigs.entry((a.gid, a.sid)).or_insert_with(|| SigRow {
                gid: a.gid,
                sid: a.sid,
                msg: a.msg.to_string(),
                alerts: 0,
                vendor: a.vendor,
                tuned: a.severity,
                incidents: 0,
            });
            row.alerts += 1;
            row.tuned = row.tuned.max(a.severity);
            sig_incidents.entry((a.gid, a.sid)).or_default().insert(id);
        }
    }
    engine.finish(&mut sink);
    for (k, ids) in sig_incidents {
        if let Some(r) = sigs.get_mut(&k) {
            r.incidents = ids.len() as u64;
        }
    }
    out.sigs = sigs.into_values().collect();
    out.sigs.sort_by(|a, b| {
        b.alerts
            .cmp(&a.alerts)
            .then((a.gid, a.sid).cmp(&(b.gid, b.sid)))
    });
    out.notifications = engine.counts.notifications;
    out.capped = engine.counts.capped;
    out.evicted = engine.counts.evicted;
    out.incidents = std::mem::take(&mut engine.closed);
    out.incidents.sort_by(|a, b| {
        b.severity
            .cmp(&a.severity)
            .then(b.notified.is_some().cmp(&a.notified.is_some()))
            .then(a.first_seen.cmp(&b.first_seen))
    });
    Ok(out)
}

/// The funnel and incident list as terminal text.
pub fn render_terminal(o: &Outcome, top: usize) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "funnel: {} alerts -> {} incidents -> {} notified ({} notifications, {} held back by the hourly cap)",
        o.alerts,
        o.incidents.len(),
        o.notified_incidents(),
        o.notifications,
        o.capped
    );
    if o.unreadable > 0 || o.evicted > 0 {
        let _ = writeln!(
            s,
            "        {} lines unreadable, {} incidents closed early by the open-incident cap",
            o.unreadable, o.evicted
        );
    }
    let _ = writeln!(
        s,
        "\nincidents by type and severity (notified in brackets):\n  {:<28} {:>15} {:>15} {:>15} {:>15}",
        "type", "Informational", "Medium", "Serious", "Critical"
    );
    let (all, notified) = (o.by_type(), o.notified_by_type());
    for (i, t) in ALL_TYPES.iter().enumerate() {
        if all[i].iter().sum::<u64>() == 0 {
            continue;
        }
        let cells: Vec<String> = (0..4)
            .map(|k| format!("{} [{}]", all[i][k], notified[i][k]))
            .collect();
        let _ = writeln!(
            s,
            "  {:<28} {:>15} {:>15} {:>15} {:>15}",
            format!("{} {}", t.code(), t.label()),
            cells[0],
            cells[1],
            cells[2],
            cells[3]
        );
    }
    let _ = writeln!(
        s,
        "\nalerts by severity: vendor {} / tuned {} (Informational, Medium, Serious, Critical)",
        fmt4(&o.vendor),
        fmt4(&o.tuned)
    );
    let shown = o.incidents.len().min(top);
    let _ = writeln!(
        s,
        "\nincidents ({shown} of {}, most severe first):",
        o.incidents.len()
    );
    for i in &o.incidents[..shown] {
        let _ = writeln!(
            s,
            "  {:<16} {:<13} {:<3} {:<8} {} alerts, {} signatures, {} attackers, {} .. {}",
            i.id,
            i.severity.label(),
            i.itype.code(),
            if i.notified.is_some() { "NOTIFY" } else { "" },
            i.alerts,
            i.signatures_total,
            i.attackers_total,
            event::ts_text(i.first_seen),
            event::ts_text(i.last_seen),
        );
        let _ = writeln!(s, "      {}", event::title(i));
        for e in &i.escalations {
            let _ = writeln!(
                s,
                "      raised {} -> {}: {}",
                e.from.label(),
                e.to.label(),
                e.reason
            );
        }
        for f in &i.findings {
            let _ = writeln!(s, "      found: {}", super::page::finding_text(f));
        }
    }
    s
}

fn fmt4(v: &[u64; 4]) -> String {
    format!("{}/{}/{}/{}", v[0], v[1], v[2], v[3])
}
