//! Hand-computed cases for every model of DESIGN.md §4.

use super::*;
use attrib_contract::Timestamp;
use proptest::prelude::*;

const DAY: i64 = 86_400;

fn at(day: i64) -> Timestamp {
    Timestamp::from_unix_secs(1_700_000_000 + day * DAY)
}

fn touches(days: &[i64]) -> Vec<TouchFacts> {
    days.iter().map(|&d| TouchFacts { time: at(d), direct: false }).collect()
}

fn conv(day: i64) -> ConversionFacts {
    ConversionFacts { time: at(day), first_lead: None, deal_created_at: None }
}

fn credits(model: RuleModel, t: &[TouchFacts], c: &ConversionFacts, revenue: i64) -> Vec<i64> {
    allocate(revenue, &model.weights(t, c, &RuleParams::default()))
}

fn fractions(model: RuleModel, t: &[TouchFacts], c: &ConversionFacts) -> Vec<f64> {
    model.weights(t, c, &RuleParams::default()).fractions()
}

fn assert_close(actual: &[f64], expected: &[f64]) {
    assert_eq!(actual.len(), expected.len(), "{actual:?} vs {expected:?}");
    for (a, e) in actual.iter().zip(expected) {
        assert!((a - e).abs() < 1e-12, "{actual:?} vs {expected:?}");
    }
}

#[test]
fn single_touch_gets_everything_in_every_model() {
    let t = touches(&[0]);
    for m in RuleModel::ALL {
        assert_eq!(credits(m, &t, &conv(1), 999), vec![999], "{m}");
    }
}

#[test]
fn first_last_and_linear() {
    let t = touches(&[0, 1, 2]);
    assert_eq!(credits(RuleModel::FirstTouch, &t, &conv(3), 1000), vec![1000, 0, 0]);
    assert_eq!(credits(RuleModel::LastTouch, &t, &conv(3), 1000), vec![0, 0, 1000]);
    assert_eq!(credits(RuleModel::Linear, &t, &conv(3), 1000), vec![334, 333, 333]);
    assert_eq!(credits(RuleModel::Linear, &t, &conv(3), 1001), vec![334, 334, 333]);
}

#[test]
fn last_non_direct_skips_trailing_direct_touches() {
    let mut t = touches(&[0, 1, 2, 3]);
    t[2].direct = true;
    t[3].direct = true;
    assert_eq!(credits(RuleModel::LastNonDirect, &t, &conv(4), 50), vec![0, 50, 0, 0]);
    for x in t.iter_mut() {
        x.direct = true;
    }
    assert_eq!(credits(RuleModel::LastNonDirect, &t, &conv(4), 50), vec![0, 0, 0, 50]);
}

#[test]
fn time_decay_halves_every_half_life() {
    // Ages 14, 7 and 0 days with a 7-day half-life: weights 1/4, 1/2, 1 → 1/7, 2/7, 4/7.
    let t = touches(&[0, 7, 14]);
    assert_close(&fractions(RuleModel::TimeDecay, &t, &conv(14)), &[1.0 / 7.0, 2.0 / 7.0, 4.0 / 7.0]);
    assert_eq!(credits(RuleModel::TimeDecay, &t, &conv(14), 700), vec![100, 200, 400]);
    // 100 cents: quotas 14.29, 28.57, 57.14 → floors 14, 28, 57 (99); the cent goes to .57.
    assert_eq!(credits(RuleModel::TimeDecay, &t, &conv(14), 100), vec![14, 29, 57]);
}

#[test]
fn time_decay_ties_share_equally_and_survive_tiny_half_lives() {
    let t = touches(&[5, 5]);
    assert_eq!(credits(RuleModel::TimeDecay, &t, &conv(6), 3), vec![2, 1]);
    let params = RuleParams { half_life_secs: 1.0, ..RuleParams::default() };
    let w = RuleModel::TimeDecay.weights(&touches(&[0, 80]), &conv(89), &params);
    assert_eq!(allocate(10, &w), vec![0, 10]);
}

#[test]
fn position_based_u_shape() {
    assert_eq!(credits(RuleModel::PositionBased, &touches(&[0, 1]), &conv(2), 101), vec![51, 50]);
    assert_close(&fractions(RuleModel::PositionBased, &touches(&[0, 1, 2]), &conv(3)), &[0.4, 0.2, 0.4]);
    assert_close(&fractions(RuleModel::PositionBased, &touches(&[0, 1, 2, 3]), &conv(4)), &[0.4, 0.1, 0.1, 0.4]);
    // 1001 cents over 0.4/0.1/0.1/0.4: 400.4, 100.1, 100.1, 400.4 → the cent goes to the first .4.
    assert_eq!(credits(RuleModel::PositionBased, &touches(&[0, 1, 2, 3]), &conv(4), 1001), vec![401, 100, 100, 400]);
    let custom = RuleParams { position_first: 0.3, position_last: 0.5, ..RuleParams::default() };
    let w = RuleModel::PositionBased.weights(&touches(&[0, 1, 2]), &conv(3), &custom);
    assert_close(&w.fractions(), &[0.3, 0.2, 0.5]);
}

#[test]
fn w_shaped_without_a_lead_gives_first_and_last_point_three() {
    let t = touches(&[0, 1, 2, 3]);
    assert_close(&fractions(RuleModel::WShaped, &t, &conv(4)), &[0.3, 0.2, 0.2, 0.3]);
    // n = 2, no lead: 0.3 + 0.3, the remaining 0.4 split over the two holders.
    assert_close(&fractions(RuleModel::WShaped, &touches(&[0, 1]), &conv(2)), &[0.5, 0.5]);
}

