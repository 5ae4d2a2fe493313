//! Tests of the ledger's summaries folded person by person (`LedgerTotals`, `WeightSum`).

use super::*;
use crate::tests::{engine_with, mixed_records};
use attrib_models::Model;
use proptest::prelude::*;

/// The summaries of an engine's ledger handed over person by person (as a batch run folds it).
fn streamed_totals(e: &Engine, threads: usize) -> (LedgerTotals, Ledger) {
    let mut totals = LedgerTotals::default();
    let mut rows = Ledger::default();
    let fits = e.attribute_each(threads, |part| {
        part.conversions.iter().for_each(|c| totals.add_conversion(c));
        part.credits.iter().for_each(|c| totals.add_credit(c));
        part.pipeline.iter().for_each(|c| totals.add_pipeline(c));
        rows.credits.extend(part.credits);
        rows.conversions.extend(part.conversions);
        rows.pipeline.extend(part.pipeline);
        Ok::<(), ()>(())
    });
    rows.fits = fits.expect("no error");
    (totals, rows)
}

#[test]
fn weight_sums_do_not_depend_on_the_order_of_their_terms() {
    let terms = [0.1, 0.2, 0.3, 1.0 / 3.0, 1e-12, 0.7];
    let sum = |order: &[usize]| {
        let mut s = WeightSum::default();
        order.iter().for_each(|i| s.add(terms[*i]));
        s
    };
    let a = sum(&[0, 1, 2, 3, 4, 5]);
    assert_eq!(a, sum(&[5, 4, 3, 2, 1, 0]));
    assert_eq!(a, sum(&[3, 0, 5, 1, 4, 2]));
    assert!((a.value() - terms.iter().sum::<f64>()).abs() < 1e-15);
    assert_ne!(0.1 + 0.2 + 0.3, 0.3 + 0.2 + 0.1, "f64 sums would depend on the order");
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(32))]
    #[test]
    fn summaries_folded_person_by_person_equal_those_of_the_whole_ledger(
        perm in Just(mixed_records()).prop_shuffle(),
        threads in 1usize..4,
    ) {
        let whole = engine_with(&mixed_records());
        let ledger = whole.attribute(1);
        let want = LedgerTotals::of(&ledger.conversions, &ledger.credits, &ledger.pipeline);
        let streamed = engine_with(&perm);
        let (got, mut rows) = streamed_totals(&streamed, threads);
        // The same rows, only in person order.
        let models = whole.config().models.clone();
        let order = |a: &CreditRow, b: &CreditRow| {
            let rank = |m: Model| models.iter().position(|x| *x == m);
            (&a.conversion_id, rank(a.model), a.touch_time, &a.touch_event_id)
                .cmp(&(&b.conversion_id, rank(b.model), b.touch_time, &b.touch_event_id))
        };
        rows.credits.sort_by(order);
        rows.pipeline.sort_by(order);
        rows.conversions.sort_by(|a, b| a.conversion_id.cmp(&b.conversion_id));
        prop_assert_eq!(&rows, &ledger);
        let names: Vec<&str> = models.iter().map(|m| m.as_str()).collect();
        prop_assert_eq!(got.channel_kpis(), want.channel_kpis());
        prop_assert_eq!(got.reconciliation(&names), want.reconciliation(&names));
        prop_assert_eq!(got.ledger_reconciliation(), want.ledger_reconciliation());
        prop_assert_eq!(got.time_to_conversion(), want.time_to_conversion());
        prop_assert_eq!(got.conversions_by_type(), want.conversions_by_type());
        prop_assert_eq!(got.credit_rows(), ledger.credits.len() as u64);
        prop_assert_eq!(streamed.kpi_facts_of(&got.kpi), whole.kpi_facts(&ledger));
    }
}
