//! The write service: [`record`] takes what a caller asks to record through the whole path – token,
//! parse, role, validation, append, projections – and hands back what was committed. GraphQL's
//! mutations are thin calls into it; so can anything else be.

use ledger::{Date, EventData, EventId, NewEvent, Source};
use tokio::sync::oneshot;

use super::auth::Caller;
use super::batch;
pub use super::queue::Committed;
use super::queue::Pending;
use super::state::App;
use crate::error::{ApiError, Code};

/// What a caller asks to record: an event type and its data as API.md §1 JSON, with the envelope
/// every event carries. [`record`] parses it, so a malformed command is refused only after the
/// caller is known (an anonymous caller learns nothing about the rules).
#[derive(Debug, Clone)]
pub struct Command {
    /// The event type, e.g. `PartyAdopted`.
    pub type_name: String,
    /// The event's data, as in API.md §1.
    pub data: serde_json::Value,
    /// Valid time: the date the fact belongs to.
    pub effective: Date,
    /// The source document behind the event.
    pub source: Option<Source>,
    /// A client-chosen UUID that makes the command idempotent.
    pub event_id: Option<String>,
}

/// Records one command for `caller`: authenticate, parse, authorise the role, validate against the
/// projections (under the write lock, so no other command slips in between), append durably, and
/// apply the committed event to the projections. `expected_version` is optimistic concurrency on
/// the event's stream (0: the stream must not exist yet); a lost race is `CONFLICT` and records
/// nothing.
///
/// Every refusal is an [`ApiError`] with its code, and nothing is appended; it is logged (at `info`:
/// a refused write is the client's, not the server's, failure, but an operator wants to see it).
pub async fn record(
    app: &App,
    caller: &Caller,
    command: Command,
    expected_version: Option<u64>,
) -> Result<Committed, ApiError> {
    let type_name = command.type_name.clone();
    let outcome = record_checked(app, caller, command, expected_version).await;
    if let Err(e) = &outcome {
        let by = match caller {
            Caller::Token { name, .. } => name.as_str(),
            _ => "-",
        };
        tracing::info!(code = e.code.as_str(), event_type = %type_name, by, reason = %e.message, "command refused");
    }
    outcome
}

