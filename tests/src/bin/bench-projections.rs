//! Benchmark for the projections at scale (issue 3): rebuild speed and as-of query latency over a
//! generated history, with a bare pass over the same events as the baseline, in one run.
//!
//! Usage: `cargo run --release --bin bench-projections -- [EVENTS] [QUERIES]` (default 1,000,000 and
//! 10,000). Everything is in memory: sealing uses `MemoryChain`, the ledger's own sealing code.

use std::time::Instant;

use ledger::{Append, MemoryChain, Timestamp};
use projections::Projections;
use samverkan_tests::Rng;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let target: usize = args.get(1).and_then(|s| s.parse().ok()).unwrap_or(1_000_000);
    let queries: usize = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(10_000);

    let t = Instant::now();
    let generated = samverkan_tests::generate::history(1, target);
    let mut chain = MemoryChain::new();
    for g in &generated {
        let append = Append::new().with_imported(g.event.clone(), Some(g.recorded_at));
        if let Err(e) = chain.append(&append, g.recorded_at) {
            eprintln!("bench-projections: sealing failed: {e}");
            std::process::exit(1);
        }
    }
    let events = chain.into_events();
    println!("generated and sealed {} events in {:.1} s", events.len(), t.elapsed().as_secs_f64());

    // Baseline: one bare pass touching every event (what any consumer pays at least).
    let t = Instant::now();
    let checksum: u64 = events.iter().map(|e| e.position().get() ^ e.stream_version()).fold(0, u64::wrapping_add);
    let bare = t.elapsed().as_secs_f64();

    let t = Instant::now();
    let projections = match Projections::from_events(&events) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("bench-projections: rebuild failed: {e}");
            std::process::exit(1);
        }
    };
    let rebuild = t.elapsed().as_secs_f64();

    // As-of queries: random agreement, random valid date, random record instant.
    let agreements: Vec<ledger::AgreementId> =
        projections.agreements(ledger::Date::today_utc(), Timestamp::now()).into_iter().map(|a| a.id).collect();
    let first = events.first().map_or(0, |e| e.recorded_at().as_micros());
    let last = events.last().map_or(0, |e| e.recorded_at().as_micros());
    let mut rng = Rng::new(42);
    let mut latencies = Vec::with_capacity(queries);
    let mut in_force = 0usize;
    for _ in 0..queries {
        let id = &agreements[rng.range(0, agreements.len() as u64) as usize];
        let known = Timestamp::from_micros(rng.range(first as u64, last as u64 + 1) as i64);
        let at = ledger::Date::from_ymd(rng.range(2010, 2026) as i32, rng.range(1, 13) as u32, 1)
            .unwrap_or_else(ledger::Date::today_utc);
        let t = Instant::now();
        let view = projections.agreement(id, at, known);
        latencies.push(t.elapsed().as_secs_f64() * 1e6);
        in_force += usize::from(view.is_some_and(|v| v.in_force));
    }
    latencies.sort_by(f64::total_cmp);
    let pct = |p: f64| latencies[((latencies.len() as f64 - 1.0) * p) as usize];

    println!("| measurement | value | baseline (same run) | ratio |");
    println!("| --- | --- | --- | --- |");
    println!(
        "| rebuild all projections, {} events | {:.0} events/s ({:.2} s) | bare pass {:.0} events/s | {:.1}x slower |",
        events.len(),
        events.len() as f64 / rebuild,
        rebuild,
        events.len() as f64 / bare.max(1e-9),
        rebuild / bare.max(1e-9)
    );
    println!(
        "| agreement(at, asKnownAt), {queries} random queries over {} agreements | p50 {:.1} µs, p99 {:.1} µs, max {:.1} µs | target p99 ≤ 1000 µs | |",
        agreements.len(),
        pct(0.5),
        pct(0.99),
        pct(1.0)
    );
    println!("(checksum {checksum}, {in_force} answers in force)");
}
