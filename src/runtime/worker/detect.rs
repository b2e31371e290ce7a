//! Stage 5: detection. The packet is inspected on its own payload, then (TCP with an active
//! stream) on the stream data this packet releases, then on the transactions the parsers
//! updated. Every match lands in [`Hits`]; the verdict stage decides what they do.

use std::cell::Cell;

use super::stream::{closing, data_seq, release_to};
use super::{Detector, WorkerConfig};
use crate::applayer::{AppProto, Parser};
use crate::decode::Packet;
use crate::detect::analytics::Finding;
use crate::detect::flowbits::FlowBits;
use crate::detect::intel::Hit;
use crate::detect::{FlowFacts, View, STREAM_SCAN_LOOKBACK};
use crate::flow::stream::{EarlyAlert, Reassembler};
use crate::flow::Flow;

/// What detection found on one packet (buffers reused from packet to packet).
#[derive(Debug, Default)]
pub(super) struct Hits {
    /// Rules matched on the packet or its stream data, by engine index.
    pub matched: Vec<u32>,
    /// Rules matched on transactions: (transaction slot in the flow's parser, rule).
    pub tx: Vec<(usize, u32)>,
    /// What intel lists and analytics among them found: (transaction slot, signature, what).
    pub extra: Vec<ExtraHit>,
    /// Inline mode: block of queued stream data being inspected.
    ooo_buf: Vec<u8>,
}

/// A hit of an intel list or an analytic: the transaction it is on (None: the packet), its
/// signature (engine index) and what it found.
pub(super) type ExtraHit = (Option<usize>, u32, Extra);

/// What a signature the engine does not match itself found.
#[derive(Debug)]
pub(super) enum Extra {
    /// An intel list's indicator.
    Intel(Hit),
    /// An analytic's finding.
    Analytic(Finding),
}

impl Extra {
    /// The intel hit, if it is one.
    pub fn intel(&self) -> Option<&Hit> {
        match self {
            Extra::Intel(h) => Some(h),
            Extra::Analytic(_) => None,
        }
    }

    /// The analytic's finding, if it is one.
    pub fn analytic(&self) -> Option<&Finding> {
        match self {
            Extra::Analytic(f) => Some(f),
            Extra::Intel(_) => None,
        }
    }
}

/// The details of hit `(slot, idx)`, if `idx` is an intel list's or an analytic's signature.
pub(super) fn extra_of(extra: &[ExtraHit], slot: Option<usize>, idx: u32) -> Option<&Extra> {
    extra
        .iter()
        .find(|h| h.0 == slot && h.1 == idx)
        .map(|h| &h.2)
}

impl Hits {
    /// Forgets the previous packet's hits.
    pub fn clear(&mut self) {
        self.matched.clear();
        self.tx.clear();
        self.extra.clear();
    }

    /// Nothing matched.
    pub fn is_empty(&self) -> bool {
        self.matched.is_empty() && self.tx.is_empty()
    }
}

/// Intel address lists on the packet's two ends: once per flow and store generation (a flow
/// keeps its ends, so only an update can change the answer), every packet without a flow.
/// A list alerts once per flow.
pub(super) fn intel_addrs(
    d: &mut Detector,
    flow: Option<&mut Flow>,
    p: &Packet<'_>,
    ts: crate::flow::Micros,
    hits: &mut Hits,
) {
    let Some(snap) = d.ctx.intel.as_deref() else {
        return;
    };
    if !snap.has_ip() {
        return;
    }
    let now = (ts / 1_000_000).clamp(0, i64::from(u32::MAX)) as u32;
    let before = hits.extra.len();
    let mut found = Vec::new();
    match flow {
        Some(f) => {
            if f.intel.0 == snap.generation {
                return;
            }
            f.intel.0 = snap.generation;
            let alerted = f.intel.1;
            snap.match_addrs(p.src, p.dst, now, |l| alerted & (1 << l) != 0, &mut found);
            for h in &found {
                f.intel.1 |= 1 << h.list;
            }
        }
        None => snap.match_addrs(p.src, p.dst, now, |_| false, &mut found),
    }
    for h in found {
        if let Some(idx) = d.intel_sig(h.list) {
            hits.extra.push((None, idx, Extra::Intel(h)));
        }
    }
    for &(_, idx, _) in &hits.extra[before..] {
        hits.matched.push(idx);
    }
}

