//! Detection: rules compiled into a read-only [`Engine`] shared by all workers, and a per-worker
//! [`DetectCtx`] holding the scratch space one packet's inspection needs.
//!
//! Per packet: pick the rule group of the packet's protocol, scan the payload with the group's
//! Hyperscan prefilter, then verify each candidate rule (plus the group's rules without a fast
//! pattern): header, flow, packet keywords, flowbits, then the payload inspection chain.

pub mod analytics;
pub mod asn1;
pub mod backoff;
mod build;
pub mod dataset;

/// Stream events a packet can raise, as bits of [`FlowFacts::stream_events`].
pub mod stream_event {
    /// The packet made reassembly skip a hole (`reassembly_seq_gap`).
    pub const SEQ_GAP: u32 = 1;
    /// The packet overlapped earlier data with different bytes
    /// (`reassembly_overlap_different_data`).
    pub const OVERLAP_DIFF: u32 = 1 << 1;
    /// Data from a side that had sent a RST (`suspected_rst_inject`).
    pub const RST_INJECT: u32 = 1 << 2;
    /// Timestamp echo wrong in the handshake, or PAWS failed (`pkt_invalid_timestamp`).
    pub const INVALID_TIMESTAMP: u32 = 1 << 3;
    /// SYN/ACK not acknowledging the SYN (`3whs_synack_with_wrong_ack`).
    pub const SYNACK_WRONG_ACK: u32 = 1 << 4;
    /// Data or RST beyond the receiver's window (`est_packet_out_of_window`).
    pub const OUT_OF_WINDOW: u32 = 1 << 5;
    /// A client SYN past the queue of differing SYNs (`3whs_syn_flood`).
    pub const SYN_FLOOD: u32 = 1 << 6;
    /// A server SYN/ACK past the queue of differing SYN/ACKs (`3whs_synack_flood`).
    pub const SYNACK_FLOOD: u32 = 1 << 7;
    /// A SYN/ACK from the client during the handshake (`3whs_synack_in_wrong_direction`).
    pub const SYNACK_WRONG_DIR: u32 = 1 << 8;
    /// The server's SYN/ACK again with another sequence number
    /// (`3whs_synack_resend_with_diff_seq`).
    pub const SYNACK_RESEND_DIFF_SEQ: u32 = 1 << 9;
    /// The server's SYN/ACK again acknowledging something else
    /// (`3whs_synack_resend_with_different_ack`).
    pub const SYNACK_RESEND_DIFF_ACK: u32 = 1 << 10;
    /// The client's SYN again with another sequence number after the SYN/ACK
    /// (`3whs_syn_resend_diff_seq_on_syn_recv`).
    pub const SYN_RESEND_DIFF_SEQ_ON_SYN_RECV: u32 = 1 << 11;
    /// The client's SYN on an established session (`est_syn_resend`).
    pub const EST_SYN_RESEND: u32 = 1 << 12;
    /// ... with another sequence number (`est_syn_resend_diff_seq`).
    pub const EST_SYN_RESEND_DIFF_SEQ: u32 = 1 << 13;
    /// A SYN from the server on an established session (`est_syn_toclient`).
    pub const EST_SYN_TOCLIENT: u32 = 1 << 14;
    /// The server's SYN/ACK on an established session (`est_synack_resend`).
    pub const EST_SYNACK_RESEND: u32 = 1 << 15;
    /// ... with another sequence number (`est_synack_resend_with_diff_seq`).
    pub const EST_SYNACK_RESEND_DIFF_SEQ: u32 = 1 << 16;
    /// ... acknowledging something else (`est_synack_resend_with_different_ack`).
    pub const EST_SYNACK_RESEND_DIFF_ACK: u32 = 1 << 17;
    /// A SYN/ACK from the client on an established session (`est_synack_toserver`).
    pub const EST_SYNACK_TOSERVER: u32 = 1 << 18;
    /// A SYN after a FIN (`shutdown_syn_resend`).
    pub const SHUTDOWN_SYN_RESEND: u32 = 1 << 19;
    /// A FIN with no session (`fin_but_no_session`).
    pub const FIN_NO_SESSION: u32 = 1 << 20;
    /// A RST with no session (`rst_but_no_session`).
    pub const RST_NO_SESSION: u32 = 1 << 21;
    /// Data the peer already acknowledged (`pkt_retransmission`).
    pub const RETRANSMISSION: u32 = 1 << 22;
    /// Data past the reassembly depth (`reassembly_depth_reached`).
    pub const DEPTH_REACHED: u32 = 1 << 23;
    /// The out-of-order queue was full: the segment was not kept
    /// (`reassembly_segment_limit` in the anomaly log).
    pub const SEGMENT_LIMIT: u32 = 1 << 24;

