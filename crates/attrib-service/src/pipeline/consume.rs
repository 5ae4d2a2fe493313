//! The consume loop: collect a batch, process it while the one before is written, commit
//! each batch once its rows (and all before them) are written; refit and checkpoint between
//! batches.

use super::{unix_now, Ledger, Refit, RunSummary, ServiceConfig, ServiceError, State};
use crate::metrics::Metrics;
use crate::offsets::{commit, covered, export_lag, BatchEnd, Progress};
use crate::position::Flush;
use attrib_clickhouse::{AdSpendRow, Batch, CrmDealRow, FxRateRow, RawEventRow};
use attrib_contract::{decode, DecodeError, Event, Topic};
use attrib_kafka::{StatsContext, StatsMap};
use attrib_ledger::{DealRecord, DealVersionRow, Outcome};
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::message::{Message, OwnedMessage};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::watch;

/// A service past startup, about to consume.
pub(super) struct Started {
    pub(super) state: State,
    pub(super) client: attrib_clickhouse::Client,
    pub(super) settings: attrib_kafka::KafkaSettings,
    /// Subscribed before recovery (see `start`).
    pub(super) consumer: StreamConsumer<StatsContext>,
    pub(super) stats: StatsMap,
    pub(super) recovered_events: u64,
}

/// Consumes, processes and commits batches until shutdown (or caught up, if asked).
pub(super) async fn consume(
    config: &ServiceConfig,
    started: Started,
    metrics: &Metrics,
    shutdown: &watch::Receiver<bool>,
) -> Result<RunSummary, ServiceError> {
    let Started { mut state, client, settings, consumer, stats, recovered_events } = started;
    let mut summary = RunSummary { recovered_events, ..RunSummary::default() };
    let producer = attrib_kafka::producer(&settings)?;
    metrics.set_ready();

    let mut progress = Progress::default();
    let mut uncommitted = Uncommitted::default();
    let catch_up_interval = Duration::from_millis(config.service.catch_up_ledger_interval_ms);
    let mut last_refit = Instant::now();
    let mut last_checkpoint = Instant::now();
    let mut last_ping = Instant::now();
    let mut sd = shutdown.clone();
    let max_wait = Duration::from_millis(config.service.batch_max_wait_ms.max(1));
    let max_messages = config.service.batch_max_messages.max(1);
    loop {
        if *shutdown.borrow() {
            break;
        }
        let mut msgs: Vec<OwnedMessage> = Vec::new();
        let collect_started = Instant::now();
        let deadline = collect_started + max_wait;
        while msgs.len() < max_messages {
            let remaining = deadline.saturating_duration_since(Instant::now());
            if remaining.is_zero() {
                break;
            }
            tokio::select! {
                r = tokio::time::timeout(remaining, consumer.recv()) => match r {
                    Ok(Ok(m)) => msgs.push(m.detach()),
                    Ok(Err(e)) => {
                        // A fatal error (this instance fenced by another under the same
                        // `kafka.instance_id`) never clears: stop, nothing past the last commit
                        // is lost, and the next start takes over cleanly.
                        if let Some((code, reason)) = consumer.client().fatal_error() {
                            return Err(ServiceError::KafkaFatal { code, reason });
                        }
                        tracing::warn!(error = %e, "consumer error");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                    Err(_) => break,
                },
                _ = sd.changed() => break,
            }
        }
        let idle = msgs.is_empty();
        if !idle {
            let collect_ms = collect_started.elapsed().as_millis();
            let process_started = Instant::now();
            summary.messages += msgs.len() as u64;
            metrics.batch_messages.observe(msgs.len() as f64);
            // Behind (the batch is full): the people it changed wait for the next ledger write,
            // so one catching up on a person's history recomputes them once per interval
            // rather than once per batch.
            let behind = msgs.len() >= max_messages;
            let ledger = if behind && state.ledger_written_at.elapsed() < catch_up_interval {
                Ledger::Later
            } else {
                Ledger::Now
            };
            let processed = process(&mut state, &producer, &settings, &msgs, ledger, &mut summary, shutdown).await;
            if shut_down_unwritten(processed, metrics, &mut summary)? {
                break;
            }
            tracing::debug!(
                messages = msgs.len(),
                collect_ms,
                process_ms = process_started.elapsed().as_millis(),
                ledger = ?ledger,
                "batch processed"
            );
            // The write before this batch's finished (`flush` waited for it): commit what it held.
            if let Some(written) = uncommitted.writing.take() {
                commit_batch(&consumer, written, &mut progress, metrics, &mut summary)?;
            }
            uncommitted.processed(BatchEnd::of(&msgs), ledger);
        }
        export_lag(&stats, metrics);
        let refit_due = config.service.refit_interval_secs > 0
            && state.accepted_since_refit
            && last_refit.elapsed() >= Duration::from_secs(config.service.refit_interval_secs);
        let interval = config.service.checkpoint_interval_secs;
        let checkpoint_due =
            interval > 0 && (state.checkpoint_due || last_checkpoint.elapsed() >= Duration::from_secs(interval));
        // Idle, or about to refit or checkpoint: finish the write in flight and commit it.
        if idle || refit_due || checkpoint_due {
            let settled = settle(&mut state, &consumer, &mut uncommitted, &mut progress, &mut summary, shutdown).await;
            if shut_down_unwritten(settled, metrics, &mut summary)? {
                break;
            }
        }
        // An idle service still tells whether ClickHouse is reachable (readiness).
        if idle && last_ping.elapsed() >= Duration::from_secs(5) {
            last_ping = Instant::now();
            let alive = tokio::time::timeout(Duration::from_secs(3), client.query("SELECT 1").execute()).await;
            match alive {
                Ok(Ok(())) => metrics.set_ready(),
                Ok(Err(e)) => metrics.set_not_ready(format!("ClickHouse at {}: {e}", config.clickhouse.url)),
                Err(_) => metrics.set_not_ready(format!("ClickHouse at {}: no answer in 3 s", config.clickhouse.url)),
            }
        }
        if refit_due {
            state.refit(Refit::Changed, shutdown).await?;
            last_refit = Instant::now();
        }
        if checkpoint_due {
            if let Some(covered) = covered(&consumer, &progress, &state.position) {
                state.checkpoint(covered, shutdown).await?;
                last_checkpoint = Instant::now();
            }
        }
        if config.stop_when_caught_up && idle && progress.caught_up(&consumer, &stats) {
            // Everything up to the start's high watermarks is written: refit on all of it
            // (unless nothing arrived since the last refit, which already saw it all).
            if state.accepted_since_refit {
                state.refit(Refit::Changed, shutdown).await?;
            }
            if state.checkpoint_after_refit {
                if let Some(covered) = covered(&consumer, &progress, &state.position) {
                    state.checkpoint(covered, shutdown).await?;
                }
            }
            let memory = crate::process_memory();
            tracing::info!(
                messages = summary.messages,
                people = state.engine.store().people(),
                facts = state.engine.store().fact_count(),
                written_rows = state.inc.written_rows(),
                resident_bytes = memory.map(|m| m.resident_bytes),
                peak_resident_bytes = memory.map(|m| m.peak_resident_bytes),
                "caught up; stopping"
            );
            break;
        }
    }
    // Stopping: the batch being written is committed once written.
    if !summary.left_uncommitted {
        let settled = settle(&mut state, &consumer, &mut uncommitted, &mut progress, &mut summary, shutdown).await;
        shut_down_unwritten(settled, metrics, &mut summary)?;
    }
    summary.ledger_writes = state.ledger_writes;
    Ok(summary)
}

/// Whether a write's outcome stops the loop: true when it was shut down before ClickHouse
/// took the rows (the uncommitted batches are replayed on the next start); any other error
/// stops the service.
fn shut_down_unwritten(
    written: Result<(), ServiceError>,
    metrics: &Metrics,
    summary: &mut RunSummary,
) -> Result<bool, ServiceError> {
    match written {
        Ok(()) => Ok(false),
        Err(ServiceError::ClickHouse(attrib_clickhouse::Error::ShutDown)) => {
            tracing::warn!("shut down while ClickHouse was unavailable; the uncommitted batches will be replayed");
            summary.left_uncommitted = true;
            Ok(true)
        }
        Err(e) => {
            metrics.write_errors.inc();
            Err(e)
        }
    }
}

/// The batches processed but not committed yet.
#[derive(Default)]
struct Uncommitted {
    /// Batches whose every row is in the write in flight: committed once it finishes.
    writing: Option<BatchEnd>,
    /// Batches whose people wait for the next ledger write (see `catch_up_ledger_interval_ms`);
    /// their own rows are written.
    ledger_later: Option<BatchEnd>,
}

impl Uncommitted {
    /// Files a batch just processed (the write before it has finished and been committed).
    fn processed(&mut self, batch: BatchEnd, ledger: Ledger) {
        let waiting = BatchEnd::joined(self.ledger_later.take(), Some(batch));
        match ledger {
            Ledger::Later => self.ledger_later = waiting,
            Ledger::Now => self.writing = waiting,
        }
    }
}

/// Writes the people left for later (if any), waits for the rows being written, then commits
/// every batch they came from.
async fn settle(
    state: &mut State,
    consumer: &StreamConsumer<StatsContext>,
    uncommitted: &mut Uncommitted,
    progress: &mut Progress,
    summary: &mut RunSummary,
    shutdown: &watch::Receiver<bool>,
) -> Result<(), ServiceError> {
    if uncommitted.ledger_later.is_some() {
        state.flush(Batch::default(), Flush::Batch, Ledger::Now, shutdown).await?;
    }
    state.written().await?;
    match BatchEnd::joined(uncommitted.writing.take(), uncommitted.ledger_later.take()) {
        Some(written) => commit_batch(consumer, written, progress, &state.metrics, summary),
        None => Ok(()),
    }
}

/// Commits a batch whose rows are all written.
fn commit_batch(
    consumer: &StreamConsumer<StatsContext>,
    batch: BatchEnd,
    progress: &mut Progress,
    metrics: &Metrics,
    summary: &mut RunSummary,
) -> Result<(), ServiceError> {
    let started = Instant::now();
    let (batches, messages) = (batch.batches, batch.messages);
    commit(consumer, batch, progress)?;
    tracing::debug!(batches, messages, commit_ms = started.elapsed().as_millis(), "batches committed");
    metrics.commits.inc();
    metrics.batches.inc_by(batches);
    summary.batches += batches;
    Ok(())
}

/// Messages decoded at a time by the decoding thread, and the smallest batch worth one.
const DECODE_CHUNK: usize = 256;
const DECODE_THREAD_FROM: usize = 2 * DECODE_CHUNK;

/// A consumed message of a source topic, decoded, with the rows it adds once accepted.
struct Prepared {
    topic: Topic,
    /// Its place in the batch (a reject goes to the dead-letter topic as it came).
    index: usize,
    decoded: Result<Decoded, DecodeError>,
}

struct Decoded {
    event: Event,
    raw: RawEventRow,
    spend: Option<AdSpendRow>,
    fx: Option<FxRateRow>,
    deal: Option<CrmDealRow>,
}

/// Decodes `msgs` (the batch's from `first`) and builds each one's own rows: pure work that
/// needs no engine, so it runs on a thread of its own while the loop ingests what came before.
fn prepare(
    settings: &attrib_kafka::KafkaSettings,
    msgs: &[OwnedMessage],
    first: usize,
    now: u32,
    metrics: &Metrics,
) -> Vec<Prepared> {
    let mut prepared = Vec::with_capacity(msgs.len());
    for (i, m) in msgs.iter().enumerate() {
        let Some(topic) = settings.topic_of(m.topic()) else { continue };
        metrics.consumed.with_label_values(&[topic.as_str()]).inc();
        let payload = m.payload().unwrap_or_default();
        let decoded = decode(topic, payload).map(|event| {
            metrics.decoded.with_label_values(&[topic.as_str()]).inc();
            let spend = if let Event::Spend(s) = &event { Some(AdSpendRow::from(s)) } else { None };
            let fx = if let Event::Fx(f) = &event { Some(FxRateRow::from(f)) } else { None };
            let deal = if let Event::Crm(r) = &event {
                DealRecord::of(r).map(|d| CrmDealRow::from(DealVersionRow::of(&d)))
            } else {
                None
            };
            let raw = RawEventRow {
                topic: topic.as_str().to_string(),
                event_key: event.dedup_key(),
                payload: String::from_utf8_lossy(payload).into_owned(),
                kafka_partition: m.partition(),
                kafka_offset: m.offset(),
                ingested_at: now,
            };
            Decoded { event, raw, spend, fx, deal }
        });
        prepared.push(Prepared { topic, index: first + i, decoded });
    }
    prepared
}

/// Ingests decoded messages in order; rejects are set aside for the dead-letter topic.
fn ingest_prepared(
    state: &mut State,
    batch: &mut Batch,
    prepared: Vec<Prepared>,
    rejects: &mut Vec<(Topic, usize, DecodeError)>,
) {
    for p in prepared {
        match p.decoded {
            Ok(d) => match state.engine.ingest(&d.event) {
                Outcome::Accepted => {
                    state.accepted_since_refit = true;
                    batch.raw.push(d.raw);
                    batch.spend.extend(d.spend);
                    batch.fx.extend(d.fx);
                    batch.deals.extend(d.deal);
                }
                Outcome::Duplicate => state.metrics.duplicates.with_label_values(&[p.topic.as_str()]).inc(),
            },
            Err(e) => {
                state.engine.record_rejected(p.topic);
                state.metrics.rejected.with_label_values(&[p.topic.as_str(), e.code()]).inc();
                rejects.push((p.topic, p.index, e));
            }
        }
    }
}

/// Decodes, ingests and writes one batch; returns once everything derived from it is acknowledged.
async fn process(
    state: &mut State,
    producer: &rdkafka::producer::FutureProducer,
    settings: &attrib_kafka::KafkaSettings,
    msgs: &[OwnedMessage],
    ledger: Ledger,
    summary: &mut RunSummary,
    shutdown: &watch::Receiver<bool>,
) -> Result<(), ServiceError> {
    let mut batch = Batch::default();
    let now = unix_now();
    let metrics = Arc::clone(&state.metrics);
    let mut rejects = Vec::new();
    if msgs.len() < DECODE_THREAD_FROM {
        ingest_prepared(state, &mut batch, prepare(settings, msgs, 0, now, &metrics), &mut rejects);
    } else {
        // Decoding (about half a message's cost on the loop) overlaps ingesting, chunk by chunk
        // in order; identity resolution and journeys stay on this thread, one record at a time.
        std::thread::scope(|s| {
            let (chunks, decoded) = std::sync::mpsc::sync_channel(4);
            let metrics = &metrics;
            s.spawn(move || {
                for (i, chunk) in msgs.chunks(DECODE_CHUNK).enumerate() {
                    if chunks.send(prepare(settings, chunk, i * DECODE_CHUNK, now, metrics)).is_err() {
                        break;
                    }
                }
            });
            for prepared in decoded {
                ingest_prepared(state, &mut batch, prepared, &mut rejects);
            }
        });
    }
    let mut dlq_deliveries = Vec::with_capacity(rejects.len());
    for (topic, index, e) in rejects {
        dlq_deliveries.push((topic, attrib_kafka::enqueue_dlq(producer, settings, topic, &msgs[index], &e).await?));
        summary.rejected += 1;
    }
    state.position.advance(msgs);
    state.flush(batch, Flush::Batch, ledger, shutdown).await?;
    // The rejects were on their way while the batch was computed and written.
    for (topic, delivery) in dlq_deliveries {
        attrib_kafka::await_delivery(delivery).await?;
        state.metrics.dlq.with_label_values(&[topic.as_str()]).inc();
    }
    Ok(())
}
