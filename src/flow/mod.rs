//! Flow tracking: a per-worker table of bidirectional flows keyed by normalised 5-tuple + VLAN.
//!
//! Each worker owns its table (flows are dispatched to workers by address hash, so a flow never
//! spans two tables); nothing here is shared or locked. The table has a fixed capacity: when it
//! is full, idle flows are evicted first, and a packet that still finds no room is inspected
//! without flow state and counted.

pub mod stream;
pub mod tcp;

use std::collections::HashMap;
use std::net::IpAddr;

use crate::common::net::addr_key;
use crate::decode::{tcp_flags, Packet};

pub use crate::common::time::Micros;

/// Flow table settings (from the `[flow]` config section).
#[derive(Clone, Debug)]
pub struct FlowConfig {
    /// Most flows one worker tracks at once.
    pub capacity: usize,
    /// Idle timeouts by protocol class ([`ProtoClass`]) and flow state.
    pub timeouts: [Timeouts; 4],
    /// Pick up TCP sessions whose handshake was not seen.
    pub midstream: bool,
    /// TCP reassembly settings.
    pub stream: stream::StreamConfig,
    /// Overlap policy by receiving network.
    pub hosts: std::sync::Arc<crate::common::hostpolicy::HostPolicies>,
    /// Refuse TCP data starting past the receiver's advertised window (inline mode); when
    /// false, one extra window of slack absorbs window updates the capture missed.
    pub strict_window: bool,
}

impl Default for FlowConfig {
    fn default() -> Self {
        FlowConfig {
            capacity: 65_536,
            timeouts: Timeouts::DEFAULTS,
            midstream: false,
            stream: stream::StreamConfig::default(),
            hosts: Default::default(),
            strict_window: false,
        }
    }
}

/// Protocol classes with their own timeouts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProtoClass {
    /// TCP.
    Tcp = 0,
    /// UDP.
    Udp = 1,
    /// ICMP and ICMPv6.
    Icmp = 2,
    /// Everything else (SCTP, GRE, ESP...).
    Other = 3,
}

impl ProtoClass {
    /// The class of an IP protocol number.
    pub fn of(proto: u8) -> ProtoClass {
        match proto {
            6 => ProtoClass::Tcp,
            17 => ProtoClass::Udp,
            1 | 58 => ProtoClass::Icmp,
            _ => ProtoClass::Other,
        }
    }
}

/// Idle timeouts of one protocol class, seconds, per flow state; the `emergency_` values
/// apply while the table is nearly full.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Timeouts {
    /// Not yet established (TCP: handshake incomplete; others: one direction seen).
    pub new: u32,
    /// Established (TCP: handshake done, until both FINs; others: both directions seen).
    pub established: u32,
    /// Closed (TCP: RST or both FINs).
    pub closed: u32,
    /// `new` under memory pressure.
    pub emergency_new: u32,
    /// `established` under memory pressure.
    pub emergency_established: u32,
    /// `closed` under memory pressure.
    pub emergency_closed: u32,
}

impl Timeouts {
    /// Defaults per class (tcp, udp, icmp, other), Suricata's.
    pub const DEFAULTS: [Timeouts; 4] = [
        Timeouts::new(60, 600, 60, 5, 100, 10),
        Timeouts::new(30, 300, 0, 10, 100, 0),
        Timeouts::new(30, 300, 0, 10, 100, 0),
        Timeouts::new(30, 300, 0, 10, 100, 0),
    ];

    /// Timeouts in seconds: new, established, closed, then their emergency values.
    pub const fn new(n: u32, e: u32, c: u32, en: u32, ee: u32, ec: u32) -> Timeouts {
        Timeouts {
            new: n,
            established: e,
            closed: c,
            emergency_new: en,
            emergency_established: ee,
            emergency_closed: ec,
        }
    }
}

/// Normalised flow key: the lower endpoint first, so both directions find the same flow.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct FlowKey {
    a: u128,
    b: u128,
    a_port: u16,
    b_port: u16,
    proto: u8,
    vlan: [u16; 2],
}

/// The flow key of the packet an ICMPv4 error quotes (destination unreachable, source
/// quench, redirect, time exceeded, parameter problem), when it quotes a TCP or UDP header.
fn icmp_error_key(p: &Packet<'_>) -> Option<FlowKey> {
    let (ty, _) = p.icmp.filter(|_| p.proto == 1)?;
    if !matches!(ty, 3 | 4 | 5 | 11 | 12) {
        return None;
    }
    let e = p.payload;
    if e.len() < 20 || e[0] >> 4 != 4 {
        return None;
    }
    let ihl = usize::from(e[0] & 15) * 4;
    let proto = e[9];
    if !matches!(proto, 6 | 17) || e.len() < ihl + 4 {
        return None;
    }
    let src = IpAddr::from([e[12], e[13], e[14], e[15]]);
    let dst = IpAddr::from([e[16], e[17], e[18], e[19]]);
    let sport = u16::from_be_bytes([e[ihl], e[ihl + 1]]);
    let dport = u16::from_be_bytes([e[ihl + 2], e[ihl + 3]]);
    let (s, d) = (addr_key(src), addr_key(dst));
    let ((a, a_port), (b, b_port)) = if (s, sport) <= (d, dport) {
        ((s, sport), (d, dport))
    } else {
        ((d, dport), (s, sport))
    };
    Some(FlowKey {
        a,
        b,
        a_port,
        b_port,
        proto,
        vlan: p.vlan,
    })
}

