//! Writing batches: every table's rows in bounded inserts, each retried with exponential
//! backoff and jitter while the error is retriable, and never skipped: a non-retriable
//! error stops the caller, which must not commit the source offsets.

use crate::rows::*;
use crate::{is_retriable, Error};
use clickhouse::{Client, Row};
use serde::Serialize;
use std::time::{Duration, Instant};
use tokio::sync::watch;

/// How long to keep trying.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    pub initial: Duration,
    pub max: Duration,
    /// None: retry retriable errors until shut down (the consumer waits meanwhile).
    pub max_attempts: Option<u32>,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy { initial: Duration::from_millis(200), max: Duration::from_secs(10), max_attempts: None }
    }
}

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
const INSERT_CHUNK: usize = 50_000;

/// Writes batches to one database.
#[derive(Clone)]
pub struct Writer {
    client: Client,
    policy: RetryPolicy,
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

    async fn table<T>(
        &self,
        table: &'static str,
        rows: &[T],
        observer: &dyn WriteObserver,
        shutdown: &watch::Receiver<bool>,
    ) -> Result<(), Error>
    where
        T: Row + Serialize + Send + Sync + for<'a> Row<Value<'a> = T>,
    {
        for chunk in rows.chunks(INSERT_CHUNK) {
            let mut attempt = 0u32;
            let mut delay = self.policy.initial;
            loop {
                let started = Instant::now();
                match self.insert(table, chunk).await {
                    Ok(()) => {
                        observer.written(table, chunk.len(), started.elapsed());
                        break;
                    }
                    Err(e) if !is_retriable(&e) => {
                        return Err(Error::Fatal { table, message: e.to_string() });
                    }
                    Err(e) => {
                        attempt += 1;
                        if self.policy.max_attempts.is_some_and(|m| attempt >= m) {
                            return Err(Error::ClickHouse(e));
                        }
                        observer.retrying(table, attempt, &e.to_string());
                        tracing::warn!(table, attempt, error = %e, "ClickHouse write failed; retrying");
                        let wait = jittered(delay);
                        let mut sd = shutdown.clone();
                        tokio::select! {
                            _ = tokio::time::sleep(wait) => {}
                            _ = sd.wait_for(|stop| *stop) => return Err(Error::ShutDown),
                        }
                        delay = (delay * 2).min(self.policy.max);
                    }
                }
            }
        }
        Ok(())
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

/// "Full jitter" between half and all of `d`, so restarting writers do not retry in step.
fn jittered(d: Duration) -> Duration {
    let nanos = Instant::now().elapsed().subsec_nanos() as u64
        ^ std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |t| t.subsec_nanos() as u64);
    let frac = 0.5 + (nanos % 1000) as f64 / 2000.0;
    d.mul_f64(frac)
}
