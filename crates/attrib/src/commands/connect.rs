//! `attrib connect <name>`: runs one source connector on its schedule (or one pass with
//! `--once`), publishing to Kafka or to JSON Lines files, with metrics on `--metrics-listen`.

use crate::config::Config;
use anyhow::{Context, Result};
use attrib_connectors::{Connector, ConnectorMetrics, CursorStore, Kind, Sink};
use std::path::PathBuf;
use std::time::{SystemTime, UNIX_EPOCH};

/// Options of one `attrib connect` run.
pub struct ConnectOptions {
    pub name: String,
    pub once: bool,
    /// JSON Lines files instead of Kafka.
    pub output: Option<PathBuf>,
    pub state_dir: Option<PathBuf>,
    pub metrics_listen: Option<String>,
    /// With `once`: the result as one JSON object on stdout.
    pub json: bool,
}

/// The connector's metrics on the service's HTTP server (`/metrics`, `/healthz`, `/readyz`).
struct Endpoints(ConnectorMetrics);

impl attrib_service::http::Exposed for Endpoints {
    fn render(&self) -> String {
        self.0.render()
    }
}

pub fn run_connector(cfg: &Config, opts: ConnectOptions) -> Result<()> {
    crate::service::init_logging();
    let Some(kind) = Kind::parse(&opts.name) else {
        let known: Vec<&str> = Kind::ALL.iter().map(|k| k.name()).collect();
        return Err(
            crate::exit::Usage(format!("unknown connector {:?} (known: {})", opts.name, known.join(", "))).into()
        );
    };
    let metrics = ConnectorMetrics::new();
    let state_dir = opts.state_dir.clone().unwrap_or_else(|| cfg.connectors.state_dir.clone());
    let store = CursorStore::new(&state_dir, &opts.name);
    crate::service::runtime()?.block_on(async {
        if let Some(addr) = &opts.metrics_listen {
            let listener = tokio::net::TcpListener::bind(addr).await.with_context(|| format!("listening on {addr}"))?;
            tokio::spawn(attrib_service::http::serve(listener, std::sync::Arc::new(Endpoints(metrics.clone()))));
        }
        let mut sink = match &opts.output {
            Some(dir) => Sink::files(dir.clone()),
            None => Sink::kafka(cfg.kafka.settings()).await.context("connecting to Kafka")?,
        };
        let connector = Connector::new(kind, &cfg.connectors, &metrics).map_err(|e| match e {
            // A missing token or a bad setting: the configuration is wrong (exit status 2).
            attrib_connectors::ConnectorError::Config(m) => anyhow::Error::new(crate::exit::Usage(m)),
            other => anyhow::Error::new(other),
        })?;
        let reporting = cfg.attribution().reporting.currency;
        loop {
            let today = attrib_contract::Timestamp::from_unix_millis(
                SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default().as_millis() as i64,
            )
            .date();
            let result = connector.pass(&cfg.connectors, reporting, today, &store, &mut sink).await;
            match result {
                Ok(report) => {
                    for (topic, n) in &report.published {
                        metrics.published(&opts.name, topic, *n);
                    }
                    for _ in &report.skipped {
                        metrics.skipped(&opts.name, "unmappable");
                    }
                    for f in &report.failed {
                        metrics.object_failed(&opts.name, f.object);
                    }
                    if let Some(ms) = report.newest_ms.filter(|ms| *ms > 0) {
                        let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default().as_millis() as i64;
                        metrics.cursor_lag(&opts.name, (now - ms).max(0) as f64 / 1000.0);
                    }
                    let failed: Vec<&str> = report.failed.iter().map(|f| f.object).collect();
                    tracing::info!(
                        connector = %opts.name,
                        published = report.total(),
                        skipped = report.skipped.len(),
                        failed = ?failed,
                        cursor = report.cursor.as_deref().unwrap_or("-"),
                        "pass done"
                    );
                    if opts.once {
                        if opts.json {
                            let failed: Vec<serde_json::Value> = report
                                .failed
                                .iter()
                                .map(|f| serde_json::json!({"object": f.object, "error": f.error}))
                                .collect();
                            let out = serde_json::json!({"connector": opts.name, "published": report.published,
                                "skipped": report.skipped, "failed": failed, "cursor": report.cursor});
                            crate::say!("{out}");
                        } else {
                            crate::say!(
                                "{}: published {} records ({:?}), skipped {}",
                                opts.name,
                                report.total(),
                                report.published,
                                report.skipped.len()
                            );
                            for s in &report.skipped {
                                crate::say!("  skipped {s}");
                            }
                        }
                        if !report.failed.is_empty() {
                            let why: Vec<String> =
                                report.failed.iter().map(|f| format!("{}: {}", f.object, f.error)).collect();
                            anyhow::bail!(
                                "{}: pulling {} failed (the other types were pulled): {}",
                                opts.name,
                                failed.join(", "),
                                why.join("; ")
                            );
                        }
                    }
                }
                Err(e) if opts.once || e.is_permanent() => return Err(anyhow::Error::new(e)),
                Err(e) => {
                    tracing::warn!(connector = %opts.name, error = %e, "pass failed; next pass resumes from the cursor")
                }
            }
            if opts.once {
                return Ok(());
            }
            tokio::select! {
                _ = tokio::time::sleep(connector.interval()) => {}
                _ = tokio::signal::ctrl_c() => return Ok(()),
            }
        }
    })
}

#[derive(Debug, clap::Args)]
pub struct Args {
    /// hubspot | salesforce | meta | linkedin | ecb
    pub name: String,
    #[arg(long)]
    pub config: Option<std::path::PathBuf>,
    /// One pass, then exit (non-zero if it failed).
    #[arg(long)]
    pub once: bool,
    /// Append JSON Lines files (`<topic>.jsonl`) under DIR instead of publishing to Kafka.
    #[arg(long)]
    pub output: Option<std::path::PathBuf>,
    /// Where cursor files live (default: connectors.state_dir).
    #[arg(long)]
    pub state_dir: Option<std::path::PathBuf>,
    #[arg(long)]
    pub brokers: Option<String>,
    /// Serve Prometheus metrics on this address (e.g. 0.0.0.0:9465).
    #[arg(long)]
    pub metrics_listen: Option<String>,
    /// With --once: print the pass's result as one JSON object.
    #[arg(long, requires = "once")]
    pub json: bool,
}

pub fn run(args: Args) -> Result<()> {
    let Args { name, config, once, output, state_dir, brokers, metrics_listen, json } = args;
    let mut cfg = crate::config::Config::load(config.as_deref())?;
    if let Some(b) = brokers {
        cfg.kafka.brokers = b;
    }
    let opts = ConnectOptions { name, once, output, state_dir, metrics_listen, json };
    run_connector(&cfg, opts)
}
