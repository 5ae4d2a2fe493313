//! The streaming service against a real Kafka-protocol broker and a real ClickHouse server:
//! its ledger equals `batch`, replays and crashes change no total, bad input goes to the
//! dead-letter topics, SIGTERM commits and exits. Faults of ClickHouse and the network are in
//! `faults.rs`, on the fixtures here.

use attrib_tests::{attrib, attrib_bin, ch_query, ch_try, infra, read_topic, service_config, unique, Infra, TempDir};
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::{Headers, Message};
use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::process::{poll_until, signal, wait, Guard};

pub(crate) fn path(p: &Path) -> &str {
    p.to_str().expect("utf-8 path")
}

/// An e-mail address sent unhashed in `email_sha256` by every dataset below.
const RAW_ADDRESS: &str = "Grace.Hopper@example.com";

/// A generated dataset with its batch ledger, produced into fresh topics.
pub(crate) struct Setup {
    pub(crate) dir: TempDir,
    pub(crate) prefix: String,
    pub(crate) database: String,
    pub(crate) infra: Infra,
}

impl Setup {
    pub(crate) fn new(label: &str, people: &str) -> Option<Setup> {
        let infra = infra()?;
        let dir = TempDir::new(label);
        let input = dir.path().join("in");
        attrib(&["generate", "--out", path(&input), "--people", people, "--seed", "21"]).expect("generate");
        // A producer that forgot to hash: the raw address must be rejected and never stored.
        let web = input.join("web.events.jsonl");
        let mut lines = std::fs::read_to_string(&web).expect("web events");
        lines.push_str(&format!(
            "{}\n",
            serde_json::json!({"event_id": "raw-email-1", "occurred_at": "2026-03-01T10:00:00Z",
                "anonymous_id": "a-raw", "type": "signup", "email_sha256": RAW_ADDRESS})
        ));
        std::fs::write(&web, lines).expect("append");
        attrib(&["batch", "--input", path(&input), "--output", path(&dir.path().join("batch"))]).expect("batch");
        let prefix = format!("{}.", unique(label));
        let database = unique(label);
        let s = Setup { dir, prefix, database, infra };
        let produce_cfg = s.config("producer", "");
        attrib(&["produce", "--input", path(&input), "--config", path(&produce_cfg)]).expect("produce");
        Some(s)
    }

    pub(crate) fn config(&self, group: &str, extra: &str) -> std::path::PathBuf {
        service_config(
            self.dir.path(),
            &self.infra,
            &self.prefix,
            &format!("{}-{group}", self.prefix),
            &self.database,
            extra,
        )
    }

    pub(crate) fn spawn(&self, group: &str, extra: &str, stop_when_caught_up: bool) -> Child {
        let cfg = self.config(group, extra);
        let mut cmd = Command::new(attrib_bin());
        cmd.args(["run", "--config", path(&cfg)]);
        if stop_when_caught_up {
            cmd.arg("--stop-when-caught-up");
        }
        cmd.env("RUST_LOG", "warn").stdout(Stdio::null()).stderr(Stdio::inherit()).spawn().expect("spawn attrib run")
    }

    /// Runs the service until it has caught up and stopped.
    fn run_to_end(&self, group: &str, extra: &str) {
        let mut child = self.spawn(group, extra, true);
        let status = wait(&mut child, Duration::from_secs(240)).expect("service finished in time");
        assert!(status.success(), "attrib run exited with {status}");
    }

    /// As `run_to_end`, logging at debug level into a file; returns the log.
    pub(crate) fn run_to_end_logged(&self, group: &str, extra: &str) -> String {
        let cfg = self.config(group, extra);
        let log = self.dir.path().join(format!("{group}.log"));
        let file = std::fs::File::create(&log).expect("log file");
        let mut child = Command::new(attrib_bin())
            .args(["run", "--config", path(&cfg), "--stop-when-caught-up"])
            .env("RUST_LOG", "debug,rdkafka=info")
            .stdout(Stdio::null())
            .stderr(file)
            .spawn()
            .expect("spawn attrib run");
        let status = wait(&mut child, Duration::from_secs(240)).expect("service finished in time");
        assert!(status.success(), "attrib run exited with {status}");
        std::fs::read_to_string(&log).expect("log")
    }

