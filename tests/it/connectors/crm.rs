//! CRM connectors: HubSpot and Salesforce.

use super::{add_config, lines, millis, soql_of, write_config};
use attrib_tests::{attrib, MockHttp, MockRequest, MockResponse, TempDir};
use serde_json::{json, Value};
use std::collections::BTreeSet;
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
        // Filters as the v3 search applies them (ANDed): on the modified time or the object id.
        let value = |o: &Value, property: &str| -> i64 {
            if property == "hs_object_id" {
                o["id"].as_str().and_then(|i| i.parse().ok()).unwrap_or_default()
            } else {
                millis(o["properties"][property].as_str().unwrap_or_default())
            }
        };
        let filters = body["filterGroups"][0]["filters"].as_array().cloned().unwrap_or_default();
        let mut hits: Vec<&Value> = objects
            .iter()
            .filter(|o| {
                filters.iter().all(|f| {
                    let (v, x) = (
                        value(o, f["propertyName"].as_str().unwrap_or_default()),
                        f["value"].as_str().and_then(|v| v.parse::<i64>().ok()).unwrap_or(0),
                    );
                    match f["operator"].as_str() {
                        Some("GTE") => v >= x,
                        Some("GT") => v > x,
                        Some("EQ") => v == x,
                        other => panic!("operator {other:?}"),
                    }
                })
            })
            .collect();
        let sort = body["sorts"][0]["propertyName"].as_str().unwrap_or(modified_prop).to_string();
        hits.sort_by_key(|o| (value(o, &sort), value(o, "hs_object_id")));
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
            format!("hubspot:lead:101:{}", v("2026-02-20T08:00:00Z")).as_str(),
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
