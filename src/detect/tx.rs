//! Per-transaction inspection: rules on app-layer buffers (HTTP, TLS, DNS...) run against
//! the transactions the parsers update, with their own prefilter per buffer.

use super::*;

/// A rule's inspection chain on one app-layer buffer.
#[derive(Debug)]
pub(super) struct AppList {
    pub(super) buf: Buf,
    pub(super) transforms: Vec<Transform>,
    pub(super) steps: Vec<Step>,
    /// `absent`: the buffer must not exist once its message is complete; with `or_else`
    /// (true) the chain may match instead.
    pub(super) absent: Option<bool>,
    /// `dataset` operations on the instance that matched the chain.
    pub(super) datasets: Vec<(dataset::DatasetCmd, u32)>,
}

impl AppList {
    /// Whether the chain matches some instance of the buffer in `tx`.
    pub(super) fn matches(
        &self,
        tx: &TxRef<'_>,
        to_server: bool,
        sets: &dataset::Datasets,
        a: &mut Vec<u8>,
        b: &mut Vec<u8>,
    ) -> bool {
        let found = tx.each(self.buf, to_server, &mut |inst| {
            let data = transform::apply_all(&self.transforms, inst, a, b);
            inspect::matches(&self.steps, data)
                && self
                    .datasets
                    .iter()
                    .all(|&(cmd, id)| sets.apply(id, cmd, data))
        });
        match (self.absent, found) {
            (None, found) => found == Some(true),
            (Some(_), None) => tx.settled(self.buf, to_server),
            (Some(or_else), Some(m)) => or_else && m,
        }
    }
}

/// `ftpbounce`: the transaction is an FTP PORT command naming an address other than the
/// client's (the packet's source on the client's side).
fn ftp_bounce(tx: TxRef<'_>, p: &Packet<'_>) -> bool {
    let mut bounce = false;
    tx.each(Buf::FtpPortAddr, true, &mut |a| {
        bounce = a.len() == 4 && IpAddr::from([a[0], a[1], a[2], a[3]]) != p.src;
        true
    });
    bounce
}

/// `dce_iface` and `dce_opnum`: the transaction is a DCERPC request on that interface and
/// operation.
fn dce_holds(sig: &Sig, tx: TxRef<'_>) -> bool {
    if let Some(iface) = &sig.dce_iface {
        if tx.each(Buf::DceIface, true, &mut |rec| iface.holds(rec)) != Some(true) {
            return false;
        }
    }
    if !sig.dce_opnums.is_empty() {
        let found = tx.each(Buf::DceOpnum, true, &mut |op| {
            let op = u16::from_le_bytes([op[0], op[1]]);
            sig.dce_opnums
                .iter()
                .any(|&(lo, hi)| (lo..=hi).contains(&op))
        });
        if found != Some(true) {
            return false;
        }
    }
    true
}

