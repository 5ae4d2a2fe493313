//! `attrib paths`: path-level attribution over ChannelAttribution's input format.
//!
//! Input: CSV with a `path` column like `"facebook > email > direct"`, `total_conversions`,
//! and optionally `total_conversion_value` and `total_null`. Column names and the path
//! separator are configurable; `;` or `,` delimiters are detected from the header.

use anyhow::{bail, Context, Result};
use attrib_models::{attribute_paths, MarkovParams, PathModel, PathRow};
use std::collections::BTreeMap;
use std::fmt::Write;
use std::path::Path;

/// How to read the input and what to print.
#[derive(Debug, Clone)]
pub struct PathsOptions {
    pub models: Vec<PathModel>,
    pub markov: MarkovParams,
    pub separator: String,
    pub path_column: String,
    pub conversions_column: String,
    pub value_column: String,
    pub null_column: String,
    pub format: OutputFormat,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum OutputFormat {
    Table,
    Json,
    Csv,
}

/// One line of output.
#[derive(Debug, Clone, serde::Serialize)]
pub struct PathsResultRow {
    pub channel: String,
    pub model: &'static str,
    pub conversions: f64,
    pub value: f64,
    pub removal_effect: Option<f64>,
    /// Markov: the value-weighted removal effect.
    pub value_removal_effect: Option<f64>,
    /// Shapley: the conversion-weighted mean φ over the converting paths with the channel.
    pub shapley_value: Option<f64>,
}

/// Reads the summary file into path rows over channel ids, with the channel names.
pub fn read_paths(text: &str, o: &PathsOptions) -> Result<(Vec<String>, Vec<PathRow>, usize)> {
    let header = text.lines().next().unwrap_or("");
    let delimiter = if header.matches(';').count() > header.matches(',').count() { b';' } else { b',' };
    let mut reader = csv::ReaderBuilder::new().delimiter(delimiter).trim(csv::Trim::All).from_reader(text.as_bytes());
    let headers = reader.headers().context("reading the header")?.clone();
    let col = |name: &str| headers.iter().position(|h| h == name);
    let Some(path_col) = col(&o.path_column) else {
        bail!("no column {:?} in the header ({})", o.path_column, headers.iter().collect::<Vec<_>>().join(", "));
    };
    let Some(conv_col) = col(&o.conversions_column) else {
        bail!("no column {:?} in the header", o.conversions_column);
    };
    let (value_col, null_col) = (col(&o.value_column), col(&o.null_column));
    let mut raw: Vec<(Vec<String>, f64, f64, f64)> = Vec::new();
    let mut empty = 0;
    for (i, rec) in reader.records().enumerate() {
        let rec = rec.with_context(|| format!("row {}", i + 2))?;
        let number = |c: Option<usize>, what: &str| -> Result<f64> {
            let Some(c) = c else { return Ok(0.0) };
            let s = rec.get(c).unwrap_or("").trim();
            if s.is_empty() {
                return Ok(0.0);
            }
            let v: f64 = s.parse().with_context(|| format!("row {}: {what} {s:?} is not a number", i + 2))?;
            if !v.is_finite() || v < 0.0 {
                bail!("row {}: {what} must be a non-negative number (got {s})", i + 2);
            }
            Ok(v)
        };
        let channels: Vec<String> = rec
            .get(path_col)
            .unwrap_or("")
            .split(o.separator.as_str())
            .map(|c| c.trim().to_string())
            .filter(|c| !c.is_empty())
            .collect();
        let conv = number(Some(conv_col), &o.conversions_column)?;
        let value = number(value_col, &o.value_column)?;
        let null = number(null_col, &o.null_column)?;
        if channels.is_empty() {
            empty += 1;
            continue;
        }
        raw.push((channels, conv, value, null));
    }
    // Canonical order, so the order of input rows never changes a float sum.
    raw.sort_by(|a, b| a.0.cmp(&b.0).then(a.1.total_cmp(&b.1)).then(a.2.total_cmp(&b.2)).then(a.3.total_cmp(&b.3)));
    let mut names: Vec<String> = raw.iter().flat_map(|r| r.0.iter().cloned()).collect();
    names.sort();
    names.dedup();
    let id: BTreeMap<&str, u32> = names.iter().enumerate().map(|(i, n)| (n.as_str(), i as u32)).collect();
    let rows = raw
        .iter()
        .map(|(c, conv, value, null)| PathRow {
            channels: c.iter().map(|n| id[n.as_str()]).collect(),
            conversions: *conv,
            value: *value,
            nulls: *null,
        })
        .collect();
    Ok((names, rows, empty))
}

/// Runs the models and renders the result in the requested format.
pub fn run(input: &Path, o: &PathsOptions) -> Result<String> {
    let text = std::fs::read_to_string(input).with_context(|| format!("reading {}", input.display()))?;
    let (names, rows, empty) = read_paths(&text, o)?;
    let res = attribute_paths(&rows, &o.models, o.markov)?;
    let out: Vec<PathsResultRow> = res
        .rows
        .iter()
        .map(|r| PathsResultRow {
            channel: names[r.channel as usize].clone(),
            model: r.model.as_str(),
            conversions: r.conversions,
            value: r.value,
            removal_effect: r.removal_effect,
            value_removal_effect: r.value_removal_effect,
            shapley_value: r.shapley_value,
        })
        .collect();
    let (total_conv, total_value): (f64, f64) =
        rows.iter().fold((0.0, 0.0), |a, r| (a.0 + r.conversions, a.1 + r.value));
    Ok(match o.format {
        OutputFormat::Csv => {
            let mut w = csv::Writer::from_writer(Vec::new());
            w.write_record([
                "channel",
                "model",
                "conversions",
                "value",
                "removal_effect",
                "value_removal_effect",
                "shapley_value",
            ])?;
            for r in &out {
                let re = r.removal_effect.map(|v| v.to_string()).unwrap_or_default();
                let vre = r.value_removal_effect.map(|v| v.to_string()).unwrap_or_default();
                let phi = r.shapley_value.map(|v| v.to_string()).unwrap_or_default();
                let (conversions, value) = (r.conversions.to_string(), r.value.to_string());
                w.write_record([r.channel.as_str(), r.model, &conversions, &value, &re, &vre, &phi])?;
            }
            String::from_utf8(w.into_inner()?)?
        }
        OutputFormat::Json => {
            let doc = serde_json::json!({
                "rows": out,
                "totals": {"conversions": total_conv, "value": total_value},
                "markov": res.markov.as_ref().map(|f| serde_json::json!({
                    "order": f.params.order, "collapse_repeats": f.params.collapse_repeats,
                    "p_conversion": f.p_conversion, "expected_value": f.expected_value, "states": f.states,
                    "transition_matrix": transition_matrix(f, &names)})),
                "fell_back_to_last_touch": res.fell_back.iter().map(|m| m.as_str()).collect::<Vec<_>>(),
                "shapley": res.shapley.as_ref().map(|f| serde_json::json!({
                    "coalitions_seen": f.coalitions_seen(),
                    "paths_credited_by_last_touch": res.shapley_fallback_paths,
                    "paths_with_more_than_16_channels": res.shapley_truncated_paths})),
                "empty_paths_skipped": empty,
            });
            serde_json::to_string_pretty(&doc)? + "\n"
        }
        OutputFormat::Table => {
            let mut s = String::new();
            let _ = writeln!(
                s,
                "{:<24}{:<10}{:>14}{:>16}{:>16}{:>22}{:>15}",
                "channel", "model", "conversions", "value", "removal_effect", "value_removal_effect", "shapley_value"
            );
            for r in &out {
                let re = r.removal_effect.map(|v| format!("{v:.6}")).unwrap_or_default();
                let vre = r.value_removal_effect.map(|v| format!("{v:.6}")).unwrap_or_default();
                let phi = r.shapley_value.map(|v| format!("{v:.6}")).unwrap_or_default();
                let (channel, model, conversions, value) = (&r.channel, r.model, r.conversions, r.value);
                let _ =
                    writeln!(s, "{channel:<24}{model:<10}{conversions:>14.4}{value:>16.2}{re:>16}{vre:>22}{phi:>15}");
            }
            let _ =
                writeln!(s, "totals: {total_conv:.4} conversions, {total_value:.2} value (every model sums to these)");
            if let Some(f) = &res.markov {
                let _ = writeln!(
                    s,
                    "markov: order {}, P(conversion) = {:.6}, {} states",
                    f.params.order, f.p_conversion, f.states
                );
            }
            for m in &res.fell_back {
                let _ = writeln!(s, "{}: every weight was 0; fell back to last touch", m.as_str());
            }
            if res.shapley_fallback_paths > 0 {
                let n = res.shapley_fallback_paths;
                let _ =
                    writeln!(s, "shapley: {n} converting paths had no channel with φ > 0 and went to their last touch");
            }
            if res.shapley_truncated_paths > 0 {
                let n = res.shapley_truncated_paths;
                let _ = writeln!(s, "shapley: {n} paths had more than 16 channels; the 16 most recent played");
            }
            if empty > 0 {
                let _ = writeln!(s, "{empty} rows with an empty path were skipped");
            }
            s
        }
    })
}

/// The fitted chain as ChannelAttribution's `transition_matrix` (`out_more = TRUE`): one row
/// per transition, states named by their channels (`a,b` at order 2) or `(start)`,
/// `(conversion)`, `(null)`.
fn transition_matrix(fit: &attrib_models::MarkovFit, names: &[String]) -> Vec<serde_json::Value> {
    use attrib_models::ChainState;
    let name = |s: &ChainState| match s {
        ChainState::Start => "(start)".to_string(),
        ChainState::Conversion => "(conversion)".to_string(),
        ChainState::Null => "(null)".to_string(),
        ChainState::Channels(c) => c.iter().map(|i| names[*i as usize].as_str()).collect::<Vec<_>>().join(","),
    };
    fit.transitions
        .iter()
        .map(|t| {
            serde_json::json!({
                "channel_from": name(&t.from),
                "channel_to": name(&t.to),
                "transition_probability": t.probability,
            })
        })
        .collect()
}
