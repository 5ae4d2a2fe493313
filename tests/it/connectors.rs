//! Source connectors against local servers that answer like the vendors' documented APIs:
//! HubSpot CRM v3 search (string properties, `after` paging, v4 associations) and the ECB
//! reference-rate XML feed. Faults: 429 with Retry-After, a 500 then success, a rejected token.

use attrib_tests::{attrib, infra, read_topic, unique, MockHttp, MockRequest, MockResponse, TempDir};
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};
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

/// Appends connector sections to a test configuration.
fn add_config(config: &str, extra: &str) {
    let text = std::fs::read_to_string(config).expect("config");
    std::fs::write(config, format!("{text}\n{extra}\n")).expect("config");
}

/// `q` of a Salesforce query URL, decoded.
fn soql_of(target: &str) -> String {
    query_params(target).into_iter().find(|(k, _)| k == "q").map(|(_, v)| v).unwrap_or_default()
}

/// Query parameters of a request target, percent-decoded (`+` as space).
fn query_params(target: &str) -> Vec<(String, String)> {
    let query = target.split_once('?').map(|(_, q)| q).unwrap_or_default();
    let decode = |s: &str| {
        let bytes = s.replace('+', " ").into_bytes();
        let mut out = Vec::new();
        let mut i = 0;
        while i < bytes.len() {
            if bytes[i] == b'%' && i + 2 < bytes.len() {
                if let Ok(b) = u8::from_str_radix(std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("zz"), 16) {
                    out.push(b);
                    i += 3;
                    continue;
                }
            }
            out.push(bytes[i]);
            i += 1;
        }
        String::from_utf8_lossy(&out).into_owned()
    };
    query.split('&').filter_map(|kv| kv.split_once('=')).map(|(k, v)| (decode(k), decode(v))).collect()
}

fn sf_opportunity(id: &str, modstamp: &str, won: bool, closed: bool, amount: Value, roles: Value) -> Value {
    json!({"attributes": {"type": "Opportunity", "url": format!("/services/data/v62.0/sobjects/Opportunity/{id}")},
        "Id": id, "Amount": amount, "StageName": if won { "Closed Won" } else if closed { "Closed Lost" } else { "Prospecting" },
        "IsWon": won, "IsClosed": closed, "CloseDate": "2026-03-20", "CreatedDate": "2026-02-01T09:00:00.000+0000",
        "SystemModstamp": modstamp, "OpportunityContactRoles": roles})
}

