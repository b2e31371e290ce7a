//! Inline `reject`: the frame sent back to the source of a rejected packet, out of the
//! interface it came in on. TCP gets a RST (RFC 9293 reset generation: `seq` = the segment's
//! ACK if it had one, else an ACK of everything the segment carried); anything else over IPv4
//! an ICMP port unreachable, over IPv6 an ICMPv6 port unreachable, quoting the packet.
//! Ethernet frames only; the addresses are the packet's own, swapped.

use etherparse::{
    icmpv4, icmpv6, Icmpv4Type, Icmpv6Type, NetSlice, PacketBuilder, SlicedPacket, TransportSlice,
};

use crate::decode::LinkType;

/// Bytes of the offending packet quoted in an ICMPv6 error (keeps it within 1280).
const ICMP6_QUOTE: usize = 1180;

/// Writes the reject frame for `frame` into `out` (cleared first). False when there is none
/// to send: not Ethernet, not IP, or a RST (never answered).
pub fn build(link: LinkType, frame: &[u8], out: &mut Vec<u8>) -> bool {
    out.clear();
    if link != LinkType::Ethernet {
        return false;
    }
    let Ok(p) = SlicedPacket::from_ethernet(frame) else {
        return false;
    };
    let Some(etherparse::LinkSlice::Ethernet2(eth)) = &p.link else {
        return false;
    };
    let (src_mac, dst_mac) = (eth.source(), eth.destination());
    let eth_b = PacketBuilder::ethernet2(dst_mac, src_mac);
    let res = match (&p.net, &p.transport) {
        (Some(net), Some(TransportSlice::Tcp(t))) => {
            if t.rst() {
                return false;
            }
            let seg_len = t.payload().len() as u32 + u32::from(t.syn()) + u32::from(t.fin());
            let (seq, ack) = if t.ack() {
                (t.acknowledgment_number(), None)
            } else {
                (0, Some(t.sequence_number().wrapping_add(seg_len)))
            };
            let ip = match net {
                NetSlice::Ipv4(v4) => {
                    let h = v4.header();
                    eth_b.ipv4(h.destination(), h.source(), 64)
                }
                NetSlice::Ipv6(v6) => {
                    let h = v6.header();
                    eth_b.ipv6(h.destination(), h.source(), 64)
                }
                _ => return false,
            };
            let b = ip.tcp(t.destination_port(), t.source_port(), seq, 0).rst();
            let b = match ack {
                Some(a) => b.ack(a),
                None => b,
            };
            b.write(out, &[])
        }
        (Some(NetSlice::Ipv4(v4)), _) => {
            let h = v4.header();
            // The original IP header and the first 8 bytes of its payload (RFC 792).
            let hl = usize::from(h.ihl()) * 4;
            let ip_start = h.slice().as_ptr() as usize - frame.as_ptr() as usize;
            let end = (ip_start + (hl + 8).min(usize::from(h.total_len()))).min(frame.len());
            let quote = &frame[ip_start..end];
            eth_b
                .ipv4(h.destination(), h.source(), 64)
                .icmpv4(Icmpv4Type::DestinationUnreachable(
                    icmpv4::DestUnreachableHeader::Port,
                ))
                .write(out, quote)
        }
        (Some(NetSlice::Ipv6(v6)), _) => {
            let h = v6.header();
            let ip_start = h.slice().as_ptr() as usize - frame.as_ptr() as usize;
            let len = (40 + usize::from(h.payload_length())).min(ICMP6_QUOTE);
            let quote = &frame[ip_start..(ip_start + len).min(frame.len())];
            eth_b
                .ipv6(h.destination(), h.source(), 64)
                .icmpv6(Icmpv6Type::DestinationUnreachable(
                    icmpv6::DestUnreachableCode::Port,
                ))
                .write(out, quote)
        }
        _ => return false,
    };
    res.is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: [u8; 6] = [2, 0, 0, 0, 0, 1];
    const B: [u8; 6] = [2, 0, 0, 0, 0, 2];

    fn tcp(flags_ack: bool, syn: bool) -> Vec<u8> {
        let mut out = Vec::new();
        let b = PacketBuilder::ethernet2(A, B)
            .ipv4([10, 0, 0, 1], [10, 0, 0, 2], 64)
            .tcp(40000, 80, 1000, 512);
        let b = if syn { b.syn() } else { b };
        let b = if flags_ack { b.ack(5000) } else { b };
        b.write(&mut out, b"GET /").unwrap();
        out
    }

    #[test]
    fn tcp_rst_follows_rfc_reset_generation() {
        // With ACK: RST whose seq is the segment's ack, back to the sender.
        let mut out = Vec::new();
        assert!(build(LinkType::Ethernet, &tcp(true, false), &mut out));
        let p = SlicedPacket::from_ethernet(&out).unwrap();
        let Some(etherparse::LinkSlice::Ethernet2(e)) = &p.link else {
            panic!()
        };
        assert_eq!((e.source(), e.destination()), (B, A));
        let Some(NetSlice::Ipv4(ip)) = &p.net else {
            panic!()
        };
        assert_eq!(ip.header().destination(), [10, 0, 0, 1]);
        let Some(TransportSlice::Tcp(t)) = &p.transport else {
            panic!()
        };
        assert!(t.rst() && !t.ack());
        assert_eq!((t.source_port(), t.destination_port()), (80, 40000));
        assert_eq!(t.sequence_number(), 5000);
        // Without ACK (a SYN with data): seq 0, ACK of seq + payload + SYN.
        let mut out2 = Vec::new();
        assert!(build(LinkType::Ethernet, &tcp(false, true), &mut out2));
        let p = SlicedPacket::from_ethernet(&out2).unwrap();
        let Some(TransportSlice::Tcp(t)) = &p.transport else {
            panic!()
        };
        assert!(t.rst() && t.ack());
        assert_eq!(
            (t.sequence_number(), t.acknowledgment_number()),
            (0, 1000 + 5 + 1)
        );
        // A RST is never answered, and only Ethernet frames are.
        let mut rst = Vec::new();
        PacketBuilder::ethernet2(A, B)
            .ipv4([10, 0, 0, 1], [10, 0, 0, 2], 64)
            .tcp(1, 2, 3, 4)
            .rst()
            .write(&mut rst, &[])
            .unwrap();
        let mut out3 = Vec::new();
        assert!(!build(LinkType::Ethernet, &rst, &mut out3));
        assert!(!build(LinkType::Raw, &tcp(true, false), &mut out3));
    }

    #[test]
    fn udp_gets_port_unreachable_quoting_the_packet() {
        let mut udp = Vec::new();
        PacketBuilder::ethernet2(A, B)
            .ipv4([10, 0, 0, 1], [10, 0, 0, 2], 64)
            .udp(5353, 9999)
            .write(&mut udp, b"EVIL payload here")
            .unwrap();
        let mut out = Vec::new();
        assert!(build(LinkType::Ethernet, &udp, &mut out));
        let p = SlicedPacket::from_ethernet(&out).unwrap();
        let Some(TransportSlice::Icmpv4(i)) = &p.transport else {
            panic!("{:?}", p.transport)
        };
        assert_eq!(
            i.icmp_type(),
            Icmpv4Type::DestinationUnreachable(icmpv4::DestUnreachableHeader::Port)
        );
        // IP header (20) + 8 bytes of the UDP datagram.
        assert_eq!(i.payload().len(), 28);
        assert_eq!(&i.payload()[..20], &udp[14..34]);
        drop(p);
        let mut v6 = Vec::new();
        PacketBuilder::ethernet2(A, B)
            .ipv6([1; 16], [2; 16], 64)
            .udp(1, 2)
            .write(&mut v6, b"x")
            .unwrap();
        assert!(build(LinkType::Ethernet, &v6, &mut out));
        let p = SlicedPacket::from_ethernet(&out).unwrap();
        assert!(matches!(p.transport, Some(TransportSlice::Icmpv6(_))));
    }
}
