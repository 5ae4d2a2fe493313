//! Reads a restarting service needs: the raw events it consumed, and the live rows it wrote.

use crate::Error;
use attrib_contract::{ActorType, Currency, Date, InteractionKind, Platform, Timestamp};
use attrib_journeys::{Channel, ConversionType, TouchSource};
use attrib_ledger::{unattributed_channel, ConversionRow, CreditRow, FxStatus, LiveRows, TouchRow};
use attrib_models::Model;
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
    let sql = "SELECT topic, payload FROM events_raw FINAL ORDER BY topic, kafka_partition, kafka_offset";
    for_each_raw_event_where(client, sql, &mut each).await
}

/// `for_each_raw_event` for a query of its columns.
pub(crate) async fn for_each_raw_event_where(
    client: &Client,
    sql: &str,
    each: &mut impl FnMut(&str, &str),
) -> Result<u64, Error> {
    let mut cursor = client.query(sql).fetch::<RawRead>()?;
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
    path: String,
}

#[derive(Debug, Deserialize, clickhouse::Row)]
struct TouchRead {
    touch_source: String,
    touch_event_id: String,
    person_id: String,
    touch_time: String,
    channel: String,
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
        part.conversions.push(r.typed("conversions_current")?);
        if part.conversions.len() >= chunk {
            each(std::mem::take(&mut part));
        }
    }
    let mut cursor = client.query("SELECT ?fields FROM touchpoints_current").fetch::<TouchRead>()?;
    while let Some(r) = cursor.next().await? {
        part.touches.push(r.typed("touchpoints_current")?);
        if part.touches.len() >= chunk {
            each(std::mem::take(&mut part));
        }
    }
    for (view, pipeline) in [("credits_current", false), ("pipeline_current", true)] {
        let mut cursor = client.query(&format!("SELECT ?fields FROM {view}")).fetch::<CreditRead>()?;
        while let Some(r) = cursor.next().await? {
            let rows = if pipeline { &mut part.pipeline } else { &mut part.credits };
            rows.push(r.typed(view)?);
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
    let mut cursor = client.query(&format!("SELECT ?fields FROM {view}")).fetch::<CreditRead>()?;
    let mut rows = Vec::new();
    while let Some(r) = cursor.next().await? {
        rows.push(r.typed(view)?);
    }
    Ok(rows)
}

/// A column value a read could not turn back into its type: the stored data is not what this
/// version wrote, and guessing a value would write wrong numbers.
fn unreadable(view: &str, column: &'static str, value: &str) -> Error {
    Error::Unreadable { view: view.to_string(), column, value: value.to_string() }
}

/// `parse` of a column; empty is None for optional columns.
fn optional<T>(
    view: &str,
    column: &'static str,
    value: &str,
    parse: impl Fn(&str) -> Option<T>,
) -> Result<Option<T>, Error> {
    match value {
        "" => Ok(None),
        v => parse(v).map(Some).ok_or_else(|| unreadable(view, column, v)),
    }
}

fn required<T>(view: &str, column: &'static str, value: &str, parse: impl Fn(&str) -> Option<T>) -> Result<T, Error> {
    parse(value).ok_or_else(|| unreadable(view, column, value))
}

impl CreditRead {
    fn typed(self, view: &str) -> Result<CreditRow, Error> {
        Ok(CreditRow {
            conversion_type: required(view, "conversion_type", &self.conversion_type, ConversionType::parse)?,
            model: required(view, "model", &self.model, Model::parse)?,
            touch_source: optional(view, "touch_source", &self.touch_source, TouchSource::parse)?,
            touch_time: optional(view, "touch_time", &self.touch_time, Timestamp::parse_rfc3339)?,
            channel: required(view, "channel", &self.channel, unattributed_channel::parse)?,
            platform: optional(view, "platform", &self.platform, Platform::parse)?,
            actor_type: optional(view, "actor_type", &self.actor_type, ActorType::parse)?,
            currency: optional(view, "currency", &self.currency, Currency::parse)?,
            conversion_time: required(view, "conversion_time", &self.conversion_time, Timestamp::parse_rfc3339)?,
            reporting_currency: required(view, "reporting_currency", &self.reporting_currency, Currency::parse)?,
            conversion_id: self.conversion_id.into(),
            conversion_version: self.conversion_version,
            model_version: self.model_version.into(),
            person_id: self.person_id.into(),
            touch_event_id: self.touch_event_id.into(),
            campaign_id: self.campaign_id.into(),
            post_id: self.post_id.into(),
            ad_id: self.ad_id.into(),
            weight: self.weight,
            credit_minor: self.credit_minor,
            credit_reporting_minor: self.credit_reporting_minor,
        })
    }
}

impl ConversionRead {
    fn typed(self, view: &str) -> Result<ConversionRow, Error> {
        Ok(ConversionRow {
            conversion_type: required(view, "conversion_type", &self.conversion_type, ConversionType::parse)?,
            conversion_time: required(view, "conversion_time", &self.conversion_time, Timestamp::parse_rfc3339)?,
            currency: optional(view, "currency", &self.currency, Currency::parse)?,
            first_touch_time: optional(view, "first_touch_time", &self.first_touch_time, Timestamp::parse_rfc3339)?,
            reporting_currency: required(view, "reporting_currency", &self.reporting_currency, Currency::parse)?,
            fx_status: required(view, "fx_status", &self.fx_status, FxStatus::parse)?,
            fx_date: optional(view, "fx_date", &self.fx_date, Date::parse)?,
            conversion_id: self.conversion_id.into(),
            conversion_version: self.conversion_version,
            person_id: self.person_id.into(),
            revenue_minor: self.revenue_minor,
            touches: self.touches as usize,
            seconds_to_convert: self.seconds_to_convert,
            source_event_id: self.source_event_id.into(),
            revenue_reporting_minor: self.revenue_reporting_minor,
            path: self.path.into(),
        })
    }
}

impl TouchRead {
    fn typed(self, view: &str) -> Result<TouchRow, Error> {
        Ok(TouchRow {
            touch_source: required(view, "touch_source", &self.touch_source, TouchSource::parse)?,
            touch_time: required(view, "touch_time", &self.touch_time, Timestamp::parse_rfc3339)?,
            channel: required(view, "channel", &self.channel, Channel::parse)?,
            actor_type: optional(view, "actor_type", &self.actor_type, ActorType::parse)?,
            interaction: optional(view, "interaction", &self.interaction, InteractionKind::parse)?,
            touch_event_id: self.touch_event_id.into(),
            person_id: self.person_id.into(),
            account_id: self.account_id.into(),
            campaign_id: self.campaign_id.into(),
            post_id: self.post_id.into(),
            ad_id: self.ad_id.into(),
        })
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::CreditTableRow;
    use attrib_contract::Name;
    use attrib_journeys::Channel;
    use attrib_ledger::Change;

    /// The row as ClickHouse would give it back: the written columns, by name, as text.
    fn read_back(r: &CreditTableRow) -> CreditRead {
        let columns = serde_json::to_value(r).expect("a written row serialises");
        serde_json::from_value(columns).expect("the columns read back")
    }

    fn credit(channel: Option<Channel>) -> CreditRow {
        let touched = channel.is_some();
        CreditRow {
            conversion_id: Name::new("order:o-1"),
            conversion_version: 2,
            conversion_type: ConversionType::Order,
            model: Model::Markov,
            model_version: Name::new("markov-order-abc"),
            person_id: Name::new("p:1"),
            touch_event_id: Name::new(if touched { "soc-1" } else { "" }),
            touch_source: touched.then_some(TouchSource::Social),
            touch_time: touched.then(|| Timestamp::parse_rfc3339("2026-03-01T10:00:00.25Z").unwrap()),
            channel,
            platform: channel.and_then(Channel::platform),
            campaign_id: Name::new("cmp-1"),
            post_id: Name::default(),
            ad_id: Name::default(),
            actor_type: touched.then_some(ActorType::Influencer),
            weight: 0.3,
            credit_minor: 1234,
            currency: Currency::parse("JPY"),
            conversion_time: Timestamp::parse_rfc3339("2026-03-02T00:00:00Z").unwrap(),
            credit_reporting_minor: Some(987),
            reporting_currency: Currency::parse("USD").unwrap(),
        }
    }

    #[test]
    fn a_written_credit_reads_back_as_the_same_typed_row() {
        for row in [credit(Some(Channel::Social(Platform::Instagram))), credit(Some(Channel::Direct)), credit(None)] {
            let written = CreditTableRow::from_change(&Change { row: row.clone(), deleted: false }, 7);
            assert_eq!(read_back(&written).typed("credits_current").unwrap(), row);
        }
    }

    #[test]
    fn a_tombstone_carries_only_its_key() {
        let row = credit(Some(Channel::Email));
        let t = CreditTableRow::from_change(&Change { row, deleted: true }, 9);
        assert_eq!((t.deleted, t.revision, t.model, t.touch_source), (1, 9, "markov", "social"));
        assert_eq!((t.conversion_id.as_str(), t.touch_event_id.as_str()), ("order:o-1", "soc-1"));
        assert!(t.person_id.is_empty() && t.channel.is_empty() && t.conversion_time.is_empty() && t.credit_minor == 0);
        assert_eq!(read_back(&t).reporting_currency, "", "no currency on a tombstone");
    }

    #[test]
    fn a_value_this_version_cannot_read_is_an_error_naming_the_column() {
        let written = CreditTableRow::from_change(&Change { row: credit(None), deleted: false }, 1);
        for (column, value) in [("model", "bogus"), ("channel", "myspace"), ("conversion_time", "2026-13-01")] {
            let mut read = read_back(&written);
            match column {
                "model" => read.model = value.into(),
                "channel" => read.channel = value.into(),
                _ => read.conversion_time = value.into(),
            }
            let e = read.typed("credits_current").unwrap_err();
            assert_eq!(e.to_string(), format!("credits_current.{column}: unreadable value {value:?}"));
        }
    }
}
