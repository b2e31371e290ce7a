//! `sekimori replay`: pcaps through the packet path, EVE out, and the run summary.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Instant;

use clap::Args;

use crate::applayer::{PROTOCOLS, PROTOCOL_COUNT};
use crate::decode::DecodeError;
use crate::detect::Engine;
use crate::output::metrics::{Board, MetricsServer};
use crate::output::OutputReport;
use crate::runtime::worker::{ChecksumMode, WorkerConfig};
use crate::runtime::{replay, ReplayOptions, ReplaySummary};

use super::load::{
    eve_sinks, finish_filestore, finish_pcap, incident_settings, intel_store, load_config,
    load_engine, load_line, load_tuner, not_loaded_summary, rule_counts, start_filestore,
    start_pcap, worker_config, IncidentsIn, RuleLog,
};
use super::{parse_workers, ChecksumArg, OutputArgs};

/// A progress bar on standard error when it is a terminal (files, elapsed, packets, rate).
fn progress_bar() -> Option<indicatif::ProgressBar> {
    use std::io::IsTerminal;
    if !std::io::stderr().is_terminal() {
        return None;
    }
    let pb = indicatif::ProgressBar::new(0);
    let style = indicatif::ProgressStyle::with_template(
        "{spinner} {elapsed_precise} [{bar:30}] {pos}/{len} files  {msg}",
    )
    .ok()?
    .progress_chars("=> ");
    pb.set_style(style);
    pb.enable_steady_tick(std::time::Duration::from_millis(200));
    Some(pb)
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
    /// Metrics, pcap output and rule-load verbosity.
    #[command(flatten)]
    pub out: OutputArgs,
    /// Capture files or directories.
    #[arg(required = true, value_name = "PCAP_OR_DIR")]
    pub inputs: Vec<PathBuf>,
}

pub(super) fn run_replay(args: ReplayArgs) -> Result<ExitCode, String> {
    let cfg = load_config(args.config.as_ref())?;
    let load_started = Instant::now();
    let log = if args.out.verbose {
        RuleLog::Each
    } else {
        RuleLog::Summary
    };
    let (engine, set) = load_engine(&cfg, &args.rules, args.cache_dir.as_ref(), log)?;
    let load_time = load_started.elapsed();
    eprintln!("{}", load_line(&engine, &set, load_time));
    if log == RuleLog::Summary {
        for line in not_loaded_summary(&set, &engine) {
            eprintln!("{line}");
        }
    }
    let waiting: Vec<String> = engine
        .report
        .waiting_by_need()
        .into_iter()
        .map(|(k, n)| format!("{k}: {n}"))
        .collect();
    if !waiting.is_empty() {
        eprintln!("rules waiting, by what they need: {}", waiting.join(", "));
    }
    let sinks = eve_sinks(&cfg, args.eve.as_deref())?;
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
    let intel = intel_store(&cfg)?;
    let incidents = incident_settings(&cfg, tuner.clone(), IncidentsIn::Replay)?;
    let (store, store_tx) = start_filestore(&cfg)?.unzip();
    let (pcap, pcap_tx) = start_pcap(
        &cfg,
        args.out.pcap_out.as_ref(),
        crate::output::Backpressure::Block,
    )?
    .unzip();
    let board = Arc::new(Board::new("replay", workers, rule_counts(&engine, &set)));
    if let Some(i) = &intel {
        board.set_intel(i.clone());
    }
    let metrics = match args.out.metrics.as_ref().or(cfg.metrics.listen.as_ref()) {
        Some(addr) => {
            let server = MetricsServer::start(addr, board.clone())?;
            eprintln!("metrics: http://{}/metrics", server.addr);
            Some(server)
        }
        None => None,
    };
    let bar = progress_bar();
    let mut opts = ReplayOptions {
        inputs: args.inputs,
        incidents,
        sinks,
        workers,
        board: metrics.as_ref().map(|_| board.clone()),
        progress: bar.clone().map(|pb| {
            Box::new(move |done: usize, total: usize, packets: u64| {
                pb.set_length(total as u64);
                pb.set_position(done as u64);
                let rate = packets as f64 / pb.elapsed().as_secs_f64().max(1e-3);
                pb.set_message(format!("{packets} packets, {rate:.0} packets/s"));
            }) as crate::runtime::Progress
        }),
        worker: WorkerConfig {
            ips: args.ips,
            flow_events: args.flow_events || cfg.output.flow.unwrap_or(false),
            filestore: store_tx,
            pcap: pcap_tx,
            intel: intel.clone(),
            ..worker_config(&cfg, checksums, tuner)
        },
    };
    let engine = Arc::new(engine);
    let summary = replay(engine.clone(), &mut opts);
    if let Some(pb) = bar {
        pb.finish_and_clear();
    }
    drop(metrics);
    let summary = summary?;
    print_summary(&engine, &summary, workers);
    if let Some(store) = &intel {
        print_intel(store);
    }
    for s in engine.dataset_stats() {
        eprintln!(
            "dataset {}: {} values (~{:.1} MB), {} adds refused at its memcap",
            s.name,
            s.entries,
            s.bytes as f64 / 1e6,
            s.refused
        );
    }
    for r in engine.save_datasets() {
        match r {
            Ok(s) => eprintln!("{s}"),
            Err(e) => eprintln!("error: {e}"),
        }
    }
    drop(opts);
    finish_filestore(store);
    finish_pcap(pcap);
    if let Some(s) = summary.outputs.local_failure() {
        // Events were lost: that is a failure of the run, whatever else went well.
        return Err(format!(
            "EVE output {}: {} events could not be written",
            s.error.as_deref().unwrap_or("?"),
            s.lost
        ));
    }
    Ok(if summary.files_failed.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(2)
    })
}

