//! Connectors at real portal sizes, against servers that keep the vendors' documented limits:
//! HubSpot's search stops at 10,000 results (`400` past them) and sorts by one property; a
//! Salesforce query locator expires; a Meta paging cursor expires; LinkedIn's adAnalytics does
//! not page and cuts an answer at 15,000 elements. Each test asserts the exact set of records
//! published across passes: nothing missing, nothing twice, the cursor never stuck.

use super::{add_config, lines, query_params, soql_of, write_config};
use attrib_contract::{Date, Timestamp};
use attrib_tests::{attrib, MockHttp, MockResponse, TempDir};
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};

const BASE_MS: i64 = 1_772_000_000_000; // 2026-02-25

fn iso(ms: i64) -> String {
    Timestamp::from_unix_millis(ms).to_string()
}

/// A HubSpot portal whose search behaves like the v3 API at size.
#[derive(Default)]
struct Portal {
    contacts: Vec<Value>,
    deals: Vec<Value>,
    /// deal id → its contact.
    associations: BTreeMap<String, u64>,
    /// Searches of this object type are refused (a bad property, say).
    refuse: Option<&'static str>,
    /// Every search body received, with the status answered.
    searches: Vec<(String, Value, u16)>,
}

fn hs_contact(id: u64, modified_ms: i64, lead_ms: Option<i64>) -> Value {
    let mut props = json!({"email": format!("Person{id}@Example.com"), "lastmodifieddate": iso(modified_ms),
        "createdate": iso(BASE_MS - 86_400_000), "hs_object_id": id.to_string()});
    if let Some(l) = lead_ms {
        props["hs_lifecyclestage_lead_date"] = json!(iso(l));
    }
    json!({"id": id.to_string(), "properties": props, "archived": false})
}

fn hs_deal(id: u64, modified_ms: i64) -> Value {
    json!({"id": id.to_string(), "archived": false, "properties": {
        "dealname": format!("Deal {id}"), "amount": "1250.40", "deal_currency_code": "EUR", "dealstage": "closedwon",
        "pipeline": "default", "createdate": iso(BASE_MS), "closedate": iso(modified_ms),
        "hs_lastmodifieddate": iso(modified_ms), "hs_is_closed_won": "true", "hs_is_closed": "true",
        "hs_object_id": id.to_string()}})
}

/// A stable order within one instant that is not the id order (HubSpot sorts by one property).
fn scramble(id: i64) -> i64 {
    id.wrapping_mul(7_919) % 10_007
}

impl Portal {
    fn value(o: &Value, property: &str) -> i64 {
        let v = o["properties"][property].as_str().unwrap_or_default();
        if property == "hs_object_id" {
            v.parse().expect("numeric id")
        } else {
            super::millis(v)
        }
    }

    fn answer(&mut self, target: &str, body: &str) -> MockResponse {
        let body: Value = serde_json::from_str(body).expect("JSON body");
        if target == "/crm/v4/associations/deals/contacts/batch/read" {
            let results: Vec<Value> = body["inputs"]
                .as_array()
                .expect("inputs")
                .iter()
                .filter_map(|i| {
                    let id = i["id"].as_str()?;
                    let contact = self.associations.get(id)?;
                    Some(json!({"from": {"id": id}, "to": [{"toObjectId": contact, "associationTypes": []}]}))
                })
                .collect();
            return MockResponse::json(207, &json!({"status": "COMPLETE", "results": results}));
        }
        let object = target.trim_start_matches("/crm/v3/objects/").trim_end_matches("/search").to_string();
        let status = self.search_status(&object, &body);
        self.searches.push((object.clone(), body.clone(), status));
        if status != 200 {
            return MockResponse::json(
                status,
                &json!({"status": "error", "category": "VALIDATION_ERROR", "correlationId": "c0ffee",
                    "message": "There was a problem with the request."}),
            );
        }
        let objects = if object == "contacts" { &self.contacts } else { &self.deals };
        let filters = body["filterGroups"][0]["filters"].as_array().expect("filters");
        let mut hits: Vec<&Value> = objects
            .iter()
            .filter(|o| {
                filters.iter().all(|f| {
                    let v = Self::value(o, f["propertyName"].as_str().expect("property"));
                    let x: i64 = f["value"].as_str().expect("value").parse().expect("numeric value");
                    match f["operator"].as_str().expect("operator") {
                        "GTE" => v >= x,
                        "GT" => v > x,
                        "EQ" => v == x,
                        "LT" => v < x,
                        "LTE" => v <= x,
                        other => panic!("operator {other}"),
                    }
                })
            })
            .collect();
        let sorts = body["sorts"].as_array().expect("sorts");
        assert_eq!(sorts.len(), 1, "HubSpot sorts by one property");
        let sort = sorts[0]["propertyName"].as_str().expect("sort property");
        hits.sort_by_key(|o| (Self::value(o, sort), scramble(Self::value(o, "hs_object_id"))));
        let limit = body["limit"].as_u64().expect("limit") as usize;
        let after: usize = body["after"].as_str().map_or(0, |a| a.parse().expect("numeric after"));
        let page: Vec<&Value> = hits.iter().skip(after).take(limit).copied().collect();
        let mut resp = json!({"total": hits.len(), "results": page});
        if after + limit < hits.len() {
            resp["paging"] = json!({"next": {"after": (after + limit).to_string(), "link": "?after="}});
        }
        MockResponse::json(200, &resp)
    }

