//! HubSpot CRM (v3 search API) into `crm.records`: contacts (with hashed emails, and a lead
//! record when the contact became a lead) and deals (stage, amount, currency, associated
//! contact), pulled incrementally by last-modified time.
//!
//! Incremental pull: `POST /crm/v3/objects/{contacts|deals}/search` filtered on
//! `lastmodifieddate` / `hs_lastmodifieddate` ≥ the cursor, sorted ascending, paged with
//! `after`. The cursor keeps the last modified time published and the ids published at that
//! instant, so a new query from that instant neither skips nor repeats a record. Search stops at
//! 10,000 results per query: the pass then starts a new query from the cursor.
//! A deal's `version` is its `hs_lastmodifieddate` in milliseconds (monotonic per deal), its
//! event id `hubspot:deal:<id>:<version>`: re-pulling is idempotent downstream.

use crate::cursor::{CursorStore, ObjectCursor};
use crate::http::Http;
use crate::sink::{Record, Sink};
use crate::{ConnectorError, PassReport};
use attrib_contract::{CrmObject, CrmRecord, Currency, Deal, DealStage, Event, Money, Timestamp};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;

/// `[connectors.hubspot]`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HubSpotConfig {
    pub base_url: String,
    /// Environment variable holding the private-app token (never the token itself).
    pub token_env: String,
    /// Or a file holding it (e.g. a mounted Secret).
    pub token_file: String,
    pub page_size: u32,
    pub interval_secs: u64,
    pub requests_per_second: f64,
    /// Currency of deals without `deal_currency_code` (single-currency portals).
    pub default_currency: String,
    /// Deal stage id → open | closed_won | closed_lost, for custom pipelines. Stages not listed
    /// follow HubSpot's own `hs_is_closed_won` / `hs_is_closed` flags.
    pub stages: BTreeMap<String, String>,
}

