use super::*;
use attrib_contract::Topic;
use attrib_models::{Model, RuleModel};
use proptest::prelude::*;
use serde_json::{json, Value};

pub(crate) fn engine_with(records: &[(Topic, Value)]) -> Engine {
    let mut e = Engine::new(AttributionConfig::default());
    for (t, v) in records {
        let _ = e.ingest_bytes(*t, v.to_string().as_bytes());
    }
    e
}

fn session(id: &str, at: &str, anon: &str, source: &str) -> (Topic, Value) {
    (
        Topic::WebEvents,
        json!({"event_id": id, "occurred_at": at, "anonymous_id": anon, "type": "session_start",
        "utm": {"source": source, "medium": "social"}}),
    )
}

fn order(id: &str, at: &str, anon: &str, revenue: i64) -> (Topic, Value) {
    (
        Topic::WebEvents,
        json!({"event_id": id, "occurred_at": at, "anonymous_id": anon, "type": "order",
        "order": {"order_id": format!("o-{id}"), "revenue_minor": revenue, "currency": "USD"}}),
    )
}

fn deal(id: &str, at: &str, stage: &str, amount: i64, version: i64) -> (Topic, Value) {
    (
        Topic::CrmRecords,
        json!({"event_id": id, "occurred_at": at, "object": "deal", "contact_id": "k1",
        "deal_id": "d1", "stage": stage, "amount_minor": amount, "currency": "EUR",
        "created_at": "2026-03-01T00:00:00Z", "closed_at": "2026-03-20T00:00:00Z", "version": version}),
    )
}

fn rows_of<'a>(l: &'a Ledger, model: &str) -> Vec<&'a CreditRow> {
    l.credits.iter().filter(|c| c.model.as_str() == model).collect()
}

#[test]
fn a_conversion_without_touches_credits_unattributed_in_full() {
    let e = engine_with(&[order("w1", "2026-03-10T00:00:00Z", "a1", 4242)]);
    let l = e.attribute(2);
    assert_eq!(l.credits.len(), 10, "one row per model");
    for c in &l.credits {
        assert_eq!(
            (c.channel_name(), c.credit_minor, c.touch_event_id.as_str(), c.weight),
            (UNATTRIBUTED, 4242, "", 1.0)
        );
    }
}

#[test]
fn leads_get_zero_credit_rows_that_still_carry_weights() {
    let e = engine_with(&[
        session("w1", "2026-03-01T00:00:00Z", "a1", "linkedin"),
        session("w2", "2026-03-02T00:00:00Z", "a1", "facebook"),
        (
            Topic::WebEvents,
            json!({"event_id": "w3", "occurred_at": "2026-03-03T00:00:00Z", "anonymous_id": "a1", "type": "lead_form"}),
        ),
    ]);
    let l = e.attribute(1);
    let linear = rows_of(&l, "linear");
    assert_eq!(linear.len(), 2);
    assert!(linear.iter().all(|c| c.credit_minor == 0 && c.weight == 0.5 && c.currency.is_none()));
    assert_eq!(l.conversions[0].conversion_id, "lead:w3");
}

#[test]
fn a_deal_restated_to_closed_lost_leaves_no_credits_and_a_new_amount_replaces_the_old() {
    let base = vec![
        (
            Topic::CrmRecords,
            json!({"event_id": "c0", "occurred_at": "2026-02-01T00:00:00Z", "object": "contact",
            "contact_id": "k1", "email_sha256": "e1e1e1e1e1e1e1e1e1e1e1e1e1e1e1e1e1e1e1e1e1e1e1e1e1e1e1e1e1e1e1e1"}),
        ),
        (
            Topic::WebEvents,
            json!({"event_id": "w1", "occurred_at": "2026-03-05T00:00:00Z", "anonymous_id": "a1",
            "email_sha256": "e1e1e1e1e1e1e1e1e1e1e1e1e1e1e1e1e1e1e1e1e1e1e1e1e1e1e1e1e1e1e1e1", "type": "session_start", "referrer": "https://www.linkedin.com/feed"}),
        ),
        deal("c1", "2026-03-20T00:00:00Z", "closed_won", 100_000, 1),
    ];
    let l = engine_with(&base).attribute(1);
    assert_eq!(rows_of(&l, "last_touch")[0].credit_minor, 100_000);
    assert_eq!(rows_of(&l, "last_touch")[0].channel_name(), "linkedin");

    let mut refunded = base.clone();
    refunded.push(deal("c2", "2026-04-02T00:00:00Z", "closed_won", 60_000, 2));
    let l = engine_with(&refunded).attribute(1);
    assert_eq!(
        rows_of(&l, "last_touch").iter().map(|c| (c.credit_minor, c.conversion_version)).collect::<Vec<_>>(),
        vec![(60_000, 2)]
    );

    let mut lost = refunded.clone();
    lost.push(deal("c3", "2026-04-05T00:00:00Z", "closed_lost", 60_000, 3));
    let l = engine_with(&lost).attribute(1);
    assert!(l.credits.is_empty() && l.conversions.is_empty());
}

