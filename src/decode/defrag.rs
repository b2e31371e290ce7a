//! IPv4 and IPv6 defragmentation.
//!
//! Fragments are collected per (addresses, protocol, id, VLAN) until the datagram is complete,
//! then rebuilt as one unfragmented IP packet that goes through decode and detection like any
//! other. Overlapping fragments are resolved by the same target-based policies as TCP
//! reassembly, and overlaps that carry different bytes are counted (a classic evasion). Memory
//! is bounded by a memcap and per-datagram limits; incomplete datagrams time out. Each worker
//! owns one defragmenter (fragments of a datagram hash to the same worker).

use std::collections::{HashMap, VecDeque};

use crate::common::bufpool;
use crate::common::net::addr_key;
use crate::common::overlap::{resolve_overlap, OverlapPolicy};
use crate::common::time::Micros;
use crate::decode::{checksum, Packet};

/// Defragmentation limits (`[defrag]` config section).
#[derive(Clone, Debug)]
pub struct DefragConfig {
    /// Overlap policy.
    pub policy: OverlapPolicy,
    /// Seconds an incomplete datagram is kept.
    pub timeout: u32,
    /// Bytes held in incomplete datagrams (per worker).
    pub memcap: usize,
    /// Fragments accepted per datagram.
    pub max_fragments: usize,
    /// Overlap policy by receiving network (`policy` where none matches).
    pub hosts: std::sync::Arc<crate::common::hostpolicy::HostPolicies>,
}

impl Default for DefragConfig {
    fn default() -> Self {
        DefragConfig {
            policy: OverlapPolicy::Bsd,
            timeout: 60,
            memcap: 16 << 20,
            max_fragments: 256,
            hosts: Default::default(),
        }
    }
}

/// Counters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DefragStats {
    /// Fragments received (every one is also inspected as a packet).
    pub fragments: u64,
    /// Datagrams rebuilt.
    pub reassembled: u64,
    /// Fragments overlapping earlier ones with different bytes.
    pub overlap_diff: u64,
    /// Incomplete datagrams dropped after the timeout.
    pub timeouts: u64,
    /// Fragments refused: memcap, too many fragments, or a datagram over 65,535 bytes.
    pub refused: u64,
    /// Fragments that cannot be reassembled (IPv6 extension layout, bad header).
    pub unsupported: u64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
struct Key {
    src: u128,
    dst: u128,
    id: u32,
    proto: u8,
    vlan: [u16; 2],
}

impl Drop for Datagram {
    fn drop(&mut self) {
        for (_, buf) in self.frags.drain(..) {
            bufpool::recycle(buf);
        }
    }
}

struct Datagram {
    first_seen: Micros,
    /// IP header of the first fragment (offset 0), when seen.
    header: Vec<u8>,
    frags: Vec<(u32, Vec<u8>)>,
    /// Payload length, once the last fragment (MF clear) has been seen.
    total: Option<u32>,
    bytes: usize,
}

/// Bytes a datagram costs beyond its fragments' buffers (its entry, header and bookkeeping),
/// counted against the memcap so that floods of tiny fragments are bounded too.
const DATAGRAM_OVERHEAD: usize = 256;

/// One worker's defragmenter.
pub struct Defragmenter {
    cfg: DefragConfig,
    /// Keyed with a seeded hasher: keys come from traffic.
    map: HashMap<Key, Datagram, foldhash::fast::RandomState>,
    /// Datagrams in the order they started (first fragment time), for expiry: entries of
    /// datagrams already completed are skipped when they reach the front.
    order: VecDeque<(Micros, Key)>,
    used: usize,
    next_sweep: Micros,
    /// Counters.
    pub stats: DefragStats,
}

/// Largest IP datagram.
const MAX_DATAGRAM: u32 = 65_535;

