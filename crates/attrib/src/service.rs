//! `attrib run`: the streaming service with logging, signals and a bounded shutdown.

use crate::config::Config;
use anyhow::{Context, Result};
use attrib_service::{Metrics, ServiceConfig};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

pub fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread().enable_all().build().context("starting the async runtime")
}

/// Structured logs on stderr: `RUST_LOG` filters (default info), `ATTRIB_LOG_FORMAT=json` for JSON lines.
pub fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,rdkafka=warn"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    let _ = if std::env::var("ATTRIB_LOG_FORMAT").is_ok_and(|f| f == "json") {
        builder.json().try_init()
    } else {
        builder.try_init()
    };
}

pub fn run(cfg: Config, stop_when_caught_up: bool) -> Result<()> {
    init_logging();
    let service = ServiceConfig {
        attribution: cfg.attribution(),
        kafka: cfg.kafka.clone(),
        clickhouse: cfg.clickhouse.clone(),
        service: cfg.service.clone(),
        stop_when_caught_up,
    };
    let grace = Duration::from_secs(cfg.service.shutdown_timeout_secs.max(1));
    runtime()?.block_on(async move {
        let (tx, rx) = watch::channel(false);
        let metrics = Arc::new(Metrics::new());
        let mut task = tokio::spawn(async move { attrib_service::run(&service, metrics, rx).await });
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .context("installing the SIGTERM handler")?;
        let result = tokio::select! {
            r = &mut task => r,
            _ = term.recv() => {
                tracing::info!("SIGTERM: finishing the batch in flight");
                let _ = tx.send(true);
                tokio::time::timeout(grace, &mut task).await.context("shutdown took longer than service.shutdown_timeout_secs")?
            }
            _ = tokio::signal::ctrl_c() => {
                tracing::info!("SIGINT: finishing the batch in flight");
                let _ = tx.send(true);
                tokio::time::timeout(grace, &mut task).await.context("shutdown took longer than service.shutdown_timeout_secs")?
            }
        };
        let summary = result.context("service task panicked")??;
        tracing::info!(
            messages = summary.messages,
            batches = summary.batches,
            rejected = summary.rejected,
            recovered = summary.recovered_events,
            "stopped"
        );
        Ok(())
    })
}
