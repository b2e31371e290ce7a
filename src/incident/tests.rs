use std::borrow::Cow;
use std::time::Duration;

use super::*;
use crate::tune::policy::IncidentPolicy;

const MIN: i64 = 60_000_000;

fn settings(policy: IncidentPolicy) -> Settings {
    Settings {
        policy,
        home: crate::detect::rules::header::parse_addr(
            "$HOME_NET",
            &crate::detect::rules::Vars::suricata_defaults(),
        )
        .unwrap(),
        tuner: None,
        types: TypeOf::default(),
        keep_closed: true,
        end_reason: "end of input",
        sweep: false,
    }
}

fn engine() -> Engine {
    Engine::new(settings(IncidentPolicy::default()))
}

/// An alert from `src` to `dst` (to the server) at minute `m`.
fn alert(
    m: i64,
    sid: u32,
    sev: Severity,
    t: IncidentType,
    src: &str,
    dst: &str,
) -> AlertIn<'static> {
    AlertIn {
        ts: 1_700_000_000_000_000 + m * MIN,
        gid: 1,
        sid,
        msg: Cow::Owned(format!("sig {sid}")),
        severity: sev,
        vendor: sev.eve(),
        itype: t,
        src: src.parse().unwrap(),
        dst: dst.parse().unwrap(),
        sport: 40000,
        dport: 80,
        to_server: Some(true),
        target: None,
        asset: None,
        flow_id: Some(u64::from(sid) * 1000 + m as u64),
        community_id: None,
        blocked: false,
        pcap: None,
        finding: None,
    }
}

fn events_of(ev: &[Vec<u8>]) -> Vec<serde_json::Value> {
    ev.iter()
        .map(|l| serde_json::from_slice(l).unwrap())
        .collect()
}

use IncidentType::*;
use Severity::*;

#[test]
fn alerts_on_one_victim_and_type_share_an_incident() {
    let mut e = engine();
    let mut ev = Vec::new();
    let a = e.alert(
        &alert(0, 1, Medium, Malware, "10.0.0.5", "198.51.100.7"),
        &mut ev,
    );
    let b = e.alert(
        &alert(5, 2, Medium, Malware, "10.0.0.5", "198.51.100.8"),
        &mut ev,
    );
    // Another type on the same host, and the same type on another host: new incidents.
    let c = e.alert(
        &alert(6, 3, Medium, Reconnaissance, "198.51.100.9", "10.0.0.5"),
        &mut ev,
    );
    let d = e.alert(
        &alert(7, 1, Medium, Malware, "10.0.0.6", "198.51.100.7"),
        &mut ev,
    );
    assert_eq!(a, b);
    assert!(a != c && a != d && c != d);
    e.finish(&mut ev);
    let inc = e.closed.iter().find(|i| i.id == a).unwrap();
    // The internal host is the victim; both remote addresses are attackers.
    assert_eq!(inc.victim.to_string(), "10.0.0.5");
    assert_eq!(
        (inc.alerts, inc.attackers_total, inc.signatures_total),
        (2, 2, 2)
    );
    let recon = e.closed.iter().find(|i| i.id == c).unwrap();
    assert_eq!(recon.victim.to_string(), "10.0.0.5");
    assert_eq!(e.counts.opened, 3);
}

#[test]
fn victim_follows_target_then_home_net_then_type() {
    let e = engine();
    let mut a = alert(
        0,
        1,
        Medium,
        UnauthorizedAccess,
        "203.0.113.1",
        "198.51.100.2",
    );
    // Both outside: an attack's victim is the server.
    assert_eq!(e.sides(&a).0.to_string(), "198.51.100.2");
    a.itype = Malware;
    // Malware: the client that called out.
    assert_eq!(e.sides(&a).0.to_string(), "203.0.113.1");
    a.target = Some("198.51.100.2".parse().unwrap());
    assert_eq!(e.sides(&a).0.to_string(), "198.51.100.2");
    let inbound = alert(0, 1, Medium, Malware, "203.0.113.1", "192.168.1.4");
    assert_eq!(e.sides(&inbound).0.to_string(), "192.168.1.4");
}

