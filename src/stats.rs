//! Counters of a run: each worker keeps its own [`WorkerStats`] (no sharing on the packet
//! path); the runtime sums them for the summary, EVE `stats` events and metrics.

use crate::applayer::AppStats;
use crate::decode::defrag::DefragStats;
use crate::decode::DecodeError;
use crate::flow::stream::StreamEvents;
use crate::flow::FlowStats;

/// Counters of one worker; summed into the run's stats.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct WorkerStats {
    /// Packets handed to this worker.
    pub packets: u64,
    /// Captured bytes.
    pub bytes: u64,
    /// Packets decoded and inspected.
    pub inspected: u64,
    /// Packets not inspected, by decode reason (index = position in [`DecodeError::ALL`]).
    pub decode_errors: [u64; DecodeError::ALL.len()],

    /// Defragmentation counters.
    pub defrag: DefragStats,
    /// Packets whose capture was shorter than their IP length.
    pub truncated: u64,
    /// Packets carrying decoder events (inspected; `decode-event` rules can match them).
    pub decoder_events: u64,
    /// Packets logged because a `tag` tagged their session or host.
    pub tagged_packets: u64,
    /// Packets decoded from inside a tunnel (IP-in-IP, GRE, VXLAN).
    pub tunneled: u64,
    /// Packets with a bad checksum while validating.
    pub bad_checksum: u64,
    /// Packets skipped because their flow matched a `pass` rule.
    pub passed: u64,
    /// Packets dropped inline (IPS) by a drop/reject rule or a dropped flow.
    pub dropped: u64,
    /// Of those, packets a `reject` rule answered (RST / ICMP unreachable).
    pub rejected: u64,
    /// Alerts raised.
    pub alerts: u64,
    /// TCP payload bytes reassembled and inspected on streams.
    pub stream_bytes: u64,
    /// TCP segments not reassembled because the stream memcap was reached.
    pub stream_memcap: u64,
    /// Stream events summed over ended flows.
    pub stream_events: StreamEvents,
    /// Matches not alerted because of threshold/detection_filter (the rule's or tuning's).
    pub thresholded: u64,
    /// Alerts suppressed by tuning.
    pub suppressed: u64,
    /// Alerts raised, by tuned severity (Informational, Medium, Serious, Critical); all zero
    /// without tuning.
    pub by_severity: [u64; 4],
    /// EVE events lost to a full output queue (live mode only).
    pub eve_dropped: u64,
    /// Frames of alerting flows the pcap output's queue could not take (live mode only).
    pub pcap_dropped: u64,
    /// Prefilter scan errors.
    pub scan_errors: u64,
    /// pcre searches stopped at PCRE2's match or depth limit (counted as no match).
    pub pcre_limit_hits: u64,
    /// Rule inspections skipped while the rule backed off on a flow after limit hits.
    pub backoff_skips: u64,
    /// Hosts the analytics could not track because their table was full.
    pub analytics_untracked: u64,
    /// Flow table counters.
    pub flow: FlowStats,
    /// App-layer counters.
    pub app: AppStats,
    /// Alerts per rule, by engine index.
    pub per_sig: Vec<u64>,
    /// Flows in the table when the snapshot was taken.
    pub active_flows: u64,
    /// Captures (replay file indexes; 0 live) where `auto` checksum validation found
    /// offloading and turned validation off: sorted, each once after [`WorkerStats::merge`].
    pub checksum_offload: Vec<u32>,
}

impl WorkerStats {
    /// Adds another worker's counters.
    pub fn merge(&mut self, o: &WorkerStats) {
        self.packets += o.packets;
        self.bytes += o.bytes;
        self.inspected += o.inspected;
        for (a, b) in self.decode_errors.iter_mut().zip(o.decode_errors.iter()) {
            *a += b;
        }

        let (d, e) = (&mut self.defrag, &o.defrag);
        d.fragments += e.fragments;
        d.reassembled += e.reassembled;
        d.overlap_diff += e.overlap_diff;
        d.timeouts += e.timeouts;
        d.refused += e.refused;
        d.unsupported += e.unsupported;
        self.truncated += o.truncated;
        self.decoder_events += o.decoder_events;
        self.tagged_packets += o.tagged_packets;
        self.tunneled += o.tunneled;
        self.bad_checksum += o.bad_checksum;
        self.passed += o.passed;
        self.dropped += o.dropped;
        self.rejected += o.rejected;
        self.alerts += o.alerts;
        self.stream_bytes += o.stream_bytes;
        self.stream_memcap += o.stream_memcap;
        self.stream_events.overlap_diff += o.stream_events.overlap_diff;
        self.stream_events.gaps += o.stream_events.gaps;
        self.stream_events.ooo_refused += o.stream_events.ooo_refused;
        self.stream_events.depth_bytes += o.stream_events.depth_bytes;
        self.thresholded += o.thresholded;
        self.suppressed += o.suppressed;
        for (a, b) in self.by_severity.iter_mut().zip(o.by_severity) {
            *a += b;
        }
        self.eve_dropped += o.eve_dropped;
        self.pcap_dropped += o.pcap_dropped;
        self.scan_errors += o.scan_errors;
        self.pcre_limit_hits += o.pcre_limit_hits;
        self.backoff_skips += o.backoff_skips;
        self.analytics_untracked += o.analytics_untracked;
        self.flow.add(&o.flow);
        self.app.merge(&o.app);
        self.active_flows += o.active_flows;
        if self.per_sig.len() < o.per_sig.len() {
            self.per_sig.resize(o.per_sig.len(), 0);
        }
        for (a, b) in self.per_sig.iter_mut().zip(o.per_sig.iter()) {
            *a += b;
        }
        self.checksum_offload.extend_from_slice(&o.checksum_offload);
        self.checksum_offload.sort_unstable();
        self.checksum_offload.dedup();
    }

    /// Packets that were not inspected at all.
    pub fn not_inspected(&self) -> u64 {
        self.decode_errors.iter().sum()
    }
}
