//! `attrib connect <name>`: runs one source connector on its schedule (or one pass with
//! `--once`), publishing to Kafka or to JSON Lines files, with metrics on `--metrics-listen`.

use crate::config::Config;
use anyhow::{bail, Context, Result};
use attrib_connectors::{
    ecb, hubspot, ConnectorError, ConnectorMetrics, CursorStore, Http, HttpPolicy, PassReport, Sink,
};
use std::path::PathBuf;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Options of one `attrib connect` run.
pub struct ConnectOptions {
    pub name: String,
    pub once: bool,
    /// JSON Lines files instead of Kafka.
    pub output: Option<PathBuf>,
    pub state_dir: Option<PathBuf>,
    pub metrics_listen: Option<String>,
}

/// Serves the connector metrics as Prometheus text on every request.
async fn serve_metrics(listener: tokio::net::TcpListener, metrics: ConnectorMetrics) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    loop {
        let Ok((mut stream, _)) = listener.accept().await else { continue };
        let body = metrics.render();
        tokio::spawn(async move {
            let mut buf = [0u8; 1024];
            let _ = stream.read(&mut buf).await;
            let head = format!(
                "HTTP/1.1 200 OK\r\ncontent-type: text/plain; version=0.0.4\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
                body.len()
            );
            let _ = stream.write_all(head.as_bytes()).await;
            let _ = stream.write_all(body.as_bytes()).await;
        });
    }
}

fn http(vendor: &'static str, rps: f64, metrics: &ConnectorMetrics) -> Result<Http> {
    let policy = HttpPolicy { requests_per_second: rps, ..HttpPolicy::default() };
    Http::new(vendor, policy, metrics.clone()).context("building the HTTP client")
}

pub fn run(cfg: &Config, opts: ConnectOptions) -> Result<()> {
    crate::service::init_logging();
    if !attrib_connectors::CONNECTORS.contains(&opts.name.as_str()) {
        bail!("unknown connector {:?} (known: {})", opts.name, attrib_connectors::CONNECTORS.join(", "));
    }
    let metrics = ConnectorMetrics::new();
    let state_dir = opts.state_dir.clone().unwrap_or_else(|| cfg.connectors.state_dir.clone());
    let store = CursorStore::new(&state_dir, &opts.name);
    crate::service::runtime()?.block_on(async {
        if let Some(addr) = &opts.metrics_listen {
            let listener = tokio::net::TcpListener::bind(addr).await.with_context(|| format!("listening on {addr}"))?;
            tokio::spawn(serve_metrics(listener, metrics.clone()));
        }
        let mut sink = match &opts.output {
            Some(dir) => Sink::files(dir.clone()),
            None => Sink::kafka(cfg.kafka.settings()).await.context("connecting to Kafka")?,
        };
        let c = &cfg.connectors;
        let (client, interval) = match opts.name.as_str() {
            "hubspot" => {
                let token =
                    attrib_connectors::secret(&c.hubspot.token_env, &c.hubspot.token_file)?.with_context(|| {
                        format!("no HubSpot token: set {} or connectors.hubspot.token_file", c.hubspot.token_env)
                    })?;
                (
                    http("hubspot", c.hubspot.requests_per_second, &metrics)?.with_bearer(Some(token)),
                    c.hubspot.interval_secs,
                )
            }
            _ => (http("ecb", 1.0, &metrics)?, c.ecb.interval_secs),
        };
        let reporting = cfg.attribution().reporting.currency;
        loop {
            let result: Result<PassReport, ConnectorError> = match opts.name.as_str() {
                "hubspot" => hubspot::pass(&c.hubspot, &client, &store, &mut sink).await,
                _ => ecb::pass(&c.ecb, reporting, &client, &store, &mut sink).await,
            };
            match result {
                Ok(report) => {
                    for (topic, n) in &report.published {
                        metrics.published(&opts.name, topic, *n);
                    }
                    for _ in &report.skipped {
                        metrics.skipped(&opts.name, "unmappable");
                    }
                    if let Some(ms) = report.newest_ms.filter(|ms| *ms > 0) {
                        let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default().as_millis() as i64;
                        metrics.cursor_lag(&opts.name, (now - ms).max(0) as f64 / 1000.0);
                    }
                    tracing::info!(
                        connector = %opts.name,
                        published = report.total(),
                        skipped = report.skipped.len(),
                        cursor = report.cursor.as_deref().unwrap_or("-"),
                        "pass done"
                    );
                    if opts.once {
                        println!(
                            "{}: published {} records ({:?}), skipped {}",
                            opts.name,
                            report.total(),
                            report.published,
                            report.skipped.len()
                        );
                        for s in &report.skipped {
                            println!("  skipped {s}");
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
                _ = tokio::time::sleep(Duration::from_secs(interval.max(1))) => {}
                _ = tokio::signal::ctrl_c() => return Ok(()),
            }
        }
    })
}