#[test]
fn w_shaped_lead_role_is_the_last_touch_at_or_before_the_first_lead() {
    let t = touches(&[0, 1, 2, 3, 4]);
    let c = ConversionFacts { first_lead: Some(at(2)), ..conv(5) };
    // Roles: first (0), lead (2, touch exactly at the lead counts), last (4); 0.1 over touches 1 and 3.
    assert_close(&fractions(RuleModel::WShaped, &t, &c), &[0.3, 0.05, 0.3, 0.05, 0.3]);
    // A lead after the conversion gives no lead role.
    let late = ConversionFacts { first_lead: Some(at(6)), ..conv(5) };
    assert_close(&fractions(RuleModel::WShaped, &t, &late), &[0.3, 0.4 / 3.0, 0.4 / 3.0, 0.4 / 3.0, 0.3]);
    // A lead before every touch of the window gives no lead role either.
    let early = ConversionFacts { first_lead: Some(at(-1)), ..conv(5) };
    assert_close(&fractions(RuleModel::WShaped, &t, &early), &[0.3, 0.4 / 3.0, 0.4 / 3.0, 0.4 / 3.0, 0.3]);
}

#[test]
fn w_shaped_coincident_roles_stack_on_one_touch() {
    // Lead role on the first touch: first gets 0.6, last 0.3; the remaining 0.1 goes to touch 1.
    let c = ConversionFacts { first_lead: Some(at(0)), ..conv(3) };
    assert_close(&fractions(RuleModel::WShaped, &touches(&[0, 1, 2]), &c), &[0.6, 0.1, 0.3]);
    // n = 2 with the lead on the first: 0.6 and 0.3, and 0.1 split over the two holders.
    assert_close(&fractions(RuleModel::WShaped, &touches(&[0, 2]), &c), &[0.65, 0.35]);
    // Lead on the last touch of two: first 0.3, last 0.6, 0.1 split → 0.35, 0.65.
    let c2 = ConversionFacts { first_lead: Some(at(2)), ..conv(3) };
    assert_close(&fractions(RuleModel::WShaped, &touches(&[0, 2]), &c2), &[0.35, 0.65]);
}

#[test]
fn full_path_adds_the_deal_creation_role() {
    let t = touches(&[0, 1, 2, 3, 4, 5]);
    let c = ConversionFacts { time: at(6), first_lead: Some(at(1)), deal_created_at: Some(at(3)) };
    // Roles 0, 1, 3, 5 at 0.225; 0.1 over touches 2 and 4.
    assert_close(&fractions(RuleModel::FullPath, &t, &c), &[0.225, 0.225, 0.05, 0.225, 0.05, 0.225]);
    // Not a deal: three roles, 0.325 over the other three touches.
    let no_deal = ConversionFacts { deal_created_at: None, ..c };
    let x = 0.325 / 3.0;
    assert_close(&fractions(RuleModel::FullPath, &t, &no_deal), &[0.225, 0.225, x, x, x, 0.225]);
    // Every touch holds a role: 1 − 0.9 split over the distinct holders.
    let all = ConversionFacts { time: at(3), first_lead: Some(at(0)), deal_created_at: Some(at(1)) };
    assert_close(
        &fractions(RuleModel::FullPath, &touches(&[0, 1, 2]), &all),
        &[0.45 + 0.1 / 3.0, 0.225 + 0.1 / 3.0, 0.225 + 0.1 / 3.0],
    );
}

#[test]
fn invalid_parameters_are_refused() {
    assert!(RuleParams::default().validate().is_ok());
    assert!(RuleParams { w_role: 0.34, ..RuleParams::default() }.validate().is_err());
    assert!(RuleParams { z_role: 0.26, ..RuleParams::default() }.validate().is_err());
    assert!(RuleParams { position_first: 0.7, position_last: 0.4, ..RuleParams::default() }.validate().is_err());
    assert!(RuleParams { half_life_secs: 0.0, ..RuleParams::default() }.validate().is_err());
    assert_eq!(RuleModel::parse("w_shaped"), Some(RuleModel::WShaped));
}

proptest! {
    #[test]
    fn every_model_credits_sum_to_revenue_and_are_non_negative(
        days in prop::collection::vec(0i64..90, 1..25),
        direct in prop::collection::vec(any::<bool>(), 25),
        lead in prop::option::of(0i64..100),
        created in prop::option::of(0i64..100),
        revenue in 0i64..1_000_000_000_000,
    ) {
        let mut days = days;
        days.sort();
        let t: Vec<TouchFacts> = days.iter().zip(&direct).map(|(&d, &dir)| TouchFacts { time: at(d), direct: dir }).collect();
        let c = ConversionFacts { time: at(90), first_lead: lead.map(at), deal_created_at: created.map(at) };
        for m in RuleModel::ALL {
            let w = m.weights(&t, &c, &RuleParams::default());
            let parts = allocate(revenue, &w);
            prop_assert!(parts.iter().all(|&p| p >= 0));
            prop_assert_eq!(parts.iter().sum::<i64>(), revenue, "{}", m);
            let f: f64 = w.fractions().iter().sum();
            prop_assert!((f - 1.0).abs() < 1e-9);
        }
    }
}
