//! The Kafka edge: consumer and producer setup from user properties, per-partition
//! statistics (high watermarks and lag from fetch responses), dead-letter topics, and
//! loading JSON Lines files into the topics.

use attrib_contract::{DecodeError, Topic};
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, ConsumerContext, Rebalance, StreamConsumer};
use rdkafka::error::KafkaError;
use rdkafka::message::{Header, Message, OwnedHeaders};
use rdkafka::producer::{DeliveryFuture, FutureProducer, FutureRecord};
use rdkafka::statistics::Statistics;
use rdkafka::types::RDKafkaErrorCode;
use rdkafka::ClientContext;
use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Errors at the Kafka boundary.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    #[error("Kafka: {0}")]
    Kafka(#[from] KafkaError),
    #[error("creating topic {topic}: {code}")]
    CreateTopic { topic: String, code: RDKafkaErrorCode },
    #[error("reading {path}: {source}")]
    Io { path: String, source: std::io::Error },
}

impl Error {
    /// Whether waiting can fix it: a broker away, a timeout, a controller moving. Not bad
    /// configuration, refused credentials or a request the cluster's policy rejects.
    pub fn is_retriable(&self) -> bool {
        use RDKafkaErrorCode as C;
        let permanent = |code: &RDKafkaErrorCode| {
            matches!(
                code,
                C::Authentication
                    | C::SaslAuthenticationFailed
                    | C::TopicAuthorizationFailed
                    | C::ClusterAuthorizationFailed
                    | C::InvalidTopic
                    | C::InvalidPartitions
                    | C::InvalidReplicationFactor
                    | C::InvalidReplicaAssignment
                    | C::InvalidConfig
                    | C::PolicyViolation
            )
        };
        match self {
            Error::Kafka(
                KafkaError::ClientConfig(..) | KafkaError::ClientCreation(_) | KafkaError::AdminOpCreation(_),
            ) => false,
            Error::Kafka(e) => !e.rdkafka_error_code().is_some_and(|c| permanent(&c)),
            Error::CreateTopic { code, .. } => !permanent(code),
            Error::Io { .. } => false,
        }
    }
}

/// Connection settings shared by consumers and producers.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KafkaSettings {
    pub brokers: String,
    pub group: String,
    /// librdkafka properties passed through as given (SASL, TLS, timeouts …); they win over defaults.
    pub properties: BTreeMap<String, String>,
    /// Partitions and replication factor for topics the service creates when missing.
    pub partitions: i32,
    pub replication: i32,
    /// Prepended to every topic name (e.g. `prod.`), so several pipelines can share a cluster.
    pub topic_prefix: String,
}

impl KafkaSettings {
    /// The Kafka name of a contract topic.
    pub fn topic_name(&self, topic: Topic) -> String {
        format!("{}{}", self.topic_prefix, topic.as_str())
    }

    /// The Kafka name of a contract topic's dead-letter topic.
    pub fn dlq_name(&self, topic: Topic) -> String {
        format!("{}{}", self.topic_prefix, topic.dlq())
    }

    /// The contract topic behind a Kafka topic name.
    pub fn topic_of(&self, name: &str) -> Option<Topic> {
        name.strip_prefix(self.topic_prefix.as_str()).and_then(Topic::parse)
    }

    /// Every topic the pipeline uses: the sources and their dead-letter topics.
    pub fn all_topics(&self) -> Vec<String> {
        Topic::ALL.iter().flat_map(|t| [self.topic_name(*t), self.dlq_name(*t)]).collect()
    }

    fn base(&self) -> ClientConfig {
        let mut c = ClientConfig::new();
        c.set("bootstrap.servers", &self.brokers);
        c
    }

    fn apply_properties(&self, c: &mut ClientConfig) {
        for (k, v) in &self.properties {
            c.set(k, v);
        }
    }

    /// The consumer's configuration: manual offsets, cooperative rebalancing, statistics on.
    pub fn consumer_config(&self) -> ClientConfig {
        let mut c = self.base();
        c.set("group.id", &self.group)
            .set("enable.auto.commit", "false")
            .set("enable.auto.offset.store", "false")
            .set("auto.offset.reset", "earliest")
            .set("partition.assignment.strategy", "cooperative-sticky")
            .set("statistics.interval.ms", "1000");
        self.apply_properties(&mut c);
        // Offsets are committed only after ClickHouse acknowledged the rows: never automatically.
        c.set("enable.auto.commit", "false").set("enable.auto.offset.store", "false");
        c
    }

    /// The producer's configuration (DLQ and `produce`): idempotent, acknowledged by all replicas.
    /// Hands every property to librdkafka without connecting: a misspelt property name or a
    /// value it does not take fails here, with librdkafka's own message.
    pub fn check(&self) -> Result<(), Error> {
        self.consumer_config().create_native_config()?;
        self.producer_config().create_native_config()?;
        Ok(())
    }

