//! Writes a generated history as API.md JSON Lines to stdout, ready for `samverkan import`.
//!
//! Usage: `generate-history EVENTS [SEED]` (SEED defaults to 1).

use std::io::Write;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let Some(target) = args.get(1).and_then(|n| n.parse::<usize>().ok()) else {
        eprintln!("usage: generate-history EVENTS [SEED]");
        std::process::exit(2);
    };
    let seed = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(1);
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    for g in samverkan_tests::generate::history(seed, target) {
        let data = match g.event.data.to_json() {
            Ok(data) => data,
            Err(e) => {
                eprintln!("generate-history: {e}");
                std::process::exit(1);
            }
        };
        let line = serde_json::json!({
            "id": g.event.id.map(|id| id.to_string()),
            "type": g.event.data.type_name(),
            "effective": g.event.effective.to_string(),
            "recordedAt": g.recorded_at.to_string(),
            "recordedBy": g.event.recorded_by,
            "source": g.event.source,
            "data": data,
        });
        if writeln!(out, "{line}").is_err() {
            std::process::exit(1);
        }
    }
    if out.flush().is_err() {
        std::process::exit(1);
    }
}
