use super::*;
use attrib_contract::{decode_value, Event, Timestamp, Topic};
use proptest::prelude::*;
use serde_json::{json, Value};

fn ingest(store: &mut JourneyStore, topic: Topic, v: Value) -> Ingested {
    match decode_value(topic, &v).expect("valid fixture") {
        Event::Social(e) => store.ingest_social(&e),
        Event::Web(e) => store.ingest_web(&e),
        Event::Crm(e) => store.ingest_crm(&e),
        other => panic!("not a journey record: {other:?}"),
    }
}

fn social(id: &str, at: &str, kind: &str, user: &str, click: Option<&str>) -> Value {
    json!({"event_id": id, "occurred_at": at, "platform": "facebook", "interaction": kind,
           "account_id": "brand", "actor_type": "brand", "post_id": "p1", "campaign_id": "c1",
           "user": {"platform_user_id": user}, "click_id": click})
}

fn web(id: &str, at: &str, kind: &str, anon: &str, extra: Value) -> Value {
    let mut v = json!({"event_id": id, "occurred_at": at, "anonymous_id": anon, "type": kind});
    for (k, x) in extra.as_object().expect("object") {
        v[k] = x.clone();
    }
    v
}

fn order(id: &str, at: &str, anon: &str, order_id: &str, revenue: i64) -> Value {
    web(id, at, "order", anon, json!({"order": {"order_id": order_id, "revenue_minor": revenue, "currency": "USD"}}))
}

fn deal(id: &str, at: &str, contact: &str, stage: &str, amount: i64, version: i64) -> Value {
    json!({"event_id": id, "occurred_at": at, "object": "deal", "contact_id": contact, "deal_id": "d1",
           "stage": stage, "amount_minor": amount, "currency": "EUR", "created_at": "2026-01-10T00:00:00Z",
           "closed_at": "2026-02-01T00:00:00Z", "version": version})
}

fn only_journey(store: &JourneyStore) -> Journey<'_> {
    let mut js = store.journeys();
    assert_eq!(js.len(), 1, "expected one person");
    js.remove(0)
}

#[test]
fn a_session_landing_with_a_social_click_id_is_the_same_touch() {
    let mut s = JourneyStore::new(JourneyConfig::default());
    ingest(&mut s, Topic::SocialInteractions, social("s1", "2026-03-01T10:00:00Z", "link_click", "u1", Some("fbc1")));
    ingest(
        &mut s,
        Topic::WebEvents,
        web(
            "w1",
            "2026-03-01T10:00:05Z",
            "session_start",
            "a1",
            json!({"click_id": "fbc1", "utm": {"source": "facebook"}}),
        ),
    );
    ingest(&mut s, Topic::WebEvents, order("w2", "2026-03-01T10:10:00Z", "a1", "o1", 5000));
    let j = only_journey(&s);
    assert_eq!(j.touches.len(), 1);
    assert_eq!(j.touches[0].event_id, "s1");
    assert_eq!(j.conversions[0].id, "order:o1");
}

#[test]
fn sessions_without_a_known_click_id_are_touches_with_their_channel() {
    let mut s = JourneyStore::new(JourneyConfig::default());
    ingest(
        &mut s,
        Topic::WebEvents,
        web(
            "w1",
            "2026-03-01T10:00:00Z",
            "session_start",
            "a1",
            json!({"click_id": "gclid-1", "utm": {"source": "google", "medium": "cpc", "campaign": " brand-search "}}),
        ),
    );
    ingest(&mut s, Topic::WebEvents, web("w2", "2026-03-02T10:00:00Z", "session_start", "a1", json!({})));
    let j = only_journey(&s);
    let channels: Vec<_> = j.touches.iter().map(|t| (t.channel, t.campaign_id)).collect();
    assert_eq!(channels, vec![(Channel::PaidSearch, Some("brand-search")), (Channel::Direct, None)]);
}

#[test]
fn impressions_and_views_are_touches_only_with_view_through() {
    for (view_through, expected) in [(false, 1), (true, 3)] {
        let mut s = JourneyStore::new(JourneyConfig { view_through, ..JourneyConfig::default() });
        ingest(&mut s, Topic::SocialInteractions, social("s1", "2026-03-01T10:00:00Z", "impression", "u1", None));
        ingest(&mut s, Topic::SocialInteractions, social("s2", "2026-03-01T10:00:01Z", "view", "u1", None));
        ingest(&mut s, Topic::SocialInteractions, social("s3", "2026-03-01T10:00:02Z", "like", "u1", None));
        assert_eq!(only_journey(&s).touches.len(), expected);
    }
}

