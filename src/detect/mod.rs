//! Detection: rules compiled into a read-only [`Engine`] shared by all workers, and a per-worker
//! [`DetectCtx`] holding the scratch space one packet's inspection needs.
//!
//! Per packet: pick the rule group of the packet's protocol, scan the payload with the group's
//! Hyperscan prefilter, then verify each candidate rule (plus the group's rules without a fast
//! pattern) on header, flow and content semantics.

pub mod content;
pub mod mpm;
pub mod rules;

use std::net::IpAddr;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use hyperscan::Scratch;

use crate::decode::Packet;
use rules::classification::Classifications;
use rules::{Action, AddrSet, Buffer, Content, FastPattern, FlowMatch, PortSet, Rule, Target, L4};

/// A rule as the engine runs it.
#[derive(Debug)]
pub struct Sig {
    /// Generator id.
    pub gid: u32,
    /// Signature id.
    pub sid: u32,
    /// Revision.
    pub rev: u32,
    /// `msg`.
    pub msg: String,
    /// Action.
    pub action: Action,
    /// Category from the classtype ("" without one).
    pub category: String,
    /// Classtype name.
    pub classtype: Option<String>,
    /// Vendor severity: explicit priority, else the classtype's, else 3.
    pub severity: u8,
    /// Metadata key/value pairs.
    pub metadata: Vec<(String, String)>,
    /// `target` keyword.
    pub target: Option<Target>,
    /// Rule file and line.
    pub origin: Option<(PathBuf, usize)>,
    l4: L4,
    src: AddrSet,
    sport: PortSet,
    dst: AddrSet,
    dport: PortSet,
    bidirectional: bool,
    flow: FlowMatch,
    payload: Vec<Content>,
}

/// Flow facts one packet's inspection needs.
#[derive(Clone, Copy, Debug, Default)]
pub struct FlowFacts {
    /// Whether the packet belongs to a tracked flow.
    pub tracked: bool,
    /// Direction client -> server.
    pub to_server: bool,
    /// Flow is established.
    pub established: bool,
}

impl Sig {
    #[inline]
    fn header_matches(&self, p: &Packet<'_>) -> bool {
        if !self.l4.matches(p.proto) {
            return false;
        }
        let ports_any = self.sport.is_any() && self.dport.is_any();
        if !ports_any && !p.has_ports() {
            return false;
        }
        let fwd = |src: IpAddr, sp: u16, dst: IpAddr, dp: u16| {
            self.src.contains(src)
                && self.dst.contains(dst)
                && self.sport.contains(sp)
                && self.dport.contains(dp)
        };
        fwd(p.src, p.sport, p.dst, p.dport)
            || (self.bidirectional && fwd(p.dst, p.dport, p.src, p.sport))
    }

    #[inline]
    fn flow_matches(&self, f: FlowFacts) -> bool {
        if let Some(ts) = self.flow.to_server {
            if !f.tracked || f.to_server != ts {
                return false;
            }
        }
        if let Some(est) = self.flow.established {
            if f.established != est {
                return false;
            }
        }
        true
    }

    #[inline]
    fn payload_matches(&self, payload: &[u8]) -> bool {
        if self.payload.is_empty() {
            return true;
        }
        !payload.is_empty() && content::matches(&self.payload, payload)
    }
}

/// A rule that was parsed but not loaded into the engine, and why.
#[derive(Clone, Debug)]
pub struct Skipped {
    /// Rule file.
    pub file: Option<PathBuf>,
    /// Line.
    pub line: usize,
    /// Signature id.
    pub sid: u32,
    /// Reason.
    pub reason: String,
    /// The unsupported keywords or buffers responsible, for per-keyword counts.
    pub keywords: Vec<String>,
}

/// What building the engine did.
#[derive(Clone, Debug, Default)]
pub struct BuildReport {
    /// Rules loaded.
    pub loaded: usize,
    /// Rules not loaded.
    pub skipped: Vec<Skipped>,
    /// Hyperscan databases built.
    pub databases: usize,
    /// Distinct fast patterns over all databases.
    pub patterns: usize,
    /// Total compiled database bytes.
    pub database_bytes: usize,
    /// Rules without a usable fast pattern (checked on every packet of their group).
    pub non_mpm: usize,
    /// Time spent compiling.
    pub compile_time: Duration,
}

/// Rule groups by packet protocol.
const GROUPS: usize = 4;

fn group_of(proto: u8) -> usize {
    match proto {
        6 => 0,
        17 => 1,
        1 | 58 => 2,
        _ => 3,
    }
}

fn groups_of(l4: L4) -> &'static [usize] {
    match l4 {
        L4::Any => &[0, 1, 2, 3],
        L4::Tcp => &[0],
        L4::Udp => &[1],
        L4::IcmpAny | L4::Icmp4 | L4::Icmp6 => &[2],
        L4::Sctp => &[3],
    }
}

