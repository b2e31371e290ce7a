//! A compiled rule ([`Sig`]) and the predicates that decide, cheapest first, whether it
//! matches a packet: header, flow, packet keywords, flowbits and xbits, payload chain.

use super::tx::AppList;
use super::*;

/// A compiled `app-layer-protocol` condition.
#[derive(Clone, Debug)]
pub(super) struct AlprotoCond {
    /// None of the protocols.
    pub negated: bool,
    /// The protocols, any of which matches.
    pub protos: Vec<AppProto>,
    /// The protocol before a hand-over.
    pub original: bool,
    /// The flow's protocol itself, not one it counts as.
    pub exact: bool,
}

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
    pub(super) stream_size: Vec<(StreamSide, Cmp)>,
    pub(super) l4: L4,
    /// `ipv4`/`ipv6` in the header: packets of that IP version only.
    pub(super) ip_version: Option<u8>,
    pub(super) src: AddrSet,
    pub(super) sport: PortSet,
    pub(super) dst: AddrSet,
    pub(super) dport: PortSet,
    pub(super) bidirectional: bool,
    pub(super) flow: FlowMatch,
    pub(super) packet: Vec<PacketCond>,
    pub(super) fb_conds: Vec<FlowbitCond>,
    /// `flowint`s in rule order, run once the other conditions matched.
    pub(super) flowints: Vec<FlowintStep>,
    pub(super) fb_sets: Vec<(FlowbitAct, u32)>,
    pub(super) xbits: Vec<(u32, XOp, XTrack)>,
    pub(super) steps: Vec<Step>,
    /// Inspects packets only (`dsize`, `flow:no_stream`).
    pub(super) packet_only: bool,
    /// Inspects the reassembled stream only (`flow:only_stream`).
    pub(super) stream_only: bool,
    /// Also inspects each packet's payload while its flow is reassembled (a content pinned
    /// by offset/depth/startswith, or `stream_size`), as Suricata's packet-and-stream rules.
    pub(super) requires_packet: bool,
    /// The chain has a positive content/pcre, so a stream match has an end offset.
    pub(super) anchored: bool,
    /// Bytes before new stream data its verification looks at: [`STREAM_SCAN_LOOKBACK`], or
    /// more for a rule whose longest content is longer (so it matches across segments).
    pub(super) stream_lookback: usize,
    /// Header-only rule (Suricata's IP-only): checked once per flow direction.
    pub(super) ip_only: bool,
    /// Suricata's "PD-only": header, `flow` and `app-layer-protocol` only; inspected on the
    /// packet where the flow's protocol became known, once.
    pub(super) pd_only: bool,
    /// The flow's app-layer protocol must be this one.
    pub(super) app_proto: Option<AppProto>,
    /// `app-layer-protocol` conditions; a negated one is never true before the flow's
    /// protocol is known.
    pub(super) alproto_conds: Vec<AlprotoCond>,
    /// Inspection chains on app-layer buffers: the rule is inspected per transaction.
    pub(super) app_lists: Vec<AppList>,
    /// Transaction events the rule requires (`app-layer-event`).
    pub(super) app_events: u32,
    /// The protocols whose transactions the rule inspects (a mask of [`AppProto::bit`]s);
    /// 0 for packet and stream rules.
    pub(super) tx_protos: u32,
    /// `ftpbounce`.
    pub(super) ftpbounce: bool,
    /// `dce_iface`.
    pub(super) dce_iface: Option<crate::detect::rules::keywords::DceIface>,
    /// `dce_opnum` ranges (empty: no test).
    pub(super) dce_opnums: Vec<(u16, u16)>,
    /// Integer tests on transaction fields (`krb5_msg_type`...).
    pub(super) int_conds: Vec<(Buf, crate::detect::rules::keywords::Cmp)>,
    /// `krb5.ticket_encryption`.
    pub(super) ticket_enc: Option<crate::detect::rules::keywords::EtypeCond>,
    /// Conditions one file of the transaction must all meet.
    pub(super) file_conds: Vec<FileCond>,
    /// A pcre stores captures in variables.
    pub(super) captures: bool,
    /// Stream events the packet must have raised (`stream-event`).
    pub(super) stream_events: u32,
    /// Decoder events the packet must carry (`decode-event`).
    pub(super) decode_events: u32,
    /// Chains on packet header buffers, in rule order (variables flow from one to the next).
    pub(super) hdr_lists: Vec<(HdrBuf, Vec<Step>)>,
    /// `iprep` conditions.
    pub(super) iprep: Vec<intel::iprep::IprepCond>,
    /// `dataset`/`datarep` on packet header buffers (`ip.src`, `ip.dst`...).
    pub(super) hdr_sets: Vec<(HdrBuf, dataset::DatasetCmd, u32)>,
    /// An intel list's signature: raised by the worker on a hit, never matched here.
    pub external: bool,
}

