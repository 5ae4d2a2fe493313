//! State at real volume: `cargo bench -p attrib --bench scale` (the service part needs the
//! test servers: scripts/start-broker.sh and scripts/start-clickhouse.sh).
//!
//! On generated data of `ATTRIB_BENCH_PEOPLE` people (default 1 000 000, about 7 M records) it
//! prints, in one run, every figure as a ratio to an anchor measured in the same run:
//! 1. the JSON decode floor: every line parsed into a `serde_json::Value` on one thread;
//! 2. `attrib batch` as a whole process: wall time, records/s, ratio to the floor, and peak
//!    resident memory per input record (the process's own VmHWM, from its summary.json);
//! 3. unless `ATTRIB_BENCH_SKIP_SERVICE=1`: a bare rdkafka consumer of the topics, the service
//!    (`attrib run --stop-when-caught-up`, a whole process) from start to caught up, and a bare
//!    ClickHouse insert (RowBinary over HTTP) of the rows the service left in its tables; the
//!    service's ratio to the slower of the two; the service's resident memory per record
//!    after ingest; and the time from `kill -9` of a running service to caught up again, next
//!    to the first ingest.

use attrib_contract::Topic;
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::ClientConfig;
use std::io::{BufRead, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const ATTRIB: &str = env!("CARGO_BIN_EXE_attrib");

fn attrib(args: &[&str]) -> std::process::Output {
    let out = Command::new(ATTRIB).args(args).stderr(Stdio::inherit()).output().expect("run attrib");
    assert!(out.status.success(), "attrib {args:?} failed: {}", out.status);
    out
}

fn files(dir: &Path) -> Vec<(Topic, PathBuf)> {
    Topic::ALL.iter().map(|t| (*t, dir.join(format!("{}.jsonl", t.as_str())))).filter(|(_, p)| p.exists()).collect()
}

/// Parses every line of every file into a `serde_json::Value` on this one thread.
fn decode_floor(dir: &Path) -> (u64, f64) {
    let t = Instant::now();
    let mut lines = 0u64;
    for (_, path) in files(dir) {
        let reader = std::io::BufReader::with_capacity(1 << 20, std::fs::File::open(&path).expect("open"));
        for line in reader.split(b'\n') {
            let line = line.expect("read");
            let _ = std::hint::black_box(serde_json::from_slice::<serde_json::Value>(&line));
            lines += 1;
        }
    }
    (lines, t.elapsed().as_secs_f64())
}

fn main() {
    let people: u64 = std::env::var("ATTRIB_BENCH_PEOPLE").ok().and_then(|v| v.parse().ok()).unwrap_or(1_000_000);
    let run_id = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let root = std::env::temp_dir().join(format!("attrib-scale-{run_id}"));
    let input = root.join("in");
    let t = Instant::now();
    attrib(&["generate", "--out", input.to_str().expect("utf-8 path"), "--people", &people.to_string(), "--seed", "7"]);
    println!("dataset: {people} people, generated in {:.1}s into {}", t.elapsed().as_secs_f64(), input.display());

    let (records, floor_secs) = decode_floor(&input);
    let floor_rate = records as f64 / floor_secs;
    println!(
        "{:<52}{:>10.0} records/s  ({records} records, {floor_secs:.2}s)",
        "JSON decode floor (Value per line, 1 thread)", floor_rate
    );

    let out = root.join("batch");
    let t = Instant::now();
    attrib(&["batch", "--input", input.to_str().expect("utf-8"), "--output", out.to_str().expect("utf-8")]);
    let batch_secs = t.elapsed().as_secs_f64();
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("summary.json")).expect("summary")).expect("json");
    let peak = summary["peak_resident_bytes"].as_u64().unwrap_or(0);
    let batch_rate = records as f64 / batch_secs;
    println!(
        "{:<52}{:>10.0} records/s  ({batch_secs:.2}s whole process) = {:.3}x the floor",
        "attrib batch",
        batch_rate,
        batch_rate / floor_rate
    );
    println!(
        "  peak resident memory {:.0} MB = {:.0} B per input record",
        peak as f64 / 1e6,
        peak as f64 / records as f64
    );
    let _ = std::fs::remove_dir_all(&out);

    if std::env::var("ATTRIB_BENCH_SKIP_SERVICE").is_ok_and(|v| v == "1") {
        println!("service part skipped (ATTRIB_BENCH_SKIP_SERVICE=1)");
        let _ = std::fs::remove_dir_all(&root);
        return;
    }
    service_part(&root, &input, records, run_id);
    let _ = std::fs::remove_dir_all(&root);
}

