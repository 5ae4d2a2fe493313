//! Fitting the data-driven models on journeys (DESIGN.md §4), one fit per conversion type.
//!
//! Training paths of a type: one converting path per conversion of that type (the channels
//! of its touches in its window), and one non-converting path per person with no conversion
//! of that type (the channels of their touches in the trailing lookback before the data's
//! end; the lookback is the longest conversion window). So a free signup never weighs like a
//! deal. Paths are aggregated and ordered canonically before fitting, so a fit and its
//! `model_version` depend only on the set of journeys.

use crate::credits::{fnv1a, AttributionConfig, FitCounts};
use attrib_contract::{Duration, Timestamp};
use attrib_journeys::{ConversionType, Journey};
use attrib_models::{
    fit_markov, fit_shapley, shapley_touch_weights, MarkovParams, MeanShapley, Model, ShapleyFit, ShapleyGames,
    WeightedPath,
};
use serde::Serialize;
use std::collections::{BTreeMap, HashMap};

/// What a data-driven model learnt for one conversion type.
#[derive(Debug, Clone, PartialEq)]
pub enum Fitted {
    /// Removal effect per channel name.
    Markov(HashMap<String, f64>),
    /// The game (conversion rate per channel set) over the training set's channel ids.
    Shapley { game: ShapleyFit, ids: HashMap<String, u32> },
    /// The fit failed (see its report): every weight is 0, conversions go to last touch.
    Failed,
}

/// One data-driven model fitted for one conversion type.
#[derive(Debug, Clone, PartialEq)]
pub struct TypeFit {
    pub model: Model,
    pub kind: ConversionType,
    pub version: String,
    pub fitted: Fitted,
}

impl TypeFit {
    /// The weights (≥ 0, not normalised) of a conversion's touches on `channels`, in touch
    /// order, and whether Shapley left players out (more than 16 distinct channels).
    pub fn touch_weights(&self, channels: &[&str]) -> (Vec<f64>, bool) {
        match &self.fitted {
            Fitted::Markov(re) => {
                (channels.iter().map(|c| re.get(*c).copied().unwrap_or(0.0).max(0.0)).collect(), false)
            }
            Fitted::Shapley { game, ids } => {
                // A channel the training paths never had is still a player: every set with it is unseen.
                let mut unseen: Vec<&str> = Vec::new();
                let touch_ids: Vec<u32> = channels
                    .iter()
                    .map(|c| match ids.get(*c) {
                        Some(id) => *id,
                        None => {
                            let k = unseen.iter().position(|u| u == c).unwrap_or_else(|| {
                                unseen.push(c);
                                unseen.len() - 1
                            });
                            (ids.len() + k) as u32
                        }
                    })
                    .collect();
                let (weights, _, truncated) = shapley_touch_weights(game, &touch_ids);
                (weights.unwrap_or_else(|| vec![0.0; channels.len()]), truncated)
            }
            Fitted::Failed => (vec![0.0; channels.len()], false),
        }
    }
}

/// What a fit saw and produced, written to `model_fits.json` (one per model and type).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FitReport {
    pub model: String,
    pub conversion_type: String,
    pub model_version: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub markov: Option<MarkovParams>,
    pub converting_paths: u64,
    pub non_converting_paths: u64,
    pub unique_paths: usize,
    /// Markov: P(conversion) of the fitted chain.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub p_conversion: Option<f64>,
    /// Markov: the number of transient states solved.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub states: Option<usize>,
    /// Markov: the removal effect per channel. Shapley: per channel, the conversion-weighted
    /// mean of its φ over the converting training paths that contain it.
    pub channel_values: BTreeMap<String, f64>,
    /// Shapley: the game, CR per distinct channel set seen (`a+b` names, sorted).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub coalition_rates: Option<BTreeMap<String, f64>>,
    /// Conversions whose touches all had weight 0 under this fit and were credited by last touch.
    pub fallbacks_to_last_touch: u64,
    /// Shapley: conversions with more than 16 distinct channels (only the 16 most recent played).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub truncated_conversions: Option<u64>,
    /// Set when the fit failed; every conversion of the type then falls back to last touch.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// The fits of one attribution run.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DataDrivenFits {
    pub fits: Vec<TypeFit>,
    pub reports: Vec<FitReport>,
}

impl DataDrivenFits {
    pub fn get(&self, model: Model, kind: ConversionType) -> Option<&TypeFit> {
        self.fits.iter().find(|f| f.model == model && f.kind == kind)
    }
}

