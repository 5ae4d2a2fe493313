//! Source connectors against local servers that answer like the vendors' documented APIs:
//! HubSpot CRM v3 search (string properties, `after` paging, v4 associations) and the ECB
//! reference-rate XML feed. Faults: 429 with Retry-After, a 500 then success, a rejected token.

use attrib_tests::{attrib, infra, read_topic, unique, MockHttp, MockRequest, MockResponse, TempDir};
use serde_json::{json, Value};
use std::collections::BTreeSet;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// A HubSpot portal: contacts and deals with string properties, searchable like the v3 API.
#[derive(Default)]
struct Portal {
    contacts: Vec<Value>,
    deals: Vec<Value>,
    /// deal id → contact ids.
    associations: Vec<(String, Vec<u64>)>,
    /// Fault injection: statuses to answer (in order) before behaving.
    faults: Vec<(u16, Option<&'static str>)>,
}

fn contact(id: &str, modified: &str, email: &str, lead_date: Option<&str>) -> Value {
    let mut props = json!({"email": email, "lastmodifieddate": modified, "createdate": "2026-01-01T00:00:00.000Z"});
    if let Some(d) = lead_date {
        props["hs_lifecyclestage_lead_date"] = json!(d);
    }
    json!({"id": id, "properties": props, "archived": false})
}

fn deal(id: &str, modified: &str, stage: &str, won: bool, closed: bool, amount: &str, currency: &str) -> Value {
    json!({"id": id, "archived": false, "properties": {
        "dealname": format!("Deal {id}"), "amount": amount, "deal_currency_code": currency, "dealstage": stage,
        "pipeline": "default", "createdate": "2026-02-01T09:00:00.000Z", "closedate": "2026-03-15T12:00:00.000Z",
        "hs_lastmodifieddate": modified, "hs_is_closed_won": won.to_string(), "hs_is_closed": closed.to_string()}})
}

fn millis(rfc3339: &str) -> i64 {
    attrib_contract::Timestamp::parse_rfc3339(rfc3339).expect("time").unix_millis()
}

impl Portal {
    fn answer(&mut self, req: &MockRequest) -> MockResponse {
        if req.header("authorization") != Some("Bearer pat-good") {
            return MockResponse::json(
                401,
                &json!({"status": "error", "category": "INVALID_AUTHENTICATION",
                "message": "Authentication credentials not found."}),
            );
        }
        if !self.faults.is_empty() {
            let (status, retry_after) = self.faults.remove(0);
            let mut r = MockResponse::json(status, &json!({"status": "error", "message": "try again"}));
            if let Some(s) = retry_after {
                r.headers.push(("Retry-After".into(), s.into()));
            }
            return r;
        }
        let body: Value = serde_json::from_str(&req.body).unwrap_or(Value::Null);
        if req.target == "/crm/v4/associations/deals/contacts/batch/read" {
            let results: Vec<Value> = body["inputs"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|i| {
                    let id = i["id"].as_str()?;
                    let (_, to) = self.associations.iter().find(|(d, _)| d == id)?;
                    let to: Vec<Value> = to.iter().map(|c| json!({"toObjectId": c, "associationTypes": [{"category": "HUBSPOT_DEFINED", "typeId": 3, "label": null}]})).collect();
                    Some(json!({"from": {"id": id}, "to": to}))
                })
                .collect();
            return MockResponse::json(207, &json!({"status": "COMPLETE", "results": results}));
        }
        let (objects, modified_prop) = match req.target.as_str() {
            "/crm/v3/objects/contacts/search" => (&self.contacts, "lastmodifieddate"),
            "/crm/v3/objects/deals/search" => (&self.deals, "hs_lastmodifieddate"),
            other => return MockResponse::json(404, &json!({"message": format!("no route {other}")})),
        };
        let from: i64 =
            body["filterGroups"][0]["filters"][0]["value"].as_str().and_then(|v| v.parse().ok()).unwrap_or(0);
        assert_eq!(body["filterGroups"][0]["filters"][0]["operator"], "GTE");
        let mut hits: Vec<&Value> = objects
            .iter()
            .filter(|o| millis(o["properties"][modified_prop].as_str().unwrap_or_default()) >= from)
            .collect();
        hits.sort_by_key(|o| {
            (millis(o["properties"][modified_prop].as_str().unwrap_or_default()), o["id"].as_str().map(str::to_string))
        });
        let limit = body["limit"].as_u64().unwrap_or(10) as usize;
        let after: usize = body["after"].as_str().and_then(|a| a.parse().ok()).unwrap_or(0);
        let page: Vec<&Value> = hits.iter().skip(after).take(limit).copied().collect();
        let mut resp = json!({"total": hits.len(), "results": page});
        if after + limit < hits.len() {
            resp["paging"] = json!({"next": {"after": (after + limit).to_string(), "link": "?after=x"}});
        }
        MockResponse::json(200, &resp)
    }
}

fn hubspot_server(portal: Arc<Mutex<Portal>>) -> MockHttp {
    MockHttp::start(move |req| portal.lock().expect("portal").answer(req))
}

fn write_config(dir: &Path, base_url: &str, token: &str) -> String {
    let token_file = dir.join("token");
    std::fs::write(&token_file, format!("{token}\n")).expect("token file");
    let config = dir.join("attrib.toml");
    std::fs::write(
        &config,
        format!(
            "[connectors]\nstate_dir = \"{}\"\n\n[connectors.hubspot]\nbase_url = \"{base_url}\"\ntoken_file = \"{}\"\n\
             page_size = 2\nrequests_per_second = 50.0\ndefault_currency = \"USD\"\n\n[connectors.ecb]\nurl = \"{base_url}/eurofxref-hist-90d.xml\"\n",
            dir.join("state").display(),
            token_file.display()
        ),
    )
    .expect("config");
    config.display().to_string()
}

fn lines(path: &Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).expect("JSON line"))
        .collect()
}