fn service_part(root: &Path, input: &Path, records: u64, run_id: u64) {
    let brokers = std::env::var("ATTRIB_TEST_BROKERS").unwrap_or_else(|_| "127.0.0.1:19092".into());
    let clickhouse = std::env::var("ATTRIB_TEST_CLICKHOUSE").unwrap_or_else(|_| "http://127.0.0.1:18123".into());
    let prefix = format!("scale{run_id}.");
    let database = format!("scale{run_id}");
    let config = |group: &str| -> PathBuf {
        let path = root.join(format!("{group}.toml"));
        let text = format!(
            "[kafka]\nbrokers = \"{brokers}\"\ngroup = \"{prefix}{group}\"\ntopic_prefix = \"{prefix}\"\npartitions = 3\n\
             instance_id = \"{prefix}{group}-0\"\n[kafka.properties]\n\"session.timeout.ms\" = \"6000\"\n\"heartbeat.interval.ms\" = \"1000\"\n\
             \"fetch.queue.backoff.ms\" = \"10\"\n[clickhouse]\nurl = \"{clickhouse}\"\ndatabase = \"{database}\"\n\
             [service]\nhttp_listen = \"\"\nrefit_interval_secs = 0\n"
        );
        std::fs::write(&path, text).expect("config");
        path
    };
    let t = Instant::now();
    attrib(&[
        "produce",
        "--input",
        input.to_str().expect("utf-8"),
        "--config",
        config("producer").to_str().expect("utf-8"),
    ]);
    println!("produced {records} messages in {:.1}s", t.elapsed().as_secs_f64());

    // Bare consumer: subscribe to last message, like the service from start to caught up.
    let mut cfg = ClientConfig::new();
    for (k, v) in [
        ("bootstrap.servers", brokers.as_str()),
        ("group.id", &format!("{prefix}bare")),
        ("auto.offset.reset", "earliest"),
        ("enable.auto.commit", "false"),
        ("session.timeout.ms", "6000"),
        ("heartbeat.interval.ms", "1000"),
        ("fetch.queue.backoff.ms", "10"),
    ] {
        cfg.set(k, v);
    }
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("runtime");
    let bare_secs = rt.block_on(async {
        let c: StreamConsumer = cfg.create().expect("consumer");
        let topics: Vec<String> = Topic::ALL.iter().map(|t| format!("{prefix}{}", t.as_str())).collect();
        let t = Instant::now();
        c.subscribe(&topics.iter().map(String::as_str).collect::<Vec<_>>()).expect("subscribe");
        let mut n = 0u64;
        while n < records {
            match tokio::time::timeout(Duration::from_secs(60), c.recv()).await {
                Ok(Ok(_)) => n += 1,
                Ok(Err(e)) => panic!("bare consumer: {e}"),
                Err(_) => panic!("bare consumer: {n} of {records} messages after 60 s without one"),
            }
        }
        t.elapsed().as_secs_f64()
    });
    let bare_rate = records as f64 / bare_secs;
    println!("{:<52}{:>10.0} msg/s  ({bare_secs:.2}s incl. group join)", "bare rdkafka consumer", bare_rate);

    // The service, a whole process, from start to caught up (recovery, join, final refit).
    let service_cfg = config("service");
    let run = |stop: bool| {
        let mut cmd = Command::new(ATTRIB);
        cmd.args(["run", "--config", service_cfg.to_str().expect("utf-8")]);
        if stop {
            cmd.arg("--stop-when-caught-up");
        }
        cmd.env("RUST_LOG", "info,rdkafka=warn").env("ATTRIB_LOG_FORMAT", "json");
        cmd.stdout(Stdio::null()).stderr(Stdio::piped()).spawn().expect("spawn attrib run")
    };
    let t = Instant::now();
    let first = run(true).wait_with_output().expect("service");
    let ingest_secs = t.elapsed().as_secs_f64();
    assert!(first.status.success(), "attrib run: {}", String::from_utf8_lossy(&first.stderr));
    let log = String::from_utf8_lossy(&first.stderr).into_owned();
    let caught_up = log.lines().rfind(|l| l.contains("caught up; stopping")).unwrap_or_default().to_string();
    let field = |name: &str| -> u64 {
        serde_json::from_str::<serde_json::Value>(&caught_up).ok().and_then(|v| v["fields"][name].as_u64()).unwrap_or(0)
    };
    let service_rate = records as f64 / ingest_secs;

    // A bare insert of the rows the service left in its tables, RowBinary over HTTP.
    let http = Http::new(&clickhouse);
    http.post("CREATE DATABASE IF NOT EXISTS bare_copy", &[]).expect("create database");
    let tables = String::from_utf8(
        http.post(
            &format!(
                "SELECT name FROM system.tables WHERE database = '{database}' AND engine LIKE '%MergeTree' FORMAT TSV"
            ),
            &[],
        )
        .expect("tables"),
    )
    .expect("utf-8");
    let (mut rows, mut insert_secs) = (0u64, 0.0);
    for table in tables.lines() {
        let copy = format!("bare_copy.{table}_{run_id}");
        http.post(&format!("CREATE TABLE {copy} AS {database}.{table}"), &[]).expect("create copy");
        let n: u64 = String::from_utf8(
            http.post(&format!("SELECT count() FROM {database}.{table} FORMAT TSV"), &[]).expect("count"),
        )
        .expect("utf-8")
        .trim()
        .parse()
        .expect("count");
        let body = http.post(&format!("SELECT * FROM {database}.{table} FORMAT RowBinary"), &[]).expect("export");
        let t = Instant::now();
        http.post(&format!("INSERT INTO {copy} FORMAT RowBinary"), &body).expect("insert");
        insert_secs += t.elapsed().as_secs_f64();
        rows += n;
        http.post(&format!("DROP TABLE {copy}"), &[]).expect("drop copy");
    }
    let insert_equiv = records as f64 / insert_secs;
    println!(
        "{:<52}{:>10.0} rows/s   ({rows} rows in {insert_secs:.2}s = {insert_equiv:.0} input records/s)",
        "bare ClickHouse insert of the service's rows",
        rows as f64 / insert_secs
    );
    let slower = bare_rate.min(insert_equiv);
    println!(
        "{:<52}{:>10.0} msg/s  ({ingest_secs:.2}s whole process) = {:.3}x the slower of consumer and insert",
        "service: broker -> engine -> ClickHouse",
        service_rate,
        service_rate / slower
    );
    let resident = field("resident_bytes");
    println!(
        "  held after ingest: {:.0} MB resident = {:.0} B per input record (peak {:.0} MB; {} people, {} facts, {} written-row fingerprints)",
        resident as f64 / 1e6,
        resident as f64 / records as f64,
        field("peak_resident_bytes") as f64 / 1e6,
        field("people"),
        field("facts"),
        field("written_rows"),
    );

    // kill -9 of a running, caught-up service, then the time to caught up again.
    let mut running = run(false);
    let mut lines = std::io::BufReader::new(running.stderr.take().expect("stderr")).lines();
    let recovered = lines.by_ref().map_while(Result::ok).any(|l| l.contains("state recovered"));
    assert!(recovered, "the running service did not recover");
    std::thread::sleep(Duration::from_secs(2));
    running.kill().expect("kill -9");
    let _ = running.wait();
    let t = Instant::now();
    let restarted = run(true).wait_with_output().expect("restart");
    let restart_secs = t.elapsed().as_secs_f64();
    assert!(restarted.status.success(), "restart: {}", String::from_utf8_lossy(&restarted.stderr));
    println!(
        "{:<52}{:>10.2} s      = {:.3}x the first ingest ({ingest_secs:.2}s)",
        "restart after kill -9 to caught up",
        restart_secs,
        restart_secs / ingest_secs
    );
    // Where the restart's time went: the phases its "state recovered" line reports.
    let log = String::from_utf8_lossy(&restarted.stderr).into_owned();
    let recovered = log.lines().find(|l| l.contains("state recovered")).unwrap_or_default();
    let fields = serde_json::from_str::<serde_json::Value>(recovered).map(|v| v["fields"].clone()).unwrap_or_default();
    let phase = |name: &str| fields[name].as_f64().unwrap_or(f64::NAN);
    println!(
        "  restart phases: checkpoint read {:.2}s, replay past it {:.2}s ({} events), seed {:.2}s, reconcile {:.2}s, recovered at {:.2}s; the rest is consuming to caught up",
        phase("checkpoint_secs"),
        phase("replay_secs"),
        fields["events"].as_u64().unwrap_or(0),
        phase("seed_secs"),
        phase("reconcile_secs"),
        phase("secs"),
    );
    let _ = http.post(&format!("DROP DATABASE IF EXISTS {database}"), &[]);
}

