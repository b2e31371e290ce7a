//! Packet decoding: link layer to transport, into a borrowed [`Packet`] view.
//!
//! Link headers that etherparse does not know (Linux SLL/SLL2, BSD null/loopback) are stripped
//! here; etherparse's lax slicer then decodes VLAN/QinQ, IPv4, IPv6 with extension headers,
//! TCP, UDP and ICMP. Decoding never panics and never allocates: a packet that cannot be
//! inspected comes back as a [`DecodeError`] reason, which the caller counts.

pub mod checksum;
pub mod defrag;

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use etherparse::err::packet::SliceError;
use etherparse::{EtherType, LaxNetSlice, LaxSlicedPacket, TransportSlice};

/// Link types sekimori reads (pcap LINKTYPE_* / DLT_* values).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LinkType {
    /// Ethernet II (1).
    Ethernet,
    /// Linux cooked capture v1 (113).
    LinuxSll,
    /// Linux cooked capture v2 (276).
    LinuxSll2,
    /// Raw IPv4/IPv6 (12, 14, 101) and the per-family raw types (228, 229).
    Raw,
    /// BSD null/loopback: 4-byte address family in host byte order (0).
    Null,
    /// OpenBSD loopback: 4-byte address family in network byte order (108).
    Loop,
    /// IEEE 802.11 data frames with LLC/SNAP (105).
    Ieee80211,
    /// Radiotap header, then 802.11 (127).
    Radiotap,
    /// PPP, with or without HDLC address/control bytes (9, 50).
    Ppp,
    /// Cisco HDLC (104).
    CiscoHdlc,
    /// Frame Relay with RFC 2427 NLPID or SNAP encapsulation (107).
    FrameRelay,
    /// SLIP with libpcap's 16-byte pseudo-header (8).
    Slip,
    /// Linux NFLOG (239): TLVs, the payload TLV holding the IP packet.
    Nflog,
}

impl LinkType {
    /// The pcap link type number written for frames of this type (`LINKTYPE_RAW` for raw IP).
    pub fn dlt(self) -> u16 {
        match self {
            LinkType::Ethernet => 1,
            LinkType::LinuxSll => 113,
            LinkType::LinuxSll2 => 276,
            LinkType::Raw => 101,
            LinkType::Null => 0,
            LinkType::Loop => 108,
            LinkType::Ieee80211 => 105,
            LinkType::Radiotap => 127,
            LinkType::Ppp => 9,
            LinkType::CiscoHdlc => 104,
            LinkType::FrameRelay => 107,
            LinkType::Slip => 8,
            LinkType::Nflog => 239,
        }
    }

    /// Maps a pcap link type number; `None` for link types sekimori cannot decode.
    pub fn from_pcap(dlt: i32) -> Option<LinkType> {
        Some(match dlt {
            1 => LinkType::Ethernet,
            113 => LinkType::LinuxSll,
            276 => LinkType::LinuxSll2,
            12 | 14 | 101 | 228 | 229 => LinkType::Raw,
            0 => LinkType::Null,
            108 => LinkType::Loop,
            105 => LinkType::Ieee80211,
            127 => LinkType::Radiotap,
            9 | 50 => LinkType::Ppp,
            104 => LinkType::CiscoHdlc,
            107 => LinkType::FrameRelay,
            8 => LinkType::Slip,
            239 => LinkType::Nflog,
            _ => return None,
        })
    }
}

/// Why a packet could not be inspected. Each reason is counted.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum DecodeError {
    /// Frame shorter than its link header.
    LinkTruncated,
    /// Link layer carries something other than IPv4/IPv6 (ARP, LLDP...).
    NotIp,
    /// IPv4 header missing, truncated or invalid.
    Ipv4Invalid,
    /// IPv6 header missing, truncated or invalid.
    Ipv6Invalid,
    /// IPv6 extension header (or IPv4 AH) invalid.
    IpExtInvalid,
    /// TCP header truncated or with a bad data offset.
    TcpInvalid,
    /// UDP header truncated.
    UdpInvalid,
    /// ICMP header truncated.
    IcmpInvalid,
    /// VLAN or other link extension truncated.
    VlanInvalid,
    /// The IPv4 header checksum is wrong (checksum validation on).
    Ipv4Checksum,
    /// The TCP/UDP/ICMP checksum is wrong (checksum validation on).
    L4Checksum,
    /// A link type sekimori cannot decode.
    UnsupportedLink,
    /// An NSH header with a bad version or length, or carrying an unknown protocol.
    NshInvalid,
}

impl DecodeError {
    /// Every reason, in counter order.
    pub const ALL: [DecodeError; 13] = [
        DecodeError::LinkTruncated,
        DecodeError::NotIp,
        DecodeError::Ipv4Invalid,
        DecodeError::Ipv6Invalid,
        DecodeError::IpExtInvalid,
        DecodeError::TcpInvalid,
        DecodeError::UdpInvalid,
        DecodeError::IcmpInvalid,
        DecodeError::VlanInvalid,
        DecodeError::Ipv4Checksum,
        DecodeError::L4Checksum,
        DecodeError::UnsupportedLink,
        DecodeError::NshInvalid,
    ];

    /// Name of the EVE anomaly event for this reason (None: not an anomaly, e.g. ARP).
    pub fn anomaly_event(self) -> Option<&'static str> {
        Some(match self {
            DecodeError::LinkTruncated => "decoder.link.pkt_too_small",
            DecodeError::NotIp | DecodeError::UnsupportedLink => return None,
            DecodeError::Ipv4Invalid => "decoder.ipv4.invalid",
            DecodeError::Ipv6Invalid => "decoder.ipv6.invalid",
            DecodeError::IpExtInvalid => "decoder.ip.ext_header_invalid",
            DecodeError::TcpInvalid => "decoder.tcp.invalid",
            DecodeError::UdpInvalid => "decoder.udp.invalid",
            DecodeError::IcmpInvalid => "decoder.icmp.invalid",
            DecodeError::VlanInvalid => "decoder.vlan.invalid",
            DecodeError::Ipv4Checksum => "decoder.ipv4.checksum",
            DecodeError::L4Checksum => "decoder.l4.checksum",
            DecodeError::NshInvalid => "decoder.nsh.bad_header_length",
        })
    }

    /// Stable snake_case name for stats output.
    pub fn name(self) -> &'static str {
        match self {
            DecodeError::LinkTruncated => "link_truncated",
            DecodeError::NotIp => "not_ip",
            DecodeError::Ipv4Invalid => "ipv4_invalid",
            DecodeError::Ipv6Invalid => "ipv6_invalid",
            DecodeError::IpExtInvalid => "ip_ext_invalid",
            DecodeError::TcpInvalid => "tcp_invalid",
            DecodeError::UdpInvalid => "udp_invalid",
            DecodeError::IcmpInvalid => "icmp_invalid",
            DecodeError::VlanInvalid => "vlan_invalid",
            DecodeError::Ipv4Checksum => "ipv4_checksum",
            DecodeError::L4Checksum => "l4_checksum",
            DecodeError::UnsupportedLink => "unsupported_link",
            DecodeError::NshInvalid => "nsh_invalid",
        }
    }
}

/// TCP flag bits as in the header.
pub mod tcp_flags {
    /// FIN.
    pub const FIN: u8 = 0x01;
    /// SYN.
    pub const SYN: u8 = 0x02;
    /// RST.
    pub const RST: u8 = 0x04;
    /// PSH.
    pub const PSH: u8 = 0x08;
    /// ACK.
    pub const ACK: u8 = 0x10;
    /// URG.
    pub const URG: u8 = 0x20;
}

