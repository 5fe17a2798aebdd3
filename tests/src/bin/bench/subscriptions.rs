//! Section 5: the `events` subscription through the real server. Commit→frame latency with 1, 100
//! and 1000 WebSocket subscribers (graphql-transport-ws, tokio-tungstenite clients in this
//! process): each event is appended durably on its own, and every subscriber's frame time is
//! compared with the moment `append` returned. Then the catch-up replay speed of one subscriber
//! from position 1.
//!
//! Clients only timestamp and keep each frame's text; parsing happens after the run, so the
//! clients' own work stays small next to the server's.

use std::net::SocketAddr;
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use futures::{SinkExt, StreamExt};
use ledger::{Append, AppendOutcome, Ledger};
use serde_json::json;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::{HeaderValue, header::SEC_WEBSOCKET_PROTOCOL};
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;

use crate::Plan;
use crate::report::{Report, Samples, Verdict, rate, ratio, us};
use crate::server::Server;

/// The longest any wait may take before the benchmark gives up instead of hanging.
const BOUND: Duration = Duration::from_secs(60);

/// The clients' WebSocket read buffer, as small as the server's (see `subscriber`).
const CLIENT_READ_BUFFER: usize = 4 * 1024;

const SUBSCRIPTION: &str =
    "subscription($from: Int) { events(fromPosition: $from) { id position stream type effective hash } }";

/// Counts frames received by all clients, so the appender can wait for "everyone has it".
#[derive(Debug, Default)]
struct Tracker {
    frames: Mutex<u64>,
    moved: Condvar,
}

impl Tracker {
    fn bump(&self) {
        if let Ok(mut n) = self.frames.lock() {
            *n += 1;
            self.moved.notify_all();
        }
    }

    fn wait_for(&self, target: u64) -> anyhow::Result<()> {
        let deadline = Instant::now() + BOUND;
        let mut n = self.frames.lock().map_err(|_| anyhow::anyhow!("tracker poisoned"))?;
        while *n < target {
            let left = deadline.saturating_duration_since(Instant::now());
            anyhow::ensure!(!left.is_zero(), "only {} of {target} frames arrived within {BOUND:?}", *n);
            n = self.moved.wait_timeout(n, left).map_err(|_| anyhow::anyhow!("tracker poisoned"))?.0;
        }
        Ok(())
    }
}

/// Connects, subscribes from `from`, and keeps `(arrival, text)` of each `next` frame until
/// `expected` frames arrived.
async fn subscriber(
    addr: SocketAddr,
    from: u64,
    expected: u64,
    tracker: Arc<Tracker>,
) -> anyhow::Result<Vec<(Instant, String)>> {
    let mut request = format!("ws://{addr}/graphql/ws").into_client_request()?;
    request.headers_mut().insert(SEC_WEBSOCKET_PROTOCOL, HeaderValue::from_static("graphql-transport-ws"));
    // tungstenite zero-fills its whole read buffer's free capacity before every read of the
    // socket (128 KiB by default), and a subscriber reads once per event: with 1,000 clients on
    // the server's two cores that memset was half of the clients' CPU in the profile. The server
    // reads with 4 KiB for the same reason (`graphql/src/http/ws.rs`); a longer frame still
    // arrives whole, as the buffer grows for it.
    let config = WebSocketConfig::default().read_buffer_size(CLIENT_READ_BUFFER);
    let connect = tokio_tungstenite::connect_async_with_config(request, Some(config), false);
    let (mut ws, _) = tokio::time::timeout(BOUND, connect).await??;
    ws.send(Message::text(json!({"type": "connection_init"}).to_string())).await?;
    loop {
        match tokio::time::timeout(BOUND, ws.next()).await? {
            Some(Ok(Message::Text(t))) if t.contains("connection_ack") => break,
            Some(Ok(Message::Text(t))) => anyhow::bail!("expected connection_ack, got {t}"),
            Some(Ok(_)) => {}
            other => anyhow::bail!("connection ended before the ack: {other:?}"),
        }
    }
    let subscribe =
        json!({"id": "1", "type": "subscribe", "payload": {"query": SUBSCRIPTION, "variables": {"from": from}}});
    ws.send(Message::text(subscribe.to_string())).await?;
    let mut frames = Vec::with_capacity(expected as usize);
    while (frames.len() as u64) < expected {
        match tokio::time::timeout(BOUND, ws.next()).await? {
            Some(Ok(Message::Text(t))) => {
                let at = Instant::now();
                anyhow::ensure!(
                    t.starts_with("{\"type\":\"next\"") || t.contains("\"next\""),
                    "unexpected message {t}"
                );
                frames.push((at, t.to_string()));
                tracker.bump();
            }
            Some(Ok(_)) => {}
            other => anyhow::bail!("subscription ended early: {other:?}"),
        }
    }
    let _ = ws.close(None).await;
    Ok(frames)
}

