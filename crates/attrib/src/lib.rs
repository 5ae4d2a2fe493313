//! The `attrib` command line over the attribution engine: generate, batch, demo, validate.

pub mod batch;
pub mod cli;
pub mod config;
pub mod connect_cmd;
pub mod exit;
pub mod files;
pub mod html_report;
pub mod paths_cmd;
mod progress;
pub mod reconcile_cmd;
pub mod report;
pub mod report_cmd;
pub mod service;
