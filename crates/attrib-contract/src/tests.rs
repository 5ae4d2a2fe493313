use super::*;
use serde_json::json;

fn social_ok() -> serde_json::Value {
    json!({
        "event_id": "s1", "occurred_at": "2026-03-01T10:00:00Z", "platform": "linkedin",
        "interaction": "link_click", "account_id": "acme", "actor_type": "employee", "post_id": "p1",
        "campaign_id": "c1", "user": {"platform_user_id": "u1"}, "click_id": "li_1",
        "cost_minor": 120, "currency": "EUR", "some_future_field": [1, 2]
    })
}

fn rejected(topic: Topic, v: serde_json::Value) -> DecodeError {
    decode_value(topic, &v).expect_err("should be rejected")
}

fn with(mut base: serde_json::Value, key: &str, value: serde_json::Value) -> serde_json::Value {
    base[key] = value;
    base
}

fn without(mut base: serde_json::Value, key: &str) -> serde_json::Value {
    base.as_object_mut().expect("object").remove(key);
    base
}

#[test]
fn a_valid_social_interaction_decodes_and_ignores_unknown_fields() {
    let Event::Social(s) = decode_value(Topic::SocialInteractions, &social_ok()).expect("valid") else {
        panic!("wrong topic");
    };
    assert_eq!(s.platform, Platform::Linkedin);
    assert_eq!(s.cost, Some(Money { minor: 120, currency: Currency::parse("EUR").expect("EUR") }));
    assert_eq!(s.user.and_then(|u| u.platform_user_id).as_deref(), Some("u1"));
}

#[test]
fn each_rejection_names_the_field_and_the_problem() {
    let t = Topic::SocialInteractions;
    let cases = [
        (without(social_ok(), "post_id"), "post_id", "missing_field"),
        (with(social_ok(), "post_id", json!(null)), "post_id", "null_field"),
        (with(social_ok(), "event_id", json!("")), "event_id", "empty_id"),
        (with(social_ok(), "event_id", json!(17)), "event_id", "wrong_type"),
        (with(social_ok(), "platform", json!("LinkedIn")), "platform", "unknown_enum_value"),
        (with(social_ok(), "occurred_at", json!("2026-03-01 10:00:00")), "occurred_at", "bad_timestamp"),
        (with(social_ok(), "cost_minor", json!(-1)), "cost_minor", "negative_money"),
        (with(social_ok(), "cost_minor", json!(1.5)), "cost_minor", "not_an_integer"),
        (with(social_ok(), "cost_minor", json!("120")), "cost_minor", "wrong_type"),
        (with(social_ok(), "currency", json!("eur")), "currency", "bad_currency"),
        (without(social_ok(), "currency"), "cost_minor", "requires_field"),
        (with(social_ok(), "user", json!({"platform_user_id": 5})), "user.platform_user_id", "wrong_type"),
        (with(social_ok(), "utm", json!("facebook")), "utm", "wrong_type"),
    ];
    for (record, field, code) in cases {
        let e = rejected(t, record);
        assert_eq!((e.field.as_str(), e.code()), (field, code), "{e}");
    }
    assert_eq!(decode(t, b"[1,2]").expect_err("array").code(), "not_an_object");
    assert_eq!(decode(t, b"{nope").expect_err("junk").code(), "not_json");
    assert_eq!(decode(t, &[0xff, 0xfe]).expect_err("bytes").code(), "not_json");
}

#[test]
fn error_messages_read_well() {
    let e = rejected(Topic::SocialInteractions, with(social_ok(), "cost_minor", json!(-5)));
    assert_eq!(e.to_string(), "field `cost_minor`: money must not be negative (got -5)");
    let e = rejected(Topic::SocialInteractions, with(social_ok(), "actor_type", json!("bot")));
    assert!(e.to_string().contains("expected one of brand, employee, influencer, paid"), "{e}");
}

#[test]
fn null_and_empty_optionals_count_as_absent() {
    let v = json!({"event_id": "s1", "occurred_at": "2026-03-01T10:00:00Z", "platform": "x",
        "interaction": "like", "account_id": "a", "actor_type": "brand", "post_id": "p",
        "campaign_id": null, "click_id": "", "user": {"platform_user_id": null}, "cost_minor": null, "currency": null});
    let Event::Social(s) = decode_value(Topic::SocialInteractions, &v).expect("valid") else { panic!() };
    assert_eq!((s.campaign_id, s.click_id, s.user, s.cost), (None, None, None, None));
}

#[test]
fn integral_json_numbers_are_integers() {
    // JSON Schema's `integer` accepts 120.0; the decoder agrees.
    let Event::Social(s) =
        decode_value(Topic::SocialInteractions, &with(social_ok(), "cost_minor", json!(120.0))).expect("valid")
    else {
        panic!()
    };
    assert_eq!(s.cost.map(|c| c.minor), Some(120));
    let e = rejected(Topic::SocialInteractions, with(social_ok(), "cost_minor", json!(1e20)));
    assert_eq!(e.code(), "out_of_range");
}

fn web_order() -> serde_json::Value {
    json!({"event_id": "w1", "occurred_at": "2026-03-02T10:00:00+01:00", "anonymous_id": "a1", "type": "order",
           "order": {"order_id": "o1", "revenue_minor": 4999, "currency": "USD"}})
}

