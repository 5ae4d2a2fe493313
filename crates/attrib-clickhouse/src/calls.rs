//! How the reads and the migrations run each call to ClickHouse: once (a command line tool
//! reports the error), or retried on transient errors (the service at startup, where a blip
//! must wait, not stop it). The retry unit is one call: a migration of many statements or a
//! paged read must not start over because its tenth call met a blip.

use crate::{is_retriable, Error};
use attrib_retry::{Failure, Retry};
use std::future::Future;

/// Told of each retry: the attempt that failed and why.
pub type OnRetry<'a> = Box<dyn Fn(u32, &clickhouse::error::Error) + Send + Sync + 'a>;

pub enum Attempts<'a> {
    Once,
    Retried { retry: Retry<'a>, on_retry: OnRetry<'a> },
}

impl Attempts<'_> {
    /// Runs `op` as this says; errors retrying cannot fix come back at once.
    pub async fn call<T, Fut>(&self, op: impl FnMut() -> Fut) -> Result<T, Error>
    where
        Fut: Future<Output = Result<T, clickhouse::error::Error>>,
    {
        let mut op = op;
        match self {
            Attempts::Once => op().await.map_err(Error::ClickHouse),
            Attempts::Retried { retry, on_retry } => {
                retry.run(op, is_retriable, |attempt, e| on_retry(attempt, e)).await.map_err(|f| match f {
                    Failure::Permanent(e) => Error::ClickHouse(e),
                    Failure::Exhausted { error, attempts } => Error::GaveUp { attempts, source: error },
                    Failure::TimedOut { attempts } => {
                        Error::GaveUp { attempts, source: clickhouse::error::Error::TimedOut }
                    }
                    Failure::ShutDown => Error::ShutDown,
                })
            }
        }
    }
}
