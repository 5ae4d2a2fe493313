//! Source connectors against local servers that answer like the vendors' documented APIs
//! (HubSpot CRM v3, Salesforce SOQL, Meta insights, LinkedIn adAnalytics, the ECB feed), with
//! faults: 429 with Retry-After, a 500 then success, a rejected token.

mod at_size;
mod crm;
mod spend_and_rates;

use serde_json::Value;
use std::path::Path;

pub(super) fn millis(rfc3339: &str) -> i64 {
    attrib_contract::Timestamp::parse_rfc3339(rfc3339).expect("time").unix_millis()
}

pub(super) fn write_config(dir: &Path, base_url: &str, token: &str) -> String {
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

pub(super) fn lines(path: &Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).expect("JSON line"))
        .collect()
}

/// Appends connector sections to a test configuration.
pub(super) fn add_config(config: &str, extra: &str) {
    let text = std::fs::read_to_string(config).expect("config");
    std::fs::write(config, format!("{text}\n{extra}\n")).expect("config");
}

/// `q` of a Salesforce query URL, decoded.
pub(super) fn soql_of(target: &str) -> String {
    query_params(target).into_iter().find(|(k, _)| k == "q").map(|(_, v)| v).unwrap_or_default()
}

/// Query parameters of a request target, percent-decoded (`+` as space).
pub(super) fn query_params(target: &str) -> Vec<(String, String)> {
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
