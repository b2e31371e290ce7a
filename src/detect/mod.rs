//! Detection: rules compiled into a read-only [`Engine`] shared by all workers, and a per-worker
//! [`DetectCtx`] holding the scratch space one packet's inspection needs.
//!
//! Per packet: pick the rule group of the packet's protocol, scan the payload with the group's
//! Hyperscan prefilter, then verify each candidate rule (plus the group's rules without a fast
//! pattern): header, flow, packet keywords, flowbits, then the payload inspection chain.

pub mod backoff;
pub mod dataset;

/// Stream events a packet can raise, as bits of [`FlowFacts::stream_events`].
pub mod stream_event {
    /// The packet made reassembly skip a hole (`reassembly_seq_gap`).
    pub const SEQ_GAP: u8 = 1;
    /// The packet overlapped earlier data with different bytes
    /// (`reassembly_overlap_different_data`).
    pub const OVERLAP_DIFF: u8 = 2;
    /// Data from a side that had sent a RST (`suspected_rst_inject`).
    pub const RST_INJECT: u8 = 4;
    /// Timestamp echo wrong in the handshake, or PAWS failed (`pkt_invalid_timestamp`).
    pub const INVALID_TIMESTAMP: u8 = 8;
    /// SYN/ACK not acknowledging the SYN (`3whs_synack_with_wrong_ack`).
    pub const SYNACK_WRONG_ACK: u8 = 16;
    /// Data or RST beyond the receiver's window (`est_packet_out_of_window`).
    pub const OUT_OF_WINDOW: u8 = 32;

    /// The bit of a `stream-event` name, if sekimori raises that event.
    pub fn by_name(name: &str) -> Option<u8> {
        Some(match name {
            "reassembly_seq_gap" => SEQ_GAP,
            "reassembly_overlap_different_data" => OVERLAP_DIFF,
            "suspected_rst_inject" => RST_INJECT,
            "pkt_invalid_timestamp" => INVALID_TIMESTAMP,
            "3whs_synack_with_wrong_ack" => SYNACK_WRONG_ACK,
            "est_packet_out_of_window" => OUT_OF_WINDOW,
            _ => return None,
        })
    }
}
pub mod flowbits;
pub mod inspect;
pub mod iponly;
pub mod mpm;
pub mod mpmgroup;
pub mod portgroup;
pub mod rules;
pub mod tag;
pub mod threshold;
pub mod transform;
pub mod xbits;

use std::cell::Cell;
use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use hyperscan::Scratch;

use std::sync::Arc;

use crate::applayer::{AppProto, Buf, TxRef};
use crate::common::net::addr_key;
use crate::common::time::Micros;
use crate::decode::Packet;
use flowbits::{FlowBits, FlowbitCond};
use inspect::Step;
use rules::classification::Classifications;
use rules::keywords::{Cmp, CsumKind, FlowbitOp, PacketCond, StreamSide, ThresholdSpec};
use rules::{Action, AddrSet, Buffer, Content, FastPattern, FlowMatch, PortSet, Rule, Target, L4};
use transform::Transform;
use xbits::{XBits, XOp, XTrack};

/// A rule as the engine runs it.
#[derive(Debug)]
pub struct Sig {
    /// Generator id.
    pub gid: u32,
    /// Signature id.
    pub sid: u32,
    /// Revision.
    pub rev: u32,
    /// `msg`.
    pub msg: String,
    /// Action.
    pub action: Action,
    /// Category from the classtype ("" without one).
    pub category: String,
    /// Classtype name.
    pub classtype: Option<String>,
    /// Vendor severity: explicit priority, else the classtype's, else 3.
    pub severity: u8,
    /// Metadata key/value pairs.
    pub metadata: Vec<(String, String)>,
    /// `target` keyword.
    pub target: Option<Target>,
    /// Rule file and line.
    pub origin: Option<(PathBuf, usize)>,
    /// Match silently (flowbit helpers).
    pub noalert: bool,
    /// `tag`: packets to log after an alert.
    pub tags: Vec<tag::TagSpec>,
    /// `threshold`.
    pub threshold: Option<ThresholdSpec>,
    /// `detection_filter`.
    pub detection_filter: Option<ThresholdSpec>,
    stream_size: Vec<(StreamSide, Cmp)>,
    l4: L4,
    src: AddrSet,
    sport: PortSet,
    dst: AddrSet,
    dport: PortSet,
    bidirectional: bool,
    flow: FlowMatch,
    packet: Vec<PacketCond>,
    fb_conds: Vec<FlowbitCond>,
    fb_sets: Vec<(FlowbitAct, u32)>,
    xbits: Vec<(u32, XOp, XTrack)>,
    steps: Vec<Step>,
    /// Inspects packets only (`dsize`, `flow:no_stream`).
    packet_only: bool,
    /// Inspects the reassembled stream only (`flow:only_stream`).
    stream_only: bool,
    /// The chain has a positive content/pcre, so a stream match has an end offset.
    anchored: bool,
    /// Bytes before new stream data its verification looks at: [`STREAM_SCAN_LOOKBACK`], or
    /// more for a rule whose longest content is longer (so it matches across segments).
    stream_lookback: usize,
    /// Header-only rule (Suricata's IP-only): checked once per flow direction.
    ip_only: bool,
    /// The flow's app-layer protocol must be this one.
    app_proto: Option<AppProto>,
    /// `app-layer-protocol` conditions: (negated, protocol); never true before the flow's
    /// protocol is known.
    alproto_conds: Vec<(bool, AppProto)>,
    /// Inspection chains on app-layer buffers: the rule is inspected per transaction.
    app_lists: Vec<AppList>,
    /// HTTP transaction events the rule requires (`app-layer-event`).
    app_events: u32,
    /// Stream events the packet must have raised (`stream-event`).
    stream_events: u8,
    /// Decoder events the packet must carry (`decode-event`).
    decode_events: u32,
    /// Chains on packet header buffers, in rule order (variables flow from one to the next).
    hdr_lists: Vec<(HdrBuf, Vec<Step>)>,
}

