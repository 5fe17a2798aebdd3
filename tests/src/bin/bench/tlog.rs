//! Section 7: what the transparency log (issue 16) costs. On append: the same single appends and
//! 64-writer group commits against two ledgers in this run, one signing a checkpoint after every
//! commit group and one keeping the Merkle tree without a key (the tree itself is in every ledger;
//! its CPU cost per event is measured apart, in memory, against the record's own hash chain). And
//! the cost of a proof on the loaded history, against reading one event.

use std::path::Path;
use std::time::Instant;

use ledger::merkle::checkpoint::LogKey;
use ledger::merkle::{self, MemoryTree};
use ledger::{Ledger, LedgerConfig, Position};
use samverkan_tests::Rng;

use crate::Plan;
use crate::append::{commit, event, ledger_group};
use crate::dataset::Dataset;
use crate::report::{Report, Samples, Verdict, rate, ratio, us};

pub(crate) fn run(plan: &Plan, data: &Dataset, dir: &Path, report: &mut Report) -> anyhow::Result<()> {
    let (skey, vkey) = LogKey::generate("samverkan/bench")?;
    let key = LogKey::open(&skey, &vkey)?;

    // CPU per event, in memory: leaf bytes (RFC 8785 of the export JSON) + leaf hash + stored
    // hashes, against the export line alone and the chain hash of the record.
    let ledger = Ledger::open(data.ledger_dir(), LedgerConfig::default())?;
    let events: Vec<_> = ledger.read_from(Position::FIRST).take(20_000).collect::<Result<_, _>>()?;
    let t = Instant::now();
    let mut lines = 0usize;
    for e in &events {
        lines += ledger::jsonl::to_json_line(e)?.len();
    }
    let export_us = t.elapsed().as_secs_f64() * 1e6 / events.len() as f64;
    let t = Instant::now();
    let mut tree = MemoryTree::new();
    for e in &events {
        tree.push(merkle::leaf_hash(&merkle::leaf_bytes(e)?))?;
    }
    let leaf_us = t.elapsed().as_secs_f64() * 1e6 / events.len() as f64;
    report.row(
        "7",
        format!(
            "per event, CPU: leaf (RFC 8785 of the export JSON, SHA-256) and stored hashes, {} events",
            events.len()
        ),
        us(leaf_us),
        format!("the export JSON line alone {} ({} B mean)", us(export_us), lines / events.len().max(1)),
        ratio(leaf_us, export_us),
        "",
        Verdict::Info,
    );
    let root = tree.root(tree.size())?;
    let mut sign = Samples::default();
    for _ in 0..1_000 {
        let t = Instant::now();
        std::hint::black_box(key.sign(tree.size(), root)?);
        sign.push(t.elapsed());
    }

    // Appends: signing against not signing, interleaved.
    let signed = Ledger::open(
        dir.join("ledger-signed"),
        LedgerConfig { log_key: Some(key.clone()), ..LedgerConfig::default() },
    )?;
    let unsigned = Ledger::open(dir.join("ledger-unsigned"), LedgerConfig::default())?;
    let (mut with_key, mut without) = (Samples::default(), Samples::default());
    for i in 0..10 {
        commit(&signed, event(0, i))?;
        commit(&unsigned, event(0, i))?;
    }
    for i in 0..plan.single_appends as u64 {
        let t = Instant::now();
        commit(&signed, event(1, i))?;
        with_key.push(t.elapsed());
        let t = Instant::now();
        commit(&unsigned, event(1, i))?;
        without.push(t.elapsed());
    }
    report.row(
        "7",
        format!(
            "single durable append with a signed checkpoint, p50 (p99 {}); signing alone p50 {}",
            us(with_key.p99()),
            us(sign.p50())
        ),
        us(with_key.p50()),
        format!("without a key p50 {} (p99 {})", us(without.p50()), us(without.p99())),
        ratio(with_key.p50(), without.p50()),
        "",
        Verdict::Info,
    );
    let mut serial = 0;
    let (mut a, mut b) = (Vec::new(), Vec::new());
    for _ in 0..plan.rounds_concurrent.max(1) {
        a.push(ledger_group(64, plan.window, &signed, &mut serial)?);
        b.push(ledger_group(64, plan.window, &unsigned, &mut serial)?);
    }
    let best = |runs: &[crate::append::Throughput]| runs.iter().map(|r| r.rate()).fold(0.0, f64::max);
    let batch = a.first().map_or(0.0, |r| r.batch());
    report.row(
        "7",
        format!("64 writers with a signed checkpoint per commit group (mean batch {batch:.1})"),
        rate(best(&a), "appends"),
        format!("without a key {}", rate(best(&b), "appends")),
        ratio(best(&a), best(&b)),
        "",
        Verdict::Info,
    );
    drop((signed, unsigned));

    // Proofs on the loaded history, from sled, against reading one event.
    let size = ledger.head().position.get();
    let mut rng = Rng::new(7);
    let (mut inclusion, mut consistency, mut read) = (Samples::default(), Samples::default(), Samples::default());
    for _ in 0..2_000 {
        let index = rng.range(0, size);
        let t = Instant::now();
        std::hint::black_box(ledger.inclusion_proof(index, size)?);
        inclusion.push(t.elapsed());
        let old = rng.range(1, size + 1);
        let t = Instant::now();
        std::hint::black_box(ledger.consistency_proof(old, size)?);
        consistency.push(t.elapsed());
        let t = Instant::now();
        std::hint::black_box(ledger.get(Position::new(index + 1))?);
        read.push(t.elapsed());
    }
    report.row(
        "7",
        format!("inclusion proof from disk, {size} events, p50 (p99 {})", us(inclusion.p99())),
        us(inclusion.p50()),
        format!("reading one event p50 {} (p99 {})", us(read.p50()), us(read.p99())),
        ratio(inclusion.p50(), read.p50()),
        "",
        Verdict::Info,
    );
    report.row(
        "7",
        format!("consistency proof from disk, {size} events, p50 (p99 {})", us(consistency.p99())),
        us(consistency.p50()),
        format!("reading one event p50 {}", us(read.p50())),
        ratio(consistency.p50(), read.p50()),
        "",
        Verdict::Info,
    );
    Ok(())
}
