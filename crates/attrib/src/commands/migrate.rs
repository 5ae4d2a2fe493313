//! `attrib migrate`: Apply the ClickHouse migrations in schemas/clickhouse (idempotent).

use crate::config::Config;
use crate::say;
use anyhow::Result;
use std::path::PathBuf;

#[derive(Debug, clap::Args)]
pub struct Args {
    #[arg(long)]
    pub config: Option<PathBuf>,
    #[arg(long)]
    pub clickhouse: Option<String>,
    #[arg(long)]
    pub database: Option<String>,
    /// Print the result as one JSON object.
    #[arg(long)]
    pub json: bool,
}

pub fn run(args: Args) -> Result<()> {
    let Args { config, clickhouse, database, json } = args;
    let mut cfg = Config::load(config.as_deref())?;
    if let Some(c) = clickhouse {
        cfg.clickhouse.url = c;
    }
    if let Some(d) = database {
        cfg.clickhouse.database = d;
    }
    let report = crate::service::runtime()?.block_on(attrib_clickhouse::migrate(
        &cfg.clickhouse.url,
        &cfg.clickhouse.database,
        &cfg.clickhouse.access(),
        &attrib_clickhouse::Attempts::Once,
    ))?;
    if json {
        let out = serde_json::json!({"database": cfg.clickhouse.database, "applied": report.applied,
            "already_applied": report.already_applied});
        say!("{out}");
    } else {
        say!(
            "database {}: applied {:?}, already applied {:?}",
            cfg.clickhouse.database,
            report.applied,
            report.already_applied
        );
    }
    Ok(())
}
