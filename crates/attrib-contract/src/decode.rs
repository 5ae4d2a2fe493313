//! Decoding and validation of wire records (DESIGN.md §2).
//!
//! Records are parsed into a JSON tree first and then read field by field, so every
//! rejection names the field and the problem. Unknown fields are ignored; a null
//! optional field counts as absent; an empty optional id counts as absent.

use crate::json::{Json, Members};
use crate::time::{Date, Timestamp};
use crate::types::*;
use crate::Money;
use std::fmt;

/// Why a record was rejected, and where.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", self.describe())]
pub struct DecodeError {
    /// Dotted path of the offending field (`order.revenue_minor`); empty for the whole record.
    pub field: String,
    pub problem: Problem,
}

/// The kinds of invalid input the contract names.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Problem {
    /// The bytes are not UTF-8 JSON.
    NotJson(String),
    /// The record is valid JSON but not an object.
    NotAnObject,
    Missing,
    Null,
    WrongType {
        expected: &'static str,
    },
    EmptyId,
    UnknownEnumValue {
        value: String,
        allowed: &'static [&'static str],
    },
    BadTimestamp {
        value: String,
    },
    BadDate {
        value: String,
    },
    NegativeMoney {
        value: String,
    },
    NotAnInteger {
        value: String,
    },
    OutOfRange {
        value: String,
    },
    BadCurrency {
        value: String,
    },
    BadDecimal {
        value: String,
    },
    /// A field that only makes sense together with another one came alone.
    RequiresField {
        other: &'static str,
    },
    /// Not a hex SHA-256 (64 hex digits). The value is not kept: it may be a raw address.
    InvalidHash {
        length: usize,
    },
}

impl DecodeError {
    fn at(field: impl Into<String>, problem: Problem) -> Self {
        DecodeError { field: field.into(), problem }
    }

    /// A short machine-friendly code for metrics and headers.
    pub fn code(&self) -> &'static str {
        match self.problem {
            Problem::NotJson(_) => "not_json",
            Problem::NotAnObject => "not_an_object",
            Problem::Missing => "missing_field",
            Problem::Null => "null_field",
            Problem::WrongType { .. } => "wrong_type",
            Problem::EmptyId => "empty_id",
            Problem::UnknownEnumValue { .. } => "unknown_enum_value",
            Problem::BadTimestamp { .. } => "bad_timestamp",
            Problem::BadDate { .. } => "bad_date",
            Problem::NegativeMoney { .. } => "negative_money",
            Problem::NotAnInteger { .. } => "not_an_integer",
            Problem::OutOfRange { .. } => "out_of_range",
            Problem::BadCurrency { .. } => "bad_currency",
            Problem::BadDecimal { .. } => "bad_decimal",
            Problem::RequiresField { .. } => "requires_field",
            Problem::InvalidHash { .. } => "invalid_hash",
        }
    }

    fn describe(&self) -> String {
        let what = match &self.problem {
            Problem::NotJson(e) => return format!("not valid JSON: {e}"),
            Problem::NotAnObject => return "record is not a JSON object".to_string(),
            Problem::Missing => "required field is missing".to_string(),
            Problem::Null => "required field is null".to_string(),
            Problem::WrongType { expected } => format!("must be {expected}"),
            Problem::EmptyId => "id must not be an empty string".to_string(),
            Problem::UnknownEnumValue { value, allowed } => {
                format!("unknown value {value:?} (expected one of {})", allowed.join(", "))
            }
            Problem::BadTimestamp { value } => {
                format!("{value:?} is not an RFC 3339 timestamp with an offset")
            }
            Problem::BadDate { value } => format!("{value:?} is not a date YYYY-MM-DD"),
            Problem::NegativeMoney { value } => format!("money must not be negative (got {value})"),
            Problem::NotAnInteger { value } => format!("must be an integer (got {value})"),
            Problem::OutOfRange { value } => format!("{value} is out of range"),
            Problem::InvalidHash { length } => format!(
                "must be the hex SHA-256 of the trimmed, lower-cased address: exactly 64 hex digits \
                 (got {length} characters; the value is not shown, it may be a raw address)"
            ),
            Problem::BadCurrency { value } => {
                format!("{value:?} is not a currency code (three upper-case letters)")
            }
            Problem::BadDecimal { value } => {
                format!("{value:?} is not a positive decimal string")
            }
            Problem::RequiresField { other } => format!("requires `{other}` alongside it"),
        };
        format!("field `{}`: {what}", self.field)
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let e = DecodeError { field: String::new(), problem: self.clone() };
        f.write_str(&e.describe())
    }
}

type Result<T> = std::result::Result<T, DecodeError>;

