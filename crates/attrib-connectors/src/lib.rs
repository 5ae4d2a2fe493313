//! Source connectors: vendor APIs pulled incrementally over HTTP and published to the topics
//! of the wire contract (or to JSON Lines files), with persisted cursors so a restart resumes
//! without gaps, and stable event ids so a re-pull is idempotent downstream.
//!
//! Each connector is one `pass` function: fetch pages from its cursor, map them to contract
//! events, publish a page, then save the cursor. Publishing waits for durability (broker
//! acknowledgement or fsync) before the cursor moves: a crash between the two re-publishes a
//! page, never skips one.

pub mod ads;
pub mod cursor;
pub mod ecb;
pub mod http;
pub mod hubspot;
pub mod metrics;
pub mod registry;
pub mod salesforce;
pub mod sink;

pub use ads::{LinkedInConfig, MetaConfig, SpendWindow};
pub use cursor::{CursorError, CursorStore, ObjectCursor};
pub use ecb::EcbConfig;
pub use http::{Http, HttpError, HttpPolicy};
pub use hubspot::HubSpotConfig;
pub use metrics::ConnectorMetrics;
pub use registry::{Connector, Kind};
pub use salesforce::SalesforceConfig;
pub use sink::{Record, Sink, SinkError};

use serde::Deserialize;
use std::path::PathBuf;

/// `[connectors]` of the configuration file.
#[derive(Debug, Clone, PartialEq, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct ConnectorsConfig {
    /// Where cursor files live (one JSON file per connector).
    pub state_dir: PathBuf,
    pub hubspot: HubSpotConfig,
    pub salesforce: SalesforceConfig,
    pub meta: MetaConfig,
    pub linkedin: LinkedInConfig,
    pub ecb: EcbConfig,
}

impl Default for ConnectorsConfig {
    fn default() -> Self {
        ConnectorsConfig {
            state_dir: PathBuf::from("attrib-connector-state"),
            hubspot: HubSpotConfig::default(),
            salesforce: SalesforceConfig::default(),
            meta: MetaConfig::default(),
            linkedin: LinkedInConfig::default(),
            ecb: EcbConfig::default(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConnectorError {
    #[error("configuration: {0}")]
    Config(String),
    #[error(transparent)]
    Http(HttpError),
    #[error("unexpected answer: {0}")]
    Vendor(String),
    #[error(transparent)]
    Sink(#[from] SinkError),
    #[error(transparent)]
    Cursor(#[from] CursorError),
}

impl ConnectorError {
    /// Errors another pass cannot fix (bad credentials or configuration): stop instead of
    /// retrying every interval.
    pub fn is_permanent(&self) -> bool {
        matches!(self, ConnectorError::Config(_) | ConnectorError::Http(HttpError::Credentials { .. }))
    }

    /// Errors that stop the whole pass. Any other error (a refused or failed request, an
    /// unexpected answer) ends only the object type it happened on: the pass goes on with the
    /// next type and reports the failed one.
    pub fn ends_pass(&self) -> bool {
        self.is_permanent() || matches!(self, ConnectorError::Sink(_) | ConnectorError::Cursor(_))
    }
}

/// An object type whose pull failed in a pass (the other types were still pulled).
#[derive(Debug, Clone, PartialEq)]
pub struct ObjectFailure {
    pub object: &'static str,
    pub error: String,
}

/// What one pass did.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PassReport {
    /// Records published per topic.
    pub published: std::collections::BTreeMap<&'static str, u64>,
    /// Vendor records not published, with the reason (`object/id: reason`).
    pub skipped: Vec<String>,
    /// The cursor after the pass, as text for logs.
    pub cursor: Option<String>,
    /// The newest vendor modification time seen, epoch milliseconds (for the cursor lag).
    pub newest_ms: Option<i64>,
    /// Object types whose pull failed; the pass as a whole failed when this is not empty.
    pub failed: Vec<ObjectFailure>,
}

impl PassReport {
    pub fn count(&mut self, records: &[Record]) {
        for r in records {
            *self.published.entry(r.topic.as_str()).or_default() += 1;
        }
    }

    pub fn total(&self) -> u64 {
        self.published.values().sum()
    }

    /// Records the outcome of one object type's pull: an error that ends the pass is returned,
    /// any other is reported against the object and the pass goes on.
    pub fn object_outcome(
        &mut self,
        connector: &'static str,
        object: &'static str,
        outcome: Result<(), ConnectorError>,
    ) -> Result<(), ConnectorError> {
        match outcome {
            Err(e) if !e.ends_pass() => {
                tracing::warn!(connector, object, error = %e, "pulling this object type failed; the pass goes on with the next");
                self.failed.push(ObjectFailure { object, error: e.to_string() });
                Ok(())
            }
            other => other,
        }
    }

    /// Maps vendor rows to records; a row that cannot be mapped is logged and listed as skipped.
    pub fn map_rows(
        &mut self,
        connector: &'static str,
        object: &str,
        rows: &[cursor::Stamped<'_>],
        map: impl Fn(&serde_json::Value, &str) -> Result<Vec<Record>, &'static str>,
    ) -> Vec<Record> {
        let mut records = Vec::new();
        for s in rows {
            match map(s.row, &s.id) {
                Ok(r) => records.extend(r),
                Err(reason) => {
                    tracing::warn!(connector, object, id = %s.id, reason, "record not published");
                    self.skipped.push(format!("{object}/{}: {reason}", s.id));
                }
            }
        }
        records
    }
}
