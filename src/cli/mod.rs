//! Command line: flags are parsed here and turned into configured runtime objects.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Instant;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::applayer::{PROTOCOLS, PROTOCOL_COUNT};
use crate::config::Config;
use crate::decode::DecodeError;
use crate::detect::rules::load::RuleSet;
use crate::detect::{BuildReport, Engine};
use crate::output::EveTarget;
use crate::runtime::worker::{ChecksumMode, WorkerConfig};
use crate::runtime::{live, replay, ReplayOptions, ReplaySummary};
use crate::tune::{report, SigInfo, Tuner};

/// sekimori: network sensor / IPS with Suricata-syntax signatures and EVE JSON output.
#[derive(Debug, Parser)]
#[command(name = "sekimori", version, about)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Replay pcap/pcapng files or directories through detection and write EVE JSON.
    Replay(ReplayArgs),
    /// Capture live from interfaces (passive, or inline with --ips) until stopped.
    Run(RunArgs),
    /// Send a command to a running sensor: reload, reopen, stats, shutdown.
    Ctl(CtlArgs),
    /// Rule pack tools.
    Rules {
        /// Rules subcommand.
        #[command(subcommand)]
        command: RulesCommand,
    },
    /// Severity tuning tools: measure signatures on real traffic, compare tunings.
    Tune {
        /// Tune subcommand.
        #[command(subcommand)]
        command: TuneCommand,
    },
}

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
    /// EVE files, or pcap/pcapng captures (replayed with --rules).
    #[arg(required = true, value_name = "PCAP_OR_EVE")]
    pub inputs: Vec<PathBuf>,
}

/// `rules` subcommands.
#[derive(Debug, Subcommand)]
pub enum RulesCommand {
    /// Load packs and report what loads, what fails and why, and what was compiled.
    Check(CheckArgs),
}

/// `--workers`: a number from 1 to [`crate::runtime::MAX_WORKERS`].
fn parse_workers(s: &str) -> Result<usize, String> {
    let n: usize = s.parse().map_err(|_| format!("'{s}' is not a number"))?;
    crate::runtime::check_workers(n)
}

/// Checksum validation flag values.
#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum ChecksumArg {
    /// Validate unless the capture shows checksum offloading.
    Auto,
    /// Always validate.
    Yes,
    /// Never validate.
    No,
}

