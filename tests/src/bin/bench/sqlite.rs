//! The SQLite baseline: the same events in one table, WAL mode, `synchronous=FULL`.
//!
//! A row holds the event's API JSON (the ledger's interchange form, API.md §1) with its position,
//! id, stream, stream version and chain hash in indexed columns: the same uniqueness the ledger's
//! `ids` and `streams` trees give. An append is one `BEGIN IMMEDIATE` transaction that reads the
//! previous hash and the stream's version, hashes the new row onto the chain with SHA-256 and
//! inserts it, like the ledger's admission and sealing.

use std::path::Path;
use std::time::Instant;

use ledger::{EventId, MemoryChain, NewEvent, StreamTarget, Timestamp};
use projections::Projections;
use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};
use sha2::{Digest, Sha256};

/// An open SQLite event table.
#[derive(Debug)]
pub(crate) struct SqliteLog {
    conn: Connection,
}

const SCHEMA: &str = "
    CREATE TABLE IF NOT EXISTS events (
        position INTEGER PRIMARY KEY,
        id BLOB NOT NULL UNIQUE,
        stream TEXT NOT NULL,
        stream_version INTEGER NOT NULL,
        json TEXT NOT NULL,
        hash BLOB NOT NULL,
        UNIQUE (stream, stream_version)
    );";

impl SqliteLog {
    /// Opens (creating) the database with WAL and `synchronous=FULL`: every commit syncs the WAL.
    pub(crate) fn create(path: &Path) -> anyhow::Result<Self> {
        let conn = Connection::open(path)?;
        // Writers on connections of their own wait for SQLite's write lock in its busy handler
        // (which sleeps and retries) instead of failing with SQLITE_BUSY.
        conn.busy_timeout(std::time::Duration::from_secs(60))?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "FULL")?;
        conn.execute_batch(SCHEMA)?;
        let mode: String = conn.pragma_query_value(None, "journal_mode", |r| r.get(0))?;
        let sync: i64 = conn.pragma_query_value(None, "synchronous", |r| r.get(0))?;
        anyhow::ensure!(mode == "wal" && sync == 2, "SQLite is not in WAL + FULL mode ({mode}, {sync})");
        Ok(Self { conn })
    }

    /// One durable append in its own transaction; returns the new position.
    pub(crate) fn append(&mut self, event: &NewEvent) -> anyhow::Result<u64> {
        let StreamTarget::Stream(stream) = event.data.stream() else {
            anyhow::bail!("the benchmark appends no retractions");
        };
        let id = event.id.unwrap_or_else(|| EventId::from_uuid(uuid::Uuid::new_v4()));
        let tx = self.conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let (last, prev): (u64, Vec<u8>) = tx
            .prepare_cached("SELECT position, hash FROM events ORDER BY position DESC LIMIT 1")?
            .query_row([], |r| Ok((r.get(0)?, r.get(1)?)))
            .optional()?
            .unwrap_or((0, vec![0; 32]));
        let version: u64 = tx
            .prepare_cached("SELECT COALESCE(MAX(stream_version), 0) FROM events WHERE stream = ?1")?
            .query_row([stream.as_str()], |r| r.get(0))?;
        let position = last + 1;
        let json = serde_json::json!({
            "id": id.to_string(),
            "position": position,
            "stream": stream.as_str(),
            "streamVersion": version + 1,
            "type": event.data.type_name(),
            "effective": event.effective.to_string(),
            "recordedAt": Timestamp::now().to_string(),
            "recordedBy": event.recorded_by,
            "source": event.source,
            "data": event.data.to_json()?,
        })
        .to_string();
        let mut hasher = Sha256::new();
        hasher.update(&prev);
        hasher.update(json.as_bytes());
        let hash = hasher.finalize();
        tx.prepare_cached(
            "INSERT INTO events (position, id, stream, stream_version, json, hash) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        )?
        .execute(params![position, &id.as_bytes()[..], stream.as_str(), version + 1, json, &hash[..]])?;
        tx.commit()?;
        Ok(position)
    }

    /// Loads a whole history in one transaction (setup for the rebuild, not measured).
    pub(crate) fn bulk_load(&mut self, rows: impl Iterator<Item = anyhow::Result<Row>>) -> anyhow::Result<u64> {
        let tx = self.conn.transaction()?;
        let mut count = 0;
        {
            let mut insert = tx.prepare(
                "INSERT INTO events (position, id, stream, stream_version, json, hash) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            )?;
            for row in rows {
                let row = row?;
                insert.execute(params![
                    row.position,
                    &row.id[..],
                    row.stream,
                    row.stream_version,
                    row.json,
                    &row.hash[..]
                ])?;
                count += 1;
            }
        }
        tx.commit()?;
        self.conn.pragma_update(None, "wal_checkpoint", "TRUNCATE")?;
        Ok(count)
    }
}

/// One row to load.
#[derive(Debug)]
pub(crate) struct Row {
    pub(crate) position: u64,
    pub(crate) id: [u8; 16],
    pub(crate) stream: String,
    pub(crate) stream_version: u64,
    pub(crate) json: String,
    pub(crate) hash: [u8; 32],
}

/// Where the time of a rebuild went, in seconds.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct Breakdown {
    /// Opening the store.
    pub(crate) open: f64,
    /// Reading the rows (SQLite) or records (sled) and, for the ledger, decoding them.
    pub(crate) read: f64,
    /// SQLite only: `serde_json` into typed events.
    pub(crate) parse: f64,
    /// SQLite only: sealing into `RecordedEvent`s (bincode + SHA-256, the only public way to make one).
    pub(crate) seal: f64,
    /// `Projections::apply`.
    pub(crate) apply: f64,
    /// Wall time of the whole rebuild.
    pub(crate) total: f64,
}