    /// Σ credits per (model, currency) of the batch run on the same files.
    fn batch_totals(&self) -> BTreeMap<(String, String), i64> {
        let (h, rows) = attrib_tests::read_csv(&self.dir.path().join("batch/credits.csv"));
        let col = |n: &str| h.iter().position(|x| x == n).expect("column");
        let mut totals = BTreeMap::new();
        for r in rows {
            *totals.entry((r[col("model")].clone(), r[col("currency")].clone())).or_insert(0) +=
                r[col("credit_minor")].parse::<i64>().expect("int");
        }
        totals
    }

    fn clickhouse_totals(&self) -> BTreeMap<(String, String), i64> {
        let out = ch_query(
            &self.infra.clickhouse,
            &self.database,
            "SELECT model, currency, sum(credit_minor) FROM credits_current GROUP BY model, currency FORMAT TSV",
        );
        out.lines()
            .map(|l| {
                let f: Vec<&str> = l.split('\t').collect();
                ((f[0].to_string(), f[1].to_string()), f[2].parse().expect("int"))
            })
            .collect()
    }

    /// The batch ledger and `credits_current`, row for row (weights compared as numbers).
    pub(crate) fn assert_ledger_equals_batch(&self) {
        self.assert_ledger_matches(|_| true);
    }

    /// As above for the rule-based models only: a service that has not refitted since the
    /// last events credits Markov and Shapley with its previous fit, by design.
    pub(crate) fn assert_rule_based_ledger_equals_batch(&self) {
        self.assert_ledger_matches(|model| model != "markov" && model != "shapley");
    }

    /// Spend facts and the monthly finance reconciliation read from ClickHouse equal the batch's.
    fn assert_spend_and_reconciliation_equal_batch(&self) {
        let (h, rows) = attrib_tests::read_csv(&self.dir.path().join("batch/spend.csv"));
        let cols = ["source", "event_id", "spend_minor", "currency", "spend_reporting_minor", "fx_status"];
        let idx: Vec<usize> = cols.iter().map(|c| h.iter().position(|x| x == c).expect("spend column")).collect();
        let mut batch: Vec<String> =
            rows.iter().map(|r| idx.iter().map(|i| r[*i].clone()).collect::<Vec<_>>().join(",")).collect();
        batch.sort();
        let sql = format!("SELECT {} FROM spend_current ORDER BY source, event_id FORMAT CSV", cols.join(", "));
        let out = ch_query(&self.infra.clickhouse, &self.database, &sql).replace("\\N", "").replace('"', "");
        let mut live: Vec<String> = out.lines().map(str::to_string).collect();
        live.sort();
        assert!(!batch.is_empty());
        assert!(live == batch, "spend_current differs from spend.csv ({} vs {} rows)", live.len(), batch.len());

        let config = attrib::config::Config::default();
        let (h, deals) = attrib_tests::read_csv(&self.dir.path().join("batch/deals.csv"));
        let closed = h.iter().position(|x| x == "closed_at").expect("closed_at");
        let months: std::collections::BTreeSet<String> =
            deals.iter().filter_map(|d| d[closed].get(..7).map(str::to_string)).collect();
        assert!(!months.is_empty());
        for month in months {
            use attrib::commands::reconcile::{reconcile, Source};
            let from_batch =
                reconcile(&month, Source::Dir(&self.dir.path().join("batch")), &config).expect("batch side");
            let from_ch = reconcile(
                &month,
                Source::ClickHouse {
                    url: &self.infra.clickhouse,
                    database: &self.database,
                    access: Default::default(),
                },
                &config,
            )
            .expect("ClickHouse side");
            assert!(from_batch.balanced(), "{month}: {from_batch:#?}");
            assert_eq!(from_ch, from_batch, "{month}");
        }
    }

