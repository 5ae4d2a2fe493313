//! The service loop: consume a batch, run the engine, write every derived row to
//! ClickHouse, and only then commit the batch's offsets.
//!
//! A batch's offsets are committed only once all its rows are written, so the committed offset
//! of every partition is always a contiguous frontier of fully written messages. The rows of
//! one batch are written on their own task while the next batch is consumed and computed;
//! writes themselves stay one at a time, in order, and a batch is committed only after its
//! own write (and every one before it) finished. While catching up, the people batches change
//! are recomputed once per `catch_up_ledger_interval_ms` and those batches committed together
//! (see `consume`). A crash anywhere replays at most the batches since the last ledger write,
//! and every write is idempotent (deterministic keys, ReplacingMergeTree), so replays never
//! double a cent. While ClickHouse is down the writer retries and the loop does not fetch past
//! the next batch: memory stays bounded by two batches' rows plus librdkafka's queue.

use crate::config::{ClickHouseConfig, KafkaConfig, ServiceSettings};
use crate::metrics::Metrics;
use crate::position::{Flush, Position};
use crate::startup::{recover, Startup, Stopped};
use attrib_clickhouse::{
    connect, Batch, ConversionTableRow, CreditTableRow, EngagementTableRow, ModelFitRow, PendingWrite, SpendFactRow,
    TouchpointRow, WriteObserver, Writer,
};
use attrib_contract::Topic;
use attrib_ledger::{AttributionConfig, Changes, Engine, IncrementalLedger};
use attrib_retry::RetryPolicy;
use checkpoint::Saved;
use rdkafka::consumer::Consumer;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use tokio::sync::watch;

mod checkpoint;
mod consume;

use consume::{consume, Started};

/// Errors that stop the service.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServiceError {
    #[error(transparent)]
    Kafka(#[from] attrib_kafka::Error),
    #[error("Kafka: {0}")]
    Rdkafka(#[from] rdkafka::error::KafkaError),
    /// librdkafka gave up on the consumer for good (e.g. `FencedInstanceId`).
    #[error("Kafka consumer stopped for good ({code:?}): {reason}")]
    KafkaFatal { code: rdkafka::types::RDKafkaErrorCode, reason: String },
    #[error(transparent)]
    ClickHouse(#[from] attrib_clickhouse::Error),
    #[error("HTTP listener on {addr}: {source}")]
    Listen { addr: String, source: std::io::Error },
    /// A startup step that failed for good, or kept failing until `service.startup_timeout_secs`.
    #[error("{phase}: {target}: {reason}")]
    Startup { phase: &'static str, target: String, reason: String },
}

/// Everything `run` needs.
#[derive(Debug, Clone, Default)]
pub struct ServiceConfig {
    pub kafka: KafkaConfig,
    pub clickhouse: ClickHouseConfig,
    pub service: ServiceSettings,
    pub attribution: AttributionConfig,
    /// Exit once every partition reached the high watermark seen at start and all is written.
    pub stop_when_caught_up: bool,
}

/// What a run did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RunSummary {
    pub recovered_events: u64,
    pub messages: u64,
    pub rejected: u64,
    pub batches: u64,
    /// Times the people changed were recomputed and written (the startup reconcile and refits
    /// included): once per batch when caught up, fewer while catching up
    /// (`catch_up_ledger_interval_ms`).
    pub ledger_writes: u64,
    /// True when the run stopped with an uncommitted batch (shutdown while ClickHouse was down).
    pub left_uncommitted: bool,
}

/// Whether a flush recomputes the people changed since the last one, or leaves them for later
/// (writing only the rows of the input itself: raw events, spend, rates, deals, engagement).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ledger {
    Now,
    Later,
}

/// Whom a refit recomputes: the people whose rows a changed fit shapes, or everyone (to
/// rebuild the tables against a state whose written rows were not fingerprinted).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Refit {
    Changed,
    Everyone,
}

/// People recomputed at a time, and the rows gathered before they are written: what one write
/// holds stays bounded (a refit changes everyone; a person's rows vary from one to hundreds).
const PEOPLE_PER_UPDATE: usize = 2_000;
const ROWS_PER_WRITE: usize = 400_000;
/// Free memory goes back to the system after a ledger write at most this often (and after
/// every checkpoint): the allocator keeps what it freed for the next batches until then
/// (`attrib_allocator::purge_only_when_released`).
const RELEASE_MEMORY_EVERY: Duration = Duration::from_secs(30);

fn unix_now() -> u32 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs() as u32)
}