#[test]
fn idle_and_max_windows_close_incidents() {
    let p = IncidentPolicy {
        idle: Duration::from_secs(600),
        max: Duration::from_secs(1800),
        ..Default::default()
    };
    let mut e = Engine::new(settings(p));
    let mut ev = Vec::new();
    let a = e.alert(
        &alert(0, 1, Medium, Malware, "10.0.0.5", "198.51.100.7"),
        &mut ev,
    );
    // 9 minutes later: same incident; 20 minutes after that: idle closed it.
    assert_eq!(
        a,
        e.alert(
            &alert(9, 1, Medium, Malware, "10.0.0.5", "198.51.100.7"),
            &mut ev
        )
    );
    let b = e.alert(
        &alert(29, 1, Medium, Malware, "10.0.0.5", "198.51.100.7"),
        &mut ev,
    );
    assert_ne!(a, b);
    // Alerts every 8 minutes keep it active, but 30 minutes is the most one incident spans.
    let mut ids = vec![b.clone()];
    for m in [37, 45, 53, 61] {
        ids.push(e.alert(
            &alert(m, 1, Medium, Malware, "10.0.0.5", "198.51.100.7"),
            &mut ev,
        ));
    }
    assert!(ids[..4].iter().all(|i| *i == b), "{ids:?}");
    assert_ne!(ids[4], b);
    let closed: Vec<_> = events_of(&ev)
        .into_iter()
        .filter(|v| v["incident"]["event"] == "closed")
        .map(|v| v["incident"]["closed_by"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(closed, ["idle", "max duration"]);
    // Quiet time alone closes too (the live sensor ticks the wall clock).
    e.set.sweep = true;
    e.tick(1_700_000_000_000_000 + 200 * MIN, &mut ev);
    assert_eq!(e.open_now(), 0);
}

#[test]
fn an_alert_far_before_the_open_incident_starts_another() {
    let mut e = engine();
    let mut ev = Vec::new();
    let a = e.alert(
        &alert(600, 1, Medium, Malware, "10.0.0.5", "198.51.100.7"),
        &mut ev,
    );
    let b = e.alert(
        &alert(0, 1, Medium, Malware, "10.0.0.5", "198.51.100.7"),
        &mut ev,
    );
    let c = e.alert(
        &alert(1, 1, Medium, Malware, "10.0.0.5", "198.51.100.7"),
        &mut ev,
    );
    assert_ne!(a, b);
    assert_eq!(b, c);
    assert_eq!(e.counts.closed, 1);
    // An alert a little behind joins, and the incident now begins with it.
    let d = e.alert(
        &alert(-5, 1, Medium, Malware, "10.0.0.5", "198.51.100.7"),
        &mut ev,
    );
    assert_eq!(d, b);
    e.finish(&mut ev);
    let inc = e.closed.iter().find(|i| i.id == b).unwrap();
    assert_eq!(
        inc.first_seen,
        alert(-5, 1, Medium, Malware, "10.0.0.5", "198.51.100.7").ts
    );
}

#[test]
fn reconnaissance_then_access_raises_one_level() {
    let mut e = engine();
    let mut ev = Vec::new();
    let r = e.alert(
        &alert(0, 1, Medium, Reconnaissance, "203.0.113.9", "10.0.0.8"),
        &mut ev,
    );
    let x = e.alert(
        &alert(
            10,
            2,
            Serious,
            UnauthorizedAccess,
            "203.0.113.9",
            "10.0.0.8",
        ),
        &mut ev,
    );
    e.finish(&mut ev);
    let inc = e.closed.iter().find(|i| i.id == x).unwrap();
    assert_eq!((inc.alert_max, inc.severity), (Serious, Critical));
    assert_eq!(inc.related, std::slice::from_ref(&r));
    assert!(
        inc.escalations[0].reason.contains("reconnaissance"),
        "{:?}",
        inc.escalations
    );
    let opened = events_of(&ev)
        .into_iter()
        .find(|v| v["incident"]["id"] == x.as_str() && v["incident"]["event"] == "opened")
        .unwrap();
    assert_eq!(opened["incident"]["severity"], "Critical");
    // The reverse order is no stage.
    let mut e = engine();
    e.alert(
        &alert(0, 2, Serious, UnauthorizedAccess, "203.0.113.9", "10.0.0.8"),
        &mut ev,
    );
    e.alert(
        &alert(10, 1, Medium, Reconnaissance, "203.0.113.9", "10.0.0.8"),
        &mut ev,
    );
    e.alert(
        &alert(
            11,
            2,
            Serious,
            UnauthorizedAccess,
            "203.0.113.9",
            "10.0.0.8",
        ),
        &mut ev,
    );
    e.finish(&mut ev);
    assert!(e.closed.iter().all(|i| i.escalations.is_empty()));
}

#[test]
fn reconnaissance_groups_by_scanner_and_the_stage_needs_the_swept_host() {
    let mut e = engine();
    let mut ev = Vec::new();
    // One scanner sweeping twelve hosts: one incident listing them; another scanner: another.
    let ids: Vec<String> = (1..=12)
        .map(|h| {
            let a = alert(
                0,
                1,
                Medium,
                Reconnaissance,
                "203.0.113.9",
                &format!("10.0.0.{h}"),
            );
            e.alert(&a, &mut ev)
        })
        .collect();
    assert!(ids.iter().all(|i| *i == ids[0]));
    let other = e.alert(
        &alert(1, 1, Medium, Reconnaissance, "198.51.100.4", "10.0.0.1"),
        &mut ev,
    );
    assert_ne!(other, ids[0]);
    // The scanner attacks a host it swept: the stage raise; a host it did not: none.
    let hit = e.alert(
        &alert(5, 2, Serious, UnauthorizedAccess, "203.0.113.9", "10.0.0.7"),
        &mut ev,
    );
    let miss = e.alert(
        &alert(
            5,
            3,
            Serious,
            UnauthorizedAccess,
            "203.0.113.9",
            "10.0.0.99",
        ),
        &mut ev,
    );
    e.finish(&mut ev);
    let sweep = e.closed.iter().find(|i| i.id == ids[0]).unwrap();
    assert_eq!(sweep.scanner, Some("203.0.113.9".parse().unwrap()));
    assert_eq!((sweep.targets_total, sweep.targets.len()), (12, 12));
    assert_eq!(sweep.related, std::slice::from_ref(&hit));
    let hit = e.closed.iter().find(|i| i.id == hit).unwrap();
    assert_eq!(hit.severity, Critical);
    assert!(hit.escalations[0].reason.contains("by 203.0.113.9"));
    let miss = e.closed.iter().find(|i| i.id == miss).unwrap();
    assert_eq!(miss.severity, Serious);
    let title = event::title(sweep);
    assert!(
        title.contains("reconnaissance by 203.0.113.9 of 12 hosts"),
        "{title}"
    );
    let closed = events_of(&ev)
        .into_iter()
        .find(|v| v["incident"]["id"] == ids[0].as_str() && v["incident"]["event"] == "closed")
        .unwrap();
    assert_eq!(closed["incident"]["scanner"], "203.0.113.9");
    assert_eq!(closed["incident"]["targets_total"], 12);
}

#[test]
fn exploit_then_malware_from_the_victim_raises_one_level() {
    let mut e = engine();
    let mut ev = Vec::new();
    let x = e.alert(
        &alert(0, 2, Serious, UnauthorizedAccess, "203.0.113.9", "10.0.0.8"),
        &mut ev,
    );
    // Malware on a connection made to the victim is not the victim calling out...
    let inbound = alert(2, 3, Serious, Malware, "198.51.100.1", "10.0.0.8");
    let m = e.alert(&inbound, &mut ev);
    assert_eq!(
        e.slots
            .iter()
            .flatten()
            .find(|i| i.id == m)
            .unwrap()
            .severity,
        Serious
    );
    // ...its C2 beacon is.
    let m2 = e.alert(
        &alert(3, 4, Serious, Malware, "10.0.0.8", "198.51.100.1"),
        &mut ev,
    );
    assert_eq!(m, m2);
    e.finish(&mut ev);
    let inc = e.closed.iter().find(|i| i.id == m).unwrap();
    assert_eq!(inc.severity, Critical);
    assert_eq!(inc.related, std::slice::from_ref(&x));
    let esc = &inc.escalations[0];
    assert_eq!((esc.from, esc.to), (Serious, Critical));
    assert!(esc.reason.contains("after unauthorized access"), "{esc:?}");
    let exploit = e.closed.iter().find(|i| i.id == x).unwrap();
    assert_eq!(exploit.related, [m]);
}

#[test]
fn corroboration_and_rising_alerts_escalate_with_reasons() {
    let mut e = engine();
    let mut ev = Vec::new();
    e.alert(
        &alert(0, 1, Informational, Suspicious, "10.0.0.5", "198.51.100.7"),
        &mut ev,
    );
    e.alert(
        &alert(1, 2, Informational, Suspicious, "10.0.0.5", "198.51.100.7"),
        &mut ev,
    );
    e.alert(
        &alert(2, 2, Informational, Suspicious, "10.0.0.5", "198.51.100.7"),
        &mut ev,
    );
    e.alert(
        &alert(3, 3, Informational, Suspicious, "10.0.0.5", "198.51.100.7"),
        &mut ev,
    );
    e.alert(
        &alert(4, 4, Serious, Suspicious, "10.0.0.5", "198.51.100.7"),
        &mut ev,
    );
    e.finish(&mut ev);
    let inc = &e.closed[0];
    let steps: Vec<_> = inc.escalations.iter().map(|x| (x.from, x.to)).collect();
    assert_eq!(steps, [(Informational, Medium), (Medium, Critical)]);
    assert!(inc.escalations[0].reason.starts_with("corroboration: 3"));
    assert!(inc.escalations[1].reason.contains("alert 1:4"));
    let kinds: Vec<_> = events_of(&ev)
        .iter()
        .map(|v| v["incident"]["event"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(kinds, ["opened", "escalated", "escalated", "closed"]);
}

#[test]
fn notify_once_per_rise_within_policy_and_hourly_cap() {
    let mut p = IncidentPolicy::default();
    p.notify.per_hour = 2;
    p.notify.types = vec![Malware, UnauthorizedAccess];
    p.corroboration = 0;
    let mut e = Engine::new(settings(p));
    let mut ev = Vec::new();
    // Medium: below the minimum. Then Serious (notifies), more Serious (no), Critical (again).
    e.alert(
        &alert(0, 1, Medium, Malware, "10.0.0.1", "198.51.100.7"),
        &mut ev,
    );
    e.alert(
        &alert(1, 2, Serious, Malware, "10.0.0.1", "198.51.100.7"),
        &mut ev,
    );
    e.alert(
        &alert(2, 3, Serious, Malware, "10.0.0.1", "198.51.100.7"),
        &mut ev,
    );
    e.alert(
        &alert(3, 4, Critical, Malware, "10.0.0.1", "198.51.100.7"),
        &mut ev,
    );
    // A type that does not notify.
    e.alert(
        &alert(4, 5, Critical, Suspicious, "10.0.0.2", "198.51.100.7"),
        &mut ev,
    );
    // The hourly cap (2) is used up: the next one is held back and counted...
    e.alert(
        &alert(5, 6, Critical, Malware, "10.0.0.3", "198.51.100.7"),
        &mut ev,
    );
    // ...and an hour later there is room again.
    e.alert(
        &alert(70, 7, Critical, Malware, "10.0.0.4", "198.51.100.7"),
        &mut ev,
    );
    let decisions: Vec<(String, bool, String)> = events_of(&ev)
        .iter()
        .filter(|v| v["incident"]["event"] != "closed")
        .map(|v| {
            (
                v["incident"]["victim"]["ip"].as_str().unwrap().to_string(),
                v["incident"]["notify"].as_bool().unwrap(),
                v["incident"]["notify_reason"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let flags: Vec<bool> = decisions.iter().map(|d| d.1).collect();
    assert_eq!(
        flags,
        [false, true, true, false, false, true],
        "{decisions:?}"
    );
    assert!(decisions[0].2.contains("below"));
    assert!(decisions[2].2.contains("rose to Critical"));
    assert!(decisions[3].2.contains("type 400"));
    assert!(decisions[4].2.contains("hourly cap"));
    assert_eq!((e.counts.notifications, e.counts.capped), (3, 1));
}

#[test]
fn open_incidents_are_capped_oldest_first() {
    let p = IncidentPolicy {
        cap: 3,
        ..Default::default()
    };
    let mut e = Engine::new(settings(p));
    let mut ev = Vec::new();
    let ids: Vec<String> = (0..5)
        .map(|i| {
            e.alert(
                &alert(
                    i,
                    1,
                    Medium,
                    Malware,
                    &format!("10.0.0.{}", i + 1),
                    "198.51.100.7",
                ),
                &mut ev,
            )
        })
        .collect();
    assert_eq!(e.open_now(), 3);
    assert_eq!(e.counts.evicted, 2);
    let closed: Vec<&str> = e.closed.iter().map(|i| i.id.as_str()).collect();
    assert_eq!(closed, [ids[0].as_str(), ids[1].as_str()]);
    assert_eq!(e.closed[0].closed_by, Some("open-incident cap"));
}

#[test]
fn lists_are_capped_and_totals_still_count() {
    let mut e = engine();
    let mut ev = Vec::new();
    for i in 0..100u32 {
        let a = alert(
            0,
            1000 + i,
            Medium,
            UnauthorizedAccess,
            &format!("203.0.113.{}", i % 250),
            "10.0.0.8",
        );
        e.alert(&a, &mut ev);
    }
    e.finish(&mut ev);
    let inc = &e.closed[0];
    assert_eq!(
        (inc.attackers.len(), inc.signatures.len(), inc.flows.len()),
        (LIST_CAP, LIST_CAP, LIST_CAP)
    );
    assert_eq!(
        (inc.attackers_total, inc.signatures_total, inc.flows_total),
        (100, 100, 100)
    );
}

#[test]
fn findings_of_analytics_and_lists_stay_on_the_incident_capped() {
    let mut e = engine();
    let mut ev = Vec::new();
    for m in 0..10 {
        let mut a = alert(m, 9_200_003, Serious, Malware, "10.0.0.5", "198.51.100.7");
        a.finding = Some(serde_json::json!({
            "signature_id": 9_200_003,
            "analytic": {"name": "beacon", "server": "198.51.100.7", "port": 443, "sessions": 20 + m},
        }));
        e.alert(&a, &mut ev);
    }
    let mut hit = alert(11, 9_100_001, Serious, Malware, "10.0.0.5", "198.51.100.7");
    hit.finding = Some(serde_json::json!({
        "signature_id": 9_100_001,
        "intel": {"list": "c2", "kind": "ip", "indicator": "198.51.100.7", "field": "dest_ip", "confidence": 90},
    }));
    e.alert(&hit, &mut ev);
    e.finish(&mut ev);
    let inc = &e.closed[0];
    assert_eq!(inc.findings.len(), FINDINGS_CAP, "the first ones, capped");
    assert_eq!(inc.findings[0]["analytic"]["sessions"], 20);
    let closed = events_of(&ev)
        .into_iter()
        .find(|v| v["incident"]["event"] == "closed")
        .unwrap();
    assert_eq!(
        closed["incident"]["findings"].as_array().unwrap().len(),
        FINDINGS_CAP
    );
    let html = super::page::card_html(inc, &IncidentPolicy::default());
    assert!(html.contains("<strong>Findings</strong>"), "{html}");
    assert!(
        html.contains("analytic beacon (sid 9200003): server 198.51.100.7, port 443, sessions 20"),
        "{html}"
    );
    assert_eq!(
        super::page::finding_text(&hit.finding.unwrap()),
        "intel list c2 (sid 9100001): kind ip, indicator 198.51.100.7, field dest_ip, confidence 90"
    );
}
