//! `sekimori run` (live capture, passive or inline) and `sekimori ctl` (its control socket).

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;

use crate::output::EveTarget;
use crate::runtime::live;
use crate::runtime::worker::{ChecksumMode, WorkerConfig};

use super::load::{finish_filestore, load_config, load_detection, start_filestore, worker_config};
use super::{parse_workers, ChecksumArg};

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

pub(super) fn run_live_cmd(args: RunArgs) -> Result<ExitCode, String> {
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
    let (store, store_tx) = start_filestore(&cfg)?.unzip();
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
            filestore: store_tx,
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
    drop(opts);
    finish_filestore(store);
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
