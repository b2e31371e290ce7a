//! Port groups of the payload prefilter: within one protocol and direction, the server ports
//! that many rules name get a Hyperscan database of their own (those rules plus the rules on
//! any port), and every other port shares one database. A packet to port 445 then never
//! verifies candidates of rules written for 1433, and a packet to an unlisted port scans
//! only the rules that can match it.
//!
//! Every grouped port copies the rules on any port, so a port is grouped only when its
//! database stays well below the whole set (at most 60%). Off by default (`rules.port_groups`
//! = 0), as measured with ET Open: most raw-payload rules are on any port, and 3 groups per
//! direction gave no throughput gain on the standard benchmark (562-687k vs 636-712k
//! packets/s) while raising the cold load from 1.5 s / 127 MB to 3 s / 240 MB peak RSS
//! (Hyperscan's compile-time memory).
//!
//! The key port is the server side: the destination port of to-server traffic, the source
//! port of to-client traffic. Bidirectional rules and rules on any port are in every database.

use super::mpm::{Mpm, MpmBuilder};

/// Rules a port must be named by to get its own database.
const MIN_RULES_PER_GROUP: u32 = 16;
/// A port's database (its rules plus the any-port ones) must hold at most this share of
/// all the entries, in percent.
const MAX_GROUP_SHARE: usize = 60;

/// One fast pattern to place.
pub struct Entry<'a> {
    /// Engine index of the rule.
    pub rule: u32,
    /// The fast pattern.
    pub pattern: &'a [u8],
    /// Case-insensitive.
    pub nocase: bool,
    /// Key ports of the rule (inclusive ranges); None: any port.
    pub ports: Option<Vec<(u16, u16)>>,
}

/// The databases of one protocol and direction, and which serves each port.
#[derive(Default)]
pub struct PortGroups {
    /// Database index per port (65,536 entries), empty when there is one database.
    slot: Vec<u8>,
    /// The databases: one per grouped port, the shared one last.
    pub dbs: Vec<Option<Mpm>>,
}

impl PortGroups {
    /// Assembles the groups from [`plan`]'s slot table and the built databases.
    pub fn new(slot: Vec<u8>, dbs: Vec<Option<Mpm>>) -> PortGroups {
        PortGroups { slot, dbs }
    }

    /// The database for traffic whose server port is `port` (0 without ports).
    #[inline]
    pub fn get(&self, port: u16) -> Option<&Mpm> {
        let i = self
            .slot
            .get(usize::from(port))
            .map_or(0, |&s| usize::from(s));
        self.dbs.get(i).and_then(Option::as_ref)
    }

    /// Every database.
    pub fn all(&self) -> impl Iterator<Item = &Mpm> {
        self.dbs.iter().flatten()
    }
}

