use super::*;

/// A credit fact of `model` on `day`, worth `revenue` in the reporting currency `cur`.
fn credit(model: &str, day: &str, platform: &str, channel: &str, actor: &str, revenue: i64, cur: &str) -> KpiFact {
    KpiFact {
        day: day.into(),
        model: model.into(),
        platform: platform.into(),
        channel: channel.into(),
        actor_type: actor.into(),
        conversion_type: "order".into(),
        reporting_currency: cur.into(),
        attributed_revenue_minor: revenue,
        attributed_conversions: 0.5,
        ..KpiFact::default()
    }
}

fn spend(model: &str, day: &str, platform: &str, campaign: &str, minor: i64, cur: &str) -> KpiFact {
    KpiFact {
        day: day.into(),
        model: model.into(),
        platform: platform.into(),
        campaign_id: campaign.into(),
        actor_type: "paid".into(),
        reporting_currency: cur.into(),
        spend_minor: minor,
        ..KpiFact::default()
    }
}

fn card(html: &str, kpi: &str) -> (String, String) {
    // The first panel (orders + deals) comes first in the page.
    let at = html.find(&format!("data-kpi=\"{kpi}\"")).unwrap_or_else(|| panic!("tile {kpi}"));
    let rest = &html[at..];
    let value = rest.split("data-value=\"").nth(1).and_then(|v| v.split('"').next()).unwrap_or_default();
    let text = rest.split("<div class=\"v\">").nth(1).and_then(|v| v.split("</div>").next()).unwrap_or_default();
    (value.to_string(), text.to_string())
}

fn sample(cur: &str) -> ReportData {
    let mut facts = Vec::new();
    for model in ["linear", "last_touch"] {
        facts.push(credit(model, "2026-03-02", "linkedin", "linkedin", "paid", 300_000, cur));
        facts.push(credit(model, "2026-03-03", "linkedin", "linkedin", "brand", 100_000, cur));
        facts.push(credit(model, "2026-03-04", "x", "x", "", 50_000, cur));
        facts.push(credit(
            model,
            "2026-03-10",
            "",
            "organic_search",
            "",
            if model == "linear" { 150_000 } else { 200_000 },
            cur,
        ));
        facts.push(credit(model, "2026-03-11", "", UNATTRIBUTED, "", 400_000, cur));
        facts.push(spend(model, "2026-03-02", "linkedin", "c-1", 600_000, cur));
    }
    ReportData {
        facts,
        time_to_conversion: vec![TimeToConversion {
            conversion_type: "order".into(),
            conversions: 5,
            with_touches: 4,
            avg_days: Some(3.25),
            median_days: Some(2.0),
        }],
        time_buckets: vec![
            TimeToConversionBucket {
                conversion_type: "order".into(),
                bucket: "< 1 day".into(),
                lower_days: 0,
                upper_days: Some(1),
                conversions: 1,
            },
            TimeToConversionBucket {
                conversion_type: "order".into(),
                bucket: "2-4 days".into(),
                lower_days: 2,
                upper_days: Some(4),
                conversions: 3,
            },
        ],
        paths: vec![
            PathKpi {
                conversion_type: "order".into(),
                path: "x > direct".into(),
                conversions: 3,
                revenue_reporting_minor: 90_000,
                reporting_currency: cur.into(),
            },
            PathKpi {
                conversion_type: "deal".into(),
                path: "x > direct".into(),
                conversions: 1,
                revenue_reporting_minor: 10_000,
                reporting_currency: cur.into(),
            },
            PathKpi {
                conversion_type: "order".into(),
                path: "linkedin".into(),
                conversions: 4,
                revenue_reporting_minor: 5_000,
                reporting_currency: cur.into(),
            },
            PathKpi {
                conversion_type: "lead".into(),
                path: "linkedin > x".into(),
                conversions: 7,
                revenue_reporting_minor: 0,
                reporting_currency: cur.into(),
            },
        ],
        reconciliation: vec![LedgerReconciliationLine {
            month: "2026-03".into(),
            conversion_type: "order".into(),
            currency: cur.into(),
            model: "linear".into(),
            revenue_minor: 1_000_000,
            credited_minor: 1_000_000,
            difference_minor: 0,
        }],
        source: "test".into(),
    }
}

#[test]
fn headline_revenue_leaves_out_the_unattributed_and_roas_is_paid_revenue_over_spend() {
    let html = render(&sample("USD"), &Options::default());
    // 300,000 + 100,000 + 50,000 + 150,000 attributed; 400,000 unattributed of 1,000,000.
    assert_eq!(card(&html, "attributed_revenue_minor"), ("600000".into(), "USD 6,000.00".into()));
    assert_eq!(card(&html, "unattributed_revenue_minor"), ("400000".into(), "40.0 %".into()));
    // Paid social ROAS: 300,000 / 600,000; MER: all 1,000,000 / 600,000.
    assert_eq!(card(&html, "paid_roas").1, "0.50");
    assert_eq!(card(&html, "mer").1, "1.67");
    // Five credits of half a conversion: counts without ".0".
    assert_eq!(card(&html, "conversions").1, "3");
    assert_eq!(card(&html, "spend_minor").1, "USD 6,000.00");
}

