//! Path-level attribution, as ChannelAttribution and its peers report it: per channel,
//! the conversions and value each model attributes, totals equal to the input totals.

use crate::markov::{fit_markov_valued, FitError, MarkovFit, MarkovParams, WeightedPath};
use crate::shapley::{fit_shapley, ShapleyFit, MAX_SHAPLEY_PLAYERS};
use hashbrown::HashMap;
use std::collections::BTreeMap;

/// One row of a path summary: a channel path with its conversions, value and nulls.
#[derive(Debug, Clone, PartialEq)]
pub struct PathRow {
    pub channels: Vec<u32>,
    pub conversions: f64,
    pub value: f64,
    pub nulls: f64,
}

/// The path-level models.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum PathModel {
    First,
    Last,
    Linear,
    Markov,
    Shapley,
}

impl PathModel {
    pub const ALL: [PathModel; 5] =
        [PathModel::First, PathModel::Last, PathModel::Linear, PathModel::Markov, PathModel::Shapley];

    pub fn as_str(self) -> &'static str {
        match self {
            PathModel::First => "first",
            PathModel::Last => "last",
            PathModel::Linear => "linear",
            PathModel::Markov => "markov",
            PathModel::Shapley => "shapley",
        }
    }

    pub fn parse(s: &str) -> Option<PathModel> {
        PathModel::ALL.into_iter().find(|m| m.as_str() == s)
    }
}

/// What one model attributes to one channel.
#[derive(Debug, Clone, PartialEq)]
pub struct ChannelResult {
    pub channel: u32,
    pub model: PathModel,
    pub conversions: f64,
    pub value: f64,
    /// Markov only.
    pub removal_effect: Option<f64>,
    /// Markov only: the value-weighted removal effect (ChannelAttribution's
    /// `removal_effects_conversion_value`).
    pub value_removal_effect: Option<f64>,
    /// Shapley only: the conversion-weighted mean of the channel's φ over the converting
    /// paths that contain it.
    pub shapley_value: Option<f64>,
}

/// Results of a path-level run, with the fits behind the data-driven models.
#[derive(Debug, Clone, PartialEq)]
pub struct PathResults {
    pub rows: Vec<ChannelResult>,
    pub markov: Option<MarkovFit>,
    pub shapley: Option<ShapleyFit>,
    /// Models whose weights were all zero and fell back to last touch.
    pub fell_back: Vec<PathModel>,
    /// Shapley: converting paths whose every φ was ≤ 0, credited to their last touch.
    pub shapley_fallback_paths: usize,
    /// Shapley: converting paths with more than `MAX_SHAPLEY_PLAYERS` distinct channels (only
    /// the most recently touched played).
    pub shapley_truncated_paths: usize,
}

/// Errors of the data-driven fits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PathError {
    Markov(FitError),
}

impl std::fmt::Display for PathError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PathError::Markov(e) => e.fmt(f),
        }
    }
}

impl std::error::Error for PathError {}