    const NAMES: [(&str, u32); 25] = [
        ("reassembly_seq_gap", SEQ_GAP),
        ("reassembly_overlap_different_data", OVERLAP_DIFF),
        ("suspected_rst_inject", RST_INJECT),
        ("pkt_invalid_timestamp", INVALID_TIMESTAMP),
        ("3whs_synack_with_wrong_ack", SYNACK_WRONG_ACK),
        ("est_packet_out_of_window", OUT_OF_WINDOW),
        ("3whs_syn_flood", SYN_FLOOD),
        ("3whs_synack_flood", SYNACK_FLOOD),
        ("3whs_synack_in_wrong_direction", SYNACK_WRONG_DIR),
        ("3whs_synack_resend_with_diff_seq", SYNACK_RESEND_DIFF_SEQ),
        (
            "3whs_synack_resend_with_different_ack",
            SYNACK_RESEND_DIFF_ACK,
        ),
        (
            "3whs_syn_resend_diff_seq_on_syn_recv",
            SYN_RESEND_DIFF_SEQ_ON_SYN_RECV,
        ),
        ("est_syn_resend", EST_SYN_RESEND),
        ("est_syn_resend_diff_seq", EST_SYN_RESEND_DIFF_SEQ),
        ("est_syn_toclient", EST_SYN_TOCLIENT),
        ("est_synack_resend", EST_SYNACK_RESEND),
        (
            "est_synack_resend_with_diff_seq",
            EST_SYNACK_RESEND_DIFF_SEQ,
        ),
        (
            "est_synack_resend_with_different_ack",
            EST_SYNACK_RESEND_DIFF_ACK,
        ),
        ("est_synack_toserver", EST_SYNACK_TOSERVER),
        ("shutdown_syn_resend", SHUTDOWN_SYN_RESEND),
        ("fin_but_no_session", FIN_NO_SESSION),
        ("rst_but_no_session", RST_NO_SESSION),
        ("pkt_retransmission", RETRANSMISSION),
        ("reassembly_depth_reached", DEPTH_REACHED),
        ("reassembly_segment_limit", SEGMENT_LIMIT),
    ];

    /// The bit of a `stream-event` name, if sekimori raises that event.
    pub fn by_name(name: &str) -> Option<u32> {
        NAMES.iter().find(|(n, _)| *n == name).map(|&(_, b)| b)
    }

    /// The names of the events in `bits`.
    pub fn names(bits: u32) -> impl Iterator<Item = &'static str> {
        NAMES
            .iter()
            .filter(move |(_, b)| bits & b != 0)
            .map(|(n, _)| *n)
    }
}
pub mod flowbits;
pub mod inspect;
pub mod intel;
pub mod iponly;
pub mod mpm;
pub mod mpmgroup;
mod packet;
pub mod portgroup;
pub mod rules;
mod sig;
pub mod tag;
pub mod threshold;
pub mod transform;
mod tx;
pub mod xbits;
use std::cell::Cell;
use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use hyperscan::Scratch;

use std::sync::Arc;

use crate::applayer::{AppProto, Buf, TxRef, PROTOCOL_COUNT};
use crate::common::net::addr_key;
use crate::common::time::Micros;
use crate::decode::Packet;
use flowbits::{run_flowints, FlowBits, FlowbitCond, FlowintOperand, FlowintStep};
use inspect::Step;
use rules::classification::Classifications;
use rules::keywords::{
    Cmp, CsumKind, FlowbitOp, FlowintOp, FlowintValue, PacketCond, StreamSide, ThresholdSpec,
};
use rules::{Action, AddrSet, Buffer, Content, FastPattern, FlowMatch, PortSet, Rule, Target, L4};
use transform::Transform;
use xbits::{XBits, XOp, XTrack};

pub use build::{BuildReport, Skipped};
pub use sig::Sig;

/// What payload a packet's inspection looks at.
#[derive(Clone, Copy, Debug)]
pub enum View<'a> {
    /// The packet's own payload. `stream_active`: the packet's TCP data is being reassembled,
    /// so only packet-only rules look at it here (the others see it on the stream).
    Packet {
        /// Whether the flow's stream is reassembled.
        stream_active: bool,
    },
    /// Reassembled stream data: the retained window, and where the new bytes start in it.
    Stream {
        /// The window.
        data: &'a [u8],
        /// Offset in `data` where the bytes this packet added begin.
        new_from: usize,
        /// Stream offset of `data[0]`.
        base: u64,
        /// Stream offset up to which earlier prefilter scans of this direction may have
        /// found fast patterns (updated by each scan).
        hits_until: &'a Cell<u64>,
    },
}