#[test]
fn money_has_the_reporting_currency_s_own_exponent() {
    let jpy = render(&sample("JPY"), &Options::default());
    assert_eq!(card(&jpy, "attributed_revenue_minor").1, "JPY 600,000");
    assert!(jpy.contains("money in the reporting currency JPY"));
    let kwd = render(&sample("KWD"), &Options::default());
    assert_eq!(card(&kwd, "attributed_revenue_minor").1, "KWD 600.000");
    let eur = render(&sample("EUR"), &Options::default());
    assert_eq!(card(&eur, "spend_minor").1, "EUR 6,000.00");
}

#[test]
fn models_are_compared_side_by_side_with_the_change() {
    let html = render(&sample("USD"), &Options::default());
    assert!(html.contains("Model comparison: linear vs last_touch"));
    // organic_search: 1,500.00 under linear, 2,000.00 under last touch: +33.3 %.
    assert!(
        html.contains("<td>organic_search</td><td>USD 1,500.00</td><td>USD 2,000.00</td><td>+33.3 %</td>"),
        "{html}"
    );
    let other = render(&sample("USD"), &Options { model: Some("last_touch".into()), compare: Some("linear".into()) });
    assert!(other.contains("Model comparison: last_touch vs linear") && other.contains("<td>-25.0 %</td>"));
}

#[test]
fn publishers_include_an_unknown_group_and_add_up_to_social_revenue() {
    let html = render(&sample("USD"), &Options::default());
    let panel =
        html.split("id=\"panel-all\"").nth(1).and_then(|p| p.split("id=\"panel-order\"").next()).expect("panel");
    // x's 500.00 has no publisher; paid 3,000 + brand 1,000 + unknown 500 = all social.
    assert!(panel.contains(&format!("<td>{UNKNOWN_PUBLISHER}</td><td>USD 500.00</td>")), "{panel}");
    assert!(panel.contains("<td>paid</td><td>USD 3,000.00</td>"));
}

#[test]
fn the_last_week_is_marked_partial_unless_it_is_complete() {
    // Data ends Wednesday 2026-03-11: its week (from Monday 03-09) is partial.
    let html = render(&sample("USD"), &Options::default());
    assert!(html.contains("class=\"partial\"") && html.contains("the last week is not complete yet"));
    let mut data = sample("USD");
    data.facts.push(spend("linear", "2026-03-15", "linkedin", "c-1", 0, "USD"));
    let html = render(&data, &Options::default());
    assert!(!html.contains("class=\"partial\""));
}

#[test]
fn the_page_fits_a_phone_and_ships_no_script() {
    let html = render(&sample("USD"), &Options::default());
    assert!(html.contains("name=\"viewport\" content=\"width=device-width, initial-scale=1\""));
    assert!(!html.contains("<script"));
    // Charts scale with the page: a viewBox and no fixed width attribute.
    assert!(html.contains("viewBox=") && !html.contains("<svg class=\"chart\" role=\"img\" width="));
    for view in ["all", "order", "deal", "lead"] {
        assert!(html.contains(&format!("id=\"view-{view}\"")) && html.contains(&format!("id=\"panel-{view}\"")));
    }
}

#[test]
fn reconciliation_is_in_major_units_with_a_column_per_model() {
    let html = render(&sample("JPY"), &Options::default());
    assert!(html.contains("<th>last_touch</th><th>linear</th>") || html.contains("<th>linear</th>"));
    assert!(html.contains("<td>2026-03</td><td>order</td><td>JPY</td><td>1,000,000</td>"), "{html}");
    assert!(html.contains("All 1 lines balance to the cent"));
}

#[test]
fn weeks_start_on_monday() {
    let d = |s: &str| Date::parse(s).expect("date");
    assert_eq!(week_of(d("2026-11-23")), d("2026-11-23"));
    assert_eq!(week_of(d("2026-11-29")), d("2026-11-23"));
    assert_eq!(week_of(d("1970-01-01")), d("1969-12-29"));
}

/// The part of the page of one conversion-type view.
fn panel<'a>(html: &'a str, view: &str) -> &'a str {
    let start = html.find(&format!("id=\"panel-{view}\"")).expect("panel");
    let rest = &html[start..];
    let end = rest[1..].find("id=\"panel-").map_or(rest.len(), |i| i + 1);
    &rest[..end]
}

#[test]
fn top_paths_follow_the_conversion_type_filter() {
    let html = render(&sample("USD"), &Options::default());
    // Orders + deals: x > direct 3 + 1 = 4 ties linkedin's 4 and wins on revenue; leads apart.
    let all = panel(&html, "all");
    assert!(all.contains("<td>x &gt; direct</td><td>4</td><td>50.0 %</td><td>1,000.00</td>"), "{all}");
    assert!(all.contains("<td>linkedin</td><td>4</td><td>50.0 %</td><td>50.00</td>"));
    assert!(all.find("x &gt; direct</td>") < all.find("<td>linkedin</td><td>4"));
    assert!(!all.contains("linkedin &gt; x"));
    let leads = panel(&html, "lead");
    assert!(leads.contains("<td>linkedin &gt; x</td><td>7</td><td>100.0 %</td></tr>"), "{leads}");
}

#[test]
fn time_to_conversion_is_drawn_as_shares_per_bucket() {
    let html = render(&sample("USD"), &Options::default());
    // 1 of 4 orders under a day, 3 of 4 at 2-4 days.
    assert!(html.contains("&lt; 1 day, order: 25</title>") && html.contains("2-4 days, order: 75</title>"), "{html}");
}
