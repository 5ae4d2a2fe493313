//! The JSON Schemas in `schemas/events/` and the Rust decoder accept and reject the same records.

use attrib_contract::{decode, Topic};
use attrib_generator::{generate, GenParams};
use attrib_tests::repo_root;
use serde_json::Value;

fn validator(topic: Topic) -> jsonschema::Validator {
    let path = repo_root().join("schemas/events").join(format!("{}.schema.json", topic.as_str()));
    let schema: Value =
        serde_json::from_str(&std::fs::read_to_string(&path).expect("schema file")).expect("schema JSON");
    jsonschema::options()
        .should_validate_formats(true)
        .build(&schema)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn topic(name: &str) -> Topic {
    *Topic::ALL.iter().find(|t| t.as_str() == name).expect("known topic")
}

#[test]
fn schemas_and_decoder_agree_on_every_hand_written_case() {
    let text = std::fs::read_to_string(repo_root().join("tests/fixtures/contract_cases.jsonl")).expect("fixtures");
    let mut failures = Vec::new();
    let mut checked = 0;
    for line in text.lines() {
        let case: Value = serde_json::from_str(line).expect("fixture line");
        let t = topic(case["topic"].as_str().expect("topic"));
        let expected = case["valid"].as_bool().expect("valid");
        let record = &case["record"];
        let by_schema = validator(t).is_valid(record);
        let by_decoder = decode(t, record.to_string().as_bytes());
        if by_schema != expected || by_decoder.is_ok() != expected {
            failures.push(format!(
                "{t} {:?}: expected valid={expected}, schema={by_schema}, decoder={:?}",
                case["why"].as_str().unwrap_or(""),
                by_decoder.map(|_| "ok").map_err(|e| e.to_string())
            ));
        }
        checked += 1;
    }
    assert!(checked > 100, "fixtures are loaded");
    assert!(failures.is_empty(), "{} disagreements:\n{}", failures.len(), failures.join("\n"));
}

#[test]
fn schemas_and_decoder_agree_on_generated_data_including_its_faults() {
    let data = generate(&GenParams { people: 400, ..GenParams::default() });
    for (t, lines) in &data.lines {
        let v = validator(*t);
        let mut rejected = 0;
        for line in lines {
            let by_decoder = decode(*t, line.as_bytes()).is_ok();
            let by_schema = serde_json::from_str::<Value>(line).map(|r| v.is_valid(&r)).unwrap_or(false);
            assert_eq!(by_schema, by_decoder, "{t}: {line}");
            rejected += usize::from(!by_decoder);
        }
        assert_eq!(rejected, data.malformed[t], "{t}");
    }
}
