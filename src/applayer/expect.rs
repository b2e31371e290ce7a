//! Connections announced by control sessions (FTP's PASV/PORT), waiting for the flow that
//! opens them. One table per worker, bounded, entries expiring: a session that announces
//! thousands of ports only displaces its own oldest announcements.

use std::collections::HashMap;
use std::net::IpAddr;

use super::parser::Expectation;
use crate::common::time::Micros;

/// Announcements kept per worker.
const CAPACITY: usize = 4096;
/// How long an announcement waits for its connection.
const TTL: Micros = 120_000_000;

/// A worker's announced connections, by responder address and port.
#[derive(Debug, Default)]
pub struct Expectations {
    map: HashMap<(IpAddr, u16), (Expectation, Micros)>,
    /// Announcements that pushed out another (the table was full).
    pub evicted: u64,
    /// Traffic time of the next sweep of expired entries when full.
    next_sweep: Micros,
}

impl Expectations {
    /// Records an announcement for a connection to `addr` (the responder). Returns whether
    /// another had to go to make room.
    pub fn insert(&mut self, addr: IpAddr, e: Expectation, now: Micros) -> bool {
        let before = self.evicted;
        if self.map.len() >= CAPACITY && !self.map.contains_key(&(addr, e.port)) {
            // Full: sweep expired entries at most once per second of traffic time, else push
            // out any one entry (constant work per announcement, whatever a flood sends).
            if now >= self.next_sweep {
                self.expire(now);
                self.next_sweep = now + 1_000_000;
            }
            if self.map.len() >= CAPACITY {
                if let Some(k) = self.map.keys().next().copied() {
                    self.map.remove(&k);
                    self.evicted += 1;
                }
            }
        }
        self.map.insert((addr, e.port), (e, now + TTL));
        self.evicted != before
    }

    /// The announcement for a new connection to `addr:port`, if any (taken out).
    pub fn take(&mut self, addr: IpAddr, port: u16, now: Micros) -> Option<Expectation> {
        if self.map.is_empty() {
            return None;
        }
        match self.map.remove(&(addr, port)) {
            Some((e, deadline)) if deadline >= now => Some(e),
            _ => None,
        }
    }

    /// Drops announcements past their time.
    pub fn expire(&mut self, now: Micros) {
        self.map.retain(|_, (_, t)| *t >= now);
    }

    /// Announcements held.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// Whether none are held.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::applayer::AppProto;

    fn e(port: u16) -> Expectation {
        Expectation {
            on_server: true,
            port,
            proto: AppProto::FtpData,
            command: b"RETR".to_vec(),
            file: b"f".to_vec(),
        }
    }

    #[test]
    fn bounded_taken_once_and_expiring() {
        let mut t = Expectations::default();
        let a: IpAddr = [10, 0, 0, 2].into();
        // A flood of announcements stays within the capacity.
        for p in 0..10_000u16 {
            t.insert(a, e(p), i64::from(p));
        }
        assert_eq!(t.len(), CAPACITY);
        assert!(t.evicted >= 10_000 - CAPACITY as u64);
        // An announcement is taken once.
        t.insert(a, e(20_000), 10_000);
        assert_eq!(t.take(a, 20_000, 10_000).map(|x| x.port), Some(20_000));
        assert!(t.take(a, 20_000, 10_000).is_none());
        // Past its time an announcement is gone.
        t.insert(a, e(1), 0);
        assert!(t.take(a, 1, TTL + 1).is_none());
        t.expire(i64::MAX);
        assert!(t.is_empty());
    }
}
