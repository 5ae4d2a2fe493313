//! The command line scripts rely on: documented exit statuses (0 ok, 1 a check failed,
//! 2 usage, 3 input/IO or connection), a closed pipe ending quietly, and warnings for input
//! that would otherwise be ignored.

use attrib_tests::{attrib, attrib_bin, TempDir};
use std::io::Read;
use std::process::{Command, Stdio};

fn run(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(attrib_bin()).args(args).output().expect("run attrib");
    (
        out.status.code().expect("exited, not killed"),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn batch_of(people: &str) -> (TempDir, TempDir) {
    let (input, output) = (TempDir::new("exit-in"), TempDir::new("exit-out"));
    let (i, o) = (input.path().display().to_string(), output.path().display().to_string());
    attrib(&["generate", "--out", &i, "--people", people, "--seed", "9"]).expect("generate");
    attrib(&["batch", "--input", &i, "--output", &o]).expect("batch");
    (input, output)
}

#[test]
fn statuses_say_what_went_wrong() {
    let (input, output) = batch_of("400");
    let out = output.path().display().to_string();
    // The generated months balance.
    let (code, stdout, _) = run(&["reconcile", "--month", "2026-07", "--input", &out]);
    assert_eq!((code, stdout.contains("BALANCED")), (0, true), "{stdout}");
    // Usage: a bad flag, a bad month.
    assert_eq!(run(&["reconcile", "--month", "2026-07", "--bogus"]).0, 2);
    assert_eq!(run(&["reconcile", "--month", "2026-13", "--input", &out]).0, 2);
    // Input missing: 3, not the 1 of unbalanced books.
    let missing = output.path().join("nowhere").display().to_string();
    let (code, _, stderr) = run(&["reconcile", "--month", "2026-07", "--input", &missing]);
    assert_eq!(code, 3, "{stderr}");
    // A month without data is said to be one, with the data's span.
    let (code, stdout, stderr) = run(&["reconcile", "--month", "2030-01", "--input", &out]);
    assert_eq!(code, 0);
    assert!(stdout.contains("NO DATA") && !stdout.contains("BALANCED"), "{stdout}");
    assert!(stderr.contains("no closed-won deals") && stderr.contains("the data spans 2026-"), "{stderr}");
    // Books that do not balance: 1. One closed-won deal's credits lose a cent.
    let credits = output.path().join("credits.csv");
    let text = std::fs::read_to_string(&credits).expect("credits");
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    let header: Vec<&str> = lines[0].split(',').collect();
    let col = |n: &str| header.iter().position(|h| *h == n).expect("column");
    let (ty, minor, time) = (col("conversion_type"), col("credit_minor"), col("conversion_time"));
    let victim = lines
        .iter()
        .position(|l| {
            let f: Vec<&str> = l.split(',').collect();
            f.len() == header.len() && f[ty] == "deal" && f[minor].parse::<i64>().is_ok_and(|m| m > 0)
        })
        .expect("a credited deal");
    let mut fields: Vec<String> = lines[victim].split(',').map(str::to_string).collect();
    let month = fields[time][..7].to_string();
    fields[minor] = (fields[minor].parse::<i64>().expect("minor") - 1).to_string();
    lines[victim] = fields.join(",");
    std::fs::write(&credits, lines.join("\n") + "\n").expect("write");
    let (code, stdout, stderr) = run(&["reconcile", "--month", &month, "--input", &out]);
    assert_eq!(code, 1, "{stdout}{stderr}");
    assert!(stdout.contains("NOT BALANCED"), "{stdout}");
    // validate: rejected records are a failed check only under --strict; --json is one object.
    let inp = input.path().display().to_string();
    let (code, stdout, _) = run(&["validate", "--input", &inp, "--json"]);
    assert_eq!(code, 0);
    let v: serde_json::Value = serde_json::from_str(stdout.trim()).expect("one JSON object");
    assert!(v["rejected"].as_u64().is_some_and(|n| n > 0), "the generator writes faults: {v}");
    assert_eq!(run(&["validate", "--input", &inp, "--strict"]).0, 1);
}

#[test]
fn a_closed_pipe_ends_quietly_and_a_misnamed_input_file_is_named() {
    let (input, output) = batch_of("300");
    let out = output.path().display().to_string();
    let mut child = Command::new(attrib_bin())
        .args(["reconcile", "--month", "2026-07", "--input", &out, "--json"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    // The reader goes away before the answer is written (`| head -c 0`).
    drop(child.stdout.take());
    let status = child.wait().expect("wait");
    let mut stderr = String::new();
    child.stderr.take().expect("stderr").read_to_string(&mut stderr).expect("read");
    assert!(status.success(), "{status}: {stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");

    std::fs::rename(input.path().join("crm.records.jsonl"), input.path().join("crm_records.jsonl")).expect("rename");
    let (code, _, stderr) = run(&["validate", "--input", &input.path().display().to_string()]);
    assert_eq!(code, 0);
    assert!(stderr.contains("crm_records.jsonl is not read: did you mean crm.records.jsonl?"), "{stderr}");
}