/// Decoder events a packet can carry (bits of [`Packet::events`]), matchable with the
/// `decode-event` keyword under Suricata's names.
pub mod event {
    /// SCTP datagram shorter than the SCTP common header (`sctp.pkt_too_small`).
    pub const SCTP_PKT_TOO_SMALL: u32 = 1;
    /// IPv6 carrying "IPv6" whose version is not 6 (`ipv6.ipv6_in_ipv6_wrong_version`).
    pub const IPV6_IN_IPV6_WRONG_VERSION: u32 = 1 << 1;
    /// IPv6 carrying "IPv4" whose version is not 4 (`ipv6.ipv4_in_ipv6_wrong_version`).
    pub const IPV4_IN_IPV6_WRONG_VERSION: u32 = 1 << 2;
    /// IPv6 carrying an IPv6 packet shorter than its header (`ipv6.ipv6_in_ipv6_too_small`).
    pub const IPV6_IN_IPV6_TOO_SMALL: u32 = 1 << 3;
    /// IPv6 carrying an IPv4 packet shorter than its header (`ipv6.ipv4_in_ipv6_too_small`).
    pub const IPV4_IN_IPV6_TOO_SMALL: u32 = 1 << 4;
    /// IPv6 routing header type 0, deprecated by RFC 5095 (`ipv6.rh_type_0`).
    pub const IPV6_RH_TYPE_0: u32 = 1 << 5;
    /// Captured bytes end before the IP length says (`ipv4.trunc_pkt` / `ipv6.trunc_pkt`).
    pub const TRUNC_PKT: u32 = 1 << 6;
    /// An IPv4 option whose length is under 2 or runs past the header (`ipv4.opt_malformed`).
    pub const IPV4_OPT_MALFORMED: u32 = 1 << 7;
    /// An IPv4 option of an unassigned type (`ipv4.opt_unknown`).
    pub const IPV4_OPT_UNKNOWN: u32 = 1 << 8;
    /// The same IPv4 option twice (`ipv4.opt_duplicate`).
    pub const IPV4_OPT_DUPLICATE: u32 = 1 << 9;
    /// A fixed-size IPv4 option of another size (`ipv4.opt_invalid_len`).
    pub const IPV4_OPT_INVALID_LEN: u32 = 1 << 10;
    /// A TCP option of an impossible length (`tcp.opt_invalid_len`).
    pub const TCP_OPT_INVALID_LEN: u32 = 1 << 11;
    /// The same TCP option twice (`tcp.opt_duplicate`).
    pub const TCP_OPT_DUPLICATE: u32 = 1 << 12;
    /// An ICMPv4 type not in use (`icmpv4.unknown_type`).
    pub const ICMPV4_UNKNOWN_TYPE: u32 = 1 << 13;
    /// An ICMPv4 code its type does not define (`icmpv4.unknown_code`).
    pub const ICMPV4_UNKNOWN_CODE: u32 = 1 << 14;
    /// An ICMPv6 type not in use (`icmpv6.unknown_type`).
    pub const ICMPV6_UNKNOWN_TYPE: u32 = 1 << 15;
    /// An ICMPv6 code its type does not define (`icmpv6.unknown_code`).
    pub const ICMPV6_UNKNOWN_CODE: u32 = 1 << 16;

    const NAMES: [(&str, u32); 18] = [
        ("decoder.sctp.pkt_too_small", SCTP_PKT_TOO_SMALL),
        (
            "decoder.ipv6.ipv6_in_ipv6_wrong_version",
            IPV6_IN_IPV6_WRONG_VERSION,
        ),
        (
            "decoder.ipv6.ipv4_in_ipv6_wrong_version",
            IPV4_IN_IPV6_WRONG_VERSION,
        ),
        (
            "decoder.ipv6.ipv6_in_ipv6_too_small",
            IPV6_IN_IPV6_TOO_SMALL,
        ),
        (
            "decoder.ipv6.ipv4_in_ipv6_too_small",
            IPV4_IN_IPV6_TOO_SMALL,
        ),
        ("decoder.ipv6.rh_type_0", IPV6_RH_TYPE_0),
        ("decoder.ipv4.trunc_pkt", TRUNC_PKT),
        ("decoder.ipv6.trunc_pkt", TRUNC_PKT),
        ("decoder.ipv4.opt_malformed", IPV4_OPT_MALFORMED),
        ("decoder.ipv4.opt_unknown", IPV4_OPT_UNKNOWN),
        ("decoder.ipv4.opt_duplicate", IPV4_OPT_DUPLICATE),
        ("decoder.ipv4.opt_invalid_len", IPV4_OPT_INVALID_LEN),
        ("decoder.tcp.opt_invalid_len", TCP_OPT_INVALID_LEN),
        ("decoder.tcp.opt_duplicate", TCP_OPT_DUPLICATE),
        ("decoder.icmpv4.unknown_type", ICMPV4_UNKNOWN_TYPE),
        ("decoder.icmpv4.unknown_code", ICMPV4_UNKNOWN_CODE),
        ("decoder.icmpv6.unknown_type", ICMPV6_UNKNOWN_TYPE),
        ("decoder.icmpv6.unknown_code", ICMPV6_UNKNOWN_CODE),
    ];

    /// The EVE anomaly names (`decoder.` + the keyword name) of the events in `bits` (a packet of IP version `ip_version`).
    pub fn names(bits: u32, ip_version: u8) -> impl Iterator<Item = &'static str> {
        NAMES
            .iter()
            .filter(move |(n, b)| {
                bits & b != 0
                    && (*b != TRUNC_PKT
                        || n.starts_with(if ip_version == 4 {
                            "decoder.ipv4"
                        } else {
                            "decoder.ipv6"
                        }))
            })
            .map(|(n, _)| *n)
    }

    /// The bit of a `decode-event` name (with or without the `decoder.` prefix), if sekimori
    /// raises that event.
    pub fn by_name(name: &str) -> Option<u32> {
        let name = name.strip_prefix("decoder.").unwrap_or(name);
        NAMES
            .iter()
            .find(|(n, _)| n.strip_prefix("decoder.") == Some(name))
            .map(|&(_, b)| b)
    }
}

/// TCP header fields the engine uses.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TcpInfo {
    /// Flag byte (see [`tcp_flags`]).
    pub flags: u8,
    /// Sequence number.
    pub seq: u32,
    /// Acknowledgement number.
    pub ack: u32,
    /// Window.
    pub window: u16,
    /// Timestamp option: (TSval, TSecr).
    pub ts: Option<(u32, u32)>,
    /// Window scale option (shift count, as sent).
    pub wscale: Option<u8>,
}

/// Walks a TLV option list (IPv4 and TCP share its layout: kind 0 ends the list, kind 1 is
/// one byte of padding, every other option carries a length byte that counts its two header
/// bytes). Yields each option's kind and body; an option whose length is under 2 or runs past
/// the list yields `Err` and ends the walk.
fn option_list(opts: &[u8]) -> impl Iterator<Item = Result<(u8, &[u8]), ()>> {
    let mut rest = opts;
    std::iter::from_fn(move || loop {
        let (&kind, tail) = rest.split_first()?;
        match kind {
            0 => return None,
            1 => rest = tail,
            _ => {
                let len = tail.first().map_or(0, |&l| usize::from(l));
                if len < 2 || len > rest.len() {
                    rest = &[];
                    return Some(Err(()));
                }
                let body = &rest[2..len];
                rest = &rest[len..];
                return Some(Ok((kind, body)));
            }
        }
    })
}

/// Decoder events of an IPv4 header's option bytes: malformed, unknown, duplicate and
/// wrongly sized options (RFC 791 and the IANA registry).
fn ipv4_option_events(opts: &[u8]) -> u32 {
    let (mut ev, mut seen) = (0, [false; 256]);
    for opt in option_list(opts) {
        let Ok((kind, body)) = opt else {
            return ev | event::IPV4_OPT_MALFORMED;
        };
        let len = body.len() + 2;
        let known = matches!(
            kind,
            7 | 25 | 68 | 82 | 130 | 131 | 133 | 134 | 136 | 137 | 148
        );
        if !known {
            ev |= event::IPV4_OPT_UNKNOWN;
        } else if seen[usize::from(kind)] {
            ev |= event::IPV4_OPT_DUPLICATE;
        }
        seen[usize::from(kind)] = true;
        let fixed = match kind {
            130 => Some(11),
            136 | 148 => Some(4),
            _ => None,
        };
        if fixed.is_some_and(|f| f != len) || (kind == 25 && len < 8) {
            ev |= event::IPV4_OPT_INVALID_LEN;
        }
    }
    ev
}