#[test]
fn rejected_and_duplicate_records_are_counted_not_ingested() {
    let mut e = Engine::new(AttributionConfig::default());
    assert!(e.ingest_bytes(Topic::WebEvents, b"{\"event_id\": 5}").is_err());
    let ok = order("w1", "2026-03-10T00:00:00Z", "a1", 1).1.to_string();
    assert_eq!(e.ingest_bytes(Topic::WebEvents, ok.as_bytes()), Ok(Outcome::Accepted));
    assert_eq!(e.ingest_bytes(Topic::WebEvents, ok.as_bytes()), Ok(Outcome::Duplicate));
    let c = e.counts()["web.events"];
    assert_eq!((c.received, c.accepted, c.duplicates, c.rejected), (3, 1, 1, 1));
}

#[test]
fn reconciliation_balances_to_the_cent_and_posts_show_engagement() {
    let like = json!({"event_id": "s1", "occurred_at": "2026-03-01T00:00:00Z", "platform": "instagram",
        "interaction": "link_click", "account_id": "brand", "actor_type": "influencer", "post_id": "p1",
        "click_id": "ig1"});
    let e = engine_with(&[
        (Topic::SocialInteractions, like),
        (
            Topic::WebEvents,
            json!({"event_id": "w0", "occurred_at": "2026-03-01T00:00:01Z", "anonymous_id": "a1",
            "type": "session_start", "click_id": "ig1"}),
        ),
        session("w1", "2026-03-02T00:00:00Z", "a1", "google"),
        order("w2", "2026-03-03T00:00:00Z", "a1", 1001),
        order("w3", "2026-03-04T00:00:00Z", "a9", 555),
    ]);
    let l = e.attribute(2);
    let models: Vec<&str> = e.config().models.iter().map(|m| m.as_str()).collect();
    let rec = reconcile(&l.conversions, &l.credits, &models);
    assert_eq!(rec.len(), 10);
    assert!(rec.iter().all(|r| r.difference_minor == 0 && r.revenue_minor == 1556));
    let posts = post_kpis(&e.kpi_facts(&l));
    let p = posts.iter().find(|p| p.model == "first_touch").expect("post row");
    assert_eq!(
        (p.post_id.as_str(), p.attributed_revenue_minor, p.link_clicks, p.actor_type.as_str()),
        ("p1", 1001, 1, "influencer")
    );
}

pub(crate) fn mixed_records() -> Vec<(Topic, Value)> {
    let mut v = Vec::new();
    for i in 0..6 {
        let anon = format!("a{}", i % 3);
        v.push(session(
            &format!("s{i}"),
            &format!("2026-03-0{}T00:00:00Z", i + 1),
            &anon,
            ["linkedin", "x", "fb"][i % 3],
        ));
        v.push(order(&format!("o{i}"), &format!("2026-03-0{}T12:00:00Z", i + 2), &anon, 1000 + i as i64 * 7));
    }
    v.push((
        Topic::WebEvents,
        json!({"event_id": "l1", "occurred_at": "2026-03-02T06:00:00Z", "anonymous_id": "a1",
        "type": "lead_form", "user_id": "k1"}),
    ));
    v.push(deal("c1", "2026-03-20T00:00:00Z", "closed_won", 99_999, 1));
    v.push(deal("c2", "2026-03-21T00:00:00Z", "closed_won", 88_888, 2));
    v
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]
    #[test]
    fn the_ledger_does_not_depend_on_arrival_order(perm in Just(mixed_records()).prop_shuffle()) {
        let a = engine_with(&mixed_records()).attribute(1);
        let b = engine_with(&perm).attribute(2);
        prop_assert_eq!(a, b);
    }
}

