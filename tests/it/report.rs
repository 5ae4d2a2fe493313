//! The HTML report: written by `demo`, self-contained, and its charts render in Chromium.

use attrib_tests::{attrib, attrib_bin, chromium, headless_chromium, TempDir};

#[test]
fn the_demo_report_is_self_contained_and_every_chart_renders_in_headless_chromium() {
    let out = TempDir::new("report");
    let dir = out.path().to_str().expect("utf-8");
    let run = std::process::Command::new(attrib_bin())
        .args(["demo", "--output", dir, "--people", "1500", "--seed", "5"])
        .output()
        .expect("run demo");
    assert!(run.status.success(), "demo: {}", String::from_utf8_lossy(&run.stderr));
    let printed = String::from_utf8_lossy(&run.stdout);
    let page = out.path().join("report.html");
    assert!(printed.contains(&page.display().to_string()), "demo prints the report's path");
    let html = std::fs::read_to_string(&page).expect("report.html");
    // No network: nothing is fetched (no external scripts, styles, fonts or images).
    for external in ["http://", "https://", "src=", "<link", "@import", "url("] {
        assert!(!html.contains(external), "report references {external}");
    }
    assert!(html.contains("All ") && html.contains("balance to the cent"), "reconciliation section");

    // The same report from the batch folder (`attrib report --input`).
    let again = out.path().join("again.html");
    attrib(&["report", "--input", dir, "--out", again.to_str().expect("utf-8")]).expect("report --input");
    let strip_source = |h: &str| h.split(" · source ").next().unwrap_or_default().to_string();
    assert_eq!(strip_source(&std::fs::read_to_string(&again).expect("again")), strip_source(&html));

    let Some(chromium) = chromium() else { return };
    let dom = headless_chromium(&chromium, &page, &["--dump-dom"]);
    let rendered = dom
        .split("data-charts-rendered=\"")
        .nth(1)
        .and_then(|r| r.split('"').next())
        .expect("the page's script ran and marked the charts");
    let (drawn, total) = rendered.split_once('/').expect("n/total");
    assert!(total.parse::<u32>().expect("total") >= 6, "{rendered} charts");
    assert_eq!(drawn, total, "every chart drew visible marks");

    let shot = out.path().join("report.png");
    headless_chromium(&chromium, &page, &[&format!("--screenshot={}", shot.display())]);
    let png = std::fs::read(&shot).expect("screenshot");
    assert!(png.starts_with(b"\x89PNG") && png.len() > 50_000, "a screenshot with content ({} bytes)", png.len());
}
