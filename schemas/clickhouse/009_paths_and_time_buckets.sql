-- What the report's "top conversion paths" and "time to conversion" distribution read.
--
-- Each conversion carries its path: the channels of the touches in its window, oldest first,
-- joined by ' > ' as ChannelAttribution writes paths (empty without touches).
ALTER TABLE conversions ADD COLUMN path String;

DROP TABLE IF EXISTS conversions_current;
CREATE VIEW IF NOT EXISTS conversions_current AS
SELECT
    conversion_id, conversion_version, conversion_type, person_id, conversion_time, revenue_minor,
    currency, touches, first_touch_time, seconds_to_convert, source_event_id, reporting_currency,
    revenue_reporting_minor, fx_status, fx_date, path
FROM conversions FINAL
WHERE deleted = 0;

-- Conversions and reporting-currency revenue per (type, path) (kpi_paths.csv); conversions
-- without a touch have no path and are left out, a missing rate counts 0.
CREATE VIEW IF NOT EXISTS kpi_paths AS
SELECT
    conversion_type, path, count() AS conversions,
    sum(ifNull(revenue_reporting_minor, 0)) AS revenue_reporting_minor,
    max(reporting_currency) AS reporting_currency
FROM conversions_current
WHERE touches > 0
GROUP BY conversion_type, path;

-- Conversions per type and bucket of days from the first touch in the window
-- (kpi_time_to_conversion_buckets.csv): lower bound included, upper excluded, the last open.
-- The bounds are attrib_ledger::TIME_BUCKET_DAYS.
CREATE VIEW IF NOT EXISTS kpi_time_to_conversion_buckets AS
SELECT
    conversion_type,
    ['< 1 day', '1-2 days', '2-4 days', '4-7 days', '7-14 days', '14-30 days', '30-60 days', '60-90 days', '90+ days'][i] AS bucket,
    [0, 1, 2, 4, 7, 14, 30, 60, 90][i] AS lower_days,
    if(i = 9, NULL, [1, 2, 4, 7, 14, 30, 60, 90, 0][i]) AS upper_days,
    conversions
FROM
(
    SELECT
        conversion_type,
        multiIf(s < 86400, 1, s < 172800, 2, s < 345600, 3, s < 604800, 4, s < 1209600, 5,
                s < 2592000, 6, s < 5184000, 7, s < 7776000, 8, 9) AS i,
        count() AS conversions
    FROM
    (
        SELECT conversion_type, assumeNotNull(seconds_to_convert) AS s
        FROM conversions_current
        WHERE isNotNull(seconds_to_convert)
    )
    GROUP BY conversion_type, i
);
