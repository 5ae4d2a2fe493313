//! Hand-computed KPI and reconciliation cases.

use crate::*;
use attrib_contract::Topic;
use attrib_journeys::ConversionType;
use serde_json::{json, Value};

fn engine_with(records: &[(Topic, Value)]) -> Engine {
    let mut e = Engine::new(AttributionConfig {
        models: vec![attrib_models::Model::Rule(attrib_models::RuleModel::LastTouch)],
        ..AttributionConfig::default()
    });
    for (t, v) in records {
        e.ingest_bytes(*t, v.to_string().as_bytes()).expect("valid record");
    }
    e
}

fn click(id: &str, at: &str, user: &str, campaign: &str, ad: &str) -> (Topic, Value) {
    (
        Topic::SocialInteractions,
        json!({"event_id": id, "occurred_at": at, "platform": "facebook", "interaction": "link_click",
        "account_id": "brand", "actor_type": "paid", "post_id": format!("p-{campaign}"), "campaign_id": campaign,
        "ad_id": ad, "click_id": format!("fbclid-{user}")}),
    )
}

fn order(id: &str, at: &str, user: &str, revenue: i64, currency: &str) -> (Topic, Value) {
    (
        Topic::WebEvents,
        json!({"event_id": id, "occurred_at": at, "anonymous_id": format!("anon-{user}"), "type": "order",
        "click_id": format!("fbclid-{user}"),
        "order": {"order_id": id, "revenue_minor": revenue, "currency": currency}}),
    )
}

fn spend(id: &str, date: &str, campaign: &str, ad: &str, minor: i64, currency: &str) -> (Topic, Value) {
    (
        Topic::AdsSpend,
        json!({"event_id": id, "date": date, "platform": "facebook", "campaign_id": campaign, "ad_id": ad,
        "spend_minor": minor, "currency": currency, "impressions": 1000, "clicks": 10}),
    )
}

fn fx(date: &str, currency: &str, rate: &str) -> (Topic, Value) {
    (Topic::FxRates, json!({"date": date, "currency": currency, "rate_to_reporting": rate}))
}

#[test]
fn roas_and_cpa_are_ratios_of_sums_in_the_reporting_currency_at_each_amounts_own_date() {
    // Campaign A sells in EUR, spends in EUR on two days at different rates; campaign B sells
    // in USD (the reporting currency) and spends in GBP. Rates differ by day.
    let e = engine_with(&[
        fx("2026-03-01", "EUR", "1.10"),
        fx("2026-03-02", "EUR", "1.20"),
        fx("2026-03-05", "EUR", "1.50"),
        fx("2026-03-01", "GBP", "1.25"),
        click("s1", "2026-03-04T10:00:00Z", "u1", "A", "a1"),
        order("o1", "2026-03-05T10:00:00Z", "u1", 10_000, "EUR"), // 100 EUR × 1.50 = 150.00 USD
        click("s2", "2026-03-04T11:00:00Z", "u2", "A", "a1"),
        order("o2", "2026-03-05T12:00:00Z", "u2", 2_000, "EUR"), // 20 EUR × 1.50 = 30.00 USD
        click("s3", "2026-03-04T12:00:00Z", "u3", "B", "b1"),
        order("o3", "2026-03-05T13:00:00Z", "u3", 9_000, "USD"), // 90.00 USD
        spend("sp1", "2026-03-01", "A", "a1", 3_000, "EUR"),     // 30 EUR × 1.10 = 33.00 USD
        spend("sp2", "2026-03-02", "A", "a1", 5_000, "EUR"),     // 50 EUR × 1.20 = 60.00 USD
        spend("sp3", "2026-03-01", "B", "b1", 4_000, "GBP"),     // 40 GBP × 1.25 = 50.00 USD
        spend("sp4", "2026-03-01", "C", "c1", 1_000, "USD"),     // no revenue at all
    ]);
    let ledger = e.attribute(1);
    let campaigns = campaign_kpis(&e.kpi_facts(&ledger));
    let get = |c: &str| campaigns.iter().find(|k| k.campaign_id == c && k.model == "last_touch").expect("campaign row");
    let a = get("A");
    assert_eq!((a.attributed_revenue_minor, a.spend_minor), (18_000, 9_300));
    assert_eq!(a.roas, Some(18_000.0 / 9_300.0));
    // CPA: 93.00 USD over 2 orders (not the average of per-day ratios).
    assert_eq!((a.attributed_conversions, a.cpa_minor), (2.0, Some(4_650.0)));
    let b = get("B");
    assert_eq!((b.attributed_revenue_minor, b.spend_minor, b.roas), (9_000, 5_000, Some(1.8)));
    let c = get("C");
    assert_eq!((c.attributed_revenue_minor, c.spend_minor, c.roas, c.cpa_minor), (0, 1_000, Some(0.0), None));
    // Original amounts and currencies stay on the rows.
    let o1 = ledger.conversions.iter().find(|c| c.conversion_id == "order:o1").expect("o1");
    assert_eq!((o1.revenue_minor, o1.currency.map(|c| c.to_string())), (10_000, Some("EUR".into())));
    assert_eq!(
        (o1.revenue_reporting_minor, o1.fx_date.map(|d| d.to_string()), o1.fx_status),
        (Some(15_000), Some("2026-03-05".into()), crate::FxStatus::Converted)
    );
}

