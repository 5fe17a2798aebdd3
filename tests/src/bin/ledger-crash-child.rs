//! A child process for the crash, durability and power-loss tests: it opens a ledger and appends,
//! printing `ack <position> <event-id> <hash>` on stdout (flushed) after each append the ledger
//! acknowledged.
//!
//! Usage: `ledger-crash-child DIR loop` (4 threads, until killed), `ledger-crash-child DIR count N`
//! (N sequential appends, then exit) or `ledger-crash-child DIR threads T N` (T threads of N appends
//! each, sharing commit groups, then exit). `CHILD_DURABILITY=flush-only` opens the ledger with
//! `Durability::FlushOnly`, for the power-loss test's check that it catches an acknowledgement made
//! before the data was synced. `CHILD_JOURNAL_LIMIT=<bytes>` sets the commit journal's size that
//! makes the ledger checkpoint (the power-loss test sets a small one on some runs).

use std::io::Write;
use std::sync::Mutex;

use ledger::{Append, AppendOutcome, Durability, EventId, Ledger, LedgerConfig};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let Err(e) = run(&args) {
        eprintln!("ledger-crash-child: {e}");
        std::process::exit(2);
    }
}

fn run(args: &[String]) -> Result<(), Box<dyn std::error::Error>> {
    let dir = args.get(1).ok_or("missing DIR")?;
    let mode = args.get(2).map(String::as_str).unwrap_or("loop");
    let durability = match std::env::var("CHILD_DURABILITY").as_deref() {
        Ok("flush-only") => Durability::FlushOnly,
        _ => Durability::Fsync,
    };
    let journal_limit = match std::env::var("CHILD_JOURNAL_LIMIT") {
        Ok(bytes) => bytes.parse()?,
        Err(_) => ledger::DEFAULT_JOURNAL_LIMIT,
    };
    let ledger = Ledger::open(dir, LedgerConfig { durability, journal_limit, ..LedgerConfig::default() })?;
    let out = Mutex::new(std::io::stdout());
    let start = ledger.head().position.get();
    match mode {
        "count" => {
            let n: u64 = args.get(3).ok_or("missing N")?.parse()?;
            for i in 0..n {
                append_one(&ledger, &out, &format!("s{start}-{i}"))?;
            }
            Ok(())
        }
        "loop" => concurrently(&ledger, &out, start, 4, u64::MAX),
        "threads" => {
            let threads: u64 = args.get(3).ok_or("missing T")?.parse()?;
            let n: u64 = args.get(4).ok_or("missing N")?.parse()?;
            concurrently(&ledger, &out, start, threads, n)
        }
        other => Err(format!("unknown mode {other}").into()),
    }
}

/// `threads` threads of `n` appends each.
fn concurrently(
    ledger: &Ledger,
    out: &Mutex<std::io::Stdout>,
    start: u64,
    threads: u64,
    n: u64,
) -> Result<(), Box<dyn std::error::Error>> {
    std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                let ledger = ledger.clone();
                scope.spawn(move || -> Result<(), String> {
                    for i in 0..n {
                        append_one(&ledger, out, &format!("s{start}-t{t}-{i}")).map_err(|e| e.to_string())?;
                    }
                    Ok(())
                })
            })
            .collect();
        for h in handles {
            h.join().map_err(|_| "thread panicked")??;
        }
        Ok(())
    })
}

fn append_one(ledger: &Ledger, out: &Mutex<std::io::Stdout>, name: &str) -> Result<(), Box<dyn std::error::Error>> {
    let id = EventId::new_random();
    let event = samverkan_tests::decision(name).with_id(id);
    match ledger.append(Append::one(event))? {
        AppendOutcome::Committed(committed) => {
            let event = &committed.first().ok_or("empty commit")?.event;
            let mut out = out.lock().map_err(|_| "stdout lock poisoned")?;
            writeln!(out, "ack {} {id} {}", event.position(), event.hash())?;
            out.flush()?;
            Ok(())
        }
        AppendOutcome::Conflict(c) => Err(format!("unexpected conflict {c:?}").into()),
    }
}
