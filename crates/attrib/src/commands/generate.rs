//! `attrib generate`: Generate a realistic synthetic dataset in the wire format, one JSON Lines file per topic.

use crate::exit::Usage;
use crate::files;
use anyhow::{Context, Result};
use attrib_contract::{Date, Topic};
use attrib_generator::{generate, GenParams};
use std::path::{Path, PathBuf};
use std::time::Instant;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Folder to write the `<topic>.jsonl` files into.
    #[arg(long)]
    pub out: PathBuf,
    /// Number of people to simulate.
    #[arg(long, default_value_t = 2_000)]
    pub people: u64,
    /// Random seed: the same seed gives the same data.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Days the dataset spans.
    #[arg(long, default_value_t = 90)]
    pub days: u32,
    /// First day, YYYY-MM-DD.
    #[arg(long, default_value = "2026-06-01")]
    pub start: String,
    /// Leave out the deliberately malformed and duplicate records.
    #[arg(long)]
    pub no_faults: bool,
}

pub fn run(args: Args) -> Result<()> {
    let Args { out, people, seed, days, start, no_faults } = args;
    let start = Date::parse(&start).ok_or_else(|| Usage(format!("--start {start:?} is not YYYY-MM-DD")))?;
    if days < 14 {
        return Err(Usage("--days must be at least 14".into()).into());
    }
    let params = GenParams { people, seed, start, days, faults: !no_faults };
    let t = Instant::now();
    let n = write_dataset(&params, &out)?;
    eprintln!("generated {n} records for {people} people in {:.1}s into {}", t.elapsed().as_secs_f64(), out.display());
    Ok(())
}

pub(crate) fn write_dataset(params: &GenParams, out: &Path) -> Result<usize> {
    let data = generate(params);
    std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    for topic in Topic::ALL {
        files::write_lines(&out.join(format!("{}.jsonl", topic.as_str())), &data.lines[topic])?;
    }
    Ok(data.total_lines())
}
