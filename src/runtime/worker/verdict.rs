//! Stage 6: what the hits do. A `pass` rule passes the packet and its flow (it outranks every
//! other action, as in Suricata's default action order); otherwise each hit goes through its
//! detection_filter and threshold (or the tuning's), then the tuning decides its severity or
//! suppresses it. Alerts are written, `tag`s start, and inline a drop or reject rule blocks.

use super::detect::Extra;
use super::detect::Hits;
use super::events::Events;
use super::{Detector, Verdict, WorkerConfig};
use crate::applayer::TxRef;
use crate::decode::Packet;
use crate::detect::intel::{Hit, ListSpec};
use crate::detect::rules::{Action, Target};
use crate::detect::tag::{HostTags, TagScope, TagState};
use crate::detect::threshold::{Subject, Thresholds};
use crate::detect::{Engine, Sig};
use crate::flow::Flow;
use crate::output::eve::{blocks, render_alert, AlertInput};
use crate::stats::WorkerStats;
use crate::tune::{AlertFacts, Decision, Tuned, Tuner};

/// Decides the packet's verdict from its hits, writing its alerts and starting its tags.
#[allow(clippy::too_many_arguments)]
pub(super) fn decide(
    d: &Detector,
    cfg: &WorkerConfig,
    stats: &mut WorkerStats,
    ev: &mut Events<'_>,
    host_tags: &mut HostTags,
    mut flow: Option<&mut Flow>,
    p: &Packet<'_>,
    to_server: bool,
    tunnel: Option<&crate::output::eve::Tunnel>,
    hits: &Hits,
) -> Verdict {
    if hits.is_empty() {
        return Verdict::Pass;
    }
    let engine = &*d.engine;
    let rules = hits
        .matched
        .iter()
        .map(|&i| (None, i))
        .chain(hits.tx.iter().map(|&(slot, i)| (Some(slot), i)));
    if rules
        .clone()
        .any(|(_, i)| engine.sig(i).action == Action::Pass)
    {
        if let Some(f) = flow {
            f.passed = true;
        }
        return Verdict::Pass;
    }
    let mut verdict = Verdict::Pass;
    let mut any_alert = false;
    let subject = Subject {
        src: p.src,
        dst: p.dst,
        flow_id: flow.as_deref().map_or(0, |f| f.id),
        ts: ev.ts,
        sport: p.sport,
        dport: p.dport,
    };
    for (slot, idx) in rules {
        let sig = engine.sig(idx);
        if !passes_filters(
            engine,
            &d.thresholds,
            stats,
            cfg.tuner.as_deref(),
            idx,
            subject,
        ) {
            continue;
        }
        let blocked = cfg.ips && blocks(sig.action);
        if blocked {
            verdict = if sig.action == Action::Reject || verdict == Verdict::Reject {
                Verdict::Reject
            } else {
                Verdict::Drop
            };
            if let Some(f) = flow.as_deref_mut() {
                f.dropped = true;
            }
        }
        let Ok(tuned) = tune(cfg, stats, sig, idx, subject, Some(to_server)) else {
            continue;
        };
        any_alert = true;
        let fref = flow.as_deref();
        let app = slot.and_then(|s| transaction(fref?, s));
        let extra = super::detect::extra_of(&hits.extra, slot, idx);
        let input = AlertInput {
            ts: ev.ts,
            pcap_cnt: ev.pcap_cnt,
            ip_version: p.ip_version,
            src: p.src,
            sport: p.has_ports().then_some(p.sport),
            dst: p.dst,
            dport: p.has_ports().then_some(p.dport),
            proto: p.proto,
            icmp: p.icmp,
            vlan: p.vlan,
            flow: fref.map(|f| (f, to_server)),
            blocked,
            tunnel,
            community_id: cfg.community_id,
            app,
            pseudo: false,
            tuned,
            var_names: Some(engine.var_names()),
            pktvars: &d.ctx.pktvars,
            intel: intel_input(d, extra.and_then(Extra::intel)),
            analytic: extra.and_then(Extra::analytic),
        };
        write_alert(ev, stats, &input, sig, idx);
        start_tags(sig, flow.as_deref_mut(), host_tags, p, ev.ts);
    }
    if let Some(f) = flow {
        f.alerted |= any_alert;
    }
    if verdict != Verdict::Pass {
        stats.dropped += 1;
    }
    if verdict == Verdict::Reject {
        stats.rejected += 1;
    }
    verdict
}

