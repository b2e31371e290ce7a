//! What every subcommand loads: the config, the rule packs into an engine, the tuning,
//! and the worker settings.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use crate::config::Config;
use crate::detect::rules::load::RuleSet;
use crate::detect::Engine;
use crate::runtime::live;
use crate::runtime::worker::{ChecksumMode, WorkerConfig};
use crate::tune::{SigInfo, Tuner};

/// The run's EVE sinks: the EVE file from `--eve` (else `output.eve`, else `eve.json`; `-`
/// is standard output, empty is none), then `[[output.sinks]]`.
pub(super) fn eve_sinks(
    cfg: &Config,
    arg: Option<&str>,
) -> Result<Vec<crate::output::SinkSpec>, String> {
    let eve = arg.or(cfg.output.eve.as_deref()).unwrap_or("eve.json");
    crate::config::output::build_sinks(eve, &cfg.output.sinks)
}

pub(super) fn load_config(path: Option<&PathBuf>) -> Result<Config, String> {
    match path {
        Some(p) => Config::from_file(p),
        None => Ok(Config::default()),
    }
}

/// How a load reports the rules that did not make it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum RuleLog {
    /// Not at all (the caller reports).
    Silent,
    /// One line per reason with its count, printed by the caller after the load line
    /// ([`not_loaded_summary`]).
    Summary,
    /// One warning per rule (`-v`).
    Each,
}

/// Loads packs and builds the engine, reporting the rules that did not make it.
pub(super) fn load_engine(
    cfg: &Config,
    extra: &[PathBuf],
    cache: Option<&PathBuf>,
    log: RuleLog,
) -> Result<(Engine, RuleSet), String> {
    let log_each = log == RuleLog::Each;
    let mut paths = cfg.rules.files.clone();
    paths.extend_from_slice(extra);
    if paths.is_empty() {
        return Err("no rules given (use --rules FILE_OR_DIR or rules.files in the config)".into());
    }
    let classes = cfg.classifications()?;
    let mut set = RuleSet::load_selected(&paths, &cfg.vars(), &cfg.selection()?)?;
    if log_each {
        for f in &set.failures {
            tracing::warn!("rule not loaded: {f}");
        }
    }
    let mut rules = std::mem::take(&mut set.rules);
    rules.extend(intel_rules(cfg, &rules)?);
    rules.extend(analytics_rules(cfg, &rules)?);
    let cache = cache.or(cfg.rules.cache_dir.as_ref());
    let engine = Engine::build_cached(
        rules,
        &classes,
        cache.map(PathBuf::as_path),
        cfg.rules.port_groups.unwrap_or(0),
    )?;
    if log_each {
        for s in &engine.report.skipped {
            let at = s
                .file
                .as_ref()
                .map(|f| format!("{}:{}: ", f.display(), s.line))
                .unwrap_or_default();
            tracing::warn!("rule not loaded: {at}sid {}: {}", s.sid, s.reason);
        }
    }
    Ok((engine, set))
}

/// One signature per `[[intel]]` list (raised by the workers on a hit, never matched by
/// the engine). A list's sid must not be a loaded rule's.
fn intel_rules(
    cfg: &Config,
    loaded: &[crate::detect::rules::Rule],
) -> Result<Vec<crate::detect::rules::Rule>, String> {
    let (specs, _) = cfg.intel_specs()?;
    let vars = cfg.vars();
    specs
        .iter()
        .map(|s| {
            let what = format!("intel '{}'", s.name);
            let hint = "set `sid` in its [[intel]] entry".to_string();
            external_rule(&s.rule_text(), s.sid, &what, &hint, loaded, &vars)
        })
        .collect()
}

/// One signature per analytic `[analytics]` turns on (raised by the workers, never matched
/// by the engine). An analytic's sid must not be a loaded rule's.
fn analytics_rules(
    cfg: &Config,
    loaded: &[crate::detect::rules::Rule],
) -> Result<Vec<crate::detect::rules::Rule>, String> {
    let Some(specs) = cfg.analytics()? else {
        return Ok(Vec::new());
    };
    let vars = cfg.vars();
    specs
        .rules()
        .into_iter()
        .map(|(a, sid, text)| {
            let what = format!("analytics.{}", a.name());
            let hint = format!("set `sid` in [analytics.{}]", a.name());
            external_rule(&text, sid, &what, &hint, loaded, &vars)
        })
        .collect()
}

