//! The engine over journeys and models, and what it produces: the credits ledger,
//! conversion rows, KPI summaries and the reconciliation of credits to revenue.
//! Pure: no IO, no async.

mod credits;
mod engine;
mod fit;
mod incremental;
mod kpi;
mod parallel;

pub use credits::{
    attribute_journey, fnv1a, model_versions, sort_ledger, AttributionConfig, ConversionRow, CreditRow, JourneyCredits,
    UNATTRIBUTED,
};
pub use engine::{Engine, Ledger, Outcome, TopicCounts};
pub use fit::{fit_data_driven, training_set, ChannelValues, DataDrivenFits, FitReport, TrainingSet};
pub use incremental::{Change, Changes, IncrementalLedger, TouchRow};
pub use kpi::{
    channel_kpis, post_kpis, reconcile, ChannelKpi, Engagement, PostKey, PostKpi, PostStats, Reconciliation,
};

#[cfg(test)]
mod tests;
