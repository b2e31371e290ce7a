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
    /// Announcements that pushed out an older one (the table was full).
    pub evicted: u64,
}

impl Expectations {
    /// Records an announcement for a connection to `addr` (the responder).
    pub fn insert(&mut self, addr: IpAddr, e: Expectation, now: Micros) {
        if self.map.len() >= CAPACITY && !self.map.contains_key(&(addr, e.port)) {
            self.expire(now);
            if self.map.len() >= CAPACITY {
                // Still full: the entry closest to expiring goes.
                if let Some(k) = self
                    .map
                    .iter()
                    .min_by_key(|(_, (_, t))| *t)
                    .map(|(k, _)| *k)
                {
                    self.map.remove(&k);
                    self.evicted += 1;
                }
            }
        }
        self.map.insert((addr, e.port), (e, now + TTL));
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