fn add_changes(batch: &mut Batch, changes: &Changes, revision: u64) {
    batch.touchpoints.extend(changes.touchpoints.iter().map(|c| TouchpointRow::from_change(c, revision)));
    batch.conversions.extend(changes.conversions.iter().map(|c| ConversionTableRow::from_change(c, revision)));
    batch.credits.extend(changes.credits.iter().map(|c| CreditTableRow::from_change(c, revision)));
    batch.pipeline.extend(changes.pipeline.iter().map(|c| CreditTableRow::from_change(c, revision)));
}

fn fit_rows(inc: &IncrementalLedger) -> Vec<ModelFitRow> {
    inc.fit_reports()
        .iter()
        .map(|f| ModelFitRow {
            model: f.model.clone(),
            model_version: f.model_version.clone(),
            fitted_at: unix_now(),
            report: serde_json::to_string(f).unwrap_or_default(),
            conversion_type: f.conversion_type.clone(),
        })
        .collect()
}

struct State {
    engine: Engine,
    inc: IncrementalLedger,
    position: Position,
    /// Records accepted since the last refit (a refit of an unchanged state changes nothing).
    accepted_since_refit: bool,
    writer: Writer,
    /// The rows being written while the next batch is computed, and whether they end a
    /// ledger write (whose batches are committed once they are written).
    writing: Option<PendingWrite>,
    writing_commits: bool,
    /// Rows of batches whose people wait for the next ledger write (see `flush`).
    held: Batch,
    /// When the people changed were last recomputed and handed to the writer, and how often.
    ledger_written_at: Instant,
    ledger_writes: u64,
    memory_released_at: Instant,
    metrics: Arc<Metrics>,
    /// The newest checkpoint saved (or restored) and the chain it ends.
    saved: Option<Saved>,
    /// The number of the newest checkpoint saved, tried or restored: the next one is higher.
    last_number: Option<u64>,
    /// Checkpoints are on (`checkpoint_interval_secs` > 0): one follows every refit.
    checkpoint_after_refit: bool,
    /// A refit rewrote rows since the last checkpoint: the next turn of the loop saves one.
    checkpoint_due: bool,
}

impl State {
    fn data_driven(&self) -> bool {
        self.engine.config().models.iter().any(|m| m.is_data_driven())
    }

    /// Recomputes changed people and writes the result (plus `extra` rows) to ClickHouse.
    async fn flush(
        &mut self,
        mut batch: Batch,
        flush: Flush,
        ledger: Ledger,
        shutdown: &watch::Receiver<bool>,
    ) -> Result<(), attrib_clickhouse::Error> {
        let revision = self.position.revision(flush);
        // The frontier first, so it is never behind the rows written for it.
        batch.frontier = self.position.rows();
        batch.spend_facts.extend(self.engine.take_spend_changes().iter().map(|r| SpendFactRow::of(r, revision)));
        batch.engagement.extend(self.engine.take_engagement_rows().iter().map(EngagementTableRow::from));
        // A batch whose people wait for the next ledger write is committed with it, so its own
        // rows (raw events, spend, engagement) can wait too: fewer, larger inserts, which
        // ClickHouse parses and merges at a fraction of the cost of one insert per batch.
        let mut held = std::mem::take(&mut self.held);
        held.append(&mut batch);
        let mut batch = held;
        if ledger == Ledger::Later && batch.rows() < ROWS_PER_WRITE {
            self.held = batch;
            // The caller commits a ledger write once the next batch is processed: let it finish.
            if self.writing_commits {
                self.written().await?;
            }
            return Ok(());
        }
        // Changed people in chunks (a refit changes everyone): one write's rows computed while
        // the one before is written, all written before the caller commits.
        let mut queued = false;
        let (mut people, mut update_ms) = (0, 0);
        loop {
            let started = Instant::now();
            let changes = match ledger {
                Ledger::Now => self.inc.update_at_most(&mut self.engine, PEOPLE_PER_UPDATE),
                Ledger::Later => Changes::default(),
            };
            add_changes(&mut batch, &changes, revision);
            people += changes.people;
            update_ms += started.elapsed().as_millis();
            let live = changes.conversions.iter().filter(|c| !c.deleted).count() as u64;
            if live > 0 {
                self.metrics.conversions_attributed.inc_by(live);
                self.metrics.last_conversion_attributed.set(unix_now() as i64);
            }
            let more = ledger == Ledger::Now && self.inc.has_pending();
            if more && batch.rows() < ROWS_PER_WRITE {
                continue;
            }
            let waited = Instant::now();
            let rows = batch.rows();
            if rows > 0 {
                self.written().await?;
                let observer: Arc<dyn WriteObserver> = self.metrics.clone();
                let taken = std::mem::take(&mut batch);
                self.writing = Some(self.writer.write_in_background(taken, observer, shutdown.clone()));
                self.writing_commits = ledger == Ledger::Now;
                queued = true;
            }
            tracing::debug!(people, rows, update_ms, wait_ms = waited.elapsed().as_millis(), "flushed");
            (people, update_ms) = (0, 0);
            if !more {
                break;
            }
        }
        if ledger == Ledger::Now {
            self.metrics.ledger_writes.inc();
            self.ledger_writes += 1;
            self.ledger_written_at = Instant::now();
            if self.memory_released_at.elapsed() >= RELEASE_MEMORY_EVERY {
                attrib_allocator::release_free_memory();
                self.memory_released_at = Instant::now();
            }
        }
        // Whatever was being written before this flush is written once it returns.
        if !queued {
            self.written().await?;
            self.metrics.set_ready();
        }
        self.metrics.journeys.set(self.engine.store().people() as i64);
        if let Some(m) = crate::process_memory() {
            self.metrics.resident_bytes.set(m.resident_bytes as i64);
        }
        Ok(())
    }