/// Adds what attributing some conversions counted to their fit reports (the fits themselves
/// stay untouched, read by the attributing threads meanwhile).
pub fn count_into(reports: &mut [FitReport], counts: &FitCounts) {
    fn report(reports: &mut [FitReport], model: Model, kind: ConversionType) -> Option<&mut FitReport> {
        reports.iter_mut().find(|r| r.model == model.as_str() && r.conversion_type == kind.as_str())
    }
    for ((model, kind), n) in &counts.fallbacks {
        if let Some(r) = report(reports, *model, *kind) {
            r.fallbacks_to_last_touch += n;
        }
    }
    for ((model, kind), n) in &counts.truncated {
        if let Some(r) = report(reports, *model, *kind) {
            *r.truncated_conversions.get_or_insert(0) += n;
        }
    }
}

/// Aggregated training paths of one conversion type, over channel names.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TrainingSet {
    /// Channel names; a path's ids index this list (sorted, so ids are stable).
    pub channels: Vec<String>,
    pub paths: Vec<WeightedPath>,
    pub converting: u64,
    pub non_converting: u64,
}

/// Paths of one type as they accumulate: channel path → (conversions, nulls).
#[derive(Default)]
struct PathCounts<'a> {
    by_path: BTreeMap<Vec<&'a str>, (f64, f64)>,
    converting: u64,
    non_converting: u64,
}

impl PathCounts<'_> {
    fn into_set(self) -> TrainingSet {
        let mut channels: Vec<String> = self.by_path.keys().flatten().map(|c| c.to_string()).collect();
        channels.sort();
        channels.dedup();
        let id: HashMap<&str, u32> = channels.iter().enumerate().map(|(i, c)| (c.as_str(), i as u32)).collect();
        let paths = self
            .by_path
            .into_iter()
            .map(|(p, (conversions, nulls))| WeightedPath {
                channels: p.iter().map(|c| id[c]).collect(),
                conversions,
                nulls,
            })
            .collect();
        TrainingSet { channels, paths, converting: self.converting, non_converting: self.non_converting }
    }
}

/// The training paths of every conversion type, in `ConversionType::ALL` order, from the
/// journeys of `roots` (built one at a time, so the population is never held as journeys at
/// once), counted on up to `threads` threads (the counts are integers, so the split changes
/// nothing). `data_end` is the latest event time.
pub fn training_sets<'a, R: Sync>(
    roots: &[R],
    journey: impl Fn(&R) -> Journey<'a> + Sync,
    threads: usize,
    config: &AttributionConfig,
    data_end: Option<Timestamp>,
) -> Vec<(ConversionType, TrainingSet)> {
    let parts: Vec<&[R]> = roots.chunks(roots.len().div_ceil(threads.max(1)).max(1)).collect();
    let counted = crate::parallel::par_map(&parts, threads, |part| {
        let mut counts = TrainingCounts::new(config, data_end);
        part.iter().for_each(|r| counts.add(&journey(r)));
        counts
    });
    let mut counts = TrainingCounts::new(config, data_end);
    counted.into_iter().for_each(|c| counts.merge(c));
    counts.into_sets()
}

/// The training paths counted so far, per conversion type.
struct TrainingCounts<'c> {
    config: &'c AttributionConfig,
    data_end: Option<Timestamp>,
    /// The longest lookback: a non-converting journey's path is its touches in that window.
    trailing: Duration,
    by_type: Vec<PathCounts<'static>>,
}

impl<'c> TrainingCounts<'c> {
    fn new(config: &'c AttributionConfig, data_end: Option<Timestamp>) -> Self {
        let lb = &config.journeys.lookback_days;
        let trailing =
            ConversionType::ALL.iter().map(|k| lb.window(*k)).max().unwrap_or(lb.window(ConversionType::Order));
        let by_type = ConversionType::ALL.iter().map(|_| PathCounts::default()).collect();
        TrainingCounts { config, data_end, trailing, by_type }
    }

    fn add(&mut self, j: &Journey<'_>) {
        let lb = &self.config.journeys.lookback_days;
        // Channel names are 'static: the paths outlive the journey they came from.
        let mut trailing_path: Option<Vec<&'static str>> = None;
        for (kind, acc) in ConversionType::ALL.iter().zip(self.by_type.iter_mut()) {
            let mut converted = false;
            for c in j.conversions.iter().filter(|c| c.kind == *kind) {
                converted = true;
                let touches = j.touches_for(c, lb.window(c.kind));
                if !touches.is_empty() {
                    acc.by_path.entry(touches.iter().map(|t| t.channel.as_str()).collect()).or_default().0 += 1.0;
                    acc.converting += 1;
                }
            }
            if converted {
                continue;
            }
            let Some(end) = self.data_end else { continue };
            let path = trailing_path.get_or_insert_with(|| {
                let start = end.saturating_sub(self.trailing);
                j.touches.iter().filter(|t| t.time > start && t.time <= end).map(|t| t.channel.as_str()).collect()
            });
            if !path.is_empty() {
                acc.by_path.entry(path.clone()).or_default().1 += 1.0;
                acc.non_converting += 1;
            }
        }
    }

