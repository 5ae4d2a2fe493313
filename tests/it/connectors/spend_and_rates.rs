//! Ad spend (Meta, LinkedIn) and exchange rates (ECB), to files and through the broker.

use super::{add_config, lines, query_params, write_config};
use attrib_tests::{attrib, infra, read_topic, unique, MockHttp, MockResponse, TempDir};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

const ECB_FEED: &str = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>
<gesmes:Envelope xmlns:gesmes=\"http://www.gesmes.org/xml/2002-08-01\" xmlns=\"http://www.ecb.int/vocabulary/2002-08-01/eurofxref\">
\t<gesmes:subject>Reference rates</gesmes:subject>
\t<gesmes:Sender><gesmes:name>European Central Bank</gesmes:name></gesmes:Sender>
\t<Cube>
\t\t<Cube time='2026-11-20'>
\t\t\t<Cube currency='USD' rate='1.0825'/>
\t\t\t<Cube currency='GBP' rate='0.8650'/>
\t\t</Cube>
\t\t<Cube time='2026-11-19'>
\t\t\t<Cube currency='USD' rate='1.0800'/>
\t\t\t<Cube currency='GBP' rate='0.8640'/>
\t\t</Cube>
\t</Cube>
</gesmes:Envelope>";

#[test]
fn ecb_rates_are_published_in_the_reporting_currency_once_per_day() {
    let hits = Arc::new(Mutex::new(0u32));
    let hits2 = hits.clone();
    let server = MockHttp::start(move |req| {
        let mut n = hits2.lock().expect("hits");
        *n += 1;
        if *n == 1 {
            return MockResponse { status: 503, headers: vec![], body: "maintenance".into() };
        }
        assert_eq!(req.target, "/eurofxref-hist-90d.xml");
        MockResponse { status: 200, headers: vec![("content-type".into(), "text/xml".into())], body: ECB_FEED.into() }
    });
    let dir = TempDir::new("ecb");
    let config = write_config(dir.path(), &server.base_url, "unused");
    let out = dir.path().join("out");
    let out_s = out.display().to_string();
    attrib(&["connect", "ecb", "--once", "--config", &config, "--output", &out_s]).expect("pass");
    let rates = lines(&out.join("fx.rates.jsonl"));
    for r in &rates {
        attrib_contract::decode(attrib_contract::Topic::FxRates, r.to_string().as_bytes()).expect("contract-valid");
    }
    let got: Vec<(String, String, String)> = rates
        .iter()
        .map(|r| {
            (
                r["date"].as_str().unwrap().into(),
                r["currency"].as_str().unwrap().into(),
                r["rate_to_reporting"].as_str().unwrap().into(),
            )
        })
        .collect();
    let t = |d: &str, c: &str, r: &str| (d.to_string(), c.to_string(), r.to_string());
    assert_eq!(
        got,
        vec![
            t("2026-11-19", "EUR", "1.08"),
            t("2026-11-19", "GBP", "1.25"),
            t("2026-11-20", "EUR", "1.0825"),
            t("2026-11-20", "GBP", "1.2514450867"),
        ]
    );
    attrib(&["connect", "ecb", "--once", "--config", &config, "--output", &out_s]).expect("again");
    assert_eq!(lines(&out.join("fx.rates.jsonl")).len(), 4, "days already published are not published again");
}

#[test]
fn connectors_publish_to_the_kafka_topics_keyed_by_their_dedup_key() {
    let Some(infra) = infra() else { return };
    let server = MockHttp::start(|_| MockResponse { status: 200, headers: vec![], body: ECB_FEED.into() });
    let dir = TempDir::new("ecb-kafka");
    let config = write_config(dir.path(), &server.base_url, "unused");
    let prefix = format!("{}.", unique("conn"));
    let with_kafka = format!(
        "{}\n[kafka]\nbrokers = \"{}\"\ntopic_prefix = \"{prefix}\"\npartitions = 1\n",
        std::fs::read_to_string(&config).expect("config"),
        infra.brokers
    );
    std::fs::write(&config, with_kafka).expect("config");
    attrib(&["connect", "ecb", "--once", "--config", &config]).expect("pass to Kafka");
    let messages = read_topic(&infra.brokers, &format!("{prefix}fx.rates"), 4);
    use rdkafka::Message;
    let got: Vec<(String, String)> = messages
        .iter()
        .map(|m| {
            let key = String::from_utf8_lossy(m.key().unwrap_or_default()).into_owned();
            let v: Value = serde_json::from_slice(m.payload().unwrap_or_default()).expect("JSON");
            (key, v["rate_to_reporting"].as_str().unwrap_or_default().to_string())
        })
        .collect();
    assert_eq!(got.len(), 4, "{got:?}");
    assert!(got.contains(&("2026-11-20:GBP".to_string(), "1.2514450867".to_string())), "{got:?}");
    assert!(got.contains(&("2026-11-19:EUR".to_string(), "1.08".to_string())), "{got:?}");
}

