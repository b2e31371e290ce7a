//! Rule header: address and port expressions compiled to interval sets.
//!
//! Suricata's expression language (`any`, `$VAR`, CIDRs, ranges, `[lists]`, `!negation`, nesting)
//! is folded at load time into a sorted list of disjoint intervals, so matching a packet is a
//! binary search. IPv4 addresses live in the IPv4-mapped part of the IPv6 space (`::ffff:0:0/96`),
//! which gives one universe for both families: `!10.0.0.0/8` also matches every IPv6 address, as in
//! Suricata.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::{Arc, Mutex};

use ipnet::IpNet;

use crate::common::net::addr_key;

/// Largest nesting of variables (`$A` -> `$B` -> ...) before a loop is assumed.
const MAX_VAR_DEPTH: usize = 16;

/// A set of integers as sorted, disjoint, non-adjacent closed intervals. Shared, not copied,
/// when cloned: every rule using `$HOME_NET` holds the same intervals.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RangeSet {
    ranges: Arc<[(u128, u128)]>,
}

impl RangeSet {
    /// The empty set.
    pub fn empty() -> Self {
        RangeSet {
            ranges: Arc::new([]),
        }
    }

    /// The whole interval `[lo, hi]`.
    pub fn span(lo: u128, hi: u128) -> Self {
        RangeSet {
            ranges: Arc::new([(lo, hi)]),
        }
    }

    fn from_unsorted(mut ranges: Vec<(u128, u128)>) -> Self {
        ranges.sort_unstable();
        let mut out: Vec<(u128, u128)> = Vec::with_capacity(ranges.len());
        for (lo, hi) in ranges {
            match out.last_mut() {
                Some(last) if lo <= last.1.saturating_add(1) => last.1 = last.1.max(hi),
                _ => out.push((lo, hi)),
            }
        }
        RangeSet { ranges: out.into() }
    }

    /// Union of two sets.
    pub fn union(&self, other: &RangeSet) -> RangeSet {
        let mut all = self.ranges.to_vec();
        all.extend_from_slice(&other.ranges);
        RangeSet::from_unsorted(all)
    }

    /// Complement within `[0, max]`.
    pub fn complement(&self, max: u128) -> RangeSet {
        let mut out = Vec::new();
        let mut next = 0u128;
        let mut open = true;
        for &(lo, hi) in self.ranges.iter() {
            if lo > next {
                out.push((next, lo - 1));
            }
            if hi == u128::MAX || hi >= max {
                open = false;
                break;
            }
            next = hi + 1;
        }
        if open && next <= max {
            out.push((next, max));
        }
        RangeSet { ranges: out.into() }
    }

    /// Elements of `self` that are not in `other`.
    pub fn difference(&self, other: &RangeSet, max: u128) -> RangeSet {
        self.intersect(&other.complement(max))
    }

    /// Intersection of two sets.
    pub fn intersect(&self, other: &RangeSet) -> RangeSet {
        let (mut i, mut j) = (0, 0);
        let mut out = Vec::new();
        while i < self.ranges.len() && j < other.ranges.len() {
            let (a_lo, a_hi) = self.ranges[i];
            let (b_lo, b_hi) = other.ranges[j];
            let lo = a_lo.max(b_lo);
            let hi = a_hi.min(b_hi);
            if lo <= hi {
                out.push((lo, hi));
            }
            if a_hi < b_hi {
                i += 1;
            } else {
                j += 1;
            }
        }
        RangeSet { ranges: out.into() }
    }

    /// Whether `v` is in the set.
    #[inline]
    pub fn contains(&self, v: u128) -> bool {
        // Most sets have one or two ranges; a linear scan beats the branchy binary search there.
        if self.ranges.len() <= 4 {
            return self.ranges.iter().any(|&(lo, hi)| lo <= v && v <= hi);
        }
        let idx = self.ranges.partition_point(|&(_, hi)| hi < v);
        self.ranges.get(idx).is_some_and(|&(lo, _)| lo <= v)
    }

    /// Whether the set holds nothing.
    pub fn is_empty(&self) -> bool {
        self.ranges.is_empty()
    }

    /// The intervals, sorted and disjoint.
    pub fn ranges(&self) -> &[(u128, u128)] {
        &self.ranges
    }
}

