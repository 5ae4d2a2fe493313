//! Shared fixtures for the end-to-end tests in `tests/it/`.

mod fault_proxy;
pub use fault_proxy::{FaultPlan, FaultProxy};

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};

/// The repository root (schemas, fixtures).
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().map(Path::to_path_buf).unwrap_or_default()
}

/// A fresh, empty folder under the system temp dir, removed when dropped.
pub struct TempDir(PathBuf);

impl TempDir {
    pub fn new(label: &str) -> TempDir {
        static N: AtomicU32 = AtomicU32::new(0);
        let dir = std::env::temp_dir().join(format!(
            "attrib-test-{label}-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("create temp dir");
        TempDir(dir)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Runs the `attrib` command line in process with these arguments.
pub fn attrib(args: &[&str]) -> anyhow_like::Result {
    use clap::Parser;
    let cli = attrib::cli::Cli::try_parse_from(std::iter::once("attrib").chain(args.iter().copied()))
        .map_err(|e| e.to_string())?;
    attrib::cli::run(cli).map_err(|e| format!("{e:#}"))
}

pub mod anyhow_like {
    /// The command's error, rendered.
    pub type Result = std::result::Result<(), String>;
}

/// Reads a CSV file into its header and rows.
pub fn read_csv(path: &Path) -> (Vec<String>, Vec<Vec<String>>) {
    let mut r = csv::Reader::from_path(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let header = r.headers().expect("header").iter().map(str::to_string).collect();
    let rows = r.records().map(|rec| rec.expect("row").iter().map(str::to_string).collect()).collect();
    (header, rows)
}

/// Addresses of the real servers the service tests talk to.
#[derive(Debug, Clone)]
pub struct Infra {
    pub brokers: String,
    pub clickhouse: String,
}

fn reachable(addr: &str) -> bool {
    use std::net::ToSocketAddrs;
    addr.to_socket_addrs()
        .ok()
        .and_then(|mut a| a.next())
        .is_some_and(|a| std::net::TcpStream::connect_timeout(&a, std::time::Duration::from_secs(2)).is_ok())
}

/// The broker and ClickHouse started by `scripts/start-*.sh` (or `ATTRIB_TEST_BROKERS` /
/// `ATTRIB_TEST_CLICKHOUSE`). When they are not running: a failure if `ATTRIB_REQUIRE_INFRA=1`
/// (as in CI), otherwise None and the test says it did not run.
pub fn infra() -> Option<Infra> {
    let brokers = std::env::var("ATTRIB_TEST_BROKERS").unwrap_or_else(|_| "127.0.0.1:19092".into());
    let clickhouse = std::env::var("ATTRIB_TEST_CLICKHOUSE").unwrap_or_else(|_| "http://127.0.0.1:18123".into());
    let ch_addr = clickhouse.trim_start_matches("http://").trim_end_matches('/').to_string();
    if reachable(&brokers) && reachable(&ch_addr) {
        return Some(Infra { brokers, clickhouse });
    }
    if std::env::var("ATTRIB_REQUIRE_INFRA").is_ok_and(|v| v == "1") {
        panic!("broker {brokers} or ClickHouse {clickhouse} unreachable: run scripts/start-broker.sh and scripts/start-clickhouse.sh");
    }
    eprintln!(
        "NOT RUN: no broker/ClickHouse (start them with scripts/start-*.sh, or set ATTRIB_REQUIRE_INFRA=1 to fail)"
    );
    None
}

/// The `attrib` binary built next to this test binary.
pub fn attrib_bin() -> PathBuf {
    let exe = std::env::current_exe().expect("test binary path");
    let dir = exe.parent().and_then(Path::parent).expect("target dir");
    let bin = dir.join("attrib");
    assert!(bin.is_file(), "{} not built (run cargo test --workspace)", bin.display());
    bin
}

/// A name unique to this test process and call, usable as a database, group or topic prefix.
pub fn unique(label: &str) -> String {
    static N: AtomicU32 = AtomicU32::new(0);
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.subsec_nanos());
    format!("{label}_{}_{}_{}", std::process::id(), N.fetch_add(1, Ordering::Relaxed), nanos % 100_000)
}

/// Runs a query over ClickHouse's HTTP interface and returns the body (panics on HTTP errors).
pub fn ch_query(url: &str, database: &str, sql: &str) -> String {
    ch_try(url, database, sql).unwrap_or_else(|e| panic!("{sql}: {e}"))
}

/// Like `ch_query`, but returns the error text instead of panicking.
pub fn ch_try(url: &str, database: &str, sql: &str) -> Result<String, String> {
    use std::io::{Read, Write};
    let addr = url.trim_start_matches("http://").trim_end_matches('/');
    let mut s = std::net::TcpStream::connect(addr).map_err(|e| e.to_string())?;
    let req =
        format!("POST /?database={database} HTTP/1.0\r\nHost: {addr}\r\nContent-Length: {}\r\n\r\n{sql}", sql.len());
    s.write_all(req.as_bytes()).map_err(|e| e.to_string())?;
    let mut resp = String::new();
    s.read_to_string(&mut resp).map_err(|e| e.to_string())?;
    let (head, body) = resp.split_once("\r\n\r\n").unwrap_or((&resp, ""));
    if head.starts_with("HTTP/1.0 200") || head.starts_with("HTTP/1.1 200") {
        Ok(body.to_string())
    } else {
        Err(format!("{}: {body}", head.lines().next().unwrap_or("")))
    }
}

/// Writes a service configuration for the test servers with its own topics, group and database.
pub fn service_config(dir: &Path, infra: &Infra, prefix: &str, group: &str, database: &str, extra: &str) -> PathBuf {
    let path = dir.join(format!("{group}.toml"));
    // Defaults for tests, unless the test sets them itself.
    let defaults: String = [("http_listen", "\"\""), ("batch_max_wait_ms", "300")]
        .iter()
        .filter(|(k, _)| !extra.contains(k))
        .map(|(k, v)| format!("{k} = {v}\n"))
        .collect();
    let text = format!(
        r#"[kafka]
brokers = "{brokers}"
group = "{group}"
topic_prefix = "{prefix}"
partitions = 3
[kafka.properties]
"session.timeout.ms" = "6000"
"heartbeat.interval.ms" = "1000"
"fetch.queue.backoff.ms" = "10"
[clickhouse]
url = "{ch}"
database = "{database}"
[service]
{defaults}{extra}
"#,
        brokers = infra.brokers,
        ch = infra.clickhouse,
    );
    std::fs::write(&path, text).expect("write config");
    path
}

/// Every SQL query of the Grafana dashboards under `deploy/grafana/dashboards` (ClickHouse panel
/// targets and query variables; the Prometheus dashboard's PromQL is checked by promtool), as (dashboard file: title, SQL) with the ClickHouse data source's
/// macros expanded as the plugin does (`$__dateFilter(c)` → `c >= toDate('…') AND c <= toDate('…')`,
/// `$__timeFilter(c)` with `toDateTime(…)`) and dashboard variables set to `variables`.
pub fn dashboard_queries(variables: &[(&str, &str)]) -> Vec<(String, String)> {
    let dir = repo_root().join("deploy/grafana/dashboards");
    let mut out = Vec::new();
    let mut files: Vec<_> =
        std::fs::read_dir(&dir).expect("dashboards dir").map(|e| e.expect("entry").path()).collect();
    files.sort();
    for file in files.into_iter().filter(|p| p.extension().is_some_and(|e| e == "json")) {
        let text = std::fs::read_to_string(&file).expect("dashboard");
        let dashboard: serde_json::Value = serde_json::from_str(&text).expect("dashboard JSON");
        let name = file.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        let mut push = |title: &str, sql: &str| {
            out.push((format!("{name}: {title}"), expand_grafana_sql(sql, variables)));
        };
        for panel in dashboard["panels"].as_array().into_iter().flatten() {
            for target in panel["targets"].as_array().into_iter().flatten() {
                if let Some(sql) = target["rawSql"].as_str() {
                    push(panel["title"].as_str().unwrap_or("?"), sql);
                }
            }
        }
        for var in dashboard["templating"]["list"].as_array().into_iter().flatten() {
            if var["type"] == "query" && var["datasource"]["type"] == "grafana-clickhouse-datasource" {
                push(&format!("variable {}", var["name"]), var["query"].as_str().expect("variable query"));
            }
        }
    }
    out
}

/// The plugin's macro expansion over a fixed wide range, and `${name}` / `$name` variables.
fn expand_grafana_sql(sql: &str, variables: &[(&str, &str)]) -> String {
    let mut s = sql.to_string();
    for (macro_name, from, to) in [
        ("$__dateFilter(", "toDate('2000-01-01')", "toDate('2100-01-01')"),
        ("$__timeFilter(", "toDateTime(946684800)", "toDateTime(4102444800)"),
    ] {
        while let Some(start) = s.find(macro_name) {
            let args_start = start + macro_name.len();
            let mut depth = 1;
            let mut end = args_start;
            for (i, ch) in s[args_start..].char_indices() {
                match ch {
                    '(' => depth += 1,
                    ')' => depth -= 1,
                    _ => {}
                }
                if depth == 0 {
                    end = args_start + i;
                    break;
                }
            }
            let column = s[args_start..end].to_string();
            s.replace_range(start..=end, &format!("{column} >= {from} AND {column} <= {to}"));
        }
    }
    for (name, value) in variables {
        s = s.replace(&format!("${{{name}}}"), value).replace(&format!("${name}"), value);
    }
    assert!(!s.contains('$'), "unexpanded macro or variable in {s}");
    s
}

/// Debian's Chromium (`ATTRIB_CHROMIUM` overrides the path). When missing: a failure if
/// `ATTRIB_REQUIRE_INFRA=1` (as in CI, which installs it), otherwise None.
pub fn chromium() -> Option<PathBuf> {
    let path = PathBuf::from(std::env::var("ATTRIB_CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into()));
    if path.is_file() {
        return Some(path);
    }
    if std::env::var("ATTRIB_REQUIRE_INFRA").is_ok_and(|v| v == "1") {
        panic!("{} not found: install Debian's chromium (the CI script does)", path.display());
    }
    eprintln!("NOT RUN: no Chromium at {}", path.display());
    None
}

/// Runs headless Chromium on a local file in a window `width` CSS pixels wide with `mode`
/// (`--dump-dom`, `--screenshot=…`) and the flags this closed network needs; returns stdout.
pub fn headless_chromium(chromium: &Path, page: &Path, width: u32, mode: &[&str]) -> String {
    let profile = TempDir::new("chromium-profile");
    let out = std::process::Command::new(chromium)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--hide-scrollbars",
        ])
        .arg(format!("--window-size={width},3000"))
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .args(mode)
        .arg(format!("file://{}", page.display()))
        .output()
        .expect("run chromium");
    assert!(out.status.success(), "chromium failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// One request a mock vendor server received.
#[derive(Debug, Clone)]
pub struct MockRequest {
    pub method: String,
    /// Path and query.
    pub target: String,
    pub headers: Vec<(String, String)>,
    pub body: String,
    pub at: std::time::Instant,
}

impl MockRequest {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }
}

/// The answer of a mock vendor server.
pub struct MockResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl MockResponse {
    pub fn json(status: u16, body: &serde_json::Value) -> MockResponse {
        MockResponse {
            status,
            headers: vec![("content-type".into(), "application/json".into())],
            body: body.to_string(),
        }
    }
}

type Handler = dyn Fn(&MockRequest) -> MockResponse + Send + Sync;

/// A local HTTP/1.1 server standing in for a vendor API (keep-alive, Content-Length bodies).
/// Every request is logged for assertions.
pub struct MockHttp {
    pub base_url: String,
    log: std::sync::Arc<std::sync::Mutex<Vec<MockRequest>>>,
}

impl MockHttp {
    pub fn start(handler: impl Fn(&MockRequest) -> MockResponse + Send + Sync + 'static) -> MockHttp {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind mock server");
        let base_url = format!("http://{}", listener.local_addr().expect("addr"));
        let log = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let handler: std::sync::Arc<Handler> = std::sync::Arc::new(handler);
        let (log2, handler2) = (log.clone(), handler.clone());
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let (log, handler) = (log2.clone(), handler2.clone());
                std::thread::spawn(move || serve_connection(stream, &log, handler.as_ref()));
            }
        });
        MockHttp { base_url, log }
    }

    pub fn requests(&self) -> Vec<MockRequest> {
        self.log.lock().expect("log").clone()
    }
}

fn serve_connection(stream: std::net::TcpStream, log: &std::sync::Mutex<Vec<MockRequest>>, handler: &Handler) {
    use std::io::{BufRead, BufReader, Read, Write};
    let mut writer = stream.try_clone().expect("clone stream");
    let mut reader = BufReader::new(stream);
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        let mut parts = line.split_whitespace();
        let (method, target) =
            (parts.next().unwrap_or_default().to_string(), parts.next().unwrap_or_default().to_string());
        let mut headers = Vec::new();
        loop {
            let mut h = String::new();
            if reader.read_line(&mut h).unwrap_or(0) == 0 {
                return;
            }
            let h = h.trim_end();
            if h.is_empty() {
                break;
            }
            if let Some((k, v)) = h.split_once(':') {
                headers.push((k.trim().to_string(), v.trim().to_string()));
            }
        }
        let len = headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case("content-length"))
            .and_then(|(_, v)| v.parse::<usize>().ok())
            .unwrap_or(0);
        let mut body = vec![0u8; len];
        if reader.read_exact(&mut body).is_err() {
            return;
        }
        let request = MockRequest {
            method,
            target,
            headers,
            body: String::from_utf8_lossy(&body).into_owned(),
            at: std::time::Instant::now(),
        };
        let response = handler(&request);
        log.lock().expect("log").push(request);
        let mut head = format!("HTTP/1.1 {} X\r\ncontent-length: {}\r\n", response.status, response.body.len());
        for (k, v) in &response.headers {
            head.push_str(&format!("{k}: {v}\r\n"));
        }
        head.push_str("\r\n");
        if writer.write_all(head.as_bytes()).and_then(|_| writer.write_all(response.body.as_bytes())).is_err() {
            return;
        }
    }
}