/// Analytics on a TCP session's first packet (beacons).
pub(super) fn session_analytics(
    d: &mut Detector,
    flow: Option<&Flow>,
    ts: crate::flow::Micros,
    hits: &mut Hits,
) {
    let (Some(a), Some(f)) = (&mut d.analytics, flow) else {
        return;
    };
    if f.proto != 6 || f.pkts_toserver + f.pkts_toclient != 1 {
        return;
    }
    if let Some((idx, found)) = a.on_session(f.client.0, f.server, ts) {
        hits.extra.push((None, idx, Extra::Analytic(found)));
        hits.matched.push(idx);
    }
}

/// Analytics on the start of a TCP session's data from its server, while the session has
/// no application protocol (an executable sent as a stager's stage): `before` is how many
/// of those bytes had been released before this packet.
pub(super) fn raw_start_analytics(d: &mut Detector, f: &Flow, before: u64, hits: &mut Hits) {
    let Some(st) = f.streams.as_deref() else {
        return;
    };
    if let Some((idx, found)) = raw_start(d, f.app.proto, (f.client.0, f.server), &st[1], before) {
        hits.extra.push((None, idx, Extra::Analytic(found)));
        hits.matched.push(idx);
    }
}

/// The raw-start analytics on the server's stream `s` (to the client), whose bytes up to
/// `s.app_off` are released, `before` of them before; also run at the flow's end, for data
/// released only then.
pub(super) fn raw_start(
    d: &Detector,
    proto: AppProto,
    (client, server): (std::net::IpAddr, (std::net::IpAddr, u16)),
    s: &Reassembler,
    before: u64,
) -> Option<(u32, Finding)> {
    /// Bytes of the server's data looked at: an image's PE header lies well within them.
    const LOOK: u64 = 4096;
    let a = d.analytics.as_ref()?;
    if before >= LOOK
        || s.app_off <= before
        || s.window_off() != 0
        || !matches!(proto, AppProto::Unknown | AppProto::Failed)
    {
        return None;
    }
    let (_, end) = s.range(0, s.app_off.min(LOOK))?;
    a.on_raw_start(client, server, &s.window()[..end], before as usize)
}

/// Inspects the packet's own payload and headers.
pub(super) fn packet(
    d: &mut Detector,
    flow: Option<&mut Flow>,
    p: &Packet<'_>,
    facts: FlowFacts,
    stream_active: bool,
    hits: &mut Hits,
) {
    let bits = flow.map(|f| &mut f.bits);
    let matched = &mut hits.matched;
    let view = View::Packet { stream_active };
    d.engine
        .inspect(&mut d.ctx, p, facts, bits, view, |idx| matched.push(idx));
}