/// Decodes one record of `topic` from its raw bytes.
pub fn decode(topic: Topic, bytes: &[u8]) -> Result<Event> {
    let tree = Json::parse(bytes).map_err(|e| DecodeError::at("", Problem::NotJson(e.to_string())))?;
    decode_tree(topic, &tree)
}

/// Decodes one record of `topic` from an already parsed JSON value (as its text would be).
pub fn decode_value(topic: Topic, value: &serde_json::Value) -> Result<Event> {
    let bytes = serde_json::to_vec(value).map_err(|e| DecodeError::at("", Problem::NotJson(e.to_string())))?;
    decode(topic, &bytes)
}

fn decode_tree(topic: Topic, tree: &Json<'_>) -> Result<Event> {
    let obj = Obj::root(tree)?;
    Ok(match topic {
        Topic::SocialInteractions => Event::Social(social(&obj)?),
        Topic::WebEvents => Event::Web(web(&obj)?),
        Topic::CrmRecords => Event::Crm(crm(&obj)?),
        Topic::AdsSpend => Event::Spend(spend(&obj)?),
        Topic::FxRates => Event::Fx(fx(&obj)?),
    })
}

fn social(o: &Obj<'_>) -> Result<SocialInteraction> {
    let event_id = o.req_id("event_id")?;
    let occurred_at = o.req_timestamp("occurred_at")?;
    let platform = o.req_enum("platform", Platform::parse, Platform::NAMES)?;
    let interaction = o.req_enum("interaction", InteractionKind::parse, InteractionKind::NAMES)?;
    let account_id = o.req_id("account_id")?;
    let actor_type = o.req_enum("actor_type", ActorType::parse, ActorType::NAMES)?;
    let post_id = o.req_id("post_id")?;
    let user = match o.opt_object("user")? {
        Some(u) => {
            let user = SocialUser {
                platform_user_id: u.opt_id("platform_user_id")?,
                email_sha256: u.opt_email_hash("email_sha256")?,
            };
            (user.platform_user_id.is_some() || user.email_sha256.is_some()).then_some(user)
        }
        None => None,
    };
    let cost = match (o.opt_money_minor("cost_minor")?, o.opt_currency("currency")?) {
        (Some(minor), Some(currency)) => Some(Money { minor, currency }),
        (None, None) => None,
        (Some(_), None) => return Err(o.err("cost_minor", Problem::RequiresField { other: "currency" })),
        (None, Some(_)) => return Err(o.err("currency", Problem::RequiresField { other: "cost_minor" })),
    };
    Ok(SocialInteraction {
        event_id,
        occurred_at,
        platform,
        interaction,
        account_id,
        actor_type,
        post_id,
        campaign_id: o.opt_id("campaign_id")?,
        ad_id: o.opt_id("ad_id")?,
        user,
        click_id: o.opt_id("click_id")?,
        utm: utm(o)?,
        cost,
    })
}

fn utm(o: &Obj<'_>) -> Result<Option<Utm>> {
    let Some(u) = o.opt_object("utm")? else {
        return Ok(None);
    };
    Ok(Some(Utm {
        source: u.opt_string("source")?,
        medium: u.opt_string("medium")?,
        campaign: u.opt_string("campaign")?,
        content: u.opt_string("content")?,
        term: u.opt_string("term")?,
    }))
}

fn web(o: &Obj<'_>) -> Result<WebEvent> {
    let event_id = o.req_id("event_id")?;
    let occurred_at = o.req_timestamp("occurred_at")?;
    let anonymous_id = o.req_id("anonymous_id")?;
    let kind = o.req_enum("type", WebEventType::parse, WebEventType::NAMES)?;
    let order = if kind == WebEventType::Order {
        let ord = o.req_object("order")?;
        Some(Order {
            order_id: ord.req_id("order_id")?,
            revenue: Money { minor: ord.req_money_minor("revenue_minor")?, currency: ord.req_currency("currency")? },
        })
    } else {
        None
    };
    Ok(WebEvent {
        event_id,
        occurred_at,
        anonymous_id,
        user_id: o.opt_id("user_id")?,
        email_sha256: o.opt_email_hash("email_sha256")?,
        kind,
        utm: utm(o)?,
        click_id: o.opt_id("click_id")?,
        referrer: o.opt_string("referrer")?,
        order,
    })
}

