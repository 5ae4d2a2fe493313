//! The ClickHouse side of the pipeline: schema migrations, row types, a writer that
//! batches, retries with backoff and jitter, and stops on errors retrying cannot fix, and
//! the reads a restart needs to recover its state.

mod migrate;
mod recovery;
mod rows;
mod writer;

pub use migrate::{migrate, Migration, MigrationReport, MIGRATIONS};
pub use recovery::{
    deal_versions, for_each_live_rows, for_each_raw_event, frontier, fx_rates, live_credits, table_csv,
};
pub use rows::*;
pub use writer::{Batch, RetryPolicy, WriteObserver, Writer};

pub use clickhouse::Client;

/// Errors at the ClickHouse boundary.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    #[error("ClickHouse: {0}")]
    ClickHouse(#[from] clickhouse::error::Error),
    #[error("migration {name} failed: {source}")]
    Migration { name: &'static str, source: clickhouse::error::Error },
    #[error("configuration: {0}")]
    Config(String),
    /// An error retrying cannot fix (schema mismatch, bad query): the pipeline must stop.
    #[error("non-retriable ClickHouse error writing {table}: {message}")]
    Fatal { table: &'static str, message: String },
    #[error("shut down while retrying")]
    ShutDown,
}

/// A client for `url` (optionally bound to a database). RowBinary without schema
/// validation, which ClickHouse 18.16 needs and current servers accept.
pub fn connect(url: &str, database: Option<&str>) -> Client {
    let mut client = Client::default().with_url(url).with_validation(false);
    if let Ok(user) = std::env::var("ATTRIB_CLICKHOUSE_USER") {
        client = client.with_user(user);
    }
    if let Ok(password) = std::env::var("ATTRIB_CLICKHOUSE_PASSWORD") {
        client = client.with_password(password);
    }
    if let Some(db) = database {
        client = client.with_database(db);
    }
    client
}

/// Whether an error can be fixed by waiting (network, server overloaded or restarting),
/// as opposed to one that will fail the same way forever (schema mismatch, syntax).
pub fn is_retriable(e: &clickhouse::error::Error) -> bool {
    use clickhouse::error::Error as E;
    match e {
        E::Network(_) | E::TimedOut => true,
        E::BadResponse(msg) => {
            // Codes that describe the request, not the server's state.
            const FATAL: &[&str] = &[
                "Code: 16,",
                "Code: 27,",
                "Code: 33,",
                "Code: 36,",
                "Code: 41,",
                "Code: 47,",
                "Code: 53,",
                "Code: 60,",
                "Code: 62,",
                "Code: 81,",
                "Code: 117,",
            ];
            !FATAL.iter().any(|c| msg.contains(c))
        }
        _ => false,
    }
}