impl FlowKey {
    /// The key of a packet's flow.
    #[inline]
    pub fn of(p: &Packet<'_>) -> FlowKey {
        let (s, d) = (addr_key(p.src), addr_key(p.dst));
        let (sp, dp) = if p.has_ports() {
            (p.sport, p.dport)
        } else {
            (0, 0)
        };
        if (s, sp) <= (d, dp) {
            FlowKey {
                a: s,
                b: d,
                a_port: sp,
                b_port: dp,
                proto: p.proto,
                vlan: p.vlan,
            }
        } else {
            FlowKey {
                a: d,
                b: s,
                a_port: dp,
                b_port: sp,
                proto: p.proto,
                vlan: p.vlan,
            }
        }
    }
}

/// TCP session state as far as detection needs it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TcpState {
    /// No handshake seen and midstream pickup off: never established.
    None,
    /// Client SYN seen.
    SynSent,
    /// Server SYN/ACK seen.
    SynRecv,
    /// Handshake complete (or picked up midstream).
    Established,
    /// FIN seen: the session has left ESTABLISHED (the FIN packet itself no longer matches
    /// `flow:established`, as in Suricata).
    Closing,
    /// RST or both FINs acknowledged.
    Closed,
}

/// Why a flow ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EndReason {
    /// Idle past its timeout.
    Timeout,
    /// Evicted to make room.
    Evicted,
    /// End of input / shutdown.
    Shutdown,
}

/// One tracked flow.
#[derive(Debug)]
pub struct Flow {
    /// Id logged as EVE `flow_id`.
    pub id: u64,
    /// The side that opened the flow.
    pub client: (IpAddr, u16),
    /// The other side.
    pub server: (IpAddr, u16),
    /// IP protocol.
    pub proto: u8,
    /// First packet time.
    pub start: Micros,
    /// Last packet time.
    pub last: Micros,
    /// Packets client to server.
    pub pkts_toserver: u64,
    /// Packets server to client.
    pub pkts_toclient: u64,
    /// Bytes client to server (captured frame length).
    pub bytes_toserver: u64,
    /// Bytes server to client.
    pub bytes_toclient: u64,
    /// TCP state.
    pub tcp: TcpState,
    /// At least one alert was raised on this flow.
    pub alerted: bool,
    /// The pcap output's handle on this flow's latest frame in the worker's packet ring
    /// (0: none).
    pub evidence: u64,
    /// A `pass` rule matched: the rest of the flow is not inspected.
    pub passed: bool,
    /// Inline mode dropped the flow: its remaining packets are dropped uninspected.
    pub dropped: bool,
    /// Flowbits set by rules.
    pub bits: crate::detect::flowbits::FlowBits,
    /// TCP reassembly, client->server and server->client; allocated when a session starts.
    pub streams: Option<Box<[stream::Reassembler; 2]>>,
    /// Application-layer protocol and parser state.
    pub app: crate::applayer::AppLayer,
    /// The handshake's SYNs and SYN/ACKs, for the `3whs_*`/`est_*` stream events.
    pub handshake: Handshake,
    /// FINs seen: bit 0 from the client, bit 1 from the server.
    pub fins: u8,
    /// RSTs seen, same bits (data after one is a suspected RST injection).
    pub rsts: u8,
    /// Whether the current packet counts as `established` for the `flow` keyword: Suricata
    /// decides it from the session state before the packet (so the handshake's last ACK is
    /// not established, a first FIN still is, packets after both FINs are not).
    pub pkt_established: bool,
    /// Sequence, window and timestamp validation of the TCP session.
    pub tcp_track: tcp::TcpTrack,
    /// A `tag:session` running on this flow: its next packets are logged.
    pub tag: Option<crate::detect::tag::TagState>,
    /// Intel address lists: the store generation the flow's ends were last looked up in
    /// (0: never), and the lists that alerted on it (one bit per list).
    pub intel: (u64, u64),
}

impl Flow {
    /// Drops what refers to one detection engine's rule numbering (flowbits, rules already
    /// alerted per transaction): called when a reload replaces the engine.
    pub fn forget_detection(&mut self) {
        self.bits.clear();
        if let Some(p) = self.app.parser.as_deref_mut() {
            for slot in 0..p.tx_count() {
                if let Some(d) = p.tx_detect(slot) {
                    d.alerted.clear();
                }
            }
        }
    }

    /// Whether packets of this flow count as `established` for the `flow` keyword.
    pub fn established(&self) -> bool {
        if self.proto == 6 {
            self.tcp == TcpState::Established
        } else {
            self.pkts_toserver > 0 && self.pkts_toclient > 0
        }
    }

    /// Suricata's flow state for a TCP session: established from the handshake until both
    /// sides sent FIN (FIN_WAIT and CLOSE_WAIT still count) or a RST.
    fn session_established(&self) -> bool {
        match self.tcp {
            TcpState::Established => true,
            TcpState::Closing => self.fins != 3,
            _ => false,
        }
    }

    /// Idle timeout in the flow's current state.
    fn timeout_secs(&self, cfg: &FlowConfig, emergency: bool) -> u32 {
        let list = self.list();
        let t = &cfg.timeouts[usize::from(list / 3)];
        match (list % 3, emergency) {
            (2, false) => t.closed,
            (2, true) => t.emergency_closed,
            (1, false) => t.established,
            (1, true) => t.emergency_established,
            (_, false) => t.new,
            (_, true) => t.emergency_new,
        }
    }

    /// Updates TCP state for a packet in the given direction; returns the stream events
    /// (`3whs_*`, `est_*`, `*_but_no_session`) it raised.
    fn update_tcp(
        &mut self,
        tcp: &crate::decode::TcpInfo,
        to_server: bool,
        midstream: bool,
    ) -> u32 {
        let events = self.handshake_events(tcp, to_server);
        self.move_tcp(tcp, to_server, midstream);
        events
    }

