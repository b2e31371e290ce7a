//! `sekimori incidents`: the funnel and incident list from EVE files, in the terminal or as a
//! self-contained HTML report.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use clap::Args;

use crate::incident::{page, report};
use crate::tune::Tuner;

use super::load::{incident_settings, load_config, IncidentsIn};

/// `incidents` flags.
#[derive(Debug, Args)]
pub struct IncidentsArgs {
    /// TOML configuration (HOME_NET, classification table, tuning files).
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Tuning files: their [incidents] and [notify] policy and asset inventory (repeatable;
    /// added to the config's).
    #[arg(long = "tuning", value_name = "FILE")]
    pub tuning: Vec<PathBuf>,
    /// Write the report as one HTML page.
    #[arg(long, value_name = "FILE")]
    pub html: Option<PathBuf>,
    /// Incidents listed in the terminal, and signatures in the HTML table.
    #[arg(long, default_value_t = 20)]
    pub top: usize,
    /// EVE files, read in order (alerts are regrouped under the given policy).
    #[arg(required = true, value_name = "EVE")]
    pub inputs: Vec<PathBuf>,
}

pub(super) fn run_incidents(args: IncidentsArgs) -> Result<ExitCode, String> {
    let cfg = load_config(args.config.as_ref())?;
    let files: Vec<PathBuf> = cfg
        .tuning
        .files
        .iter()
        .chain(&args.tuning)
        .cloned()
        .collect();
    // Signatures are not needed: only the policy and the assets are used here.
    let tuner = if files.is_empty() {
        None
    } else {
        Some(Arc::new(Tuner::load(&files, &[], &cfg.vars())?))
    };
    let policy = tuner
        .as_ref()
        .map(|t| t.incidents.clone())
        .unwrap_or_default();
    let mut settings = incident_settings(&cfg, tuner, IncidentsIn::Report)?
        .ok_or("incidents are turned off in the tuning ([incidents] enabled = false)")?;
    settings.keep_closed = true;
    let outcome = report::run(&args.inputs, settings)?;
    if outcome.input_incident_events > 0 {
        eprintln!(
            "incidents: the input holds {} incident events from the sensor; the alerts are regrouped here under the given policy",
            outcome.input_incident_events
        );
    }
    super::say(format_args!(
        "{}",
        report::render_terminal(&outcome, args.top)
    ))?;
    if let Some(path) = &args.html {
        let html = page::render(&outcome, &policy, args.top);
        std::fs::write(path, html).map_err(|e| format!("{}: {e}", path.display()))?;
        super::say(format_args!("HTML report written to {}\n", path.display()))?;
    }
    Ok(ExitCode::SUCCESS)
}