/// The rule of a signature the workers raise themselves (`external`: the engine never
/// matches it), refused when its sid is already a loaded rule's.
fn external_rule(
    text: &str,
    sid: u32,
    what: &str,
    hint: &str,
    loaded: &[crate::detect::rules::Rule],
    vars: &crate::detect::rules::Vars,
) -> Result<crate::detect::rules::Rule, String> {
    if loaded.iter().any(|r| r.gid == 1 && r.sid == sid) {
        return Err(format!(
            "{what}: sid {sid} is also a loaded rule's ({hint})"
        ));
    }
    let mut r =
        crate::detect::rules::parse::parse_rule(text, vars).map_err(|e| format!("{what}: {e}"))?;
    r.external = true;
    Ok(r)
}

/// The intel store of the config's `[[intel]]` lists and `[reputation]` (None without
/// either); any file that fails to load stops the start with its `file:line`.
pub(super) fn intel_store(
    cfg: &Config,
) -> Result<Option<Arc<crate::detect::intel::Store>>, String> {
    let (specs, rep) = cfg.intel_specs()?;
    if specs.is_empty() && rep.is_none() {
        return Ok(None);
    }
    let started = Instant::now();
    let store = crate::detect::intel::Store::open(specs, rep)?;
    let stats = store.stats();
    let rep_len = store.snapshot().rep.len();
    eprintln!(
        "intel: {} lists, {} indicators, {} reputation entries ({:.2} s)",
        stats.len(),
        stats.iter().map(|s| s.indicators).sum::<usize>(),
        rep_len,
        started.elapsed().as_secs_f64()
    );
    Ok(Some(Arc::new(store)))
}

/// Rules that did not load, one line per reason with its count, most frequent first (at
/// most 20 reasons; `-v` or `rules check --all` list every rule).
pub(super) fn not_loaded_summary(set: &RuleSet, engine: &Engine) -> Vec<String> {
    let mut by: std::collections::BTreeMap<String, usize> = Default::default();
    for f in &set.failures {
        *by.entry(format!("failed to parse: {}", reason_group(&f.reason)))
            .or_default() += 1;
    }
    for s in &engine.report.skipped {
        *by.entry(format!("not supported: {}", reason_group(&s.reason)))
            .or_default() += 1;
    }
    if by.is_empty() {
        return Vec::new();
    }
    let total: usize = by.values().sum();
    let mut v: Vec<(String, usize)> = by.into_iter().collect();
    v.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    let mut out = vec![format!(
        "rules not loaded: {total}, by reason (-v or `sekimori rules check --all` lists each rule):"
    )];
    let shown = v.len().min(20);
    for (r, n) in &v[..shown] {
        out.push(format!("  {n:>6}  {r}"));
    }
    if v.len() > shown {
        let rest: usize = v[shown..].iter().map(|x| x.1).sum();
        out.push(format!("  {rest:>6}  ({} other reasons)", v.len() - shown));
    }
    out
}

/// A reason without what varies from rule to rule: quoted names and values become `'…'`,
/// numbers `N`, and anything after a second `: ` (a library's own detail) is left out.
fn reason_group(reason: &str) -> String {
    let mut out = String::with_capacity(reason.len());
    let mut quote: Option<char> = None;
    // Inside a number already written as `N`.
    let mut folding = false;
    for ch in reason.chars() {
        match quote {
            Some(q) if ch == q => {
                out.push('…');
                out.push(q);
                quote = None;
            }
            Some(_) => {}
            None if ch == '\'' || ch == '"' || ch == '`' => {
                out.push(ch);
                quote = Some(ch);
            }
            // A number on its own (`offset 39`), not part of a name (`PCRE2`).
            None if ch.is_ascii_digit() => {
                if folding {
                    continue;
                }
                if out.ends_with(|c: char| c.is_ascii_alphanumeric() || c == '_') {
                    out.push(ch);
                } else {
                    out.push('N');
                    folding = true;
                }
                continue;
            }
            None => out.push(ch),
        }
        folding = false;
    }
    let mut parts = out.splitn(3, ": ");
    match (parts.next(), parts.next()) {
        (Some(a), Some(b)) => format!("{a}: {b}"),
        (Some(a), None) => a.to_string(),
        _ => out,
    }
}

