//! Tuning: the SOC's severities for each alert, between detection and output.
//!
//! A [`Tuner`] is built once from tuning files (TOML, see [`mod@file`]) against the loaded
//! signatures and shared read-only by the workers. For each signature it precomputes what does
//! not depend on traffic: the incident type and base severity from the [`taxonomy`], the
//! overrides that could apply (most specific first), suppressions, and the threshold. Per alert
//! it only checks addresses: suppression, network- and asset-scoped overrides, asset impact.
//! Nothing here allocates per alert.
//!
//! Precedence. An override's specificity is, in order: its signature selector (sid 16, sid
//! range 8, msg regex 4, metadata 2, classtype 1, summed), the number of address conditions
//! (`src`, `dst`, `target`), then the prefix lengths that matched. Equal specificity is decided
//! by file order (later files refine earlier ones); two entries of one file that could tie on
//! a loaded signature are a load error naming both.
//!
//! Assets then move the result: a rule for a CVE the asset is known to have +1 (for one it is
//! known not to have, -1); a rule aimed at another kind of system (`attack_target` vs `roles`)
//! -1; a port the asset does not serve -1; an internal asset hit from the internet -1 (the
//! perimeter stops it); criticality high +1, low -1.

pub mod file;
pub mod page;
pub mod policy;
pub mod report;
pub mod taxonomy;

use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use ipnet::IpNet;
use pcre2::bytes::{Regex, RegexBuilder};

use crate::detect::rules::header::{parse_addr, AddrSet};
use crate::detect::rules::keywords::{parse_threshold, ThresholdSpec};
use crate::detect::rules::Vars;
use crate::detect::Sig;
use file::{
    parse_threshold_line, Criticality, Exposure, SidValue, SuppressTrack, ThresholdLine, TuningFile,
};
pub use taxonomy::{IncidentType, Severity};

/// What tuning needs to know about a signature.
#[derive(Clone, Copy, Debug)]
pub struct SigInfo<'a> {
    /// gid.
    pub gid: u32,
    /// sid.
    pub sid: u32,
    /// msg.
    pub msg: &'a str,
    /// Classtype name.
    pub classtype: Option<&'a str>,
    /// Vendor priority (EVE severity before tuning).
    pub priority: u8,
    /// Metadata pairs.
    pub metadata: &'a [(String, String)],
}

impl<'a> From<&'a Sig> for SigInfo<'a> {
    fn from(s: &'a Sig) -> Self {
        SigInfo {
            gid: s.gid,
            sid: s.sid,
            msg: &s.msg,
            classtype: s.classtype.as_deref(),
            priority: s.severity,
            metadata: &s.metadata,
        }
    }
}

/// The addresses of one alert.
#[derive(Clone, Copy, Debug)]
pub struct AlertFacts {
    /// Packet source.
    pub src: IpAddr,
    /// Packet destination.
    pub dst: IpAddr,
    /// The attacked side: the rule's `target`, else the destination.
    pub target: IpAddr,
    /// The target's port when the target is the server of the flow (for `services`).
    pub target_port: Option<u16>,
}

/// Signature part of a selector.
#[derive(Debug, Default)]
struct SigSel {
    gid: Option<u32>,
    /// Inclusive sid range; a single sid is `(s, s)` with `exact`.
    sids: Option<(u32, u32)>,
    exact: bool,
    msg: Option<Regex>,
    classtype: Option<String>,
    metadata: Vec<(String, String)>,
}

impl SigSel {
    fn new(
        sid: Option<&SidValue>,
        msg: Option<&str>,
        classtype: Option<&str>,
        metadata: &BTreeMap<String, String>,
    ) -> Result<SigSel, String> {
        let mut s = SigSel::default();
        match sid {
            None => {}
            Some(SidValue::Int(v)) => {
                s.sids = Some((*v, *v));
                s.exact = true;
            }
            Some(SidValue::Text(t)) => {
                let t = t.trim();
                if let Some((a, b)) = t.split_once('-') {
                    match (a.trim().parse::<u32>(), b.trim().parse::<u32>()) {
                        (Ok(a), Ok(b)) if a <= b => s.sids = Some((a, b)),
                        _ => return Err(format!("sid '{t}' is not a range A-B")),
                    }
                } else if let Some((g, v)) = t.split_once(':') {
                    match (g.trim().parse::<u32>(), v.trim().parse::<u32>()) {
                        (Ok(g), Ok(v)) => {
                            s.gid = Some(g);
                            s.sids = Some((v, v));
                            s.exact = true;
                        }
                        _ => return Err(format!("sid '{t}' is not gid:sid")),
                    }
                } else {
                    let v = t
                        .parse::<u32>()
                        .map_err(|_| format!("sid '{t}' is not a sid, gid:sid or range"))?;
                    s.sids = Some((v, v));
                    s.exact = true;
                }
            }
        }
        if let Some(re) = msg {
            s.msg = Some(
                RegexBuilder::new()
                    .caseless(true)
                    .build(re)
                    .map_err(|e| format!("msg regex '{re}': {e}"))?,
            );
        }
        s.classtype = classtype.map(str::to_string);
        s.metadata = metadata
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        Ok(s)
    }