fn social_click(id: &str, at: &str, platform: &str, click: &str) -> (Topic, Value) {
    (
        Topic::SocialInteractions,
        json!({"event_id": id, "occurred_at": at, "platform": platform,
        "interaction": "link_click", "account_id": "brand", "actor_type": "brand", "post_id": format!("p-{platform}"),
        "click_id": click}),
    )
}

fn landed(id: &str, at: &str, anon: &str, click: &str) -> (Topic, Value) {
    (
        Topic::WebEvents,
        json!({"event_id": id, "occurred_at": at, "anonymous_id": anon, "type": "session_start", "click_id": click}),
    )
}

/// Two converters via linkedin then x, one non-converter via x only, one via facebook only.
fn data_driven_records() -> Vec<(Topic, Value)> {
    vec![
        social_click("s1", "2026-03-01T00:00:00Z", "linkedin", "k1"),
        landed("w1", "2026-03-01T00:00:05Z", "a1", "k1"),
        social_click("s2", "2026-03-02T00:00:00Z", "x", "k2"),
        landed("w2", "2026-03-02T00:00:05Z", "a1", "k2"),
        order("dd1", "2026-03-03T00:00:00Z", "a1", 1000),
        social_click("s3", "2026-03-01T00:00:00Z", "linkedin", "k3"),
        landed("w3", "2026-03-01T00:00:05Z", "a2", "k3"),
        social_click("s4", "2026-03-02T00:00:00Z", "x", "k4"),
        landed("w4", "2026-03-02T00:00:05Z", "a2", "k4"),
        order("dd2", "2026-03-03T00:00:00Z", "a2", 2001),
        social_click("s5", "2026-03-02T00:00:00Z", "x", "k5"),
        social_click("s6", "2026-03-02T00:00:00Z", "facebook", "k6"),
    ]
}

fn fit_of<'a>(l: &'a Ledger, model: &str, kind: &str) -> &'a FitReport {
    l.fits.iter().find(|f| f.model == model && f.conversion_type == kind).expect("fit")
}

#[test]
fn markov_and_shapley_credit_by_fitted_channel_values_and_record_their_fit() {
    let e = engine_with(&data_driven_records());
    let l = e.attribute(2);
    let markov = rows_of(&l, "markov");
    // Order paths: linkedin > x converts twice; x alone and facebook alone do not convert.
    // Chain: start → linkedin 2/4, x 1/4, facebook 1/4; linkedin → x; x → conv 2/3.
    // P = 2/4·2/3 + 1/4·2/3 = 1/2. Without linkedin: 1/4·2/3 = 1/6 → RE = 2/3. Without x: 0 → RE = 1.
    // Weights 2/3 : 1 = 0.4 : 0.6; 2001 cents → 800.4 / 1200.6 → the last cent to x.
    assert_eq!(
        markov.iter().map(|c| (c.channel_name(), c.credit_minor)).collect::<Vec<_>>(),
        vec![("linkedin", 400), ("x", 600), ("linkedin", 800), ("x", 1201)]
    );
    // One fit per model and conversion type.
    assert_eq!(l.fits.len(), 8);
    let fit = fit_of(&l, "markov", "order");
    assert_eq!((fit.converting_paths, fit.non_converting_paths, fit.unique_paths), (2, 2, 3));
    assert!(markov
        .iter()
        .all(|c| c.model_version.as_str() == fit.model_version && c.model_version.starts_with("markov-order-")));
    assert_eq!(fit.channel_values["facebook"], 0.0);
    // Nobody has a deal: all four people are the deal fit's non-converting paths.
    let deals = fit_of(&l, "markov", "deal");
    assert_eq!((deals.converting_paths, deals.non_converting_paths), (0, 4));
    assert_ne!(deals.model_version, fit.model_version);
    // Shapley: CR{linkedin, x} = 1, CR{x} = 0, CR{facebook} = 0. Each conversion plays over its
    // own channels {linkedin, x}: φ_linkedin = ½·CR{linkedin} + ½·(CR{linkedin,x} − CR{x}) = ½,
    // φ_x = ½·CR{x} + ½·(CR{linkedin,x} − CR{linkedin}) = ½ (CR{linkedin} = 0: never seen alone).
    let shapley = fit_of(&l, "shapley", "order");
    let rates = shapley.coalition_rates.as_ref().expect("the game is reported");
    assert_eq!(rates.get("linkedin+x"), Some(&1.0));
    assert_eq!(rates.get("x"), Some(&0.0));
    assert_eq!(shapley.channel_values.get("linkedin"), Some(&0.5), "{shapley:?}");
    assert_eq!(shapley.channel_values.get("x"), Some(&0.5));
    assert_eq!(shapley.channel_values.get("facebook"), None, "only channels of converting paths have a mean φ");
    let credits: Vec<i64> = rows_of(&l, "shapley").iter().map(|c| c.credit_minor).collect();
    assert_eq!(credits, vec![500, 500, 1001, 1000]);
    assert_eq!(shapley.fallbacks_to_last_touch, 0);
    assert_eq!(shapley.truncated_conversions, Some(0));
}

