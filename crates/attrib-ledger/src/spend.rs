//! Spend facts: what was paid, from `ads.spend` (daily per ad) and from interactions that
//! carry their own delivery cost (`cost_minor`), each in its currency and in the reporting
//! currency at the rate of its own date.

use crate::fx::{FxTable, ReportingConfig};
use attrib_contract::{AdSpend, Currency, Date, Money, Platform, SocialInteraction};
use serde::{Deserialize, Serialize};

/// One spend fact, as written to `spend.csv` and the `spend_facts` table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SpendRow {
    /// `ads.spend` or `social.interactions`.
    pub source: String,
    pub event_id: String,
    /// YYYY-MM-DD (UTC for interactions).
    pub date: String,
    pub platform: String,
    pub campaign_id: String,
    pub ad_id: String,
    /// Only for interaction costs.
    pub post_id: String,
    /// `paid` for ads.spend; the interaction's actor type otherwise.
    pub actor_type: String,
    pub spend_minor: i64,
    pub currency: String,
    pub impressions: i64,
    pub clicks: i64,
    pub reporting_currency: String,
    /// Empty when the rate is missing (`fx_status` = `missing_rate`).
    pub spend_reporting_minor: Option<i64>,
    pub fx_status: String,
    pub fx_date: String,
}

/// A paid amount the engine holds, before conversion.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpendEntry {
    pub source: &'static str,
    pub event_id: String,
    pub date: Date,
    pub platform: Platform,
    pub campaign_id: String,
    pub ad_id: String,
    pub post_id: String,
    pub actor_type: String,
    pub spend: Money,
    pub impressions: i64,
    pub clicks: i64,
    /// The `ads.spend` version (0 for interaction costs, which are never restated).
    pub version: i64,
}

/// The ad-day an `ads.spend` record states: a higher version of it replaces the spend.
pub type AdDay = (Date, Platform, String, String);

impl SpendEntry {
    pub fn from_ads(s: &AdSpend) -> SpendEntry {
        SpendEntry {
            source: "ads.spend",
            event_id: s.event_id.clone(),
            date: s.date,
            platform: s.platform,
            campaign_id: s.campaign_id.clone(),
            ad_id: s.ad_id.clone().unwrap_or_default(),
            post_id: String::new(),
            actor_type: "paid".into(),
            spend: s.spend,
            impressions: s.impressions,
            clicks: s.clicks,
            version: s.version,
        }
    }

    pub fn ad_day(&self) -> AdDay {
        (self.date, self.platform, self.campaign_id.clone(), self.ad_id.clone())
    }

    /// Whether this entry states its ad-day over `other`: the higher version, then the greater
    /// event id (as deal versions tie-break).
    pub fn supersedes(&self, other: &SpendEntry) -> bool {
        (self.version, &self.event_id) > (other.version, &other.event_id)
    }

    /// The cost an interaction carries, if any.
    pub fn from_interaction(e: &SocialInteraction) -> Option<SpendEntry> {
        let cost = e.cost?;
        Some(SpendEntry {
            source: "social.interactions",
            event_id: e.event_id.clone(),
            date: e.occurred_at.date(),
            platform: e.platform,
            campaign_id: e.campaign_id.clone().unwrap_or_default(),
            ad_id: e.ad_id.clone().unwrap_or_default(),
            post_id: e.post_id.clone(),
            actor_type: e.actor_type.as_str().to_string(),
            spend: cost,
            impressions: 0,
            clicks: 0,
            version: 0,
        })
    }

    /// Whether a new rate of `currency` dated `date` may change this entry's reporting amount.
    pub fn priced_by(&self, currency: Currency, date: Date, cfg: &ReportingConfig) -> bool {
        let d = self.date.days_since_epoch() - date.days_since_epoch();
        self.spend.currency == currency && (0..=cfg.fx_fallback_days as i32).contains(&d)
    }

    pub fn row(&self, fx: &FxTable, cfg: &ReportingConfig) -> SpendRow {
        let reported = fx.report(self.spend.minor, Some(self.spend.currency), self.date, cfg);
        SpendRow {
            source: self.source.to_string(),
            event_id: self.event_id.clone(),
            date: self.date.to_string(),
            platform: self.platform.as_str().to_string(),
            campaign_id: self.campaign_id.clone(),
            ad_id: self.ad_id.clone(),
            post_id: self.post_id.clone(),
            actor_type: self.actor_type.clone(),
            spend_minor: self.spend.minor,
            currency: self.spend.currency.to_string(),
            impressions: self.impressions,
            clicks: self.clicks,
            reporting_currency: cfg.currency.to_string(),
            spend_reporting_minor: reported.minor,
            fx_status: reported.status.as_str().to_string(),
            fx_date: reported.fx_date.map(|d| d.to_string()).unwrap_or_default(),
        }
    }
}
