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
use crate::output::EveTarget;
use crate::runtime::worker::{ChecksumMode, WorkerConfig};
use crate::runtime::{replay, ReplayOptions, ReplaySummary};

use super::load::{
    finish_filestore, load_config, load_engine, load_line, load_tuner, start_filestore,
    worker_config,
};
use super::{parse_workers, ChecksumArg};

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

pub(super) fn run_replay(args: ReplayArgs) -> Result<ExitCode, String> {
    let cfg = load_config(args.config.as_ref())?;
    let load_started = Instant::now();
    let (engine, set) = load_engine(&cfg, &args.rules, args.cache_dir.as_ref(), true)?;
    let load_time = load_started.elapsed();
    eprintln!("{}", load_line(&engine, &set, load_time));
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
    let (store, store_tx) = start_filestore(&cfg)?.unzip();
    let opts = ReplayOptions {
        inputs: args.inputs,
        eve: eve.clone(),
        workers,
        worker: WorkerConfig {
            ips: args.ips,
            flow_events: args.flow_events || cfg.output.flow.unwrap_or(false),
            filestore: store_tx,
            ..worker_config(&cfg, checksums, tuner)
        },
    };
    let engine = Arc::new(engine);
    let summary = replay(engine.clone(), &opts)?;
    print_summary(&engine, &summary, &eve, workers);
    drop(opts);
    finish_filestore(store);
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

pub(super) fn print_summary(engine: &Engine, s: &ReplaySummary, eve: &EveTarget, workers: usize) {
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
        "app layer: flows detected {}, {} undetected; transactions {}, {} parser errors, {} stream bytes not parsed, {} encrypted sessions not inspected further, {} announced data connections pushed out of a full table",
        per_proto(&a.detected), a.failed, per_proto(&a.txs), a.parse_errors, a.missed_bytes, a.encrypted, a.expect_evicted
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
        "limits: {} pcre searches stopped at the match limit, {} rule inspections skipped by backoff, {} http header blocks cut, {} flows evicted from full tables, {} packets without room for a flow, {} fragments refused, {} segments over the stream memcap, {} parses skipped at the app-layer memcap, {} transactions over a flow's limit, {} files over a transaction's limit, {} app-layer bytes cut at a parser's limit",
        st.pcre_limit_hits, st.backoff_skips, st.app.header_limit_hits, st.flow.evicted, st.flow.no_room, st.defrag.refused, st.stream_memcap, st.app.memcap_skips, st.app.tx_limit_hits, st.app.files_over_limit, st.app.data_cut
    );
}
