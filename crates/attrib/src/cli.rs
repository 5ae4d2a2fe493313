//! The command line.

use crate::exit::{CheckFailed, Usage};
use crate::{batch, config::Config, files, report, say};
use anyhow::{Context, Result};
use attrib_contract::{Date, Topic};
use attrib_generator::{generate, GenParams};
use attrib_models::{MarkovParams, PathModel};
use clap::{Parser, Subcommand};
use std::path::{Path, PathBuf};
use std::time::Instant;

#[derive(Debug, Parser)]
#[command(name = "attrib", version, about = "Social-to-CRM attribution: which social activity produced revenue")]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Generate a realistic synthetic dataset in the wire format, one JSON Lines file per topic.
    Generate {
        /// Folder to write the `<topic>.jsonl` files into.
        #[arg(long)]
        out: PathBuf,
        /// Number of people to simulate.
        #[arg(long, default_value_t = 2_000)]
        people: u64,
        /// Random seed: the same seed gives the same data.
        #[arg(long, default_value_t = 42)]
        seed: u64,
        /// Days the dataset spans.
        #[arg(long, default_value_t = 90)]
        days: u32,
        /// First day, YYYY-MM-DD.
        #[arg(long, default_value = "2026-06-01")]
        start: String,
        /// Leave out the deliberately malformed and duplicate records.
        #[arg(long)]
        no_faults: bool,
    },
    /// Run the whole engine over a folder of JSON Lines files and write the ledger and KPIs.
    Batch {
        /// Folder with `<topic>.jsonl` files (or `<topic>/` folders of them).
        #[arg(long)]
        input: PathBuf,
        /// Folder for credits.csv, conversions.csv, rejected.jsonl, KPI summaries.
        #[arg(long)]
        output: PathBuf,
        /// TOML configuration (environment `ATTRIB_…` overrides apply).
        #[arg(long)]
        config: Option<PathBuf>,
        /// Worker threads (default: available cores).
        #[arg(long)]
        threads: Option<usize>,
        /// Also print the human-readable summary.
        #[arg(long)]
        summary: bool,
    },
    /// The embedded default: generate a sample (or read --input), attribute in process, print KPIs.
    Demo {
        /// Read this folder instead of generating a sample.
        #[arg(long)]
        input: Option<PathBuf>,
        /// Where to write the outputs.
        #[arg(long, default_value = "attrib-demo-output")]
        output: PathBuf,
        #[arg(long, default_value_t = 5_000)]
        people: u64,
        #[arg(long, default_value_t = 42)]
        seed: u64,
        #[arg(long)]
        config: Option<PathBuf>,
    },
    /// Path-level attribution over ChannelAttribution's CSV input (path, total_conversions, ...).
    Paths {
        /// CSV with a path column ("a > b > c") and conversion counts; `;` or `,` delimited.
        #[arg(long)]
        input: PathBuf,
        /// Only this model: first, last, linear, markov, shapley (default: all).
        #[arg(long)]
        model: Option<String>,
        /// Markov order (states are k-tuples of channels).
        #[arg(long, default_value_t = 1)]
        order: usize,
        /// Collapse consecutive repeats of a channel before the Markov fit.
        #[arg(long)]
        collapse_repeats: bool,
        /// Separator between channels in a path.
        #[arg(long, default_value = ">")]
        sep: String,
        #[arg(long, value_enum, default_value = "table")]
        format: crate::paths_cmd::OutputFormat,
        #[arg(long, default_value = "path")]
        path_column: String,
        #[arg(long, default_value = "total_conversions")]
        conversions_column: String,
        #[arg(long, default_value = "total_conversion_value")]
        value_column: String,
        #[arg(long, default_value = "total_null")]
        null_column: String,
    },
    /// The streaming service: consume the topics, attribute, write ClickHouse, commit offsets.
    Run {
        #[arg(long)]
        config: Option<PathBuf>,
        /// Kafka bootstrap servers (overrides kafka.brokers).
        #[arg(long)]
        brokers: Option<String>,
        /// ClickHouse HTTP URL (overrides clickhouse.url).
        #[arg(long)]
        clickhouse: Option<String>,
        /// ClickHouse database (overrides clickhouse.database).
        #[arg(long)]
        database: Option<String>,
        /// Consumer group (overrides kafka.group).
        #[arg(long)]
        group: Option<String>,
        /// Exit 0 once every partition reached the high watermark seen at start and all is written and committed.
        #[arg(long)]
        stop_when_caught_up: bool,
    },
    /// Finance reconciliation for one month: CRM closed-won revenue against every model's
    /// credits, per currency and in the reporting currency; exit code 1 unless all differences are 0.
    Reconcile {
        /// The month, YYYY-MM.
        #[arg(long)]
        month: String,
        /// A batch output folder (credits.csv, deals.csv, fx_rates.csv).
        #[arg(long, conflicts_with = "clickhouse", required_unless_present = "clickhouse")]
        input: Option<PathBuf>,
        /// Read the service's ClickHouse tables instead.
        #[arg(long)]
        clickhouse: Option<String>,
        #[arg(long)]
        database: Option<String>,
        #[arg(long)]
        config: Option<PathBuf>,
        /// Print JSON instead of the table.
        #[arg(long)]
        json: bool,
    },
    /// Write the self-contained HTML report (inline SVG charts, no network) of a batch output
    /// folder or of the service's ClickHouse KPI views.
    Report {
        /// A batch output folder (kpi_daily.csv, kpi_time_to_conversion.csv, kpi_reconciliation.csv).
        #[arg(long, conflicts_with = "clickhouse", required_unless_present = "clickhouse")]
        input: Option<PathBuf>,
        /// Read the service's ClickHouse KPI views instead.
        #[arg(long)]
        clickhouse: Option<String>,
        #[arg(long)]
        database: Option<String>,
        #[arg(long)]
        config: Option<PathBuf>,
        /// The model the report shows (default: linear when present).
        #[arg(long)]
        model: Option<String>,
        #[arg(long, default_value = "report.html")]
        out: PathBuf,
    },
    /// Apply the ClickHouse migrations in schemas/clickhouse (idempotent).
    Migrate {
        #[arg(long)]
        config: Option<PathBuf>,
        #[arg(long)]
        clickhouse: Option<String>,
        #[arg(long)]
        database: Option<String>,
        /// Print the result as one JSON object.
        #[arg(long)]
        json: bool,
    },
    /// Load the JSON Lines files of `generate` into their topics (one message per line).
    Produce {
        #[arg(long)]
        input: PathBuf,
        #[arg(long)]
        brokers: Option<String>,
        #[arg(long)]
        config: Option<PathBuf>,
    },
    /// Run a source connector (hubspot, ecb): pulls the vendor API incrementally on a schedule
    /// (or once) and publishes contract records to the topics, or to JSON Lines with --output.
    Connect {
        /// hubspot | ecb
        name: String,
        #[arg(long)]
        config: Option<PathBuf>,
        /// One pass, then exit (non-zero if it failed).
        #[arg(long)]
        once: bool,
        /// Append JSON Lines files (`<topic>.jsonl`) under DIR instead of publishing to Kafka.
        #[arg(long)]
        output: Option<PathBuf>,
        /// Where cursor files live (default: connectors.state_dir).
        #[arg(long)]
        state_dir: Option<PathBuf>,
        #[arg(long)]
        brokers: Option<String>,
        /// Serve Prometheus metrics on this address (e.g. 0.0.0.0:9465).
        #[arg(long)]
        metrics_listen: Option<String>,
        /// With --once: print the pass's result as one JSON object.
        #[arg(long, requires = "once")]
        json: bool,
    },
    /// Probe a health endpoint of a running service (the container's HEALTHCHECK): exit 0 on a
    /// 200 answer within `--timeout-secs`, 1 otherwise.
    Healthcheck {
        #[arg(long, default_value = "http://127.0.0.1:9464/healthz")]
        url: String,
        #[arg(long, default_value_t = 3)]
        timeout_secs: u64,
    },
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell) for `attrib`.
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Print the manual page (roff) of `attrib`, or write one page per command into --out.
    Man {
        /// A folder for attrib.1 and attrib-<command>.1.
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Check a configuration (and optionally sample events) without running anything.
    Validate {
        #[arg(long)]
        config: Option<PathBuf>,
        /// A folder of JSON Lines files to decode and report on.
        #[arg(long)]
        input: Option<PathBuf>,
        /// Exit 1 when any record of --input is rejected.
        #[arg(long)]
        strict: bool,
        /// Print the result as one JSON object.
        #[arg(long)]
        json: bool,
    },
}

