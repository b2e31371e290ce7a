//! Community ID v1 (corelight/community-id-spec): a flow hash that other tools (Zeek, Suricata,
//! Arkime) compute the same way, so SIEMs can join their records. Seed 0.

use std::net::IpAddr;

/// ICMP types that come in request/response pairs; the pair maps to the same ID.
fn icmp_counterpart(v6: bool, t: u8) -> Option<u8> {
    let pairs: &[(u8, u8)] = if v6 {
        &[
            (128, 129),
            (130, 131),
            (133, 134),
            (135, 136),
            (139, 140),
            (144, 145),
        ]
    } else {
        &[(8, 0), (13, 14), (15, 16), (10, 9), (17, 18)]
    };
    pairs.iter().find_map(|&(a, b)| {
        if t == a {
            Some(b)
        } else if t == b {
            Some(a)
        } else {
            None
        }
    })
}

/// An address's bytes in a fixed buffer (4 or 16 used).
fn ip_bytes(ip: &IpAddr) -> ([u8; 16], usize) {
    let mut b = [0u8; 16];
    match ip {
        IpAddr::V4(a) => {
            b[..4].copy_from_slice(&a.octets());
            (b, 4)
        }
        IpAddr::V6(a) => (a.octets(), 16),
    }
}

/// The Community ID (`1:` + base64 of a SHA-1) of a flow seen from (src, sport) to (dst, dport).
/// For ICMP, `sport`/`dport` are the type and code.
pub fn community_id(src: IpAddr, dst: IpAddr, proto: u8, sport: u16, dport: u16) -> String {
    String::from_utf8_lossy(&community_id_bytes(src, dst, proto, sport, dport)).into_owned()
}

/// [`community_id`] without allocating: always 30 ASCII bytes.
pub fn community_id_bytes(src: IpAddr, dst: IpAddr, proto: u8, sport: u16, dport: u16) -> [u8; 30] {
    let (mut sport, mut dport) = (sport, dport);
    let mut one_way = false;
    if proto == 1 || proto == 58 {
        let t = sport as u8;
        match icmp_counterpart(proto == 58, t) {
            Some(c) => dport = u16::from(c),
            None => one_way = true,
        }
        sport = u16::from(t);
    }
    let ((a_buf, la), (b_buf, lb)) = (ip_bytes(&src), ip_bytes(&dst));
    let (a, b) = (&a_buf[..la], &b_buf[..lb]);
    let ordered = one_way || (a, sport) < (b, dport);
    let (a, b, sp, dp) = if ordered || (a == b && sport <= dport) {
        (a, b, sport, dport)
    } else {
        (b, a, dport, sport)
    };
    let mut h = sha1_smol::Sha1::new();
    h.update(&0u16.to_be_bytes());
    h.update(a);
    h.update(b);
    h.update(&[proto, 0]);
    if matches!(proto, 1 | 6 | 17 | 58 | 132) {
        h.update(&sp.to_be_bytes());
        h.update(&dp.to_be_bytes());
    }
    let digest = h.digest().bytes();
    let mut out = [0u8; 30];
    out[..2].copy_from_slice(b"1:");
    crate::common::base64(&digest, &mut out[2..]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    // Reference values from the Community ID specification's test vectors (seed 0).
    #[test]
    fn spec_vectors() {
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        assert_eq!(
            community_id(ip("128.232.110.120"), ip("66.35.250.204"), 6, 34855, 80),
            "1:LQU9qZlK+B5F3KDmev6m5PMibrg="
        );
        // The reverse direction gives the same ID.
        assert_eq!(
            community_id(ip("66.35.250.204"), ip("128.232.110.120"), 6, 80, 34855),
            "1:LQU9qZlK+B5F3KDmev6m5PMibrg="
        );
        assert_eq!(
            community_id(ip("192.168.1.52"), ip("8.8.8.8"), 17, 54585, 53),
            "1:d/FP5EW3wiY1vCndhwleRRKHowQ="
        );
        assert_eq!(
            community_id(ip("192.168.0.89"), ip("192.168.0.1"), 1, 8, 0),
            "1:X0snYXpgwiv9TZtqg64sgzUn6Dk="
        );
        assert_eq!(
            community_id(ip("192.168.0.1"), ip("192.168.0.89"), 1, 0, 0),
            "1:X0snYXpgwiv9TZtqg64sgzUn6Dk="
        );
        assert_eq!(
            community_id(
                ip("fe80::200:86ff:fe05:80da"),
                ip("fe80::260:97ff:fe07:69ea"),
                58,
                135,
                0
            ),
            "1:dGHyGvjMfljg6Bppwm3bg0LO8TY="
        );
    }

    #[test]
    fn base64_padding() {
        let mut s = [0u8; 4];
        crate::common::base64(b"ab", &mut s);
        assert_eq!(&s, b"YWI=");
        crate::common::base64(b"abc", &mut s);
        assert_eq!(&s, b"YWJj");
    }
}
