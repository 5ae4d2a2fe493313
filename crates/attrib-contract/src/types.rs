//! Typed records of the wire contract v1 (DESIGN.md §2).

use crate::time::{Date, Timestamp};
use crate::Money;
use serde::de::Error as _;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;

/// Declares a closed, case-sensitive wire enum with its spellings.
macro_rules! wire_enum {
    ($(#[$meta:meta])* $name:ident { $($variant:ident => $text:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub enum $name { $($variant),+ }

        impl $name {
            /// Every value, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];
            /// Every spelling accepted on the wire.
            pub const NAMES: &'static [&'static str] = &[$($text),+];

            pub const fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text),+ }
            }

            pub fn parse(s: &str) -> Option<Self> {
                match s { $($text => Some($name::$variant),)+ _ => None }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.pad(self.as_str())
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
                $name::parse(&s).ok_or_else(|| D::Error::unknown_variant(&s, $name::NAMES))
            }
        }
    };
}

wire_enum!(
    /// Social network the interaction happened on; `other` for the rest.
    Platform {
        Facebook => "facebook",
        Instagram => "instagram",
        Linkedin => "linkedin",
        X => "x",
        Tiktok => "tiktok",
        Youtube => "youtube",
        Pinterest => "pinterest",
        Snapchat => "snapchat",
        Other => "other",
    }
);

wire_enum!(
    /// What the person did with the content.
    InteractionKind {
        Impression => "impression",
        View => "view",
        Like => "like",
        Comment => "comment",
        Share => "share",
        Save => "save",
        Follow => "follow",
        Click => "click",
        LinkClick => "link_click",
        Message => "message",
        Mention => "mention",
    }
);

impl InteractionKind {
    /// Impressions and views are exposures, not engagements: touches only with view-through on.
    pub fn is_exposure(self) -> bool {
        matches!(self, InteractionKind::Impression | InteractionKind::View)
    }
}

wire_enum!(
    /// Who published the content the person interacted with.
    ActorType {
        Brand => "brand",
        Employee => "employee",
        Influencer => "influencer",
        Paid => "paid",
    }
);

wire_enum!(
    /// Kind of web analytics event.
    WebEventType {
        SessionStart => "session_start",
        PageView => "page_view",
        Signup => "signup",
        LeadForm => "lead_form",
        Order => "order",
    }
);

wire_enum!(
    /// CRM object a record describes.
    CrmObject {
        Contact => "contact",
        Lead => "lead",
        Deal => "deal",
    }
);

wire_enum!(
    /// Pipeline stage of a deal.
    DealStage {
        Open => "open",
        ClosedWon => "closed_won",
        ClosedLost => "closed_lost",
    }
);

wire_enum!(
    /// The topics of the contract, by their Kafka names.
    Topic {
        SocialInteractions => "social.interactions",
        WebEvents => "web.events",
        CrmRecords => "crm.records",
        AdsSpend => "ads.spend",
        FxRates => "fx.rates",
    }
);

impl Topic {
    /// Name of the dead-letter topic for this topic.
    pub fn dlq(self) -> String {
        format!("{}.dlq", self.as_str())
    }
}

/// ISO 4217-shaped currency code: three upper-case ASCII letters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Currency([u8; 3]);

impl Currency {
    /// ISO 4217's code for "no currency involved".
    pub const XXX: Currency = Currency(*b"XXX");

    pub fn parse(s: &str) -> Option<Currency> {
        match s.as_bytes() {
            [a, b, c] if [a, b, c].iter().all(|x| x.is_ascii_uppercase()) => Some(Currency([*a, *b, *c])),
            _ => None,
        }
    }
    pub fn as_str(&self) -> &str {
        // Only upper-case ASCII letters are ever stored.
        std::str::from_utf8(&self.0).unwrap_or("???")
    }
    /// Digits after the decimal point of the currency's minor unit (ISO 4217; 2 unless listed).
    pub fn minor_unit_digits(self) -> u32 {
        match self.as_str() {
            "BIF" | "CLP" | "DJF" | "GNF" | "ISK" | "JPY" | "KMF" | "KRW" | "PYG" | "RWF" | "UGX" | "UYI" | "VND"
            | "VUV" | "XAF" | "XOF" | "XPF" => 0,
            "BHD" | "IQD" | "JOD" | "KWD" | "LYD" | "OMR" | "TND" => 3,
            "CLF" | "UYW" => 4,
            _ => 2,
        }
    }
}

impl fmt::Display for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.as_str())
    }
}

