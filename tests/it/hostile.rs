//! Hostile clients against the real server process (issue 20): the fragment fan-out document,
//! heavy county-wide requests beside a small probe, slowloris sockets and the connection cap, one
//! client over its concurrency limit, an answer over the size cap, and SIGTERM with a half-sent
//! request and with a subscriber. The server's limits are set short through `serve`'s flags, so
//! each case takes about a second of waiting.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use futures::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio_tungstenite::connect_async;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::{HeaderValue, header::SEC_WEBSOCKET_PROTOCOL};

use crate::process::{SAMVERKAN, exchange, graphql_request, path_arg, start_server_with};

/// The bound the issue sets for a refusal and for `/healthz` beside hostile requests.
const FAST: Duration = Duration::from_millis(50);

/// The longest any single exchange of these tests may take before the test fails.
const BOUND: Duration = Duration::from_secs(20);

fn healthz(addr: SocketAddr) -> String {
    format!("GET /healthz HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n")
}

/// How long `/healthz` takes, or a failure.
fn time_healthz(addr: SocketAddr) -> Duration {
    let start = Instant::now();
    let (status, _) = exchange(addr, &healthz(addr), BOUND).expect("/healthz answers");
    assert_eq!(status, 200);
    start.elapsed()
}

/// The `q`-th quantile of some durations.
fn quantile(mut samples: Vec<Duration>, q: f64) -> Duration {
    samples.sort();
    let index = ((samples.len() as f64 - 1.0) * q).round() as usize;
    samples[index]
}

fn code(body: &str) -> Value {
    let body: Value = serde_json::from_str(body).unwrap_or_else(|_| panic!("a JSON body: {body}"));
    body["errors"][0]["extensions"]["code"].clone()
}

fn proc_status(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("the server is alive");
    status
        .lines()
        .find_map(|line| line.strip_prefix(field))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or_else(|| panic!("{field} in /proc/{pid}/status"))
}

/// The server's CPU time so far, in clock ticks (user + system, from `/proc/<pid>/stat`).
fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("the server is alive");
    // The command name may hold spaces; the fields after its closing parenthesis do not.
    let fields: Vec<&str> = stat.rsplit_once(')').expect("stat").1.split_whitespace().collect();
    fields[11].parse::<u64>().expect("utime") + fields[12].parse::<u64>().expect("stime")
}