#[test]
fn each_conversion_plays_its_own_shapley_game() {
    // CR{linkedin} = 1, CR{linkedin, x} = 1/10, CR{x} = 1/20.
    let mut records = Vec::new();
    let mut person = |n: usize, channels: &[&str], converts: bool| {
        for (k, ch) in channels.iter().enumerate() {
            let click = format!("c{n}-{k}");
            records.push(social_click(&format!("s{n}-{k}"), &format!("2026-03-0{}T00:00:00Z", k + 1), ch, &click));
            records.push(landed(
                &format!("w{n}-{k}"),
                &format!("2026-03-0{}T00:00:05Z", k + 1),
                &format!("a{n}"),
                &click,
            ));
        }
        if converts {
            records.push(order(&format!("o{n}"), "2026-03-05T00:00:00Z", &format!("a{n}"), 777));
        }
    };
    person(0, &["linkedin"], true);
    person(1, &["linkedin", "x"], true);
    for n in 2..11 {
        person(n, &["linkedin", "x"], false);
    }
    person(11, &["x"], true);
    for n in 12..31 {
        person(n, &["x"], false);
    }
    let l = engine_with(&records).attribute(2);
    let shapley = fit_of(&l, "shapley", "order");
    // The x-only conversion plays alone: φ_x = CR{x} = 1/20 > 0, so it keeps its value on x.
    let x_only: Vec<_> = rows_of(&l, "shapley").into_iter().filter(|c| c.conversion_id == "order:o-o11").collect();
    assert_eq!(x_only.iter().map(|c| (c.channel_name(), c.credit_minor)).collect::<Vec<_>>(), vec![("x", 777)]);
    // On {linkedin, x}: φ_x = ½·(1/20) + ½·(1/10 − 1) < 0 → floored to 0; linkedin takes all.
    let both: Vec<_> = rows_of(&l, "shapley").into_iter().filter(|c| c.conversion_id == "order:o-o1").collect();
    assert_eq!(both.iter().map(|c| c.credit_minor).collect::<Vec<_>>(), vec![777, 0]);
    // A converting set always has CR > 0 in its own fit, so nothing fell back.
    assert_eq!(shapley.fallbacks_to_last_touch, 0);
    // x's mean φ over converting paths: (−0.425 on linkedin+x, 0.05 alone) / 2.
    assert!((shapley.channel_values["x"] - (-0.425 + 0.05) / 2.0).abs() < 1e-12, "{shapley:?}");
}

