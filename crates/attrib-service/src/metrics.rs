//! Every metric the service exports, named in one place.

use prometheus::{
    Encoder, Histogram, HistogramOpts, IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Opts, Registry, TextEncoder,
};

pub struct Metrics {
    registry: Registry,
    pub consumed: IntCounterVec,
    pub decoded: IntCounterVec,
    pub rejected: IntCounterVec,
    pub duplicates: IntCounterVec,
    pub dlq: IntCounterVec,
    pub batches: IntCounter,
    pub batch_messages: Histogram,
    pub ledger_writes: IntCounter,
    pub rows_written: IntCounterVec,
    pub write_seconds: Histogram,
    pub write_retries: IntCounterVec,
    pub write_errors: IntCounter,
    pub commits: IntCounter,
    pub consumer_lag: IntGaugeVec,
    pub conversions_attributed: IntCounter,
    pub last_conversion_attributed: IntGauge,
    pub journeys: IntGauge,
    pub resident_bytes: IntGauge,
    pub refits: IntCounter,
    pub ready: IntGauge,
    /// Retried calls per phase of the service's life (`migrate`, `topics`, `recovery`, `write`).
    pub retries: IntCounterVec,
    /// Raw events replayed by the last recovery.
    pub recovered_events: IntGauge,
    /// Checkpoints of the state saved, their size, and the one the last recovery started from.
    pub checkpoints: IntCounter,
    pub checkpoint_bytes: IntGauge,
    pub restored_checkpoint: IntGauge,
    pub checkpoint_chain: IntGauge,
    /// The standard `process_*` metrics, read from `/proc` at every scrape.
    process: ProcessGauges,
    /// Why `/readyz` says no (empty when ready).
    not_ready_because: std::sync::Mutex<String>,
}

/// `process_*` as the Prometheus client libraries name them.
struct ProcessGauges {
    resident_memory_bytes: IntGauge,
    virtual_memory_bytes: IntGauge,
    cpu_seconds_total: prometheus::Counter,
    threads: IntGauge,
    open_fds: IntGauge,
    max_fds: IntGauge,
    start_time_seconds: prometheus::Gauge,
}

impl ProcessGauges {
    fn new(r: &Registry) -> ProcessGauges {
        let start_time_seconds = prometheus::Gauge::new(
            "process_start_time_seconds",
            "Start time of the process since the Unix epoch in seconds",
        )
        .unwrap_or_else(|e| panic!("process_start_time_seconds: {e}"));
        r.register(Box::new(start_time_seconds.clone())).unwrap_or_else(|e| panic!("process_start_time_seconds: {e}"));
        let cpu_seconds_total =
            prometheus::Counter::new("process_cpu_seconds_total", "Total user and system CPU time spent in seconds")
                .unwrap_or_else(|e| panic!("process_cpu_seconds_total: {e}"));
        r.register(Box::new(cpu_seconds_total.clone())).unwrap_or_else(|e| panic!("process_cpu_seconds_total: {e}"));
        ProcessGauges {
            resident_memory_bytes: gauge(r, "process_resident_memory_bytes", "Resident memory size in bytes"),
            virtual_memory_bytes: gauge(r, "process_virtual_memory_bytes", "Virtual memory size in bytes"),
            cpu_seconds_total,
            threads: gauge(r, "process_threads", "Number of OS threads in the process"),
            open_fds: gauge(r, "process_open_fds", "Number of open file descriptors"),
            max_fds: gauge(r, "process_max_fds", "Maximum number of open file descriptors"),
            start_time_seconds,
        }
    }

    fn refresh(&self) {
        let Some(s) = crate::memory::process_stats() else { return };
        self.resident_memory_bytes.set(s.resident_bytes as i64);
        self.virtual_memory_bytes.set(s.virtual_bytes as i64);
        // A counter only moves forward: add what the kernel counted since the last scrape.
        let delta = s.cpu_seconds - self.cpu_seconds_total.get();
        if delta > 0.0 {
            self.cpu_seconds_total.inc_by(delta);
        }
        self.threads.set(s.threads as i64);
        self.open_fds.set(s.open_fds as i64);
        if let Some(max) = s.max_fds {
            self.max_fds.set(max as i64);
        }
        self.start_time_seconds.set(s.start_time_seconds);
    }
}