/// Reads up to `expected` messages of `topic` from the beginning (all partitions assigned
/// directly: no consumer-group join), waiting at most 60 s.
pub fn read_topic(brokers: &str, topic: &str, expected: usize) -> Vec<rdkafka::message::OwnedMessage> {
    use rdkafka::consumer::{BaseConsumer, Consumer};
    use rdkafka::Message;
    let consumer: BaseConsumer = rdkafka::ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("group.id", unique("reader"))
        .set("enable.auto.commit", "false")
        .create()
        .expect("consumer");
    let start = std::time::Instant::now();
    let timeout = std::time::Duration::from_secs(60);
    let partitions = loop {
        let md = consumer.fetch_metadata(Some(topic), std::time::Duration::from_secs(5)).expect("metadata");
        let n = md.topics().first().map_or(0, |t| t.partitions().len());
        if n > 0 || start.elapsed() > timeout {
            break n;
        }
        std::thread::sleep(std::time::Duration::from_millis(200));
    };
    let mut tpl = rdkafka::TopicPartitionList::new();
    for p in 0..partitions as i32 {
        tpl.add_partition_offset(topic, p, rdkafka::Offset::Beginning).expect("partition");
    }
    consumer.assign(&tpl).expect("assign");
    let mut out = Vec::new();
    while out.len() < expected && start.elapsed() < timeout {
        if let Some(Ok(m)) = consumer.poll(std::time::Duration::from_millis(200)) {
            out.push(m.detach());
        }
    }
    out.sort_by_key(|m| (m.partition(), m.offset()));
    out
}