/// Decoder events of a TCP header's option bytes: options of impossible length and
/// options given twice.
fn tcp_option_events(opts: &[u8]) -> u32 {
    let (mut ev, mut seen) = (0, 0u64);
    for opt in option_list(opts) {
        let Ok((kind, body)) = opt else {
            return ev | event::TCP_OPT_INVALID_LEN;
        };
        let len = body.len() + 2;
        let ok = match kind {
            2 => len == 4,
            3 => len == 3,
            4 => len == 2,
            5 => (10..=34).contains(&len) && (len - 2) % 8 == 0,
            8 => len == 10,
            34 => len == 2 || (6..=18).contains(&len),
            _ => true,
        };
        if !ok {
            ev |= event::TCP_OPT_INVALID_LEN;
        }
        if matches!(kind, 2 | 3 | 4 | 8 | 34) {
            let bit = 1u64 << (kind % 64);
            if seen & bit != 0 {
                ev |= event::TCP_OPT_DUPLICATE;
            }
            seen |= bit;
        }
    }
    ev
}

/// Decoder events of an ICMP type and code: types not in use, codes the type does not
/// define.
fn icmp_events(v6: bool, t: u8, code: u8) -> u32 {
    let max_code = if v6 {
        match t {
            1 => Some(7),
            3 => Some(1),
            4 => Some(3),
            2 | 128..=137 | 141..=143 | 148..=153 => Some(0),
            138 => Some(255),
            139 | 140 => Some(2),
            144..=147 | 100 | 101 | 127 | 200 | 201 | 255 => Some(255),
            _ => None,
        }
    } else {
        match t {
            0 | 4 | 8 | 10 | 13..=18 => Some(0),
            3 => Some(15),
            5 => Some(3),
            9 => Some(16),
            11 => Some(1),
            12 => Some(2),
            _ => None,
        }
    };
    let (unknown_type, unknown_code) = if v6 {
        (event::ICMPV6_UNKNOWN_TYPE, event::ICMPV6_UNKNOWN_CODE)
    } else {
        (event::ICMPV4_UNKNOWN_TYPE, event::ICMPV4_UNKNOWN_CODE)
    };
    match max_code {
        None => unknown_type,
        Some(m) if code > m => unknown_code,
        Some(_) => 0,
    }
}

/// Reads the timestamp and window-scale options of a TCP header's option bytes. Malformed
/// option lists end the scan; what was read before stays.
pub fn tcp_options(opts: &[u8]) -> (Option<(u32, u32)>, Option<u8>) {
    let (mut ts, mut ws) = (None, None);
    for (kind, body) in option_list(opts).map_while(Result::ok) {
        match (kind, body.len()) {
            (8, 8) => {
                let v = u32::from_be_bytes([body[0], body[1], body[2], body[3]]);
                let e = u32::from_be_bytes([body[4], body[5], body[6], body[7]]);
                ts = Some((v, e));
            }
            (3, 1) => ws = Some(body[0]),
            _ => {}
        }
    }
    (ts, ws)
}

/// Where a fragment belongs in its datagram.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FragInfo {
    /// Identification (16 bits for IPv4, 32 for IPv6).
    pub id: u32,
    /// Byte offset of this fragment's data.
    pub offset: u32,
    /// More fragments follow.
    pub more: bool,
    /// Protocol of the reassembled payload.
    pub proto: u8,
}

/// A decoded packet: addresses, transport fields and the payload, borrowed from the frame.
#[derive(Clone, Debug)]
pub struct Packet<'a> {
    /// IP version (4 or 6).
    pub ip_version: u8,
    /// Source address.
    pub src: IpAddr,
    /// Destination address.
    pub dst: IpAddr,
    /// IP protocol number of the payload (after IPv6 extension headers).
    pub proto: u8,
    /// TTL / hop limit.
    pub ttl: u8,
    /// Source port (0 where the protocol has none).
    pub sport: u16,
    /// Destination port (0 where the protocol has none).
    pub dport: u16,
    /// TCP fields, for TCP packets.
    pub tcp: Option<TcpInfo>,
    /// ICMP type and code, for ICMP/ICMPv6.
    pub icmp: Option<(u8, u8)>,
    /// ICMP header bytes 5-8 (echo identifier and sequence).
    pub icmp_rest: [u8; 4],
    /// IPv4 identification (0 for IPv6).
    pub ip_id: u16,
    /// Up to two VLAN ids, outer first (0 = absent).
    pub vlan: [u16; 2],
    /// The IP datagram is a fragment (transport not decoded).
    pub fragment: bool,
    /// Fragment fields, for fragments.
    pub frag: Option<FragInfo>,
    /// Captured bytes end before the IP length says (snaplen or lying length).
    pub truncated: bool,
    /// Transport payload (IP payload for other protocols and fragments).
    pub payload: &'a [u8],
    /// Captured frame length including the link header (Suricata's flow byte counters count it).
    pub frame_len: usize,
    /// The IP header as captured (IPv4 with options; IPv6 base header), for checksum
    /// validation and defragmentation.
    pub ip_header: &'a [u8],
    /// The transport header and payload as captured (empty when not decoded).
    pub l4: &'a [u8],
    /// Decoder events ([`event`] bits).
    pub events: u32,
}

impl Packet<'_> {
    /// Whether the protocol carries ports (TCP, UDP, SCTP) and they were decoded.
    #[inline]
    pub fn has_ports(&self) -> bool {
        !self.fragment && matches!(self.proto, 6 | 17 | 132)
    }

    /// Checks the IPv4 header and transport checksums. Truncated packets and fragments are
    /// not judged (their checksum covers bytes that were not captured or not reassembled).
    pub fn verify_checksums(&self) -> Result<(), DecodeError> {
        if self.ip_version == 4
            && !self.ip_header.is_empty()
            && !checksum::ipv4_header_ok(self.ip_header)
        {
            return Err(DecodeError::Ipv4Checksum);
        }
        if self.truncated || self.fragment || self.l4.is_empty() {
            return Ok(());
        }
        if matches!(self.proto, 1 | 6 | 17 | 58)
            && !checksum::l4_ok(self.src, self.dst, self.proto, self.l4)
        {
            return Err(DecodeError::L4Checksum);
        }
        Ok(())
    }
}

/// Re-borrows `sub`, a slice lying inside `frame`, with the frame's lifetime.
fn rebase<'a>(frame: &'a [u8], sub: &[u8]) -> &'a [u8] {
    let start = (sub.as_ptr() as usize).wrapping_sub(frame.as_ptr() as usize);
    match start.checked_add(sub.len()) {
        Some(end) if start <= frame.len() && end <= frame.len() => &frame[start..end],
        _ => &[],
    }
}

/// Ether type of a PPP protocol number.
fn ppp_ethertype(proto: u16) -> Result<u16, DecodeError> {
    match proto {
        0x0021 => Ok(0x0800),
        0x0057 => Ok(0x86dd),
        _ => Err(DecodeError::NotIp),
    }
}

/// An 802.11 frame: data frames with LLC/SNAP yield their ether type and payload.
fn strip_80211(f: &[u8]) -> Result<(Option<u16>, &[u8]), DecodeError> {
    let (fc0, fc1) = match f {
        [a, b, ..] => (*a, *b),
        _ => return Err(DecodeError::LinkTruncated),
    };
    if (fc0 >> 2) & 3 != 2 || fc1 & 0x40 != 0 {
        return Err(DecodeError::NotIp); // not a data frame, or encrypted
    }
    let qos = fc0 & 0x80 != 0;
    let mut hl = 24;
    if fc1 & 0x03 == 0x03 {
        hl += 6;
    }
    if qos {
        hl += 2;
        if fc1 & 0x80 != 0 {
            hl += 4;
        }
    }
    let rest = f.get(hl..).ok_or(DecodeError::LinkTruncated)?;
    match rest {
        [0xaa, 0xaa, 0x03, 0, 0, 0, t0, t1, body @ ..] => {
            Ok((Some(u16::from_be_bytes([*t0, *t1])), body))
        }
        _ => Err(DecodeError::NotIp),
    }
}

