//! Ad spend into `ads.spend`: Meta Marketing API insights (`level=ad`, daily) and LinkedIn
//! adAnalytics (`pivot=CREATIVE`, daily), one record per ad and day.
//!
//! Platforms revise recent days. A day is published once it is `settle_days` old (default 2),
//! and the last `lookback_days` published days are pulled again every pass: a day whose spend
//! changed is published again as the next `version` (event id `<id>:v<version>`), which
//! downstream applies in place of the earlier one (the highest version of an ad-day wins).

use crate::cursor::CursorStore;
use crate::http::{Http, HttpError};
use crate::hubspot::amount_minor;
use crate::sink::{Record, Sink};
use crate::{ConnectorError, PassReport};
use attrib_contract::{AdSpend, Currency, Date, Event, Money, Platform};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;

/// What both ad connectors share in their configuration.
#[derive(Debug, Clone, PartialEq, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct SpendWindow {
    /// First day to pull when there is no cursor (YYYY-MM-DD; empty: 30 days ago).
    pub start_date: String,
    /// A day is published once it is this many days old (platforms revise recent days).
    pub settle_days: i64,
    /// Published days pulled again each pass to detect restatements.
    pub lookback_days: i64,
}

impl Default for SpendWindow {
    fn default() -> Self {
        SpendWindow { start_date: String::new(), settle_days: 2, lookback_days: 7 }
    }
}

/// `[connectors.meta]`.
#[derive(Debug, Clone, PartialEq, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct MetaConfig {
    pub base_url: String,
    pub api_version: String,
    /// Ad account ids (`act_123` or `123`).
    pub ad_account_ids: Vec<String>,
    pub token_env: String,
    pub token_file: String,
    /// The token itself: a secret, from `ATTRIB_CONNECTORS__META__TOKEN`, never the file.
    #[serde(skip_serializing)]
    pub token: attrib_secret::Secret,
    pub interval_secs: u64,
    pub requests_per_second: f64,
    #[serde(flatten)]
    pub window: SpendWindow,
}

impl Default for MetaConfig {
    fn default() -> Self {
        MetaConfig {
            base_url: "https://graph.facebook.com".into(),
            api_version: "v21.0".into(),
            ad_account_ids: Vec::new(),
            token_env: "META_ACCESS_TOKEN".into(),
            token_file: String::new(),
            token: attrib_secret::Secret::default(),
            interval_secs: 3600,
            requests_per_second: 2.0,
            window: SpendWindow::default(),
        }
    }
}

/// `[connectors.linkedin]`.
#[derive(Debug, Clone, PartialEq, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct LinkedInConfig {
    pub base_url: String,
    /// The `LinkedIn-Version` header (YYYYMM).
    pub api_version: String,
    /// Sponsored account ids (numbers, or `urn:li:sponsoredAccount:…`).
    pub ad_account_ids: Vec<String>,
    /// The accounts' currency (adAnalytics reports `costInLocalCurrency` without naming it).
    pub currency: String,
    /// `CREATIVE` (one record per creative: `ad_id` = creative, `campaign_id` = `creative:<id>`)
    /// or `CAMPAIGN` (one record per campaign, no `ad_id`).
    pub pivot: String,
    pub token_env: String,
    pub token_file: String,
    /// The token itself: a secret, from `ATTRIB_CONNECTORS__LINKEDIN__TOKEN`, never the file.
    #[serde(skip_serializing)]
    pub token: attrib_secret::Secret,
    pub interval_secs: u64,
    pub requests_per_second: f64,
    #[serde(flatten)]
    pub window: SpendWindow,
}

impl Default for LinkedInConfig {
    fn default() -> Self {
        LinkedInConfig {
            base_url: "https://api.linkedin.com".into(),
            api_version: "202510".into(),
            ad_account_ids: Vec::new(),
            currency: "USD".into(),
            pivot: "CREATIVE".into(),
            token_env: "LINKEDIN_ACCESS_TOKEN".into(),
            token_file: String::new(),
            token: attrib_secret::Secret::default(),
            interval_secs: 3600,
            requests_per_second: 1.0,
            window: SpendWindow::default(),
        }
    }
}

