//! The incident report as one HTML page: the funnel, vendor against tuned severities, the top
//! signatures, incidents by type and severity, and a card per incident with its timeline.

use std::fmt::Write as _;

use super::report::{type_index, Outcome};
use super::{card, event, Incident};
use crate::common::html::{cell_bar, esc, funnel, grouped_bars, short_ts, timeline, Page};
use crate::tune::page::{badge, severity_color};
use crate::tune::policy::{IncidentPolicy, ALL_TYPES};
use crate::tune::Severity;

/// Cards drawn at most (the rest are listed in the table).
const CARDS: usize = 60;

/// The page for an outcome.
pub fn render(o: &Outcome, policy: &IncidentPolicy, top: usize) -> String {
    let files: Vec<String> = o.files.iter().map(|p| p.display().to_string()).collect();
    let span = o.span.map_or(String::new(), |(a, b)| {
        format!(" | traffic {} .. {}", short_ts(a), short_ts(b))
    });
    let mut p = Page::new(
        "sekimori incident report",
        &format!("{}{span}", files.join(", ")),
    );
    let notified = o.notified_incidents();
    let serious = o
        .incidents
        .iter()
        .filter(|i| i.severity >= Severity::Serious)
        .count() as u64;
    let mut f = funnel(&[
        ("alerts", o.alerts, "#5f7d95"),
        ("incidents", o.incidents.len() as u64, "#c9a000"),
        ("Serious or Critical", serious, "#e8710a"),
        ("notifications", notified, "#b3261e"),
    ]);
    let _ = write!(
        f,
        "<p class=\"muted\">{} notifications sent in all (first ones and severity rises), {} held back by the hourly cap of {}; policy: notify {} and above{}.</p>",
        o.notifications,
        o.capped,
        policy.notify.per_hour,
        policy.notify.min_severity.label(),
        if policy.notify.types.len() < 6 {
            format!(
                ", types {}",
                policy
                    .notify
                    .types
                    .iter()
                    .map(|t| t.code().to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        } else {
            String::new()
        }
    );
    p.panel("From alerts to notifications", &f);
    let labels = ["Informational", "Medium", "Serious", "Critical"];
    let dist = grouped_bars(
        &labels,
        &[
            ("vendor", "#9aa9b8", o.vendor.to_vec()),
            ("tuned", "#1d5c8c", o.tuned.to_vec()),
        ],
    );
    let matrix = type_matrix(o);
    p.raw(&format!(
        "<div class=\"row\"><section class=\"panel\"><h2>Alerts by severity: vendor and tuned</h2>{dist}</section><section class=\"panel\"><h2>Incidents by type and severity</h2>{matrix}</section></div>"
    ));
    p.panel("Top signatures", &sig_table(o, top));
    p.panel("Incidents", &incident_table(o));
    p.h2(&format!(
        "Incident cards ({} of {}, most severe first)",
        o.incidents.len().min(CARDS),
        o.incidents.len()
    ));
    for i in o.incidents.iter().take(CARDS) {
        p.raw(&card_html(i, policy));
    }
    p.finish()
}

fn type_matrix(o: &Outcome) -> String {
    let (all, notified) = (o.by_type(), o.notified_by_type());
    let mut s = String::from(
        "<table><tr><th>type</th><th class=\"num\">Informational</th><th class=\"num\">Medium</th><th class=\"num\">Serious</th><th class=\"num\">Critical</th><th class=\"num\">notified</th></tr>",
    );
    for t in ALL_TYPES {
        let i = type_index(t);
        let _ = write!(s, "<tr><td>{} {}</td>", t.code(), esc(t.label()));
        for k in 0..4 {
            let _ = write!(s, "<td class=\"num\">{}</td>", all[i][k]);
        }
        let _ = write!(
            s,
            "<td class=\"num\">{}</td></tr>",
            notified[i].iter().sum::<u64>()
        );
    }
    s.push_str("</table>");
    s
}

fn sig_table(o: &Outcome, top: usize) -> String {
    let max = o.sigs.first().map_or(0, |r| r.alerts);
    let mut s = String::from(
        "<table><tr><th>signature</th><th class=\"num\">alerts</th><th></th><th>vendor</th><th>tuned</th><th class=\"num\">incidents</th></tr>",
    );
    for r in o.sigs.iter().take(top) {
        let vendor = Severity::from_eve(r.vendor);
        let _ = write!(
            s,
            "<tr><td><code>{}:{}</code> {}</td><td class=\"num\">{}</td><td>{}</td><td>{}</td><td>{}</td><td class=\"num\">{}</td></tr>",
            r.gid,
            r.sid,
            esc(&r.msg),
            r.alerts,
            cell_bar(r.alerts, max, severity_color(r.tuned)),
            badge(vendor),
            badge(r.tuned),
            r.incidents
        );
    }
    if o.sigs.len() > top {
        let _ = write!(
            s,
            "<tr><td class=\"muted\" colspan=\"6\">{} more signatures</td></tr>",
            o.sigs.len() - top
        );
    }
    s.push_str("</table>");
    s
}

fn incident_table(o: &Outcome) -> String {
    let mut s = String::from(
        "<table><tr><th>id</th><th>severity</th><th>type</th><th>victim</th><th class=\"num\">alerts</th><th class=\"num\">signatures</th><th class=\"num\">attackers</th><th>first seen</th><th>notified</th></tr>",
    );
    for i in &o.incidents {
        let victim = match (&i.asset, i.scanner) {
            (_, Some(s)) => format!("{} hosts, scanner {s}", i.targets_total),
            (Some(a), None) => format!("{} <span class=\"tag\">{}</span>", i.victim, esc(a)),
            (None, None) => i.victim.to_string(),
        };
        let _ = write!(
            s,
            "<tr><td><a href=\"#{id}\"><code>{id}</code></a></td><td>{}</td><td>{} {}</td><td>{victim}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td>{}</td><td>{}</td></tr>",
            badge(i.severity),
            i.itype.code(),
            esc(i.itype.label()),
            i.alerts,
            i.signatures_total,
            i.attackers_total,
            short_ts(i.first_seen),
            i.notified.map_or("", |_| "yes"),
            id = esc(&i.id)
        );
    }
    s.push_str("</table>");
    s
}

/// One line for a finding: `analytic beacon (sid 9200003): server 198.51.100.7, port 443...`
/// or `intel list c2 (sid ...): indicator ..., field ...`.
pub(super) fn finding_text(f: &serde_json::Value) -> String {
    let sid = f["signature_id"].as_u64().unwrap_or(0);
    let (head, body) = match (f.get("analytic"), f.get("intel")) {
        (Some(a), _) => (format!("analytic {}", a["name"].as_str().unwrap_or("?")), a),
        (None, Some(h)) => (
            format!("intel list {}", h["list"].as_str().unwrap_or("?")),
            h,
        ),
        (None, None) => return format!("sid {sid}"),
    };
    let parts: Vec<String> = body
        .as_object()
        .into_iter()
        .flatten()
        .filter(|(k, _)| !matches!(k.as_str(), "name" | "list"))
        .map(|(k, v)| match v.as_str() {
            Some(t) => format!("{k} {t}"),
            None => format!("{k} {v}"),
        })
        .collect();
    format!("{head} (sid {sid}): {}", parts.join(", "))
}

pub(super) fn card_html(i: &Incident, policy: &IncidentPolicy) -> String {
    let (action, _) = card::action(&policy.notify.cards, i.itype, i.severity);
    let mut s = format!(
        "<div class=\"card\" id=\"{}\" style=\"border-left-color:{}\"><h3>{} {}</h3><div class=\"meta\"><code>{}</code> &middot; type {} {} &middot; {} alerts on {} flows &middot; {} .. {}{}</div>",
        esc(&i.id),
        severity_color(i.severity),
        badge(i.severity),
        esc(&event::title(i)),
        esc(&i.id),
        i.itype.code(),
        esc(i.itype.label()),
        i.alerts,
        i.flows_total,
        short_ts(i.first_seen),
        short_ts(i.last_seen),
        if i.notified.is_some() {
            " &middot; <strong>notified</strong>"
        } else {
            ""
        }
    );
    let _ = write!(
        s,
        "<div class=\"action\"><strong>Action:</strong> {}</div>",
        esc(action)
    );
    let attackers: Vec<String> = i
        .attackers
        .iter()
        .take(8)
        .map(|(ip, n)| format!("{ip} ({n})"))
        .collect();
    let _ = write!(
        s,
        "<div><strong>Victim</strong> {}{} &middot; criticality {:?} &middot; <strong>attackers</strong> {}{}</div>",
        i.victim,
        i.asset
            .as_ref()
            .map_or(String::new(), |a| format!(" <span class=\"tag\">{}</span>", esc(a))),
        i.criticality,
        esc(&attackers.join(", ")),
        if i.attackers_total > attackers.len() as u64 {
            format!(" and {} more", i.attackers_total - attackers.len() as u64)
        } else {
            String::new()
        }
    );
    if !i.escalations.is_empty() {
        s.push_str("<div><strong>Escalations</strong><ul>");
        for e in &i.escalations {
            let _ = write!(
                s,
                "<li>{} {} &rarr; {}: {}</li>",
                short_ts(e.at),
                e.from.label(),
                e.to.label(),
                esc(&e.reason)
            );
        }
        s.push_str("</ul></div>");
    }
    if !i.related.is_empty() {
        let links: Vec<String> = i
            .related
            .iter()
            .map(|r| format!("<a href=\"#{0}\"><code>{0}</code></a>", esc(r)))
            .collect();
        let _ = write!(s, "<div><strong>Related</strong> {}</div>", links.join(" "));
    }
    s.push_str("<div><strong>Evidence</strong><ul>");
    for sig in &i.signatures {
        let _ = write!(
            s,
            "<li>{} <code>{}:{}</code> {} &times;{}</li>",
            badge(sig.severity),
            sig.gid,
            sig.sid,
            esc(&sig.msg),
            sig.alerts
        );
    }
    s.push_str("</ul></div>");
    if !i.findings.is_empty() {
        s.push_str("<div><strong>Findings</strong><ul>");
        for f in &i.findings {
            let _ = write!(s, "<li>{}</li>", esc(&finding_text(f)));
        }
        s.push_str("</ul></div>");
    }
    if !i.flows.is_empty() {
        let flows: Vec<String> = i
            .flows
            .iter()
            .take(6)
            .map(|f| format!("<code>{}</code>", esc(f)))
            .collect();
        let _ = write!(
            s,
            "<div class=\"muted\">flows: {}{}</div>",
            flows.join(" "),
            if i.flows_total > 6 {
                format!(" and {} more", i.flows_total - 6)
            } else {
                String::new()
            }
        );
    }
    if !i.timeline.is_empty() {
        let labels: Vec<String> = i
            .signatures
            .iter()
            .map(|x| format!("{} {}", x.sid, x.msg))
            .chain(
                (i.signatures.len() < i.signatures_total as usize)
                    .then(|| "other signatures".to_string()),
            )
            .collect();
        let pts: Vec<(i64, usize, &str)> = i
            .timeline
            .iter()
            .map(|&(t, k, sev)| (t, usize::from(k).min(labels.len() - 1), severity_color(sev)))
            .collect();
        s.push_str(&timeline(&labels, &pts, (i.first_seen, i.last_seen)));
    }
    s.push_str("</div>");
    s
}
