//! Section 8 (issue 18): concurrent GraphQL writers. 1, 8 and 64 keep-alive HTTP clients each send
//! `recordDecision` to the real server (`graphql::app` over a fresh data directory on 127.0.0.1:0)
//! and wait for its answer, beside the ledger's own N-writer figure in the same run (window by
//! window, interleaved), so the HTTP/GraphQL write path is measured against the group commit it
//! could at best share, and beside a bare HTTP server (axum alone, a fixed answer) driven by the same
//! clients on the same cores: the ceiling of the transport itself on this machine. The process's CPU
//! time over each window gives each side's CPU an operation (clients included, as they share the
//! cores), and from the bare server's and the ledger's the most a server could reach here.

use std::collections::HashSet;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use graphql::Role;
use ledger::{Ledger, LedgerConfig};

use crate::Plan;
use crate::append::{Throughput, drive, ledger_group};
use crate::import::cpu_seconds;
use crate::report::{Report, Verdict, rate, ratio, us};
use crate::server::{Http, Server};

/// Issue 18's target: 64 HTTP writers reach at least this share of the ledger's own 64-writer rate.
const TARGET_64: f64 = 0.5;

/// Runs the section: a server over `dir/writers` and a bare ledger in `dir/ledger-writers`.
pub(crate) fn run(plan: &Plan, dir: &Path, report: &mut Report) -> anyhow::Result<()> {
    let server = Server::start_in(&dir.join("writers"))?;
    let token = server.app.tokens().create_ephemeral(Role::Secretariat, "bench")?;
    let mut setup = Http::connect(server.addr)?.with_token(token);
    setup.graphql(
        r#"mutation { registerBody(input: {body: "vis", name: "VIS", kind: NETWORK, effective: "2022-01-01"}) { position } }"#,
    )?;
    let ledger = Ledger::open(dir.join("ledger-writers"), LedgerConfig::default())?;
    let bare = Bare::start()?;
    let mut serial = 0u64;
    for &writers in &plan.writers {
        let (mut http_runs, mut ledger_runs, mut bare_runs) = (Vec::new(), Vec::new(), Vec::new());
        // The CPU time of each kind of window, all rounds together, and what they did.
        let (mut http_cpu, mut ledger_cpu, mut bare_cpu) = (Cpu::default(), Cpu::default(), Cpu::default());
        for _ in 0..plan.rounds_concurrent {
            ledger_runs.push(ledger_cpu.measure(|| ledger_group(writers, plan.window, &ledger, &mut serial))?);
            http_runs.push(http_cpu.measure(|| http_group(writers, plan, server.addr, &server, &mut serial))?);
            bare_runs.push(bare_cpu.measure(|| http_group(writers, plan, bare.addr, &server, &mut serial))?);
        }
        eprintln!(
            "  {writers} writers: HTTP {:?}, ledger {:?} appends/s, bare HTTP {:?} answers/s; HTTP (appends, commits) {:?}, ledger {:?}",
            http_runs.iter().map(|r| r.rate().round()).collect::<Vec<_>>(),
            ledger_runs.iter().map(|r| r.rate().round()).collect::<Vec<_>>(),
            bare_runs.iter().map(|r| r.rate().round()).collect::<Vec<_>>(),
            http_runs.iter().map(|r| (r.appends, r.commits)).collect::<Vec<_>>(),
            ledger_runs.iter().map(|r| (r.appends, r.commits)).collect::<Vec<_>>(),
        );
        let pick = Throughput::median_of;
        let (http, led, bare_http) = (pick(&http_runs), pick(&ledger_runs), pick(&bare_runs));
        let target = writers == 64;
        report.row(
            "8",
            format!(
                "{writers} HTTP writers: recordDecision (mean batch {:.1}, p50 {}, p99 {})",
                http.batch(),
                us(http.latency.p50()),
                us(http.latency.p99())
            ),
            rate(http.rate(), "mutations"),
            format!("ledger {writers} writers {} (mean batch {:.1})", rate(led.rate(), "appends"), led.batch()),
            ratio(http.rate(), led.rate()),
            if target { format!("≥ {TARGET_64}× ledger") } else { String::new() },
            if target { Verdict::of(http.rate() >= TARGET_64 * led.rate()) } else { Verdict::Info },
        );
        report.row(
            "8",
            format!(
                "{writers} HTTP writers against bare HTTP (axum alone, a fixed answer; p50 {})",
                us(bare_http.latency.p50())
            ),
            rate(http.rate(), "mutations"),
            format!("bare HTTP {}", rate(bare_http.rate(), "answers")),
            ratio(http.rate(), bare_http.rate()),
            String::new(),
            Verdict::Info,
        );
        let (ours, transport, append) =
            (http_cpu.per_operation(), bare_cpu.per_operation(), ledger_cpu.per_operation());
        if let (Some(ours), Some(transport), Some(append)) = (ours, transport, append) {
            // Were GraphQL, validation, judging and the answer free, a mutation would still cost
            // the transport's and the append's CPU; on this machine's cores that bounds the rate.
            let cores = std::thread::available_parallelism().map_or(1, |n| n.get()) as f64;
            let ceiling = cores / (transport + append);
            report.row(
                "8",
                format!("— {writers} HTTP writers: CPU a mutation, every thread of the process (clients included)"),
                us(ours * 1e6),
                format!(
                    "bare HTTP {} + the ledger's append {}: at most {} on {cores} cores",
                    us(transport * 1e6),
                    us(append * 1e6),
                    rate(ceiling, "mutations")
                ),
                format!("ceiling {}", ratio(ceiling, led.rate())),
                String::new(),
                Verdict::Info,
            );
        }
    }
    bare.runtime.shutdown_timeout(std::time::Duration::from_secs(5));
    server.runtime.shutdown_timeout(std::time::Duration::from_secs(5));
    Ok(())
}

