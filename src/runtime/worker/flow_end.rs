//! When a flow ends (timeout, eviction, end of input): its memory is released from the
//! memcaps, what it still holds is inspected one last time as Suricata's flow-timeout pseudo
//! packets do, and its transaction and `flow` events are written.

use super::detect::{inspect_txs, released, Due, Upto};
use super::events::transactions_at_end;
use super::track::ends;
use super::verdict::{intel_input, passes_filters, transaction, tune, write_alert};
use super::{Detector, Events, MemUse, WorkerConfig};
use crate::decode::Packet;
use crate::detect::rules::Action;
use crate::detect::threshold::Subject;
use crate::detect::FlowFacts;
use crate::flow::{EndReason, Flow};
use crate::output::eve::{render_flow_event, AlertInput};
use crate::output::EveSender;
use crate::stats::WorkerStats;

/// Everything a flow's end does, in order.
pub(super) fn on_flow_end(
    d: &mut Detector,
    eve: &mut EveSender,
    cfg: &WorkerConfig,
    mem: &mut MemUse,
    stats: &mut WorkerStats,
    flow: &mut Flow,
    why: EndReason,
) {
    // What this flow was counted for (the final inspection may still grow it).
    mem.app = mem.app.saturating_sub(flow.app.heap());
    if let Some(s) = flow.streams.as_deref() {
        mem.stream = mem.stream.saturating_sub(s[0].mem() + s[1].mem());
    }
    final_inspection(d, eve, cfg, stats, flow);
    // Transactions still open when the flow ends are logged as they are.
    transactions_at_end(eve, cfg, &d.engine, flow);
    if cfg.flow_events {
        let mut line = eve.buffer();
        render_flow_event(&mut line, flow, why, cfg.community_id);
        eve.send(line);
    }
    if let Some(streams) = flow.streams.as_deref() {
        for r in streams {
            let e = &r.events;
            stats.stream_events.overlap_diff += e.overlap_diff;
            stats.stream_events.gaps += e.gaps;
            stats.stream_events.ooo_refused += e.ooo_refused;
            stats.stream_events.depth_bytes += e.depth_bytes;
        }
    }
}

/// A rule that matched at the flow's end: direction, transaction slot (None for raw stream
/// data) and rule.
type EndHit = (usize, Option<usize>, u32);

/// The flow's last inspection: the parsers finish what the end completes (a message cut by
/// the close), stream data never released is inspected, and transactions whose last
/// inspection could not match (the packet that completed them was no longer `established`,
/// or nothing inspected them) are inspected once more: established, one pass per direction.
/// Alerts say `"pkt_src":"stream (flow timeout)"`.
fn final_inspection(
    d: &mut Detector,
    eve: &mut EveSender,
    cfg: &WorkerConfig,
    stats: &mut WorkerStats,
    flow: &mut Flow,
) {
    if flow.passed || flow.dropped {
        return;
    }
    let pseudo = [pseudo_packet(flow, 0), pseudo_packet(flow, 1)];
    let mut hits: Vec<EndHit> = Vec::new();
    let mut extra = Vec::new();
    final_stream(d, cfg, stats, flow, &pseudo, &mut hits, &mut extra);
    if flow.proto == 6 {
        flow.app.on_close(0, &cfg.app, &mut stats.app);
        flow.app.on_close(1, &cfg.app, &mut stats.app);
    }
    let mut tx_hits = Vec::new();
    for (dir, (p, facts)) in pseudo.iter().enumerate() {
        let Flow {
            app, bits, streams, ..
        } = &mut *flow;
        let Some(parser) = app.parser.as_deref_mut() else {
            break;
        };
        let due = Due {
            dir,
            at_end: true,
            payload: streams.as_deref().map_or(&[][..], |st| st[dir].window()),
        };
        tx_hits.clear();
        inspect_txs(d, parser, bits, p, *facts, due, &mut tx_hits, &mut extra);
        hits.extend(tx_hits.iter().map(|&(slot, i)| (dir, Some(slot), i)));
    }
    let mut ev = Events {
        eve,
        cfg,
        ts: flow.last,
        pcap_cnt: 0,
    };
    let mut any = false;
    for &(dir, slot, idx) in &hits {
        let hit = super::detect::extra_of(&extra, slot, idx);
        any |= end_alert(d, &mut ev, stats, flow, (dir, slot, idx), hit);
    }
    flow.alerted |= any;
}

