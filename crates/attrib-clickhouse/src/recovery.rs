//! Reads a restarting service needs: the raw events it consumed, and the live rows it wrote.

use crate::Error;
use attrib_ledger::{ConversionRow, CreditRow, LiveRows, TouchRow};
use clickhouse::Client;
use serde::Deserialize;

#[derive(Debug, Deserialize, clickhouse::Row)]
struct RawRead {
    topic: String,
    payload: String,
}

/// Streams every stored raw event, in the order it was consumed per partition, to `each`
/// (topic, payload); returns how many. The history is never held in memory at once.
pub async fn for_each_raw_event(client: &Client, mut each: impl FnMut(&str, &str)) -> Result<u64, Error> {
    let mut cursor = client
        .query("SELECT topic, payload FROM events_raw FINAL ORDER BY topic, kafka_partition, kafka_offset")
        .fetch::<RawRead>()?;
    let mut n = 0;
    while let Some(r) = cursor.next().await? {
        each(&r.topic, &r.payload);
        n += 1;
    }
    Ok(n)
}

/// How far the stored state has consumed each Kafka partition: the greater of the recorded
/// frontier and the offset after the last stored raw event (state written before 005 has
/// only the latter). `topic_prefix` turns the contract topic names of `events_raw` into
/// Kafka topic names.
pub async fn frontier(client: &Client, topic_prefix: &str) -> Result<Vec<crate::FrontierRow>, Error> {
    let rows: Vec<crate::FrontierRow> = client
        .query(
            "SELECT t AS topic, p AS kafka_partition, max(n) AS next_offset FROM ( \
               SELECT topic AS t, kafka_partition AS p, next_offset AS n FROM ingest_frontier \
               UNION ALL SELECT concat(?, topic) AS t, kafka_partition AS p, max(kafka_offset) + 1 AS n \
               FROM events_raw GROUP BY topic, kafka_partition) \
             GROUP BY t, p ORDER BY t, p",
        )
        .bind(topic_prefix)
        .fetch_all()
        .await?;
    Ok(rows)
}

#[derive(Debug, Deserialize, clickhouse::Row)]
struct CreditRead {
    conversion_id: String,
    conversion_version: i64,
    conversion_type: String,
    model: String,
    model_version: String,
    person_id: String,
    touch_event_id: String,
    touch_source: String,
    touch_time: String,
    channel: String,
    platform: String,
    campaign_id: String,
    post_id: String,
    ad_id: String,
    actor_type: String,
    weight: f64,
    credit_minor: i64,
    currency: String,
    conversion_time: String,
    credit_reporting_minor: Option<i64>,
    reporting_currency: String,
}

#[derive(Debug, Deserialize, clickhouse::Row)]
struct ConversionRead {
    conversion_id: String,
    conversion_version: i64,
    conversion_type: String,
    person_id: String,
    conversion_time: String,
    revenue_minor: i64,
    currency: String,
    touches: u32,
    first_touch_time: String,
    seconds_to_convert: Option<i64>,
    source_event_id: String,
    reporting_currency: String,
    revenue_reporting_minor: Option<i64>,
    fx_status: String,
    fx_date: String,
}

#[derive(Debug, Deserialize, clickhouse::Row)]
struct TouchRead {
    touch_source: String,
    touch_event_id: String,
    person_id: String,
    touch_time: String,
    channel: String,
    platform: String,
    actor_type: String,
    interaction: String,
    account_id: String,
    campaign_id: String,
    post_id: String,
    ad_id: String,
}

/// The live credits (as `credits_current` shows them, same columns as `credits.csv`).
pub async fn live_credits(client: &Client) -> Result<Vec<CreditRow>, Error> {
    credits_of(client, "credits_current").await
}

/// Streams every live row of the ledger tables (what a restarting service seeds its ledger
/// with) to `each`, in chunks of at most `chunk` rows: bounded memory, whatever the ledger.
pub async fn for_each_live_rows(client: &Client, chunk: usize, mut each: impl FnMut(LiveRows)) -> Result<(), Error> {
    let chunk = chunk.max(1);
    let mut part = LiveRows::default();
    let mut cursor = client.query("SELECT ?fields FROM conversions_current").fetch::<ConversionRead>()?;
    while let Some(r) = cursor.next().await? {
        part.conversions.push(r.into());
        if part.conversions.len() >= chunk {
            each(std::mem::take(&mut part));
        }
    }
    let mut cursor = client.query("SELECT ?fields FROM touchpoints_current").fetch::<TouchRead>()?;
    while let Some(r) = cursor.next().await? {
        part.touches.push(r.into());
        if part.touches.len() >= chunk {
            each(std::mem::take(&mut part));
        }
    }
    for (view, pipeline) in [("credits_current", false), ("pipeline_current", true)] {
        let mut cursor = client.query(&format!("SELECT ?fields FROM {view}")).fetch::<CreditRead>()?;
        while let Some(r) = cursor.next().await? {
            let rows = if pipeline { &mut part.pipeline } else { &mut part.credits };
            rows.push(r.into());
            if rows.len() >= chunk {
                each(std::mem::take(&mut part));
            }
        }
    }
    each(part);
    Ok(())
}