#[test]
fn window_boundaries_exclude_the_start_and_include_the_conversion_instant() {
    let mut s = JourneyStore::new(JourneyConfig::default());
    let conv = "2026-03-31T12:00:00Z";
    ingest(&mut s, Topic::WebEvents, order("w0", conv, "a1", "o1", 100));
    // Exactly 30 days before: outside. One nanosecond later: inside. At the conversion: inside. After: never.
    for (id, at) in [
        ("t-edge", "2026-03-01T12:00:00Z"),
        ("t-in", "2026-03-01T12:00:00.000000001Z"),
        ("t-same", conv),
        ("t-after", "2026-03-31T12:00:01Z"),
    ] {
        ingest(&mut s, Topic::WebEvents, web(id, at, "session_start", "a1", json!({})));
    }
    let j = only_journey(&s);
    let c = &j.conversions[0];
    let counted: Vec<_> =
        j.touches_for(c, s.config().lookback_days.window(c.kind)).iter().map(|t| t.event_id).collect();
    assert_eq!(counted, vec!["t-in", "t-same"]);
}

#[test]
fn the_earliest_order_with_an_order_id_wins_then_the_smaller_event_id() {
    let mut s = JourneyStore::new(JourneyConfig::default());
    ingest(&mut s, Topic::WebEvents, order("w9", "2026-03-02T00:00:00Z", "a1", "o1", 900));
    ingest(&mut s, Topic::WebEvents, order("w5", "2026-03-01T00:00:00Z", "a1", "o1", 500));
    ingest(&mut s, Topic::WebEvents, order("w4", "2026-03-01T00:00:00Z", "a1", "o1", 400));
    let j = only_journey(&s);
    assert_eq!(j.conversions.len(), 1);
    assert_eq!((j.conversions[0].revenue_minor, j.conversions[0].source_event_id), (400, "w4"));
}

#[test]
fn a_deal_is_in_the_state_of_its_highest_version_whatever_the_arrival_order() {
    let mut s = JourneyStore::new(JourneyConfig::default());
    ingest(&mut s, Topic::CrmRecords, deal("c3", "2026-02-05T00:00:00Z", "k1", "closed_won", 70_000, 3));
    ingest(&mut s, Topic::CrmRecords, deal("c1", "2026-02-01T00:00:00Z", "k1", "open", 100_000, 1));
    ingest(&mut s, Topic::CrmRecords, deal("c2", "2026-02-01T00:00:00Z", "k1", "closed_won", 100_000, 2));
    let j = only_journey(&s);
    let c = &j.conversions[0];
    assert_eq!((c.id.as_str(), c.version, c.revenue_minor), ("deal:d1", 3, 70_000));
    assert_eq!(c.time, Timestamp::parse_rfc3339("2026-02-01T00:00:00Z").expect("ts"));
    // Equal versions: the later occurred_at wins, then the greater event id.
    ingest(&mut s, Topic::CrmRecords, deal("c0", "2026-02-06T00:00:00Z", "k1", "closed_lost", 70_000, 3));
    assert!(only_journey(&s).conversions.is_empty(), "closed_lost restatement removes the conversion");
}

#[test]
fn duplicate_event_ids_are_processed_once() {
    let mut s = JourneyStore::new(JourneyConfig::default());
    let v = web("w1", "2026-03-01T00:00:00Z", "lead_form", "a1", json!({}));
    assert!(matches!(ingest(&mut s, Topic::WebEvents, v.clone()), Ingested::Accepted { .. }));
    assert_eq!(ingest(&mut s, Topic::WebEvents, v), Ingested::Duplicate);
    assert_eq!(only_journey(&s).conversions.len(), 1);
}

#[test]
fn a_deal_belongs_to_its_contacts_person_and_the_first_lead_is_tracked() {
    let mut s = JourneyStore::new(JourneyConfig::default());
    ingest(&mut s, Topic::WebEvents, web("w1", "2026-01-02T00:00:00Z", "lead_form", "a1", json!({"user_id": "k1"})));
    ingest(
        &mut s,
        Topic::CrmRecords,
        json!({"event_id": "c0", "occurred_at": "2026-01-01T00:00:00Z",
        "object": "lead", "contact_id": "k1"}),
    );
    ingest(&mut s, Topic::CrmRecords, deal("c1", "2026-02-01T00:00:00Z", "k1", "closed_won", 1000, 1));
    let j = only_journey(&s);
    assert_eq!(j.first_lead, Timestamp::parse_rfc3339("2026-01-01T00:00:00Z"));
    let ids: Vec<_> = j.conversions.iter().map(|c| c.id.as_str()).collect();
    assert_eq!(ids, vec!["lead:c0", "lead:w1", "deal:d1"]);
}

