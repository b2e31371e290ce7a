//! `tune report --html` and `tune diff --html`: the tuning evidence as one self-contained page,
//! drawn with the same pieces as the incident report.

use std::fmt::Write as _;
use std::path::PathBuf;

use super::report::{Diff, SigReport};
use super::Severity;
use crate::common::html::{cell_bar, esc, grouped_bars, Page};

/// The colour of a severity.
pub fn severity_color(s: Severity) -> &'static str {
    match s {
        Severity::Critical => "#b3261e",
        Severity::Serious => "#e8710a",
        Severity::Medium => "#c9a000",
        Severity::Informational => "#5f7d95",
    }
}

/// A severity badge.
pub fn badge(s: Severity) -> String {
    crate::common::html::badge(s.label(), severity_color(s))
}

fn inputs_line(inputs: &[PathBuf]) -> String {
    inputs
        .iter()
        .map(|p| p.display().to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

/// The `tune report` page: severities now and as suggested, then one row per signature with
/// its behaviour, flags and suggestion.
pub fn report_page(rows: &[SigReport], baseline: bool, inputs: &[PathBuf]) -> String {
    let total: u64 = rows.iter().map(|r| r.hits).sum();
    let mut p = Page::new(
        "sekimori tuning report",
        &format!(
            "{} | {total} alerts from {} signatures{}",
            inputs_line(inputs),
            rows.len(),
            if baseline {
                " | baseline: known-clean traffic"
            } else {
                ""
            }
        ),
    );
    let (mut now, mut after) = ([0u64; 4], [0u64; 4]);
    for r in rows {
        let cur = Severity::from_eve(r.now);
        now[cur as usize] += r.hits;
        after[r.suggestion(baseline).unwrap_or(cur) as usize] += r.hits;
    }
    let noise = rows.iter().filter(|r| r.noise.is_some()).count();
    let high = rows.iter().filter(|r| r.high_value.is_some()).count();
    let changes = rows
        .iter()
        .filter(|r| r.suggestion(baseline).is_some())
        .count();
    let chart = grouped_bars(
        &["Informational", "Medium", "Serious", "Critical"],
        &[
            ("now", "#9aa9b8", now.to_vec()),
            ("suggested", "#1d5c8c", after.to_vec()),
        ],
    );
    p.raw(&format!(
        "<div class=\"row\"><section class=\"panel\"><h2>Alerts by severity: now and suggested</h2>{chart}</section><section class=\"panel\"><h2>Flags</h2><table><tr><td>likely noise</td><td class=\"num\">{noise}</td></tr><tr><td>likely high value</td><td class=\"num\">{high}</td></tr><tr><td>suggested changes</td><td class=\"num\">{changes}</td></tr><tr><td>alerts moved by the suggestions</td><td class=\"num\">{}</td></tr></table><p class=\"muted\">Noise: fired on a baseline, dominates the stream, is widespread, or fires steadily. High value: an attack class, rated Serious or Critical by the vendor, on few hosts. Review each suggestion, then check it with <code>sekimori tune diff</code>.</p></section></div>",
        rows.iter()
            .filter(|r| r.suggestion(baseline).is_some())
            .map(|r| r.hits)
            .sum::<u64>()
    ));
    let max = rows.iter().map(|r| r.hits).max().unwrap_or(0);
    let mut t = String::from(
        "<table><tr><th>signature</th><th class=\"num\">hits</th><th></th><th class=\"num\">sources</th><th class=\"num\">dests</th><th class=\"num\">flows</th><th class=\"num\">burst</th><th>type</th><th>now</th><th>suggested</th><th>why</th></tr>",
    );
    for r in rows {
        let cur = Severity::from_eve(r.now);
        let sug = r.suggestion(baseline);
        let why = r
            .noise
            .as_deref()
            .map(|n| format!("<span class=\"tag\">noise</span>{}", esc(n)))
            .or_else(|| {
                r.high_value
                    .as_deref()
                    .map(|h| format!("<span class=\"tag\">high value</span>{}", esc(h)))
            })
            .unwrap_or_default();
        let _ = write!(
            t,
            "<tr><td><code>{}:{}</code> {}</td><td class=\"num\">{}</td><td>{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{:.2}</td><td>{}</td><td>{}</td><td>{}</td><td class=\"muted\">{why}</td></tr>",
            r.gid,
            r.sid,
            esc(&r.msg),
            r.hits,
            cell_bar(r.hits, max, severity_color(cur)),
            r.sources,
            r.destinations,
            r.flows,
            r.burstiness,
            r.itype.code(),
            badge(cur),
            sug.map_or(String::new(), badge),
        );
    }
    t.push_str("</table>");
    p.panel("Signatures, busiest first", &t);
    p.finish()
}

/// The `tune diff` page: alerts per severity under each tuning, and every signature that moves.
pub fn diff_page(d: &Diff, old_name: &str, new_name: &str, alerts: usize) -> String {
    let mut p = Page::new(
        "sekimori tuning diff",
        &format!("{old_name} -> {new_name} | {alerts} alerts"),
    );
    let mut cats: Vec<&str> = vec!["Informational", "Medium", "Serious", "Critical"];
    cats.extend(["suppressed", "thresholded"]);
    let side = |c: &super::report::SideCounts| {
        let mut v = c.by_severity.to_vec();
        v.extend([c.suppressed, c.thresholded]);
        v
    };
    let chart = grouped_bars(
        &cats,
        &[
            (old_name, "#9aa9b8", side(&d.old)),
            (new_name, "#1d5c8c", side(&d.new)),
        ],
    );
    let (eo, en) = (d.old.escalations(), d.new.escalations());
    let (nf, fo, fnew) = d.flows;
    p.raw(&format!(
        "<div class=\"row\"><section class=\"panel\"><h2>Alerts by outcome</h2>{chart}</section><section class=\"panel\"><h2>What reaches an analyst</h2><table><tr><th></th><th class=\"num\">{}</th><th class=\"num\">{}</th></tr><tr><td>Serious or Critical alerts</td><td class=\"num\">{eo}</td><td class=\"num\">{en}</td></tr><tr><td>flows with one (of {nf} alerting)</td><td class=\"num\">{fo}</td><td class=\"num\">{fnew}</td></tr></table></section></div>",
        esc(old_name),
        esc(new_name)
    ));
    let label = |c: &[u64; 5]| -> String {
        let mut parts = Vec::new();
        for (i, n) in c.iter().enumerate().rev() {
            if *n > 0 {
                parts.push(if i == 4 {
                    format!("<span class=\"tag\">removed {n}</span>")
                } else {
                    format!("{} {n}", badge(Severity::ALL[i]))
                });
            }
        }
        parts.join(" ")
    };
    let changed: Vec<_> = d.per_sig.iter().filter(|(_, v)| v.1 != v.2).collect();
    let mut t = format!(
        "<p class=\"muted\">{} of {} signatures change.</p><table><tr><th>signature</th><th>{}</th><th>{}</th></tr>",
        changed.len(),
        d.per_sig.len(),
        esc(old_name),
        esc(new_name)
    );
    for ((g, sid), (msg, o, n)) in changed {
        let _ = write!(
            t,
            "<tr><td><code>{g}:{sid}</code> {}</td><td>{}</td><td>{}</td></tr>",
            esc(msg),
            label(o),
            label(n)
        );
    }
    t.push_str("</table>");
    p.panel("Signatures that change", &t);
    p.finish()
}
