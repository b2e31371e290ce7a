//! The `sekimori` binary: parse flags, set up logging, run.

use std::process::ExitCode;

use clap::Parser;
use tracing_subscriber::EnvFilter;

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_target(false)
        .with_env_filter(
            EnvFilter::try_from_env("SEKIMORI_LOG").unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .init();
    sekimori::cli::run(sekimori::cli::Cli::parse())
}
