//! Command line: flags are parsed here and turned into configured runtime objects.

use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};

use crate::runtime::live;

mod incidents;
mod load;
mod replay;
mod rules;
mod run;
mod tune;

use incidents::run_incidents;
pub use incidents::IncidentsArgs;
use replay::run_replay;
pub use replay::ReplayArgs;
use rules::run_check;
pub use rules::{CheckArgs, RulesCommand};
use run::run_live_cmd;
pub use run::{CtlArgs, RunArgs};
use tune::{run_tune_diff, run_tune_report};
pub use tune::{DiffArgs, ReportArgs, TuneCommand};

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
    /// Send a command to a running sensor: reload, reopen, stats, shutdown, reload-intel,
    /// intel stats|add|remove.
    Ctl(CtlArgs),
    /// Rule pack tools.
    Rules {
        /// Rules subcommand.
        #[command(subcommand)]
        command: RulesCommand,
    },
    /// Group the alerts of EVE files into incidents: the funnel (alerts, incidents,
    /// notifications) and the incident list, or an HTML report.
    Incidents(IncidentsArgs),
    /// Severity tuning tools: measure signatures on real traffic, compare tunings.
    Tune {
        /// Tune subcommand.
        #[command(subcommand)]
        command: TuneCommand,
    },
}

/// `--workers`: a number from 1 to [`crate::runtime::MAX_WORKERS`].
fn parse_workers(s: &str) -> Result<usize, String> {
    let n: usize = s.parse().map_err(|_| format!("'{s}' is not a number"))?;
    crate::runtime::check_workers(n)
}

/// Output flags `replay` and `run` share.
#[derive(Debug, clap::Args)]
pub struct OutputArgs {
    /// Serve Prometheus metrics on this address (overrides metrics.listen), e.g.
    /// 127.0.0.1:9917.
    #[arg(long, value_name = "ADDR:PORT")]
    pub metrics: Option<String>,
    /// Log every rule that does not load (default: one line per reason).
    #[arg(long, short = 'v')]
    pub verbose: bool,
    /// Write the frames of every flow that raised an alert to rotating pcap files in this
    /// directory (or [output.pcap] in config).
    #[arg(long, value_name = "DIR")]
    pub pcap_out: Option<std::path::PathBuf>,
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

/// Runs a parsed command line.
pub fn run(cli: Cli) -> ExitCode {
    let result = match cli.command {
        Command::Replay(args) => run_replay(args),
        Command::Rules {
            command: RulesCommand::Check(args),
        } => run_check(args),
        Command::Run(args) => run_live_cmd(args),
        Command::Incidents(args) => run_incidents(args),
        Command::Ctl(args) => match live::control(&args.socket, &args.command.join(" ")) {
            Ok(answer) => say(format_args!("{answer}\n")).map(|()| {
                if answer.starts_with("ok") {
                    ExitCode::SUCCESS
                } else {
                    ExitCode::from(1)
                }
            }),
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

/// Peak resident set size of this process (Linux `VmHWM`), in KiB.
pub fn peak_rss_kb() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// Writes report text to standard output. A reader that went away (`| head`) ends the
/// command quietly with success, as Unix tools do; other write errors are errors.
pub(crate) fn say(args: std::fmt::Arguments<'_>) -> Result<(), String> {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    match out.write_fmt(args).and_then(|()| out.flush()) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => std::process::exit(0),
        Err(e) => Err(format!("standard output: {e}")),
    }
}
