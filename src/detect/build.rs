//! Building the engine: rules compiled into signatures, grouped by protocol, direction and
//! port, with Hyperscan prefilter databases (cached on disk), and a report of what loaded,
//! what waits for an engine part, and what was refused and why.

use super::rules::keywords::FileCondSpec;
use super::sig::{AlprotoCond, FileCond, FlowbitAct, HdrBuf};
use super::tx::AppList;
use super::*;
use std::collections::HashSet;

/// Ids of the variables rules name (flowbits, xbits, flow integers), assigned in order of
/// first use while the engine is built.
#[derive(Default)]
struct VarIds {
    bits: HashMap<String, u32>,
    xbits: HashMap<String, u32>,
    ints: HashMap<String, u32>,
}

impl VarIds {
    /// Names by id of a map.
    fn by_id(map: &HashMap<String, u32>) -> Vec<String> {
        let mut v = vec![String::new(); map.len()];
        for (name, &id) in map {
            v[id as usize] = name.clone();
        }
        v
    }

    fn id(map: &mut HashMap<String, u32>, name: &str) -> u32 {
        let next = map.len() as u32;
        *map.entry(name.to_string()).or_insert(next)
    }

    fn bit(&mut self, name: &str) -> u32 {
        Self::id(&mut self.bits, name)
    }

    fn xbit(&mut self, name: &str) -> u32 {
        Self::id(&mut self.xbits, name)
    }

    fn int(&mut self, name: &str) -> u32 {
        Self::id(&mut self.ints, name)
    }
}

/// A rule that was parsed but is not running, and why.
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
    /// The unsupported keywords or missing engine parts responsible, for per-keyword counts.
    pub keywords: Vec<String>,
}

/// What building the engine did.
#[derive(Clone, Debug, Default)]
pub struct BuildReport {
    /// Rules compiled and running.
    pub loaded: usize,
    /// Rules compiled with full semantics that wait for an engine part not built yet (an
    /// app-layer parser, stream reassembly): they cannot match until it exists.
    pub waiting: Vec<Skipped>,
    /// Rules not loaded: a keyword without semantics yet, a bad pcre, an unknown classtype.
    pub skipped: Vec<Skipped>,
    /// Hyperscan databases built.
    pub databases: usize,
    /// Distinct fast patterns over all databases.
    pub patterns: usize,
    /// Total compiled database bytes.
    pub database_bytes: usize,
    /// Rules without a usable fast pattern (checked on every packet of their group).
    pub non_mpm: usize,
    /// Header-only rules, checked on the first packet of each flow direction.
    pub ip_only: usize,
    /// Distinct flowbit names.
    pub flowbits: usize,
    /// Databases loaded from the Hyperscan cache.
    pub cache_hits: usize,
    /// Databases compiled (and stored, when a cache is configured).
    pub compiled: usize,
    /// Time spent compiling.
    pub compile_time: Duration,
}

impl BuildReport {
    /// Waiting rules per missing engine part, most first.
    pub fn waiting_by_need(&self) -> Vec<(String, usize)> {
        let mut m: BTreeMap<String, usize> = BTreeMap::new();
        for w in &self.waiting {
            for k in &w.keywords {
                *m.entry(k.clone()).or_default() += 1;
            }
        }
        let mut v: Vec<(String, usize)> = m.into_iter().collect();
        v.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        v
    }
}

/// Picks the content that goes to the prefilter: an explicit `fast_pattern`, else the longest
/// non-negated payload content.
pub(super) fn fast_pattern(steps: &[Step]) -> Option<&Content> {
    let contents = || {
        steps.iter().filter_map(|s| match s {
            Step::Content(c) if !c.negated => Some(c),
            _ => None,
        })
    };
    if let Some(c) = contents().find(|c| c.fast_pattern != FastPattern::Auto) {
        return Some(c);
    }
    contents().max_by(|a, b| {
        a.pattern
            .len()
            .cmp(&b.pattern.len())
            .then(std::cmp::Ordering::Greater)
    })
}

