//! Concurrent GraphQL writers (issue 18): mutations that arrive together are judged as one batch
//! and share the ledger's commit groups, and each is answered only once its event is durable and
//! visible to the next query.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use graphql::{App, AppConfig, Role, ServerConfig, TokenStore};
use ledger::{Clock, Ledger, LedgerConfig, Position, Timestamp};
use serde_json::json;

use crate::support::{TestServer, error_code};

/// A clock that holds the ledger's writer thread mid-admission (after it has taken the requests of
/// its next group) unless the gate has a pass for it, so that a test can let commands pile up
/// behind one group commit without sleeping.
#[derive(Clone)]
struct Gate {
    /// Passes left: `None` is open for good.
    passes: Arc<(Mutex<Option<usize>>, Condvar)>,
    /// How many times the writer has been held so far.
    held: Arc<AtomicUsize>,
}

impl Gate {
    fn new() -> Self {
        Self { passes: Arc::new((Mutex::new(None), Condvar::new())), held: Arc::default() }
    }

    fn clock(&self) -> Clock {
        let gate = self.clone();
        Clock::custom(move || {
            if std::thread::current().name() == Some("ledger-writer") {
                let (passes, changed) = &*gate.passes;
                let mut passes = passes.lock().expect("gate");
                if *passes == Some(0) {
                    gate.held.fetch_add(1, Ordering::SeqCst);
                    while *passes == Some(0) {
                        passes = changed.wait(passes).expect("gate");
                    }
                }
                if let Some(left) = passes.as_mut() {
                    *left -= 1;
                }
            }
            Timestamp::now()
        })
    }

    /// Lets `passes` groups through, then holds the next (`None`: open for good).
    fn set(&self, passes: Option<usize>) {
        *self.passes.0.lock().expect("gate") = passes;
        self.passes.1.notify_all();
    }
}

/// Waits (bounded) until `condition` holds.
async fn until(what: &str, condition: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !condition() {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
}

fn record_decision(n: usize) -> String {
    format!(
        r#"mutation {{ recordDecision(input: {{decision: "w-{n}", body: "vis", subject: "decision {n}", effective: "2022-06-13"}}) {{ position recordedAt }} }}"#
    )
}

/// 64 concurrent `recordDecision` mutations over one application all succeed, in a few commit
/// groups (not 64), and each answer's event is durable and in the projections when it arrives.
/// The ledger's writer is held on the first mutation while the other 63 queue behind it; they then
/// go to the ledger as one batch, all sent before any is awaited (checked with the writer held
/// again, so that the machine's load cannot split the batch where the writer happens to wake).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sixty_four_concurrent_mutations_share_a_few_commit_groups() {
    let gate = Gate::new();
    let dir = tempfile::tempdir().expect("tempdir");
    let config = LedgerConfig { clock: gate.clock(), ..LedgerConfig::default() };
    let ledger = Ledger::open(dir.path().join("ledger"), config).expect("ledger");
    let tokens = Arc::new(TokenStore::open(dir.path()).expect("tokens"));
    let app = App::new(ledger.clone(), tokens, AppConfig::default()).expect("app");
    let server = Arc::new(TestServer { dir, ledger, app, config: ServerConfig::default() });
    let token = server.token(Role::Secretariat, "writers");
    let (_, body) = server
        .post(
            r#"mutation { registerBody(input: {body: "vis", name: "VIS", kind: NETWORK, effective: "2022-01-01"}) { position } }"#,
            json!({}),
            Some(&token),
        )
        .await;
    assert!(body["errors"].is_null(), "{body:#}");

    // Count the commit groups from here on (this replaces the metrics' observer; the test does
    // not read the metrics).
    let groups = Arc::new(AtomicUsize::new(0));
    let counted = Arc::clone(&groups);
    server.ledger.observe_commits(Arc::new(move |_| {
        counted.fetch_add(1, Ordering::SeqCst);
    }));

    gate.set(Some(0));
    let send = |n: usize| {
        let (server, token) = (Arc::clone(&server), token.clone());
        tokio::spawn(async move {
            let (_, body) = server.post(&record_decision(n), json!({}), Some(&token)).await;
            let position = body["data"]["recordDecision"]["position"].as_u64();
            // Read-your-writes and durability, at the moment of the answer.
            if let Some(position) = position {
                assert!(server.ledger.head().position >= Position::new(position), "answered before durable");
                let projections = server.app.projections().expect("projections");
                assert!(projections.event(Position::new(position)).is_some(), "answered before visible");
            }
            body
        })
    };
    let mut tasks = vec![send(0)];
    until("the first mutation holds the writer", || gate.held.load(Ordering::SeqCst) == 1).await;
    tasks.extend((1..64).map(send));
    until("63 mutations wait for the next batch", || server.app.queued_commands() == 63).await;
    // The first group goes through; the writer is held again on the first group it takes of the
    // batch, while the app sends it the batch's other commands (all of them before awaiting any).
    gate.set(Some(1));
    until("the batch's 63 commands are at the ledger", || {
        gate.held.load(Ordering::SeqCst) == 2 && server.app.commands_at_ledger() == 63
    })
    .await;
    gate.set(None);
    let mut positions = Vec::new();
    for task in tasks {
        let body = task.await.expect("task");
        assert!(body["errors"].is_null(), "{body:#}");
        positions.push(body["data"]["recordDecision"]["position"].as_u64().expect("position"));
    }
    positions.sort_unstable();
    assert_eq!(positions, (2..=65).collect::<Vec<u64>>(), "every mutation stored once, gapless");
    assert_eq!(server.ledger.head().position, Position::new(65));
    let groups = groups.load(Ordering::SeqCst);
    // One sync for the first mutation, one for the group the writer was held on, one for
    // everything the app sent meanwhile (the sync stage may take both in one): sent one by one and
    // awaited in turn, they would take 64.
    assert!(groups <= 3, "64 mutations took {groups} commit groups");
}

/// Mutations racing over HTTP, likely in one batch: of two registrations of one new party exactly
/// one succeeds, for each of two parties, and the refusals store nothing. (The batch's order is
/// forced and checked in `graphql/src/app/record.rs`'s unit tests.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_over_http_is_judged_in_the_order_it_is_stored() {
    let server = Arc::new(TestServer::empty(ServerConfig::default()));
    let token = server.token(Role::Secretariat, "writers");
    let register = |party: &str| {
        format!(
            r#"mutation {{ registerParty(input: {{party: "{party}", name: "{party} kommun", kind: MUNICIPALITY, effective: "2021-01-01"}}) {{ position }} }}"#
        )
    };
    let mutations = [register("nacka"), register("nacka"), register("solna"), register("solna")];
    let tasks: Vec<_> = mutations
        .into_iter()
        .map(|m| {
            let (server, token) = (Arc::clone(&server), token.clone());
            tokio::spawn(async move { server.post(&m, json!({}), Some(&token)).await.1 })
        })
        .collect();
    let mut ok = 0;
    for task in tasks {
        let body = task.await.expect("task");
        if body["errors"].is_null() {
            ok += 1;
        } else {
            assert_eq!(error_code(&body), Some("RULE_VIOLATION"), "{body:#}");
        }
    }
    assert_eq!(ok, 2, "one registration of each party");
    assert_eq!(server.ledger.head().position, Position::new(2));
}