#[derive(Default)]
struct Group {
    mpm: Option<mpm::Mpm>,
    non_mpm: Vec<u32>,
}

/// The compiled detection engine: built once, then shared read-only (`Arc<Engine>`).
pub struct Engine {
    sigs: Vec<Sig>,
    groups: [Group; GROUPS],
    /// What the build did.
    pub report: BuildReport,
}

/// Per-worker scratch for [`Engine::inspect`]; reused for every packet.
pub struct DetectCtx {
    scratch: Option<Scratch>,
    candidates: Vec<u32>,
    seen: Vec<u32>,
    stamp: u32,
    /// Prefilter scans that failed (Hyperscan error); counted, packet inspected without MPM.
    pub scan_errors: u64,
}

/// Picks the content that goes to the prefilter: an explicit `fast_pattern`, else the longest
/// non-negated payload content.
fn fast_pattern(contents: &[Content]) -> Option<&Content> {
    let positive = contents.iter().filter(|c| !c.negated);
    if let Some(c) = contents
        .iter()
        .find(|c| !c.negated && c.fast_pattern != FastPattern::Auto)
    {
        return Some(c);
    }
    positive.max_by(|a, b| {
        a.pattern
            .len()
            .cmp(&b.pattern.len())
            .then(std::cmp::Ordering::Greater)
    })
}

impl Engine {
    /// Compiles `rules`. Rules using keywords or buffers the engine cannot run yet, or an
    /// unknown classtype, are left out and listed in [`BuildReport::skipped`].
    pub fn build(rules: Vec<Rule>, classes: &Classifications) -> Result<Engine, String> {
        let started = Instant::now();
        let mut report = BuildReport::default();
        let mut sigs = Vec::with_capacity(rules.len());
        for rule in rules {
            match Self::compile_rule(rule, classes) {
                Ok(sig) => sigs.push(sig),
                Err(s) => report.skipped.push(s),
            }
        }
        let mut builders: [mpm::MpmBuilder; GROUPS] = Default::default();
        let mut groups: [Group; GROUPS] = Default::default();
        for (idx, sig) in sigs.iter().enumerate() {
            let idx = idx as u32;
            let fp = fast_pattern(&sig.payload);
            for &g in groups_of(sig.l4) {
                match fp {
                    Some(c) => builders[g].add(c.mpm_bytes(), c.nocase, idx),
                    None => groups[g].non_mpm.push(idx),
                }
            }
            if fp.is_none() {
                report.non_mpm += 1;
            }
        }
        for (g, b) in builders.into_iter().enumerate() {
            report.patterns += b.len();
            groups[g].mpm = b.build()?;
            if let Some(m) = &groups[g].mpm {
                report.databases += 1;
                report.database_bytes += m.size();
            }
        }
        report.loaded = sigs.len();
        report.compile_time = started.elapsed();
        Ok(Engine {
            sigs,
            groups,
            report,
        })
    }

    fn compile_rule(rule: Rule, classes: &Classifications) -> Result<Sig, Skipped> {
        let skip = |reason: String, keywords: Vec<String>| Skipped {
            file: rule.origin.as_ref().map(|o| o.file.to_path_buf()),
            line: rule.origin.as_ref().map_or(0, |o| o.line),
            sid: rule.sid,
            reason,
            keywords,
        };
        if !rule.unsupported.is_empty() {
            let kws: Vec<String> = rule.unsupported.iter().map(|s| s.to_string()).collect();
            return Err(skip(
                format!("keyword not supported yet: {}", kws.join(", ")),
                kws,
            ));
        }
        if let Some(app) = &rule.app_proto {
            return Err(skip(
                format!("app-layer protocol '{app}' in the header needs its parser (not implemented yet)"),
                vec![format!("proto:{app}")],
            ));
        }
        let mut app_bufs: Vec<String> = rule
            .contents()
            .filter_map(|(b, _)| match b {
                Buffer::App(n) => Some(n.to_string()),
                Buffer::Payload => None,
            })
            .collect();
        app_bufs.dedup();
        if !app_bufs.is_empty() {
            return Err(skip(
                format!("buffer not inspected yet: {}", app_bufs.join(", ")),
                app_bufs,
            ));
        }
        let class = match &rule.classtype {
            Some(name) => Some(
                classes
                    .get(name)
                    .ok_or_else(|| skip(format!("unknown classtype '{name}'"), Vec::new()))?,
            ),
            None => None,
        };
        let severity = rule.priority.or(class.map(|c| c.priority)).unwrap_or(3);
        let payload: Vec<Content> = rule.contents().map(|(_, c)| c.clone()).collect();
        Ok(Sig {
            gid: rule.gid,
            sid: rule.sid,
            rev: rule.rev,
            category: class.map(|c| c.category.clone()).unwrap_or_default(),
            classtype: rule.classtype,
            severity,
            action: rule.action,
            msg: rule.msg,
            metadata: rule.metadata,
            target: rule.target,
            origin: rule.origin.map(|o| (o.file.to_path_buf(), o.line)),
            l4: rule.l4,
            src: rule.src,
            sport: rule.sport,
            dst: rule.dst,
            dport: rule.dport,
            bidirectional: rule.bidirectional,
            flow: rule.flow,
            payload,
        })
    }