fn crm(o: &Obj<'_>) -> Result<CrmRecord> {
    let event_id = o.req_id("event_id")?;
    let occurred_at = o.req_timestamp("occurred_at")?;
    let object = o.req_enum("object", CrmObject::parse, CrmObject::NAMES)?;
    let contact_id = o.req_id("contact_id")?;
    let email_sha256 = o.opt_email_hash("email_sha256")?;
    let deal = if object == CrmObject::Deal {
        let stage = o.req_enum("stage", DealStage::parse, DealStage::NAMES)?;
        let deal_id = o.req_id("deal_id")?;
        let minor = o.req_money_minor("amount_minor")?;
        let currency = o.req_currency("currency")?;
        let created_at = o.req_timestamp("created_at")?;
        let closed_at = if stage == DealStage::ClosedWon {
            Some(o.req_timestamp("closed_at")?)
        } else {
            o.opt_timestamp("closed_at")?
        };
        let version = o.req_integer("version")?;
        Some(Deal { deal_id, stage, amount: Money { minor, currency }, created_at, closed_at, version })
    } else {
        None
    };
    Ok(CrmRecord { event_id, occurred_at, object, contact_id, email_sha256, deal })
}

fn spend(o: &Obj<'_>) -> Result<AdSpend> {
    Ok(AdSpend {
        event_id: o.req_id("event_id")?,
        date: o.req_date("date")?,
        platform: o.req_enum("platform", Platform::parse, Platform::NAMES)?,
        campaign_id: o.req_id("campaign_id")?,
        ad_id: o.opt_id("ad_id")?,
        spend: Money { minor: o.req_money_minor("spend_minor")?, currency: o.req_currency("currency")? },
        impressions: o.req_count("impressions")?,
        clicks: o.req_count("clicks")?,
        version: o.opt("version").map(|v| o.integer("version", v)).transpose()?.unwrap_or(0),
    })
}

fn fx(o: &Obj<'_>) -> Result<FxRate> {
    let date = o.req_date("date")?;
    let currency = o.req_currency("currency")?;
    let rate = o.req_string("rate_to_reporting")?;
    if !is_positive_decimal(&rate) {
        return Err(o.err("rate_to_reporting", Problem::BadDecimal { value: rate }));
    }
    Ok(FxRate { date, currency, rate_to_reporting: rate })
}

/// Digits with an optional `.digits` fraction, not zero.
pub fn is_positive_decimal(s: &str) -> bool {
    let (int, frac) = match s.split_once('.') {
        Some((i, f)) => (i, Some(f)),
        None => (s, None),
    };
    let digits_ok = |d: &str| !d.is_empty() && d.bytes().all(|b| b.is_ascii_digit());
    digits_ok(int) && frac.is_none_or(digits_ok) && s.bytes().any(|b| (b'1'..=b'9').contains(&b))
}

/// A JSON object being read, with the dotted path that leads to it.
struct Obj<'a> {
    map: &'a Members<'a>,
    path: String,
}

impl<'a> Obj<'a> {
    fn root(value: &'a Json<'a>) -> Result<Self> {
        match value {
            Json::Object(map) => Ok(Obj { map, path: String::new() }),
            _ => Err(DecodeError::at("", Problem::NotAnObject)),
        }
    }

    fn field_path(&self, name: &str) -> String {
        if self.path.is_empty() {
            name.to_string()
        } else {
            format!("{}.{name}", self.path)
        }
    }

    fn err(&self, name: &str, problem: Problem) -> DecodeError {
        DecodeError::at(self.field_path(name), problem)
    }

    /// The field's value; `None` when absent or null.
    fn opt(&self, name: &str) -> Option<&'a Json<'a>> {
        self.map.get(name).filter(|v| !v.is_null())
    }

    fn req(&self, name: &str) -> Result<&'a Json<'a>> {
        match self.map.get(name) {
            None => Err(self.err(name, Problem::Missing)),
            Some(Json::Null) => Err(self.err(name, Problem::Null)),
            Some(v) => Ok(v),
        }
    }

