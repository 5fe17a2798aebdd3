//! Section 3: rebuilding every projection from disk, from the ledger (open sled, read and decode
//! each record, `Projections::apply`, exactly what the server does at start) against SQLite (read
//! each row's JSON, parse it, seal it, apply it), alternating, median of the rounds. Both read a
//! warm page cache: each round follows the other's, and the files were just written.

use std::time::Instant;

use ledger::{Ledger, LedgerConfig, Position};
use projections::Projections;

use crate::Plan;
use crate::dataset::Dataset;
use crate::report::{Report, Verdict, median, rate, ratio};
use crate::sqlite::{self, Breakdown, CHUNK};

/// What the later sections reuse.
#[derive(Debug)]
pub(crate) struct Rebuilt {
    pub(crate) projections: Projections,
    /// Records read and decoded per second (the ledger's own read speed, without projections).
    pub(crate) read_rate: f64,
}

/// The ledger side: what `LiveProjections::load` does (each event with its stored bytes to
/// `Projections::apply_compact`), with the phases timed per chunk. `encode`: hand each event to
/// `apply(&event)` instead, which encodes it again into its compact form.
fn ledger_rebuild(data: &Dataset, encode: bool) -> anyhow::Result<(Projections, Breakdown)> {
    let start = Instant::now();
    let mut b = Breakdown::default();
    let ledger = Ledger::open(data.ledger_dir(), LedgerConfig::default())?;
    b.open = start.elapsed().as_secs_f64();
    let mut projections = Projections::new();
    // As the server's start-up fold does: room for every event, so the indexes never grow.
    projections.reserve(usize::try_from(ledger.head().position.get()).unwrap_or(0));
    let mut events = ledger.read_compact_from(Position::FIRST);
    let mut chunk = Vec::with_capacity(CHUNK);
    loop {
        let t = Instant::now();
        chunk.clear();
        for event in events.by_ref().take(CHUNK) {
            chunk.push(event?);
        }
        b.read += t.elapsed().as_secs_f64();
        if chunk.is_empty() {
            break;
        }
        let t = Instant::now();
        if encode {
            for (event, _) in &chunk {
                projections.apply(event)?;
            }
        } else {
            for (event, compact) in chunk.drain(..) {
                projections.apply_compact(&event, compact)?;
            }
        }
        b.apply += t.elapsed().as_secs_f64();
    }
    b.total = start.elapsed().as_secs_f64();
    anyhow::ensure!(projections.head() == data.head.position, "the ledger rebuild stopped at {}", projections.head());
    Ok((projections, b))
}

pub(crate) fn run(plan: &Plan, data: &Dataset, report: &mut Report) -> anyhow::Result<Rebuilt> {
    let n = data.events() as f64;
    let (mut led, mut sql) = (Vec::new(), Vec::new());
    let mut kept = None;
    for round in 0..plan.rebuild_rounds {
        let (projections, b) = ledger_rebuild(data, false)?;
        eprintln!("  rebuild round {round}: ledger {:.2} s {b:?}", b.total);
        led.push(b);
        // Keep one set of projections for the query section; drop the rest before SQLite runs.
        kept = Some(projections);
        let (projections, b) = sqlite::rebuild(&data.sqlite, data.head.hash)?;
        anyhow::ensure!(
            projections.head() == data.head.position,
            "the SQLite rebuild stopped at {}",
            projections.head()
        );
        eprintln!("  rebuild round {round}: sqlite {:.2} s {b:?}", b.total);
        sql.push(b);
    }
    let med = |v: &[Breakdown], f: fn(&Breakdown) -> f64| median(&v.iter().map(f).collect::<Vec<_>>());
    let (lt, st) = (med(&led, |b| b.total), med(&sql, |b| b.total));
    let (l_rate, s_rate) = (n / lt, n / st);
    report.row(
        "3",
        format!("rebuild all projections from disk, {} events, one thread (median of {})", n as u64, led.len()),
        rate(l_rate, "events"),
        format!("SQLite path {}", rate(s_rate, "events")),
        ratio(l_rate, s_rate),
        "≥ 1,000,000 events/s per core; ≥ 3× SQLite",
        Verdict::of(l_rate >= 1_000_000.0 && l_rate >= 3.0 * s_rate),
    );
    let (l_read, l_apply, l_open) = (med(&led, |b| b.read), med(&led, |b| b.apply), med(&led, |b| b.open));
    report.row(
        "3",
        "— ledger phases: sled open / read+decode / apply",
        format!("{:.2} s / {:.2} s / {:.2} s", l_open, l_read, l_apply),
        format!("read+decode {} ; apply {}", rate(n / l_read, "events"), rate(n / l_apply, "events")),
        "",
        "read + decode ≥ 1,000,000 events/s (issue 19)",
        Verdict::of(n / l_read >= 1_000_000.0),
    );
    let (s_read, s_parse, s_seal, s_apply) =
        (med(&sql, |b| b.read), med(&sql, |b| b.parse), med(&sql, |b| b.seal), med(&sql, |b| b.apply));
    report.row(
        "3",
        "— SQLite phases: select / JSON parse / seal / apply",
        format!("{s_read:.2} s / {s_parse:.2} s / {s_seal:.2} s / {s_apply:.2} s"),
        format!("without sealing {}", rate(n / (st - s_seal), "events")),
        format!("{} against SQLite without sealing", ratio(l_rate, n / (st - s_seal))),
        "",
        Verdict::Info,
    );
    let projections = kept.ok_or_else(|| anyhow::anyhow!("no rebuild round ran"))?;
    drop(projections);
    let (projections, encoded) = ledger_rebuild(data, true)?;
    report.row(
        "3",
        "— ledger rebuild with `apply(&event)`, which encodes each event again (one round; the server reads the stored bytes)",
        rate(n / encoded.total, "events"),
        format!("apply alone {}", rate(n / encoded.apply, "events")),
        ratio(n / encoded.total, l_rate),
        "",
        Verdict::Info,
    );
    Ok(Rebuilt { projections, read_rate: n / l_read })
}
