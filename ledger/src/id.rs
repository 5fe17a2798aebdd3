//! Typed identifiers: entity slugs, event ids, stream names and log positions.
//!
//! Every id that crosses the ledger's edge is validated once, here, so that code past the edge never
//! sees a bare string. Slugs are short lowercase ASCII names (`hok`, `stockholm`, `vis`,
//! `stockholm-kf-2022-06-13-93`): they appear in stream names, URLs and GraphQL ids, so they are kept
//! to characters that need no escaping anywhere.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// The longest slug accepted, in bytes.
pub const MAX_SLUG_LEN: usize = 64;

/// Why a string is not a valid slug.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "invalid id {given:?}: ids are 1–{MAX_SLUG_LEN} lowercase ASCII letters, digits and hyphens, \
     starting with a letter or digit"
)]
pub struct InvalidSlug {
    /// The rejected input.
    pub given: String,
}

/// Checks the slug grammar: `[a-z0-9][a-z0-9-]{0,63}`.
fn check_slug(s: &str) -> Result<(), InvalidSlug> {
    let bytes = s.as_bytes();
    let first_ok = bytes.first().is_some_and(|b| b.is_ascii_lowercase() || b.is_ascii_digit());
    let rest_ok = bytes.iter().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'-');
    if first_ok && rest_ok && bytes.len() <= MAX_SLUG_LEN { Ok(()) } else { Err(InvalidSlug { given: s.to_owned() }) }
}

macro_rules! slug_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub struct $name(String);

        impl $name {
            /// Validates and wraps a slug.
            pub fn new(s: impl Into<String>) -> Result<Self, InvalidSlug> {
                let s = s.into();
                check_slug(&s)?;
                Ok(Self(s))
            }

            /// The slug as text.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl FromStr for $name {
            type Err = InvalidSlug;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Self::new(s)
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(&self.0)
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let s = String::deserialize(deserializer)?;
                Self::new(s).map_err(serde::de::Error::custom)
            }
        }
    };
}

slug_id!(
    /// A party to the agreements: Region Stockholm, a municipality, KSON.
    PartyId
);
slug_id!(
    /// A district (stadsdel) of a municipality, e.g. Stockholm's Bromma.
    DistrictId
);
slug_id!(
    /// A decision-making body: a council, board, committee or steering group.
    BodyId
);
slug_id!(
    /// A recorded decision (protocol paragraph, steering-group decision, …).
    DecisionId
);
slug_id!(
    /// An agreement: the HÖK, the guideline, a subject-area agreement, …
    AgreementId
);
slug_id!(
    /// A group in the collaboration's organisation: VIS, a samrådsgrupp, a working group, …
    GroupId
);
slug_id!(
    /// An escalation case (deviation or interpretation dispute).
    CaseId
);
slug_id!(
    /// A statutory duty to have an agreement (HÖK 5; Förstudie 8), e.g. `missbruk-beroende`.
    DutyId
);
slug_id!(
    /// A reported problem in collaboration (Riktlinje 8.6).
    ProblemId
);
slug_id!(
    /// Any other named thing an event may point at: an organisation that is not a party
    /// (`storsthlm`, `hsf`), or an area that is either a municipality or a district.
    Slug
);

/// The globally unique id of an event. A client that supplies it gets idempotent appends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct EventId(uuid::Uuid);

impl EventId {
    /// A fresh random (version 4) id.
    pub fn new_random() -> Self {
        Self(uuid::Uuid::new_v4())
    }

    /// Wraps an existing UUID.
    pub fn from_uuid(uuid: uuid::Uuid) -> Self {
        Self(uuid)
    }

    /// The UUID.
    pub fn as_uuid(&self) -> &uuid::Uuid {
        &self.0
    }

    /// The 16 bytes of the UUID, as used in the id index.
    pub fn as_bytes(&self) -> &[u8; 16] {
        self.0.as_bytes()
    }
}

impl fmt::Display for EventId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.hyphenated().fmt(f)
    }
}

impl FromStr for EventId {
    type Err = uuid::Error;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        uuid::Uuid::parse_str(s).map(Self)
    }
}

/// A position in the global log: gapless, starting at 1.
///
/// Invariant: positions are assigned by the ledger in append order; position `n` exists only if
/// every position in `1..n` exists.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Position(u64);