/// Issue 20: the 1.3 KB document whose fragments each spread the one before twice is refused in
/// under 50 ms, two of them at a time, again and again, while `/healthz` keeps answering in under
/// 50 ms.
#[test]
fn the_fan_out_document_is_refused_at_once_while_healthz_keeps_answering() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = start_server_with(&dir.path().join("data"), &[]);
    let addr = server.addr;
    let request = graphql_request(addr, &crate::bad_input::fan_out_fragments(30));
    let attackers: Vec<_> = (0..2)
        .map(|_| {
            let request = request.clone();
            std::thread::spawn(move || {
                (0..20)
                    .map(|_| {
                        let start = Instant::now();
                        let (status, body) = exchange(addr, &request, BOUND).expect("an answer");
                        let took = start.elapsed();
                        assert_eq!(status, 200, "{body}");
                        assert_eq!(code(&body), "INVALID_INPUT", "{body}");
                        assert!(body.contains("too expensive"), "{body}");
                        took
                    })
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    let mut probes = Vec::new();
    while !attackers.iter().all(std::thread::JoinHandle::is_finished) {
        probes.push(time_healthz(addr));
    }
    let refusals: Vec<Duration> = attackers.into_iter().flat_map(|a| a.join().expect("attacker")).collect();
    let (refusal, probe) = (quantile(refusals.clone(), 0.99), quantile(probes.clone(), 0.99));
    eprintln!(
        "fan-out: {} refusals, p99 {refusal:?} (max {:?}); {} /healthz probes, p99 {probe:?} (max {:?})",
        refusals.len(),
        quantile(refusals, 1.0),
        probes.len(),
        quantile(probes, 1.0)
    );
    assert!(refusal < FAST, "the refusal takes {refusal:?} at p99");
    assert!(probe < FAST, "/healthz takes {probe:?} at p99 beside the refusals");
}

/// One operation over its own graphql-transport-ws connection: the messages about it until its
/// `complete` or `error`, and how long they took from the `subscribe`.
async fn over_websocket(addr: SocketAddr, query: String) -> (Vec<Value>, Duration) {
    let mut request = format!("ws://{addr}/graphql/ws").into_client_request().expect("request");
    request.headers_mut().insert(SEC_WEBSOCKET_PROTOCOL, HeaderValue::from_static("graphql-transport-ws"));
    let (mut ws, _) = tokio::time::timeout(BOUND, connect_async(request)).await.expect("in time").expect("handshake");
    ws.send(Message::text(json!({"type": "connection_init"}).to_string())).await.expect("send");
    let subscribe = json!({"id": "1", "type": "subscribe", "payload": {"query": query}});
    let sent = Instant::now();
    ws.send(Message::text(subscribe.to_string())).await.expect("send");
    let mut messages = Vec::new();
    loop {
        match tokio::time::timeout(BOUND, ws.next()).await.expect("answered in time") {
            Some(Ok(Message::Text(text))) => {
                let message: Value = serde_json::from_str(text.as_str()).expect("a JSON message");
                let kind = message["type"].as_str().unwrap_or_default().to_owned();
                if kind != "connection_ack" {
                    messages.push(message);
                }
                if kind == "complete" || kind == "error" {
                    break;
                }
            }
            other => panic!("{other:?} after {messages:?}"),
        }
    }
    (messages, sent.elapsed())
}

/// The code of the first error of an over-the-WebSocket answer (an `error` message's payload is
/// the list of errors).
fn ws_code(messages: &[Value]) -> Value {
    let first = &messages[0];
    match first["type"].as_str() {
        Some("error") => first["payload"][0]["extensions"]["code"].clone(),
        _ => first["payload"]["errors"][0]["extensions"]["code"].clone(),
    }
}

/// Imports a generated history of about `events` events into a new data directory.
fn generated_ledger(data: &Path, events: usize) {
    let file = data.with_extension("jsonl");
    let output = Command::new(env!("CARGO_BIN_EXE_generate-history")).arg(events.to_string()).output().expect("runs");
    assert!(output.status.success());
    std::fs::write(&file, output.stdout).expect("written");
    let output = Command::new(SAMVERKAN)
        .args(["import", path_arg(&file), "--data", path_arg(data)])
        .output()
        .expect("import runs");
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
}

/// How many heavy requests are sent at once: the four, and two more, so that even a machine
/// several times faster than CI's cannot fold them all within the deadline on one permit.
const HEAVY: usize = 6;

/// 45 aliases of the county-wide `changes(from:, to:)` (request `k` of several takes its own
/// windows): under the cost limit and the response cap, computed afresh for each alias – about
/// two seconds of work per request on a generated ledger of 10,000 events in a debug build. (The
/// county-wide `agreements`, which this used before, are materialized now and answer in
/// milliseconds.)
fn heavy_query(k: usize) -> String {
    let aliases: String = (0..45)
        .map(|i| {
            let day = 1 + (k * 45 + i) % 28;
            let month = 1 + (k * 45 + i) / 28 % 12;
            format!("a{i}: changes(from: \"2010-{month:02}-{day:02}\", to: \"2030-01-01\") {{ agreement }} ")
        })
        .collect();
    format!("{{ {aliases} }}")
}

/// Issue 20: six heavy requests at once (the issue says four) run off the async workers, one at a time (the heavy pool
/// has one permit on two cores), each bounded by the one-second request deadline: every one is
/// answered by its deadline (data, or `TIMEOUT`), the server's CPU use stops right after the last
/// (the work of a timed-out request does not go on), its threads and memory stay bounded, and a
/// small probe query beside them keeps its p99 under 50 ms.
#[test]
fn heavy_requests_are_bounded_by_their_deadline_and_do_not_starve_small_ones() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    generated_ledger(&data, 10_000);
    let server = start_server_with(&data, &["--no-seed", "--request-timeout", "1", "--verify-every", "0"]);
    let (addr, pid) = (server.addr, server.pid());
    let threads_before = proc_status(pid, "Threads:");
    let rss_before = proc_status(pid, "VmRSS:");
    let start = Instant::now();
    let attackers: Vec<_> = (0..HEAVY)
        .map(|k| {
            let heavy = graphql_request(addr, &heavy_query(k));
            std::thread::spawn(move || {
                let sent = Instant::now();
                let answer = exchange(addr, &heavy, BOUND).expect("an answer");
                (answer, sent.elapsed(), Instant::now())
            })
        })
        .collect();
    let probe = graphql_request(addr, "{ ledger { position } }");
    let (mut probes, mut threads, mut rss) = (Vec::new(), threads_before, rss_before);
    while !attackers.iter().all(std::thread::JoinHandle::is_finished) {
        let sent = Instant::now();
        let (status, body) = exchange(addr, &probe, BOUND).expect("the probe is answered");
        probes.push(sent.elapsed());
        assert_eq!(status, 200, "{body}");
        assert!(body.contains("\"position\""), "{body}");
        threads = threads.max(proc_status(pid, "Threads:"));
        rss = rss.max(proc_status(pid, "VmRSS:"));
    }
    let answers: Vec<_> = attackers.into_iter().map(|a| a.join().expect("attacker")).collect();
    let last = answers.iter().map(|(_, _, at)| *at).max().expect("some");
    let mut timed_out = 0;
    for ((status, body), took, _) in &answers {
        assert!(*took < Duration::from_secs(2), "a heavy request answered after {took:?}, past its 1 s deadline");
        match status {
            200 if body.starts_with("{\"data\":{") => {}
            200 | 408 => {
                assert_eq!(code(body), "TIMEOUT", "{body}");
                timed_out += 1;
            }
            other => panic!("status {other}: {body}"),
        }
    }
    // Six times a second of folding on one permit cannot all fit in one second.
    assert!(timed_out >= 1, "at least one heavy request hits its deadline: {answers:?}");
    // The work stops: within a second of the last answer, a 200 ms window with (almost) no CPU.
    let quiet = loop {
        let before = cpu_ticks(pid);
        std::thread::sleep(Duration::from_millis(200));
        if cpu_ticks(pid) - before <= 2 {
            break last.elapsed();
        }
        assert!(last.elapsed() < Duration::from_secs(2), "the server is still computing {:?} after", last.elapsed());
    };
    let p99 = quantile(probes.clone(), 0.99);
    eprintln!(
        "heavy: {timed_out} of {HEAVY} timed out; all answered within {:?}; idle {quiet:?} after the last; \
         {} probes, p50 {:?}, p99 {p99:?}, max {:?}; threads {threads_before} -> {threads}; RSS {rss_before} -> {rss} KiB",
        last - start,
        probes.len(),
        quantile(probes.clone(), 0.5),
        quantile(probes, 1.0),
    );
    assert!(p99 < FAST, "the probe takes {p99:?} at p99 beside {HEAVY} heavy requests");
    // The runtime's workers, the heavy permit's thread and the light pool's few: far from the
    // issue's 198.
    assert!(threads <= threads_before + 8, "threads {threads_before} -> {threads}");
    assert!(rss < 512 * 1024, "RSS {rss} KiB");

    // The same documents sent over the WebSocket are bounded the same way: each answered within
    // its deadline, with data or `TIMEOUT`, one at a time on the heavy permit.
    let runtime = tokio::runtime::Runtime::new().expect("a runtime");
    let sockets = (0..HEAVY).map(|k| over_websocket(addr, heavy_query(HEAVY + k)));
    let answers = runtime.block_on(futures::future::join_all(sockets));
    let mut timed_out = 0;
    for (messages, took) in &answers {
        assert!(*took < Duration::from_secs(2), "a heavy query over the WebSocket answered after {took:?}");
        if messages[0]["type"] == json!("next") && messages[0]["payload"]["data"].is_object() {
            continue;
        }
        assert_eq!(ws_code(messages), json!("TIMEOUT"), "{messages:?}");
        timed_out += 1;
    }
    eprintln!("heavy over the WebSocket: {timed_out} of {HEAVY} timed out");
    assert!(timed_out >= 1, "at least one heavy query over the WebSocket hits its deadline");
}

/// Issue 20, slowloris: sockets that send a header line every 200 ms are cut off once the header
/// timeout (1 s) has passed, while `/healthz` keeps answering; sockets that hold every connection
/// slot make the next connection a 503 `OVERLOADED` at once, and are cut off the same way.
#[test]
fn slowloris_sockets_are_cut_off_and_the_connection_cap_refuses_at_once() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = start_server_with(&dir.path().join("data"), &["--header-timeout", "1", "--max-connections", "40"]);
    let addr = server.addr;
    let dribblers: Vec<_> = (0..30)
        .map(|_| {
            std::thread::spawn(move || {
                let mut socket = TcpStream::connect(addr).expect("connects");
                let start = Instant::now();
                socket.set_read_timeout(Some(Duration::from_millis(200))).expect("timeout");
                socket.write_all(b"GET /healthz HTTP/1.1\r\n").expect("first line");
                let mut buffer = [0u8; 256];
                while start.elapsed() < BOUND {
                    if socket.write_all(b"X-Slow: yes\r\n").is_err() {
                        return start.elapsed();
                    }
                    match socket.read(&mut buffer) {
                        Ok(_) => return start.elapsed(),
                        Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => {
                        }
                        Err(_) => return start.elapsed(),
                    }
                }
                panic!("a slowloris socket was held for {BOUND:?}");
            })
        })
        .collect();
    let mut probes = Vec::new();
    while !dribblers.iter().all(std::thread::JoinHandle::is_finished) {
        probes.push(time_healthz(addr));
    }
    let held: Vec<Duration> = dribblers.into_iter().map(|d| d.join().expect("dribbler")).collect();
    let longest = quantile(held.clone(), 1.0);
    eprintln!(
        "slowloris: 30 sockets cut off after {:?}..{longest:?}; /healthz p99 {:?} meanwhile",
        quantile(held.clone(), 0.0),
        quantile(probes.clone(), 0.99)
    );
    assert!(held.iter().all(|d| *d >= Duration::from_millis(900)), "cut off before the timeout: {held:?}");
    assert!(longest < Duration::from_secs(3), "a slowloris socket was held {longest:?} past a 1 s header timeout");
    assert!(quantile(probes, 0.99) < Duration::from_secs(1));

    // Forty silent sockets hold every slot; the next connection is refused at once.
    let silent: Vec<TcpStream> = (0..40).map(|_| TcpStream::connect(addr).expect("connects")).collect();
    let refused = (0..50).find_map(|_| {
        let mut socket = TcpStream::connect(addr).expect("the kernel accepts");
        socket.set_read_timeout(Some(Duration::from_millis(900))).expect("timeout");
        let mut answer = String::new();
        let _ = socket.read_to_string(&mut answer);
        answer.starts_with("HTTP/1.1 503").then_some(answer)
    });
    let refused = refused.expect("a connection over the cap is answered 503 before the silent ones are cut off");
    assert!(refused.contains("OVERLOADED") && refused.contains("retry-after: 1"), "{refused}");
    // Once the header timeout has cut the silent sockets off, the server answers again.
    let start = Instant::now();
    let answered = loop {
        match exchange(addr, &healthz(addr), Duration::from_secs(2)) {
            Some((200, _)) => break start.elapsed(),
            _ if start.elapsed() > BOUND => panic!("no answer {BOUND:?} after the cap was reached"),
            _ => {}
        }
    };
    eprintln!("connection cap: refused at once; answering again {answered:?} later");
    drop(silent);
}

/// Issue 20: a client with as many GraphQL requests running as it may (here 1: a request whose
/// body never finishes, with an 8 s deadline) gets 429 `TOO_MANY_REQUESTS` for the next; the stuck request is answered
/// 408 `TIMEOUT` at its deadline; an answer over the size cap is refused with `RESPONSE_TOO_LARGE`.
#[test]
fn one_client_over_its_limit_gets_429_and_too_large_an_answer_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = start_server_with(
        &dir.path().join("data"),
        &["--max-requests-per-client", "1", "--request-timeout", "8", "--max-response-bytes", "10000"],
    );
    let addr = server.addr;
    let head = format!(
        "POST /graphql HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{{\"query\""
    );
    let send_stuck = || {
        let mut stuck = TcpStream::connect(addr).expect("connects");
        stuck.write_all(head.as_bytes()).expect("half a request");
        (stuck, Instant::now())
    };
    let (mut stuck, mut sent) = send_stuck();
    // The stuck request takes the slot once its head is read; until then the next one may pass (on
    // a loaded machine that took over 800 ms once), and 8 s after it the slot is free again. A try
    // may also be read first and hold the slot while the stuck head comes: then the stuck request
    // is the one refused (answered at once with 429, as a run showed), and it is sent again. The
    // deadline is far from the last try: in a cold CI run a 3 s deadline expired while a try that
    // began at 2.4 s was still being answered.
    let (status, body) = loop {
        let answer = exchange(addr, &graphql_request(addr, "{ ledger { position } }"), BOUND).expect("an answer");
        if answer.0 == 429 || sent.elapsed() > Duration::from_secs(5) {
            break answer;
        }
        if answered(&stuck) {
            (stuck, sent) = send_stuck();
        }
    };
    assert_eq!(status, 429, "{body}");
    assert_eq!(code(&body), "TOO_MANY_REQUESTS", "{body}");
    stuck.set_read_timeout(Some(BOUND)).expect("timeout");
    let mut answer = String::new();
    let _ = stuck.read_to_string(&mut answer);
    let took = sent.elapsed();
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains("\"TIMEOUT\""), "{answer}");
    assert!(took < Duration::from_secs(12), "408 after {took:?} for an 8 s deadline");

    let aliases: String = (0..40).map(|i| format!("a{i}: agreements {{ id title }} ")).collect();
    let (status, body) = exchange(addr, &graphql_request(addr, &format!("{{ {aliases} }}")), BOUND).expect("an answer");
    assert_eq!(status, 200, "{body}");
    assert_eq!(code(&body), "RESPONSE_TOO_LARGE", "{body}");
    assert!(body.len() < 1_000, "one error, not a partial answer: {body}");
    let (status, body) = exchange(addr, &graphql_request(addr, "{ agreements { id } }"), BOUND).expect("an answer");
    assert_eq!((status, body.contains("\"data\":{\"agreements\":[")), (200, true), "{body}");

    // Over the WebSocket the cap holds too: one error, no partial answer.
    let runtime = tokio::runtime::Runtime::new().expect("a runtime");
    let (messages, _) = runtime.block_on(over_websocket(addr, format!("{{ {aliases} }}")));
    assert_eq!(ws_code(&messages), json!("RESPONSE_TOO_LARGE"), "{messages:?}");
    assert!(messages[0].to_string().len() < 1_000, "one error, not a partial answer: {messages:?}");
    let (messages, _) = runtime.block_on(over_websocket(addr, "{ agreements { id } }".to_owned()));
    assert!(messages[0]["payload"]["data"]["agreements"].is_array(), "{messages:?}");
}

