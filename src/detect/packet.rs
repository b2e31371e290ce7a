//! Per-packet inspection: the packet's protocol group, its prefilter scan over the payload
//! or the new stream data, then verification of each candidate rule.

use super::*;

impl Engine {
    /// Inspects one packet, calling `on_match` with the engine index of each matching rule,
    /// in engine order. `bits` are the flow's flowbits (None: packet without flow); matching
    /// rules set/unset/toggle them before later rules are checked. `view` says whether the
    /// packet's payload or new reassembled stream data is inspected.
    pub fn inspect(
        &self,
        ctx: &mut DetectCtx,
        p: &Packet<'_>,
        flow: FlowFacts,
        bits: Option<&mut FlowBits>,
        view: View<'_>,
        mut on_match: impl FnMut(u32),
    ) {
        // Prefilter input: the payload, or the new stream bytes with some context before them.
        let group = &self.groups[group_of(p.proto)];
        // Packets of a flow scan their direction's database; packets without one, both.
        let dirs: &[usize] = match (flow.tracked, flow.to_server) {
            (false, _) => &[0, 1],
            (true, true) => &[0],
            (true, false) => &[1],
        };
        // Stream chunks are verified with up to `stream_context` bytes of context, so the
        // prefilter must report every fast pattern there. Bytes before the new data were
        // scanned when they were new: if those scans found nothing in the context range,
        // only the longest fast pattern's reach needs scanning again.
        let mut scan_end = 0;
        let scan: &[u8] = match view {
            View::Packet { .. } => p.payload,
            View::Stream {
                data,
                new_from,
                base,
                hits_until,
            } => {
                let context = new_from.saturating_sub(group.stream_context[dirs[0]]);
                let from = if hits_until.get() > base + context as u64 {
                    context
                } else {
                    new_from.saturating_sub(group.fp_reach[dirs[0]])
                };
                scan_end = base + data.len() as u64;
                &data[from..]
            }
        };
        // Only rules that can match this view are looked at.
        let (mpm, non_mpm) = match view {
            View::Packet {
                stream_active: true,
            } => (&group.mpm_pkt, &group.non_mpm_pkt),
            View::Packet { .. } => (&group.mpm, &group.non_mpm),
            View::Stream { .. } => (&group.mpm, &group.non_mpm_stream),
        };
        ctx.next_packet();
        for &d in dirs {
            // The server port picks the port group.
            let port = match (p.has_ports(), d) {
                (false, _) => 0,
                (true, 0) => p.dport,
                (true, _) => p.sport,
            };
            let (Some(m), Some(scratch), false) = (mpm[d].get(port), &ctx.scratch, scan.is_empty())
            else {
                continue;
            };
            let (seen, stamp, cands) = (&mut ctx.seen, ctx.stamp, &mut ctx.candidates);
            let mut any = false;
            let res = m.scan(scan, scratch, |rules, _| {
                any = true;
                for &r in rules {
                    if seen[r as usize] != stamp {
                        seen[r as usize] = stamp;
                        cands.push(r);
                    }
                }
            });
            if res.is_err() {
                ctx.scan_errors += 1;
            }
            // Hyperscan reports each pattern once, so a hit anywhere marks the whole scan.
            if let (true, View::Stream { hits_until, .. }) = (any || res.is_err(), view) {
                hits_until.set(hits_until.get().max(scan_end));
            }
        }
        let dport = if p.has_ports() { p.dport } else { 0 };
        ctx.candidates.extend_from_slice(non_mpm.lookup(dport));
        // IP-only rules: once per flow direction (every packet when there is no flow); and
        // never on the stream view, which carries no new header.
        if matches!(view, View::Packet { .. }) && (flow.first_in_dir || !flow.tracked) {
            group
                .ip_only
                .candidates(addr_key(p.src), addr_key(p.dst), &mut ctx.candidates);
        }
        ctx.candidates.sort_unstable();
        let bits = match bits {
            Some(b) => b,
            None => {
                ctx.no_flow_bits.clear();
                &mut ctx.no_flow_bits
            }
        };
        for &idx in &ctx.candidates {
            let sig = &self.sigs[idx as usize];
            if bits.backoff.skip(idx) {
                ctx.backoff_skips += 1;
                continue;
            }
            let limit_hits = inspect::pcre_limit_hits_so_far();
            if sig.captures {
                inspect::clear_captures();
            }
            let matched = sig.header_matches(p)
                && sig.flow_matches(flow)
                && sig.packet_matches(p)
                && sig.fb_conds.iter().all(|c| c.holds(bits))
                && sig.payload_matches(p, view)
                && sig.xbits_hold(&ctx.xbits, p, flow.now)
                && sig.iprep_holds(ctx.intel.as_deref(), p)
                && sig.hdr_sets_hold(&self.datasets, p)
                && run_flowints(&sig.flowints, bits, flow.tracked);
            bits.backoff
                .record(idx, inspect::pcre_limit_hits_so_far() != limit_hits);
            if matched {
                sig.apply_actions(&ctx.xbits, bits, &mut ctx.pktvars, p, flow);
                on_match(idx);
            }
        }
    }
}
