//! One module per command: its arguments and its run function.

pub mod batch;
pub mod completions;
pub mod connect;
pub mod demo;
pub mod generate;
pub mod healthcheck;
pub mod man;
pub mod migrate;
pub mod paths;
pub mod produce;
pub mod reconcile;
pub mod report;
pub mod run;
pub mod validate;

/// Worker threads: as requested, else the available cores.
pub(crate) fn threads(requested: Option<usize>) -> usize {
    requested.unwrap_or_else(|| std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1)).max(1)
}