/// Raw stream detection on the packet's direction: its data released so far (acknowledged in
/// IDS mode, all of it inline). Inline, data queued past a hole is inspected at once too (with
/// what is queued before it): the packet can still be dropped before the host gets it.
#[allow(clippy::too_many_arguments)]
pub(super) fn stream(
    d: &mut Detector,
    f: &mut Flow,
    p: &Packet<'_>,
    facts: FlowFacts,
    dir: usize,
    cfg: &WorkerConfig,
    hits: &mut Hits,
    stream_bytes: &mut u64,
) {
    let encrypted_at = f.app.encrypted.map(|at| at[dir]);
    let Flow { streams, bits, .. } = f;
    let Some(st) = streams.as_deref_mut() else {
        return;
    };
    let Hits {
        matched, ooo_buf, ..
    } = hits;
    let s = &mut st[dir];
    // Packet-and-stream rules that matched this packet's own payload are remembered, so the
    // flow's end does not alert them again on the same data (packet-only rules never see
    // the stream: they take no room).
    let both = |r: &&u32| d.engine.sig(**r).on_packets_and_stream();
    let noted = matched.iter().any(|r| both(&r));
    if let (true, Some(end)) = (
        noted,
        data_seq(p).and_then(|seq| s.end_of(seq, p.payload.len())),
    ) {
        for &rule in matched.iter().filter(both) {
            s.note_alert(EarlyAlert {
                rule,
                end,
                on_packet: true,
            });
        }
    }
    if let (true, Some(seq)) = (cfg.ips, data_seq(p)) {
        if let Some((base, new_from)) =
            s.ooo_block(seq, p.payload.len(), STREAM_SCAN_LOOKBACK, ooo_buf)
        {
            // The whole block is context: scan all of it.
            let scanned = Cell::new(u64::MAX);
            let view = View::Stream {
                data: ooo_buf,
                new_from,
                base,
                hits_until: &scanned,
            };
            let end = base + ooo_buf.len() as u64;
            let before = matched.len();
            d.engine
                .inspect(&mut d.ctx, p, facts, Some(bits), view, |idx| {
                    if !matched.contains(&idx) {
                        matched.push(idx);
                    }
                });
            for &rule in &matched[before..] {
                s.note_alert(EarlyAlert {
                    rule,
                    end,
                    on_packet: false,
                });
            }
        }
    }
    let closing = closing(p);
    let mut upto = release_to(s, cfg, true, closing, s.raw_off);
    // IDS mode: raw detection waits until a chunk of acknowledged data is there, as
    // Suricata's does, unless the direction closes, its parser finished a message, or the
    // window fills.
    let scfg = &cfg.flow.stream;
    let mut forced =
        cfg.ips || closing || s.raw_trigger || s.unconsumed() as usize > scfg.window / 2;
    if let Some(at) = encrypted_at {
        // Encrypted from `at` on (SSH after NEWKEYS): the plaintext before it is inspected
        // now; what follows counts as inspected, so the stream can let it go.
        if s.raw_off >= at {
            s.raw_off = s.raw_off.max(s.next_off());
            return;
        }
        upto = upto.min(at);
        forced = true;
    }
    if !forced && upto < s.raw_off.saturating_add(scfg.raw_chunk) {
        return;
    }
    s.raw_trigger = false;
    *stream_bytes += released(
        d,
        s,
        p,
        facts,
        bits,
        Upto {
            upto,
            at_end: false,
        },
        |idx| {
            if !matched.contains(&idx) {
                matched.push(idx);
            }
        },
    );
}

/// How far raw detection looks, and whether the flow ends.
#[derive(Clone, Copy)]
pub(super) struct Upto {
    /// Stream offset to look up to.
    pub upto: u64,
    /// The flow ends (its last inspection).
    pub at_end: bool,
}

/// Raw detection on a direction's stream data from where it last looked up to stream offset
/// `upto`, which becomes where it looked. Rules that alerted on part of this data while it
/// waited past a hole (inline) do not match it again, nor, at the flow's end (`at_end`),
/// rules that matched a packet's own payload there. Returns the bytes inspected.
pub(super) fn released(
    d: &mut Detector,
    s: &mut Reassembler,
    p: &Packet<'_>,
    facts: FlowFacts,
    bits: &mut FlowBits,
    to: Upto,
    mut on_match: impl FnMut(u32),
) -> u64 {
    let Upto { upto, at_end } = to;
    let mut inspected = 0;
    if let Some((start, end)) = s.range(s.raw_off, upto) {
        let view = View::Stream {
            data: &s.window()[..end],
            new_from: start,
            base: s.window_off(),
            hits_until: &s.hits_until,
        };
        let (from, earlier) = (s.raw_off, &s.alerted);
        d.engine
            .inspect(&mut d.ctx, p, facts, Some(bits), view, |idx| {
                let seen =
                    |a: &EarlyAlert| a.rule == idx && a.end > from && (at_end || !a.on_packet);
                if !earlier.iter().any(seen) {
                    on_match(idx);
                }
            });
        inspected = (end - start) as u64;
    }
    s.raw_off = s.raw_off.max(upto);
    let done = s.raw_off;
    s.alerted.retain(|a| a.end > done);
    inspected
}

