//! Attribution models (DESIGN.md §4), pure: no IO, no async.
//!
//! Every model turns the ordered touches of one conversion into [`Weights`] that sum
//! to 1; [`allocate`] turns weights into minor units that sum to the revenue exactly.

mod allocate;
mod linalg;
mod markov;
mod paths;
mod rules;
mod shapley;

pub use allocate::{allocate, Weights};
pub use markov::{
    fit_markov, fit_markov_valued, ChainState, FitError, MarkovFit, MarkovParams, Transition, WeightedPath, MAX_ORDER,
    MAX_STATES,
};
pub use paths::{
    attribute_paths, shapley_players, shapley_touch_weights, ChannelResult, MeanShapley, PathError, PathModel,
    PathResults, PathRow, ShapleyGames,
};
pub use rules::*;
pub use shapley::{channel_set, fit_shapley, ShapleyFit, MAX_SHAPLEY_PLAYERS};

use std::fmt;

/// The rule-based models, by their names in output and configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum RuleModel {
    FirstTouch,
    LastTouch,
    LastNonDirect,
    Linear,
    TimeDecay,
    PositionBased,
    WShaped,
    FullPath,
}

impl RuleModel {
    pub const ALL: [RuleModel; 8] = [
        RuleModel::FirstTouch,
        RuleModel::LastTouch,
        RuleModel::LastNonDirect,
        RuleModel::Linear,
        RuleModel::TimeDecay,
        RuleModel::PositionBased,
        RuleModel::WShaped,
        RuleModel::FullPath,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            RuleModel::FirstTouch => "first_touch",
            RuleModel::LastTouch => "last_touch",
            RuleModel::LastNonDirect => "last_non_direct",
            RuleModel::Linear => "linear",
            RuleModel::TimeDecay => "time_decay",
            RuleModel::PositionBased => "position_based",
            RuleModel::WShaped => "w_shaped",
            RuleModel::FullPath => "full_path",
        }
    }

    pub fn parse(s: &str) -> Option<RuleModel> {
        RuleModel::ALL.into_iter().find(|m| m.as_str() == s)
    }

    /// Weights of this model for the ordered touches of one conversion (at least one touch).
    pub fn weights(self, touches: &[TouchFacts], conversion: &ConversionFacts, params: &RuleParams) -> Weights {
        assert!(!touches.is_empty(), "a conversion without touches is credited to (unattributed)");
        let n = touches.len();
        match self {
            RuleModel::FirstTouch => first_touch(n),
            RuleModel::LastTouch => last_touch(n),
            RuleModel::LastNonDirect => last_non_direct(touches),
            RuleModel::Linear => linear(n),
            RuleModel::TimeDecay => time_decay(touches, conversion.time, params.half_life_secs),
            RuleModel::PositionBased => position_based(n, params),
            RuleModel::WShaped => w_shaped(touches, conversion, params),
            RuleModel::FullPath => full_path(touches, conversion, params),
        }
    }
}

impl fmt::Display for RuleModel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.as_str())
    }
}

/// Every model the engine runs: the rule-based ones and the two data-driven ones.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Model {
    Rule(RuleModel),
    /// Markov removal effects, fitted on the trailing journeys.
    Markov,
    /// Shapley values over channel sets, fitted on the trailing journeys.
    Shapley,
}

impl Model {
    pub const ALL: [Model; 10] = [
        Model::Rule(RuleModel::FirstTouch),
        Model::Rule(RuleModel::LastTouch),
        Model::Rule(RuleModel::LastNonDirect),
        Model::Rule(RuleModel::Linear),
        Model::Rule(RuleModel::TimeDecay),
        Model::Rule(RuleModel::PositionBased),
        Model::Rule(RuleModel::WShaped),
        Model::Rule(RuleModel::FullPath),
        Model::Markov,
        Model::Shapley,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Model::Rule(r) => r.as_str(),
            Model::Markov => "markov",
            Model::Shapley => "shapley",
        }
    }

    pub fn parse(s: &str) -> Option<Model> {
        Model::ALL.into_iter().find(|m| m.as_str() == s)
    }

    pub fn is_data_driven(self) -> bool {
        matches!(self, Model::Markov | Model::Shapley)
    }
}

attrib_contract::serde_by_name!(Model, "model");

impl fmt::Display for Model {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.as_str())
    }
}

#[cfg(test)]
mod data_driven_tests;
#[cfg(test)]
mod tests;
