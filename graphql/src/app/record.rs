//! The write service: [`record`] takes what a caller asks to record through the whole path – token,
//! parse, role, validation, append, projections – and hands back what was committed. GraphQL's
//! mutations are thin calls into it; so can anything else be.

use std::sync::Arc;

use ledger::{Date, EventData, EventId, NewEvent, RecordedEvent, Source};
use tokio::sync::oneshot;

use super::auth::Caller;
use super::batch::{self, Pending};
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

/// What [`record`] committed.
#[derive(Debug, Clone)]
pub struct Committed {
    /// The event as stored; the projections hold this very value.
    pub event: Arc<RecordedEvent>,
    /// The command was an idempotent retry: the event was stored before, nothing new was recorded.
    pub already_stored: bool,
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

/// Applies everything new in the ledger to the projections, off the async workers.
pub(super) async fn catch_up(app: &App) -> Result<(), ApiError> {
    // Quick and common: nothing new.
    if app.projections()?.head() == app.head().position {
        return Ok(());
    }
    let live = app.live_handle();
    tokio::task::spawn_blocking(move || live.catch_up()).await.map_err(|e| ApiError::internal(&e))?.map(|_| ())
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
        assert!(Arc::ptr_eq(held, &committed.event), "the projections keep the writer's value");
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
}
