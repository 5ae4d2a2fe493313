//! Where state checkpoints live: `state_checkpoint_parts` and `state_checkpoints` (007).
//! What a checkpoint holds is the engine's business (attrib-ledger); this is how it is
//! stored, found again and streamed back.

use crate::{Error, FrontierRow, WriteObserver, Writer};
use clickhouse::Client;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use tokio::sync::watch;

/// Bytes of a `String` column as they are (RowBinary carries any bytes).
#[derive(Debug, Clone, PartialEq, Eq)]
struct Bytes(Vec<u8>);

impl Serialize for Bytes {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_bytes(&self.0)
    }
}

impl<'de> Deserialize<'de> for Bytes {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Bytes, D::Error> {
        struct Visit;
        impl<'de> serde::de::Visitor<'de> for Visit {
            type Value = Bytes;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("bytes")
            }
            fn visit_bytes<E: serde::de::Error>(self, v: &[u8]) -> Result<Bytes, E> {
                Ok(Bytes(v.to_vec()))
            }
            fn visit_byte_buf<E: serde::de::Error>(self, v: Vec<u8>) -> Result<Bytes, E> {
                Ok(Bytes(v))
            }
        }
        d.deserialize_byte_buf(Visit)
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, clickhouse::Row)]
struct PartRow {
    checkpoint: u64,
    part: u32,
    data: Bytes,
}

#[derive(Debug, Clone, Serialize, Deserialize, clickhouse::Row)]
struct SummaryRow {
    checkpoint: u64,
    tag: String,
    parts: u32,
    bytes: u64,
    highest_revision: u64,
    frontier: String,
    created_at: u32,
}

/// A complete checkpoint: which state (`tag`), how big, and the input position it covers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckpointInfo {
    pub checkpoint: u64,
    pub tag: String,
    pub parts: u32,
    pub bytes: u64,
    /// The highest row version handed out when it was saved.
    pub highest_revision: u64,
    pub frontier: Vec<FrontierRow>,
}

impl Writer {
    /// Saves a checkpoint numbered `checkpoint` (the highest row version written when it was taken):
    /// its parts, then the summary that makes it visible, then drops the parts of every other
    /// checkpoint (older ones, or a save a crash cut short). Retried like every write.
    pub async fn save_checkpoint(
        &self,
        info: &CheckpointInfo,
        parts: Vec<Vec<u8>>,
        observer: &dyn WriteObserver,
        shutdown: &watch::Receiver<bool>,
    ) -> Result<(), Error> {
        // Parts of an earlier save of the same number (cut short, or by another process) go first:
        // a checkpoint's parts are all of one save.
        let same = format!("ALTER TABLE state_checkpoint_parts DROP PARTITION {}", info.checkpoint);
        self.statement("state_checkpoint_parts", &same, observer, shutdown).await?;
        let rows: Vec<PartRow> = parts
            .into_iter()
            .enumerate()
            .map(|(i, data)| PartRow { checkpoint: info.checkpoint, part: i as u32, data: Bytes(data) })
            .collect();
        // One part per insert: a few MiB per request, whatever the state's size.
        for row in rows.chunks(1) {
            self.table("state_checkpoint_parts", row, observer, shutdown).await?;
        }
        let frontier: Vec<(&str, i32, i64)> =
            info.frontier.iter().map(|f| (f.topic.as_str(), f.kafka_partition, f.next_offset)).collect();
        let summary = SummaryRow {
            checkpoint: info.checkpoint,
            tag: info.tag.clone(),
            parts: info.parts,
            bytes: info.bytes,
            highest_revision: info.highest_revision,
            frontier: serde_json::to_string(&frontier).unwrap_or_default(),
            created_at: std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs() as u32),
        };
        self.table("state_checkpoints", &[summary], observer, shutdown).await?;
        // Dropping is housekeeping: a failure leaves extra parts that the next save drops.
        if let Err(e) = drop_other_checkpoints(self.client(), info.checkpoint).await {
            tracing::warn!(error = %e, "dropping outdated checkpoint parts failed; the next checkpoint retries");
        }
        Ok(())
    }
}

async fn drop_other_checkpoints(client: &Client, keep: u64) -> Result<(), clickhouse::error::Error> {
    let others: Vec<u64> = client
        .query("SELECT DISTINCT checkpoint FROM state_checkpoint_parts WHERE checkpoint != ?")
        .bind(keep)
        .fetch_all()
        .await?;
    for c in others {
        client.query(&format!("ALTER TABLE state_checkpoint_parts DROP PARTITION {c}")).execute().await?;
    }
    client.query("ALTER TABLE state_checkpoints DELETE WHERE checkpoint != ?").bind(keep).execute().await
}

