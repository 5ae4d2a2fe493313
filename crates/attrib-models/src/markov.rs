//! Markov-chain attribution, solved exactly (DESIGN.md §4).
//!
//! States: (start), the channel states, (conversion), (null). A channel state of order k
//! is the tuple of the last k channels seen (shorter at the start of a path). Transition
//! probabilities come from converting and non-converting paths weighted by their counts.
//! P(conversion) solves the absorbing chain (I − Q)x = r by dense LU with partial
//! pivoting. Removing channel c sends every transition into a state ending in c to (null);
//! RE_c = 1 − P(conv without c) / P(conv).

use crate::linalg::solve;
use hashbrown::HashMap;
use std::collections::BTreeMap;

/// A path of channel ids with how often it converted and how often it did not.
#[derive(Debug, Clone, PartialEq)]
pub struct WeightedPath {
    pub channels: Vec<u32>,
    pub conversions: f64,
    pub nulls: f64,
}

/// Options of the Markov fit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct MarkovParams {
    /// Order k ≥ 1: states are k-tuples of channels.
    pub order: usize,
    /// Collapse consecutive repeats of a channel (a > a > b → a > b) before fitting.
    pub collapse_repeats: bool,
}

impl Default for MarkovParams {
    fn default() -> Self {
        MarkovParams { order: 1, collapse_repeats: false }
    }
}

/// Largest supported order: states pack up to this many 16-bit channel ids into a u64.
pub const MAX_ORDER: usize = 4;
/// Largest number of transient states solved exactly (dense LU, one factorisation per channel).
pub const MAX_STATES: usize = 3_000;

/// Why a fit could not be made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FitError {
    OrderOutOfRange(usize),
    TooManyChannels(usize),
    TooManyStates { states: usize, limit: usize },
}

impl std::fmt::Display for FitError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FitError::OrderOutOfRange(k) => write!(f, "markov order must be between 1 and {MAX_ORDER} (got {k})"),
            FitError::TooManyChannels(n) => write!(f, "{n} channels is more than the 65535 the fit supports"),
            FitError::TooManyStates { states, limit } => write!(
                f,
                "the chain has {states} states, more than the {limit} solved exactly; lower the order or group channels"
            ),
        }
    }
}

impl std::error::Error for FitError {}

/// A fitted chain: P(conversion) and the removal effect of every channel seen.
#[derive(Debug, Clone, PartialEq)]
pub struct MarkovFit {
    pub params: MarkovParams,
    pub p_conversion: f64,
    /// Removal effect per channel id, for every channel that occurs in a path.
    pub removal_effects: BTreeMap<u32, f64>,
    pub states: usize,
    pub total_conversions: f64,
    pub total_nulls: f64,
    /// With path values (`fit_markov_valued`): the expected conversion value of a journey from
    /// the start, and the value-weighted removal effect per channel
    /// (ChannelAttribution's `removal_effects_conversion_value`); empty without values.
    pub expected_value: f64,
    pub value_removal_effects: BTreeMap<u32, f64>,
    /// Every transition of the fitted chain with its probability (ChannelAttribution's
    /// `transition_matrix`), from the start and each channel state, in state order.
    pub transitions: Vec<Transition>,
}

/// A state of the chain, as reported.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChainState {
    Start,
    /// The last `order` channels (fewer at the start of a path), oldest first.
    Channels(Vec<u32>),
    Conversion,
    Null,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Transition {
    pub from: ChainState,
    pub to: ChainState,
    pub probability: f64,
}

/// The channels packed in a state key, oldest first.
fn unpack(key: u64) -> ChainState {
    if key == START {
        return ChainState::Start;
    }
    let channels = (0..4).rev().map(|i| (key >> (16 * i)) & 0xffff).filter(|c| *c != 0).map(|c| c as u32 - 1);
    ChainState::Channels(channels.collect())
}

/// Packs the last `k` channels (ids + 1, so 0 means "none") into a state key.
fn state_key(window: &[u32]) -> u64 {
    window.iter().fold(0u64, |acc, &c| (acc << 16) | (c as u64 + 1))
}

fn last_channel(key: u64) -> u32 {
    (key & 0xffff) as u32 - 1
}

const START: u64 = 0;