    /// The stream events of a SYN, SYN/ACK, FIN or RST in the session's state (before the
    /// packet moves it), as Suricata's TCP state machine raises them.
    fn handshake_events(&mut self, tcp: &crate::decode::TcpInfo, to_server: bool) -> u32 {
        use crate::detect::stream_event::*;
        let f = tcp.flags;
        let (syn, ack) = (f & tcp_flags::SYN != 0, f & tcp_flags::ACK != 0);
        let (fin, rst) = (f & tcp_flags::FIN != 0, f & tcp_flags::RST != 0);
        let hs = &mut self.handshake;
        let mut ev = 0;
        if rst || !(syn || fin) {
            if rst && self.tcp == TcpState::None {
                ev |= RST_NO_SESSION;
            }
            return ev;
        }
        match (self.tcp, to_server, syn, ack) {
            (TcpState::None, _, false, _) => ev |= FIN_NO_SESSION,
            (TcpState::None | TcpState::SynSent, true, true, false) => {
                if hs.syn_seq.is_some_and(|s| s != tcp.seq) {
                    hs.syns = hs.syns.saturating_add(1);
                    if hs.syns >= MAX_SYN_QUEUED {
                        ev |= SYN_FLOOD;
                    }
                }
                hs.syn_seq = Some(tcp.seq);
            }
            (TcpState::SynSent, true, true, true) => ev |= SYNACK_WRONG_DIR,
            (TcpState::SynSent | TcpState::SynRecv, false, true, true) => {
                if let Some((seq, a)) = hs.synack {
                    if seq != tcp.seq {
                        ev |= SYNACK_RESEND_DIFF_SEQ;
                    }
                    if a != tcp.ack {
                        ev |= SYNACK_RESEND_DIFF_ACK;
                    }
                    if (seq, a) != (tcp.seq, tcp.ack) {
                        hs.synacks = hs.synacks.saturating_add(1);
                        if hs.synacks >= MAX_SYNACK_QUEUED {
                            ev |= SYNACK_FLOOD;
                        }
                    }
                }
                hs.synack = Some((tcp.seq, tcp.ack));
            }
            (TcpState::SynRecv, true, true, false) if hs.syn_seq.is_some_and(|s| s != tcp.seq) => {
                ev |= SYN_RESEND_DIFF_SEQ_ON_SYN_RECV;
            }
            (TcpState::Established, true, true, false) => {
                ev |= if hs.syn_seq.is_some_and(|s| s != tcp.seq) {
                    EST_SYN_RESEND_DIFF_SEQ
                } else {
                    EST_SYN_RESEND
                };
            }
            (TcpState::Established, false, true, false) => ev |= EST_SYN_TOCLIENT,
            (TcpState::Established, false, true, true) => {
                ev |= EST_SYNACK_RESEND;
                if let Some((seq, a)) = hs.synack {
                    if seq != tcp.seq {
                        ev |= EST_SYNACK_RESEND_DIFF_SEQ;
                    }
                    if a != tcp.ack {
                        ev |= EST_SYNACK_RESEND_DIFF_ACK;
                    }
                }
            }
            (TcpState::Established, true, true, true) => ev |= EST_SYNACK_TOSERVER,
            (TcpState::Closing, _, true, _) => ev |= SHUTDOWN_SYN_RESEND,
            _ => {}
        }
        ev
    }

    /// Moves the TCP state for a packet in the given direction.
    fn move_tcp(&mut self, tcp: &crate::decode::TcpInfo, to_server: bool, midstream: bool) {
        let flags = tcp.flags;
        if flags & tcp_flags::SYN != 0 && flags & tcp_flags::RST == 0 {
            // A session starts with the client's SYN; a SYN/ACK only completes one that did
            // (a flow first seen at its SYN/ACK is a midstream pickup, handled below).
            let client_syn = flags & tcp_flags::ACK == 0;
            if client_syn || self.streams.is_some() {
                let dir = usize::from(!to_server);
                self.streams.get_or_insert_with(Default::default)[dir].set_isn(tcp.seq);
            }
        }
        let syn = flags & tcp_flags::SYN != 0;
        let ack = flags & tcp_flags::ACK != 0;
        if flags & tcp_flags::RST != 0 {
            if self.tcp != TcpState::None {
                self.tcp = TcpState::Closed;
            }
            return;
        }
        self.tcp = match self.tcp {
            TcpState::None if midstream && !syn => TcpState::Established,
            TcpState::None => TcpState::None,
            TcpState::SynSent if !to_server && syn && ack => TcpState::SynRecv,
            TcpState::SynRecv if to_server && ack && !syn => TcpState::Established,
            TcpState::Established | TcpState::Closing if flags & tcp_flags::FIN != 0 => {
                self.fins |= if to_server { 1 } else { 2 };
                TcpState::Closing
            }
            s => s,
        };
    }
}

/// What the handshake sent, to tell a resent SYN or SYN/ACK from a different one.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Handshake {
    /// Sequence number of the client's last SYN.
    pub syn_seq: Option<u32>,
    /// Differing client SYNs seen (Suricata queues up to 10, then floods).
    pub syns: u8,
    /// Sequence and acknowledgement numbers of the server's last SYN/ACK.
    pub synack: Option<(u32, u32)>,
    /// Differing server SYN/ACKs seen (Suricata queues up to 5).
    pub synacks: u8,
}

/// Differing SYNs of one handshake before `3whs_syn_flood` (Suricata's `max-syn-queued`).
const MAX_SYN_QUEUED: u8 = 10;
/// Differing SYN/ACKs before `3whs_synack_flood` (Suricata's `max-synack-queued`).
const MAX_SYNACK_QUEUED: u8 = 5;

/// Counters of one flow table.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FlowStats {
    /// Flows created.
    pub created: u64,
    /// Flows ended by idle timeout.
    pub timed_out: u64,
    /// Flows evicted while the table was full.
    pub evicted: u64,
    /// Packets inspected without a flow because the table was full.
    pub no_room: u64,
    /// Flows still open at shutdown.
    pub at_shutdown: u64,
    /// Times the table entered emergency mode (over 95% full: emergency timeouts apply).
    pub emergencies: u64,
    /// TCP segments refused by validation, by [`tcp::Refusal`].
    pub tcp_refused: [u64; 4],
}