/// Integer keywords on transaction fields, and `krb5.ticket_encryption`: some instance of
/// each field passes its test.
fn fields_hold(sig: &Sig, tx: TxRef<'_>) -> bool {
    let le = |b: &[u8]| b.iter().rev().fold(0u64, |a, &x| a << 8 | u64::from(x));
    sig.int_conds
        .iter()
        .all(|(buf, cmp)| tx.each(*buf, true, &mut |b| cmp.test(le(b))) == Some(true))
        && sig.ticket_enc.as_ref().is_none_or(|c| {
            tx.each(Buf::Krb5TicketEtype, true, &mut |b| {
                b.len() == 4 && c.holds(i32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            }) == Some(true)
        })
}

impl Engine {
    /// Inspects one app-layer transaction with the rules on its buffers, calling `on_match`
    /// with each matching rule's engine index in engine order. `done` lists the rules that
    /// already matched this transaction (a rule fires once per transaction). `payload` is the
    /// packet payload or new stream bytes, for rules that also have payload contents.
    #[allow(clippy::too_many_arguments)]
    pub fn inspect_tx(
        &self,
        ctx: &mut DetectCtx,
        p: &Packet<'_>,
        flow: FlowFacts,
        bits: &mut FlowBits,
        tx: TxRef<'_>,
        done: &[u32],
        payload: &[u8],
        mut on_match: impl FnMut(u32),
    ) {
        let proto = tx.proto();
        let proto_bit = proto.bit();
        // Rules see the transaction's protocol, or what the flow turned out to carry inside
        // it (an HTTP/2 stream of a DNS-over-HTTP/2 flow is `doh2`).
        let tx_proto = if AppProto::equals(proto, flow.app_proto) {
            flow.app_proto
        } else {
            proto
        };
        ctx.next_packet();
        if let Some(scratch) = &ctx.scratch {
            let (seen, stamp, cands) = (&mut ctx.seen, ctx.stamp, &mut ctx.candidates);
            let (ta, tb) = (&mut ctx.tbuf.0, &mut ctx.tbuf.1);
            let mut errors = 0;
            for (buf, ts, m) in &self.app_mpm {
                if buf.protos() & proto_bit == 0 {
                    continue;
                }
                tx.each(*buf, flow.to_server, &mut |inst| {
                    let inst = transform::apply_all(ts, inst, ta, tb);
                    if !inst.is_empty() {
                        let res = m.scan(inst, scratch, |rules, _| {
                            for &r in rules {
                                if seen[r as usize] != stamp {
                                    seen[r as usize] = stamp;
                                    cands.push(r);
                                }
                            }
                        });
                        errors += u64::from(res.is_err());
                    }
                    false
                });
            }
            ctx.scan_errors += errors;
        }
        ctx.candidates
            .extend_from_slice(&self.app_non_mpm[proto.index().unwrap_or(0)]);
        ctx.candidates.sort_unstable();
        let (a, b) = (&mut ctx.tbuf.0, &mut ctx.tbuf.1);
        for &idx in &ctx.candidates {
            if done.contains(&idx) {
                continue;
            }
            if bits.backoff.skip(idx) {
                ctx.backoff_skips += 1;
                continue;
            }
            let limit_hits = inspect::pcre_limit_hits_so_far();
            let sig = &self.sigs[idx as usize];
            if sig.captures {
                inspect::clear_captures();
            }
            let failed = sig.tx_protos & proto_bit == 0
                || (sig.ftpbounce && !ftp_bounce(tx, p))
                || !dce_holds(sig, tx)
                || !fields_hold(sig, tx)
                || !(sig.file_conds.is_empty()
                    || tx.files().iter().any(|f| {
                        f.to_server == flow.to_server && sig.file_conds.iter().all(|c| c.holds(f))
                    }))
                || !sig.header_matches(p)
                || !sig.flow_matches(FlowFacts {
                    app_proto: tx_proto,
                    ..flow
                })
                || !sig.packet_matches(p)
                || !sig.fb_conds.iter().all(|c| c.holds(bits))
                || tx.events() & sig.app_events != sig.app_events
                || !sig
                    .app_lists
                    .iter()
                    .all(|l| l.matches(&tx, flow.to_server, &self.datasets, a, b))
                || !(sig.steps.is_empty()
                    || (!payload.is_empty() && inspect::matches(&sig.steps, payload)))
                || !sig.xbits_hold(&ctx.xbits, p, flow.now)
                || !sig.iprep_holds(ctx.intel.as_deref(), p)
                || !sig.hdr_sets_hold(&self.datasets, p)
                || !run_flowints(&sig.flowints, bits, flow.tracked);
            bits.backoff
                .record(idx, inspect::pcre_limit_hits_so_far() != limit_hits);
            if failed {
                continue;
            }
            sig.apply_actions(&ctx.xbits, bits, &mut ctx.pktvars, p, flow);
            on_match(idx);
        }
    }
}
