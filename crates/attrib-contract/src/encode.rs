//! Encoding typed records back to their wire form (the inverse of `decode`).
//!
//! Used by the generator and by tests that check `decode(encode(x)) == x`.

use crate::types::*;
use serde_json::{json, Map, Value};

/// The wire JSON object of a record; absent optional fields are omitted.
pub fn encode(event: &Event) -> Value {
    let mut m = Map::new();
    match event {
        Event::Social(e) => {
            put(&mut m, "event_id", e.event_id.as_str());
            put(&mut m, "occurred_at", e.occurred_at.to_string());
            put(&mut m, "platform", e.platform.as_str());
            put(&mut m, "interaction", e.interaction.as_str());
            put(&mut m, "account_id", e.account_id.as_str());
            put(&mut m, "actor_type", e.actor_type.as_str());
            put(&mut m, "post_id", e.post_id.as_str());
            opt(&mut m, "campaign_id", &e.campaign_id);
            opt(&mut m, "ad_id", &e.ad_id);
            if let Some(u) = &e.user {
                m.insert("user".into(), json!(u));
            }
            opt(&mut m, "click_id", &e.click_id);
            if let Some(u) = &e.utm {
                m.insert("utm".into(), json!(u));
            }
            if let Some(c) = &e.cost {
                put(&mut m, "cost_minor", c.minor);
                put(&mut m, "currency", c.currency.as_str());
            }
        }
        Event::Web(e) => {
            put(&mut m, "event_id", e.event_id.as_str());
            put(&mut m, "occurred_at", e.occurred_at.to_string());
            put(&mut m, "anonymous_id", e.anonymous_id.as_str());
            opt(&mut m, "user_id", &e.user_id);
            opt(&mut m, "email_sha256", &e.email_sha256);
            put(&mut m, "type", e.kind.as_str());
            if let Some(u) = &e.utm {
                m.insert("utm".into(), json!(u));
            }
            opt(&mut m, "click_id", &e.click_id);
            opt(&mut m, "referrer", &e.referrer);
            if let Some(o) = &e.order {
                m.insert(
                    "order".into(),
                    json!({"order_id": o.order_id, "revenue_minor": o.revenue.minor, "currency": o.revenue.currency}),
                );
            }
        }
        Event::Crm(e) => {
            put(&mut m, "event_id", e.event_id.as_str());
            put(&mut m, "occurred_at", e.occurred_at.to_string());
            put(&mut m, "object", e.object.as_str());
            put(&mut m, "contact_id", e.contact_id.as_str());
            opt(&mut m, "email_sha256", &e.email_sha256);
            if let Some(d) = &e.deal {
                put(&mut m, "deal_id", d.deal_id.as_str());
                put(&mut m, "stage", d.stage.as_str());
                put(&mut m, "amount_minor", d.amount.minor);
                put(&mut m, "currency", d.amount.currency.as_str());
                put(&mut m, "created_at", d.created_at.to_string());
                if let Some(c) = d.closed_at {
                    put(&mut m, "closed_at", c.to_string());
                }
                put(&mut m, "version", d.version);
            }
        }
        Event::Spend(e) => {
            put(&mut m, "event_id", e.event_id.as_str());
            put(&mut m, "date", e.date.to_string());
            put(&mut m, "platform", e.platform.as_str());
            put(&mut m, "campaign_id", e.campaign_id.as_str());
            opt(&mut m, "ad_id", &e.ad_id);
            put(&mut m, "spend_minor", e.spend.minor);
            put(&mut m, "currency", e.spend.currency.as_str());
            put(&mut m, "impressions", e.impressions);
            put(&mut m, "clicks", e.clicks);
            if e.version != 0 {
                put(&mut m, "version", e.version);
            }
        }
        Event::Fx(e) => {
            put(&mut m, "date", e.date.to_string());
            put(&mut m, "currency", e.currency.as_str());
            put(&mut m, "rate_to_reporting", e.rate_to_reporting.as_str());
        }
    }
    Value::Object(m)
}

fn put(m: &mut Map<String, Value>, key: &str, value: impl Into<Value>) {
    m.insert(key.to_string(), value.into());
}

fn opt(m: &mut Map<String, Value>, key: &str, value: &Option<String>) {
    if let Some(v) = value {
        put(m, key, v.as_str());
    }
}