    fn search_status(&self, object: &str, body: &Value) -> u16 {
        let limit = body["limit"].as_u64().unwrap_or(10);
        let after: u64 = body["after"].as_str().map_or(0, |a| a.parse().unwrap_or(u64::MAX));
        if self.refuse == Some(object) || limit > 200 || after + limit > 10_000 {
            400
        } else {
            200
        }
    }
}

fn portal_server(portal: Arc<Mutex<Portal>>) -> MockHttp {
    MockHttp::start(move |req| portal.lock().expect("portal").answer(&req.target, &req.body))
}

fn hubspot_config(dir: &TempDir, server: &MockHttp, page_size: u32) -> String {
    let config = write_config(dir.path(), &server.base_url, "pat-good");
    let text = std::fs::read_to_string(&config)
        .expect("config")
        .replace("page_size = 2", &format!("page_size = {page_size}"))
        .replace("requests_per_second = 50.0", "requests_per_second = 0.0");
    std::fs::write(&config, text).expect("config");
    config
}

fn pass(name: &str, config: &str, out: &std::path::Path) -> Result<(), String> {
    attrib(&["connect", name, "--once", "--config", config, "--output", &out.display().to_string()])
}

fn event_ids(records: &[Value]) -> Vec<String> {
    records.iter().map(|r| r["event_id"].as_str().expect("event id").to_string()).collect()
}

/// Asserts no id repeats and returns them as a set.
fn once_each(ids: &[String]) -> BTreeSet<String> {
    let set: BTreeSet<String> = ids.iter().cloned().collect();
    assert_eq!(set.len(), ids.len(), "a record was published twice");
    set
}

