//! The `tag` keyword: after a rule fires, the following packets of its session (or of one of
//! its hosts) are logged too, as EVE `packet` events, so an analyst sees what came next.
//!
//! Session tags live on the flow; host tags in a per-worker table (no locking): a host's
//! packets that another worker handles are not tagged by it.

use std::collections::HashMap;
use std::net::IpAddr;

use crate::common::time::Micros;

/// What a tag follows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TagScope {
    /// The flow the alert was raised on.
    Session,
    /// The alert's source address.
    HostSrc,
    /// The alert's destination address.
    HostDst,
}

/// What a tag's count counts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TagMetric {
    /// Packets.
    Packets,
    /// Bytes (captured frame lengths).
    Bytes,
    /// Seconds of packet time.
    Seconds,
}

/// A parsed `tag` keyword.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TagSpec {
    /// Session or host.
    pub scope: TagScope,
    /// How many packets, bytes or seconds.
    pub count: u32,
    /// The unit of `count`.
    pub metric: TagMetric,
}

impl TagSpec {
    /// Parses `session|host[,count,metric[,src|dst]]` (Suricata's syntax; defaults: 256
    /// packets, the destination host).
    pub fn parse(v: &str) -> Result<TagSpec, String> {
        let parts: Vec<&str> = v.split(',').map(str::trim).collect();
        let host = match parts[0] {
            "session" => false,
            "host" => true,
            k => return Err(format!("tag type must be session or host, not '{k}'")),
        };
        let (count, metric) = match parts.len() {
            1 => (256, TagMetric::Packets),
            3 | 4 => {
                let count = parts[1]
                    .parse::<u32>()
                    .map_err(|_| format!("tag count '{}' is not a number", parts[1]))?;
                let metric = match parts[2] {
                    "packets" => TagMetric::Packets,
                    "bytes" => TagMetric::Bytes,
                    "seconds" => TagMetric::Seconds,
                    m => {
                        return Err(format!(
                            "tag metric must be packets, bytes or seconds, not '{m}'"
                        ))
                    }
                };
                (count, metric)
            }
            _ => {
                return Err(format!(
                    "tag '{v}': expected type[,count,metric[,direction]]"
                ))
            }
        };
        let scope = match (host, parts.get(3).copied()) {
            (false, None) => TagScope::Session,
            (false, Some(_)) => return Err("tag: a direction needs the host type".into()),
            (true, None | Some("dst")) => TagScope::HostDst,
            (true, Some("src")) => TagScope::HostSrc,
            (true, Some(d)) => return Err(format!("tag direction must be src or dst, not '{d}'")),
        };
        Ok(TagSpec {
            scope,
            count,
            metric,
        })
    }
}

/// A running tag: what is left of it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TagState {
    metric: TagMetric,
    /// Packets or bytes left (unused for seconds).
    left: u64,
    /// End of a time-based tag.
    until: Micros,
}

impl TagState {
    /// Starts a tag at packet time `now`.
    pub fn start(spec: &TagSpec, now: Micros) -> TagState {
        TagState {
            metric: spec.metric,
            left: u64::from(spec.count),
            until: now.saturating_add(i64::from(spec.count) * 1_000_000),
        }
    }

    /// A second tag on the same subject: keeps whichever reaches further.
    pub fn extend(&mut self, other: TagState) {
        if self.metric == other.metric {
            self.left = self.left.max(other.left);
            self.until = self.until.max(other.until);
        } else {
            *self = other;
        }
    }

    /// Whether a packet of `bytes` at `now` is tagged; counts it. False once the tag is
    /// used up (the caller then drops it).
    pub fn take(&mut self, now: Micros, bytes: usize) -> bool {
        match self.metric {
            TagMetric::Seconds => now < self.until,
            TagMetric::Packets | TagMetric::Bytes if self.left == 0 => false,
            TagMetric::Packets => {
                self.left -= 1;
                true
            }
            TagMetric::Bytes => {
                self.left = self.left.saturating_sub(bytes as u64);
                true
            }
        }
    }
}

/// Most hosts one worker keeps tags for; further host tags are refused and counted.
const MAX_HOST_TAGS: usize = 16_384;

/// A worker's host tags.
#[derive(Debug, Default)]
pub struct HostTags {
    map: HashMap<IpAddr, TagState, foldhash::fast::RandomState>,
    /// Host tags not started because the table was full.
    pub refused: u64,
}

impl HostTags {
    /// Starts (or extends) a tag on `ip`.
    pub fn start(&mut self, ip: IpAddr, tag: TagState) {
        if let Some(t) = self.map.get_mut(&ip) {
            t.extend(tag);
        } else if self.map.len() < MAX_HOST_TAGS {
            self.map.insert(ip, tag);
        } else {
            self.refused += 1;
        }
    }

    /// Whether a packet between `src` and `dst` is tagged (counted against each tag).
    #[inline]
    pub fn take(&mut self, src: IpAddr, dst: IpAddr, now: Micros, bytes: usize) -> bool {
        if self.map.is_empty() {
            return false;
        }
        let mut tagged = false;
        for ip in [src, dst] {
            if let Some(t) = self.map.get_mut(&ip) {
                if t.take(now, bytes) {
                    tagged = true;
                } else {
                    self.map.remove(&ip);
                }
            }
        }
        tagged
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_suricata_forms() {
        let s = TagSpec::parse("session").unwrap();
        assert_eq!(
            (s.scope, s.count, s.metric),
            (TagScope::Session, 256, TagMetric::Packets)
        );
        let s = TagSpec::parse("session,5,packets").unwrap();
        assert_eq!((s.scope, s.count), (TagScope::Session, 5));
        let s = TagSpec::parse("host, 3600, seconds, src").unwrap();
        assert_eq!((s.scope, s.metric), (TagScope::HostSrc, TagMetric::Seconds));
        assert_eq!(TagSpec::parse("host").unwrap().scope, TagScope::HostDst);
        for bad in [
            "flow",
            "session,5",
            "session,x,packets",
            "session,5,frames",
            "session,5,packets,src",
            "host,1,bytes,up",
        ] {
            assert!(TagSpec::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn counts_run_out() {
        let spec = TagSpec::parse("session,2,packets").unwrap();
        let mut t = TagState::start(&spec, 0);
        assert!(t.take(1, 100) && t.take(2, 100));
        assert!(!t.take(3, 100));
        let mut b = TagState::start(&TagSpec::parse("session,150,bytes").unwrap(), 0);
        assert!(b.take(1, 100) && b.take(2, 100));
        assert!(!b.take(3, 100));
        let mut s = TagState::start(&TagSpec::parse("host,2,seconds").unwrap(), 0);
        assert!(s.take(1_999_999, 1));
        assert!(!s.take(2_000_000, 1));
    }

    #[test]
    fn host_tags_match_either_side_and_expire() {
        let mut h = HostTags::default();
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        let b: IpAddr = "10.0.0.2".parse().unwrap();
        let c: IpAddr = "10.0.0.3".parse().unwrap();
        h.start(
            a,
            TagState::start(&TagSpec::parse("host,2,packets").unwrap(), 0),
        );
        assert!(h.take(b, a, 1, 60));
        assert!(!h.take(b, c, 2, 60));
        assert!(h.take(a, c, 3, 60));
        assert!(!h.take(a, c, 4, 60));
        assert!(h.map.is_empty());
    }
}