/// `writers` threads, each with its own keep-alive connection, send `recordDecision` until the
/// window has passed. Commits are counted as distinct record times (the ledger's writer gives every
/// event of one group commit the same one).
/// The clients connect to `addr`: the server's, or the bare one's (which ignores the tokens).
fn http_group(
    writers: usize,
    plan: &Plan,
    addr: std::net::SocketAddr,
    server: &Server,
    serial: &mut u64,
) -> anyhow::Result<Throughput> {
    *serial += 1;
    let base = *serial * 100_000_000;
    // One connection and one token per writer (the server limits requests in flight per token, as
    // 64 separate clients would meet it), each only ever locked by its own writer thread.
    let clients = (0..writers)
        .map(|w| {
            let token = server.app.tokens().create_ephemeral(Role::Secretariat, &format!("bench-{w}"))?;
            Ok(Mutex::new(Http::connect(addr)?.with_token(token)))
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let clients = Arc::new(clients);
    let (times, latency, seconds) = drive(writers, plan.window, move |w, i| {
        let mut client = clients[w].lock().map_err(|_| anyhow::anyhow!("client lock poisoned"))?;
        let query = format!(
            r#"mutation {{ recordDecision(input: {{decision: "h{w}-{}", body: "vis", subject: "decision", effective: "2022-06-13"}}) {{ position recordedAt }} }}"#,
            base + i
        );
        let body = client.graphql(&query)?;
        let answer: serde_json::Value = serde_json::from_slice(&body)?;
        answer["data"]["recordDecision"]["recordedAt"]
            .as_str()
            .map(str::to_owned)
            .ok_or_else(|| anyhow::anyhow!("no recordedAt in {answer}"))
    })?;
    let commits = times.iter().collect::<HashSet<_>>().len() as u64;
    Ok(Throughput { appends: times.len() as u64, seconds, commits, latency })
}

/// A bare HTTP server: axum on its own multi-threaded Tokio runtime (as the real server's), one
/// route that takes the request's body and answers a fixed JSON of the mutation's answer's shape
/// (a counter for its record time, so that every answer differs as the real ones do) – no
/// GraphQL, ledger, middleware or limits. What 64 keep-alive clients reach against it is the most
/// any server could on this machine with these clients.
struct Bare {
    runtime: tokio::runtime::Runtime,
    addr: std::net::SocketAddr,
}

impl Bare {
    fn start() -> anyhow::Result<Self> {
        let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
        let counter = Arc::new(AtomicU64::new(0));
        let addr = runtime.block_on(async move {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
            let addr = listener.local_addr()?;
            // The body is read whole, as the real server reads it, and not looked at.
            let route = axum::routing::post(move |_body: axum::body::Bytes| {
                let n = counter.fetch_add(1, Ordering::Relaxed);
                async move {
                    let answer = format!(
                        r#"{{"data":{{"recordDecision":{{"position":"{n}","recordedAt":"2026-12-07T09:00:00.{n:06}Z"}}}}}}"#
                    );
                    ([(axum::http::header::CONTENT_TYPE, "application/json")], answer)
                }
            });
            let router = axum::Router::new().route("/graphql", route);
            tokio::spawn(async move {
                use axum::serve::ListenerExt;
                // TCP_NODELAY, as the real server sets it.
                let listener = listener.tap_io(|tcp| {
                    let _ = tcp.set_nodelay(true);
                });
                let _ = axum::serve(listener, router).await;
            });
            Ok::<_, anyhow::Error>(addr)
        })?;
        Ok(Self { runtime, addr })
    }
}

/// The process's CPU time over a kind of window, and the operations done in it.
#[derive(Default)]
struct Cpu {
    seconds: f64,
    operations: u64,
}

impl Cpu {
    /// Runs `window`, adding its CPU time (user and system, every thread of this process) and its
    /// operations. A reading `/proc` refuses adds nothing.
    fn measure(&mut self, window: impl FnOnce() -> anyhow::Result<Throughput>) -> anyhow::Result<Throughput> {
        let total = || cpu_seconds(std::process::id()).map(|(user, system)| user + system);
        let before = total();
        let run = window()?;
        if let (Some(before), Some(after)) = (before, total()) {
            self.seconds += after - before;
            self.operations += run.appends;
        }
        Ok(run)
    }

    /// Seconds of CPU an operation, when any was measured.
    fn per_operation(&self) -> Option<f64> {
        (self.operations > 0 && self.seconds > 0.0).then(|| self.seconds / self.operations as f64)
    }
}
