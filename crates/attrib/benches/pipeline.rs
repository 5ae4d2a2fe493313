//! End-to-end throughput: `cargo bench -p attrib --bench pipeline` (needs the test servers:
//! scripts/start-broker.sh and scripts/start-clickhouse.sh).
//!
//! On one generated dataset (`ATTRIB_BENCH_PEOPLE`, default 50 000 people) it measures, in one run:
//! 1. a bare rdkafka group consumer reading every message of the topics (the ceiling),
//! 2. the service (broker → engine → ClickHouse, commit after write) until caught up,
//! 3. decoding and validating alone, in process (the floor of any validating service),
//! 4. the engine in process (decode, identity, journeys, incremental ledger) on the same lines.
//!
//! It prints events/s for each and the service/bare-consumer ratio.

use attrib_contract::Topic;
use attrib_generator::{generate, GenParams};
use attrib_ledger::{AttributionConfig, Engine, IncrementalLedger};
use attrib_service::{ClickHouseConfig, KafkaConfig, Metrics, ServiceConfig, ServiceSettings};
use rdkafka::consumer::{Consumer, StreamConsumer};
use std::sync::Arc;
use std::time::{Duration, Instant};

fn main() {
    let people: u64 = std::env::var("ATTRIB_BENCH_PEOPLE").ok().and_then(|v| v.parse().ok()).unwrap_or(50_000);
    let brokers = std::env::var("ATTRIB_TEST_BROKERS").unwrap_or_else(|_| "127.0.0.1:19092".into());
    let clickhouse = std::env::var("ATTRIB_TEST_CLICKHOUSE").unwrap_or_else(|_| "http://127.0.0.1:18123".into());
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("runtime");
    let run_id = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let prefix = format!("bench{run_id}.");

    let data = generate(&GenParams { people, seed: 5, ..GenParams::default() });
    let total = data.total_lines() as u64;
    let dir = std::env::temp_dir().join(format!("attrib-bench-{run_id}"));
    std::fs::create_dir_all(&dir).expect("dir");
    for t in Topic::ALL {
        let text: String = data.lines[t].iter().map(|l| format!("{l}\n")).collect();
        std::fs::write(dir.join(format!("{}.jsonl", t.as_str())), text).expect("write");
    }
    let kafka = KafkaConfig {
        brokers: brokers.clone(),
        group: format!("{prefix}service"),
        topic_prefix: prefix.clone(),
        partitions: 3,
        properties: [
            ("session.timeout.ms", "6000"),
            ("heartbeat.interval.ms", "1000"),
            ("fetch.queue.backoff.ms", "10"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect(),
        ..KafkaConfig::default()
    };
    let t = Instant::now();
    rt.block_on(attrib_kafka::produce_files(&kafka.settings(), &dir)).expect("produce");
    println!("dataset: {people} people, {total} messages; produced in {:.2}s", t.elapsed().as_secs_f64());

    // 1. Bare consumer.
    let bare = rt.block_on(async {
        let mut cfg = kafka.settings().consumer_config();
        cfg.set("group.id", format!("{prefix}bare"));
        let c: StreamConsumer = cfg.create().expect("consumer");
        let topics: Vec<String> = Topic::ALL.iter().map(|t| format!("{prefix}{}", t.as_str())).collect();
        c.subscribe(&topics.iter().map(String::as_str).collect::<Vec<_>>()).expect("subscribe");
        let first = c.recv().await.expect("first message");
        drop(first);
        let t = Instant::now();
        let mut n = 1u64;
        while n < total {
            if tokio::time::timeout(Duration::from_secs(30), c.recv()).await.is_err() {
                break;
            }
            n += 1;
        }
        n as f64 / t.elapsed().as_secs_f64()
    });
    println!("{:<44}{:>12.0} msg/s", "bare rdkafka consumer (after group join)", bare);

    // 2. The service, until caught up (includes recovery, group join and the final refit).
    let config = ServiceConfig {
        kafka,
        clickhouse: ClickHouseConfig {
            url: clickhouse,
            database: format!("bench{run_id}"),
            ..ClickHouseConfig::default()
        },
        service: ServiceSettings { http_listen: String::new(), refit_interval_secs: 0, ..ServiceSettings::default() },
        attribution: AttributionConfig::default(),
        stop_when_caught_up: true,
    };
    let (_tx, rx) = tokio::sync::watch::channel(false);
    let t = Instant::now();
    let metrics = Arc::new(Metrics::new());
    let pick_from = |text: &str, name: &str| -> f64 {
        text.lines().filter(|l| l.starts_with(name)).filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok()).sum()
    };
    // When the first message reached the service (the group join is over), like the bare consumer.
    let first_message = {
        let metrics = metrics.clone();
        rt.spawn(async move {
            loop {
                if pick_from(&metrics.render(), "attrib_messages_consumed_total") > 0.0 {
                    return Instant::now();
                }
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        })
    };
    let summary = rt.block_on(attrib_service::run(&config, metrics.clone(), rx)).expect("service");
    let secs = t.elapsed().as_secs_f64();
    let after_join = rt.block_on(first_message).map_or(secs, |at| at.elapsed().as_secs_f64());
    let service = summary.messages as f64 / after_join;
    println!(
        "{:<44}{:>12.0} msg/s  ({} messages, {} batches, {after_join:.1}s from first message to caught up \
         incl. final refit; {secs:.1}s wall incl. recovery and group join)",
        "service: broker → engine → ClickHouse", service, summary.messages, summary.batches
    );

    let text = metrics.render();
    let pick = |name: &str| pick_from(&text, name);
    println!(
        "  ClickHouse: {:.0} rows in {:.1}s of inserts ({:.0} rows/s)",
        pick("attrib_rows_written_total"),
        pick("attrib_clickhouse_write_seconds_sum"),
        pick("attrib_rows_written_total") / pick("attrib_clickhouse_write_seconds_sum").max(1e-9)
    );

    // 3. Decoding alone, one core: the least any service that validates its input must do.
    let t = Instant::now();
    let decoded = data
        .lines
        .iter()
        .flat_map(|(topic, ls)| ls.iter().map(move |l| (*topic, l)))
        .filter(|(topic, l)| attrib_contract::decode(*topic, l.as_bytes()).is_ok())
        .count();
    let decode_rate = total as f64 / t.elapsed().as_secs_f64();
    println!("{:<44}{:>12.0} msg/s  ({decoded} valid)", "decode + validate only, in process", decode_rate);

    // 4. The engine in process on the same lines, in batches like the service's.
    let mut engine = Engine::new(AttributionConfig::default());
    let mut inc = IncrementalLedger::new();
    let lines: Vec<(Topic, &String)> = data.lines.iter().flat_map(|(t, ls)| ls.iter().map(move |l| (*t, l))).collect();
    let t = Instant::now();
    let mut rows = 0;
    for chunk in lines.chunks(20_000) {
        for (topic, l) in chunk {
            let _ = engine.ingest_bytes(*topic, l.as_bytes());
        }
        rows += inc.update(&mut engine).rows();
    }
    inc.refit(&mut engine);
    rows += inc.update(&mut engine).rows();
    let engine_rate = lines.len() as f64 / t.elapsed().as_secs_f64();
    println!("{:<44}{:>12.0} msg/s  ({rows} rows produced)", "engine in process (incremental ledger)", engine_rate);
    println!(
        "service / bare consumer = {:.1} %   service / engine = {:.1} %   decode only / bare consumer = {:.1} %",
        100.0 * service / bare,
        100.0 * service / engine_rate,
        100.0 * decode_rate / bare
    );
    let _ = std::fs::remove_dir_all(&dir);
}
