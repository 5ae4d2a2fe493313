//! Writing batches: every table's rows in bounded inserts, each retried with exponential
//! backoff and jitter while the error is retriable, and never skipped: a non-retriable
//! error stops the caller, which must not commit the source offsets.

use crate::rows::*;
use crate::{is_retriable, Error};
use attrib_retry::{Failure, Retry, RetryPolicy};
use clickhouse::{Client, Row};
use serde::Serialize;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::watch;

/// Rows for every table, written together before the offsets that produced them are committed.
#[derive(Debug, Default, Clone)]
pub struct Batch {
    /// Where the state stands after this batch (written first: never behind the ledger).
    pub frontier: Vec<FrontierRow>,
    pub raw: Vec<RawEventRow>,
    pub touchpoints: Vec<TouchpointRow>,
    pub conversions: Vec<ConversionTableRow>,
    pub credits: Vec<CreditTableRow>,
    /// Open deals credited (`pipeline_credits`), same columns as the credits.
    pub pipeline: Vec<CreditTableRow>,
    pub engagement: Vec<EngagementTableRow>,
    pub spend: Vec<AdSpendRow>,
    pub spend_facts: Vec<SpendFactRow>,
    pub deals: Vec<CrmDealRow>,
    pub fx: Vec<FxRateRow>,
    pub fits: Vec<ModelFitRow>,
}

impl Batch {
    pub fn rows(&self) -> usize {
        self.frontier.len()
            + self.raw.len()
            + self.touchpoints.len()
            + self.conversions.len()
            + self.credits.len()
            + self.pipeline.len()
            + self.engagement.len()
            + self.spend.len()
            + self.spend_facts.len()
            + self.deals.len()
            + self.fx.len()
            + self.fits.len()
    }

    pub fn is_empty(&self) -> bool {
        self.rows() == 0
    }

    /// Moves `later`'s rows after this batch's; its frontier (where the state stands after
    /// it) replaces this one's.
    pub fn append(&mut self, later: &mut Batch) {
        if !later.frontier.is_empty() {
            self.frontier = std::mem::take(&mut later.frontier);
        }
        self.raw.append(&mut later.raw);
        self.touchpoints.append(&mut later.touchpoints);
        self.conversions.append(&mut later.conversions);
        self.credits.append(&mut later.credits);
        self.pipeline.append(&mut later.pipeline);
        self.engagement.append(&mut later.engagement);
        self.spend.append(&mut later.spend);
        self.spend_facts.append(&mut later.spend_facts);
        self.deals.append(&mut later.deals);
        self.fx.append(&mut later.fx);
        self.fits.append(&mut later.fits);
    }
}

