//! `sekimori rules check`: load packs and report what loads, what waits and what fails.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use clap::{Args, Subcommand};

use crate::detect::BuildReport;

use super::load::{load_config, load_engine, RuleLog};
use super::peak_rss_kb;

/// `rules` subcommands.
#[derive(Debug, Subcommand)]
pub enum RulesCommand {
    /// Load packs and report what loads, what fails and why, and what was compiled.
    Check(CheckArgs),
}

/// `rules check` flags.
#[derive(Debug, Args)]
pub struct CheckArgs {
    /// TOML configuration file (variables, classification).
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Exit non-zero if any rule fails to parse or cannot be loaded.
    #[arg(long)]
    pub strict: bool,
    /// List every rule that was not loaded (default: the first 20 of each kind).
    #[arg(long)]
    pub all: bool,
    /// Directory caching compiled Hyperscan databases (default: rules.cache_dir, else none).
    #[arg(long)]
    pub cache_dir: Option<PathBuf>,
    /// Rule files or directories.
    #[arg(required = true, value_name = "PATH")]
    pub paths: Vec<PathBuf>,
}

pub(super) fn run_check(args: CheckArgs) -> Result<ExitCode, String> {
    let cfg = load_config(args.config.as_ref())?;
    let started = Instant::now();
    let (engine, set) = load_engine(&cfg, &args.paths, args.cache_dir.as_ref(), RuleLog::Silent)?;
    let elapsed = started.elapsed();
    let r: &BuildReport = &engine.report;
    let mut out = std::io::stdout().lock();
    let total = set.seen;
    let _ = writeln!(out, "files: {}", set.files);
    let _ = writeln!(
        out,
        "rules: {total} ({} overridden by a later pack, {} duplicate sids within a pack left out)",
        set.overridden, set.duplicates
    );
    let pct = |n: usize| {
        if total == 0 {
            0.0
        } else {
            100.0 * n as f64 / total as f64
        }
    };
    let compiled = r.loaded + r.waiting.len();
    let _ = writeln!(
        out,
        "loaded: {compiled} ({:.1}%) with full semantics",
        pct(compiled)
    );
    let _ = writeln!(out, "  running now: {} ({:.1}%)", r.loaded, pct(r.loaded));
    let _ = writeln!(
        out,
        "  waiting for an engine part not built yet (cannot match until it is): {}",
        r.waiting.len()
    );
    for (need, n) in r.waiting_by_need() {
        let _ = writeln!(out, "    {n:>6}  {need}");
    }
    let _ = writeln!(out, "failed to parse: {}", set.failures.len());
    let limit = if args.all { usize::MAX } else { 20 };
    for f in set.failures.iter().take(limit) {
        let _ = writeln!(out, "  {f}");
    }
    if set.failures.len() > limit {
        let _ = writeln!(out, "  ... {} more (use --all)", set.failures.len() - limit);
    }
    let _ = writeln!(out, "not supported yet: {}", r.skipped.len());
    for s in r.skipped.iter().take(limit) {
        let at = s
            .file
            .as_ref()
            .map(|f| format!("{}:{}: ", f.display(), s.line))
            .unwrap_or_default();
        let _ = writeln!(out, "  {at}sid {}: {}", s.sid, s.reason);
    }
    if r.skipped.len() > limit {
        let _ = writeln!(out, "  ... {} more (use --all)", r.skipped.len() - limit);
    }
    let mut per_kw: BTreeMap<&str, usize> = BTreeMap::new();
    for s in &r.skipped {
        for k in &s.keywords {
            *per_kw.entry(k.as_str()).or_default() += 1;
        }
    }
    let mut per_kw: Vec<(&str, usize)> = per_kw.into_iter().collect();
    per_kw.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
    if !per_kw.is_empty() {
        let _ = writeln!(out, "rules per unsupported keyword/buffer:");
        for (k, n) in per_kw {
            let _ = writeln!(out, "  {n:>6}  {k}");
        }
    }
    let _ = writeln!(
        out,
        "hyperscan: {} databases, {} patterns, {} bytes; {} rules without fast pattern; {} ip-only rules; {} flowbit names",
        r.databases, r.patterns, r.database_bytes, r.non_mpm, r.ip_only, r.flowbits
    );
    let _ = writeln!(
        out,
        "hyperscan cache: {} databases loaded from cache, {} compiled",
        r.cache_hits, r.compiled
    );
    let _ = writeln!(
        out,
        "time: {:.3} s total, {:.3} s engine build",
        elapsed.as_secs_f64(),
        r.compile_time.as_secs_f64()
    );
    if let Some(kb) = peak_rss_kb() {
        let _ = writeln!(out, "peak RSS: {:.1} MB", kb as f64 / 1024.0);
    }
    let bad = !set.failures.is_empty() || !r.skipped.is_empty();
    Ok(if args.strict && bad {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}
