//! Incidents: the step after tuning that turns alerts into the few cases a person acts on.
//!
//! Alerts are grouped by victim and incident type. The victim is the rule's `target` when it
//! has one; else the side in `$HOME_NET` when just one side is; else, for malware and
//! suspicious traffic, the flow's client (the host that called out), and for the other types
//! the server (the host that was attacked). An incident stays open while alerts keep coming
//! within the idle window (default 1 h) and for at most the maximum span (default 24 h); it
//! collects attackers, signatures, counts, flows and first/last seen, each list capped.
//!
//! An incident's severity is the highest tuned severity of its alerts, raised one level for
//! each of these, once each, with the reason recorded:
//! - *stage*: unauthorized access on a victim that was under reconnaissance (an open
//!   reconnaissance incident that began first), or malware/C2 from a victim (the victim is
//!   the flow's client: it called out) that had an open unauthorized-access incident which
//!   began first;
//! - *corroboration*: the configured number of distinct signatures (default 3) on it.
//!
//! Events: `opened` on the first alert, `escalated` whenever the severity rises, `closed`
//! when the window ends, the cap evicts it (least recently active first) or input ends. Each
//! `opened` and `escalated` event says whether it notifies: at most once per incident and per
//! severity rise, by the `[notify]` policy, and within the hourly cap (overflow counted).
//!
//! Time is the alerts' own (packet time), so a replay groups as the live sensor did. Live, the
//! clock (alert time, and the wall clock while quiet) closes idle incidents as it passes. In a
//! replay or a report, where captures of different years may interleave between workers, an
//! incident closes when an alert for its victim and type falls outside its window (either
//! way in time), when the cap evicts it, or at the end: grouping then depends only on each
//! victim's own alerts, not on how workers interleave.

pub mod alert;
pub mod card;
mod event;
pub mod page;
pub mod report;

use std::collections::{BTreeSet, HashMap, HashSet, VecDeque};
use std::net::IpAddr;
use std::sync::Arc;

use crate::common::time::Micros;
use crate::detect::rules::header::AddrSet;
use crate::tune::file::Criticality;
use crate::tune::policy::IncidentPolicy;
use crate::tune::{IncidentType, Severity, Tuner};
pub use alert::{AlertIn, TypeOf};

/// Entries kept per list (attackers, signatures, flows) of one incident; the totals still
/// count past it.
pub const LIST_CAP: usize = 32;
/// Findings (analytic and IOC list hits) kept per incident.
pub const FINDINGS_CAP: usize = 8;
/// Distinct flows remembered per incident for the flow total.
const FLOW_SET_CAP: usize = 4096;
/// Timeline points kept per incident (reports only).
const TIMELINE_CAP: usize = 500;

/// Stage and corroboration raises, applied once each.
const RAISE_RECON: u8 = 1;
const RAISE_EXPLOIT: u8 = 2;
const RAISE_CORROBORATED: u8 = 4;

/// What the engine needs besides alerts.
pub struct Settings {
    /// Windows, caps and the notification policy.
    pub policy: IncidentPolicy,
    /// `$HOME_NET`, to find the internal side.
    pub home: AddrSet,
    /// The tuning, for the victim's asset and criticality.
    pub tuner: Option<Arc<Tuner>>,
    /// Types of untuned alerts.
    pub types: TypeOf,
    /// Keep closed incidents (with timelines) for a report instead of dropping them.
    pub keep_closed: bool,
    /// Why incidents still open at the end close ("end of input", "shutdown").
    pub end_reason: &'static str,
    /// Close idle incidents as the clock passes (live); otherwise only on a later alert of the
    /// same victim and type, the cap, or the end (replay, reports).
    pub sweep: bool,
}

/// One signature on an incident.
#[derive(Clone, Debug)]
pub struct SigCount {
    /// gid.
    pub gid: u32,
    /// sid.
    pub sid: u32,
    /// msg.
    pub msg: String,
    /// Highest tuned severity seen.
    pub severity: Severity,
    /// Vendor severity (EVE scale).
    pub vendor: u8,
    /// Alerts.
    pub alerts: u64,
}