/// Finds the payload TLV (type 9) of an NFLOG frame.
fn strip_nflog(f: &[u8]) -> Result<(Option<u16>, &[u8]), DecodeError> {
    let family = *f.first().ok_or(DecodeError::LinkTruncated)?;
    let et = match family {
        2 => 0x0800,
        10 => 0x86dd,
        _ => return Err(DecodeError::NotIp),
    };
    let mut off = 4;
    while off + 4 <= f.len() {
        let len = usize::from(u16::from_le_bytes([f[off], f[off + 1]]));
        let kind = u16::from_le_bytes([f[off + 2], f[off + 3]]);
        if len < 4 || off + len > f.len() {
            return Err(DecodeError::LinkTruncated);
        }
        if kind == 9 {
            return Ok((Some(et), &f[off + 4..off + len]));
        }
        off += (len + 3) & !3;
    }
    Err(DecodeError::NotIp)
}

/// Ether type of NSH (RFC 8300).
const ETHERTYPE_NSH: u16 = 0x894f;

/// The NSH header of an Ethernet frame (after up to two VLAN tags), if the frame carries one.
fn nsh_in_ethernet(f: &[u8]) -> Option<&[u8]> {
    let mut off = 12;
    for _ in 0..3 {
        let et = u16::from_be_bytes([*f.get(off)?, *f.get(off + 1)?]);
        match et {
            0x8100 | 0x88a8 => off += 4,
            ETHERTYPE_NSH => return f.get(off + 2..),
            _ => return None,
        }
    }
    None
}

/// Strips an NSH header (RFC 8300: base header, service path header, context headers of the
/// announced length); returns the ether type of the next protocol (None: Ethernet) and the
/// packet after the header. NSH inside NSH is followed a few levels deep.
fn strip_nsh(d: &[u8], depth: u8) -> Result<(Option<u16>, &[u8]), DecodeError> {
    let [b0, b1, b2, next, ..] = *d else {
        return Err(DecodeError::NshInvalid);
    };
    let len = usize::from(b1 & 0x3f) * 4;
    let md_type = b2 & 0x0f;
    if b0 >> 6 != 0 || len < 8 || len > d.len() || (md_type == 1 && len != 24) {
        return Err(DecodeError::NshInvalid);
    }
    let inner = &d[len..];
    match next {
        1 => Ok((Some(0x0800), inner)),
        2 => Ok((Some(0x86dd), inner)),
        3 => Ok((None, inner)),
        4 if depth < 4 => strip_nsh(inner, depth + 1),
        _ => Err(DecodeError::NshInvalid),
    }
}

/// Strips the link header, returning the ether type of what follows and the rest.
fn strip_link(link: LinkType, frame: &[u8]) -> Result<(Option<u16>, &[u8]), DecodeError> {
    fn family_to_ethertype(af: u32) -> Option<u16> {
        match af {
            2 => Some(0x0800),
            10 | 24 | 28 | 30 => Some(0x86dd),
            _ => None,
        }
    }
    match link {
        LinkType::Ethernet => Ok((None, frame)),
        LinkType::Raw => Ok((Some(0), frame)),
        LinkType::LinuxSll => {
            if frame.len() < 16 {
                return Err(DecodeError::LinkTruncated);
            }
            Ok((
                Some(u16::from_be_bytes([frame[14], frame[15]])),
                &frame[16..],
            ))
        }
        LinkType::LinuxSll2 => {
            if frame.len() < 20 {
                return Err(DecodeError::LinkTruncated);
            }
            Ok((Some(u16::from_be_bytes([frame[0], frame[1]])), &frame[20..]))
        }
        LinkType::Null | LinkType::Loop => {
            if frame.len() < 4 {
                return Err(DecodeError::LinkTruncated);
            }
            let raw = [frame[0], frame[1], frame[2], frame[3]];
            // Null is host byte order of the capturing machine: accept either.
            let af = if link == LinkType::Loop {
                u32::from_be_bytes(raw)
            } else {
                let le = u32::from_le_bytes(raw);
                if le < 256 {
                    le
                } else {
                    u32::from_be_bytes(raw)
                }
            };
            let et = family_to_ethertype(af).ok_or(DecodeError::NotIp)?;
            Ok((Some(et), &frame[4..]))
        }
        LinkType::Ieee80211 => strip_80211(frame),
        LinkType::Radiotap => {
            if frame.len() < 4 {
                return Err(DecodeError::LinkTruncated);
            }
            let len = usize::from(u16::from_le_bytes([frame[2], frame[3]]));
            strip_80211(frame.get(len..).ok_or(DecodeError::LinkTruncated)?)
        }
        LinkType::Ppp => {
            let f = frame.strip_prefix(&[0xff, 0x03]).unwrap_or(frame);
            match f {
                // A one-byte (compressed) protocol field is odd.
                [p, rest @ ..] if p & 1 == 1 => Ok((Some(ppp_ethertype(u16::from(*p))?), rest)),
                [a, b, rest @ ..] => Ok((Some(ppp_ethertype(u16::from_be_bytes([*a, *b]))?), rest)),
                _ => Err(DecodeError::LinkTruncated),
            }
        }
        LinkType::CiscoHdlc => match frame {
            [_, _, a, b, rest @ ..] => Ok((Some(u16::from_be_bytes([*a, *b])), rest)),
            _ => Err(DecodeError::LinkTruncated),
        },
        LinkType::FrameRelay => match frame {
            [_, _, 0x03, 0xcc, rest @ ..] => Ok((Some(0x0800), rest)),
            [_, _, 0x03, 0x8e, rest @ ..] => Ok((Some(0x86dd), rest)),
            [_, _, 0x03, 0x00, 0x80, _, _, _, a, b, rest @ ..] => {
                Ok((Some(u16::from_be_bytes([*a, *b])), rest))
            }
            [_, _, _, _, ..] => Err(DecodeError::NotIp),
            _ => Err(DecodeError::LinkTruncated),
        },
        LinkType::Slip => Ok((Some(0), frame.get(16..).ok_or(DecodeError::LinkTruncated)?)),
        LinkType::Nflog => strip_nflog(frame),
    }
}

fn map_slice_error(err: &SliceError) -> DecodeError {
    match err {
        SliceError::Len(len) => match len.layer {
            etherparse::err::Layer::Ipv4Header | etherparse::err::Layer::Ipv4Packet => {
                DecodeError::Ipv4Invalid
            }
            etherparse::err::Layer::Ipv6Header | etherparse::err::Layer::Ipv6Packet => {
                DecodeError::Ipv6Invalid
            }
            etherparse::err::Layer::TcpHeader => DecodeError::TcpInvalid,
            etherparse::err::Layer::UdpHeader => DecodeError::UdpInvalid,
            etherparse::err::Layer::Icmpv4 | etherparse::err::Layer::Icmpv6 => {
                DecodeError::IcmpInvalid
            }
            etherparse::err::Layer::VlanHeader | etherparse::err::Layer::MacsecHeader => {
                DecodeError::VlanInvalid
            }
            etherparse::err::Layer::IpHeader => DecodeError::Ipv4Invalid,
            _ => DecodeError::IpExtInvalid,
        },
        SliceError::LinuxSll(_) => DecodeError::LinkTruncated,
        SliceError::Macsec(_) => DecodeError::VlanInvalid,
        SliceError::Ip(_) | SliceError::Ipv4(_) => DecodeError::Ipv4Invalid,
        SliceError::Ipv6(_) => DecodeError::Ipv6Invalid,
        SliceError::Ipv4Exts(_) | SliceError::Ipv6Exts(_) => DecodeError::IpExtInvalid,
        SliceError::Tcp(_) => DecodeError::TcpInvalid,
    }
}