/// `replay` flags.
#[derive(Debug, Args)]
pub struct ReplayArgs {
    /// TOML configuration file.
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Rule file or directory of .rules files; repeat for several packs (later ones override
    /// rules with the same gid:sid).
    #[arg(long = "rules", value_name = "FILE_OR_DIR")]
    pub rules: Vec<PathBuf>,
    /// EVE output file, or `-` for standard output.
    #[arg(long, value_name = "PATH|-")]
    pub eve: Option<String>,
    /// Checksum validation.
    #[arg(long, value_enum, default_value = "auto")]
    pub checksum_checks: ChecksumArg,
    /// Simulate inline IPS: drop/reject rules block and alerts say "blocked".
    #[arg(long)]
    pub ips: bool,
    /// Worker threads, 1 to 256 (default: config, else the number of cores).
    #[arg(long, value_parser = parse_workers)]
    pub workers: Option<usize>,
    /// Directory caching compiled Hyperscan databases (default: rules.cache_dir, else none).
    #[arg(long)]
    pub cache_dir: Option<PathBuf>,
    /// Also write an EVE `flow` event for every flow when it ends (or output.flow in config).
    #[arg(long)]
    pub flow_events: bool,
    /// Tuning file (TOML), applied after those in the config's tuning.files; repeat for
    /// several, later ones refining earlier ones.
    #[arg(long = "tuning", value_name = "FILE")]
    pub tuning: Vec<PathBuf>,
    /// Capture files or directories.
    #[arg(required = true, value_name = "PCAP_OR_DIR")]
    pub inputs: Vec<PathBuf>,
}

/// `run` flags (they override the config).
#[derive(Debug, Args)]
pub struct RunArgs {
    /// TOML configuration file (re-read on reload).
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Interface to capture on; repeat (inline: exactly two).
    #[arg(long = "interface", short = 'i', value_name = "IFACE")]
    pub interfaces: Vec<String>,
    /// Inline mode: bridge the two interfaces, drop what drop/reject rules block.
    #[arg(long)]
    pub ips: bool,
    /// Extra rule files or directories (after rules.files).
    #[arg(long = "rules", value_name = "FILE_OR_DIR")]
    pub rules: Vec<PathBuf>,
    /// Extra tuning files (after tuning.files).
    #[arg(long = "tuning", value_name = "FILE")]
    pub tuning: Vec<PathBuf>,
    /// EVE output file (appended to), or `-`.
    #[arg(long, value_name = "PATH|-")]
    pub eve: Option<String>,
    /// Worker threads, 1 to 256.
    #[arg(long, value_parser = parse_workers)]
    pub workers: Option<usize>,
    /// BPF capture filter.
    #[arg(long)]
    pub bpf: Option<String>,
    /// workers (PACKET_FANOUT sockets per worker) or autofp (capture thread per interface).
    #[arg(long, value_enum)]
    pub runmode: Option<crate::config::RunMode>,
    /// Control socket path.
    #[arg(long)]
    pub control_socket: Option<PathBuf>,
    /// Directory caching compiled Hyperscan databases.
    #[arg(long)]
    pub cache_dir: Option<PathBuf>,
    /// Checksum validation (live traffic on virtual interfaces often has offloaded checksums).
    #[arg(long, value_enum, default_value = "auto")]
    pub checksum_checks: ChecksumArg,
}

/// `ctl` flags.
#[derive(Debug, Args)]
pub struct CtlArgs {
    /// The sensor's control socket.
    #[arg(long, default_value = "/run/sekimori/control.sock")]
    pub socket: PathBuf,
    /// reload, reopen, stats or shutdown.
    pub command: String,
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

/// Runs a parsed command line.
pub fn run(cli: Cli) -> ExitCode {
    let result = match cli.command {
        Command::Replay(args) => run_replay(args),
        Command::Rules {
            command: RulesCommand::Check(args),
        } => run_check(args),
        Command::Run(args) => run_live_cmd(args),
        Command::Ctl(args) => match live::control(&args.socket, &args.command) {
            Ok(answer) => {
                println!("{answer}");
                Ok(if answer.starts_with("ok") {
                    ExitCode::SUCCESS
                } else {
                    ExitCode::from(1)
                })
            }
            Err(e) => Err(e),
        },
        Command::Tune {
            command: TuneCommand::Report(args),
        } => run_tune_report(args),
        Command::Tune {
            command: TuneCommand::Diff(args),
        } => run_tune_diff(args),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("sekimori: error: {e}");
            ExitCode::from(1)
        }
    }
}

fn load_config(path: Option<&PathBuf>) -> Result<Config, String> {
    match path {
        Some(p) => Config::from_file(p),
        None => Ok(Config::default()),
    }
}

/// Loads packs and builds the engine, reporting every rule that did not make it.
fn load_engine(
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
fn worker_config(cfg: &Config, checksums: ChecksumMode, tuner: Option<Arc<Tuner>>) -> WorkerConfig {
    WorkerConfig {
        flow: cfg.flow(),
        defrag: cfg.defrag(),
        checksums,
        flow_events: cfg.output.flow.unwrap_or(false),
        community_id: cfg.output.community_id.unwrap_or(true),
        anomaly_events: cfg.output.anomaly.unwrap_or(false),
        tagged_packets: cfg.output.tagged_packets.unwrap_or(true),
        app: cfg.app_layer(),
        app_events: [
            cfg.output.http.unwrap_or(false),
            cfg.output.tls.unwrap_or(false),
            cfg.output.dns.unwrap_or(false),
        ],
        tuner,
        ..WorkerConfig::default()
    }
}

/// Builds the tuning from the config's files and `extra`, against the engine's signatures.
fn load_tuner(
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

fn run_replay(args: ReplayArgs) -> Result<ExitCode, String> {
    let cfg = load_config(args.config.as_ref())?;
    let load_started = Instant::now();
    let (engine, set) = load_engine(&cfg, &args.rules, args.cache_dir.as_ref(), true)?;
    let load_time = load_started.elapsed();
    eprintln!(
        "rules: {} running, {} waiting for engine parts not built yet, {} failed to parse, {} not supported yet ({} files, {:.2} s)",
        engine.report.loaded,
        engine.report.waiting.len(),
        set.failures.len(),
        engine.report.skipped.len(),
        set.files,
        load_time.as_secs_f64()
    );
    let waiting: Vec<String> = engine
        .report
        .waiting_by_need()
        .into_iter()
        .map(|(k, n)| format!("{k}: {n}"))
        .collect();
    if !waiting.is_empty() {
        eprintln!("rules waiting, by what they need: {}", waiting.join(", "));
    }
    let eve_arg = args
        .eve
        .or_else(|| cfg.output.eve.clone())
        .unwrap_or_else(|| "eve.json".into());
    let eve = if eve_arg == "-" {
        EveTarget::Stdout
    } else {
        EveTarget::File(PathBuf::from(&eve_arg))
    };
    let workers = args
        .workers
        .or(cfg.runtime.workers)
        .unwrap_or_else(crate::runtime::default_workers);
    let checksums = match args.checksum_checks {
        ChecksumArg::Auto => ChecksumMode::Auto,
        ChecksumArg::Yes => ChecksumMode::Yes,
        ChecksumArg::No => ChecksumMode::No,
    };
    let tuner = load_tuner(&cfg, &args.tuning, &engine)?;
    let opts = ReplayOptions {
        inputs: args.inputs,
        eve: eve.clone(),
        workers,
        worker: WorkerConfig {
            ips: args.ips,
            flow_events: args.flow_events || cfg.output.flow.unwrap_or(false),
            ..worker_config(&cfg, checksums, tuner)
        },
    };
    let engine = Arc::new(engine);
    let summary = replay(engine.clone(), &opts)?;
    print_summary(&engine, &summary, &eve, workers);
    if let Some(e) = &summary.writer.error {
        // Events were lost: that is a failure of the run, whatever else went well.
        return Err(format!(
            "EVE output {e}: {} events could not be written",
            summary.writer.lost
        ));
    }
    Ok(if summary.files_failed.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(2)
    })
}

fn print_summary(engine: &Engine, s: &ReplaySummary, eve: &EveTarget, workers: usize) {
    let st = &s.stats;
    let mut err = std::io::stderr().lock();
    let secs = s.elapsed.as_secs_f64().max(1e-9);
    let _ = writeln!(
        err,
        "replay: {} files ({} failed, {} truncated), {} packets, {} bytes, {:.3} s, {:.0} packets/s, {} workers",
        s.files,
        s.files_failed.len(),
        s.files_truncated.len(),
        st.packets,
        st.bytes,
        secs,
        st.packets as f64 / secs,
        workers
    );
    let _ = writeln!(
        err,
        "packets: {} inspected ({} from inside tunnels), {} not inspected, {} truncated, {} with decoder events, {} bad checksum, {} passed, {} dropped",
        st.inspected,
        st.tunneled,
        st.not_inspected(),
        st.truncated,
        st.decoder_events,
        st.bad_checksum,
        st.passed,
        st.dropped
    );
    let reasons: Vec<String> = DecodeError::ALL
        .iter()
        .zip(st.decode_errors.iter())
        .filter(|(_, n)| **n > 0)
        .map(|(r, n)| format!("{}={n}", r.name()))
        .collect();
    if !reasons.is_empty() {
        let _ = writeln!(err, "not inspected by reason: {}", reasons.join(", "));
    }
    let _ = writeln!(
        err,
        "flows: {} created, {} timed out, {} evicted, {} packets without flow (table full), {} emergency-mode entries",
        st.flow.created, st.flow.timed_out, st.flow.evicted, st.flow.no_room, st.flow.emergencies
    );
    let d = &st.defrag;
    let _ = writeln!(
        err,
        "defrag: {} datagrams rebuilt from {} fragments, {} overlaps with different data, {} timed out, {} refused, {} unsupported",
        d.reassembled, d.fragments, d.overlap_diff, d.timeouts, d.refused, d.unsupported
    );
    let r = &st.flow.tcp_refused;
    let _ = writeln!(
        err,
        "tcp segments refused: {} invalid timestamp, {} SYN/ACK with wrong ack, {} data out of window, {} RST out of window",
        r[0], r[1], r[2], r[3]
    );
    let se = &st.stream_events;
    let _ = writeln!(
        err,
        "streams: {} bytes reassembled, {} gaps, {} overlaps with different data, {} out-of-order segments refused, {} bytes past depth, {} segments over memcap",
        st.stream_bytes, se.gaps, se.overlap_diff, se.ooo_refused, se.depth_bytes, st.stream_memcap
    );
    let a = &st.app;
    let per_proto = |n: &[u64; PROTOCOL_COUNT]| {
        let parts: Vec<String> = PROTOCOLS
            .iter()
            .zip(n)
            .map(|(p, n)| format!("{} {n}", p.name()))
            .collect();
        parts.join(" ")
    };
    let _ = writeln!(
        err,
        "app layer: flows detected {}, {} undetected; transactions {}, {} parser errors, {} stream bytes not parsed",
        per_proto(&a.detected), a.failed, per_proto(&a.txs), a.parse_errors, a.missed_bytes
    );
    let target = match eve {
        EveTarget::File(p) => p.display().to_string(),
        EveTarget::Stdout => "standard output".into(),
    };
    let _ = writeln!(
        err,
        "eve: {} events written to {target}, {} lost to write errors",
        s.writer.lines, s.writer.lost
    );
    let _ = writeln!(
        err,
        "alerts: {}, tagged packets logged: {}",
        st.alerts, st.tagged_packets
    );
    if st.by_severity.iter().any(|&n| n > 0) || st.suppressed > 0 {
        let [i, m, s, c] = st.by_severity;
        let _ = writeln!(
            err,
            "tuned severity: {c} Critical, {s} Serious, {m} Medium, {i} Informational; {} suppressed",
            st.suppressed
        );
    }
    let mut by_sig: Vec<(u64, u32)> = st
        .per_sig
        .iter()
        .enumerate()
        .filter(|(_, n)| **n > 0)
        .map(|(i, n)| (*n, i as u32))
        .collect();
    by_sig.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
    for (n, idx) in by_sig {
        let sig = engine.sig(idx);
        let _ = writeln!(err, "  {n:>8}  {}:{}  {}", sig.gid, sig.sid, sig.msg);
    }
    if st.eve_dropped > 0 || st.scan_errors > 0 {
        let _ = writeln!(
            err,
            "warnings: {} EVE events dropped, {} prefilter scan errors",
            st.eve_dropped, st.scan_errors
        );
    }
    let _ = writeln!(
        err,
        "limits: {} pcre searches stopped at the match limit, {} rule inspections skipped by backoff, {} http header blocks cut, {} flows evicted from full tables, {} packets without room for a flow, {} fragments refused, {} segments over the stream memcap, {} parses skipped at the app-layer memcap",
        st.pcre_limit_hits, st.backoff_skips, st.app.header_limit_hits, st.flow.evicted, st.flow.no_room, st.defrag.refused, st.stream_memcap, st.app.memcap_skips
    );
}

/// Loads engine and tuning from the config file as it is now (start and every reload). A
/// reload (`strict`) is refused when any rule fails to parse: a half-broken pack must not
/// replace a working one.
fn load_detection(
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
    eprintln!(
        "rules: {} running, {} waiting, {} failed to parse, {} not supported yet ({:.2} s)",
        engine.report.loaded,
        engine.report.waiting.len(),
        set.failures.len(),
        engine.report.skipped.len(),
        started.elapsed().as_secs_f64()
    );
    let tuner = load_tuner(&cfg, tuning, &engine)?;
    Ok(live::Detection {
        engine: Arc::new(engine),
        tuner,
    })
}

fn run_live_cmd(args: RunArgs) -> Result<ExitCode, String> {
    let cfg = load_config(args.config.as_ref())?;
    let first = load_detection(
        args.config.as_ref(),
        &args.rules,
        &args.tuning,
        args.cache_dir.as_ref(),
        false,
    )?;
    let interfaces = if args.interfaces.is_empty() {
        cfg.capture.interfaces.clone()
    } else {
        args.interfaces.clone()
    };
    let ips = args.ips || cfg.capture.mode == Some(crate::config::CaptureMode::Ips);
    let eve_arg = args
        .eve
        .clone()
        .or_else(|| cfg.output.eve.clone())
        .unwrap_or_else(|| "eve.json".into());
    let checksums = match args.checksum_checks {
        ChecksumArg::Auto => ChecksumMode::Auto,
        ChecksumArg::Yes => ChecksumMode::Yes,
        ChecksumArg::No => ChecksumMode::No,
    };
    let opts = live::LiveOptions {
        interfaces,
        ips,
        bpf: args.bpf.clone().or_else(|| cfg.capture.bpf.clone()),
        snaplen: cfg.capture.snaplen.unwrap_or(65535) as i32,
        workers: args
            .workers
            .or(cfg.runtime.workers)
            .unwrap_or_else(crate::runtime::default_workers),
        eve: if eve_arg == "-" {
            EveTarget::Stdout
        } else {
            EveTarget::File(PathBuf::from(&eve_arg))
        },
        worker: WorkerConfig {
            flow_events: cfg.output.flow.unwrap_or(false),
            ..worker_config(&cfg, checksums, None)
        },
        stats_interval: match cfg.service.stats_interval.unwrap_or(30) {
            0 => None,
            s => Some(std::time::Duration::from_secs(s)),
        },
        control_socket: args
            .control_socket
            .clone()
            .or_else(|| cfg.service.control_socket.clone()),
        fanout: args.runmode.or(cfg.capture.runmode).unwrap_or_default()
            == crate::config::RunMode::Workers,
        user: cfg.service.user.clone(),
        group: cfg.service.group.clone(),
    };
    let mut reload = || {
        load_detection(
            args.config.as_ref(),
            &args.rules,
            &args.tuning,
            args.cache_dir.as_ref(),
            true,
        )
    };
    let s = live::run_live(first, &mut reload, &opts)?;
    let st = &s.stats;
    eprintln!(
        "run: {:.1} s, {} packets ({} kernel drops, {} interface drops, {} ring drops), {} alerts, {} blocked, {} forward errors, {} reloads ({} failed), {} EVE events",
        s.elapsed.as_secs_f64(),
        st.packets,
        s.kernel.dropped,
        s.kernel.if_dropped,
        s.ring_drops,
        st.alerts,
        st.dropped,
        s.forward_errors,
        s.reloads.0,
        s.reloads.1,
        s.writer.lines
    );
    Ok(ExitCode::SUCCESS)
}

fn run_tune_report(args: ReportArgs) -> Result<ExitCode, String> {
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
    print!("{}", report::render_table(shown));
    let noise = rows.iter().filter(|r| r.noise.is_some()).count();
    let high = rows.iter().filter(|r| r.high_value.is_some()).count();
    let changes = rows
        .iter()
        .filter(|r| r.suggestion(args.baseline).is_some())
        .count();
    println!("likely noise: {noise}; likely high value: {high}; suggested changes: {changes}");
    if let Some(path) = &args.write {
        let text = report::suggest_toml(&rows, args.baseline, &args.inputs);
        std::fs::write(path, text).map_err(|e| format!("{}: {e}", path.display()))?;
        println!("suggested tuning written to {}", path.display());
    }
    Ok(ExitCode::SUCCESS)
}

fn run_tune_diff(args: DiffArgs) -> Result<ExitCode, String> {
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
        let (engine, _) = load_engine(&cfg, &args.rules, args.cache_dir.as_ref(), false)?;
        let workers = cfg
            .runtime
            .workers
            .unwrap_or_else(crate::runtime::default_workers);
        let opts = ReplayOptions {
            inputs: captures,
            eve: EveTarget::File(tmp.clone()),
            workers,
            worker: worker_config(&cfg, ChecksumMode::Auto, None),
        };
        let s = replay(Arc::new(engine), &opts)?;
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
    println!(
        "tune diff: {} alerts from {} signatures",
        input.alerts.len(),
        infos.len()
    );
    print!(
        "{}",
        report::render_diff(&d, &args.tuning[0], &args.tuning[1])
    );
    Ok(ExitCode::SUCCESS)
}

fn run_check(args: CheckArgs) -> Result<ExitCode, String> {
    let cfg = load_config(args.config.as_ref())?;
    let started = Instant::now();
    let (engine, set) = load_engine(&cfg, &args.paths, args.cache_dir.as_ref(), false)?;
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

/// Peak resident set size of this process (Linux `VmHWM`), in KiB.
pub fn peak_rss_kb() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}
