//! Service configuration: `[kafka]`, `[clickhouse]` and `[service]` sections of the TOML file.

use attrib_secret::Secret;
use serde::Deserialize;
use std::collections::BTreeMap;

#[derive(Debug, Clone, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct KafkaConfig {
    /// Comma-separated bootstrap servers.
    pub brokers: String,
    /// Consumer group id.
    pub group: String,
    /// Partitions and replication factor for topics the service creates when they are missing.
    pub partitions: i32,
    pub replication: i32,
    /// Prepended to every topic name, so several pipelines can share one cluster.
    pub topic_prefix: String,
    /// Static group membership (`group.instance.id`, KIP-345): a service restarted under the
    /// same id gets its partitions back at once instead of after the dead member's session
    /// times out, and a second instance started under it fences the first (which exits) rather
    /// than sharing the partitions. Empty: dynamic membership. The chart sets the pod's name.
    pub instance_id: String,
    /// librdkafka properties, passed through (e.g. `"security.protocol" = "SASL_SSL"`).
    /// `sasl.password` is not one of them: it is the secret `sasl_password`.
    pub properties: BTreeMap<String, String>,
    /// librdkafka's `sasl.password`: a secret, from `ATTRIB_KAFKA__SASL_PASSWORD` or the file
    /// `sasl_password_file` names, never from the configuration file.
    #[serde(skip_serializing)]
    pub sasl_password: Secret,
    pub sasl_password_file: String,
}

impl Default for KafkaConfig {
    fn default() -> Self {
        KafkaConfig {
            brokers: "127.0.0.1:9092".into(),
            group: "attrib".into(),
            partitions: 3,
            replication: 1,
            topic_prefix: String::new(),
            instance_id: String::new(),
            properties: BTreeMap::new(),
            sasl_password: Secret::default(),
            sasl_password_file: String::new(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct ClickHouseConfig {
    /// HTTP or HTTPS endpoint.
    pub url: String,
    pub database: String,
    /// The user to log in as (empty: the server's `default` user).
    pub user: String,
    /// The user's password: a secret, from `ATTRIB_CLICKHOUSE__PASSWORD` or the file
    /// `password_file` names, never from the configuration file.
    #[serde(skip_serializing)]
    pub password: Secret,
    pub password_file: String,
    /// HTTPS: a PEM bundle of the CAs to trust instead of the system's (empty: the system's).
    pub ca_file: String,
    /// HTTPS: a PEM client certificate and its key, for servers that verify clients.
    pub client_cert_file: String,
    pub client_key_file: String,
}

impl Default for ClickHouseConfig {
    fn default() -> Self {
        ClickHouseConfig {
            url: "http://127.0.0.1:8123".into(),
            database: "attrib".into(),
            user: String::new(),
            password: Secret::default(),
            password_file: String::new(),
            ca_file: String::new(),
            client_cert_file: String::new(),
            client_key_file: String::new(),
        }
    }
}

impl ClickHouseConfig {
    /// The TLS settings of `https://` URLs and the credentials (`password_file` already read
    /// into `password`, see `resolve_secrets`).
    pub fn access(&self) -> attrib_clickhouse::Access {
        let path = |s: &str| (!s.trim().is_empty()).then(|| std::path::PathBuf::from(s.trim()));
        let tls = attrib_clickhouse::Tls {
            ca_file: path(&self.ca_file),
            client_cert_file: path(&self.client_cert_file),
            client_key_file: path(&self.client_key_file),
        };
        let user = (!self.user.trim().is_empty()).then(|| self.user.trim().to_string());
        attrib_clickhouse::Access { tls, user, password: self.password.expose().map(str::to_string) }
    }

    /// Reads `password_file` into `password` (an error if both are given). Once, at load.
    pub fn resolve_secrets(&mut self) -> Result<(), attrib_secret::SecretError> {
        self.password = self.password.or_file(&self.password_file, "clickhouse.password")?;
        Ok(())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServiceSettings {
    /// A batch closes at this many messages …
    pub batch_max_messages: usize,
    /// … or after this long, whichever comes first.
    pub batch_max_wait_ms: u64,
    /// While behind (batches fill up to `batch_max_messages`), the ledger rows of the people
    /// the batches changed are computed and written at most this often, once per person
    /// however many of its records arrived; the batches' own rows (raw events, spend, ...)
    /// wait with them, and the batches' offsets are committed once all are written.
    /// A caught-up service (batches not full), an idle one, a refit, a checkpoint and a stop
    /// write them at once. 0: after every batch.
    pub catch_up_ledger_interval_ms: u64,
    /// How often the data-driven models are refitted (0: only at start and when caught up).
    pub refit_interval_secs: u64,
    /// Address of `/metrics`, `/healthz` and `/readyz` (empty: no HTTP server).
    pub http_listen: String,
    /// Longest wait, after SIGTERM, for the batch in flight to be written and committed.
    pub shutdown_timeout_secs: u64,
    /// How long startup (migrations check, topics, recovery) keeps retrying a ClickHouse or
    /// broker that does not answer before the service gives up and exits.
    pub startup_timeout_secs: u64,
    /// How often the state is checkpointed to ClickHouse (0: never), so a restart loads it and
    /// replays only the events after it. Also saved once caught up with `--stop-when-caught-up`.
    pub checkpoint_interval_secs: u64,
}

impl Default for ServiceSettings {
    fn default() -> Self {
        ServiceSettings {
            batch_max_messages: 20_000,
            batch_max_wait_ms: 1_000,
            catch_up_ledger_interval_ms: 10_000,
            refit_interval_secs: 300,
            http_listen: "0.0.0.0:9464".into(),
            shutdown_timeout_secs: 30,
            startup_timeout_secs: 300,
            checkpoint_interval_secs: 300,
        }
    }
}

impl KafkaConfig {
    /// Reads `sasl_password_file` into `sasl_password` (an error if both are given). Once, at load.
    pub fn resolve_secrets(&mut self) -> Result<(), attrib_secret::SecretError> {
        self.sasl_password = self.sasl_password.or_file(&self.sasl_password_file, "kafka.sasl_password")?;
        Ok(())
    }

    pub fn settings(&self) -> attrib_kafka::KafkaSettings {
        let mut properties = self.properties.clone();
        if let Some(p) = self.sasl_password.expose() {
            properties.insert("sasl.password".into(), p.to_string());
        }
        if !self.instance_id.is_empty() {
            properties.insert("group.instance.id".into(), self.instance_id.clone());
        }
        attrib_kafka::KafkaSettings {
            brokers: self.brokers.clone(),
            group: self.group.clone(),
            properties,
            partitions: self.partitions,
            replication: self.replication,
            topic_prefix: self.topic_prefix.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_instance_id_makes_the_consumer_a_static_member_and_leaves_the_producer_alone() {
        let dynamic = KafkaConfig::default().settings();
        assert!(dynamic.consumer_config().get("group.instance.id").is_none());
        let kafka = KafkaConfig { instance_id: "attrib-7d9f-0".into(), ..KafkaConfig::default() };
        let settings = kafka.settings();
        assert_eq!(settings.consumer_config().get("group.instance.id"), Some("attrib-7d9f-0"));
        assert!(settings.producer_config().get("group.instance.id").is_none());
        settings.check().expect("librdkafka takes it");
    }
}