#[test]
fn hubspot_pages_past_10000_contacts_with_ties_at_the_cap_and_leads_move_as_new_records() {
    // 10,280 contacts one second apart, except 250 sharing one instant (more than two pages)
    // and 300 sharing the instant of the 10,000th result.
    let modified = |i: u64| -> i64 {
        let slot = match i {
            2001..=2250 => 2001,
            9851..=10150 => 9851,
            _ => i,
        };
        BASE_MS + slot as i64 * 1000
    };
    let lead = |i: u64| i.is_multiple_of(10).then(|| BASE_MS - i as i64 * 60_000);
    let portal = Portal {
        contacts: (1..=10_280).map(|i| hs_contact(i, modified(i), lead(i))).collect(),
        deals: (0..120).map(|k| hs_deal(50_001 + k, BASE_MS + 20_000_000 + k as i64 * 1000)).collect(),
        associations: (0..120).map(|k| ((50_001 + k).to_string(), k + 1)).collect(),
        ..Portal::default()
    };
    let portal = Arc::new(Mutex::new(portal));
    let server = portal_server(portal.clone());
    let dir = TempDir::new("hubspot-size");
    let config = hubspot_config(&dir, &server, 100);
    let out = dir.path().join("out");

    pass("hubspot", &config, &out).expect("first pass");
    let records = lines(&out.join("crm.records.jsonl"));
    let published = once_each(&event_ids(&records));
    let mut expected: BTreeSet<String> = BTreeSet::new();
    for i in 1..=10_280u64 {
        expected.insert(format!("hubspot:contact:{i}:{}", modified(i)));
        if let Some(l) = lead(i) {
            expected.insert(format!("hubspot:lead:{i}:{l}"));
        }
    }
    for k in 0..120u64 {
        expected.insert(format!("hubspot:deal:{}:{}", 50_001 + k, BASE_MS + 20_000_000 + k as i64 * 1000));
    }
    assert_eq!(published.len(), expected.len());
    assert_eq!(published, expected, "every contact, lead and deal exactly once");
    {
        let p = portal.lock().expect("portal");
        let refused: Vec<&(String, Value, u16)> = p.searches.iter().filter(|s| s.2 != 200).collect();
        assert!(refused.is_empty(), "no search past the cap or otherwise refused: {:?}", refused.first());
        // 103 pages of contacts at the least, plus the ties fetched again: no storm of re-queries.
        let contact_searches = p.searches.iter().filter(|s| s.0 == "contacts").count();
        assert!((103..=115).contains(&contact_searches), "{contact_searches} contact searches");
        assert!(
            p.searches.iter().any(|s| s.1["sorts"][0]["propertyName"] == "hs_object_id"),
            "a page full of one instant is paged by id"
        );
    }

    // Nothing changed: nothing published, and the pass ends at once.
    let before = portal.lock().expect("portal").searches.len();
    pass("hubspot", &config, &out).expect("second pass");
    assert_eq!(lines(&out.join("crm.records.jsonl")).len(), records.len());
    assert!(portal.lock().expect("portal").searches.len() - before <= 2, "an up-to-date cursor asks once per type");

    // A contact's lead date moves, one contact is new, 150 are bulk-updated at one instant.
    let later = BASE_MS + 30_000_000;
    {
        let mut p = portal.lock().expect("portal");
        p.contacts[4] = hs_contact(5, later, Some(BASE_MS - 1_000));
        p.contacts.push(hs_contact(10_281, later + 1000, None));
        for i in 500..650 {
            p.contacts[i] = hs_contact(i as u64 + 1, later + 2000, None);
        }
    }
    pass("hubspot", &config, &out).expect("third pass");
    let all = lines(&out.join("crm.records.jsonl"));
    let new = once_each(&event_ids(&all[records.len()..]));
    let mut expected_new: BTreeSet<String> =
        (501..=650u64).map(|i| format!("hubspot:contact:{i}:{}", later + 2000)).collect();
    expected_new.insert(format!("hubspot:contact:5:{later}"));
    expected_new.insert(format!("hubspot:lead:5:{}", BASE_MS - 1_000));
    expected_new.insert(format!("hubspot:contact:10281:{}", later + 1000));
    assert_eq!(new, expected_new, "only what changed, the moved lead as a new lead record");
    once_each(&event_ids(&all));
}

#[test]
fn hubspot_pages_an_instant_shared_by_more_than_10000_contacts_by_id() {
    let instant = BASE_MS + 5_000;
    let portal = Portal { contacts: (1..=10_150).map(|i| hs_contact(i, instant, None)).collect(), ..Portal::default() };
    let portal = Arc::new(Mutex::new(portal));
    let server = portal_server(portal.clone());
    let dir = TempDir::new("hubspot-tie");
    let config = hubspot_config(&dir, &server, 200);
    let out = dir.path().join("out");
    pass("hubspot", &config, &out).expect("pass");
    let published = once_each(&event_ids(&lines(&out.join("crm.records.jsonl"))));
    let expected: BTreeSet<String> = (1..=10_150).map(|i| format!("hubspot:contact:{i}:{instant}")).collect();
    assert_eq!(published, expected);
    let searches = portal.lock().expect("portal").searches.len();
    assert!(searches <= 60, "{searches} searches for 51 pages");
    pass("hubspot", &config, &out).expect("again");
    assert_eq!(lines(&out.join("crm.records.jsonl")).len(), 10_150, "nothing twice");
}