/// A rise in an incident's severity.
#[derive(Clone, Debug)]
pub struct Escalation {
    /// When (alert time).
    pub at: Micros,
    /// From.
    pub from: Severity,
    /// To.
    pub to: Severity,
    /// Why.
    pub reason: String,
}

/// One incident.
#[derive(Clone, Debug)]
pub struct Incident {
    /// Id, also written into each of its alerts.
    pub id: String,
    /// Type.
    pub itype: IncidentType,
    /// The attacked (or internal) host; for reconnaissance, the first host scanned.
    pub victim: IpAddr,
    /// Reconnaissance: the scanner the incident groups by (one incident per scanner, however
    /// many hosts it probes).
    pub scanner: Option<IpAddr>,
    /// Reconnaissance: the hosts probed with their alert counts (first [`LIST_CAP`]).
    pub targets: Vec<(IpAddr, u64)>,
    /// Reconnaissance: distinct hosts probed (exact up to 4,096).
    pub targets_total: u64,
    target_set: HashSet<IpAddr>,
    /// Its asset name.
    pub asset: Option<String>,
    /// Its criticality (medium outside the inventory).
    pub criticality: Criticality,
    /// First alert.
    pub first_seen: Micros,
    /// Last alert.
    pub last_seen: Micros,
    /// Alerts.
    pub alerts: u64,
    /// Alerts whose packet was blocked.
    pub blocked: u64,
    /// Highest tuned alert severity.
    pub alert_max: Severity,
    /// Highest vendor severity (lowest EVE value).
    pub vendor_best: u8,
    /// Current severity (alerts plus raises).
    pub severity: Severity,
    /// Levels raised by stages and corroboration.
    pub steps: i32,
    raised: u8,
    /// Every rise of the severity, oldest first.
    pub escalations: Vec<Escalation>,
    /// Attackers with their alert counts (first [`LIST_CAP`]).
    pub attackers: Vec<(IpAddr, u64)>,
    /// Distinct attackers.
    pub attackers_total: u64,
    attacker_set: HashSet<IpAddr>,
    /// Signatures (first [`LIST_CAP`]).
    pub signatures: Vec<SigCount>,
    /// Distinct signatures.
    pub signatures_total: u64,
    sig_set: HashSet<(u32, u32)>,
    /// Flows (community ids, else flow ids), first [`LIST_CAP`].
    pub flows: Vec<String>,
    /// Distinct flows (exact up to 4,096).
    pub flows_total: u64,
    flow_set: HashSet<u64>,
    /// Incidents linked by a stage.
    pub related: Vec<String>,
    /// Severity of the last notification.
    pub notified: Option<Severity>,
    /// Capture files the alerts came from (when EVE names them), first [`LIST_CAP`].
    pub pcaps: Vec<String>,
    /// What analytics and IOC lists found (first [`FINDINGS_CAP`]), as on the alerts.
    pub findings: Vec<serde_json::Value>,
    /// (time, signature index, alert severity), for reports.
    pub timeline: Vec<(Micros, u16, Severity)>,
    /// Why it closed.
    pub closed_by: Option<&'static str>,
}

/// What the engine did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Counts {
    /// Alerts grouped.
    pub alerts: u64,
    /// Alert lines that could not be read (counted, passed on untouched).
    pub unreadable: u64,
    /// Incidents opened.
    pub opened: u64,
    /// Incidents closed.
    pub closed: u64,
    /// Severity rises.
    pub escalations: u64,
    /// Notifications sent.
    pub notifications: u64,
    /// Notifications the hourly cap held back.
    pub capped: u64,
    /// Incidents closed early because the open-incident cap was reached.
    pub evicted: u64,
}

/// The notification decision of one event.
#[derive(Clone, Debug)]
pub struct Decision {
    /// Notify.
    pub notify: bool,
    /// Why (or why not).
    pub reason: String,
}