    /// Waits until the rows being written (if any) are written.
    async fn written(&mut self) -> Result<(), attrib_clickhouse::Error> {
        if let Some(w) = self.writing.take() {
            w.finish().await?;
            // Rows reach ClickHouse again (after an outage, say).
            self.metrics.set_ready();
        }
        Ok(())
    }

    async fn refit(&mut self, whom: Refit, shutdown: &watch::Receiver<bool>) -> Result<(), attrib_clickhouse::Error> {
        if !self.data_driven() {
            return Ok(());
        }
        match whom {
            Refit::Changed => self.inc.refit(&mut self.engine),
            Refit::Everyone => self.inc.refit_everyone(&mut self.engine),
        }
        self.accepted_since_refit = false;
        self.metrics.refits.inc();
        let batch = Batch { fits: fit_rows(&self.inc), ..Batch::default() };
        self.flush(batch, Flush::Refit, Ledger::Now, shutdown).await?;
        // A refit rewrites whom its fits shape: a checkpoint follows, so a restart's fingerprints hold.
        self.checkpoint_due = self.checkpoint_after_refit;
        // Its rows are written before it returns: many people's rows changed, and what follows
        // (a checkpoint, a stop) must see them in ClickHouse.
        self.written().await
    }
}

/// Runs the service until shutdown (or until caught up, if asked).
pub async fn run(
    config: &ServiceConfig,
    metrics: Arc<Metrics>,
    shutdown: watch::Receiver<bool>,
) -> Result<RunSummary, ServiceError> {
    metrics.set_not_ready("starting");
    // The HTTP server first: `/healthz` answers and `/readyz` says why while startup waits.
    if !config.service.http_listen.is_empty() {
        let addr = config.service.http_listen.clone();
        let listener =
            tokio::net::TcpListener::bind(&addr).await.map_err(|e| ServiceError::Listen { addr, source: e })?;
        tokio::spawn(crate::http::serve(listener, metrics.clone()));
    }
    let startup = Startup {
        deadline: Instant::now() + Duration::from_secs(config.service.startup_timeout_secs.max(1)),
        timeout_secs: config.service.startup_timeout_secs.max(1),
        shutdown: &shutdown,
        metrics: &metrics,
    };
    match start(config, &startup).await {
        Ok(started) => {
            let result = consume(config, started, &metrics, &shutdown).await;
            metrics.set_not_ready(match &result {
                Ok(_) => "stopped".to_string(),
                Err(e) => e.to_string(),
            });
            result
        }
        Err(Stopped::ShutDown) => {
            tracing::info!("shut down during startup; nothing was consumed");
            metrics.set_not_ready("shut down");
            Ok(RunSummary::default())
        }
        Err(Stopped::Failed(e)) => {
            metrics.set_not_ready(e.to_string());
            Err(e)
        }
    }
}

