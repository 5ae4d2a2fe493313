//! Checkpoints: whole, cut short, and chains of checkpoints of changes.

use super::*;
use crate::tests::{sorted, Table};
use attrib_contract::Topic;

/// Every line of a generated dataset, the topics interleaved as a stream would mix them.
fn generated(people: u64, seed: u64) -> Vec<(Topic, String)> {
    let data = attrib_generator::generate(&attrib_generator::GenParams { people, seed, ..Default::default() });
    let mut lines: Vec<(Topic, String)> =
        data.lines.iter().flat_map(|(t, ls)| ls.iter().map(move |l| (*t, l.clone()))).collect();
    // A fixed shuffle: checkpoints must not depend on records arriving topic by topic.
    let n = lines.len();
    for i in 0..n {
        lines.swap(i, (i * 7919 + 13) % n);
    }
    lines
}

fn restore(parts: &[Vec<u8>]) -> Result<(Engine, IncrementalLedger), attrib_identity::checkpoint::CodecError> {
    let mut r = Restore::new(AttributionConfig::default());
    for p in parts {
        r.feed(p)?;
    }
    r.finish()
}

fn ingest_lines(e: &mut Engine, lines: &[(Topic, String)]) {
    for (t, l) in lines {
        let _ = e.ingest_bytes(*t, l.as_bytes());
    }
}

#[test]
fn an_engine_restored_from_its_checkpoint_goes_on_as_if_it_never_stopped() {
    let lines = generated(400, 11);
    let mut whole = Engine::new(AttributionConfig::default());
    ingest_lines(&mut whole, &lines);
    for cut in [0, lines.len() / 3, lines.len()] {
        let mut before = Engine::new(AttributionConfig::default());
        ingest_lines(&mut before, &lines[..cut]);
        let parts = before.checkpoint(&IncrementalLedger::new());
        let (mut restored, _) = restore(&parts).expect("a checkpoint reads back");
        assert_eq!(restored.checkpoint_tag(), before.checkpoint_tag());
        ingest_lines(&mut restored, &lines[cut..]);
        let (want, got) = (whole.attribute(1), restored.attribute(1));
        assert!(!want.credits.is_empty());
        assert_eq!(got, want, "the ledger after a restore at record {cut}");
        assert_eq!(restored.kpi_facts(&got), whole.kpi_facts(&want));
        assert_eq!(restored.deal_versions(), whole.deal_versions());
        assert_eq!(restored.spend_rows(), whole.spend_rows());
        assert_eq!(restored.engagement_rows(), whole.engagement_rows());
        assert_eq!(restored.counts(), whole.counts());
        assert_eq!(restored.store().people(), whole.store().people());
        assert_eq!(restored.store().fact_count(), whole.store().fact_count());
    }
}

#[test]
fn restored_fingerprints_let_the_stream_go_on_writing_only_what_changes() {
    let lines = generated(300, 17);
    let (first, rest) = lines.split_at(lines.len() / 2);
    // The stream up to the checkpoint: every change written to the table.
    let mut e = Engine::new(AttributionConfig::default());
    let mut inc = IncrementalLedger::new();
    let mut table = Table::default();
    ingest_lines(&mut e, first);
    inc.refit(&mut e);
    table.apply(&inc.update(&mut e));
    let parts = e.checkpoint(&inc);
    // A new process: the state and fingerprints restored, the fits computed again, nothing dirty.
    let (mut e2, mut inc2) = restore(&parts).expect("restore");
    inc2.fit(&e2);
    assert_eq!(inc2.written_rows(), inc.written_rows());
    assert!(inc2.update(&mut e2).is_empty(), "nothing to rewrite right after a restore");
    // It goes on with the rest of the stream, and a final refit gives the batch ledger.
    ingest_lines(&mut e2, rest);
    table.apply(&inc2.update(&mut e2));
    inc2.refit(&mut e2);
    table.apply(&inc2.update(&mut e2));
    let mut whole = Engine::new(AttributionConfig::default());
    ingest_lines(&mut whole, &lines);
    assert_eq!(table.live(), sorted(whole.attribute(1).credits));
}

#[test]
fn a_checkpoint_cut_short_or_damaged_is_refused_not_half_restored() {
    let lines = generated(60, 4);
    let mut e = Engine::new(AttributionConfig::default());
    ingest_lines(&mut e, &lines);
    let mut inc = IncrementalLedger::new();
    inc.update(&mut e);
    let parts = e.checkpoint(&inc);
    assert!(restore(&parts).is_ok());
    let mut cut = parts.clone();
    let last = cut.last_mut().expect("a part");
    last.truncate(last.len() - 1);
    assert!(restore(&cut).is_err(), "the end record is missing");
    let mut other = parts.clone();
    other[0][0] = 99;
    assert_eq!(restore(&other).unwrap_err().to_string(), "checkpoint unreadable: unknown record tag 99");
    assert!(restore(&[]).is_err(), "no parts is no checkpoint");
}

