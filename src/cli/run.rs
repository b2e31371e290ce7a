//! `sekimori run` (live capture, passive or inline) and `sekimori ctl` (its control socket).

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use clap::Args;

use crate::output::metrics::{Board, MetricsServer};
use crate::runtime::live;
use crate::runtime::worker::{ChecksumMode, WorkerConfig};

use super::load::{
    eve_sinks, finish_filestore, finish_pcap, incident_settings, intel_store, load_config,
    load_detection, start_filestore, start_pcap, worker_config, IncidentsIn, RuleLog,
};
use super::replay::print_outputs;
use super::{parse_workers, ChecksumArg, OutputArgs};

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
    /// Metrics, pcap output and rule-load verbosity.
    #[command(flatten)]
    pub out: OutputArgs,
}

/// `ctl` flags.
#[derive(Debug, Args)]
pub struct CtlArgs {
    /// The sensor's control socket.
    #[arg(long, default_value = "/run/sekimori/control.sock")]
    pub socket: PathBuf,
    /// reload, reopen, stats, shutdown, reload-intel, intel stats,
    /// intel add NAME VALUE [--expire SECONDS], intel remove NAME VALUE.
    #[arg(required = true, num_args = 1.., trailing_var_arg = true, allow_hyphen_values = true)]
    pub command: Vec<String>,
}

pub(super) fn run_live_cmd(args: RunArgs) -> Result<ExitCode, String> {
    let cfg = load_config(args.config.as_ref())?;
    let log = if args.out.verbose {
        RuleLog::Each
    } else {
        RuleLog::Summary
    };
    let first = load_detection(
        args.config.as_ref(),
        &args.rules,
        &args.tuning,
        args.cache_dir.as_ref(),
        false,
        log,
    )?;
    let interfaces = if args.interfaces.is_empty() {
        cfg.capture.interfaces.clone()
    } else {
        args.interfaces.clone()
    };
    let ips = args.ips || cfg.capture.mode == Some(crate::config::CaptureMode::Ips);
    let sinks = eve_sinks(&cfg, args.eve.as_deref())?;
    let checksums = match args.checksum_checks {
        ChecksumArg::Auto => ChecksumMode::Auto,
        ChecksumArg::Yes => ChecksumMode::Yes,
        ChecksumArg::No => ChecksumMode::No,
    };
    let intel = intel_store(&cfg)?;
    let (store, store_tx) = start_filestore(&cfg)?.unzip();
    let (pcap, pcap_tx) = start_pcap(
        &cfg,
        args.out.pcap_out.as_ref(),
        crate::output::Backpressure::Drop,
    )?
    .unzip();
    let mut opts = live::LiveOptions {
        interfaces,
        ips,
        bpf: args.bpf.clone().or_else(|| cfg.capture.bpf.clone()),
        snaplen: cfg.capture.snaplen.unwrap_or(65535) as i32,
        workers: args
            .workers
            .or(cfg.runtime.workers)
            .unwrap_or_else(crate::runtime::default_workers),
        sinks,
        worker: WorkerConfig {
            flow_events: cfg.output.flow.unwrap_or(false),
            filestore: store_tx,
            pcap: pcap_tx,
            intel: intel.clone(),
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
        fanout_hash: cfg.capture.fanout.unwrap_or_default(),
        user: cfg.service.user.clone(),
        group: cfg.service.group.clone(),
        board: None,
        incidents: incident_settings(&cfg, first.tuner.clone(), IncidentsIn::Live)?,
    };
    let metrics = match args.out.metrics.as_ref().or(cfg.metrics.listen.as_ref()) {
        Some(addr) => {
            let board = Arc::new(Board::new("live", opts.workers, first.rules));
            if let Some(i) = &intel {
                board.set_intel(i.clone());
            }
            let server = MetricsServer::start(addr, board.clone())?;
            eprintln!("metrics: http://{}/metrics", server.addr);
            opts.board = Some(board);
            Some(server)
        }
        None => None,
    };
    let mut reload = || {
        let mut d = load_detection(
            args.config.as_ref(),
            &args.rules,
            &args.tuning,
            args.cache_dir.as_ref(),
            true,
            log,
        )?;
        // The lists follow the config too (a list added needs its signature, which came
        // with the engine just built). A sensor started without intel gets none on reload.
        let cfg = load_config(args.config.as_ref())?;
        if let Some(store) = &intel {
            let (specs, rep) = cfg.intel_specs()?;
            store.configure(specs, rep)?;
        }
        // The incident policy follows the tuning files as they are now.
        d.incidents = incident_settings(&cfg, d.tuner.clone(), IncidentsIn::Live)?;
        Ok(d)
    };
    let s = live::run_live(first, &mut reload, &mut opts)?;
    drop(opts);
    drop(metrics);
    finish_filestore(store);
    finish_pcap(pcap);
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
        s.outputs.lines()
    );
    print_outputs(&s.outputs);
    Ok(ExitCode::SUCCESS)
}