/// The transforms a rule applies to `buffer`, in rule order.
fn transforms_of(
    all: &[(Buffer, &'static str, Option<String>)],
    buffer: Buffer,
) -> Result<Vec<Transform>, String> {
    all.iter()
        .filter(|(b, _, _)| *b == buffer)
        .map(|(_, t, arg)| Transform::from_keyword(t, arg.as_deref()))
        .collect()
}

/// Engine parts that exist: rules needing only these run.
/// Whether an engine part a rule needs is built: the header buffers, and a parser for each
/// registered app-layer protocol.
fn built(part: &str) -> bool {
    part == "header buffers"
        || part == "file tracking"
        || part
            .strip_suffix(" parser")
            .and_then(AppProto::from_rule_name)
            .is_some_and(|p| AppProto::of_rule_mask(p) != 0)
}

/// Hash lists of `filemd5`/`filesha1`/`filesha256` rules, loaded once per file and kind.
#[derive(Default)]
pub(super) struct HashLists(HashMap<(u8, PathBuf), Arc<HashSet<Vec<u8>>>>);

impl HashLists {
    /// The list at `path` (hex digests, one per line; `#` comments and blank lines skipped).
    fn load(&mut self, kind: u8, path: &Path) -> Result<Arc<HashSet<Vec<u8>>>, String> {
        if let Some(set) = self.0.get(&(kind, path.to_path_buf())) {
            return Ok(set.clone());
        }
        let len = match kind {
            crate::applayer::files::hash::MD5 => 16,
            crate::applayer::files::hash::SHA1 => 20,
            _ => 32,
        };
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("hash list {}: {e}", path.display()))?;
        let mut set = HashSet::new();
        for (n, line) in text.lines().enumerate() {
            // A line may carry a name after the digest (`<hex> <file name>`).
            let hex = line.split_whitespace().next().unwrap_or("");
            if hex.is_empty() || hex.starts_with('#') {
                continue;
            }
            match dataset::unhex(hex) {
                Some(h) if h.len() == len => set.insert(h),
                _ => {
                    return Err(format!(
                        "hash list {}:{}: not a {}-byte hex digest",
                        path.display(),
                        n + 1,
                        len
                    ))
                }
            };
        }
        let set = Arc::new(set);
        self.0.insert((kind, path.to_path_buf()), set.clone());
        Ok(set)
    }
}

/// The prefilter pattern of a transaction rule and the buffer (with its transforms) it is in:
/// an explicit `fast_pattern`, else the longest positive content. None when the chosen content
/// is in the payload (the transaction prefilter cannot see it).
fn app_fast_pattern(sig: &Sig) -> Option<(Buf, &[Transform], &Content)> {
    let explicit = |steps: &[Step]| {
        steps.iter().any(
            |s| matches!(s, Step::Content(c) if !c.negated && c.fast_pattern != FastPattern::Auto),
        )
    };
    if explicit(&sig.steps) {
        return None;
    }
    // A buffer that may be absent cannot select the rule.
    let lists = || sig.app_lists.iter().filter(|l| l.absent.is_none());
    if let Some(l) = lists().find(|l| explicit(&l.steps)) {
        return fast_pattern(&l.steps).map(|c| (l.buf, l.transforms.as_slice(), c));
    }
    lists()
        .filter_map(|l| fast_pattern(&l.steps).map(|c| (l.buf, l.transforms.as_slice(), c)))
        .max_by_key(|(_, _, c)| c.pattern.len())
}

/// Order in which rules are evaluated on a packet: rules that only set flowbits first, so that
/// rules testing those bits see them on the same packet (as Suricata orders them).
fn flowbit_rank(r: &Rule) -> u8 {
    let sets = r.flowbits.iter().any(|f| {
        matches!(
            f,
            FlowbitOp::Set(_) | FlowbitOp::Unset(_) | FlowbitOp::Toggle(_)
        )
    });
    let reads = r
        .flowbits
        .iter()
        .any(|f| matches!(f, FlowbitOp::IsSet(..) | FlowbitOp::IsNotSet(..)));
    match (sets, reads) {
        (true, false) => 0,
        (true, true) => 1,
        _ => 2,
    }
}

/// Then, likewise, rules that modify flow integers before rules that only test them.
fn flowint_rank(r: &Rule) -> u8 {
    let modifies = |op: FlowintOp| {
        matches!(
            op,
            FlowintOp::Set | FlowintOp::Add | FlowintOp::Sub | FlowintOp::Unset
        )
    };
    let sets = r.flowints.iter().any(|f| modifies(f.op));
    let reads = r.flowints.iter().any(|f| !modifies(f.op));
    match (sets, reads) {
        (true, false) => 0,
        (true, true) => 1,
        _ => 2,
    }
}

impl Engine {
    /// Compiles `rules`. Rules using keywords the engine cannot run, a pcre that does not
    /// compile or an unknown classtype are left out ([`BuildReport::skipped`]); rules that need
    /// an engine part not built yet are listed in [`BuildReport::waiting`].
    pub fn build(rules: Vec<Rule>, classes: &Classifications) -> Result<Engine, String> {
        Self::build_cached(rules, classes, None, 0)
    }

    /// Like [`Engine::build`], reusing Hyperscan databases stored in `cache` (a directory) by an
    /// earlier build with the same patterns, and storing newly compiled ones there.
    pub fn build_cached(
        mut rules: Vec<Rule>,
        classes: &Classifications,
        cache: Option<&Path>,
        port_groups: usize,
    ) -> Result<Engine, String> {
        let started = Instant::now();
        let mut report = BuildReport::default();
        rules.sort_by_key(|r| (flowbit_rank(r), flowint_rank(r)));
        let mut names = VarIds::default();
        let mut ds: (HashMap<String, u32>, dataset::Datasets) = Default::default();
        let mut hash_lists = HashLists::default();
        let mut sigs = Vec::with_capacity(rules.len());
        for rule in rules {
            let origin = (
                rule.origin.as_ref().map(|o| o.file.to_path_buf()),
                rule.origin.as_ref().map_or(0, |o| o.line),
            );
            let sid = rule.sid;
            let skip = |reason: String, keywords: Vec<String>| Skipped {
                file: origin.0.clone(),
                line: origin.1,
                sid,
                reason,
                keywords,
            };
            if !rule.unsupported.is_empty() {
                let kws: Vec<String> = rule.unsupported.iter().map(|s| s.to_string()).collect();
                report.skipped.push(skip(
                    format!("keyword not supported yet: {}", kws.join(", ")),
                    kws,
                ));
                continue;
            }
            let mut needs: Vec<String> = rule
                .needs
                .iter()
                .filter(|n| !built(n))
                .map(|s| s.to_string())
                .collect();
            // A buffer the built parsers do not fill (only reported when nothing else is
            // missing, else the parser need says it).
            let parsers_missing = !needs.is_empty();
            for (b, _) in &rule.inspect {
                if let (Buffer::App(name), false) = (b, parsers_missing) {
                    let need = format!("{name} buffer");
                    let known = Buf::from_name(name).is_some() || HdrBuf::from_name(name).is_some();
                    if !known && !needs.contains(&need) {
                        needs.push(need);
                    }
                }
            }
            if !needs.is_empty() {
                // Still compiled, so a broken pcre or classtype is reported now, not later.
                if let Err(reason) =
                    Self::compile_rule(rule, classes, &mut names, &mut ds, &mut hash_lists, false)
                {
                    report.skipped.push(skip(reason, Vec::new()));
                } else {
                    report
                        .waiting
                        .push(skip(format!("waits for: {}", needs.join(", ")), needs));
                }
                continue;
            }
            match Self::compile_rule(rule, classes, &mut names, &mut ds, &mut hash_lists, true) {
                Ok(sig) => sigs.push(sig),
                Err(reason) => report.skipped.push(skip(reason, Vec::new())),
            }
        }
        report.flowbits = names.bits.len();
        let mut entries: [[Vec<mpmgroup::Entry<'_>>; DIRS]; GROUPS] = Default::default();
        let mut pkt_entries: [[Vec<mpmgroup::Entry<'_>>; DIRS]; GROUPS] = Default::default();
        let mut groups: [Group; GROUPS] = Default::default();
        let mut ip_only_lists: [Vec<u32>; GROUPS] = Default::default();
        // Rules without a fast pattern per group: all, packet view on a stream, stream view.
        let mut non_mpm_lists: [[Vec<u32>; 3]; GROUPS] = Default::default();
        // Transforms order and compare by their keyword and text only (a pcrexform's compiled
        // regex and its match cache play no part), so the key cannot change inside the map.
        #[allow(clippy::mutable_key_type)]
        let mut app_builders: BTreeMap<(Buf, Vec<Transform>), mpm::MpmBuilder> = BTreeMap::new();
        let mut app_non_mpm: [Vec<u32>; PROTOCOL_COUNT] = Default::default();
        for (idx, sig) in sigs.iter().enumerate() {
            let idx = idx as u32;
            if sig.external {
                continue;
            }
            if sig.tx_protos != 0 {
                match app_fast_pattern(sig) {
                    Some((buf, ts, c)) => app_builders.entry((buf, ts.to_vec())).or_default().add(
                        c.mpm_bytes(),
                        c.nocase,
                        idx,
                    ),
                    None => {
                        for p in AppProto::of_mask(sig.tx_protos) {
                            app_non_mpm[p.index().unwrap_or(0)].push(idx);
                        }
                        report.non_mpm += 1;
                    }
                }
                continue;
            }
            let fp = fast_pattern(&sig.steps);
            for &g in groups_of(sig.l4) {
                match fp {
                    Some(c) => {
                        for &d in dirs_of(&sig.flow) {
                            // Keyed by the server port: destination to the server, source
                            // back from it.
                            let key = if d == 0 { &sig.dport } else { &sig.sport };
                            let entry = || mpmgroup::Entry {
                                rule: idx,
                                pattern: c.mpm_bytes(),
                                nocase: c.nocase,
                                ports: (!key.is_any() && !sig.bidirectional)
                                    .then(|| key.ranges().collect()),
                            };
                            entries[g][d].push(entry());
                            if (sig.packet_only || sig.requires_packet) && !sig.stream_only {
                                pkt_entries[g][d].push(entry());
                            }
                        }
                    }
                    None if sig.ip_only => ip_only_lists[g].push(idx),
                    None => {
                        let lists = &mut non_mpm_lists[g];
                        lists[0].push(idx);
                        let on_packets = sig.packet_only || sig.requires_packet;
                        if !sig.stream_only && (on_packets || sig.steps.is_empty()) {
                            lists[1].push(idx);
                        }
                        if !sig.packet_only && !sig.steps.is_empty() {
                            lists[2].push(idx);
                        }
                    }
                }
            }
            if sig.ip_only {
                report.ip_only += 1;
            } else if fp.is_none() {
                report.non_mpm += 1;
            }
        }
        // Every database is compiled (or loaded) in one parallel batch: per group and
        // direction the payload and packet-only databases, then one per app-layer buffer.
        let mut jobs = Vec::new();
        // Per group and direction: payload then packet-only port groups (slot table, count).
        let mut layouts: Vec<(Vec<u8>, usize)> = Vec::new();
        for (g, per_dir) in entries.iter().enumerate() {
            for (d, list) in per_dir.iter().enumerate() {
                groups[g].fp_reach[d] = list
                    .iter()
                    .map(|e| e.pattern.len())
                    .max()
                    .unwrap_or(0)
                    .saturating_sub(1);
                groups[g].stream_context[d] = list
                    .iter()
                    .map(|e| sigs[e.rule as usize].stream_lookback)
                    .max()
                    .unwrap_or(0)
                    .max(STREAM_SCAN_LOOKBACK);
                let (slot, builders) = mpmgroup::plan(list, port_groups);
                report.patterns += builders.iter().map(mpm::MpmBuilder::len).sum::<usize>();
                layouts.push((slot, builders.len()));
                jobs.extend(builders);
                let (slot, builders) = mpmgroup::plan(&pkt_entries[g][d], port_groups);
                layouts.push((slot, builders.len()));
                jobs.extend(builders);
            }
        }
        drop(entries);
        drop(pkt_entries);
        let mut app_keys = Vec::new();
        for (key, b) in app_builders {
            report.patterns += b.len();
            app_keys.push(key);
            jobs.push(b);
        }
        // One at a time: compiling on two threads cut the cold load of ET Open from 1.5 s to
        // 1.0-1.3 s here, but raised its peak RSS from 127 MB to 170-180 MB (Hyperscan's
        // compile-time memory and a malloc arena per thread), over the 150 MB budget.
        let mut built = Vec::with_capacity(jobs.len());
        for b in jobs {
            let (mpm, used) = b.build_cached(cache)?;
            match used {
                mpm::CacheUse::Hit => report.cache_hits += 1,
                _ if mpm.is_some() => report.compiled += 1,
                _ => {}
            }
            if let Some(m) = &mpm {
                report.databases += 1;
                report.database_bytes += m.size();
            }
            built.push(mpm);
        }
        let mut built = built.into_iter();
        let mut layouts = layouts.into_iter();
        let mut next_groups = || {
            let (slot, n) = layouts.next().expect("one layout per group and direction");
            mpmgroup::PortGroups::new(slot, built.by_ref().take(n).collect())
        };
        for g in groups.iter_mut() {
            for d in 0..DIRS {
                g.mpm[d] = next_groups();
                g.mpm_pkt[d] = next_groups();
            }
        }
        let mut app_mpm = Vec::new();
        for ((buf, ts), m) in app_keys.into_iter().zip(built) {
            if let Some(m) = m {
                app_mpm.push((buf, ts, m));
            }
        }
        for (g, lists) in non_mpm_lists.iter().enumerate() {
            let index = |list: &[u32]| {
                let entries: Vec<(u32, &PortSet, bool)> = list
                    .iter()
                    .map(|&i| {
                        let s = &sigs[i as usize];
                        (i, &s.dport, s.bidirectional)
                    })
                    .collect();
                portgroup::PortIndex::build(&entries)
            };
            groups[g].non_mpm = index(&lists[0]);
            groups[g].non_mpm_pkt = index(&lists[1]);
            groups[g].non_mpm_stream = index(&lists[2]);
        }
        for (g, list) in ip_only_lists.iter().enumerate() {
            let entries: Vec<iponly::Entry<'_>> = list
                .iter()
                .map(|&i| {
                    let s = &sigs[i as usize];
                    (i, s.src.ranges(), s.dst.ranges(), s.bidirectional)
                })
                .collect();
            groups[g].ip_only = iponly::IpOnlyIndex::build(&entries);
        }
        report.loaded = sigs.len();
        report.compile_time = started.elapsed();
        let file_hashes = sigs
            .iter()
            .flat_map(|s| s.file_conds.iter())
            .fold(0, |m, c| match c {
                FileCond::Hash { kind, .. } => m | kind,
                _ => m,
            });
        Ok(Engine {
            file_hashes,
            sigs,
            groups,
            app_mpm,
            app_non_mpm,
            datasets: ds.1,
            names: VarNames {
                flowbits: VarIds::by_id(&names.bits),
                flowints: VarIds::by_id(&names.ints),
            },
            report,
        })
    }

    fn compile_rule(
        rule: Rule,
        classes: &Classifications,
        names: &mut VarIds,
        ds: &mut (HashMap<String, u32>, dataset::Datasets),
        hash_lists: &mut HashLists,
        runnable: bool,
    ) -> Result<Sig, String> {
        let class = match &rule.classtype {
            Some(name) => Some(
                classes
                    .get(name)
                    .ok_or_else(|| format!("unknown classtype '{name}'"))?,
            ),
            None => None,
        };
        let severity = rule.priority.or(class.map(|c| c.priority)).unwrap_or(3);
        let mut steps = Vec::with_capacity(rule.inspect.len());
        let mut app_lists: Vec<AppList> = Vec::new();
        let mut hdr_lists: Vec<(HdrBuf, Vec<Step>)> = Vec::new();
        for (buffer, item) in rule.inspect {
            let Buffer::App(name) = buffer else {
                steps.push(Step::compile(item)?);
                continue;
            };
            let step = Step::compile(item)?;
            if let Some(hb) = HdrBuf::from_name(name) {
                match hdr_lists.iter_mut().find(|(b, _)| *b == hb) {
                    Some((_, s)) => s.push(step),
                    None => hdr_lists.push((hb, vec![step])),
                }
                continue;
            }
            let Some(buf) = Buf::from_name(name) else {
                // A waiting rule: its buffer's parser does not exist yet.
                if runnable {
                    return Err(format!("buffer '{name}' has no parser yet"));
                }
                continue;
            };
            match app_lists.iter_mut().find(|l| l.buf == buf) {
                Some(l) => l.steps.push(step),
                None => app_lists.push(AppList {
                    buf,
                    transforms: transforms_of(&rule.transforms, buffer)?,
                    steps: vec![step],
                    absent: None,
                    datasets: Vec::new(),
                }),
            }
        }
        for &(buffer, or_else) in &rule.absent {
            let Some(buf) = (match buffer {
                Buffer::App(name) => Buf::from_name(name),
                Buffer::Payload => None,
            }) else {
                continue;
            };
            match app_lists.iter_mut().find(|l| l.buf == buf) {
                Some(l) => l.absent = Some(or_else),
                None => app_lists.push(AppList {
                    buf,
                    transforms: transforms_of(&rule.transforms, buffer)?,
                    steps: Vec::new(),
                    absent: Some(or_else),
                    datasets: Vec::new(),
                }),
            }
        }
        let mut hdr_sets = Vec::new();
        for (buffer, spec) in &rule.datasets {
            let Buffer::App(name) = buffer else {
                continue;
            };
            let id = match ds.0.get(&spec.name) {
                Some(&id) => id,
                None => {
                    // Relative to the rule file's directory, as rule packs ship lists.
                    let base = rule.origin.as_ref().and_then(|o| o.file.parent());
                    let resolve = |file: &str| match base {
                        Some(dir) if !Path::new(file).is_absolute() => dir.join(file),
                        _ => PathBuf::from(file),
                    };
                    let id = ds.1.add(spec, spec.save.as_deref().map(resolve));
                    if let Some(file) = &spec.load {
                        let path = resolve(file);
                        // A state file that does not exist yet starts the set empty.
                        if spec.save.as_ref() != Some(file) || path.exists() {
                            ds.1.load(id, &path)?;
                        }
                    }
                    ds.0.insert(spec.name.clone(), id);
                    id
                }
            };
            let op = (spec.cmd, id);
            if let Some(hb) = HdrBuf::from_name(name) {
                hdr_sets.push((hb, spec.cmd, id));
                continue;
            }
            let Some(buf) = Buf::from_name(name) else {
                continue;
            };
            match app_lists.iter_mut().find(|l| l.buf == buf) {
                Some(l) => l.datasets.push(op),
                None => app_lists.push(AppList {
                    buf,
                    transforms: transforms_of(&rule.transforms, *buffer)?,
                    steps: Vec::new(),
                    absent: None,
                    datasets: vec![op],
                }),
            }
        }
        // base64_decode/base64_data: the steps on the decoded bytes nest inside their chain.
        let steps = inspect::nest_base64(steps)?;
        for l in &mut app_lists {
            l.steps = inspect::nest_base64(std::mem::take(&mut l.steps))?;
        }
        for (_, s) in &mut hdr_lists {
            *s = inspect::nest_base64(std::mem::take(s))?;
        }
        // Names without a parser can never be the flow's protocol: they drop out of a list.
        let mut alproto_conds = Vec::new();
        for c in &rule.app_layer_protocol {
            let protos: Vec<AppProto> = c
                .names
                .iter()
                .filter_map(|n| AppProto::from_rule_name(n))
                .collect();
            if protos.is_empty() {
                if runnable {
                    return Err(format!("no parser for protocol '{}'", c.names.join("|")));
                }
                continue;
            }
            alproto_conds.push(AlprotoCond {
                negated: c.negated,
                protos,
                original: c.original,
                exact: c.exact,
            });
        }
        let app_proto = match rule.app_proto.as_deref() {
            Some(name) => match AppProto::from_rule_name(name) {
                Some(p) => Some(p),
                None if runnable => return Err(format!("no parser for protocol '{name}'")),
                None => None,
            },
            None => None,
        };
        // The protocols whose transactions the rule inspects: those that fill every buffer it
        // names (file.data comes from several), raise its events, and its header names.
        let mut file_conds = Vec::with_capacity(rule.file_conds.len());
        for c in &rule.file_conds {
            file_conds.push(match c {
                FileCondSpec::Size(cmp) => FileCond::Size(*cmp),
                FileCondSpec::Hash {
                    kind,
                    negated,
                    list,
                } => {
                    let base = rule.origin.as_ref().and_then(|o| o.file.parent());
                    let path = match base {
                        Some(dir) if !Path::new(list).is_absolute() => dir.join(list),
                        _ => PathBuf::from(list),
                    };
                    FileCond::Hash {
                        kind: *kind,
                        negated: *negated,
                        set: hash_lists.load(*kind, &path)?,
                    }
                }
                FileCondSpec::Store => FileCond::Store,
            });
        }
        let dce = rule.dce_iface.is_some() || !rule.dce_opnums.is_empty();
        let mut int_conds = Vec::with_capacity(rule.int_conds.len());
        for &(name, cmp) in &rule.int_conds {
            match Buf::from_name(name) {
                Some(b) => int_conds.push((b, cmp)),
                None if runnable => return Err(format!("'{name}' has no parser yet")),
                None => {}
            }
        }

        let tx_rule = !app_lists.is_empty()
            || rule.app_events != 0
            || rule.ftpbounce
            || dce
            || !int_conds.is_empty()
            || rule.ticket_enc.is_some()
            || !file_conds.is_empty();
        let mut tx_protos = if tx_rule { u32::MAX } else { 0 };
        for l in &app_lists {
            tx_protos &= l.buf.protos();
        }
        if rule.app_events != 0 {
            tx_protos &= rule.app_event_proto.map_or(0, AppProto::bit);
        }
        if rule.ftpbounce {
            tx_protos &= AppProto::Ftp.bit();
        }
        if dce {
            // DCERPC on TCP, or over SMB named pipes.
            tx_protos &= Buf::DceIface.protos();
        }
        for (b, _) in &int_conds {
            tx_protos &= b.protos();
        }
        if rule.ticket_enc.is_some() {
            tx_protos &= Buf::Krb5TicketEtype.protos();
        }
        if !file_conds.is_empty() {
            // The protocols that carry files.
            tx_protos &= Buf::FileName.protos();
        }
        if let Some(p) = app_proto {
            tx_protos &= AppProto::of_rule_mask(p);
        }
        if tx_rule && tx_protos == 0 && runnable {
            let names: Vec<&str> = app_lists
                .iter()
                .flat_map(|l| AppProto::of_mask(l.buf.protos()).map(AppProto::name))
                .collect();
            return Err(format!(
                "buffers of protocol {} in a {} rule",
                names.join("/"),
                app_proto.map_or("?", AppProto::name)
            ));
        }
        // Keywords about one packet (its size, its TCP flags, its headers) make the payload a
        // packet's.
        let packet_only = rule.flow.stream == Some(false)
            || !hdr_lists.is_empty()
            || rule
                .packet
                .iter()
                .any(|c| matches!(c, PacketCond::Dsize(_) | PacketCond::Flags(_)));
        let stream_only = rule.flow.stream == Some(true);
        // As in Suricata, a TCP payload rule pinned to a position (or using stream_size) is
        // inspected on each packet's payload as well as on the stream.
        let requires_packet = !stream_only
            && !packet_only
            && (inspect::pins_position(&steps) || !rule.stream_size.is_empty());
        let anchored = inspect::has_anchor(&steps);
        let longest = longest_content(&steps);
        if longest > MAX_CONTENT {
            return Err(format!(
                "content of {longest} bytes is longer than the {MAX_CONTENT} the engine inspects"
            ));
        }
        let stream_lookback = STREAM_SCAN_LOOKBACK.max(longest);
        // Suricata's IP-only: header, thresholds and flowbit actions only, no negated address.
        let ip_only = steps.is_empty()
            && rule.packet.is_empty()
            && rule
                .flowbits
                .iter()
                .all(|f| !matches!(f, FlowbitOp::IsSet(..) | FlowbitOp::IsNotSet(..)))
            && rule.flow == FlowMatch::default()
            && rule.stream_size.is_empty()
            && rule.xbits.is_empty()
            && rule.flowints.is_empty()
            && rule.ip_version.is_none()
            && rule.app_proto.is_none()
            && rule.app_layer_protocol.is_empty()
            && rule.stream_events == 0
            && rule.decode_events == 0
            && hdr_lists.is_empty()
            && hdr_sets.is_empty()
            && app_lists.is_empty()
            && !rule.src.has_negation()
            && !rule.dst.has_negation();
        // Suricata's PD-only: as IP-only, with `flow` and `app-layer-protocol`.
        let pd_only = steps.is_empty()
            && rule.packet.is_empty()
            && rule
                .flowbits
                .iter()
                .all(|f| !matches!(f, FlowbitOp::IsSet(..) | FlowbitOp::IsNotSet(..)))
            && rule.stream_size.is_empty()
            && rule.xbits.is_empty()
            && rule.flowints.is_empty()
            && rule.app_proto.is_none()
            && !rule.app_layer_protocol.is_empty()
            && rule.stream_events == 0
            && rule.decode_events == 0
            && hdr_lists.is_empty()
            && hdr_sets.is_empty()
            && app_lists.is_empty()
            && !tx_rule
            // `unknown` is a state before detection: such rules look at every packet.
            && !alproto_conds
                .iter()
                .any(|c| c.protos.contains(&AppProto::Unknown));
        let captures = inspect::captures(&steps)
            || app_lists.iter().any(|l| inspect::captures(&l.steps))
            || hdr_lists.iter().any(|(_, s)| inspect::captures(s));
        let mut fb_conds = Vec::new();
        let mut fb_sets = Vec::new();
        for op in &rule.flowbits {
            match op {
                FlowbitOp::Set(n) => {
                    fb_sets.extend(n.iter().map(|x| (FlowbitAct::Set, names.bit(x))))
                }
                FlowbitOp::Unset(n) => {
                    fb_sets.extend(n.iter().map(|x| (FlowbitAct::Unset, names.bit(x))))
                }
                FlowbitOp::Toggle(n) => {
                    fb_sets.extend(n.iter().map(|x| (FlowbitAct::Toggle, names.bit(x))))
                }
                FlowbitOp::IsSet(n, all) => fb_conds.push(FlowbitCond::IsSet(
                    n.iter().map(|x| names.bit(x)).collect(),
                    *all,
                )),
                FlowbitOp::IsNotSet(n, all) => fb_conds.push(FlowbitCond::IsNotSet(
                    n.iter().map(|x| names.bit(x)).collect(),
                    *all,
                )),
            }
        }
        let flowints = rule
            .flowints
            .iter()
            .map(|f| FlowintStep {
                var: names.int(&f.name),
                op: f.op,
                value: f.value.as_ref().map(|v| match v {
                    FlowintValue::Lit(n) => FlowintOperand::Lit(*n),
                    FlowintValue::Var(other) => FlowintOperand::Var(names.int(other)),
                }),
            })
            .collect();
        Ok(Sig {
            flowints,
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
            noalert: rule.noalert,
            tags: rule.tags.clone(),
            threshold: rule.threshold,
            detection_filter: rule.detection_filter,
            stream_size: rule.stream_size,
            xbits: rule
                .xbits
                .iter()
                .map(|(n, op, t)| (names.xbit(n), *op, *t))
                .collect(),
            l4: rule.l4,
            ip_version: rule.ip_version,
            src: rule.src,
            sport: rule.sport,
            dst: rule.dst,
            dport: rule.dport,
            bidirectional: rule.bidirectional,
            flow: rule.flow,
            packet: rule.packet,
            fb_conds,
            fb_sets,
            steps,
            packet_only,
            stream_only,
            requires_packet,
            anchored,
            stream_lookback,
            ip_only,
            pd_only,
            app_proto,
            app_lists,
            alproto_conds,
            app_events: rule.app_events,
            tx_protos,
            ftpbounce: rule.ftpbounce,
            dce_iface: rule.dce_iface.clone(),
            dce_opnums: rule.dce_opnums.clone(),
            int_conds,
            ticket_enc: rule.ticket_enc.clone(),
            file_conds,
            captures,
            stream_events: rule.stream_events,
            decode_events: rule.decode_events,
            hdr_lists,
            iprep: rule.iprep,
            external: rule.external,
            hdr_sets,
        })
    }
}
