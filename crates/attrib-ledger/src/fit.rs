//! Fitting the data-driven models on journeys (DESIGN.md §4, issue: training paths).
//!
//! Training paths: one converting path per conversion (the channels of its touches in its
//! window) and one non-converting path per person without any conversion (the channels of
//! their touches in the trailing lookback before the data's end; the lookback is the longest
//! conversion window). Paths are aggregated and ordered canonically before fitting, so a fit
//! and its `model_version` depend only on the set of journeys.

use crate::credits::{fnv1a, AttributionConfig};
use attrib_contract::Timestamp;
use attrib_journeys::{ConversionType, Journey};
use attrib_models::{fit_markov, fit_shapley, MarkovParams, Model, WeightedPath};
use serde::Serialize;
use std::borrow::Borrow;
use std::collections::{BTreeMap, HashMap};

/// The fitted value of every channel under one data-driven model.
#[derive(Debug, Clone, PartialEq)]
pub struct ChannelValues {
    pub model: Model,
    pub version: String,
    /// Removal effect (markov) or Shapley value (shapley) per channel name.
    pub values: HashMap<String, f64>,
}

impl ChannelValues {
    /// The credit weight of a touch on `channel`: its value floored at 0.
    pub fn weight(&self, channel: &str) -> f64 {
        self.values.get(channel).copied().unwrap_or(0.0).max(0.0)
    }
}

/// What a fit saw and produced, written to `model_fits.json`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FitReport {
    pub model: String,
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
    /// Shapley: v(N), the conversion rate of journeys touching every channel.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub v_all: Option<f64>,
    /// Removal effect (markov) or Shapley value (shapley) per channel.
    pub channel_values: BTreeMap<String, f64>,
    /// Conversions whose touches all had weight 0 under this model and were credited by last touch.
    pub fallbacks_to_last_touch: u64,
    /// Set when the fit failed; every conversion then falls back to last touch.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// The fits of one attribution run.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DataDrivenFits {
    pub values: Vec<ChannelValues>,
    pub reports: Vec<FitReport>,
}

impl DataDrivenFits {
    pub fn get(&self, model: Model) -> Option<&ChannelValues> {
        self.values.iter().find(|v| v.model == model)
    }
}

/// Aggregated training paths over channel names.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TrainingSet {
    /// Channel names; a path's ids index this list (sorted, so ids are stable).
    pub channels: Vec<String>,
    pub paths: Vec<WeightedPath>,
    pub converting: u64,
    pub non_converting: u64,
}

/// Builds the training paths of the journeys. `data_end` is the latest event time.
/// Journeys are taken one at a time (by value or by reference), so the whole population is
/// never materialised at once.
pub fn training_set<'a, J: Borrow<Journey<'a>>>(
    journeys: impl IntoIterator<Item = J>,
    config: &AttributionConfig,
    data_end: Option<Timestamp>,
) -> TrainingSet {
    let lb = &config.journeys.lookback_days;
    let trailing = ConversionType::ALL.iter().map(|k| lb.window(*k)).max().unwrap_or(lb.window(ConversionType::Order));
    let mut by_path: BTreeMap<Vec<&str>, (f64, f64)> = BTreeMap::new();
    let (mut converting, mut non_converting) = (0, 0);
    for j in journeys {
        let j = j.borrow();
        if j.conversions.is_empty() {
            let Some(end) = data_end else { continue };
            let start = end.saturating_sub(trailing);
            let chans: Vec<&str> =
                j.touches.iter().filter(|t| t.time > start && t.time <= end).map(|t| t.channel.as_str()).collect();
            if !chans.is_empty() {
                by_path.entry(chans).or_default().1 += 1.0;
                non_converting += 1;
            }
        } else {
            for c in &j.conversions {
                let touches = j.touches_for(c, lb.window(c.kind));
                if !touches.is_empty() {
                    by_path.entry(touches.iter().map(|t| t.channel.as_str()).collect()).or_default().0 += 1.0;
                    converting += 1;
                }
            }
        }
    }
    let mut channels: Vec<String> = by_path.keys().flatten().map(|c| c.to_string()).collect();
    channels.sort();
    channels.dedup();
    let id: HashMap<&str, u32> = channels.iter().enumerate().map(|(i, c)| (c.as_str(), i as u32)).collect();
    let paths = by_path
        .into_iter()
        .map(|(p, (conversions, nulls))| WeightedPath {
            channels: p.iter().map(|c| id[c]).collect(),
            conversions,
            nulls,
        })
        .collect();
    TrainingSet { channels, paths, converting, non_converting }
}

/// A stable fingerprint of the training set and the parameters of a fit.
fn fit_version(model: Model, set: &TrainingSet, params: &str) -> String {
    let mut text = format!("{model};{params};");
    for p in &set.paths {
        for c in &p.channels {
            text.push_str(&set.channels[*c as usize]);
            text.push('>');
        }
        text.push_str(&format!(":{}:{};", p.conversions, p.nulls));
    }
    format!("{model}-{:016x}", fnv1a(text.as_bytes()))
}

/// Fits every data-driven model enabled in `config`.
pub fn fit_data_driven<'a, J: Borrow<Journey<'a>>>(
    journeys: impl IntoIterator<Item = J>,
    config: &AttributionConfig,
    data_end: Option<Timestamp>,
) -> DataDrivenFits {
    let mut fits = DataDrivenFits::default();
    if !config.models.iter().any(|m| m.is_data_driven()) {
        return fits;
    }
    let set = training_set(journeys, config, data_end);
    let named = |values: &BTreeMap<u32, f64>| -> BTreeMap<String, f64> {
        values.iter().map(|(c, v)| (set.channels[*c as usize].clone(), *v)).collect()
    };
    for &model in config.models.iter().filter(|m| m.is_data_driven()) {
        let mut report = FitReport {
            model: model.to_string(),
            model_version: String::new(),
            markov: None,
            converting_paths: set.converting,
            non_converting_paths: set.non_converting,
            unique_paths: set.paths.len(),
            p_conversion: None,
            states: None,
            v_all: None,
            channel_values: BTreeMap::new(),
            fallbacks_to_last_touch: 0,
            error: None,
        };
        let result: Result<BTreeMap<String, f64>, String> = match model {
            Model::Markov => {
                let p = config.markov;
                report.markov = Some(p);
                report.model_version =
                    fit_version(model, &set, &format!("order={};collapse={}", p.order, p.collapse_repeats));
                fit_markov(&set.paths, p).map_err(|e| e.to_string()).map(|f| {
                    report.p_conversion = Some(f.p_conversion);
                    report.states = Some(f.states);
                    named(&f.removal_effects)
                })
            }
            _ => {
                report.model_version = fit_version(model, &set, "exact");
                fit_shapley(&set.paths).map_err(|e| e.to_string()).map(|f| {
                    report.v_all = Some(f.v_all);
                    named(&f.values)
                })
            }
        };
        match result {
            Ok(values) => {
                report.channel_values = values.clone();
                fits.values.push(ChannelValues {
                    model,
                    version: report.model_version.clone(),
                    values: values.into_iter().collect(),
                });
            }
            Err(e) => {
                report.error = Some(e);
                fits.values.push(ChannelValues {
                    model,
                    version: report.model_version.clone(),
                    values: HashMap::new(),
                });
            }
        }
        fits.reports.push(report);
    }
    fits
}
