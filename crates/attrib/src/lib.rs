//! The `attrib` command line over the attribution engine: generate, batch, demo, validate.

pub mod batch;
pub mod cli;
pub mod commands;
pub mod config;
pub mod exit;
pub mod files;
mod progress;
pub mod report;
pub mod service;