#[test]
fn a_missing_rate_is_an_explicit_gap_never_a_silent_one() {
    let e = engine_with(&[
        click("s1", "2026-03-04T10:00:00Z", "u1", "A", "a1"),
        order("o1", "2026-03-05T10:00:00Z", "u1", 10_000, "EUR"),
        spend("sp1", "2026-03-01", "A", "a1", 3_000, "EUR"),
    ]);
    let ledger = e.attribute(1);
    let o1 = &ledger.conversions[0];
    assert_eq!((o1.revenue_reporting_minor, o1.fx_status.as_str()), (None, "missing_rate"));
    assert!(ledger.credits.iter().all(|c| c.credit_reporting_minor.is_none()));
    let campaigns = campaign_kpis(&e.kpi_facts(&ledger));
    let a = campaigns.iter().find(|k| k.model == "last_touch").expect("campaign row");
    assert_eq!((a.attributed_revenue_minor, a.spend_minor, a.missing_fx_rows), (0, 0, 2));
}

#[test]
fn a_late_rate_reprices_conversions_and_spend_already_seen() {
    let mut e = engine_with(&[
        click("s1", "2026-03-04T10:00:00Z", "u1", "A", "a1"),
        order("o1", "2026-03-05T10:00:00Z", "u1", 10_000, "EUR"),
        spend("sp1", "2026-03-05", "A", "a1", 3_000, "EUR"),
    ]);
    let mut inc = IncrementalLedger::new();
    let first = inc.update(&mut e);
    assert_eq!(first.conversions[0].row.fx_status, crate::FxStatus::MissingRate);
    assert_eq!(e.take_spend_changes()[0].row.fx_status, "missing_rate");
    let (t, v) = fx("2026-03-05", "EUR", "1.5");
    e.ingest_bytes(t, v.to_string().as_bytes()).expect("valid");
    let later = inc.update(&mut e);
    let conv = later.conversions.iter().find(|c| !c.deleted).expect("rewritten");
    assert_eq!(conv.row.revenue_reporting_minor, Some(15_000));
    assert!(later.credits.iter().all(|c| c.row.credit_reporting_minor == Some(15_000)));
    let spend = e.take_spend_changes();
    assert_eq!((spend.len(), spend[0].row.spend_reporting_minor, spend[0].deleted), (1, Some(4_500), false));
    assert!(e.take_spend_changes().is_empty());
}

fn spend_version(id: &str, minor: i64, version: Option<i64>) -> (Topic, Value) {
    let (t, mut v) = spend(id, "2026-03-05", "A", "a1", minor, "USD");
    if let Some(version) = version {
        v["version"] = json!(version);
    }
    (t, v)
}