/// Per-worker settings from the config (IDS mode, flow events as configured).
pub(super) fn worker_config(
    cfg: &Config,
    checksums: ChecksumMode,
    tuner: Option<Arc<Tuner>>,
) -> WorkerConfig {
    WorkerConfig {
        flow: cfg.flow(),
        defrag: cfg.defrag(),
        checksums,
        flow_events: cfg.output.flow.unwrap_or(false),
        community_id: cfg.output.community_id.unwrap_or(true),
        anomaly_events: cfg.output.anomaly.unwrap_or(false),
        tagged_packets: cfg.output.tagged_packets.unwrap_or(true),
        app: {
            // Hashing every file costs; it is done for fileinfo events (and for the rules
            // and the store that need a digest, which the workers add).
            let mut app = cfg.app_layer();
            if !cfg.output.fileinfo.unwrap_or(false) {
                app.files.hashes = 0;
            }
            app
        },
        app_events: cfg.output.app_events(),
        fileinfo_events: cfg.output.fileinfo.unwrap_or(false),
        tuner,
        analytics: cfg.analytics().ok().flatten().map(Arc::new),
        ..WorkerConfig::default()
    }
}

/// Where the incident engine runs.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum IncidentsIn {
    /// Replay: on with a tuning file (without one, EVE stays Suricata's).
    Replay,
    /// Live capture: as replay; incidents open at shutdown close with that reason.
    Live,
    /// `sekimori incidents`: always on, default policy without a tuning file.
    Report,
}

/// The incident engine's settings: the tuning's `[incidents]`/`[notify]` policy, `$HOME_NET`
/// and the classification table. None when incidents are off.
pub(super) fn incident_settings(
    cfg: &Config,
    tuner: Option<Arc<Tuner>>,
    at: IncidentsIn,
) -> Result<Option<crate::incident::Settings>, String> {
    if tuner.is_none() && at != IncidentsIn::Report {
        return Ok(None);
    }
    let end_reason = match at {
        IncidentsIn::Live => "shutdown",
        _ => "end of input",
    };
    let policy = tuner
        .as_ref()
        .map(|t| t.incidents.clone())
        .unwrap_or_default();
    if !policy.enabled {
        return Ok(None);
    }
    let home = crate::detect::rules::header::parse_addr("$HOME_NET", &cfg.vars())
        .map_err(|e| format!("HOME_NET: {e}"))?;
    Ok(Some(crate::incident::Settings {
        policy,
        home,
        tuner,
        types: crate::incident::TypeOf::new(&cfg.classifications()?),
        keep_closed: false,
        end_reason,
        sweep: at == IncidentsIn::Live,
    }))
}

/// Builds the tuning from the config's files and `extra`, against the engine's signatures.
pub(super) fn load_tuner(
    cfg: &Config,
    extra: &[PathBuf],
    engine: &Engine,
) -> Result<Option<Arc<Tuner>>, String> {
    let files: Vec<PathBuf> = cfg.tuning.files.iter().chain(extra).cloned().collect();
    if files.is_empty() {
        return Ok(None);
    }
    let infos: Vec<SigInfo<'_>> = engine.sigs().iter().map(SigInfo::from).collect();
    let t = Tuner::load(&files, &infos, &cfg.vars())?;
    let s = &t.summary;
    eprintln!(
        "tuning: {} files, {} overrides, {} suppressions, {} thresholds, {} assets; {} signatures rebased by the taxonomy, {} with overrides",
        s.files, s.overrides, s.suppressions, s.thresholds, s.assets, s.rebased, s.overridden
    );
    Ok(Some(Arc::new(t)))
}

/// Loads engine and tuning from the config file as it is now (start and every reload). A
/// reload (`strict`) is refused when any rule fails to parse: a half-broken pack must not
/// replace a working one.
pub(super) fn load_detection(
    config: Option<&PathBuf>,
    rules: &[PathBuf],
    tuning: &[PathBuf],
    cache: Option<&PathBuf>,
    strict: bool,
    log: RuleLog,
) -> Result<live::Detection, String> {
    let cfg = load_config(config)?;
    let started = Instant::now();
    let (engine, set) = load_engine(&cfg, rules, cache, log)?;
    if strict && !set.failures.is_empty() {
        let first: Vec<String> = set.failures.iter().take(3).map(|f| f.to_string()).collect();
        return Err(format!(
            "{} rules fail to parse (first: {})",
            set.failures.len(),
            first.join("; ")
        ));
    }
    eprintln!("{}", load_line(&engine, &set, started.elapsed()));
    if log == RuleLog::Summary {
        for line in not_loaded_summary(&set, &engine) {
            eprintln!("{line}");
        }
    }
    let tuner = load_tuner(&cfg, tuning, &engine)?;
    let rules = rule_counts(&engine, &set);
    Ok(live::Detection {
        engine: Arc::new(engine),
        tuner,
        rules,
        incidents: None,
        analytics: cfg.analytics()?.map(Arc::new),
    })
}