/// A symmetric hash of a frame's IP address pair, for spreading flows over workers without a
/// full decode. Both directions of a flow, and every fragment of a datagram, hash alike.
/// Frames without a readable IP header hash to 0.
pub fn dispatch_hash(link: LinkType, frame: &[u8]) -> u64 {
    let Ok((ether_type, mut rest)) = strip_link(link, frame) else {
        return 0;
    };
    let mut et = ether_type.unwrap_or(0);
    if ether_type.is_none() {
        if rest.len() < 14 {
            return 0;
        }
        et = u16::from_be_bytes([rest[12], rest[13]]);
        rest = &rest[14..];
        while matches!(et, 0x8100 | 0x88a8 | 0x9100) && rest.len() >= 4 {
            et = u16::from_be_bytes([rest[2], rest[3]]);
            rest = &rest[4..];
        }
    }
    if et == ETHERTYPE_NSH {
        // Spread service-chained traffic by the addresses it carries.
        match strip_nsh(rest, 0) {
            Ok((Some(inner), r)) => (et, rest) = (inner, r),
            Ok((None, r)) => return dispatch_hash(LinkType::Ethernet, r),
            Err(_) => return 0,
        }
    }
    let version = rest.first().map_or(0, |b| b >> 4);
    let (a, b) = match (et, version) {
        (0x0800, 4) | (0, 4) if rest.len() >= 20 => (&rest[12..16], &rest[16..20]),
        (0x86dd, 6) | (0, 6) if rest.len() >= 40 => (&rest[8..24], &rest[24..40]),
        _ => return 0,
    };
    let h = |x: &[u8]| {
        let mut v: u64 = 0xcbf2_9ce4_8422_2325;
        for &byte in x {
            v = (v ^ u64::from(byte)).wrapping_mul(0x100_0000_01b3);
        }
        v
    };
    let m = h(a).wrapping_add(h(b));
    m ^ (m >> 29)
}

/// The packet a tunnel carries: IP-in-IP and IPv6-in-IP (protocols 4, 41), GRE version 0
/// (IPv4, IPv6 or transparent Ethernet inside) and VXLAN (UDP port 4789). Returns the inner
/// frame and its link type.
pub fn tunnel_payload<'a>(p: &Packet<'a>) -> Option<(LinkType, &'a [u8])> {
    if p.fragment || p.truncated {
        return None;
    }
    let data = p.payload;
    match p.proto {
        // The inner header must be the version the protocol number announces.
        4 | 41 if data.first().map(|b| b >> 4) == Some(if p.proto == 4 { 4 } else { 6 }) => {
            Some((LinkType::Raw, data))
        }
        47 => {
            if data.len() < 4 {
                return None;
            }
            let flags = u16::from_be_bytes([data[0], data[1]]);
            if flags & 0x7 != 0 {
                return None; // version 1 (PPTP) carries PPP
            }
            let ptype = u16::from_be_bytes([data[2], data[3]]);
            let mut off = 4;
            for bit in [0x8000u16, 0x2000, 0x1000] {
                if flags & bit != 0 {
                    off += 4;
                }
            }
            let inner = data.get(off..)?;
            match ptype {
                0x0800 | 0x86dd => Some((LinkType::Raw, inner)),
                0x6558 => Some((LinkType::Ethernet, inner)),
                _ => None,
            }
        }
        17 if p.dport == 4789 && data.len() > 8 && data[0] & 0x08 != 0 => {
            Some((LinkType::Ethernet, &data[8..]))
        }
        // Geneve: version 0, options length in 4-byte words, protocol type.
        17 if p.dport == 6081 && data.len() >= 8 && data[0] >> 6 == 0 => {
            let opts = usize::from(data[0] & 0x3f) * 4;
            let ptype = u16::from_be_bytes([data[2], data[3]]);
            let inner = data.get(8 + opts..)?;
            match ptype {
                0x6558 => Some((LinkType::Ethernet, inner)),
                0x0800 | 0x86dd => Some((LinkType::Raw, inner)),
                _ => None,
            }
        }
        _ => None,
    }
}

/// Whether an IPv6 extension header chain (`first` = the base header's next header) holds a
/// type 0 routing header.
fn routing_type0(mut next: u8, mut data: &[u8]) -> bool {
    loop {
        let len = match next {
            0 | 43 | 60 => data.get(1).map(|&l| (usize::from(l) + 1) * 8),
            44 => Some(8),
            51 => data.get(1).map(|&l| (usize::from(l) + 2) * 4),
            _ => return false,
        };
        let Some(len) = len.filter(|&l| l <= data.len()) else {
            return false;
        };
        if next == 43 && data[2] == 0 {
            return true;
        }
        next = data[0];
        data = &data[len..];
    }
}

/// Decodes a captured frame of the given link type.
pub fn decode(link: LinkType, frame: &[u8]) -> Result<Packet<'_>, DecodeError> {
    let (mut ether_type, mut rest) = strip_link(link, frame)?;
    // NSH (service function chaining) between the link and what it carries.
    let nsh = match ether_type {
        None => nsh_in_ethernet(rest),
        Some(ETHERTYPE_NSH) => Some(rest),
        _ => None,
    };
    if let Some(header) = nsh {
        (ether_type, rest) = strip_nsh(header, 0)?;
    }
    let sliced = match ether_type {
        None => LaxSlicedPacket::from_ethernet(rest).map_err(|_| DecodeError::LinkTruncated)?,
        Some(0) => match rest.first().map(|b| b >> 4) {
            Some(4) | Some(6) => LaxSlicedPacket::from_ip(rest).map_err(|e| match e {
                etherparse::err::ip::LaxHeaderSliceError::Len(_) => DecodeError::Ipv4Invalid,
                etherparse::err::ip::LaxHeaderSliceError::Content(c) => match c {
                    etherparse::err::ip::HeaderError::UnsupportedIpVersion { .. } => {
                        DecodeError::NotIp
                    }
                    _ => DecodeError::Ipv4Invalid,
                },
            })?,
            _ => return Err(DecodeError::NotIp),
        },
        Some(et) => LaxSlicedPacket::from_ether_type(EtherType(et), rest),
    };
    from_sliced(frame, &sliced)
}