#[test]
fn a_conversion_on_a_channel_set_its_fit_never_saw_falls_back_to_last_touch() {
    // Fitted on linkedin-only journeys; then a facebook-only conversion arrives before the next
    // refit: every set with facebook is unseen (CR 0), so every weight is 0 and the last touch
    // takes the conversion.
    let mut e = Engine::new(AttributionConfig::default());
    let mut inc = IncrementalLedger::new();
    for (t, v) in data_driven_records() {
        e.ingest_bytes(t, v.to_string().as_bytes()).expect("valid");
    }
    inc.refit(&mut e);
    let _ = inc.update(&mut e);
    for (t, v) in [
        social_click("n1", "2026-03-02T00:00:00Z", "facebook", "kn1"),
        landed("n2", "2026-03-02T00:00:05Z", "a9", "kn1"),
        social_click("n3", "2026-03-02T06:00:00Z", "facebook", "kn2"),
        landed("n4", "2026-03-02T06:00:05Z", "a9", "kn2"),
        order("n5", "2026-03-03T00:00:00Z", "a9", 900),
    ] {
        e.ingest_bytes(t, v.to_string().as_bytes()).expect("valid");
    }
    let changes = inc.update(&mut e);
    let credits_of = |model: &str| -> Vec<i64> {
        let live = changes.credits.iter().filter(|c| !c.deleted);
        live.filter(|c| c.row.model.as_str() == model && c.row.conversion_id == "order:o-n5")
            .map(|c| c.row.credit_minor)
            .collect()
    };
    assert_eq!(credits_of("shapley"), vec![0, 900], "the last touch takes it all");
    // Markov has the same rule: facebook's removal effect in that fit is 0.
    assert_eq!(credits_of("markov"), vec![0, 900]);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(16))]
    #[test]
    fn data_driven_fits_do_not_depend_on_arrival_order(perm in Just(data_driven_records()).prop_shuffle()) {
        let a = engine_with(&data_driven_records()).attribute(1);
        let b = engine_with(&perm).attribute(2);
        prop_assert_eq!(a, b);
    }
}

/// A table that keeps the last write per key, like ReplacingMergeTree after FINAL.
#[derive(Default)]
pub(crate) struct Table(pub(crate) std::collections::HashMap<CreditKey, (CreditRow, bool)>);

/// (conversion id, conversion version, model, touch source, touch event id): the ledger key.
type CreditKey = (attrib_contract::Name, i64, Model, Option<attrib_journeys::TouchSource>, attrib_contract::Name);

impl Table {
    pub(crate) fn apply(&mut self, changes: &Changes) {
        for c in &changes.credits {
            let r = &c.row;
            let key =
                (r.conversion_id.clone(), r.conversion_version, r.model, r.touch_source, r.touch_event_id.clone());
            self.0.insert(key, (r.clone(), c.deleted));
        }
    }

    pub(crate) fn live(&self) -> Vec<CreditRow> {
        sorted(self.0.values().filter(|(_, d)| !d).map(|(r, _)| r.clone()).collect())
    }
}

pub(crate) fn sorted(mut rows: Vec<CreditRow>) -> Vec<CreditRow> {
    sort_ledger(&mut rows);
    rows
}

fn incremental_run(records: &[(Topic, Value)], batch: usize) -> (Table, IncrementalLedger, Engine) {
    incremental_run_in_chunks(records, batch, usize::MAX)
}

/// Feeds `records` in batches; each batch's changes are taken for at most `people` people at
/// a time, as the service writes them.
fn incremental_run_in_chunks(
    records: &[(Topic, Value)],
    batch: usize,
    people: usize,
) -> (Table, IncrementalLedger, Engine) {
    let mut e = Engine::new(AttributionConfig::default());
    let mut inc = IncrementalLedger::new();
    let mut table = Table::default();
    let drain = |inc: &mut IncrementalLedger, e: &mut Engine, table: &mut Table| loop {
        table.apply(&inc.update_at_most(e, people));
        if !inc.has_pending() {
            break;
        }
    };
    for chunk in records.chunks(batch.max(1)) {
        for (t, v) in chunk {
            let _ = e.ingest_bytes(*t, v.to_string().as_bytes());
        }
        drain(&mut inc, &mut e, &mut table);
    }
    inc.refit(&mut e);
    drain(&mut inc, &mut e, &mut table);
    (table, inc, e)
}

#[test]
fn a_deal_restated_to_closed_lost_reverses_its_credits_in_the_live_ledger() {
    let mut e = Engine::new(AttributionConfig::default());
    let mut inc = IncrementalLedger::new();
    let mut table = Table::default();
    for (t, v) in [
        session("w1", "2026-03-05T00:00:00Z", "a1", "linkedin"),
        (
            Topic::WebEvents,
            json!({"event_id": "w2", "occurred_at": "2026-03-06T00:00:00Z", "anonymous_id": "a1", "type": "signup", "user_id": "k1"}),
        ),
        deal("c1", "2026-03-20T00:00:00Z", "closed_won", 100_000, 1),
    ] {
        e.ingest_bytes(t, v.to_string().as_bytes()).expect("valid");
    }
    table.apply(&inc.update(&mut e));
    let won: i64 = table
        .live()
        .iter()
        .filter(|c| c.conversion_id == "deal:d1" && c.model == Model::Rule(RuleModel::Linear))
        .map(|c| c.credit_minor)
        .sum();
    assert_eq!(won, 100_000);
    let (t, v) = deal("c2", "2026-04-01T00:00:00Z", "closed_lost", 100_000, 2);
    e.ingest_bytes(t, v.to_string().as_bytes()).expect("valid");
    let changes = inc.update(&mut e);
    assert!(changes.credits.iter().filter(|c| c.row.conversion_id == "deal:d1").all(|c| c.deleted));
    assert!(changes.conversions.iter().any(|c| c.row.conversion_id == "deal:d1" && c.deleted));
    table.apply(&changes);
    assert!(table.live().iter().all(|c| c.conversion_id != "deal:d1"));
}

