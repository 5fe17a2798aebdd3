//! Helpers shared by Samverkan's integration tests and their child processes: sample events and a
//! tiny deterministic random source (tests must be reproducible from a printed seed).

pub mod generate;

use ledger::{BodyId, Date, DecisionId, DecisionRecorded, NewEvent, PartyId, PartyKind, PartyRegistered};

/// A `DecisionRecorded` event with a unique decision id; each lands in its own stream.
pub fn decision(id: &str) -> NewEvent {
    let data = DecisionRecorded {
        decision: DecisionId::new(id).expect("test ids are valid slugs"),
        body: BodyId::new("vis").expect("valid slug"),
        reference: None,
        paragraph: None,
        subject: format!("decision {id}"),
        summary: None,
    };
    NewEvent::new(date("2022-06-13"), "tests", data)
}

/// A `PartyRegistered` event.
pub fn party(id: &str) -> NewEvent {
    let data = PartyRegistered {
        party: PartyId::new(id).expect("test ids are valid slugs"),
        name: format!("Party {id}"),
        kind: PartyKind::Municipality,
    };
    NewEvent::new(date("2022-01-01"), "tests", data)
}

/// Parses a date or panics (tests only).
pub fn date(s: &str) -> Date {
    s.parse().expect("test dates are valid")
}

/// xorshift64*: a small deterministic generator, so a failing run can be replayed from its seed.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// A generator from a seed (0 is replaced by a fixed non-zero value).
    pub fn new(seed: u64) -> Self {
        Self(if seed == 0 { 0x9E37_79B9_7F4A_7C15 } else { seed })
    }

    /// A seed from the clock, to be printed by the caller.
    pub fn seed_from_clock() -> u64 {
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(1, |d| d.as_nanos() as u64)
    }

    /// The next value.
    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// A value in `lo..hi`.
    pub fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.next_u64() % (hi - lo).max(1)
    }
}