    fn merge(&mut self, other: TrainingCounts<'_>) {
        for (acc, more) in self.by_type.iter_mut().zip(other.by_type) {
            for (path, (conversions, nulls)) in more.by_path {
                let counts = acc.by_path.entry(path).or_default();
                counts.0 += conversions;
                counts.1 += nulls;
            }
            acc.converting += more.converting;
            acc.non_converting += more.non_converting;
        }
    }

    fn into_sets(self) -> Vec<(ConversionType, TrainingSet)> {
        ConversionType::ALL.iter().copied().zip(self.by_type.into_iter().map(PathCounts::into_set)).collect()
    }
}

/// A stable fingerprint of the training set and the parameters of a fit.
fn fit_version(model: Model, kind: ConversionType, set: &TrainingSet, params: &str) -> String {
    let mut text = format!("{model};{kind};{params};");
    for p in &set.paths {
        for c in &p.channels {
            text.push_str(&set.channels[*c as usize]);
            text.push('>');
        }
        text.push_str(&format!(":{}:{};", p.conversions, p.nulls));
    }
    format!("{model}-{kind}-{:016x}", fnv1a(text.as_bytes()))
}

/// Fits every data-driven model enabled in `config`, once per conversion type, on the journeys
/// of `roots` (see `training_sets`).
pub fn fit_data_driven<'a, R: Sync>(
    roots: &[R],
    journey: impl Fn(&R) -> Journey<'a> + Sync,
    threads: usize,
    config: &AttributionConfig,
    data_end: Option<Timestamp>,
) -> DataDrivenFits {
    if !config.models.iter().any(|m| m.is_data_driven()) {
        return DataDrivenFits::default();
    }
    fit_sets(training_sets(roots, journey, threads, config, data_end), config)
}

fn fit_sets(sets: Vec<(ConversionType, TrainingSet)>, config: &AttributionConfig) -> DataDrivenFits {
    let mut fits = DataDrivenFits::default();
    for (kind, set) in sets {
        for &model in config.models.iter().filter(|m| m.is_data_driven()) {
            let (fit, report) = fit_one(model, kind, &set, config.markov);
            fits.fits.push(fit);
            fits.reports.push(report);
        }
    }
    fits
}

fn fit_one(model: Model, kind: ConversionType, set: &TrainingSet, markov: MarkovParams) -> (TypeFit, FitReport) {
    let name = |c: &u32| set.channels[*c as usize].clone();
    let mut report = FitReport {
        model: model.to_string(),
        conversion_type: kind.to_string(),
        model_version: String::new(),
        markov: None,
        converting_paths: set.converting,
        non_converting_paths: set.non_converting,
        unique_paths: set.paths.len(),
        p_conversion: None,
        states: None,
        channel_values: BTreeMap::new(),
        coalition_rates: None,
        fallbacks_to_last_touch: 0,
        truncated_conversions: None,
        error: None,
    };
    let fitted = match model {
        Model::Markov => {
            report.markov = Some(markov);
            let params = format!("order={};collapse={}", markov.order, markov.collapse_repeats);
            report.model_version = fit_version(model, kind, set, &params);
            match fit_markov(&set.paths, markov) {
                Ok(f) => {
                    report.p_conversion = Some(f.p_conversion);
                    report.states = Some(f.states);
                    report.channel_values = f.removal_effects.iter().map(|(c, v)| (name(c), *v)).collect();
                    Fitted::Markov(report.channel_values.clone().into_iter().collect())
                }
                Err(e) => {
                    report.error = Some(e.to_string());
                    Fitted::Failed
                }
            }
        }
        _ => {
            report.model_version = fit_version(model, kind, set, "per-journey");
            let game = fit_shapley(&set.paths);
            report.truncated_conversions = Some(0);
            report.coalition_rates = Some(
                game.rates().into_iter().map(|(s, r)| (s.iter().map(name).collect::<Vec<_>>().join("+"), r)).collect(),
            );
            // φ of each channel over the converting training paths that contain it.
            let (mut games, mut mean) = (ShapleyGames::new(&game), MeanShapley::default());
            for p in set.paths.iter().filter(|p| p.conversions > 0.0) {
                mean.add(&games.touch_weights(&p.channels).1, p.conversions);
            }
            report.channel_values = mean.means().iter().map(|(c, v)| (name(c), *v)).collect();
            let ids = set.channels.iter().enumerate().map(|(i, c)| (c.clone(), i as u32)).collect();
            Fitted::Shapley { game, ids }
        }
    };
    (TypeFit { model, kind, version: report.model_version.clone(), fitted }, report)
}