/// A compiled address expression.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AddrSet {
    set: RangeSet,
    any: bool,
    negated: bool,
}

impl AddrSet {
    /// Matches every address.
    pub fn any() -> Self {
        AddrSet {
            set: RangeSet::span(0, u128::MAX),
            any: true,
            negated: false,
        }
    }

    /// Whether this is `any` (lets the engine skip the lookup).
    pub fn is_any(&self) -> bool {
        self.any
    }

    /// Whether the expression used negation anywhere (directly or through a variable such as
    /// `$EXTERNAL_NET`); Suricata inspects such rules on every packet, not as IP-only.
    pub fn has_negation(&self) -> bool {
        self.negated
    }

    /// Whether `ip` is in the set.
    #[inline]
    pub fn contains(&self, ip: IpAddr) -> bool {
        self.any || self.set.contains(addr_key(ip))
    }

    /// The set as sorted, disjoint intervals of [`addr_key`] values.
    pub fn ranges(&self) -> &[(u128, u128)] {
        self.set.ranges()
    }

    fn from_set(set: RangeSet, negated: bool) -> Self {
        let any = set.ranges() == [(0, u128::MAX)];
        AddrSet { set, any, negated }
    }
}

/// A compiled port expression.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PortSet {
    set: RangeSet,
    any: bool,
}

impl PortSet {
    /// Matches every port (and packets without ports).
    pub fn any() -> Self {
        PortSet {
            set: RangeSet::span(0, 65535),
            any: true,
        }
    }

    /// Whether this is `any`.
    pub fn is_any(&self) -> bool {
        self.any
    }

    /// Whether `port` is in the set.
    #[inline]
    pub fn contains(&self, port: u16) -> bool {
        self.any || self.set.contains(u128::from(port))
    }

    /// The intervals of ports, for grouping rules by port.
    pub fn ranges(&self) -> impl Iterator<Item = (u16, u16)> + '_ {
        self.set
            .ranges()
            .iter()
            .map(|&(lo, hi)| (lo as u16, hi as u16))
    }

    fn from_set(set: RangeSet) -> Self {
        let any = set.ranges() == [(0, 65535)];
        PortSet { set, any }
    }
}

/// Address and port variables (`$HOME_NET`, `$HTTP_PORTS`) as their unexpanded expressions.
/// Each variable is parsed and folded once, when a rule first uses it; later rules share the
/// result.
#[derive(Clone, Debug, Default)]
pub struct Vars {
    /// Address groups by name (without `$`).
    address: HashMap<String, String>,
    /// Port groups by name (without `$`).
    port: HashMap<String, String>,
    cache: VarCache,
}

/// A variable folded once: the expression it was folded from and the result.
type Folded = (String, FoldedVar);

/// A folded variable.
#[derive(Clone, Debug)]
struct FoldedVar {
    /// Its value as a set.
    set: RangeSet,
    /// For a value negated at its top level (`!$HOME_NET`), the set under the negation: in a
    /// list it is subtracted, as if the expression were written in place.
    negated: Option<RangeSet>,
    /// The expression used negation anywhere.
    any_not: bool,
}

/// Folded variables by (kind, name); emptied on clone (the clone's variables may change).
#[derive(Default)]
struct VarCache(Mutex<HashMap<(&'static str, String), Folded>>);

impl Clone for VarCache {
    fn clone(&self) -> Self {
        VarCache::default()
    }
}

impl std::fmt::Debug for VarCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("VarCache")
    }
}

impl Vars {
    /// An address variable's expression (name without `$`).
    pub fn address(&self, name: &str) -> Option<&str> {
        self.address.get(name).map(String::as_str)
    }

    /// Sets an address variable (name without `$`).
    pub fn set_address(&mut self, name: &str, expr: &str) {
        self.address.insert(name.to_string(), expr.to_string());
        self.cache = VarCache::default();
    }

    /// Sets a port variable (name without `$`).
    pub fn set_port(&mut self, name: &str, expr: &str) {
        self.port.insert(name.to_string(), expr.to_string());
        self.cache = VarCache::default();
    }

