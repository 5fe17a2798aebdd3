//! Statutory duties (HÖK 5; Förstudie 8, "Lagkrav om samverkan"): the agreements the law obliges
//! each municipality and the region to have, recorded as `StatutoryDutyRecorded` events (the table
//! is data, so a new law or a new reading is one more event), and on a date which parties an
//! agreement in force fulfils each duty for: an agreement that binds the party and cites one of the
//! duty's provisions (`StatutoryBasisCited`).

use ledger::{AgreementId, ByStream, Date, DutyId, PartyId, PartyKind, Position, Timestamp};

use crate::fold::Horizon;
use crate::{AgreementView, Projections};

/// A statutory duty as it stands on a date, with who fulfils it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DutyView {
    /// Its id.
    pub id: DutyId,
    /// What must be agreed.
    pub title: String,
    /// The provisions that require it.
    pub references: Vec<String>,
    /// The day the duty (as last recorded by the date) applies from.
    pub since: Date,
    /// Each municipality and the region registered on the date, with the agreements in force that
    /// fulfil the duty for it (none: the duty is unmet for that party).
    pub parties: Vec<DutyCoverage>,
    /// The duty's events.
    pub because: Vec<Position>,
}

/// One party's standing under a duty.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DutyCoverage {
    /// The party.
    pub party: PartyId,
    /// The agreements in force that bind it and cite one of the duty's provisions.
    pub agreements: Vec<AgreementId>,
}

impl Projections {
    /// Every statutory duty that applies on `at`, as known at `as_known_at`, in recording order.
    pub fn statutory_duties(&self, at: Date, as_known_at: Timestamp) -> Vec<DutyView> {
        let agreements = self.agreements(at, as_known_at);
        self.duties.all().iter().filter_map(|id| self.duty_with(id, at, as_known_at, &agreements)).collect()
    }

    /// One statutory duty on `at`, as known at `as_known_at`.
    pub fn statutory_duty(&self, id: &DutyId, at: Date, as_known_at: Timestamp) -> Option<DutyView> {
        self.duty_with(id, at, as_known_at, &self.agreements(at, as_known_at))
    }

    /// The duty on `at` against the agreements of that date.
    pub(crate) fn duty_with(
        &self,
        id: &DutyId,
        at: Date,
        known: Timestamp,
        agreements: &[AgreementView],
    ) -> Option<DutyView> {
        let visible = self.visible_entity("duty", id.as_str(), Horizon::new(at, known));
        // The last reading recorded for a date on or before `at` is the one that applies.
        let (recorded, since) = visible.events.iter().rev().find_map(|e| match e.data().by_stream() {
            ByStream::Duty(d) if e.effective() <= at => Some((d.clone(), e.effective())),
            _ => None,
        })?;
        let obliged = self
            .parties(at, known)
            .into_iter()
            .filter(|p| matches!(p.kind, PartyKind::Municipality | PartyKind::Region))
            .map(|p| p.id);
        let parties = obliged
            .map(|party| DutyCoverage {
                agreements: agreements
                    .iter()
                    .filter(|a| a.in_force && a.statutory_basis.iter().any(|r| recorded.references.contains(r)))
                    .filter(|a| a.parties.iter().any(|p| p.party == party && p.bound))
                    .map(|a| a.id.clone())
                    .collect(),
                party,
            })
            .collect();
        Some(DutyView {
            id: recorded.duty,
            title: recorded.title,
            references: recorded.references,
            since,
            parties,
            because: visible.events.iter().filter(|e| e.effective() <= at).map(|e| e.position()).collect(),
        })
    }
}
