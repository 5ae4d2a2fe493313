//! Rule-based models, one small function each, as in the DESIGN.md §4 table.

use crate::allocate::Weights;
use attrib_contract::Timestamp;
use serde::Deserialize;

/// One billion: rule weights from configuration are kept in billionths, exactly.
pub const UNIT: u128 = 1_000_000_000;

/// What a rule-based model needs to know about a touch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TouchFacts {
    pub time: Timestamp,
    /// The touch's channel is `direct` (for last_non_direct).
    pub direct: bool,
}

/// What a rule-based model needs to know about the conversion.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConversionFacts {
    pub time: Timestamp,
    /// The person's first lead, for the lead role of w_shaped and full_path.
    pub first_lead: Option<Timestamp>,
    /// The deal's creation time (deal conversions only), for full_path's deal-creation role.
    pub deal_created_at: Option<Timestamp>,
}

/// Tunable parameters of the rule-based models.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct RuleParams {
    /// time_decay half-life in seconds (default 7 days).
    pub half_life_secs: f64,
    /// position_based share of the first touch (default 0.4).
    pub position_first: f64,
    /// position_based share of the last touch (default 0.4).
    pub position_last: f64,
    /// w_shaped share of each role (default 0.3).
    pub w_role: f64,
    /// full_path share of each role (default 0.225).
    pub z_role: f64,
}

impl Default for RuleParams {
    fn default() -> Self {
        RuleParams { half_life_secs: 604_800.0, position_first: 0.4, position_last: 0.4, w_role: 0.3, z_role: 0.225 }
    }
}

impl RuleParams {
    /// Checks the parameters describe weights that can sum to 1.
    pub fn validate(&self) -> Result<(), String> {
        let in_unit = |name: &str, v: f64| {
            if (0.0..=1.0).contains(&v) {
                Ok(())
            } else {
                Err(format!("{name} must be within 0..=1 (got {v})"))
            }
        };
        if !(self.half_life_secs.is_finite() && self.half_life_secs > 0.0) {
            return Err(format!("half_life_secs must be positive (got {})", self.half_life_secs));
        }
        in_unit("position_first", self.position_first)?;
        in_unit("position_last", self.position_last)?;
        if billionths(self.position_first) + billionths(self.position_last) > UNIT {
            return Err("position_first + position_last must not exceed 1".into());
        }
        if billionths(self.position_first) + billionths(self.position_last) == 0 {
            return Err("position_first + position_last must be positive".into());
        }
        if billionths(self.w_role) * 3 > UNIT {
            return Err(format!("w_role must be at most 1/3 (three roles; got {})", self.w_role));
        }
        if billionths(self.z_role) * 4 > UNIT {
            return Err(format!("z_role must be at most 1/4 (four roles; got {})", self.z_role));
        }
        Ok(())
    }
}

/// A configured decimal share as exact billionths.
fn billionths(v: f64) -> u128 {
    (v.clamp(0.0, 1.0) * UNIT as f64).round() as u128
}

/// 1 to the first touch.
pub fn first_touch(n: usize) -> Weights {
    Weights::one_hot(n, 0)
}

/// 1 to the last touch.
pub fn last_touch(n: usize) -> Weights {
    Weights::one_hot(n, n - 1)
}

/// 1 to the last touch whose channel is not direct; the last touch if all are direct.
pub fn last_non_direct(touches: &[TouchFacts]) -> Weights {
    let winner = touches.iter().rposition(|t| !t.direct).unwrap_or(touches.len() - 1);
    Weights::one_hot(touches.len(), winner)
}

/// 1/n to each touch.
pub fn linear(n: usize) -> Weights {
    Weights::from_shares(vec![1; n])
}

/// w_i = 2^(−Δt_i / half_life), normalised. Computed relative to the latest touch so
/// long windows with short half-lives never underflow to all zeros.
pub fn time_decay(touches: &[TouchFacts], conversion: Timestamp, half_life_secs: f64) -> Weights {
    let ages: Vec<f64> = touches.iter().map(|t| conversion.since(t.time).as_secs_f64()).collect();
    let youngest = ages.iter().copied().fold(f64::INFINITY, f64::min);
    let values: Vec<f64> = ages.iter().map(|a| (-(a - youngest) / half_life_secs).exp2()).collect();
    Weights::from_f64(&values)
}

/// U-shaped: first and last get their shares, the middle splits the rest equally.
/// n=1: 1; n=2: the two shares rescaled to sum to 1 (½, ½ by default).
pub fn position_based(n: usize, params: &RuleParams) -> Weights {
    let (first, last) = (billionths(params.position_first), billionths(params.position_last));
    match n {
        1 => Weights::from_shares(vec![1]),
        2 => Weights::from_shares(vec![first, last]),
        _ => {
            let middle = (n - 2) as u128;
            let mut shares = vec![UNIT - first - last; n];
            shares[0] = first * middle;
            shares[n - 1] = last * middle;
            Weights::from_shares(shares)
        }
    }
}

/// The last touch at or before `t`, if any.
fn last_at_or_before(touches: &[TouchFacts], t: Timestamp) -> Option<usize> {
    touches.iter().rposition(|x| x.time <= t)
}

/// The lead role's touch: the last touch at or before the person's first lead, when that
/// lead is at or before the conversion.
fn lead_role(touches: &[TouchFacts], conversion: &ConversionFacts) -> Option<usize> {
    conversion.first_lead.filter(|lead| *lead <= conversion.time).and_then(|lead| last_at_or_before(touches, lead))
}

/// Shares for role-based models: each role adds `role` to its touch; the rest is split
/// equally over the touches holding no role, or over the distinct role holders when
/// every touch holds one.
fn role_shares(n: usize, roles: &[usize], role: u128) -> Weights {
    let mut per_touch = vec![0u128; n];
    for &r in roles {
        per_touch[r] += 1;
    }
    let rest = UNIT - role * roles.len() as u128;
    let free = per_touch.iter().filter(|&&c| c == 0).count() as u128;
    let shares = if free > 0 {
        per_touch.iter().map(|&c| if c == 0 { rest } else { role * c * free }).collect()
    } else {
        let holders = per_touch.iter().filter(|&&c| c > 0).count() as u128;
        per_touch.iter().map(|&c| role * c * holders + rest).collect()
    };
    Weights::from_shares(shares)
}

/// W-shaped: first touch, lead touch, last touch, each `w_role` (default 0.3).
pub fn w_shaped(touches: &[TouchFacts], conversion: &ConversionFacts, params: &RuleParams) -> Weights {
    let n = touches.len();
    let mut roles = vec![0, n - 1];
    roles.extend(lead_role(touches, conversion));
    role_shares(n, &roles, billionths(params.w_role))
}

/// Full path (Z): first, lead, deal creation (deal conversions only), last, each `z_role` (default 0.225).
pub fn full_path(touches: &[TouchFacts], conversion: &ConversionFacts, params: &RuleParams) -> Weights {
    let n = touches.len();
    let mut roles = vec![0, n - 1];
    roles.extend(lead_role(touches, conversion));
    roles.extend(conversion.deal_created_at.and_then(|c| last_at_or_before(touches, c)));
    role_shares(n, &roles, billionths(params.z_role))
}
