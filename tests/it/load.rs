//! Load on loopback: the real program (`samverkan serve` as a child process, over the fixtures)
//! takes mutations from several writer threads and county-wide queries from reader threads while
//! many WebSocket clients follow the `events` subscription. Every request must succeed, every
//! subscriber must receive every event appended during the run exactly once and in order, and the
//! server's resident memory is sampled and must stay bounded.
//!
//! CI runs a bounded size; the long run (RELIABILITY.md) sets `LOAD_SUBSCRIBERS` (CI: 200),
//! `LOAD_SECONDS` (CI: 10), `LOAD_WRITERS` (CI: 8) and `LOAD_READERS` (CI: 4).

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use futures::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::sync::watch;
use tokio::time::timeout;
use tokio_tungstenite::connect_async;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::{HeaderValue, header::SEC_WEBSOCKET_PROTOCOL};

use crate::process::{create_token, post, start_server};

/// The longest a subscriber may wait for its next message before the test fails.
const BOUND: Duration = Duration::from_secs(60);

/// The most resident memory the server may use under this load (issue 6's footprint target).
const RSS_LIMIT_KIB: u64 = 1024 * 1024;

fn setting(variable: &str, default: u64) -> u64 {
    std::env::var(variable).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// The server's resident memory in KiB, from `/proc`.
fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("the server is alive");
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS in /proc/<pid>/status")
}

