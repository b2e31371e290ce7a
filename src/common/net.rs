//! Addresses as one ordered key space, shared by rule address sets, host policies, xbits and
//! defragmentation.

use std::net::IpAddr;

/// Where IPv4 addresses sit in the shared address universe.
const V4_MAPPED_BASE: u128 = 0xffff_0000_0000;

/// Maps an address into the one universe used by address sets and indexes.
#[inline]
pub fn addr_key(ip: IpAddr) -> u128 {
    match ip {
        IpAddr::V4(v4) => V4_MAPPED_BASE | u128::from(u32::from(v4)),
        IpAddr::V6(v6) => u128::from(v6),
    }
}
