//! A child process for the crash and durability tests: it opens a ledger and appends, printing
//! `ack <position> <event-id>` on stdout (flushed) after each append the ledger acknowledged.
//!
//! Usage: `ledger-crash-child DIR loop` (4 threads, until killed) or `ledger-crash-child DIR count N`
//! (N sequential appends, then exit).

use std::io::Write;
use std::sync::Mutex;

use ledger::{Append, AppendOutcome, EventId, Ledger, LedgerConfig};

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
    let ledger = Ledger::open(dir, LedgerConfig::default())?;
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
        "loop" => std::thread::scope(|scope| {
            let handles: Vec<_> = (0..4)
                .map(|t| {
                    let ledger = ledger.clone();
                    let out = &out;
                    scope.spawn(move || -> Result<(), String> {
                        for i in 0u64.. {
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
        }),
        other => Err(format!("unknown mode {other}").into()),
    }
}

fn append_one(ledger: &Ledger, out: &Mutex<std::io::Stdout>, name: &str) -> Result<(), Box<dyn std::error::Error>> {
    let id = EventId::new_random();
    let event = samverkan_tests::decision(name).with_id(id);
    match ledger.append(Append::one(event))? {
        AppendOutcome::Committed(committed) => {
            let position = committed.first().ok_or("empty commit")?.event.position();
            let mut out = out.lock().map_err(|_| "stdout lock poisoned")?;
            writeln!(out, "ack {position} {id}")?;
            out.flush()?;
            Ok(())
        }
        AppendOutcome::Conflict(c) => Err(format!("unexpected conflict {c:?}").into()),
    }
}