/// Stream data never acknowledged reaches the parser and raw detection now, then what waits
/// after a gap.
fn final_stream(
    d: &mut Detector,
    cfg: &WorkerConfig,
    stats: &mut WorkerStats,
    flow: &mut Flow,
    pseudo: &[(Packet<'static>, FlowFacts); 2],
    hits: &mut Vec<EndHit>,
    extra: &mut Vec<super::detect::ExtraHit>,
) {
    let Flow {
        app,
        bits,
        streams,
        client,
        server,
        ..
    } = &mut *flow;
    let Some(st) = streams.as_deref_mut() else {
        return;
    };
    for (dir, s) in st.iter_mut().enumerate() {
        let (p, facts) = &pseudo[dir];
        loop {
            let upto = s.next_off();
            let before = s.app_off;
            if upto > s.app_off {
                if let Some((_, end)) = s.range(0, upto) {
                    // The flow ends now: what is left is parsed whatever the memcap.
                    let window = &s.window()[..end];
                    app.on_stream(dir, window, s.window_off(), &cfg.app, false, &mut stats.app);
                }
                s.app_off = upto;
            }
            if dir == 1 {
                let ends = (client.0, *server);
                if let Some((idx, f)) = super::detect::raw_start(d, app.proto, ends, s, before) {
                    hits.push((dir, None, idx));
                    extra.push((None, idx, super::detect::Extra::Analytic(f)));
                }
            }
            // Not again for data a rule alerted on while it waited past a hole; not at all
            // once the session went encrypted.
            let plain_upto = app.encrypted.map_or(upto, |at| upto.min(at[dir]));
            if app.encrypted.is_none() || plain_upto > s.raw_off {
                stats.stream_bytes += released(
                    d,
                    s,
                    p,
                    *facts,
                    bits,
                    Upto {
                        upto: plain_upto,
                        at_end: true,
                    },
                    |i| hits.push((dir, None, i)),
                );
            }
            s.raw_off = s.raw_off.max(upto);
            if s.pending() == 0 || s.flush(&cfg.flow.stream).is_none() {
                break;
            }
        }
    }
}

/// Raises one flow-end hit as an alert if its filters and the tuning let it; returns whether
/// it alerted.
fn end_alert(
    d: &Detector,
    ev: &mut Events<'_>,
    stats: &mut WorkerStats,
    flow: &Flow,
    (dir, slot, idx): EndHit,
    extra: Option<&super::detect::Extra>,
) -> bool {
    let cfg = ev.cfg;
    let (src, dst) = ends(flow, dir);
    let subject = Subject {
        src: src.0,
        dst: dst.0,
        flow_id: flow.id,
        ts: flow.last,
        sport: src.1,
        dport: dst.1,
    };
    let sig = d.engine.sig(idx);
    let tuner = cfg.tuner.as_deref();
    if sig.action == Action::Pass
        || !passes_filters(&d.engine, &d.thresholds, stats, tuner, idx, subject)
    {
        return false;
    }
    let Ok(tuned) = tune(cfg, stats, sig, idx, subject, Some(dir == 0)) else {
        return false;
    };
    let input = AlertInput {
        ts: flow.last,
        pcap_cnt: 0,
        ip_version: if src.0.is_ipv4() { 4 } else { 6 },
        src: src.0,
        sport: Some(src.1),
        dst: dst.0,
        dport: Some(dst.1),
        proto: flow.proto,
        icmp: None,
        vlan: [0, 0],
        flow: Some((flow, dir == 0)),
        blocked: false,
        tunnel: None,
        community_id: cfg.community_id,
        app: slot.and_then(|s| transaction(flow, s)),
        pseudo: true,
        tuned,
        var_names: Some(d.engine.var_names()),
        pktvars: &[],
        intel: intel_input(d, extra.and_then(super::detect::Extra::intel)),
        analytic: extra.and_then(super::detect::Extra::analytic),
    };
    write_alert(ev, stats, &input, sig, idx);
    true
}

/// A packet standing for direction `d` (0 to server) of a flow that ends, with the facts
/// flow-end detection uses (Suricata's flow-timeout pseudo packet).
fn pseudo_packet(flow: &Flow, d: usize) -> (Packet<'static>, FlowFacts) {
    let (src, dst) = ends(flow, d);
    let p = Packet {
        ip_version: if src.0.is_ipv4() { 4 } else { 6 },
        src: src.0,
        dst: dst.0,
        proto: flow.proto,
        ttl: 0,
        sport: src.1,
        dport: dst.1,
        tcp: None,
        icmp: None,
        icmp_rest: [0; 4],
        ip_id: 0,
        vlan: [0, 0],
        fragment: false,
        frag: None,
        truncated: false,
        payload: &[],
        frame_len: 0,
        ip_header: &[],
        l4: &[],
        events: 0,
    };
    let facts = FlowFacts {
        tracked: true,
        to_server: d == 0,
        established: flow.app.was_established,
        first_in_dir: false,
        stream_sizes: None,
        now: flow.last,
        app_proto: flow.app.detected(),
        upgraded_from: flow.app.upgraded_from.unwrap_or_default(),
        stream_events: 0,
        proto_detected: false,
    };
    (p, facts)
}
