//! Hand-checked cases for the Markov and Shapley models and the path-level report.

use super::*;
use crate::MAX_SHAPLEY_PLAYERS;
use proptest::prelude::*;

const A: u32 = 0;
const B: u32 = 1;
const C: u32 = 2;

fn path(channels: &[u32], conversions: f64, nulls: f64) -> WeightedPath {
    WeightedPath { channels: channels.to_vec(), conversions, nulls }
}

fn row(channels: &[u32], conversions: f64, nulls: f64, value: f64) -> PathRow {
    PathRow { channels: channels.to_vec(), conversions, value, nulls }
}

fn close(a: f64, b: f64, tol: f64) -> bool {
    (a - b).abs() < tol
}

/// The reference case: A > B (1, 1, 100), B (1, 1, 50), A > C > B (0, 2, 0), C (1, 1, 30).
fn reference_rows() -> Vec<PathRow> {
    vec![
        row(&[A, B], 1.0, 1.0, 100.0),
        row(&[B], 1.0, 1.0, 50.0),
        row(&[A, C, B], 0.0, 2.0, 0.0),
        row(&[C], 1.0, 1.0, 30.0),
    ]
}

#[test]
fn markov_reference_case_matches_the_hand_computation() {
    let paths: Vec<WeightedPath> = reference_rows().iter().map(|r| path(&r.channels, r.conversions, r.nulls)).collect();
    let fit = fit_markov(&paths, MarkovParams::default()).expect("fit");
    assert!(close(fit.p_conversion, 0.375, 1e-12), "{}", fit.p_conversion);
    assert!(close(fit.removal_effects[&A], 0.5, 1e-12));
    assert!(close(fit.removal_effects[&B], 2.0 / 3.0, 1e-12));
    assert!(close(fit.removal_effects[&C], 5.0 / 9.0, 1e-12));

    let res = attribute_paths(&reference_rows(), &[PathModel::Markov], MarkovParams::default()).expect("paths");
    let conv: Vec<f64> = res.rows.iter().map(|r| r.conversions).collect();
    // 3 conversions in proportion 1/2 : 2/3 : 5/9.
    for (got, want) in conv.iter().zip([0.8710, 1.1613, 0.9677]) {
        assert!(close(*got, want, 5e-5), "{conv:?}");
    }
    assert!(close(conv.iter().sum(), 3.0, 1e-9));
    assert!(close(res.rows.iter().map(|r| r.value).sum(), 180.0, 1e-9));
    assert!(close(res.rows[0].removal_effect.expect("re"), 0.5, 1e-12));
}

#[test]
fn value_weighted_removal_effects_are_solved_exactly() {
    // The reference case with values: v_B = 150/6 = 25, v_C = ½·25 + 30/4 = 20, v_A = 22.5,
    // V = ½·22.5 + ¼·25 + ¼·20 = 22.5. Without A: 11.25 → ½; without B: 3.75 → 5/6;
    // without C: 12.5 → 4/9.
    let rows = reference_rows();
    let paths: Vec<WeightedPath> = rows.iter().map(|r| path(&r.channels, r.conversions, r.nulls)).collect();
    let values: Vec<f64> = rows.iter().map(|r| r.value).collect();
    let fit = fit_markov_valued(&paths, &values, MarkovParams::default()).expect("fit");
    assert!(close(fit.expected_value, 22.5, 1e-9), "{fit:?}");
    let re = &fit.value_removal_effects;
    assert!(close(re[&A], 0.5, 1e-12) && close(re[&B], 5.0 / 6.0, 1e-12) && close(re[&C], 4.0 / 9.0, 1e-12), "{re:?}");
    // The conversion-weighted effects are those of the plain fit.
    assert_eq!(fit.removal_effects, fit_markov(&paths, MarkovParams::default()).expect("fit").removal_effects);
    // At path level, value is split by the value-weighted shares (Σ = 16/9), conversions by the others.
    let res = attribute_paths(&rows, &[PathModel::Markov], MarkovParams::default()).expect("paths");
    let value: Vec<f64> = res.rows.iter().map(|r| r.value).collect();
    let want = [180.0 * 0.5 * 9.0 / 16.0, 180.0 * (5.0 / 6.0) * 9.0 / 16.0, 180.0 * (4.0 / 9.0) * 9.0 / 16.0];
    for (v, w) in value.iter().zip(want) {
        assert!(close(*v, w, 1e-9), "{value:?} vs {want:?}");
    }
    assert!(close(value.iter().sum::<f64>(), 180.0, 1e-9));
    assert!(res.rows.iter().all(|r| r.value_removal_effect.is_some()));
}