/// A packet header buffer (`ipv4.hdr`, `tcp.hdr`...).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum HdrBuf {
    Ipv4,
    Ipv6,
    Tcp,
    Udp,
    Icmp4,
    Icmp6,
    /// The source address (4 or 16 bytes).
    IpSrc,
    /// The destination address.
    IpDst,
}

impl HdrBuf {
    pub(super) fn from_name(name: &str) -> Option<HdrBuf> {
        Some(match name {
            "ipv4.hdr" => HdrBuf::Ipv4,
            "ipv6.hdr" => HdrBuf::Ipv6,
            "tcp.hdr" => HdrBuf::Tcp,
            "udp.hdr" => HdrBuf::Udp,
            "icmpv4.hdr" => HdrBuf::Icmp4,
            "icmpv6.hdr" => HdrBuf::Icmp6,
            "ip.src" => HdrBuf::IpSrc,
            "ip.dst" => HdrBuf::IpDst,
            _ => return None,
        })
    }

    /// The header's bytes in `p`, if the packet has that header.
    pub(super) fn slice<'a>(self, p: &Packet<'a>) -> Option<&'a [u8]> {
        let l4 = |n: usize| p.l4.get(..n.min(p.l4.len()));
        match self {
            HdrBuf::Ipv4 if p.ip_version == 4 => Some(p.ip_header),
            HdrBuf::Ipv6 if p.ip_version == 6 => Some(p.ip_header),
            HdrBuf::Tcp if p.proto == 6 && p.l4.len() >= 20 => l4(usize::from(p.l4[12] >> 4) * 4),
            HdrBuf::Udp if p.proto == 17 => l4(8),
            HdrBuf::Icmp4 if p.proto == 1 => l4(8),
            HdrBuf::Icmp6 if p.proto == 58 => l4(8),
            HdrBuf::IpSrc if p.ip_version == 4 => p.ip_header.get(12..16),
            HdrBuf::IpDst if p.ip_version == 4 => p.ip_header.get(16..20),
            HdrBuf::IpSrc if p.ip_version == 6 => p.ip_header.get(8..24),
            HdrBuf::IpDst if p.ip_version == 6 => p.ip_header.get(24..40),
            _ => None,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum FlowbitAct {
    Set,
    Unset,
    Toggle,
}

impl Sig {
    /// Whether the rule inspects packet payloads and the stream both, so that a match on a
    /// packet may meet the same data again on the stream.
    pub fn on_packets_and_stream(&self) -> bool {
        self.requires_packet
    }

    /// Whether the datasets on header buffers (`ip.src; dataset:...`) match.
    #[inline]
    pub(super) fn hdr_sets_hold(&self, sets: &dataset::Datasets, p: &Packet<'_>) -> bool {
        self.hdr_sets
            .iter()
            .all(|&(hb, cmd, id)| hb.slice(p).is_some_and(|v| sets.apply(id, cmd, v)))
    }

    /// Whether the `iprep` conditions hold (none: true; no reputation loaded: only
    /// `isnotset` can hold).
    #[inline]
    pub(super) fn iprep_holds(&self, snap: Option<&intel::Snapshot>, p: &Packet<'_>) -> bool {
        if self.iprep.is_empty() {
            return true;
        }
        let rep = snap.map(|s| &*s.rep);
        self.iprep.iter().all(|c| c.holds(rep, p.src, p.dst))
    }

    /// Whether the rule's xbits conditions hold for the packet's hosts.
    #[inline]
    pub(super) fn xbits_hold(&self, xbits: &XBits, p: &Packet<'_>, now: Micros) -> bool {
        self.xbits.iter().all(|&(bit, op, track)| match op {
            XOp::IsSet => xbits.is_set(bit, track, p.src, p.dst, now),
            XOp::IsNotSet => !xbits.is_set(bit, track, p.src, p.dst, now),
            _ => true,
        })
    }

    /// What a match does besides alerting: xbits and flowbits set, unset, toggled; pcre
    /// captures stored in flow variables (`bits`) or packet variables (`pktvars`).
    pub(super) fn apply_actions(
        &self,
        xbits: &XBits,
        bits: &mut FlowBits,
        pktvars: &mut Vec<(Arc<str>, Vec<u8>)>,
        p: &Packet<'_>,
        f: FlowFacts,
    ) {
        if self.captures {
            inspect::take_captures(|flow, name, v| {
                if flow {
                    if f.tracked {
                        bits.set_var(name, v);
                    }
                } else if pktvars.len() < 16 {
                    pktvars.push((name.clone(), v));
                }
            });
        }
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

    #[inline]
    pub(super) fn header_matches(&self, p: &Packet<'_>) -> bool {
        if !self.l4.matches(p.proto) || p.events & self.decode_events != self.decode_events {
            return false;
        }
        if self.ip_version.is_some_and(|v| v != p.ip_version) {
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
    pub(super) fn flow_matches(&self, f: FlowFacts) -> bool {
        if self.pd_only && !f.proto_detected {
            return false;
        }
        if self
            .app_proto
            .is_some_and(|a| !AppProto::rule_matches(a, f.app_proto))
        {
            return false;
        }
        if f.stream_events & self.stream_events != self.stream_events {
            return false;
        }
        for c in &self.alproto_conds {
            // `original`: the protocol before a hand-over (SMTP before STARTTLS); the
            // other modes all see the flow's one protocol.
            let proto = match (c.original, f.upgraded_from) {
                (true, AppProto::Unknown) | (false, _) => f.app_proto,
                (true, before) => before,
            };
            let listed = if c.exact {
                c.protos.contains(&proto)
            } else {
                c.protos.iter().any(|&p| AppProto::equals(p, proto))
            };
            // `unknown` matches a flow whose protocol is not known yet; a negated list does
            // not match such a flow.
            let known = f.app_proto != AppProto::Unknown;
            if listed == c.negated || (!known && c.negated) {
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

    pub(super) fn packet_matches(&self, p: &Packet<'_>) -> bool {
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
    pub(super) fn payload_matches(&self, p: &Packet<'_>, view: View<'_>) -> bool {
        match view {
            View::Packet { stream_active } => {
                let stream_rule = !self.packet_only && !self.requires_packet;
                if self.stream_only || (stream_active && stream_rule && !self.steps.is_empty()) {
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

/// A compiled condition on a file (`filesize`, `filemd5`...).
#[derive(Debug)]
pub(super) enum FileCond {
    Size(crate::detect::rules::keywords::Cmp),
    Hash {
        kind: u8,
        negated: bool,
        set: Arc<std::collections::HashSet<Vec<u8>>>,
    },
    /// `filestore`: always holds; marks the file for the store when the rule fires.
    Store,
}

impl Sig {
    /// Whether the rule stores the files it matches (`filestore`).
    pub fn stores_files(&self) -> bool {
        self.file_conds.iter().any(|c| matches!(c, FileCond::Store))
    }
}

impl FileCond {
    /// Whether `f` meets the condition. Sizes other than `>`/`>=` and hashes wait for the
    /// file's end (a closed file's size and digest are final).
    pub(super) fn holds(&self, f: &crate::applayer::File) -> bool {
        use crate::detect::rules::keywords::Cmp;
        match self {
            FileCond::Size(cmp @ (Cmp::Gt(_) | Cmp::Ge(_))) => cmp.test(f.size),
            FileCond::Size(cmp) => f.done() && cmp.test(f.size),
            FileCond::Hash { kind, negated, set } => {
                use crate::applayer::files::hash;
                let digest: Option<&[u8]> = match *kind {
                    hash::MD5 => f.md5.as_ref().map(|h| &h[..]),
                    hash::SHA1 => f.sha1.as_ref().map(|h| &h[..]),
                    _ => f.sha256.as_ref().map(|h| &h[..]),
                };
                digest.is_some_and(|d| set.contains(d) != *negated)
            }
            FileCond::Store => true,
        }
    }
}