/// Attributes the paths' conversions and value to channels under each of `models`.
pub fn attribute_paths(rows: &[PathRow], models: &[PathModel], markov: MarkovParams) -> Result<PathResults, PathError> {
    let rows: Vec<&PathRow> = rows.iter().filter(|r| !r.channels.is_empty()).collect();
    let mut out = PathResults {
        rows: Vec::new(),
        markov: None,
        shapley: None,
        fell_back: Vec::new(),
        shapley_fallback_paths: 0,
        shapley_truncated_paths: 0,
    };
    let total_conv: f64 = rows.iter().map(|r| r.conversions).sum();
    let total_value: f64 = rows.iter().map(|r| r.value).sum();
    let weighted: Vec<WeightedPath> = rows
        .iter()
        .map(|r| WeightedPath { channels: r.channels.clone(), conversions: r.conversions, nulls: r.nulls })
        .collect();
    for &model in models {
        let mut acc: BTreeMap<u32, (f64, f64)> = BTreeMap::new();
        let global = match model {
            PathModel::Markov => {
                let values: Vec<f64> = rows.iter().map(|r| r.value).collect();
                let fit = fit_markov_valued(&weighted, &values, markov).map_err(PathError::Markov)?;
                let re = fit.removal_effects.clone();
                out.markov = Some(fit);
                Some(re)
            }
            PathModel::Shapley => {
                let fit = fit_shapley(&weighted);
                shapley_by_path(&rows, &fit, &mut out);
                out.shapley = Some(fit);
                continue;
            }
            _ => None,
        };
        let global = global.filter(|g: &BTreeMap<u32, f64>| g.values().sum::<f64>() > 0.0);
        let heuristic = match (model, &global) {
            (PathModel::Markov | PathModel::Shapley, None) => {
                out.fell_back.push(model);
                PathModel::Last
            }
            _ => model,
        };
        if let Some(share) = &global {
            // Channel share of the totals, as ChannelAttribution reports data-driven models:
            // conversions by the removal effects, value by the value-weighted ones.
            let sum: f64 = share.values().sum();
            let by_value =
                out.markov.as_ref().map(|f| &f.value_removal_effects).filter(|v| v.values().sum::<f64>() > 0.0);
            let value_sum: f64 = by_value.map_or(sum, |v| v.values().sum());
            for (&c, &s) in share {
                let vs = by_value.map_or(s, |v| v.get(&c).copied().unwrap_or(0.0));
                acc.insert(c, (total_conv * s / sum, total_value * vs / value_sum));
            }
        } else {
            for r in &rows {
                let n = r.channels.len() as f64;
                let mut credit = |c: u32, w: f64| {
                    let e = acc.entry(c).or_default();
                    e.0 += r.conversions * w;
                    e.1 += r.value * w;
                };
                match heuristic {
                    PathModel::First => credit(r.channels[0], 1.0),
                    PathModel::Last => credit(r.channels[r.channels.len() - 1], 1.0),
                    _ => r.channels.iter().for_each(|&c| credit(c, 1.0 / n)),
                }
            }
        }
        let removal = out.markov.as_ref().filter(|_| model == PathModel::Markov);
        for (channel, (conversions, value)) in acc {
            let removal_effect = removal.and_then(|f| f.removal_effects.get(&channel).copied());
            let value_removal_effect = removal.and_then(|f| f.value_removal_effects.get(&channel).copied());
            out.rows.push(ChannelResult {
                channel,
                model,
                conversions,
                value,
                removal_effect,
                value_removal_effect,
                shapley_value: None,
            });
        }
    }
    Ok(out)
}

/// The players of a path's game: its distinct channels, the most recently touched first
/// dropped beyond `MAX_SHAPLEY_PLAYERS` (so the last ones play). Returns them and whether
/// some were left out.
pub fn shapley_players(touches: &[u32]) -> (Vec<u32>, bool) {
    let mut players: Vec<u32> = Vec::new();
    for &c in touches.iter().rev() {
        if !players.contains(&c) {
            players.push(c);
        }
    }
    let truncated = players.len() > MAX_SHAPLEY_PLAYERS;
    players.truncate(MAX_SHAPLEY_PLAYERS);
    (players, truncated)
}

/// Per-touch Shapley weights of one path: max(φ of its channel, 0), normalised over the
/// touches; None when every weight is 0. Also returns the players with their φ.
/// One game, solved directly (no memo to allocate: the ledger calls this once per conversion).
pub fn shapley_touch_weights(fit: &ShapleyFit, touches: &[u32]) -> (Option<Vec<f64>>, Vec<(u32, f64)>, bool) {
    let (players, truncated) = shapley_players(touches);
    let phi = fit.values(&players);
    touch_shares(touches, players.into_iter().zip(phi).collect(), truncated)
}

/// The games of many paths over one fit, each distinct channel set solved once.
pub struct ShapleyGames<'a> {
    fit: &'a ShapleyFit,
    /// φ per sorted player set, in the set's order.
    solved: HashMap<Vec<u32>, Vec<f64>>,
}

