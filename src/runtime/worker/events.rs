//! Stage 7: the EVE lines the packet path writes besides alerts: anomalies (when `anomaly`
//! events are on) and app-layer transaction events (per protocol switch). Rendering happens
//! here, on the worker; the writer thread only writes finished lines.

use super::{At, WorkerConfig};
use crate::applayer::TxRef;
use crate::decode::Packet;
use crate::detect::Engine;
use crate::flow::{Flow, Micros};
use crate::output::eve::{render_anomaly, render_app_event, render_fileinfo, TxFlow};
use crate::output::EveSender;

/// The EVE output of one packet.
pub(super) struct Events<'a> {
    pub eve: &'a mut EveSender,
    pub cfg: &'a WorkerConfig,
    pub ts: Micros,
    pub pcap_cnt: u64,
}

impl<'a> Events<'a> {
    /// The output of a packet at `at`.
    pub fn new(eve: &'a mut EveSender, cfg: &'a WorkerConfig, at: At<'_>) -> Events<'a> {
        Events {
            eve,
            cfg,
            ts: at.ts,
            pcap_cnt: at.pcap_cnt,
        }
    }

    /// An `anomaly` event of `layer` (decode, defrag, stream, applayer), when anomaly events
    /// are on. `packet`: the packet and its flow id, if it decoded.
    pub fn anomaly(
        &mut self,
        packet: Option<(&Packet<'_>, Option<u64>)>,
        layer: &str,
        event: &str,
    ) {
        if self.cfg.anomaly_events {
            let mut line = self.eve.buffer();
            render_anomaly(&mut line, self.ts, self.pcap_cnt, packet, layer, event);
            self.eve.send(line);
        }
    }

    /// After detection: writes the transaction events that are due (complete, not yet
    /// logged), then lets the parser free what it no longer needs.
    pub fn transactions_done(&mut self, f: &mut Flow, engine: &Engine) {
        let on = self.logs(f);
        let (ts, ends) = (self.ts, TxFlow::of(f));
        let Some(parser) = f.app.parser.as_deref_mut() else {
            return;
        };
        for slot in 0..parser.tx_count() {
            let Some((tx, det)) = parser.tx(slot) else {
                continue;
            };
            if det.logged && det.files_logged.count_ones() as usize >= tx.files().len().min(64) {
                continue;
            }
            // With the protocol's events off, every transaction counts as logged (so the
            // parser can free it once inspected).
            let due = tx.complete();
            if on && due && !det.logged {
                write_tx(self.eve, self.cfg, ts, ends, tx);
            }
            let files = files_due(self.eve, self.cfg, engine, ts, ends, (tx, det), false);
            if let Some(det) = parser.tx_detect(slot) {
                det.logged |= due || !on;
                det.files_logged |= files;
            }
        }
        parser.gc();
    }

    /// Whether the flow's protocol has its transaction events on.
    fn logs(&self, f: &Flow) -> bool {
        f.app.proto.index().is_some_and(|i| self.cfg.app_events[i])
    }
}

/// The flow ends: transactions never logged are logged as far as they got.
pub(super) fn transactions_at_end(
    eve: &mut EveSender,
    cfg: &WorkerConfig,
    engine: &Engine,
    f: &Flow,
) {
    let on = f.app.proto.index().is_some_and(|i| cfg.app_events[i]);
    let Some(parser) = f.app.parser.as_deref() else {
        return;
    };
    if !on && !cfg.fileinfo_events {
        return;
    }
    for slot in 0..parser.tx_count() {
        if let Some((tx, det)) = parser.tx(slot) {
            if on && !det.logged && tx.worth_logging() {
                write_tx(eve, cfg, f.last, TxFlow::of(f), tx);
            }
            files_due(eve, cfg, engine, f.last, TxFlow::of(f), (tx, det), true);
        }
    }
}

/// Writes the `fileinfo` events of a transaction's files that are done (all of them when the
/// flow `ended`) and not yet logged, and hands those a `filestore` rule matched to the file
/// store. Returns the bits of the files handled (logged, or passed over with `fileinfo`
/// events off).
fn files_due(
    eve: &mut EveSender,
    cfg: &WorkerConfig,
    engine: &Engine,
    ts: Micros,
    f: TxFlow,
    (tx, det): (TxRef<'_>, &crate::applayer::TxDetect),
    ended: bool,
) -> u64 {
    let mut bits = 0;
    if tx.files().is_empty() {
        return 0;
    }
    let store = cfg
        .filestore
        .as_ref()
        .filter(|_| det.alerted.iter().any(|&r| engine.sig(r).stores_files()));
    for (i, file) in tx.files().iter().enumerate().take(64) {
        let bit = 1u64 << i;
        // Due once done and inspected in its direction since (so a `filestore` rule had its
        // chance to match), or when the flow ends.
        let inspected = !det.updated[usize::from(!file.to_server)];
        if det.files_logged & bit != 0 || !(ended || (file.done() && inspected)) {
            continue;
        }
        let mut stored = false;
        if let (Some(s), Some((sha, content))) = (store, file.storable()) {
            s.store(*sha, content);
            stored = true;
        }
        if cfg.fileinfo_events {
            let mut line = eve.buffer();
            let state = if ended && !file.done() {
                crate::applayer::FileState::Truncated
            } else {
                file.state
            };
            render_fileinfo(
                &mut line,
                ts,
                f,
                tx,
                file,
                (state, stored),
                cfg.community_id,
            );
            eve.send(line);
        }
        bits |= bit;
    }
    bits
}

/// Writes one transaction event.
fn write_tx(eve: &mut EveSender, cfg: &WorkerConfig, ts: Micros, f: TxFlow, tx: TxRef<'_>) {
    let mut line = eve.buffer();
    render_app_event(&mut line, ts, f, tx, cfg.community_id);
    eve.send(line);
}