fn from_sliced<'a>(
    frame: &'a [u8],
    sliced: &LaxSlicedPacket<'a>,
) -> Result<Packet<'a>, DecodeError> {
    let mut vlan = [0u16; 2];
    let mut nv = 0;
    for ext in sliced.link_exts.iter() {
        if let etherparse::LaxLinkExtSlice::Vlan(v) = ext {
            if nv < 2 {
                vlan[nv] = v.vlan_identifier().value();
                nv += 1;
            }
        }
    }
    let Some(net) = &sliced.net else {
        return Err(match &sliced.stop_err {
            Some((e, _)) => map_slice_error(e),
            None => DecodeError::NotIp,
        });
    };
    let mut ip_id = 0;
    let mut frag = None;
    let (ip_version, src, dst, ttl, ip_payload, _ip_len, ip_header) = match net {
        LaxNetSlice::Ipv4(v4) => {
            let h = v4.header();
            ip_id = h.identification();
            if v4.payload().fragmented {
                frag = Some(FragInfo {
                    id: u32::from(h.identification()),
                    offset: u32::from(h.fragments_offset().byte_offset()),
                    more: h.more_fragments(),
                    proto: h.protocol().0,
                });
            }
            (
                4u8,
                IpAddr::V4(Ipv4Addr::from(h.source())),
                IpAddr::V4(Ipv4Addr::from(h.destination())),
                h.ttl(),
                v4.payload(),
                usize::from(h.total_len()),
                rebase(frame, h.slice()),
            )
        }
        LaxNetSlice::Ipv6(v6) => {
            let h = v6.header();
            if v6.payload().fragmented && h.next_header().0 == 44 {
                // Only a Fragment header right after the base header is reassembled.
                if let Ok(fh) =
                    etherparse::Ipv6FragmentHeaderSlice::from_slice(v6.extensions().slice())
                {
                    frag = Some(FragInfo {
                        id: fh.identification(),
                        offset: u32::from(fh.fragment_offset().byte_offset()),
                        more: fh.more_fragments(),
                        proto: fh.next_header().0,
                    });
                }
            }
            (
                6u8,
                IpAddr::V6(Ipv6Addr::from(h.source())),
                IpAddr::V6(Ipv6Addr::from(h.destination())),
                h.hop_limit(),
                v6.payload(),
                40 + usize::from(h.payload_length()),
                rebase(frame, h.slice()),
            )
        }
        LaxNetSlice::Arp(_) => return Err(DecodeError::NotIp),
    };
    let mut pkt = Packet {
        ip_version,
        src,
        dst,
        proto: ip_payload.ip_number.0,
        ttl,
        sport: 0,
        dport: 0,
        tcp: None,
        icmp: None,
        icmp_rest: [0; 4],
        ip_id,
        vlan,
        fragment: ip_payload.fragmented,
        frag,
        truncated: ip_payload.incomplete,
        payload: ip_payload.payload,
        frame_len: frame.len(),
        ip_header,
        l4: &[],
        events: 0,
    };
    if let LaxNetSlice::Ipv6(v6) = net {
        // Walked by hand with bounds checks: etherparse's extension iterator assumes a
        // fully validated chain, which a lax (truncated) slice is not.
        if routing_type0(v6.header().next_header().0, v6.extensions().slice()) {
            pkt.events |= event::IPV6_RH_TYPE_0;
        }
    }
    if pkt.truncated {
        pkt.events |= event::TRUNC_PKT;
    }
    if pkt.ip_version == 4 && pkt.ip_header.len() > 20 {
        pkt.events |= ipv4_option_events(&pkt.ip_header[20..]);
    }
    if pkt.fragment {
        return Ok(pkt);
    }
    match &sliced.transport {
        Some(TransportSlice::Tcp(t)) => {
            let hdr = t.header_slice();
            pkt.sport = t.source_port();
            pkt.dport = t.destination_port();
            let (ts, wscale) = tcp_options(t.options());
            pkt.events |= tcp_option_events(t.options());
            pkt.tcp = Some(TcpInfo {
                flags: hdr[13],
                seq: t.sequence_number(),
                ack: t.acknowledgment_number(),
                window: t.window_size(),
                ts,
                wscale,
            });
            pkt.payload = t.payload();
            pkt.l4 = t.slice();
        }
        Some(TransportSlice::Udp(u)) => {
            pkt.sport = u.source_port();
            pkt.dport = u.destination_port();
            pkt.payload = u.payload();
            pkt.l4 = u.slice();
        }
        Some(TransportSlice::Icmpv4(i)) => {
            pkt.events |= icmp_events(false, i.type_u8(), i.code_u8());
            pkt.icmp = Some((i.type_u8(), i.code_u8()));
            pkt.icmp_rest = i.bytes5to8();
            pkt.payload = i.payload();
            pkt.l4 = i.slice();
        }
        Some(TransportSlice::Icmpv6(i)) => {
            pkt.events |= icmp_events(true, i.type_u8(), i.code_u8());
            pkt.icmp = Some((i.type_u8(), i.code_u8()));
            pkt.icmp_rest = i.bytes5to8();
            pkt.payload = i.payload();
            pkt.l4 = i.slice();
        }
        Some(TransportSlice::Igmp(_)) => {}
        None => {
            if let Some((e, _)) = &sliced.stop_err {
                return Err(map_slice_error(e));
            }
            match pkt.proto {
                6 => return Err(DecodeError::TcpInvalid),
                17 => return Err(DecodeError::UdpInvalid),
                1 | 58 => return Err(DecodeError::IcmpInvalid),
                132 => match pkt.payload {
                    // SCTP common header: ports, verification tag, checksum.
                    [a, b, c, d, _, _, _, _, _, _, _, _, ..] => {
                        pkt.sport = u16::from_be_bytes([*a, *b]);
                        pkt.dport = u16::from_be_bytes([*c, *d]);
                        pkt.l4 = pkt.payload;
                        pkt.payload = &pkt.payload[12..];
                    }
                    _ => pkt.events |= event::SCTP_PKT_TOO_SMALL,
                },
                4 | 41 if pkt.ip_version == 6 => {
                    let (want, min, wrong, small) = if pkt.proto == 4 {
                        (
                            4,
                            20,
                            event::IPV4_IN_IPV6_WRONG_VERSION,
                            event::IPV4_IN_IPV6_TOO_SMALL,
                        )
                    } else {
                        (
                            6,
                            40,
                            event::IPV6_IN_IPV6_WRONG_VERSION,
                            event::IPV6_IN_IPV6_TOO_SMALL,
                        )
                    };
                    match pkt.payload.first() {
                        _ if pkt.payload.len() < min => pkt.events |= small,
                        Some(b) if b >> 4 != want => pkt.events |= wrong,
                        _ => {}
                    }
                }
                _ => {}
            }
        }
    }
    Ok(pkt)
}

#[cfg(test)]
mod tests {
    use super::*;
    use etherparse::PacketBuilder;

    fn tcp_frame(payload: &[u8]) -> Vec<u8> {
        let b = PacketBuilder::ethernet2([1; 6], [2; 6])
            .ipv4([10, 0, 0, 1], [10, 0, 0, 2], 64)
            .tcp(1234, 80, 1000, 4096)
            .syn();
        let mut out = Vec::new();
        b.write(&mut out, payload).unwrap();
        out
    }

    #[test]
    fn routing_header_type0_is_found_in_a_checked_walk() {
        // Hop-by-hop (8 bytes) then routing type 0, then TCP.
        let chain = [43, 0, 0, 0, 0, 0, 0, 0, 6, 0, 0, 1, 0, 0, 0, 0];
        assert!(routing_type0(0, &chain));
        let mut type2 = chain;
        type2[10] = 2;
        assert!(!routing_type0(0, &type2));
        // Truncated or lying lengths end the walk.
        assert!(!routing_type0(0, &chain[..12]));
        assert!(!routing_type0(43, &[6, 200, 0]));
        assert!(!routing_type0(43, &[]));
    }

    #[test]
    fn decoder_events_and_sctp_ports() {
        let ipv4 = |proto: u8, payload: &[u8]| {
            let mut f = vec![
                0x45, 0, 0, 0, 0, 1, 0, 0, 64, proto, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2,
            ];
            let len = (20 + payload.len()) as u16;
            f[2..4].copy_from_slice(&len.to_be_bytes());
            f.extend_from_slice(payload);
            f
        };
        // SCTP: ports from the common header; shorter than it, an event and no ports.
        let mut sctp = vec![0x04, 0xd2, 0x16, 0x2e, 0, 0, 0, 1, 0, 0, 0, 0];
        sctp.extend_from_slice(b"chunk");
        let f = ipv4(132, &sctp);
        let p = decode(LinkType::Raw, &f).unwrap();
        assert_eq!(
            (p.sport, p.dport, p.events, p.payload),
            (1234, 5678, 0, &b"chunk"[..])
        );
        let f = ipv4(132, &[0x04, 0xd2, 0x16, 0x2e]);
        let p = decode(LinkType::Raw, &f).unwrap();
        assert_eq!((p.sport, p.dport), (0, 0));
        assert_eq!(p.events, event::SCTP_PKT_TOO_SMALL);
        // IPv6 announcing IPv6 inside but carrying IPv4: event, and no tunnel decode.
        let inner = ipv4(17, &[0; 28]);
        let mut f = vec![0x60, 0, 0, 0, 0, inner.len() as u8, 41, 64];
        f.extend_from_slice(&[0x20, 1, 0x0d, 0xb8].repeat(8));
        f.extend_from_slice(&inner);
        let p = decode(LinkType::Raw, &f).unwrap();
        assert_eq!(p.events, event::IPV6_IN_IPV6_WRONG_VERSION);
        assert!(tunnel_payload(&p).is_none());
        assert_eq!(
            event::by_name("ipv6.ipv6_in_ipv6_wrong_version"),
            Some(p.events)
        );
        assert_eq!(
            event::by_name("decoder.sctp.pkt_too_small"),
            Some(event::SCTP_PKT_TOO_SMALL)
        );
        assert_eq!(event::by_name("ipv4.no_such_event"), None);
    }