/// Issue 20: SIGTERM with a half-sent request head and a half-sent body open (and a header timeout
/// and request deadline far longer than the grace period): the server exits by itself, cleanly,
/// soon after its one-second grace period.
#[test]
fn a_half_sent_request_does_not_hold_sigterm_past_the_grace_period() {
    let dir = tempfile::tempdir().expect("tempdir");
    let args = ["--shutdown-grace", "1", "--header-timeout", "60", "--request-timeout", "60"];
    let mut server = start_server_with(&dir.path().join("data"), &args);
    let addr = server.addr;
    let mut head = TcpStream::connect(addr).expect("connects");
    head.write_all(format!("POST /graphql HTTP/1.1\r\nHost: {addr}\r\nContent-Type: app").as_bytes()).expect("half");
    let mut body = TcpStream::connect(addr).expect("connects");
    let half = format!(
        "POST /graphql HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{{\"q"
    );
    body.write_all(half.as_bytes()).expect("half");
    // Both are in the server's hands once it answers a request that came after them.
    assert_eq!(exchange(addr, &healthz(addr), BOUND).map(|a| a.0), Some(200));
    let start = Instant::now();
    server.terminate();
    let status = server.wait_exit(Duration::from_secs(10)).expect("the server exits");
    let took = start.elapsed();
    eprintln!("SIGTERM with two half-sent requests: exited {status} after {took:?} (grace 1 s)");
    assert!(status.success(), "{status}");
    assert!(took >= Duration::from_millis(900), "the grace period was not given: {took:?}");
    // The grace period, then closing the ledger (sled's flush and the head manifest).
    assert!(took < Duration::from_secs(4), "exited {took:?} after SIGTERM with a 1 s grace period");
}

