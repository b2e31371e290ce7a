//! IP-only rules (addresses and ports alone, such as ET's reputation lists) indexed by
//! address, so the first packet of a flow direction looks up the few rules whose address
//! lists hold its addresses instead of checking every one of them.
//!
//! Each rule is indexed on its more selective side (the source or destination set covering
//! fewer addresses). A side index cuts the address universe into elementary intervals at every
//! range boundary of its rules and lists, per interval, the rules covering it; a lookup is one
//! binary search. Rules without a selective side (both sides cover most of the universe),
//! bidirectional rules, and rules whose ranges would spread over too many intervals are
//! checked on every lookup, as before. Candidates are verified by the full header match, so
//! the index only has to be complete, never exact.

use crate::common::intervals::IntervalIndex;

/// A rule's address sides: (engine index, source ranges, destination ranges, bidirectional).
pub type Entry<'a> = (u32, &'a [(u128, u128)], &'a [(u128, u128)], bool);

/// A side covering more addresses than this is not selective (IPv4's whole space is 2^32).
const SELECTIVE: u128 = 1 << 26;

/// A rule touching more elementary intervals than this is checked on every lookup instead.
const MAX_SPREAD: usize = 4096;

/// Addresses covered by a set of ranges (saturating).
fn measure(ranges: &[(u128, u128)]) -> u128 {
    ranges.iter().fold(0u128, |a, &(lo, hi)| {
        a.saturating_add(hi - lo).saturating_add(1)
    })
}

/// The index of one protocol group's IP-only rules.
#[derive(Debug, Default)]
pub struct IpOnlyIndex {
    src: IntervalIndex<u128>,
    dst: IntervalIndex<u128>,
    /// Checked on every lookup, ascending.
    always: Vec<u32>,
    /// Rules indexed (all of them, for reports).
    total: usize,
}

impl IpOnlyIndex {
    /// Builds the index.
    pub fn build(entries: &[Entry<'_>]) -> IpOnlyIndex {
        let mut by_src = Vec::new();
        let mut by_dst = Vec::new();
        let mut always = Vec::new();
        for &(rule, src, dst, bidir) in entries {
            let (ms, md) = (measure(src), measure(dst));
            if bidir || ms.min(md) > SELECTIVE {
                always.push(rule);
            } else if ms <= md {
                by_src.push((rule, src));
            } else {
                by_dst.push((rule, dst));
            }
        }
        let (src, spread_s) = IntervalIndex::build(&by_src, MAX_SPREAD);
        let (dst, spread_d) = IntervalIndex::build(&by_dst, MAX_SPREAD);
        always.extend(spread_s);
        always.extend(spread_d);
        always.sort_unstable();
        IpOnlyIndex {
            src,
            dst,
            always,
            total: entries.len(),
        }
    }

    /// Appends the rules that may match a packet from `src` to `dst` (address keys).
    #[inline]
    pub fn candidates(&self, src: u128, dst: u128, out: &mut Vec<u32>) {
        out.extend_from_slice(self.src.lookup(src));
        out.extend_from_slice(self.dst.lookup(dst));
        out.extend_from_slice(&self.always);
    }

    /// Rules in the index, and how many of them are checked on every lookup.
    pub fn counts(&self) -> (usize, usize) {
        (self.total, self.always.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lookups_return_every_rule_that_can_match_and_few_others() {
        let any = [(0u128, u128::MAX)];
        let home = [(10u128 << 24, (11u128 << 24) - 1)];
        let bad1 = [(100u128, 100u128), (200, 299)];
        let bad2 = [(250u128, 260u128)];
        let entries: Vec<Entry<'_>> = vec![
            (0, &bad1, &home, false), // reputation inbound: indexed on src
            (1, &home, &bad2, false), // outbound to a bad list: indexed on dst
            (2, &any, &any, false),   // nothing selective: always
            (3, &bad2, &any, true),   // bidirectional: always
        ];
        let idx = IpOnlyIndex::build(&entries);
        assert_eq!(idx.counts(), (4, 2));
        let look = |s: u128, d: u128| {
            let mut v = Vec::new();
            idx.candidates(s, d, &mut v);
            v.sort_unstable();
            v
        };
        assert_eq!(look(100, 10 << 24), vec![0, 2, 3]);
        assert_eq!(look(255, 5), vec![0, 2, 3]);
        assert_eq!(look(5, 255), vec![1, 2, 3]);
        assert_eq!(look(300, 301), vec![2, 3]);
        assert_eq!(look(u128::MAX, 0), vec![2, 3]);
    }

    #[test]
    fn empty_index_is_harmless() {
        let idx = IpOnlyIndex::build(&[]);
        let mut v = Vec::new();
        idx.candidates(1, 2, &mut v);
        assert!(v.is_empty());
    }
}
