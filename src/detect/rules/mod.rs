//! Suricata/Snort rule language: the parsed form of a signature.
//!
//! [`parse::parse_rule`] turns one rule line into a [`Rule`]; [`load`] reads rule files and
//! directories and reports every rule that fails with its file, line and sid. Parsing accepts
//! the whole grammar; whether the engine can *run* every keyword of a rule is decided later, by
//! [`crate::detect::Engine::build`], so `rules check` can tell "bad rule" from "not supported yet".

pub mod classification;
pub mod content;
pub mod header;
pub mod keywords;
pub mod load;
pub mod parse;

use std::path::PathBuf;
use std::sync::Arc;

pub use content::{Content, FastPattern};
pub use header::{AddrSet, PortSet, Vars};

/// What a matching rule does.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Action {
    /// Raise an alert.
    Alert,
    /// Alert and, inline, drop the packet and the rest of its flow.
    Drop,
    /// Alert, drop and send a TCP RST / ICMP unreachable.
    Reject,
    /// Stop inspecting the packet, no alert.
    Pass,
}

/// Layer-4 protocol a rule applies to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum L4 {
    /// Any IP packet (`ip`, `pkthdr`).
    Any,
    /// TCP (`tcp`, `tcp-pkt`, `tcp-stream` and TCP-based app-layer protocols).
    Tcp,
    /// UDP and UDP-based app-layer protocols.
    Udp,
    /// ICMPv4 and ICMPv6 (`icmp`).
    IcmpAny,
    /// ICMPv4 only.
    Icmp4,
    /// ICMPv6 only.
    Icmp6,
    /// SCTP.
    Sctp,
}

impl L4 {
    /// Whether a packet with IP protocol number `proto` falls under this rule protocol.
    #[inline]
    pub fn matches(self, proto: u8) -> bool {
        match self {
            L4::Any => true,
            L4::Tcp => proto == 6,
            L4::Udp => proto == 17,
            L4::IcmpAny => proto == 1 || proto == 58,
            L4::Icmp4 => proto == 1,
            L4::Icmp6 => proto == 58,
            L4::Sctp => proto == 132,
        }
    }
}

/// Which part of the traffic a content inspects.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Buffer {
    /// The packet payload (and, once streams land, the reassembled stream).
    Payload,
    /// An app-layer sticky buffer, by its canonical Suricata name (`http.uri`, `tls.sni`...).
    App(&'static str),
}

impl Buffer {
    /// The name used in reports.
    pub fn name(self) -> &'static str {
        match self {
            Buffer::Payload => "payload",
            Buffer::App(name) => name,
        }
    }
}

/// Constraints of the `flow` keyword.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FlowMatch {
    /// `Some(true)`: to_server / from_client; `Some(false)`: to_client / from_server.
    pub to_server: Option<bool>,
    /// `Some(true)`: established; `Some(false)`: not_established.
    pub established: Option<bool>,
    /// `Some(true)`: only_stream; `Some(false)`: no_stream.
    pub stream: Option<bool>,
    /// `Some(true)`: only_frag; `Some(false)`: no_frag.
    pub frag: Option<bool>,
}

/// Which side `target` names as the attacked host.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Target {
    /// The packet's source is the target.
    Src,
    /// The packet's destination is the target.
    Dst,
}

/// One inspection step of a rule, in rule order.
#[derive(Clone, Debug, PartialEq)]
pub enum Inspect {
    /// A `content` with its modifiers.
    Content(Content),
    /// A `pcre`.
    Pcre(keywords::PcreSpec),
    /// `isdataat`.
    IsDataAt(keywords::IsDataAt),
    /// `asn1`.
    Asn1(crate::detect::asn1::Asn1Spec),
    /// `byte_test`.
    ByteTest(keywords::ByteTest),
    /// `byte_jump`.
    ByteJump(keywords::ByteJump),
    /// `byte_extract`.
    ByteExtract(keywords::ByteExtract),
    /// `byte_math`.
    ByteMath(keywords::ByteMath),
    /// `bsize`: the buffer's length.
    Bsize(keywords::Cmp),
    /// `base64_decode`: decode part of the buffer for `base64_data`.
    Base64Decode(keywords::Base64Decode),
    /// `base64_data`: the following steps inspect what `base64_decode` decoded.
    Base64Data,
}

/// Where a rule came from, for error messages and tuning reports.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Origin {
    /// The rules file (shared by all its rules).
    pub file: Arc<PathBuf>,
    /// 1-based line where the rule starts.
    pub line: usize,
}

/// An `app-layer-protocol` condition as written.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AlprotoSpec {
    /// `!`: none of the protocols.
    pub negated: bool,
    /// Protocol names, any of which matches.
    pub names: Vec<String>,
    /// `original`: the protocol the flow started as, before a hand-over (STARTTLS).
    pub original: bool,
    /// `exact`: the flow's protocol itself, not one it counts as (`dns` on DNS over HTTP/2).
    pub exact: bool,
}

