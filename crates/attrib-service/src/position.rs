//! Where the state stands in the input, and the row versions derived from it.

use attrib_clickhouse::FrontierRow;
use rdkafka::message::{Message, OwnedMessage};
use std::collections::HashMap;

/// Where the state stands in the input: the next offset of every source partition consumed.
/// Row versions for ReplacingMergeTree derive from it, never from the clock: the sum of the
/// next offsets only grows as batches are consumed, a replay of the same input writes the
/// versions it wrote the first time, and rows computed from a staler state (a replay still
/// behind, a zombie writer) carry a lower version and cannot beat newer ones.
///
/// Within one process versions never go down either: after a restart the frontier (written
/// before the rows) can be ahead of the raw events recovered, so the startup refit is written
/// at the frontier's refit version while the replay of the uncommitted batch would come next at
/// the lower batch version of the same frontier, and lose to the refit's rows computed without
/// it. A write at an unmoved frontier therefore takes the highest version handed out so far
/// (equal versions: the later insert wins).
#[derive(Debug, Default)]
pub(crate) struct Position {
    next: HashMap<(String, i32), i64>,
    highest: u64,
}

/// The kind of write at one position: a refit rewrites rows of the same input with a newer fit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Flush {
    Batch = 0,
    Refit = 1,
}

impl Position {
    pub(crate) fn from_rows(rows: Vec<FrontierRow>) -> Position {
        let next = rows.into_iter().map(|r| ((r.topic, r.kafka_partition), r.next_offset)).collect();
        Position { next, highest: 0 }
    }

    /// Moves the frontier past `msgs`.
    pub(crate) fn advance(&mut self, msgs: &[OwnedMessage]) {
        // A batch spans a handful of partitions: its highest offset in each first, so the
        // map (keyed by owned topic names) is touched once a partition, not once a message.
        // Messages come in runs of one partition (librdkafka hands out fetched message sets).
        let mut highest: Vec<(&str, i32, i64)> = Vec::new();
        let mut last = 0;
        for m in msgs {
            let (topic, partition, offset) = (m.topic(), m.partition(), m.offset());
            let same = |(t, p, _): &(&str, i32, i64)| *p == partition && *t == topic;
            if !highest.get(last).is_some_and(same) {
                last = match highest.iter().position(same) {
                    Some(i) => i,
                    None => {
                        highest.push((topic, partition, offset));
                        highest.len() - 1
                    }
                };
            }
            highest[last].2 = highest[last].2.max(offset);
        }
        for (topic, partition, offset) in highest {
            let next = self.next.entry((topic.to_string(), partition)).or_insert(0);
            *next = (*next).max(offset + 1);
        }
    }

    /// The version of the position itself (a batch write's, before any refit): what a
    /// checkpoint of the state at this position is numbered by.
    pub(crate) fn version(&self) -> u64 {
        let consumed: i64 = self.next.values().map(|n| (*n).max(0)).sum();
        (consumed as u64) * 2
    }

    /// Versions handed out from now on are at least `revision` (one a restored checkpoint
    /// records as written: the state goes on from there).
    pub(crate) fn raise_to(&mut self, revision: u64) {
        self.highest = self.highest.max(revision);
    }

    /// The highest row version handed out so far.
    pub(crate) fn highest(&self) -> u64 {
        self.highest
    }

    /// The row version of a write at this position, never below one handed out before.
    pub(crate) fn revision(&mut self, flush: Flush) -> u64 {
        self.highest = self.highest.max(self.version() + flush as u64);
        self.highest
    }

    pub(crate) fn rows(&self) -> Vec<FrontierRow> {
        let mut rows: Vec<FrontierRow> = self
            .next
            .iter()
            .map(|((topic, p), n)| FrontierRow { topic: topic.clone(), kafka_partition: *p, next_offset: *n })
            .collect();
        rows.sort_by(|a, b| (&a.topic, a.kafka_partition).cmp(&(&b.topic, b.kafka_partition)));
        rows
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_message as msg;

    #[test]
    fn row_versions_grow_with_the_consumed_frontier_and_survive_a_restart() {
        let mut p = Position::default();
        assert_eq!(p.revision(Flush::Batch), 0);
        p.advance(&[msg("web", 0, 4), msg("web", 0, 2), msg("crm", 1, 9)]);
        // next offsets: web/0 = 5, crm/1 = 10.
        assert_eq!(p.revision(Flush::Batch), 30);
        // A replayed older message never moves the frontier back.
        p.advance(&[msg("web", 0, 0)]);
        assert_eq!(p.revision(Flush::Batch), 30);
        assert_eq!(p.revision(Flush::Refit), 31, "a refit at the same position wins over its batch");
        // A replay after a refit at the unmoved frontier is not written below the refit.
        p.advance(&[msg("web", 0, 1)]);
        assert_eq!(p.revision(Flush::Batch), 31, "a replay after a refit at the same frontier");
        p.advance(&[msg("web", 0, 5)]);
        assert_eq!(p.revision(Flush::Batch), 32);
        // A restart starts from the recorded frontier and goes on from there.
        let mut restarted = Position::from_rows(p.rows());
        assert_eq!(restarted.revision(Flush::Batch), 32);
        assert_eq!(
            restarted.rows(),
            vec![
                FrontierRow { topic: "crm".into(), kafka_partition: 1, next_offset: 10 },
                FrontierRow { topic: "web".into(), kafka_partition: 0, next_offset: 6 },
            ]
        );
    }

    #[test]
    fn interleaved_partitions_each_advance_to_their_own_highest_offset() {
        let mut p = Position::default();
        p.advance(&[
            msg("web", 0, 3),
            msg("crm", 0, 7),
            msg("web", 1, 2),
            msg("web", 0, 9),
            msg("crm", 0, 1),
            msg("web", 1, 0),
        ]);
        assert_eq!(
            p.rows(),
            vec![
                FrontierRow { topic: "crm".into(), kafka_partition: 0, next_offset: 8 },
                FrontierRow { topic: "web".into(), kafka_partition: 0, next_offset: 10 },
                FrontierRow { topic: "web".into(), kafka_partition: 1, next_offset: 3 },
            ]
        );
    }
}
