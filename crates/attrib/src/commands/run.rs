//! `attrib run`: The streaming service: consume the topics, attribute, write ClickHouse, commit offsets.

use crate::config::Config;
use anyhow::Result;
use std::path::PathBuf;

#[derive(Debug, clap::Args)]
pub struct Args {
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Kafka bootstrap servers (overrides kafka.brokers).
    #[arg(long)]
    pub brokers: Option<String>,
    /// ClickHouse HTTP URL (overrides clickhouse.url).
    #[arg(long)]
    pub clickhouse: Option<String>,
    /// ClickHouse database (overrides clickhouse.database).
    #[arg(long)]
    pub database: Option<String>,
    /// Consumer group (overrides kafka.group).
    #[arg(long)]
    pub group: Option<String>,
    /// Exit 0 once every partition reached the high watermark seen at start and all is written and committed.
    #[arg(long)]
    pub stop_when_caught_up: bool,
}

pub fn run(args: Args) -> Result<()> {
    let Args { config, brokers, clickhouse, database, group, stop_when_caught_up } = args;
    let mut cfg = Config::load(config.as_deref())?;
    if let Some(b) = brokers {
        cfg.kafka.brokers = b;
    }
    if let Some(c) = clickhouse {
        cfg.clickhouse.url = c;
    }
    if let Some(d) = database {
        cfg.clickhouse.database = d;
    }
    if let Some(g) = group {
        cfg.kafka.group = g;
    }
    crate::service::run(cfg, stop_when_caught_up)
}