/// A parsed signature.
#[derive(Clone, Debug, PartialEq)]
pub struct Rule {
    /// What to do on a match.
    pub action: Action,
    /// Layer-4 protocol.
    pub l4: L4,
    /// IP version the header names (`ipv4`, `ipv6`); None: either.
    pub ip_version: Option<u8>,
    /// App-layer protocol named in the header (`http`, `tls`, `dns`...), if any.
    pub app_proto: Option<String>,
    /// Source addresses.
    pub src: AddrSet,
    /// Source ports.
    pub sport: PortSet,
    /// Destination addresses.
    pub dst: AddrSet,
    /// Destination ports.
    pub dport: PortSet,
    /// `<>`: the header matches in either orientation.
    pub bidirectional: bool,
    /// Signature id.
    pub sid: u32,
    /// Generator id (1 unless set).
    pub gid: u32,
    /// Revision.
    pub rev: u32,
    /// `msg`.
    pub msg: String,
    /// `classtype`, if given.
    pub classtype: Option<String>,
    /// Explicit `priority`, which overrides the classtype's.
    pub priority: Option<u8>,
    /// `metadata` key/value pairs in rule order.
    pub metadata: Vec<(String, String)>,
    /// `reference` entries as `type,value`.
    pub references: Vec<String>,
    /// `flow` constraints.
    pub flow: FlowMatch,
    /// `app-layer-protocol` conditions.
    pub app_layer_protocol: Vec<AlprotoSpec>,
    /// `absent` on a sticky buffer: (buffer, `or_else`).
    pub absent: Vec<(Buffer, bool)>,
    /// `app-layer-event` on transactions: the protocol's events (bits its parser defines)
    /// that must all have been raised.
    pub app_events: u32,
    /// The protocol of `app_events`.
    pub app_event_proto: Option<crate::applayer::AppProto>,
    /// `ftpbounce`: an FTP PORT command naming an address other than the client's.
    pub ftpbounce: bool,
    /// `dce_iface`: the DCERPC request's interface.
    pub dce_iface: Option<keywords::DceIface>,
    /// `dce_opnum`: the DCERPC request's opnum lies in one of these inclusive ranges.
    pub dce_opnums: Vec<(u16, u16)>,
    /// Integer keywords on a transaction field (`krb5_msg_type`, `krb5_err_code`): the
    /// parser buffer's name and the comparison its little-endian value must pass.
    pub int_conds: Vec<(&'static str, keywords::Cmp)>,
    /// `krb5.ticket_encryption`.
    pub ticket_enc: Option<keywords::EtypeCond>,
    /// `stream-event`: stream events ([`crate::detect::stream_event`] bits) the packet must
    /// have raised.
    pub stream_events: u32,
    /// `decode-event`: decoder events ([`crate::decode::event`] bits) the packet must carry.
    pub decode_events: u32,
    /// `dataset` operations on sticky buffers.
    pub datasets: Vec<(Buffer, crate::detect::dataset::DatasetSpec)>,
    /// Conditions on a transaction's files (`filesize`, `filemd5`...).
    pub file_conds: Vec<keywords::FileCondSpec>,
    /// Inspection steps, each bound to a buffer.
    pub inspect: Vec<(Buffer, Inspect)>,
    /// `target`.
    pub target: Option<Target>,
    /// Packet-header keywords (dsize, ttl, flags...).
    pub packet: Vec<keywords::PacketCond>,
    /// `flowbits` operations and conditions.
    pub flowbits: Vec<keywords::FlowbitOp>,
    /// `flowint` operations and conditions, in rule order.
    pub flowints: Vec<keywords::FlowintSpec>,
    /// `xbits` operations and conditions: (name, operation, track).
    pub xbits: Vec<(
        String,
        crate::detect::xbits::XOp,
        crate::detect::xbits::XTrack,
    )>,
    /// `flowbits:noalert` or `noalert`: match silently (flowbits still act).
    pub noalert: bool,
    /// `iprep` conditions on the packet's ends.
    pub iprep: Vec<crate::detect::intel::iprep::IprepCond>,
    /// Raised by the sensor, never matched by the engine (an intel list's signature).
    pub external: bool,
    /// `tag` keywords: what to log after the rule fires.
    pub tags: Vec<crate::detect::tag::TagSpec>,
    /// `stream_size`.
    pub stream_size: Vec<(keywords::StreamSide, keywords::Cmp)>,
    /// `threshold`.
    pub threshold: Option<keywords::ThresholdSpec>,
    /// `detection_filter`.
    pub detection_filter: Option<keywords::ThresholdSpec>,
    /// Transforms applied to sticky buffers, by buffer.
    pub transforms: Vec<(Buffer, &'static str, Option<String>)>,
    /// Engine parts the rule needs beyond packets (e.g. "stream reassembly"); until they exist
    /// the rule is loaded but cannot match.
    pub needs: Vec<&'static str>,
    /// Keywords the parser understood but the engine cannot evaluate yet.
    pub unsupported: Vec<&'static str>,
    /// Where the rule came from.
    pub origin: Option<Origin>,
    /// The rule text, for reports.
    pub text: String,
}

impl Rule {
    /// The contents of the rule, in order.
    pub fn contents(&self) -> impl Iterator<Item = (Buffer, &Content)> {
        self.inspect.iter().filter_map(|(b, i)| match i {
            Inspect::Content(c) => Some((*b, c)),
            _ => None,
        })
    }

    /// `gid:sid`, the identity later packs override by.
    pub fn key(&self) -> (u32, u32) {
        (self.gid, self.sid)
    }
}
