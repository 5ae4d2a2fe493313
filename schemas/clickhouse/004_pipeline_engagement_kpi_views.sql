-- Pipeline influenced, engagement, and the KPI views dashboards read. Every view reads the
-- deduplicated ledger (FINAL, tombstones removed), so a replay never inflates a KPI; each one
-- has the columns of the batch file of the same name. Money in the reporting currency.

-- Open deals credited to the touches before each deal was created (deal window), one row
-- per (deal, version, model, touch); `conversion_time` holds the deal's `created_at`. A deal
-- that closes leaves this table (tombstones) and enters attribution_credits.
CREATE TABLE IF NOT EXISTS pipeline_credits (
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
    revision UInt64,
    credit_reporting_minor Nullable(Int64),
    reporting_currency String
) ENGINE = ReplacingMergeTree(revision)
ORDER BY (conversion_id, conversion_version, model, touch_source, touch_event_id);

CREATE VIEW IF NOT EXISTS pipeline_current AS
SELECT
    conversion_id, conversion_version, conversion_type, model, model_version, person_id,
    touch_event_id, touch_source, touch_time, channel, platform, campaign_id, post_id, ad_id,
    actor_type, weight, credit_minor, currency, conversion_time, credit_reporting_minor,
    reporting_currency
FROM pipeline_credits FINAL
WHERE deleted = 0;

-- Every valid social interaction (identified or not), for engagement counts per post.
CREATE TABLE IF NOT EXISTS social_engagement (
    event_id String,
    date Date,
    occurred_at String,
    platform String,
    account_id String,
    actor_type String,
    campaign_id String,
    post_id String,
    ad_id String,
    interaction String
) ENGINE = ReplacingMergeTree()
ORDER BY event_id;

-- The KPI fact table (kpi_daily.csv): by day, model, platform, channel, campaign, post, ad,
-- actor type and conversion type. Spend and engagement rows have no conversion type and are
-- repeated for every model in the ledger, so a model filter keeps them. `reporting_currency`
-- is empty on rows without money (engagement only). Constants are materialize()d: 18.16's
-- UNION ALL wants a column constant in every branch or in none.
CREATE VIEW IF NOT EXISTS kpi_daily AS
SELECT
    day, model, platform, channel, campaign_id, post_id, ad_id, actor_type, conversion_type,
    max(reporting_currency) AS reporting_currency,
    sum(revenue) AS attributed_revenue_minor,
    sum(conversions) AS attributed_conversions,
    sum(leads) AS leads,
    sum(pipeline) AS pipeline_minor,
    sum(pipeline_deals) AS pipeline_deals,
    sum(spend) AS spend_minor,
    sum(impressions) AS impressions,
    sum(views) AS views,
    sum(likes) AS likes,
    sum(comments) AS comments,
    sum(shares) AS shares,
    sum(saves) AS saves,
    sum(follows) AS follows,
    sum(clicks) AS clicks,
    sum(link_clicks) AS link_clicks,
    sum(messages) AS messages,
    sum(mentions) AS mentions,
    sum(missing) AS missing_fx_rows