/// Published days and the values published, per `ad:date`, within the look-back.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct SpendCursor {
    /// The newest day published.
    pub last_date: Option<String>,
    /// `event id` (of version 0) → spend last published (minor units), for days inside the
    /// look-back.
    pub published: BTreeMap<String, i64>,
    /// `event id` (of version 0) → the version last published, for days restated since.
    pub versions: BTreeMap<String, i64>,
}

/// The days to pull: from the look-back start (or the start date) to the newest settled day.
pub fn window(cfg: &SpendWindow, cursor: &SpendCursor, today: Date) -> Option<(Date, Date)> {
    let until = Date::from_days_since_epoch(today.days_since_epoch() - cfg.settle_days.max(0) as i32);
    let start = Date::parse(&cfg.start_date);
    let first = match (&cursor.last_date, start) {
        (Some(last), _) => {
            let last = Date::parse(last)?;
            let back = Date::from_days_since_epoch(last.days_since_epoch() + 1 - cfg.lookback_days.max(0) as i32);
            // Never before the configured start: those days were never meant to be pulled.
            start.map_or(back, |s| back.max(s))
        }
        (None, Some(start)) => start,
        (None, None) => Date::from_days_since_epoch(today.days_since_epoch() - 30),
    };
    (first <= until).then_some((first, until))
}

/// A pass's cursor, as loaded at its start, and the days it pulls.
struct Due {
    cursor: SpendCursor,
    since: Date,
    until: Date,
}

/// What is due, or None when no day is settled yet.
fn due(
    connector: &str,
    cfg: &SpendWindow,
    accounts: &[String],
    store: &CursorStore,
    today: Date,
) -> Result<Option<Due>, ConnectorError> {
    let cursor: SpendCursor = store.load()?;
    let Some((since, until)) = window(cfg, &cursor, today) else { return Ok(None) };
    if accounts.is_empty() {
        return Err(ConnectorError::Config(format!("connectors.{connector}.ad_account_ids is empty")));
    }
    Ok(Some(Due { cursor, since, until }))
}

/// Publishes the new ad-days, reports restated ones, and moves the cursor.
async fn settle(
    connector: &'static str,
    due: Due,
    rows: Vec<AdSpend>,
    lookback: i64,
    store: &CursorStore,
    sink: &mut Sink,
    report: &mut PassReport,
) -> Result<(), ConnectorError> {
    let Due { cursor: mut state, until, .. } = due;
    let mut records = Vec::new();
    for mut row in rows {
        match state.published.get(&row.event_id).copied() {
            Some(before) if before != row.spend.minor => {
                let version = state.versions.get(&row.event_id).copied().unwrap_or(0) + 1;
                tracing::info!(connector, event_id = %row.event_id, before, now = row.spend.minor, version, "spend restated after it was published; publishing the new version");
                state.published.insert(row.event_id.clone(), row.spend.minor);
                state.versions.insert(row.event_id.clone(), version);
                row.event_id = format!("{}:v{version}", row.event_id);
                row.version = version;
                records.push(Record::new(Event::Spend(row)));
            }
            Some(_) => {}
            None => {
                state.published.insert(row.event_id.clone(), row.spend.minor);
                records.push(Record::new(Event::Spend(row)));
            }
        }
    }
    records.sort_by(|a, b| a.key.cmp(&b.key));
    sink.publish(&records).await?;
    report.count(&records);
    state.last_date = Some(until.to_string());
    // Forget values of days that will not be pulled again.
    let oldest = Date::from_days_since_epoch(until.days_since_epoch() + 1 - lookback.max(0) as i32).to_string();
    let recent = |id: &String| id.rsplit(':').next().is_some_and(|d| *d >= *oldest);
    state.published.retain(|id, _| recent(id));
    state.versions.retain(|id, _| recent(id));
    store.save(&state)?;
    report.cursor = state.last_date.clone();
    Ok(())
}