    pub fn producer_config(&self) -> ClientConfig {
        let mut c = self.base();
        c.set("enable.idempotence", "true").set("acks", "all").set("linger.ms", "20");
        for (k, v) in &self.properties {
            // Consumer-only properties would make the producer refuse to start.
            if !CONSUMER_ONLY.iter().any(|p| k.starts_with(p)) {
                c.set(k, v);
            }
        }
        c
    }
}

const CONSUMER_ONLY: &[&str] = &[
    "group.",
    "session.timeout.ms",
    "heartbeat.interval.ms",
    "auto.offset.reset",
    "enable.auto",
    "partition.assignment.strategy",
    "fetch.",
    "max.poll.interval.ms",
    "isolation.level",
    "queued.",
];

/// Latest statistics of one partition, from the fetch responses librdkafka reports.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PartitionStats {
    pub hi_offset: i64,
    pub consumer_lag: i64,
}

/// Shared view of per-partition statistics.
pub type StatsMap = Arc<Mutex<HashMap<(String, i32), PartitionStats>>>;

/// Consumer context: records statistics and logs rebalances.
#[derive(Debug, Clone, Default)]
pub struct StatsContext {
    pub stats: StatsMap,
}

impl ClientContext for StatsContext {
    fn stats(&self, statistics: Statistics) {
        let Ok(mut map) = self.stats.lock() else { return };
        for (topic, t) in statistics.topics {
            for (&partition, p) in &t.partitions {
                // Partition -1 is librdkafka's internal unassigned bucket; -1001 means "unknown".
                if partition >= 0 && p.hi_offset >= 0 {
                    map.insert(
                        (topic.clone(), partition),
                        PartitionStats { hi_offset: p.hi_offset, consumer_lag: p.consumer_lag },
                    );
                }
            }
        }
    }
}

impl ConsumerContext for StatsContext {
    fn post_rebalance(&self, _consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        match rebalance {
            Rebalance::Assign(tpl) => tracing::info!(partitions = tpl.count(), "partitions assigned"),
            Rebalance::Revoke(tpl) => tracing::info!(partitions = tpl.count(), "partitions revoked"),
            Rebalance::Error(e) => tracing::warn!(error = %e, "rebalance error"),
        }
    }
}

/// A group consumer with statistics.
pub fn consumer(settings: &KafkaSettings) -> Result<(StreamConsumer<StatsContext>, StatsMap), Error> {
    let ctx = StatsContext::default();
    let stats = ctx.stats.clone();
    let c = settings.consumer_config().create_with_context(ctx)?;
    Ok((c, stats))
}

pub fn producer(settings: &KafkaSettings) -> Result<FutureProducer, Error> {
    Ok(settings.producer_config().create()?)
}

/// Creates the topics that do not exist yet (an existing topic is fine).
pub async fn ensure_topics(settings: &KafkaSettings, names: &[String]) -> Result<(), Error> {
    let mut c = settings.base();
    for (k, v) in &settings.properties {
        if k.starts_with("security.") || k.starts_with("sasl.") || k.starts_with("ssl.") {
            c.set(k, v);
        }
    }
    let admin: AdminClient<DefaultClientContext> = c.create()?;
    let topics: Vec<NewTopic<'_>> = names
        .iter()
        .map(|n| NewTopic::new(n, settings.partitions.max(1), TopicReplication::Fixed(settings.replication.max(1))))
        .collect();
    // Bounded, so an unreachable broker fails an attempt (retried by the caller) instead of hanging.
    let options = AdminOptions::new()
        .operation_timeout(Some(Duration::from_secs(10)))
        .request_timeout(Some(Duration::from_secs(10)));
    let results = admin.create_topics(&topics, &options).await?;
    for r in results {
        match r {
            Ok(_) => {}
            Err((_, rdkafka::types::RDKafkaErrorCode::TopicAlreadyExists)) => {}
            Err((topic, code)) => return Err(Error::CreateTopic { topic, code }),
        }
    }
    Ok(())
}

