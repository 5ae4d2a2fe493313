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
    base: u64,
    previous: u64,
}

/// A complete checkpoint: which state (`tag`), how big, the input position it covers, and
/// where it sits in its chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckpointInfo {
    pub checkpoint: u64,
    pub tag: String,
    pub parts: u32,
    pub bytes: u64,
    /// The highest row version handed out when it was saved.
    pub highest_revision: u64,
    pub frontier: Vec<FrontierRow>,
    /// The whole checkpoint its chain starts from (itself, for a whole checkpoint).
    pub base: u64,
    /// The checkpoint it holds the changes since (itself, for a whole checkpoint).
    pub previous: u64,
}

impl CheckpointInfo {
    /// Whether it holds the whole state rather than the changes since `previous`.
    pub fn is_whole(&self) -> bool {
        self.base == self.checkpoint
    }
}

impl Writer {
    /// Saves checkpoint `info.checkpoint`: its parts, then the summary that makes it visible,
    /// then drops the parts of every checkpoint outside its chain (older ones, or a save a
    /// crash cut short). `chain` lists the checkpoints a checkpoint of changes restores on top
    /// of, its base first (empty for a whole one); their parts are kept. Retried like every write.
    pub async fn save_checkpoint(
        &self,
        info: &CheckpointInfo,
        parts: Vec<Vec<u8>>,
        chain: &[u64],
        observer: &dyn WriteObserver,
        shutdown: &watch::Receiver<bool>,
    ) -> Result<(), Error> {
        let linked = match (chain.first(), chain.last()) {
            (Some(base), Some(last)) => info.base == *base && info.previous == *last && info.checkpoint > *last,
            _ => info.is_whole(),
        };
        if !linked {
            return Err(Error::Config(format!(
                "checkpoint {} (base {}, previous {}) does not follow the chain {chain:?}",
                info.checkpoint, info.base, info.previous
            )));
        }
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
            base: info.base,
            previous: info.previous,
        };
        self.table("state_checkpoints", &[summary], observer, shutdown).await?;
        // Dropping is housekeeping: a failure leaves extra parts that the next save drops.
        let keep: Vec<u64> = chain.iter().copied().chain([info.checkpoint]).collect();
        if let Err(e) = drop_other_checkpoints(self.client(), &keep).await {
            tracing::warn!(error = %e, "dropping outdated checkpoint parts failed; the next checkpoint retries");
        }
        Ok(())
    }
}

async fn drop_other_checkpoints(client: &Client, keep: &[u64]) -> Result<(), clickhouse::error::Error> {
    let keep = keep.iter().map(u64::to_string).collect::<Vec<_>>().join(", ");
    let parts: Vec<u64> = client
        .query(&format!("SELECT DISTINCT checkpoint FROM state_checkpoint_parts WHERE checkpoint NOT IN ({keep})"))
        .fetch_all()
        .await?;
    for c in parts {
        client.query(&format!("ALTER TABLE state_checkpoint_parts DROP PARTITION {c}")).execute().await?;
    }
    // A mutation rewrites the table: only when there is something to delete.
    let summaries: u64 = client
        .query(&format!("SELECT count() FROM state_checkpoints WHERE checkpoint NOT IN ({keep})"))
        .fetch_one()
        .await?;
    if summaries == 0 {
        return Ok(());
    }
    client.query(&format!("ALTER TABLE state_checkpoints DELETE WHERE checkpoint NOT IN ({keep})")).execute().await
}

/// The newest restorable chain of checkpoints of state `tag`, its whole checkpoint first and
/// each next one holding the changes since the one before it: the longest chain whose every
/// link is complete (every part present). Empty without a complete whole checkpoint.
pub async fn latest_checkpoint_chain(client: &Client, tag: &str) -> Result<Vec<CheckpointInfo>, Error> {
    let summaries: Vec<SummaryRow> = client
        .query(
            "SELECT ?fields FROM state_checkpoints FINAL WHERE tag = ? AND (checkpoint, parts) IN \
             (SELECT checkpoint, toUInt32(count()) FROM state_checkpoint_parts GROUP BY checkpoint) \
             ORDER BY checkpoint DESC",
        )
        .bind(tag)
        .fetch_all()
        .await?;
    let mut complete = Vec::with_capacity(summaries.len());
    for s in summaries {
        complete.push(info_of(s)?);
    }
    Ok(newest_chain(&complete))
}

/// Of `complete` checkpoints, newest first, the chain ending at the newest one that leads back
/// to its whole checkpoint through complete links of the same base, base first.
fn newest_chain(complete: &[CheckpointInfo]) -> Vec<CheckpointInfo> {
    let by_number: std::collections::HashMap<u64, &CheckpointInfo> =
        complete.iter().map(|c| (c.checkpoint, c)).collect();
    'candidates: for newest in complete {
        let mut chain = vec![newest.clone()];
        let mut at = newest;
        while !at.is_whole() {
            match by_number.get(&at.previous) {
                Some(prev) if prev.base == at.base && prev.checkpoint < at.checkpoint => {
                    chain.push((*prev).clone());
                    at = prev;
                }
                _ => continue 'candidates,
            }
        }
        chain.reverse();
        return chain;
    }
    Vec::new()
}