impl Defragmenter {
    /// A defragmenter with the given limits.
    pub fn new(cfg: DefragConfig) -> Defragmenter {
        Defragmenter {
            cfg,
            map: HashMap::default(),
            order: VecDeque::new(),
            used: 0,
            next_sweep: Micros::MIN,
            stats: DefragStats::default(),
        }
    }

    /// Incomplete datagrams held.
    pub fn pending(&self) -> usize {
        self.map.len()
    }

    /// Memory held, as counted against the memcap.
    pub fn used(&self) -> usize {
        self.used
    }

    /// Drops datagrams incomplete for longer than the timeout: pops the front of the start
    /// order, so each datagram is looked at once (amortised O(1) per fragment).
    fn sweep(&mut self, now: Micros) {
        let window = i64::from(self.cfg.timeout) * 1_000_000;
        while let Some(&(first_seen, key)) = self.order.front() {
            if now - first_seen < window {
                break;
            }
            self.order.pop_front();
            if self
                .map
                .get(&key)
                .is_some_and(|d| d.first_seen == first_seen)
            {
                let d = self.map.remove(&key).expect("present");
                self.used -= d.bytes;
                self.stats.timeouts += 1;
            }
        }
        // Completed datagrams leave stale entries behind: compact when they dominate.
        if self.order.len() > 2 * self.map.len() + 1024 {
            let map = &self.map;
            self.order
                .retain(|(t, k)| map.get(k).is_some_and(|d| d.first_seen == *t));
        }
    }

    /// Adds a fragment. When it completes its datagram, the rebuilt packet (IP header and
    /// whole payload) is written to `out` and `true` is returned.
    pub fn add(&mut self, p: &Packet<'_>, now: Micros, out: &mut Vec<u8>) -> bool {
        if !p.fragment {
            return false;
        }
        self.stats.fragments += 1;
        let Some(fi) = p.frag else {
            // An IPv6 fragment whose Fragment header follows other extension headers.
            self.stats.unsupported += 1;
            return false;
        };
        if now >= self.next_sweep {
            self.sweep(now);
            self.next_sweep = now.saturating_add(1_000_000);
        }
        let data = p.payload;
        let end = fi.offset + data.len() as u32;
        if end > MAX_DATAGRAM || (fi.more && data.len() % 8 != 0) || p.truncated {
            self.stats.refused += 1;
            return false;
        }
        let key = Key {
            src: addr_key(p.src),
            dst: addr_key(p.dst),
            id: fi.id,
            proto: fi.proto,
            vlan: p.vlan,
        };
        let is_new = !self.map.contains_key(&key);
        let cost = bufpool::cost(data.len()) + if is_new { DATAGRAM_OVERHEAD } else { 0 };
        if self.used + cost > self.cfg.memcap {
            self.stats.refused += 1;
            return false;
        }
        if is_new {
            self.order.push_back((now, key));
            self.used += DATAGRAM_OVERHEAD;
        }
        let d = self.map.entry(key).or_insert_with(|| Datagram {
            first_seen: now,
            header: Vec::new(),
            frags: Vec::new(),
            total: None,
            bytes: DATAGRAM_OVERHEAD,
        });
        if d.frags.len() >= self.cfg.max_fragments {
            self.stats.refused += 1;
            return false;
        }
        if fi.offset == 0 && d.header.is_empty() {
            d.header.extend_from_slice(p.ip_header);
        }
        if !fi.more {
            d.total = Some(end);
        }
        let mut new = bufpool::copy_of(data);
        let (n0, n1) = (u64::from(fi.offset), u64::from(end));
        let policy = self.cfg.hosts.for_host(p.dst, self.cfg.policy);
        for (off, old) in d.frags.iter_mut() {
            let (o0, o1) = (u64::from(*off), u64::from(*off) + old.len() as u64);
            let (a, b) = (n0.max(o0), n1.min(o1));
            if a >= b {
                continue;
            }
            let old_part = &mut old[(a - o0) as usize..(b - o0) as usize];
            let new_part = &mut new[(a - n0) as usize..(b - n0) as usize];
            if old_part != new_part {
                self.stats.overlap_diff += 1;
                resolve_overlap(policy, (n0, n1), (o0, o1), new_part, old_part);
            }
        }
        d.bytes += new.capacity();
        self.used += new.capacity();
        d.frags.push((fi.offset, new));
        if !Self::complete(d) {
            return false;
        }
        let d = self.map.remove(&key).expect("datagram present");
        self.used -= d.bytes;
        if !Self::rebuild(&d, p.ip_version, fi.proto, out) {
            self.stats.unsupported += 1;
            return false;
        }
        self.stats.reassembled += 1;
        true
    }