/// Fits the chain. Paths with no channels are ignored (they are not journeys through channels).
pub fn fit_markov(paths: &[WeightedPath], params: MarkovParams) -> Result<MarkovFit, FitError> {
    fit(paths, None, params)
}

/// As `fit_markov`, also solving the value-weighted chain exactly: each state's conversion
/// reward is weighted by the mean value of the conversions whose path ends there, and
/// RE_value_c = 1 − V(without c) / V. `values[i]` is the total conversion value of `paths[i]`.
pub fn fit_markov_valued(paths: &[WeightedPath], values: &[f64], params: MarkovParams) -> Result<MarkovFit, FitError> {
    fit(paths, Some(values), params)
}

fn fit(paths: &[WeightedPath], values: Option<&[f64]>, params: MarkovParams) -> Result<MarkovFit, FitError> {
    if params.order == 0 || params.order > MAX_ORDER {
        return Err(FitError::OrderOutOfRange(params.order));
    }
    let k = params.order;
    // Transition weights: from-state → to-state (or an absorbing outcome).
    let mut out: HashMap<u64, HashMap<u64, f64>> = HashMap::new();
    let mut to_conv: HashMap<u64, f64> = HashMap::new();
    let mut to_value: HashMap<u64, f64> = HashMap::new();
    let mut totals: HashMap<u64, f64> = HashMap::new();
    let mut channels_seen: Vec<bool> = Vec::new();
    let (mut total_conv, mut total_null) = (0.0, 0.0);
    let mut collapsed = Vec::new();
    for (n, p) in paths.iter().enumerate() {
        let weight = p.conversions + p.nulls;
        let chans: &[u32] = if params.collapse_repeats {
            collapsed.clear();
            collapsed.extend(p.channels.iter().copied());
            collapsed.dedup();
            &collapsed
        } else {
            &p.channels
        };
        if chans.is_empty() || weight <= 0.0 {
            continue;
        }
        if let Some(&max) = chans.iter().max() {
            if max >= u16::MAX as u32 {
                return Err(FitError::TooManyChannels(max as usize + 1));
            }
            if channels_seen.len() <= max as usize {
                channels_seen.resize(max as usize + 1, false);
            }
        }
        chans.iter().for_each(|&c| channels_seen[c as usize] = true);
        total_conv += p.conversions;
        total_null += p.nulls;
        let mut from = START;
        for i in 0..chans.len() {
            let to = state_key(&chans[i.saturating_sub(k - 1)..=i]);
            *out.entry(from).or_default().entry(to).or_default() += weight;
            *totals.entry(from).or_default() += weight;
            from = to;
        }
        *to_conv.entry(from).or_default() += p.conversions;
        if let Some(v) = values {
            // Σ value ending here / total = P(conv) × mean value of the conversions ending here.
            *to_value.entry(from).or_default() += v.get(n).copied().unwrap_or(0.0);
        }
        *totals.entry(from).or_default() += weight;
    }
    // Deterministic state order: start first, then by key.
    let mut states: Vec<u64> = totals.keys().copied().filter(|&s| s != START).collect();
    states.sort_unstable();
    states.insert(0, START);
    if states.len() > MAX_STATES {
        return Err(FitError::TooManyStates { states: states.len(), limit: MAX_STATES });
    }
    let chain = Chain::build(&states, &out, &to_conv, &totals);
    let transitions = transitions(&states, &out, &to_conv, &totals);
    let p_conversion = if total_conv > 0.0 { chain.expected(&chain.r, |_| true).clamp(0.0, 1.0) } else { 0.0 };
    let removal = |rewards: &[f64], whole: f64| -> BTreeMap<u32, f64> {
        let mut effects = BTreeMap::new();
        for c in (0..channels_seen.len() as u32).filter(|c| channels_seen[*c as usize]) {
            let re = if whole > 0.0 {
                let without = chain.expected(rewards, |s| s == START || last_channel(s) != c);
                (1.0 - without / whole).clamp(0.0, 1.0)
            } else {
                0.0
            };
            effects.insert(c, re);
        }
        effects
    };
    let removal_effects = removal(&chain.r, p_conversion);
    let (expected_value, value_removal_effects) = match values {
        Some(_) => {
            let rv = chain.rewards(&to_value, &totals);
            let v = chain.expected(&rv, |_| true).max(0.0);
            (v, removal(&rv, v))
        }
        None => (0.0, BTreeMap::new()),
    };
    Ok(MarkovFit {
        params,
        p_conversion,
        removal_effects,
        states: states.len(),
        total_conversions: total_conv,
        total_nulls: total_null,
        expected_value,
        value_removal_effects,
        transitions,
    })
}