impl Default for HubSpotConfig {
    fn default() -> Self {
        HubSpotConfig {
            base_url: "https://api.hubapi.com".into(),
            token_env: "HUBSPOT_TOKEN".into(),
            token_file: String::new(),
            page_size: 100,
            interval_secs: 300,
            requests_per_second: 4.0,
            default_currency: "USD".into(),
            stages: BTreeMap::new(),
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct HubSpotCursor {
    pub contacts: ObjectCursor,
    pub deals: ObjectCursor,
}

/// HubSpot sends every property as a string; tolerate numbers and booleans too.
fn prop<'a>(o: &'a Value, name: &str) -> Option<std::borrow::Cow<'a, str>> {
    match o.get("properties").and_then(|p| p.get(name))? {
        Value::String(s) if !s.trim().is_empty() => Some(std::borrow::Cow::Borrowed(s.trim())),
        Value::Number(n) => Some(std::borrow::Cow::Owned(n.to_string())),
        Value::Bool(b) => Some(std::borrow::Cow::Owned(b.to_string())),
        _ => None,
    }
}

fn flag(o: &Value, name: &str) -> bool {
    prop(o, name).is_some_and(|v| v.eq_ignore_ascii_case("true"))
}

fn time(o: &Value, name: &str) -> Option<Timestamp> {
    let v = prop(o, name)?;
    // Search results use RFC 3339; some properties come as epoch milliseconds.
    Timestamp::parse_rfc3339(&v).or_else(|| v.parse::<i64>().ok().map(Timestamp::from_unix_millis))
}

fn millis(t: Timestamp) -> i64 {
    t.unix_millis()
}

/// SHA-256 of the trimmed, lower-cased address, as the contract wants it.
pub fn hash_email(email: &str) -> String {
    let digest = Sha256::digest(email.trim().to_lowercase().as_bytes());
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// A decimal amount ("1500.5") in minor units of `currency`, rounded half away from zero.
pub fn amount_minor(text: &str, currency: Currency) -> Option<i64> {
    let digits = currency.minor_unit_digits();
    let text = text.trim();
    let negative = text.starts_with('-');
    let (int, frac) =
        text.trim_start_matches(['-', '+']).split_once('.').unwrap_or((text.trim_start_matches(['-', '+']), ""));
    if int.is_empty() && frac.is_empty() || !int.chars().chain(frac.chars()).all(|c| c.is_ascii_digit()) {
        return None;
    }
    let whole: i128 = if int.is_empty() { 0 } else { int.parse().ok()? };
    let mut minor = whole.checked_mul(10i128.pow(digits))?;
    let kept: String = frac.chars().take(digits as usize).collect();
    let kept = format!("{kept:0<width$}", width = digits as usize);
    if !kept.is_empty() {
        minor += kept.parse::<i128>().ok()?;
    }
    if frac.chars().nth(digits as usize).is_some_and(|d| d >= '5') {
        minor += 1;
    }
    let minor = if negative { -minor } else { minor };
    i64::try_from(minor).ok()
}

/// The stage of a deal: the configured mapping of its stage id, else HubSpot's closed flags.
fn stage(deal: &Value, mapping: &BTreeMap<String, String>) -> Result<DealStage, String> {
    if let Some(id) = prop(deal, "dealstage") {
        if let Some(mapped) = mapping.get(id.as_ref()) {
            return DealStage::parse(mapped).ok_or_else(|| format!("stages.{id} = {mapped:?} is not a stage"));
        }
    }
    Ok(if flag(deal, "hs_is_closed_won") {
        DealStage::ClosedWon
    } else if flag(deal, "hs_is_closed") {
        DealStage::ClosedLost
    } else {
        DealStage::Open
    })
}

/// What one HubSpot object became: records, or the reason it was skipped.
type Mapped = Result<Vec<Record>, &'static str>;

fn contact_records(c: &Value) -> Mapped {
    let id = c.get("id").and_then(Value::as_str).ok_or("no_id")?;
    let modified = time(c, "lastmodifieddate").ok_or("no_modified_time")?;
    let email_sha256 = prop(c, "email").map(|e| hash_email(&e));
    let mut out = vec![Record::new(Event::Crm(CrmRecord {
        event_id: format!("hubspot:contact:{id}:{}", millis(modified)),
        occurred_at: modified,
        object: CrmObject::Contact,
        contact_id: id.to_string(),
        email_sha256: email_sha256.clone(),
        deal: None,
    }))];
    // Becoming a lead is a conversion: one record per contact, at the date HubSpot recorded.
    if let Some(lead_at) = time(c, "hs_lifecyclestage_lead_date") {
        out.push(Record::new(Event::Crm(CrmRecord {
            event_id: format!("hubspot:lead:{id}"),
            occurred_at: lead_at,
            object: CrmObject::Lead,
            contact_id: id.to_string(),
            email_sha256,
            deal: None,
        })));
    }
    Ok(out)
}

fn deal_records(d: &Value, contact: Option<&str>, config: &HubSpotConfig) -> Mapped {
    let id = d.get("id").and_then(Value::as_str).ok_or("no_id")?;
    let modified = time(d, "hs_lastmodifieddate").ok_or("no_modified_time")?;
    let contact = contact.ok_or("no_contact")?;
    let currency = prop(d, "deal_currency_code")
        .map(|c| c.to_ascii_uppercase())
        .unwrap_or_else(|| config.default_currency.clone());
    let currency = Currency::parse(&currency).ok_or("bad_currency")?;
    let minor = match prop(d, "amount") {
        Some(a) => amount_minor(&a, currency).ok_or("bad_amount")?,
        None => 0,
    };
    if minor < 0 {
        return Err("negative_amount");
    }
    let stage = stage(d, &config.stages).map_err(|_| "bad_stage_mapping")?;
    let created_at = time(d, "createdate").ok_or("no_created_time")?;
    let closed_at = time(d, "closedate");
    if stage == DealStage::ClosedWon && closed_at.is_none() {
        return Err("won_without_closedate");
    }
    let version = millis(modified);
    Ok(vec![Record::new(Event::Crm(CrmRecord {
        event_id: format!("hubspot:deal:{id}:{version}"),
        occurred_at: modified,
        object: CrmObject::Deal,
        contact_id: contact.to_string(),
        email_sha256: None,
        deal: Some(Deal {
            deal_id: id.to_string(),
            stage,
            amount: Money { minor, currency },
            created_at,
            closed_at,
            version,
        }),
    }))])
}

/// The contact each deal is associated with (the lowest contact id, for determinism).
async fn deal_contacts(http: &Http, base: &str, ids: &[String]) -> Result<BTreeMap<String, String>, ConnectorError> {
    if ids.is_empty() {
        return Ok(BTreeMap::new());
    }
    let url = url(base, "/crm/v4/associations/deals/contacts/batch/read")?;
    let inputs: Vec<Value> = ids.iter().map(|id| json!({"id": id})).collect();
    let resp = http.post_json(&url, &json!({"inputs": inputs})).await?;
    let mut out = BTreeMap::new();
    for r in resp.get("results").and_then(Value::as_array).into_iter().flatten() {
        let from = r.pointer("/from/id").map(id_text).unwrap_or_default();
        let to = r
            .get("to")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|t| t.get("toObjectId"))
            .map(id_text);
        let lowest = to.min_by(|a, b| (a.len(), a).cmp(&(b.len(), b)));
        if let Some(contact) = lowest {
            out.insert(from, contact);
        }
    }
    Ok(out)
}

/// Ids come as strings or numbers.
fn id_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn url(base: &str, path: &str) -> Result<reqwest::Url, ConnectorError> {
    reqwest::Url::parse(&format!("{}{path}", base.trim_end_matches('/')))
        .map_err(|e| ConnectorError::Config(format!("hubspot.base_url: {e}")))
}

const CONTACT_PROPERTIES: [&str; 4] = ["email", "lastmodifieddate", "createdate", "hs_lifecyclestage_lead_date"];
const DEAL_PROPERTIES: [&str; 10] = [
    "dealname",
    "amount",
    "deal_currency_code",
    "dealstage",
    "pipeline",
    "closedate",
    "createdate",
    "hs_lastmodifieddate",
    "hs_is_closed_won",
    "hs_is_closed",
];

/// HubSpot's search returns at most this many results per query.
const SEARCH_LIMIT: u64 = 10_000;

/// One pass over contacts, then deals (so a deal's contact is published before the deal).
pub async fn pass(
    config: &HubSpotConfig,
    http: &Http,
    cursor: &CursorStore,
    sink: &mut Sink,
) -> Result<PassReport, ConnectorError> {
    let mut state: HubSpotCursor = cursor.load()?;
    let mut report = PassReport::default();
    for object in ["contacts", "deals"] {
        loop {
            let c = if object == "contacts" { &mut state.contacts } else { &mut state.deals };
            let modified_prop = if object == "contacts" { "lastmodifieddate" } else { "hs_lastmodifieddate" };
            let properties: &[&str] = if object == "contacts" { &CONTACT_PROPERTIES } else { &DEAL_PROPERTIES };
            let mut body = json!({
                "filterGroups": [{"filters": [{"propertyName": modified_prop, "operator": "GTE", "value": c.query_from_ms.to_string()}]}],
                "sorts": [{"propertyName": modified_prop, "direction": "ASCENDING"}],
                "properties": properties,
                "limit": config.page_size,
            });
            if let Some(after) = &c.after {
                body["after"] = json!(after);
            }
            let resp =
                http.post_json(&url(&config.base_url, &format!("/crm/v3/objects/{object}/search"))?, &body).await?;
            let results = resp.get("results").and_then(Value::as_array).cloned().unwrap_or_default();
            let stamp = |o: &Value| {
                (o.get("id").map(id_text).unwrap_or_default(), time(o, modified_prop).map_or(i64::MIN, millis))
            };
            let fresh = c.unpublished(&results, stamp);
            let contacts = if object == "deals" {
                let ids: Vec<String> = fresh.iter().map(|row| row.id.clone()).collect();
                deal_contacts(http, &config.base_url, &ids).await?
            } else {
                BTreeMap::new()
            };
            let records = report.map_rows("hubspot", object, &fresh, |o, id| match object {
                "contacts" => contact_records(o),
                _ => deal_records(o, contacts.get(id).map(String::as_str), config),
            });
            sink.publish(&records).await?;
            report.count(&records);
            c.advance(&fresh);
            let next = resp.pointer("/paging/next/after").map(id_text);
            let at_limit = next.as_deref().and_then(|a| a.parse::<u64>().ok()).is_some_and(|a| a >= SEARCH_LIMIT);
            let done = next.is_none();
            if done || at_limit {
                // A new query from the newest instant published.
                c.after = None;
                c.query_from_ms = c.modified_ms.max(0);
            } else {
                c.after = next;
            }
            report.cursor =
                Some(format!("contacts {} / deals {}", state.contacts.modified_ms, state.deals.modified_ms));
            cursor.save(&state)?;
            if done {
                break;
            }
        }
    }
    report.newest_ms = Some(state.contacts.modified_ms.max(state.deals.modified_ms));
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amounts_become_minor_units_of_their_currency() {
        let usd = Currency::parse("USD").unwrap();
        let jpy = Currency::parse("JPY").unwrap();
        assert_eq!(amount_minor("1500.5", usd), Some(150_050));
        assert_eq!(amount_minor("1500", usd), Some(150_000));
        assert_eq!(amount_minor("0.125", usd), Some(13));
        assert_eq!(amount_minor("12000.4", jpy), Some(12_000));
        assert_eq!(amount_minor("1,500", usd), None);
        assert_eq!(amount_minor("", usd), None);
    }

    #[test]
    fn emails_hash_trimmed_and_lower_cased() {
        assert_eq!(hash_email("  Alice@Example.COM "), hash_email("alice@example.com"));
        assert_eq!(hash_email("alice@example.com").len(), 64);
    }

    #[test]
    fn stages_follow_the_mapping_then_hubspots_flags() {
        let deal = |stage: &str, won: &str, closed: &str| json!({"properties": {"dealstage": stage, "hs_is_closed_won": won, "hs_is_closed": closed}});
        let mut mapping = BTreeMap::new();
        mapping.insert("contractsigned".to_string(), "closed_won".to_string());
        assert_eq!(stage(&deal("contractsigned", "false", "false"), &mapping), Ok(DealStage::ClosedWon));
        assert_eq!(stage(&deal("closedwon", "true", "true"), &mapping), Ok(DealStage::ClosedWon));
        assert_eq!(stage(&deal("closedlost", "false", "true"), &mapping), Ok(DealStage::ClosedLost));
        assert_eq!(stage(&deal("qualifiedtobuy", "false", "false"), &mapping), Ok(DealStage::Open));
    }
}
