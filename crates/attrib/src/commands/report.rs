//! `attrib report`: reads the KPI tables from a batch output folder or ClickHouse's KPI views
//! and writes the self-contained HTML report.

use crate::commands::reconcile::Source;
use crate::files::{parse_csv, read_csv};
use anyhow::{Context, Result};
use attrib_report::{render, Options, ReportData};
use serde::de::DeserializeOwned;
use std::path::Path;

/// The tables the report reads, by batch file stem (= ClickHouse view name).
const KPI_DAILY: &str = "kpi_daily";
const TIME_TO_CONVERSION: &str = "kpi_time_to_conversion";
const TIME_BUCKETS: &str = "kpi_time_to_conversion_buckets";
const PATHS: &str = "kpi_paths";
const RECONCILIATION: &str = "kpi_reconciliation";

fn read_file<T: DeserializeOwned>(dir: &Path, stem: &str) -> Result<Vec<T>> {
    read_csv(&dir.join(format!("{stem}.csv")))
}

async fn read_view<T: DeserializeOwned>(client: &attrib_clickhouse::Client, view: &str) -> Result<Vec<T>> {
    let bytes = attrib_clickhouse::table_csv(client, view).await.with_context(|| format!("querying {view}"))?;
    parse_csv(&bytes, view)
}

/// Reads what the report shows.
pub fn load(source: Source<'_>) -> Result<ReportData> {
    match source {
        Source::Dir(dir) => Ok(ReportData {
            facts: read_file(dir, KPI_DAILY)?,
            time_to_conversion: read_file(dir, TIME_TO_CONVERSION)?,
            time_buckets: read_file(dir, TIME_BUCKETS)?,
            paths: read_file(dir, PATHS)?,
            reconciliation: read_file(dir, RECONCILIATION)?,
            source: dir.display().to_string(),
        }),
        Source::ClickHouse { url, database, access } => crate::service::runtime()?.block_on(async {
            let client = attrib_clickhouse::connect(url, Some(database), &access)?;
            Ok(ReportData {
                facts: read_view(&client, KPI_DAILY).await?,
                time_to_conversion: read_view(&client, TIME_TO_CONVERSION).await?,
                time_buckets: read_view(&client, TIME_BUCKETS).await?,
                paths: read_view(&client, PATHS).await?,
                reconciliation: read_view(&client, RECONCILIATION).await?,
                source: format!("ClickHouse {url}, database {database}"),
            })
        }),
    }
}

/// Writes the report of `source` to `out`.
pub fn write(source: Source<'_>, out: &Path, options: &Options) -> Result<()> {
    let data = load(source)?;
    for m in options.model.iter().chain(&options.compare) {
        anyhow::ensure!(data.facts.iter().any(|f| f.model == m.as_str()), "model {m:?} is not in the KPI tables");
    }
    if let Some(parent) = out.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).with_context(|| format!("creating {}", parent.display()))?;
    }
    std::fs::write(out, render(&data, options)).with_context(|| format!("writing {}", out.display()))
}

#[derive(Debug, clap::Args)]
pub struct Args {
    /// A batch output folder (kpi_daily.csv, kpi_time_to_conversion.csv,
    /// kpi_time_to_conversion_buckets.csv, kpi_paths.csv, kpi_reconciliation.csv).
    #[arg(long, conflicts_with = "clickhouse", required_unless_present = "clickhouse")]
    pub input: Option<std::path::PathBuf>,
    /// Read the service's ClickHouse KPI views instead.
    #[arg(long)]
    pub clickhouse: Option<String>,
    #[arg(long)]
    pub database: Option<String>,
    #[arg(long)]
    pub config: Option<std::path::PathBuf>,
    /// The model the report shows (default: linear when present).
    #[arg(long)]
    pub model: Option<String>,
    /// The model it is compared with, side by side (default: last_touch when present).
    #[arg(long)]
    pub compare: Option<String>,
    #[arg(long, default_value = "report.html")]
    pub out: std::path::PathBuf,
}

pub fn run(args: Args) -> Result<()> {
    let Args { input, clickhouse, database, config, model, compare, out } = args;
    let cfg = crate::config::Config::load(config.as_deref())?;
    let source =
        crate::commands::reconcile::Source::of(input.as_deref(), clickhouse.as_deref(), database.as_deref(), &cfg)?;
    crate::commands::report::write(source, &out, &Options { model, compare })?;
    crate::say!("report written to {}", out.display());
    Ok(())
}