fn counter_vec(r: &Registry, name: &str, help: &str, labels: &[&str]) -> IntCounterVec {
    let c = IntCounterVec::new(Opts::new(name, help), labels).unwrap_or_else(|e| panic!("metric {name}: {e}"));
    r.register(Box::new(c.clone())).unwrap_or_else(|e| panic!("metric {name}: {e}"));
    c
}

fn counter(r: &Registry, name: &str, help: &str) -> IntCounter {
    let c = IntCounter::new(name, help).unwrap_or_else(|e| panic!("metric {name}: {e}"));
    r.register(Box::new(c.clone())).unwrap_or_else(|e| panic!("metric {name}: {e}"));
    c
}

fn gauge(r: &Registry, name: &str, help: &str) -> IntGauge {
    let g = IntGauge::new(name, help).unwrap_or_else(|e| panic!("metric {name}: {e}"));
    r.register(Box::new(g.clone())).unwrap_or_else(|e| panic!("metric {name}: {e}"));
    g
}

fn histogram(r: &Registry, name: &str, help: &str, buckets: Vec<f64>) -> Histogram {
    let h = Histogram::with_opts(HistogramOpts::new(name, help).buckets(buckets))
        .unwrap_or_else(|e| panic!("metric {name}: {e}"));
    r.register(Box::new(h.clone())).unwrap_or_else(|e| panic!("metric {name}: {e}"));
    h
}

