//! `attrib produce`: Load the JSON Lines files of `generate` into their topics (one message per line).

use crate::config::Config;
use crate::say;
use anyhow::Result;
use std::path::PathBuf;
use std::time::Instant;

#[derive(Debug, clap::Args)]
pub struct Args {
    #[arg(long)]
    pub input: PathBuf,
    #[arg(long)]
    pub brokers: Option<String>,
    #[arg(long)]
    pub config: Option<PathBuf>,
}

pub fn run(args: Args) -> Result<()> {
    let Args { input, brokers, config } = args;
    let mut cfg = Config::load(config.as_deref())?;
    if let Some(b) = brokers {
        cfg.kafka.brokers = b;
    }
    let t = Instant::now();
    let counts = crate::service::runtime()?.block_on(attrib_kafka::produce_files(&cfg.kafka.settings(), &input))?;
    let total: u64 = counts.values().sum();
    for (topic, n) in &counts {
        say!("{topic}: {n}");
    }
    eprintln!("produced {total} messages in {:.1}s", t.elapsed().as_secs_f64());
    Ok(())
}
