//! The history the read sections share: generated with the seeded generator (seed 1), appended
//! into a real ledger data directory, exported as JSON Lines, and loaded into SQLite row by row with
//! the same JSON.

use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::time::Instant;

use ledger::{Append, AppendOutcome, Durability, Head, Ledger, LedgerConfig, Position};

use crate::report::{Report, Verdict, rate, thousands};
use crate::sqlite::{Row, SqliteLog};

/// Events per append while loading (one sled transaction each).
const LOAD_CHUNK: usize = 4096;

/// Where the shared history lives.
#[derive(Debug, Clone)]
pub(crate) struct Dataset {
    /// A `samverkan` data directory: `ledger/` (+ `tokens.json` once a server opened it).
    pub(crate) data_dir: PathBuf,
    /// The JSON Lines export of the ledger.
    pub(crate) jsonl: PathBuf,
    /// The SQLite database with the same events.
    pub(crate) sqlite: PathBuf,
    /// The ledger's head after loading.
    pub(crate) head: Head,
}

impl Dataset {
    pub(crate) fn ledger_dir(&self) -> PathBuf {
        self.data_dir.join("ledger")
    }

    pub(crate) fn events(&self) -> u64 {
        self.head.position.get()
    }
}

/// Generates and loads the history.
pub(crate) fn build(events: usize, dir: &Path, report: &mut Report) -> anyhow::Result<Dataset> {
    let t = Instant::now();
    let generated = samverkan_tests::generate::history(1, events);
    eprintln!("generated {} events in {:.1} s", generated.len(), t.elapsed().as_secs_f64());

    let data_dir = dir.join("data");
    let ledger_dir = data_dir.join("ledger");
    let t = Instant::now();
    let head = {
        // A bulk load: each chunk is one atomic append, flushed by sled but not fsynced (the
        // measured sections below read it; none of them depends on how it was written).
        let config = LedgerConfig { durability: Durability::FlushOnly, ..LedgerConfig::default() };
        let ledger = Ledger::open(&ledger_dir, config)?;
        for chunk in generated.chunks(LOAD_CHUNK) {
            let append = chunk.iter().fold(Append::new(), |a, g| a.with_imported(g.event.clone(), Some(g.recorded_at)));
            match ledger.append(append)? {
                AppendOutcome::Committed(_) => {}
                AppendOutcome::Conflict(c) => anyhow::bail!("loading the history conflicted: {c:?}"),
            }
        }
        ledger.head()
    };
    let load = t.elapsed().as_secs_f64();
    drop(generated);
    report.row(
        "3",
        format!("setup: bulk append of the generated history ({LOAD_CHUNK} events per append, flush only)"),
        rate(head.position.get() as f64 / load, "events"),
        format!("{} events, seed 1", thousands(head.position.get())),
        "",
        "",
        Verdict::Info,
    );

    // The JSON Lines export and the SQLite rows from one pass over the log.
    let jsonl = dir.join("history.jsonl");
    let sqlite = dir.join("history.sqlite");
    let t = Instant::now();
    {
        let ledger = Ledger::open(&ledger_dir, LedgerConfig::default())?;
        let mut out = BufWriter::new(std::fs::File::create(&jsonl)?);
        let mut db = SqliteLog::create(&sqlite)?;
        let rows = ledger.read_from(Position::FIRST).map(|event| -> anyhow::Result<Row> {
            let event = event?;
            let json = ledger::jsonl::to_json_line(&event)?;
            out.write_all(json.as_bytes())?;
            out.write_all(b"\n")?;
            Ok(Row {
                position: event.position().get(),
                id: *event.id().as_bytes(),
                stream: event.stream().as_str().to_owned(),
                stream_version: event.stream_version(),
                json,
                hash: *event.hash().as_bytes(),
            })
        });
        let loaded = db.bulk_load(rows)?;
        anyhow::ensure!(loaded == head.position.get(), "SQLite got {loaded} rows of {}", head.position);
        out.flush()?;
    }
    eprintln!("exported JSON Lines and loaded SQLite in {:.1} s", t.elapsed().as_secs_f64());
    Ok(Dataset { data_dir, jsonl, sqlite, head })
}
