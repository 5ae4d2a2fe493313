//! Prometheus metrics of the connectors: requests, errors, records published, cursor lag.

use prometheus::{GaugeVec, IntCounterVec, Opts, Registry};

/// Handles to the connector metrics (cheap to clone).
#[derive(Clone)]
pub struct ConnectorMetrics {
    pub registry: Registry,
    requests: IntCounterVec,
    errors: IntCounterVec,
    published: IntCounterVec,
    skipped: IntCounterVec,
    failed_objects: IntCounterVec,
    cursor_lag: GaugeVec,
}

impl ConnectorMetrics {
    pub fn new() -> ConnectorMetrics {
        let registry = Registry::new();
        let counter = |name: &str, help: &str, labels: &[&str]| {
            let c = IntCounterVec::new(Opts::new(name, help), labels).expect("valid metric");
            registry.register(Box::new(c.clone())).expect("registered once");
            c
        };
        let requests = counter(
            "attrib_connector_requests_total",
            "HTTP requests by connector and status (0: no answer)",
            &["connector", "status"],
        );
        let errors = counter(
            "attrib_connector_errors_total",
            "Failed requests by connector and kind (network, server, rate_limited, credentials, rejected)",
            &["connector", "kind"],
        );
        let published = counter(
            "attrib_connector_records_published_total",
            "Records published by connector and topic",
            &["connector", "topic"],
        );
        let skipped = counter(
            "attrib_connector_records_skipped_total",
            "Vendor records not published, by connector and reason",
            &["connector", "reason"],
        );
        let failed_objects = counter(
            "attrib_connector_object_failures_total",
            "Passes in which pulling an object type failed (the pass went on with the other types)",
            &["connector", "object"],
        );
        let cursor_lag = GaugeVec::new(
            Opts::new("attrib_connector_cursor_lag_seconds", "Age of the newest record pulled (now − cursor)"),
            &["connector"],
        )
        .expect("valid metric");
        registry.register(Box::new(cursor_lag.clone())).expect("registered once");
        ConnectorMetrics { registry, requests, errors, published, skipped, failed_objects, cursor_lag }
    }

    pub fn request(&self, vendor: &str, status: u16) {
        self.requests.with_label_values(&[vendor, &status.to_string()]).inc();
    }

    pub fn error(&self, vendor: &str, kind: &str) {
        self.errors.with_label_values(&[vendor, kind]).inc();
    }

    pub fn published(&self, connector: &str, topic: &str, n: u64) {
        self.published.with_label_values(&[connector, topic]).inc_by(n);
    }

    pub fn skipped(&self, connector: &str, reason: &str) {
        self.skipped.with_label_values(&[connector, reason]).inc();
    }

    pub fn object_failed(&self, connector: &str, object: &str) {
        self.failed_objects.with_label_values(&[connector, object]).inc();
    }

    pub fn cursor_lag(&self, connector: &str, seconds: f64) {
        self.cursor_lag.with_label_values(&[connector]).set(seconds);
    }

    /// The text exposition of every metric.
    pub fn render(&self) -> String {
        let mut buf = Vec::new();
        let _ = prometheus::Encoder::encode(&prometheus::TextEncoder::new(), &self.registry.gather(), &mut buf);
        String::from_utf8(buf).unwrap_or_default()
    }
}

impl Default for ConnectorMetrics {
    fn default() -> Self {
        Self::new()
    }
}
