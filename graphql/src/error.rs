//! Turning failures into GraphQL errors, in one place: every error a client sees carries
//! `extensions.code` (API.md §2) and a message a person understands. Internal details are logged once
//! here and never sent.

use async_graphql::ErrorExtensions;
use ledger::LedgerError;

/// The error codes of API.md §2, plus `INTERNAL` for what the client cannot fix.
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
    /// Something on the server's side; details are in its log.
    Internal,
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
            Code::Internal => "INTERNAL",
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
            | LedgerError::RecordTimeInFuture { .. } => ApiError::invalid(e.to_string()),
            LedgerError::UnknownEvent(_) => ApiError::not_found(e.to_string()),
            LedgerError::IdReused { .. } | LedgerError::Conflict { .. } => ApiError::new(Code::Conflict, e.to_string()),
            LedgerError::Io(_)
            | LedgerError::Storage(_)
            | LedgerError::NotALedger { .. }
            | LedgerError::Corrupt { .. }
            | LedgerError::ChainBroken { .. }
            | LedgerError::Gap { .. }
            | LedgerError::UnsupportedSchema { .. }
            | LedgerError::Poisoned
            | LedgerError::Closed => ApiError::internal(&e),
        }
    }
}

/// Shorthand for resolver results.
pub(crate) type ApiResult<T> = Result<T, async_graphql::Error>;
