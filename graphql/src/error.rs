//! Turning failures into API errors, in one place: every error a client sees carries
//! `extensions.code` (API.md §2) and a message a person understands, over HTTP and WebSocket alike.
//! Ledger errors and the projections' rejections become [`ApiError`]s here; async-graphql's own
//! parse and validation errors get their code from [`coded`], which the schema's executor applies
//! to every response of every transport (a request over HTTP, each response of an operation's
//! stream over the WebSocket). Internal details are logged once here and never sent.

use async_graphql::{ErrorExtensions, Response, ServerError};
use ledger::LedgerError;
use projections::{Rejection, RejectionCode};

/// The error codes of API.md §2, plus `INTERNAL` for what the client cannot fix, the codes of the
/// server's bounds (issue 20): `TIMEOUT`, `TOO_MANY_REQUESTS`, `OVERLOADED`, `RESPONSE_TOO_LARGE`,
/// and of its storage (issue 20): `STORAGE_FULL`, `UNAVAILABLE`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Code {
    /// No or unknown token.
    Unauthenticated,
    /// The token's role may not do this.
    Forbidden,
    /// An id that does not exist.
    NotFound,
    /// A lost optimistic-concurrency race, or a reused event id.
    Conflict,
    /// A domain rule forbids the command.
    RuleViolation,
    /// Malformed input.
    InvalidInput,
    /// An automatic persisted query (APQ) sent by its hash alone, and the server does not know the
    /// hash: the client sends the query again with its hash (Apollo's protocol; the message is
    /// `PersistedQueryNotFound`, which Apollo's clients also match).
    PersistedQueryNotFound,
    /// Something on the server's side; details are in its log.
    Internal,
    /// The request's deadline passed before its answer was ready (HTTP 408); the work stopped.
    Timeout,
    /// This client has as many requests running as it may (HTTP 429); retry when one has finished.
    TooManyRequests,
    /// The server holds as many connections as it may (HTTP 503); retry shortly.
    Overloaded,
    /// The answer would be larger than the server sends; ask for less.
    ResponseTooLarge,
    /// The disk holding the ledger is full (or its quota used up): the write was not recorded.
    /// Reads go on; retry the write once space is freed (with the same `eventId`, safely).
    StorageFull,
    /// The ledger cannot write to its storage for another reason (a failed sync, an IO error):
    /// the write was not acknowledged. Reads go on; the server's log has the details.
    Unavailable,
}

impl Code {
    /// The SCREAMING_CASE code.
    pub fn as_str(self) -> &'static str {
        match self {
            Code::Unauthenticated => "UNAUTHENTICATED",
            Code::Forbidden => "FORBIDDEN",
            Code::NotFound => "NOT_FOUND",
            Code::Conflict => "CONFLICT",
            Code::RuleViolation => "RULE_VIOLATION",
            Code::InvalidInput => "INVALID_INPUT",
            Code::PersistedQueryNotFound => "PERSISTED_QUERY_NOT_FOUND",
            Code::Internal => "INTERNAL",
            Code::Timeout => "TIMEOUT",
            Code::TooManyRequests => "TOO_MANY_REQUESTS",
            Code::Overloaded => "OVERLOADED",
            Code::ResponseTooLarge => "RESPONSE_TOO_LARGE",
            Code::StorageFull => "STORAGE_FULL",
            Code::Unavailable => "UNAVAILABLE",
        }
    }
}

/// An error for a GraphQL client.
///
/// Deliberately not `Display`: async-graphql converts any `Display` type into an error without
/// `extensions.code`, and every error must carry one. Conversion goes through `From` below only.
#[derive(Debug, Clone)]
pub struct ApiError {
    /// The code.
    pub code: Code,
    /// The message.
    pub message: String,
}

impl ApiError {
    /// An error with a code and message.
    pub fn new(code: Code, message: impl Into<String>) -> Self {
        Self { code, message: message.into() }
    }

    /// `INVALID_INPUT`.
    pub fn invalid(message: impl Into<String>) -> Self {
        Self::new(Code::InvalidInput, message)
    }

    /// `NOT_FOUND`.
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(Code::NotFound, message)
    }

    /// `INTERNAL`, after logging the cause.
    pub fn internal(cause: &dyn std::fmt::Display) -> Self {
        tracing::error!(error = %cause, "internal error");
        Self::new(Code::Internal, "internal error; the server's log has the details")
    }
}