    /// Every KPI view equals the batch file of the same name (same columns; fractional columns
    /// compared to 1e-9 relative, since ClickHouse sums floats in another order), and
    /// `pipeline_current` equals `pipeline.csv`.
    fn assert_kpis_equal_batch(&self) {
        const FRACTIONAL: [&str; 9] = [
            "weight",
            "attributed_conversions",
            "leads",
            "pipeline_deals",
            "roas",
            "cpa_minor",
            "cost_per_lead_minor",
            "avg_days",
            "median_days",
        ];
        for (view, file) in [
            ("kpi_daily", "kpi_daily.csv"),
            ("kpi_campaigns", "kpi_campaigns.csv"),
            ("kpi_posts", "kpi_posts.csv"),
            ("kpi_time_to_conversion", "kpi_time_to_conversion.csv"),
            ("kpi_time_to_conversion_buckets", "kpi_time_to_conversion_buckets.csv"),
            ("kpi_paths", "kpi_paths.csv"),
            ("kpi_reconciliation", "kpi_reconciliation.csv"),
            ("pipeline_current", "pipeline.csv"),
        ] {
            let (h, rows) = attrib_tests::read_csv(&self.dir.path().join("batch").join(file));
            let fractional: Vec<bool> = h.iter().map(|c| FRACTIONAL.contains(&c.as_str())).collect();
            // (exact cells joined, fractional cells), sorted by the exact ones.
            let split = |cells: Vec<String>| -> (String, Vec<f64>) {
                let mut exact = Vec::new();
                let mut numbers = Vec::new();
                for (v, frac) in cells.into_iter().zip(&fractional) {
                    let v = if v == "\\N" { String::new() } else { v };
                    match frac {
                        true => numbers.push(if v.is_empty() { f64::NAN } else { v.parse().expect("number") }),
                        false => exact.push(v),
                    }
                }
                (exact.join("|"), numbers)
            };
            let mut batch: Vec<_> = rows.into_iter().map(split).collect();
            let out =
                ch_query(&self.infra.clickhouse, &self.database, &format!("SELECT * FROM {view} FORMAT CSVWithNames"));
            let mut r = csv::Reader::from_reader(out.as_bytes());
            assert_eq!(r.headers().expect("header").iter().collect::<Vec<_>>(), h, "{view} has the columns of {file}");
            let mut live: Vec<_> =
                r.records().map(|x| split(x.expect("row").iter().map(str::to_string).collect())).collect();
            batch.sort_by(|a, b| a.0.cmp(&b.0));
            live.sort_by(|a, b| a.0.cmp(&b.0));
            assert!(!batch.is_empty(), "{file} is empty");
            assert_eq!(live.len(), batch.len(), "{view}: row count");
            let close = |a: f64, b: f64| (a.is_nan() && b.is_nan()) || (a - b).abs() <= 1e-9 * a.abs().max(1.0);
            for (l, b) in live.iter().zip(&batch) {
                let same = l.0 == b.0 && l.1.iter().zip(&b.1).all(|(x, y)| close(*x, *y));
                assert!(same, "{view} differs from {file}:\n  view:  {l:?}\n  batch: {b:?}");
            }
        }
    }