#[test]
fn a_stuck_hubspot_cursor_is_repaired_and_a_refused_type_does_not_stop_the_other() {
    let m = |i: u64| BASE_MS + i as i64 * 1000;
    let portal = Portal {
        contacts: (1..=30).map(|i| hs_contact(i, m(i), None)).collect(),
        deals: (0..5).map(|k| hs_deal(70_001 + k, m(100 + k))).collect(),
        associations: (0..5).map(|k| ((70_001 + k).to_string(), k + 1)).collect(),
        ..Portal::default()
    };
    let portal = Arc::new(Mutex::new(portal));
    let server = portal_server(portal.clone());
    let dir = TempDir::new("hubspot-stuck");
    let config = hubspot_config(&dir, &server, 5);
    // The cursor an older version left after publishing contact 10: a search at `after=10000`
    // that HubSpot refuses on every pass.
    std::fs::create_dir_all(dir.path().join("state")).expect("state dir");
    std::fs::write(
        dir.path().join("state/hubspot.cursor.json"),
        json!({"contacts": {"modified_ms": m(10), "ids_at_modified": ["10"], "after": "10000", "query_from_ms": m(1)},
               "deals": {"modified_ms": 0, "ids_at_modified": [], "after": null, "query_from_ms": 0}})
        .to_string(),
    )
    .expect("cursor");
    let out = dir.path().join("out");
    pass("hubspot", &config, &out).expect("the stuck cursor is repaired");
    let published = once_each(&event_ids(&lines(&out.join("crm.records.jsonl"))));
    let mut expected: BTreeSet<String> = (11..=30).map(|i| format!("hubspot:contact:{i}:{}", m(i))).collect();
    expected.extend((0..5).map(|k| format!("hubspot:deal:{}:{}", 70_001 + k, m(100 + k))));
    assert_eq!(published, expected, "contacts after the cursor, and every deal");

    // Contacts are refused now: deals are still pulled, and the pass fails naming contacts.
    {
        let mut p = portal.lock().expect("portal");
        p.refuse = Some("contacts");
        p.contacts.push(hs_contact(31, m(200), None));
        p.deals.push(hs_deal(70_006, m(201)));
        p.associations.insert("70006".into(), 31);
    }
    let err = pass("hubspot", &config, &out).expect_err("contacts failed");
    assert!(err.contains("pulling contacts failed") && err.contains("400"), "{err}");
    assert!(!err.contains("deals"), "deals did not fail: {err}");
    let ids = event_ids(&lines(&out.join("crm.records.jsonl")));
    assert_eq!(ids.last().map(String::as_str), Some(format!("hubspot:deal:70006:{}", m(201)).as_str()));

    // Accepted again: the contact arrives, nothing else is repeated.
    portal.lock().expect("portal").refuse = None;
    pass("hubspot", &config, &out).expect("recovered");
    let ids = event_ids(&lines(&out.join("crm.records.jsonl")));
    once_each(&ids);
    assert_eq!(ids.last().map(String::as_str), Some(format!("hubspot:contact:31:{}", m(200)).as_str()));
}

