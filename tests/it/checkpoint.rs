//! Restarts from a checkpoint: a new process (a rescheduled pod: no local state at all) loads
//! the newest checkpoint from ClickHouse, replays only the raw events after it, and goes on to
//! the batch ledger; with the written rows' fingerprints from the checkpoint when no refit
//! rewrote rows after it, read back from the ledger when one did.

use crate::service::{path, Setup};
use attrib_tests::{attrib, ch_query, infra, unique, TempDir};

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
    let Some(infra) = infra() else { return };
    let dir = TempDir::new("ckpt");
    let input = dir.path().join("in");
    attrib(&["generate", "--out", path(&input), "--people", "1500", "--seed", "33"]).expect("generate");
    attrib(&["batch", "--input", path(&input), "--output", path(&dir.path().join("batch"))]).expect("batch");
    // The same records in two deliveries: the first two thirds of every file, then the rest.
    let (first, second) = (dir.path().join("first"), dir.path().join("second"));
    let mut second_lines = 0;
    for d in [&first, &second] {
        std::fs::create_dir_all(d).expect("dir");
    }
    for entry in std::fs::read_dir(&input).expect("input") {
        let file = entry.expect("entry").path();
        let text = std::fs::read_to_string(&file).expect("read");
        let lines: Vec<&str> = text.lines().collect();
        let cut = lines.len() * 2 / 3;
        second_lines += lines.len() - cut;
        let name = file.file_name().expect("name");
        std::fs::write(first.join(name), lines[..cut].iter().map(|l| format!("{l}\n")).collect::<String>())
            .expect("write");
        std::fs::write(second.join(name), lines[cut..].iter().map(|l| format!("{l}\n")).collect::<String>())
            .expect("write");
    }
    let s = Setup { dir, prefix: format!("{}.", unique("ckpt")), database: unique("ckpt"), infra };
    let produce = |from: &std::path::Path| {
        let cfg = s.config("producer", "");
        attrib(&["produce", "--input", path(from), "--config", path(&cfg)]).expect("produce");
    };
    let ch = |sql: &str| ch_query(&s.infra.clickhouse, &s.database, &format!("{sql} FORMAT TSV")).trim().to_string();
    let small = "batch_max_messages = 500\nbatch_max_wait_ms = 100\nhttp_listen = \"\"";

    // 1. The first delivery; caught up, the service checkpoints its state.
    produce(&first);
    let log = s.run_to_end_logged("pod", &format!("{small}\ncheckpoint_interval_secs = 3600"));
    assert_eq!(recovered(&log, "checkpoint"), 0, "nothing to restore at the first start");
    let saved: u64 = ch("SELECT max(checkpoint) FROM state_checkpoints").parse().expect("a checkpoint");
    assert!(saved > 0);
    assert_eq!(ch("SELECT uniqExact(checkpoint) FROM state_checkpoint_parts"), "1");
    let raw_events = || -> u64 { ch("SELECT count() FROM events_raw FINAL").parse().expect("count") };
    let raw_at_checkpoint = raw_events();

    // 2. The second delivery, consumed by a new process with checkpoints off: it restores the
    //    checkpoint (nothing was written after it), then consumes only the new messages.
    produce(&second);
    let log = s.run_to_end_logged("pod", &format!("{small}\ncheckpoint_interval_secs = 0"));
    assert_eq!(recovered(&log, "checkpoint"), saved, "restored from the checkpoint");
    assert_eq!(recovered(&log, "events"), 0, "no raw event replayed: the checkpoint covers them all");
    assert_eq!(field(&log, "fingerprints_restored"), "true", "nothing refitted since: no ledger read-back");
    s.assert_ledger_equals_batch();

    // 3. Another new process, in a new consumer group (it re-reads both deliveries): it restores
    //    the same checkpoint and replays only the events written after it, then the replayed
    //    messages change nothing.
    let written_after = raw_events() - raw_at_checkpoint;
    assert!(written_after > 0 && written_after <= second_lines as u64);
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
