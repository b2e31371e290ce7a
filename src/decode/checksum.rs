//! Internet checksums (RFC 1071) for IPv4 headers and TCP/UDP/ICMP over IPv4 and IPv6.
//!
//! Validation is on the raw frame: the decoder's [`super::Packet`] keeps only what detection
//! needs, so the checker re-reads header bytes from the IP header it is given.

use std::net::IpAddr;

/// Sums 16-bit big-endian words into a 32-bit accumulator.
#[inline]
fn sum_words(mut acc: u32, data: &[u8]) -> u32 {
    let mut chunks = data.chunks_exact(2);
    for c in &mut chunks {
        acc = acc.wrapping_add(u32::from(u16::from_be_bytes([c[0], c[1]])));
    }
    if let [last] = chunks.remainder() {
        acc = acc.wrapping_add(u32::from(*last) << 8);
    }
    acc
}

#[inline]
fn fold(mut acc: u32) -> u16 {
    while acc > 0xffff {
        acc = (acc & 0xffff) + (acc >> 16);
    }
    acc as u16
}

/// Whether an IPv4 header (with options) has a valid checksum.
pub fn ipv4_header_ok(header: &[u8]) -> bool {
    fold(sum_words(0, header)) == 0xffff
}

/// Whether a complete TCP/UDP/ICMPv6 segment (`l4`, header and payload) has a valid checksum
/// over the pseudo-header; ICMPv4 has none (`proto` 1 sums only the message).
/// A UDP checksum of zero over IPv4 means "not computed" and is valid.
pub fn l4_ok(src: IpAddr, dst: IpAddr, proto: u8, l4: &[u8]) -> bool {
    if proto == 17 && src.is_ipv4() && l4.len() >= 8 && l4[6] == 0 && l4[7] == 0 {
        return true;
    }
    let mut acc = 0u32;
    if proto != 1 {
        acc = match (src, dst) {
            (IpAddr::V4(s), IpAddr::V4(d)) => sum_words(sum_words(acc, &s.octets()), &d.octets()),
            (IpAddr::V6(s), IpAddr::V6(d)) => sum_words(sum_words(acc, &s.octets()), &d.octets()),
            _ => return false,
        };
        acc = acc.wrapping_add(u32::from(proto));
        acc = acc
            .wrapping_add(l4.len() as u32 & 0xffff)
            .wrapping_add((l4.len() as u32) >> 16);
    }
    fold(sum_words(acc, l4)) == 0xffff
}

#[cfg(test)]
mod tests {
    use super::*;
    use etherparse::PacketBuilder;

    #[test]
    fn valid_and_corrupted() {
        let b = PacketBuilder::ipv4([192, 168, 1, 1], [192, 168, 1, 2], 64).tcp(1, 2, 3, 4);
        let mut pkt = Vec::new();
        b.write(&mut pkt, b"abc").unwrap();
        let (src, dst) = (
            "192.168.1.1".parse().unwrap(),
            "192.168.1.2".parse().unwrap(),
        );
        assert!(ipv4_header_ok(&pkt[..20]));
        assert!(l4_ok(src, dst, 6, &pkt[20..]));
        let last = pkt.len() - 1;
        pkt[last] ^= 0xff;
        assert!(!l4_ok(src, dst, 6, &pkt[20..]));
        pkt[8] ^= 1;
        assert!(!ipv4_header_ok(&pkt[..20]));
    }

    #[test]
    fn udp_zero_checksum_and_ipv6() {
        let b = PacketBuilder::ipv6([1; 16], [2; 16], 8).udp(5, 6);
        let mut pkt = Vec::new();
        b.write(&mut pkt, b"odd").unwrap();
        let (s, d) = (IpAddr::from([1u8; 16]), IpAddr::from([2u8; 16]));
        assert!(l4_ok(s, d, 17, &pkt[40..]));
        let b = PacketBuilder::ipv4([1, 1, 1, 1], [2, 2, 2, 2], 8).udp(5, 6);
        let mut pkt = Vec::new();
        b.write(&mut pkt, b"x").unwrap();
        pkt[26] = 0;
        pkt[27] = 0;
        assert!(l4_ok(
            "1.1.1.1".parse().unwrap(),
            "2.2.2.2".parse().unwrap(),
            17,
            &pkt[20..]
        ));
    }
}