#[test]
fn the_highest_spend_version_of_an_ad_day_is_its_spend_in_any_order() {
    // v0 without a version field (a v1 producer), then two restatements; ties: greater id.
    let records = [
        spend_version("sp1", 3_000, None),
        spend_version("sp1:v1", 3_500, Some(1)),
        spend_version("sp1:v2", 2_900, Some(2)),
        spend_version("sp1:v2b", 2_950, Some(2)),
    ];
    let order_of = |order: &[usize]| {
        let e = engine_with(&order.iter().map(|&i| records[i].clone()).collect::<Vec<_>>());
        e.spend_rows().into_iter().map(|r| (r.event_id, r.spend_minor)).collect::<Vec<_>>()
    };
    let want = vec![("sp1:v2b".to_string(), 2_950)];
    for order in [[0, 1, 2, 3], [3, 2, 1, 0], [2, 0, 3, 1], [1, 3, 0, 2]] {
        assert_eq!(order_of(&order), want, "order {order:?}");
    }
    // Another ad-day is not touched by them.
    let mut e = engine_with(&[records[0].clone(), spend("sp9", "2026-03-06", "A", "a1", 100, "USD")]);
    let mut first = e.take_spend_changes();
    first.sort_by(|a, b| a.row.event_id.cmp(&b.row.event_id));
    assert_eq!(
        first.iter().map(|c| (c.row.event_id.as_str(), c.deleted)).collect::<Vec<_>>(),
        [("sp1", false), ("sp9", false)]
    );
    // A restatement withdraws the written fact and writes its own; a lower version changes nothing.
    let (t, v) = records[2].clone();
    e.ingest_bytes(t, v.to_string().as_bytes()).expect("valid");
    let (t, v) = records[1].clone();
    e.ingest_bytes(t, v.to_string().as_bytes()).expect("valid");
    let changes: Vec<(String, i64, bool)> =
        e.take_spend_changes().into_iter().map(|c| (c.row.event_id, c.row.spend_minor, c.deleted)).collect();
    assert_eq!(changes, [("sp1".to_string(), 3_000, true), ("sp1:v2".to_string(), 2_900, false)]);
    let kpi_spend: i64 = e.spend_rows().iter().map(|r| r.spend_minor).sum();
    assert_eq!(kpi_spend, 2_900 + 100);
}

fn deal(id: &str, at: &str, stage: &str, amount: i64, version: i64, closed_at: &str) -> (Topic, Value) {
    let mut v = json!({"event_id": id, "occurred_at": at, "object": "deal", "contact_id": "k1",
        "deal_id": "d1", "stage": stage, "amount_minor": amount, "currency": "EUR",
        "created_at": "2026-02-01T00:00:00Z", "version": version});
    if !closed_at.is_empty() {
        v["closed_at"] = json!(closed_at);
    }
    (Topic::CrmRecords, v)
}

