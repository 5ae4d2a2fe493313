//! `attrib paths` against ChannelAttribution: `cargo bench -p attrib --bench paths`.
//!
//! Generates ChannelAttribution's input for `ATTRIB_BENCH_JOURNEYS` journeys (default
//! 1 000 000) over 12 channels, aggregated to one row per distinct path, and times in one run:
//! - the whole `attrib paths --model markov` process (read, aggregate, exact Markov fit with
//!   conversion- and value-weighted removal effects, output), and with `--model shapley`;
//! - ChannelAttribution's `markov_model` call on the same file (value-weighted: `var_value`
//!   given), the data already in a pandas frame, from PyPI in a venv of the bench
//!   (`target/bench-channelattribution`, created on first use; `ATTRIB_BENCH_CA_PYTHON` names
//!   another interpreter; `ATTRIB_BENCH_SKIP_CA=1` skips it).
//!
//! Figures are printed as ratios to ChannelAttribution's call (the target: ≤ 0.2×).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

const ATTRIB: &str = env!("CARGO_BIN_EXE_attrib");
const CHANNELS: [&str; 12] = [
    "facebook",
    "instagram",
    "linkedin",
    "x",
    "tiktok",
    "youtube",
    "paid_search",
    "organic_search",
    "email",
    "referral",
    "direct",
    "display",
];

/// A deterministic LCG: the same file on every run.
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
        self.0 >> 33
    }

    fn unit(&mut self) -> f64 {
        (self.next() % 1_000_000) as f64 / 1_000_000.0
    }
}

/// Journeys of 1 to 12 touches (geometric), skewed channel popularity, conversion odds that
/// grow with the journey and depend on its channels, values per conversion.
fn write_input(journeys: usize, path: &Path) -> (usize, u64) {
    let mut rng = Lcg(42);
    let mut agg: HashMap<Vec<u8>, (u64, f64, u64)> = HashMap::new();
    for _ in 0..journeys {
        let mut len = 1;
        while len < 12 && rng.unit() < 0.7 {
            len += 1;
        }
        let path: Vec<u8> = (0..len).map(|_| (rng.unit().powf(1.2) * 12.0) as u8).collect();
        let lift: f64 = path.iter().map(|c| 0.004 * f64::from(*c % 5)).sum();
        let converts = rng.unit() < 0.02 + 0.01 * len as f64 + lift;
        let e = agg.entry(path).or_default();
        if converts {
            e.0 += 1;
            e.1 += 20.0 + (rng.next() % 50_000) as f64 / 100.0;
        } else {
            e.2 += 1;
        }
    }
    let mut rows: Vec<(Vec<u8>, (u64, f64, u64))> = agg.into_iter().collect();
    rows.sort_by(|a, b| a.0.cmp(&b.0));
    let mut text = String::from("path,total_conversions,total_conversion_value,total_null\n");
    for (p, (conv, value, null)) in &rows {
        let names: Vec<&str> = p.iter().map(|c| CHANNELS[*c as usize]).collect();
        text.push_str(&format!("\"{}\",{conv},{value:.2},{null}\n", names.join(" > ")));
    }
    std::fs::write(path, &text).expect("write input");
    (rows.len(), text.len() as u64)
}

fn time_attrib(input: &Path, model: &str) -> f64 {
    let t = Instant::now();
    let out = Command::new(ATTRIB)
        .args(["paths", "--input", input.to_str().expect("utf-8"), "--model", model, "--format", "csv"])
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .status()
        .expect("run attrib paths");
    assert!(out.success(), "attrib paths failed");
    t.elapsed().as_secs_f64()
}

/// An interpreter with ChannelAttribution, installing it from PyPI into a venv when needed.
fn channel_attribution_python(target: &Path) -> Option<PathBuf> {
    if let Ok(p) = std::env::var("ATTRIB_BENCH_CA_PYTHON") {
        return Some(PathBuf::from(p));
    }
    let venv = target.join("bench-channelattribution");
    let python = venv.join("bin/python");
    let has = |p: &Path| {
        Command::new(p).args(["-c", "import ChannelAttribution, pandas"]).output().is_ok_and(|o| o.status.success())
    };
    if has(&python) {
        return Some(python);
    }
    println!("installing ChannelAttribution from PyPI into {} (once)", venv.display());
    let ok = Command::new("python3").args(["-m", "venv", venv.to_str()?]).status().is_ok_and(|s| s.success())
        && Command::new(venv.join("bin/pip"))
            .args(["install", "-q", "ChannelAttribution", "pandas", "matplotlib"])
            .status()
            .is_ok_and(|s| s.success());
    (ok && has(&python)).then_some(python)
}

const CA_SCRIPT: &str = r#"
import sys, time, pandas as pd
from ChannelAttribution import markov_model
df = pd.read_csv(sys.argv[1])
t = time.perf_counter()
markov_model(df, "path", "total_conversions", var_value="total_conversion_value", var_null="total_null", order=1, verbose=0)
print(time.perf_counter() - t)
"#;

fn main() {
    let journeys: usize = std::env::var("ATTRIB_BENCH_JOURNEYS").ok().and_then(|v| v.parse().ok()).unwrap_or(1_000_000);
    let target = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target");
    let dir = target.join("bench-paths");
    std::fs::create_dir_all(&dir).expect("bench dir");
    let input = dir.join(format!("paths-{journeys}.csv"));
    let (distinct, bytes) = write_input(journeys, &input);
    println!("input: {journeys} journeys, {distinct} distinct paths, 12 channels, {:.1} MB", bytes as f64 / 1e6);
    // Warm the page cache and the binary once.
    let _ = time_attrib(&input, "first");
    let best = |model: &str| (0..3).map(|_| time_attrib(&input, model)).fold(f64::INFINITY, f64::min);
    let (markov, shapley, first) = (best("markov"), best("shapley"), best("first"));
    let ca = if std::env::var("ATTRIB_BENCH_SKIP_CA").is_ok_and(|v| v == "1") {
        None
    } else {
        channel_attribution_python(&target).and_then(|py| {
            let out = Command::new(py).args(["-c", CA_SCRIPT, input.to_str()?]).output().ok()?;
            if !out.status.success() {
                eprintln!("ChannelAttribution failed: {}", String::from_utf8_lossy(&out.stderr));
                return None;
            }
            String::from_utf8_lossy(&out.stdout).trim().lines().last()?.parse::<f64>().ok()
        })
    };
    let ratio = |s: f64| ca.map_or("n/a".to_string(), |c| format!("{:.3}×", s / c));
    match ca {
        Some(c) => println!("ChannelAttribution markov_model call (value-weighted, order 1): {c:.3} s = 1×"),
        None => println!("ChannelAttribution: not available, no ratios"),
    }
    println!("attrib paths --model markov  (whole process, best of 3): {markov:.3} s = {}", ratio(markov));
    println!("attrib paths --model shapley (whole process, best of 3): {shapley:.3} s = {}", ratio(shapley));
    println!(
        "attrib paths --model first   (whole process, best of 3): {first:.3} s = {} (reading and aggregating)",
        ratio(first)
    );
}