    /// Specificity of the signature part (see the module docs).
    fn rank(&self) -> u32 {
        let mut r = 0;
        if self.sids.is_some() {
            r += if self.exact { 16 } else { 8 };
        }
        if self.msg.is_some() {
            r += 4;
        }
        if !self.metadata.is_empty() {
            r += 2;
        }
        if self.classtype.is_some() {
            r += 1;
        }
        r
    }

    fn matches(&self, s: &SigInfo<'_>) -> bool {
        self.gid.is_none_or(|g| g == s.gid)
            && self.sids.is_none_or(|(a, b)| (a..=b).contains(&s.sid))
            && self
                .classtype
                .as_deref()
                .is_none_or(|c| s.classtype == Some(c))
            && self.metadata.iter().all(|(k, v)| {
                s.metadata
                    .iter()
                    .any(|(mk, mv)| mk.eq_ignore_ascii_case(k) && mv.eq_ignore_ascii_case(v))
            })
            && self
                .msg
                .as_ref()
                .is_none_or(|re| re.is_match(s.msg.as_bytes()).unwrap_or(false))
    }
}

/// Selectors indexed by signature id, so finding the entries that apply to a signature costs
/// a hash lookup plus the range and non-sid entries, not a pass over every entry: a tuning
/// file with 100,000 per-sid overrides loads in linear time.
struct SelIndex {
    /// Entries selecting one sid.
    exact: HashMap<u32, Vec<u32>>,
    /// Entries selecting a sid range: (first, last, entry), sorted.
    ranges: Vec<(u32, u32, u32)>,
    /// Entries without a sid (msg, classtype, metadata): checked for every signature.
    other: Vec<u32>,
}

impl SelIndex {
    fn new<'s>(sels: impl Iterator<Item = &'s SigSel>) -> SelIndex {
        let mut idx = SelIndex {
            exact: HashMap::new(),
            ranges: Vec::new(),
            other: Vec::new(),
        };
        for (i, sel) in sels.enumerate() {
            let i = i as u32;
            match sel.sids {
                Some((a, b)) if a == b => idx.exact.entry(a).or_default().push(i),
                Some((a, b)) => idx.ranges.push((a, b, i)),
                None => idx.other.push(i),
            }
        }
        idx.ranges.sort_unstable();
        idx
    }

    /// The entries (ascending) whose selector matches `s`.
    fn matching<'e>(&self, s: &SigInfo<'_>, sel_of: impl Fn(u32) -> &'e SigSel) -> Vec<u32> {
        let upto = self.ranges.partition_point(|r| r.0 <= s.sid);
        let mut out: Vec<u32> = self
            .exact
            .get(&s.sid)
            .into_iter()
            .flatten()
            .copied()
            .chain(
                self.ranges[..upto]
                    .iter()
                    .filter(|r| s.sid <= r.1)
                    .map(|r| r.2),
            )
            .chain(self.other.iter().copied())
            .filter(|&i| sel_of(i).matches(s))
            .collect();
        out.sort_unstable();
        out
    }
}

/// Address condition sides of an override.
const SIDES: [&str; 3] = ["src", "dst", "target"];

#[derive(Debug)]
struct Override {
    at: String,
    reason: Option<String>,
    sel: SigSel,
    rank: u32,
    sides: [Option<Vec<IpNet>>; 3],
    file: usize,
    severity: Option<Severity>,
    itype: Option<IncidentType>,
}

impl Override {
    fn n_net(&self) -> u32 {
        self.sides.iter().filter(|s| s.is_some()).count() as u32
    }

    /// Sum of the longest matching prefix per side; None when a side does not match.
    fn net_score(&self, f: &AlertFacts) -> Option<u32> {
        let mut score = 0;
        for (side, nets) in self.sides.iter().enumerate() {
            let Some(nets) = nets else { continue };
            let ip = [f.src, f.dst, f.target][side];
            let best = nets
                .iter()
                .filter(|n| n.contains(&ip))
                .map(|n| u32::from(n.prefix_len()))
                .max()?;
            score += best;
        }
        Some(score)
    }
}