#[test]
fn hubspot_contacts_and_deals_arrive_in_the_wire_format_and_a_restart_resumes_without_duplicates() {
    let portal = Arc::new(Mutex::new(Portal {
        contacts: vec![
            contact("101", "2026-03-01T10:00:00.000Z", "  Alice@Example.COM ", Some("2026-02-20T08:00:00.000Z")),
            contact("102", "2026-03-01T10:00:00.000Z", "bob@example.com", None),
            contact("103", "2026-03-02T11:00:00.000Z", "carol@example.com", None),
        ],
        deals: vec![
            deal("9001", "2026-03-15T12:00:05.000Z", "closedwon", true, true, "1500.50", "EUR"),
            deal("9002", "2026-03-16T09:00:00.000Z", "qualifiedtobuy", false, false, "", ""),
            deal("9003", "2026-03-17T09:00:00.000Z", "closedlost", false, true, "700", "USD"),
            deal("9004", "2026-03-18T09:00:00.000Z", "presentationscheduled", false, false, "10", "USD"),
        ],
        associations: vec![("9001".into(), vec![102, 101]), ("9002".into(), vec![103]), ("9003".into(), vec![101])],
        // A rate limit on the first request, then a server error: both retried.
        faults: vec![(429, Some("1")), (500, None)],
    }));
    let server = hubspot_server(portal.clone());
    let dir = TempDir::new("hubspot");
    let config = write_config(dir.path(), &server.base_url, "pat-good");
    let out = dir.path().join("out");
    let out_s = out.display().to_string();
    attrib(&["connect", "hubspot", "--once", "--config", &config, "--output", &out_s]).expect("first pass");

    let records = lines(&out.join("crm.records.jsonl"));
    for r in &records {
        attrib_contract::decode(attrib_contract::Topic::CrmRecords, r.to_string().as_bytes()).expect("contract-valid");
    }
    let ids: Vec<&str> = records.iter().map(|r| r["event_id"].as_str().expect("id")).collect();
    let v = |t: &str| millis(t);
    assert_eq!(
        ids,
        vec![
            format!("hubspot:contact:101:{}", v("2026-03-01T10:00:00Z")).as_str(),
            "hubspot:lead:101",
            format!("hubspot:contact:102:{}", v("2026-03-01T10:00:00Z")).as_str(),
            format!("hubspot:contact:103:{}", v("2026-03-02T11:00:00Z")).as_str(),
            format!("hubspot:deal:9001:{}", v("2026-03-15T12:00:05Z")).as_str(),
            format!("hubspot:deal:9002:{}", v("2026-03-16T09:00:00Z")).as_str(),
            format!("hubspot:deal:9003:{}", v("2026-03-17T09:00:00Z")).as_str(),
        ],
        "9004 has no associated contact and is skipped"
    );
    let alice = &records[0];
    assert_eq!(
        alice["email_sha256"].as_str(),
        Some("ff8d9819fc0e12bf0d24892e45987e249a28dce836a85cad60e28eaaa8c6d976"),
        "sha256 of the trimmed, lower-cased address"
    );
    assert_eq!(
        (records[1]["object"].as_str(), records[1]["occurred_at"].as_str()),
        (Some("lead"), Some("2026-02-20T08:00:00Z"))
    );
    let won = &records[4];
    assert_eq!(won["stage"], "closed_won");
    assert_eq!((won["amount_minor"].as_i64(), won["currency"].as_str()), (Some(150_050), Some("EUR")));
    assert_eq!(won["contact_id"], "101", "the lowest associated contact");
    assert_eq!(won["version"].as_i64(), Some(v("2026-03-15T12:00:05Z")));
    assert_eq!(won["closed_at"], "2026-03-15T12:00:00Z");
    let open = &records[5];
    assert_eq!(
        (open["stage"].as_str(), open["amount_minor"].as_i64(), open["currency"].as_str()),
        (Some("open"), Some(0), Some("USD"))
    );
    assert_eq!(records[6]["stage"], "closed_lost");

    // The 429 was honoured: the retry came at least Retry-After (1 s) later.
    let reqs = server.requests();
    assert!(reqs[1].at.duration_since(reqs[0].at) >= Duration::from_millis(950), "Retry-After honoured");
    assert!(reqs.iter().all(|r| r.header("authorization") == Some("Bearer pat-good")));

    // New activity: a deal restated, a contact added. The next pass publishes only those.
    {
        let mut p = portal.lock().expect("portal");
        p.deals[0] = deal("9001", "2026-04-02T08:00:00.000Z", "closedwon", true, true, "1200.00", "EUR");
        p.contacts.push(contact("104", "2026-04-01T00:00:00.000Z", "dan@example.com", None));
    }
    attrib(&["connect", "hubspot", "--once", "--config", &config, "--output", &out_s]).expect("second pass");
    let after: Vec<Value> = lines(&out.join("crm.records.jsonl"));
    let new: Vec<&str> = after[records.len()..].iter().map(|r| r["event_id"].as_str().expect("id")).collect();
    assert_eq!(
        new,
        vec![
            format!("hubspot:contact:104:{}", v("2026-04-01T00:00:00Z")).as_str(),
            format!("hubspot:deal:9001:{}", v("2026-04-02T08:00:00Z")).as_str()
        ]
    );
    assert_eq!(after.last().expect("restated")["amount_minor"].as_i64(), Some(120_000));
    // Nothing new: nothing published.
    attrib(&["connect", "hubspot", "--once", "--config", &config, "--output", &out_s]).expect("third pass");
    let again = lines(&out.join("crm.records.jsonl"));
    assert_eq!(again.len(), after.len());
    let unique: BTreeSet<&str> = again.iter().map(|r| r["event_id"].as_str().expect("id")).collect();
    assert_eq!(unique.len(), again.len(), "no record published twice");
}

#[test]
fn a_rejected_token_fails_fast_with_a_clear_error_and_no_retry_storm() {
    let portal = Arc::new(Mutex::new(Portal::default()));
    let server = hubspot_server(portal);
    let dir = TempDir::new("hubspot-401");
    let config = write_config(dir.path(), &server.base_url, "pat-expired-SECRET");
    let out = dir.path().join("out").display().to_string();
    let err = attrib(&["connect", "hubspot", "--once", "--config", &config, "--output", &out]).expect_err("401");
    assert!(err.contains("credentials rejected (401)"), "{err}");
    assert!(!err.contains("SECRET"), "the token never appears in errors");
    assert_eq!(server.requests().len(), 1, "no retries on 401");
}

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
