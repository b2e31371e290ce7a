//! `sekimori tune report|diff`: measure signatures on real traffic, compare tunings.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use clap::{Args, Subcommand};

use crate::output::{SinkSpec, SinkTarget};
use crate::runtime::worker::ChecksumMode;
use crate::runtime::{replay, ReplayOptions};
use crate::tune::report;

use super::load::{load_config, load_engine, worker_config, RuleLog};

/// `tune` subcommands.
#[derive(Debug, Subcommand)]
pub enum TuneCommand {
    /// Per signature: hits, distinct hosts, share, burstiness, severity now; flags likely
    /// noise and likely high-value signatures and can write a suggested tuning file.
    Report(ReportArgs),
    /// Dry run: what changes, per severity and per signature, between two tunings.
    Diff(DiffArgs),
}

/// `tune report` flags.
#[derive(Debug, Args)]
pub struct ReportArgs {
    /// The traffic is known to be clean: every signature that fired is a false positive here.
    #[arg(long)]
    pub baseline: bool,
    /// Write the suggested tuning (TOML) to this file.
    #[arg(long, value_name = "FILE")]
    pub write: Option<PathBuf>,
    /// TOML configuration (classification table).
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Show only the N busiest signatures in the table (default: all).
    #[arg(long)]
    pub top: Option<usize>,
    /// Also write the report as one HTML page.
    #[arg(long, value_name = "FILE")]
    pub html: Option<PathBuf>,
    /// EVE files.
    #[arg(required = true, value_name = "EVE")]
    pub inputs: Vec<PathBuf>,
}

/// `tune diff` flags.
#[derive(Debug, Args)]
pub struct DiffArgs {
    /// Exactly two: the old tuning, then the new one; `vendor` stands for no tuning.
    #[arg(
        long = "tuning",
        value_name = "FILE|vendor",
        num_args = 1,
        required = true
    )]
    pub tuning: Vec<String>,
    /// TOML configuration (variables, classification; rules for capture inputs).
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Rules for capture inputs, which are replayed first (repeatable).
    #[arg(long = "rules", value_name = "FILE_OR_DIR")]
    pub rules: Vec<PathBuf>,
    /// Directory caching compiled Hyperscan databases.
    #[arg(long)]
    pub cache_dir: Option<PathBuf>,
    /// Also write the diff as one HTML page.
    #[arg(long, value_name = "FILE")]
    pub html: Option<PathBuf>,
    /// EVE files, or pcap/pcapng captures (replayed with --rules).
    #[arg(required = true, value_name = "PCAP_OR_EVE")]
    pub inputs: Vec<PathBuf>,
}

pub(super) fn run_tune_report(args: ReportArgs) -> Result<ExitCode, String> {
    let cfg = load_config(args.config.as_ref())?;
    let input = report::read_eve(&args.inputs)?;
    let rows = report::report(&input, &cfg.classifications()?, args.baseline);
    eprintln!(
        "tune report: {} alerts from {} signatures in {} files ({} other events, {} unreadable lines)",
        input.alerts.len(),
        rows.len(),
        args.inputs.len(),
        input.other_events,
        input.bad_lines
    );
    let shown = &rows[..args.top.unwrap_or(rows.len()).min(rows.len())];
    super::say(format_args!("{}", report::render_table(shown)))?;
    let noise = rows.iter().filter(|r| r.noise.is_some()).count();
    let high = rows.iter().filter(|r| r.high_value.is_some()).count();
    let changes = rows
        .iter()
        .filter(|r| r.suggestion(args.baseline).is_some())
        .count();
    super::say(format_args!(
        "likely noise: {noise}; likely high value: {high}; suggested changes: {changes}\n"
    ))?;
    if let Some(path) = &args.write {
        let text = report::suggest_toml(&rows, args.baseline, &args.inputs);
        std::fs::write(path, text).map_err(|e| format!("{}: {e}", path.display()))?;
        super::say(format_args!(
            "suggested tuning written to {}\n",
            path.display()
        ))?;
    }
    if let Some(path) = &args.html {
        let html = crate::tune::page::report_page(&rows, args.baseline, &args.inputs);
        std::fs::write(path, html).map_err(|e| format!("{}: {e}", path.display()))?;
        super::say(format_args!("HTML report written to {}\n", path.display()))?;
    }
    Ok(ExitCode::SUCCESS)
}

pub(super) fn run_tune_diff(args: DiffArgs) -> Result<ExitCode, String> {
    if args.tuning.len() != 2 {
        return Err(
            "tune diff needs exactly two --tuning values: OLD then NEW (`vendor` for no tuning)"
                .into(),
        );
    }
    let cfg = load_config(args.config.as_ref())?;
    let classes = cfg.classifications()?;
    let (captures, eves): (Vec<PathBuf>, Vec<PathBuf>) = args
        .inputs
        .iter()
        .cloned()
        .partition(|p| p.is_dir() || report::is_capture(p));
    let mut eve_files = eves;
    let tmp = std::env::temp_dir().join(format!("sekimori-tune-diff-{}.json", std::process::id()));
    if !captures.is_empty() {
        let (engine, _) = load_engine(&cfg, &args.rules, args.cache_dir.as_ref(), RuleLog::Silent)?;
        let workers = cfg
            .runtime
            .workers
            .unwrap_or_else(crate::runtime::default_workers);
        let mut opts = ReplayOptions {
            inputs: captures,
            sinks: vec![SinkSpec::new("eve", SinkTarget::File(tmp.clone()))],
            workers,
            worker: worker_config(&cfg, ChecksumMode::Auto, None),
            board: None,
            progress: None,
            incidents: None,
        };
        let s = replay(Arc::new(engine), &mut opts)?;
        eprintln!(
            "replayed {} capture files: {} packets, {} alerts",
            s.files, s.stats.packets, s.stats.alerts
        );
        eve_files.push(tmp.clone());
    }
    let input = report::read_eve(&eve_files);
    let _ = std::fs::remove_file(&tmp);
    let input = input?;
    let (infos, of) = report::sig_table(&input.alerts, &classes);
    let vars = cfg.vars();
    let side = |name: &str| {
        let files = (name != "vendor").then(|| vec![PathBuf::from(name)]);
        report::load_side(files.as_deref(), &infos, &vars)
    };
    let (old, new) = (side(&args.tuning[0])?, side(&args.tuning[1])?);
    let d = report::diff(&input.alerts, &of, &old, &new);
    super::say(format_args!(
        "tune diff: {} alerts from {} signatures\n",
        input.alerts.len(),
        infos.len()
    ))?;
    super::say(format_args!(
        "{}",
        report::render_diff(&d, &args.tuning[0], &args.tuning[1])
    ))?;
    if let Some(path) = &args.html {
        let html =
            crate::tune::page::diff_page(&d, &args.tuning[0], &args.tuning[1], input.alerts.len());
        std::fs::write(path, html).map_err(|e| format!("{}: {e}", path.display()))?;
        super::say(format_args!("HTML report written to {}\n", path.display()))?;
    }
    Ok(ExitCode::SUCCESS)
}