/// The incident engine: one per sensor, on the output thread (or in `sekimori incidents`).
pub struct Engine {
    set: Settings,
    slots: Vec<Option<Incident>>,
    free: Vec<usize>,
    open: HashMap<(IpAddr, IncidentType), usize>,
    by_last: BTreeSet<(Micros, usize)>,
    by_first: BTreeSet<(Micros, usize)>,
    notified_at: VecDeque<Micros>,
    clock: Micros,
    seq: u64,
    prefix: Option<String>,
    /// Closed incidents, when `keep_closed`.
    pub closed: Vec<Incident>,
    /// Counters.
    pub counts: Counts,
}

impl Engine {
    /// A new engine.
    pub fn new(set: Settings) -> Engine {
        Engine {
            set,
            slots: Vec::new(),
            free: Vec::new(),
            open: HashMap::new(),
            by_last: BTreeSet::new(),
            by_first: BTreeSet::new(),
            notified_at: VecDeque::new(),
            clock: i64::MIN,
            seq: 0,
            prefix: None,
            closed: Vec::new(),
            counts: Counts::default(),
        }
    }

    /// Open incidents now.
    pub fn open_now(&self) -> usize {
        self.open.len()
    }

    /// Takes a new policy, asset inventory and type table (a live reload). Open incidents
    /// stay open and keep their ids and raises; from the next alert on, windows, caps,
    /// raises and notifications follow the new settings. A cap lowered below the incidents
    /// open closes the least recently active ones, as the cap always does.
    pub fn reconfigure(&mut self, set: Settings, events: &mut Vec<Vec<u8>>) {
        self.set = set;
        while self.open.len() > self.set.policy.cap {
            let Some(&(_, oldest)) = self.by_last.first() else {
                break;
            };
            self.close(oldest, "open-incident cap", events);
        }
    }

    fn idle(&self) -> Micros {
        self.set.policy.idle.as_micros() as Micros
    }

    fn max_span(&self) -> Micros {
        self.set.policy.max.as_micros() as Micros
    }

    fn is_home(&self, ip: IpAddr) -> bool {
        self.set.home.contains(ip)
    }

    /// The victim and the attacker of an alert (see the module docs).
    pub fn sides(&self, a: &AlertIn<'_>) -> (IpAddr, IpAddr) {
        let other = |v: IpAddr| if v == a.src { a.dst } else { a.src };
        if let Some(t) = a.target {
            if t == a.src || t == a.dst {
                return (t, other(t));
            }
        }
        match (self.is_home(a.src), self.is_home(a.dst)) {
            (true, false) => (a.src, a.dst),
            (false, true) => (a.dst, a.src),
            _ => {
                let client = if a.to_server == Some(false) {
                    a.dst
                } else {
                    a.src
                };
                let v = match a.itype {
                    IncidentType::Malware | IncidentType::Suspicious => client,
                    _ => other(client),
                };
                (v, other(v))
            }
        }
    }

    /// Moves the clock (traffic time, or the wall clock when live and quiet) and closes what
    /// the windows end.
    pub fn tick(&mut self, now: Micros, events: &mut Vec<Vec<u8>>) {
        if now > self.clock {
            self.clock = now;
        }
        self.sweep(events);
    }

    fn sweep(&mut self, events: &mut Vec<Vec<u8>>) {
        let (idle, max) = (self.idle(), self.max_span());
        while let Some(&(last, slot)) = self.by_last.first() {
            if self.clock - last <= idle {
                break;
            }
            self.close(slot, "idle", events);
        }
        while let Some(&(first, slot)) = self.by_first.first() {
            if self.clock - first <= max {
                break;
            }
            self.close(slot, "max duration", events);
        }
    }

    /// Closes every open incident (end of input, shutdown).
    pub fn finish(&mut self, events: &mut Vec<Vec<u8>>) {
        let reason = self.set.end_reason;
        self.close_all(reason, events);
    }

    fn close_all(&mut self, reason: &'static str, events: &mut Vec<Vec<u8>>) {
        let slots: Vec<usize> = self.by_last.iter().map(|&(_, s)| s).collect();
        for s in slots {
            self.close(s, reason, events);
        }
    }