/// Issue 20: at SIGTERM a subscriber's WebSocket is closed with 1001 (going away) through the whole
/// closing handshake – the close frame, the client's answer, then the end of the connection, never a
/// reset – and the server exits at once, without waiting out its grace period for the socket.
/// (Before the server waited for the client's answer, one run in three of the full suite on a
/// loaded machine saw a reset instead of the close frame.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subscribers_are_closed_with_1001_at_sigterm() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut server = start_server_with(&dir.path().join("data"), &["--shutdown-grace", "10"]);
    let mut request = format!("ws://{}/graphql/ws", server.addr).into_client_request().expect("request");
    request.headers_mut().insert(SEC_WEBSOCKET_PROTOCOL, HeaderValue::from_static("graphql-transport-ws"));
    let (mut ws, _) = tokio::time::timeout(BOUND, connect_async(request)).await.expect("in time").expect("handshake");
    ws.send(Message::text(json!({"type": "connection_init"}).to_string())).await.expect("send");
    let subscribe = json!({"id": "1", "type": "subscribe", "payload": {
        "query": "subscription { events(fromPosition: 843) { position } }"}});
    ws.send(Message::text(subscribe.to_string())).await.expect("send");
    // connection_ack, then the event at 843: the subscription runs.
    let mut seen = Vec::new();
    while !seen.iter().any(|m: &String| m.contains("843")) {
        match tokio::time::timeout(BOUND, ws.next()).await.expect("in time") {
            Some(Ok(Message::Text(text))) => seen.push(text.to_string()),
            other => panic!("before SIGTERM: {other:?} after {seen:?}"),
        }
    }
    let start = Instant::now();
    server.terminate();
    let close = loop {
        match tokio::time::timeout(BOUND, ws.next()).await.expect("closed in time") {
            Some(Ok(Message::Close(frame))) => break frame,
            Some(Ok(_)) => {}
            other => panic!("expected a close frame at SIGTERM, got {other:?}"),
        }
    };
    let close = close.expect("a close frame with a code");
    assert_eq!(u16::from(close.code), 1001, "{close:?}");
    // The client's answer goes out with the next poll; then the server ends the connection.
    let end = tokio::time::timeout(BOUND, ws.next()).await.expect("ended in time");
    assert!(end.is_none(), "after the close frame the connection ends cleanly, not with {end:?}");
    let status = tokio::task::spawn_blocking(move || {
        let status = server.wait_exit(Duration::from_secs(10));
        (status, server)
    })
    .await
    .expect("joined");
    let took = start.elapsed();
    eprintln!("SIGTERM with a subscriber: closed with {} ({:?}), exited after {took:?}", close.code, close.reason);
    assert!(status.0.expect("the server exits").success());
    assert!(took < Duration::from_secs(5), "the socket held the exit {took:?} (grace 10 s)");
}

/// Whether the server has answered (or closed) a connection whose request was left unfinished.
fn answered(stream: &TcpStream) -> bool {
    stream.set_nonblocking(true).expect("non-blocking");
    let peeked = stream.peek(&mut [0u8; 1]);
    stream.set_nonblocking(false).expect("blocking");
    !matches!(peeked, Err(e) if e.kind() == std::io::ErrorKind::WouldBlock)
}