    #[test]
    fn tcp_options_timestamp_and_window_scale() {
        // MSS, SACK-permitted, timestamp, NOP, window scale: a Linux SYN.
        let opts = [
            2, 4, 5, 0xb4, 4, 2, 8, 10, 0, 0, 1, 0, 0, 0, 0, 7, 1, 3, 3, 7,
        ];
        assert_eq!(tcp_options(&opts), (Some((256, 7)), Some(7)));
        // A length running past the end stops the scan; what came before stays.
        assert_eq!(tcp_options(&[3, 3, 2, 8, 10, 0]), (None, Some(2)));
        assert_eq!(tcp_options(&[8, 1, 0]), (None, None));
        assert_eq!(tcp_options(&[]), (None, None));
    }

    #[test]
    fn ethernet_ipv4_tcp() {
        let f = tcp_frame(b"hello");
        let p = decode(LinkType::Ethernet, &f).unwrap();
        assert_eq!(p.ip_version, 4);
        assert_eq!(p.src, "10.0.0.1".parse::<IpAddr>().unwrap());
        assert_eq!((p.sport, p.dport, p.proto), (1234, 80, 6));
        assert_eq!(p.tcp.unwrap().flags & tcp_flags::SYN, tcp_flags::SYN);
        assert_eq!(p.tcp.unwrap().seq, 1000);
        assert_eq!(p.payload, b"hello");
        assert!(!p.truncated && !p.fragment);
    }

    #[test]
    fn vlan_qinq_ipv6_udp() {
        let b = PacketBuilder::ethernet2([1; 6], [2; 6])
            .double_vlan(
                etherparse::VlanId::try_new(100).unwrap(),
                etherparse::VlanId::try_new(200).unwrap(),
            )
            .ipv6([0x20; 16], [0x21; 16], 32)
            .udp(53, 5353);
        let mut f = Vec::new();
        b.write(&mut f, b"q").unwrap();
        let p = decode(LinkType::Ethernet, &f).unwrap();
        assert_eq!(p.vlan, [100, 200]);
        assert_eq!((p.ip_version, p.proto, p.sport, p.dport), (6, 17, 53, 5353));
        assert_eq!(p.payload, b"q");
    }

    #[test]
    fn other_link_types() {
        let eth = tcp_frame(b"x");
        let ip = &eth[14..];
        assert!(decode(LinkType::Raw, ip).is_ok());
        let mut null = 2u32.to_le_bytes().to_vec();
        null.extend_from_slice(ip);
        assert_eq!(decode(LinkType::Null, &null).unwrap().payload, b"x");
        let mut lo = 2u32.to_be_bytes().to_vec();
        lo.extend_from_slice(ip);
        assert!(decode(LinkType::Loop, &lo).is_ok());
        let mut sll = vec![0u8; 14];
        sll.extend_from_slice(&0x0800u16.to_be_bytes());
        sll.extend_from_slice(ip);
        assert_eq!(decode(LinkType::LinuxSll, &sll).unwrap().dport, 80);
        let mut sll2 = 0x0800u16.to_be_bytes().to_vec();
        sll2.extend_from_slice(&[0u8; 18]);
        sll2.extend_from_slice(ip);
        assert_eq!(decode(LinkType::LinuxSll2, &sll2).unwrap().dport, 80);
    }

    #[test]
    fn more_link_types() {
        let eth = tcp_frame(b"x");
        let ip = &eth[14..];
        let with = |prefix: &[u8]| -> Vec<u8> { prefix.iter().chain(ip).copied().collect() };
        assert_eq!(
            decode(LinkType::Ppp, &with(&[0xff, 0x03, 0x00, 0x21]))
                .unwrap()
                .payload,
            b"x"
        );
        assert_eq!(decode(LinkType::Ppp, &with(&[0x21])).unwrap().dport, 80);
        assert_eq!(
            decode(LinkType::Ppp, &with(&[0xc0, 0x21])).unwrap_err(),
            DecodeError::NotIp
        );
        assert!(decode(LinkType::CiscoHdlc, &with(&[0x0f, 0x00, 0x08, 0x00])).is_ok());
        assert!(decode(LinkType::FrameRelay, &with(&[0x18, 0x41, 0x03, 0xcc])).is_ok());
        assert!(decode(LinkType::Slip, &with(&[0u8; 16])).is_ok());
        // 802.11 data frame (ToDS) + LLC/SNAP, inside radiotap.
        let mut wifi = vec![0x08, 0x01];
        wifi.extend_from_slice(&[0u8; 22]);
        wifi.extend_from_slice(&[0xaa, 0xaa, 0x03, 0, 0, 0, 0x08, 0x00]);
        wifi.extend_from_slice(ip);
        assert_eq!(decode(LinkType::Ieee80211, &wifi).unwrap().dport, 80);
        let mut rt = vec![0, 0, 8, 0, 0, 0, 0, 0];
        rt.extend_from_slice(&wifi);
        assert_eq!(decode(LinkType::Radiotap, &rt).unwrap().dport, 80);
        let beacon = [0x80, 0x00, 0, 0];
        assert_eq!(
            decode(LinkType::Ieee80211, &beacon).unwrap_err(),
            DecodeError::NotIp
        );
        // NFLOG: header, a prefix TLV, then the payload TLV.
        let mut nf = vec![2, 0, 0, 0];
        nf.extend_from_slice(&[8, 0, 10, 0, b'a', b'b', b'c', 0]);
        let plen = (4 + ip.len()) as u16;
        nf.extend_from_slice(&plen.to_le_bytes());
        nf.extend_from_slice(&9u16.to_le_bytes());
        nf.extend_from_slice(ip);
        assert_eq!(decode(LinkType::Nflog, &nf).unwrap().payload, b"x");
        for lt in [
            LinkType::Ppp,
            LinkType::Radiotap,
            LinkType::Ieee80211,
            LinkType::Nflog,
            LinkType::FrameRelay,
            LinkType::CiscoHdlc,
            LinkType::Slip,
        ] {
            for cut in 0..wifi.len().min(40) {
                let _ = decode(lt, &wifi[..cut]);
                let _ = decode(lt, &nf[..cut.min(nf.len())]);
            }
        }
    }

    #[test]
    fn truncated_and_odd_frames_are_reasons_not_panics() {
        let f = tcp_frame(b"payload");
        // Every prefix of a valid frame decodes to a packet or a reason, never a panic.
        for cut in 0..f.len() {
            let _ = decode(LinkType::Ethernet, &f[..cut]);
        }
        assert_eq!(
            decode(LinkType::Ethernet, &f[..10]).unwrap_err(),
            DecodeError::LinkTruncated
        );
        assert_eq!(
            decode(LinkType::Ethernet, &f[..20]).unwrap_err(),
            DecodeError::Ipv4Invalid
        );
        assert_eq!(
            decode(LinkType::Ethernet, &f[..40]).unwrap_err(),
            DecodeError::TcpInvalid
        );
        assert_eq!(
            decode(LinkType::LinuxSll2, &f[..5]).unwrap_err(),
            DecodeError::LinkTruncated
        );
        let mut arp = f.clone();
        arp[12] = 0x08;
        arp[13] = 0x06;
        assert!(decode(LinkType::Ethernet, &arp).is_err());
        assert_eq!(
            decode(LinkType::Raw, &[0x50, 0, 0]).unwrap_err(),
            DecodeError::NotIp
        );
        // Payload cut by snaplen: still decoded, flagged truncated.
        let p = decode(LinkType::Ethernet, &f[..f.len() - 3]).unwrap();
        assert!(p.truncated);
        assert_eq!(p.payload, b"payl");
    }

