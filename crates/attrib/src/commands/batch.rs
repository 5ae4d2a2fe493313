//! `attrib batch`: Run the whole engine over a folder of JSON Lines files and write the ledger and KPIs.

use super::threads;
use crate::config::Config;
use crate::exit::CheckFailed;
use crate::{batch, report};
use anyhow::Result;
use std::path::{Path, PathBuf};
use std::time::Instant;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Folder with `<topic>.jsonl` files (or `<topic>/` folders of them).
    #[arg(long)]
    pub input: PathBuf,
    /// Folder for credits.csv, conversions.csv, rejected.jsonl, KPI summaries.
    #[arg(long)]
    pub output: PathBuf,
    /// TOML configuration (environment `ATTRIB_…` overrides apply).
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Worker threads (default: available cores).
    #[arg(long)]
    pub threads: Option<usize>,
    /// Also print the human-readable summary.
    #[arg(long)]
    pub summary: bool,
}

pub fn run(args: Args) -> Result<()> {
    let Args { input, output, config, threads: th, summary } = args;
    let config = Config::load(config.as_deref())?;
    let t = Instant::now();
    let mut run = batch::run(&input, &config, threads(th), Some(&output))?;
    let written = batch::write(&mut run, &output)?;
    if summary {
        crate::exit::print(&report::summary(&run, None))?;
    }
    let records: u64 = run.engine.counts().values().map(|c| c.received).sum();
    eprintln!(
        "attributed {} conversions from {records} records ({} rejected) in {:.1}s; wrote {}",
        run.totals.conversions(),
        run.rejected.len(),
        t.elapsed().as_secs_f64(),
        written.first().and_then(|p| p.parent()).unwrap_or(Path::new(".")).display()
    );
    let balanced = run.reconciliation.iter().all(|r| r.difference_minor == 0);
    // The process ends here: the OS takes the state back at once, where dropping it would
    // free millions of blocks one by one (as rustc and ripgrep leave theirs at exit).
    std::mem::forget(run);
    if !balanced {
        return Err(CheckFailed("credits do not reconcile to revenue: see reconciliation.csv".into()).into());
    }
    Ok(())
}