/// A packet header buffer (`ipv4.hdr`, `tcp.hdr`...).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum HdrBuf {
    Ipv4,
    Ipv6,
    Tcp,
    Udp,
    Icmp4,
    Icmp6,
}

impl HdrBuf {
    fn from_name(name: &str) -> Option<HdrBuf> {
        Some(match name {
            "ipv4.hdr" => HdrBuf::Ipv4,
            "ipv6.hdr" => HdrBuf::Ipv6,
            "tcp.hdr" => HdrBuf::Tcp,
            "udp.hdr" => HdrBuf::Udp,
            "icmpv4.hdr" => HdrBuf::Icmp4,
            "icmpv6.hdr" => HdrBuf::Icmp6,
            _ => return None,
        })
    }

    /// The header's bytes in `p`, if the packet has that header.
    fn slice<'a>(self, p: &Packet<'a>) -> Option<&'a [u8]> {
        let l4 = |n: usize| p.l4.get(..n.min(p.l4.len()));
        match self {
            HdrBuf::Ipv4 if p.ip_version == 4 => Some(p.ip_header),
            HdrBuf::Ipv6 if p.ip_version == 6 => Some(p.ip_header),
            HdrBuf::Tcp if p.proto == 6 && p.l4.len() >= 20 => l4(usize::from(p.l4[12] >> 4) * 4),
            HdrBuf::Udp if p.proto == 17 => l4(8),
            HdrBuf::Icmp4 if p.proto == 1 => l4(8),
            HdrBuf::Icmp6 if p.proto == 58 => l4(8),
            _ => None,
        }
    }
}

/// A rule's inspection chain on one app-layer buffer.
#[derive(Debug)]
struct AppList {
    buf: Buf,
    transforms: Vec<Transform>,
    steps: Vec<Step>,
    /// `absent`: the buffer must not exist once its message is complete; with `or_else`
    /// (true) the chain may match instead.
    absent: Option<bool>,
    /// `dataset` operations on the instance that matched the chain.
    datasets: Vec<(dataset::DatasetCmd, u32)>,
}

