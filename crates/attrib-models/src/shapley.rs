//! Shapley values, one game per journey (DESIGN.md §4).
//!
//! The fit is the characteristic function: v(S) = CR(S) = conversions / (conversions + nulls)
//! over the training paths whose distinct channel set is exactly S (CR(∅) = 0; a set no path
//! has is worth 0). A conversion's players are the distinct channels T of its touches, and
//! φ_c = Σ_{S ⊆ T∖{c}} |S|!(|T|−|S|−1)!/|T|! · (CR(S∪{c}) − CR(S)), so Σ_{c∈T} φ_c = CR(T).
//! Exact over the 2^|T| coalitions, for up to `MAX_SHAPLEY_PLAYERS` players.

use crate::markov::WeightedPath;
use hashbrown::HashMap;

/// Most players one game takes exactly (2^16 coalitions); beyond, the most recently touched play.
pub const MAX_SHAPLEY_PLAYERS: usize = 16;

/// The fitted game: the conversion rate of every distinct channel set seen in training.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ShapleyFit {
    /// CR per channel set (sorted distinct channel ids).
    rates: HashMap<Box<[u32]>, f64>,
}

/// Fits the game from paths (their channel sets; order and repeats do not matter).
pub fn fit_shapley(paths: &[WeightedPath]) -> ShapleyFit {
    let mut counts: HashMap<Box<[u32]>, (f64, f64)> = HashMap::new();
    for p in paths.iter().filter(|p| !p.channels.is_empty()) {
        let e = counts.entry(channel_set(&p.channels).into_boxed_slice()).or_default();
        e.0 += p.conversions;
        e.1 += p.conversions + p.nulls;
    }
    let rates = counts.into_iter().filter(|(_, (_, t))| *t > 0.0).map(|(s, (c, t))| (s, c / t)).collect();
    ShapleyFit { rates }
}

/// The distinct channels of a path, sorted: its coalition.
pub fn channel_set(channels: &[u32]) -> Vec<u32> {
    let mut set = channels.to_vec();
    set.sort_unstable();
    set.dedup();
    set
}

impl ShapleyFit {
    /// Number of distinct channel sets seen.
    pub fn coalitions_seen(&self) -> usize {
        self.rates.len()
    }

    /// CR(S) of a sorted set of distinct channels (0 for ∅ and for sets never seen).
    pub fn rate(&self, set: &[u32]) -> f64 {
        self.rates.get(set).copied().unwrap_or(0.0)
    }

    /// Every seen set with its CR, in a canonical order (for reports and versions).
    pub fn rates(&self) -> Vec<(&[u32], f64)> {
        let mut all: Vec<(&[u32], f64)> = self.rates.iter().map(|(s, r)| (&s[..], *r)).collect();
        all.sort_by(|a, b| a.0.cmp(b.0));
        all
    }

    /// φ of each player of the game over `players` (distinct channel ids, any order, at most
    /// `MAX_SHAPLEY_PLAYERS`; more are a caller's bug and only the first ones play), in
    /// `players` order. Σ φ = CR(players).
    pub fn values(&self, players: &[u32]) -> Vec<f64> {
        let players = &players[..players.len().min(MAX_SHAPLEY_PLAYERS)];
        let n = players.len();
        if n == 0 {
            return Vec::new();
        }
        // Players by id, so every coalition's members come out sorted (the fit's key order).
        let mut by_id: Vec<usize> = (0..n).collect();
        by_id.sort_by_key(|&i| players[i]);
        let mut members = Vec::with_capacity(n);
        let v: Vec<f64> = (0..1usize << n)
            .map(|mask| {
                members.clear();
                members.extend(by_id.iter().filter(|&&i| mask & (1 << i) != 0).map(|&i| players[i]));
                self.rate(&members)
            })
            .collect();
        // w[s] = s!(n−s−1)!/n!, as a product of ratios.
        let weight: Vec<f64> = (0..n)
            .map(|s| {
                let mut w = 1.0 / n as f64;
                for j in 1..=s {
                    w *= j as f64 / (n - j) as f64;
                }
                w
            })
            .collect();
        (0..n)
            .map(|i| {
                let me = 1usize << i;
                (0..1usize << n)
                    .filter(|s| s & me == 0)
                    .map(|s| {
                        let gain = v[s | me] - v[s];
                        if gain == 0.0 {
                            0.0
                        } else {
                            weight[s.count_ones() as usize] * gain
                        }
                    })
                    .sum()
            })
            .collect()
    }
}