#[test]
fn the_fitted_chain_is_reported_transition_by_transition() {
    // Reference case: start → A 4/8, B 2/8, C 2/8; A → B 2/4, C 2/4; B → conv 2/6, null 4/6;
    // C → B 2/4, conv 1/4, null 1/4.
    let paths: Vec<WeightedPath> = reference_rows().iter().map(|r| path(&r.channels, r.conversions, r.nulls)).collect();
    let fit = fit_markov(&paths, MarkovParams::default()).expect("fit");
    let ch = |c: u32| ChainState::Channels(vec![c]);
    let got: Vec<(ChainState, ChainState, f64)> =
        fit.transitions.iter().map(|t| (t.from.clone(), t.to.clone(), t.probability)).collect();
    let want = vec![
        (ChainState::Start, ch(A), 0.5),
        (ChainState::Start, ch(B), 0.25),
        (ChainState::Start, ch(C), 0.25),
        (ch(A), ch(B), 0.5),
        (ch(A), ch(C), 0.5),
        (ch(B), ChainState::Conversion, 2.0 / 6.0),
        (ch(B), ChainState::Null, 4.0 / 6.0),
        (ch(C), ch(B), 0.5),
        (ch(C), ChainState::Conversion, 0.25),
        (ch(C), ChainState::Null, 0.25),
    ];
    assert_eq!(got.len(), want.len(), "{got:?}");
    for (g, w) in got.iter().zip(&want) {
        assert!(g.0 == w.0 && g.1 == w.1 && close(g.2, w.2, 1e-12), "{g:?} vs {w:?}");
    }
    // Order 2 names states by their last two channels, oldest first.
    let fit = fit_markov(&paths, MarkovParams { order: 2, ..MarkovParams::default() }).expect("fit");
    assert!(fit
        .transitions
        .iter()
        .any(|t| t.from == ChainState::Channels(vec![A, C]) && t.to == ChainState::Channels(vec![C, B])));
}

#[test]
fn markov_order_two_sees_what_order_one_cannot() {
    // A then B converts; B then A never does.
    let paths = [path(&[A, B], 1.0, 0.0), path(&[B, A], 0.0, 1.0)];
    let first = fit_markov(&paths, MarkovParams::default()).expect("order 1");
    assert!(close(first.p_conversion, 0.5, 1e-12));
    assert!(close(first.removal_effects[&A], 0.5, 1e-12) && close(first.removal_effects[&B], 1.0, 1e-12));
    let second = fit_markov(&paths, MarkovParams { order: 2, ..MarkovParams::default() }).expect("order 2");
    assert!(close(second.p_conversion, 0.5, 1e-12));
    assert!(close(second.removal_effects[&A], 1.0, 1e-12) && close(second.removal_effects[&B], 1.0, 1e-12));
    assert_eq!(second.states, 5, "start, (A), (B), (A,B), (B,A)");
}

#[test]
fn collapsing_repeats_treats_a_a_b_as_a_b() {
    let repeated = [path(&[A, A, B], 1.0, 0.0), path(&[B], 0.0, 1.0)];
    let plain = [path(&[A, B], 1.0, 0.0), path(&[B], 0.0, 1.0)];
    let collapse = MarkovParams { collapse_repeats: true, ..MarkovParams::default() };
    let a = fit_markov(&repeated, collapse).expect("fit");
    let b = fit_markov(&plain, MarkovParams::default()).expect("fit");
    assert_eq!(a.removal_effects, b.removal_effects);
    assert_eq!(a.p_conversion, b.p_conversion);
    // In order 1 a self-loop does not change absorption; in order 2 (A,A) is a state of its own.
    let order2 = |collapse_repeats| MarkovParams { order: 2, collapse_repeats };
    assert_eq!(fit_markov(&repeated, order2(false)).expect("fit").states, 5);
    assert_eq!(fit_markov(&repeated, order2(true)).expect("fit").states, 4);
}