async fn start(config: &ServiceConfig, startup: &Startup<'_>) -> Result<Started, Stopped> {
    let shutdown = startup.shutdown;
    let settings = config.kafka.settings();
    let ch = &config.clickhouse;
    let at_clickhouse = format!("ClickHouse at {}", ch.url);
    let retriable = attrib_clickhouse::Error::is_retriable;
    let attempts = startup.attempts("migrate", &at_clickhouse);
    let access = ch.access();
    match attrib_clickhouse::migrate(&ch.url, &ch.database, &access, &attempts).await {
        Ok(_) => {}
        Err(attrib_clickhouse::Error::ShutDown) => return Err(Stopped::ShutDown),
        Err(e) => return Err(startup.failed("migrate", &at_clickhouse, &e, e.gave_up())),
    }
    let client = connect(&ch.url, Some(&ch.database), &access)
        .map_err(|e| startup.failed("connect", &at_clickhouse, &e, false))?;
    let source_topics: Vec<String> = Topic::ALL.iter().map(|t| settings.topic_name(*t)).collect();
    let all_topics = settings.all_topics();
    let at_brokers = format!("brokers {}", settings.brokers);
    let retriable_kafka = attrib_kafka::Error::is_retriable;
    startup
        .step("topics", &at_brokers, || attrib_kafka::ensure_topics(&settings, &all_topics), retriable_kafka)
        .await?;

    // Join the group before recovering, so the join (after a kill -9, the dead member's
    // session timing out, on a broker without static membership) runs while the state is
    // restored instead of after it. Nothing is polled, so nothing is processed, until then;
    // consuming resumes from the committed offsets either way.
    let (consumer, stats) = attrib_kafka::consumer(&settings).map_err(|e| Stopped::Failed(e.into()))?;
    let topic_refs: Vec<&str> = source_topics.iter().map(String::as_str).collect();
    consumer.subscribe(&topic_refs).map_err(|e| Stopped::Failed(e.into()))?;

    // Recover: replay what was consumed before, then reconcile the tables with it.
    let started = Instant::now();
    tracing::debug!("recovering state from ClickHouse");
    let recovered = startup
        .step("recovery", &at_clickhouse, || recover(&client, &config.attribution, &settings.topic_prefix), retriable)
        .await?;
    let mut position = recovered.position;
    if let Some(c) = recovered.chain.last() {
        position.raise_to(c.highest_revision);
    }
    let (mut engine, mut inc) = (recovered.engine, recovered.inc);
    let saved = Saved::restored(&recovered.chain, recovered.fingerprints_restored, &mut engine, &mut inc);
    let mut state = State {
        engine,
        inc,
        accepted_since_refit: false,
        position,
        writer: Writer::new(client.clone(), RetryPolicy::default()),
        writing: None,
        writing_commits: false,
        held: Batch::default(),
        ledger_written_at: Instant::now(),
        ledger_writes: 0,
        memory_released_at: Instant::now(),
        metrics: Arc::clone(startup.metrics),
        saved,
        last_number: recovered.chain.last().map(|c| c.checkpoint),
        checkpoint_after_refit: config.service.checkpoint_interval_secs > 0,
        checkpoint_due: false,
    };
    startup.metrics.recovered_events.set(recovered.events as i64);
    let restored = recovered.chain.last().map_or(0, |c| c.checkpoint);
    startup.metrics.restored_checkpoint.set(restored as i64);
    startup.metrics.checkpoint_chain.set(recovered.chain.len() as i64);
    // Bring the tables in line with the recovered state (the write path: retried until done).
    let reconciling = Instant::now();
    let reconciled = if recovered.fingerprints_restored {
        // The rows written are those the fingerprints describe, for this very state: fit
        // (without rewriting anyone) and go on.
        if state.data_driven() {
            state.inc.fit(&state.engine);
        }
        state.flush(Batch::default(), Flush::Batch, Ledger::Now, shutdown).await
    } else if state.data_driven() {
        // The tables' rows were read back, not fingerprinted for this state: rewrite everyone.
        state.refit(Refit::Everyone, shutdown).await
    } else {
        state.flush(Batch::default(), Flush::Batch, Ledger::Now, shutdown).await
    };
    let reconciled = match reconciled {
        Ok(()) => state.written().await,
        Err(e) => Err(e),
    };
    match reconciled {
        Ok(()) => {}
        Err(attrib_clickhouse::Error::ShutDown) => return Err(Stopped::ShutDown),
        Err(e) => return Err(Stopped::Failed(e.into())),
    }
    let [checkpoint_secs, replay_secs, seed_secs] = recovered.timings;
    tracing::info!(
        checkpoint = restored,
        chain = recovered.chain.len(),
        checkpoint_secs,
        replay_secs,
        seed_secs,
        reconcile_secs = reconciling.elapsed().as_secs_f64(),
        fingerprints_restored = recovered.fingerprints_restored,
        events = recovered.events,
        people = state.engine.store().people(),
        secs = started.elapsed().as_secs_f64(),
        "state recovered"
    );
    Ok(Started { state, client, settings, consumer, stats, recovered_events: recovered.events })
}