/// Flow facts one packet's inspection needs.
#[derive(Clone, Copy, Debug, Default)]
pub struct FlowFacts {
    /// Whether the packet belongs to a tracked flow.
    pub tracked: bool,
    /// Direction client -> server.
    pub to_server: bool,
    /// Flow is established.
    pub established: bool,
    /// First packet of its flow in this direction (IP-only rules look only at these).
    pub first_in_dir: bool,
    /// TCP stream sizes (client, server) as `stream_size` measures them, when reassembled.
    pub stream_sizes: Option<[u64; 2]>,
    /// Packet time (xbits expiry).
    pub now: Micros,
    /// The flow's app-layer protocol.
    pub app_proto: AppProto,
    /// The protocol the flow started as when it handed over (else `Unknown`).
    pub upgraded_from: AppProto,
    /// Stream events this packet raised ([`stream_event`] bits).
    pub stream_events: u32,
    /// The flow's protocol became known (or changed) on this packet: protocol-detection-only
    /// rules are inspected now, and only now.
    pub proto_detected: bool,
}

/// Rule groups by packet protocol.
const GROUPS: usize = 4;

/// Bytes before new stream data that stream inspection also looks at, so a match that starts
/// before a segment boundary is still found.
pub const STREAM_SCAN_LOOKBACK: usize = 4096;

/// Longest content a rule may have: half the default stream window, which reassembly always
/// keeps, so such a content can still be found across segments. Longer ones are refused
/// with the rule's sid (Suricata caps contents at 64 KiB; none this long is seen in packs).
pub const MAX_CONTENT: usize = 32 * 1024;

/// Length of the longest positive content of a chain.
fn longest_content(steps: &[Step]) -> usize {
    steps
        .iter()
        .filter_map(|s| match s {
            Step::Content(c) if !c.negated => Some(c.pattern.len()),
            _ => None,
        })
        .max()
        .unwrap_or(0)
}

fn group_of(proto: u8) -> usize {
    match proto {
        6 => 0,
        17 => 1,
        1 | 58 => 2,
        _ => 3,
    }
}

fn groups_of(l4: L4) -> &'static [usize] {
    match l4 {
        L4::Any => &[0, 1, 2, 3],
        L4::Tcp => &[0],
        L4::Udp => &[1],
        L4::IcmpAny | L4::Icmp4 | L4::Icmp6 => &[2],
        L4::Sctp => &[3],
    }
}

/// Flow directions the prefilter databases are split by: to server, to client.
const DIRS: usize = 2;

/// The direction databases a rule's fast pattern goes to (`flow:to_server` / `to_client`
/// rules go to one, the others to both).
fn dirs_of(flow: &FlowMatch) -> &'static [usize] {
    match flow.to_server {
        Some(true) => &[0],
        Some(false) => &[1],
        None => &[0, 1],
    }
}

#[derive(Default)]
struct Group {
    /// Fast patterns of every payload rule, per direction: stream chunks, and packets not on
    /// a stream.
    mpm: [mpmgroup::PortGroups; DIRS],
    /// Longest fast pattern in `mpm` minus one, per direction: the bytes before new stream
    /// data a pattern ending in the new data can start in.
    fp_reach: [usize; DIRS],
    /// Longest stream lookback of the rules in `mpm`, per direction: the context a rescan
    /// covers.
    stream_context: [usize; DIRS],
    /// Fast patterns of packet-only rules (`flow:no_stream`, `dsize`...), per direction:
    /// packets whose payload is inspected on the stream, where other payload rules cannot
    /// match.
    mpm_pkt: [mpmgroup::PortGroups; DIRS],
    /// Rules without a fast pattern, for packets not on a stream, by destination port.
    non_mpm: portgroup::PortIndex,
    /// Those of them that can match a packet whose payload goes to the stream.
    non_mpm_pkt: portgroup::PortIndex,
    /// Those of them that can match stream data.
    non_mpm_stream: portgroup::PortIndex,
    /// Rules on addresses/ports alone: checked on the first packet of each flow direction,
    /// looked up by address.
    ip_only: iponly::IpOnlyIndex,
}

/// The compiled detection engine: built once, then shared read-only (`Arc<Engine>`).
pub struct Engine {
    /// File hashes rules compare (`filemd5`...): the parsers must compute these.
    file_hashes: u8,
    sigs: Vec<Sig>,
    groups: [Group; GROUPS],
    /// Per app-layer buffer prefilter for transaction rules.
    /// Keyed by buffer and transform chain: a transformed buffer is scanned as transformed.
    app_mpm: Vec<(Buf, Vec<Transform>, mpm::Mpm)>,
    /// Transaction rules without a usable fast pattern, per protocol (http, tls, dns).
    app_non_mpm: [Vec<u32>; PROTOCOL_COUNT],
    /// Datasets named by rules.
    datasets: dataset::Datasets,
    /// Names of the flowbits and flow integers, by id (EVE `metadata`).
    names: VarNames,
    /// What the build did.
    pub report: BuildReport,
}