#[test]
fn markov_without_conversions_has_zero_effects_and_bad_orders_are_refused() {
    let fit = fit_markov(&[path(&[A, B], 0.0, 3.0)], MarkovParams::default()).expect("fit");
    assert_eq!(fit.p_conversion, 0.0);
    assert!(fit.removal_effects.values().all(|&v| v == 0.0));
    assert_eq!(
        fit_markov(&[], MarkovParams { order: 0, ..MarkovParams::default() }),
        Err(FitError::OrderOutOfRange(0))
    );
    let res =
        attribute_paths(&[row(&[A, B], 0.0, 3.0, 0.0)], &[PathModel::Markov], MarkovParams::default()).expect("ok");
    assert_eq!(res.fell_back, vec![PathModel::Markov]);
}

#[test]
fn markov_handles_a_hundred_channels() {
    let paths: Vec<WeightedPath> =
        (0..300u32).map(|i| path(&[i % 120, (i * 7 + 3) % 120, (i * 13 + 5) % 120], (i % 3) as f64, 1.0)).collect();
    let fit = fit_markov(&paths, MarkovParams::default()).expect("fit");
    assert_eq!(fit.removal_effects.len(), 120);
    assert!(fit.removal_effects.values().all(|v| (0.0..=1.0).contains(v)));
    assert!(fit.p_conversion > 0.0 && fit.p_conversion < 1.0);
}

#[test]
fn shapley_design_worked_example_to_exact_fractions() {
    // DESIGN §4: CR{A} = 1/5, CR{B} = 1/10, CR{A,B} = 1/2 → φ_A = 3/10, φ_B = 1/5, split 3/5 : 2/5.
    let fit = fit_shapley(&[path(&[A], 1.0, 4.0), path(&[B], 1.0, 9.0), path(&[B, A, B], 1.0, 1.0)]);
    assert_eq!(fit.rate(&[A]), 0.2);
    assert_eq!(fit.rate(&[A, B]), 0.5);
    let phi = fit.values(&[A, B]);
    assert!(close(phi[0], 0.3, 1e-15) && close(phi[1], 0.2, 1e-15), "{phi:?}");
    // The players may come in any order; φ follows them.
    assert_eq!(fit.values(&[B, A]), vec![phi[1], phi[0]]);
    let (weights, played, truncated) = shapley_touch_weights(&fit, &[A, B]);
    let w = weights.expect("positive weights");
    assert!(close(w[0], 0.6, 1e-15) && close(w[1], 0.4, 1e-15), "{w:?}");
    assert_eq!(played.len(), 2);
    assert!(!truncated);
    // A channel touched twice gets two shares: A > B > A → 0.3, 0.2, 0.3 of 0.8.
    let w = shapley_touch_weights(&fit, &[A, B, A]).0.expect("weights");
    assert!(close(w[0], 0.375, 1e-15) && close(w[1], 0.25, 1e-15) && close(w[2], 0.375, 1e-15), "{w:?}");
}

#[test]
fn shapley_games_are_per_journey_and_unseen_sets_are_worth_nothing() {
    let fit = fit_shapley(&[path(&[A], 1.0, 1.0), path(&[A, C], 2.0, 2.0), path(&[C], 0.0, 5.0)]);
    assert_eq!(fit.coalitions_seen(), 3);
    // A journey on A alone plays a one-player game: φ_A = CR{A}.
    assert_eq!(fit.values(&[A]), vec![0.5]);
    // C never changes the rate of any coalition it joins: it gets 0.
    let phi = fit.values(&[A, C]);
    assert!(close(phi[0], 0.5, 1e-15) && close(phi[1], 0.0, 1e-15), "{phi:?}");
    // A journey whose only channel never converted: every weight is 0 (the ledger then credits
    // its last touch), and so is one on a set no training path had.
    assert_eq!(shapley_touch_weights(&fit, &[C, C]).0, None);
    assert_eq!(fit.values(&[B]), vec![0.0]);
    assert_eq!(fit.rate(&[]), 0.0);
}

#[test]
fn shapley_plays_the_sixteen_most_recent_channels_beyond_sixteen() {
    let touches: Vec<u32> = (0..20u32).collect();
    let (players, truncated) = shapley_players(&touches);
    assert!(truncated);
    assert_eq!(players.len(), MAX_SHAPLEY_PLAYERS);
    assert!(players.iter().all(|p| *p >= 4), "the last 16 touched play: {players:?}");
    // Repeats count once, at their latest touch.
    let (players, truncated) = shapley_players(&[A, B, A, C]);
    assert_eq!(players, vec![C, A, B]);
    assert!(!truncated);
    // Every set of 16 is still exact: Σ φ = CR(T).
    let all: Vec<u32> = (0..16).collect();
    let fit = fit_shapley(&[path(&all, 3.0, 1.0), path(&all[..8], 1.0, 1.0)]);
    let sum: f64 = fit.values(&all).iter().sum();
    assert!(close(sum, 0.75, 1e-12), "{sum}");
}

