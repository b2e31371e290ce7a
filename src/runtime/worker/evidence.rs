//! The frames of alerting flows for the pcap output: each frame goes into the worker's
//! [`PacketRing`] linked to its flow's previous frame; a flow's first alert sends its earlier
//! frames still in the ring, and every frame of an alerted flow is sent after that.

use crate::common::time::Micros;
use crate::flow::Flow;
use crate::output::pcaplog::{PacketRing, PcapSender};

/// Most earlier frames sent when a flow first alerts (the ring bounds it too).
const WALK_LIMIT: usize = 1 << 16;

pub(super) struct Evidence {
    ring: PacketRing,
    out: PcapSender,
    /// The current frame.
    seq1: u64,
    /// A flow has taken the current frame (tunnels and fragments may show others).
    claimed: bool,
    flow_id: u64,
    /// The current frame goes to the output.
    send: bool,
    scratch: Vec<u64>,
}

impl Evidence {
    pub fn new(out: PcapSender, lookback: usize) -> Evidence {
        Evidence {
            ring: PacketRing::new(lookback),
            out,
            seq1: 0,
            claimed: false,
            flow_id: 0,
            send: false,
            scratch: Vec::new(),
        }
    }

    /// A frame arrives.
    #[inline]
    pub fn begin(&mut self, ts: Micros, dlt: u16, frame: &[u8]) {
        self.seq1 = self.ring.push(ts, dlt, frame);
        self.claimed = false;
        self.flow_id = 0;
        self.send = false;
    }

    /// The frame belongs to `f` (the first flow it reaches).
    #[inline]
    pub fn claim(&mut self, f: &mut Flow) {
        if self.claimed {
            return;
        }
        self.claimed = true;
        self.ring.link(self.seq1, f.evidence);
        f.evidence = self.seq1;
        self.flow_id = f.id;
        self.send = f.alerted;
    }

    /// After detection: a flow that alerted for the first time sends its earlier frames; a
    /// packet without a flow that alerted is sent alone.
    pub fn judged(&mut self, f: Option<&Flow>, alerted_now: bool) {
        match f {
            Some(f) if f.alerted && !self.send && f.id == self.flow_id => {
                let Evidence {
                    ring,
                    out,
                    scratch,
                    flow_id,
                    seq1,
                    ..
                } = self;
                ring.walk_back(*seq1, WALK_LIMIT, scratch, |s| {
                    if let Some((ts, dlt, parts)) = ring.frame(s) {
                        out.send(*flow_id, ts, dlt, parts);
                    }
                });
                self.send = true;
            }
            None if alerted_now && !self.claimed => self.send = true,
            _ => {}
        }
    }

    /// The frame is done: sent when its flow alerted.
    #[inline]
    pub fn end(&mut self) {
        if self.send {
            if let Some((ts, dlt, parts)) = self.ring.frame(self.seq1) {
                self.out.send(self.flow_id, ts, dlt, parts);
            }
        }
    }

    /// Frames the writer's queue could not take.
    pub fn dropped(&self) -> u64 {
        self.out.dropped
    }
}
