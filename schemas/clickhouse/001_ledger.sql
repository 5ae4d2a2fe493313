-- Core tables of the attribution ledger. Kept to the SQL subset shared by ClickHouse 18.16
-- and current releases: no DateTime64, no Bool, no LowCardinality, no insert dedup tokens.
-- Idempotency comes from ReplacingMergeTree keyed by deterministic ids with a `revision`
-- version column: writing the same row again never changes a total after FINAL.

-- Every valid record the service consumed, as sent: the service rebuilds its state from it.
CREATE TABLE IF NOT EXISTS events_raw (
    topic String,
    event_key String,
    payload String,
    kafka_partition Int32,
    kafka_offset Int64,
    ingested_at DateTime
) ENGINE = ReplacingMergeTree()
ORDER BY (topic, event_key);

-- Touchpoints of identified people (social interactions and web sessions).
CREATE TABLE IF NOT EXISTS touchpoints (
    touch_source String,
    touch_event_id String,
    person_id String,
    touch_time String,
    touch_ts DateTime,
    channel String,
    platform String,
    actor_type String,
    interaction String,
    account_id String,
    campaign_id String,
    post_id String,
    ad_id String,
    deleted UInt8,
    revision UInt64
) ENGINE = ReplacingMergeTree(revision)
ORDER BY (touch_source, touch_event_id);

-- One row per conversion version; a superseded or vanished version is a tombstone (deleted = 1).
CREATE TABLE IF NOT EXISTS conversions (
    conversion_id String,
    conversion_version Int64,
    conversion_type String,
    person_id String,
    conversion_time String,
    conversion_ts DateTime,
    revenue_minor Int64,
    currency String,
    touches UInt32,
    first_touch_time String,
    seconds_to_convert Nullable(Int64),
    source_event_id String,
    deleted UInt8,
    revision UInt64
) ENGINE = ReplacingMergeTree(revision)
ORDER BY (conversion_id, conversion_version);

-- The credits ledger: one row per (conversion, conversion version, model, touch).
CREATE TABLE IF NOT EXISTS attribution_credits (
    conversion_id String,
    conversion_version Int64,
    conversion_type String,
    model String,
    model_version String,
    person_id String,
    touch_event_id String,
    touch_source String,
    touch_time String,
    touch_ts DateTime,
    channel String,
    platform String,
    campaign_id String,
    post_id String,
    ad_id String,
    actor_type String,
    weight Float64,
    credit_minor Int64,
    currency String,
    conversion_time String,
    conversion_ts DateTime,
    deleted UInt8,
    revision UInt64
) ENGINE = ReplacingMergeTree(revision)
ORDER BY (conversion_id, conversion_version, model, touch_source, touch_event_id);

-- Daily delivery cost per ad, as received (first copy of an event id wins).
CREATE TABLE IF NOT EXISTS ad_spend (
    event_id String,
    date Date,
    platform String,
    campaign_id String,
    ad_id String,
    spend_minor Int64,
    currency String,
    impressions Int64,
    clicks Int64
) ENGINE = ReplacingMergeTree()
ORDER BY event_id;

-- Daily rates to the reporting currency, kept as exact decimal strings.
CREATE TABLE IF NOT EXISTS fx_rates (
    date Date,
    currency String,
    rate_to_reporting String
) ENGINE = ReplacingMergeTree()
ORDER BY (date, currency);

-- Every data-driven fit, with its removal effects or Shapley values (JSON report).
CREATE TABLE IF NOT EXISTS model_fits (
    model String,
    model_version String,
    fitted_at DateTime,
    report String
) ENGINE = ReplacingMergeTree(fitted_at)
ORDER BY (model, model_version);