fn threads(requested: Option<usize>) -> usize {
    requested.unwrap_or_else(|| std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1)).max(1)
}

pub fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Generate { out, people, seed, days, start, no_faults } => {
            let start = Date::parse(&start).ok_or_else(|| Usage(format!("--start {start:?} is not YYYY-MM-DD")))?;
            if days < 14 {
                return Err(Usage("--days must be at least 14".into()).into());
            }
            let params = GenParams { people, seed, start, days, faults: !no_faults };
            let t = Instant::now();
            let n = write_dataset(&params, &out)?;
            eprintln!(
                "generated {n} records for {people} people in {:.1}s into {}",
                t.elapsed().as_secs_f64(),
                out.display()
            );
            Ok(())
        }
        Command::Batch { input, output, config, threads: th, summary } => {
            let config = Config::load(config.as_deref())?;
            let t = Instant::now();
            let mut run = batch::run(&input, &config, threads(th))?;
            let written = batch::write(&mut run, &output)?;
            if summary {
                crate::exit::print(&report::summary(&run))?;
            }
            let records: u64 = run.engine.counts().values().map(|c| c.received).sum();
            eprintln!(
                "attributed {} conversions from {records} records ({} rejected) in {:.1}s; wrote {}",
                run.ledger.conversions.len(),
                run.rejected.len(),
                t.elapsed().as_secs_f64(),
                written.first().and_then(|p| p.parent()).unwrap_or(Path::new(".")).display()
            );
            if !run.reconciliation.iter().all(|r| r.difference_minor == 0) {
                return Err(CheckFailed("credits do not reconcile to revenue: see reconciliation.csv".into()).into());
            }
            Ok(())
        }
        Command::Demo { input, output, people, seed, config } => demo(input, &output, people, seed, config.as_deref()),
        Command::Paths {
            input,
            model,
            order,
            collapse_repeats,
            sep,
            format,
            path_column,
            conversions_column,
            value_column,
            null_column,
        } => {
            let models = match model {
                Some(m) => vec![PathModel::parse(&m).ok_or_else(|| {
                    Usage(format!("unknown model {m:?} (expected first, last, linear, markov or shapley)"))
                })?],
                None => PathModel::ALL.to_vec(),
            };
            if sep.is_empty() {
                return Err(Usage("--sep must not be empty".into()).into());
            }
            let options = crate::paths_cmd::PathsOptions {
                models,
                markov: MarkovParams { order, collapse_repeats },
                separator: sep,
                path_column,
                conversions_column,
                value_column,
                null_column,
                format,
            };
            crate::exit::print(&crate::paths_cmd::run(&input, &options)?)?;
            Ok(())
        }
        Command::Run { config, brokers, clickhouse, database, group, stop_when_caught_up } => {
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
        Command::Reconcile { month, input, clickhouse, database, config, json } => {
            let cfg = Config::load(config.as_deref())?;
            let source =
                crate::reconcile_cmd::Source::of(input.as_deref(), clickhouse.as_deref(), database.as_deref(), &cfg)?;
            let r = crate::reconcile_cmd::reconcile(&month, source, &cfg)?;
            if json {
                say!("{}", serde_json::to_string_pretty(&r)?);
            } else {
                crate::exit::print(&crate::reconcile_cmd::render(&r))?;
            }
            if !r.balanced() {
                return Err(CheckFailed(format!("reconciliation for {month} does not balance")).into());
            }
            Ok(())
        }
        Command::Report { input, clickhouse, database, config, model, out } => {
            let cfg = Config::load(config.as_deref())?;
            let source =
                crate::reconcile_cmd::Source::of(input.as_deref(), clickhouse.as_deref(), database.as_deref(), &cfg)?;
            crate::report_cmd::write(source, &out, model.as_deref())?;
            say!("report written to {}", out.display());
            Ok(())
        }
        Command::Migrate { config, clickhouse, database, json } => {
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
                &cfg.clickhouse.tls(),
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
        Command::Produce { input, brokers, config } => {
            let mut cfg = Config::load(config.as_deref())?;
            if let Some(b) = brokers {
                cfg.kafka.brokers = b;
            }
            let t = Instant::now();
            let counts =
                crate::service::runtime()?.block_on(attrib_kafka::produce_files(&cfg.kafka.settings(), &input))?;
            let total: u64 = counts.values().sum();
            for (topic, n) in &counts {
                say!("{topic}: {n}");
            }
            eprintln!("produced {total} messages in {:.1}s", t.elapsed().as_secs_f64());
            Ok(())
        }
        Command::Connect { name, config, once, output, state_dir, brokers, metrics_listen, json } => {
            let mut cfg = Config::load(config.as_deref())?;
            if let Some(b) = brokers {
                cfg.kafka.brokers = b;
            }
            let opts = crate::connect_cmd::ConnectOptions { name, once, output, state_dir, metrics_listen, json };
            crate::connect_cmd::run(&cfg, opts)
        }
        Command::Healthcheck { url, timeout_secs } => {
            crate::service::probe(&url, std::time::Duration::from_secs(timeout_secs))
                .map_err(|e| CheckFailed(format!("{e:#}")))?;
            say!("{url}: ok");
            Ok(())
        }
        Command::Completions { shell } => {
            let mut script = Vec::new();
            clap_complete::generate(shell, &mut <Cli as clap::CommandFactory>::command(), "attrib", &mut script);
            crate::exit::print(&String::from_utf8_lossy(&script))?;
            Ok(())
        }
        Command::Man { out } => {
            let command = <Cli as clap::CommandFactory>::command();
            match out {
                None => {
                    let mut page = Vec::new();
                    clap_mangen::Man::new(command).render(&mut page)?;
                    crate::exit::print(&String::from_utf8_lossy(&page))?;
                }
                Some(dir) => {
                    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
                    clap_mangen::generate_to(command, &dir)
                        .with_context(|| format!("writing pages into {}", dir.display()))?;
                    say!("manual pages written to {}", dir.display());
                }
            }
            Ok(())
        }
        Command::Validate { config, input, strict, json } => {
            let cfg = Config::load(config.as_deref())?;
            cfg.kafka.settings().check().map_err(|e| Usage(format!("kafka.properties: {e}")))?;
            let run = input.map(|dir| batch::run(&dir, &cfg, threads(None))).transpose()?;
            let rejected = run.as_ref().map_or(0, |r| r.rejected.len());
            if json {
                let topics: serde_json::Map<String, serde_json::Value> = run
                    .iter()
                    .flat_map(|r| r.engine.counts())
                    .map(|(topic, c)| {
                        let counts = serde_json::json!({"received": c.received, "accepted": c.accepted,
                            "duplicates": c.duplicates, "rejected": c.rejected});
                        (topic.to_string(), counts)
                    })
                    .collect();
                let first: Vec<serde_json::Value> = run
                    .iter()
                    .flat_map(|r| r.rejected.iter().take(20))
                    .map(|r| serde_json::json!({"file": r.file, "line": r.line, "error": r.error}))
                    .collect();
                let out = serde_json::json!({"config": "ok", "models": cfg.models.enabled, "topics": topics,
                    "rejected": rejected, "first_rejected": first});
                say!("{out}");
            } else {
                say!("config ok: models {}", cfg.models.enabled.join(", "));
                if let Some(run) = &run {
                    for (topic, c) in run.engine.counts() {
                        say!(
                            "{topic}: {} records, {} valid, {} duplicates, {} rejected",
                            c.received,
                            c.accepted,
                            c.duplicates,
                            c.rejected
                        );
                    }
                    for r in run.rejected.iter().take(20) {
                        say!("  {}:{}: {}", r.file, r.line, r.error);
                    }
                }
            }
            if strict && rejected > 0 {
                return Err(CheckFailed(format!("{rejected} records rejected (--strict)")).into());
            }
            Ok(())
        }
    }
}