#[test]
fn salesforce_follows_many_batches_across_a_modstamp_tie_and_an_expired_query_locator() {
    // 4,500 contacts one second apart, 26 of them sharing the second across the first batch
    // boundary (2,000 records per batch).
    let stamp = |j: u64| -> i64 {
        let slot = if (1990..=2015).contains(&j) { 1990 } else { j };
        BASE_MS + slot as i64 * 1000
    };
    let sf_time = |ms: i64| iso(ms).replace('Z', ".000+0000");
    let contacts: Vec<Value> = (1..=4_500u64)
        .map(|j| json!({"attributes": {"type": "Contact"}, "Id": format!("003{j:012}"), "Email": format!("p{j}@example.com"), "SystemModstamp": sf_time(stamp(j))}))
        .collect();
    // Locator → (rows, next offset); the first time the third batch is asked for, it has expired.
    struct Org {
        contacts: Vec<Value>,
        locators: BTreeMap<String, Vec<Value>>,
        expired_once: bool,
        queries: Vec<String>,
    }
    let org = Arc::new(Mutex::new(Org { contacts, locators: BTreeMap::new(), expired_once: false, queries: vec![] }));
    let org2 = org.clone();
    let batch = |org: &mut Org, rows: Vec<Value>, offset: usize, n: usize| -> MockResponse {
        let end = (offset + 2000).min(rows.len());
        let mut resp = json!({"totalSize": rows.len(), "done": end == rows.len(), "records": rows[offset..end]});
        if end < rows.len() {
            let locator = format!("01gQ{n}-{end}");
            resp["nextRecordsUrl"] = json!(format!("/services/data/v62.0/query/{locator}"));
            org.locators.insert(locator, rows);
        }
        MockResponse::json(200, &resp)
    };
    let server = MockHttp::start(move |req| {
        let mut org = org2.lock().expect("org");
        if let Some(locator) = req.target.strip_prefix("/services/data/v62.0/query/") {
            let offset: usize = locator.rsplit('-').next().and_then(|o| o.parse().ok()).expect("offset");
            if offset == 4000 && !org.expired_once {
                org.expired_once = true;
                return MockResponse::json(
                    400,
                    &json!([{"message": "invalid query locator", "errorCode": "INVALID_QUERY_LOCATOR"}]),
                );
            }
            let rows = org.locators.get(locator).cloned().expect("known locator");
            let n = org.queries.len();
            return batch(&mut org, rows, offset, n);
        }
        let soql = soql_of(&req.target);
        org.queries.push(soql.clone());
        let from = soql.split("SystemModstamp >= ").nth(1).and_then(|r| r.split_whitespace().next()).expect("from");
        let from = super::millis(from);
        let rows: Vec<Value> = if soql.contains("FROM Contact") {
            org.contacts
                .iter()
                .filter(|c| {
                    attrib_connectors::salesforce::sf_time(c["SystemModstamp"].as_str().unwrap()).unwrap().unix_millis()
                        >= from
                })
                .cloned()
                .collect()
        } else {
            vec![]
        };
        let n = org.queries.len();
        batch(&mut org, rows, 0, n)
    });
    let dir = TempDir::new("salesforce-size");
    let config = write_config(dir.path(), &server.base_url, "00Dsession");
    add_config(
        &config,
        &format!(
            "[connectors.salesforce]\ninstance_url = \"{}\"\ntoken_file = \"{}\"\nrequests_per_second = 0.0\n",
            server.base_url,
            dir.path().join("token").display()
        ),
    );
    let out = dir.path().join("out");
    pass("salesforce", &config, &out).expect("pass");
    let published = once_each(&event_ids(&lines(&out.join("crm.records.jsonl"))));
    let expected: BTreeSet<String> =
        (1..=4_500u64).map(|j| format!("salesforce:contact:003{j:012}:{}", stamp(j))).collect();
    assert_eq!(published, expected);
    let org = org.lock().expect("org");
    assert!(org.expired_once);
    let contact_queries: Vec<&String> = org.queries.iter().filter(|q| q.contains("FROM Contact")).collect();
    assert_eq!(contact_queries.len(), 2, "one query, then one from the cursor after the locator expired");
    assert!(contact_queries[1].contains(&iso(stamp(4000)).replace(".000", "")), "{}", contact_queries[1]);
}

fn today() -> Date {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("clock");
    Timestamp::from_unix_millis(now.as_millis() as i64).date()
}

#[test]
fn meta_pages_thousands_of_ads_and_pages_again_when_a_cursor_expires() {
    let first_day = Date::from_days_since_epoch(today().days_since_epoch() - 4);
    let days: Vec<Date> = (0..3).map(|d| Date::from_days_since_epoch(first_day.days_since_epoch() + d)).collect();
    let rows: Vec<Value> = (0..1_200)
        .flat_map(|ad| days.iter().map(move |d| (ad, *d)))
        .map(|(ad, d)| {
            json!({"ad_id": format!("238{ad:05}"), "campaign_id": format!("120{}", ad % 40), "spend": format!("{}.{:02}", ad % 90, ad % 100),
                "impressions": "1000", "clicks": "10", "account_currency": "EUR", "date_start": d.to_string(), "date_stop": d.to_string()})
        })
        .collect();
    let expired = Arc::new(Mutex::new(false));
    let expired2 = expired.clone();
    let server = MockHttp::start(move |req| {
        let params: BTreeMap<String, String> = query_params(&req.target).into_iter().collect();
        let limit: usize = params["limit"].parse().expect("limit");
        let offset: usize = params.get("after").map_or(0, |a| a.trim_start_matches("cur").parse().expect("cursor"));
        if offset == 2_000 && !*expired2.lock().expect("flag") {
            *expired2.lock().expect("flag") = true;
            return MockResponse::json(
                400,
                &json!({"error": {"message": "(#100) The cursor has expired", "type": "OAuthException", "code": 100, "fbtrace_id": "A1"}}),
            );
        }
        let end = (offset + limit).min(rows.len());
        let mut resp = json!({"data": rows[offset..end]});
        if end < rows.len() {
            let next = format!(
                "http://{}{}?level=ad&limit={limit}&after=cur{end}&access_token=meta-token",
                req.header("host").expect("host"),
                req.target.split('?').next().expect("path")
            );
            resp["paging"] =
                json!({"cursors": {"before": format!("cur{offset}"), "after": format!("cur{end}")}, "next": next});
        }
        MockResponse::json(200, &resp)
    });
    let dir = TempDir::new("meta-size");
    let config = write_config(dir.path(), &server.base_url, "unused");
    std::fs::write(dir.path().join("meta-token"), "meta-token\n").expect("token");
    add_config(
        &config,
        &format!(
            "[connectors.meta]\nbase_url = \"{}\"\nad_account_ids = [\"123\"]\ntoken_file = \"{}\"\nrequests_per_second = 0.0\nstart_date = \"{first_day}\"\n",
            server.base_url,
            dir.path().join("meta-token").display()
        ),
    );
    let out = dir.path().join("out");
    pass("meta", &config, &out).expect("pass");
    assert!(*expired.lock().expect("flag"), "the cursor expired mid-pass");
    let published = once_each(&event_ids(&lines(&out.join("ads.spend.jsonl"))));
    let expected: BTreeSet<String> =
        (0..1_200).flat_map(|ad| days.iter().map(move |d| format!("meta:act_123:238{ad:05}:{d}"))).collect();
    assert_eq!(published, expected);
}

