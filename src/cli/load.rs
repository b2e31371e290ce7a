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

pub(super) fn load_config(path: Option<&PathBuf>) -> Result<Config, String> {
    match path {
        Some(p) => Config::from_file(p),
        None => Ok(Config::default()),
    }
}

/// Loads packs and builds the engine, reporting every rule that did not make it.
pub(super) fn load_engine(
    cfg: &Config,
    extra: &[PathBuf],
    cache: Option<&PathBuf>,
    log_each: bool,
) -> Result<(Engine, RuleSet), String> {
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
    let rules = std::mem::take(&mut set.rules);
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
        ..WorkerConfig::default()
    }
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
) -> Result<live::Detection, String> {
    let cfg = load_config(config)?;
    let started = Instant::now();
    let (engine, set) = load_engine(&cfg, rules, cache, true)?;
    if strict && !set.failures.is_empty() {
        let first: Vec<String> = set.failures.iter().take(3).map(|f| f.to_string()).collect();
        return Err(format!(
            "{} rules fail to parse (first: {})",
            set.failures.len(),
            first.join("; ")
        ));
    }
    eprintln!("{}", load_line(&engine, &set, started.elapsed()));
    let tuner = load_tuner(&cfg, tuning, &engine)?;
    Ok(live::Detection {
        engine: Arc::new(engine),
        tuner,
    })
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
