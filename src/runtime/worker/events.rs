//! Stage 7: the EVE lines the packet path writes besides alerts: anomalies (when `anomaly`
//! events are on) and app-layer transaction events (per protocol switch). Rendering happens
//! here, on the worker; the writer thread only writes finished lines.

use super::{At, WorkerConfig};
use crate::applayer::TxRef;
use crate::decode::Packet;
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
    pub fn transactions_done(&mut self, f: &mut Flow) {
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
            if on && due {
                write_tx(self.eve, self.cfg, ts, ends, tx);
            }
            let files = files_due(self.eve, self.cfg, ts, ends, tx, det.files_logged, false);
            if let Some(det) = parser.tx_detect(slot) {
                det.logged = due || !on;
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
pub(super) fn transactions_at_end(eve: &mut EveSender, cfg: &WorkerConfig, f: &Flow) {
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
            files_due(eve, cfg, f.last, TxFlow::of(f), tx, det.files_logged, true);
        }
    }
}

/// Writes the `fileinfo` events of a transaction's files that are done (all of them when the
/// flow `ended`) and not yet in `logged` (a bit per file). Returns the bits of the files
/// handled (logged, or passed over with `fileinfo` events off).
fn files_due(
    eve: &mut EveSender,
    cfg: &WorkerConfig,
    ts: Micros,
    f: TxFlow,
    tx: TxRef<'_>,
    logged: u64,
    ended: bool,
) -> u64 {
    let mut bits = 0;
    for (i, file) in tx.files().iter().enumerate().take(64) {
        let bit = 1u64 << i;
        if logged & bit != 0 || !(ended || file.done()) {
            continue;
        }
        if cfg.fileinfo_events {
            let mut line = eve.buffer();
            render_fileinfo(&mut line, ts, f, tx, file, ended, cfg.community_id);
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