    /// Suricata's shipped defaults (suricata.yaml `vars:`), which packs such as ET Open assume.
    pub fn suricata_defaults() -> Self {
        let home = "[192.168.0.0/16,10.0.0.0/8,172.16.0.0/12]";
        let mut address = HashMap::new();
        address.insert("HOME_NET".into(), home.into());
        address.insert("EXTERNAL_NET".into(), "!$HOME_NET".into());
        for name in [
            "HTTP_SERVERS",
            "SMTP_SERVERS",
            "SQL_SERVERS",
            "DNS_SERVERS",
            "TELNET_SERVERS",
            "AIM_SERVERS",
            "DC_SERVERS",
            "DNP3_SERVER",
            "DNP3_CLIENT",
            "MODBUS_CLIENT",
            "MODBUS_SERVER",
            "ENIP_CLIENT",
            "ENIP_SERVER",
        ] {
            address.insert(name.into(), "$HOME_NET".into());
        }
        let mut port = HashMap::new();
        for (k, v) in [
            ("HTTP_PORTS", "80"),
            ("SHELLCODE_PORTS", "!80"),
            ("ORACLE_PORTS", "1521"),
            ("SSH_PORTS", "22"),
            ("DNP3_PORTS", "20000"),
            ("MODBUS_PORTS", "502"),
            ("FILE_DATA_PORTS", "[$HTTP_PORTS,110,143]"),
            ("FTP_PORTS", "21"),
            ("GENEVE_PORTS", "6081"),
            ("VXLAN_PORTS", "4789"),
            ("TEREDO_PORTS", "3544"),
            ("SIP_PORTS", "[5060,5061]"),
        ] {
            port.insert(k.into(), v.into());
        }
        Vars {
            address,
            port,
            cache: VarCache::default(),
        }
    }
}

/// A node of a parsed expression before it is folded to a set.
#[derive(Debug)]
enum Node {
    Any,
    Leaf(RangeSet),
    List(Vec<Node>),
    Not(Box<Node>),
    /// A variable already folded.
    Var(FoldedVar),
}

fn has_not(node: &Node) -> bool {
    match node {
        Node::Not(_) => true,
        Node::List(items) => items.iter().any(has_not),
        Node::Var(v) => v.any_not,
        Node::Any | Node::Leaf(_) => false,
    }
}

/// Splits a bracketed list body at top-level commas.
fn split_top(s: &str) -> Result<Vec<&str>, String> {
    let mut out = Vec::new();
    let mut depth = 0i32;
    let mut start = 0;
    for (i, c) in s.char_indices() {
        match c {
            '[' => depth += 1,
            ']' => {
                depth -= 1;
                if depth < 0 {
                    return Err(format!("unbalanced ']' in '{s}'"));
                }
            }
            ',' if depth == 0 => {
                out.push(s[start..i].trim());
                start = i + 1;
            }
            _ => {}
        }
    }
    if depth != 0 {
        return Err(format!("unbalanced '[' in '{s}'"));
    }
    out.push(s[start..].trim());
    Ok(out)
}

struct ExprParser<'v> {
    vars: &'v HashMap<String, String>,
    cache: &'v VarCache,
    kind: &'static str,
    leaf: fn(&str) -> Result<RangeSet, String>,
    max: u128,
}

impl ExprParser<'_> {
    fn parse(&self, s: &str, depth: usize) -> Result<Node, String> {
        let s = s.trim();
        if s.is_empty() {
            return Err(format!("empty {} expression", self.kind));
        }
        if let Some(rest) = s.strip_prefix('!') {
            return Ok(Node::Not(Box::new(self.parse(rest, depth)?)));
        }
        if s.starts_with('[') {
            if !s.ends_with(']') {
                return Err(format!("unterminated {} list '{s}'", self.kind));
            }
            let body = &s[1..s.len() - 1];
            let items = split_top(body)?;
            let mut nodes = Vec::with_capacity(items.len());
            for item in items {
                if item.is_empty() {
                    return Err(format!("empty item in {} list '{s}'", self.kind));
                }
                nodes.push(self.parse(item, depth)?);
            }
            return Ok(Node::List(nodes));
        }
        if let Some(name) = s.strip_prefix('$') {
            if depth >= MAX_VAR_DEPTH {
                return Err(format!(
                    "{} variable ${name} nests too deep (a loop?)",
                    self.kind
                ));
            }
            let value = self
                .vars
                .get(name)
                .ok_or_else(|| format!("undefined {} variable ${name}", self.kind))?;
            let key = (self.kind, name.to_string());
            let cached = {
                let cache = self.cache.0.lock().unwrap_or_else(|e| e.into_inner());
                cache.get(&key).filter(|f| f.0 == *value).cloned()
            };
            let var = match cached {
                Some((_, v)) => v,
                None => {
                    let node = self.parse(value, depth + 1)?;
                    let any_not = has_not(&node);
                    let set = fold(&node, self.max);
                    let negated = match &node {
                        Node::Not(inner) => Some(fold(inner, self.max)),
                        Node::Var(v) => v.negated.clone(),
                        _ => None,
                    };
                    let v = FoldedVar {
                        set,
                        negated,
                        any_not,
                    };
                    let mut cache = self.cache.0.lock().unwrap_or_else(|e| e.into_inner());
                    cache.insert(key, (value.clone(), v.clone()));
                    v
                }
            };
            return Ok(Node::Var(var));
        }
        if s.eq_ignore_ascii_case("any") {
            return Ok(Node::Any);
        }
        Ok(Node::Leaf((self.leaf)(s)?))
    }
}

