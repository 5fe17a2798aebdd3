//! Section 5: the `events` subscription through the real server. Commit→frame latency with 1, 100
//! and 1000 WebSocket subscribers (graphql-transport-ws, tokio-tungstenite clients in this
//! process): each event is appended durably on its own, and every subscriber's frame time is
//! compared with the moment `append` returned. Then the catch-up replay speed of one subscriber
//! from position 1.
//!
//! Clients only timestamp and keep each frame's text; parsing happens after the run, so the
//! clients' own work stays small next to the server's. They close their connections only once every
//! client has every frame, so that no closing handshake competes with a frame being measured.
//!
//! The baseline of the 1,000-subscriber row is the raw fan-out of the same machine in the same run:
//! one thread writes a 250-byte message to each of 1,000 loopback TCP connections (`TCP_NODELAY`)
//! while another reads them, without WebSocket, GraphQL or async runtime – on loopback a write also
//! runs the receiving side's TCP processing, so this is the floor of any server with its clients on
//! the same two cores.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
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

/// Counts frames received by all clients, so the appender can wait for "everyone has it". A client
/// only counts; the waiting thread is woken once, when the count reaches what it waits for (a wake-up
/// per frame cost the clients' two cores a thousand futex calls per event).
#[derive(Debug, Default)]
struct Tracker {
    frames: AtomicU64,
    /// What the waiting thread waits for (`u64::MAX` while nobody waits).
    target: AtomicU64,
    lock: Mutex<()>,
    moved: Condvar,
    /// Set once the measurement is over: the clients may close.
    done: AtomicBool,
    closing: tokio::sync::Notify,
}

impl Tracker {
    fn new() -> Self {
        Self { target: AtomicU64::new(u64::MAX), ..Self::default() }
    }

    fn bump(&self) {
        let n = self.frames.fetch_add(1, Ordering::SeqCst) + 1;
        if n >= self.target.load(Ordering::SeqCst) {
            // Under the lock: the waiter is either before its check (and sees `n`) or waiting.
            let _held = self.lock.lock();
            self.moved.notify_all();
        }
    }

    fn wait_for(&self, target: u64) -> anyhow::Result<()> {
        let deadline = Instant::now() + BOUND;
        self.target.store(target, Ordering::SeqCst);
        let mut held = self.lock.lock().map_err(|_| anyhow::anyhow!("tracker poisoned"))?;
        loop {
            let n = self.frames.load(Ordering::SeqCst);
            if n >= target {
                self.target.store(u64::MAX, Ordering::SeqCst);
                return Ok(());
            }
            let left = deadline.saturating_duration_since(Instant::now());
            anyhow::ensure!(!left.is_zero(), "only {n} of {target} frames arrived within {BOUND:?}");
            held = self.moved.wait_timeout(held, left).map_err(|_| anyhow::anyhow!("tracker poisoned"))?.0;
        }
    }

    /// The measurement is over: every client closes its connection.
    fn finish(&self) {
        self.done.store(true, Ordering::SeqCst);
        self.closing.notify_waiters();
    }

    async fn closed(&self) {
        let notified = self.closing.notified();
        if !self.done.load(Ordering::SeqCst) {
            let _ = tokio::time::timeout(BOUND, notified).await;
        }
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
    tracker.closed().await;
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
    let tracker = Arc::new(Tracker::new());
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
    tracker.finish();
    let mut samples = Samples::default();
    let mut per_event: std::collections::BTreeMap<u64, Vec<f64>> = Default::default();
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
                per_event.entry(position).or_default().push(micros);
            }
        }
    }
    // Each event's spread over the subscribers (on stderr): how long one event's fan-out takes.
    for (position, mut micros) in per_event {
        micros.sort_by(f64::total_cmp);
        let (first, last) = (micros.first().copied().unwrap_or(0.0), micros.last().copied().unwrap_or(0.0));
        eprintln!(
            "  [5] {n} subscribers, event {position}: first {first:.0} µs, median {:.0} µs, last {last:.0} µs",
            micros[micros.len() / 2]
        );
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
        let (baseline, against) = if target {
            let raw = raw_fanout(n, plan.sub_appends)?;
            (format!("raw TCP fan-out to {n} sockets p50 {} / p99 {}", us(raw.p50()), us(raw.p99())), raw.p99())
        } else {
            (format!("raw fdatasync p50 {}", us(fsync_p50)), fsync_p50)
        };
        report.row(
            "5",
            format!(
                "commit→frame, {n} subscriber(s), {} events appended one by one: p50 {}",
                plan.sub_appends,
                us(samples.p50())
            ),
            format!("p99 {}", us(samples.p99())),
            baseline,
            ratio(samples.p99(), against),
            if target { "p99 ≤ 5 ms" } else { "" },
            if target { Verdict::of(samples.p99() <= 5_000.0) } else { Verdict::Info },
        );
    }

    // Catch-up: one subscriber replays from position 1.
    let head = server.ledger.head().position.get();
    let count = head.min(plan.replay_events as u64);
    let tracker = Arc::new(Tracker::new());
    tracker.finish();
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
        "≥ 0.8× read+decode; ≥ 200,000 events/s",
        Verdict::of(count as f64 / seconds >= (0.8 * read_rate).max(200_000.0)),
    );
    Ok(())
}

/// The raw fan-out: `n` loopback TCP connections; `rounds` times, one thread writes a 250-byte
/// message to each while another reads each in turn. Returns every message's arrival (µs after
/// the round's first write).
fn raw_fanout(n: usize, rounds: usize) -> anyhow::Result<Samples> {
    use std::io::{Read, Write};
    use std::net::{TcpListener, TcpStream};
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let addr = listener.local_addr()?;
    let (mut servers, mut clients) = (Vec::with_capacity(n), Vec::with_capacity(n));
    for _ in 0..n {
        let client = TcpStream::connect(addr)?;
        let (server, _) = listener.accept()?;
        server.set_nodelay(true)?;
        client.set_nodelay(true)?;
        client.set_read_timeout(Some(BOUND))?;
        servers.push(server);
        clients.push(client);
    }
    let message = [b'x'; 250];
    let mut samples = Samples::with_capacity(n * rounds);
    for _ in 0..rounds {
        let start = Instant::now();
        let arrivals = std::thread::scope(|scope| {
            let reader = scope.spawn(|| -> std::io::Result<Vec<f64>> {
                let mut buffer = [0u8; 250];
                let mut at = Vec::with_capacity(n);
                for client in &mut clients {
                    client.read_exact(&mut buffer)?;
                    at.push(start.elapsed().as_secs_f64() * 1e6);
                }
                Ok(at)
            });
            for server in &mut servers {
                server.write_all(&message)?;
            }
            reader
                .join()
                .map_err(|_| anyhow::anyhow!("the raw fan-out's reader panicked"))?
                .map_err(anyhow::Error::from)
        })?;
        for micros in arrivals {
            samples.push_micros(micros);
        }
    }
    Ok(samples)
}
