//! `threshold` and `detection_filter` state, shared by all workers.
//!
//! Consulted only after a rule with one of these keywords has fully matched (never on the
//! per-packet fast path). A source or destination can span workers, so the table is shared:
//! it is split into shards, each behind its own mutex, to keep contention low.

use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::net::IpAddr;
use std::sync::Mutex;

use crate::common::net::addr_key;
use crate::common::time::Micros;
use crate::detect::rules::keywords::{ThresholdKind, ThresholdSpec, Track, UniqueOn};

const SHARDS: usize = 16;

/// What the tracked key is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Key {
    Addr(u128),
    Pair(u128, u128),
    Rule,
    Flow(u64),
}

#[derive(Clone, Debug)]
struct Entry {
    first: Micros,
    count: u32,
    /// Distinct ports seen in the window (`unique_on`), bounded.
    ports: Vec<u16>,
}

/// Distinct ports remembered per entry (enough for any sane `count`).
const MAX_UNIQUE: usize = 1024;

/// One shard: (engine rule index, threshold slot, tracked key) -> counter.
type Shard = Mutex<HashMap<(u32, u8, Key), Entry>>;

/// Shared threshold state.
pub struct Thresholds {
    shards: Vec<Shard>,
}

impl Default for Thresholds {
    fn default() -> Self {
        Thresholds {
            shards: (0..SHARDS).map(|_| Mutex::new(HashMap::new())).collect(),
        }
    }
}

/// The packet facts a threshold key is made from.
#[derive(Clone, Copy, Debug)]
pub struct Subject {
    /// Packet source.
    pub src: IpAddr,
    /// Packet destination.
    pub dst: IpAddr,
    /// Flow id (0 without a flow).
    pub flow_id: u64,
    /// Packet time.
    pub ts: Micros,
    /// Source port (0 without ports).
    pub sport: u16,
    /// Destination port.
    pub dport: u16,
}