/// Rule counts for the metrics endpoint.
pub(super) fn rule_counts(engine: &Engine, set: &RuleSet) -> crate::output::metrics::RuleCounts {
    crate::output::metrics::RuleCounts {
        loaded: engine.report.loaded as u64,
        failed: set.failures.len() as u64,
        unsupported: engine.report.skipped.len() as u64,
        waiting: engine.report.waiting.len() as u64,
    }
}

/// The one-line account of a rule load: running, waiting, refused, files and time.
pub(super) fn load_line(engine: &Engine, set: &RuleSet, took: std::time::Duration) -> String {
    format!(
        "rules: {} running, {} waiting for engine parts not built yet, {} failed to parse, {} not supported yet ({} files, {:.2} s)",
        engine.report.loaded,
        engine.report.waiting.len(),
        set.failures.len(),
        engine.report.skipped.len(),
        set.files,
        took.as_secs_f64()
    )
}

/// The pcap output of alerting flows, when `--pcap-out` or `[output.pcap]` asks for it.
pub(super) struct PcapOut {
    log: crate::output::pcaplog::PcapLog,
    dir: PathBuf,
}

/// What each worker gets of the pcap output: its sender and the lookback in bytes.
pub(super) type WorkerPcap = (crate::output::pcaplog::PcapSender, usize);

/// Starts the pcap output; the sender and lookback go to the workers (`WorkerConfig::pcap`).
pub(super) fn start_pcap(
    cfg: &Config,
    arg: Option<&PathBuf>,
    policy: crate::output::Backpressure,
) -> Result<Option<(PcapOut, WorkerPcap)>, String> {
    let mut c = match (&cfg.output.pcap, arg) {
        (Some(s), _) => s.build()?,
        (None, Some(_)) => crate::output::pcaplog::PcapLogConfig::default(),
        (None, None) => return Ok(None),
    };
    if let Some(dir) = arg {
        c.dir = dir.clone();
    }
    let lookback = c.lookback;
    let dir = c.dir.clone();
    let (log, tx) = crate::output::pcaplog::PcapLog::start(c, policy)
        .map_err(|e| format!("pcap output {}: {e}", dir.display()))?;
    Ok(Some((PcapOut { log, dir }, (tx, lookback))))
}

/// Waits for the pcap output to write what it was sent; one line on what it wrote.
pub(super) fn finish_pcap(p: Option<PcapOut>) {
    let Some(p) = p else { return };
    let s = p.log.finish();
    eprintln!(
        "pcap: {} frames of alerting flows written to {} ({} files started, {} deleted at the total cap, {} lost to write errors; flows.tsv maps flow_id to file)",
        s.packets,
        p.dir.display(),
        s.files,
        s.deleted,
        s.lost
    );
    if let Some(e) = s.error {
        eprintln!("pcap: first error: {e}");
    }
}

/// Starts the file store when the config names its directory; its sender goes to the
/// workers (`WorkerConfig::filestore`).
pub(super) fn start_filestore(
    cfg: &Config,
) -> Result<
    Option<(
        crate::output::filestore::FileStore,
        crate::output::filestore::StoreSender,
    )>,
    String,
> {
    let Some(dir) = &cfg.filestore.dir else {
        return Ok(None);
    };
    let max = cfg.filestore.max_size.unwrap_or(16 << 20);
    crate::output::filestore::FileStore::start(dir, max)
        .map(Some)
        .map_err(|e| format!("filestore {}: {e}", dir.display()))
}

/// Waits for the file store to write what it was given (the workers are done) and reports.
pub(super) fn finish_filestore(store: Option<crate::output::filestore::FileStore>) {
    if let Some(store) = store {
        let s = store.finish();
        eprintln!(
            "filestore: {} files stored, {} already there, {} dropped (queue full), {} write errors",
            s.stored, s.existing, s.dropped, s.errors
        );
    }
}

#[cfg(test)]
mod tests {
    use super::reason_group;

    #[test]
    fn reasons_group_without_names_and_numbers() {
        assert_eq!(
            reason_group("foo: unknown keyword 'foo'"),
            "foo: unknown keyword '…'"
        );
        assert_eq!(
            reason_group("pcre does not compile: PCRE2: error compiling pattern at offset 39"),
            "pcre does not compile: PCRE2"
        );
        assert_eq!(
            reason_group("depth 70000 is over 65535"),
            "depth N is over N"
        );
        assert_eq!(
            reason_group("x: not in PCRE2 or md5"),
            "x: not in PCRE2 or md5"
        );
    }
}