async fn record_checked(
    app: &App,
    caller: &Caller,
    command: Command,
    expected_version: Option<u64>,
) -> Result<Committed, ApiError> {
    let (name, role) = caller.require_token()?;
    app.writes_allowed()?;
    let Command { type_name, data, effective, source, event_id } = command;
    let data = EventData::from_json(&type_name, data).map_err(|e| ApiError::invalid(e.to_string()))?;
    role.may_record(&data).map_err(|reason| ApiError::new(Code::Forbidden, reason))?;
    let id = event_id
        .map(|id| {
            id.parse::<EventId>().map_err(|_| ApiError::invalid(format!("invalid eventId {id:?}: expected a UUID")))
        })
        .transpose()?;
    // The id is set here, so that what the write path previews and what it appends are one event.
    let id = id.unwrap_or_else(EventId::new_random);
    let event = NewEvent { id: Some(id), effective, recorded_by: name.to_owned(), source, data };

    // The combiner judges it in order with whatever else is waiting, appends, applies and answers
    // (`batch.rs`); it runs on its own task, so this caller going away stops nothing half-way.
    let (reply, answer) = oneshot::channel();
    let app = app.shared().ok_or_else(|| ApiError::internal(&"the application is shutting down"))?;
    batch::submit(app, Pending { event, expected_version, reply });
    answer.await.map_err(|_| ApiError::internal(&"the write path stopped before it answered"))?
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use ledger::{Date, Ledger, LedgerConfig, Position};
    use serde_json::json;

    use super::{Command, record};
    use crate::app::{App, AppConfig, Caller, Role, TokenStore};
    use crate::error::Code;

    /// A fresh application over an empty ledger in its own directory.
    fn app() -> (tempfile::TempDir, Arc<App>) {
        let dir = tempfile::tempdir().expect("tempdir");
        let ledger = Ledger::open(dir.path().join("ledger"), LedgerConfig::default()).expect("ledger");
        let tokens = Arc::new(TokenStore::open(dir.path()).expect("tokens"));
        let app = App::new(ledger, tokens, AppConfig::default()).expect("app");
        (dir, app)
    }

    fn caller(role: Role) -> Caller {
        Caller::Token { name: "test".to_owned(), role }
    }

    fn register(party: &str) -> Command {
        Command {
            type_name: "PartyRegistered".to_owned(),
            data: json!({"party": party, "name": format!("{party} kommun"), "kind": "MUNICIPALITY"}),
            effective: Date::from_ymd(2021, 1, 1).expect("date"),
            source: None,
            event_id: None,
        }
    }

    fn code(result: Result<super::Committed, crate::error::ApiError>) -> Code {
        match result {
            Ok(c) => panic!("expected a refusal, got position {}", c.event.position()),
            Err(e) => e.code,
        }
    }

    #[tokio::test]
    async fn a_recorded_event_is_the_one_the_projections_hold_without_reading_the_ledger_again() {
        let (_dir, app) = app();
        let committed = record(&app, &caller(Role::Secretariat), register("nacka"), None).await.expect("recorded");
        assert_eq!(committed.event.position(), Position::new(1));
        assert!(!committed.already_stored);
        let projections = app.projections().expect("projections");
        assert_eq!(projections.head(), Position::new(1), "read-your-writes");
        let held = projections.event(Position::new(1)).expect("applied");
        assert_eq!(*held, *committed.event, "the projections hold the writer's event");
    }

    #[tokio::test]
    async fn refusals_carry_their_code_and_append_nothing() {
        let (_dir, app) = app();
        let secretariat = caller(Role::Secretariat);
        assert_eq!(code(record(&app, &Caller::Anonymous, register("nacka"), None).await), Code::Unauthenticated);
        assert_eq!(code(record(&app, &Caller::Unknown, register("nacka"), None).await), Code::Unauthenticated);
        assert_eq!(code(record(&app, &caller(Role::Reader), register("nacka"), None).await), Code::Forbidden);
        let party = Role::Party("nacka".parse().expect("slug"));
        assert_eq!(code(record(&app, &caller(party), register("nacka"), None).await), Code::Forbidden);
        let mut malformed = register("nacka");
        malformed.data = json!({"party": "Not A Slug", "name": "x", "kind": "MUNICIPALITY"});
        assert_eq!(code(record(&app, &secretariat, malformed, None).await), Code::InvalidInput);
        let mut bad_id = register("nacka");
        bad_id.event_id = Some("not-a-uuid".to_owned());
        assert_eq!(code(record(&app, &secretariat, bad_id, None).await), Code::InvalidInput);
        assert_eq!(app.head().position, Position::new(0));

        record(&app, &secretariat, register("nacka"), None).await.expect("recorded");
        // The same party twice breaks a rule; a stream at version 1 is not at version 0.
        assert_eq!(code(record(&app, &secretariat, register("nacka"), None).await), Code::RuleViolation);
        assert_eq!(code(record(&app, &secretariat, register("solna"), Some(1)).await), Code::Conflict);
        assert_eq!(app.head().position, Position::new(1));
    }

    #[tokio::test]
    async fn an_idempotent_retry_answers_with_the_stored_event() {
        let (_dir, app) = app();
        let mut command = register("nacka");
        command.event_id = Some("0192f0c4-1d2e-7000-8000-000000000001".to_owned());
        let first = record(&app, &caller(Role::Secretariat), command.clone(), None).await.expect("recorded");
        let again = record(&app, &caller(Role::Secretariat), command, None).await.expect("recorded");
        assert!(again.already_stored);
        assert_eq!(again.event.position(), first.event.position());
        assert_eq!(app.head().position, Position::new(1));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_commands_over_one_app_are_judged_one_after_another() {
        let (_dir, app) = app();
        // Eight registrations of one party at once: the write lock lets exactly one pass validation.
        let tasks: Vec<_> = (0..8)
            .map(|_| {
                let app = Arc::clone(&app);
                tokio::spawn(async move { record(&app, &caller(Role::Secretariat), register("nacka"), None).await })
            })
            .collect();
        let mut ok = 0;
        for task in tasks {
            match task.await.expect("task") {
                Ok(_) => ok += 1,
                Err(e) => assert_eq!(e.code, Code::RuleViolation),
            }
        }
        assert_eq!(ok, 1);
        assert_eq!(app.head().position, Position::new(1));
    }

    /// A SECRETARIAT caller's command, spawned; returns once the command waits in the queue.
    async fn queued(
        app: &Arc<App>,
        command: Command,
        expected: Option<u64>,
    ) -> tokio::task::JoinHandle<Result<super::Committed, crate::error::ApiError>> {
        let before = app.queue.len();
        let task = {
            let app = Arc::clone(app);
            tokio::spawn(async move { record(&app, &caller(Role::Secretariat), command, expected).await })
        };
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while app.queue.len() == before {
            assert!(std::time::Instant::now() < deadline, "the command never reached the queue");
            tokio::task::yield_now().await;
        }
        task
    }

    /// Runs `commands` as one batch, in this order: the write lock is held while they queue one
    /// after another, so the combiner takes them all at once.
    async fn one_batch(
        app: &Arc<App>,
        commands: Vec<(Command, Option<u64>)>,
    ) -> Vec<Result<super::Committed, crate::error::ApiError>> {
        let write = app.write.lock().await;
        let mut tasks = Vec::new();
        for (command, expected) in commands {
            tasks.push(queued(app, command, expected).await);
        }
        drop(write);
        let mut answers = Vec::new();
        for task in tasks {
            answers.push(task.await.expect("task"));
        }
        answers
    }

    fn district(district: &str, municipality: &str) -> Command {
        Command {
            type_name: "DistrictRegistered".to_owned(),
            data: json!({"district": district, "name": format!("{district} stadsdel"), "municipality": municipality}),
            effective: Date::from_ymd(2021, 1, 2).expect("date"),
            source: None,
            event_id: None,
        }
    }

    fn with_id(mut command: Command, id: &str) -> Command {
        command.event_id = Some(id.to_owned());
        command
    }

    fn ok(answer: &Result<super::Committed, crate::error::ApiError>) -> u64 {
        match answer {
            Ok(c) => c.event.position().get(),
            Err(e) => panic!("expected success, got {:?}: {}", e.code, e.message),
        }
    }

    fn refused(answer: Result<super::Committed, crate::error::ApiError>) -> Code {
        code(answer)
    }

    #[tokio::test]
    async fn conflicting_commands_in_one_batch_never_both_succeed() {
        let (_dir, app) = app();
        // Eight registrations of one party in one batch: the first is judged valid, and every later
        // one is judged on top of it.
        let answers = one_batch(&app, (0..8).map(|_| (register("nacka"), None)).collect()).await;
        let mut answers = answers.into_iter();
        assert_eq!(ok(&answers.next().expect("first")), 1);
        assert!(answers.all(|a| refused(a) == Code::RuleViolation));
        assert_eq!(app.head().position, Position::new(1));

        // One eventId for two different events: the second is a CONFLICT, the first stored.
        let id = "0192f0c4-1d2e-7000-8000-0000000000aa";
        let answers =
            one_batch(&app, vec![(with_id(register("solna"), id), None), (with_id(register("sundbyberg"), id), None)])
                .await;
        let mut answers = answers.into_iter();
        assert_eq!(ok(&answers.next().expect("first")), 2);
        assert_eq!(refused(answers.next().expect("second")), Code::Conflict);
        // The same event twice under one id: the second is answered with the first.
        let id = "0192f0c4-1d2e-7000-8000-0000000000ab";
        let answers =
            one_batch(&app, vec![(with_id(register("huddinge"), id), None), (with_id(register("huddinge"), id), None)])
                .await;
        assert_eq!(ok(&answers[0]), 3);
        assert_eq!(ok(&answers[1]), 3);
        assert!(answers[1].as_ref().is_ok_and(|c| c.already_stored));

        // Two appends to one stream expecting the same version: the first moves it on.
        let answers =
            one_batch(&app, vec![(district("farsta", "nacka"), Some(1)), (district("skarholmen", "nacka"), Some(1))])
                .await;
        let mut answers = answers.into_iter();
        assert_eq!(ok(&answers.next().expect("first")), 4);
        assert_eq!(refused(answers.next().expect("second")), Code::Conflict);
        assert_eq!(app.head().position, Position::new(4));
    }

    #[tokio::test]
    async fn a_command_valid_only_after_an_earlier_one_of_its_batch_is_judged_in_the_stored_order() {
        let (_dir, app) = app();
        // The district needs the municipality registered just before it in the same batch; and a
        // version expected on top of the batch's earlier event.
        let answers = one_batch(
            &app,
            vec![(register("nacka"), None), (district("fisksatra", "nacka"), Some(1)), (register("solna"), None)],
        )
        .await;
        let positions: Vec<u64> = answers.iter().map(ok).collect();
        assert_eq!(positions, [1, 2, 3], "stored in the order judged");
        // The other way round, the district comes first and finds no municipality.
        let answers =
            one_batch(&app, vec![(district("rinkeby", "sundbyberg"), None), (register("sundbyberg"), None)]).await;
        let mut answers = answers.into_iter();
        assert_eq!(refused(answers.next().expect("district")), Code::NotFound);
        assert_eq!(ok(&answers.next().expect("registration")), 4);
        // What is stored is valid in its stored order: a fresh fold validates every event.
        let projections = app.projections().expect("projections");
        assert_eq!(projections.head(), Position::new(4), "read-your-writes");
        for position in 1..=4 {
            let event = projections.event(Position::new(position)).expect("applied");
            assert!(projections.event_by_id(event.id()).is_some());
        }
        assert_eq!(projections.event(Position::new(2)).expect("district").type_name(), "DistrictRegistered");
    }

    #[tokio::test]
    async fn a_refused_command_in_a_batch_leaves_the_others_alone() {
        let (_dir, app) = app();
        record(&app, &caller(Role::Secretariat), register("nacka"), None).await.expect("recorded");
        let answers = one_batch(
            &app,
            vec![
                (register("solna"), None),
                (register("nacka"), None),
                (district("x", "nowhere"), None),
                (register("solna"), Some(5)),
                (register("huddinge"), None),
            ],
        )
        .await;
        let mut answers = answers.into_iter();
        assert_eq!(ok(&answers.next().expect("solna")), 2);
        assert_eq!(refused(answers.next().expect("nacka again")), Code::RuleViolation);
        assert_eq!(refused(answers.next().expect("no municipality")), Code::NotFound);
        assert_eq!(refused(answers.next().expect("solna again")), Code::RuleViolation);
        assert_eq!(ok(&answers.next().expect("huddinge")), 3, "the next free position: refusals append nothing");
        assert_eq!(app.head().position, Position::new(3));
        assert_eq!(app.projections().expect("projections").head(), Position::new(3));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn no_member_of_a_batch_is_visible_before_it_is_durable() {
        use std::sync::atomic::{AtomicBool, Ordering};
        use std::sync::{Condvar, Mutex};

        // A clock that holds the ledger's writer thread, mid-admission, while the gate is closed:
        // the batch is judged and sent, and nothing of it is written, synced or answered yet.
        let gate = Arc::new((Mutex::new(true), Condvar::new()));
        let held = Arc::new(AtomicBool::new(false));
        let clock = {
            let (gate, held) = (Arc::clone(&gate), Arc::clone(&held));
            ledger::Clock::custom(move || {
                if std::thread::current().name() == Some("ledger-writer") {
                    let (open, changed) = &*gate;
                    let mut open = open.lock().expect("gate");
                    while !*open {
                        held.store(true, Ordering::SeqCst);
                        open = changed.wait(open).expect("gate");
                    }
                }
                ledger::Timestamp::now()
            })
        };
        let dir = tempfile::tempdir().expect("tempdir");
        let config = LedgerConfig { clock, ..LedgerConfig::default() };
        let ledger = Ledger::open(dir.path().join("ledger"), config).expect("ledger");
        let tokens = Arc::new(TokenStore::open(dir.path()).expect("tokens"));
        let app = App::new(ledger, tokens, AppConfig::default()).expect("app");
        record(&app, &caller(Role::Secretariat), register("nacka"), None).await.expect("recorded");

        *gate.0.lock().expect("gate") = false;
        let write = app.write.lock().await;
        let first = queued(&app, district("fisksatra", "nacka"), None).await;
        let second = queued(&app, register("solna"), None).await;
        drop(write);
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while !held.load(Ordering::SeqCst) {
            assert!(std::time::Instant::now() < deadline, "the batch never reached the ledger's writer");
            tokio::task::yield_now().await;
        }
        // The batch was judged on a speculation holding its first member; a reader sees none of it.
        {
            let projections = app.projections().expect("readers are not blocked");
            assert_eq!(projections.head(), Position::new(1));
            assert_eq!(projections.events_after(Position::new(0), usize::MAX).len(), 1);
        }
        assert_eq!(app.head().position, Position::new(1));
        assert!(!first.is_finished() && !second.is_finished(), "nothing answered before it is durable");

        *gate.0.lock().expect("gate") = true;
        gate.1.notify_all();
        let (first, second) = (first.await.expect("task"), second.await.expect("task"));
        assert_eq!((ok(&first), ok(&second)), (2, 3));
        assert_eq!(app.projections().expect("projections").head(), Position::new(3));
    }
}
