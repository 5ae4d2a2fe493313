//! The `attrib` binary as a user runs it. (Also makes `cargo test --workspace` build the
//! binary that the end-to-end service tests in `tests/` start as a real process.)

use std::process::Command;

fn attrib(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_attrib")).args(args).output().expect("run attrib")
}

fn repo(path: &str) -> String {
    format!("{}/../../{path}", env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn help_lists_every_command() {
    let out = attrib(&["--help"]);
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    for cmd in ["generate", "batch", "demo", "paths", "run", "migrate", "produce", "validate"] {
        assert!(text.contains(cmd), "{cmd} missing from --help:\n{text}");
    }
}

#[test]
fn completions_and_the_manual_come_from_the_command_line_definition() {
    let bash = attrib(&["completions", "bash"]);
    assert!(bash.status.success());
    let script = String::from_utf8_lossy(&bash.stdout);
    assert!(script.contains("_attrib()") && script.contains("reconcile") && script.contains("--stop-when-caught-up"));
    let man = attrib(&["man"]);
    let page = String::from_utf8_lossy(&man.stdout);
    assert!(man.status.success() && page.contains(".TH attrib 1") && page.contains("reconcile"), "{page}");
    let dir = std::env::temp_dir().join(format!("attrib-man-{}", std::process::id()));
    assert!(attrib(&["man", "--out", dir.to_str().expect("utf-8")]).status.success());
    let reconcile = std::fs::read_to_string(dir.join("attrib-reconcile.1")).expect("a page per command");
    assert!(reconcile.contains("\\-\\-month"), "{reconcile}");
    let _ = std::fs::remove_dir_all(&dir);
    assert_eq!(attrib(&["completions", "tcsh"]).status.code(), Some(2), "an unknown shell is a usage error");
}

#[test]
fn validate_accepts_the_example_config_and_explains_a_bad_one() {
    let ok = attrib(&["validate", "--config", &repo("deploy/config/attrib.example.toml")]);
    assert!(ok.status.success(), "{}", String::from_utf8_lossy(&ok.stderr));
    let dir = std::env::temp_dir().join(format!("attrib-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let bad = dir.join("bad.toml");
    std::fs::write(&bad, "[models]\nenabled = [\"linear\", \"magic\"]\n").expect("write");
    let out = attrib(&["validate", "--config", bad.to_str().expect("utf-8")]);
    assert_eq!(out.status.code(), Some(2), "a bad configuration is a usage error");
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown model \"magic\""));
    // A misspelt librdkafka property fails validation, in librdkafka's words.
    let typo = dir.join("typo.toml");
    std::fs::write(&typo, "[kafka.properties]\n\"securty.protocol\" = \"SSL\"\n").expect("write");
    let out = attrib(&["validate", "--config", typo.to_str().expect("utf-8")]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("No such configuration property: \"securty.protocol\""));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn validate_prints_the_effective_configuration_redacted_and_loadable() {
    let dir = std::env::temp_dir().join(format!("attrib-print-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let file = dir.join("in.toml");
    std::fs::write(&file, "[kafka.properties]\n\"ssl.key.password\" = \"hunter2\"\n\"security.protocol\" = \"ssl\"\n")
        .expect("write");
    let out = Command::new(env!("CARGO_BIN_EXE_attrib"))
        .args(["validate", "--print", "--config", file.to_str().expect("utf-8")])
        .env("ATTRIB_KAFKA__BROKERS", "kafka-1:9093")
        .env("ATTRIB_CLICKHOUSE__PASSWORD", "s3cret-ch")
        .env("ATTRIB_CONNECTORS__META__TOKEN", "s3cret-meta")
        .output()
        .expect("run");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let printed = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(printed.contains("brokers = \"kafka-1:9093\""), "the environment is applied: {printed}");
    assert!(printed.contains("lookback_days") && printed.contains("[connectors.hubspot]"), "defaults are shown");
    assert!(!printed.contains("hunter2") && printed.contains("\"ssl.key.password\" = \"***\""), "{printed}");
    assert!(!printed.contains("s3cret"), "secrets are never printed: {printed}");
    assert!(
        printed.starts_with("# secrets set (not shown): clickhouse.password, connectors.meta.token\n"),
        "{printed}"
    );
    // What it prints is a configuration the binary accepts.
    let again = dir.join("printed.toml");
    std::fs::write(&again, &printed).expect("write");
    assert!(attrib(&["validate", "--config", again.to_str().expect("utf-8")]).status.success());
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_missing_input_folder_is_an_error_not_a_panic() {
    let out = attrib(&["batch", "--input", "/nonexistent/attrib", "--output", "/tmp/attrib-never"]);
    assert_eq!(out.status.code(), Some(3), "missing input is an input error");
    assert!(String::from_utf8_lossy(&out.stderr).contains("no input files"));
}