    fn as_str(&self, name: &str, v: &'a Json<'a>) -> Result<&'a str> {
        v.as_str().ok_or_else(|| self.err(name, Problem::WrongType { expected: "a string" }))
    }

    fn req_string(&self, name: &str) -> Result<String> {
        Ok(self.as_str(name, self.req(name)?)?.to_string())
    }

    fn opt_string(&self, name: &str) -> Result<Option<String>> {
        self.opt(name).map(|v| self.as_str(name, v).map(str::to_string)).transpose()
    }

    fn req_id(&self, name: &str) -> Result<String> {
        let s = self.req_string(name)?;
        if s.is_empty() {
            return Err(self.err(name, Problem::EmptyId));
        }
        Ok(s)
    }

    fn opt_id(&self, name: &str) -> Result<Option<String>> {
        Ok(self.opt_string(name)?.filter(|s| !s.is_empty()))
    }

    /// An optional hex SHA-256 of an e-mail address (DESIGN §2): 64 hex digits, either case.
    /// Anything else, a raw address above all, is rejected without echoing the value.
    fn opt_email_hash(&self, name: &str) -> Result<Option<String>> {
        match self.opt_id(name)? {
            Some(h) if h.len() != 64 || !h.bytes().all(|b| b.is_ascii_hexdigit()) => {
                Err(self.err(name, Problem::InvalidHash { length: h.chars().count() }))
            }
            other => Ok(other),
        }
    }

    fn req_enum<T>(&self, name: &str, parse: fn(&str) -> Option<T>, allowed: &'static [&'static str]) -> Result<T> {
        let s = self.as_str(name, self.req(name)?)?;
        parse(s).ok_or_else(|| self.err(name, Problem::UnknownEnumValue { value: s.to_string(), allowed }))
    }

    fn timestamp(&self, name: &str, v: &Json<'_>) -> Result<Timestamp> {
        let s = self.as_str(name, v)?;
        Timestamp::parse_rfc3339(s).ok_or_else(|| self.err(name, Problem::BadTimestamp { value: s.to_string() }))
    }

    fn req_timestamp(&self, name: &str) -> Result<Timestamp> {
        self.timestamp(name, self.req(name)?)
    }

    fn opt_timestamp(&self, name: &str) -> Result<Option<Timestamp>> {
        self.opt(name).map(|v| self.timestamp(name, v)).transpose()
    }

    fn req_date(&self, name: &str) -> Result<Date> {
        let s = self.as_str(name, self.req(name)?)?;
        Date::parse(s).ok_or_else(|| self.err(name, Problem::BadDate { value: s.to_string() }))
    }

    /// Any JSON number with no fractional part that fits in i64 (JSON Schema's `integer`).
    fn integer(&self, name: &str, v: &Json<'_>) -> Result<i64> {
        let Json::Number(n) = v else {
            return Err(self.err(name, Problem::WrongType { expected: "an integer" }));
        };
        if let Some(i) = n.as_i64() {
            return Ok(i);
        }
        if n.is_u64() {
            return Err(self.err(name, Problem::OutOfRange { value: n.to_string() }));
        }
        let f = n.as_f64().unwrap_or(f64::NAN);
        if f.fract() != 0.0 || !f.is_finite() {
            return Err(self.err(name, Problem::NotAnInteger { value: n.to_string() }));
        }
        if !(-9.223_372_036_854_775e18..9.223_372_036_854_775e18).contains(&f) {
            return Err(self.err(name, Problem::OutOfRange { value: n.to_string() }));
        }
        Ok(f as i64)
    }

    fn req_integer(&self, name: &str) -> Result<i64> {
        self.integer(name, self.req(name)?)
    }

    /// A non-negative integer count (impressions, clicks).
    fn req_count(&self, name: &str) -> Result<i64> {
        let n = self.req_integer(name)?;
        if n < 0 {
            return Err(self.err(name, Problem::OutOfRange { value: n.to_string() }));
        }
        Ok(n)
    }

    fn money_minor(&self, name: &str, v: &Json<'_>) -> Result<i64> {
        let n = self.integer(name, v)?;
        if n < 0 {
            return Err(self.err(name, Problem::NegativeMoney { value: n.to_string() }));
        }
        Ok(n)
    }

    fn req_money_minor(&self, name: &str) -> Result<i64> {
        self.money_minor(name, self.req(name)?)
    }

    fn opt_money_minor(&self, name: &str) -> Result<Option<i64>> {
        self.opt(name).map(|v| self.money_minor(name, v)).transpose()
    }

    fn currency(&self, name: &str, v: &Json<'_>) -> Result<Currency> {
        let s = self.as_str(name, v)?;
        Currency::parse(s).ok_or_else(|| self.err(name, Problem::BadCurrency { value: s.to_string() }))
    }

    fn req_currency(&self, name: &str) -> Result<Currency> {
        self.currency(name, self.req(name)?)
    }

    fn opt_currency(&self, name: &str) -> Result<Option<Currency>> {
        self.opt(name).map(|v| self.currency(name, v)).transpose()
    }

    fn object(&self, name: &str, v: &'a Json<'a>) -> Result<Obj<'a>> {
        match v {
            Json::Object(map) => Ok(Obj { map, path: self.field_path(name) }),
            _ => Err(self.err(name, Problem::WrongType { expected: "an object" })),
        }
    }

    fn req_object(&self, name: &str) -> Result<Obj<'a>> {
        self.object(name, self.req(name)?)
    }

    fn opt_object(&self, name: &str) -> Result<Option<Obj<'a>>> {
        self.opt(name).map(|v| self.object(name, v)).transpose()
    }
}