/// Folds a node: a list is (union of its positive items, or everything if it has none) minus the
/// union of its negated items; this is how Suricata reads `[10.0.0.0/8,!10.1.2.3]` and `[!1.2.3.4]`.
/// Items are gathered and merged once (O(n log n) in the list's size).
fn fold(node: &Node, max: u128) -> RangeSet {
    match node {
        Node::Any => RangeSet::span(0, max),
        Node::Leaf(set) | Node::Var(FoldedVar { set, .. }) => set.clone(),
        Node::Not(inner) => fold(inner, max).complement(max),
        Node::List(items) => {
            let mut pos = Vec::new();
            let mut neg = Vec::new();
            let mut has_pos = false;
            for item in items {
                match item {
                    Node::Not(inner) => neg.extend_from_slice(fold(inner, max).ranges()),
                    // A negated variable in a list subtracts, as if written in place.
                    Node::Var(FoldedVar {
                        negated: Some(under),
                        ..
                    }) => neg.extend_from_slice(under.ranges()),
                    other => {
                        has_pos = true;
                        pos.extend_from_slice(fold(other, max).ranges());
                    }
                }
            }
            let pos = if has_pos {
                RangeSet::from_unsorted(pos)
            } else {
                RangeSet::span(0, max)
            };
            if neg.is_empty() {
                return pos;
            }
            pos.difference(&RangeSet::from_unsorted(neg), max)
        }
    }
}

fn parse_addr_leaf(s: &str) -> Result<RangeSet, String> {
    if let Ok(net) = s.parse::<IpNet>() {
        let net = net.trunc();
        return Ok(match net {
            IpNet::V4(n) => RangeSet::span(
                addr_key(IpAddr::V4(n.network())),
                addr_key(IpAddr::V4(n.broadcast())),
            ),
            IpNet::V6(n) => RangeSet::span(
                addr_key(IpAddr::V6(n.network())),
                addr_key(IpAddr::V6(n.broadcast())),
            ),
        });
    }
    if let Ok(ip) = s.parse::<IpAddr>() {
        let k = addr_key(ip);
        return Ok(RangeSet::span(k, k));
    }
    // Suricata also accepts dotted netmasks (10.0.0.0/255.0.0.0) and address ranges (a-b).
    if let Some((ip, mask)) = s.split_once('/') {
        if let (Ok(ip), Ok(mask)) = (ip.parse::<Ipv4Addr>(), mask.parse::<Ipv4Addr>()) {
            let m = u32::from(mask);
            if m.leading_ones() + m.trailing_zeros() == 32 {
                let lo = u32::from(ip) & m;
                let hi = lo | !m;
                return Ok(RangeSet::span(
                    addr_key(IpAddr::V4(lo.into())),
                    addr_key(IpAddr::V4(hi.into())),
                ));
            }
        }
    }
    if let Some((a, b)) = s.split_once('-') {
        let (a, b) = (a.trim().parse::<IpAddr>(), b.trim().parse::<IpAddr>());
        if let (Ok(a), Ok(b)) = (a, b) {
            if a.is_ipv4() == b.is_ipv4() && addr_key(a) <= addr_key(b) {
                return Ok(RangeSet::span(addr_key(a), addr_key(b)));
            }
        }
    }
    Err(format!("invalid address '{s}'"))
}