    fn complete(d: &mut Datagram) -> bool {
        let (Some(total), false) = (d.total, d.header.is_empty()) else {
            return false;
        };
        d.frags.sort_by_key(|(off, _)| *off);
        let mut covered = 0u32;
        for (off, data) in &d.frags {
            if *off > covered {
                return false;
            }
            covered = covered.max(off + data.len() as u32);
        }
        covered >= total
    }

    /// Writes the unfragmented packet: the first fragment's header with lengths and fragment
    /// fields fixed, then the payload.
    fn rebuild(d: &Datagram, version: u8, proto: u8, out: &mut Vec<u8>) -> bool {
        let total = d.total.unwrap_or(0) as usize;
        out.clear();
        match version {
            4 => {
                let hl = d.header.len();
                if hl < 20 || hl + total > MAX_DATAGRAM as usize {
                    return false;
                }
                out.extend_from_slice(&d.header);
                let len = (hl + total) as u16;
                out[2..4].copy_from_slice(&len.to_be_bytes());
                out[6] = 0;
                out[7] = 0;
                out[10] = 0;
                out[11] = 0;
                let sum = !fold_sum(&out[..hl]);
                out[10..12].copy_from_slice(&sum.to_be_bytes());
            }
            _ => {
                if d.header.len() != 40 {
                    return false;
                }
                out.extend_from_slice(&d.header);
                out[4..6].copy_from_slice(&(total as u16).to_be_bytes());
                out[6] = proto;
            }
        }
        let base = out.len();
        out.resize(base + total, 0);
        // Fragments are already overlap-resolved, so writing them in offset order is exact.
        // Data past the end the last fragment announced (a fragment sent beyond it) is not
        // part of the datagram.
        for (off, data) in &d.frags {
            let start = base + *off as usize;
            let n = data.len().min(out.len().saturating_sub(start));
            if n > 0 {
                out[start..start + n].copy_from_slice(&data[..n]);
            }
        }
        debug_assert!(version != 4 || checksum::ipv4_header_ok(&out[..d.header.len()]));
        true
    }
}