    /// Every Grafana panel and variable query runs on this ClickHouse and returns rows with
    /// every variable at "All" (and runs with chosen values), the currency variables read the
    /// data's reporting currency, and the reconciliation view balances.
    fn assert_dashboards_answer(&self) {
        let all = [
            ("model", "linear"),
            ("minor_per_unit", "100"),
            ("conversion_type:singlequote", "'__all__'"),
            ("platform:singlequote", "'__all__'"),
            ("campaign:singlequote", "'__all__'"),
        ];
        let chosen = [
            ("model", "last_touch"),
            ("minor_per_unit", "100"),
            ("conversion_type:singlequote", "'order','deal'"),
            ("platform:singlequote", "'linkedin','direct'"),
            ("campaign:singlequote", "'no-such-campaign'"),
        ];
        let queries = attrib_tests::dashboard_queries(&all);
        assert!(queries.len() >= 15, "{} dashboard queries", queries.len());
        let run = |what: &str, sql: &str| {
            ch_try(&self.infra.clickhouse, &self.database, &format!("{sql} FORMAT TSV"))
                .unwrap_or_else(|e| panic!("{what}: {e}\n{sql}"))
        };
        for (what, sql) in &queries {
            assert!(!run(what, sql).trim().is_empty(), "{what} returned no rows:\n{sql}");
            if what.ends_with("variable minor_per_unit") {
                assert_eq!(run(what, sql).trim(), "100", "USD has 2 decimals");
            }
            if what.ends_with("variable reporting_currency") {
                assert_eq!(run(what, sql).trim(), "USD");
            }
        }
        for (what, sql) in attrib_tests::dashboard_queries(&chosen) {
            run(&what, &sql);
        }
        let unbalanced = ch_query(
            &self.infra.clickhouse,
            &self.database,
            "SELECT count(), countIf(difference_minor != 0) FROM kpi_reconciliation FORMAT TSV",
        );
        let counts: Vec<&str> = unbalanced.trim().split('\t').collect();
        assert!(counts[0] != "0" && counts[1] == "0", "kpi_reconciliation lines / unbalanced: {counts:?}");

        // The HTML report from ClickHouse's views is the batch folder's report.
        let (from_ch, from_batch) = (self.dir.path().join("ch.html"), self.dir.path().join("batch.html"));
        let ch = &self.infra.clickhouse;
        attrib(&["report", "--clickhouse", ch, "--database", &self.database, "--out", path(&from_ch)]).expect("report");
        let batch_dir = self.dir.path().join("batch");
        attrib(&["report", "--input", path(&batch_dir), "--out", path(&from_batch)]).expect("report");
        let body = |p: &Path| {
            let html = std::fs::read_to_string(p).expect("report");
            html.split(" · source ").next().unwrap_or_default().to_string()
                + html.split("</p>").skip(1).collect::<Vec<_>>().join("</p>").as_str()
        };
        let (a, b) = (body(&from_ch), body(&from_batch));
        let at = a.bytes().zip(b.bytes()).position(|(x, y)| x != y).unwrap_or(a.len().min(b.len()));
        let around = |s: &str| s.get(at.saturating_sub(200)..(at + 200).min(s.len())).unwrap_or_default().to_string();
        assert!(a == b, "the report from ClickHouse differs from the batch one:\n{}\n---\n{}", around(&a), around(&b));
    }

    fn assert_ledger_matches(&self, keep: impl Fn(&str) -> bool) {
        let totals = |t: BTreeMap<(String, String), i64>| -> BTreeMap<(String, String), i64> {
            t.into_iter().filter(|((m, _), _)| keep(m)).collect()
        };
        assert_eq!(totals(self.clickhouse_totals()), totals(self.batch_totals()), "Σ credits per model and currency");
        let normalise = |cols: Vec<String>, weight_col: usize| -> String {
            // ClickHouse writes NULL as \N where the CSV has an empty field.
            let mut c: Vec<String> = cols.into_iter().map(|v| if v == "\\N" { String::new() } else { v }).collect();
            c[weight_col] = format!("{:.12}", c[weight_col].parse::<f64>().expect("weight"));
            c.join("|")
        };
        let (h, rows) = attrib_tests::read_csv(&self.dir.path().join("batch/credits.csv"));
        let w = h.iter().position(|x| x == "weight").expect("weight column");
        let m = h.iter().position(|x| x == "model").expect("model column");
        let mut batch: Vec<String> = rows.into_iter().filter(|r| keep(&r[m])).map(|r| normalise(r, w)).collect();
        let out = ch_query(&self.infra.clickhouse, &self.database, "SELECT * FROM credits_current FORMAT CSVWithNames");
        let mut r = csv::Reader::from_reader(out.as_bytes());
        assert_eq!(
            r.headers().expect("header").iter().collect::<Vec<_>>(),
            h,
            "credits_current has the columns of credits.csv"
        );
        let mut live: Vec<String> = r
            .records()
            .map(|x| x.expect("row").iter().map(str::to_string).collect::<Vec<_>>())
            .filter(|r| keep(&r[m]))
            .map(|r| normalise(r, w))
            .collect();
        batch.sort();
        live.sort();
        assert_eq!(live.len(), batch.len(), "row count");
        assert!(live == batch, "credits_current differs from batch credits.csv");
        // No ledger key appears twice once deduplicated.
        let dup = ch_query(
            &self.infra.clickhouse,
            &self.database,
            "SELECT count() - uniqExact(conversion_id, conversion_version, model, touch_source, touch_event_id) \
             FROM attribution_credits FINAL FORMAT TSV",
        );
        assert_eq!(dup.trim(), "0", "duplicate ledger keys");
    }
}

