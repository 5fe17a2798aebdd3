//! Samverkan's projections: folding the ledger's events into the state of agreements, parties,
//! groups, cases and follow-up on both time axes. Not built yet (issue 3); the crate exists so the
//! workspace has its final shape.