#[test]
fn replaying_the_same_events_changes_nothing() {
    let (_, mut inc, mut e) = incremental_run(&mixed_records(), 4);
    for (t, v) in mixed_records() {
        let _ = e.ingest_bytes(t, v.to_string().as_bytes());
    }
    assert!(inc.update(&mut e).is_empty());
}

#[test]
fn a_restart_seeded_with_the_written_rows_continues_without_rewriting_or_losing_anything() {
    let mut all = mixed_records();
    all.extend(data_driven_records());
    let (half, rest) = all.split_at(all.len() / 2);
    let (mut table, before, before_engine) = incremental_run(half, 3);
    // A new process: the engine replays the stored events, the ledger is seeded from the tables.
    let mut e = engine_with(half);
    let mut inc = IncrementalLedger::new();
    inc.seed(&e, before.live_rows(&before_engine));
    inc.refit(&mut e);
    assert!(inc.update(&mut e).is_empty(), "nothing changed, nothing to write");
    for (t, v) in rest {
        let _ = e.ingest_bytes(*t, v.to_string().as_bytes());
    }
    table.apply(&inc.update(&mut e));
    inc.refit(&mut e);
    table.apply(&inc.update(&mut e));
    assert_eq!(table.live(), sorted(engine_with(&all).attribute(1).credits));
}

#[test]
fn a_refit_recomputes_the_people_a_changed_fit_shapes_and_nobody_when_no_fit_changed() {
    let mut all = mixed_records();
    all.extend(data_driven_records());
    // Two people who only browse: a fit shapes none of their rows.
    all.push(session("b1", "2026-03-01T00:00:00Z", "browsing-1", "linkedin"));
    all.push(session("b2", "2026-03-01T00:00:00Z", "browsing-2", "x"));
    let mut e = engine_with(&all);
    let converting = e.store().converting_roots().len();
    let mut inc = IncrementalLedger::new();
    let mut table = Table(Default::default());
    let first = inc.update(&mut e);
    assert_eq!(first.people, e.store().people(), "everyone is new");
    table.apply(&first);
    inc.refit(&mut e);
    let refit = inc.update(&mut e);
    assert!(converting < e.store().people(), "the browsers do not convert");
    assert_eq!(refit.people, converting, "the first fit rewrites the converting people, only they");
    assert!(!refit.is_empty(), "the data-driven credits take the fit's model_version");
    table.apply(&refit);
    inc.refit(&mut e);
    assert_eq!(inc.update(&mut e).people, 0, "the same journeys fit the same models: nobody changes");
    // A fit taken on its own (as after a restore) leaves rows behind it: the next refit
    // rewrites the converting people even when it finds the same fit, and the table ends at batch.
    for late in [
        social_click("n1", "2026-03-09T00:00:00Z", "facebook", "kn9"),
        landed("n2", "2026-03-09T00:00:05Z", "a7", "kn9"),
        order("n3", "2026-03-10T00:00:00Z", "a7", 500),
    ] {
        e.ingest_bytes(late.0, late.1.to_string().as_bytes()).expect("valid");
        all.push(late);
    }
    table.apply(&inc.update(&mut e));
    inc.fit(&e);
    table.apply(&inc.update(&mut e));
    inc.refit(&mut e);
    let caught_up = inc.update(&mut e);
    assert_eq!(caught_up.people, e.store().converting_roots().len());
    table.apply(&caught_up);
    assert_eq!(table.live(), sorted(engine_with(&all).attribute(1).credits));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(32))]
    #[test]
    fn incremental_updates_converge_to_the_batch_ledger_whatever_the_order_and_batching(
        perm in Just({ let mut r = mixed_records(); r.extend(data_driven_records()); r }).prop_shuffle(),
        batch in 1usize..8,
        people in prop_oneof![Just(usize::MAX), 1usize..4],
    ) {
        let mut all = mixed_records();
        all.extend(data_driven_records());
        let batch_ledger = engine_with(&all).attribute(1);
        let (table, inc, engine) = incremental_run_in_chunks(&perm, batch, people);
        let (live, want) = (table.live(), sorted(batch_ledger.credits.clone()));
        let fmt = |r: &CreditRow| format!("{} v{} {} {}:{} {} {} w={} c={} mv={}", r.conversion_id, r.conversion_version, r.model, r.touch_source.map_or("", |t| t.as_str()), r.touch_event_id, r.touch_time.map(|t| t.to_string()).unwrap_or_default(), r.channel_name(), r.weight, r.credit_minor, r.model_version);
        let a: std::collections::BTreeSet<String> = live.iter().map(fmt).collect();
        let b: std::collections::BTreeSet<String> = want.iter().map(fmt).collect();
        let only_live: Vec<_> = a.difference(&b).take(6).collect();
        let only_batch: Vec<_> = b.difference(&a).take(6).collect();
        prop_assert!(only_live.is_empty() && only_batch.is_empty(), "only live: {:#?}\nonly batch: {:#?}", only_live, only_batch);
        prop_assert_eq!(live, want);
        prop_assert_eq!(inc.live_credits(&engine), sorted(batch_ledger.credits));
        prop_assert_eq!(inc.live_pipeline(&engine), sorted(batch_ledger.pipeline));
    }
}

