//! `attrib demo`: The embedded default: generate a sample (or read --input), attribute in process, print KPIs.

use super::threads;
use crate::config::Config;
use crate::exit::CheckFailed;
use crate::{batch, report, say};
use anyhow::Result;
use attrib_generator::GenParams;
use std::path::{Path, PathBuf};
use std::time::Instant;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Read this folder instead of generating a sample.
    #[arg(long)]
    pub input: Option<PathBuf>,
    /// Where to write the outputs.
    #[arg(long, default_value = "attrib-demo-output")]
    pub output: PathBuf,
    #[arg(long, default_value_t = 5_000)]
    pub people: u64,
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    #[arg(long)]
    pub config: Option<PathBuf>,
}

pub fn run(args: Args) -> Result<()> {
    let Args { input, output, people, seed, config } = args;
    demo(input, &output, people, seed, config.as_deref())
}

fn demo(input: Option<PathBuf>, output: &Path, people: u64, seed: u64, config: Option<&Path>) -> Result<()> {
    let config = Config::load(config)?;
    let started = Instant::now();
    let generated = input.is_none().then_some(people);
    let input = match input {
        Some(dir) => {
            say!("attrib demo: reading {}", dir.display());
            dir
        }
        None => {
            let dir = output.join("input");
            let n = super::generate::write_dataset(&GenParams { people, seed, ..GenParams::default() }, &dir)?;
            say!("attrib demo: generated {n} records for {people} people (seed {seed}) into {}", dir.display());
            dir
        }
    };
    let mut run = batch::run(&input, &config, threads(None), Some(output))?;
    batch::write(&mut run, output)?;
    crate::exit::print(&report::summary(&run, generated))?;
    let html = output.join("report.html");
    let data = attrib_report::ReportData {
        facts: run.facts.clone(),
        time_to_conversion: run.totals.time_to_conversion(),
        time_buckets: run.totals.time_to_conversion_buckets(),
        paths: run.totals.paths(),
        reconciliation: run.totals.ledger_reconciliation(),
        source: input.display().to_string(),
    };
    std::fs::write(&html, attrib_report::render(&data, &attrib_report::Options::default()))?;
    say!(
        "\nOutputs in {}: credits.csv, conversions.csv, pipeline.csv, kpi_daily.csv, kpi_campaigns.csv, kpi_posts.csv, \
         kpi_paths.csv, kpi_time_to_conversion.csv, kpi_time_to_conversion_buckets.csv, kpi_reconciliation.csv, spend.csv, deals.csv, rejected.jsonl, summary.json",
        output.display()
    );
    say!("Report (open in a browser): {}", html.display());
    say!("Done in {:.1}s.", started.elapsed().as_secs_f64());
    if !run.reconciliation.iter().all(|r| r.difference_minor == 0) {
        return Err(CheckFailed("credits do not reconcile to revenue".into()).into());
    }
    Ok(())
}
