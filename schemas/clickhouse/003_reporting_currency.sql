-- Reporting currency: every amount keeps its original value and currency and gains its value
-- in the one reporting currency, at the rate of its own date (empty when the rate is missing).
-- 18.16 has neither ADD COLUMN IF NOT EXISTS nor DROP VIEW: one column per ALTER (the
-- migrator treats "already exists" as applied, for two instances starting together) and
-- DROP TABLE IF EXISTS for views.
ALTER TABLE attribution_credits ADD COLUMN credit_reporting_minor Nullable(Int64);
ALTER TABLE attribution_credits ADD COLUMN reporting_currency String;
ALTER TABLE conversions ADD COLUMN reporting_currency String;
ALTER TABLE conversions ADD COLUMN revenue_reporting_minor Nullable(Int64);
ALTER TABLE conversions ADD COLUMN fx_status String;
ALTER TABLE conversions ADD COLUMN fx_date String;

-- Spend facts: ads.spend rows and interactions carrying a delivery cost, priced in the
-- reporting currency; rewritten (same key, higher revision) when a late rate prices them.
CREATE TABLE IF NOT EXISTS spend_facts (
    source String,
    event_id String,
    date Date,
    platform String,
    campaign_id String,
    ad_id String,
    post_id String,
    actor_type String,
    spend_minor Int64,
    currency String,
    impressions Int64,
    clicks Int64,
    reporting_currency String,
    spend_reporting_minor Nullable(Int64),
    fx_status String,
    fx_date String,
    revision UInt64
) ENGINE = ReplacingMergeTree(revision)
ORDER BY (source, event_id);

-- Every deal version the CRM sent (the history finance reconciles against).
CREATE TABLE IF NOT EXISTS crm_deals (
    deal_id String,
    version Int64,
    event_id String,
    occurred_at String,
    contact_id String,
    stage String,
    amount_minor Int64,
    currency String,
    created_at String,
    closed_at String
) ENGINE = ReplacingMergeTree()
ORDER BY (deal_id, version, event_id);

DROP TABLE IF EXISTS credits_current;
CREATE VIEW IF NOT EXISTS credits_current AS
SELECT
    conversion_id, conversion_version, conversion_type, model, model_version, person_id,
    touch_event_id, touch_source, touch_time, channel, platform, campaign_id, post_id, ad_id,
    actor_type, weight, credit_minor, currency, conversion_time, credit_reporting_minor,
    reporting_currency
FROM attribution_credits FINAL
WHERE deleted = 0;

DROP TABLE IF EXISTS conversions_current;
CREATE VIEW IF NOT EXISTS conversions_current AS
SELECT
    conversion_id, conversion_version, conversion_type, person_id, conversion_time, revenue_minor,
    currency, touches, first_touch_time, seconds_to_convert, source_event_id, reporting_currency,
    revenue_reporting_minor, fx_status, fx_date
FROM conversions FINAL
WHERE deleted = 0;

CREATE VIEW IF NOT EXISTS spend_current AS
SELECT
    source, event_id, toString(date) AS date, platform, campaign_id, ad_id, post_id, actor_type,
    spend_minor, currency, impressions, clicks, reporting_currency, spend_reporting_minor,
    fx_status, fx_date
FROM spend_facts FINAL;
