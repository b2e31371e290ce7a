//! An index of rules by the intervals of a value they cover (addresses, ports): the value
//! space is cut into elementary intervals at every range boundary, and each interval lists,
//! in engine order, the rules covering it. A lookup is one binary search.

/// A value type intervals are made of.
pub trait Bound: Copy + Ord {
    /// The smallest value.
    const MIN: Self;
    /// The next value, None at the top.
    fn succ(self) -> Option<Self>;
}

impl Bound for u16 {
    const MIN: u16 = 0;
    fn succ(self) -> Option<u16> {
        self.checked_add(1)
    }
}

impl Bound for u128 {
    const MIN: u128 = 0;
    fn succ(self) -> Option<u128> {
        self.checked_add(1)
    }
}

/// The index.
#[derive(Debug)]
pub struct IntervalIndex<K> {
    /// Elementary interval starts, ascending; the first is `K::MIN`.
    starts: Vec<K>,
    /// Per interval: offset and length in `rules`.
    spans: Vec<(u32, u32)>,
    rules: Vec<u32>,
}

impl<K> Default for IntervalIndex<K> {
    fn default() -> Self {
        IntervalIndex {
            starts: Vec::new(),
            spans: Vec::new(),
            rules: Vec::new(),
        }
    }
}

impl<K: Bound> IntervalIndex<K> {
    /// Indexes (rule, inclusive ranges) entries. A rule that would be listed in more than
    /// `max_spread` intervals is left out and returned, for the caller to check always.
    pub fn build(entries: &[(u32, &[(K, K)])], max_spread: usize) -> (Self, Vec<u32>) {
        let mut starts = vec![K::MIN];
        for (_, ranges) in entries {
            for &(lo, hi) in *ranges {
                starts.push(lo);
                starts.extend(hi.succ());
            }
        }
        starts.sort_unstable();
        starts.dedup();
        let mut lists: Vec<Vec<u32>> = vec![Vec::new(); starts.len()];
        let mut spread = Vec::new();
        for &(rule, ranges) in entries {
            let cells: Vec<(usize, usize)> = ranges
                .iter()
                .map(|&(lo, hi)| {
                    (
                        starts.partition_point(|&s| s < lo),
                        starts.partition_point(|&s| s <= hi),
                    )
                })
                .collect();
            if cells.iter().map(|(a, b)| b - a).sum::<usize>() > max_spread {
                spread.push(rule);
                continue;
            }
            for (a, b) in cells {
                lists[a..b].iter_mut().for_each(|l| l.push(rule));
            }
        }
        let mut idx = IntervalIndex {
            starts,
            spans: Vec::with_capacity(lists.len()),
            rules: Vec::new(),
        };
        for mut l in lists {
            l.sort_unstable();
            idx.spans.push((idx.rules.len() as u32, l.len() as u32));
            idx.rules.extend(l);
        }
        (idx, spread)
    }

    /// The rules whose ranges hold `key`, in engine order.
    #[inline]
    pub fn lookup(&self, key: K) -> &[u32] {
        if self.starts.is_empty() {
            return &[];
        }
        let i = self.starts.partition_point(|&s| s <= key) - 1;
        let (o, n) = self.spans[i];
        &self.rules[o as usize..(o + n) as usize]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lookups_and_spread() {
        let (a, b, c) = (
            [(10u16, 20u16)],
            [(15u16, 15u16), (30, 40)],
            [(0u16, u16::MAX)],
        );
        let (idx, spread) = IntervalIndex::build(&[(2, &a[..]), (1, &b[..]), (3, &c[..])], 100);
        assert!(spread.is_empty());
        assert_eq!(idx.lookup(15), [1, 2, 3]);
        assert_eq!(idx.lookup(12), [2, 3]);
        assert_eq!(idx.lookup(35), [1, 3]);
        assert_eq!(idx.lookup(u16::MAX), [3]);
        let (idx, spread) = IntervalIndex::build(&[(2, &a[..]), (1, &b[..]), (3, &c[..])], 3);
        assert_eq!(spread, [3]);
        assert_eq!(idx.lookup(50), [] as [u32; 0]);
        assert!(IntervalIndex::<u16>::default().lookup(3).is_empty());
    }
}
