//! Rules without a fast pattern, grouped by destination port: a packet looks only at those
//! whose destination-port set can hold its port. Port space is cut into elementary intervals
//! at every boundary of the rules' sets; each interval lists, in engine order, the rules
//! covering it (rules on any port, and bidirectional rules, are in every interval).

use super::rules::PortSet;

/// The index.
#[derive(Debug, Default)]
pub struct PortIndex {
    /// Interval starts, ascending; the first is 0.
    starts: Vec<u16>,
    spans: Vec<(u32, u32)>,
    rules: Vec<u32>,
}

impl PortIndex {
    /// Builds the index from (engine index, destination ports, bidirectional), in engine order.
    pub fn build(entries: &[(u32, &PortSet, bool)]) -> PortIndex {
        let mut starts: Vec<u16> = vec![0];
        for (_, ports, bidir) in entries {
            if ports.is_any() || *bidir {
                continue;
            }
            for (lo, hi) in ports.ranges() {
                starts.push(lo);
                if let Some(n) = hi.checked_add(1) {
                    starts.push(n);
                }
            }
        }
        starts.sort_unstable();
        starts.dedup();
        let mut lists: Vec<Vec<u32>> = vec![Vec::new(); starts.len()];
        for &(rule, ports, bidir) in entries {
            if ports.is_any() || bidir {
                lists.iter_mut().for_each(|l| l.push(rule));
                continue;
            }
            for (lo, hi) in ports.ranges() {
                let a = starts.partition_point(|&s| s < lo);
                let b = starts.partition_point(|&s| s <= hi);
                for l in &mut lists[a..b] {
                    l.push(rule);
                }
            }
        }
        let mut idx = PortIndex {
            starts,
            spans: Vec::with_capacity(lists.len()),
            rules: Vec::new(),
        };
        for mut l in lists {
            l.sort_unstable();
            idx.spans.push((idx.rules.len() as u32, l.len() as u32));
            idx.rules.extend(l);
        }
        idx
    }

    /// The rules that may match a packet to `dport` (0 for packets without ports), in
    /// engine order.
    #[inline]
    pub fn lookup(&self, dport: u16) -> &[u32] {
        if self.starts.is_empty() {
            return &[];
        }
        let i = self.starts.partition_point(|&s| s <= dport) - 1;
        let (o, n) = self.spans[i];
        &self.rules[o as usize..(o + n) as usize]
    }

    /// Whether no rule is indexed.
    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::detect::rules::header::parse_ports;
    use crate::detect::rules::Vars;

    #[test]
    fn lookups_keep_engine_order_and_every_possible_rule() {
        let v = Vars::suricata_defaults();
        let p = |s: &str| parse_ports(s, &v).unwrap();
        let (any, web, high, ssh) = (PortSet::any(), p("[80,443]"), p("1024:65535"), p("22"));
        let idx = PortIndex::build(&[
            (1, &web, false),
            (2, &any, false),
            (3, &high, false),
            (4, &ssh, true),
            (5, &ssh, false),
        ]);
        assert_eq!(idx.lookup(80), [1, 2, 4]);
        assert_eq!(idx.lookup(443), [1, 2, 4]);
        assert_eq!(idx.lookup(8080), [2, 3, 4]);
        assert_eq!(idx.lookup(22), [2, 4, 5]);
        assert_eq!(idx.lookup(0), [2, 4]);
        assert!(PortIndex::build(&[]).lookup(80).is_empty());
    }
}
