//! End-to-end tests: one binary, one module per behaviour.

mod batch;
mod checkpoint;
mod connectors;
mod contract;
mod exit_codes;
mod faults;
mod paths;
mod process;
mod report;
mod service;
mod tls;