FROM
(
    SELECT
        substring(conversion_time, 1, 10) AS day, model, platform, channel, campaign_id, post_id, ad_id,
        actor_type, conversion_type, reporting_currency,
        toInt64(ifNull(credit_reporting_minor, 0)) AS revenue,
        if(conversion_type IN ('order', 'deal'), weight, toFloat64(0)) AS conversions,
        if(conversion_type = 'lead', weight, toFloat64(0)) AS leads,
        materialize(toInt64(0)) AS pipeline,
        materialize(toFloat64(0)) AS pipeline_deals,
        materialize(toInt64(0)) AS spend,
        materialize(toUInt64(0)) AS impressions,
        materialize(toUInt64(0)) AS views,
        materialize(toUInt64(0)) AS likes,
        materialize(toUInt64(0)) AS comments,
        materialize(toUInt64(0)) AS shares,
        materialize(toUInt64(0)) AS saves,
        materialize(toUInt64(0)) AS follows,
        materialize(toUInt64(0)) AS clicks,
        materialize(toUInt64(0)) AS link_clicks,
        materialize(toUInt64(0)) AS messages,
        materialize(toUInt64(0)) AS mentions,
        toUInt64(isNull(credit_reporting_minor)) AS missing
    FROM credits_current
    UNION ALL
    SELECT
        substring(conversion_time, 1, 10) AS day, model, platform, channel, campaign_id, post_id, ad_id,
        actor_type, conversion_type, reporting_currency,
        materialize(toInt64(0)) AS revenue,
        materialize(toFloat64(0)) AS conversions,
        materialize(toFloat64(0)) AS leads,
        toInt64(ifNull(credit_reporting_minor, 0)) AS pipeline,
        weight AS pipeline_deals,
        materialize(toInt64(0)) AS spend,
        materialize(toUInt64(0)) AS impressions,
        materialize(toUInt64(0)) AS views,
        materialize(toUInt64(0)) AS likes,
        materialize(toUInt64(0)) AS comments,
        materialize(toUInt64(0)) AS shares,
        materialize(toUInt64(0)) AS saves,
        materialize(toUInt64(0)) AS follows,
        materialize(toUInt64(0)) AS clicks,
        materialize(toUInt64(0)) AS link_clicks,
        materialize(toUInt64(0)) AS messages,
        materialize(toUInt64(0)) AS mentions,
        toUInt64(isNull(credit_reporting_minor)) AS missing
    FROM pipeline_current
    UNION ALL
    SELECT
        date AS day, model, platform, platform AS channel, campaign_id, post_id, ad_id, actor_type,
        materialize('') AS conversion_type, reporting_currency,
        materialize(toInt64(0)) AS revenue, materialize(toFloat64(0)) AS conversions,
        materialize(toFloat64(0)) AS leads, materialize(toInt64(0)) AS pipeline,
        materialize(toFloat64(0)) AS pipeline_deals,
        toInt64(ifNull(spend_reporting_minor, 0)) AS spend,
        materialize(toUInt64(0)) AS impressions,
        materialize(toUInt64(0)) AS views,
        materialize(toUInt64(0)) AS likes,
        materialize(toUInt64(0)) AS comments,
        materialize(toUInt64(0)) AS shares,
        materialize(toUInt64(0)) AS saves,
        materialize(toUInt64(0)) AS follows,
        materialize(toUInt64(0)) AS clicks,
        materialize(toUInt64(0)) AS link_clicks,
        materialize(toUInt64(0)) AS messages,
        materialize(toUInt64(0)) AS mentions,
        toUInt64(isNull(spend_reporting_minor)) AS missing
    FROM spend_current
    ARRAY JOIN (SELECT groupUniqArray(model) FROM attribution_credits) AS model
    UNION ALL
    SELECT
        toString(date) AS day, model, platform, platform AS channel, campaign_id, post_id, ad_id, actor_type,
        materialize('') AS conversion_type, materialize('') AS reporting_currency,
        materialize(toInt64(0)) AS revenue, materialize(toFloat64(0)) AS conversions,
        materialize(toFloat64(0)) AS leads, materialize(toInt64(0)) AS pipeline,
        materialize(toFloat64(0)) AS pipeline_deals, materialize(toInt64(0)) AS spend,
        toUInt64(interaction = 'impression') AS impressions,
        toUInt64(interaction = 'view') AS views,
        toUInt64(interaction = 'like') AS likes,
        toUInt64(interaction = 'comment') AS comments,
        toUInt64(interaction = 'share') AS shares,
        toUInt64(interaction = 'save') AS saves,
        toUInt64(interaction = 'follow') AS follows,
        toUInt64(interaction = 'click') AS clicks,
        toUInt64(interaction = 'link_click') AS link_clicks,
        toUInt64(interaction = 'message') AS messages,
        toUInt64(interaction = 'mention') AS mentions,
        materialize(toUInt64(0)) AS missing
    FROM social_engagement FINAL
    ARRAY JOIN (SELECT groupUniqArray(model) FROM attribution_credits) AS model
)
GROUP BY day, model, platform, channel, campaign_id, post_id, ad_id, actor_type, conversion_type;

-- Revenue against spend per model, platform and campaign (kpi_campaigns.csv): ROAS, CPA and
-- cost per lead are ratios of sums, NULL when the denominator is 0.
CREATE VIEW IF NOT EXISTS kpi_campaigns AS
SELECT
    model, platform, campaign_id, reporting_currency, attributed_revenue_minor, attributed_conversions,
    leads, pipeline_minor, spend_minor,
    if(spend_minor = 0, NULL, attributed_revenue_minor / spend_minor) AS roas,
    if(attributed_conversions = 0, NULL, spend_minor / attributed_conversions) AS cpa_minor,
    if(leads = 0, NULL, spend_minor / leads) AS cost_per_lead_minor,
    missing_fx_rows
