//! The engine over journeys and models, and what it produces: the credits ledger,
//! conversion rows, KPI summaries and the reconciliation of credits to revenue.
//! Pure: no IO, no async.

mod credits;
mod engine;
mod finance;
mod fit;
mod fx;
mod incremental;
mod kpi;
mod parallel;
mod spend;
mod totals;

pub use attrib_journeys::DealRecord;
pub use credits::{
    attribute_journey, fnv1a, model_versions, sort_ledger, unattributed_channel, AttributionConfig, ConversionRow,
    CreditRow, FitCounts, JourneyCredits, ModelVersions, UNATTRIBUTED,
};
pub use engine::{Engine, Ledger, Outcome, Restore, TopicCounts};
pub use finance::{
    denomination_currency, reconcile_month, reporting_denomination, Adjustment, DealVersionRow, MonthReconciliation,
    ReconciliationLine,
};
pub use fit::{fit_data_driven, training_sets, DataDrivenFits, FitReport, Fitted, TrainingSet, TypeFit};
pub use fx::{FxStatus, FxTable, ReportedAmount, ReportingConfig};
pub use incremental::{Change, Changes, IncrementalLedger, LiveRows, TouchRow};
pub use kpi::{
    campaign_kpis, channel_kpis, kpi_facts, ledger_reconciliation, post_kpis, ratio, reconcile, rollup, sum_by,
    time_to_conversion, CampaignKpi, ChannelKpi, EngagementCount, EngagementRow, KpiFact, KpiInputs,
    LedgerReconciliationLine, PathKpi, Reconciliation, TimeToConversion, TimeToConversionBucket, TIME_BUCKET_DAYS,
};
pub use spend::{AdDay, SpendEntry, SpendRow};
pub use totals::{KpiCells, LedgerTotals, WeightSum, UNKNOWN_PUBLISHER};

#[cfg(test)]
mod checkpoint_tests;
#[cfg(test)]
mod kpi_tests;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod totals_tests;
