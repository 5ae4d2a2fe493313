//! Row types of the ClickHouse tables (RowBinary: field order = column order).

use attrib_contract::{ActorType, AdSpend, Currency, FxRate, InteractionKind, Name, Platform, Text, Timestamp};
use attrib_journeys::TouchSource;
use attrib_ledger::{Change, ConversionRow, CreditRow, TouchRow};
use serde::{Deserialize, Serialize};

/// Seconds since the epoch for a DateTime column (clamped to its range).
fn seconds(t: Timestamp) -> u32 {
    t.unix_secs().clamp(0, u32::MAX as i64) as u32
}

/// Days since the epoch for a Date column, from YYYY-MM-DD (clamped to its range).
fn date_days(date: &str) -> u16 {
    attrib_contract::Date::parse(date).map_or(0, |d| d.days_since_epoch()).clamp(0, u16::MAX as i32) as u16
}

#[derive(Debug, Clone, Serialize, Deserialize, clickhouse::Row)]
pub struct RawEventRow {
    pub topic: String,
    pub event_key: String,
    pub payload: String,
    pub kafka_partition: i32,
    pub kafka_offset: i64,
    pub ingested_at: u32,
}

/// `ingest_frontier`: the next offset of a source partition the state has consumed to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, clickhouse::Row)]
pub struct FrontierRow {
    pub topic: String,
    pub kafka_partition: i32,
    pub next_offset: i64,
}

/// A `touchpoints` row as written (text columns borrowed like `CreditTableRow`'s).
#[derive(Debug, Clone, Default, Serialize, clickhouse::Row)]
pub struct TouchpointRow {
    pub touch_source: &'static str,
    pub touch_event_id: Name,
    pub person_id: Name,
    pub touch_time: Text,
    pub touch_ts: u32,
    pub channel: &'static str,
    pub platform: &'static str,
    pub actor_type: &'static str,
    pub interaction: &'static str,
    pub account_id: Name,
    pub campaign_id: Name,
    pub post_id: Name,
    pub ad_id: Name,
    pub deleted: u8,
    pub revision: u64,
}

impl TouchpointRow {
    /// The row of a change: a tombstone carries its key columns and leaves the others empty.
    pub fn from_change(c: &Change<TouchRow>, revision: u64) -> Self {
        let r = &c.row;
        let key = TouchpointRow {
            touch_source: r.touch_source.as_str(),
            touch_event_id: r.touch_event_id.clone(),
            deleted: u8::from(c.deleted),
            revision,
            ..TouchpointRow::default()
        };
        if c.deleted {
            return key;
        }
        TouchpointRow {
            person_id: r.person_id.clone(),
            touch_time: r.touch_time.rfc3339(),
            touch_ts: seconds(r.touch_time),
            channel: r.channel.as_str(),
            platform: r.platform().map_or("", Platform::as_str),
            actor_type: r.actor_type.map_or("", ActorType::as_str),
            interaction: r.interaction.map_or("", InteractionKind::as_str),
            account_id: r.account_id.clone(),
            campaign_id: r.campaign_id.clone(),
            post_id: r.post_id.clone(),
            ad_id: r.ad_id.clone(),
            ..key
        }
    }
}

/// A `conversions` row as written (text columns borrowed like `CreditTableRow`'s).
#[derive(Debug, Clone, Default, Serialize, clickhouse::Row)]
pub struct ConversionTableRow {
    pub conversion_id: Name,
    pub conversion_version: i64,
    pub conversion_type: &'static str,
    pub person_id: Name,
    pub conversion_time: Text,
    pub conversion_ts: u32,
    pub revenue_minor: i64,
    #[serde(serialize_with = "code_or_empty")]
    pub currency: Option<Currency>,
    pub touches: u32,
    pub first_touch_time: Text,
    pub seconds_to_convert: Option<i64>,
    pub source_event_id: Name,
    pub deleted: u8,
    pub revision: u64,
    #[serde(serialize_with = "code_or_empty")]
    pub reporting_currency: Option<Currency>,
    pub revenue_reporting_minor: Option<i64>,
    pub fx_status: &'static str,
    pub fx_date: Text,
    pub path: Name,
}

impl ConversionTableRow {
    /// The row of a change: a tombstone carries its key columns and leaves the others empty.
    pub fn from_change(c: &Change<ConversionRow>, revision: u64) -> Self {
        let r = &c.row;
        let key = ConversionTableRow {
            conversion_id: r.conversion_id.clone(),
            conversion_version: r.conversion_version,
            deleted: u8::from(c.deleted),
            revision,
            ..ConversionTableRow::default()
        };
        if c.deleted {
            return key;
        }
        ConversionTableRow {
            conversion_type: r.conversion_type.as_str(),
            person_id: r.person_id.clone(),
            conversion_time: r.conversion_time.rfc3339(),
            conversion_ts: seconds(r.conversion_time),
            revenue_minor: r.revenue_minor,
            currency: r.currency,
            touches: r.touches.min(u32::MAX as usize) as u32,
            first_touch_time: r.first_touch_time.map(Timestamp::rfc3339).unwrap_or_default(),
            seconds_to_convert: r.seconds_to_convert,
            source_event_id: r.source_event_id.clone(),
            reporting_currency: Some(r.reporting_currency),
            revenue_reporting_minor: r.revenue_reporting_minor,
            fx_status: r.fx_status.as_str(),
            fx_date: r.fx_date.map(attrib_contract::Date::text).unwrap_or_default(),
            path: r.path.clone(),
            ..key
        }
    }
}

