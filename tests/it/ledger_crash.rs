//! Crashes: a child process appends from four threads and prints each acknowledged position; the
//! parent kills it with SIGKILL at random moments, reopens the ledger, verifies the chain and checks
//! that every acknowledged event is there. Set `CRASH_KILLS` for a longer run (CI: 50).

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use ledger::{EventId, Ledger, LedgerConfig, Position};
use samverkan_tests::Rng;

const CHILD: &str = env!("CARGO_BIN_EXE_ledger-crash-child");

#[test]
fn sigkill_at_random_moments_never_loses_an_acknowledged_event() {
    let kills: usize = std::env::var("CRASH_KILLS").ok().and_then(|v| v.parse().ok()).unwrap_or(50);
    let seed = std::env::var("CRASH_SEED").ok().and_then(|v| v.parse().ok()).unwrap_or_else(Rng::seed_from_clock);
    eprintln!("crash test: {kills} kills, CRASH_SEED={seed}");
    let mut rng = Rng::new(seed);
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let mut acknowledged: HashMap<Position, EventId> = HashMap::new();

    for round in 0..kills {
        let mut child = Command::new(CHILD)
            .arg(&data)
            .arg("loop")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("child starts");
        let stdout = child.stdout.take().expect("piped stdout");
        // Read acks on a thread, so the kill can come at any moment regardless of output.
        let (tx, rx) = mpsc::channel();
        let reader = std::thread::spawn(move || {
            let mut reader = BufReader::new(stdout);
            let mut line = String::new();
            while reader.read_line(&mut line).map(|n| n > 0).unwrap_or(false) {
                // A line cut by the kill has no newline: it was not fully reported, ignore it.
                if line.ends_with('\n') {
                    let _ = tx.send(line.trim_end().to_owned());
                }
                line.clear();
            }
        });
        // Wait for the first ack (bounded), then let it run a random while before the kill.
        let first = rx.recv_timeout(Duration::from_secs(30));
        assert!(first.is_ok(), "round {round}: child produced no ack within 30 s (seed {seed})");
        std::thread::sleep(Duration::from_millis(rng.range(0, 60)));
        child.kill().expect("SIGKILL");
        child.wait().expect("reaped");
        reader.join().expect("reader thread");
        for line in first.into_iter().chain(rx.try_iter()) {
            let mut parts = line.split_whitespace();
            let (Some("ack"), Some(pos), Some(id)) = (parts.next(), parts.next(), parts.next()) else {
                panic!("round {round}: unexpected child output {line:?}");
            };
            let position = Position::new(pos.parse().expect("position"));
            let id: EventId = id.parse().expect("event id");
            assert!(acknowledged.insert(position, id).is_none(), "position {position} acknowledged twice");
        }

        let ledger = Ledger::open(&data, LedgerConfig::default())
            .unwrap_or_else(|e| panic!("round {round}: reopen failed after SIGKILL: {e} (seed {seed})"));
        let report = ledger.verify(&mut |_, _| {}).unwrap_or_else(|e| panic!("round {round}: {e} (seed {seed})"));
        for (position, id) in &acknowledged {
            let event = ledger
                .get(*position)
                .expect("read")
                .unwrap_or_else(|| panic!("round {round}: acknowledged position {position} is missing (seed {seed})"));
            assert_eq!(event.id(), *id, "round {round}: a different event at {position}");
        }
        assert!(report.events as usize >= acknowledged.len());
    }
    eprintln!("crash test: {} acknowledged events all present after {kills} kills", acknowledged.len());
}
