//! `attrib paths`: path-level attribution over ChannelAttribution's input format.
//!
//! Input: CSV with a `path` column like `"facebook > email > direct"`, `total_conversions`,
//! and optionally `total_conversion_value` and `total_null`. Column names and the path
//! separator are configurable; `;` or `,` delimiters are detected from the header.

use anyhow::{bail, Context, Result};
use attrib_models::{attribute_paths, MarkovParams, PathModel, PathRow};
use hashbrown::HashMap;
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

/// Field `c` of a record as trimmed text (empty when absent or not UTF-8).
fn field(rec: &csv::ByteRecord, c: usize) -> &str {
    rec.get(c).and_then(|b| std::str::from_utf8(b).ok()).unwrap_or("").trim()
}

/// Reads the summary file into path rows over channel ids, with the channel names.
pub fn read_paths(text: &str, o: &PathsOptions) -> Result<(Vec<String>, Vec<PathRow>, usize)> {
    let header = text.lines().next().unwrap_or("");
    let delimiter = if header.matches(';').count() > header.matches(',').count() { b';' } else { b',' };
    let mut reader = csv::ReaderBuilder::new().delimiter(delimiter).from_reader(text.as_bytes());
    let headers: Vec<String> =
        reader.headers().context("reading the header")?.iter().map(|h| h.trim().to_string()).collect();
    let col = |name: &str| headers.iter().position(|h| h == name);
    let Some(path_col) = col(&o.path_column) else {
        bail!("no column {:?} in the header ({})", o.path_column, headers.join(", "));
    };
    let Some(conv_col) = col(&o.conversions_column) else {
        bail!("no column {:?} in the header", o.conversions_column);
    };
    let (value_col, null_col) = (col(&o.value_column), col(&o.null_column));
    // Channel names interned as they come (ids in order of first sight, renumbered below).
    let mut seen: HashMap<String, u32> = HashMap::new();
    let mut rows: Vec<PathRow> = Vec::new();
    let mut empty = 0;
    // Bytes, not strings: the text is UTF-8 already, and the fields are trimmed here.
    let mut rec = csv::ByteRecord::new();
    let mut line = 1;
    while reader.read_byte_record(&mut rec).with_context(|| format!("row {}", line + 1))? {
        line += 1;
        let number = |c: Option<usize>, what: &str| -> Result<f64> {
            let Some(c) = c else { return Ok(0.0) };
            let s = field(&rec, c);
            if s.is_empty() {
                return Ok(0.0);
            }
            let v: f64 = s.parse().with_context(|| format!("row {line}: {what} {s:?} is not a number"))?;
            if !v.is_finite() || v < 0.0 {
                bail!("row {line}: {what} must be a non-negative number (got {s})");
            }
            Ok(v)
        };
        let conversions = number(Some(conv_col), &o.conversions_column)?;
        let value = number(value_col, &o.value_column)?;
        let nulls = number(null_col, &o.null_column)?;
        let mut channels = Vec::new();
        for name in field(&rec, path_col).split(o.separator.as_str()).map(str::trim) {
            if name.is_empty() {
                continue;
            }
            let next = seen.len() as u32;
            channels.push(match seen.get(name) {
                Some(id) => *id,
                None => *seen.entry(name.to_string()).or_insert(next),
            });
        }
        if channels.is_empty() {
            empty += 1;
            continue;
        }
        rows.push(PathRow { channels, conversions, value, nulls });
    }
    // Ids in name order, so the rows' canonical order below is the order of their names.
    let mut names: Vec<String> = seen.keys().cloned().collect();
    names.sort();
    let mut rank = vec![0u32; names.len()];
    for (sorted, n) in names.iter().enumerate() {
        rank[seen[n] as usize] = sorted as u32;
    }
    for r in &mut rows {
        r.channels.iter_mut().for_each(|c| *c = rank[*c as usize]);
    }
    Ok((names, canonical_order(rows), empty))
}

/// The rows in an order that depends only on their contents, so the order of the input never
/// changes a float sum: by a fixed 64-bit mix of the path and the numbers' bits (cheap to
/// compare), ties broken by the path itself.
fn canonical_order(rows: Vec<PathRow>) -> Vec<PathRow> {
    let mix = |r: &PathRow| {
        r.channels.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, c| (h ^ u64::from(*c)).wrapping_mul(0x0100_0000_01b3))
    };
    // Non-negative floats order like their bits.
    let mut keys: Vec<(u64, u64, u64, u64, usize)> = rows
        .iter()
        .enumerate()
        .map(|(i, r)| (mix(r), r.conversions.to_bits(), r.value.to_bits(), r.nulls.to_bits(), i))
        .collect();
    keys.sort_unstable_by(|a, b| {
        (a.0, a.1, a.2, a.3).cmp(&(b.0, b.1, b.2, b.3)).then_with(|| rows[a.4].channels.cmp(&rows[b.4].channels))
    });
    let mut slots: Vec<Option<PathRow>> = rows.into_iter().map(Some).collect();
    keys.into_iter().filter_map(|k| slots[k.4].take()).collect()
}

/// Runs the models and renders the result in the requested format.
pub fn attribute_file(input: &Path, o: &PathsOptions) -> Result<String> {
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

#[derive(Debug, clap::Args)]
pub struct Args {
    /// CSV with a path column ("a > b > c") and conversion counts; `;` or `,` delimited.
    #[arg(long)]
    pub input: std::path::PathBuf,
    /// Only this model: first, last, linear, markov, shapley (default: all).
    #[arg(long)]
    pub model: Option<String>,
    /// Markov order (states are k-tuples of channels).
    #[arg(long, default_value_t = 1)]
    pub order: usize,
    /// Collapse consecutive repeats of a channel before the Markov fit.
    #[arg(long)]
    pub collapse_repeats: bool,
    /// Separator between channels in a path.
    #[arg(long, default_value = ">")]
    pub sep: String,
    #[arg(long, value_enum, default_value = "table")]
    pub format: crate::commands::paths::OutputFormat,
    #[arg(long, default_value = "path")]
    pub path_column: String,
    #[arg(long, default_value = "total_conversions")]
    pub conversions_column: String,
    #[arg(long, default_value = "total_conversion_value")]
    pub value_column: String,
    #[arg(long, default_value = "total_null")]
    pub null_column: String,
}

pub fn run(args: Args) -> Result<()> {
    let Args {
        input,
        model,
        order,
        collapse_repeats,
        sep,
        format,
        path_column,
        conversions_column,
        value_column,
        null_column,
    } = args;
    let models = match model {
        Some(m) => vec![attrib_models::PathModel::parse(&m).ok_or_else(|| {
            crate::exit::Usage(format!("unknown model {m:?} (expected first, last, linear, markov or shapley)"))
        })?],
        None => attrib_models::PathModel::ALL.to_vec(),
    };
    if sep.is_empty() {
        return Err(crate::exit::Usage("--sep must not be empty".into()).into());
    }
    let options = crate::commands::paths::PathsOptions {
        models,
        markov: attrib_models::MarkovParams { order, collapse_repeats },
        separator: sep,
        path_column,
        conversions_column,
        value_column,
        null_column,
        format,
    };
    crate::exit::print(&attribute_file(&input, &options)?)?;
    Ok(())
}
