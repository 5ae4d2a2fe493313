//! Where connectors publish: the Kafka topics of the wire contract, or JSON Lines files
//! (`<dir>/<topic>.jsonl`, appended) for batch users.

use attrib_contract::{encode, Event, Topic};
use attrib_kafka::KafkaSettings;
use rdkafka::producer::FutureProducer;
use std::io::Write;
use std::path::PathBuf;

/// One record to publish, in the wire format.
#[derive(Debug, Clone, PartialEq)]
pub struct Record {
    pub topic: Topic,
    /// The message key: the event id (or the dedup key for fx.rates).
    pub key: String,
    pub event: Event,
}

impl Record {
    pub fn new(event: Event) -> Record {
        Record { topic: event.topic(), key: event.dedup_key(), event }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SinkError {
    #[error("writing {path}: {source}")]
    Io { path: String, source: std::io::Error },
    #[error("publishing to Kafka: {0}")]
    Kafka(#[from] attrib_kafka::Error),
}

/// A publishing target. `publish` returns only once every record is durable (the broker
/// acknowledged it, or the file is flushed to disk), so the cursor may advance after it.
pub enum Sink {
    Kafka { producer: FutureProducer, settings: KafkaSettings },
    Files { dir: PathBuf },
}

impl Sink {
    pub async fn kafka(settings: KafkaSettings) -> Result<Sink, SinkError> {
        attrib_kafka::ensure_topics(&settings, &settings.all_topics()).await?;
        let producer = attrib_kafka::producer(&settings)?;
        Ok(Sink::Kafka { producer, settings })
    }

    pub fn files(dir: PathBuf) -> Sink {
        Sink::Files { dir }
    }

    pub async fn publish(&mut self, records: &[Record]) -> Result<(), SinkError> {
        if records.is_empty() {
            return Ok(());
        }
        match self {
            Sink::Kafka { producer, settings } => {
                let messages: Vec<(String, String, Vec<u8>)> = records
                    .iter()
                    .map(|r| (settings.topic_name(r.topic), r.key.clone(), encode(&r.event).to_string().into_bytes()))
                    .collect();
                attrib_kafka::produce_all(producer, &messages).await?;
            }
            Sink::Files { dir } => {
                let io = |path: &PathBuf, source| SinkError::Io { path: path.display().to_string(), source };
                std::fs::create_dir_all(&*dir).map_err(|e| io(dir, e))?;
                for topic in Topic::ALL {
                    let lines: Vec<String> =
                        records.iter().filter(|r| r.topic == *topic).map(|r| encode(&r.event).to_string()).collect();
                    if lines.is_empty() {
                        continue;
                    }
                    let path = dir.join(format!("{}.jsonl", topic.as_str()));
                    let mut f =
                        std::fs::OpenOptions::new().create(true).append(true).open(&path).map_err(|e| io(&path, e))?;
                    f.write_all((lines.join("\n") + "\n").as_bytes()).map_err(|e| io(&path, e))?;
                    f.sync_all().map_err(|e| io(&path, e))?;
                }
            }
        }
        Ok(())
    }
}