fn write_dataset(params: &GenParams, out: &Path) -> Result<usize> {
    let data = generate(params);
    std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    for topic in Topic::ALL {
        files::write_lines(&out.join(format!("{}.jsonl", topic.as_str())), &data.lines[topic])?;
    }
    Ok(data.total_lines())
}

fn demo(input: Option<PathBuf>, output: &Path, people: u64, seed: u64, config: Option<&Path>) -> Result<()> {
    let config = Config::load(config)?;
    let started = Instant::now();
    let input = match input {
        Some(dir) => {
            say!("attrib demo: reading {}", dir.display());
            dir
        }
        None => {
            let dir = output.join("input");
            let n = write_dataset(&GenParams { people, seed, ..GenParams::default() }, &dir)?;
            say!("attrib demo: generated {n} records for {people} people (seed {seed}) into {}", dir.display());
            dir
        }
    };
    let mut run = batch::run(&input, &config, threads(None))?;
    batch::write(&mut run, output)?;
    crate::exit::print(&report::summary(&run))?;
    let html = output.join("report.html");
    let data = crate::html_report::ReportData {
        facts: run.facts.clone(),
        time_to_conversion: attrib_ledger::time_to_conversion(&run.ledger.conversions),
        reconciliation: attrib_ledger::ledger_reconciliation(&run.ledger.conversions, &run.ledger.credits),
        source: input.display().to_string(),
    };
    std::fs::write(&html, crate::html_report::render(&data, None))?;
    say!(
        "\nOutputs in {}: credits.csv, conversions.csv, pipeline.csv, kpi_daily.csv, kpi_campaigns.csv, kpi_posts.csv, \
         kpi_time_to_conversion.csv, kpi_reconciliation.csv, spend.csv, deals.csv, rejected.jsonl, summary.json",
        output.display()
    );
    say!("Report (open in a browser): {}", html.display());
    say!("Done in {:.1}s.", started.elapsed().as_secs_f64());
    if !run.reconciliation.iter().all(|r| r.difference_minor == 0) {
        return Err(CheckFailed("credits do not reconcile to revenue".into()).into());
    }
    Ok(())
}