impl AppList {
    /// Whether the chain matches some instance of the buffer in `tx`.
    fn matches(
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

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum FlowbitAct {
    Set,
    Unset,
    Toggle,
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
    /// Stream events this packet raised ([`stream_event`] bits).
    pub stream_events: u8,
}

impl Sig {
    /// Whether the rule's xbits conditions hold for the packet's hosts.
    #[inline]
    fn xbits_hold(&self, xbits: &XBits, p: &Packet<'_>, now: Micros) -> bool {
        self.xbits.iter().all(|&(bit, op, track)| match op {
            XOp::IsSet => xbits.is_set(bit, track, p.src, p.dst, now),
            XOp::IsNotSet => !xbits.is_set(bit, track, p.src, p.dst, now),
            _ => true,
        })
    }

    /// What a match does besides alerting: xbits and flowbits set, unset, toggled.
    fn apply_actions(&self, xbits: &XBits, bits: &mut FlowBits, p: &Packet<'_>, f: FlowFacts) {
        for &(bit, op, track) in &self.xbits {
            xbits.apply(bit, op, track, p.src, p.dst, f.now);
        }
        if f.tracked {
            for &(act, bit) in &self.fb_sets {
                match act {
                    FlowbitAct::Set => bits.set(bit),
                    FlowbitAct::Unset => bits.unset(bit),
                    FlowbitAct::Toggle => bits.toggle(bit),
                }
            }
        }
    }

    /// The protocol of the transactions the rule inspects; None for packet/stream rules.
    fn tx_proto(&self) -> Option<AppProto> {
        match self.app_lists.first() {
            Some(l) => Some(l.buf.proto()),
            None if self.app_events != 0 => Some(AppProto::Http),
            None => None,
        }
    }

    #[inline]
    fn header_matches(&self, p: &Packet<'_>) -> bool {
        if !self.l4.matches(p.proto) || p.events & self.decode_events != self.decode_events {
            return false;
        }
        let ports_any = self.sport.is_any() && self.dport.is_any();
        if !ports_any && !p.has_ports() {
            return false;
        }
        // Ports first: cheaper than address sets, and the most selective for rules checked
        // on every packet.
        let fwd = |src: IpAddr, sp: u16, dst: IpAddr, dp: u16| {
            self.dport.contains(dp)
                && self.sport.contains(sp)
                && self.src.contains(src)
                && self.dst.contains(dst)
        };
        fwd(p.src, p.sport, p.dst, p.dport)
            || (self.bidirectional && fwd(p.dst, p.dport, p.src, p.sport))
    }

    #[inline]
    fn flow_matches(&self, f: FlowFacts) -> bool {
        if self.app_proto.is_some_and(|a| a != f.app_proto) {
            return false;
        }
        if f.stream_events & self.stream_events != self.stream_events {
            return false;
        }
        for &(neg, proto) in &self.alproto_conds {
            if f.app_proto == AppProto::Unknown || (f.app_proto == proto) == neg {
                return false;
            }
        }
        if let Some(ts) = self.flow.to_server {
            if !f.tracked || f.to_server != ts {
                return false;
            }
        }
        if let Some(est) = self.flow.established {
            if f.established != est {
                return false;
            }
        }
        for &(side, cmp) in &self.stream_size {
            let Some([client, server]) = f.stream_sizes else {
                return false;
            };
            let ok = match side {
                StreamSide::Client => cmp.test(client),
                StreamSide::Server => cmp.test(server),
                StreamSide::Both => cmp.test(client) && cmp.test(server),
                StreamSide::Either => cmp.test(client) || cmp.test(server),
            };
            if !ok {
                return false;
            }
        }
        true
    }

    fn packet_matches(&self, p: &Packet<'_>) -> bool {
        self.packet.iter().all(|c| match *c {
            PacketCond::Dsize(cmp) => cmp.test(p.payload.len() as u64),
            PacketCond::Ttl(cmp) => cmp.test(u64::from(p.ttl)),
            PacketCond::IpProto(cmp) => cmp.test(u64::from(p.proto)),
            PacketCond::Itype(cmp) => p.icmp.is_some_and(|(t, _)| cmp.test(u64::from(t))),
            PacketCond::Icode(cmp) => p.icmp.is_some_and(|(_, c)| cmp.test(u64::from(c))),
            PacketCond::IcmpId(id) => {
                p.icmp.is_some() && u16::from_be_bytes([p.icmp_rest[0], p.icmp_rest[1]]) == id
            }
            PacketCond::IcmpSeq(seq) => {
                p.icmp.is_some() && u16::from_be_bytes([p.icmp_rest[2], p.icmp_rest[3]]) == seq
            }
            PacketCond::Flags(f) => p.tcp.is_some_and(|t| f.test(t.flags)),
            PacketCond::Window(neg, w) => p.tcp.is_some_and(|t| (t.window == w) != neg),
            PacketCond::Seq(s) => p.tcp.is_some_and(|t| t.seq == s),
            PacketCond::Ack(a) => p.tcp.is_some_and(|t| t.ack == a),
            PacketCond::SameIp => p.src == p.dst,
            PacketCond::IpId(id) => p.ip_version == 4 && p.ip_id == id,
            PacketCond::Checksum(kind, valid) => {
                let applies = match kind {
                    CsumKind::Ipv4 => p.ip_version == 4,
                    CsumKind::Tcp(v) => p.proto == 6 && p.ip_version == v,
                    CsumKind::Udp(v) => p.proto == 17 && p.ip_version == v,
                    CsumKind::Icmp(4) => p.proto == 1,
                    CsumKind::Icmp(_) => p.proto == 58,
                };
                if !applies {
                    return false;
                }
                let ok = match kind {
                    CsumKind::Ipv4 => crate::decode::checksum::ipv4_header_ok(p.ip_header),
                    _ => p.verify_checksums() != Err(crate::decode::DecodeError::L4Checksum),
                };
                ok == valid
            }
        })
    }

    #[inline]
    fn payload_matches(&self, p: &Packet<'_>, view: View<'_>) -> bool {
        match view {
            View::Packet { stream_active } => {
                if self.stream_only
                    || (stream_active && !self.packet_only && !self.steps.is_empty())
                {
                    return false;
                }
                if !self.hdr_lists.is_empty() {
                    let mut vars = [0i64; rules::keywords::MAX_VARS];
                    for (hb, steps) in &self.hdr_lists {
                        let ok = hb
                            .slice(p)
                            .is_some_and(|h| inspect::matches_with_vars(steps, h, &mut vars));
                        if !ok {
                            return false;
                        }
                    }
                }
                if self.steps.is_empty() {
                    return true;
                }
                // Suricata does not inspect payload keywords on packets without payload.
                !p.payload.is_empty() && inspect::matches(&self.steps, p.payload)
            }
            View::Stream { data, new_from, .. } => {
                if self.packet_only || self.steps.is_empty() {
                    return false;
                }
                // Like Suricata's raw-stream chunks: the new bytes plus some context before
                // them (from the stream start while it is still that close).
                let from = new_from.saturating_sub(self.stream_lookback);
                if self.anchored {
                    inspect::matches_ending_after(&self.steps, &data[from..], new_from - from)
                } else {
                    inspect::matches(&self.steps, &data[new_from..])
                }
            }
        }
    }
}

/// A rule that was parsed but is not running, and why.
#[derive(Clone, Debug)]
pub struct Skipped {
    /// Rule file.
    pub file: Option<PathBuf>,
    /// Line.
    pub line: usize,
    /// Signature id.
    pub sid: u32,
    /// Reason.
    pub reason: String,
    /// The unsupported keywords or missing engine parts responsible, for per-keyword counts.
    pub keywords: Vec<String>,
}

/// What building the engine did.
#[derive(Clone, Debug, Default)]
pub struct BuildReport {
    /// Rules compiled and running.
    pub loaded: usize,
    /// Rules compiled with full semantics that wait for an engine part not built yet (an
    /// app-layer parser, stream reassembly): they cannot match until it exists.
    pub waiting: Vec<Skipped>,
    /// Rules not loaded: a keyword without semantics yet, a bad pcre, an unknown classtype.
    pub skipped: Vec<Skipped>,
    /// Hyperscan databases built.
    pub databases: usize,
    /// Distinct fast patterns over all databases.
    pub patterns: usize,
    /// Total compiled database bytes.
    pub database_bytes: usize,
    /// Rules without a usable fast pattern (checked on every packet of their group).
    pub non_mpm: usize,
    /// Header-only rules, checked on the first packet of each flow direction.
    pub ip_only: usize,
    /// Distinct flowbit names.
    pub flowbits: usize,
    /// Databases loaded from the Hyperscan cache.
    pub cache_hits: usize,
    /// Databases compiled (and stored, when a cache is configured).
    pub compiled: usize,
    /// Time spent compiling.
    pub compile_time: Duration,
}

impl BuildReport {
    /// Waiting rules per missing engine part, most first.
    pub fn waiting_by_need(&self) -> Vec<(String, usize)> {
        let mut m: BTreeMap<String, usize> = BTreeMap::new();
        for w in &self.waiting {
            for k in &w.keywords {
                *m.entry(k.clone()).or_default() += 1;
            }
        }
        let mut v: Vec<(String, usize)> = m.into_iter().collect();
        v.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        v
    }
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
    sigs: Vec<Sig>,
    groups: [Group; GROUPS],
    /// Per app-layer buffer prefilter for transaction rules.
    /// Keyed by buffer and transform chain: a transformed buffer is scanned as transformed.
    app_mpm: Vec<(Buf, Vec<Transform>, mpm::Mpm)>,
    /// Transaction rules without a usable fast pattern, per protocol (http, tls, dns).
    app_non_mpm: [Vec<u32>; 3],
    /// Datasets named by rules.
    datasets: dataset::Datasets,
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

/// Picks the content that goes to the prefilter: an explicit `fast_pattern`, else the longest
/// non-negated payload content.
fn fast_pattern(steps: &[Step]) -> Option<&Content> {
    let contents = || {
        steps.iter().filter_map(|s| match s {
            Step::Content(c) if !c.negated => Some(c),
            _ => None,
        })
    };
    if let Some(c) = contents().find(|c| c.fast_pattern != FastPattern::Auto) {
        return Some(c);
    }
    contents().max_by(|a, b| {
        a.pattern
            .len()
            .cmp(&b.pattern.len())
            .then(std::cmp::Ordering::Greater)
    })
}

/// The transforms a rule applies to `buffer`, in rule order.
fn transforms_of(all: &[(Buffer, &'static str)], buffer: Buffer) -> Result<Vec<Transform>, String> {
    all.iter()
        .filter(|(b, _)| *b == buffer)
        .map(|(_, t)| Transform::from_keyword(t))
        .collect()
}

/// Engine parts that exist: rules needing only these run.
const BUILT_PARTS: &[&str] = &["http parser", "tls parser", "dns parser", "header buffers"];

fn proto_index(p: AppProto) -> usize {
    match p {
        AppProto::Http => 0,
        AppProto::Tls => 1,
        _ => 2,
    }
}

/// The prefilter pattern of a transaction rule and the buffer (with its transforms) it is in:
/// an explicit `fast_pattern`, else the longest positive content. None when the chosen content
/// is in the payload (the transaction prefilter cannot see it).
fn app_fast_pattern(sig: &Sig) -> Option<(Buf, &[Transform], &Content)> {
    let explicit = |steps: &[Step]| {
        steps.iter().any(
            |s| matches!(s, Step::Content(c) if !c.negated && c.fast_pattern != FastPattern::Auto),
        )
    };
    if explicit(&sig.steps) {
        return None;
    }
    // A buffer that may be absent cannot select the rule.
    let lists = || sig.app_lists.iter().filter(|l| l.absent.is_none());
    if let Some(l) = lists().find(|l| explicit(&l.steps)) {
        return fast_pattern(&l.steps).map(|c| (l.buf, l.transforms.as_slice(), c));
    }
    lists()
        .filter_map(|l| fast_pattern(&l.steps).map(|c| (l.buf, l.transforms.as_slice(), c)))
        .max_by_key(|(_, _, c)| c.pattern.len())
}

/// Order in which rules are evaluated on a packet: rules that only set flowbits first, so that
/// rules testing those bits see them on the same packet (as Suricata orders them).
fn flowbit_rank(r: &Rule) -> u8 {
    let sets = r.flowbits.iter().any(|f| {
        matches!(
            f,
            FlowbitOp::Set(_) | FlowbitOp::Unset(_) | FlowbitOp::Toggle(_)
        )
    });
    let reads = r
        .flowbits
        .iter()
        .any(|f| matches!(f, FlowbitOp::IsSet(..) | FlowbitOp::IsNotSet(..)));
    match (sets, reads) {
        (true, false) => 0,
        (true, true) => 1,
        _ => 2,
    }
}

impl Engine {
    /// Compiles `rules`. Rules using keywords the engine cannot run, a pcre that does not
    /// compile or an unknown classtype are left out ([`BuildReport::skipped`]); rules that need
    /// an engine part not built yet are listed in [`BuildReport::waiting`].
    pub fn build(rules: Vec<Rule>, classes: &Classifications) -> Result<Engine, String> {
        Self::build_cached(rules, classes, None, 0)
    }

    /// Like [`Engine::build`], reusing Hyperscan databases stored in `cache` (a directory) by an
    /// earlier build with the same patterns, and storing newly compiled ones there.
    pub fn build_cached(
        mut rules: Vec<Rule>,
        classes: &Classifications,
        cache: Option<&Path>,
        port_groups: usize,
    ) -> Result<Engine, String> {
        let started = Instant::now();
        let mut report = BuildReport::default();
        rules.sort_by_key(flowbit_rank);
        let mut bit_ids: HashMap<String, u32> = HashMap::new();
        let mut xbit_ids: HashMap<String, u32> = HashMap::new();
        let mut ds: (HashMap<String, u32>, dataset::Datasets) = Default::default();
        let mut sigs = Vec::with_capacity(rules.len());
        for rule in rules {
            let origin = (
                rule.origin.as_ref().map(|o| o.file.to_path_buf()),
                rule.origin.as_ref().map_or(0, |o| o.line),
            );
            let sid = rule.sid;
            let skip = |reason: String, keywords: Vec<String>| Skipped {
                file: origin.0.clone(),
                line: origin.1,
                sid,
                reason,
                keywords,
            };
            if !rule.unsupported.is_empty() {
                let kws: Vec<String> = rule.unsupported.iter().map(|s| s.to_string()).collect();
                report.skipped.push(skip(
                    format!("keyword not supported yet: {}", kws.join(", ")),
                    kws,
                ));
                continue;
            }
            let mut needs: Vec<String> = rule
                .needs
                .iter()
                .filter(|n| !BUILT_PARTS.contains(n))
                .map(|s| s.to_string())
                .collect();
            // A buffer the built parsers do not fill (only reported when nothing else is
            // missing, else the parser need says it).
            let parsers_missing = !needs.is_empty();
            for (b, _) in &rule.inspect {
                if let (Buffer::App(name), false) = (b, parsers_missing) {
                    let need = format!("{name} buffer");
                    let known = Buf::from_name(name).is_some() || HdrBuf::from_name(name).is_some();
                    if !known && !needs.contains(&need) {
                        needs.push(need);
                    }
                }
            }
            if !needs.is_empty() {
                // Still compiled, so a broken pcre or classtype is reported now, not later.
                if let Err(reason) =
                    Self::compile_rule(rule, classes, &mut bit_ids, &mut xbit_ids, &mut ds, false)
                {
                    report.skipped.push(skip(reason, Vec::new()));
                } else {
                    report
                        .waiting
                        .push(skip(format!("waits for: {}", needs.join(", ")), needs));
                }
                continue;
            }
            match Self::compile_rule(rule, classes, &mut bit_ids, &mut xbit_ids, &mut ds, true) {
                Ok(sig) => sigs.push(sig),
                Err(reason) => report.skipped.push(skip(reason, Vec::new())),
            }
        }
        report.flowbits = bit_ids.len();
        let mut entries: [[Vec<mpmgroup::Entry<'_>>; DIRS]; GROUPS] = Default::default();
        let mut pkt_entries: [[Vec<mpmgroup::Entry<'_>>; DIRS]; GROUPS] = Default::default();
        let mut groups: [Group; GROUPS] = Default::default();
        let mut ip_only_lists: [Vec<u32>; GROUPS] = Default::default();
        // Rules without a fast pattern per group: all, packet view on a stream, stream view.
        let mut non_mpm_lists: [[Vec<u32>; 3]; GROUPS] = Default::default();
        let mut app_builders: BTreeMap<(Buf, Vec<Transform>), mpm::MpmBuilder> = BTreeMap::new();
        let mut app_non_mpm: [Vec<u32>; 3] = Default::default();
        for (idx, sig) in sigs.iter().enumerate() {
            let idx = idx as u32;
            if let Some(proto) = sig.tx_proto() {
                match app_fast_pattern(sig) {
                    Some((buf, ts, c)) => app_builders.entry((buf, ts.to_vec())).or_default().add(
                        c.mpm_bytes(),
                        c.nocase,
                        idx,
                    ),
                    None => {
                        app_non_mpm[proto_index(proto)].push(idx);
                        report.non_mpm += 1;
                    }
                }
                continue;
            }
            let fp = fast_pattern(&sig.steps);
            for &g in groups_of(sig.l4) {
                match fp {
                    Some(c) => {
                        for &d in dirs_of(&sig.flow) {
                            // Keyed by the server port: destination to the server, source
                            // back from it.
                            let key = if d == 0 { &sig.dport } else { &sig.sport };
                            let entry = || mpmgroup::Entry {
                                rule: idx,
                                pattern: c.mpm_bytes(),
                                nocase: c.nocase,
                                ports: (!key.is_any() && !sig.bidirectional)
                                    .then(|| key.ranges().collect()),
                            };
                            entries[g][d].push(entry());
                            if sig.packet_only && !sig.stream_only {
                                pkt_entries[g][d].push(entry());
                            }
                        }
                    }
                    None if sig.ip_only => ip_only_lists[g].push(idx),
                    None => {
                        let lists = &mut non_mpm_lists[g];
                        lists[0].push(idx);
                        if !sig.stream_only && (sig.packet_only || sig.steps.is_empty()) {
                            lists[1].push(idx);
                        }
                        if !sig.packet_only && !sig.steps.is_empty() {
                            lists[2].push(idx);
                        }
                    }
                }
            }
            if sig.ip_only {
                report.ip_only += 1;
            } else if fp.is_none() {
                report.non_mpm += 1;
            }
        }
        // Every database is compiled (or loaded) in one parallel batch: per group and
        // direction the payload and packet-only databases, then one per app-layer buffer.
        let mut jobs = Vec::new();
        // Per group and direction: payload then packet-only port groups (slot table, count).
        let mut layouts: Vec<(Vec<u8>, usize)> = Vec::new();
        for (g, per_dir) in entries.iter().enumerate() {
            for (d, list) in per_dir.iter().enumerate() {
                groups[g].fp_reach[d] = list
                    .iter()
                    .map(|e| e.pattern.len())
                    .max()
                    .unwrap_or(0)
                    .saturating_sub(1);
                groups[g].stream_context[d] = list
                    .iter()
                    .map(|e| sigs[e.rule as usize].stream_lookback)
                    .max()
                    .unwrap_or(0)
                    .max(STREAM_SCAN_LOOKBACK);
                let (slot, builders) = mpmgroup::plan(list, port_groups);
                report.patterns += builders.iter().map(mpm::MpmBuilder::len).sum::<usize>();
                layouts.push((slot, builders.len()));
                jobs.extend(builders);
                let (slot, builders) = mpmgroup::plan(&pkt_entries[g][d], port_groups);
                layouts.push((slot, builders.len()));
                jobs.extend(builders);
            }
        }
        drop(entries);
        drop(pkt_entries);
        let mut app_keys = Vec::new();
        for (key, b) in app_builders {
            report.patterns += b.len();
            app_keys.push(key);
            jobs.push(b);
        }
        // One at a time: compiling on two threads cut the cold load of ET Open from 1.5 s to
        // 1.0-1.3 s here, but raised its peak RSS from 127 MB to 170-180 MB (Hyperscan's
        // compile-time memory and a malloc arena per thread), over the 150 MB budget.
        let mut built = Vec::with_capacity(jobs.len());
        for b in jobs {
            let (mpm, used) = b.build_cached(cache)?;
            match used {
                mpm::CacheUse::Hit => report.cache_hits += 1,
                _ if mpm.is_some() => report.compiled += 1,
                _ => {}
            }
            if let Some(m) = &mpm {
                report.databases += 1;
                report.database_bytes += m.size();
            }
            built.push(mpm);
        }
        let mut built = built.into_iter();
        let mut layouts = layouts.into_iter();
        let mut next_groups = || {
            let (slot, n) = layouts.next().expect("one layout per group and direction");
            mpmgroup::PortGroups::new(slot, built.by_ref().take(n).collect())
        };
        for g in groups.iter_mut() {
            for d in 0..DIRS {
                g.mpm[d] = next_groups();
                g.mpm_pkt[d] = next_groups();
            }
        }
        let mut app_mpm = Vec::new();
        for ((buf, ts), m) in app_keys.into_iter().zip(built) {
            if let Some(m) = m {
                app_mpm.push((buf, ts, m));
            }
        }
        for (g, lists) in non_mpm_lists.iter().enumerate() {
            let index = |list: &[u32]| {
                let entries: Vec<(u32, &PortSet, bool)> = list
                    .iter()
                    .map(|&i| {
                        let s = &sigs[i as usize];
                        (i, &s.dport, s.bidirectional)
                    })
                    .collect();
                portgroup::PortIndex::build(&entries)
            };
            groups[g].non_mpm = index(&lists[0]);
            groups[g].non_mpm_pkt = index(&lists[1]);
            groups[g].non_mpm_stream = index(&lists[2]);
        }
        for (g, list) in ip_only_lists.iter().enumerate() {
            let entries: Vec<iponly::Entry<'_>> = list
                .iter()
                .map(|&i| {
                    let s = &sigs[i as usize];
                    (i, s.src.ranges(), s.dst.ranges(), s.bidirectional)
                })
                .collect();
            groups[g].ip_only = iponly::IpOnlyIndex::build(&entries);
        }
        report.loaded = sigs.len();
        report.compile_time = started.elapsed();
        Ok(Engine {
            sigs,
            groups,
            app_mpm,
            app_non_mpm,
            datasets: ds.1,
            report,
        })
    }

    fn compile_rule(
        rule: Rule,
        classes: &Classifications,
        bit_ids: &mut HashMap<String, u32>,
        xbit_ids: &mut HashMap<String, u32>,
        ds: &mut (HashMap<String, u32>, dataset::Datasets),
        runnable: bool,
    ) -> Result<Sig, String> {
        let class = match &rule.classtype {
            Some(name) => Some(
                classes
                    .get(name)
                    .ok_or_else(|| format!("unknown classtype '{name}'"))?,
            ),
            None => None,
        };
        let severity = rule.priority.or(class.map(|c| c.priority)).unwrap_or(3);
        let mut steps = Vec::with_capacity(rule.inspect.len());
        let mut app_lists: Vec<AppList> = Vec::new();
        let mut hdr_lists: Vec<(HdrBuf, Vec<Step>)> = Vec::new();
        for (buffer, item) in rule.inspect {
            let Buffer::App(name) = buffer else {
                steps.push(Step::compile(item)?);
                continue;
            };
            let step = Step::compile(item)?;
            if let Some(hb) = HdrBuf::from_name(name) {
                match hdr_lists.iter_mut().find(|(b, _)| *b == hb) {
                    Some((_, s)) => s.push(step),
                    None => hdr_lists.push((hb, vec![step])),
                }
                continue;
            }
            let Some(buf) = Buf::from_name(name) else {
                // A waiting rule: its buffer's parser does not exist yet.
                if runnable {
                    return Err(format!("buffer '{name}' has no parser yet"));
                }
                continue;
            };
            match app_lists.iter_mut().find(|l| l.buf == buf) {
                Some(l) => l.steps.push(step),
                None => app_lists.push(AppList {
                    buf,
                    transforms: transforms_of(&rule.transforms, buffer)?,
                    steps: vec![step],
                    absent: None,
                    datasets: Vec::new(),
                }),
            }
        }
        for &(buffer, or_else) in &rule.absent {
            let Some(buf) = (match buffer {
                Buffer::App(name) => Buf::from_name(name),
                Buffer::Payload => None,
            }) else {
                continue;
            };
            match app_lists.iter_mut().find(|l| l.buf == buf) {
                Some(l) => l.absent = Some(or_else),
                None => app_lists.push(AppList {
                    buf,
                    transforms: transforms_of(&rule.transforms, buffer)?,
                    steps: Vec::new(),
                    absent: Some(or_else),
                    datasets: Vec::new(),
                }),
            }
        }
        for (buffer, spec) in &rule.datasets {
            let Some(buf) = (match buffer {
                Buffer::App(name) => Buf::from_name(name),
                Buffer::Payload => None,
            }) else {
                continue;
            };
            let id = match ds.0.get(&spec.name) {
                Some(&id) => id,
                None => {
                    let id = ds.1.add();
                    if let Some(file) = &spec.load {
                        // Relative to the rule file's directory, as rule packs ship lists.
                        let base = rule.origin.as_ref().and_then(|o| o.file.parent());
                        let path = match base {
                            Some(dir) if !Path::new(file).is_absolute() => dir.join(file),
                            _ => PathBuf::from(file),
                        };
                        ds.1.load(id, spec.kind, &path)?;
                    }
                    ds.0.insert(spec.name.clone(), id);
                    id
                }
            };
            let op = (spec.cmd, id);
            match app_lists.iter_mut().find(|l| l.buf == buf) {
                Some(l) => l.datasets.push(op),
                None => app_lists.push(AppList {
                    buf,
                    transforms: transforms_of(&rule.transforms, *buffer)?,
                    steps: Vec::new(),
                    absent: None,
                    datasets: vec![op],
                }),
            }
        }
        let alproto_conds = rule
            .app_layer_protocol
            .iter()
            .filter_map(|(neg, name)| match AppProto::from_rule_name(name) {
                Some(p) => Some(Ok((*neg, p))),
                None if runnable => Some(Err(format!("no parser for protocol '{name}'"))),
                None => None,
            })
            .collect::<Result<Vec<_>, String>>()?;
        let app_proto = match rule.app_proto.as_deref() {
            Some(name) => match AppProto::from_rule_name(name) {
                Some(p) => Some(p),
                None if runnable => return Err(format!("no parser for protocol '{name}'")),
                None => None,
            },
            None => app_lists.first().map(|l| l.buf.proto()),
        };
        if let Some(l) = app_lists
            .iter()
            .find(|l| runnable && Some(l.buf.proto()) != app_proto)
        {
            return Err(format!(
                "buffer of protocol {} in a {} rule",
                l.buf.proto().name(),
                app_proto.map_or("?", AppProto::name)
            ));
        }
        let mut id_of = |name: &String| -> u32 {
            let next = bit_ids.len() as u32;
            *bit_ids.entry(name.clone()).or_insert(next)
        };
        // Keywords about one packet (its size, its TCP flags, its headers) make the payload a
        // packet's.
        let packet_only = rule.flow.stream == Some(false)
            || !hdr_lists.is_empty()
            || rule
                .packet
                .iter()
                .any(|c| matches!(c, PacketCond::Dsize(_) | PacketCond::Flags(_)));
        let stream_only = rule.flow.stream == Some(true);
        let anchored = inspect::has_anchor(&steps);
        let longest = longest_content(&steps);
        if longest > MAX_CONTENT {
            return Err(format!(
                "content of {longest} bytes is longer than the {MAX_CONTENT} the engine inspects"
            ));
        }
        let stream_lookback = STREAM_SCAN_LOOKBACK.max(longest);
        // Suricata's IP-only: header, thresholds and flowbit actions only, no negated address.
        let ip_only = steps.is_empty()
            && rule.packet.is_empty()
            && rule
                .flowbits
                .iter()
                .all(|f| !matches!(f, FlowbitOp::IsSet(..) | FlowbitOp::IsNotSet(..)))
            && rule.flow == FlowMatch::default()
            && rule.stream_size.is_empty()
            && rule.xbits.is_empty()
            && rule.app_proto.is_none()
            && rule.app_layer_protocol.is_empty()
            && rule.stream_events == 0
            && rule.decode_events == 0
            && hdr_lists.is_empty()
            && app_lists.is_empty()
            && !rule.src.has_negation()
            && !rule.dst.has_negation();
        let mut xbit_id = |name: &String| -> u32 {
            let next = xbit_ids.len() as u32;
            *xbit_ids.entry(name.clone()).or_insert(next)
        };
        let mut fb_conds = Vec::new();
        let mut fb_sets = Vec::new();
        for op in &rule.flowbits {
            match op {
                FlowbitOp::Set(n) => fb_sets.extend(n.iter().map(|x| (FlowbitAct::Set, id_of(x)))),
                FlowbitOp::Unset(n) => {
                    fb_sets.extend(n.iter().map(|x| (FlowbitAct::Unset, id_of(x))))
                }
                FlowbitOp::Toggle(n) => {
                    fb_sets.extend(n.iter().map(|x| (FlowbitAct::Toggle, id_of(x))))
                }
                FlowbitOp::IsSet(n, all) => {
                    fb_conds.push(FlowbitCond::IsSet(n.iter().map(&mut id_of).collect(), *all))
                }
                FlowbitOp::IsNotSet(n, all) => fb_conds.push(FlowbitCond::IsNotSet(
                    n.iter().map(&mut id_of).collect(),
                    *all,
                )),
            }
        }
        Ok(Sig {
            gid: rule.gid,
            sid: rule.sid,
            rev: rule.rev,
            category: class.map(|c| c.category.clone()).unwrap_or_default(),
            classtype: rule.classtype,
            severity,
            action: rule.action,
            msg: rule.msg,
            metadata: rule.metadata,
            target: rule.target,
            origin: rule.origin.map(|o| (o.file.to_path_buf(), o.line)),
            noalert: rule.noalert,
            tags: rule.tags.clone(),
            threshold: rule.threshold,
            detection_filter: rule.detection_filter,
            stream_size: rule.stream_size,
            xbits: rule
                .xbits
                .iter()
                .map(|(n, op, t)| (xbit_id(n), *op, *t))
                .collect(),
            l4: rule.l4,
            src: rule.src,
            sport: rule.sport,
            dst: rule.dst,
            dport: rule.dport,
            bidirectional: rule.bidirectional,
            flow: rule.flow,
            packet: rule.packet,
            fb_conds,
            fb_sets,
            steps,
            packet_only,
            stream_only,
            anchored,
            stream_lookback,
            ip_only,
            app_proto,
            app_lists,
            alproto_conds,
            app_events: rule.app_events,
            stream_events: rule.stream_events,
            decode_events: rule.decode_events,
            hdr_lists,
        })
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
        })
    }

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
            let matched = sig.header_matches(p)
                && sig.flow_matches(flow)
                && sig.packet_matches(p)
                && sig.fb_conds.iter().all(|c| c.holds(bits))
                && sig.payload_matches(p, view)
                && sig.xbits_hold(&ctx.xbits, p, flow.now);
            bits.backoff
                .record(idx, inspect::pcre_limit_hits_so_far() != limit_hits);
            if matched {
                sig.apply_actions(&ctx.xbits, bits, p, flow);
                on_match(idx);
            }
        }
    }

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
        ctx.next_packet();
        if let Some(scratch) = &ctx.scratch {
            let (seen, stamp, cands) = (&mut ctx.seen, ctx.stamp, &mut ctx.candidates);
            let (ta, tb) = (&mut ctx.tbuf.0, &mut ctx.tbuf.1);
            let mut errors = 0;
            for (buf, ts, m) in &self.app_mpm {
                if buf.proto() != proto {
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
            .extend_from_slice(&self.app_non_mpm[proto_index(proto)]);
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
            let failed = sig.app_proto.is_some_and(|x| x != proto)
                || !sig.header_matches(p)
                || !sig.flow_matches(FlowFacts {
                    app_proto: proto,
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
                || !sig.xbits_hold(&ctx.xbits, p, flow.now);
            bits.backoff
                .record(idx, inspect::pcre_limit_hits_so_far() != limit_hits);
            if failed {
                continue;
            }
            sig.apply_actions(&ctx.xbits, bits, p, flow);
            on_match(idx);
        }
    }
}

#[cfg(test)]
mod tests {
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
            stream_events: 0,
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
            stream_events: 0,
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
            stream_events: 0,
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
            stream_events: 0,
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
            stream_events: 0,
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
            r#"alert tcp any any -> any any (content:"a"; flowint:x,+,1; sid:1;)"#,
            r#"alert smb any any -> any any (content:"a"; sid:2;)"#,
            r#"alert tcp any any -> any any (smb.share; content:"a"; sid:3;)"#,
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
        assert!(skipped[0].1.contains("flowint"));
        assert!(skipped[1].1.contains("classtype"));
        assert!(skipped[2].1.contains("pcre does not compile"));
        let waiting: Vec<u32> = e.report.waiting.iter().map(|s| s.sid).collect();
        assert_eq!(waiting, vec![2, 3]);
        assert_eq!(
            e.report.waiting_by_need(),
            vec![("smb parser".to_string(), 2)]
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