    fn close(&mut self, slot: usize, reason: &'static str, events: &mut Vec<Vec<u8>>) {
        let Some(mut inc) = self.slots[slot].take() else {
            return;
        };
        self.free.push(slot);
        self.by_last.remove(&(inc.last_seen, slot));
        self.by_first.remove(&(inc.first_seen, slot));
        self.open
            .remove(&(inc.scanner.unwrap_or(inc.victim), inc.itype));
        inc.closed_by = Some(reason);
        self.counts.closed += 1;
        if reason == "open-incident cap" {
            self.counts.evicted += 1;
        }
        // Live, it closes now; in a replay the clock may belong to a capture of another year,
        // so the incident's own last alert dates it.
        let at = if self.set.sweep {
            self.clock.max(inc.last_seen)
        } else {
            inc.last_seen
        };
        events.push(event::render(&inc, "closed", at, None, &self.set.policy));
        if self.set.keep_closed {
            self.closed.push(inc);
        }
    }

    /// Groups the alert on an EVE line and adds its incident id to the line; other events and
    /// unreadable alerts (counted) pass untouched.
    pub fn on_line(&mut self, line: &mut Vec<u8>, events: &mut Vec<Vec<u8>>) {
        if !alert::is_alert(line) {
            return;
        }
        let id = match alert::parse(line, &self.set.types) {
            Some(a) => self.alert(&a, events),
            None => {
                self.counts.unreadable += 1;
                return;
            }
        };
        alert::tag_line(line, &id);
    }

