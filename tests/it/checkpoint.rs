//! Restarts from a checkpoint: a new process (a rescheduled pod: no local state at all) loads
//! the newest checkpoint from ClickHouse, replays only the raw events after it, and goes on to
//! the batch ledger; with the written rows' fingerprints from the checkpoint when no refit
//! rewrote rows after it, read back from the ledger when one did.

use crate::process::{poll_until, signal, Guard};
use crate::service::{path, Setup};
use attrib_tests::{attrib, ch_query, infra, unique, TempDir};
use std::time::{Duration, Instant};

/// Cuts every input file into consecutive deliveries at `twelfths` (cumulative, in twelfths of
/// its lines): the delivery directories and their line counts.
fn split(input: &std::path::Path, dir: &std::path::Path, twelfths: &[usize]) -> Vec<(std::path::PathBuf, usize)> {
    let mut bounds = vec![0];
    bounds.extend_from_slice(twelfths);
    bounds.push(12);
    let mut deliveries: Vec<(std::path::PathBuf, usize)> =
        (1..bounds.len()).map(|i| (dir.join(format!("delivery{i}")), 0)).collect();
    for (d, _) in &deliveries {
        std::fs::create_dir_all(d).expect("dir");
    }
    for entry in std::fs::read_dir(input).expect("input") {
        let file = entry.expect("entry").path();
        let text = std::fs::read_to_string(&file).expect("read");
        let lines: Vec<&str> = text.lines().collect();
        for (i, (d, count)) in deliveries.iter_mut().enumerate() {
            let piece = &lines[lines.len() * bounds[i] / 12..lines.len() * bounds[i + 1] / 12];
            *count += piece.len();
            let body: String = piece.iter().map(|l| format!("{l}\n")).collect();
            std::fs::write(d.join(file.file_name().expect("name")), body).expect("write");
        }
    }
    deliveries
}

/// Generated input for `people`, its batch run, and its deliveries (see `split`), with a setup
/// of its own topics and database; `None` without the test infrastructure.
fn delivered(
    label: &str,
    people: u32,
    seed: u32,
    twelfths: &[usize],
) -> Option<(Setup, Vec<(std::path::PathBuf, usize)>)> {
    let infra = infra()?;
    let dir = TempDir::new(label);
    let input = dir.path().join("in");
    let (people, seed) = (people.to_string(), seed.to_string());
    attrib(&["generate", "--out", path(&input), "--people", &people, "--seed", &seed]).expect("generate");
    attrib(&["batch", "--input", path(&input), "--output", path(&dir.path().join("batch"))]).expect("batch");
    let deliveries = split(&input, dir.path(), twelfths);
    Some((Setup { dir, prefix: format!("{}.", unique(label)), database: unique(label), infra }, deliveries))
}

/// A log line without its terminal colours.
fn plain(line: &str) -> String {
    let mut out = String::new();
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        if c == '\x1b' {
            chars.by_ref().find(|c| c.is_ascii_alphabetic());
        } else {
            out.push(c);
        }
    }
    out
}

/// The `key=value` of the "state recovered" log line.
fn field(log: &str, key: &str) -> String {
    let line = log.lines().map(plain).find(|l| l.contains("state recovered")).expect("a recovery line");
    let value = line.split_whitespace().find_map(|w| w.strip_prefix(&format!("{key}=")).map(str::to_string));
    value.unwrap_or_else(|| panic!("no {key} in {line}"))
}

fn recovered(log: &str, key: &str) -> u64 {
    let v = field(log, key);
    v.parse().unwrap_or_else(|_| panic!("{key}={v}"))
}

#[test]
fn a_new_process_restores_the_checkpoint_replays_only_what_follows_and_reaches_the_batch_ledger() {
    // The same records in two deliveries: the first two thirds of every file, then the rest.
    let Some((s, deliveries)) = delivered("ckpt", 1500, 33, &[8]) else { return };
    let ((first, _), (second, second_lines)) = (&deliveries[0], &deliveries[1]);
    let produce = |from: &std::path::Path| {
        let cfg = s.config("producer", "");
        attrib(&["produce", "--input", path(from), "--config", path(&cfg)]).expect("produce");
    };
    let ch = |sql: &str| ch_query(&s.infra.clickhouse, &s.database, &format!("{sql} FORMAT TSV")).trim().to_string();
    let small = "batch_max_messages = 500\nbatch_max_wait_ms = 100\nhttp_listen = \"\"";

    // 1. The first delivery; caught up, the service checkpoints its state.
    produce(first);
    let log = s.run_to_end_logged("pod", &format!("{small}\ncheckpoint_interval_secs = 3600"));
    assert_eq!(recovered(&log, "checkpoint"), 0, "nothing to restore at the first start");
    let saved: u64 = ch("SELECT max(checkpoint) FROM state_checkpoints").parse().expect("a checkpoint");
    assert!(saved > 0);
    assert_eq!(ch("SELECT uniqExact(checkpoint) FROM state_checkpoint_parts"), "1");
    let raw_events = || -> u64 { ch("SELECT count() FROM events_raw FINAL").parse().expect("count") };
    let raw_at_checkpoint = raw_events();

    // 2. The second delivery, consumed by a new process with checkpoints off: it restores the
    //    checkpoint (nothing was written after it), then consumes only the new messages.
    produce(second);
    let log = s.run_to_end_logged("pod", &format!("{small}\ncheckpoint_interval_secs = 0"));
    assert_eq!(recovered(&log, "checkpoint"), saved, "restored from the checkpoint");
    assert_eq!(recovered(&log, "events"), 0, "no raw event replayed: the checkpoint covers them all");
    assert_eq!(field(&log, "fingerprints_restored"), "true", "nothing refitted since: no ledger read-back");
    s.assert_ledger_equals_batch();

    // 3. Another new process, in a new consumer group (it re-reads both deliveries): it restores
    //    the same checkpoint and replays only the events written after it, then the replayed
    //    messages change nothing.
    let written_after = raw_events() - raw_at_checkpoint;
    assert!(written_after > 0 && written_after <= *second_lines as u64);
    let log = s.run_to_end_logged("pod2", &format!("{small}\ncheckpoint_interval_secs = 0"));
    assert_eq!(recovered(&log, "checkpoint"), saved);
    assert_eq!(recovered(&log, "events"), written_after, "exactly the raw events written after the checkpoint");
    assert_eq!(
        field(&log, "fingerprints_restored"),
        "false",
        "rows were written after the checkpoint: they are read back"
    );
    s.assert_ledger_equals_batch();
}