/// The transition probabilities of every state: to channel states by key, then conversion,
/// then null (what remains), each only when positive.
fn transitions(
    states: &[u64],
    out: &HashMap<u64, HashMap<u64, f64>>,
    to_conv: &HashMap<u64, f64>,
    totals: &HashMap<u64, f64>,
) -> Vec<Transition> {
    let mut all = Vec::new();
    for s in states {
        let total = totals.get(s).copied().unwrap_or(0.0);
        if total <= 0.0 {
            continue;
        }
        let mut targets: Vec<(u64, f64)> =
            out.get(s).map(|row| row.iter().map(|(t, w)| (*t, *w)).collect()).unwrap_or_default();
        targets.sort_unstable_by_key(|(t, _)| *t);
        let moved: f64 = targets.iter().map(|(_, w)| w).sum();
        let converted = to_conv.get(s).copied().unwrap_or(0.0);
        let to_states = targets.into_iter().map(|(t, w)| (unpack(t), w));
        let ends = [(ChainState::Conversion, converted), (ChainState::Null, total - moved - converted)];
        for (to, w) in to_states.chain(ends) {
            if w > 0.0 {
                all.push(Transition { from: unpack(*s), to, probability: w / total });
            }
        }
    }
    all
}

/// The transient part of the chain as dense rows.
struct Chain {
    states: Vec<u64>,
    /// Transition probabilities between transient states, row-major.
    q: Vec<f64>,
    /// Probability of converting in one step from each state.
    r: Vec<f64>,
}

impl Chain {
    fn build(
        states: &[u64],
        out: &HashMap<u64, HashMap<u64, f64>>,
        to_conv: &HashMap<u64, f64>,
        totals: &HashMap<u64, f64>,
    ) -> Chain {
        let n = states.len();
        let index: HashMap<u64, usize> = states.iter().enumerate().map(|(i, &s)| (s, i)).collect();
        let mut q = vec![0.0; n * n];
        let mut r = vec![0.0; n];
        for (i, s) in states.iter().enumerate() {
            let total = totals.get(s).copied().unwrap_or(0.0);
            if total <= 0.0 {
                continue;
            }
            if let Some(row) = out.get(s) {
                // Sorted so the row's float sums never depend on hash order.
                let mut targets: Vec<(&u64, &f64)> = row.iter().collect();
                targets.sort_unstable_by_key(|(t, _)| **t);
                for (t, w) in targets {
                    q[i * n + index[t]] += w / total;
                }
            }
            r[i] = to_conv.get(s).copied().unwrap_or(0.0) / total;
        }
        Chain { states: states.to_vec(), q, r }
    }

    /// One-step rewards per state: `per_state` over the state's total outgoing weight.
    fn rewards(&self, per_state: &HashMap<u64, f64>, totals: &HashMap<u64, f64>) -> Vec<f64> {
        let of = |s: &u64| {
            let total = totals.get(s).copied().unwrap_or(0.0);
            if total > 0.0 {
                per_state.get(s).copied().unwrap_or(0.0) / total
            } else {
                0.0
            }
        };
        self.states.iter().map(of).collect()
    }

    /// The expected reward collected on conversion from the start (P(conversion) with the
    /// one-step conversion probabilities as rewards) when only states for which `keep` holds
    /// can be entered (entering any other state means null).
    fn expected(&self, rewards: &[f64], keep: impl Fn(u64) -> bool) -> f64 {
        let kept: Vec<usize> = (0..self.states.len()).filter(|&i| keep(self.states[i])).collect();
        let m = kept.len();
        let n = self.states.len();
        let mut a = vec![0.0; m * m];
        let mut b = vec![0.0; m];
        for (row, &i) in kept.iter().enumerate() {
            for (col, &j) in kept.iter().enumerate() {
                a[row * m + col] = if row == col { 1.0 } else { 0.0 } - self.q[i * n + j];
            }
            b[row] = rewards[i];
        }
        // The start state is always kept and always first.
        solve(a, b, m).map_or(0.0, |x| x[0].max(0.0))
    }
}
