//! Data-driven model throughput: `cargo bench -p attrib --bench models`.
//!
//! Fits Markov (order 1 and 2) and Shapley on 10k, 100k and 1M random paths over 12
//! channels, and times the per-conversion credit step: Markov (weights from removal
//! effects, then exact allocation) and Shapley (the conversion's own game over its distinct
//! channels, then exact allocation). `ATTRIB_BENCH_MAX_PATHS` caps the largest size.

use attrib_models::{allocate, fit_markov, fit_shapley, shapley_touch_weights, MarkovParams, WeightedPath, Weights};
use std::hint::black_box;
use std::time::Instant;

/// A deterministic LCG: the same paths on every run.
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
        self.0 >> 33
    }
}

fn paths(n: usize, channels: u32) -> Vec<WeightedPath> {
    let mut rng = Lcg(n as u64);
    (0..n)
        .map(|_| {
            let len = 1 + (rng.next() % 6) as usize;
            // Skewed channel popularity, like real traffic.
            let chans: Vec<u32> = (0..len)
                .map(|_| ((rng.next() % 1000) as f64 / 1000.0).powi(2).mul_add(channels as f64, 0.0) as u32)
                .collect();
            let converts = rng.next() % 100 < (3 + 2 * len as u64);
            WeightedPath {
                channels: chans,
                conversions: f64::from(u8::from(converts)),
                nulls: f64::from(u8::from(!converts)),
            }
        })
        .collect()
}

fn main() {
    let max: usize = std::env::var("ATTRIB_BENCH_MAX_PATHS").ok().and_then(|v| v.parse().ok()).unwrap_or(1_000_000);
    println!(
        "{:<10}{:>8}{:>16}{:>16}{:>16}{:>22}{:>22}",
        "paths", "order", "markov fit", "shapley fit", "states", "markov credit/conv", "shapley credit/conv"
    );
    for n in [10_000, 100_000, 1_000_000].into_iter().filter(|n| *n <= max) {
        let ps = paths(n, 12);
        for order in [1, 2] {
            let t = Instant::now();
            let fit = fit_markov(&ps, MarkovParams { order, collapse_repeats: false }).expect("fit");
            let markov = t.elapsed().as_secs_f64();
            let t = Instant::now();
            let shapley = black_box(fit_shapley(&ps));
            let shapley_secs = t.elapsed().as_secs_f64();
            // Credit every converting path as a conversion worth 123.45.
            let t = Instant::now();
            let mut credited = 0u64;
            for p in ps.iter().filter(|p| p.conversions > 0.0) {
                let values: Vec<f64> = p.channels.iter().map(|c| fit.removal_effects[c]).collect();
                let parts = allocate(12_345, &Weights::from_f64(&values));
                credited += black_box(parts).len() as u64;
            }
            let conversions = ps.iter().filter(|p| p.conversions > 0.0).count().max(1);
            let per = t.elapsed().as_secs_f64() / conversions as f64;
            let t = Instant::now();
            for p in ps.iter().filter(|p| p.conversions > 0.0) {
                let weights = shapley_touch_weights(&shapley, &p.channels).0.unwrap_or_else(|| vec![1.0]);
                let parts = allocate(12_345, &Weights::from_f64(&weights));
                credited += black_box(parts).len() as u64;
            }
            let per_shapley = t.elapsed().as_secs_f64() / conversions as f64;
            black_box((credited, shapley));
            println!(
                "{n:<10}{order:>8}{:>14.1}ms{:>14.1}ms{:>16}{:>20.0}ns{:>20.0}ns",
                markov * 1e3,
                shapley_secs * 1e3,
                fit.states,
                per * 1e9,
                per_shapley * 1e9
            );
        }
    }
}
