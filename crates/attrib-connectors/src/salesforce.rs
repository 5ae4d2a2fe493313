//! Salesforce (REST API, SOQL) into `crm.records`: Contacts (hashed emails) and Opportunities
//! (stage from `IsWon`/`IsClosed` or a `StageName` mapping, `Amount`, `CurrencyIsoCode`,
//! `CloseDate`, the primary `OpportunityContactRole`), pulled incrementally by `SystemModstamp`.
//!
//! `GET /services/data/vXX.X/query?q=SELECT … WHERE SystemModstamp >= <cursor> ORDER BY
//! SystemModstamp, Id`, then `nextRecordsUrl` until `done`. The cursor keeps the newest
//! `SystemModstamp` published and the ids published at that instant (as for HubSpot), so a
//! restart queries from there without gaps or repeats. An opportunity's `version` is its
//! `SystemModstamp` in milliseconds, its event id `salesforce:opportunity:<Id>:<version>`.

use crate::cursor::{CursorStore, ObjectCursor};
use crate::http::{Http, HttpError};
use crate::hubspot::{amount_minor, hash_email};
use crate::sink::{Record, Sink};
use crate::{ConnectorError, PassReport};
use attrib_contract::{CrmObject, CrmRecord, Currency, Date, Deal, DealStage, Event, Money, Timestamp};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;

/// `[connectors.salesforce]`.
#[derive(Debug, Clone, PartialEq, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct SalesforceConfig {
    /// The org's instance URL, e.g. `https://acme.my.salesforce.com`.
    pub instance_url: String,
    pub api_version: String,
    /// Environment variable holding the OAuth access token.
    pub token_env: String,
    /// Or a file holding it.
    pub token_file: String,
    /// The token itself: a secret, from `ATTRIB_CONNECTORS__SALESFORCE__TOKEN`, never the file.
    #[serde(skip_serializing)]
    pub token: attrib_secret::Secret,
    pub interval_secs: u64,
    pub requests_per_second: f64,
    /// Multi-currency orgs have `CurrencyIsoCode`; single-currency orgs use `default_currency`.
    pub multi_currency: bool,
    pub default_currency: String,
    /// `StageName` → open | closed_won | closed_lost; names not listed follow `IsWon`/`IsClosed`.
    pub stages: BTreeMap<String, String>,
}

impl Default for SalesforceConfig {
    fn default() -> Self {
        SalesforceConfig {
            instance_url: String::new(),
            api_version: "v62.0".into(),
            token_env: "SALESFORCE_ACCESS_TOKEN".into(),
            token_file: String::new(),
            token: attrib_secret::Secret::default(),
            interval_secs: 300,
            requests_per_second: 5.0,
            multi_currency: false,
            default_currency: "USD".into(),
            stages: BTreeMap::new(),
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SalesforceCursor {
    pub contacts: ObjectCursor,
    pub opportunities: ObjectCursor,
}

/// Salesforce datetimes: `2026-03-15T12:00:00.000+0000` (offset without a colon) or RFC 3339.
pub fn sf_time(text: &str) -> Option<Timestamp> {
    let t = text.trim();
    if let Some(t) = Timestamp::parse_rfc3339(t) {
        return Some(t);
    }
    let (head, offset) = t.split_at(t.len().checked_sub(5)?);
    let fixed = match offset.as_bytes() {
        [s @ (b'+' | b'-'), h1, h2, m1, m2] if [h1, h2, m1, m2].iter().all(|d| d.is_ascii_digit()) => {
            format!("{head}{}{}{}:{}{}", *s as char, *h1 as char, *h2 as char, *m1 as char, *m2 as char)
        }
        _ => return None,
    };
    Timestamp::parse_rfc3339(&fixed)
}

/// A SOQL datetime literal (UTC, no quotes).
fn soql_time(ms: i64) -> String {
    let t = Timestamp::from_unix_millis(ms.max(0));
    let s = t.to_string();
    // The contract's canonical form is RFC 3339 UTC; SOQL takes it as is, without fractions.
    match s.split_once('.') {
        Some((whole, _)) => format!("{whole}Z"),
        None => s,
    }
}

fn text<'a>(o: &'a Value, field: &str) -> Option<&'a str> {
    o.get(field).and_then(Value::as_str).map(str::trim).filter(|s| !s.is_empty())
}

fn contact_record(c: &Value) -> Result<Vec<Record>, &'static str> {
    let id = text(c, "Id").ok_or("no_id")?;
    let modified = text(c, "SystemModstamp").and_then(sf_time).ok_or("no_modified_time")?;
    Ok(vec![Record::new(Event::Crm(CrmRecord {
        event_id: format!("salesforce:contact:{id}:{}", modified.unix_millis()),
        occurred_at: modified,
        object: CrmObject::Contact,
        contact_id: id.to_string(),
        email_sha256: text(c, "Email").map(hash_email),
        deal: None,
    }))])
}