#[test]
fn web_orders_need_an_order_payload() {
    let Event::Web(w) = decode_value(Topic::WebEvents, &web_order()).expect("valid") else { panic!() };
    assert_eq!(w.order.map(|o| o.revenue.minor), Some(4999));
    let e = rejected(Topic::WebEvents, without(web_order(), "order"));
    assert_eq!((e.field.as_str(), e.code()), ("order", "missing_field"));
    let mut bad = web_order();
    bad["order"]["revenue_minor"] = json!(-1);
    let e = rejected(Topic::WebEvents, bad);
    assert_eq!((e.field.as_str(), e.code()), ("order.revenue_minor", "negative_money"));
    // A page view ignores an `order` field it does not need.
    let pv = with(with(web_order(), "type", json!("page_view")), "order", json!("junk"));
    assert!(decode_value(Topic::WebEvents, &pv).is_ok());
}

fn deal(stage: &str) -> serde_json::Value {
    json!({"event_id": "c1", "occurred_at": "2026-03-02T10:00:00Z", "object": "deal", "contact_id": "k1",
           "deal_id": "d1", "stage": stage, "amount_minor": 1_000_000, "currency": "GBP",
           "created_at": "2026-02-01T10:00:00Z", "version": 3})
}

#[test]
fn closed_won_deals_need_a_close_date() {
    assert!(decode_value(Topic::CrmRecords, &deal("open")).is_ok());
    let e = rejected(Topic::CrmRecords, deal("closed_won"));
    assert_eq!((e.field.as_str(), e.code()), ("closed_at", "missing_field"));
    let won = with(deal("closed_won"), "closed_at", json!("2026-03-01T00:00:00Z"));
    let Event::Crm(c) = decode_value(Topic::CrmRecords, &won).expect("valid") else { panic!() };
    assert_eq!(c.deal.map(|d| d.version), Some(3));
    let e = rejected(Topic::CrmRecords, with(deal("open"), "version", json!("3")));
    assert_eq!((e.field.as_str(), e.code()), ("version", "wrong_type"));
}

#[test]
fn spend_and_fx_validate_dates_counts_and_decimals() {
    let spend = json!({"event_id": "a1", "date": "2026-03-01", "platform": "facebook", "campaign_id": "c1",
        "spend_minor": 1500, "currency": "USD", "impressions": 1000, "clicks": 12});
    assert!(decode_value(Topic::AdsSpend, &spend).is_ok());
    assert_eq!(rejected(Topic::AdsSpend, with(spend.clone(), "date", json!("2026-02-30"))).code(), "bad_date");
    assert_eq!(rejected(Topic::AdsSpend, with(spend, "clicks", json!(-1))).code(), "out_of_range");
    let fx = json!({"date": "2026-03-01", "currency": "EUR", "rate_to_reporting": "1.0825"});
    assert!(decode_value(Topic::FxRates, &fx).is_ok());
    for bad in ["0", "0.000", "-1.2", "1.", ".5", "1e3", "1,5", ""] {
        let e = rejected(Topic::FxRates, with(fx.clone(), "rate_to_reporting", json!(bad)));
        assert_eq!(e.code(), "bad_decimal", "{bad}");
    }
}

#[test]
fn encode_is_the_inverse_of_decode() {
    for (topic, v) in [
        (Topic::SocialInteractions, without(social_ok(), "some_future_field")),
        (Topic::WebEvents, web_order()),
        (Topic::CrmRecords, with(deal("closed_won"), "closed_at", json!("2026-03-01T00:00:00Z"))),
    ] {
        let e = decode_value(topic, &v).expect("valid");
        assert_eq!(decode_value(topic, &encode(&e)).expect("round trip"), e);
    }
}

#[test]
fn an_email_hash_must_be_64_hex_digits_and_a_raw_address_is_never_echoed() {
    let hash = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";
    let social = |h: &str| with(social_ok(), "user", json!({"email_sha256": h}));
    assert!(decode_value(Topic::SocialInteractions, &social(hash)).is_ok());
    assert!(decode_value(Topic::SocialInteractions, &social(&hash.to_uppercase())).is_ok(), "either case");
    for bad in ["ada@example.com", &hash[..63], "zz86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"] {
        let e = rejected(Topic::SocialInteractions, social(bad));
        assert_eq!((e.code(), e.field.as_str()), ("invalid_hash", "user.email_sha256"), "{bad}");
        assert!(!e.to_string().contains(bad), "the value is not in the message: {e}");
    }
    let web = |h: &str| with(web_order(), "email_sha256", json!(h));
    let e = rejected(Topic::WebEvents, web("Ada.Lovelace@example.com"));
    assert_eq!(e.code(), "invalid_hash");
    assert!(!e.to_string().contains("Lovelace"), "{e}");
    assert!(decode_value(Topic::WebEvents, &web("")).is_ok(), "empty counts as absent");
    let crm = json!({"event_id": "c1", "occurred_at": "2026-03-01T10:00:00Z", "object": "contact",
                     "contact_id": "k1", "email_sha256": "ada@example.com"});
    assert_eq!(rejected(Topic::CrmRecords, crm).code(), "invalid_hash");
}
