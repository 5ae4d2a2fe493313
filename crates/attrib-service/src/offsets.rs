//! Where the consumer stands in each partition: the offsets it commits (only after
//! ClickHouse acknowledged a batch), whether it has caught up with the high watermarks it
//! started from, what a checkpoint covers, and the lag it reports.

use crate::metrics::Metrics;
use crate::pipeline::ServiceError;
use crate::position::Position;
use attrib_clickhouse::FrontierRow;
use attrib_kafka::{StatsContext, StatsMap};
use rdkafka::consumer::{CommitMode, Consumer, StreamConsumer};
use rdkafka::message::{Message, OwnedMessage};
use rdkafka::{Offset, TopicPartitionList};
use std::collections::HashMap;
use std::time::Duration;

/// Where each partition stands, for commits and for "caught up".
#[derive(Default)]
pub(crate) struct Progress {
    /// Next offset to process, per partition, from this run's commits.
    next: HashMap<(String, i32), i64>,
    /// High watermark first seen for each partition (the target of --stop-when-caught-up).
    targets: HashMap<(String, i32), i64>,
}

impl Progress {
    pub(crate) fn caught_up(&mut self, consumer: &StreamConsumer<StatsContext>, stats: &StatsMap) -> bool {
        let Ok(assignment) = consumer.assignment() else { return false };
        if assignment.count() == 0 {
            return false;
        }
        // The high watermark of each partition, once: from the statistics when they have it,
        // else asked of the broker, so a restart that finds nothing new stops as soon as it has
        // its partitions rather than a statistics interval later. One request for all the
        // partitions missing (per-partition watermark queries cost a round trip each: 0.5 s
        // apiece on the test broker, 7.5 s for 15 partitions).
        let mut ask = TopicPartitionList::new();
        for e in assignment.elements() {
            let key = (e.topic().to_string(), e.partition());
            if self.targets.contains_key(&key) {
                continue;
            }
            match stats.lock().ok().and_then(|s| s.get(&key).map(|st| st.hi_offset)) {
                Some(high) => {
                    self.targets.insert(key, high);
                }
                None => {
                    // A timestamp of -1 (`Offset::End`) asks for the latest offset.
                    let _ = ask.add_partition_offset(e.topic(), e.partition(), Offset::End);
                }
            }
        }
        if ask.count() > 0 {
            let Ok(answer) = consumer.offsets_for_times(ask, Duration::from_secs(5)) else { return false };
            for e in answer.elements() {
                let high = match e.offset() {
                    Offset::Offset(o) => Some(o),
                    // No answer for this one: ask for its watermarks alone.
                    _ => consumer.fetch_watermarks(e.topic(), e.partition(), Duration::from_secs(2)).ok().map(|w| w.1),
                };
                let Some(high) = high else { return false };
                self.targets.insert((e.topic().to_string(), e.partition()), high);
            }
        }
        let mut need_committed = Vec::new();
        for e in assignment.elements() {
            let key = (e.topic().to_string(), e.partition());
            let Some(target) = self.targets.get(&key).copied() else { return false };
            if target == 0 {
                continue;
            }
            match self.next.get(&key) {
                Some(n) if *n >= target => {}
                Some(_) => return false,
                None => need_committed.push((key, target)),
            }
        }
        if need_committed.is_empty() {
            return true;
        }
        // Partitions this run has not consumed from: done if their committed offset is there.
        let Ok(committed) = consumer.committed(Duration::from_secs(5)) else { return false };
        need_committed.iter().all(|((topic, partition), target)| {
            committed
                .find_partition(topic, *partition)
                .is_some_and(|p| matches!(p.offset(), Offset::Offset(o) if o >= *target))
        })
    }
}