/// Whether some alert could match both entries with the same prefix score.
fn nets_can_tie(a: &Override, b: &Override) -> bool {
    // Per side, the (score of a, score of b) pairs an address could produce.
    let mut sums: Vec<(u32, u32)> = vec![(0, 0)];
    for side in 0..3 {
        let opts: Vec<(u32, u32)> = match (&a.sides[side], &b.sides[side]) {
            (None, None) => continue,
            (Some(x), None) => x.iter().map(|n| (u32::from(n.prefix_len()), 0)).collect(),
            (None, Some(y)) => y.iter().map(|n| (0, u32::from(n.prefix_len()))).collect(),
            (Some(x), Some(y)) => x
                .iter()
                .flat_map(|n| {
                    y.iter()
                        .filter(move |m| n.contains(&m.network()) || m.contains(&n.network()))
                        .map(move |m| (u32::from(n.prefix_len()), u32::from(m.prefix_len())))
                })
                .collect(),
        };
        let mut next = Vec::new();
        for (sa, sb) in &sums {
            for (oa, ob) in &opts {
                next.push((sa + oa, sb + ob));
            }
        }
        next.sort_unstable();
        next.dedup();
        sums = next;
    }
    sums.iter().any(|(x, y)| x == y)
}

#[derive(Debug)]
struct Suppress {
    at: String,
    sel: SigSel,
    track: Option<(SuppressTrack, AddrSet)>,
}

#[derive(Debug)]
struct Threshold {
    at: String,
    sel: SigSel,
    spec: ThresholdSpec,
    file: usize,
}

/// One inventoried asset.
#[derive(Debug)]
pub struct Asset {
    /// Name.
    pub name: String,
    nets: Vec<IpNet>,
    /// Criticality.
    pub criticality: Criticality,
    exposure: Option<Exposure>,
    roles: Option<Vec<String>>,
    vulns: Option<Vec<String>>,
    services: Option<Vec<u16>>,
}

/// Where a signature's base severity came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Basis {
    Vendor,
    Metadata,
    /// A `[taxonomy.classtype]` entry (index into `class_at`).
    Class(usize),
}

#[derive(Debug)]
struct SigTune {
    vendor: u8,
    itype: IncidentType,
    base: Severity,
    basis: Basis,
    /// Overrides that match the signature, by (rank, address conditions) descending.
    cands: Box<[u32]>,
    suppress: Box<[u32]>,
    threshold: Option<u32>,
    cves: Box<[String]>,
    targets: Box<[String]>,
}

/// A change asset knowledge made.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Adjust<'a> {
    /// The asset has the rule's CVE (+1).
    Vulnerable(&'a str),
    /// The asset's vulnerability list does not have the rule's CVE (-1).
    NotVulnerable,
    /// The rule targets another kind of system (-1).
    OtherRole,
    /// The asset does not serve the targeted port (-1).
    NoService(u16),
    /// An internal asset reached from the internet: the perimeter stops it (-1).
    NotExposed,
    /// Asset criticality (+1 high, -1 low).
    Criticality(i32),
}

impl Adjust<'_> {
    /// Levels moved.
    pub fn steps(&self) -> i32 {
        match self {
            Adjust::Vulnerable(_) => 1,
            Adjust::Criticality(n) => *n,
            _ => -1,
        }
    }
}

/// The tuning of one alert.
#[derive(Clone, Copy, Debug)]
pub struct Tuned<'a> {
    /// Final severity.
    pub severity: Severity,
    /// The vendor's severity (rule priority, EVE scale).
    pub vendor: u8,
    /// Incident type.
    pub itype: IncidentType,
    /// `file:line` of the entry that set the severity or type, if any.
    pub by: Option<&'a str>,
    /// The entry's reason.
    pub reason: Option<&'a str>,
    /// How the base severity was chosen when no entry set it.
    pub basis: &'static str,
    /// The target's asset name.
    pub asset: Option<&'a str>,
    /// Asset adjustments (at most five).
    pub adjust: [Option<Adjust<'a>>; 5],
}