impl<'a> ShapleyGames<'a> {
    pub fn new(fit: &'a ShapleyFit) -> Self {
        ShapleyGames { fit, solved: HashMap::new() }
    }

    /// As `shapley_touch_weights`, each distinct player set solved once.
    pub fn touch_weights(&mut self, touches: &[u32]) -> (Option<Vec<f64>>, Vec<(u32, f64)>, bool) {
        let (players, truncated) = shapley_players(touches);
        let mut sorted = players.clone();
        sorted.sort_unstable();
        if !self.solved.contains_key(&sorted) {
            self.solved.insert(sorted.clone(), self.fit.values(&sorted));
        }
        let phi = &self.solved[&sorted];
        let played: Vec<(u32, f64)> =
            players.into_iter().map(|p| (p, sorted.binary_search(&p).map_or(0.0, |i| phi[i]))).collect();
        touch_shares(touches, played, truncated)
    }
}

/// Each touch's max(φ of its channel, 0), normalised (None when all are 0).
fn touch_shares(
    touches: &[u32],
    played: Vec<(u32, f64)>,
    truncated: bool,
) -> (Option<Vec<f64>>, Vec<(u32, f64)>, bool) {
    let raw: Vec<f64> =
        touches.iter().map(|c| played.iter().find(|(p, _)| p == c).map_or(0.0, |(_, v)| v.max(0.0))).collect();
    let sum: f64 = raw.iter().sum();
    let weights = (sum > 0.0).then(|| raw.iter().map(|w| w / sum).collect());
    (weights, played, truncated)
}

/// Per channel, the conversion-weighted mean of its φ over the converting paths whose game it
/// played (what reports show as a channel's Shapley value).
#[derive(Debug, Default)]
pub struct MeanShapley {
    /// Σ conversions × φ and Σ conversions, per channel.
    sums: BTreeMap<u32, (f64, f64)>,
}

impl MeanShapley {
    /// Adds one path's players (as `touch_weights` returns them) with its conversions.
    pub fn add(&mut self, played: &[(u32, f64)], conversions: f64) {
        for (c, phi) in played {
            let e = self.sums.entry(*c).or_default();
            e.0 += conversions * phi;
            e.1 += conversions;
        }
    }

    /// The mean φ of `channel`; None when it played in no converting path.
    pub fn get(&self, channel: u32) -> Option<f64> {
        self.sums.get(&channel).filter(|(_, n)| *n > 0.0).map(|(s, n)| s / n)
    }

    /// Every channel's mean φ, by channel id.
    pub fn means(&self) -> BTreeMap<u32, f64> {
        self.sums.keys().filter_map(|c| Some((*c, self.get(*c)?))).collect()
    }
}

/// Shapley at path level (DESIGN §4): each converting path plays its own game; its
/// conversions and value go to its touches by their shares.
fn shapley_by_path(rows: &[&PathRow], fit: &ShapleyFit, out: &mut PathResults) {
    let mut acc: BTreeMap<u32, (f64, f64)> = BTreeMap::new();
    let mut mean = MeanShapley::default();
    let mut games = ShapleyGames::new(fit);
    for r in rows.iter().filter(|r| r.conversions > 0.0 || r.value != 0.0) {
        let (weights, played, truncated) = games.touch_weights(&r.channels);
        out.shapley_truncated_paths += usize::from(truncated);
        mean.add(&played, r.conversions);
        let weights = weights.unwrap_or_else(|| {
            out.shapley_fallback_paths += 1;
            let mut last = vec![0.0; r.channels.len()];
            last[r.channels.len() - 1] = 1.0;
            last
        });
        for (c, w) in r.channels.iter().zip(weights) {
            let e = acc.entry(*c).or_default();
            e.0 += r.conversions * w;
            e.1 += r.value * w;
        }
    }
    for (channel, (conversions, value)) in acc {
        let shapley_value = mean.get(channel);
        out.rows.push(ChannelResult {
            channel,
            model: PathModel::Shapley,
            conversions,
            value,
            removal_effect: None,
            value_removal_effect: None,
            shapley_value,
        });
    }
}