/// Per-worker scratch for [`Engine::inspect`]; reused for every packet.
pub struct DetectCtx {
    /// xbits store, shared by the workers of one run.
    xbits: Arc<XBits>,
    scratch: Option<Scratch>,
    candidates: Vec<u32>,
    seen: Vec<u32>,
    stamp: u32,
    no_flow_bits: FlowBits,
    /// Transform scratch.
    tbuf: (Vec<u8>, Vec<u8>),
    /// Prefilter scans that failed (Hyperscan error); counted, packet inspected without MPM.
    pub scan_errors: u64,
    /// Rule inspections skipped because the rule backs off on the flow after PCRE2 limit
    /// hits ([`backoff`]).
    pub backoff_skips: u64,
    /// Packet variables pcre captures set on the current packet (EVE `metadata.pktvars`);
    /// the worker clears them per packet.
    pub pktvars: Vec<(Arc<str>, Vec<u8>)>,
    /// The intel snapshot the worker runs with (`iprep` reads its reputation).
    pub intel: Option<Arc<intel::Snapshot>>,
}

impl DetectCtx {
    /// Starts a new inspection: a fresh candidate list and de-duplication stamp.
    fn next_packet(&mut self) {
        self.stamp = self.stamp.wrapping_add(1);
        if self.stamp == 0 {
            self.seen.iter_mut().for_each(|s| *s = 0);
            self.stamp = 1;
        }
        self.candidates.clear();
    }
}

/// The names rules gave flow variables, by id: what EVE's `metadata` shows of a flow.
#[derive(Debug, Default)]
pub struct VarNames {
    /// Flowbit names.
    pub flowbits: Vec<String>,
    /// Flow integer names.
    pub flowints: Vec<String>,
}

impl Engine {
    /// File hashes the loaded rules compare ([`crate::applayer::files::hash`] bits); the
    /// app layer computes at least these.
    pub fn file_hashes(&self) -> u8 {
        self.file_hashes
    }

    /// Whether a loaded rule stores files (`filestore`).
    pub fn stores_files(&self) -> bool {
        self.sigs.iter().any(Sig::stores_files)
    }

    /// Names of the flowbits and flow integers, by id.
    pub fn var_names(&self) -> &VarNames {
        &self.names
    }

    /// The engine index of an intel list's signature (see [`intel::ListSpec::rule_text`]).
    pub fn external_index(&self, sid: u32) -> Option<u32> {
        self.sigs
            .iter()
            .position(|s| s.external && s.sid == sid)
            .map(|i| i as u32)
    }

    /// Writes the datasets that have a `save`/`state` file (at shutdown, and before a
    /// reload builds the next engine from those files); a line per set.
    pub fn save_datasets(&self) -> Vec<Result<String, String>> {
        self.datasets.save()
    }

    /// Figures per dataset.
    pub fn dataset_stats(&self) -> Vec<dataset::SetStats> {
        self.datasets.stats()
    }

    /// Loaded rules, in engine order.
    pub fn sigs(&self) -> &[Sig] {
        &self.sigs
    }

    /// The rule at engine index `idx`.
    #[inline]
    pub fn sig(&self, idx: u32) -> &Sig {
        &self.sigs[idx as usize]
    }

    /// A fresh per-worker context with its own xbits store.
    pub fn new_ctx(&self) -> Result<DetectCtx, String> {
        self.new_ctx_shared(Arc::default())
    }