/// The newest complete checkpoint of state `tag` (every part present), if any.
pub async fn latest_checkpoint(client: &Client, tag: &str) -> Result<Option<CheckpointInfo>, Error> {
    let summaries: Vec<SummaryRow> = client
        .query(
            "SELECT ?fields FROM state_checkpoints FINAL WHERE tag = ? AND (checkpoint, parts) IN \
             (SELECT checkpoint, toUInt32(count()) FROM state_checkpoint_parts GROUP BY checkpoint) \
             ORDER BY checkpoint DESC LIMIT 1",
        )
        .bind(tag)
        .fetch_all()
        .await?;
    let Some(s) = summaries.into_iter().next() else { return Ok(None) };
    let frontier: Vec<(String, i32, i64)> = serde_json::from_str(&s.frontier).map_err(|e| Error::Unreadable {
        view: "state_checkpoints".into(),
        column: "frontier",
        value: format!("{}: {e}", s.frontier),
    })?;
    let frontier = frontier
        .into_iter()
        .map(|(topic, kafka_partition, next_offset)| FrontierRow { topic, kafka_partition, next_offset })
        .collect();
    Ok(Some(CheckpointInfo {
        checkpoint: s.checkpoint,
        tag: s.tag,
        parts: s.parts,
        bytes: s.bytes,
        highest_revision: s.highest_revision,
        frontier,
    }))
}

/// Whether a refit rewrote ledger rows after a checkpoint that had handed out versions up to
/// `highest` (refit rows have odd versions): then the rows in ClickHouse are not the ones its
/// fingerprints describe.
pub async fn refit_after(client: &Client, highest: u64) -> Result<bool, Error> {
    let n: u64 = client
        .query(
            "SELECT count() FROM (SELECT revision FROM attribution_credits WHERE revision > ? AND revision % 2 = 1 \
             LIMIT 1 UNION ALL SELECT revision FROM pipeline_credits WHERE revision > ? AND revision % 2 = 1 LIMIT 1)",
        )
        .bind(highest)
        .bind(highest)
        .fetch_one()
        .await?;
    Ok(n > 0)
}

/// Streams the parts of a checkpoint in order to `each`: one part in memory at a time.
pub async fn for_each_checkpoint_part<E: From<Error>>(
    client: &Client,
    checkpoint: u64,
    mut each: impl FnMut(&[u8]) -> Result<(), E>,
) -> Result<u32, E> {
    let mut cursor = client
        .query("SELECT ?fields FROM state_checkpoint_parts WHERE checkpoint = ? ORDER BY part")
        .bind(checkpoint)
        .fetch::<PartRow>()
        .map_err(Error::from)?;
    let mut n = 0;
    while let Some(row) = cursor.next().await.map_err(Error::from)? {
        if row.part != n {
            return Err(Error::Unreadable {
                view: "state_checkpoint_parts".into(),
                column: "part",
                value: format!("{} where {n} was due", row.part),
            }
            .into());
        }
        each(&row.data.0)?;
        n += 1;
    }
    Ok(n)
}

/// The raw events a checkpoint does not cover: those at or past its frontier, plus every
/// partition it had not seen. `topic_prefix` maps `events_raw` topics to Kafka's names.
pub async fn for_each_raw_event_after(
    client: &Client,
    frontier: &[FrontierRow],
    topic_prefix: &str,
    mut each: impl FnMut(&str, &str),
) -> Result<u64, Error> {
    // Covered: below the frontier of a partition the checkpoint knew.
    let covered: Vec<String> = frontier
        .iter()
        .filter_map(|f| {
            let topic = f.topic.strip_prefix(topic_prefix)?;
            let quoted = topic.replace('\\', "\\\\").replace('\'', "\\'");
            Some(format!(
                "(topic = '{quoted}' AND kafka_partition = {} AND kafka_offset < {})",
                f.kafka_partition, f.next_offset
            ))
        })
        .collect();
    let filter = match covered.is_empty() {
        true => String::new(),
        false => format!("WHERE NOT ({})", covered.join(" OR ")),
    };
    let sql =
        format!("SELECT topic, payload FROM events_raw FINAL {filter} ORDER BY topic, kafka_partition, kafka_offset");
    crate::recovery::for_each_raw_event_where(client, &sql, &mut each).await
}
