//! The operations endpoints under `/admin/`, through which the command line works while a server
//! holds the data directory (API.md §3: every command works whether or not a server runs):
//!
//! | endpoint | roles | what |
//! | --- | --- | --- |
//! | `GET /admin/tokens` | ADMIN | every token, without secrets |
//! | `POST /admin/tokens` | ADMIN | create one (`{role, party?, name, expires?}`); answers the token once |
//! | `POST /admin/tokens/{name}/revoke` | ADMIN | revoke one |
//! | `GET /admin/export?through=N` | ADMIN, SECRETARIAT, AUDITOR | JSON Lines of positions 1..=N (default the head), streamed |
//! | `POST /admin/verify` | ADMIN, SECRETARIAT, AUDITOR | verify the whole ledger up to the head |
//! | `POST /admin/import` | ADMIN, SECRETARIAT | a JSON Lines body, all or nothing |
//!
//! Each needs `Authorization: Bearer <token>`: a token of those roles, or the running server's
//! local administration token, which only a process that can read the data directory's
//! `server.json` (mode 0600) has. Refusals have the same GraphQL-shaped body and codes as every other
//! refusal (401 `UNAUTHENTICATED`, 403 `FORBIDDEN`, 400 `INVALID_INPUT`, …). These routes have their
//! own body limit (an import is a file, not a query) and no request timeout (a backup of a large log
//! takes as long as it takes); the heavy work runs off the async workers.

use std::io::Write;
use std::sync::Arc;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{DefaultBodyLimit, Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use ledger::{Date, Position};
use serde::Deserialize;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use super::Shared;
use crate::app::{App, Caller, Role, TokenError, bearer};
use crate::error::{ApiError, Code};

/// How many of each heavy operation may run at once: one verification (a walk of the whole log), two
/// exports (each streams the whole log), one import (its body is held in memory). One more is
/// refused at once with 429 rather than queued: an operator retries, a runaway script is stopped.
#[derive(Debug)]
pub(super) struct Operations {
    verify: Arc<Semaphore>,
    export: Arc<Semaphore>,
    import: Arc<Semaphore>,
}

impl Default for Operations {
    fn default() -> Self {
        Self {
            verify: Arc::new(Semaphore::new(1)),
            export: Arc::new(Semaphore::new(2)),
            import: Arc::new(Semaphore::new(1)),
        }
    }
}

/// A slot of `semaphore`, if one is free.
fn slot(semaphore: &Arc<Semaphore>) -> Option<OwnedSemaphorePermit> {
    Arc::clone(semaphore).try_acquire_owned().ok()
}

/// The 429 that says as many `what` as may run are running.
fn busy(what: &str) -> Response {
    let message = format!("as many {what} as the server runs at once are running; retry when one has finished");
    let mut response = refusal(StatusCode::TOO_MANY_REQUESTS, ApiError::new(Code::TooManyRequests, message));
    response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
    response
}

/// The response header naming the last position an export holds, so that a client can tell a
/// complete export from one cut short.
pub(crate) const EXPORT_THROUGH: &str = "samverkan-export-through";

/// The `/admin/` routes, with a body limit of `max_import_bytes` and no timeout.
pub(super) fn routes(max_import_bytes: usize) -> Router<Shared> {
    Router::new()
        .route("/admin/tokens", get(list_tokens).post(create_token))
        .route("/admin/tokens/{name}/revoke", post(revoke_token))
        .route("/admin/export", get(export))
        .route("/admin/verify", post(verify))
        .route("/admin/import", post(import))
        .layer(DefaultBodyLimit::max(max_import_bytes))
}

/// Who may call an endpoint.
#[derive(Clone, Copy)]
enum Needs {
    /// ADMIN only: tokens.
    Admin,
    /// ADMIN, SECRETARIAT or AUDITOR: export and verify, which read.
    Operator,
    /// ADMIN or SECRETARIAT: import, which writes.
    Writer,
}

/// The caller, if its token may call an endpoint that `needs` this.
fn authorize(app: &App, headers: &HeaderMap, needs: Needs) -> Result<Caller, (StatusCode, ApiError)> {
    let token = bearer(headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()));
    let caller = app.authenticate(token);
    let role = match caller.require_token() {
        Ok((_, role)) => role.clone(),
        Err(e) => return Err((StatusCode::UNAUTHORIZED, e)),
    };
    let allowed = match needs {
        Needs::Admin => matches!(role, Role::Admin),
        Needs::Operator => matches!(role, Role::Admin | Role::Secretariat | Role::Auditor),
        Needs::Writer => matches!(role, Role::Admin | Role::Secretariat),
    };
    if allowed {
        Ok(caller)
    } else {
        let who = match needs {
            Needs::Admin => "an ADMIN token",
            Needs::Operator => "an ADMIN, SECRETARIAT or AUDITOR token",
            Needs::Writer => "an ADMIN or SECRETARIAT token",
        };
        Err((StatusCode::FORBIDDEN, ApiError::new(Code::Forbidden, format!("this needs {who}, not {}", role.name()))))
    }
}