impl FlowStats {
    /// Adds another table's counters.
    pub fn add(&mut self, o: &FlowStats) {
        self.created += o.created;
        self.timed_out += o.timed_out;
        self.evicted += o.evicted;
        self.no_room += o.no_room;
        self.at_shutdown += o.at_shutdown;
        self.emergencies += o.emergencies;
        for (a, b) in self.tcp_refused.iter_mut().zip(o.tcp_refused) {
            *a += b;
        }
    }
}

/// Result of looking a packet up: its flow (if one could be had) and its direction.
pub struct Lookup<'t> {
    /// The flow, or `None` when the table was full.
    pub flow: Option<&'t mut Flow>,
    /// The packet goes client -> server.
    pub to_server: bool,
    /// TCP validation refused the segment: it must not move the session or its streams.
    pub refused: Option<tcp::Refusal>,
    /// Stream events the packet raised in the session's state machine
    /// ([`crate::detect::stream_event`] bits).
    pub events: u32,
}

impl Flow {
    /// Whether the packet just counted was the first of its direction.
    pub fn first_in_dir(&self, to_server: bool) -> bool {
        if to_server {
            self.pkts_toserver == 1
        } else {
            self.pkts_toclient == 1
        }
    }
}

/// Number of timeout lists: one per protocol class and state (new, established, closed).
const LISTS: usize = 12;
/// End of a list.
const NIL: u32 = u32::MAX;

/// One slot of the table: a flow and its links in the list of flows that share its timeout.
struct Slot {
    key: FlowKey,
    flow: Flow,
    prev: u32,
    next: u32,
    list: u8,
}

/// A doubly-linked list of slots, least recently active first.
#[derive(Clone, Copy)]
struct List {
    head: u32,
    tail: u32,
}

impl Default for List {
    fn default() -> Self {
        List {
            head: NIL,
            tail: NIL,
        }
    }
}

/// A worker's flow table.
///
/// Flows live in a slab and are linked into one of twelve lists, one per protocol class and
/// state: all flows of a list share one idle timeout, and each packet moves its flow to the
/// tail of its list, so every list is ordered by idle deadline. Expiry pops list heads, and a
/// full table evicts the head whose deadline comes first (a SYN flood displaces half-open
/// flows, not established sessions). Lookup, expiry and eviction cost O(1) amortised per
/// packet, whatever the table holds.
pub struct FlowTable {
    cfg: FlowConfig,
    /// Over 95% full: the emergency timeouts apply until the table is below 70%.
    emergency: bool,
    /// Keyed with a seeded, DoS-resistant but fast hasher (foldhash): keys come from traffic.
    map: HashMap<FlowKey, u32, foldhash::fast::RandomState>,
    slots: Vec<Option<Slot>>,
    free: Vec<u32>,
    lists: [List; LISTS],
    next_id: u64,
    salt: u64,
    next_sweep: Micros,
    /// Counters.
    pub stats: FlowStats,
}

/// Mixes a counter into a well-spread 51-bit id (JSON-safe, like Suricata's).
fn flow_id(salt: u64, n: u64) -> u64 {
    let mut z = salt.wrapping_add(n.wrapping_mul(0x9E37_79B9_7F4A_7C15));
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^= z >> 31;
    (z & ((1 << 51) - 1)).max(1)
}

/// How often (packet time) idle flows are looked for.
const SWEEP_INTERVAL: Micros = 1_000_000;

impl Flow {
    /// The timeout list of the flow in its current state: class * 3 + (new, established,
    /// closed).
    fn list(&self) -> u8 {
        let closed = self.proto == 6
            && (self.tcp == TcpState::Closed || (self.tcp == TcpState::Closing && self.fins == 3));
        let state = if closed {
            2
        } else if self.established() || self.session_established() {
            1
        } else {
            0
        };
        ProtoClass::of(self.proto) as u8 * 3 + state
    }

    /// When the flow times out, in microseconds.
    fn deadline(&self, cfg: &FlowConfig, emergency: bool) -> Micros {
        self.last
            .saturating_add(i64::from(self.timeout_secs(cfg, emergency)) * 1_000_000)
    }
}

impl FlowTable {
    /// A table for worker `worker` (the index keeps flow ids distinct between workers).
    pub fn new(cfg: FlowConfig, worker: usize) -> FlowTable {
        let cap = cfg.capacity.clamp(1, 1 << 24);
        FlowTable {
            map: HashMap::with_capacity_and_hasher(cap.min(4096), Default::default()),
            slots: Vec::with_capacity(cap.min(4096)),
            free: Vec::new(),
            lists: [List::default(); LISTS],
            emergency: false,
            cfg: FlowConfig {
                capacity: cap,
                ..cfg
            },
            next_id: 0,
            salt: (worker as u64 + 1).wrapping_mul(0xA076_1D64_78BD_642F),
            next_sweep: Micros::MIN,
            stats: FlowStats::default(),
        }
    }