FROM
(
    SELECT
        model, platform, campaign_id,
        max(reporting_currency) AS reporting_currency,
        sum(attributed_revenue_minor) AS attributed_revenue_minor,
        sum(attributed_conversions) AS attributed_conversions,
        sum(leads) AS leads,
        sum(pipeline_minor) AS pipeline_minor,
        sum(spend_minor) AS spend_minor,
        sum(missing_fx_rows) AS missing_fx_rows
    FROM kpi_daily
    GROUP BY model, platform, campaign_id
);

-- Engagement next to attributed revenue per model, platform, post and actor type
-- (kpi_posts.csv; the other dimensions are summed over and left empty).
CREATE VIEW IF NOT EXISTS kpi_posts AS
SELECT
    '' AS day, model, platform, '' AS channel, '' AS campaign_id, post_id, '' AS ad_id, actor_type,
    '' AS conversion_type,
    max(reporting_currency) AS reporting_currency,
    sum(attributed_revenue_minor) AS attributed_revenue_minor,
    sum(attributed_conversions) AS attributed_conversions,
    sum(leads) AS leads,
    sum(pipeline_minor) AS pipeline_minor,
    sum(pipeline_deals) AS pipeline_deals,
    sum(spend_minor) AS spend_minor,
    sum(impressions) AS impressions,
    sum(views) AS views,
    sum(likes) AS likes,
    sum(comments) AS comments,
    sum(shares) AS shares,
    sum(saves) AS saves,
    sum(follows) AS follows,
    sum(clicks) AS clicks,
    sum(link_clicks) AS link_clicks,
    sum(messages) AS messages,
    sum(mentions) AS mentions,
    sum(missing_fx_rows) AS missing_fx_rows
FROM kpi_daily
WHERE post_id != ''
GROUP BY model, platform, post_id, actor_type;

-- Days from the first touch in the window to the conversion (kpi_time_to_conversion.csv):
-- the mean and the true median (mean of the two middle values for an even count).
CREATE VIEW IF NOT EXISTS kpi_time_to_conversion AS
SELECT
    conversion_type, conversions, with_touches,
    if(with_touches = 0, NULL, total_secs / 86400 / with_touches) AS avg_days,
    if(with_touches = 0, NULL,
       if(with_touches % 2 = 1,
          secs[intDiv(with_touches, 2) + 1] / 86400,
          (secs[intDiv(with_touches, 2)] / 86400 + secs[intDiv(with_touches, 2) + 1] / 86400) / 2)) AS median_days
FROM
(
    SELECT
        conversion_type,
        count() AS conversions,
        countIf(isNotNull(seconds_to_convert)) AS with_touches,
        sumIf(assumeNotNull(seconds_to_convert), isNotNull(seconds_to_convert)) AS total_secs,
        arraySort(groupArrayIf(assumeNotNull(seconds_to_convert), isNotNull(seconds_to_convert))) AS secs
    FROM conversions_current
    GROUP BY conversion_type
);

-- The ledger's own reconciliation for dashboards, per month of conversion, conversion type and
-- currency (original, and `reporting:<code>`): revenue against the credits of each model.
-- `attrib reconcile` checks the same against the CRM's deal history.
CREATE VIEW IF NOT EXISTS kpi_reconciliation AS
SELECT
    month, conversion_type, currency, model, revenue_minor, credited_minor,
    credited_minor - revenue_minor AS difference_minor
FROM
(
    SELECT substring(conversion_time, 1, 7) AS month, conversion_type, currency, model,
        sum(credit_minor) AS credited_minor
    FROM credits_current
    WHERE conversion_type IN ('order', 'deal')
    GROUP BY month, conversion_type, currency, model
    UNION ALL
    SELECT substring(conversion_time, 1, 7) AS month, conversion_type,
        concat('reporting:', reporting_currency) AS currency, model,
        sum(ifNull(credit_reporting_minor, 0)) AS credited_minor
    FROM credits_current
    WHERE conversion_type IN ('order', 'deal')
    GROUP BY month, conversion_type, currency, model
) AS credited
ALL LEFT JOIN
(
    SELECT substring(conversion_time, 1, 7) AS month, conversion_type, currency,
        sum(revenue_minor) AS revenue_minor
    FROM conversions_current
    WHERE conversion_type IN ('order', 'deal')
    GROUP BY month, conversion_type, currency
    UNION ALL
    SELECT substring(conversion_time, 1, 7) AS month, conversion_type,
        concat('reporting:', reporting_currency) AS currency,
        sum(ifNull(revenue_reporting_minor, 0)) AS revenue_minor
    FROM conversions_current
    WHERE conversion_type IN ('order', 'deal')
    GROUP BY month, conversion_type, currency
) AS booked USING (month, conversion_type, currency);