/// One's-complement sum of 16-bit words, folded.
fn fold_sum(data: &[u8]) -> u16 {
    let mut acc: u32 = 0;
    for c in data.chunks(2) {
        acc += u32::from(u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)]));
    }
    while acc > 0xffff {
        acc = (acc & 0xffff) + (acc >> 16);
    }
    acc as u16
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decode::{decode, LinkType};

    /// IPv4 fragments of one UDP datagram carrying `payload`, cut at `cuts` (8-aligned).
    fn fragments(payload: &[u8], cuts: &[usize], id: u16) -> Vec<Vec<u8>> {
        let mut whole = Vec::new();
        etherparse::PacketBuilder::ipv4([10, 0, 0, 1], [10, 0, 0, 2], 64)
            .udp(5, 53)
            .write(&mut whole, payload)
            .unwrap();
        let l4 = &whole[20..];
        let mut bounds = vec![0];
        bounds.extend_from_slice(cuts);
        bounds.push(l4.len());
        bounds
            .windows(2)
            .map(|w| frag((w[0] / 8) as u16, w[1] != l4.len(), &l4[w[0]..w[1]], id))
            .collect()
    }

    fn feed(d: &mut Defragmenter, frags: &[Vec<u8>]) -> Option<Vec<u8>> {
        let mut out = Vec::new();
        let mut done = None;
        for (i, f) in frags.iter().enumerate() {
            let p = decode(LinkType::Raw, f).unwrap();
            assert!(p.fragment);
            if d.add(&p, i as i64, &mut out) {
                done = Some(out.clone());
            }
        }
        done
    }

    #[test]
    fn in_order_and_reversed() {
        let payload: Vec<u8> = (0..100u8).collect();
        let frags = fragments(&payload, &[24, 56], 7);
        for order in [frags.clone(), frags.iter().rev().cloned().collect()] {
            let mut d = Defragmenter::new(DefragConfig::default());
            let whole = feed(&mut d, &order).expect("reassembled");
            let p = decode(LinkType::Raw, &whole).unwrap();
            assert!(!p.fragment);
            assert_eq!((p.sport, p.dport), (5, 53));
            assert_eq!(p.payload, &payload[..]);
            assert!(p.verify_checksums().is_ok());
            assert_eq!(d.pending(), 0);
            assert_eq!(d.stats.reassembled, 1);
        }
    }

    #[test]
    fn missing_fragment_times_out() {
        let payload = [1u8; 64];
        let frags = fragments(&payload, &[16, 40], 9);
        let mut d = Defragmenter::new(DefragConfig {
            timeout: 1,
            ..DefragConfig::default()
        });
        let mut out = Vec::new();
        for f in [&frags[0], &frags[2]] {
            assert!(!d.add(&decode(LinkType::Raw, f).unwrap(), 0, &mut out));
        }
        assert_eq!(d.pending(), 1);
        // Any fragment two seconds later sweeps the stale datagram.
        let other = fragments(&payload, &[16], 10);
        d.add(
            &decode(LinkType::Raw, &other[0]).unwrap(),
            2_000_000,
            &mut out,
        );
        assert_eq!(d.stats.timeouts, 1);
    }

    #[test]
    fn overlap_with_different_bytes_by_policy() {
        let payload = [b'A'; 40];
        let mut frags = fragments(&payload, &[16], 3);
        // A rogue copy of the first fragment with other bytes, sent after it.
        let mut rogue = frags[0].clone();
        let n = rogue.len();
        for b in &mut rogue[28..n] {
            *b = b'Z';
        }
        let hl = 20;
        let sum = !fold_sum(&{
            let mut h = rogue[..hl].to_vec();
            h[10] = 0;
            h[11] = 0;
            h
        });
        rogue[10..12].copy_from_slice(&sum.to_be_bytes());
        frags.insert(1, rogue);
        for (policy, want) in [(OverlapPolicy::First, b'A'), (OverlapPolicy::Last, b'Z')] {
            let mut d = Defragmenter::new(DefragConfig {
                policy,
                ..DefragConfig::default()
            });
            let whole = feed(&mut d, &frags).unwrap();
            let p = decode(LinkType::Raw, &whole).unwrap();
            assert_eq!(p.payload[0], want, "{policy:?}");
            assert_eq!(d.stats.overlap_diff, 1);
        }
    }

    #[test]
    fn ipv6_fragment_behind_other_headers_is_counted_unsupported() {
        let mut pkt = vec![0x60, 0, 0, 0, 0, 24, 0, 64];
        pkt.extend_from_slice(&[0x20; 16]);
        pkt.extend_from_slice(&[0x21; 16]);
        pkt.extend_from_slice(&[44, 0, 1, 4, 0, 0, 0, 0]); // hop-by-hop, then Fragment
        pkt.extend_from_slice(&[17, 0, 0, 1, 0, 0, 0, 9]); // offset 0, more fragments, id 9
        pkt.extend_from_slice(&[0u8; 8]);
        let p = decode(LinkType::Raw, &pkt).unwrap();
        assert!(p.fragment && p.frag.is_none());
        let mut d = Defragmenter::new(DefragConfig::default());
        assert!(!d.add(&p, 0, &mut Vec::new()));
        assert_eq!((d.stats.fragments, d.stats.unsupported), (1, 1));
    }

    #[test]
    fn limits() {
        let payload = [0u8; 64];
        let frags = fragments(&payload, &[16, 32], 4);
        let mut d = Defragmenter::new(DefragConfig {
            max_fragments: 1,
            ..DefragConfig::default()
        });
        assert!(feed(&mut d, &frags).is_none());
        assert_eq!(d.stats.refused, 2);
        let mut d = Defragmenter::new(DefragConfig {
            memcap: 10,
            ..DefragConfig::default()
        });
        assert!(feed(&mut d, &frags).is_none());
        assert!(d.stats.refused >= 2);
    }

    #[test]
    fn a_flood_of_incomplete_datagrams_stays_within_the_memcap_and_expires() {
        let cfg = DefragConfig {
            memcap: 1 << 20,
            timeout: 2,
            ..DefragConfig::default()
        };
        let mut d = Defragmenter::new(cfg);
        let mut out = Vec::new();
        let frames: Vec<_> = crate::testgen::hostile::fragment_flood(200_000, 0, 10).collect();
        for (ts, f) in &frames {
            let p = decode(LinkType::Ethernet, f).unwrap();
            assert!(!d.add(&p, *ts, &mut out));
            assert!(d.used() <= 1 << 20);
        }
        // Tiny fragments count with their bookkeeping: far fewer than 200,000 are held.
        assert!(d.stats.refused > 150_000, "{:?}", d.stats);
        // Past the timeout, the next fragment's sweep frees everything held.
        let (_, late) = crate::testgen::hostile::fragment_flood(1, 100_000_000, 0)
            .next()
            .unwrap();
        let p = decode(LinkType::Ethernet, &late).unwrap();
        d.add(&p, 100_000_000, &mut out);
        assert_eq!(d.pending(), 1);
        assert_eq!(d.used(), DATAGRAM_OVERHEAD + 64);
    }

    /// One IPv4 fragment of UDP datagram `id`: `off` in 8-byte units.
    fn frag(off: u16, more: bool, payload: &[u8], id: u16) -> Vec<u8> {
        let mut h = etherparse::Ipv4Header::new(
            payload.len() as u16,
            64,
            etherparse::IpNumber::UDP,
            [10, 0, 0, 1],
            [10, 0, 0, 2],
        )
        .unwrap();
        h.identification = id;
        h.more_fragments = more;
        h.fragment_offset = etherparse::IpFragOffset::try_new(off).unwrap();
        h.header_checksum = h.calc_header_checksum();
        let mut out = Vec::new();
        h.write(&mut out).unwrap();
        out.extend_from_slice(payload);
        out
    }

    #[test]
    fn a_fragment_beyond_the_announced_end_is_left_out() {
        // Found by the flow_timing fuzz target: a last fragment announcing the end at 32,
        // data at 8..40, then an empty last fragment moving the end to 8, then the first
        // fragment: the datagram completes with queued data past its end.
        let mut d = Defragmenter::new(DefragConfig::default());
        let mut out = Vec::new();
        for (f, done) in [
            (frag(3, false, &[3; 8], 5), false),
            (frag(1, true, &[1; 32], 5), false),
            (frag(1, false, &[], 5), false),
            (frag(0, true, &[0; 8], 5), true),
        ] {
            let p = decode(LinkType::Raw, &f).unwrap();
            assert!(p.fragment);
            assert_eq!(d.add(&p, 0, &mut out), done);
        }
        assert_eq!(out.len(), 20 + 8);
        assert_eq!(&out[20..], &[0; 8]);
    }
}