#[test]
fn a_refund_restated_in_a_later_month_shows_there_as_an_adjustment_and_every_month_balances() {
    let records = vec![
        fx("2026-03-20", "EUR", "1.1"),
        (
            Topic::WebEvents,
            json!({"event_id": "w1", "occurred_at": "2026-03-10T00:00:00Z", "anonymous_id": "a1", "type": "session_start",
            "user_id": "k1", "utm": {"source": "linkedin", "medium": "social"}}),
        ),
        deal("c1", "2026-03-20T00:00:00Z", "closed_won", 100_000, 1, "2026-03-20T00:00:00Z"),
        // April: a partial refund restates the March deal at 800.00 EUR.
        deal("c2", "2026-04-15T00:00:00Z", "closed_won", 80_000, 2, "2026-03-20T00:00:00Z"),
    ];
    let e = engine_with(&records);
    let ledger = e.attribute(1);
    let models = vec!["last_touch".to_string()];
    let cfg = e.config().reporting;
    let march = reconcile_month("2026-03", &e.deal_versions(), &ledger.credits, &models, e.fx_table(), &cfg);
    assert!(march.balanced(), "{march:#?}");
    let eur = march.lines.iter().find(|l| l.currency == "EUR").expect("EUR line");
    assert_eq!((eur.crm_closed_won_minor, eur.credited_minor), (80_000, 80_000));
    let usd = march.lines.iter().find(|l| l.currency == "reporting:USD").expect("reporting line");
    assert_eq!((usd.crm_closed_won_minor, usd.credited_minor), (88_000, 88_000));
    assert!(march.adjustments.is_empty());
    let april = reconcile_month("2026-04", &e.deal_versions(), &ledger.credits, &models, e.fx_table(), &cfg);
    assert!(april.balanced());
    assert_eq!(april.adjustments.len(), 1);
    let adj = &april.adjustments[0];
    assert_eq!(
        (
            adj.from_version,
            adj.to_version,
            adj.previous_minor,
            adj.restated_minor,
            adj.adjustment_minor,
            adj.booked_month.as_str()
        ),
        (1, 2, 100_000, 80_000, -20_000, "2026-03")
    );
    // A credit missing from the ledger is caught.
    let mut short = ledger.credits.clone();
    short.retain(|c| c.conversion_type != ConversionType::Deal);
    assert!(!reconcile_month("2026-03", &e.deal_versions(), &short, &models, e.fx_table(), &cfg).balanced());
}

/// An order of no revenue, currency or path that took `secs` from its first touch.
fn order_taking(secs: Option<i64>) -> ConversionRow {
    ConversionRow {
        conversion_id: "x".into(),
        conversion_version: 1,
        conversion_type: attrib_journeys::ConversionType::Order,
        person_id: "p".into(),
        conversion_time: attrib_contract::Timestamp::from_unix_nanos(0),
        revenue_minor: 0,
        currency: None,
        touches: 0,
        first_touch_time: None,
        seconds_to_convert: secs,
        source_event_id: "".into(),
        reporting_currency: attrib_contract::Currency::XXX,
        revenue_reporting_minor: None,
        fx_status: crate::FxStatus::Same,
        fx_date: None,
        path: "".into(),
    }
}

#[test]
fn time_to_conversion_takes_the_true_median() {
    let rows: Vec<_> = [Some(86_400), Some(3 * 86_400), None, Some(2 * 86_400), Some(10 * 86_400)]
        .into_iter()
        .map(order_taking)
        .collect();
    let t = &time_to_conversion(&rows)[0];
    assert_eq!((t.conversions, t.with_touches), (5, 4));
    assert_eq!((t.avg_days, t.median_days), (Some(4.0), Some(2.5)));
}