/// The outcome for one alert.
#[derive(Clone, Copy, Debug)]
pub enum Decision<'a> {
    /// Suppressed by the entry at `file:line`.
    Suppressed(&'a str),
    /// Raised with this tuning.
    Alert(Tuned<'a>),
}

/// Load figures.
#[derive(Clone, Debug, Default)]
pub struct TuneSummary {
    /// Files read (tuning and threshold.config).
    pub files: usize,
    /// Overrides.
    pub overrides: usize,
    /// Suppressions.
    pub suppressions: usize,
    /// Thresholds.
    pub thresholds: usize,
    /// Assets.
    pub assets: usize,
    /// Signatures whose base severity differs from the vendor's.
    pub rebased: usize,
    /// Signatures with at least one override that may apply.
    pub overridden: usize,
}

/// The compiled tuning.
#[derive(Debug)]
pub struct Tuner {
    sigs: Vec<SigTune>,
    overrides: Vec<Override>,
    suppress: Vec<Suppress>,
    thresholds: Vec<Threshold>,
    assets: Vec<Asset>,
    class_at: Vec<String>,
    /// What was loaded.
    pub summary: TuneSummary,
    /// `[incidents]` and `[notify]`, merged over the files.
    pub incidents: policy::IncidentPolicy,
}

/// Everything gathered from the files before it is matched against signatures.
#[derive(Default)]
struct Gathered {
    use_metadata: bool,
    metadata_map: BTreeMap<String, Severity>,
    classes: BTreeMap<String, (Option<IncidentType>, Option<Severity>, String)>,
    overrides: Vec<Override>,
    suppress: Vec<Suppress>,
    thresholds: Vec<Threshold>,
    assets: Vec<Asset>,
    files: usize,
    incidents: policy::IncidentPolicy,
}

/// Line number (1-based) of a byte offset, from the offsets of the text's line starts.
fn line_of(line_starts: &[usize], offset: usize) -> usize {
    line_starts.partition_point(|&s| s <= offset)
}

/// Offsets at which the lines of `text` start.
fn line_starts(text: &str) -> Vec<usize> {
    std::iter::once(0)
        .chain(memchr::memchr_iter(b'\n', text.as_bytes()).map(|i| i + 1))
        .collect()
}

fn parse_net(s: &str) -> Option<IpNet> {
    let t = s.trim();
    t.parse::<IpNet>()
        .ok()
        .or_else(|| t.parse::<IpAddr>().ok().map(IpNet::from))
}

fn norm_cve(s: &str) -> String {
    s.trim().to_ascii_uppercase().replace('_', "-")
}

impl Tuner {
    /// Reads tuning files in order and compiles them against `sigs` (engine order).
    /// Every problem is reported, each with its `file:line`.
    pub fn load(paths: &[PathBuf], sigs: &[SigInfo<'_>], vars: &Vars) -> Result<Tuner, String> {
        let mut texts = Vec::new();
        for p in paths {
            let t = std::fs::read_to_string(p).map_err(|e| format!("{}: {e}", p.display()))?;
            texts.push((p.clone(), t));
        }
        Self::from_texts(&texts, sigs, vars)
    }

    /// Like [`Tuner::load`], from file names and their text.
    pub fn from_texts(
        files: &[(PathBuf, String)],
        sigs: &[SigInfo<'_>],
        vars: &Vars,
    ) -> Result<Tuner, String> {
        let mut g = Gathered {
            use_metadata: true,
            ..Default::default()
        };
        let mut errors = Vec::new();
        for (i, (path, text)) in files.iter().enumerate() {
            gather(&mut g, &mut errors, i, path, text, vars);
        }
        if !errors.is_empty() {
            return Err(errors.join("\n"));
        }
        let tuner = compile(g, sigs)?;
        Ok(tuner)
    }

    /// The threshold that replaces signature `idx`'s own `threshold` keyword, with its
    /// `file:line`.
    pub fn threshold(&self, idx: u32) -> Option<(&ThresholdSpec, &str)> {
        let t = &self.thresholds[self.sigs.get(idx as usize)?.threshold? as usize];
        Some((&t.spec, &t.at))
    }

    /// The base (traffic-independent) severity and type of signature `idx`.
    pub fn base(&self, idx: u32) -> Option<(Severity, IncidentType)> {
        self.sigs.get(idx as usize).map(|s| (s.base, s.itype))
    }

    /// Decides one alert of signature `idx` (engine index).
    pub fn decide<'a>(&'a self, idx: u32, f: &AlertFacts) -> Decision<'a> {
        let Some(st) = self.sigs.get(idx as usize) else {
            return Decision::Alert(Tuned {
                severity: Severity::Medium,
                vendor: 3,
                itype: IncidentType::Other,
                by: None,
                reason: None,
                basis: "vendor priority",
                asset: None,
                adjust: [None; 5],
            });
        };
        for &i in st.suppress.iter() {
            let s = &self.suppress[i as usize];
            let hit = match &s.track {
                None => true,
                Some((SuppressTrack::BySrc, set)) => set.contains(f.src),
                Some((SuppressTrack::ByDst, set)) => set.contains(f.dst),
                Some((SuppressTrack::ByEither, set)) => set.contains(f.src) || set.contains(f.dst),
            };
            if hit {
                return Decision::Suppressed(&s.at);
            }
        }
        let mut severity = st.base;
        let mut itype = st.itype;
        let (mut by, mut reason) = (None, None);
        let basis = match st.basis {
            Basis::Vendor => "vendor priority",
            Basis::Metadata => "signature_severity metadata",
            Basis::Class(i) => {
                by = Some(self.class_at[i].as_str());
                "taxonomy classtype entry"
            }
        };
        if let Some(o) = self.best_override(st, f) {
            severity = o.severity.unwrap_or(severity);
            itype = o.itype.unwrap_or(itype);
            by = Some(&o.at);
            reason = o.reason.as_deref();
        }
        let mut adjust: [Option<Adjust<'a>>; 5] = [None; 5];
        let mut asset_name = None;
        if let Some(a) = self.asset_of(f.target) {
            asset_name = Some(a.name.as_str());
            let mut n = 0;
            let mut push = |x: Adjust<'a>| {
                adjust[n] = Some(x);
                n += 1;
            };
            if let (false, Some(v)) = (st.cves.is_empty(), &a.vulns) {
                match st.cves.iter().find(|c| v.contains(c)) {
                    Some(c) => push(Adjust::Vulnerable(c)),
                    None => push(Adjust::NotVulnerable),
                }
            }
            if let (false, Some(roles)) = (st.targets.is_empty(), &a.roles) {
                if !st
                    .targets
                    .iter()
                    .any(|t| roles.iter().any(|r| role_matches(t, r)))
                {
                    push(Adjust::OtherRole);
                }
            }
            if let (Some(ports), Some(p)) = (&a.services, f.target_port) {
                if !ports.contains(&p) {
                    push(Adjust::NoService(p));
                }
            }
            let other = if f.target == f.dst { f.src } else { f.dst };
            if a.exposure == Some(Exposure::Internal)
                && is_public(other)
                && self.asset_of(other).is_none()
            {
                push(Adjust::NotExposed);
            }
            match a.criticality {
                Criticality::High => push(Adjust::Criticality(1)),
                Criticality::Low => push(Adjust::Criticality(-1)),
                Criticality::Medium => {}
            }
            let steps: i32 = adjust.iter().flatten().map(Adjust::steps).sum();
            severity = severity.step(steps);
        }
        Decision::Alert(Tuned {
            severity,
            vendor: st.vendor,
            itype,
            by,
            reason,
            basis,
            asset: asset_name,
            adjust,
        })
    }

    fn best_override(&self, st: &SigTune, f: &AlertFacts) -> Option<&Override> {
        let mut best: Option<(&Override, u32)> = None;
        for &i in st.cands.iter() {
            let o = &self.overrides[i as usize];
            if let Some((b, _)) = best {
                if (o.rank, o.n_net()) != (b.rank, b.n_net()) {
                    break;
                }
            }
            if let Some(score) = o.net_score(f) {
                let better = match best {
                    None => true,
                    Some((b, bs)) => (score, o.file) > (bs, b.file),
                };
                if better {
                    best = Some((o, score));
                }
            }
        }
        best.map(|(o, _)| o)
    }

    /// The asset holding `ip` (longest prefix).
    pub fn asset_of(&self, ip: IpAddr) -> Option<&Asset> {
        self.assets
            .iter()
            .filter_map(|a| {
                a.nets
                    .iter()
                    .filter(|n| n.contains(&ip))
                    .map(|n| n.prefix_len())
                    .max()
                    .map(|p| (a, p))
            })
            .max_by_key(|(_, p)| *p)
            .map(|(a, _)| a)
    }
}

fn role_matches(target: &str, role: &str) -> bool {
    let (t, r) = (target.to_ascii_lowercase(), role.to_ascii_lowercase());
    t == r
        || t == "client_and_server"
        || t == "any"
        || (t == "server" && r.ends_with("_server"))
        || (r == "server" && t.ends_with("_server"))
        || (t == "client" && r.starts_with("client"))
        || (r == "client" && t.starts_with("client"))
}

fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v) => {
            !(v.is_private()
                || v.is_loopback()
                || v.is_link_local()
                || v.is_unspecified()
                || v.is_broadcast()
                || v.is_multicast())
        }
        IpAddr::V6(v) => {
            let s = v.segments()[0];
            !(v.is_loopback()
                || v.is_unspecified()
                || v.is_multicast()
                || (s & 0xfe00) == 0xfc00
                || (s & 0xffc0) == 0xfe80)
        }
    }
}