fn fixture_records() -> Vec<(Topic, Value)> {
    let mut v = vec![
        (Topic::SocialInteractions, social("s1", "2026-03-01T10:00:00Z", "link_click", "u1", Some("k1"))),
        (Topic::SocialInteractions, social("s2", "2026-03-02T10:00:00Z", "like", "u2", None)),
        (Topic::SocialInteractions, social("s3", "2026-03-02T10:00:00Z", "share", "u1", None)),
        (Topic::WebEvents, web("w1", "2026-03-01T10:00:01Z", "session_start", "a1", json!({"click_id": "k1"}))),
        (
            Topic::WebEvents,
            web("w2", "2026-03-03T10:00:00Z", "session_start", "a2", json!({"referrer": "https://bing.com"})),
        ),
        (
            Topic::WebEvents,
            web(
                "w3",
                "2026-03-04T10:00:00Z",
                "signup",
                "a2",
                json!({"email_sha256": "e1e1e1e1e1e1e1e1e1e1e1e1e1e1e1e1e1e1e1e1e1e1e1e1e1e1e1e1e1e1e1e1"}),
            ),
        ),
        (
            Topic::WebEvents,
            web(
                "w4",
                "2026-03-05T10:00:00Z",
                "page_view",
                "a1",
                json!({"email_sha256": "e1e1e1e1e1e1e1e1e1e1e1e1e1e1e1e1e1e1e1e1e1e1e1e1e1e1e1e1e1e1e1e1"}),
            ),
        ),
        (Topic::WebEvents, order("w5", "2026-03-06T10:00:00Z", "a1", "o1", 1234)),
        (Topic::WebEvents, order("w6", "2026-03-06T10:00:00Z", "a2", "o1", 999)),
        (Topic::CrmRecords, deal("c1", "2026-02-01T00:00:00Z", "k9", "closed_won", 5, 1)),
        (Topic::CrmRecords, deal("c2", "2026-02-02T00:00:00Z", "k9", "closed_won", 7, 2)),
        (
            Topic::CrmRecords,
            json!({"event_id": "c3", "occurred_at": "2026-01-01T00:00:00Z", "object": "contact",
            "contact_id": "k9", "email_sha256": "E1E1E1E1E1E1E1E1E1E1E1E1E1E1E1E1E1E1E1E1E1E1E1E1E1E1E1E1E1E1E1E1"}),
        ),
    ];
    v.push(v[0].clone());
    v
}

fn summary(records: &[(Topic, Value)]) -> Vec<String> {
    let mut s = JourneyStore::new(JourneyConfig::default());
    for (t, v) in records {
        ingest(&mut s, *t, v.clone());
    }
    s.journeys().iter().map(|j| format!("{j:?}")).collect()
}

proptest! {
    #[test]
    fn journeys_do_not_depend_on_arrival_order(perm in Just(fixture_records()).prop_shuffle()) {
        prop_assert_eq!(summary(&perm), summary(&fixture_records()));
    }
}

#[test]
fn page_views_impressions_and_contacts_keep_only_their_identity_links() {
    let mut s = JourneyStore::new(JourneyConfig::default());
    ingest(&mut s, Topic::WebEvents, web("w1", "2026-03-01T10:00:00Z", "page_view", "a1", json!({"user_id": "k1"})));
    ingest(&mut s, Topic::SocialInteractions, social("s1", "2026-03-01T09:00:00Z", "impression", "u1", None));
    ingest(
        &mut s,
        Topic::CrmRecords,
        json!({"event_id": "c1", "occurred_at": "2026-03-02T00:00:00Z", "object": "contact", "contact_id": "k1"}),
    );
    assert_eq!(s.fact_count(), 0, "no facts for records that cannot shape a journey");
    assert_eq!(s.people(), 2, "a1 and k1 are one person, the impression's user another");
    assert_eq!(s.root_of_key("anon:a1"), s.root_of_key("contact:k1"));
    // The same records with view-through on: the impression is a touch.
    let mut vt = JourneyStore::new(JourneyConfig { view_through: true, ..JourneyConfig::default() });
    ingest(&mut vt, Topic::SocialInteractions, social("s1", "2026-03-01T09:00:00Z", "impression", "u1", None));
    assert_eq!(vt.fact_count(), 1);
    // A second copy of an event id is a duplicate, however many records came between.
    assert_eq!(
        ingest(&mut s, Topic::WebEvents, web("w1", "2026-03-05T10:00:00Z", "session_start", "a9", json!({}))),
        Ingested::Duplicate
    );
    assert_eq!(s.root_of_key("anon:a9"), None, "a duplicate links nothing");
}
