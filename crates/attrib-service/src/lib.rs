//! The streaming service (DESIGN.md §1 "service" mode and §6): Kafka topics in, the
//! engine in the middle, the ledger and KPI tables in ClickHouse out; offsets committed only
//! after ClickHouse acknowledged everything derived from them.

pub mod config;
pub mod http;
pub mod memory;
pub mod metrics;
mod offsets;
mod pipeline;
mod position;
mod startup;

pub use config::{ClickHouseConfig, KafkaConfig, ServiceSettings};
pub use memory::{process_memory, ProcessMemory};
pub use metrics::Metrics;
pub use pipeline::{run, RunSummary, ServiceConfig, ServiceError};

/// A message of `topic` at `partition` and `offset`, without key or payload.
#[cfg(test)]
fn test_message(topic: &str, partition: i32, offset: i64) -> rdkafka::message::OwnedMessage {
    use rdkafka::message::Timestamp;
    rdkafka::message::OwnedMessage::new(None, None, topic.to_string(), Timestamp::NotAvailable, partition, offset, None)
}