/// Reads one tuning file (and the threshold.config files it names) into `g`.
fn gather(
    g: &mut Gathered,
    errors: &mut Vec<String>,
    file: usize,
    path: &Path,
    text: &str,
    vars: &Vars,
) {
    g.files += 1;
    let name = path.display().to_string();
    let tf: TuningFile = match toml::from_str(text) {
        Ok(t) => t,
        Err(e) => {
            errors.push(format!(
                "{name}: {}",
                e.to_string().trim_end().replace('\n', " ")
            ));
            return;
        }
    };
    let starts = line_starts(text);
    let at = |off: usize| format!("{name}:{}", line_of(&starts, off));
    g.incidents
        .merge(tf.incidents.as_ref(), tf.notify.as_ref(), &name, errors);
    // Taxonomy.
    if let Some(b) = tf.taxonomy.signature_severity {
        g.use_metadata = b;
    }
    for (k, v) in tf.taxonomy.metadata_severity {
        g.metadata_map.insert(k.to_ascii_lowercase(), v);
    }
    for (class, e) in tf.taxonomy.classtype {
        let loc = at(e.span().start);
        let e = e.into_inner();
        let itype = match e.itype.map(|c| (c, IncidentType::from_code(c))) {
            Some((c, None)) => {
                errors.push(format!("{loc}: taxonomy.classtype.{class}: type {c} is not one of 100, 200, 300, 400, 500, 600"));
                continue;
            }
            Some((_, t)) => t,
            None => None,
        };
        g.classes.insert(class, (itype, e.severity, loc));
    }
    // Assets first: overrides may name them.
    let mut names_here = Vec::new();
    for a in tf.assets {
        let loc = at(a.span().start);
        let a = a.into_inner();
        if names_here.contains(&a.name) {
            errors.push(format!("{loc}: asset '{}' is defined twice", a.name));
            continue;
        }
        names_here.push(a.name.clone());
        let mut nets = Vec::new();
        for n in &a.networks {
            match parse_net(n) {
                Some(x) => nets.push(x),
                None => errors.push(format!(
                    "{loc}: asset '{}': '{n}' is not an address or network",
                    a.name
                )),
            }
        }
        if nets.is_empty() {
            errors.push(format!("{loc}: asset '{}' has no networks", a.name));
        }
        g.assets.retain(|x| x.name != a.name);
        g.assets.push(Asset {
            name: a.name,
            nets,
            criticality: a.criticality,
            exposure: a.exposure,
            roles: a.roles,
            vulns: a
                .vulnerabilities
                .map(|v| v.iter().map(|c| norm_cve(c)).collect()),
            services: a.services,
        });
    }
    for o in tf.overrides {
        let loc = at(o.span().start);
        let o = o.into_inner();
        let sel = match SigSel::new(
            o.sid.as_ref(),
            o.msg.as_deref(),
            o.classtype.as_deref(),
            &o.metadata,
        ) {
            Ok(s) => s,
            Err(e) => {
                errors.push(format!("{loc}: {e}"));
                continue;
            }
        };
        let mut sides: [Option<Vec<IpNet>>; 3] = [None, None, None];
        for (i, list) in [&o.src, &o.dst, &o.target].into_iter().enumerate() {
            let Some(list) = list else { continue };
            let mut nets = Vec::new();
            for v in list {
                if let Some(n) = parse_net(v) {
                    nets.push(n);
                } else if let Some(a) = g.assets.iter().find(|a| &a.name == v) {
                    nets.extend(a.nets.iter().copied());
                } else {
                    errors.push(format!(
                        "{loc}: {}: '{v}' is neither a network nor a known asset",
                        SIDES[i]
                    ));
                }
            }
            sides[i] = Some(nets);
        }
        let itype = match o.itype.map(|c| (c, IncidentType::from_code(c))) {
            Some((c, None)) => {
                errors.push(format!(
                    "{loc}: type {c} is not one of 100, 200, 300, 400, 500, 600"
                ));
                continue;
            }
            Some((_, t)) => t,
            None => None,
        };
        if o.severity.is_none() && itype.is_none() {
            errors.push(format!("{loc}: an override needs severity or type"));
            continue;
        }
        let rank = sel.rank();
        g.overrides.push(Override {
            at: loc,
            reason: o.reason,
            sel,
            rank,
            sides,
            file,
            severity: o.severity,
            itype,
        });
    }
    let addr = |list: &[String], g: &Gathered| -> Result<AddrSet, String> {
        let parts: Vec<String> = list
            .iter()
            .flat_map(|v| match g.assets.iter().find(|a| &a.name == v) {
                Some(a) => a.nets.iter().map(|n| n.to_string()).collect(),
                None => vec![v.clone()],
            })
            .collect();
        parse_addr(&format!("[{}]", parts.join(",")), vars)
    };
    for s in tf.suppress {
        let loc = at(s.span().start);
        let s = s.into_inner();
        let sel = match SigSel::new(s.sid.as_ref(), s.msg.as_deref(), None, &BTreeMap::new()) {
            Ok(x) => x,
            Err(e) => {
                errors.push(format!("{loc}: {e}"));
                continue;
            }
        };
        let track = match (s.track, s.ip.is_empty()) {
            (None, true) => None,
            (Some(t), false) => match addr(&s.ip, g) {
                Ok(set) => Some((t, set)),
                Err(e) => {
                    errors.push(format!("{loc}: ip: {e}"));
                    continue;
                }
            },
            _ => {
                errors.push(format!(
                    "{loc}: a suppression needs both track and ip, or neither"
                ));
                continue;
            }
        };
        g.suppress.push(Suppress {
            at: loc,
            sel,
            track,
        });
    }
    for t in tf.threshold {
        let loc = at(t.span().start);
        let t = t.into_inner();
        let sel = match SigSel::new(t.sid.as_ref(), t.msg.as_deref(), None, &BTreeMap::new()) {
            Ok(x) => x,
            Err(e) => {
                errors.push(format!("{loc}: {e}"));
                continue;
            }
        };
        let mut spec = format!("type {}, track {}, count {}", t.kind, t.track, t.count);
        if let Some(s) = t.seconds {
            spec.push_str(&format!(", seconds {s}"));
        }
        if let Some(m) = t.multiplier {
            spec.push_str(&format!(", multiplier {m}"));
        }
        match parse_threshold(&spec, false) {
            Ok(spec) => g.thresholds.push(Threshold {
                at: loc,
                sel,
                spec,
                file,
            }),
            Err(e) => errors.push(format!("{loc}: {e}")),
        }
    }
    for tc in tf.threshold_config {
        let p = if tc.is_absolute() {
            tc.clone()
        } else {
            path.parent().unwrap_or(Path::new(".")).join(&tc)
        };
        let text = match std::fs::read_to_string(&p) {
            Ok(t) => t,
            Err(e) => {
                errors.push(format!("{name}: threshold_config {}: {e}", p.display()));
                continue;
            }
        };
        g.files += 1;
        gather_threshold_config(g, errors, file, &p, &text, vars);
    }
}