/// Just enough HTTP/1.0 to send ClickHouse a query with an optional body.
struct Http {
    authority: String,
}

impl Http {
    fn new(url: &str) -> Http {
        Http { authority: url.trim_start_matches("http://").trim_end_matches('/').to_string() }
    }

    fn post(&self, query: &str, body: &[u8]) -> Result<Vec<u8>, String> {
        let encoded: String = query
            .bytes()
            .map(|b| match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'*' => (b as char).to_string(),
                _ => format!("%{b:02X}"),
            })
            .collect();
        let mut s = std::net::TcpStream::connect(&self.authority).map_err(|e| e.to_string())?;
        let head = format!(
            "POST /?query={encoded} HTTP/1.0\r\nHost: {}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            self.authority,
            body.len()
        );
        s.write_all(head.as_bytes()).and_then(|_| s.write_all(body)).map_err(|e| e.to_string())?;
        let mut answer = Vec::new();
        s.read_to_end(&mut answer).map_err(|e| e.to_string())?;
        let split = answer.windows(4).position(|w| w == b"\r\n\r\n").ok_or("no HTTP header")?;
        let status = String::from_utf8_lossy(&answer[..split]).lines().next().unwrap_or_default().to_string();
        let payload = answer[split + 4..].to_vec();
        if status.split_whitespace().nth(1) != Some("200") {
            return Err(format!("{status}: {} ({query})", String::from_utf8_lossy(&payload)));
        }
        Ok(payload)
    }
}
