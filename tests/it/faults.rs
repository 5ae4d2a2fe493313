//! ClickHouse and the network failing under the service: an outage mid-stream pauses it, a
//! fault-injecting proxy at startup, mid-stream and in recovery never stops it, and errors
//! waiting cannot fix stop it at once.

use crate::process::{http_get, poll_until, signal, wait, Guard, PrivateClickHouse};
use crate::service::{path, Setup};
use attrib_tests::{attrib, attrib_bin, ch_query, ch_try, infra, unique, Infra, TempDir};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

#[test]
fn a_clickhouse_outage_pauses_the_service_and_loses_nothing() {
    let Some(base) = infra() else { return };
    // A private ClickHouse this test may stop without disturbing the others.
    let ch = PrivateClickHouse::start();
    let dir = TempDir::new("chdown");
    let infra = Infra { brokers: base.brokers.clone(), clickhouse: "http://127.0.0.1:28123".into() };
    let label = "chdown";
    let input = dir.path().join("in");
    attrib(&["generate", "--out", path(&input), "--people", "4000", "--seed", "8"]).expect("generate");
    attrib(&["batch", "--input", path(&input), "--output", path(&dir.path().join("batch"))]).expect("batch");
    let s = Setup { dir, prefix: format!("{}.", unique(label)), database: unique(label), infra };
    let extra = "batch_max_messages = 300\nbatch_max_wait_ms = 100\nhttp_listen = \"127.0.0.1:29464\"";
    let mut child = Guard(s.spawn("group", extra, false));
    let child = &mut child.0;
    let schema_ready = poll_until(Duration::from_secs(60), || {
        ch_try(&s.infra.clickhouse, &s.database, "EXISTS TABLE attribution_credits FORMAT TSV")
            .is_ok_and(|r| r.trim() == "1")
    });
    assert!(schema_ready, "the service created its schema");
    // ClickHouse goes down, then the data arrives.
    ch.stop();
    let produce_cfg = s.config("producer", "");
    attrib(&["produce", "--input", path(&input), "--config", path(&produce_cfg)]).expect("produce");
    std::thread::sleep(Duration::from_secs(20));
    assert!(child.try_wait().expect("status").is_none(), "the service keeps running while ClickHouse is down");
    let metrics = http_get("127.0.0.1:29464", "/metrics");
    assert!(metrics.contains("attrib_clickhouse_write_retries_total{table="), "retries are counted");
    let resident = metrics.lines().find_map(|l| l.strip_prefix("process_resident_memory_bytes "));
    assert!(resident.and_then(|v| v.parse::<f64>().ok()).is_some_and(|b| b > 1e6), "process metrics: {resident:?}");
    assert!(
        metrics.contains(&format!("attrib_build_info{{version=\"{}\"}} 1", env!("CARGO_PKG_VERSION"))),
        "the running version is exported"
    );
    assert!(
        metrics.lines().any(|l| l == "attrib_offset_commits_total 0"),
        "nothing is committed while nothing is written"
    );
    assert!(http_get("127.0.0.1:29464", "/readyz").starts_with("HTTP/1.1 503"), "not ready while ClickHouse is down");
    assert!(http_get("127.0.0.1:29464", "/healthz").starts_with("HTTP/1.1 200"), "alive all the same");
    ch.start_again();
    // It resumes by itself. It has caught up once the frontier covers every message produced
    // (a count of live credits can match the batch's while later messages still restate some):
    // the batch in flight then is the last, and SIGTERM writes it before exiting.
    let want = attrib_tests::read_csv(&s.dir.path().join("batch/credits.csv")).1.len();
    let produced: usize = std::fs::read_dir(&input)
        .expect("input dir")
        .map(|e| std::fs::read_to_string(e.expect("entry").path()).expect("input file").lines().count())
        .sum();
    let number =
        |sql: &str| ch_try(&s.infra.clickhouse, &s.database, sql).map_or(0, |c| c.trim().parse::<usize>().unwrap_or(0));
    let frontier = "SELECT sum(n) FROM (SELECT max(next_offset) AS n FROM ingest_frontier GROUP BY topic, kafka_partition) FORMAT TSV";
    let complete = poll_until(Duration::from_secs(120), || {
        number(frontier) == produced && number("SELECT count() FROM credits_current FORMAT TSV") == want
    });
    assert!(complete, "the ledger caught up after the outage");
    assert!(poll_until(Duration::from_secs(15), || http_get("127.0.0.1:29464", "/readyz").starts_with("HTTP/1.1 200")));
    signal(child, "-TERM");
    let status = wait(child, Duration::from_secs(40)).expect("exited");
    assert!(status.success());
    s.assert_rule_based_ledger_equals_batch();
}

