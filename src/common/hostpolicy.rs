//! Target-based reassembly: which overlap policy (and TCP quirks) to apply for a receiving
//! host, by network. Hosts resolve overlapping TCP segments and IP fragments differently; the
//! sensor must resolve them the way the *receiver* will, or an attacker can show it one
//! payload and the target another.
//!
//! Built once from `[host_os_policy]` (policy name -> networks) and shared read-only; the most
//! specific network wins, addresses in none get the default policy.

use std::net::IpAddr;

use ipnet::IpNet;

use crate::common::intervals::IntervalIndex;
use crate::common::net::addr_key;
use crate::common::overlap::OverlapPolicy;

/// Overlap policy per receiving network.
#[derive(Debug, Default)]
pub struct HostPolicies {
    index: IntervalIndex<u128>,
    /// Policy of each indexed network, most specific first (index order).
    policies: Vec<OverlapPolicy>,
}

impl HostPolicies {
    /// Builds the map from (policy, network) pairs. Networks are written as CIDR
    /// (`10.0.0.0/8`, `2001:db8::/32`) or single addresses.
    pub fn new(entries: &[(OverlapPolicy, String)]) -> Result<HostPolicies, String> {
        let mut nets: Vec<(OverlapPolicy, IpNet)> = Vec::with_capacity(entries.len());
        for (policy, text) in entries {
            let net = text
                .parse::<IpNet>()
                .or_else(|_| text.parse::<IpAddr>().map(IpNet::from))
                .map_err(|_| format!("host_os_policy: {text:?} is not a network or address"))?;
            nets.push((*policy, net.trunc()));
        }
        // Most specific first (IPv4 prefixes count as their IPv4-mapped IPv6 length), so the
        // first entry an interval lists is the one that applies.
        let width = |n: &IpNet| match n {
            IpNet::V4(v) => 96 + u32::from(v.prefix_len()),
            IpNet::V6(v) => u32::from(v.prefix_len()),
        };
        nets.sort_by_key(|(_, n)| std::cmp::Reverse(width(n)));
        let ranges: Vec<[(u128, u128); 1]> = nets
            .iter()
            .map(|(_, n)| [(addr_key(n.network()), addr_key(n.broadcast()))])
            .collect();
        let entries: Vec<(u32, &[(u128, u128)])> = ranges
            .iter()
            .enumerate()
            .map(|(i, r)| (i as u32, &r[..]))
            .collect();
        let (index, left_out) = IntervalIndex::build(&entries, usize::MAX);
        debug_assert!(left_out.is_empty());
        Ok(HostPolicies {
            index,
            policies: nets.into_iter().map(|(p, _)| p).collect(),
        })
    }

    /// Whether any network is configured.
    pub fn is_empty(&self) -> bool {
        self.policies.is_empty()
    }

    /// The policy for a receiving host, or `default` when no network covers it.
    pub fn for_host(&self, ip: IpAddr, default: OverlapPolicy) -> OverlapPolicy {
        self.for_key(addr_key(ip), default)
    }

    /// Same, for an address already in [`addr_key`] form.
    pub fn for_key(&self, key: u128, default: OverlapPolicy) -> OverlapPolicy {
        if self.policies.is_empty() {
            return default;
        }
        self.index
            .lookup(key)
            .first()
            .map_or(default, |&i| self.policies[i as usize])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn most_specific_network_wins() {
        let hp = HostPolicies::new(&[
            (OverlapPolicy::Linux, "10.0.0.0/8".into()),
            (OverlapPolicy::Windows, "10.1.0.0/16".into()),
            (OverlapPolicy::First, "10.1.2.3".into()),
            (OverlapPolicy::Last, "2001:db8::/32".into()),
        ])
        .unwrap();
        let d = OverlapPolicy::Bsd;
        let at = |s: &str| hp.for_host(s.parse().unwrap(), d);
        assert_eq!(at("10.9.9.9"), OverlapPolicy::Linux);
        assert_eq!(at("10.1.9.9"), OverlapPolicy::Windows);
        assert_eq!(at("10.1.2.3"), OverlapPolicy::First);
        assert_eq!(at("192.0.2.1"), OverlapPolicy::Bsd);
        assert_eq!(at("2001:db8::1"), OverlapPolicy::Last);
        assert_eq!(at("2001:db9::1"), OverlapPolicy::Bsd);
    }

    #[test]
    fn bad_network_is_an_error() {
        let e = HostPolicies::new(&[(OverlapPolicy::Linux, "10.0.0.0/33".into())]).unwrap_err();
        assert!(e.contains("10.0.0.0/33"), "{e}");
    }
}
