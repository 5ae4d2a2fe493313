-- How far the service's state has consumed each source partition: the next offset after the
-- last message of the last batch it wrote. Written before the rows of that batch, so it is
-- never behind what the ledger holds. Row versions (`revision`) are derived from it (the sum
-- of every partition's next offset, see attrib-service), never from the clock: a replay
-- writes the versions it wrote the first time, so a stale tombstone can never win.
CREATE TABLE IF NOT EXISTS ingest_frontier (
    topic String,
    kafka_partition Int32,
    next_offset Int64
) ENGINE = ReplacingMergeTree(next_offset)
ORDER BY (topic, kafka_partition);