/// The position in a `next` frame.
fn position_of(text: &str) -> anyhow::Result<u64> {
    let v: serde_json::Value = serde_json::from_str(text)?;
    v["payload"]["data"]["events"]["position"].as_u64().ok_or_else(|| anyhow::anyhow!("no position in {text}"))
}

fn append_one(ledger: &Ledger, name: &str) -> anyhow::Result<u64> {
    match ledger.append(Append::one(samverkan_tests::decision(name)))? {
        AppendOutcome::Committed(c) => Ok(c[0].event.position().get()),
        AppendOutcome::Conflict(c) => anyhow::bail!("unexpected conflict {c:?}"),
    }
}

/// Latency with `n` subscribers; returns the samples (µs, frame arrival minus append return).
fn latency(plan: &Plan, server: &Server, clients: &tokio::runtime::Runtime, n: usize) -> anyhow::Result<Samples> {
    let from = server.ledger.head().position.get() + 1;
    let expected = 1 + plan.sub_appends as u64;
    let tracker = Arc::new(Tracker::default());
    let handles: Vec<_> =
        (0..n).map(|_| clients.spawn(subscriber(server.addr, from, expected, tracker.clone()))).collect();
    // The warm-up event: once every subscriber has it, all are connected and following live.
    let warm = append_one(&server.ledger, &format!("sub{n}-warm-{from}"))?;
    anyhow::ensure!(warm == from, "someone else appended");
    tracker.wait_for(n as u64)?;
    let mut acks = Vec::with_capacity(plan.sub_appends);
    for i in 0..plan.sub_appends {
        let position = append_one(&server.ledger, &format!("sub{n}-{from}-{i}"))?;
        acks.push((position, Instant::now()));
        tracker.wait_for((n * (i + 2)) as u64)?;
    }
    let mut samples = Samples::default();
    for h in handles {
        let frames = clients.block_on(h)??;
        for (at, text) in frames {
            let position = position_of(&text)?;
            if let Some((_, ack)) = acks.iter().find(|(p, _)| *p == position) {
                // Signed: a frame can arrive before the appending thread has woken up to return.
                let micros = if at >= *ack {
                    at.duration_since(*ack).as_secs_f64() * 1e6
                } else {
                    -(ack.duration_since(at).as_secs_f64() * 1e6)
                };
                samples.push_micros(micros);
            }
        }
    }
    Ok(samples)
}

pub(crate) fn run(
    plan: &Plan,
    server: &Server,
    fsync_p50: f64,
    read_rate: f64,
    report: &mut Report,
) -> anyhow::Result<()> {
    let clients = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    for &n in &plan.subscribers {
        let samples = latency(plan, server, &clients, n)?;
        let target = n == 1000;
        report.row(
            "5",
            format!(
                "commit→frame, {n} subscriber(s), {} events appended one by one: p50 {}",
                plan.sub_appends,
                us(samples.p50())
            ),
            format!("p99 {}", us(samples.p99())),
            format!("raw fdatasync p50 {}", us(fsync_p50)),
            ratio(samples.p99(), fsync_p50),
            if target { "p99 ≤ ¼ fsync p50" } else { "" },
            if target { Verdict::of(samples.p99() <= fsync_p50 / 4.0) } else { Verdict::Info },
        );
    }

    // Catch-up: one subscriber replays from position 1.
    let head = server.ledger.head().position.get();
    let count = head.min(plan.replay_events as u64);
    let tracker = Arc::new(Tracker::default());
    let t = Instant::now();
    let frames = clients.block_on(subscriber(server.addr, 1, count, tracker))?;
    let seconds = t.elapsed().as_secs_f64();
    let last = frames.last().map(|(_, text)| position_of(text)).transpose()?.unwrap_or(0);
    anyhow::ensure!(last == count, "replay ended at {last}, not {count}");
    report.row(
        "5",
        format!("catch-up replay from position 1 over WebSocket, {count} events"),
        rate(count as f64 / seconds, "events"),
        format!("ledger read+decode {}", rate(read_rate, "events")),
        ratio(count as f64 / seconds, read_rate),
        "",
        Verdict::Info,
    );
    Ok(())
}