/// Credit rows from a view with the columns of `credits_current`.
async fn credits_of(client: &Client, view: &str) -> Result<Vec<CreditRow>, Error> {
    let rows: Vec<CreditRead> = client.query(&format!("SELECT ?fields FROM {view}")).fetch_all().await?;
    Ok(rows.into_iter().map(Into::into).collect())
}

impl From<CreditRead> for CreditRow {
    fn from(r: CreditRead) -> CreditRow {
        CreditRow {
            conversion_id: r.conversion_id,
            conversion_version: r.conversion_version,
            conversion_type: r.conversion_type,
            model: r.model,
            model_version: r.model_version,
            person_id: r.person_id,
            touch_event_id: r.touch_event_id,
            touch_source: r.touch_source,
            touch_time: r.touch_time,
            channel: r.channel,
            platform: r.platform,
            campaign_id: r.campaign_id,
            post_id: r.post_id,
            ad_id: r.ad_id,
            actor_type: r.actor_type,
            weight: r.weight,
            credit_minor: r.credit_minor,
            currency: r.currency,
            conversion_time: r.conversion_time,
            credit_reporting_minor: r.credit_reporting_minor,
            reporting_currency: r.reporting_currency,
        }
    }
}

impl From<ConversionRead> for ConversionRow {
    fn from(r: ConversionRead) -> ConversionRow {
        ConversionRow {
            conversion_id: r.conversion_id,
            conversion_version: r.conversion_version,
            conversion_type: r.conversion_type,
            person_id: r.person_id,
            conversion_time: r.conversion_time,
            revenue_minor: r.revenue_minor,
            currency: r.currency,
            touches: r.touches as usize,
            first_touch_time: r.first_touch_time,
            seconds_to_convert: r.seconds_to_convert,
            source_event_id: r.source_event_id,
            reporting_currency: r.reporting_currency,
            revenue_reporting_minor: r.revenue_reporting_minor,
            fx_status: r.fx_status,
            fx_date: r.fx_date,
        }
    }
}

impl From<TouchRead> for TouchRow {
    fn from(r: TouchRead) -> TouchRow {
        TouchRow {
            touch_source: r.touch_source,
            touch_event_id: r.touch_event_id,
            person_id: r.person_id,
            touch_time: r.touch_time,
            channel: r.channel,
            platform: r.platform,
            actor_type: r.actor_type,
            interaction: r.interaction,
            account_id: r.account_id,
            campaign_id: r.campaign_id,
            post_id: r.post_id,
            ad_id: r.ad_id,
        }
    }
}

/// Every deal version the service received (the CRM side of the reconciliation).
pub async fn deal_versions(client: &Client) -> Result<Vec<attrib_ledger::DealVersionRow>, Error> {
    let rows: Vec<crate::CrmDealRow> =
        client.query("SELECT ?fields FROM crm_deals FINAL ORDER BY deal_id, version, event_id").fetch_all().await?;
    Ok(rows.into_iter().map(Into::into).collect())
}

#[derive(Debug, Deserialize, clickhouse::Row)]
struct FxRead {
    date: String,
    currency: String,
    rate_to_reporting: String,
}

/// The stored exchange rates as (date YYYY-MM-DD, currency, rate).
pub async fn fx_rates(client: &Client) -> Result<Vec<(String, String, String)>, Error> {
    let rows: Vec<FxRead> = client
        .query("SELECT toString(date) AS date, currency, rate_to_reporting FROM fx_rates FINAL ORDER BY date, currency")
        .fetch_all()
        .await?;
    Ok(rows.into_iter().map(|r| (r.date, r.currency, r.rate_to_reporting)).collect())
}

/// A whole view or table as CSV with a header row (NULL as `\N`), for readers that map
/// columns by name.
pub async fn table_csv(client: &Client, table: &str) -> Result<Vec<u8>, Error> {
    let bytes = client.query(&format!("SELECT * FROM {table}")).fetch_bytes("CSVWithNames")?.collect().await?;
    Ok(bytes.to_vec())
}