impl From<ApiError> for async_graphql::Error {
    fn from(e: ApiError) -> Self {
        async_graphql::Error::new(e.message).extend_with(|_, ext| ext.set("code", e.code.as_str()))
    }
}

impl From<LedgerError> for ApiError {
    fn from(e: LedgerError) -> Self {
        match &e {
            LedgerError::InvalidEvent(_)
            | LedgerError::Import { .. }
            | LedgerError::RecordTimeBackwards { .. }
            | LedgerError::RecordTimeInFuture { .. }
            | LedgerError::Proof(_) => ApiError::invalid(e.to_string()),
            LedgerError::UnknownEvent(_) => ApiError::not_found(e.to_string()),
            LedgerError::IdReused { .. } | LedgerError::Conflict { .. } => ApiError::new(Code::Conflict, e.to_string()),
            // The disk is full however it showed (the writer's check, or sled's own ENOSPC): the
            // ledger's message says whether writes resume by themselves.
            LedgerError::StorageFull { .. } => ApiError::new(Code::StorageFull, e.to_string()),
            _ if e.is_out_of_space() => {
                tracing::error!(error = %e, "the disk holding the ledger is full");
                ApiError::new(Code::StorageFull, LedgerError::StorageFull { resumes: false }.to_string())
            }
            _ if e.is_write_unavailable() => {
                tracing::error!(error = %e, "the ledger cannot write to its storage");
                ApiError::new(
                    Code::Unavailable,
                    "the ledger cannot write to its storage; nothing was acknowledged; the server's log has the details",
                )
            }
            LedgerError::Io(_)
            | LedgerError::Storage(_)
            | LedgerError::NotALedger { .. }
            | LedgerError::InUse { .. }
            | LedgerError::Corrupt { .. }
            | LedgerError::ChainBroken { .. }
            | LedgerError::Gap { .. }
            | LedgerError::UnsupportedSchema { .. }
            | LedgerError::Poisoned
            | LedgerError::Closed => ApiError::internal(&e),
        }
    }
}

impl From<projections::ProjectionError> for ApiError {
    fn from(e: projections::ProjectionError) -> Self {
        match &e {
            // Logged once, where it is first seen (`LiveProjections::health`): every answer after
            // it is refused with it.
            projections::ProjectionError::Unreadable { .. } => ApiError::new(Code::Unavailable, e.to_string()),
            _ => ApiError::internal(&e),
        }
    }
}

impl From<Rejection> for ApiError {
    fn from(rejection: Rejection) -> Self {
        let code = match rejection.code {
            RejectionCode::NotFound => Code::NotFound,
            RejectionCode::RuleViolation => Code::RuleViolation,
            RejectionCode::InvalidInput => Code::InvalidInput,
        };
        ApiError::new(code, rejection.message)
    }
}

impl ApiError {
    /// The error as a whole GraphQL response body, `{"errors": [{message, extensions: {code}}]}`,
    /// for a request refused before GraphQL runs (not JSON, too large, no query).
    pub fn into_response_body(self) -> serde_json::Value {
        serde_json::json!({"errors": [{"message": readable_message(&self.message), "extensions": {"code": self.code.as_str()}}]})
    }
}

/// The message of the persisted-query protocol (`schema/persisted.rs`, async-graphql's message) for
/// a hash it does not know; Apollo's clients match it (and the code
/// [`Code::PersistedQueryNotFound`]) to send the whole query.
const PERSISTED_QUERY_NOT_FOUND: &str = "PersistedQueryNotFound";

/// Gives every error of a response a code and a message of readable length. Resolver errors carry
/// their code already; what is left are async-graphql's own parse and validation errors (syntax,
/// unknown fields, wrong enum values, malformed scalars, depth and complexity limits), all of which
/// are the client's input, and the persisted-query protocol's unknown hash.
fn with_codes(errors: &mut [ServerError]) {
    for error in errors {
        error.message = readable_message(&error.message);
        let code = if error.message == PERSISTED_QUERY_NOT_FOUND && error.path.is_empty() {
            Code::PersistedQueryNotFound
        } else {
            Code::InvalidInput
        };
        let extensions = error.extensions.get_or_insert_with(Default::default);
        if extensions.get("code").is_none() {
            extensions.set("code", code.as_str());
        }
    }
}