/// Splits entries into databases, grouping at most `max_groups` ports: returns the slot
/// table (see [`PortGroups`]) and one builder per database, the shared one last.
pub fn plan(entries: &[Entry<'_>], max_groups: usize) -> (Vec<u8>, Vec<MpmBuilder>) {
    let single = || {
        let mut b = MpmBuilder::default();
        for e in entries {
            b.add(e.pattern, e.nocase, e.rule);
        }
        (Vec::new(), vec![b])
    };
    if max_groups == 0 {
        return single();
    }
    // Rules naming each port, by a difference array over the ranges.
    let mut diff = vec![0i64; 65_537];
    for e in entries {
        for &(lo, hi) in e.ports.iter().flatten() {
            diff[usize::from(lo)] += 1;
            diff[usize::from(hi) + 1] -= 1;
        }
    }
    let mut counts = Vec::with_capacity(65_536);
    let mut run = 0i64;
    for d in &diff[..65_536] {
        run += d;
        counts.push(run as u32);
    }
    let any = entries.iter().filter(|e| e.ports.is_none()).count();
    let mut ports: Vec<u16> = (0..=u16::MAX)
        .filter(|&p| {
            let n = counts[usize::from(p)];
            n >= MIN_RULES_PER_GROUP && (any + n as usize) * 100 <= entries.len() * MAX_GROUP_SHARE
        })
        .collect();
    ports.sort_by_key(|&p| (std::cmp::Reverse(counts[usize::from(p)]), p));
    ports.truncate(max_groups.min(usize::from(u8::MAX)));
    if ports.is_empty() {
        return single();
    }
    let shared = ports.len();
    let mut slot = vec![shared as u8; 65_536];
    for (i, &p) in ports.iter().enumerate() {
        slot[usize::from(p)] = i as u8;
    }
    let mut builders: Vec<MpmBuilder> = (0..=shared).map(|_| MpmBuilder::default()).collect();
    for e in entries {
        match &e.ports {
            None => {
                for b in &mut builders {
                    b.add(e.pattern, e.nocase, e.rule);
                }
            }
            Some(ranges) => {
                let mut grouped_in_ranges = 0usize;
                for (i, &p) in ports.iter().enumerate() {
                    if ranges.iter().any(|&(lo, hi)| (lo..=hi).contains(&p)) {
                        builders[i].add(e.pattern, e.nocase, e.rule);
                        grouped_in_ranges += 1;
                    }
                }
                let width: usize = ranges
                    .iter()
                    .map(|&(lo, hi)| usize::from(hi - lo) + 1)
                    .sum();
                // Some port of the rule has no group of its own: the shared database.
                if width > grouped_in_ranges {
                    builders[shared].add(e.pattern, e.nocase, e.rule);
                }
            }
        }
    }
    (slot, builders)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn busy_ports_get_their_own_database() {
        let mut entries = Vec::new();
        // 20 rules on 445, 20 on [80,8080], 3 on 22, 2 on any port, 1 on 1024:65535.
        for r in 0..20 {
            entries.push((r, Some(vec![(445, 445)])));
            entries.push((100 + r, Some(vec![(80, 80), (8080, 8080)])));
        }
        for r in 200..203 {
            entries.push((r, Some(vec![(22, 22)])));
        }
        entries.push((300, None));
        entries.push((301, None));
        entries.push((400, Some(vec![(1024, 65_535)])));
        let pats: Vec<Vec<u8>> = entries
            .iter()
            .map(|(r, _)| format!("p{r}").into_bytes())
            .collect();
        let list: Vec<Entry<'_>> = entries
            .iter()
            .zip(&pats)
            .map(|((r, ports), pat)| Entry {
                rule: *r,
                pattern: pat,
                nocase: false,
                ports: ports.clone(),
            })
            .collect();
        let (slot, builders) = plan(&list, 8);
        // 80, 8080 and 445 (20 rules each) are grouped; 22 (3 rules) is not.
        assert_eq!(builders.len(), 4);
        let shared = 3;
        assert_eq!(usize::from(slot[22]), shared);
        assert_ne!(usize::from(slot[445]), shared);
        let sizes: Vec<usize> = builders.iter().map(MpmBuilder::len).collect();
        // Each grouped port: its 20 rules + 2 any; 8080 also has the 1024:65535 rule.
        let at = |p: usize| sizes[usize::from(slot[p])];
        assert_eq!((at(445), at(80), at(8080)), (22, 22, 23));
        // Shared: 3 ssh rules, 2 any, the high-port range.
        assert_eq!(sizes[shared], 6);
    }

    #[test]
    fn few_port_rules_keep_one_database() {
        let list = [Entry {
            rule: 1,
            pattern: b"abc",
            nocase: false,
            ports: Some(vec![(80, 80)]),
        }];
        let (slot, builders) = plan(&list, 8);
        assert!(slot.is_empty());
        assert_eq!(builders.len(), 1);
        assert_eq!(plan(&list, 0).1.len(), 1);
        assert!(PortGroups::new(slot, vec![None]).get(80).is_none());
    }
}