#[test]
fn heuristic_path_models_split_each_paths_conversions() {
    let res = attribute_paths(
        &reference_rows(),
        &[PathModel::First, PathModel::Last, PathModel::Linear],
        MarkovParams::default(),
    )
    .expect("paths");
    let get = |m: PathModel, c: u32| {
        res.rows.iter().find(|r| r.model == m && r.channel == c).map(|r| (r.conversions, r.value))
    };
    assert_eq!(get(PathModel::First, A), Some((1.0, 100.0)));
    assert_eq!(get(PathModel::Last, B), Some((2.0, 150.0)));
    assert_eq!(get(PathModel::Linear, A), Some((0.5, 50.0)));
    assert_eq!(get(PathModel::Linear, B), Some((1.5, 100.0)));
}

proptest! {
    #[test]
    fn the_order_of_input_rows_never_changes_the_fits(
        rows in prop::collection::vec((prop::collection::vec(0u32..6, 1..5), 0u32..4, 0u32..4), 1..30),
        seed in any::<u64>(),
    ) {
        let paths: Vec<WeightedPath> = rows.iter().map(|(c, v, n)| path(c, *v as f64, *n as f64)).collect();
        let mut shuffled = paths.clone();
        let mut s = seed;
        for i in (1..shuffled.len()).rev() {
            s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            shuffled.swap(i, (s >> 33) as usize % (i + 1));
        }
        for order in [1, 2] {
            let p = MarkovParams { order, ..MarkovParams::default() };
            prop_assert_eq!(fit_markov(&paths, p), fit_markov(&shuffled, p));
        }
        prop_assert_eq!(fit_shapley(&paths), fit_shapley(&shuffled));
    }

    /// Efficiency, symmetry and the null player, on random games.
    #[test]
    fn shapley_values_sum_to_the_rate_of_the_set_are_symmetric_and_ignore_null_players(
        rows in prop::collection::vec((prop::collection::vec(0u32..5, 1..6), 0u32..5, 0u32..5), 1..25),
        players in prop::collection::btree_set(0u32..6, 1..6),
    ) {
        let paths: Vec<WeightedPath> = rows.iter().map(|(c, v, n)| path(c, *v as f64, *n as f64)).collect();
        let fit = fit_shapley(&paths);
        let players: Vec<u32> = players.into_iter().collect();
        let phi = fit.values(&players);
        prop_assert!(close(phi.iter().sum::<f64>(), fit.rate(&players), 1e-9));
        let mut doubled: Vec<WeightedPath> = paths.clone();
        // Symmetry: a copy of channel 0 as channel 9 (in every path, alongside it) shares its value.
        for p in &mut doubled {
            if p.channels.contains(&0) {
                p.channels.push(9);
            }
        }
        let twin = fit_shapley(&doubled);
        let both: Vec<u32> = [0, 9].into_iter().chain(players.iter().copied().filter(|p| *p != 0)).collect();
        let phi = twin.values(&both);
        prop_assert!(close(phi[0], phi[1], 1e-12), "{:?}", phi);
    }

    #[test]
    fn a_channel_that_never_changes_the_rate_gets_zero(
        rows in prop::collection::vec((prop::collection::vec(0u32..4, 1..5), 0u32..5, 0u32..5), 1..20),
    ) {
        // Every path also comes with channel 7 added, at the same counts: CR(S ∪ {7}) = CR(S)
        // for every S, and {7} alone is never seen (CR 0 = CR(∅)). 7 is a null player.
        let mut paths: Vec<WeightedPath> = rows.iter().map(|(c, v, n)| path(c, *v as f64, *n as f64)).collect();
        let with_seven: Vec<WeightedPath> = paths
            .iter()
            .map(|p| path(&[p.channels.clone(), vec![7]].concat(), p.conversions, p.nulls))
            .collect();
        paths.extend(with_seven);
        let fit = fit_shapley(&paths);
        let phi = fit.values(&[0, 1, 2, 3, 7]);
        prop_assert!(phi[4].abs() < 1e-12, "{:?}", phi);
        let without = fit.values(&[0, 1, 2, 3]);
        for (a, b) in phi.iter().zip(&without) {
            prop_assert!(close(*a, *b, 1e-12), "{:?} vs {:?}", phi, without);
        }
    }
}
