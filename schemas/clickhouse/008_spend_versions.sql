-- Spend restatements: `ads.spend` carries an optional version, and per (date, platform,
-- campaign, ad) the highest version is the spend. A fact a higher version replaced is
-- withdrawn by a row of its key with `deleted = 1` (as the ledger's tombstones), so
-- `spend_current` and every KPI view over it follow the latest version.
ALTER TABLE spend_facts ADD COLUMN deleted UInt8;
ALTER TABLE ad_spend ADD COLUMN version Int64;

DROP TABLE IF EXISTS spend_current;
CREATE VIEW IF NOT EXISTS spend_current AS
SELECT
    source, event_id, toString(date) AS date, platform, campaign_id, ad_id, post_id, actor_type,
    spend_minor, currency, impressions, clicks, reporting_currency, spend_reporting_minor,
    fx_status, fx_date
FROM spend_facts FINAL
WHERE deleted = 0;