#[test]
fn an_order_id_claimed_by_another_person_moves_its_rows_without_a_tombstone_for_them() {
    let shared = |event: &str, at: &str, anon: &str| {
        (
            Topic::WebEvents,
            json!({"event_id": event, "occurred_at": at, "anonymous_id": anon, "type": "order",
            "order": {"order_id": "o-shared", "revenue_minor": 5_000, "currency": "USD"}}),
        )
    };
    let first = [session("s1", "2026-03-01T00:00:00Z", "a1", "linkedin"), shared("e1", "2026-03-05T00:00:00Z", "a1")];
    let later = [session("s2", "2026-03-01T00:00:00Z", "a2", "x"), shared("e2", "2026-03-04T00:00:00Z", "a2")];
    let mut e = Engine::new(AttributionConfig::default());
    let mut inc = IncrementalLedger::new();
    let mut table = Table::default();
    for (t, v) in &first {
        e.ingest_bytes(*t, v.to_string().as_bytes()).expect("valid");
    }
    table.apply(&inc.update(&mut e));
    assert!(table.live().iter().any(|c| c.touch_event_id == "s1"));
    // The earlier copy, another person's, takes the order id: both people are recomputed together.
    for (t, v) in &later {
        e.ingest_bytes(*t, v.to_string().as_bytes()).expect("valid");
    }
    let changes = inc.update(&mut e);
    assert_eq!(changes.people, 2);
    let key = |r: &CreditRow| (r.conversion_id.clone(), r.conversion_version, r.model, r.touch_event_id.clone());
    let live: std::collections::HashSet<_> =
        changes.credits.iter().filter(|c| !c.deleted).map(|c| key(&c.row)).collect();
    assert!(!live.is_empty());
    assert!(
        changes.credits.iter().filter(|c| c.deleted).all(|c| !live.contains(&key(&c.row))),
        "a live key is deleted too"
    );
    // The conversion row keeps its key (the order id): it is live, under the other person.
    let conversion: Vec<_> = changes.conversions.iter().filter(|c| c.row.conversion_id == "order:o-shared").collect();
    assert_eq!(conversion.len(), 1, "{conversion:?}");
    assert!(!conversion[0].deleted && conversion[0].row.person_id == "anon:a2");
    table.apply(&changes);
    assert!(table.live().iter().all(|c| c.touch_event_id == "s2"), "the order is the other person's now");
    // Rule-based rows are final; the data-driven ones take their fits' versions at the refit.
    inc.refit(&mut e);
    table.apply(&inc.update(&mut e));
    let all: Vec<_> = first.iter().chain(&later).cloned().collect();
    assert_eq!(table.live(), sorted(engine_with(&all).attribute(1).credits));
}