/// A refusal with a GraphQL-shaped body, as every refusal of this server has.
fn refusal(status: StatusCode, error: ApiError) -> Response {
    (status, axum::Json(error.into_response_body())).into_response()
}

/// The HTTP status of an application error.
fn status_of(error: &ApiError) -> StatusCode {
    match error.code {
        Code::Unauthenticated => StatusCode::UNAUTHORIZED,
        Code::Forbidden => StatusCode::FORBIDDEN,
        Code::NotFound => StatusCode::NOT_FOUND,
        Code::Conflict => StatusCode::CONFLICT,
        Code::RuleViolation | Code::InvalidInput => StatusCode::BAD_REQUEST,
        Code::StorageFull => StatusCode::INSUFFICIENT_STORAGE,
        Code::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

fn failed(error: ApiError) -> Response {
    refusal(status_of(&error), error)
}

fn token_failure(error: TokenError) -> Response {
    match error {
        TokenError::Refused(message) => failed(ApiError::invalid(message)),
        e @ TokenError::NotFound(_) => failed(ApiError::not_found(e.to_string())),
        TokenError::Io(e) => failed(ApiError::internal(&e)),
    }
}

/// Runs blocking work off the async workers.
async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(work).await.map_err(|e| ApiError::internal(&e))?
}

async fn list_tokens(State(shared): State<Shared>, headers: HeaderMap) -> Response {
    if let Err((status, e)) = authorize(&shared.app, &headers, Needs::Admin) {
        return refusal(status, e);
    }
    match shared.app.tokens().list() {
        Ok(tokens) => axum::Json(serde_json::json!({ "tokens": tokens })).into_response(),
        Err(e) => token_failure(e),
    }
}

/// The body of `POST /admin/tokens`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct NewToken {
    role: String,
    party: Option<String>,
    name: String,
    expires: Option<String>,
}

async fn create_token(State(shared): State<Shared>, headers: HeaderMap, body: Bytes) -> Response {
    if let Err((status, e)) = authorize(&shared.app, &headers, Needs::Admin) {
        return refusal(status, e);
    }
    let request: NewToken = match serde_json::from_slice(&body) {
        Ok(r) => r,
        Err(e) => return failed(ApiError::invalid(format!("expected {{role, party?, name, expires?}}: {e}"))),
    };
    let role = match Role::parse(&request.role, request.party.as_deref()) {
        Ok(role) => role,
        Err(message) => return failed(ApiError::invalid(message)),
    };
    let expires = match request.expires.as_deref().map(str::parse::<Date>).transpose() {
        Ok(expires) => expires,
        Err(e) => return failed(ApiError::invalid(format!("expires: {e}"))),
    };
    if let Role::Party(party) = &role {
        if let Err(e) = shared.app.require_registered_party(party) {
            return failed(e);
        }
    }
    match shared.app.tokens().create(&role, &request.name, expires) {
        Ok(token) => {
            tracing::info!(name = %request.name, role = role.name(), "token created");
            (StatusCode::CREATED, axum::Json(serde_json::json!({ "name": request.name, "token": token })))
                .into_response()
        }
        Err(e) => token_failure(e),
    }
}

async fn revoke_token(State(shared): State<Shared>, headers: HeaderMap, Path(name): Path<String>) -> Response {
    if let Err((status, e)) = authorize(&shared.app, &headers, Needs::Admin) {
        return refusal(status, e);
    }
    match shared.app.tokens().revoke(&name) {
        Ok(revoked) => {
            tracing::info!(%name, already = revoked.already, "token revoked");
            axum::Json(revoked).into_response()
        }
        Err(e) => token_failure(e),
    }
}

/// The query of `GET /admin/export`.
#[derive(Debug, Deserialize)]
struct ExportQuery {
    through: Option<u64>,
}

/// Writes into the response body in 64 KiB pieces; a client that goes away ends the export.
struct ChannelWriter {
    buffer: Vec<u8>,
    sender: tokio::sync::mpsc::Sender<Result<Bytes, std::io::Error>>,
}

impl ChannelWriter {
    const PIECE: usize = 64 * 1024;

    fn send(&mut self) -> std::io::Result<()> {
        if self.buffer.is_empty() {
            return Ok(());
        }
        let piece = Bytes::from(std::mem::replace(&mut self.buffer, Vec::with_capacity(Self::PIECE)));
        self.sender
            .blocking_send(Ok(piece))
            .map_err(|_| std::io::Error::new(std::io::ErrorKind::BrokenPipe, "the client went away"))
    }
}

impl Write for ChannelWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.buffer.extend_from_slice(buf);
        if self.buffer.len() >= Self::PIECE {
            self.send()?;
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.send()
    }
}