/// Hooks for metrics and logs, so the writer stays free of the metrics registry.
pub trait WriteObserver: Send + Sync {
    fn written(&self, table: &'static str, rows: usize, elapsed: Duration);
    fn retrying(&self, table: &'static str, attempt: u32, error: &str);
}

/// No-op observer.
impl WriteObserver for () {
    fn written(&self, _: &'static str, _: usize, _: Duration) {}
    fn retrying(&self, _: &'static str, _: u32, _: &str) {}
}

/// Rows per INSERT: large enough to be efficient, small enough to bound memory on retry.
const INSERT_CHUNK: usize = 200_000;

/// A batch being written by `Writer::write_in_background`. Dropping it does not stop the write.
#[derive(Debug)]
pub struct PendingWrite(tokio::task::JoinHandle<Result<(), Error>>);

impl PendingWrite {
    /// Waits until the batch is written, or the write failed for good.
    pub async fn finish(self) -> Result<(), Error> {
        match self.0.await {
            Ok(written) => written,
            // A panicking write task: the batch may be half written, which a replay repairs.
            Err(e) => Err(Error::Fatal { table: "batch", message: format!("the write task failed: {e}") }),
        }
    }
}

/// Writes batches to one database.
#[derive(Clone)]
pub struct Writer {
    client: Client,
    policy: RetryPolicy,
}

/// The error a write about `table` ends with when retrying did not get it through.
fn failed(table: &'static str, f: Failure<clickhouse::error::Error>) -> Error {
    match f {
        Failure::Permanent(e) => Error::Fatal { table, message: e.to_string() },
        Failure::Exhausted { error, .. } => Error::ClickHouse(error),
        Failure::TimedOut { .. } | Failure::ShutDown => Error::ShutDown,
    }
}

impl Writer {
    pub fn new(client: Client, policy: RetryPolicy) -> Self {
        Writer { client, policy }
    }

    pub fn client(&self) -> &Client {
        &self.client
    }

    /// Writes every row of the batch; returns only when all are acknowledged, or with the
    /// error that stopped it (non-retriable, attempts exhausted, or shutdown while waiting).
    pub async fn write(
        &self,
        batch: &Batch,
        observer: &dyn WriteObserver,
        shutdown: &watch::Receiver<bool>,
    ) -> Result<(), Error> {
        self.table("ingest_frontier", &batch.frontier, observer, shutdown).await?;
        self.table("events_raw", &batch.raw, observer, shutdown).await?;
        self.table("ad_spend", &batch.spend, observer, shutdown).await?;
        self.table("fx_rates", &batch.fx, observer, shutdown).await?;
        self.table("spend_facts", &batch.spend_facts, observer, shutdown).await?;
        self.table("crm_deals", &batch.deals, observer, shutdown).await?;
        self.table("social_engagement", &batch.engagement, observer, shutdown).await?;
        self.table("touchpoints", &batch.touchpoints, observer, shutdown).await?;
        self.table("conversions", &batch.conversions, observer, shutdown).await?;
        self.table("attribution_credits", &batch.credits, observer, shutdown).await?;
        self.table("pipeline_credits", &batch.pipeline, observer, shutdown).await?;
        self.table("model_fits", &batch.fits, observer, shutdown).await?;
        Ok(())
    }

    /// Starts writing `batch` on a task of its own, so the caller can compute the next batch
    /// meanwhile; `PendingWrite::finish` waits for it and says how it ended.
    pub fn write_in_background(
        &self,
        batch: Batch,
        observer: Arc<dyn WriteObserver>,
        shutdown: watch::Receiver<bool>,
    ) -> PendingWrite {
        let writer = self.clone();
        PendingWrite(tokio::spawn(async move { writer.write(&batch, observer.as_ref(), &shutdown).await }))
    }

    /// Writes `rows` to `table` in bounded inserts, each retried.
    pub(crate) async fn table<T>(
        &self,
        table: &'static str,
        rows: &[T],
        observer: &dyn WriteObserver,
        shutdown: &watch::Receiver<bool>,
    ) -> Result<(), Error>
    where
        T: Row + Serialize + Send + Sync + for<'a> Row<Value<'a> = T>,
    {
        let retry = Retry { policy: self.policy, deadline: None, shutdown };
        for chunk in rows.chunks(INSERT_CHUNK) {
            let started = Instant::now();
            let written = retry
                .run(
                    || self.insert(table, chunk),
                    is_retriable,
                    |attempt, e| {
                        observer.retrying(table, attempt, &e.to_string());
                        tracing::warn!(table, attempt, error = %e, "ClickHouse write failed; retrying");
                    },
                )
                .await;
            match written {
                Ok(()) => observer.written(table, chunk.len(), started.elapsed()),
                Err(f) => return Err(failed(table, f)),
            }
        }
        Ok(())
    }

    /// Runs one statement about `table` (DDL such as dropping a partition), retried as writes are.
    pub(crate) async fn statement(
        &self,
        table: &'static str,
        sql: &str,
        observer: &dyn WriteObserver,
        shutdown: &watch::Receiver<bool>,
    ) -> Result<(), Error> {
        let retry = Retry { policy: self.policy, deadline: None, shutdown };
        let on_retry = |attempt, e: &clickhouse::error::Error| {
            observer.retrying(table, attempt, &e.to_string());
            tracing::warn!(table, attempt, error = %e, "ClickHouse statement failed; retrying");
        };
        retry.run(|| self.client.query(sql).execute(), is_retriable, on_retry).await.map_err(|f| failed(table, f))
    }

    async fn insert<T>(&self, table: &str, rows: &[T]) -> Result<(), clickhouse::error::Error>
    where
        T: Row + Serialize + Send + Sync + for<'a> Row<Value<'a> = T>,
    {
        let mut insert = self.client.insert::<T>(table).await?;
        for r in rows {
            insert.write(r).await?;
        }
        insert.end().await
    }
}