/// Inspects the transactions the parser updated in this packet's direction (the other
/// side's progress is inspected on its next packet, or at the flow's end, as Suricata's
/// transaction detection does). `progressed`: the parser made progress on this packet.
pub(super) fn transactions(
    d: &mut Detector,
    f: &mut Flow,
    p: &Packet<'_>,
    facts: FlowFacts,
    dir: usize,
    progressed: bool,
    hits: &mut Hits,
) {
    if !(progressed || f.app.has_updates(dir)) {
        return;
    }
    let Flow {
        streams, app, bits, ..
    } = f;
    let Some(parser) = app.parser.as_deref_mut() else {
        return;
    };
    // Rules mixing payload and transaction contents look at the direction's retained stream
    // (or the datagram).
    let payload = match streams.as_deref() {
        Some(st) if p.proto == 6 => st[dir].window(),
        _ => p.payload,
    };
    let due = Due {
        dir,
        at_end: false,
        payload,
    };
    inspect_txs(
        d,
        parser,
        bits,
        p,
        facts,
        due,
        &mut hits.tx,
        &mut hits.extra,
    );
}

/// Which transactions an inspection looks at.
#[derive(Clone, Copy)]
pub(super) struct Due<'a> {
    /// Direction inspected (0 to the server).
    pub dir: usize,
    /// The flow ends: transactions whose last inspection was unsettled are due too.
    pub at_end: bool,
    /// Payload for rules that also have payload contents.
    pub payload: &'a [u8],
}

/// Inspects the transactions of `parser` due in `due.dir`, appending (slot, rule) to `hits`
/// (intel list and analytic hits too, with their details in `extra`). Each transaction remembers the
/// rules that alerted on it (each fires once per transaction) and whether this inspection
/// was settled (`established`).
#[allow(clippy::too_many_arguments)]
pub(super) fn inspect_txs(
    d: &mut Detector,
    parser: &mut dyn Parser,
    bits: &mut FlowBits,
    p: &Packet<'_>,
    facts: FlowFacts,
    due: Due<'_>,
    hits: &mut Vec<(usize, u32)>,
    extra: &mut Vec<ExtraHit>,
) {
    let dir = due.dir;
    for slot in 0..parser.tx_count() {
        let Some(det) = parser.tx_detect(slot) else {
            continue;
        };
        if !(std::mem::take(&mut det.updated[dir]) || (due.at_end && det.unsettled[dir])) {
            continue;
        }
        let mut alerted = std::mem::take(&mut det.alerted);
        let before = hits.len();
        if let Some((tx, _)) = parser.tx(slot) {
            let on_match = |idx| hits.push((slot, idx));
            d.engine.inspect_tx(
                &mut d.ctx,
                p,
                facts,
                bits,
                tx,
                &alerted,
                due.payload,
                on_match,
            );
            tx_intel(d, tx, slot, facts.now, &alerted, hits, extra);
            if let Some(a) = &mut d.analytics {
                let ends = if dir == 0 {
                    (p.src, p.dst)
                } else {
                    (p.dst, p.src)
                };
                let mut found = Vec::new();
                let done = |i| alerted.contains(&i);
                a.on_tx(tx, ends, dir == 0, facts.now, done, &mut found);
                for (idx, f) in found {
                    hits.push((slot, idx));
                    extra.push((Some(slot), idx, Extra::Analytic(f)));
                }
            }
        }
        alerted.extend(hits[before..].iter().map(|h| h.1));
        if let Some(det) = parser.tx_detect(slot) {
            det.alerted = alerted;
            det.unsettled[dir] = !facts.established;
        }
    }
}

/// Intel lists on one transaction's domains, URL, fingerprints and file digests; each list
/// fires once per transaction (`alerted` holds the signatures that already did).
fn tx_intel(
    d: &Detector,
    tx: crate::applayer::TxRef<'_>,
    slot: usize,
    ts: crate::flow::Micros,
    alerted: &[u32],
    hits: &mut Vec<(usize, u32)>,
    extra: &mut Vec<ExtraHit>,
) {
    let Some(snap) = d.ctx.intel.as_deref() else {
        return;
    };
    if !snap.has_tx() {
        return;
    }
    let now = (ts / 1_000_000).clamp(0, i64::from(u32::MAX)) as u32;
    let done = |l: usize| d.intel_sig(l).is_none_or(|i| alerted.contains(&i));
    let mut found = Vec::new();
    snap.match_tx(tx, now, done, &mut found);
    for h in found {
        if let Some(idx) = d.intel_sig(h.list) {
            hits.push((slot, idx));
            extra.push((Some(slot), idx, Extra::Intel(h)));
        }
    }
}