/// Follows the log from `from` until it has seen position `last` (once `last` is known) and returns
/// the positions received, in the order received.
async fn subscriber(addr: SocketAddr, from: u64, mut last: watch::Receiver<u64>) -> Vec<u64> {
    let mut request = format!("ws://{addr}/graphql/ws").into_client_request().expect("request");
    request.headers_mut().insert(SEC_WEBSOCKET_PROTOCOL, HeaderValue::from_static("graphql-transport-ws"));
    let (mut ws, _) = timeout(BOUND, connect_async(request)).await.expect("handshake in time").expect("handshake");
    let init = json!({"type": "connection_init"}).to_string();
    ws.send(Message::text(init)).await.expect("send");
    let subscribe = json!({"id": "1", "type": "subscribe", "payload": {
        "query": "subscription($from: Int) { events(fromPosition: $from) { position } }",
        "variables": {"from": from},
    }});
    ws.send(Message::text(subscribe.to_string())).await.expect("send");
    let mut positions = Vec::new();
    loop {
        let done = *last.borrow_and_update();
        if done != 0 && positions.last().is_some_and(|p| *p >= done) {
            return positions;
        }
        // The last position becomes known only when the writers stop: wake up for it too.
        let message = tokio::select! {
            message = timeout(BOUND, ws.next()) => message,
            _ = last.changed() => continue,
        };
        let Ok(message) = message else {
            panic!(
                "subscriber from {from}: nothing within {BOUND:?} after {} events (last {:?})",
                positions.len(),
                positions.last()
            );
        };
        let text = match message {
            Some(Ok(Message::Text(text))) => text,
            Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
            other => panic!("subscriber from {from}: unexpected {other:?} after {} events", positions.len()),
        };
        let value: Value = serde_json::from_str(&text).expect("JSON");
        match value["type"].as_str() {
            Some("connection_ack") => {}
            Some("next") => {
                assert!(value["payload"]["errors"].is_null(), "{value}");
                positions.push(value["payload"]["data"]["events"]["position"].as_u64().expect("position"));
            }
            _ => panic!("subscriber from {from}: unexpected message {value}"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writers_readers_and_subscribers_together_lose_nothing() {
    let subscribers = setting("LOAD_SUBSCRIBERS", 200);
    let seconds = setting("LOAD_SECONDS", 10);
    let writers = setting("LOAD_WRITERS", 8);
    let readers = setting("LOAD_READERS", 4);
    eprintln!("load test: {subscribers} subscribers, {writers} writers, {readers} readers, {seconds} s");
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let token = create_token(&data, "SECRETARIAT", "lasttest");
    let mut server = tokio::task::spawn_blocking({
        let data = data.clone();
        move || start_server(&data)
    })
    .await
    .expect("server");
    let (addr, pid) = (server.addr, server.pid());

    let head_query = json!({"query": "{ ledger { position } }"});
    let head = |answer: Option<Value>| answer.and_then(|a| a["data"]["ledger"]["position"].as_u64()).expect("head");
    let start = tokio::task::spawn_blocking({
        let (token, query) = (token.clone(), head_query.clone());
        move || post(addr, &token, &query)
    })
    .await
    .expect("query");
    let first = head(start) + 1;

    // Subscribers, all following from the position after the head, before anything is written.
    let (last_tx, last) = watch::channel(0u64);
    let mut followers = Vec::new();
    for _ in 0..subscribers {
        followers.push(tokio::spawn(subscriber(addr, first, last.clone())));
    }
    let baseline_rss = rss_kib(pid);

    // Writers and readers on threads (blocking sockets), for `seconds`.
    let stop = Arc::new(AtomicBool::new(false));
    let mut threads = Vec::new();
    for w in 0..writers {
        let (token, stop) = (token.clone(), stop.clone());
        threads.push(std::thread::spawn(move || {
            let query = "mutation($input: RecordDecisionInput!) { recordDecision(input: $input) { position } }";
            let mut count = 0u64;
            while !stop.load(Ordering::SeqCst) {
                let input = json!({"decision": format!("last-{w}-{count}"), "body": "nacka-kf",
                    "subject": "Lasttest", "effective": "2024-02-01"});
                let answer = post(addr, &token, &json!({"query": query, "variables": {"input": input}}));
                let ok = answer.as_ref().is_some_and(|a| a["data"]["recordDecision"]["position"].is_u64());
                assert!(ok, "writer {w}: a mutation failed: {answer:?}");
                count += 1;
            }
            count
        }));
    }
    for r in 0..readers {
        let (token, stop) = (token.clone(), stop.clone());
        threads.push(std::thread::spawn(move || {
            let query = "query($at: Date) { agreements(at: $at) { id status version } }";
            let mut count = 0u64;
            while !stop.load(Ordering::SeqCst) {
                let at = format!("20{:02}-0{}-15", 18 + count % 8, 1 + count % 9);
                let answer = post(addr, &token, &json!({"query": query, "variables": {"at": at}}));
                let ok = answer.as_ref().is_some_and(|a| a["errors"].is_null() && a["data"]["agreements"].is_array());
                assert!(ok, "reader {r}: a query failed: {answer:?}");
                count += 1;
            }
            count
        }));
    }
    let mut rss = vec![baseline_rss];
    let began = Instant::now();
    while began.elapsed() < Duration::from_secs(seconds) {
        tokio::time::sleep(Duration::from_millis(500)).await;
        rss.push(rss_kib(pid));
    }
    stop.store(true, Ordering::SeqCst);
    let mut requests = 0;
    for thread in threads {
        requests += tokio::task::spawn_blocking(move || thread.join().expect("client thread")).await.expect("join");
    }

    let end = tokio::task::spawn_blocking({
        let (token, query) = (token.clone(), head_query.clone());
        move || post(addr, &token, &query)
    })
    .await
    .expect("query");
    let end = head(end);
    assert!(end >= first, "the writers appended something");
    last_tx.send_replace(end);
    let expected: Vec<u64> = (first..=end).collect();
    for (i, follower) in followers.into_iter().enumerate() {
        let got = follower.await.expect("subscriber task");
        assert!(
            got == expected,
            "subscriber {i}: {} events, expected {first}..={end} exactly once, in order",
            got.len()
        );
    }
    rss.push(rss_kib(pid));
    let peak = rss.iter().copied().max().unwrap_or_default();
    eprintln!(
        "load test: {requests} requests, {} events to each of {subscribers} subscribers in {:.1} s; server RSS {} MiB at start, peak {} MiB, end {} MiB",
        expected.len(),
        began.elapsed().as_secs_f64(),
        baseline_rss / 1024,
        peak / 1024,
        rss.last().copied().unwrap_or_default() / 1024,
    );
    assert!(peak < RSS_LIMIT_KIB, "server RSS peaked at {peak} KiB");
    server.kill();
}
