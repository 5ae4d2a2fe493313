//! The ClickHouse side of the pipeline: schema migrations, row types, a writer that
//! batches, retries with backoff and jitter, and stops on errors retrying cannot fix, and
//! the reads a restart needs to recover its state.

mod calls;
mod checkpoint;
mod migrate;
mod recovery;
mod rows;
mod tls;
mod writer;

pub use attrib_retry::RetryPolicy;
pub use calls::{Attempts, OnRetry};
pub use checkpoint::{for_each_raw_event_after, latest_checkpoint_chain, refit_after, CheckpointInfo, CheckpointParts};
pub use migrate::{migrate, Migration, MigrationReport, MIGRATIONS};
pub use recovery::{
    deal_versions, for_each_live_rows, for_each_raw_event, frontier, fx_rates, live_credits, table_csv,
};
pub use rows::*;
pub use tls::Tls;
pub use writer::{Batch, PendingWrite, WriteObserver, Writer};

pub use clickhouse::Client;

/// Errors at the ClickHouse boundary.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    #[error("ClickHouse: {0}")]
    ClickHouse(#[from] clickhouse::error::Error),
    #[error("migration {name} failed: {source}")]
    Migration { name: &'static str, source: Box<Error> },
    /// A transient error that lasted past the retries allowed.
    #[error("{source} (still failing after {attempts} attempts)")]
    GaveUp { attempts: u32, source: clickhouse::error::Error },
    #[error("configuration: {0}")]
    Config(String),
    /// An error retrying cannot fix (schema mismatch, bad query): the pipeline must stop.
    #[error("non-retriable ClickHouse error writing {table}: {message}")]
    Fatal { table: &'static str, message: String },
    #[error("shut down while retrying")]
    ShutDown,
    /// A stored value this version cannot read back into its type.
    #[error("{view}.{column}: unreadable value {value:?}")]
    Unreadable { view: String, column: &'static str, value: String },
}

/// How to reach a server: TLS for `https://` URLs, and the credentials (none: the server's
/// `default` user).
#[derive(Debug, Clone, Default)]
pub struct Access {
    pub tls: Tls,
    pub user: Option<String>,
    pub password: Option<String>,
}

/// A client for `url` (optionally bound to a database): plain HTTP, or HTTPS verified as
/// `access.tls` says. RowBinary without schema validation, which ClickHouse 18.16 needs and
/// current servers accept. Fails only on TLS settings that cannot be used (an unreadable CA
/// file, say).
pub fn connect(url: &str, database: Option<&str>, access: &Access) -> Result<Client, Error> {
    let https = url.get(..8).is_some_and(|s| s.eq_ignore_ascii_case("https://"));
    let base = if https { tls::https_client(&access.tls)? } else { Client::default() };
    let mut client = base.with_url(url).with_validation(false);
    if let Some(user) = &access.user {
        client = client.with_user(user);
    }
    if let Some(password) = &access.password {
        client = client.with_password(password);
    }
    if let Some(db) = database {
        client = client.with_database(db);
    }
    Ok(client)
}

/// Whether an error can be fixed by waiting (network, server overloaded or restarting),
/// as opposed to one that will fail the same way forever (schema mismatch, syntax,
/// authentication, unknown database).
pub fn is_retriable(e: &clickhouse::error::Error) -> bool {
    use clickhouse::error::Error as E;
    match e {
        E::Network(_) | E::TimedOut => true,
        // Codes that describe the request or the credentials, not the server's state.
        E::BadResponse(msg) => !server_error_code(msg).is_some_and(|code| FATAL_CODES.contains(&code)),
        _ => false,
    }
}

/// Syntax, types, unknown tables, columns and databases, and every authentication refusal.
const FATAL_CODES: &[u32] = &[16, 27, 33, 36, 41, 47, 53, 60, 62, 81, 117, 164, 192, 193, 194, 195, 497, 516];

/// The number in ClickHouse's `Code: 81, e.displayText() = …` (18.x) or `Code: 81. DB::Exception …`.
fn server_error_code(msg: &str) -> Option<u32> {
    let after = &msg[msg.find("Code: ")? + "Code: ".len()..];
    let digits = after.find(|c: char| !c.is_ascii_digit()).unwrap_or(after.len());
    after[..digits].parse().ok()
}

impl Error {
    /// Whether this is a transient error that outlasted its retries.
    pub fn gave_up(&self) -> bool {
        match self {
            Error::GaveUp { .. } => true,
            Error::Migration { source, .. } => source.gave_up(),
            _ => false,
        }
    }

    /// Whether waiting can fix it (see `is_retriable`).
    pub fn is_retriable(&self) -> bool {
        match self {
            Error::ClickHouse(e) => is_retriable(e),
            Error::Migration { source, .. } => source.is_retriable(),
            Error::Config(_)
            | Error::Fatal { .. }
            | Error::ShutDown
            | Error::GaveUp { .. }
            | Error::Unreadable { .. } => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clickhouse::error::Error as E;

    #[test]
    fn errors_about_the_request_or_the_credentials_are_not_retried() {
        let bad = |m: &str| E::BadResponse(m.to_string());
        assert!(!is_retriable(&bad("Code: 81, e.displayText() = DB::Exception: Database nope doesn't exist")));
        assert!(!is_retriable(&bad("Code: 516. DB::Exception: default: Authentication failed")));
        assert!(!is_retriable(&bad("Code: 193, e.displayText() = DB::Exception: Wrong password for user default")));
        assert!(!is_retriable(&bad("Code: 62. DB::Exception: Syntax error")));
        // The server's state: too many queries, memory, a replica away, no code at all (a proxy's 502).
        assert!(is_retriable(&bad("Code: 202, e.displayText() = DB::Exception: Too many simultaneous queries")));
        assert!(is_retriable(&bad("Code: 241. DB::Exception: Memory limit (total) exceeded")));
        assert!(is_retriable(&bad("bad gateway")));
        assert!(is_retriable(&E::TimedOut));
        assert!(!Error::Config("x".into()).is_retriable());
        assert!(Error::Migration { name: "001", source: Box::new(Error::ClickHouse(E::TimedOut)) }.is_retriable());
        assert!(!Error::GaveUp { attempts: 9, source: E::TimedOut }.is_retriable(), "retried already");
    }
}
