//! Rules without a fast pattern, grouped by destination port: a packet looks only at those
//! whose destination-port set can hold its port. Port space is cut into elementary intervals
//! at every boundary of the rules' sets; each interval lists, in engine order, the rules
//! covering it (rules on any port, and bidirectional rules, are in every interval).

use super::rules::PortSet;
use crate::common::intervals::IntervalIndex;

/// The index.
#[derive(Debug, Default)]
pub struct PortIndex(IntervalIndex<u16>);

impl PortIndex {
    /// Builds the index from (engine index, destination ports, bidirectional), in engine order.
    pub fn build(entries: &[(u32, &PortSet, bool)]) -> PortIndex {
        let all = [(0u16, u16::MAX)];
        let ranges: Vec<Vec<(u16, u16)>> = entries
            .iter()
            .map(|(_, ports, bidir)| {
                if ports.is_any() || *bidir {
                    all.to_vec()
                } else {
                    ports.ranges().collect()
                }
            })
            .collect();
        let keyed: Vec<(u32, &[(u16, u16)])> = entries
            .iter()
            .zip(&ranges)
            .map(|((rule, _, _), r)| (*rule, r.as_slice()))
            .collect();
        PortIndex(IntervalIndex::build(&keyed, usize::MAX).0)
    }

    /// The rules that may match a packet to `dport` (0 for packets without ports), in
    /// engine order.
    #[inline]
    pub fn lookup(&self, dport: u16) -> &[u32] {
        self.0.lookup(dport)
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
