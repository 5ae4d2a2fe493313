//! Realistic synthetic data in the wire format (DESIGN.md §2), deterministic for a seed.
//!
//! People see and engage with brand, employee, influencer and paid posts; some click
//! through (click ids, UTMs), some arrive by search, email, referral or directly; B2C
//! people sign up and order, B2B people become leads whose deals close weeks later in
//! several currencies, some restated or refunded. Daily spend per ad and FX rates come
//! along, and a few deliberately malformed and duplicate records per topic.

mod people;
mod rng;
mod world;

use attrib_contract::{encode, Date, Event, Timestamp, Topic};
use rng::Rng;
use std::collections::BTreeMap;
use world::World;

/// What to generate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GenParams {
    pub people: u64,
    pub seed: u64,
    /// First day of the dataset.
    pub start: Date,
    pub days: u32,
    /// Add malformed and duplicate records (on by default).
    pub faults: bool,
}

impl Default for GenParams {
    fn default() -> Self {
        GenParams {
            people: 2_000,
            seed: 42,
            start: Date::from_ymd(2026, 6, 1).unwrap_or(Date::from_days_since_epoch(20_605)),
            days: 90,
            faults: true,
        }
    }
}

/// The generated records: JSON Lines per topic, ordered by time as a broker would hold them.
#[derive(Debug, Default)]
pub struct Dataset {
    pub lines: BTreeMap<Topic, Vec<String>>,
    /// How many malformed records were injected per topic.
    pub malformed: BTreeMap<Topic, usize>,
    /// How many exact duplicates were injected per topic.
    pub duplicates: BTreeMap<Topic, usize>,
}

impl Dataset {
    pub fn total_lines(&self) -> usize {
        self.lines.values().map(Vec::len).sum()
    }
}

/// A record with the instant it sorts at, before encoding.
pub(crate) struct Draft {
    pub at: Timestamp,
    pub event: Event,
    /// Write the timestamps of this record with this UTC offset in minutes (the instant is the same).
    pub offset_minutes: i32,
}

/// Generates a dataset.
pub fn generate(params: &GenParams) -> Dataset {
    let root = Rng::new(params.seed);
    let mut world_rng = root.fork(1);
    let world = World::build(&mut world_rng, params.days.max(14));
    let mut drafts: Vec<Draft> = Vec::new();
    let start = params.start.start();
    let end = start.plus(attrib_contract::Duration::from_days(params.days as i64));
    for i in 0..params.people {
        let mut rng = root.fork(1_000 + i);
        people::simulate(i, &mut rng, &world, start, end, params.days, &mut drafts);
    }
    people::spend(&world, &mut root.fork(2), params.start, params.days, &mut drafts);
    people::fx(&mut root.fork(3), params.start, params.days, &mut drafts);

    let mut by_topic: BTreeMap<Topic, Vec<(Timestamp, String)>> = BTreeMap::new();
    for d in drafts {
        let mut v = encode(&d.event);
        if d.offset_minutes != 0 {
            for key in ["occurred_at", "created_at", "closed_at"] {
                if let Some(ts) = v.get(key).and_then(|x| x.as_str()).and_then(Timestamp::parse_rfc3339) {
                    v[key] = serde_json::Value::String(with_offset(ts, d.offset_minutes));
                }
            }
        }
        by_topic.entry(d.event.topic()).or_default().push((d.at, v.to_string()));
    }
    let mut out = Dataset::default();
    let mut fault_rng = root.fork(4);
    for topic in Topic::ALL {
        let mut rows = by_topic.remove(topic).unwrap_or_default();
        rows.sort_by(|a, b| a.0.cmp(&b.0).then_with(|| a.1.cmp(&b.1)));
        let mut lines: Vec<String> = rows.into_iter().map(|(_, l)| l).collect();
        if params.faults && !lines.is_empty() {
            let (bad, dups) = people::inject_faults(*topic, &mut lines, &mut fault_rng);
            out.malformed.insert(*topic, bad);
            out.duplicates.insert(*topic, dups);
        }
        out.lines.insert(*topic, lines);
    }
    out
}

/// RFC 3339 of an instant as seen at a UTC offset.
pub(crate) fn with_offset(ts: Timestamp, offset_minutes: i32) -> String {
    let local = Timestamp::from_unix_nanos(ts.unix_nanos() + offset_minutes as i128 * 60_000_000_000);
    let s = local.to_string();
    let sign = if offset_minutes < 0 { '-' } else { '+' };
    let m = offset_minutes.unsigned_abs();
    format!("{}{sign}{:02}:{:02}", s.trim_end_matches('Z'), m / 60, m % 60)
}

/// Lower-case hex SHA-256 of the trimmed, lower-cased address, as the contract wants.
pub fn email_sha256(address: &str) -> String {
    use sha2::{Digest, Sha256};
    let digest = Sha256::digest(address.trim().to_lowercase().as_bytes());
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use attrib_contract::decode;

    #[test]
    fn the_same_seed_gives_the_same_data_and_another_seed_does_not() {
        let p = GenParams { people: 300, ..GenParams::default() };
        let a = generate(&p);
        let b = generate(&p);
        assert_eq!(a.lines, b.lines);
        let c = generate(&GenParams { seed: 7, ..p });
        assert_ne!(a.lines, c.lines);
    }

    #[test]
    fn every_line_decodes_except_the_injected_faults() {
        let d = generate(&GenParams { people: 500, ..GenParams::default() });
        for (topic, lines) in &d.lines {
            let bad = lines.iter().filter(|l| decode(*topic, l.as_bytes()).is_err()).count();
            assert_eq!(bad, d.malformed[topic], "{topic}");
            assert!(bad >= 3, "{topic} has malformed records");
        }
        for t in Topic::ALL {
            assert!(d.lines[t].len() > 20, "{t} has data");
        }
    }

    #[test]
    fn offsets_keep_the_instant() {
        let t = Timestamp::parse_rfc3339("2026-06-01T23:30:00Z").expect("ts");
        assert_eq!(with_offset(t, 120), "2026-06-02T01:30:00+02:00");
        assert_eq!(Timestamp::parse_rfc3339(&with_offset(t, -330)), Some(t));
    }

    #[test]
    fn emails_hash_like_the_contract_says() {
        assert_eq!(email_sha256("  Ada@Example.com "), email_sha256("ada@example.com"));
        assert_eq!(email_sha256("ada@example.com").len(), 64);
    }
}