async fn export(State(shared): State<Shared>, headers: HeaderMap, Query(query): Query<ExportQuery>) -> Response {
    if let Err((status, e)) = authorize(&shared.app, &headers, Needs::Operator) {
        return refusal(status, e);
    }
    let head = shared.app.head().position;
    let through = match query.through {
        None => head,
        Some(n) if n <= head.get() => Position::new(n),
        Some(n) => return failed(ApiError::invalid(format!("through={n} is past the head, {head}"))),
    };
    let permit = match slot(&shared.operations.export) {
        Some(permit) => permit,
        None => return busy("exports"),
    };
    let (sender, mut receiver) = tokio::sync::mpsc::channel::<Result<Bytes, std::io::Error>>(8);
    let app = Arc::clone(&shared.app);
    tokio::task::spawn_blocking(move || {
        let _permit = permit;
        let mut out = ChannelWriter { buffer: Vec::with_capacity(ChannelWriter::PIECE), sender: sender.clone() };
        match app.export_through(through, &mut out) {
            Ok(count) => tracing::info!(events = count, "exported"),
            Err(e) => {
                // Cut the body short: the client sees fewer lines than the header promised.
                let _ = sender.blocking_send(Err(std::io::Error::other(e.message)));
            }
        }
    });
    let stream = futures::stream::poll_fn(move |cx| receiver.poll_recv(cx));
    let mut response = Response::new(Body::from_stream(stream));
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/jsonl"));
    headers.insert(EXPORT_THROUGH, HeaderValue::from(through.get()));
    response
}

async fn verify(State(shared): State<Shared>, headers: HeaderMap) -> Response {
    if let Err((status, e)) = authorize(&shared.app, &headers, Needs::Operator) {
        return refusal(status, e);
    }
    let permit = match slot(&shared.operations.verify) {
        Some(permit) => permit,
        None => return busy("verifications"),
    };
    let app = Arc::clone(&shared.app);
    let verified = tokio::task::spawn_blocking(move || app.verify_now()).await;
    drop(permit);
    match verified {
        Ok(Ok(report)) => axum::Json(report).into_response(),
        Ok(Err(reason)) => failed(ApiError::new(Code::Internal, format!("verification failed: {reason}"))),
        Err(e) => failed(ApiError::internal(&e)),
    }
}

async fn import(State(shared): State<Shared>, headers: HeaderMap, body: Body) -> Response {
    let caller = match authorize(&shared.app, &headers, Needs::Writer) {
        Ok(caller) => caller,
        Err((status, e)) => return refusal(status, e),
    };
    // The slot first, then the body: a second import is refused before its file is read.
    let _permit = match slot(&shared.operations.import) {
        Some(permit) => permit,
        None => return busy("imports"),
    };
    if let Err(e) = shared.app.writes_allowed() {
        return failed(e);
    }
    let body = match axum::body::to_bytes(body, shared.config.max_import_bytes).await {
        Ok(body) => body,
        Err(_) => {
            let message = format!(
                "the file is larger than the {} bytes an import may be, or was cut short",
                shared.config.max_import_bytes
            );
            return refusal(StatusCode::PAYLOAD_TOO_LARGE, ApiError::invalid(message));
        }
    };
    let app = Arc::clone(&shared.app);
    let outcome = blocking(move || {
        let lines = ledger::jsonl::read_lines(body.as_ref(), &mut |_| {})?;
        if lines.is_empty() {
            return Err(ApiError::invalid("the file holds no events; nothing was imported"));
        }
        app.import_lines(lines).map_err(|e| match e {
            crate::app::ImportError::Rejected { line, rejection } => {
                let code = ApiError::from(rejection.clone()).code;
                ApiError::new(code, format!("line {line}: {rejection}"))
            }
            crate::app::ImportError::Ledger(e) => e.into(),
            crate::app::ImportError::Fold(e) => ApiError::internal(&e),
        })
    })
    .await;
    match outcome {
        Ok(imported) => {
            let by = match &caller {
                Caller::Token { name, .. } => name.as_str(),
                _ => "",
            };
            tracing::info!(appended = imported.appended, already = imported.already_stored, %by, "imported");
            axum::Json(imported).into_response()
        }
        Err(e) => {
            tracing::info!(error = %e.message, "import refused");
            failed(e)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_verification_two_exports_and_one_import_at_once_the_next_is_429() {
        let operations = Operations::default();
        let verifying = slot(&operations.verify).expect("the first");
        assert!(slot(&operations.verify).is_none(), "the second waits for none");
        drop(verifying);
        assert!(slot(&operations.verify).is_some(), "free again once the first is done");
        let exports = [slot(&operations.export), slot(&operations.export)];
        assert!(exports.iter().all(Option::is_some));
        assert!(slot(&operations.export).is_none());
        let _import = slot(&operations.import).expect("the first");
        assert!(slot(&operations.import).is_none());
        let refused = busy("imports");
        assert_eq!(refused.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(refused.headers()[header::RETRY_AFTER], "5");
    }
}