/// The value of a metric series in a Prometheus text exposition (0 when absent).
fn metric(exposition: &str, series: &str) -> f64 {
    exposition
        .lines()
        .find_map(|l| l.strip_prefix(series).and_then(|v| v.strip_prefix(' ')))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0.0)
}

#[test]
fn clickhouse_faults_at_startup_in_recovery_and_mid_stream_never_stop_the_service() {
    let Some(s) = Setup::new("faults", "4000") else { return };
    let upstream = s.infra.clickhouse.trim_start_matches("http://").trim_end_matches('/').to_string();
    let proxy = attrib_tests::FaultProxy::start(&upstream);
    let via_proxy = Infra { brokers: s.infra.brokers.clone(), clickhouse: proxy.url() };
    let group = format!("{}-group", s.prefix);
    let http = "127.0.0.1:29465";
    // No checkpoints: (b) is about the replay of the whole stored history (tests/it/checkpoint.rs
    // covers restarts from a checkpoint).
    let extra = format!(
        "batch_max_messages = 500\nbatch_max_wait_ms = 100\nhttp_listen = \"{http}\"\nstartup_timeout_secs = 240\n\
         checkpoint_interval_secs = 0"
    );
    let config = attrib_tests::service_config(s.dir.path(), &via_proxy, &s.prefix, &group, &s.database, &extra);
    let spawn = || {
        let mut cmd = Command::new(attrib_bin());
        cmd.args(["run", "--config", path(&config)]);
        cmd.env("RUST_LOG", "error").stdout(Stdio::null()).stderr(Stdio::inherit());
        Guard(cmd.spawn().expect("spawn attrib run"))
    };
    let want = attrib_tests::read_csv(&s.dir.path().join("batch/credits.csv")).1.len();
    let live_credits = || {
        ch_try(&s.infra.clickhouse, &s.database, "SELECT count() FROM credits_current FORMAT TSV")
            .map_or(0, |c| c.trim().parse::<usize>().unwrap_or(0))
    };

    // (a) Startup with ClickHouse unreachable: alive, not ready and saying why, retrying.
    proxy.plan.refuse(true);
    let mut run = spawn();
    assert!(poll_until(Duration::from_secs(30), || http_get(http, "/healthz").starts_with("HTTP/1.1 200")));
    let retried = poll_until(Duration::from_secs(30), || {
        metric(&http_get(http, "/metrics"), "attrib_retries_total{phase=\"migrate\"}") >= 2.0
    });
    assert!(retried, "the migrations check is retried");
    let readyz = http_get(http, "/readyz");
    assert!(readyz.starts_with("HTTP/1.1 503"), "{readyz}");
    assert!(readyz.contains(&format!("migrate: ClickHouse at {}", proxy.url())), "/readyz says why: {readyz}");
    assert!(run.0.try_wait().expect("status").is_none(), "the service waits instead of exiting");

    // (c) The network comes back flaky: 3 % of requests cut, 20 % of answers dropped after
    // ClickHouse executed the request, a little latency. The stream is consumed all the same.
    proxy.plan.refuse(false);
    proxy.plan.flaky(3, 20, 2);
    let mut exited = None;
    let complete = poll_until(Duration::from_secs(300), || {
        exited = run.0.try_wait().expect("status");
        exited.is_some() || live_credits() == want
    });
    assert!(exited.is_none(), "the service kept running through the faults, but exited with {exited:?}");
    assert!(complete, "the ledger is complete ({} of {want} credits)", live_credits());
    let metrics = http_get(http, "/metrics");
    assert!(metric(&metrics, "attrib_retries_total{phase=\"write\"}") >= 1.0, "write retries are counted");
    signal(&run.0, "-TERM");
    let status = wait(&mut run.0, Duration::from_secs(60)).expect("exited");
    assert!(status.success(), "exit status {status}");
    // Stopped by SIGTERM, not caught up: Markov and Shapley carry the last periodic fit.
    s.assert_rule_based_ledger_equals_batch();
    let raw = ch_query(
        &s.infra.clickhouse,
        &s.database,
        "SELECT count(), uniqExact(topic, event_key) FROM events_raw FINAL FORMAT TSV",
    );
    let (stored, distinct) = raw.trim().split_once('\t').expect("two counts");
    assert_eq!(stored, distinct, "no raw event twice after FINAL");

    // (b) A restart whose recovery read is cut half-way starts the read again: the state it
    // goes on from holds every stored event, and the ledger (refitted on all of it) is the batch's.
    proxy.plan.cut_next_long_answer(256 * 1024);
    let mut run = spawn();
    let recovered = poll_until(Duration::from_secs(240), || {
        let m = http_get(http, "/metrics");
        metric(&m, "attrib_retries_total{phase=\"recovery\"}") >= 1.0 && metric(&m, "attrib_ready") == 1.0
    });
    assert!(recovered, "recovery was retried and the service became ready");
    assert_eq!(proxy.plan.cut_answers.load(std::sync::atomic::Ordering::SeqCst), 1, "one long read was cut");
    let replayed = metric(&http_get(http, "/metrics"), "attrib_recovered_events");
    assert_eq!(replayed.to_string(), stored, "the recovered state holds every stored event");
    signal(&run.0, "-TERM");
    let status = wait(&mut run.0, Duration::from_secs(60)).expect("exited");
    assert!(status.success(), "exit status {status}");
    s.assert_ledger_equals_batch();

    let plan = &proxy.plan;
    let count = |c: &std::sync::atomic::AtomicU64| c.load(std::sync::atomic::Ordering::SeqCst);
    eprintln!(
        "fault proxy: {} exchanges, {} connections refused, {} requests cut, {} answers dropped, {} long answers cut",
        count(&plan.exchanges),
        count(&plan.refused),
        count(&plan.cut_requests),
        count(&plan.dropped_answers),
        count(&plan.cut_answers)
    );
    assert!(count(&plan.refused) > 0 && count(&plan.cut_requests) > 0 && count(&plan.dropped_answers) > 0);
}