    #[test]
    fn nsh_carries_ip_and_ethernet() {
        let inner = crate::testgen::synth::udp_frame(
            (std::net::Ipv4Addr::new(10, 0, 0, 1), 1000),
            (std::net::Ipv4Addr::new(10, 0, 0, 2), 53),
            b"x",
        );
        // Ethernet, NSH (MD type 2, 2 words, next protocol Ethernet), the inner frame.
        let mut f = inner[..12].to_vec();
        f.extend_from_slice(&[0x89, 0x4f, 0x0f, 0xc2, 0x02, 0x03, 0, 0, 1, 0xff]);
        f.extend_from_slice(&inner);
        let p = decode(LinkType::Ethernet, &f).unwrap();
        assert_eq!((p.proto, p.dport), (17, 53));
        // Dispatched by the inner addresses, like the packet without NSH.
        assert_eq!(
            dispatch_hash(LinkType::Ethernet, &f),
            dispatch_hash(LinkType::Ethernet, &inner)
        );
        // Next protocol IPv4 directly.
        let mut g = inner[..12].to_vec();
        g.extend_from_slice(&[0x89, 0x4f, 0x0f, 0xc2, 0x02, 0x01, 0, 0, 1, 0xff]);
        g.extend_from_slice(&inner[14..]);
        assert_eq!(decode(LinkType::Ethernet, &g).unwrap().dport, 53);
        // A length past the frame, an MD type 1 of the wrong length, an unknown payload.
        for bad in [
            [0x0f, 0xff, 0x02, 0x01],
            [0x0f, 0xc2, 0x01, 0x01],
            [0x0f, 0xc2, 0x02, 0x09],
        ] {
            let mut h = inner[..12].to_vec();
            h.extend_from_slice(&[0x89, 0x4f]);
            h.extend_from_slice(&bad);
            h.extend_from_slice(&[0, 0, 1, 0xff]);
            h.extend_from_slice(&inner[14..]);
            assert_eq!(
                decode(LinkType::Ethernet, &h).unwrap_err(),
                DecodeError::NshInvalid
            );
        }
    }

    #[test]
    fn dispatch_hash_is_symmetric() {
        let mut a = Vec::new();
        PacketBuilder::ethernet2([1; 6], [2; 6])
            .ipv4([10, 0, 0, 1], [10, 0, 0, 2], 64)
            .udp(1, 2)
            .write(&mut a, b"x")
            .unwrap();
        let mut b = Vec::new();
        PacketBuilder::ethernet2([2; 6], [1; 6])
            .ipv4([10, 0, 0, 2], [10, 0, 0, 1], 64)
            .udp(2, 1)
            .write(&mut b, b"y")
            .unwrap();
        let ha = dispatch_hash(LinkType::Ethernet, &a);
        assert_ne!(ha, 0);
        assert_eq!(ha, dispatch_hash(LinkType::Ethernet, &b));
        assert_eq!(ha, dispatch_hash(LinkType::Raw, &a[14..]));
        assert_eq!(dispatch_hash(LinkType::Ethernet, &a[..20]), 0);
    }

    #[test]
    fn tunnels() {
        let mut inner = Vec::new();
        PacketBuilder::ipv4([10, 1, 0, 3], [10, 1, 0, 4], 64)
            .udp(1, 2)
            .write(&mut inner, b"in")
            .unwrap();
        // IP-in-IP
        let mut outer = Vec::new();
        let mut h = etherparse::Ipv4Header::new(
            inner.len() as u16,
            64,
            etherparse::IpNumber(4),
            [10, 1, 0, 1],
            [10, 1, 0, 2],
        )
        .unwrap();
        h.header_checksum = h.calc_header_checksum();
        h.write(&mut outer).unwrap();
        outer.extend_from_slice(&inner);
        let p = decode(LinkType::Raw, &outer).unwrap();
        let (link, data) = tunnel_payload(&p).unwrap();
        assert_eq!(link, LinkType::Raw);
        assert_eq!(decode(link, data).unwrap().payload, b"in");
        // GRE with a key, carrying IPv4
        let mut gre = vec![0x20, 0x00, 0x08, 0x00, 0, 0, 0, 7];
        gre.extend_from_slice(&inner);
        let mut outer = Vec::new();
        PacketBuilder::ipv4([1, 1, 1, 1], [2, 2, 2, 2], 64)
            .write(&mut outer, etherparse::IpNumber(47), &gre)
            .unwrap();
        let p = decode(LinkType::Raw, &outer).unwrap();
        let (_, data) = tunnel_payload(&p).unwrap();
        assert_eq!(decode(LinkType::Raw, data).unwrap().dport, 2);
        // VXLAN carrying Ethernet
        let mut vx = vec![0x08, 0, 0, 0, 0, 0, 1, 0];
        PacketBuilder::ethernet2([1; 6], [2; 6])
            .ipv4([3, 3, 3, 3], [4, 4, 4, 4], 9)
            .udp(5, 6)
            .write(&mut vx, b"v")
            .unwrap();
        let mut outer = Vec::new();
        PacketBuilder::ipv4([1, 1, 1, 1], [2, 2, 2, 2], 64)
            .udp(999, 4789)
            .write(&mut outer, &vx)
            .unwrap();
        let p = decode(LinkType::Raw, &outer).unwrap();
        let (link, data) = tunnel_payload(&p).unwrap();
        assert_eq!(link, LinkType::Ethernet);
        assert_eq!(decode(link, data).unwrap().payload, b"v");
        // Truncated GRE: nothing.
        let mut outer = Vec::new();
        PacketBuilder::ipv4([1, 1, 1, 1], [2, 2, 2, 2], 64)
            .write(&mut outer, etherparse::IpNumber(47), &[0x20, 0])
            .unwrap();
        assert!(tunnel_payload(&decode(LinkType::Raw, &outer).unwrap()).is_none());
    }

    #[test]
    fn fragments_are_marked() {
        let mut f = tcp_frame(b"0123456789");
        // Set MF on the IPv4 header and fix nothing else: the lax slicer reports a fragment.
        f[14 + 6] |= 0x20;
        let p = decode(LinkType::Ethernet, &f).unwrap();
        assert!(p.fragment);
        assert!(!p.has_ports());
    }

    #[test]
    fn session_frames_decode_with_consistent_sequence_numbers() {
        let c = (std::net::Ipv4Addr::new(10, 0, 0, 1), 40_000);
        let s = (std::net::Ipv4Addr::new(192, 0, 2, 1), 80);
        let mut sess = crate::testgen::synth::TcpSession::open(c, s, 1_000_000);
        sess.send(true, b"GET / HTTP/1.1\r\n\r\n")
            .send(false, b"HTTP/1.1 200 OK\r\n\r\n");
        let frames = sess.close();
        assert_eq!(frames.len(), 3 + 4 + 3);
        let p: Vec<_> = frames
            .iter()
            .map(|(_, f)| decode(LinkType::Ethernet, f).unwrap())
            .collect();
        assert_eq!(p[0].tcp.unwrap().flags, tcp_flags::SYN);
        assert_eq!(p[1].tcp.unwrap().ack, p[0].tcp.unwrap().seq + 1);
        assert_eq!(p[3].payload, b"GET / HTTP/1.1\r\n\r\n");
        assert_eq!(p[4].tcp.unwrap().ack, p[3].tcp.unwrap().seq + 18);
        assert!(p.iter().all(|x| x.verify_checksums().is_ok()));
    }
}