/// A `credits` / `pipeline` row as written. Its text columns are the ledger's shared names,
/// the names of enum values and timestamps formatted on the stack: writing a row copies no
/// string (the rows read back are `recovery::CreditRead`, checked against these in its tests).
#[derive(Debug, Clone, Default, Serialize, clickhouse::Row)]
pub struct CreditTableRow {
    pub conversion_id: Name,
    pub conversion_version: i64,
    pub conversion_type: &'static str,
    pub model: &'static str,
    pub model_version: Name,
    pub person_id: Name,
    pub touch_event_id: Name,
    pub touch_source: &'static str,
    pub touch_time: Text,
    pub touch_ts: u32,
    pub channel: &'static str,
    pub platform: &'static str,
    pub campaign_id: Name,
    pub post_id: Name,
    pub ad_id: Name,
    pub actor_type: &'static str,
    pub weight: f64,
    pub credit_minor: i64,
    #[serde(serialize_with = "code_or_empty")]
    pub currency: Option<Currency>,
    pub conversion_time: Text,
    pub conversion_ts: u32,
    pub deleted: u8,
    pub revision: u64,
    pub credit_reporting_minor: Option<i64>,
    #[serde(serialize_with = "code_or_empty")]
    pub reporting_currency: Option<Currency>,
}

/// A currency column: the code, empty for none.
fn code_or_empty<S: serde::Serializer>(c: &Option<Currency>, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(c.as_ref().map_or("", Currency::as_str))
}

