//! sekimori (関守, the keeper of a checkpoint): a network sensor / IPS for SOCs.
//!
//! Data flows one way, and the modules follow it:
//!
//! 1. [`capture`]: frames from pcap files and live interfaces (libpcap, PACKET_FANOUT) behind
//!    one trait;
//! 2. [`decode`]: link layer to transport into a borrowed [`decode::Packet`], bad input counted;
//! 3. [`flow`]: per-worker flow table (direction, established state, counters, timeouts);
//! 4. [`detect`]: Suricata-syntax rules compiled into Hyperscan prefilters plus exact verification,
//!    built once and shared read-only;
//! 5. [`tune`]: the SOC's severity for each alert (taxonomy, overrides, assets, suppression);
//! 6. [`incident`]: alerts grouped into incidents with action cards, and the notification
//!    policy (on the output thread, from the alerts' EVE lines);
//! 7. [`output`]: EVE JSON rendered by workers, written by a thread off the packet path.
//!
//! [`runtime`] wires them: offline replay (a reader feeding per-core workers over lock-free
//! rings) and live capture (workers owning fanout sockets, or capture threads feeding them;
//! inline forwarding, reload, stats, service integration).
//! [`config`] is the TOML configuration and [`cli`] the command line.

#![deny(unsafe_code)]

pub mod applayer;
pub mod capture;
pub mod cli;
pub mod common;
pub mod config;
pub mod decode;
pub mod detect;
pub mod flow;
pub mod incident;
pub mod output;
pub mod runtime;
pub mod stats;
pub mod testgen;
pub mod tune;