    /// A per-worker context using an xbits store shared with the other workers.
    pub fn new_ctx_shared(&self, xbits: Arc<XBits>) -> Result<DetectCtx, String> {
        let mut scratch = None;
        for g in &self.groups {
            for m in g.mpm.iter().chain(g.mpm_pkt.iter()).flat_map(|pg| pg.all()) {
                m.prepare_scratch(&mut scratch)?;
            }
        }
        for (_, _, m) in &self.app_mpm {
            m.prepare_scratch(&mut scratch)?;
        }
        Ok(DetectCtx {
            xbits,
            scratch,
            candidates: Vec::with_capacity(64),
            seen: vec![0; self.sigs.len()],
            stamp: 0,
            no_flow_bits: FlowBits::default(),
            backoff_skips: 0,
            tbuf: (Vec::new(), Vec::new()),
            scan_errors: 0,
            pktvars: Vec::new(),
            intel: None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::build::fast_pattern;
    use super::*;
    use crate::decode::{decode, LinkType};
    use rules::{parse::parse_rule, Vars};

    fn engine(rules: &[&str]) -> Engine {
        let vars = Vars::suricata_defaults();
        let parsed = rules
            .iter()
            .map(|r| parse_rule(r, &vars).unwrap())
            .collect();
        Engine::build(parsed, &Classifications::bundled()).unwrap()
    }

    fn udp(src: [u8; 4], dst: [u8; 4], sp: u16, dp: u16, payload: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        etherparse::PacketBuilder::ipv4(src, dst, 64)
            .udp(sp, dp)
            .write(&mut out, payload)
            .unwrap();
        out
    }

    fn hits_with(
        e: &Engine,
        frame: &[u8],
        flow: FlowFacts,
        bits: Option<&mut FlowBits>,
    ) -> Vec<u32> {
        let mut ctx = e.new_ctx().unwrap();
        let p = decode(LinkType::Raw, frame).unwrap();
        let mut out = Vec::new();
        e.inspect(
            &mut ctx,
            &p,
            flow,
            bits,
            View::Packet {
                stream_active: false,
            },
            |i| out.push(e.sig(i).sid),
        );
        out.sort_unstable();
        out
    }

    fn hits(e: &Engine, frame: &[u8], flow: FlowFacts) -> Vec<u32> {
        hits_with(e, frame, flow, None)
    }

    #[test]
    fn app_layer_protocol_lists_qualifiers_and_unknown() {
        let e = engine(&[
            r#"alert ip any any -> any any (app-layer-protocol:tls|http,either; sid:1;)"#,
            r#"alert ip any any -> any any (app-layer-protocol:!tls|http; sid:2;)"#,
            r#"alert ip any any -> any any (app-layer-protocol:unknown; sid:3;)"#,
            r#"alert ip any any -> any any (app-layer-protocol:dns,exact; sid:4;)"#,
            r#"alert ip any any -> any any (app-layer-protocol:smb|http,to_server; sid:5;)"#,
        ]);
        let pkt = udp([10, 0, 0, 1], [10, 0, 0, 2], 1000, 53, b"x");
        let at = |app_proto, proto_detected| {
            let f = FlowFacts {
                tracked: true,
                app_proto,
                proto_detected,
                ..FlowFacts::default()
            };
            hits(&e, &pkt, f)
        };
        let on = |app_proto| at(app_proto, true);
        assert_eq!(on(AppProto::Http), vec![1, 5]);
        assert_eq!(on(AppProto::Dns), vec![2, 4]);
        assert_eq!(on(AppProto::Unknown), vec![3]);
        assert_eq!(on(AppProto::Failed), vec![2]);
        // `http` is either version; a DoH flow is `dns` but not exactly.
        assert_eq!(on(AppProto::Http2), vec![1, 5]);
        assert_eq!(on(AppProto::Doh2), vec![1, 5]);
        // Protocol-detection-only rules look only at the packet where the protocol was
        // found; `unknown` looks at every packet before that.
        assert_eq!(at(AppProto::Http, false), Vec::<u32>::new());
        assert_eq!(at(AppProto::Unknown, false), vec![3]);
        let e2 = engine(&[
            r#"alert ip any any -> any any (app-layer-protocol:dns; sid:1;)"#,
            r#"alert ip any any -> any any (app-layer-protocol:dns,exact; sid:2;)"#,
            r#"alert ip any any -> any any (app-layer-protocol:doh2; sid:3;)"#,
            r#"alert ip any any -> any any (app-layer-protocol:http2; content:"x"; sid:4;)"#,
        ]);
        let f = |app_proto, proto_detected| FlowFacts {
            tracked: true,
            app_proto,
            proto_detected,
            ..FlowFacts::default()
        };
        assert_eq!(hits(&e2, &pkt, f(AppProto::Doh2, true)), vec![1, 3, 4]);
        assert_eq!(hits(&e2, &pkt, f(AppProto::Dns, true)), vec![1, 2]);
        // With a content, the rule is a packet rule: every packet.
        assert_eq!(hits(&e2, &pkt, f(AppProto::Doh2, false)), vec![4]);
        let vars = Vars::suricata_defaults();
        for bad in ["!unknown", "http,sideways", "http|"] {
            let r = format!("alert ip any any -> any any (app-layer-protocol:{bad}; sid:9;)");
            assert!(parse_rule(&r, &vars).is_err(), "accepted {bad}");
        }
    }

    #[test]
    fn ipv4_and_ipv6_header_protocols() {
        let e = engine(&[
            r#"alert ipv4 any any -> any any (content:"probe"; sid:1;)"#,
            r#"alert ipv6 any any -> any any (content:"probe"; sid:2;)"#,
            r#"alert ip any any -> any any (content:"probe"; sid:3;)"#,
        ]);
        let v4 = udp([10, 0, 0, 1], [10, 0, 0, 2], 1000, 53, b"probe");
        assert_eq!(hits(&e, &v4, FlowFacts::default()), vec![1, 3]);
        let mut v6 = Vec::new();
        etherparse::PacketBuilder::ipv6([1; 16], [2; 16], 64)
            .udp(1000, 53)
            .write(&mut v6, b"probe")
            .unwrap();
        assert_eq!(hits(&e, &v6, FlowFacts::default()), vec![2, 3]);
    }

    #[test]
    fn prefilter_then_verify() {
        let e = engine(&[
            r#"alert udp any any -> any 53 (msg:"a"; content:"evil"; nocase; sid:1;)"#,
            r#"alert udp any any -> any 53 (msg:"b"; content:"evil"; content:"more"; distance:0; sid:2;)"#,
            r#"alert udp any any -> any 54 (msg:"c"; content:"evil"; sid:3;)"#,
            r#"alert tcp any any -> any any (msg:"d"; content:"evil"; sid:4;)"#,
            r#"alert ip any any -> any any (msg:"e"; content:!"good"; sid:5;)"#,
            r#"alert udp $EXTERNAL_NET any -> $HOME_NET any (msg:"f"; content:"EVIL"; sid:6;)"#,
        ]);
        assert_eq!(e.report.loaded, 6);
        assert_eq!(e.report.non_mpm, 1);
        let f = udp([8, 8, 8, 8], [10, 0, 0, 1], 999, 53, b"xxEVILxx more");
        assert_eq!(hits(&e, &f, FlowFacts::default()), vec![1, 5, 6]);
        let f = udp([8, 8, 8, 8], [10, 0, 0, 1], 999, 53, b"xxEVILxx evil more");
        assert_eq!(hits(&e, &f, FlowFacts::default()), vec![1, 2, 5, 6]);
        let f = udp([10, 0, 0, 2], [10, 0, 0, 1], 999, 53, b"evil good");
        assert_eq!(hits(&e, &f, FlowFacts::default()), vec![1]);
        // Empty payload: content rules cannot match, negated-only rules neither (as Suricata).
        let f = udp([10, 0, 0, 2], [10, 0, 0, 1], 999, 53, b"");
        assert!(hits(&e, &f, FlowFacts::default()).is_empty());
    }

    #[test]
    fn flow_keyword_and_bidirectional_header() {
        let e = engine(&[
            r#"alert udp any any -> any any (msg:"ts"; flow:to_server; content:"x"; sid:1;)"#,
            r#"alert udp any any -> any any (msg:"est"; flow:established,to_client; content:"x"; sid:2;)"#,
            r#"alert udp 10.0.0.1 any <> 10.0.0.2 7 (msg:"bi"; content:"x"; sid:3;)"#,
            r#"alert udp any any -> any any (msg:"new"; flow:not_established; content:"x"; sid:4;)"#,
        ]);
        let f = udp([10, 0, 0, 2], [10, 0, 0, 1], 7, 9, b"x");
        let ts = FlowFacts {
            tracked: true,
            to_server: true,
            established: false,
            first_in_dir: false,
            stream_sizes: None,
            now: 0,
            app_proto: AppProto::Unknown,
            upgraded_from: AppProto::Unknown,
            stream_events: 0,
            proto_detected: false,
        };
        assert_eq!(hits(&e, &f, ts), vec![1, 3, 4]);
        let tc = FlowFacts {
            tracked: true,
            to_server: false,
            established: true,
            first_in_dir: false,
            stream_sizes: None,
            now: 0,
            app_proto: AppProto::Unknown,
            upgraded_from: AppProto::Unknown,
            stream_events: 0,
            proto_detected: false,
        };
        assert_eq!(hits(&e, &f, tc), vec![2, 3]);
        assert_eq!(hits(&e, &f, FlowFacts::default()), vec![3, 4]);
    }

    #[test]
    fn packet_keywords() {
        let e = engine(&[
            r#"alert udp any any -> any any (msg:"dsize"; dsize:>3; sid:1;)"#,
            r#"alert udp any any -> any any (msg:"ttl"; ttl:64; sid:2;)"#,
            r#"alert ip any any -> any any (msg:"proto"; ip_proto:17; sid:3;)"#,
            r#"alert udp any any -> any any (msg:"same"; sameip; sid:4;)"#,
            r#"alert tcp any any -> any any (msg:"flags"; flags:S; sid:5;)"#,
        ]);
        let f = udp([10, 0, 0, 2], [10, 0, 0, 1], 7, 9, b"abcd");
        assert_eq!(hits(&e, &f, FlowFacts::default()), vec![1, 2, 3]);
        let f = udp([10, 0, 0, 2], [10, 0, 0, 2], 7, 9, b"ab");
        assert_eq!(hits(&e, &f, FlowFacts::default()), vec![2, 3, 4]);
    }

    #[test]
    fn flowbits_set_then_checked_on_later_packets_and_the_same_packet() {
        let e = engine(&[
            // Listed first but checks the bit: the engine orders the setter before it.
            r#"alert udp any any -> any any (msg:"check"; flowbits:isset,seen.login; content:"data"; sid:2;)"#,
            r#"alert udp any any -> any any (msg:"set"; content:"login"; flowbits:set,seen.login; flowbits:noalert; sid:1;)"#,
            r#"alert udp any any -> any any (msg:"not"; flowbits:isnotset,seen.login; content:"data"; sid:3;)"#,
        ]);
        assert!(e.sig(0).noalert && e.sig(0).sid == 1);
        let tracked = FlowFacts {
            tracked: true,
            to_server: true,
            established: false,
            first_in_dir: false,
            stream_sizes: None,
            now: 0,
            app_proto: AppProto::Unknown,
            upgraded_from: AppProto::Unknown,
            stream_events: 0,
            proto_detected: false,
        };
        let mut bits = FlowBits::default();
        let data = udp([10, 0, 0, 2], [10, 0, 0, 1], 7, 9, b"data");
        assert_eq!(hits_with(&e, &data, tracked, Some(&mut bits)), vec![3]);
        let login = udp([10, 0, 0, 2], [10, 0, 0, 1], 7, 9, b"login");
        assert_eq!(hits_with(&e, &login, tracked, Some(&mut bits)), vec![1]);
        assert_eq!(hits_with(&e, &data, tracked, Some(&mut bits)), vec![2]);
        let mut fresh = FlowBits::default();
        let both = udp([10, 0, 0, 2], [10, 0, 0, 1], 7, 9, b"login data");
        assert_eq!(hits_with(&e, &both, tracked, Some(&mut fresh)), vec![1, 2]);
    }

    #[test]
    fn ip_only_rules_look_at_the_first_packet_of_each_direction() {
        let e = engine(&[
            r#"alert udp 10.0.0.2 any -> 10.0.0.1 any (msg:"ip-only"; threshold:type limit, track by_src, count 9, seconds 9; sid:1;)"#,
            r#"alert udp 10.0.0.2 any -> !10.0.0.9 any (msg:"like ip-only"; sid:2;)"#,
        ]);
        assert_eq!(e.report.ip_only, 1);
        let f = udp([10, 0, 0, 2], [10, 0, 0, 1], 7, 9, b"x");
        let first = FlowFacts {
            tracked: true,
            to_server: true,
            established: false,
            first_in_dir: true,
            stream_sizes: None,
            now: 0,
            app_proto: AppProto::Unknown,
            upgraded_from: AppProto::Unknown,
            stream_events: 0,
            proto_detected: false,
        };
        let later = FlowFacts {
            first_in_dir: false,
            ..first
        };
        assert_eq!(hits(&e, &f, first), vec![1, 2]);
        assert_eq!(hits(&e, &f, later), vec![2]);
        assert_eq!(hits(&e, &f, FlowFacts::default()), vec![1, 2]);
    }

    #[test]
    fn stream_size_needs_stream_facts() {
        let e = engine(&[
            r#"alert udp any any -> any any (msg:"ss"; stream_size:server,<,100; stream_size:client,>,5; content:"x"; sid:1;)"#,
        ]);
        let f = udp([10, 0, 0, 2], [10, 0, 0, 1], 7, 9, b"x");
        let base = FlowFacts {
            tracked: true,
            to_server: true,
            established: true,
            first_in_dir: false,
            stream_sizes: None,
            now: 0,
            app_proto: AppProto::Unknown,
            upgraded_from: AppProto::Unknown,
            stream_events: 0,
            proto_detected: false,
        };
        assert!(hits(&e, &f, base).is_empty());
        assert_eq!(
            hits(
                &e,
                &f,
                FlowFacts {
                    stream_sizes: Some([10, 50]),
                    ..base
                }
            ),
            vec![1]
        );
        assert!(hits(
            &e,
            &f,
            FlowFacts {
                stream_sizes: Some([3, 50]),
                ..base
            }
        )
        .is_empty());
        assert!(hits(
            &e,
            &f,
            FlowFacts {
                stream_sizes: Some([10, 100]),
                ..base
            }
        )
        .is_empty());
    }

    #[test]
    fn xbits_follow_the_host_across_flows() {
        let e = engine(&[
            r#"alert udp any any -> any any (msg:"mark"; content:"probe"; xbits:set,seen,track ip_src,expire 60; xbits:noalert; sid:1;)"#,
            r#"alert udp any any -> any any (msg:"again"; content:"data"; xbits:isset,seen,track ip_src; sid:2;)"#,
        ]);
        let mut ctx = e.new_ctx().unwrap();
        let facts = |now| FlowFacts {
            now,
            ..FlowFacts::default()
        };
        let mut run = |frame: &[u8], now| {
            let p = decode(LinkType::Raw, frame).unwrap();
            let mut out = Vec::new();
            e.inspect(
                &mut ctx,
                &p,
                facts(now),
                None,
                View::Packet {
                    stream_active: false,
                },
                |i| out.push(e.sig(i).sid),
            );
            out
        };
        let data_other_flow = udp([10, 0, 0, 2], [10, 0, 0, 9], 4444, 53, b"data");
        assert!(run(&data_other_flow, 0).is_empty());
        assert_eq!(
            run(&udp([10, 0, 0, 2], [10, 0, 0, 1], 7, 9, b"probe"), 1),
            vec![1]
        );
        assert_eq!(run(&data_other_flow, 2), vec![2]);
        // Another host is not marked; the mark expires after 60 s.
        assert!(run(&udp([10, 0, 0, 3], [10, 0, 0, 9], 4444, 53, b"data"), 3).is_empty());
        assert!(run(&data_other_flow, 62_000_000).is_empty());
    }

    #[test]
    fn header_buffers_carry_variables_between_chains() {
        let e = engine(&[
            // The UDP header's destination port, then the IPv4 TTL compared to a variable
            // read from the UDP header (its first byte of length).
            r#"alert udp any any -> any any (msg:"hdr"; udp.hdr; content:"|00 35|"; offset:2; depth:2; sid:1;)"#,
            r#"alert udp any any -> any any (msg:"vars"; udp.hdr; byte_extract:1,5,len; ipv4.hdr; byte_test:1,<,len,8; sid:2;)"#,
            r#"alert udp any any -> any any (msg:"tcp hdr on udp"; tcp.hdr; content:"|00|"; sid:3;)"#,
        ]);
        assert_eq!(e.report.loaded, 3);
        // UDP length 8 + 2 = 10, TTL 64: 64 < 10 fails; with a 100-byte payload, 108 > 64.
        let small = udp([10, 0, 0, 2], [10, 0, 0, 1], 999, 53, b"ab");
        assert_eq!(hits(&e, &small, FlowFacts::default()), vec![1]);
        let big = udp([10, 0, 0, 2], [10, 0, 0, 1], 999, 54, &[b'x'; 100]);
        assert_eq!(hits(&e, &big, FlowFacts::default()), vec![2]);
    }

    #[test]
    fn severity_and_category() {
        let e = engine(&[
            r#"alert ip any any -> any any (msg:"a"; classtype:trojan-activity; sid:1;)"#,
            r#"alert ip any any -> any any (msg:"b"; classtype:trojan-activity; priority:3; sid:2;)"#,
            r#"alert ip any any -> any any (msg:"c"; sid:3;)"#,
        ]);
        let s = e.sigs();
        assert_eq!(
            (s[0].severity, s[0].category.as_str()),
            (1, "A Network Trojan was detected")
        );
        assert_eq!(s[1].severity, 3);
        assert_eq!((s[2].severity, s[2].category.as_str()), (3, ""));
    }

    #[test]
    fn unsupported_and_waiting_rules_are_reported() {
        let vars = Vars::suricata_defaults();
        let rules = [
            r#"alert tcp any any -> any any (content:"a"; geoip:dst,RU; sid:1;)"#,
            r#"alert sip any any -> any any (content:"a"; sid:2;)"#,
            r#"alert udp any any -> any any (sip.method; content:"a"; sid:3;)"#,
            r#"alert tcp any any -> any any (content:"a"; classtype:nope; sid:4;)"#,
            r#"alert tcp any any -> any any (content:"a"; pcre:"/(unclosed/"; sid:5;)"#,
            r#"alert tcp any any -> any any (content:"a"; sid:6;)"#,
        ];
        let parsed = rules
            .iter()
            .map(|r| parse_rule(r, &vars).unwrap())
            .collect();
        let e = Engine::build(parsed, &Classifications::bundled()).unwrap();
        assert_eq!(e.report.loaded, 1);
        let skipped: Vec<(u32, &str)> = e
            .report
            .skipped
            .iter()
            .map(|s| (s.sid, s.reason.as_str()))
            .collect();
        assert_eq!(skipped.len(), 3, "{skipped:?}");
        assert!(skipped[0].1.contains("geoip"));
        assert!(skipped[1].1.contains("classtype"));
        assert!(skipped[2].1.contains("pcre does not compile"));
        let waiting: Vec<u32> = e.report.waiting.iter().map(|s| s.sid).collect();
        assert_eq!(waiting, vec![2, 3]);
        assert_eq!(
            e.report.waiting_by_need(),
            vec![("sip parser".to_string(), 2)]
        );
    }

    #[test]
    fn fast_pattern_choice() {
        let vars = Vars::default();
        let steps = |r: &str| -> Vec<Step> {
            let r = parse_rule(r, &vars).unwrap();
            r.contents()
                .map(|(_, c)| Step::Content(c.clone()))
                .collect()
        };
        let s = steps(
            r#"alert tcp any any -> any any (content:"ab"; content:"abcd"; content:!"zzzzzzzz"; sid:1;)"#,
        );
        assert_eq!(fast_pattern(&s).unwrap().pattern, b"abcd");
        let s = steps(
            r#"alert tcp any any -> any any (content:"ab"; fast_pattern; content:"abcd"; sid:1;)"#,
        );
        assert_eq!(fast_pattern(&s).unwrap().pattern, b"ab");
    }
}