    /// Number of flows tracked.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// Whether the table is empty.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    fn slot(&self, i: u32) -> &Slot {
        self.slots[i as usize]
            .as_ref()
            .expect("linked slot is live")
    }

    fn slot_mut(&mut self, i: u32) -> &mut Slot {
        self.slots[i as usize]
            .as_mut()
            .expect("linked slot is live")
    }

    fn unlink(&mut self, i: u32) {
        let (prev, next, list) = {
            let s = self.slot(i);
            (s.prev, s.next, s.list as usize)
        };
        match prev {
            NIL => self.lists[list].head = next,
            p => self.slot_mut(p).next = next,
        }
        match next {
            NIL => self.lists[list].tail = prev,
            n => self.slot_mut(n).prev = prev,
        }
    }

    fn push_back(&mut self, i: u32, list: u8) {
        let tail = self.lists[list as usize].tail;
        {
            let s = self.slot_mut(i);
            s.prev = tail;
            s.next = NIL;
            s.list = list;
        }
        match tail {
            NIL => self.lists[list as usize].head = i,
            t => self.slot_mut(t).next = i,
        }
        self.lists[list as usize].tail = i;
    }

    /// Moves flow `i` to the tail of the list its state belongs to (it was just active).
    fn touch(&mut self, i: u32) {
        self.unlink(i);
        let list = self.slot(i).flow.list();
        self.push_back(i, list);
    }

    /// Removes flow `i` from the table and hands it to `ended`.
    fn end(&mut self, i: u32, why: EndReason, ended: &mut impl FnMut(&mut Flow, EndReason)) {
        self.unlink(i);
        let mut slot = self.slots[i as usize].take().expect("linked slot is live");
        self.map.remove(&slot.key);
        self.free.push(i);
        ended(&mut slot.flow, why);
    }

    /// Finds or creates the flow of `p` at time `now`, updates its counters and state.
    /// Expired flows are handed to `ended` before the lookup. A TCP segment whose checksum
    /// failed validation is counted but does not move the session state. Tunnel carriers
    /// without a transport layer (GRE, IP-in-IP, IPv6-in-IP) get no flow, as in Suricata:
    /// flows belong to the packets they carry, and each carrier packet is inspected flowless
    /// (so header-only rules see every one).
    pub fn track(
        &mut self,
        p: &Packet<'_>,
        now: Micros,
        tcp_valid: bool,
        ended: &mut impl FnMut(&mut Flow, EndReason),
    ) -> Lookup<'_> {
        if now >= self.next_sweep {
            self.sweep(now, ended);
            self.next_sweep = now.saturating_add(SWEEP_INTERVAL);
        }
        if matches!(p.proto, 4 | 41 | 47) && !p.fragment {
            return Lookup {
                flow: None,
                to_server: true,
                refused: None,
                events: 0,
            };
        }
        if let Some(i) = icmp_error_key(p).and_then(|k| self.map.get(&k).copied()) {
            // An ICMP error about a packet of a known flow (unreachable, time exceeded...)
            // belongs to that flow, as in Suricata: counted there, no flow of its own.
            let flow = &mut self.slot_mut(i).flow;
            flow.last = flow.last.max(now);
            if flow.client.0 == p.src {
                flow.pkts_toserver += 1;
                flow.bytes_toserver += p.frame_len as u64;
            } else {
                flow.pkts_toclient += 1;
                flow.bytes_toclient += p.frame_len as u64;
            }
            return Lookup {
                flow: None,
                to_server: true,
                refused: None,
                events: 0,
            };
        }
        let key = FlowKey::of(p);
        let idx = match self.map.get(&key) {
            Some(&i) => i,
            None => {
                if self.map.len() >= self.cfg.capacity && !self.make_room(now, ended) {
                    self.stats.no_room += 1;
                    return Lookup {
                        flow: None,
                        to_server: true,
                        refused: None,
                        events: 0,
                    };
                }
                let flow = self.new_flow(p, now);
                let list = flow.list();
                let slot = Slot {
                    key,
                    flow,
                    prev: NIL,
                    next: NIL,
                    list,
                };
                let i = match self.free.pop() {
                    Some(i) => {
                        self.slots[i as usize] = Some(slot);
                        i
                    }
                    None => {
                        self.slots.push(Some(slot));
                        (self.slots.len() - 1) as u32
                    }
                };
                self.map.insert(key, i);
                self.push_back(i, list);
                if !self.emergency && self.map.len() * 100 >= self.cfg.capacity * 95 {
                    self.enter_emergency();
                }
                i
            }
        };
        let (to_server, refused, events) = self.update(idx, p, now, tcp_valid);
        self.touch(idx);
        Lookup {
            flow: Some(&mut self.slot_mut(idx).flow),
            to_server,
            refused,
            events,
        }
    }

    /// Counts the packet on flow `i` and moves its TCP session: returns the direction and
    /// whether validation refused the segment.
    fn update(
        &mut self,
        i: u32,
        p: &Packet<'_>,
        now: Micros,
        tcp_valid: bool,
    ) -> (bool, Option<tcp::Refusal>, u32) {
        let midstream = self.cfg.midstream;
        let cfg = &self.cfg;
        let flow = &mut self.slots[i as usize]
            .as_mut()
            .expect("looked-up slot is live")
            .flow;
        let sport = if p.has_ports() { p.sport } else { 0 };
        let to_server = flow.client == (p.src, sport);
        flow.last = flow.last.max(now);
        if to_server {
            flow.pkts_toserver += 1;
            flow.bytes_toserver += p.frame_len as u64;
        } else {
            flow.pkts_toclient += 1;
            flow.bytes_toclient += p.frame_len as u64;
        }
        let (Some(tcp), true) = (p.tcp, tcp_valid) else {
            return (to_server, None, 0);
        };
        flow.pkt_established = flow.session_established();
        let phase = match flow.tcp {
            TcpState::SynSent => tcp::Phase::SynSent,
            TcpState::SynRecv | TcpState::Established | TcpState::Closing => {
                tcp::Phase::Synchronized
            }
            TcpState::None | TcpState::Closed => tcp::Phase::Other,
        };
        let receiver_policy = flow
            .streams
            .as_deref()
            .and_then(|s| s[usize::from(!to_server)].policy)
            .unwrap_or(cfg.stream.policy);
        let limits = tcp::Limits {
            linux_receiver: receiver_policy == stream::OverlapPolicy::Linux,
            strict_window: cfg.strict_window,
        };
        let dir = usize::from(!to_server);
        let secs = now.div_euclid(1_000_000);
        if let Err(why) = flow
            .tcp_track
            .check(phase, &tcp, p.payload.len(), dir, secs, limits)
        {
            self.stats.tcp_refused[why as usize] += 1;
            return (to_server, Some(why), 0);
        }
        let events = flow.update_tcp(&tcp, to_server, midstream);
        if flow.tcp == TcpState::Established && flow.streams.is_none() {
            // Picked up mid-stream: reassembly starts with the next data.
            flow.streams = Some(Default::default());
        }
        if let Some(st) = flow.streams.as_deref_mut() {
            if st[0].policy.is_none() {
                // Each direction is resolved the way its receiver resolves overlaps.
                let d = cfg.stream.policy;
                st[0].policy = Some(cfg.hosts.for_host(flow.server.0, d));
                st[1].policy = Some(cfg.hosts.for_host(flow.client.0, d));
            }
        }
        (to_server, None, events)
    }

    fn new_flow(&mut self, p: &Packet<'_>, now: Micros) -> Flow {
        self.next_id += 1;
        self.stats.created += 1;
        let (sp, dp) = if p.has_ports() {
            (p.sport, p.dport)
        } else {
            (0, 0)
        };
        let mut client = (p.src, sp);
        let mut server = (p.dst, dp);
        let mut tcp = TcpState::None;
        if let Some(t) = p.tcp {
            let syn = t.flags & tcp_flags::SYN != 0;
            let ack = t.flags & tcp_flags::ACK != 0;
            if syn && ack {
                // First packet is the SYN/ACK: the receiver opened the connection. Without
                // midstream pickup the session is not tracked (as Suricata).
                std::mem::swap(&mut client, &mut server);
                if self.cfg.midstream {
                    tcp = TcpState::SynRecv;
                }
            } else if syn {
                tcp = TcpState::SynSent;
            }
        }
        Flow {
            id: flow_id(self.salt, self.next_id),
            client,
            server,
            proto: p.proto,
            start: now,
            last: now,
            pkts_toserver: 0,
            pkts_toclient: 0,
            bytes_toserver: 0,
            bytes_toclient: 0,
            tcp,
            alerted: false,
            evidence: 0,
            passed: false,
            dropped: false,
            bits: Default::default(),
            streams: None,
            app: crate::applayer::AppLayer::new([client.1, server.1]),
            handshake: Handshake::default(),
            fins: 0,
            rsts: 0,
            pkt_established: false,
            tcp_track: Default::default(),
            tag: None,
            intel: (0, 0),
        }
    }

    fn enter_emergency(&mut self) {
        self.emergency = true;
        self.stats.emergencies += 1;
        tracing::warn!(
            "flow table {} of {} full: emergency mode, emergency timeouts apply",
            self.map.len(),
            self.cfg.capacity
        );
    }

    /// Ends every flow idle past its timeout: pops expired heads of each list (a list is
    /// ordered by deadline), so the cost is one check per list plus one per flow ended.
    fn sweep(&mut self, now: Micros, ended: &mut impl FnMut(&mut Flow, EndReason)) {
        let len = self.map.len();
        if !self.emergency && len * 100 >= self.cfg.capacity * 95 {
            self.enter_emergency();
        } else if self.emergency && len * 100 < self.cfg.capacity * 70 {
            self.emergency = false;
        }
        for list in 0..LISTS {
            loop {
                let head = self.lists[list].head;
                if head == NIL || self.slot(head).flow.deadline(&self.cfg, self.emergency) > now {
                    break;
                }
                self.stats.timed_out += 1;
                self.end(head, EndReason::Timeout, ended);
            }
        }
    }

    /// Frees one slot: expired flows go first; otherwise the flow whose deadline comes
    /// first (a list head). Returns false if nothing could go.
    fn make_room(&mut self, now: Micros, ended: &mut impl FnMut(&mut Flow, EndReason)) -> bool {
        self.sweep(now, ended);
        if self.map.len() < self.cfg.capacity {
            return true;
        }
        let victim = self
            .lists
            .iter()
            .filter(|l| l.head != NIL)
            .map(|l| l.head)
            .min_by_key(|&h| self.slot(h).flow.deadline(&self.cfg, self.emergency));
        let Some(victim) = victim else {
            return false;
        };
        self.stats.evicted += 1;
        self.end(victim, EndReason::Evicted, ended);
        true
    }

    /// Ends flows idle past their timeout at wall-clock time `now` when a sweep is due (live
    /// capture calls this while no packets arrive).
    pub fn expire(&mut self, now: Micros, ended: &mut impl FnMut(&mut Flow, EndReason)) {
        if now >= self.next_sweep {
            self.sweep(now, ended);
            self.next_sweep = now.saturating_add(SWEEP_INTERVAL);
        }
    }

    /// Visits every flow.
    pub fn for_each(&mut self, f: &mut impl FnMut(&mut Flow)) {
        for slot in self.slots.iter_mut().flatten() {
            f(&mut slot.flow);
        }
    }

    /// Ends every flow (end of input).
    pub fn drain(&mut self, ended: &mut impl FnMut(&mut Flow, EndReason)) {
        for mut slot in self.slots.drain(..).flatten() {
            self.stats.at_shutdown += 1;
            ended(&mut slot.flow, EndReason::Shutdown);
        }
        self.map.clear();
        self.free.clear();
        self.lists = [List::default(); LISTS];
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decode::{decode, LinkType};
    use etherparse::PacketBuilder;

    fn tcp(src: [u8; 4], dst: [u8; 4], sp: u16, dp: u16, flags: &str) -> Vec<u8> {
        let mut b = PacketBuilder::ipv4(src, dst, 64).tcp(sp, dp, 1, 1000);
        for f in flags.chars() {
            b = match f {
                'S' => b.syn(),
                'A' => b.ack(2),
                'F' => b.fin(),
                'R' => b.rst(),
                _ => b,
            };
        }
        let mut out = Vec::new();
        b.write(&mut out, b"").unwrap();
        out
    }

    fn nop(_: &mut Flow, _: EndReason) {}

    /// Plays the three-way handshake of client port `port` to server port 80.
    fn handshake(
        t: &mut FlowTable,
        c: [u8; 4],
        s: [u8; 4],
        port: u16,
        ended: &mut impl FnMut(&mut Flow, EndReason),
    ) {
        let steps = [
            (c, s, port, 80, "S"),
            (s, c, 80, port, "SA"),
            (c, s, port, 80, "A"),
        ];
        for (i, (src, dst, sp, dp, fl)) in steps.into_iter().enumerate() {
            let f = tcp(src, dst, sp, dp, fl);
            t.track(&decode(LinkType::Raw, &f).unwrap(), i as i64, true, ended);
        }
    }

    #[test]
    fn handshake_direction_and_established() {
        let mut t = FlowTable::new(FlowConfig::default(), 0);
        let (c, s) = ([10, 0, 0, 1], [10, 0, 0, 2]);
        let steps = [
            (tcp(c, s, 4000, 80, "S"), true, false),
            (tcp(s, c, 80, 4000, "SA"), false, false),
            (tcp(c, s, 4000, 80, "A"), true, true),
            (tcp(s, c, 80, 4000, "A"), false, true),
            (tcp(c, s, 4000, 80, "FA"), true, false),
            (tcp(s, c, 80, 4000, "R"), false, false),
        ];
        let mut id = None;
        for (i, (frame, to_server, est)) in steps.iter().enumerate() {
            let p = decode(LinkType::Raw, frame).unwrap();
            let l = t.track(&p, i as i64, true, &mut nop);
            assert_eq!(l.to_server, *to_server, "step {i}");
            let f = l.flow.unwrap();
            assert_eq!(f.established(), *est, "step {i}");
            assert_eq!(*id.get_or_insert(f.id), f.id);
        }
        assert_eq!(t.len(), 1);
        assert_eq!(t.stats.created, 1);
    }

    #[test]
    fn synack_first_makes_receiver_the_client() {
        let mut t = FlowTable::new(FlowConfig::default(), 0);
        let p = tcp([10, 0, 0, 2], [10, 0, 0, 1], 80, 4000, "SA");
        let p = decode(LinkType::Raw, &p).unwrap();
        let l = t.track(&p, 0, true, &mut nop);
        assert!(!l.to_server);
        assert_eq!(l.flow.unwrap().client.1, 4000);
    }

    #[test]
    fn midstream_pickup_is_optional() {
        let frame = tcp([10, 0, 0, 1], [10, 0, 0, 2], 4000, 80, "A");
        let p = decode(LinkType::Raw, &frame).unwrap();
        let mut off = FlowTable::new(FlowConfig::default(), 0);
        assert!(!off.track(&p, 0, true, &mut nop).flow.unwrap().established());
        let mut on = FlowTable::new(
            FlowConfig {
                midstream: true,
                ..FlowConfig::default()
            },
            0,
        );
        assert!(on.track(&p, 0, true, &mut nop).flow.unwrap().established());
    }

    #[test]
    fn timeout_and_capacity() {
        let cfg = FlowConfig {
            capacity: 2,
            ..FlowConfig::default()
        };
        let mut t = FlowTable::new(cfg, 0);
        let mut ended = Vec::new();
        let mut record = |f: &mut Flow, r: EndReason| ended.push((f.client.1, r));
        for (i, port) in [1000u16, 1001, 1002].iter().enumerate() {
            let frame = tcp([10, 0, 0, 1], [10, 0, 0, 2], *port, 80, "S");
            let p = decode(LinkType::Raw, &frame).unwrap();
            assert!(t.track(&p, i as i64, true, &mut record).flow.is_some());
        }
        assert_eq!(t.len(), 2);
        assert_eq!(t.stats.evicted, 1);
        // 61 s later the two remaining unestablished flows have timed out (TCP new: 60 s).
        let frame = tcp([10, 0, 0, 9], [10, 0, 0, 2], 5, 80, "S");
        let p = decode(LinkType::Raw, &frame).unwrap();
        t.track(&p, 61_000_000 + 10, true, &mut record);
        assert_eq!(t.stats.timed_out, 2);
        t.drain(&mut record);
        assert_eq!(ended.len(), 4);
        assert_eq!(ended[0], (1000, EndReason::Evicted));
    }

    #[test]
    fn emergency_mode_cuts_timeouts() {
        let cfg = FlowConfig {
            capacity: 20,
            ..FlowConfig::default()
        };
        let mut t = FlowTable::new(cfg, 0);
        for port in 0..19u16 {
            let frame = tcp([10, 0, 0, 1], [10, 0, 0, 2], 1000 + port, 80, "S");
            t.track(&decode(LinkType::Raw, &frame).unwrap(), 0, true, &mut nop);
        }
        // 6 s later: normally nothing times out (60 s), in emergency mode (5 s) all do.
        let frame = tcp([10, 0, 0, 9], [10, 0, 0, 2], 5, 80, "S");
        t.track(
            &decode(LinkType::Raw, &frame).unwrap(),
            6_000_000,
            true,
            &mut nop,
        );
        assert_eq!(t.stats.emergencies, 1);
        assert_eq!(t.stats.timed_out, 19);
    }

    #[test]
    fn timeouts_follow_protocol_and_state() {
        let mut timeouts = Timeouts::DEFAULTS;
        timeouts[ProtoClass::Tcp as usize].established = 100;
        timeouts[ProtoClass::Tcp as usize].closed = 20;
        timeouts[ProtoClass::Udp as usize].new = 50;
        let mut t = FlowTable::new(
            FlowConfig {
                timeouts,
                ..FlowConfig::default()
            },
            0,
        );
        let (c, s) = ([10, 0, 0, 1], [10, 0, 0, 2]);
        let ended = std::cell::RefCell::new(Vec::new());
        let mut record = |f: &mut Flow, _: EndReason| ended.borrow_mut().push(f.client.1);
        // Port 1: established. Port 2: established then reset. Port 3: UDP, one way.
        for port in [1u16, 2] {
            handshake(&mut t, c, s, port, &mut record);
        }
        let rst = tcp(c, s, 2, 80, "RA");
        t.track(&decode(LinkType::Raw, &rst).unwrap(), 10, true, &mut record);
        let mut udp = Vec::new();
        PacketBuilder::ipv4(c, s, 9)
            .udp(3, 53)
            .write(&mut udp, b"x")
            .unwrap();
        t.track(&decode(LinkType::Raw, &udp).unwrap(), 10, true, &mut record);
        let tick = |t: &mut FlowTable, secs: i64, record: &mut dyn FnMut(&mut Flow, EndReason)| {
            let f = tcp([10, 0, 0, 9], s, 9, 80, "A");
            t.track(
                &decode(LinkType::Raw, &f).unwrap(),
                secs * 1_000_000,
                true,
                &mut |f, r| record(f, r),
            );
        };
        tick(&mut t, 21, &mut record);
        assert_eq!(*ended.borrow(), vec![2], "closed: 20 s");
        tick(&mut t, 51, &mut record);
        assert_eq!(*ended.borrow(), vec![2, 3], "udp new: 50 s");
        tick(&mut t, 101, &mut record);
        assert_eq!(*ended.borrow(), vec![2, 3, 1], "tcp established: 100 s");
    }

    #[test]
    fn udp_established_after_reply() {
        let mut t = FlowTable::new(FlowConfig::default(), 0);
        let mk = |s: [u8; 4], d: [u8; 4], sp, dp| {
            let mut out = Vec::new();
            PacketBuilder::ipv4(s, d, 9)
                .udp(sp, dp)
                .write(&mut out, b"x")
                .unwrap();
            out
        };
        let q = mk([10, 0, 0, 1], [8, 8, 8, 8], 5555, 53);
        let r = mk([8, 8, 8, 8], [10, 0, 0, 1], 53, 5555);
        let q = decode(LinkType::Raw, &q).unwrap();
        let r = decode(LinkType::Raw, &r).unwrap();
        assert!(!t.track(&q, 0, true, &mut nop).flow.unwrap().established());
        let l = t.track(&r, 1, true, &mut nop);
        assert!(!l.to_server);
        assert!(l.flow.unwrap().established());
    }

    #[test]
    fn a_full_table_evicts_half_open_flows_before_established_sessions() {
        let mut t = FlowTable::new(
            FlowConfig {
                capacity: 100,
                ..FlowConfig::default()
            },
            0,
        );
        let s = [10, 0, 0, 2];
        handshake(&mut t, [10, 0, 0, 1], s, 4000, &mut nop);
        // A flood of SYNs from other hosts, all newer than the session's last packet.
        let mut evicted_session = false;
        for i in 0..5_000u32 {
            let src = [172, 16, (i >> 8) as u8, i as u8];
            let f = tcp(src, s, 1024, 80, "S");
            t.track(
                &decode(LinkType::Raw, &f).unwrap(),
                1_000 + i64::from(i),
                true,
                &mut |f: &mut Flow, _| evicted_session |= f.client.1 == 4000,
            );
        }
        assert_eq!(t.stats.evicted, 5_000 - 99);
        assert!(
            !evicted_session,
            "the established session survives the flood"
        );
        assert_eq!(t.len(), 100);
    }

    #[test]
    fn a_flood_far_past_capacity_costs_constant_work_per_flow() {
        // Before the timeout lists, every new flow in a full table scanned the whole table:
        // this flood took minutes. Now each eviction is one list head.
        let mut t = FlowTable::new(
            FlowConfig {
                capacity: 20_000,
                ..FlowConfig::default()
            },
            0,
        );
        let mut ended = 0u64;
        for i in 0..200_000u32 {
            let src = [10, (i >> 16) as u8, (i >> 8) as u8, i as u8];
            let f = tcp(src, [192, 0, 2, 1], 1024, 80, "S");
            let l = t.track(
                &decode(LinkType::Raw, &f).unwrap(),
                i64::from(i) * 2,
                true,
                &mut |_: &mut Flow, _| ended += 1,
            );
            assert!(l.flow.is_some());
        }
        assert_eq!(t.len(), 20_000);
        assert_eq!(ended, 180_000);
        assert_eq!(t.stats.evicted + t.stats.timed_out, 180_000);
        assert_eq!(t.stats.no_room, 0);
    }

    #[test]
    fn expiry_follows_each_list_and_slots_are_reused() {
        let mut t = FlowTable::new(FlowConfig::default(), 0);
        for round in 0..3i64 {
            for port in 0..1000u16 {
                let f = tcp([10, 0, 0, 1], [10, 0, 0, 2], 1000 + port, 80, "S");
                t.track(
                    &decode(LinkType::Raw, &f).unwrap(),
                    round * 100_000_000,
                    true,
                    &mut nop,
                );
            }
            assert_eq!(t.len(), 1000);
        }
        // Each round's flows timed out (60 s) before the next round reused their slots.
        assert_eq!(t.stats.timed_out, 2000);
        assert_eq!(t.slots.len(), 1000);
    }

    #[test]
    fn ids_differ_between_workers() {
        assert_ne!(
            flow_id(FlowTable::new(FlowConfig::default(), 0).salt, 1),
            flow_id(FlowTable::new(FlowConfig::default(), 1).salt, 1)
        );
    }
}