    /// Parses an alert line with this engine's type table.
    pub fn parse<'a>(&self, line: &'a [u8]) -> Option<AlertIn<'a>> {
        alert::parse(line, &self.set.types)
    }

    /// Groups one alert; returns its incident's id. Incident events go to `events`.
    pub fn alert(&mut self, a: &AlertIn<'_>, events: &mut Vec<Vec<u8>>) -> String {
        self.counts.alerts += 1;
        let idle = self.idle();
        if a.ts > self.clock {
            self.clock = a.ts;
        }
        if self.set.sweep {
            self.sweep(events);
        }
        let (victim, attacker) = self.sides(a);
        // Reconnaissance groups by scanner: one sweep of a network is one incident.
        let scanner = (a.itype == IncidentType::Reconnaissance).then_some(attacker);
        let key = (scanner.unwrap_or(victim), a.itype);
        let max = self.max_span();
        let slot = match self.open.get(&key).copied() {
            Some(s) => {
                let inc = self.slots[s].as_ref().expect("open slot");
                if a.ts - inc.last_seen > idle || inc.first_seen - a.ts > idle {
                    self.close(s, "idle", events);
                    None
                } else if a.ts - inc.first_seen > max {
                    self.close(s, "max duration", events);
                    None
                } else {
                    Some(s)
                }
            }
            None => None,
        };
        let (slot, new) = match slot {
            Some(s) => (s, false),
            None => (self.open_incident(a, (victim, scanner), events), true),
        };
        let (before, alert_before) = {
            let inc = self.slots[slot].as_ref().expect("slot");
            (inc.severity, inc.alert_max)
        };
        self.update(slot, a, (victim, attacker));
        let mut why = self.raises(slot, a, victim, attacker);
        let inc = self.slots[slot].as_mut().expect("slot");
        inc.severity = inc.alert_max.step(inc.steps);
        let after = inc.severity;
        if !new && inc.alert_max > alert_before {
            why.insert(
                0,
                format!(
                    "alert {}:{} \"{}\" rated {}",
                    a.gid,
                    a.sid,
                    a.msg,
                    a.severity.label()
                ),
            );
        }
        if new || after > before {
            if !new {
                inc.escalations.push(Escalation {
                    at: a.ts,
                    from: before,
                    to: after,
                    reason: why.join("; "),
                });
                self.counts.escalations += 1;
            } else if after > a.severity {
                inc.escalations.push(Escalation {
                    at: a.ts,
                    from: a.severity,
                    to: after,
                    reason: why.join("; "),
                });
                self.counts.escalations += 1;
            }
            let d = self.decide(slot);
            let inc = self.slots[slot].as_ref().expect("slot");
            let what = if new { "opened" } else { "escalated" };
            events.push(event::render(inc, what, a.ts, Some(&d), &self.set.policy));
        }
        self.slots[slot].as_ref().expect("slot").id.clone()
    }

    fn open_incident(
        &mut self,
        a: &AlertIn<'_>,
        (victim, scanner): (IpAddr, Option<IpAddr>),
        events: &mut Vec<Vec<u8>>,
    ) -> usize {
        if self.open.len() >= self.set.policy.cap {
            if let Some(&(_, oldest)) = self.by_last.first() {
                self.close(oldest, "open-incident cap", events);
            }
        }
        self.seq += 1;
        let prefix = self
            .prefix
            .get_or_insert_with(|| format!("{:x}", a.ts.div_euclid(1_000_000).max(0)));
        let id = format!("{prefix}-{}", self.seq);
        let (asset, criticality) = match self.set.tuner.as_ref().and_then(|t| t.asset_of(victim)) {
            Some(x) => (Some(x.name.clone()), x.criticality),
            None => {
                let named = a.asset.as_deref().filter(|_| {
                    Some(victim) == a.target || (a.target.is_none() && victim == a.dst)
                });
                (named.map(str::to_string), Criticality::Medium)
            }
        };
        let inc = Incident {
            id,
            itype: a.itype,
            victim,
            scanner,
            targets: Vec::new(),
            targets_total: 0,
            target_set: HashSet::new(),
            asset,
            criticality,
            first_seen: a.ts,
            last_seen: a.ts,
            alerts: 0,
            blocked: 0,
            alert_max: a.severity,
            vendor_best: a.vendor,
            severity: a.severity,
            steps: 0,
            raised: 0,
            escalations: Vec::new(),
            attackers: Vec::new(),
            attackers_total: 0,
            attacker_set: HashSet::new(),
            signatures: Vec::new(),
            signatures_total: 0,
            sig_set: HashSet::new(),
            flows: Vec::new(),
            flows_total: 0,
            flow_set: HashSet::new(),
            related: Vec::new(),
            notified: None,
            pcaps: Vec::new(),
            findings: Vec::new(),
            timeline: Vec::new(),
            closed_by: None,
        };
        let slot = match self.free.pop() {
            Some(s) => {
                self.slots[s] = Some(inc);
                s
            }
            None => {
                self.slots.push(Some(inc));
                self.slots.len() - 1
            }
        };
        self.open.insert((scanner.unwrap_or(victim), a.itype), slot);
        self.by_last.insert((a.ts, slot));
        self.by_first.insert((a.ts, slot));
        self.counts.opened += 1;
        slot
    }

    fn update(&mut self, slot: usize, a: &AlertIn<'_>, (victim, attacker): (IpAddr, IpAddr)) {
        let keep = self.set.keep_closed;
        let Engine { set, slots, .. } = self;
        let inc = slots[slot].as_mut().expect("slot");
        if inc.scanner.is_some() {
            // Looked up for sweeps only: other incidents have one victim, rated when opened.
            let target_crit = set
                .tuner
                .as_ref()
                .and_then(|t| t.asset_of(victim))
                .map_or(Criticality::Medium, |x| x.criticality);
            // The sweep is as critical as the most critical host it probed.
            inc.criticality = inc.criticality.max(target_crit);
            if inc.target_set.len() < FLOW_SET_CAP && inc.target_set.insert(victim) {
                inc.targets_total += 1;
            }
            match inc.targets.iter().position(|(ip, _)| *ip == victim) {
                Some(i) => inc.targets[i].1 += 1,
                None if inc.targets.len() < LIST_CAP => inc.targets.push((victim, 1)),
                None => {}
            }
        }
        if a.ts > inc.last_seen {
            self.by_last.remove(&(inc.last_seen, slot));
            inc.last_seen = a.ts;
            self.by_last.insert((a.ts, slot));
        }
        if a.ts < inc.first_seen {
            // An alert from another worker, slightly behind: the incident began earlier.
            self.by_first.remove(&(inc.first_seen, slot));
            inc.first_seen = a.ts;
            self.by_first.insert((a.ts, slot));
        }
        inc.alerts += 1;
        inc.blocked += u64::from(a.blocked);
        inc.alert_max = inc.alert_max.max(a.severity);
        inc.vendor_best = inc.vendor_best.min(a.vendor);
        if inc.attacker_set.len() < FLOW_SET_CAP && inc.attacker_set.insert(attacker) {
            inc.attackers_total += 1;
        }
        match inc.attackers.iter().position(|(ip, _)| *ip == attacker) {
            Some(i) => inc.attackers[i].1 += 1,
            None if inc.attackers.len() < LIST_CAP => inc.attackers.push((attacker, 1)),
            None => {}
        }
        if inc.sig_set.insert((a.gid, a.sid)) {
            inc.signatures_total += 1;
        }
        let sig_idx = match inc
            .signatures
            .iter()
            .position(|s| (s.gid, s.sid) == (a.gid, a.sid))
        {
            Some(i) => {
                let s = &mut inc.signatures[i];
                s.alerts += 1;
                s.severity = s.severity.max(a.severity);
                i
            }
            None if inc.signatures.len() < LIST_CAP => {
                inc.signatures.push(SigCount {
                    gid: a.gid,
                    sid: a.sid,
                    msg: a.msg.to_string(),
                    severity: a.severity,
                    vendor: a.vendor,
                    alerts: 1,
                });
                inc.signatures.len() - 1
            }
            None => LIST_CAP,
        };
        let flow_key = a.flow_id.unwrap_or_else(|| {
            use std::hash::{Hash, Hasher};
            let mut h = std::collections::hash_map::DefaultHasher::new();
            (a.src, a.dst, a.sport, a.dport).hash(&mut h);
            h.finish()
        });
        if inc.flow_set.len() < FLOW_SET_CAP && inc.flow_set.insert(flow_key) {
            inc.flows_total += 1;
            if inc.flows.len() < LIST_CAP {
                inc.flows.push(match &a.community_id {
                    Some(c) => c.to_string(),
                    None => flow_key.to_string(),
                });
            }
        }
        if let Some(p) = &a.pcap {
            if inc.pcaps.len() < LIST_CAP && !inc.pcaps.iter().any(|x| x == p) {
                inc.pcaps.push(p.to_string());
            }
        }
        if let Some(f) = &a.finding {
            if inc.findings.len() < FINDINGS_CAP {
                inc.findings.push(f.clone());
            }
        }
        if keep && inc.timeline.len() < TIMELINE_CAP {
            inc.timeline.push((a.ts, sig_idx as u16, a.severity));
        }
    }

    /// Applies the stage and corroboration raises this alert completes; returns their reasons.
    fn raises(
        &mut self,
        slot: usize,
        a: &AlertIn<'_>,
        victim: IpAddr,
        attacker: IpAddr,
    ) -> Vec<String> {
        let mut reasons = Vec::new();
        let idle = self.idle();
        let (itype, raised, sigs, began) = {
            let inc = self.slots[slot].as_ref().expect("slot");
            (inc.itype, inc.raised, inc.signatures_total, inc.first_seen)
        };
        let mut link = None;
        if self.set.policy.stages {
            // An open incident of type `t` under `key` that began first and is still close.
            let earlier = |key: IpAddr, t: IncidentType| {
                let s = *self.open.get(&(key, t))?;
                self.slots[s]
                    .as_ref()
                    .filter(|e| e.first_seen <= began && (a.ts - e.last_seen).abs() <= idle)
                    .map(|e| (s, e.id.clone()))
            };
            if itype == IncidentType::UnauthorizedAccess && raised & RAISE_RECON == 0 {
                // The attacker swept this victim before (its reconnaissance incident lists it).
                let swept = earlier(attacker, IncidentType::Reconnaissance).filter(|(s, _)| {
                    self.slots[*s]
                        .as_ref()
                        .is_some_and(|r| r.target_set.contains(&victim))
                });
                if let Some((s, id)) = swept {
                    reasons.push(format!(
                        "stage: reconnaissance of {victim} by {attacker} (incident {id}) came first"
                    ));
                    link = Some((RAISE_RECON, s, id));
                }
            }
            let from_victim = match a.to_server {
                Some(true) => a.src == victim,
                Some(false) => a.dst == victim,
                None => a.src == victim,
            };
            if itype == IncidentType::Malware && raised & RAISE_EXPLOIT == 0 && from_victim {
                if let Some((s, id)) = earlier(victim, IncidentType::UnauthorizedAccess) {
                    reasons.push(format!(
                        "stage: malware/C2 from {victim} after unauthorized access (incident {id})"
                    ));
                    link = Some((RAISE_EXPLOIT, s, id));
                }
            }
        }
        if let Some((flag, os, other)) = link {
            let this_id = self.slots[slot].as_ref().expect("slot").id.clone();
            if let Some(o) = self.slots[os].as_mut() {
                if o.related.len() < LIST_CAP && !o.related.contains(&this_id) {
                    o.related.push(this_id);
                }
            }
            let inc = self.slots[slot].as_mut().expect("slot");
            inc.raised |= flag;
            inc.steps += 1;
            if inc.related.len() < LIST_CAP {
                inc.related.push(other);
            }
        }
        let n = self.set.policy.corroboration;
        if n > 1 && sigs as usize >= n && raised & RAISE_CORROBORATED == 0 {
            let inc = self.slots[slot].as_mut().expect("slot");
            inc.raised |= RAISE_CORROBORATED;
            inc.steps += 1;
            reasons.push(format!("corroboration: {sigs} distinct signatures"));
        }
        reasons
    }

    /// Whether the incident's current state notifies, by the policy and the hourly cap.
    fn decide(&mut self, slot: usize) -> Decision {
        let p = &self.set.policy.notify;
        let inc = self.slots[slot].as_ref().expect("slot");
        let no = |reason: String| Decision {
            notify: false,
            reason,
        };
        if !p.enabled {
            return no("notifications are off".into());
        }
        if inc.severity < p.min_severity {
            return no(format!(
                "{} is below the notify minimum {}",
                inc.severity.label(),
                p.min_severity.label()
            ));
        }
        if !p.types.contains(&inc.itype) {
            return no(format!("type {} does not notify", inc.itype.code()));
        }
        if inc.criticality < p.min_criticality {
            return no(format!(
                "victim criticality {:?} is below the notify minimum",
                inc.criticality
            ));
        }
        if let Some(prev) = inc.notified {
            if inc.severity <= prev {
                return no(format!("already notified at {}", prev.label()));
            }
        }
        // Notifications within an hour of this one either way, in traffic time (alerts may
        // arrive slightly out of order; captures of other years do not count against it).
        let hour = 3_600_000_000;
        let now = inc.last_seen;
        if p.per_hour > 0 {
            self.notified_at.retain(|&t| (now - t).abs() < hour);
        }
        if p.per_hour > 0 && self.notified_at.len() >= p.per_hour {
            self.counts.capped += 1;
            return no(format!(
                "the hourly cap of {} notifications was reached",
                p.per_hour
            ));
        }
        if p.per_hour > 0 {
            // Never more than `per_hour` entries: the deque is bounded by the cap.
            self.notified_at.push_back(now);
        }
        self.counts.notifications += 1;
        let first = inc.notified.is_none();
        let (sev, label) = (inc.severity, inc.itype.label());
        self.slots[slot].as_mut().expect("slot").notified = Some(sev);
        Decision {
            notify: true,
            reason: if first {
                format!("{} {label} meets the notify policy", sev.label())
            } else {
                format!("severity rose to {}", sev.label())
            },
        }
    }
}

#[cfg(test)]
mod tests;
