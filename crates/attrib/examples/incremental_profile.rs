//! Profiles the incremental ledger alone:
//! `cargo run --release --example incremental_profile [PEOPLE] [PEOPLE_PER_WRITE]`.
//! After the stream and a refit, everyone is rewritten again in chunks of PEOPLE_PER_WRITE
//! (default 20,000, as the service does), timed on its own.
use attrib_contract::Topic;
use attrib_generator::{generate, GenParams};
use attrib_ledger::{AttributionConfig, Engine, IncrementalLedger};
use std::time::Instant;

fn main() {
    let people: u64 = std::env::args().nth(1).and_then(|v| v.parse().ok()).unwrap_or(50_000);
    let data = generate(&GenParams { people, seed: 5, ..GenParams::default() });
    let lines: Vec<(Topic, &String)> = data.lines.iter().flat_map(|(t, ls)| ls.iter().map(move |l| (*t, l))).collect();
    let mut engine = Engine::new(AttributionConfig::default());
    let mut inc = IncrementalLedger::new();
    let t = Instant::now();
    let (mut ingest, mut update) = (0.0, 0.0);
    for chunk in lines.chunks(20_000) {
        let a = Instant::now();
        for (topic, l) in chunk {
            let _ = engine.ingest_bytes(*topic, l.as_bytes());
        }
        ingest += a.elapsed().as_secs_f64();
        let b = Instant::now();
        inc.update(&mut engine);
        update += b.elapsed().as_secs_f64();
    }
    let r = Instant::now();
    inc.refit(&mut engine);
    let refit = r.elapsed().as_secs_f64();
    let u = Instant::now();
    let rows = inc.update(&mut engine).rows();
    let final_update = u.elapsed().as_secs_f64();
    let total = t.elapsed().as_secs_f64();
    let per_write: usize = std::env::args().nth(2).and_then(|v| v.parse().ok()).unwrap_or(20_000);
    inc.refit(&mut engine);
    let c = Instant::now();
    let mut chunks = 0;
    loop {
        let _ = inc.update_at_most(&mut engine, per_write);
        chunks += 1;
        if !inc.has_pending() {
            break;
        }
    }
    let chunked = c.elapsed().as_secs_f64();
    println!(
        "{} lines: ingest {ingest:.2}s, updates {update:.2}s, refit {refit:.2}s, final update {final_update:.2}s ({rows} rows); {:.0} msg/s",
        lines.len(),
        lines.len() as f64 / total
    );
    println!("rewrite after a refit in {chunks} chunks of {per_write} people: {chunked:.2}s");
}