#[test]
fn pipeline_credits_open_deals_to_the_touches_before_their_creation_until_they_close() {
    use attrib_models::{Model, RuleModel};
    let mut e = Engine::new(AttributionConfig {
        models: vec![Model::Rule(RuleModel::LastTouch), Model::Rule(RuleModel::Linear)],
        ..AttributionConfig::default()
    });
    let session = |id: &str, at: &str, source: &str| {
        (
            Topic::WebEvents,
            json!({"event_id": id, "occurred_at": at, "anonymous_id": "a1", "type": "session_start",
            "user_id": "k1", "utm": {"source": source, "medium": "social"}}),
        )
    };
    let records = vec![
        fx("2026-02-01", "EUR", "1.2"),
        // Exactly 90 days before the deal was created: outside its window.
        session("w-edge", "2025-11-03T00:00:00Z", "facebook"),
        session("w0", "2026-01-20T00:00:00Z", "linkedin"),
        // At the creation instant: inside.
        session("w1", "2026-02-01T00:00:00Z", "x"),
        // After the creation: influences the close, not the pipeline.
        session("w2", "2026-02-10T00:00:00Z", "instagram"),
        deal("c1", "2026-02-01T00:00:00Z", "open", 50_000, 1, ""),
    ];
    for (t, v) in &records {
        e.ingest_bytes(*t, v.to_string().as_bytes()).expect("valid record");
    }
    let ledger = e.attribute(1);
    assert!(ledger.conversions.is_empty() && ledger.credits.is_empty(), "an open deal is no conversion");
    let got = |model: &str| -> Vec<(String, i64, Option<i64>)> {
        let rows = ledger.pipeline.iter().filter(|c| c.model.as_str() == model);
        rows.map(|c| (c.touch_event_id.to_string(), c.credit_minor, c.credit_reporting_minor)).collect()
    };
    assert_eq!(got("last_touch"), vec![("w0".to_string(), 0, Some(0)), ("w1".to_string(), 50_000, Some(60_000))]);
    assert_eq!(got("linear"), vec![("w0".to_string(), 25_000, Some(30_000)), ("w1".to_string(), 25_000, Some(30_000))]);
    let facts = e.kpi_facts(&ledger);
    let linkedin = facts.iter().find(|f| f.model == "linear" && f.channel == "linkedin").expect("fact");
    assert_eq!(
        (linkedin.day.as_str(), linkedin.conversion_type.as_str(), linkedin.pipeline_minor, linkedin.pipeline_deals),
        ("2026-02-01", "deal", 30_000, 0.5)
    );
    assert_eq!(linkedin.attributed_revenue_minor, 0);

    // The deal closes: its pipeline rows are reversed and it becomes a conversion.
    let mut inc = IncrementalLedger::new();
    inc.update(&mut e);
    assert_eq!(inc.live_pipeline(&e).len(), 4);
    let (t, v) = deal("c2", "2026-03-01T00:00:00Z", "closed_won", 50_000, 2, "2026-03-01T00:00:00Z");
    e.ingest_bytes(t, v.to_string().as_bytes()).expect("valid record");
    let changes = inc.update(&mut e);
    assert_eq!(changes.pipeline.iter().filter(|c| c.deleted).count(), 4);
    assert!(inc.live_pipeline(&e).is_empty());
    let won: i64 =
        inc.live_credits(&e).iter().filter(|c| c.model.as_str() == "last_touch").map(|c| c.credit_minor).sum();
    assert_eq!(won, 50_000);
}

#[test]
fn time_buckets_include_their_lower_bound_and_paths_group_conversions() {
    use crate::kpi::{time_bucket, time_bucket_label};
    assert_eq!(time_bucket(0), 0);
    assert_eq!(time_bucket(86_399), 0);
    assert_eq!(time_bucket(86_400), 1);
    assert_eq!(time_bucket(7 * 86_400 - 1), 3);
    assert_eq!(time_bucket(7 * 86_400), 4);
    assert_eq!(time_bucket(400 * 86_400), 8);
    assert_eq!(
        (time_bucket_label(0), time_bucket_label(4), time_bucket_label(8)),
        ("< 1 day".into(), "7-14 days".into(), "90+ days".into())
    );

    let usd = attrib_contract::Currency::parse("USD").expect("USD");
    let row = |path: &str, touches: usize, secs: Option<i64>, revenue: Option<i64>| ConversionRow {
        currency: Some(usd),
        touches,
        reporting_currency: usd,
        revenue_reporting_minor: revenue,
        path: path.into(),
        ..order_taking(secs)
    };
    let rows = [
        row("x > direct", 2, Some(3_600), Some(500)),
        row("x > direct", 2, Some(2 * 86_400), None),
        row("linkedin", 1, Some(100 * 86_400), Some(1_000)),
        row("", 0, None, Some(700)),
    ];
    let t = crate::LedgerTotals::of(&rows, &[], &[]);
    let paths: Vec<(String, u64, i64)> =
        t.paths().into_iter().map(|p| (p.path, p.conversions, p.revenue_reporting_minor)).collect();
    assert_eq!(paths, vec![("linkedin".into(), 1, 1_000), ("x > direct".into(), 2, 500)]);
    let buckets: Vec<(u32, Option<u32>, u64)> =
        t.time_to_conversion_buckets().into_iter().map(|b| (b.lower_days, b.upper_days, b.conversions)).collect();
    assert_eq!(buckets, vec![(0, Some(1), 1), (2, Some(4), 1), (90, None, 1)]);
}