    /// Loaded rules, in engine order.
    pub fn sigs(&self) -> &[Sig] {
        &self.sigs
    }

    /// A fresh per-worker context.
    pub fn new_ctx(&self) -> Result<DetectCtx, String> {
        let mut scratch = None;
        for g in &self.groups {
            if let Some(m) = &g.mpm {
                m.prepare_scratch(&mut scratch)?;
            }
        }
        Ok(DetectCtx {
            scratch,
            candidates: Vec::with_capacity(64),
            seen: vec![0; self.sigs.len()],
            stamp: 0,
            scan_errors: 0,
        })
    }

    /// The rule at engine index `idx`.
    #[inline]
    pub fn sig(&self, idx: u32) -> &Sig {
        &self.sigs[idx as usize]
    }

    /// Inspects one packet, calling `on_match` with the engine index of each matching rule,
    /// in engine order.
    pub fn inspect(
        &self,
        ctx: &mut DetectCtx,
        p: &Packet<'_>,
        flow: FlowFacts,
        mut on_match: impl FnMut(u32),
    ) {
        let group = &self.groups[group_of(p.proto)];
        ctx.stamp = ctx.stamp.wrapping_add(1);
        if ctx.stamp == 0 {
            ctx.seen.iter_mut().for_each(|s| *s = 0);
            ctx.stamp = 1;
        }
        ctx.candidates.clear();
        if let (Some(m), Some(scratch), false) = (&group.mpm, &ctx.scratch, p.payload.is_empty()) {
            let (seen, stamp, cands) = (&mut ctx.seen, ctx.stamp, &mut ctx.candidates);
            let res = m.scan(p.payload, scratch, |rules| {
                for &r in rules {
                    if seen[r as usize] != stamp {
                        seen[r as usize] = stamp;
                        cands.push(r);
                    }
                }
            });
            if res.is_err() {
                ctx.scan_errors += 1;
            }
        }
        ctx.candidates.extend_from_slice(&group.non_mpm);
        ctx.candidates.sort_unstable();
        for &idx in &ctx.candidates {
            let sig = &self.sigs[idx as usize];
            if sig.header_matches(p) && sig.flow_matches(flow) && sig.payload_matches(p.payload) {
                on_match(idx);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decode::{decode, LinkType};
    use rules::{parse::parse_rule, Vars};

    fn engine(rules: &[&str]) -> Engine {
        let vars = Vars::suricata_defaults();
        let parsed = rules
            .iter()
            .map(|r| parse_rule(r, &vars).unwrap())
            .collect();
        Engine::build(parsed, &Classifications::bundled()).unwrap()
    }

    fn udp(src: [u8; 4], dst: [u8; 4], sp: u16, dp: u16, payload: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        etherparse::PacketBuilder::ipv4(src, dst, 64)
            .udp(sp, dp)
            .write(&mut out, payload)
            .unwrap();
        out
    }

    fn hits(e: &Engine, frame: &[u8], flow: FlowFacts) -> Vec<u32> {
        let mut ctx = e.new_ctx().unwrap();
        let p = decode(LinkType::Raw, frame).unwrap();
        let mut out = Vec::new();
        e.inspect(&mut ctx, &p, flow, |i| out.push(e.sig(i).sid));
        out
    }

    #[test]
    fn prefilter_then_verify() {
        let e = engine(&[
            r#"alert udp any any -> any 53 (msg:"a"; content:"evil"; nocase; sid:1;)"#,
            r#"alert udp any any -> any 53 (msg:"b"; content:"evil"; content:"more"; distance:0; sid:2;)"#,
            r#"alert udp any any -> any 54 (msg:"c"; content:"evil"; sid:3;)"#,
            r#"alert tcp any any -> any any (msg:"d"; content:"evil"; sid:4;)"#,
            r#"alert ip any any -> any any (msg:"e"; content:!"good"; sid:5;)"#,
            r#"alert udp $EXTERNAL_NET any -> $HOME_NET any (msg:"f"; content:"EVIL"; sid:6;)"#,
        ]);
        assert_eq!(e.report.loaded, 6);
        assert_eq!(e.report.non_mpm, 1);
        let f = udp([8, 8, 8, 8], [10, 0, 0, 1], 999, 53, b"xxEVILxx more");
        assert_eq!(hits(&e, &f, FlowFacts::default()), vec![1, 5, 6]);
        let f = udp([8, 8, 8, 8], [10, 0, 0, 1], 999, 53, b"xxEVILxx evil more");
        assert_eq!(hits(&e, &f, FlowFacts::default()), vec![1, 2, 5, 6]);
        let f = udp([10, 0, 0, 2], [10, 0, 0, 1], 999, 53, b"evil good");
        assert_eq!(hits(&e, &f, FlowFacts::default()), vec![1]);
        // Empty payload: content rules cannot match, negated-only rules neither (as Suricata).
        let f = udp([10, 0, 0, 2], [10, 0, 0, 1], 999, 53, b"");
        assert!(hits(&e, &f, FlowFacts::default()).is_empty());
    }

    #[test]
    fn flow_keyword_and_bidirectional_header() {
        let e = engine(&[
            r#"alert udp any any -> any any (msg:"ts"; flow:to_server; content:"x"; sid:1;)"#,
            r#"alert udp any any -> any any (msg:"est"; flow:established,to_client; content:"x"; sid:2;)"#,
            r#"alert udp 10.0.0.1 any <> 10.0.0.2 7 (msg:"bi"; content:"x"; sid:3;)"#,
            r#"alert udp any any -> any any (msg:"new"; flow:not_established; content:"x"; sid:4;)"#,
        ]);
        let f = udp([10, 0, 0, 2], [10, 0, 0, 1], 7, 9, b"x");
        let ts = FlowFacts {
            tracked: true,
            to_server: true,
            established: false,
        };
        assert_eq!(hits(&e, &f, ts), vec![1, 3, 4]);
        let tc = FlowFacts {
            tracked: true,
            to_server: false,
            established: true,
        };
        assert_eq!(hits(&e, &f, tc), vec![2, 3]);
        assert_eq!(hits(&e, &f, FlowFacts::default()), vec![3, 4]);
    }

    #[test]
    fn severity_and_category() {
        let e = engine(&[
            r#"alert ip any any -> any any (msg:"a"; classtype:trojan-activity; sid:1;)"#,
            r#"alert ip any any -> any any (msg:"b"; classtype:trojan-activity; priority:3; sid:2;)"#,
            r#"alert ip any any -> any any (msg:"c"; sid:3;)"#,
        ]);
        let s = e.sigs();
        assert_eq!(
            (s[0].severity, s[0].category.as_str()),
            (1, "A Network Trojan was detected")
        );
        assert_eq!(s[1].severity, 3);
        assert_eq!((s[2].severity, s[2].category.as_str()), (3, ""));
    }

    #[test]
    fn unsupported_rules_are_skipped_with_reasons() {
        let vars = Vars::suricata_defaults();
        let rules = [
            r#"alert tcp any any -> any any (content:"a"; pcre:"/a/"; sid:1;)"#,
            r#"alert http any any -> any any (content:"a"; sid:2;)"#,
            r#"alert tcp any any -> any any (content:"a"; http_uri; sid:3;)"#,
            r#"alert tcp any any -> any any (content:"a"; classtype:nope; sid:4;)"#,
            r#"alert tcp any any -> any any (content:"a"; sid:5;)"#,
        ];
        let parsed = rules
            .iter()
            .map(|r| parse_rule(r, &vars).unwrap())
            .collect();
        let e = Engine::build(parsed, &Classifications::bundled()).unwrap();
        assert_eq!(e.report.loaded, 1);
        let reasons: Vec<(u32, &str)> = e
            .report
            .skipped
            .iter()
            .map(|s| (s.sid, s.reason.as_str()))
            .collect();
        assert_eq!(reasons.len(), 4);
        assert!(reasons[0].1.contains("pcre"));
        assert!(reasons[1].1.contains("'http'"));
        assert!(reasons[2].1.contains("http.uri"));
        assert!(reasons[3].1.contains("classtype"));
    }

    #[test]
    fn fast_pattern_choice() {
        let vars = Vars::default();
        let r = parse_rule(r#"alert tcp any any -> any any (content:"ab"; content:"abcd"; content:!"zzzzzzzz"; sid:1;)"#, &vars).unwrap();
        let cs: Vec<Content> = r.contents().map(|(_, c)| c.clone()).collect();
        assert_eq!(fast_pattern(&cs).unwrap().pattern, b"abcd");
        let r = parse_rule(
            r#"alert tcp any any -> any any (content:"ab"; fast_pattern; content:"abcd"; sid:1;)"#,
            &vars,
        )
        .unwrap();
        let cs: Vec<Content> = r.contents().map(|(_, c)| c.clone()).collect();
        assert_eq!(fast_pattern(&cs).unwrap().pattern, b"ab");
    }
}
