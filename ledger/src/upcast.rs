//! Upcasters: how payloads written by an older schema version of an event type are read.
//!
//! No event type has changed shape yet, so every stored record is at schema version 1 and this
//! function only rejects versions it does not know. When a payload's shape changes:
//! 1. bump its number in `encoding::schema_version`,
//! 2. keep the old struct here (e.g. `mod v1 { pub(super) struct PartyAdopted { .. } }`), decode the
//!    old bytes into it and convert to the current `EventData`, as a new arm below,
//! 3. add the old bytes to `golden/` so they are decoded by a test forever.
//!
//! Hashes are always computed over the bytes as stored, never over an upcast re-encoding, so old
//! records keep verifying after an upgrade.

use crate::error::{LedgerError, Result};
use crate::event::EventData;

/// Reads a payload stored at an older (or unknown) schema version.
pub(crate) fn upcast(type_name: &str, version: u16, _payload: &[u8]) -> Result<EventData> {
    Err(LedgerError::UnsupportedSchema { type_name: type_name.to_owned(), version })
}
