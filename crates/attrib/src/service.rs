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

/// Property names whose values are secrets, shown as `***` in logs.
pub(crate) fn secret_property(name: &str) -> bool {
    let n = name.to_ascii_lowercase();
    ["password", "secret", "token", "sasl.jaas.config", "ssl.key.pem", "credentials"].iter().any(|s| n.contains(s))
}

/// The configuration the service runs with, on one log line, secrets redacted.
fn log_effective_configuration(cfg: &Config) {
    let properties: Vec<String> = cfg
        .kafka
        .properties
        .iter()
        .map(|(k, v)| format!("{k}={}", if secret_property(k) { "***" } else { v }))
        .collect();
    let ch = &cfg.clickhouse;
    let shown = |s: &str| if s.is_empty() { "-".to_string() } else { s.to_string() };
    tracing::info!(
        version = env!("CARGO_PKG_VERSION"),
        kafka.brokers = %cfg.kafka.brokers,
        kafka.group = %cfg.kafka.group,
        kafka.topic_prefix = %cfg.kafka.topic_prefix,
        kafka.properties = %properties.join(","),
        clickhouse.url = %ch.url,
        clickhouse.database = %ch.database,
        clickhouse.ca_file = %shown(&ch.ca_file),
        clickhouse.client_cert_file = %shown(&ch.client_cert_file),
        clickhouse.user = %shown(&ch.user),
        clickhouse.password_set = ch.password.is_set(),
        kafka.sasl_password_set = cfg.kafka.sasl_password.is_set(),
        models = %cfg.models.enabled.join(","),
        reporting.currency = %cfg.reporting.currency,
        journeys = ?cfg.journeys,
        service = ?cfg.service,
        "effective configuration"
    );
}

pub fn run(cfg: Config, stop_when_caught_up: bool) -> Result<()> {
    init_logging();
    // The service hands free memory back after checkpoints and ledger writes, not a second after
    // every free (see the function).
    attrib_allocator::purge_only_when_released();
    log_effective_configuration(&cfg);
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
            ledger_writes = summary.ledger_writes,
            rejected = summary.rejected,
            recovered = summary.recovered_events,
            "stopped"
        );
        Ok(())
    })
}

/// GETs `url` and succeeds on a 200 answer within `timeout` (reqwest: HTTP or HTTPS, proxies
/// and redirects as any client; the container's health check needs no curl).
pub fn probe(url: &str, timeout: Duration) -> Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().context("starting the runtime")?;
    runtime.block_on(async {
        let client = reqwest::Client::builder().timeout(timeout).build().context("building the HTTP client")?;
        let answer = client.get(url).send().await.with_context(|| format!("GET {url}"))?;
        let status = answer.status();
        anyhow::ensure!(status == reqwest::StatusCode::OK, "{url} answered {status}");
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};

    fn serve_once(answer: &'static str) -> String {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = listener.local_addr().expect("addr");
        std::thread::spawn(move || {
            if let Ok((mut s, _)) = listener.accept() {
                // Read the whole request first: closing with unread bytes resets the connection.
                let (mut request, mut buf) = (Vec::new(), [0u8; 256]);
                while !request.ends_with(b"\r\n\r\n") {
                    match s.read(&mut buf) {
                        Ok(0) | Err(_) => break,
                        Ok(n) => request.extend_from_slice(&buf[..n]),
                    }
                }
                let _ = s.write_all(answer.as_bytes());
            }
        });
        format!("http://{addr}/healthz")
    }

    #[test]
    fn secret_properties_are_recognised() {
        for secret in ["sasl.password", "ssl.key.password", "sasl.oauthbearer.client.secret", "SASL.JAAS.CONFIG"] {
            assert!(secret_property(secret), "{secret}");
        }
        for plain in ["security.protocol", "sasl.mechanisms", "sasl.username", "ssl.ca.location"] {
            assert!(!secret_property(plain), "{plain}");
        }
    }

    #[test]
    fn the_probe_accepts_200_and_rejects_anything_else() {
        let t = Duration::from_secs(2);
        assert!(probe(&serve_once("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"), t).is_ok());
        let err =
            probe(&serve_once("HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n\r\n"), t).expect_err("503");
        assert!(err.to_string().contains("503"), "{err}");
        assert!(probe("http://127.0.0.1:1/healthz", t).is_err(), "nothing listening");
        assert!(probe("ftp://127.0.0.1/healthz", t).is_err(), "not an HTTP URL");
    }
}