fn parse_port_num(s: &str) -> Result<u128, String> {
    s.trim()
        .parse::<u16>()
        .map(u128::from)
        .map_err(|_| format!("invalid port '{s}'"))
}

fn parse_port_leaf(s: &str) -> Result<RangeSet, String> {
    if let Some((lo, hi)) = s.split_once(':') {
        let lo = if lo.trim().is_empty() {
            0
        } else {
            parse_port_num(lo)?
        };
        let hi = if hi.trim().is_empty() {
            65535
        } else {
            parse_port_num(hi)?
        };
        if lo > hi {
            return Err(format!("port range '{s}' is reversed"));
        }
        return Ok(RangeSet::span(lo, hi));
    }
    let p = parse_port_num(s)?;
    Ok(RangeSet::span(p, p))
}

/// Parses and folds an address expression such as `[$HOME_NET,!10.0.0.5]`.
pub fn parse_addr(expr: &str, vars: &Vars) -> Result<AddrSet, String> {
    let p = ExprParser {
        vars: &vars.address,
        cache: &vars.cache,
        kind: "address",
        leaf: parse_addr_leaf,
        max: u128::MAX,
    };
    let node = p.parse(expr, 0)?;
    let set = fold(&node, u128::MAX);
    if set.is_empty() {
        return Err(format!("address expression '{expr}' matches nothing"));
    }
    Ok(AddrSet::from_set(set, has_not(&node)))
}