fn number(v: Option<&Value>) -> Option<i64> {
    match v? {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

fn text(v: Option<&Value>) -> Option<String> {
    match v? {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// One pass of the Meta insights connector.
pub async fn meta_pass(
    config: &MetaConfig,
    token: &str,
    today: Date,
    http: &Http,
    store: &CursorStore,
    sink: &mut Sink,
) -> Result<PassReport, ConnectorError> {
    let mut report = PassReport::default();
    let Some(due) = due("meta", &config.window, &config.ad_account_ids, store, today)? else { return Ok(report) };
    let (since, until) = (due.since, due.until);
    // Keyed by event id: an account paged again after an expired cursor adds no row twice.
    let mut rows: BTreeMap<String, AdSpend> = BTreeMap::new();
    for account in &config.ad_account_ids {
        let act = if account.starts_with("act_") { account.clone() } else { format!("act_{account}") };
        let base = format!("{}/{}/{act}/insights", config.base_url.trim_end_matches('/'), config.api_version);
        let mut first =
            reqwest::Url::parse(&base).map_err(|e| ConnectorError::Config(format!("meta.base_url: {e}")))?;
        first
            .query_pairs_mut()
            .append_pair("level", "ad")
            .append_pair("time_increment", "1")
            .append_pair("fields", "ad_id,campaign_id,spend,impressions,clicks,account_currency,date_start")
            .append_pair("time_range", &format!("{{\"since\":\"{since}\",\"until\":\"{until}\"}}"))
            .append_pair("limit", "500")
            // The Graph API's documented form; every URL shown in logs and errors is redacted.
            .append_pair("access_token", token);
        let mut next = first.clone();
        let mut page = 0usize;
        // The furthest page reached when the account was last paged again from its start.
        let mut restarted_at: Option<usize> = None;
        loop {
            let resp = match http.get_json(&next).await {
                Ok(resp) => resp,
                // Paging cursors expire (and a long pass outlives them): page the account again
                // from the start, as long as the previous attempt got further than this one.
                Err(HttpError::Rejected { status, body, .. })
                    if (400..500).contains(&status) && page > 0 && restarted_at.is_none_or(|at| page > at) =>
                {
                    tracing::warn!(account = %act, page, status, body = %body, "Meta refused a paging cursor (expired?); paging the account again from the start");
                    restarted_at = Some(page);
                    next = first.clone();
                    page = 0;
                    continue;
                }
                Err(e) => return Err(e.into()),
            };
            for d in resp.get("data").and_then(Value::as_array).into_iter().flatten() {
                match meta_row(&act, d) {
                    Ok(row) => {
                        rows.insert(row.event_id.clone(), row);
                    }
                    Err(reason) => {
                        report.skipped.push(format!("{act}/{}: {reason}", text(d.get("ad_id")).unwrap_or_default()))
                    }
                }
            }
            match resp.pointer("/paging/next").and_then(Value::as_str) {
                Some(url) => {
                    next = reqwest::Url::parse(url)
                        .map_err(|e| ConnectorError::Vendor(format!("meta paging.next: {e}")))?;
                    page += 1;
                }
                None => break,
            }
        }
    }
    let rows = rows.into_values().collect();
    settle("meta", due, rows, config.window.lookback_days, store, sink, &mut report).await?;
    Ok(report)
}

fn meta_row(act: &str, d: &Value) -> Result<AdSpend, &'static str> {
    let ad = text(d.get("ad_id")).ok_or("no_ad_id")?;
    let date = d.get("date_start").and_then(Value::as_str).and_then(Date::parse).ok_or("no_date")?;
    let currency = d.get("account_currency").and_then(Value::as_str).and_then(Currency::parse).ok_or("bad_currency")?;
    let spend = amount_minor(&text(d.get("spend")).unwrap_or_else(|| "0".into()), currency).ok_or("bad_spend")?;
    if spend < 0 {
        return Err("negative_spend");
    }
    Ok(AdSpend {
        event_id: format!("meta:{act}:{ad}:{date}"),
        date,
        platform: Platform::Facebook,
        campaign_id: text(d.get("campaign_id")).ok_or("no_campaign_id")?,
        ad_id: Some(ad),
        spend: Money { minor: spend, currency },
        impressions: number(d.get("impressions")).unwrap_or(0),
        clicks: number(d.get("clicks")).unwrap_or(0),
        version: 0,
    })
}

/// One pass of the LinkedIn adAnalytics connector (creatives of the configured accounts).
pub async fn linkedin_pass(
    config: &LinkedInConfig,
    today: Date,
    http: &Http,
    store: &CursorStore,
    sink: &mut Sink,
) -> Result<PassReport, ConnectorError> {
    let mut report = PassReport::default();
    let Some(due) = due("linkedin", &config.window, &config.ad_account_ids, store, today)? else { return Ok(report) };
    let (since, until) = (due.since, due.until);
    let currency = Currency::parse(&config.currency)
        .ok_or_else(|| ConnectorError::Config(format!("connectors.linkedin.currency {:?}", config.currency)))?;
    let by_campaign = match config.pivot.as_str() {
        "CREATIVE" => false,
        "CAMPAIGN" => true,
        other => {
            return Err(ConnectorError::Config(format!("connectors.linkedin.pivot {other:?}: CREATIVE or CAMPAIGN")))
        }
    };
    let date = |d: Date| {
        let (y, m, day) = d.ymd();
        format!("(year:{y},month:{m},day:{day})")
    };
    let accounts: Vec<String> = config
        .ad_account_ids
        .iter()
        .map(|a| if a.starts_with("urn:") { a.clone() } else { format!("urn:li:sponsoredAccount:{a}") })
        .map(|urn| urn.replace(':', "%3A"))
        .collect();
    let mut rows = Vec::new();
    // adAnalytics does not page: one answer holds at most 15,000 elements and a larger result is
    // cut silently. An answer at the cap is asked again as two halves of its days (then of its
    // accounts), until every answer is below the cap.
    let mut requests = vec![(accounts.as_slice(), since, until)];
    while let Some((accounts, since, until)) = requests.pop() {
        // Rest.li 2.0 query syntax: parentheses and commas stay literal, URNs are encoded.
        let query = format!(
            "q=analytics&pivot={}&timeGranularity=DAILY&dateRange=(start:{},end:{})&accounts=List({})&fields=costInLocalCurrency,impressions,clicks,dateRange,pivotValues",
            config.pivot,
            date(since),
            date(until),
            accounts.join(",")
        );
        let url = reqwest::Url::parse(&format!("{}/rest/adAnalytics?{query}", config.base_url.trim_end_matches('/')))
            .map_err(|e| ConnectorError::Config(format!("linkedin.base_url: {e}")))?;
        let resp = http.get_json(&url).await?;
        let elements = resp.get("elements").and_then(Value::as_array).map(Vec::as_slice).unwrap_or_default();
        if elements.len() >= LINKEDIN_ANSWER_CAP {
            let days = until.days_since_epoch() - since.days_since_epoch();
            if days > 0 {
                let mid = Date::from_days_since_epoch(since.days_since_epoch() + days / 2);
                requests.push((accounts, Date::from_days_since_epoch(mid.days_since_epoch() + 1), until));
                requests.push((accounts, since, mid));
            } else if accounts.len() > 1 {
                let (left, right) = accounts.split_at(accounts.len() / 2);
                requests.push((right, since, until));
                requests.push((left, since, until));
            } else {
                return Err(ConnectorError::Vendor(format!(
                    "linkedin: {} has {LINKEDIN_ANSWER_CAP} or more {} rows on {since}, more than adAnalytics answers; \
                     use pivot = \"CAMPAIGN\"",
                    accounts[0].replace("%3A", ":"),
                    config.pivot
                )));
            }
            continue;
        }
        for e in elements {
            match linkedin_row(e, currency, by_campaign) {
                Ok(row) => rows.push(row),
                Err(reason) => report.skipped.push(format!("linkedin element: {reason}")),
            }
        }
    }
    settle("linkedin", due, rows, config.window.lookback_days, store, sink, &mut report).await?;
    Ok(report)
}

/// The most elements one adAnalytics answer holds (LinkedIn cuts larger results silently).
pub const LINKEDIN_ANSWER_CAP: usize = 15_000;

fn linkedin_row(e: &Value, currency: Currency, by_campaign: bool) -> Result<AdSpend, &'static str> {
    let pivot = e
        .get("pivotValues")
        .and_then(Value::as_array)
        .and_then(|p| p.first())
        .and_then(Value::as_str)
        .ok_or("no_pivot_value")?;
    let id = pivot.rsplit(':').next().unwrap_or(pivot);
    let start = e.pointer("/dateRange/start").ok_or("no_date")?;
    let part = |k: &str| start.get(k).and_then(Value::as_u64);
    let date = Date::from_ymd(
        part("year").ok_or("no_date")? as i32,
        part("month").ok_or("no_date")? as u32,
        part("day").ok_or("no_date")? as u32,
    )
    .ok_or("bad_date")?;
    let cost = text(e.get("costInLocalCurrency")).unwrap_or_else(|| "0".into());
    let spend = amount_minor(&cost, currency).ok_or("bad_cost")?;
    let (event_id, campaign_id, ad_id) = if by_campaign {
        (format!("linkedin:campaign:{id}:{date}"), id.to_string(), None)
    } else {
        // adAnalytics by creative does not name the campaign; the creative stands for it.
        (format!("linkedin:{id}:{date}"), format!("creative:{id}"), Some(id.to_string()))
    };
    Ok(AdSpend {
        event_id,
        date,
        platform: Platform::Linkedin,
        campaign_id,
        ad_id,
        spend: Money { minor: spend, currency },
        impressions: number(e.get("impressions")).unwrap_or(0),
        clicks: number(e.get("clicks")).unwrap_or(0),
        version: 0,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn d(s: &str) -> Date {
        Date::parse(s).unwrap()
    }

    #[test]
    fn the_window_ends_at_the_newest_settled_day_and_looks_back_over_published_days() {
        let cfg = SpendWindow { start_date: "2026-11-01".into(), settle_days: 2, lookback_days: 7 };
        let first = window(&cfg, &SpendCursor::default(), d("2026-11-23")).unwrap();
        assert_eq!(first, (d("2026-11-01"), d("2026-11-21")));
        let later = SpendCursor { last_date: Some("2026-11-21".into()), ..SpendCursor::default() };
        assert_eq!(window(&cfg, &later, d("2026-11-24")).unwrap(), (d("2026-11-15"), d("2026-11-22")));
    }

    #[test]
    fn meta_numbers_arrive_as_strings() {
        let row = meta_row(
            "act_1",
            &json!({"ad_id": "238", "campaign_id": "120", "spend": "12.34", "impressions": "1000", "clicks": "10",
                    "account_currency": "EUR", "date_start": "2026-11-20", "date_stop": "2026-11-20"}),
        )
        .unwrap();
        assert_eq!(
            (row.spend.minor, row.spend.currency.as_str(), row.impressions, row.clicks),
            (1234, "EUR", 1000, 10)
        );
        assert_eq!(row.event_id, "meta:act_1:238:2026-11-20");
    }

    #[test]
    fn linkedin_elements_map_to_creative_days() {
        let row = linkedin_row(
            &json!({"costInLocalCurrency": "45.5", "impressions": 900, "clicks": 12,
                    "dateRange": {"start": {"year": 2026, "month": 11, "day": 20}, "end": {"year": 2026, "month": 11, "day": 20}},
                    "pivotValues": ["urn:li:sponsoredCreative:777"]}),
            Currency::parse("USD").unwrap(),
            false,
        )
        .unwrap();
        assert_eq!((row.event_id.as_str(), row.spend.minor, row.impressions), ("linkedin:777:2026-11-20", 4550, 900));
        let by_campaign = linkedin_row(
            &json!({"costInLocalCurrency": "1", "dateRange": {"start": {"year": 2026, "month": 11, "day": 20}},
                    "pivotValues": ["urn:li:sponsoredCampaign:42"]}),
            Currency::parse("USD").unwrap(),
            true,
        )
        .unwrap();
        assert_eq!((by_campaign.campaign_id.as_str(), by_campaign.ad_id), ("42", None));
    }
}