impl Serialize for Currency {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.rfc3339())
    }
}

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        Timestamp::parse_rfc3339(&s).ok_or_else(|| D::Error::custom(format!("not an RFC 3339 timestamp: {s:?}")))
    }
}

impl<'de> Deserialize<'de> for Currency {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        Currency::parse(&s).ok_or_else(|| D::Error::custom(format!("not a currency code: {s:?}")))
    }
}

impl Serialize for Date {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.text())
    }
}

impl<'de> Deserialize<'de> for Date {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        Date::parse(&s).ok_or_else(|| D::Error::custom(format!("not a date (YYYY-MM-DD): {s:?}")))
    }
}

/// UTM parameters as sent; comparisons trim and lower-case them later.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Utm {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub medium: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub campaign: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub content: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub term: Option<String>,
}

/// The person behind a social interaction, when the platform shares it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct SocialUser {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub platform_user_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email_sha256: Option<String>,
}

/// `social.interactions`: one interaction with social content.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SocialInteraction {
    pub event_id: String,
    pub occurred_at: Timestamp,
    pub platform: Platform,
    pub interaction: InteractionKind,
    pub account_id: String,
    pub actor_type: ActorType,
    pub post_id: String,
    pub campaign_id: Option<String>,
    pub ad_id: Option<String>,
    pub user: Option<SocialUser>,
    pub click_id: Option<String>,
    pub utm: Option<Utm>,
    /// Paid delivery cost of this interaction.
    pub cost: Option<Money>,
}

/// `order` payload of a web `order` event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Order {
    pub order_id: String,
    pub revenue: Money,
}

/// `web.events`: analytics events from the company's site.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebEvent {
    pub event_id: String,
    pub occurred_at: Timestamp,
    pub anonymous_id: String,
    pub user_id: Option<String>,
    pub email_sha256: Option<String>,
    pub kind: WebEventType,
    pub utm: Option<Utm>,
    pub click_id: Option<String>,
    pub referrer: Option<String>,
    /// Present exactly when `kind` is `order`.
    pub order: Option<Order>,
}

/// Deal fields of a `crm.records` record with `object = deal`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Deal {
    pub deal_id: String,
    pub stage: DealStage,
    pub amount: Money,
    pub created_at: Timestamp,
    /// Required when the stage is `closed_won`.
    pub closed_at: Option<Timestamp>,
    pub version: i64,
}

/// `crm.records`: contacts, leads and deals.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CrmRecord {
    pub event_id: String,
    pub occurred_at: Timestamp,
    pub object: CrmObject,
    pub contact_id: String,
    pub email_sha256: Option<String>,
    /// Present exactly when `object` is `deal`.
    pub deal: Option<Deal>,
}

/// `ads.spend`: daily delivery cost per ad.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdSpend {
    pub event_id: String,
    pub date: Date,
    pub platform: Platform,
    pub campaign_id: String,
    pub ad_id: Option<String>,
    pub spend: Money,
    pub impressions: i64,
    pub clicks: i64,
    /// Restatements: per (date, platform, campaign, ad) the highest version is the spend
    /// (ties: the greater event id); absent on the wire = 0.
    pub version: i64,
}

/// `fx.rates`: how many units of the reporting currency one unit of `currency` buys on `date`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FxRate {
    pub date: Date,
    pub currency: Currency,
    /// Exact decimal, kept as sent (validated: positive, digits with an optional fraction).
    pub rate_to_reporting: String,
}

/// Any valid record of any topic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    Social(SocialInteraction),
    Web(WebEvent),
    Crm(CrmRecord),
    Spend(AdSpend),
    Fx(FxRate),
}

impl Event {
    pub fn topic(&self) -> Topic {
        match self {
            Event::Social(_) => Topic::SocialInteractions,
            Event::Web(_) => Topic::WebEvents,
            Event::Crm(_) => Topic::CrmRecords,
            Event::Spend(_) => Topic::AdsSpend,
            Event::Fx(_) => Topic::FxRates,
        }
    }

    /// The key that makes a record unique within its topic (duplicates are dropped on it).
    pub fn dedup_key(&self) -> String {
        match self {
            Event::Social(e) => e.event_id.clone(),
            Event::Web(e) => e.event_id.clone(),
            Event::Crm(e) => e.event_id.clone(),
            Event::Spend(e) => e.event_id.clone(),
            Event::Fx(e) => format!("{}:{}", e.date, e.currency),
        }
    }
}