pub(super) fn print_summary(engine: &Engine, s: &ReplaySummary, workers: usize) {
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
    if !st.checksum_offload.is_empty() {
        let _ = writeln!(
            err,
            "checksums: offloading assumed for {} of {} captures (most of their first packets had bad checksums), validation off for them",
            st.checksum_offload.len(),
            s.files
        );
    }
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
        "app layer: flows detected {}, {} undetected; transactions {}, {} parser errors, {} stream bytes not parsed, {} encrypted sessions not inspected further, {} announced data connections pushed out of a full table",
        per_proto(&a.detected), a.failed, per_proto(&a.txs), a.parse_errors, a.missed_bytes, a.encrypted, a.expect_evicted
    );
    drop(err);
    print_outputs(&s.outputs);
    let mut err = std::io::stderr().lock();
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
        "limits: {} pcre searches stopped at the match limit, {} rule inspections skipped by backoff, {} http header blocks cut, {} flows evicted from full tables, {} packets without room for a flow, {} fragments refused, {} segments over the stream memcap, {} parses skipped at the app-layer memcap, {} transactions over a flow's limit, {} files over a transaction's limit, {} app-layer bytes cut at a parser's limit, {} hosts untracked by full analytics tables",
        st.pcre_limit_hits, st.backoff_skips, st.app.header_limit_hits, st.flow.evicted, st.flow.no_room, st.defrag.refused, st.stream_memcap, st.app.memcap_skips, st.app.tx_limit_hits, st.app.files_over_limit, st.app.data_cut, st.analytics_untracked
    );
}

/// One line per sink: what it wrote, dropped and lost.
pub(super) fn print_outputs(o: &OutputReport) {
    let mut err = std::io::stderr().lock();
    if let Some(c) = &o.incidents {
        let _ = writeln!(
            err,
            "incidents: {} alerts -> {} incidents ({} escalations, {} closed early by the open-incident cap) -> {} notifications ({} held back by the hourly cap){}",
            c.alerts,
            c.opened,
            c.escalations,
            c.evicted,
            c.notifications,
            c.capped,
            if c.unreadable > 0 {
                format!(", {} alert lines unreadable", c.unreadable)
            } else {
                String::new()
            }
        );
    }
    for s in &o.sinks {
        let _ = write!(
            err,
            "eve: {} events written to {} {}",
            s.written, s.kind, s.target
        );
        if s.kind == "file" || s.kind == "stdout" {
            let _ = write!(err, ", {} lost to write errors", s.lost);
        } else {
            let _ = write!(
                err,
                ", {} dropped at a full queue, {} refused, {} reconnects",
                s.dropped, s.lost, s.reconnects
            );
        }
        match &s.error {
            Some(e) if s.dropped + s.lost > 0 || s.kind != "file" => {
                let _ = writeln!(err, " (first error: {e})");
            }
            _ => {
                let _ = writeln!(err);
            }
        }
    }
}

/// One line per intel list: indicators and the alerts it raised.
pub(super) fn print_intel(store: &crate::detect::intel::Store) {
    for s in store.stats() {
        eprintln!(
            "intel {}: {} {} indicators ({} added at runtime), {} alerts, {} rejected, {} expired, ~{:.1} MB",
            s.name,
            s.indicators,
            s.kind,
            s.runtime_adds,
            s.hits,
            s.rejects,
            s.expired,
            s.bytes as f64 / 1e6
        );
    }
}
