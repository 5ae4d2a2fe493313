//! The steps before consuming, each retried on transient errors until the startup deadline:
//! a blip at startup waits instead of stopping the service (a restart loop under Kubernetes).

use crate::metrics::Metrics;
use crate::pipeline::ServiceError;
use crate::position::Position;
use attrib_clickhouse::Attempts;
use attrib_contract::Topic;
use attrib_ledger::{AttributionConfig, Engine, IncrementalLedger};
use attrib_retry::{Failure, Retry, RetryPolicy};
use std::fmt::Display;
use std::sync::Arc;
use std::time::Instant;
use tokio::sync::watch;

pub(crate) struct Startup<'a> {
    pub(crate) deadline: Instant,
    pub(crate) timeout_secs: u64,
    pub(crate) shutdown: &'a watch::Receiver<bool>,
    pub(crate) metrics: &'a Arc<Metrics>,
}

/// Startup stopped: for good (the error), or because shutdown was asked for (nothing to report).
pub(crate) enum Stopped {
    Failed(ServiceError),
    ShutDown,
}

impl<'a> Startup<'a> {
    fn retry(&self) -> Retry<'a> {
        Retry { policy: RetryPolicy::default(), deadline: Some(self.deadline), shutdown: self.shutdown }
    }

    /// Counts a retry of `phase`, shows it on `/readyz` and logs it.
    fn retrying(metrics: &Metrics, phase: &'static str, target: &str, attempt: u32, e: &dyn Display) {
        metrics.retries.with_label_values(&[phase]).inc();
        metrics.set_not_ready(format!("{phase}: {target}: {e} (retrying, attempt {attempt})"));
        tracing::warn!(phase, target, attempt, error = %e, "startup step failed; retrying");
    }

    /// The error that ends startup: `gave_up` when a transient error outlasted the deadline.
    pub(crate) fn failed(&self, phase: &'static str, target: &str, e: impl Display, gave_up: bool) -> Stopped {
        let reason = match gave_up {
            true => format!("{e}; gave up at service.startup_timeout_secs = {}", self.timeout_secs),
            false => e.to_string(),
        };
        Stopped::Failed(ServiceError::Startup { phase, target: target.to_string(), reason })
    }

    /// Retried ClickHouse calls of one phase (each call on its own), counted and shown by
    /// `/readyz` as they fail.
    pub(crate) fn attempts(&self, phase: &'static str, target: &'a str) -> Attempts<'a> {
        self.metrics.set_not_ready(format!("{phase}: {target}"));
        let metrics = self.metrics;
        let on_retry =
            move |attempt: u32, e: &clickhouse::error::Error| Self::retrying(metrics, phase, target, attempt, e);
        Attempts::Retried { retry: self.retry(), on_retry: Box::new(on_retry) }
    }

    /// Runs `op` until it succeeds, retrying what `retriable` accepts; `target` names the
    /// server for logs, `/readyz` and the final error.
    pub(crate) async fn step<T, E: Display, Fut>(
        &self,
        phase: &'static str,
        target: &str,
        op: impl FnMut() -> Fut,
        retriable: impl Fn(&E) -> bool,
    ) -> Result<T, Stopped>
    where
        Fut: std::future::Future<Output = Result<T, E>>,
    {
        self.metrics.set_not_ready(format!("{phase}: {target}"));
        let on_retry = |attempt: u32, e: &E| Self::retrying(self.metrics, phase, target, attempt, e);
        match self.retry().run(op, retriable, on_retry).await {
            Ok(v) => Ok(v),
            Err(Failure::ShutDown) => Err(Stopped::ShutDown),
            Err(f @ (Failure::Exhausted { .. } | Failure::TimedOut { .. })) => Err(self.failed(phase, target, f, true)),
            Err(Failure::Permanent(e)) => Err(self.failed(phase, target, e, false)),
        }
    }
}

/// The state rebuilt from ClickHouse: every raw event replayed, the written rows' fingerprints.
pub(crate) struct Recovered {
    pub(crate) engine: Engine,
    pub(crate) inc: IncrementalLedger,
    pub(crate) position: Position,
    pub(crate) events: u64,
}

/// Reads the state back from scratch. Both reads stream: memory holds the state being rebuilt,
/// not the history. A read cut half-way fails the whole recovery, which then starts over on a
/// fresh state rather than going on from a partial one.
pub(crate) async fn recover(
    client: &attrib_clickhouse::Client,
    attribution: &AttributionConfig,
    topic_prefix: &str,
) -> Result<Recovered, attrib_clickhouse::Error> {
    let position = Position::from_rows(attrib_clickhouse::frontier(client, topic_prefix).await?);
    let mut engine = Engine::new(attribution.clone());
    let mut events = 0u64;
    attrib_clickhouse::for_each_raw_event(client, |topic, payload| {
        if let Some(t) = Topic::parse(topic) {
            let _ = engine.ingest_bytes(t, payload.as_bytes());
            events += 1;
        }
    })
    .await?;
    let mut inc = IncrementalLedger::new();
    attrib_clickhouse::for_each_live_rows(client, 50_000, |rows| inc.seed(&engine, rows)).await?;
    Ok(Recovered { engine, inc, position, events })
}