/// Whether a response is a request error: the request failed before execution began (it could not
/// be parsed, failed validation or variable coercion, was over a limit or named an unknown
/// persisted query), so there is no `data` at all – as opposed to a response whose execution
/// began and whose `data` may be null because a field failed.
///
/// async-graphql does not say which it was, but the errors do: an execution error belongs to a
/// field and always carries that field's `path`, while nothing before execution has a path.
/// The HTTP handlers answer a request error with 400 (in the GraphQL response media type) and no
/// `data` key, and the WebSocket with an `error` message.
pub(crate) fn is_request_error(response: &Response) -> bool {
    response.data == async_graphql::Value::Null
        && !response.errors.is_empty()
        && response.errors.iter().all(|error| error.path.is_empty())
}

/// A response with [`with_codes`] applied: every error has its code and a readable message. The
/// schema's executor (`schema/bounds.rs`) passes every response through here – a request's over
/// HTTP, and each response of an operation's stream over the WebSocket (where queries and mutations
/// run as streams too) – so that this stays the one place codes are given. (It was a schema
/// extension; any extension at all sends every field through async-graphql's slow path, issue 19.)
pub(crate) fn coded(mut response: Response) -> Response {
    with_codes(&mut response.errors);
    response
}

/// Shorthand for resolver results.
pub(crate) type ApiResult<T> = Result<T, async_graphql::Error>;

/// The longest quoted value a message repeats in full.
const MAX_QUOTED_CHARS: usize = 60;
/// The longest message a client or a CLI user is shown.
const MAX_MESSAGE_CHARS: usize = 1_000;

/// A message fit to show: messages quote the input they refuse (`invalid id "…"`), and a huge input
/// must not make a huge message. Every quoted value over 60 characters keeps its first 40 and says
/// how long it was; what is still over 1 000 characters is cut.
pub(crate) fn readable_message(message: &str) -> String {
    let mut out = String::with_capacity(message.len().min(MAX_MESSAGE_CHARS + 64));
    let mut chars = message.chars();
    while let Some(c) = chars.next() {
        out.push(c);
        if c != '"' {
            continue;
        }
        // A quoted value, as `{:?}` writes it: up to the next unescaped quote on the same line.
        // A lone quote (a parser's excerpt of the query, say) is left as it is.
        let rest = chars.as_str();
        let mut escaped = false;
        let end = rest.char_indices().find_map(|(i, q)| {
            let closes = q == '"' && !escaped;
            escaped = q == '\\' && !escaped;
            (closes || q == '\n').then_some((i, closes))
        });
        let Some((end, true)) = end else { continue };
        let quoted = &rest[..end];
        let length = quoted.chars().count();
        if length > MAX_QUOTED_CHARS {
            out.extend(quoted.chars().take(40));
            out.push_str(&format!("… ({length} characters)"));
        } else {
            out.push_str(quoted);
        }
        out.push('"');
        chars = rest[end + 1..].chars();
    }
    if out.chars().count() > MAX_MESSAGE_CHARS {
        out = out.chars().take(MAX_MESSAGE_CHARS).collect();
        out.push('…');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::readable_message;

    #[test]
    fn long_quoted_values_are_shortened_and_the_rest_is_kept() {
        let long = "a".repeat(100);
        let message = format!("invalid id {long:?}: ids are 1–64 lowercase letters");
        assert_eq!(
            readable_message(&message),
            format!("invalid id \"{}… (100 characters)\": ids are 1–64 lowercase letters", "a".repeat(40))
        );
        assert_eq!(readable_message("unknown type \"Nonsense\""), "unknown type \"Nonsense\"");
        assert_eq!(readable_message("a \"quote with \\\" inside\" ends"), "a \"quote with \\\" inside\" ends");
        assert_eq!(readable_message(&"x".repeat(5_000)).chars().count(), 1_001);
        let excerpt = format!("1 | {{ agreement(id: \"hok) {{ id }} }}{}\n  = expected", " ".repeat(80));
        assert_eq!(readable_message(&excerpt), excerpt, "a lone quote is not a quoted value");
    }
}