/// An intel hit about to become an alert: its list (counted as a hit of the list).
pub(super) fn intel_input<'a>(
    d: &'a Detector,
    hit: Option<&'a Hit>,
) -> Option<(&'a Hit, &'a ListSpec)> {
    let hit = hit?;
    let snap = d.ctx.intel.as_deref()?;
    snap.count_hit(hit.list);
    Some((hit, snap.lists().nth(hit.list)?))
}

/// The transaction in `slot` of the flow's parser.
pub(super) fn transaction(f: &Flow, slot: usize) -> Option<TxRef<'_>> {
    f.app.parser.as_deref()?.tx(slot).map(|(tx, _)| tx)
}

/// Writes one alert and counts it.
pub(super) fn write_alert(
    ev: &mut Events<'_>,
    stats: &mut WorkerStats,
    input: &AlertInput<'_>,
    sig: &Sig,
    idx: u32,
) {
    let mut line = ev.eve.buffer();
    render_alert(&mut line, input, sig);
    ev.eve.send(line);
    stats.alerts += 1;
    stats.per_sig[idx as usize] += 1;
}

/// Starts the rule's `tag`s: on the session, or on the source or destination host.
fn start_tags(
    sig: &Sig,
    mut flow: Option<&mut Flow>,
    host_tags: &mut HostTags,
    p: &Packet<'_>,
    ts: crate::flow::Micros,
) {
    for spec in &sig.tags {
        let tag = TagState::start(spec, ts);
        match (spec.scope, flow.as_deref_mut()) {
            (TagScope::Session, Some(f)) => match &mut f.tag {
                Some(t) => t.extend(tag),
                None => f.tag = Some(tag),
            },
            (TagScope::Session, None) => {}
            (TagScope::HostSrc, _) => host_tags.start(p.src, tag),
            (TagScope::HostDst, _) => host_tags.start(p.dst, tag),
        }
    }
}

/// Whether a matching rule alerts: not `noalert`, and its detection_filter and threshold
/// let it through (counted when they do not).
pub(super) fn passes_filters(
    engine: &Engine,
    thresholds: &Thresholds,
    stats: &mut WorkerStats,
    tuner: Option<&Tuner>,
    idx: u32,
    subject: Subject,
) -> bool {
    let sig = engine.sig(idx);
    if sig.noalert {
        return false;
    }
    let df_ok = sig
        .detection_filter
        .is_none_or(|d| thresholds.allow(&d, idx, 1, subject));
    // A tuning threshold replaces the rule's own, as threshold.config does in Suricata.
    let ok = df_ok
        && match tuner.and_then(|t| t.threshold(idx)) {
            Some((t, _)) => thresholds.allow(t, idx, 2, subject),
            None => sig
                .threshold
                .is_none_or(|t| thresholds.allow(&t, idx, 0, subject)),
        };
    if !ok {
        stats.thresholded += 1;
    }
    ok
}

/// The tuning of an alert that passed its filters: `Err` when tuning suppresses it
/// (counted), `Ok(None)` without tuning. `to_server`: the packet's direction in its flow.
pub(super) fn tune<'c>(
    cfg: &'c WorkerConfig,
    stats: &mut WorkerStats,
    sig: &Sig,
    idx: u32,
    s: Subject,
    to_server: Option<bool>,
) -> Result<Option<Tuned<'c>>, ()> {
    let Some(tuner) = cfg.tuner.as_deref() else {
        return Ok(None);
    };
    let target_is_src = sig.target == Some(Target::Src);
    let facts = AlertFacts {
        src: s.src,
        dst: s.dst,
        target: if target_is_src { s.src } else { s.dst },
        // The targeted port means something only when the target is the flow's server.
        target_port: match (target_is_src, to_server) {
            (false, Some(true)) => Some(s.dport),
            (true, Some(false)) => Some(s.sport),
            _ => None,
        },
    };
    match tuner.decide(idx, &facts) {
        Decision::Suppressed(_) => {
            stats.suppressed += 1;
            Err(())
        }
        Decision::Alert(t) => {
            stats.by_severity[t.severity as usize] += 1;
            Ok(Some(t))
        }
    }
}
