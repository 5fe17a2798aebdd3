//! The `Date` and `DateTime` scalars: valid time as `YYYY-MM-DD`, record time as RFC 3339 UTC. Both
//! reject malformed input with a message that shows the expected form. Also the two time axes every
//! read takes, and the parsing of id arguments.

use async_graphql::{InputValueError, InputValueResult, Scalar, ScalarType, Value};

/// A calendar date, `YYYY-MM-DD` (valid time).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(super) struct Date(pub ledger::Date);

#[Scalar(name = "Date")]
impl ScalarType for Date {
    fn parse(value: Value) -> InputValueResult<Self> {
        match &value {
            Value::String(s) => {
                s.parse().map(Date).map_err(|e: ledger::InvalidTime| InputValueError::custom(e.to_string()))
            }
            _ => Err(InputValueError::custom("a Date is a string YYYY-MM-DD, e.g. \"2022-09-05\"")),
        }
    }

    fn to_value(&self) -> Value {
        Value::String(self.0.to_string())
    }
}

/// An instant, RFC 3339 in UTC (record time), e.g. `2022-06-20T09:12:44Z`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(super) struct DateTime(pub ledger::Timestamp);

#[Scalar(name = "DateTime")]
impl ScalarType for DateTime {
    fn parse(value: Value) -> InputValueResult<Self> {
        match &value {
            Value::String(s) => {
                s.parse().map(DateTime).map_err(|e: ledger::InvalidTime| InputValueError::custom(e.to_string()))
            }
            _ => Err(InputValueError::custom("a DateTime is an RFC 3339 string, e.g. \"2022-06-20T09:12:44Z\"")),
        }
    }

    fn to_value(&self) -> Value {
        Value::String(self.0.to_string())
    }
}

/// The two time axes of a question: `at` (valid time, default today) and `asKnownAt` (record time,
/// default now).
#[derive(Debug, Clone, Copy)]
pub(super) struct Axes {
    pub at: ledger::Date,
    pub known: ledger::Timestamp,
}

impl Axes {
    /// The axes of a query's arguments, with their defaults.
    pub(super) fn new(at: Option<Date>, as_known_at: Option<DateTime>) -> Self {
        Self {
            at: at.map_or_else(ledger::Date::today_utc, |d| d.0),
            known: as_known_at.map_or_else(ledger::Timestamp::now, |t| t.0),
        }
    }
}

/// An entity id argument (a slug), or `INVALID_INPUT` saying what an id looks like.
pub(super) fn parse_id<T: std::str::FromStr<Err = ledger::InvalidSlug>>(id: &str) -> Result<T, crate::error::ApiError> {
    id.parse().map_err(|e: ledger::InvalidSlug| crate::error::ApiError::invalid(e.to_string()))
}
