//! `generate` + `batch` from the command line: money reconciles, order does not matter.

use attrib_tests::{attrib, read_csv, TempDir};
use std::collections::{BTreeMap, HashMap};
use std::path::Path;

fn generate_and_batch(people: &str, seed: &str) -> (TempDir, TempDir) {
    let input = TempDir::new("in");
    let output = TempDir::new("out");
    attrib(&["generate", "--out", path(&input), "--people", people, "--seed", seed]).expect("generate");
    attrib(&["batch", "--input", path(&input), "--output", path(&output)]).expect("batch");
    (input, output)
}

fn path(d: &TempDir) -> &str {
    d.path().to_str().expect("utf-8 temp path")
}

fn column(header: &[String], name: &str) -> usize {
    header.iter().position(|h| h == name).unwrap_or_else(|| panic!("column {name} in {header:?}"))
}

#[test]
fn every_conversions_credits_sum_to_its_revenue_for_every_model() {
    let (_input, output) = generate_and_batch("3000", "11");
    let (ch, conversions) = read_csv(&output.path().join("conversions.csv"));
    let (h, credits) = read_csv(&output.path().join("credits.csv"));
    for required in [
        "conversion_id",
        "conversion_version",
        "conversion_type",
        "model",
        "touch_event_id",
        "touch_time",
        "channel",
        "platform",
        "campaign_id",
        "post_id",
        "ad_id",
        "actor_type",
        "weight",
        "credit_minor",
        "currency",
    ] {
        column(&h, required);
    }
    let revenue: HashMap<&str, i64> = conversions
        .iter()
        .map(|r| (r[column(&ch, "conversion_id")].as_str(), r[column(&ch, "revenue_minor")].parse().expect("int")))
        .collect();
    let mut sums: BTreeMap<(&str, &str), (i64, f64)> = BTreeMap::new();
    for r in &credits {
        let credit: i64 = r[column(&h, "credit_minor")].parse().expect("int");
        let weight: f64 = r[column(&h, "weight")].parse().expect("float");
        assert!(credit >= 0 && (0.0..=1.0).contains(&weight), "{r:?}");
        let e = sums.entry((r[column(&h, "conversion_id")].as_str(), r[column(&h, "model")].as_str())).or_default();
        e.0 += credit;
        e.1 += weight;
        if r[column(&h, "channel")] == "(unattributed)" {
            assert!(r[column(&h, "touch_event_id")].is_empty());
        }
    }
    assert!(revenue.len() > 200, "enough conversions to mean something: {}", revenue.len());
    assert_eq!(sums.len(), revenue.len() * 10, "every conversion has rows for all 10 models");
    for ((id, model), (credited, weights)) in sums {
        assert_eq!(credited, revenue[id], "{id} under {model}");
        assert!((weights - 1.0).abs() < 1e-9, "{id} under {model}: weights sum to {weights}");
    }
    let (rh, rec) = read_csv(&output.path().join("reconciliation.csv"));
    assert!(rec.iter().all(|r| r[column(&rh, "difference_minor")] == "0"));
}

fn sorted_lines(path: &Path) -> Vec<String> {
    let mut lines: Vec<String> = std::fs::read_to_string(path).expect("read").lines().map(str::to_string).collect();
    lines.sort();
    lines
}

/// Shuffles every line of every input file with a fixed seed (Fisher-Yates over an LCG).
fn shuffle_folder(from: &Path, to: &Path, seed: u64) {
    let mut s = seed;
    for entry in std::fs::read_dir(from).expect("list") {
        let p = entry.expect("entry").path();
        let text = std::fs::read_to_string(&p).expect("read");
        let mut lines: Vec<&str> = text.lines().collect();
        for i in (1..lines.len()).rev() {
            s = s.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
            lines.swap(i, (s >> 33) as usize % (i + 1));
        }
        std::fs::write(to.join(p.file_name().expect("name")), lines.join("\n") + "\n").expect("write");
    }
}

#[test]
fn shuffling_the_input_lines_does_not_change_the_ledger() {
    let (input, output) = generate_and_batch("1500", "5");
    for seed in [1, 2] {
        let shuffled = TempDir::new("shuffled");
        shuffle_folder(input.path(), shuffled.path(), seed);
        let out2 = TempDir::new("out2");
        attrib(&["batch", "--input", path(&shuffled), "--output", path(&out2), "--threads", "1"]).expect("batch");
        for file in ["credits.csv", "conversions.csv", "kpi_channels.csv", "model_fits.json"] {
            assert_eq!(
                sorted_lines(&output.path().join(file)),
                sorted_lines(&out2.path().join(file)),
                "{file}, seed {seed}"
            );
        }
    }
}

#[test]
fn bad_records_are_written_with_their_reason_and_never_stop_the_run() {
    let (input, output) = generate_and_batch("300", "3");
    let garbage = "not json at all\n{\"event_id\": \"x\"}\n\u{0}\n";
    std::fs::write(input.path().join("web.events.jsonl"), garbage).expect("write");
    let out2 = TempDir::new("out-garbage");
    attrib(&["batch", "--input", path(&input), "--output", path(&out2)]).expect("batch survives bad input");
    let rejected = std::fs::read_to_string(out2.path().join("rejected.jsonl")).expect("rejected.jsonl");
    let web: Vec<serde_json::Value> = rejected
        .lines()
        .map(|l| serde_json::from_str(l).expect("json"))
        .filter(|v: &serde_json::Value| v["topic"] == "web.events")
        .collect();
    assert_eq!(web.len(), 3);
    assert_eq!(web[0]["record"], "not json at all");
    assert_eq!(web[1]["code"], "missing_field");
    assert_eq!(web[1]["field"], "occurred_at");
    assert!(std::fs::metadata(output.path().join("credits.csv")).is_ok());
}

#[test]
fn the_demo_runs_on_its_embedded_default() {
    let out = TempDir::new("demo");
    attrib(&["demo", "--output", path(&out), "--people", "800"]).expect("demo");
    for f in ["credits.csv", "conversions.csv", "kpi_posts.csv", "summary.json", "input/web.events.jsonl"] {
        assert!(out.path().join(f).is_file(), "{f}");
    }
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.path().join("summary.json")).expect("summary"))
            .expect("json");
    assert_eq!(summary["reconciled"], true);
}

#[test]
fn the_example_configuration_is_valid_and_holds_the_defaults() {
    let example = attrib_tests::repo_root().join("deploy/config/attrib.example.toml");
    let text = std::fs::read_to_string(&example).expect("example config");
    let parsed = attrib::config::Config::from_toml_with_env(&text, std::iter::empty()).expect("valid");
    let defaults = attrib::config::Config::from_toml_with_env("", std::iter::empty()).expect("valid");
    assert_eq!(parsed.attribution(), defaults.attribution());
    attrib(&["validate", "--config", example.to_str().expect("utf-8")]).expect("validate");
}