fn today() -> attrib_contract::Date {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap();
    attrib_contract::Timestamp::from_unix_millis(now.as_millis() as i64).date()
}

fn days_between(since: attrib_contract::Date, until: attrib_contract::Date) -> Vec<attrib_contract::Date> {
    (since.days_since_epoch()..=until.days_since_epoch()).map(attrib_contract::Date::from_days_since_epoch).collect()
}

#[test]
fn meta_insights_are_published_per_ad_and_settled_day_and_a_restated_day_as_its_next_version() {
    let start = attrib_contract::Date::from_days_since_epoch(today().days_since_epoch() - 5);
    let passes = Arc::new(Mutex::new(0u32));
    let passes2 = passes.clone();
    let server = MockHttp::start(move |req| {
        let params: BTreeMap<String, String> = query_params(&req.target).into_iter().collect();
        assert_eq!(params.get("access_token").map(String::as_str), Some("meta-token"));
        if params.contains_key("after") {
            // Page 2: one more ad, first day only.
            return MockResponse::json(
                200,
                &json!({"data": [{"ad_id": "a2", "campaign_id": "c1", "spend": "3.5",
                "impressions": "100", "clicks": "1", "account_currency": "EUR", "date_start": params["since_day"], "date_stop": params["since_day"]}]}),
            );
        }
        assert_eq!((params["level"].as_str(), params["time_increment"].as_str()), ("ad", "1"));
        let range: Value = serde_json::from_str(&params["time_range"]).expect("time_range JSON");
        let since = attrib_contract::Date::parse(range["since"].as_str().unwrap()).unwrap();
        let until = attrib_contract::Date::parse(range["until"].as_str().unwrap()).unwrap();
        let mut n = passes2.lock().unwrap();
        *n += 1;
        let data: Vec<Value> = days_between(since, until)
            .into_iter()
            .map(|d| {
                let restated = *n > 1 && d.days_since_epoch() == until.days_since_epoch() - 1;
                json!({"ad_id": "a1", "campaign_id": "c1", "spend": if restated { "12.00" } else { "10.00" },
                    "impressions": "1000", "clicks": "10", "account_currency": "EUR", "date_start": d.to_string(), "date_stop": d.to_string()})
            })
            .collect();
        let next =
            format!("{}?after=QVFI&since_day={}&access_token=meta-token", req.target.split('?').next().unwrap(), since);
        MockResponse::json(
            200,
            &json!({"data": data, "paging": {"cursors": {"after": "QVFI"}, "next": format!("http://{}{next}", req.header("host").unwrap())}}),
        )
    });
    let dir = TempDir::new("meta");
    let config = write_config(dir.path(), &server.base_url, "unused");
    std::fs::write(dir.path().join("meta-token"), "meta-token\n").unwrap();
    add_config(
        &config,
        &format!(
            "[connectors.meta]\nbase_url = \"{}\"\nad_account_ids = [\"123\"]\ntoken_file = \"{}\"\nrequests_per_second = 50.0\nstart_date = \"{start}\"\n",
            server.base_url,
            dir.path().join("meta-token").display()
        ),
    );
    let out = dir.path().join("out");
    let out_s = out.display().to_string();
    attrib(&["connect", "meta", "--once", "--config", &config, "--output", &out_s]).expect("pass");
    let spend = lines(&out.join("ads.spend.jsonl"));
    for r in &spend {
        attrib_contract::decode(attrib_contract::Topic::AdsSpend, r.to_string().as_bytes()).expect("contract-valid");
    }
    // start … today−2: four settled days of a1, plus a2 on the first day (second page).
    let until = attrib_contract::Date::from_days_since_epoch(today().days_since_epoch() - 2);
    assert_eq!(spend.len(), days_between(start, until).len() + 1);
    let first = spend.iter().find(|r| r["event_id"] == format!("meta:act_123:a1:{start}")).expect("a1 first day");
    assert_eq!(
        (first["spend_minor"].as_i64(), first["currency"].as_str(), first["impressions"].as_i64()),
        (Some(1000), Some("EUR"), Some(1000))
    );
    assert!(spend.iter().any(|r| r["event_id"] == format!("meta:act_123:a2:{start}") && r["spend_minor"] == 350));
    assert!(spend.iter().all(|r| r["date"].as_str().unwrap() <= until.to_string().as_str()), "unsettled days wait");

    // Again: the platform restated a day; it is published once more, as version 1.
    attrib(&["connect", "meta", "--once", "--config", &config, "--output", &out_s]).expect("second pass");
    let restated = attrib_contract::Date::from_days_since_epoch(until.days_since_epoch() - 1);
    let after = lines(&out.join("ads.spend.jsonl"));
    assert_eq!(after.len(), spend.len() + 1, "only the restated day is published again");
    let v1 = after.last().expect("restatement");
    assert_eq!(v1["event_id"], format!("meta:act_123:a1:{restated}:v1"));
    assert_eq!((v1["version"].as_i64(), v1["spend_minor"].as_i64()), (Some(1), Some(1200)));
    attrib_contract::decode(attrib_contract::Topic::AdsSpend, v1.to_string().as_bytes()).expect("contract-valid");
    // Unchanged since: nothing new.
    attrib(&["connect", "meta", "--once", "--config", &config, "--output", &out_s]).expect("third pass");
    assert_eq!(lines(&out.join("ads.spend.jsonl")).len(), after.len());
}

