//! Schema migrations: `schemas/clickhouse/NNN_name.sql`, applied in order, recorded in
//! `schema_migrations`. Statements use `IF NOT EXISTS`, so applying twice (or from two
//! instances starting together) is safe; an applied migration whose text changed is refused.

use crate::{connect, Attempts, Error};
use serde::Deserialize;

/// A migration compiled into the binary.
#[derive(Debug, Clone, Copy)]
pub struct Migration {
    pub version: u32,
    pub name: &'static str,
    pub sql: &'static str,
}

/// All migrations, in order.
pub const MIGRATIONS: &[Migration] = &[
    Migration { version: 1, name: "001_ledger", sql: include_str!("../../../schemas/clickhouse/001_ledger.sql") },
    Migration {
        version: 2,
        name: "002_current_views",
        sql: include_str!("../../../schemas/clickhouse/002_current_views.sql"),
    },
    Migration {
        version: 3,
        name: "003_reporting_currency",
        sql: include_str!("../../../schemas/clickhouse/003_reporting_currency.sql"),
    },
    Migration {
        version: 4,
        name: "004_pipeline_engagement_kpi_views",
        sql: include_str!("../../../schemas/clickhouse/004_pipeline_engagement_kpi_views.sql"),
    },
    Migration {
        version: 5,
        name: "005_ingest_frontier",
        sql: include_str!("../../../schemas/clickhouse/005_ingest_frontier.sql"),
    },
    Migration {
        version: 6,
        name: "006_fits_per_conversion_type",
        sql: include_str!("../../../schemas/clickhouse/006_fits_per_conversion_type.sql"),
    },
    Migration {
        version: 7,
        name: "007_state_checkpoints",
        sql: include_str!("../../../schemas/clickhouse/007_state_checkpoints.sql"),
    },
    Migration {
        version: 8,
        name: "008_spend_versions",
        sql: include_str!("../../../schemas/clickhouse/008_spend_versions.sql"),
    },
    Migration {
        version: 9,
        name: "009_paths_and_time_buckets",
        sql: include_str!("../../../schemas/clickhouse/009_paths_and_time_buckets.sql"),
    },
    Migration {
        version: 10,
        name: "010_checkpoint_chains",
        sql: include_str!("../../../schemas/clickhouse/010_checkpoint_chains.sql"),
    },
];

/// Whether a failed statement only repeats a change another instance already made
/// (18.16 has no `ADD COLUMN IF NOT EXISTS`).
fn already_done(stmt: &str, error: &clickhouse::error::Error) -> bool {
    let text = error.to_string();
    stmt.trim_start().to_ascii_uppercase().starts_with("ALTER TABLE")
        && stmt.to_ascii_uppercase().contains("ADD COLUMN")
        && text.contains("already exists")
}

/// Whether a migration failed only because another instance applying it at the same time
/// dropped a view (to recreate it) that one of its statements reads.
fn raced(error: &Error) -> bool {
    error.to_string().contains("doesn't exist")
}

impl Migration {
    /// The statements of the file: comments removed, split on `;`.
    pub fn statements(&self) -> Vec<String> {
        let without_comments: String = self
            .sql
            .lines()
            .map(|l| match l.find("--") {
                Some(i) => &l[..i],
                None => l,
            })
            .collect::<Vec<_>>()
            .join("\n");
        without_comments.split(';').map(str::trim).filter(|s| !s.is_empty()).map(str::to_string).collect()
    }

    pub fn checksum(&self) -> String {
        format!("{:016x}", attrib_ledger::fnv1a(self.sql.as_bytes()))
    }
}

/// Runs every statement of `m`, each as `attempts` says.
async fn apply(client: &clickhouse::Client, m: &Migration, attempts: &Attempts<'_>) -> Result<(), Error> {
    for stmt in m.statements() {
        let run = || async {
            match client.query(&stmt).execute().await {
                Err(e) if already_done(&stmt, &e) => {
                    tracing::debug!(migration = m.name, "column already added");
                    Ok(())
                }
                other => other,
            }
        };
        attempts.call(run).await?;
    }
    Ok(())
}

#[derive(Debug, Deserialize, clickhouse::Row)]
struct Applied {
    version: u32,
    checksum: String,
}

/// What `migrate` did.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct MigrationReport {
    pub applied: Vec<&'static str>,
    pub already_applied: Vec<&'static str>,
}

/// Creates the database if needed and applies every migration not yet recorded. Each
/// statement is one call, run as `attempts` says; every statement is idempotent (IF NOT
/// EXISTS, a column already added counts as done), so a retried call whose first answer was
/// lost changes nothing.
pub async fn migrate(
    url: &str,
    database: &str,
    access: &crate::Access,
    attempts: &Attempts<'_>,
) -> Result<MigrationReport, Error> {
    if !database.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') || database.is_empty() {
        return Err(Error::Config(format!("database name {database:?} must be letters, digits and underscores")));
    }
    let server = connect(url, None, access)?;
    let create_database = format!("CREATE DATABASE IF NOT EXISTS {database}");
    attempts.call(|| server.query(&create_database).execute()).await?;
    let client = connect(url, Some(database), access)?;
    attempts
        .call(|| {
            client
                .query(
                    "CREATE TABLE IF NOT EXISTS schema_migrations (version UInt32, name String, checksum String, applied_at DateTime) \
                     ENGINE = ReplacingMergeTree(applied_at) ORDER BY version",
                )
                .execute()
        })
        .await?;
    let applied: Vec<Applied> = attempts
        .call(|| client.query("SELECT version, checksum FROM schema_migrations FINAL ORDER BY version").fetch_all())
        .await?;
    let mut report = MigrationReport::default();
    for m in MIGRATIONS {
        if let Some(a) = applied.iter().find(|a| a.version == m.version) {
            if a.checksum != m.checksum() {
                return Err(Error::Config(format!(
                    "migration {} was applied with checksum {} but the file now has {}: never edit an applied migration, add a new one",
                    m.name,
                    a.checksum,
                    m.checksum()
                )));
            }
            report.already_applied.push(m.name);
            continue;
        }
        // Two instances applying one migration at once can interleave its statements, so one
        // finds a view missing that the other has just dropped to recreate: the file is
        // idempotent, so it is applied again from its first statement.
        let mut retries = 0;
        loop {
            match apply(&client, m, attempts).await {
                Ok(()) => break,
                Err(e) if retries < 5 && raced(&e) => {
                    retries += 1;
                    tracing::debug!(migration = m.name, error = %e, "applied concurrently; applying again");
                    tokio::time::sleep(std::time::Duration::from_millis(200 * retries)).await;
                }
                Err(e) => return Err(Error::Migration { name: m.name, source: Box::new(e) }),
            }
        }
        let record = || {
            client
                .query("INSERT INTO schema_migrations (version, name, checksum, applied_at) VALUES (?, ?, ?, now())")
                .bind(m.version)
                .bind(m.name)
                .bind(m.checksum())
                .execute()
        };
        attempts.call(record).await?;
        tracing::info!(migration = m.name, "applied");
        report.applied.push(m.name);
    }
    Ok(report)
}
