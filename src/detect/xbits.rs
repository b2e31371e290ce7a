//! `xbits`: named bits on a host (`track ip_src` / `ip_dst`) or an address pair
//! (`track ip_pair`), with an expiry, shared by all workers.
//!
//! Consulted only for rules that use xbits, after everything else in the rule has matched, so
//! the sharded mutexes stay off the per-packet path of every other rule.

use std::collections::hash_map::DefaultHasher;
use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::net::IpAddr;
use std::sync::Mutex;

use crate::common::net::addr_key;
use crate::common::time::Micros;

const SHARDS: usize = 16;

/// What an xbit is attached to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum XTrack {
    /// The packet's source address.
    IpSrc,
    /// The packet's destination address.
    IpDst,
    /// The address pair, in either direction.
    IpPair,
}

/// An xbits operation of a rule (bit ids are assigned per name when the engine is built).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum XOp {
    /// Set, expiring after the given seconds.
    Set(u32),
    /// Unset.
    Unset,
    /// Toggle (set with the expiry, or unset).
    Toggle(u32),
    /// Condition: set.
    IsSet,
    /// Condition: not set.
    IsNotSet,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
struct Key {
    bit: u32,
    a: u128,
    b: u128,
}

/// Shared xbits state: key -> expiry time.
pub struct XBits {
    shards: Vec<Mutex<HashMap<Key, Micros>>>,
}

impl std::fmt::Debug for XBits {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("XBits")
    }
}

impl Default for XBits {
    fn default() -> Self {
        XBits {
            shards: (0..SHARDS).map(|_| Mutex::new(HashMap::new())).collect(),
        }
    }
}

fn key(bit: u32, track: XTrack, src: IpAddr, dst: IpAddr) -> Key {
    let (s, d) = (addr_key(src), addr_key(dst));
    match track {
        XTrack::IpSrc => Key { bit, a: s, b: 0 },
        XTrack::IpDst => Key { bit, a: d, b: 0 },
        XTrack::IpPair => Key {
            bit,
            a: s.min(d),
            b: s.max(d),
        },
    }
}

impl XBits {
    fn shard(&self, k: &Key) -> std::sync::MutexGuard<'_, HashMap<Key, Micros>> {
        let mut h = DefaultHasher::new();
        k.hash(&mut h);
        // A poisoned shard only means another worker panicked mid-update; the bits stay usable.
        self.shards[(h.finish() as usize) % SHARDS]
            .lock()
            .unwrap_or_else(|p| p.into_inner())
    }

    /// Whether the bit is set (and not expired) at `now`.
    pub fn is_set(&self, bit: u32, track: XTrack, src: IpAddr, dst: IpAddr, now: Micros) -> bool {
        let k = key(bit, track, src, dst);
        let mut m = self.shard(&k);
        match m.get(&k) {
            Some(&exp) if exp > now => true,
            Some(_) => {
                m.remove(&k);
                false
            }
            None => false,
        }
    }

    /// Applies a set/unset/toggle.
    pub fn apply(&self, bit: u32, op: XOp, track: XTrack, src: IpAddr, dst: IpAddr, now: Micros) {
        let k = key(bit, track, src, dst);
        let mut m = self.shard(&k);
        let live = m.get(&k).is_some_and(|&exp| exp > now);
        match op {
            XOp::Set(secs) => {
                m.insert(k, now + i64::from(secs) * 1_000_000);
            }
            XOp::Unset => {
                m.remove(&k);
            }
            XOp::Toggle(secs) => {
                if live {
                    m.remove(&k);
                } else {
                    m.insert(k, now + i64::from(secs) * 1_000_000);
                }
            }
            XOp::IsSet | XOp::IsNotSet => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tracks_and_expiry() {
        let x = XBits::default();
        let (a, b, c): (IpAddr, IpAddr, IpAddr) = (
            "10.0.0.1".parse().unwrap(),
            "10.0.0.2".parse().unwrap(),
            "10.0.0.3".parse().unwrap(),
        );
        x.apply(1, XOp::Set(10), XTrack::IpSrc, a, b, 0);
        assert!(
            x.is_set(1, XTrack::IpSrc, a, c, 5_000_000),
            "any flow from the same source"
        );
        assert!(!x.is_set(1, XTrack::IpSrc, b, a, 5_000_000));
        assert!(!x.is_set(1, XTrack::IpSrc, a, c, 11_000_000), "expired");
        x.apply(2, XOp::Set(10), XTrack::IpPair, a, b, 0);
        assert!(
            x.is_set(2, XTrack::IpPair, b, a, 1),
            "pair is direction-free"
        );
        assert!(!x.is_set(2, XTrack::IpPair, a, c, 1));
        x.apply(2, XOp::Toggle(10), XTrack::IpPair, a, b, 2);
        assert!(!x.is_set(2, XTrack::IpPair, a, b, 3));
        x.apply(3, XOp::Set(10), XTrack::IpDst, a, b, 0);
        x.apply(3, XOp::Unset, XTrack::IpDst, c, b, 1);
        assert!(!x.is_set(3, XTrack::IpDst, a, b, 2));
    }
}