impl Position {
    /// The position of the first event.
    pub const FIRST: Position = Position(1);

    /// Wraps a raw position. `0` means "before the first event" wherever a cursor is meant.
    pub const fn new(raw: u64) -> Self {
        Self(raw)
    }

    /// The raw number.
    pub const fn get(self) -> u64 {
        self.0
    }

    /// The next position.
    pub const fn next(self) -> Self {
        Self(self.0 + 1)
    }

    /// The big-endian key under which the event is stored: sled orders keys bytewise, so
    /// iteration order is append order.
    pub const fn to_key(self) -> [u8; 8] {
        self.0.to_be_bytes()
    }

    /// Reads a big-endian key; `None` if it is not 8 bytes.
    pub fn from_key(key: &[u8]) -> Option<Self> {
        let bytes: [u8; 8] = key.try_into().ok()?;
        Some(Self(u64::from_be_bytes(bytes)))
    }
}

impl fmt::Display for Position {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// The name of a stream: `party/<id>`, `agreement/<id>`, `group/<id>`, `case/<id>`, `body/<id>`,
/// `decision/<id>`, `problem/<id>`, `followup/<year>` or `county`.
///
/// Every event belongs to exactly one stream, derived from its data; each stream has its own gapless
/// version counter starting at 1, used for optimistic concurrency.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct StreamId(String);

/// Why a string is not a stream name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "invalid stream {given:?}: expected county, followup/<year> or \
     party|agreement|group|case|body|decision|problem|duty/<id>"
)]
pub struct InvalidStream {
    /// The rejected input.
    pub given: String,
}

impl StreamId {
    /// The stream of county-wide facts: coordinators, priority areas, funds.
    pub fn county() -> Self {
        Self("county".to_owned())
    }

    /// The stream of a follow-up year.
    pub fn followup(year: i32) -> Self {
        Self(format!("followup/{year}"))
    }

    /// `<kind>/<slug>` for an entity stream.
    pub(crate) fn entity(kind: &str, slug: &str) -> Self {
        Self(format!("{kind}/{slug}"))
    }

    /// A stream name as a stored record holds it, taken as it is (as deserializing one does).
    pub(crate) fn stored(name: &str) -> Self {
        Self(name.to_owned())
    }

    /// Parses and validates a stream name.
    pub fn parse(s: &str) -> Result<Self, InvalidStream> {
        let bad = || InvalidStream { given: s.to_owned() };
        if s == "county" {
            return Ok(Self::county());
        }
        let (kind, rest) = s.split_once('/').ok_or_else(bad)?;
        match kind {
            "followup" => rest.parse::<i32>().map(Self::followup).map_err(|_| bad()),
            "party" | "agreement" | "group" | "case" | "body" | "decision" | "problem" | "duty" => {
                check_slug(rest).map_err(|_| bad())?;
                Ok(Self::entity(kind, rest))
            }
            _ => Err(bad()),
        }
    }

    /// The name as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A stream is looked up by its name (a set of streams asked whether it holds a name): sound, since
/// `Eq`, `Ord` and `Hash` are derived from the name alone.
impl std::borrow::Borrow<str> for StreamId {
    fn borrow(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for StreamId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugs_accept_lowercase_digits_and_hyphens() {
        for ok in ["hok", "stockholm-kf-2022-06-13-93", "2018", "a"] {
            assert!(PartyId::new(ok).is_ok(), "{ok}");
        }
        let long = "a".repeat(MAX_SLUG_LEN + 1);
        for bad in ["", "Hok", "-hok", "hök", "a b", "a/b", "a_b", long.as_str()] {
            assert!(PartyId::new(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn stream_names_round_trip_and_reject_junk() {
        for ok in ["county", "followup/2023", "agreement/hok", "party/stockholm"] {
            assert_eq!(StreamId::parse(ok).map(|s| s.0), Ok(ok.to_owned()));
        }
        for bad in ["", "agreement", "agreement/", "agreement/Hok", "followup/x", "other/a"] {
            assert!(StreamId::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn position_keys_sort_in_append_order() {
        let a = Position::new(255).to_key();
        let b = Position::new(256).to_key();
        assert!(a < b);
        assert_eq!(Position::from_key(&b), Some(Position::new(256)));
        assert_eq!(Position::from_key(&[1, 2]), None);
    }
}