#[test]
fn the_service_ledger_equals_batch_replays_change_nothing_and_bad_input_goes_to_the_dlq() {
    let Some(s) = Setup::new("svc", "20000") else { return };
    // Small batches that fill up, and a long interval: while catching up, the people changed
    // wait for one ledger write rather than one per batch, and the ledger still equals batch.
    let log = s.run_to_end_logged("first", "batch_max_messages = 5000\ncatch_up_ledger_interval_ms = 60000");
    let stopped = strip_ansi(log.lines().rfind(|l| l.contains("stopped")).expect("the stop is logged"));
    let field = |name: &str| -> u64 {
        let at = stopped.find(&format!("{name}=")).unwrap_or_else(|| panic!("{name} in {stopped}"));
        stopped[at + name.len() + 1..].chars().take_while(char::is_ascii_digit).collect::<String>().parse().expect("n")
    };
    let (batches, ledger_writes) = (field("batches"), field("ledger_writes"));
    assert!(batches >= 20, "{batches} batches of at most 5000 messages");
    assert!((1..=batches / 2).contains(&ledger_writes), "{ledger_writes} ledger writes for {batches} batches");
    s.assert_ledger_equals_batch();
    s.assert_spend_and_reconciliation_equal_batch();
    s.assert_kpis_equal_batch();
    s.assert_dashboards_answer();
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(s.dir.path().join("batch/summary.json")).expect("summary"))
            .expect("json");

    // (f) Row versions come from the input, not the clock: the frontier covers every message
    // produced, and a row's version is twice the messages consumed when it was written (+1 for
    // a refit's rewrite at the same position).
    let messages: u64 =
        summary["topics"].as_object().expect("topics").values().map(|t| t["received"].as_u64().expect("n")).sum();
    let query = |sql: &str| ch_query(&s.infra.clickhouse, &s.database, sql).trim().to_string();
    let frontier = query("SELECT sum(n) FROM (SELECT max(next_offset) AS n FROM ingest_frontier GROUP BY topic, kafka_partition) FORMAT TSV");
    assert_eq!(frontier, messages.to_string(), "the frontier covers every message");
    let max_revision: u64 =
        query("SELECT max(revision) FROM attribution_credits FORMAT TSV").parse().expect("revision");
    assert!(
        (2 * messages..=2 * messages + 1).contains(&max_revision),
        "max revision {max_revision} for {messages} messages"
    );
    let versions_before = query("SELECT count(), sum(revision) FROM attribution_credits FINAL FORMAT TSV");

    // (c) Replay every topic from offset 0 (a new group) into the same database: totals unchanged,
    // and every live row keeps the version it had (a replay writes the versions of the first run).
    s.run_to_end("replay", "");
    s.assert_ledger_equals_batch();
    s.assert_kpis_equal_batch();
    assert_eq!(query("SELECT count(), sum(revision) FROM attribution_credits FINAL FORMAT TSV"), versions_before);

    // (e) Every rejected record is in its dead-letter topic, untouched, with the reason and origin.
    let rejected = summary["topics"]["web.events"]["rejected"].as_u64().expect("count") as usize;
    assert!(rejected > 0);
    // Both runs sent every reject (at-least-once): read them all.
    let dlq = read_topic(&s.infra.brokers, &format!("{}web.events.dlq", s.prefix), 2 * rejected);

    // (g) The unhashed address went to the DLQ as `invalid_hash`, and reached no header, no
    // ClickHouse table and no log line.
    let header = |m: &rdkafka::message::OwnedMessage, k: &str| {
        m.headers()
            .and_then(|h| h.iter().find(|h| h.key == k).and_then(|h| h.value))
            .map(|v| String::from_utf8_lossy(v).into_owned())
    };
    let raw = dlq.iter().find(|m| header(m, "error_code").as_deref() == Some("invalid_hash")).expect("in the DLQ");
    let needle = "hopper@example";
    assert!(raw.payload().is_some_and(|p| String::from_utf8_lossy(p).to_lowercase().contains(needle)), "untouched");
    for h in ["error", "error_code", "source_topic"] {
        assert!(!header(raw, h).unwrap_or_default().to_lowercase().contains(needle), "header {h}");
    }
    // Raw payloads land only in events_raw (the engine never saw the rejected record).
    let sql = format!(
        "SELECT count() FROM events_raw WHERE positionCaseInsensitive(payload, '{needle}') > 0 \
         OR positionCaseInsensitive(event_key, '{needle}') > 0 FORMAT TSV"
    );
    assert_eq!(query(&sql), "0", "events_raw holds the raw address");
    assert!(log.contains("caught up"), "the log was captured");
    let effective =
        log.lines().find(|l| l.contains("effective configuration")).expect("the effective configuration is logged");
    assert!(effective.contains(&s.infra.clickhouse) && effective.contains(&s.infra.brokers), "{effective}");
    assert!(effective.contains("password_set"), "whether credentials are set is logged: {effective}");
    assert!(!log.to_lowercase().contains(needle), "a log line holds the raw address");
    // The first run sent them; the replay run sent them again (at-least-once), same bytes.
    assert!(dlq.len() >= rejected, "{} of {rejected} rejected web events in the DLQ", dlq.len());
    for m in &dlq {
        let headers = m.headers().expect("headers");
        let get = |k: &str| {
            headers.iter().find(|h| h.key == k).and_then(|h| h.value).map(|v| String::from_utf8_lossy(v).into_owned())
        };
        assert!(
            get("error").is_some_and(|e| e.contains("field") || e.contains("JSON") || e.contains("object")),
            "{:?}",
            get("error")
        );
        assert_eq!(get("source_topic").as_deref(), Some(format!("{}web.events", s.prefix).as_str()));
        assert!(get("source_partition").is_some() && get("source_offset").is_some());
        let payload = m.payload().unwrap_or_default();
        assert!(attrib_contract::decode(attrib_contract::Topic::WebEvents, payload).is_err(), "only invalid records");
    }
}