/// Events per chunk while rebuilding, so the phases can be timed without timing every event.
pub(crate) const CHUNK: usize = 1024;

/// Rebuilds the projections from the SQLite table: read every row in position order, parse its
/// JSON into a typed event, seal it (bincode + SHA-256: `RecordedEvent` can only come from sealing or
/// from the ledger's decoder) and apply it.
pub(crate) fn rebuild(path: &Path, expected_head: ledger::Hash) -> anyhow::Result<(Projections, Breakdown)> {
    let start = Instant::now();
    let mut b = Breakdown::default();
    let conn = Connection::open(path)?;
    let mut select = conn.prepare("SELECT position, json FROM events ORDER BY position")?;
    b.open = start.elapsed().as_secs_f64();
    let mut rows = select.query([])?;
    let mut chain = MemoryChain::new();
    let mut projections = Projections::new();
    let mut texts: Vec<(u64, String)> = Vec::with_capacity(CHUNK);
    let now = Timestamp::now();
    loop {
        let t = Instant::now();
        texts.clear();
        while texts.len() < CHUNK {
            match rows.next()? {
                Some(row) => texts.push((row.get(0)?, row.get(1)?)),
                None => break,
            }
        }
        b.read += t.elapsed().as_secs_f64();
        if texts.is_empty() {
            break;
        }
        let t = Instant::now();
        let mut append = ledger::Append::new();
        for (position, text) in &texts {
            let line = ledger::jsonl::parse_line(*position as usize, text)?;
            append = append.with_imported(line.event, line.recorded_at);
        }
        b.parse += t.elapsed().as_secs_f64();
        let t = Instant::now();
        let from = chain.events().len();
        chain.append(&append, now)?;
        b.seal += t.elapsed().as_secs_f64();
        let t = Instant::now();
        for event in &chain.events()[from..] {
            projections.apply(event)?;
        }
        b.apply += t.elapsed().as_secs_f64();
    }
    b.total = start.elapsed().as_secs_f64();
    // Sealed again from the JSON, the chain must end exactly where the ledger's does.
    anyhow::ensure!(chain.head().hash == expected_head, "the SQLite rebuild sealed a different chain");
    Ok((projections, b))
}
