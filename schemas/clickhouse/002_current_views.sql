-- The live ledger: latest revision of every key, tombstones removed. `credits_current` has
-- exactly the columns of credits.csv from `attrib batch`.

CREATE VIEW IF NOT EXISTS credits_current AS
SELECT
    conversion_id, conversion_version, conversion_type, model, model_version, person_id,
    touch_event_id, touch_source, touch_time, channel, platform, campaign_id, post_id, ad_id,
    actor_type, weight, credit_minor, currency, conversion_time
FROM attribution_credits FINAL
WHERE deleted = 0;

CREATE VIEW IF NOT EXISTS conversions_current AS
SELECT
    conversion_id, conversion_version, conversion_type, person_id, conversion_time, revenue_minor,
    currency, touches, first_touch_time, seconds_to_convert, source_event_id
FROM conversions FINAL
WHERE deleted = 0;

CREATE VIEW IF NOT EXISTS touchpoints_current AS
SELECT
    touch_source, touch_event_id, person_id, touch_time, channel, platform, actor_type, interaction,
    account_id, campaign_id, post_id, ad_id
FROM touchpoints FINAL
WHERE deleted = 0;