#[test]
fn salesforce_soql_pages_through_next_records_url_and_resumes_from_system_modstamp() {
    let roles = |ids: &[(&str, bool)]| {
        let records: Vec<Value> = ids
            .iter()
            .map(|(c, p)| json!({"attributes": {"type": "OpportunityContactRole"}, "ContactId": c, "IsPrimary": p}))
            .collect();
        json!({"totalSize": records.len(), "done": true, "records": records})
    };
    let org = Arc::new(Mutex::new((
        vec![
            json!({"attributes": {"type": "Contact"}, "Id": "003A", "Email": "Ann@Example.com", "SystemModstamp": "2026-03-01T10:00:00.000+0000"}),
            json!({"attributes": {"type": "Contact"}, "Id": "003B", "Email": null, "SystemModstamp": "2026-03-02T10:00:00.000+0000"}),
        ],
        vec![
            sf_opportunity(
                "006W",
                "2026-03-20T12:00:00.000+0000",
                true,
                true,
                json!(2500.75),
                roles(&[("003A", false), ("003B", true)]),
            ),
            sf_opportunity(
                "006O",
                "2026-03-21T12:00:00.000+0000",
                false,
                false,
                Value::Null,
                roles(&[("003A", false)]),
            ),
            sf_opportunity("006L", "2026-03-22T12:00:00.000+0000", false, true, json!(900), roles(&[("003A", true)])),
        ],
    )));
    let org2 = org.clone();
    let pending: Arc<Mutex<Vec<Value>>> = Arc::new(Mutex::new(Vec::new()));
    let server = MockHttp::start(move |req| {
        if req.header("authorization") != Some("Bearer 00Dsession") {
            return MockResponse::json(
                401,
                &json!([{"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}]),
            );
        }
        if req.target.starts_with("/services/data/v62.0/query/01g") {
            let rest = std::mem::take(&mut *pending.lock().expect("pending"));
            return MockResponse::json(200, &json!({"totalSize": rest.len(), "done": true, "records": rest}));
        }
        assert!(req.target.starts_with("/services/data/v62.0/query?"), "{}", req.target);
        let soql = soql_of(&req.target);
        let from =
            soql.split("SystemModstamp >= ").nth(1).and_then(|r| r.split_whitespace().next()).expect("cursor literal");
        let from = millis(from);
        let (contacts, opps) = &*org2.lock().expect("org");
        let rows: Vec<Value> = if soql.contains("FROM Contact") { contacts.clone() } else { opps.clone() };
        let mut rows: Vec<Value> = rows
            .into_iter()
            .filter(|r| {
                attrib_connectors::salesforce::sf_time(r["SystemModstamp"].as_str().unwrap()).unwrap().unix_millis()
                    >= from
            })
            .collect();
        rows.sort_by_key(|r| {
            (r["SystemModstamp"].as_str().unwrap().to_string(), r["Id"].as_str().unwrap().to_string())
        });
        if rows.len() > 2 {
            let rest = rows.split_off(2);
            *pending.lock().expect("pending") = rest;
            return MockResponse::json(
                200,
                &json!({"totalSize": 3, "done": false, "nextRecordsUrl": "/services/data/v62.0/query/01gD0000002HU6KIAW-2000", "records": rows}),
            );
        }
        MockResponse::json(200, &json!({"totalSize": rows.len(), "done": true, "records": rows}))
    });
    let dir = TempDir::new("salesforce");
    let config = write_config(dir.path(), &server.base_url, "00Dsession");
    add_config(
        &config,
        &format!(
            "[connectors.salesforce]\ninstance_url = \"{}\"\ntoken_file = \"{}\"\nrequests_per_second = 50.0\ndefault_currency = \"EUR\"\n",
            server.base_url,
            dir.path().join("token").display()
        ),
    );
    let out = dir.path().join("out");
    let out_s = out.display().to_string();
    attrib(&["connect", "salesforce", "--once", "--config", &config, "--output", &out_s]).expect("pass");
    let records = lines(&out.join("crm.records.jsonl"));
    for r in &records {
        attrib_contract::decode(attrib_contract::Topic::CrmRecords, r.to_string().as_bytes()).expect("contract-valid");
    }
    let summary: Vec<(String, String, String, i64)> = records
        .iter()
        .map(|r| {
            (
                r["event_id"].as_str().unwrap().to_string(),
                r["contact_id"].as_str().unwrap().to_string(),
                r["stage"].as_str().unwrap_or("-").to_string(),
                r["amount_minor"].as_i64().unwrap_or(-1),
            )
        })
        .collect();
    let ms = |t: &str| millis(t);
    let row = |id: String, c: &str, s: &str, a: i64| (id, c.to_string(), s.to_string(), a);
    assert_eq!(
        summary,
        vec![
            row(format!("salesforce:contact:003A:{}", ms("2026-03-01T10:00:00Z")), "003A", "-", -1),
            row(format!("salesforce:contact:003B:{}", ms("2026-03-02T10:00:00Z")), "003B", "-", -1),
            row(format!("salesforce:opportunity:006W:{}", ms("2026-03-20T12:00:00Z")), "003B", "closed_won", 250_075),
            row(format!("salesforce:opportunity:006O:{}", ms("2026-03-21T12:00:00Z")), "003A", "open", 0),
            row(format!("salesforce:opportunity:006L:{}", ms("2026-03-22T12:00:00Z")), "003A", "closed_lost", 90_000),
        ]
    );
    assert_eq!(records[2]["closed_at"], "2026-03-20T00:00:00Z");
    assert_eq!(records[2]["currency"], "EUR");
    assert!(records[1].get("email_sha256").is_none_or(Value::is_null), "no email, no hash");
    assert!(server.requests().iter().any(|r| r.target.contains("/query/01g")), "followed nextRecordsUrl");

    // The won deal is restated; only it is published again.
    org.lock().expect("org").1[0] =
        sf_opportunity("006W", "2026-04-02T08:00:00.000+0000", true, true, json!("2000.00"), roles(&[("003B", true)]));
    attrib(&["connect", "salesforce", "--once", "--config", &config, "--output", &out_s]).expect("second pass");
    let after = lines(&out.join("crm.records.jsonl"));
    assert_eq!(after.len(), records.len() + 1);
    assert_eq!(after.last().unwrap()["amount_minor"].as_i64(), Some(200_000));
}

fn today() -> attrib_contract::Date {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap();
    attrib_contract::Timestamp::from_unix_millis(now.as_millis() as i64).date()
}

fn days_between(since: attrib_contract::Date, until: attrib_contract::Date) -> Vec<attrib_contract::Date> {
    (since.days_since_epoch()..=until.days_since_epoch()).map(attrib_contract::Date::from_days_since_epoch).collect()
}

#[test]
fn meta_insights_are_published_per_ad_and_settled_day_and_restatements_are_reported_not_doubled() {
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

    // Again: the platform restated a day; it is reported, not published twice.
    let second = std::process::Command::new(attrib_tests::attrib_bin())
        .args(["connect", "meta", "--once", "--config", &config, "--output", &out_s])
        .output()
        .expect("second pass");
    assert!(second.status.success(), "{}", String::from_utf8_lossy(&second.stderr));
    let printed = String::from_utf8_lossy(&second.stdout);
    let restated = attrib_contract::Date::from_days_since_epoch(until.days_since_epoch() - 1);
    assert!(
        printed.contains(&format!("meta:act_123:a1:{restated}: restated_after_publish (1000 → 1200)")),
        "{printed}"
    );
    assert_eq!(lines(&out.join("ads.spend.jsonl")).len(), spend.len());
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