impl CreditTableRow {
    /// The row of a change: a tombstone carries its key columns and leaves the others empty.
    pub fn from_change(c: &Change<CreditRow>, revision: u64) -> Self {
        let r = &c.row;
        let key = CreditTableRow {
            conversion_id: r.conversion_id.clone(),
            conversion_version: r.conversion_version,
            model: r.model.as_str(),
            touch_event_id: r.touch_event_id.clone(),
            touch_source: r.touch_source.map_or("", TouchSource::as_str),
            deleted: u8::from(c.deleted),
            revision,
            ..CreditTableRow::default()
        };
        if c.deleted {
            return key;
        }
        CreditTableRow {
            conversion_type: r.conversion_type.as_str(),
            model_version: r.model_version.clone(),
            person_id: r.person_id.clone(),
            touch_time: r.touch_time.map(Timestamp::rfc3339).unwrap_or_default(),
            touch_ts: r.touch_time.map_or(0, seconds),
            channel: r.channel_name(),
            platform: r.platform.map_or("", Platform::as_str),
            campaign_id: r.campaign_id.clone(),
            post_id: r.post_id.clone(),
            ad_id: r.ad_id.clone(),
            actor_type: r.actor_type.map_or("", ActorType::as_str),
            weight: r.weight,
            credit_minor: r.credit_minor,
            currency: r.currency,
            conversion_time: r.conversion_time.rfc3339(),
            conversion_ts: seconds(r.conversion_time),
            credit_reporting_minor: r.credit_reporting_minor,
            reporting_currency: Some(r.reporting_currency),
            ..key
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, clickhouse::Row)]
pub struct AdSpendRow {
    pub event_id: String,
    /// Days since the epoch (ClickHouse `Date`).
    pub date: u16,
    pub platform: String,
    pub campaign_id: String,
    pub ad_id: String,
    pub spend_minor: i64,
    pub currency: String,
    pub impressions: i64,
    pub clicks: i64,
    /// Added by migration 008 (appended: RowBinary follows the column order).
    pub version: i64,
}

impl From<&AdSpend> for AdSpendRow {
    fn from(s: &AdSpend) -> Self {
        AdSpendRow {
            event_id: s.event_id.clone(),
            date: s.date.days_since_epoch().clamp(0, u16::MAX as i32) as u16,
            platform: s.platform.to_string(),
            campaign_id: s.campaign_id.clone(),
            ad_id: s.ad_id.clone().unwrap_or_default(),
            spend_minor: s.spend.minor,
            currency: s.spend.currency.to_string(),
            impressions: s.impressions,
            clicks: s.clicks,
            version: s.version,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, clickhouse::Row)]
pub struct FxRateRow {
    pub date: u16,
    pub currency: String,
    pub rate_to_reporting: String,
}

impl From<&FxRate> for FxRateRow {
    fn from(f: &FxRate) -> Self {
        FxRateRow {
            date: f.date.days_since_epoch().clamp(0, u16::MAX as i32) as u16,
            currency: f.currency.to_string(),
            rate_to_reporting: f.rate_to_reporting.clone(),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, clickhouse::Row)]
pub struct ModelFitRow {
    pub model: String,
    pub model_version: String,
    pub fitted_at: u32,
    pub report: String,
    /// Added by migration 006 (appended: RowBinary follows the column order).
    pub conversion_type: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, clickhouse::Row)]
pub struct SpendFactRow {
    pub source: String,
    pub event_id: String,
    /// Days since the epoch (ClickHouse `Date`).
    pub date: u16,
    pub platform: String,
    pub campaign_id: String,
    pub ad_id: String,
    pub post_id: String,
    pub actor_type: String,
    pub spend_minor: i64,
    pub currency: String,
    pub impressions: i64,
    pub clicks: i64,
    pub reporting_currency: String,
    pub spend_reporting_minor: Option<i64>,
    pub fx_status: String,
    pub fx_date: String,
    pub revision: u64,
    /// Added by migration 008: a fact a higher `ads.spend` version replaced.
    pub deleted: u8,
}

impl SpendFactRow {
    pub fn of(c: &Change<attrib_ledger::SpendRow>, revision: u64) -> Self {
        let r = &c.row;
        SpendFactRow {
            source: r.source.clone(),
            event_id: r.event_id.clone(),
            date: date_days(&r.date),
            platform: r.platform.clone(),
            campaign_id: r.campaign_id.clone(),
            ad_id: r.ad_id.clone(),
            post_id: r.post_id.clone(),
            actor_type: r.actor_type.clone(),
            spend_minor: r.spend_minor,
            currency: r.currency.clone(),
            impressions: r.impressions,
            clicks: r.clicks,
            reporting_currency: r.reporting_currency.clone(),
            spend_reporting_minor: r.spend_reporting_minor,
            fx_status: r.fx_status.clone(),
            fx_date: r.fx_date.clone(),
            revision,
            deleted: u8::from(c.deleted),
        }
    }
}

/// A row of `crm_deals` (same fields as `attrib_ledger::DealVersionRow`).
#[derive(Debug, Clone, Serialize, Deserialize, clickhouse::Row)]
pub struct CrmDealRow {
    pub deal_id: String,
    pub version: i64,
    pub event_id: String,
    pub occurred_at: String,
    pub contact_id: String,
    pub stage: String,
    pub amount_minor: i64,
    pub currency: String,
    pub created_at: String,
    pub closed_at: String,
}

impl From<attrib_ledger::DealVersionRow> for CrmDealRow {
    fn from(d: attrib_ledger::DealVersionRow) -> Self {
        CrmDealRow {
            deal_id: d.deal_id,
            version: d.version,
            event_id: d.event_id,
            occurred_at: d.occurred_at,
            contact_id: d.contact_id,
            stage: d.stage,
            amount_minor: d.amount_minor,
            currency: d.currency,
            created_at: d.created_at,
            closed_at: d.closed_at,
        }
    }
}

impl From<CrmDealRow> for attrib_ledger::DealVersionRow {
    fn from(d: CrmDealRow) -> Self {
        attrib_ledger::DealVersionRow {
            deal_id: d.deal_id,
            version: d.version,
            event_id: d.event_id,
            occurred_at: d.occurred_at,
            contact_id: d.contact_id,
            stage: d.stage,
            amount_minor: d.amount_minor,
            currency: d.currency,
            created_at: d.created_at,
            closed_at: d.closed_at,
        }
    }
}

/// One social interaction, counted for engagement (`social_engagement`).
#[derive(Debug, Clone, Serialize, Deserialize, clickhouse::Row)]
pub struct EngagementTableRow {
    pub event_id: String,
    /// Days since 1970-01-01 (ClickHouse `Date`).
    pub date: u16,
    pub occurred_at: String,
    pub platform: String,
    pub account_id: String,
    pub actor_type: String,
    pub campaign_id: String,
    pub post_id: String,
    pub ad_id: String,
    pub interaction: String,
}

impl From<&attrib_ledger::EngagementRow> for EngagementTableRow {
    fn from(r: &attrib_ledger::EngagementRow) -> Self {
        EngagementTableRow {
            event_id: r.event_id.clone(),
            date: date_days(&r.date),
            occurred_at: r.occurred_at.clone(),
            platform: r.platform.clone(),
            account_id: r.account_id.clone(),
            actor_type: r.actor_type.clone(),
            campaign_id: r.campaign_id.clone(),
            post_id: r.post_id.clone(),
            ad_id: r.ad_id.clone(),
            interaction: r.interaction.clone(),
        }
    }
}