#[test]
fn kill_dash_nine_at_random_points_loses_and_doubles_nothing() {
    let Some(s) = Setup::new("kill", "6000") else { return };
    // Small batches and frequent ledger writes while catching up (a batch that is behind waits,
    // raw events and all, for the next one) so kills land between many commits.
    let extra = "batch_max_messages = 400\nbatch_max_wait_ms = 100\ncatch_up_ledger_interval_ms = 200";
    let stored = || {
        ch_try(&s.infra.clickhouse, &s.database, "SELECT count() FROM events_raw FORMAT TSV")
            .map_or(0, |c| c.trim().parse::<u64>().unwrap_or(0))
    };
    // Every valid, distinct record ends up in events_raw exactly once.
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(s.dir.path().join("batch/summary.json")).expect("summary"))
            .expect("json");
    let accepted: u64 =
        summary["topics"].as_object().expect("topics").values().map(|t| t["accepted"].as_u64().unwrap_or(0)).sum();
    let mut mid_stream = 0;
    // Each run is killed once it has stored a given share of the records, so the kills land
    // mid-stream however fast the machine is (a fixed delay after the first write let a fast
    // machine finish). The shares vary with the test process so kills fall at different points.
    let jitter = u64::from(std::process::id() % 10);
    for (round, percent) in [15u64, 45, 75].into_iter().enumerate() {
        let before = stored();
        let target = (accepted * (percent + jitter) / 100).max(before + 1);
        let mut child = s.spawn("group", extra, false);
        let start = Instant::now();
        while stored() < target && start.elapsed() < Duration::from_secs(60) {
            std::thread::sleep(Duration::from_millis(10));
        }
        signal(&child, "-KILL");
        let _ = child.wait();
        let after = stored();
        eprintln!("round {round}: killed at {target} stored; {before} → {after} raw events stored");
        if after > before && after < accepted {
            mid_stream += 1;
        }
    }
    assert!(mid_stream >= 2, "kills landed mid-stream ({mid_stream} of 3, {accepted} records in all)");
    s.run_to_end("group", extra);
    s.assert_ledger_equals_batch();
    assert_eq!(stored(), accepted, "every record stored once");
}