#[test]
fn checkpoints_of_changes_chain_onto_a_whole_one_and_a_new_process_restores_the_chain() {
    let Some((s, deliveries)) = delivered("chain", 1200, 35, &[9, 10, 11]) else { return };
    let produce = |from: &std::path::Path| {
        let cfg = s.config("producer", "");
        attrib(&["produce", "--input", path(from), "--config", path(&cfg)]).expect("produce");
    };
    let ch = |sql: &str| ch_query(&s.infra.clickhouse, &s.database, &format!("{sql} FORMAT TSV")).trim().to_string();
    let number = |sql: &str| -> u64 { ch(sql).parse().unwrap_or(0) };
    let small = "batch_max_messages = 300\nbatch_max_wait_ms = 100\nhttp_listen = \"\"\nrefit_interval_secs = 0";

    // 1. Three quarters of the input; caught up (and refitted), the service saves a whole checkpoint.
    produce(&deliveries[0].0);
    s.run_to_end_logged("pod", &format!("{small}\ncheckpoint_interval_secs = 3600"));
    let whole = number("SELECT max(checkpoint) FROM state_checkpoints FINAL WHERE base = checkpoint");
    assert!(whole > 0, "a whole checkpoint");

    // 2. A new process restores it and runs on, checkpointing every second, while the rest
    //    arrives in three deliveries: each checkpoint after the first holds only the changes.
    let mut pod = Guard(s.spawn("pod", &format!("{small}\ncheckpoint_interval_secs = 1"), false));
    let newest = || number("SELECT max(checkpoint) FROM state_checkpoints FINAL");
    for (delivery, _) in &deliveries[1..] {
        let before = newest();
        produce(delivery);
        assert!(poll_until(Duration::from_secs(60), || newest() > before), "a checkpoint after the delivery");
    }
    // Everything consumed and checkpointed: with a checkpoint due every second, nothing changes
    // for a few seconds only once the service has nothing left to do.
    let raw = || number("SELECT count() FROM events_raw FINAL");
    let mut last = ((0, 0), Instant::now());
    assert!(
        poll_until(Duration::from_secs(90), || {
            let now = (newest(), raw());
            if now != last.0 {
                last = (now, Instant::now());
            }
            last.1.elapsed() > Duration::from_secs(4)
        }),
        "the checkpoints settle"
    );
    signal(&pod.0, "-KILL");
    let _ = pod.0.wait();
    let chain: Vec<(u64, u64, u64)> =
        ch("SELECT checkpoint, base, previous FROM state_checkpoints FINAL ORDER BY checkpoint")
            .lines()
            .map(|l| {
                let f: Vec<u64> = l.split('\t').map(|v| v.parse().expect("number")).collect();
                (f[0], f[1], f[2])
            })
            .collect();
    assert!(chain.len() >= 4, "the whole checkpoint and at least one link per delivery: {chain:?}");
    assert_eq!(chain[0], (whole, whole, whole), "the chain starts from the whole checkpoint");
    for pair in chain.windows(2) {
        assert_eq!(pair[1].1, whole, "every link has the same base: {chain:?}");
        assert_eq!(pair[1].2, pair[0].0, "every link follows the one before: {chain:?}");
    }
    let links: u64 = ch("SELECT count() FROM state_checkpoints FINAL").parse().expect("count");
    let parted: u64 = ch("SELECT uniqExact(checkpoint) FROM state_checkpoint_parts").parse().expect("count");
    assert_eq!(parted, links, "the chain's parts are kept, and only theirs");
    let whole_bytes = number(&format!("SELECT bytes FROM state_checkpoints FINAL WHERE checkpoint = {whole}"));
    let changes_bytes = number(&format!("SELECT sum(bytes) FROM state_checkpoints FINAL WHERE checkpoint != {whole}"));
    assert!(changes_bytes <= whole_bytes, "the changes ({changes_bytes} B) stay below the whole ({whole_bytes} B)");

    // 3. A new process (nothing local) restores the whole chain: no raw event to replay, the
    //    fingerprints its own, and the ledger is the batch's (the rule-based models: the last
    //    refit saw only the first delivery).
    let log = s.run_to_end_logged("pod", &format!("{small}\ncheckpoint_interval_secs = 0"));
    assert_eq!(recovered(&log, "checkpoint"), chain.last().expect("newest").0, "the newest link");
    assert_eq!(recovered(&log, "chain"), chain.len() as u64, "every link restored");
    assert_eq!(recovered(&log, "events"), 0, "the chain covers every raw event");
    assert_eq!(field(&log, "fingerprints_restored"), "true");
    s.assert_rule_based_ledger_equals_batch();
}
