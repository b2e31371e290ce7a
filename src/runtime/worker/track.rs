//! Stage 2: the packet in its flow. Checksums are sampled (`auto` turns validation off for a
//! capture with offloaded checksums), a flow already dropped or passed decides the packet at
//! once, running tags count it, and the facts rules test about the flow are gathered.

use std::net::IpAddr;

use super::{ChecksumMode, Verdict};
use crate::decode::Packet;
use crate::detect::tag::HostTags;
use crate::detect::FlowFacts;
use crate::flow::tcp::Refusal;
use crate::flow::{Flow, Micros};
use crate::stats::WorkerStats;

/// Packets sampled before `auto` decides.
const AUTO_SAMPLE: u64 = 1000;

/// Checksum validation for the current capture.
#[derive(Debug)]
pub(super) struct ChecksumSampler {
    mode: ChecksumMode,
    validate: bool,
    /// Packets and bad checksums seen in the current capture, for `auto`.
    seen: u64,
    bad: u64,
    /// Which capture this is (a replay's file index), recorded when `auto` turns validation off.
    capture: u32,
}

impl ChecksumSampler {
    pub fn new(mode: ChecksumMode) -> ChecksumSampler {
        ChecksumSampler {
            mode,
            validate: mode != ChecksumMode::No,
            seen: 0,
            bad: 0,
            capture: 0,
        }
    }

    /// A new capture starts: `auto` samples it afresh.
    pub fn restart(&mut self, capture: u32) {
        *self = ChecksumSampler::new(self.mode);
        self.capture = capture;
    }

    /// Whether the packet's checksums count as good (always, when not validating). Bad ones
    /// are counted.
    pub fn check(&mut self, p: &Packet<'_>, stats: &mut WorkerStats) -> bool {
        if !self.validate {
            return true;
        }
        self.seen += 1;
        let ok = p.verify_checksums().is_ok();
        if !ok {
            stats.bad_checksum += 1;
            self.bad += 1;
        }
        if self.mode == ChecksumMode::Auto
            && self.seen == AUTO_SAMPLE
            && self.bad * 10 > AUTO_SAMPLE
        {
            // Reported once per run, with the number of captures (see WorkerStats).
            tracing::debug!(
                "capture {}: {} of the first {AUTO_SAMPLE} packets have bad checksums: assuming checksum offloading, validation off for it",
                self.capture,
                self.bad
            );
            if !stats.checksum_offload.contains(&self.capture) {
                stats.checksum_offload.push(self.capture);
            }
            self.validate = false;
        }
        ok
    }
}

/// The verdict of a flow that an earlier packet dropped or passed (counted), if it was.
pub(super) fn decided(flow: Option<&Flow>, stats: &mut WorkerStats) -> Option<Verdict> {
    let f = flow?;
    if f.dropped {
        stats.dropped += 1;
        Some(Verdict::Drop)
    } else if f.passed {
        stats.passed += 1;
        Some(Verdict::Pass)
    } else {
        None
    }
}

/// Tags started by earlier alerts: when the packet's session or one of its hosts is tagged,
/// its flow id (0 without a flow) so that it is logged. Each running tag counts it.
pub(super) fn take_tags(
    flow: Option<&mut Flow>,
    host_tags: &mut HostTags,
    p: &Packet<'_>,
    ts: Micros,
) -> Option<u64> {
    let mut tagged = None;
    let id = flow.as_ref().map_or(0, |f| f.id);
    if let Some(f) = flow {
        if let Some(t) = &mut f.tag {
            if t.take(ts, p.frame_len) {
                tagged = Some(f.id);
            } else {
                f.tag = None;
            }
        }
    }
    if host_tags.take(p.src, p.dst, ts, p.frame_len) && tagged.is_none() {
        tagged = Some(id);
    }
    tagged
}

/// What rules test about the packet's flow (before reassembly and parsing add to it).
pub(super) fn facts(
    flow: Option<&Flow>,
    to_server: bool,
    refused: Option<Refusal>,
    ts: Micros,
) -> FlowFacts {
    match flow {
        Some(f) => FlowFacts {
            tracked: true,
            to_server,
            established: if f.proto == 6 {
                f.pkt_established
            } else {
                f.established()
            },
            first_in_dir: f.first_in_dir(to_server),
            stream_sizes: None,
            now: ts,
            app_proto: f.app.detected(),
            upgraded_from: f.app.upgraded_from.unwrap_or_default(),
            stream_events: refused.map_or(0, Refusal::stream_event),
            proto_detected: false,
        },
        None => FlowFacts {
            now: ts,
            ..FlowFacts::default()
        },
    }
}

/// The two ends of a flow, oriented for direction `d` (0: from the client).
pub(super) fn ends(f: &Flow, d: usize) -> ((IpAddr, u16), (IpAddr, u16)) {
    if d == 0 {
        (f.client, f.server)
    } else {
        (f.server, f.client)
    }
}