impl Metrics {
    /// Builds the registry. Metric definitions are static, so failure here is a bug.
    pub fn new() -> Metrics {
        let r = Registry::new();
        let build = IntGaugeVec::new(
            Opts::new("attrib_build_info", "Always 1; the running version in its label"),
            &["version"],
        )
        .unwrap_or_else(|e| panic!("attrib_build_info: {e}"));
        r.register(Box::new(build.clone())).unwrap_or_else(|e| panic!("attrib_build_info: {e}"));
        build.with_label_values(&[env!("CARGO_PKG_VERSION")]).set(1);
        let process = ProcessGauges::new(&r);
        let lag = IntGaugeVec::new(
            Opts::new("attrib_consumer_lag_messages", "Messages behind the high watermark, per partition"),
            &["topic", "partition"],
        )
        .unwrap_or_else(|e| panic!("attrib_consumer_lag_messages: {e}"));
        r.register(Box::new(lag.clone())).unwrap_or_else(|e| panic!("attrib_consumer_lag_messages: {e}"));
        Metrics {
            consumed: counter_vec(&r, "attrib_messages_consumed_total", "Messages consumed", &["topic"]),
            decoded: counter_vec(
                &r,
                "attrib_messages_decoded_total",
                "Messages that decoded into valid records",
                &["topic"],
            ),
            rejected: counter_vec(
                &r,
                "attrib_messages_rejected_total",
                "Invalid messages, by reason",
                &["topic", "reason"],
            ),
            duplicates: counter_vec(
                &r,
                "attrib_messages_duplicate_total",
                "Valid messages whose event id was already processed",
                &["topic"],
            ),
            dlq: counter_vec(&r, "attrib_dlq_messages_total", "Messages sent to the dead-letter topic", &["topic"]),
            batches: counter(&r, "attrib_batches_total", "Batches processed and committed"),
            batch_messages: histogram(
                &r,
                "attrib_batch_messages",
                "Messages per batch",
                prometheus::exponential_buckets(1.0, 4.0, 10).unwrap_or_default(),
            ),
            ledger_writes: counter(
                &r,
                "attrib_ledger_writes_total",
                "Recomputations of the people changed since the last one, written to the ledger tables",
            ),
            rows_written: counter_vec(&r, "attrib_rows_written_total", "Rows acknowledged by ClickHouse", &["table"]),
            write_seconds: histogram(
                &r,
                "attrib_clickhouse_write_seconds",
                "Latency of one ClickHouse insert",
                prometheus::exponential_buckets(0.001, 2.0, 16).unwrap_or_default(),
            ),
            write_retries: counter_vec(
                &r,
                "attrib_clickhouse_write_retries_total",
                "Retried ClickHouse inserts",
                &["table"],
            ),
            write_errors: counter(
                &r,
                "attrib_clickhouse_write_errors_total",
                "ClickHouse writes that stopped the pipeline",
            ),
            commits: counter(&r, "attrib_offset_commits_total", "Offset commits after acknowledged writes"),
            consumer_lag: lag,
            conversions_attributed: counter(
                &r,
                "attrib_conversions_attributed_total",
                "Conversion rows (re)attributed and written",
            ),
            last_conversion_attributed: gauge(
                &r,
                "attrib_last_conversion_attributed_timestamp_seconds",
                "Unix time of the last written conversion",
            ),
            journeys: gauge(&r, "attrib_journeys", "People (journeys) held in memory"),
            resident_bytes: gauge(
                &r,
                "attrib_resident_memory_bytes",
                "Resident memory of the service process (what its state holds, with the runtime)",
            ),
            refits: counter(&r, "attrib_model_refits_total", "Data-driven model refits"),
            ready: gauge(&r, "attrib_ready", "1 when the service is ready (broker and ClickHouse reachable)"),
            retries: counter_vec(
                &r,
                "attrib_retries_total",
                "Calls to ClickHouse or the broker retried after a transient error, per phase",
                &["phase"],
            ),
            recovered_events: gauge(&r, "attrib_recovered_events", "Raw events the last recovery replayed"),
            checkpoints: counter(&r, "attrib_checkpoints_total", "State checkpoints saved to ClickHouse"),
            checkpoint_bytes: gauge(&r, "attrib_checkpoint_bytes", "Size of the last state checkpoint saved"),
            restored_checkpoint: gauge(
                &r,
                "attrib_restored_checkpoint",
                "The newest checkpoint (its number) the last recovery restored; 0 for none",
            ),
            checkpoint_chain: gauge(
                &r,
                "attrib_checkpoint_chain",
                "Checkpoints a restart restores: a whole one and the checkpoints of changes after it",
            ),
            process,
            not_ready_because: std::sync::Mutex::new("starting".into()),
            registry: r,
        }
    }

    pub fn set_ready(&self) {
        self.ready.set(1);
        self.not_ready_because.lock().unwrap_or_else(|p| p.into_inner()).clear();
    }

    /// Not ready, and why (shown by `/readyz`).
    pub fn set_not_ready(&self, reason: impl Into<String>) {
        self.ready.set(0);
        *self.not_ready_because.lock().unwrap_or_else(|p| p.into_inner()) = reason.into();
    }

    /// None when ready; otherwise the reason.
    pub fn readiness(&self) -> Option<String> {
        match self.ready.get() {
            1 => None,
            _ => Some(self.not_ready_because.lock().unwrap_or_else(|p| p.into_inner()).clone()),
        }
    }

    /// The Prometheus text exposition.
    pub fn render(&self) -> String {
        self.process.refresh();
        let mut buf = Vec::new();
        let _ = TextEncoder::new().encode(&self.registry.gather(), &mut buf);
        String::from_utf8(buf).unwrap_or_default()
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl attrib_clickhouse::WriteObserver for Metrics {
    fn written(&self, table: &'static str, rows: usize, elapsed: std::time::Duration) {
        self.rows_written.with_label_values(&[table]).inc_by(rows as u64);
        self.write_seconds.observe(elapsed.as_secs_f64());
    }

    fn retrying(&self, table: &'static str, attempt: u32, error: &str) {
        self.write_retries.with_label_values(&[table]).inc();
        self.retries.with_label_values(&["write"]).inc();
        self.set_not_ready(format!("writing {table} to ClickHouse failed {attempt} times, retrying: {error}"));
    }
}
