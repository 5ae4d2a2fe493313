//! What the models see of a person: ordered touches and conversions.

use crate::channel::Channel;
use attrib_contract::{ActorType, Currency, DealStage, Duration, InteractionKind, Platform, Timestamp};
use serde::Deserialize;
use std::fmt;

/// Which topic a touch came from (breaks ties between equal event ids of two topics).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum TouchSource {
    Social,
    Web,
}

impl TouchSource {
    pub fn as_str(self) -> &'static str {
        match self {
            TouchSource::Social => "social",
            TouchSource::Web => "web",
        }
    }

    pub fn parse(s: &str) -> Option<TouchSource> {
        [TouchSource::Social, TouchSource::Web].into_iter().find(|t| t.as_str() == s)
    }
}

attrib_contract::serde_by_name!(TouchSource, "touch source");

/// One touchpoint of a person: a social interaction or a web session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Touch<'a> {
    pub event_id: &'a str,
    pub source: TouchSource,
    pub time: Timestamp,
    pub channel: Channel,
    pub interaction: Option<InteractionKind>,
    pub actor_type: Option<ActorType>,
    pub account_id: Option<&'a str>,
    pub campaign_id: Option<&'a str>,
    pub post_id: Option<&'a str>,
    pub ad_id: Option<&'a str>,
}

impl Touch<'_> {
    /// Touches are ordered by time, then event id (then topic, for equal ids).
    pub fn order_key(&self) -> (Timestamp, &str, TouchSource) {
        (self.time, self.event_id, self.source)
    }

    pub fn platform(&self) -> Option<Platform> {
        self.channel.platform()
    }
}

/// Kinds of conversion (DESIGN.md §3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ConversionType {
    Order,
    Deal,
    Lead,
    Signup,
}

impl ConversionType {
    pub const ALL: [ConversionType; 4] =
        [ConversionType::Order, ConversionType::Deal, ConversionType::Lead, ConversionType::Signup];

    pub fn as_str(self) -> &'static str {
        match self {
            ConversionType::Order => "order",
            ConversionType::Deal => "deal",
            ConversionType::Lead => "lead",
            ConversionType::Signup => "signup",
        }
    }

    pub fn parse(s: &str) -> Option<ConversionType> {
        ConversionType::ALL.into_iter().find(|t| t.as_str() == s)
    }
}

attrib_contract::serde_by_name!(ConversionType, "conversion type");

impl fmt::Display for ConversionType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.as_str())
    }
}

/// One conversion of a person, in its current version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Conversion<'a> {
    /// `order:<order_id>`, `deal:<deal_id>`, `lead:<event_id>` or `signup:<event_id>`.
    pub id: String,
    pub kind: ConversionType,
    /// The deal's version for deals; 1 otherwise.
    pub version: i64,
    pub time: Timestamp,
    /// Revenue in minor units; 0 for leads and signups.
    pub revenue_minor: i64,
    /// None for leads and signups.
    pub currency: Option<Currency>,
    /// The record that made this conversion (the current deal version's record for deals).
    pub source_event_id: &'a str,
    pub deal_created_at: Option<Timestamp>,
    pub deal_stage: Option<DealStage>,
}

/// Lookback windows per conversion type: a touch counts when
/// `conversion time − window < touch time ≤ conversion time`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct LookbackDays {
    pub order: i64,
    pub signup: i64,
    pub lead: i64,
    pub deal: i64,
}

impl Default for LookbackDays {
    fn default() -> Self {
        LookbackDays { order: 30, signup: 30, lead: 90, deal: 90 }
    }
}

impl LookbackDays {
    pub fn window(&self, kind: ConversionType) -> Duration {
        Duration::from_days(match kind {
            ConversionType::Order => self.order,
            ConversionType::Signup => self.signup,
            ConversionType::Lead => self.lead,
            ConversionType::Deal => self.deal,
        })
    }
}

/// How journeys are built.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct JourneyConfig {
    /// Count impressions and views as touches (view-through). Default off.
    pub view_through: bool,
    pub lookback_days: LookbackDays,
}

/// Everything the models need about one person.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Journey<'a> {
    /// The person's stable key (smallest identifier in the component).
    pub person: &'a str,
    /// All touches, in order.
    pub touches: Vec<Touch<'a>>,
    /// Conversions, ordered by time then id.
    pub conversions: Vec<Conversion<'a>>,
    /// Deals whose current version is still open (pipeline), as conversions of kind `Deal`
    /// whose `time` is the deal's `created_at`: the touches before the deal was created are
    /// the ones that influenced it. Ordered by time then id.
    pub open_deals: Vec<Conversion<'a>>,
    /// Time of the person's first lead (web lead_form or CRM lead), if any.
    pub first_lead: Option<Timestamp>,
}

impl<'a> Journey<'a> {
    /// Whether attribution has anything to credit: a conversion or an open deal.
    pub fn has_outcomes(&self) -> bool {
        !self.conversions.is_empty() || !self.open_deals.is_empty()
    }

    /// The touches that count for a conversion: inside its lookback window, not after it.
    pub fn touches_for(&self, conversion: &Conversion<'_>, window: Duration) -> &[Touch<'a>] {
        let start = conversion.time.saturating_sub(window);
        let lo = self.touches.partition_point(|t| t.time <= start);
        let hi = self.touches.partition_point(|t| t.time <= conversion.time);
        &self.touches[lo..hi.max(lo)]
    }
}