#[test]
fn sigterm_finishes_the_batch_commits_and_exits_zero() {
    let Some(s) = Setup::new("term", "3000") else { return };
    let mut guard = Guard(s.spawn("group", "", false));
    let child = &mut guard.0;
    let seen = poll_until(Duration::from_secs(90), || {
        ch_try(&s.infra.clickhouse, &s.database, "SELECT count() FROM conversions FORMAT TSV")
            .is_ok_and(|c| c.trim().parse::<u64>().unwrap_or(0) > 0)
    });
    assert!(seen, "the service wrote conversions");
    // Let it reach the end of the topics, then stop it.
    std::thread::sleep(Duration::from_secs(3));
    signal(child, "-TERM");
    let status = wait(child, Duration::from_secs(40)).expect("exited within the shutdown bound");
    assert!(status.success(), "exit status {status}");
    // Everything was committed: a restart in the same group has nothing left to read, and the ledger is complete.
    s.run_to_end("group", "");
    s.assert_ledger_equals_batch();
    let consumer: BaseConsumer = rdkafka::ClientConfig::new()
        .set("bootstrap.servers", &s.infra.brokers)
        .set("group.id", format!("{}-group", s.prefix))
        .create()
        .expect("consumer");
    let mut tpl = rdkafka::TopicPartitionList::new();
    for p in 0..3 {
        tpl.add_partition(&format!("{}web.events", s.prefix), p);
    }
    let committed = consumer.committed_offsets(tpl, Duration::from_secs(10)).expect("committed offsets");
    let total: i64 = committed.elements().iter().map(|e| e.offset().to_raw().unwrap_or(0).max(0)).sum();
    let lines = std::fs::read_to_string(s.dir.path().join("in/web.events.jsonl")).expect("input").lines().count();
    assert_eq!(total as usize, lines, "committed offsets cover every web event");
}

#[test]
fn migrations_apply_once_record_their_versions_and_survive_concurrent_starts() {
    let Some(infra) = infra() else { return };
    let database = unique("migrate");
    let runs: Vec<_> = (0..2)
        .map(|_| {
            let (url, db) = (infra.clickhouse.clone(), database.clone());
            std::thread::spawn(move || attrib(&["migrate", "--clickhouse", &url, "--database", &db]))
        })
        .collect();
    for r in runs {
        r.join().expect("thread").expect("migrate");
    }
    attrib(&["migrate", "--clickhouse", &infra.clickhouse, "--database", &database]).expect("again");
    let versions = ch_query(
        &infra.clickhouse,
        &database,
        "SELECT version, name FROM schema_migrations FINAL ORDER BY version FORMAT TSV",
    );
    assert_eq!(
        versions,
        "1\t001_ledger\n2\t002_current_views\n3\t003_reporting_currency\n4\t004_pipeline_engagement_kpi_views\n\
         5\t005_ingest_frontier\n6\t006_fits_per_conversion_type\n7\t007_state_checkpoints\n8\t008_spend_versions\n\
         9\t009_paths_and_time_buckets\n10\t010_checkpoint_chains\n"
    );
    let tables = ch_query(&infra.clickhouse, &database, "SHOW TABLES FORMAT TSV");
    for t in [
        "state_checkpoints",
        "state_checkpoint_parts",
        "attribution_credits",
        "conversions",
        "touchpoints",
        "ad_spend",
        "events_raw",
        "credits_current",
        "spend_facts",
        "crm_deals",
        "pipeline_credits",
        "ingest_frontier",
        "social_engagement",
        "kpi_daily",
        "kpi_paths",
        "kpi_time_to_conversion_buckets",
        "kpi_campaigns",
        "kpi_posts",
        "kpi_time_to_conversion",
        "kpi_reconciliation",
    ] {
        assert!(tables.lines().any(|l| l == t), "{t} in {tables}");
    }
}

/// A log line without its terminal colours.
fn strip_ansi(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            // CSI: ESC [ parameters final-byte (a letter).
            for d in chars.by_ref() {
                if d.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}