/// Reads Suricata threshold.config lines (a trailing `\` continues a line).
fn gather_threshold_config(
    g: &mut Gathered,
    errors: &mut Vec<String>,
    file: usize,
    path: &Path,
    text: &str,
    vars: &Vars,
) {
    let mut pending = String::new();
    let mut start = 0;
    for (i, raw) in text.lines().enumerate() {
        if pending.is_empty() {
            start = i + 1;
        }
        if let Some(head) = raw.trim_end().strip_suffix('\\') {
            pending.push_str(head);
            pending.push(' ');
            continue;
        }
        pending.push_str(raw);
        let line = std::mem::take(&mut pending);
        let loc = format!("{}:{start}", path.display());
        let sel_for = |gid: u32, sid: u32| SigSel {
            gid: (gid != 0).then_some(gid),
            sids: (sid != 0).then_some((sid, sid)),
            exact: sid != 0,
            ..Default::default()
        };
        match parse_threshold_line(&line) {
            Ok(None) => {}
            Ok(Some(ThresholdLine::Suppress { gid, sid, track })) => {
                let track = match track {
                    None => None,
                    Some((t, ip)) => match parse_addr(&ip, vars) {
                        Ok(set) => Some((t, set)),
                        Err(e) => {
                            errors.push(format!("{loc}: ip: {e}"));
                            continue;
                        }
                    },
                };
                g.suppress.push(Suppress {
                    at: loc,
                    sel: sel_for(gid, sid),
                    track,
                });
            }
            Ok(Some(ThresholdLine::Threshold { gid, sid, spec })) => {
                match parse_threshold(&spec, false) {
                    Ok(spec) => g.thresholds.push(Threshold {
                        at: loc,
                        sel: sel_for(gid, sid),
                        spec,
                        file,
                    }),
                    Err(e) => errors.push(format!("{loc}: {e}")),
                }
            }
            Err(e) => errors.push(format!("{loc}: {e}")),
        }
    }
}