#[test]
fn startup_stops_at_once_on_what_waiting_cannot_fix_and_on_sigterm_while_it_waits() {
    let Some(infra) = infra() else { return };
    let dir = TempDir::new("startup");
    let prefix = format!("{}.", unique("startup"));
    let database = unique("startup");
    let spawn = |infra: &Infra, extra: &str, env: &[(&str, &str)]| {
        let config = attrib_tests::service_config(dir.path(), infra, &prefix, "g", &database, extra);
        let mut cmd = Command::new(attrib_bin());
        cmd.args(["run", "--config", path(&config)]).envs(env.iter().copied());
        cmd.env("RUST_LOG", "error").stdout(Stdio::null()).stderr(Stdio::piped());
        Guard(cmd.spawn().expect("spawn attrib run"))
    };
    let stderr = |child: &mut Child| {
        let mut text = String::new();
        use std::io::Read;
        let _ = child.stderr.take().expect("stderr").read_to_string(&mut text);
        text
    };

    // Refused credentials: no retrying, a clear message that names the server.
    let started = Instant::now();
    let mut run = spawn(
        &infra,
        "",
        &[("ATTRIB_CLICKHOUSE__USER", "default"), ("ATTRIB_CLICKHOUSE__PASSWORD", "not-the-password")],
    );
    let status = wait(&mut run.0, Duration::from_secs(60)).expect("exited");
    let message = stderr(&mut run.0);
    assert!(!status.success(), "a refused password is an error");
    assert!(started.elapsed() < Duration::from_secs(20), "stopped at once, not after retrying");
    assert!(message.contains(&format!("migrate: ClickHouse at {}", infra.clickhouse)), "{message}");
    assert!(message.to_lowercase().contains("password"), "the cause is shown: {message}");
    assert_eq!(message.matches("Wrong password").count(), 1, "the cause is printed once: {message}");

    // ClickHouse away: the service waits; SIGTERM ends the wait at once with exit 0.
    let upstream = infra.clickhouse.trim_start_matches("http://").trim_end_matches('/');
    let proxy = attrib_tests::FaultProxy::start(upstream);
    proxy.plan.refuse(true);
    let away = Infra { brokers: infra.brokers.clone(), clickhouse: proxy.url() };
    let http = "127.0.0.1:29466";
    let mut run = spawn(&away, &format!("http_listen = \"{http}\""), &[]);
    assert!(poll_until(Duration::from_secs(30), || http_get(http, "/readyz").contains("not ready: migrate")));
    let asked = Instant::now();
    signal(&run.0, "-TERM");
    let status = wait(&mut run.0, Duration::from_secs(30)).expect("exited");
    assert!(status.success(), "a shutdown during startup is a clean stop: {status}");
    assert!(asked.elapsed() < Duration::from_secs(5), "SIGTERM honoured while startup waits");

    // And past `startup_timeout_secs` it gives up, naming the server and the last error.
    let mut run = spawn(&away, "startup_timeout_secs = 3", &[]);
    let status = wait(&mut run.0, Duration::from_secs(60)).expect("exited");
    let message = stderr(&mut run.0);
    assert!(!status.success());
    assert!(message.contains(&format!("ClickHouse at {}", proxy.url())) && message.contains("attempts"), "{message}");
}