#[test]
fn linkedin_splits_a_request_whose_answer_reaches_the_15000_element_cap() {
    let first_day = Date::from_days_since_epoch(today().days_since_epoch() - 16);
    let answered = Arc::new(Mutex::new(Vec::<usize>::new()));
    let answered2 = answered.clone();
    let server = MockHttp::start(move |req| {
        let range = req.target.split("dateRange=").nth(1).expect("dateRange");
        let numbers: Vec<i64> = range
            .split(|c: char| !c.is_ascii_digit())
            .filter(|s| !s.is_empty())
            .take(6)
            .map(|s| s.parse().expect("number"))
            .collect();
        let day = |y: i64, m: i64, d: i64| Date::from_ymd(y as i32, m as u32, d as u32).expect("date");
        let (since, until) = (day(numbers[0], numbers[1], numbers[2]), day(numbers[3], numbers[4], numbers[5]));
        let mut elements = Vec::new();
        for d in since.days_since_epoch()..=until.days_since_epoch() {
            let (y, m, dd) = Date::from_days_since_epoch(d).ymd();
            for creative in 0..1_100 {
                elements.push(json!({"costInLocalCurrency": format!("{}.5", creative % 50), "impressions": 100, "clicks": 2,
                    "pivotValues": [format!("urn:li:sponsoredCreative:9{creative:04}")],
                    "dateRange": {"start": {"year": y, "month": m, "day": dd}, "end": {"year": y, "month": m, "day": dd}}}));
            }
        }
        // adAnalytics does not page and cuts larger answers silently.
        elements.truncate(15_000);
        answered2.lock().expect("answered").push(elements.len());
        MockResponse::json(200, &json!({"paging": {"start": 0, "count": 10, "links": []}, "elements": elements}))
    });
    let dir = TempDir::new("linkedin-size");
    let config = write_config(dir.path(), &server.base_url, "unused");
    std::fs::write(dir.path().join("li-token"), "li-token").expect("token");
    add_config(
        &config,
        &format!(
            "[connectors.linkedin]\nbase_url = \"{}\"\nad_account_ids = [\"5001\"]\ncurrency = \"USD\"\ntoken_file = \"{}\"\nrequests_per_second = 0.0\nstart_date = \"{first_day}\"\n",
            server.base_url,
            dir.path().join("li-token").display()
        ),
    );
    let out = dir.path().join("out");
    pass("linkedin", &config, &out).expect("pass");
    let published = once_each(&event_ids(&lines(&out.join("ads.spend.jsonl"))));
    // 15 settled days (today − 16 … today − 2) × 1,100 creatives = 16,500 rows.
    let expected: BTreeSet<String> = (0..15)
        .flat_map(|d| {
            let day = Date::from_days_since_epoch(first_day.days_since_epoch() + d);
            (0..1_100).map(move |c| format!("linkedin:9{c:04}:{day}"))
        })
        .collect();
    assert_eq!(published.len(), 16_500);
    assert_eq!(published, expected);
    let answered = answered.lock().expect("answered");
    assert_eq!(answered.first(), Some(&15_000), "the first answer was cut at the cap");
    assert!(answered[1..].iter().all(|n| *n < 15_000), "{answered:?}");
}
