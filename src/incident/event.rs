//! The EVE `incident` event (sekimori's extension; its JSON schema is
//! `schema/sekimori-eve.schema.json`).

use serde_json::{json, Value};

use super::card;
use super::{Decision, Incident};
use crate::common::time::Micros;
use crate::tune::policy::IncidentPolicy;

/// EVE timestamp text.
pub fn ts_text(ts: Micros) -> String {
    let mut b = Vec::with_capacity(34);
    crate::common::time::push_timestamp(&mut b, ts);
    String::from_utf8_lossy(&b[1..b.len() - 1]).into_owned()
}

/// The card title: severity, type, victim (reconnaissance: scanner and hosts probed) and
/// the leading signature.
pub fn title(inc: &Incident) -> String {
    let who = match (&inc.asset, inc.scanner) {
        (_, Some(s)) if inc.targets_total > 1 => {
            format!("by {s} of {} hosts", inc.targets_total)
        }
        (Some(a), Some(s)) => format!("by {s} of {} ({a})", inc.victim),
        (None, Some(s)) => format!("by {s} of {}", inc.victim),
        (Some(a), None) => format!("on {} ({a})", inc.victim),
        (None, None) => format!("on {}", inc.victim),
    };
    let lead = inc
        .signatures
        .iter()
        .max_by_key(|s| (s.severity, s.alerts))
        .map_or(String::new(), |s| format!(": {}", s.msg));
    format!("{} {} {who}{lead}", inc.severity.label(), inc.itype.label())
}

/// The incident as JSON (the `incident` object).
pub fn object(inc: &Incident, what: &str, d: Option<&Decision>, policy: &IncidentPolicy) -> Value {
    let (action, configured) = card::action(&policy.notify.cards, inc.itype, inc.severity);
    let mut o = json!({
        "id": inc.id,
        "event": what,
        "type": inc.itype.code(),
        "type_label": inc.itype.label(),
        "severity": inc.severity.label(),
        "alert_severity": inc.alert_max.label(),
        "vendor_severity": inc.vendor_best,
        "victim": {
            "ip": inc.victim.to_string(),
            "criticality": format!("{:?}", inc.criticality).to_ascii_lowercase(),
        },
        "attackers": inc.attackers.iter().map(|(ip, n)| json!({"ip": ip.to_string(), "alerts": n})).collect::<Vec<_>>(),
        "attackers_total": inc.attackers_total,
        "signatures": inc.signatures.iter().map(|s| json!({
            "gid": s.gid,
            "signature_id": s.sid,
            "signature": s.msg,
            "severity": s.severity.label(),
            "vendor_severity": s.vendor,
            "alerts": s.alerts,
        })).collect::<Vec<_>>(),
        "signatures_total": inc.signatures_total,
        "alerts": inc.alerts,
        "blocked": inc.blocked,
        "flows": inc.flows,
        "flows_total": inc.flows_total,
        "first_seen": ts_text(inc.first_seen),
        "last_seen": ts_text(inc.last_seen),
        "escalations": inc.escalations.iter().map(|e| json!({
            "timestamp": ts_text(e.at),
            "from": e.from.label(),
            "to": e.to.label(),
            "reason": e.reason,
        })).collect::<Vec<_>>(),
        "related": inc.related,
        "card": {
            "title": title(inc),
            "action": action,
            "configured": configured,
        },
    });
    if let Some(a) = &inc.asset {
        o["victim"]["asset"] = json!(a);
    }
    if let Some(s) = inc.scanner {
        o["scanner"] = json!(s.to_string());
        o["targets"] = json!(inc
            .targets
            .iter()
            .map(|(ip, n)| json!({"ip": ip.to_string(), "alerts": n}))
            .collect::<Vec<_>>());
        o["targets_total"] = json!(inc.targets_total);
    }
    if !inc.findings.is_empty() {
        o["findings"] = json!(inc.findings);
    }
    if !inc.pcaps.is_empty() {
        o["pcap_filenames"] = json!(inc.pcaps);
    }
    match d {
        Some(d) => {
            o["notify"] = json!(d.notify);
            o["notify_reason"] = json!(d.reason);
        }
        None => o["notify"] = json!(false),
    }
    if let Some(n) = inc.notified {
        o["notified"] = json!(n.label());
    }
    if let Some(c) = inc.closed_by {
        o["closed_by"] = json!(c);
    }
    o
}

/// One EVE line.
pub fn render(
    inc: &Incident,
    what: &str,
    at: Micros,
    d: Option<&Decision>,
    policy: &IncidentPolicy,
) -> Vec<u8> {
    let mut line = Vec::with_capacity(2048);
    line.extend_from_slice(b"{\"timestamp\":");
    crate::common::time::push_timestamp(&mut line, at);
    line.extend_from_slice(b",\"event_type\":\"incident\",\"incident\":");
    // Serialising a Value into a Vec cannot fail.
    let _ = serde_json::to_writer(&mut line, &object(inc, what, d, policy));
    line.extend_from_slice(b"}\n");
    line
}