#[test]
fn linkedin_ad_analytics_by_creative_becomes_daily_spend() {
    let server = MockHttp::start(|req| {
        assert_eq!(req.header("authorization"), Some("Bearer li-token"));
        assert_eq!(req.header("x-restli-protocol-version"), Some("2.0.0"));
        assert!(req.header("linkedin-version").is_some());
        assert!(
            req.target.starts_with(
                "/rest/adAnalytics?q=analytics&pivot=CREATIVE&timeGranularity=DAILY&dateRange=(start:(year:"
            ),
            "{}",
            req.target
        );
        assert!(req.target.contains("accounts=List(urn%3Ali%3AsponsoredAccount%3A5001)"), "{}", req.target);
        MockResponse::json(
            200,
            &json!({"paging": {"start": 0, "count": 10, "links": []}, "elements": [
                {"costInLocalCurrency": "45.5", "impressions": 900, "clicks": 12, "pivotValues": ["urn:li:sponsoredCreative:777"],
                 "dateRange": {"start": {"year": 2026, "month": 11, "day": 18}, "end": {"year": 2026, "month": 11, "day": 18}}},
                {"costInLocalCurrency": "0", "impressions": 0, "clicks": 0, "pivotValues": ["urn:li:sponsoredCreative:778"],
                 "dateRange": {"start": {"year": 2026, "month": 11, "day": 18}, "end": {"year": 2026, "month": 11, "day": 18}}}
            ]}),
        )
    });
    let dir = TempDir::new("linkedin");
    let config = write_config(dir.path(), &server.base_url, "unused");
    std::fs::write(dir.path().join("li-token"), "li-token").unwrap();
    add_config(
        &config,
        &format!(
            "[connectors.linkedin]\nbase_url = \"{}\"\nad_account_ids = [\"5001\"]\ncurrency = \"USD\"\ntoken_file = \"{}\"\nrequests_per_second = 50.0\n",
            server.base_url,
            dir.path().join("li-token").display()
        ),
    );
    let out = dir.path().join("out");
    attrib(&["connect", "linkedin", "--once", "--config", &config, "--output", &out.display().to_string()])
        .expect("pass");
    let spend = lines(&out.join("ads.spend.jsonl"));
    let ids: Vec<(&str, i64)> =
        spend.iter().map(|r| (r["event_id"].as_str().unwrap(), r["spend_minor"].as_i64().unwrap())).collect();
    assert_eq!(ids, vec![("linkedin:777:2026-11-18", 4550), ("linkedin:778:2026-11-18", 0)]);
    assert_eq!(spend[0]["platform"], "linkedin");
}

#[test]
fn a_running_connector_serves_its_metrics_and_health_on_the_shared_http_server() {
    let server = MockHttp::start(|_| MockResponse { status: 200, headers: vec![], body: ECB_FEED.into() });
    let dir = TempDir::new("ecb-metrics");
    let config = write_config(dir.path(), &server.base_url, "unused");
    let addr = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        l.local_addr().expect("addr").to_string()
    };
    let out = dir.path().join("out").display().to_string();
    let mut child = std::process::Command::new(attrib_tests::attrib_bin())
        .args(["connect", "ecb", "--config", &config, "--output", &out, "--metrics-listen", &addr])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("spawn");
    let started = std::time::Instant::now();
    let mut metrics = String::new();
    while started.elapsed() < std::time::Duration::from_secs(30) {
        metrics = crate::process::http_get(&addr, "/metrics");
        if metrics.contains("attrib_connector_records_published_total{connector=\"ecb\",topic=\"fx.rates\"} 4") {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    let health = crate::process::http_get(&addr, "/healthz");
    let _ = child.kill();
    let _ = child.wait();
    assert!(
        metrics.contains("attrib_connector_records_published_total{connector=\"ecb\",topic=\"fx.rates\"} 4"),
        "{metrics}"
    );
    assert!(metrics.contains("attrib_connector_requests_total{connector=\"ecb\",status=\"200\"}"), "{metrics}");
    assert!(health.starts_with("HTTP/1.1 200"), "{health}");
}