impl Thresholds {
    /// Counts one match of rule `sig` (engine index) and says whether it may alert.
    /// `slot` distinguishes a rule's `threshold` (0) from its `detection_filter` (1).
    pub fn allow(&self, spec: &ThresholdSpec, sig: u32, slot: u8, s: Subject) -> bool {
        let key = match spec.track {
            Track::BySrc => Key::Addr(addr_key(s.src)),
            Track::ByDst => Key::Addr(addr_key(s.dst)),
            Track::ByBoth => {
                let (a, b) = (addr_key(s.src), addr_key(s.dst));
                Key::Pair(a.min(b), a.max(b))
            }
            Track::ByRule => Key::Rule,
            Track::ByFlow => Key::Flow(s.flow_id),
        };
        let full = (sig, slot, key);
        let mut h = std::collections::hash_map::DefaultHasher::new();
        full.hash(&mut h);
        let shard = &self.shards[(h.finish() as usize) % SHARDS];
        // A poisoned shard only means another worker panicked mid-update; the counts stay usable.
        let mut map = shard.lock().unwrap_or_else(|p| p.into_inner());
        let window = i64::from(spec.seconds) * 1_000_000;
        let n = spec.count;
        let port = match spec.unique_on {
            Some(UniqueOn::SrcPort) => Some(s.sport),
            Some(UniqueOn::DstPort) => Some(s.dport),
            None => None,
        };
        let Some(e) = map.get_mut(&full) else {
            map.insert(
                full,
                Entry {
                    first: s.ts,
                    count: 1,
                    ports: port.into_iter().collect(),
                },
            );
            return match spec.kind {
                ThresholdKind::Limit => true,
                ThresholdKind::Threshold | ThresholdKind::Both | ThresholdKind::Backoff => n == 1,
                ThresholdKind::DetectionFilter => false,
            };
        };
        if spec.kind == ThresholdKind::Backoff {
            // No window: alert at count, count*m, count*m^2...
            e.count = e.count.saturating_add(1);
            let mut next = u64::from(n);
            while next < u64::from(e.count) {
                next = next.saturating_mul(u64::from(spec.multiplier.max(2)));
            }
            return next == u64::from(e.count);
        }
        let in_window = s.ts - e.first < window;
        if !in_window {
            e.first = s.ts;
            e.count = 1;
            e.ports.clear();
            e.ports.extend(port);
            return match spec.kind {
                ThresholdKind::Limit => true,
                ThresholdKind::Threshold | ThresholdKind::Both | ThresholdKind::Backoff => n == 1,
                ThresholdKind::DetectionFilter => false,
            };
        }
        if let Some(port) = port {
            // Distinct ports, not matches, count against the filter.
            if !e.ports.contains(&port) && e.ports.len() < MAX_UNIQUE {
                e.ports.push(port);
            }
            return e.ports.len() as u64 > u64::from(n);
        }
        e.count = e.count.saturating_add(1);
        match spec.kind {
            ThresholdKind::Limit => e.count <= n,
            ThresholdKind::Threshold => {
                if e.count >= n {
                    e.count = 0;
                    true
                } else {
                    false
                }
            }
            ThresholdKind::Both => e.count == n,
            ThresholdKind::DetectionFilter => e.count > n,
            ThresholdKind::Backoff => unreachable!("handled above"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(kind: ThresholdKind, track: Track, count: u32, seconds: u32) -> ThresholdSpec {
        ThresholdSpec {
            unique_on: None,
            kind,
            track,
            count,
            seconds,
            multiplier: 1,
        }
    }

    #[test]
    fn backoff() {
        let t = Thresholds::default();
        let s = ThresholdSpec {
            unique_on: None,
            kind: ThresholdKind::Backoff,
            track: Track::ByFlow,
            count: 1,
            seconds: 0,
            multiplier: 10,
        };
        let times: Vec<i64> = (0..120).collect();
        let got = run(&t, &s, &times, "1.1.1.1");
        let alerted: Vec<usize> = got
            .iter()
            .enumerate()
            .filter(|(_, a)| **a)
            .map(|(i, _)| i + 1)
            .collect();
        assert_eq!(alerted, vec![1, 10, 100]);
    }

    #[test]
    fn detection_filter_unique_on_counts_distinct_ports() {
        let t = Thresholds::default();
        let mut s = spec(ThresholdKind::DetectionFilter, Track::BySrc, 3, 60);
        s.unique_on = Some(UniqueOn::DstPort);
        // `run` uses dst port sec % 7: ports 0,1,2,3 in the first four seconds; the same
        // port again does not count.
        let got = run(&t, &s, &[0, 0, 1, 1, 2, 3, 3], "2.2.2.2");
        assert_eq!(got, vec![false, false, false, false, false, true, true]);
    }

    fn run(t: &Thresholds, s: &ThresholdSpec, times: &[i64], src: &str) -> Vec<bool> {
        times
            .iter()
            .map(|&sec| {
                let subj = Subject {
                    src: src.parse().unwrap(),
                    dst: "10.0.0.1".parse().unwrap(),
                    flow_id: 1,
                    ts: sec * 1_000_000,
                    sport: 1000,
                    dport: (sec % 7) as u16,
                };
                t.allow(s, 7, 0, subj)
            })
            .collect()
    }

    #[test]
    fn limit() {
        let t = Thresholds::default();
        let s = spec(ThresholdKind::Limit, Track::BySrc, 2, 60);
        assert_eq!(
            run(&t, &s, &[0, 1, 2, 3, 61, 62, 63], "1.1.1.1"),
            [true, true, false, false, true, true, false]
        );
        // Another source has its own count.
        assert_eq!(run(&t, &s, &[4], "2.2.2.2"), [true]);
    }

    #[test]
    fn threshold_every_nth() {
        let t = Thresholds::default();
        let s = spec(ThresholdKind::Threshold, Track::BySrc, 3, 60);
        assert_eq!(
            run(&t, &s, &[0, 1, 2, 3, 4, 5], "1.1.1.1"),
            [false, false, true, false, false, true]
        );
    }

    #[test]
    fn both_once_per_window() {
        let t = Thresholds::default();
        let s = spec(ThresholdKind::Both, Track::ByRule, 2, 10);
        assert_eq!(
            run(&t, &s, &[0, 1, 2, 3, 20, 21], "1.1.1.1"),
            [false, true, false, false, false, true]
        );
    }

    #[test]
    fn detection_filter_after_count() {
        let t = Thresholds::default();
        let s = spec(ThresholdKind::DetectionFilter, Track::ByDst, 2, 10);
        assert_eq!(
            run(&t, &s, &[0, 1, 2, 3, 30], "1.1.1.1"),
            [false, false, true, true, false]
        );
    }
}