/// The primary contact role's contact, else the lowest contact id.
fn primary_contact(o: &Value) -> Option<String> {
    let roles = o.pointer("/OpportunityContactRoles/records")?.as_array()?;
    let mut ids: Vec<(bool, &str)> = roles
        .iter()
        .filter_map(|r| Some((!r.get("IsPrimary").and_then(Value::as_bool).unwrap_or(false), text(r, "ContactId")?)))
        .collect();
    ids.sort();
    ids.first().map(|(_, id)| id.to_string())
}

fn opportunity_record(o: &Value, config: &SalesforceConfig) -> Result<Vec<Record>, &'static str> {
    let id = text(o, "Id").ok_or("no_id")?;
    let modified = text(o, "SystemModstamp").and_then(sf_time).ok_or("no_modified_time")?;
    let contact = primary_contact(o).ok_or("no_contact")?;
    let code = if config.multi_currency { text(o, "CurrencyIsoCode") } else { None };
    let currency = Currency::parse(code.unwrap_or(&config.default_currency)).ok_or("bad_currency")?;
    let minor = match o.get("Amount") {
        Some(Value::Number(n)) => amount_minor(&n.to_string(), currency).ok_or("bad_amount")?,
        Some(Value::String(s)) if !s.trim().is_empty() => amount_minor(s, currency).ok_or("bad_amount")?,
        _ => 0,
    };
    if minor < 0 {
        return Err("negative_amount");
    }
    let flag = |f: &str| o.get(f).and_then(Value::as_bool).unwrap_or(false);
    let stage = match text(o, "StageName").and_then(|s| config.stages.get(s)) {
        Some(mapped) => DealStage::parse(mapped).ok_or("bad_stage_mapping")?,
        None if flag("IsWon") => DealStage::ClosedWon,
        None if flag("IsClosed") => DealStage::ClosedLost,
        None => DealStage::Open,
    };
    let created_at = text(o, "CreatedDate").and_then(sf_time).ok_or("no_created_time")?;
    // CloseDate is a date: the deal closes at the start of that UTC day.
    let closed_at = text(o, "CloseDate").and_then(Date::parse).map(Date::start);
    if stage == DealStage::ClosedWon && closed_at.is_none() {
        return Err("won_without_closedate");
    }
    let version = modified.unix_millis();
    Ok(vec![Record::new(Event::Crm(CrmRecord {
        event_id: format!("salesforce:opportunity:{id}:{version}"),
        occurred_at: modified,
        object: CrmObject::Deal,
        contact_id: contact,
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

fn url(base: &str, path_and_query: &str) -> Result<reqwest::Url, ConnectorError> {
    if base.is_empty() {
        return Err(ConnectorError::Config("connectors.salesforce.instance_url is not set".into()));
    }
    reqwest::Url::parse(&format!("{}{path_and_query}", base.trim_end_matches('/')))
        .map_err(|e| ConnectorError::Config(format!("salesforce.instance_url: {e}")))
}

/// One pass over Contacts, then Opportunities. A type whose pull fails is reported and the other
/// is still pulled; credentials, publishing and cursor errors stop the pass.
pub async fn pass(
    config: &SalesforceConfig,
    http: &Http,
    cursor: &CursorStore,
    sink: &mut Sink,
) -> Result<PassReport, ConnectorError> {
    let mut state: SalesforceCursor = cursor.load()?;
    let mut report = PassReport::default();
    for object in ["Contact", "Opportunity"] {
        let outcome = pull(object, config, http, cursor, &mut state, sink, &mut report).await;
        report.object_outcome("salesforce", object, outcome)?;
    }
    report.cursor =
        Some(format!("contacts {} / opportunities {}", state.contacts.modified_ms, state.opportunities.modified_ms));
    report.newest_ms = Some(state.contacts.modified_ms.max(state.opportunities.modified_ms));
    Ok(report)
}

/// The first page of a query from the cursor.
fn query_url(object: &str, config: &SalesforceConfig, from_ms: i64) -> Result<reqwest::Url, ConnectorError> {
    let fields = match object {
        "Contact" => "Id, Email, SystemModstamp".to_string(),
        _ => format!(
            "Id, Amount, {}StageName, IsWon, IsClosed, CloseDate, CreatedDate, SystemModstamp, \
             (SELECT ContactId, IsPrimary FROM OpportunityContactRoles)",
            if config.multi_currency { "CurrencyIsoCode, " } else { "" }
        ),
    };
    let soql = format!(
        "SELECT {fields} FROM {object} WHERE SystemModstamp >= {} ORDER BY SystemModstamp, Id",
        soql_time(from_ms)
    );
    let mut first = url(&config.instance_url, &format!("/services/data/{}/query", config.api_version))?;
    first.query_pairs_mut().append_pair("q", &soql);
    Ok(first)
}

/// Pulls one object to the end of its query, saving the cursor after every published batch.
async fn pull(
    object: &'static str,
    config: &SalesforceConfig,
    http: &Http,
    cursor: &CursorStore,
    state: &mut SalesforceCursor,
    sink: &mut Sink,
    report: &mut PassReport,
) -> Result<(), ConnectorError> {
    let mut next = query_url(object, config, cursor_of(object, state).modified_ms)?;
    let mut on_next_batch = false;
    // Where the cursor stood when the query last started: a restart must have moved it.
    let mut restarted_at: Option<(i64, usize)> = None;
    loop {
        let resp = match http.get_json(&next).await {
            Ok(resp) => resp,
            // A query locator lives about 15 minutes and a limited number of them per user: an
            // expired or released one (`INVALID_QUERY_LOCATOR`) is a new query from the cursor,
            // which resumes after the last published batch.
            Err(HttpError::Rejected { status, body, .. }) if (400..500).contains(&status) && on_next_batch => {
                let c = cursor_of(object, state);
                let position = (c.modified_ms, c.ids_at_modified.len());
                if restarted_at == Some(position) {
                    return Err(ConnectorError::Vendor(format!(
                        "{object}: the query from the cursor failed twice at the same position ({status}: {body})"
                    )));
                }
                tracing::warn!(object, status, body = %body, "Salesforce refused the next batch (query locator expired?); querying again from the cursor");
                restarted_at = Some(position);
                next = query_url(object, config, c.modified_ms)?;
                on_next_batch = false;
                continue;
            }
            Err(e) => return Err(e.into()),
        };
        let c = cursor_of(object, state);
        let rows = resp.get("records").and_then(Value::as_array).cloned().unwrap_or_default();
        let stamp = |o: &Value| {
            let modified = text(o, "SystemModstamp").and_then(sf_time).map_or(i64::MIN, Timestamp::unix_millis);
            (text(o, "Id").unwrap_or_default().to_string(), modified)
        };
        let fresh = c.unpublished(&rows, stamp);
        let records = report.map_rows("salesforce", object, &fresh, |o, _| match object {
            "Contact" => contact_record(o),
            _ => opportunity_record(o, config),
        });
        sink.publish(&records).await?;
        report.count(&records);
        c.advance(&fresh);
        cursor.save(state)?;
        let done = resp.get("done").and_then(Value::as_bool).unwrap_or(true);
        match resp.get("nextRecordsUrl").and_then(Value::as_str) {
            Some(path) if !done => {
                next = url(&config.instance_url, path)?;
                on_next_batch = true;
            }
            _ => return Ok(()),
        }
    }
}

fn cursor_of<'a>(object: &str, state: &'a mut SalesforceCursor) -> &'a mut ObjectCursor {
    if object == "Contact" {
        &mut state.contacts
    } else {
        &mut state.opportunities
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn salesforce_datetimes_with_compact_offsets_parse() {
        let t = sf_time("2026-03-15T12:00:00.000+0000").expect("time");
        assert_eq!(t.to_string(), "2026-03-15T12:00:00Z");
        assert_eq!(sf_time("2026-03-15T14:00:00.000+0200"), Some(t));
        assert_eq!(sf_time("2026-03-15"), None);
    }

    #[test]
    fn soql_datetimes_are_utc_literals() {
        assert_eq!(soql_time(0), "1970-01-01T00:00:00Z");
        assert_eq!(soql_time(1_773_576_000_500), "2026-03-15T12:00:00Z");
    }

    #[test]
    fn the_primary_contact_role_wins() {
        let o = json!({"OpportunityContactRoles": {"totalSize": 2, "done": true, "records": [
            {"ContactId": "003A", "IsPrimary": false}, {"ContactId": "003B", "IsPrimary": true}]}});
        assert_eq!(primary_contact(&o).as_deref(), Some("003B"));
        assert_eq!(primary_contact(&json!({"OpportunityContactRoles": null})), None);
    }
}