fn info_of(s: SummaryRow) -> Result<CheckpointInfo, Error> {
    let frontier: Vec<(String, i32, i64)> = serde_json::from_str(&s.frontier).map_err(|e| Error::Unreadable {
        view: "state_checkpoints".into(),
        column: "frontier",
        value: format!("{}: {e}", s.frontier),
    })?;
    let frontier = frontier
        .into_iter()
        .map(|(topic, kafka_partition, next_offset)| FrontierRow { topic, kafka_partition, next_offset })
        .collect();
    Ok(CheckpointInfo {
        checkpoint: s.checkpoint,
        tag: s.tag,
        parts: s.parts,
        bytes: s.bytes,
        highest_revision: s.highest_revision,
        frontier,
        base: s.base,
        previous: s.previous,
    })
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

/// The parts of one checkpoint, streamed in order: each handed over as it arrives, so the
/// reader can apply one while the next is on its way.
pub struct CheckpointParts {
    cursor: clickhouse::query::RowCursor<PartRow>,
    read: u32,
}

impl CheckpointParts {
    pub fn open(client: &Client, checkpoint: u64) -> Result<CheckpointParts, Error> {
        let cursor = client
            .query("SELECT ?fields FROM state_checkpoint_parts WHERE checkpoint = ? ORDER BY part")
            .bind(checkpoint)
            .fetch::<PartRow>()?;
        Ok(CheckpointParts { cursor, read: 0 })
    }

    /// The next part, or None after the last; a part out of order is an error.
    pub async fn next(&mut self) -> Result<Option<Vec<u8>>, Error> {
        let Some(row) = self.cursor.next().await? else { return Ok(None) };
        if row.part != self.read {
            return Err(Error::Unreadable {
                view: "state_checkpoint_parts".into(),
                column: "part",
                value: format!("{} where {} was due", row.part, self.read),
            });
        }
        self.read += 1;
        Ok(Some(row.data.0))
    }

    /// The parts handed over so far.
    pub fn read(&self) -> u32 {
        self.read
    }
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
    if covered.is_empty() {
        let sql = "SELECT topic, payload FROM events_raw FINAL ORDER BY topic, kafka_partition, kafka_offset";
        return crate::recovery::for_each_raw_event_where(client, sql, &mut each).await;
    }
    // FINAL merges every part of the table whatever the filter: first find, without it, the
    // keys with a copy past the frontier (usually few, often none), then merge only those
    // keys' copies (the filter is on the sorting key: all copies of a key or none).
    let past = format!("SELECT topic, event_key FROM events_raw WHERE NOT ({})", covered.join(" OR "));
    let any: u64 = client.query(&format!("SELECT count() FROM ({past} LIMIT 1)")).fetch_one().await?;
    if any == 0 {
        return Ok(0);
    }
    let sql = format!(
        "SELECT topic, payload FROM events_raw FINAL WHERE (topic, event_key) IN ({past}) \
         ORDER BY topic, kafka_partition, kafka_offset"
    );
    crate::recovery::for_each_raw_event_where(client, &sql, &mut each).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn link(checkpoint: u64, base: u64, previous: u64) -> CheckpointInfo {
        CheckpointInfo {
            checkpoint,
            tag: "t".into(),
            parts: 1,
            bytes: 1,
            highest_revision: checkpoint,
            frontier: Vec::new(),
            base,
            previous,
        }
    }

    fn numbers(chain: &[CheckpointInfo]) -> Vec<u64> {
        chain.iter().map(|c| c.checkpoint).collect()
    }

    #[test]
    fn the_newest_unbroken_chain_is_restored() {
        // 10 whole, 12 and 15 its changes; 16 (changes since 14, which is gone) cannot be.
        let complete = [link(16, 10, 14), link(15, 10, 12), link(12, 10, 10), link(10, 10, 10)];
        assert_eq!(numbers(&newest_chain(&complete)), [10, 12, 15]);
        // A whole checkpoint alone.
        assert_eq!(numbers(&newest_chain(&[link(20, 20, 20), link(15, 10, 12)])), [20]);
        // A link of another base does not continue a chain.
        assert_eq!(numbers(&newest_chain(&[link(15, 11, 12), link(12, 10, 10), link(10, 10, 10)])), [10, 12]);
        // Changes without their whole checkpoint: nothing to restore.
        assert!(newest_chain(&[link(12, 10, 10)]).is_empty());
        assert!(newest_chain(&[]).is_empty());
    }
}