/// What the state covers for a checkpoint: per partition, the committed offset (every message
/// below it was written, so it is in the state or in the raw events replayed with it), never
/// past the position. Not the position itself: after a restart the recorded frontier can be
/// ahead of the raw events recovered (it is written first), and the messages in between come
/// back only when the uncommitted batch is consumed again. None if the broker does not say.
pub(crate) fn covered(
    consumer: &StreamConsumer<StatsContext>,
    progress: &Progress,
    position: &Position,
) -> Option<Vec<FrontierRow>> {
    // Asked per partition of the position: before the group's assignment arrives,
    // `committed()` would know no partition at all.
    let mut partitions = TopicPartitionList::new();
    for row in position.rows() {
        partitions.add_partition(&row.topic, row.kafka_partition);
    }
    let committed = match consumer.committed_offsets(partitions, Duration::from_secs(5)) {
        Ok(c) => c,
        Err(e) => {
            tracing::warn!(error = %e, "committed offsets unknown; checkpoint postponed");
            return None;
        }
    };
    let rows = position
        .rows()
        .into_iter()
        .map(|mut row| {
            let key = (row.topic.clone(), row.kafka_partition);
            let from_broker =
                committed.find_partition(&row.topic, row.kafka_partition).and_then(|p| match p.offset() {
                    Offset::Offset(o) => Some(o),
                    _ => None,
                });
            let next = progress.next.get(&key).copied().or(from_broker).unwrap_or(0);
            row.next_offset = row.next_offset.min(next);
            row
        })
        .collect();
    Some(rows)
}

/// Per partition of a batch (or of consecutive batches), the offset of its last message: what
/// committing it takes.
#[derive(Debug)]
pub(crate) struct BatchEnd {
    pub(crate) batches: u64,
    pub(crate) messages: usize,
    last: HashMap<(String, i32), i64>,
}

impl BatchEnd {
    pub(crate) fn of(msgs: &[OwnedMessage]) -> BatchEnd {
        let mut last: HashMap<(String, i32), i64> = HashMap::new();
        for m in msgs {
            let e = last.entry((m.topic().to_string(), m.partition())).or_insert(m.offset());
            *e = (*e).max(m.offset());
        }
        BatchEnd { batches: 1, messages: msgs.len(), last }
    }

    /// The end of `earlier` and `later` batches (either may be none), committed together.
    pub(crate) fn joined(earlier: Option<BatchEnd>, later: Option<BatchEnd>) -> Option<BatchEnd> {
        let (mut joined, later) = match (earlier, later) {
            (Some(e), Some(l)) => (e, l),
            (e, l) => return e.or(l),
        };
        for (k, o) in later.last {
            let e = joined.last.entry(k).or_insert(o);
            *e = (*e).max(o);
        }
        joined.batches += later.batches;
        joined.messages += later.messages;
        Some(joined)
    }
}

/// Commits, per partition, the offset after the last message of the batch.
pub(crate) fn commit(
    consumer: &StreamConsumer<StatsContext>,
    batch: BatchEnd,
    progress: &mut Progress,
) -> Result<(), ServiceError> {
    let last = batch.last;
    let mut tpl = TopicPartitionList::new();
    for ((topic, partition), offset) in &last {
        tpl.add_partition_offset(topic, *partition, Offset::Offset(offset + 1))?;
    }
    match consumer.commit(&tpl, CommitMode::Sync) {
        Ok(()) => {
            for (k, o) in last {
                progress.next.insert(k, o + 1);
            }
        }
        // After a rebalance the partitions may belong to another member: it re-reads them, and
        // the writes it repeats are idempotent.
        Err(e) => {
            tracing::warn!(error = %e, "offset commit failed; the batch will be replayed by the partition's owner")
        }
    }
    Ok(())
}

/// Exports each partition's consumer lag from the latest statistics.
pub(crate) fn export_lag(stats: &StatsMap, metrics: &Metrics) {
    if let Ok(stats) = stats.lock() {
        for ((topic, partition), s) in stats.iter() {
            metrics
                .consumer_lag
                .with_label_values(&[topic.as_str(), &partition.to_string()])
                .set(s.consumer_lag.max(0));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_message as msg;

    #[test]
    fn batches_committed_together_commit_the_last_offset_of_each_partition_any_batch_reached() {
        let first = BatchEnd::of(&[msg("web", 0, 4), msg("web", 0, 7), msg("crm", 1, 2)]);
        let second = BatchEnd::of(&[msg("web", 0, 9), msg("web", 2, 0)]);
        let both = BatchEnd::joined(Some(first), Some(second)).expect("both");
        assert_eq!((both.batches, both.messages), (2, 5));
        let expected: HashMap<(String, i32), i64> =
            [(("web".into(), 0), 9), (("crm".into(), 1), 2), (("web".into(), 2), 0)].into_iter().collect();
        assert_eq!(both.last, expected);
        let alone = BatchEnd::joined(None, Some(BatchEnd::of(&[msg("web", 1, 3)]))).expect("one");
        assert_eq!((alone.batches, alone.messages), (1, 1));
        assert!(BatchEnd::joined(None, None).is_none());
    }
}