/// Restores a chain: a whole checkpoint, then checkpoints of the changes after it, in order.
fn restore_chain(
    chain: &[Vec<Vec<u8>>],
) -> Result<(Engine, IncrementalLedger), attrib_identity::checkpoint::CodecError> {
    let mut r = Restore::new(AttributionConfig::default());
    for (i, parts) in chain.iter().enumerate() {
        if i > 0 {
            r.next_checkpoint()?;
        }
        for p in parts {
            r.feed(p)?;
        }
    }
    r.finish()
}

#[test]
fn a_chain_of_checkpoints_of_changes_restores_the_state_a_whole_checkpoint_does() {
    let lines = generated(400, 23);
    let cuts = [lines.len() / 4, lines.len() / 2, lines.len() / 2 + 40, lines.len() * 3 / 4, lines.len()];
    let mut e = Engine::new(AttributionConfig::default());
    let mut inc = IncrementalLedger::new();
    let mut table = Table::default();
    ingest_lines(&mut e, &lines[..cuts[0]]);
    inc.refit(&mut e);
    table.apply(&inc.update(&mut e));
    let mut chain = vec![e.checkpoint(&inc)];
    e.track_changes(&mut inc);
    let mut sizes = Vec::new();
    for w in cuts.windows(2) {
        ingest_lines(&mut e, &lines[w[0]..w[1]]);
        // Half-way through a batch, with people pending: the lists are saved as they are.
        table.apply(&inc.update_at_most(&mut e, 25));
        let parts = e.checkpoint_changes(&inc);
        sizes.push(parts.iter().map(Vec::len).sum::<usize>());
        chain.push(parts);
        e.track_changes(&mut inc);
    }
    let whole = e.checkpoint(&inc);
    let whole_bytes: usize = whole.iter().map(Vec::len).sum();
    assert!(
        sizes[1] * 4 < whole_bytes,
        "40 records of changes ({} B) cost less than the whole state ({whole_bytes} B)",
        sizes[1]
    );
    let (mut from_chain, mut inc_chain) = restore_chain(&chain).expect("the chain reads back");
    let (mut from_whole, mut inc_whole) = restore(&whole).expect("the whole checkpoint reads back");
    assert_eq!(inc_chain.written_rows(), inc.written_rows());
    assert_eq!(from_chain.store().people(), e.store().people());
    assert_eq!(from_chain.store().fact_count(), e.store().fact_count());
    assert_eq!(from_chain.counts(), e.counts());
    assert_eq!(from_chain.spend_rows(), e.spend_rows());
    assert_eq!(from_chain.deal_versions(), e.deal_versions());
    assert_eq!(from_chain.attribute(1), from_whole.attribute(1));
    assert_eq!(from_chain.attribute(1), e.attribute(1));
    // Both go on from where the stream stopped: the pending people, then a refit, write
    // exactly what the original would, and the table ends at the batch ledger.
    inc_chain.fit(&from_chain);
    inc_whole.fit(&from_whole);
    let mut chain_table = Table(table.0.clone());
    for (eng, inc, t) in
        [(&mut from_chain, &mut inc_chain, &mut chain_table), (&mut from_whole, &mut inc_whole, &mut table)]
    {
        t.apply(&inc.update(eng));
        inc.refit(eng);
        t.apply(&inc.update(eng));
    }
    let mut batch = Engine::new(AttributionConfig::default());
    ingest_lines(&mut batch, &lines);
    assert_eq!(chain_table.live(), sorted(batch.attribute(1).credits));
    assert_eq!(table.live(), chain_table.live());
}

#[test]
fn a_chain_link_cut_short_is_refused() {
    let lines = generated(60, 5);
    let mut e = Engine::new(AttributionConfig::default());
    let mut inc = IncrementalLedger::new();
    ingest_lines(&mut e, &lines[..30]);
    let base = e.checkpoint(&inc);
    e.track_changes(&mut inc);
    ingest_lines(&mut e, &lines[30..]);
    inc.update(&mut e);
    let mut delta = e.checkpoint_changes(&inc);
    assert!(restore_chain(&[base.clone(), delta.clone()]).is_ok());
    let last = delta.last_mut().expect("a part");
    last.truncate(last.len() - 1);
    assert!(restore_chain(&[base.clone(), delta]).is_err());
    let mut cut_base = base.clone();
    cut_base.last_mut().expect("a part").truncate(1);
    assert!(restore_chain(&[cut_base, e.checkpoint_changes(&inc)]).is_err());
}