/// Matches the gathered entries against every signature.
/// Most pairs of equally specific overrides compared for ties on one signature.
const MAX_TIE_CHECKS: usize = 10_000_000;

/// Reports overrides of one file that could tie on signature `s`: same specificity and
/// overlapping addresses. Sorted by (specificity, file), only entries within a run of equal
/// keys are compared.
fn report_ties(overrides: &[Override], cands: &[u32], s: &SigInfo<'_>, errors: &mut Vec<String>) {
    let key = |i: u32| {
        let o = &overrides[i as usize];
        (o.rank, o.n_net(), o.file)
    };
    let mut cands = cands.to_vec();
    cands.sort_by_key(|&i| (key(i), i));
    let mut checks = 0usize;
    let mut run_start = 0;
    while run_start < cands.len() && errors.len() < 50 {
        let k = key(cands[run_start]);
        let mut run_end = run_start + 1;
        while run_end < cands.len() && key(cands[run_end]) == k {
            run_end += 1;
        }
        let run = &cands[run_start..run_end];
        'pairs: for (x, &i) in run.iter().enumerate() {
            for &j in &run[x + 1..] {
                checks += 1;
                if checks > MAX_TIE_CHECKS {
                    errors.push(format!(
                        "sid {}:{}: {} equally specific overrides in one file, too many to check for ties",
                        s.gid,
                        s.sid,
                        run.len()
                    ));
                    return;
                }
                let (a, b) = (&overrides[i as usize], &overrides[j as usize]);
                if nets_can_tie(a, b) {
                    errors.push(format!(
                        "{} and {} tie on sid {}:{} (same specificity, overlapping addresses)",
                        a.at, b.at, s.gid, s.sid
                    ));
                    if errors.len() >= 50 {
                        break 'pairs;
                    }
                }
            }
        }
        run_start = run_end;
    }
}

