//! Engine throughput on generated data: `cargo bench -p attrib --bench engine`.
//!
//! Prints events/s for decoding, for identity resolution + journey building, and
//! conversions/s for attribution under each model (data-driven ones include their fit), single-threaded.
//! `ATTRIB_BENCH_PEOPLE` sets the dataset size (default 50 000 people).

use attrib_contract::{decode, Event, Topic};
use attrib_generator::{generate, GenParams};
use attrib_journeys::{JourneyConfig, JourneyStore};
use attrib_ledger::{AttributionConfig, Engine};
use attrib_models::Model;
use std::hint::black_box;
use std::time::Instant;

fn main() {
    let people: u64 = std::env::var("ATTRIB_BENCH_PEOPLE").ok().and_then(|v| v.parse().ok()).unwrap_or(50_000);
    let t = Instant::now();
    let data = generate(&GenParams { people, seed: 1, faults: false, ..GenParams::default() });
    let lines: Vec<(Topic, &String)> = data.lines.iter().flat_map(|(t, ls)| ls.iter().map(move |l| (*t, l))).collect();
    let bytes: usize = lines.iter().map(|(_, l)| l.len() + 1).sum();
    println!(
        "dataset: {people} people, {} events, {:.1} MB (generated in {:.2}s)",
        lines.len(),
        bytes as f64 / 1e6,
        t.elapsed().as_secs_f64()
    );

    let t = Instant::now();
    let events: Vec<Event> = lines.iter().filter_map(|(topic, l)| decode(*topic, l.as_bytes()).ok()).collect();
    let secs = t.elapsed().as_secs_f64();
    report("decode (1 thread)", events.len() as f64 / secs, "events/s", Some(bytes as f64 / secs / 1e6));

    let journey_events: Vec<Event> =
        events.iter().filter(|e| matches!(e, Event::Social(_) | Event::Web(_) | Event::Crm(_))).cloned().collect();
    let t = Instant::now();
    let mut store = JourneyStore::new(JourneyConfig::default());
    for e in &journey_events {
        match e {
            Event::Social(e) => black_box(store.ingest_social(e)),
            Event::Web(e) => black_box(store.ingest_web(e)),
            Event::Crm(e) => black_box(store.ingest_crm(e)),
            _ => unreachable!(),
        };
    }
    let journeys = store.journeys();
    let secs = t.elapsed().as_secs_f64();
    report("identity + journeys", journey_events.len() as f64 / secs, "events/s", None);
    let conversions: usize = journeys.iter().map(|j| j.conversions.len()).sum();
    println!("  {} people, {} conversions", journeys.len(), conversions);
    drop(journeys);

    for model in Model::ALL {
        let mut engine = Engine::new(AttributionConfig { models: vec![model], ..AttributionConfig::default() });
        for e in &journey_events {
            engine.ingest(e);
        }
        let t = Instant::now();
        let ledger = engine.attribute(1);
        let secs = t.elapsed().as_secs_f64();
        report(&format!("attribute {model} (1 thread)"), ledger.conversions.len() as f64 / secs, "conversions/s", None);
        black_box(ledger);
    }
}

fn report(what: &str, rate: f64, unit: &str, mb_per_s: Option<f64>) {
    match mb_per_s {
        Some(mb) => println!("{what:<36}{rate:>14.0} {unit}  ({mb:.0} MB/s)"),
        None => println!("{what:<36}{rate:>14.0} {unit}"),
    }
}
