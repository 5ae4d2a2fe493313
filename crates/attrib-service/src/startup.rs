//! The steps before consuming, each retried on transient errors until the startup deadline:
//! a blip at startup waits instead of stopping the service (a restart loop under Kubernetes).

use crate::metrics::Metrics;
use crate::pipeline::ServiceError;
use crate::position::Position;
use attrib_clickhouse::{Attempts, CheckpointInfo};
use attrib_contract::Topic;
use attrib_ledger::{AttributionConfig, Engine, IncrementalLedger, Restore};
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

/// The state rebuilt from ClickHouse: the newest checkpoint and the raw events after it (or
/// every raw event, without a usable checkpoint), and the written rows' fingerprints.
pub(crate) struct Recovered {
    pub(crate) engine: Engine,
    pub(crate) inc: IncrementalLedger,
    pub(crate) position: Position,
    /// Raw events replayed on top of the checkpoint (all of them without one).
    pub(crate) events: u64,
    /// The chain of checkpoints started from (its whole checkpoint first), if any.
    pub(crate) chain: Vec<CheckpointInfo>,
    /// Whether the written-row fingerprints came from the checkpoint (nothing written since it:
    /// no raw event after it, no refit): then nothing needs recomputing.
    pub(crate) fingerprints_restored: bool,
    /// Seconds spent loading the checkpoint, replaying raw events, reading back written rows.
    pub(crate) timings: [f64; 3],
}

/// Why a checkpoint was not restored.
enum NotRestored {
    /// It cannot be read back: the history is replayed instead.
    Unreadable(String),
    /// Reading it failed: the whole recovery is retried.
    ClickHouse(attrib_clickhouse::Error),
}

fn unreadable(e: impl std::fmt::Display) -> NotRestored {
    NotRestored::Unreadable(e.to_string())
}

impl From<attrib_clickhouse::Error> for NotRestored {
    fn from(e: attrib_clickhouse::Error) -> Self {
        NotRestored::ClickHouse(e)
    }
}

/// The engine and written-row fingerprints of a chain of checkpoints (a whole one, then the
/// changes since each one before), their parts streamed and applied one at a time.
async fn restore(
    client: &attrib_clickhouse::Client,
    attribution: &AttributionConfig,
    chain: &[CheckpointInfo],
) -> Result<(Engine, IncrementalLedger), NotRestored> {
    let mut restore = Restore::new(attribution.clone());
    for (i, info) in chain.iter().enumerate() {
        if i > 0 {
            restore.next_checkpoint().map_err(unreadable)?;
        }
        // The parts are fetched on a task of their own while this one applies those before
        // (a few in flight): reading and decoding overlap instead of taking turns.
        let mut parts = attrib_clickhouse::CheckpointParts::open(client, info.checkpoint)?;
        let (arrived, mut fed) = tokio::sync::mpsc::channel::<Vec<u8>>(4);
        let fetch = tokio::spawn(async move {
            while let Some(part) = parts.next().await? {
                if arrived.send(part).await.is_err() {
                    break;
                }
            }
            Ok::<u32, attrib_clickhouse::Error>(parts.read())
        });
        while let Some(part) = fed.recv().await {
            restore.feed(&part).map_err(unreadable)?;
        }
        let parts = fetch.await.map_err(|e| NotRestored::Unreadable(format!("reading the checkpoint: {e}")))??;
        if parts != info.parts {
            return Err(NotRestored::Unreadable(format!(
                "checkpoint {}: {parts} of its {} parts are there",
                info.checkpoint, info.parts
            )));
        }
    }
    restore.finish().map_err(unreadable)
}

/// Reads the state back: the newest checkpoint of this state's layout and settings, then the
/// raw events it does not cover. Every read streams: memory holds the state being rebuilt, not
/// the history. A read cut half-way fails the whole recovery, which then starts over on a
/// fresh state rather than going on from a partial one.
pub(crate) async fn recover(
    client: &attrib_clickhouse::Client,
    attribution: &AttributionConfig,
    topic_prefix: &str,
) -> Result<Recovered, attrib_clickhouse::Error> {
    let position = Position::from_rows(attrib_clickhouse::frontier(client, topic_prefix).await?);
    let started = Instant::now();
    let tag = Engine::checkpoint_tag_of(attribution);
    let fresh = || (Engine::new(attribution.clone()), None);
    let chain = attrib_clickhouse::latest_checkpoint_chain(client, &tag).await?;
    let (mut engine, restored) = match chain.last() {
        None => fresh(),
        Some(newest) => match restore(client, attribution, &chain).await {
            Ok((engine, ledger)) => (engine, Some(ledger)),
            Err(NotRestored::ClickHouse(e)) => return Err(e),
            Err(NotRestored::Unreadable(why)) => {
                tracing::warn!(checkpoint = newest.checkpoint, %why, "checkpoint not restored; replaying the history");
                fresh()
            }
        },
    };
    // A refit after the checkpoint rewrote rows its fingerprints do not describe.
    let (chain, restored_ledger) = match (restored, chain.last().map(|c| c.highest_revision)) {
        (Some(ledger), Some(highest)) => {
            let stale = attrib_clickhouse::refit_after(client, highest).await?;
            (chain, (!stale).then_some(ledger))
        }
        _ => (Vec::new(), None),
    };
    let loaded = started.elapsed().as_secs_f64();
    let mut events = 0u64;
    let mut replay = |topic: &str, payload: &str| {
        if let Some(t) = Topic::parse(topic) {
            let _ = engine.ingest_bytes(t, payload.as_bytes());
            events += 1;
        }
    };
    match chain.last() {
        Some(info) => {
            attrib_clickhouse::for_each_raw_event_after(client, &info.frontier, topic_prefix, &mut replay).await?
        }
        None => attrib_clickhouse::for_each_raw_event(client, &mut replay).await?,
    };
    let replayed = started.elapsed().as_secs_f64();
    // Rows written after the checkpoint (the replayed events') may include versions a crash left
    // behind that only ClickHouse knows: then the written rows are read back.
    let restored_ledger = restored_ledger.filter(|_| events == 0);
    let fingerprints_restored = restored_ledger.is_some();
    let inc = match restored_ledger {
        Some(inc) => inc,
        None => {
            let mut inc = IncrementalLedger::new();
            attrib_clickhouse::for_each_live_rows(client, 50_000, |rows| inc.seed(&engine, rows)).await?;
            inc
        }
    };
    let timings = [loaded, replayed - loaded, started.elapsed().as_secs_f64() - replayed];
    Ok(Recovered { engine, inc, position, events, chain, fingerprints_restored, timings })
}