fn compile(g: Gathered, sigs: &[SigInfo<'_>]) -> Result<Tuner, String> {
    let mut errors = Vec::new();
    let mut class_at = Vec::new();
    let mut class_idx: BTreeMap<&str, usize> = BTreeMap::new();
    for (name, (_, sev, at)) in &g.classes {
        if sev.is_some() {
            class_idx.insert(name.as_str(), class_at.len());
            class_at.push(at.clone());
        }
    }
    let mut out = Vec::with_capacity(sigs.len());
    let mut summary = TuneSummary {
        files: g.files,
        overrides: g.overrides.len(),
        suppressions: g.suppress.len(),
        thresholds: g.thresholds.len(),
        assets: g.assets.len(),
        ..Default::default()
    };
    let ov_idx = SelIndex::new(g.overrides.iter().map(|o| &o.sel));
    let sup_idx = SelIndex::new(g.suppress.iter().map(|o| &o.sel));
    let th_idx = SelIndex::new(g.thresholds.iter().map(|o| &o.sel));
    for s in sigs {
        let class = s.classtype.and_then(|c| g.classes.get(c));
        let itype = class
            .and_then(|c| c.0)
            .unwrap_or_else(|| taxonomy::sig_type(s.classtype.unwrap_or(""), s.msg));
        let (mut base, mut basis) = (Severity::from_eve(s.priority), Basis::Vendor);
        if let Some(sev) = class.and_then(|c| c.1) {
            base = sev;
            basis = Basis::Class(class_idx[s.classtype.unwrap_or("")]);
        } else if g.use_metadata {
            let label = s
                .metadata
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case("signature_severity"))
                .map(|(_, v)| v.to_ascii_lowercase());
            let m = label.and_then(|l| {
                g.metadata_map
                    .get(&l)
                    .copied()
                    .or_else(|| taxonomy::default_metadata_severity(&l))
            });
            if let Some(m) = m {
                if m != base && (!itype.is_attack() || m > base) {
                    base = m;
                    basis = Basis::Metadata;
                }
            }
        }
        if base != Severity::from_eve(s.priority) {
            summary.rebased += 1;
        }
        let mut cands = ov_idx.matching(s, |i| &g.overrides[i as usize].sel);
        cands.sort_by_key(|&i| {
            let o = &g.overrides[i as usize];
            std::cmp::Reverse((o.rank, o.n_net()))
        });
        report_ties(&g.overrides, &cands, s, &mut errors);
        if !cands.is_empty() {
            summary.overridden += 1;
        }
        let suppress = sup_idx.matching(s, |i| &g.suppress[i as usize].sel);
        let mut ths = th_idx.matching(s, |i| &g.thresholds[i as usize].sel);
        ths.sort_by_key(|&i| {
            let t = &g.thresholds[i as usize];
            std::cmp::Reverse((t.sel.rank(), t.file))
        });
        if let [a, b, ..] = ths[..] {
            let (a, b) = (&g.thresholds[a as usize], &g.thresholds[b as usize]);
            if (a.sel.rank(), a.file) == (b.sel.rank(), b.file) && errors.len() < 50 {
                errors.push(format!(
                    "{} and {} are both thresholds for sid {}:{}",
                    a.at, b.at, s.gid, s.sid
                ));
            }
        }
        let meta = |key: &str| -> Box<[String]> {
            s.metadata
                .iter()
                .filter(|(k, _)| k.eq_ignore_ascii_case(key))
                .map(|(_, v)| v.clone())
                .collect()
        };
        out.push(SigTune {
            vendor: s.priority,
            itype,
            base,
            basis,
            cands: cands.into(),
            suppress: suppress.into(),
            threshold: ths.first().copied(),
            cves: meta("cve").iter().map(|c| norm_cve(c)).collect(),
            targets: meta("attack_target"),
        });
    }
    if !errors.is_empty() {
        return Err(errors.join("\n"));
    }
    Ok(Tuner {
        sigs: out,
        overrides: g.overrides,
        suppress: g.suppress,
        thresholds: g.thresholds,
        assets: g.assets,
        class_at,
        summary,
        incidents: g.incidents,
    })
}

#[cfg(test)]
mod tests;