/// Queues a rejected message, untouched, for `<topic>.dlq` with the reason and its origin in
/// headers, without waiting for the broker, so a batch's rejects travel together; await the
/// returned delivery (`await_delivery`) before committing the source offset.
pub async fn enqueue_dlq(
    producer: &FutureProducer,
    settings: &KafkaSettings,
    topic: Topic,
    msg: &impl Message,
    error: &DecodeError,
) -> Result<DeliveryFuture, Error> {
    let reason = error.to_string();
    let partition = msg.partition().to_string();
    let offset = msg.offset().to_string();
    let headers = OwnedHeaders::new()
        .insert(Header { key: "error", value: Some(reason.as_str()) })
        .insert(Header { key: "error_code", value: Some(error.code()) })
        .insert(Header { key: "source_topic", value: Some(msg.topic()) })
        .insert(Header { key: "source_partition", value: Some(partition.as_str()) })
        .insert(Header { key: "source_offset", value: Some(offset.as_str()) });
    let dlq = settings.dlq_name(topic);
    let mut record: FutureRecord<'_, [u8], [u8]> =
        FutureRecord::to(&dlq).payload(msg.payload().unwrap_or_default()).headers(headers);
    if let Some(k) = msg.key() {
        record = record.key(k);
    }
    enqueue(producer, record).await
}

/// Queues one message; when librdkafka's local queue is full, lets it drain and tries again.
pub async fn enqueue<K, P>(
    producer: &FutureProducer,
    mut record: FutureRecord<'_, K, P>,
) -> Result<DeliveryFuture, Error>
where
    K: rdkafka::message::ToBytes + ?Sized,
    P: rdkafka::message::ToBytes + ?Sized,
{
    loop {
        match producer.send_result(record) {
            Ok(delivery) => return Ok(delivery),
            Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), back)) => {
                record = back;
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            Err((e, _)) => return Err(Error::Kafka(e)),
        }
    }
}

/// Publishes messages (topic name, key, payload) and returns once the broker acknowledged all.
pub async fn produce_all(producer: &FutureProducer, messages: &[(String, String, Vec<u8>)]) -> Result<(), Error> {
    let mut pending = Vec::with_capacity(messages.len());
    for (topic, key, payload) in messages {
        pending.push(enqueue(producer, FutureRecord::to(topic).key(key.as_str()).payload(payload.as_slice())).await?);
    }
    for d in pending {
        await_delivery(d).await?;
    }
    Ok(())
}

/// Waits until the broker acknowledged a queued message.
pub async fn await_delivery(delivery: DeliveryFuture) -> Result<(), Error> {
    match delivery.await {
        Ok(Ok(_)) => Ok(()),
        Ok(Err((e, _))) => Err(Error::Kafka(e)),
        Err(_) => Err(Error::Kafka(KafkaError::Canceled)),
    }
}

/// Loads `<dir>/<topic>.jsonl` files into their topics, line by line (the line is the message,
/// untouched). Returns the count per topic.
pub async fn produce_files(settings: &KafkaSettings, dir: &Path) -> Result<BTreeMap<&'static str, u64>, Error> {
    ensure_topics(settings, &settings.all_topics()).await?;
    let producer = producer(settings)?;
    let mut counts = BTreeMap::new();
    for topic in Topic::ALL {
        let path = dir.join(format!("{}.jsonl", topic.as_str()));
        if !path.is_file() {
            continue;
        }
        let text = std::fs::read(&path).map_err(|e| Error::Io { path: path.display().to_string(), source: e })?;
        let name = settings.topic_name(*topic);
        let mut n = 0u64;
        let mut pending = std::collections::VecDeque::new();
        for line in text.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
            // Key by event id when there is one, so one record's copies share a partition.
            let key = serde_json::from_slice::<serde_json::Value>(line)
                .ok()
                .and_then(|v| v.get("event_id").and_then(|e| e.as_str()).map(str::to_string));
            let mut record: FutureRecord<'_, str, [u8]> = FutureRecord::to(&name).payload(line);
            if let Some(k) = key.as_deref() {
                record = record.key(k);
            }
            // Enqueue now; when librdkafka's queue is full, wait for the oldest deliveries.
            loop {
                match producer.send_result(record) {
                    Ok(delivery) => {
                        pending.push_back(delivery);
                        break;
                    }
                    Err((KafkaError::MessageProduction(rdkafka::types::RDKafkaErrorCode::QueueFull), r)) => {
                        record = r;
                        match pending.pop_front() {
                            Some(d) => check_delivery(d.await)?,
                            None => tokio::time::sleep(Duration::from_millis(10)).await,
                        }
                    }
                    Err((e, _)) => return Err(Error::Kafka(e)),
                }
            }
            n += 1;
            while pending.len() > 50_000 {
                if let Some(d) = pending.pop_front() {
                    check_delivery(d.await)?;
                }
            }
        }
        for d in pending {
            check_delivery(d.await)?;
        }
        counts.insert(topic.as_str(), n);
    }
    Ok(counts)
}

fn check_delivery<Canceled>(
    r: Result<rdkafka::producer::future_producer::OwnedDeliveryResult, Canceled>,
) -> Result<(), Error> {
    match r {
        Ok(Ok(_)) => Ok(()),
        Ok(Err((e, _))) => Err(Error::Kafka(e)),
        Err(_) => Err(Error::Kafka(KafkaError::Canceled)),
    }
}