/// Parses and folds a port expression such as `[80,8000:8080,!8008]`.
pub fn parse_ports(expr: &str, vars: &Vars) -> Result<PortSet, String> {
    let p = ExprParser {
        vars: &vars.port,
        cache: &vars.cache,
        kind: "port",
        leaf: parse_port_leaf,
        max: 65535,
    };
    let set = fold(&p.parse(expr, 0)?, 65535);
    if set.is_empty() {
        return Err(format!("port expression '{expr}' matches nothing"));
    }
    Ok(PortSet::from_set(set))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv6Addr;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn v6(s: &str) -> IpAddr {
        IpAddr::V6(s.parse::<Ipv6Addr>().unwrap())
    }

    #[test]
    fn home_and_external_net_are_complements() {
        let vars = Vars::suricata_defaults();
        let home = parse_addr("$HOME_NET", &vars).unwrap();
        let ext = parse_addr("$EXTERNAL_NET", &vars).unwrap();
        for a in ["10.1.2.3", "192.168.1.1", "172.16.0.1", "172.31.255.255"] {
            assert!(home.contains(ip(a)) && !ext.contains(ip(a)), "{a}");
        }
        assert!(ext.has_negation() && !home.has_negation());
        for a in ["8.8.8.8", "172.32.0.1", "2001:db8::1"] {
            assert!(!home.contains(ip(a)) && ext.contains(ip(a)), "{a}");
        }
    }

    #[test]
    fn a_large_home_net_is_folded_once_and_shared() {
        let mut vars = Vars::suricata_defaults();
        let list = crate::testgen::hostile::big_address_list(2000);
        vars.set_address("HOME_NET", &list);
        let first = parse_addr("$EXTERNAL_NET", &vars).unwrap();
        assert_eq!(first.ranges().len(), 2001);
        // Every later rule shares the folded intervals instead of building its own.
        for _ in 0..1000 {
            let again = parse_addr("$EXTERNAL_NET", &vars).unwrap();
            assert!(Arc::ptr_eq(&again.set.ranges, &first.set.ranges));
            let home = parse_addr("$HOME_NET", &vars).unwrap();
            assert_eq!(home.ranges().len(), 2000);
        }
        // A negated variable inside a list still subtracts, as if written in place.
        let l = parse_addr("[$EXTERNAL_NET,10.0.1.7,10.0.2.7]", &vars).unwrap();
        assert!(l.contains(ip("10.0.1.7")) && !l.contains(ip("10.0.1.8")));
        assert!(!l.contains(ip("10.0.2.7")), "10.0.2.0/24 is home");
        assert!(!l.contains(ip("8.8.8.8")), "no positive item covers it");
        // Changing a variable drops what was folded from the old value.
        vars.set_address("HOME_NET", "[10.0.0.0/8]");
        assert!(!parse_addr("$EXTERNAL_NET", &vars)
            .unwrap()
            .contains(ip("10.200.0.1")));
    }

    #[test]
    fn list_with_negation_excludes() {
        let vars = Vars::default();
        let s = parse_addr("[10.0.0.0/8,!10.1.2.3]", &vars).unwrap();
        assert!(s.contains(ip("10.9.9.9")));
        assert!(!s.contains(ip("10.1.2.3")));
        assert!(!s.contains(ip("11.0.0.1")));
        let only_neg = parse_addr("[!1.2.3.4]", &vars).unwrap();
        assert!(only_neg.contains(ip("1.2.3.5")) && !only_neg.contains(ip("1.2.3.4")));
        let nested = parse_addr("![1.0.0.0/8,[2.0.0.0/8,!2.2.2.2]]", &vars).unwrap();
        assert!(nested.contains(ip("2.2.2.2")) && !nested.contains(ip("2.2.2.3")));
        assert!(!nested.contains(ip("1.1.1.1")) && nested.contains(ip("3.3.3.3")));
    }

    #[test]
    fn address_forms() {
        let vars = Vars::default();
        assert!(parse_addr("any", &vars).unwrap().is_any());
        assert!(parse_addr("10.0.0.0/255.0.0.0", &vars)
            .unwrap()
            .contains(ip("10.3.3.3")));
        let r = parse_addr("1.1.1.1-1.1.1.9", &vars).unwrap();
        assert!(r.contains(ip("1.1.1.5")) && !r.contains(ip("1.1.1.10")));
        let six = parse_addr("2001:db8::/32", &vars).unwrap();
        assert!(six.contains(v6("2001:db8::42")) && !six.contains(ip("10.0.0.1")));
        // Host bits in a CIDR are ignored, as Suricata does.
        assert!(parse_addr("10.0.0.7/24", &vars)
            .unwrap()
            .contains(ip("10.0.0.200")));
        assert!(parse_addr("300.1.1.1", &vars).is_err());
        assert!(parse_addr("[1.1.1.1", &vars).is_err());
        assert!(parse_addr("$NOPE", &vars).is_err());
        assert!(parse_addr("[any,!any]", &vars).is_err());
    }

    #[test]
    fn variable_loops_are_reported() {
        let mut vars = Vars::default();
        vars.address.insert("A".into(), "$B".into());
        vars.address.insert("B".into(), "$A".into());
        let err = parse_addr("$A", &vars).unwrap_err();
        assert!(err.contains("nests too deep"), "{err}");
    }

    #[test]
    fn port_forms() {
        let vars = Vars::suricata_defaults();
        let p = parse_ports("[80,8000:8080,!8008]", &vars).unwrap();
        assert!(p.contains(80) && p.contains(8000) && p.contains(8080));
        assert!(!p.contains(8008) && !p.contains(81));
        assert!(parse_ports("1024:", &vars).unwrap().contains(65535));
        assert!(parse_ports(":1023", &vars).unwrap().contains(0));
        assert!(!parse_ports("$SHELLCODE_PORTS", &vars).unwrap().contains(80));
        assert!(parse_ports("$FILE_DATA_PORTS", &vars)
            .unwrap()
            .contains(143));
        assert!(parse_ports("any", &vars).unwrap().is_any());
        assert!(parse_ports("70000", &vars).is_err());
        assert!(parse_ports("90:80", &vars).is_err());
        assert!(parse_ports("!any", &vars).is_err());
    }

    #[test]
    fn rangeset_algebra() {
        let a = RangeSet::from_unsorted(vec![(5, 10), (1, 3), (4, 4), (20, 30)]);
        assert_eq!(a.ranges(), &[(1, 10), (20, 30)]);
        assert_eq!(a.complement(40).ranges(), &[(0, 0), (11, 19), (31, 40)]);
        let b = RangeSet::span(8, 25);
        assert_eq!(a.intersect(&b).ranges(), &[(8, 10), (20, 25)]);
        assert_eq!(a.difference(&b, 40).ranges(), &[(1, 7), (26, 30)]);
        assert!(RangeSet::span(0, u128::MAX)
            .complement(u128::MAX)
            .is_empty());
    }
}
