-- Checkpoints of the service's state (identity graph, compact journeys, deal versions, spend,
-- FX, first-copy fingerprints and the fingerprints of the ledger rows written), so a restart
-- loads the state instead of re-reading the whole history. A checkpoint is numbered by the
-- highest row version written when it was saved (see ingest_frontier); its parts are the
-- state's binary records cut into pieces of a few MiB, one partition per checkpoint so an
-- outdated one is dropped whole. The summary row is written last: a checkpoint without it (a
-- crash while saving) is never read.
CREATE TABLE IF NOT EXISTS state_checkpoint_parts (
    checkpoint UInt64,
    part UInt32,
    data String
) ENGINE = MergeTree
PARTITION BY checkpoint
ORDER BY (checkpoint, part);

CREATE TABLE IF NOT EXISTS state_checkpoints (
    checkpoint UInt64,
    -- What the state's layout and journey settings were: another tag is not restored.
    tag String,
    parts UInt32,
    bytes UInt64,
    -- The highest row version written when it was saved: a refit's rows above it (odd
    -- versions) mean the ledger moved on without a checkpoint, and its fingerprints are stale.
    highest_revision UInt64,
    -- The input position covered: JSON [[kafka topic, partition, next offset], ...].
    frontier String,
    created_at DateTime
) ENGINE = ReplacingMergeTree
ORDER BY checkpoint;
