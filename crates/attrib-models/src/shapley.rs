//! Shapley values over channels (DESIGN.md §4).
//!
//! v(S) = conversion rate of the journeys whose channel set is exactly S (0 where no
//! journey has that set). φ_c = Σ_{S ⊆ N∖{c}} |S|!(n−|S|−1)!/n! · (v(S ∪ {c}) − v(S)),
//! computed exactly over all 2^n coalitions; Σ φ_c = v(N) − v(∅).

use crate::markov::WeightedPath;
use std::collections::BTreeMap;

/// Most distinct channels an exact fit takes (2^20 coalitions × 20 channels).
pub const MAX_SHAPLEY_CHANNELS: usize = 20;

/// A fitted Shapley game: the value of every channel.
#[derive(Debug, Clone, PartialEq)]
pub struct ShapleyFit {
    /// φ per channel id (may be negative; credit floors it at 0).
    pub values: BTreeMap<u32, f64>,
    /// Number of distinct channel sets seen.
    pub coalitions_seen: usize,
    /// v(N): the conversion rate of journeys that touched every channel (0 if none did).
    pub v_all: f64,
}

/// Why Shapley values could not be computed exactly.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TooManyChannels(pub usize);

impl std::fmt::Display for TooManyChannels {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "exact Shapley values take at most {MAX_SHAPLEY_CHANNELS} distinct channels per fit; this one has {}: group channels or disable shapley",
            self.0
        )
    }
}

impl std::error::Error for TooManyChannels {}

/// Fits Shapley values from paths (their channel sets; order and repeats do not matter).
pub fn fit_shapley(paths: &[WeightedPath]) -> Result<ShapleyFit, TooManyChannels> {
    let mut channels: Vec<u32> = paths.iter().flat_map(|p| p.channels.iter().copied()).collect();
    channels.sort_unstable();
    channels.dedup();
    let n = channels.len();
    if n > MAX_SHAPLEY_CHANNELS {
        return Err(TooManyChannels(n));
    }
    let bit = |c: u32| 1usize << channels.binary_search(&c).unwrap_or(0);
    let mut conv = vec![0.0; 1 << n];
    let mut total = vec![0.0; 1 << n];
    for p in paths.iter().filter(|p| !p.channels.is_empty()) {
        let set = p.channels.iter().fold(0usize, |m, &c| m | bit(c));
        conv[set] += p.conversions;
        total[set] += p.conversions + p.nulls;
    }
    let v: Vec<f64> = conv.iter().zip(&total).map(|(c, t)| if *t > 0.0 { c / t } else { 0.0 }).collect();
    let coalitions_seen = total.iter().filter(|t| **t > 0.0).count();
    // w[s] = s!(n−s−1)!/n!, computed as a product to stay exact-ish for n ≤ 20.
    let weight: Vec<f64> = (0..n.max(1))
        .map(|s| {
            let mut w = 1.0 / n as f64;
            for j in 1..=s {
                w *= j as f64 / (n - j) as f64;
            }
            w
        })
        .collect();
    let mut values = BTreeMap::new();
    for (i, &c) in channels.iter().enumerate() {
        let me = 1usize << i;
        let mut phi = 0.0;
        for s in 0..(1usize << n) {
            if s & me == 0 {
                let gain = v[s | me] - v[s];
                if gain != 0.0 {
                    phi += weight[s.count_ones() as usize] * gain;
                }
            }
        }
        values.insert(c, phi);
    }
    let v_all = if n == 0 { 0.0 } else { v[(1 << n) - 1] };
    Ok(ShapleyFit { values, coalitions_seen, v_all })
}
