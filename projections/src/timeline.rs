//! Questions over a span of time: what changed between two valid dates, and which deadlines fall in
//! a span.

use std::collections::BTreeSet;

use ledger::{AgreementId, CaseId, CaseLevel, Date, GroupId, PartyId, Position, Timestamp};

use crate::fold::Horizon;
use crate::organisation::CaseStatus;
use crate::{AgreementStatus, AgreementView, Projections, rules};

/// What changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChangeKind {
    /// The agreement came into force.
    EnteredIntoForce {
        /// The agreement.
        agreement: AgreementId,
    },
    /// The agreement stopped applying; its new status says why.
    Ended {
        /// The agreement.
        agreement: AgreementId,
        /// TERMINATED, EXPIRED or SUPERSEDED.
        status: AgreementStatus,
    },
    /// The agreement's status changed otherwise (e.g. to CONTINUATION_PENDING, BLOCKED).
    StatusChanged {
        /// The agreement.
        agreement: AgreementId,
        /// The status before.
        from: AgreementStatus,
        /// The status after.
        to: AgreementStatus,
    },
    /// Another version began to apply.
    VersionChanged {
        /// The agreement.
        agreement: AgreementId,
        /// The version that now applies.
        version: Option<u32>,
    },
    /// The agreement began to bind a party.
    PartyJoined {
        /// The agreement.
        agreement: AgreementId,
        /// The party.
        party: PartyId,
    },
    /// The agreement stopped binding a party while it still applies.
    PartyLeft {
        /// The agreement.
        agreement: AgreementId,
        /// The party.
        party: PartyId,
    },
    /// A group began to exist.
    GroupEstablished {
        /// The group.
        group: GroupId,
    },
    /// A group stopped existing (dissolved or past its end date).
    GroupEnded {
        /// The group.
        group: GroupId,
    },
    /// A person's membership began.
    MemberAppointed {
        /// The group.
        group: GroupId,
        /// The person's name.
        person: String,
    },
    /// A person's membership ended.
    MemberLeft {
        /// The group.
        group: GroupId,
        /// The person's name.
        person: String,
    },
    /// A case was opened, escalated, resolved or withdrawn.
    CaseMoved {
        /// The case.
        case: CaseId,
        /// Its level after the step.
        level: CaseLevel,
        /// Its status after the step.
        status: CaseStatus,
    },
}

/// A change on a day.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    /// The first day of the new state.
    pub on: Date,
    /// What changed.
    pub kind: ChangeKind,
    /// The events the new state rests on.
    pub because: Vec<Position>,
}

/// What falls due.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeadlineKind {
    /// The last day for the parties' answers to a recommendation.
    ResponseDue {
        /// The agreement.
        agreement: AgreementId,
        /// The version.
        version: u32,
        /// The parties that have not answered (as known).
        pending: Vec<PartyId>,
    },
    /// A party leaves after its notice (the first day it no longer takes part).
    NoticePeriodEnds {
        /// The agreement.
        agreement: AgreementId,
        /// The party.
        party: PartyId,
    },
    /// The remaining parties have yet to decide on continuation; the date is when the noticing
    /// municipality leaves.
    ContinuationDecisionPending {
        /// The agreement.
        agreement: AgreementId,
        /// The noticing party.
        party: PartyId,
    },
    /// The last day a version applies.
    VersionExpires {
        /// The agreement.
        agreement: AgreementId,
        /// The version.
        version: u32,
    },
    /// 30 April: the health centres' choice of coordinating health centre (seed 003).
    HealthCentreDesignation {
        /// The year.
        year: i32,
    },
    /// 31 December: the last day to decide the next year's follow-up plan (HÖK 6).
    FollowUpPlanDue {
        /// The year to be followed up.
        year: i32,
    },
    /// 31 December: the year's annual dialogue must have been held (HÖK 6).
    AnnualDialogueDue {
        /// The year.
        year: i32,
    },
    /// The first day a time-limited group no longer exists.
    GroupEnds {
        /// The group.
        group: GroupId,
    },
}

/// A deadline on a day.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Deadline {
    /// The day.
    pub on: Date,
    /// What falls due.
    pub kind: DeadlineKind,
}

fn year_end(year: i32) -> Option<Date> {
    Date::from_ymd(year, 12, 31)
}

/// Compares an agreement on two consecutive days.
fn agreement_changes(before: Option<&AgreementView>, after: &AgreementView, on: Date, out: &mut Vec<Change>) {
    let id = after.id.clone();
    let mut push = |kind| out.push(Change { on, kind, because: after.because.clone() });
    let (was_in_force, was_status, was_version) =
        before.map_or((false, AgreementStatus::Draft, None), |b| (b.in_force, b.status, b.version));
    if !was_in_force && after.in_force {
        push(ChangeKind::EnteredIntoForce { agreement: id.clone() });
    } else if was_in_force && !after.in_force {
        push(ChangeKind::Ended { agreement: id.clone(), status: after.status });
    } else if before.is_some() && was_status != after.status {
        push(ChangeKind::StatusChanged { agreement: id.clone(), from: was_status, to: after.status });
    }
    if was_in_force && after.in_force && was_version != after.version {
        push(ChangeKind::VersionChanged { agreement: id.clone(), version: after.version });
    }
    for p in &after.parties {
        let was_bound = before.is_some_and(|b| b.binds(&p.party));
        if p.bound && !was_bound {
            push(ChangeKind::PartyJoined { agreement: id.clone(), party: p.party.clone() });
        } else if !p.bound && was_bound && after.in_force {
            push(ChangeKind::PartyLeft { agreement: id.clone(), party: p.party.clone() });
        }
    }
}

impl Projections {
    /// What changed on any day from `from` to `to` (both included), as known at `as_known_at`: each
    /// day is compared with the day before. Ordered by day.
    pub fn changes(&self, from: Date, to: Date, as_known_at: Timestamp) -> Vec<Change> {
        let mut out = Vec::new();
        if to < from {
            return out;
        }
        let in_span = |d: &Date| from <= *d && *d <= to;
        let everything = Horizon::everything(as_known_at);
        for id in self.agreements.all() {
            self.changes_of_agreement(id, from, to, as_known_at, &mut out);
        }
        for id in self.groups.all() {
            let Some(latest) = self.group(id, to, as_known_at) else { continue };
            let mut days: BTreeSet<Date> =
                self.visible_entity("group", id.as_str(), everything).events.iter().map(|e| e.effective()).collect();
            days.extend(latest.ends_on);
            days.extend(latest.member_history.iter().filter_map(|m| m.until.map(Date::next_day)));
            for day in days.into_iter().filter(in_span) {
                let Some(after) = self.group(id, day, as_known_at) else { continue };
                let before = self.group(id, day.previous_day(), as_known_at);
                let was_active = before.as_ref().is_some_and(|b| b.active);
                let mut push = |kind| out.push(Change { on: day, kind, because: after.because.clone() });
                if after.active && !was_active {
                    push(ChangeKind::GroupEstablished { group: id.clone() });
                } else if !after.active && was_active {
                    push(ChangeKind::GroupEnded { group: id.clone() });
                }
                let names = |g: Option<&crate::GroupView>| -> BTreeSet<String> {
                    g.map(|g| g.members.iter().map(|m| m.person.name.clone()).collect()).unwrap_or_default()
                };
                let (was, now) = (names(before.as_ref()), names(Some(&after)));
                for person in now.difference(&was) {
                    push(ChangeKind::MemberAppointed { group: id.clone(), person: person.clone() });
                }
                for person in was.difference(&now) {
                    push(ChangeKind::MemberLeft { group: id.clone(), person: person.clone() });
                }
            }
        }
        for id in self.cases.all() {
            let Some(case) = self.case(id, to, as_known_at) else { continue };
            for step in case.history.iter().filter(|s| in_span(&s.on)) {
                out.push(Change {
                    on: step.on,
                    kind: ChangeKind::CaseMoved { case: id.clone(), level: step.level, status: step.status },
                    because: vec![step.position],
                });
            }
        }
        out.sort_by_key(|c| c.on);
        out
    }

    /// What changed for one agreement on any day from `from` to `to` (both included), as known at
    /// `as_known_at`: the agreement's part of [`Projections::changes`], at the cost of folding that
    /// agreement (and its parent) alone. Ordered by day.
    pub fn agreement_changes(&self, id: &AgreementId, from: Date, to: Date, as_known_at: Timestamp) -> Vec<Change> {
        let mut out = Vec::new();
        if to >= from {
            self.changes_of_agreement(id, from, to, as_known_at, &mut out);
        }
        out
    }

    fn changes_of_agreement(
        &self,
        id: &AgreementId,
        from: Date,
        to: Date,
        as_known_at: Timestamp,
        out: &mut Vec<Change>,
    ) {
        let in_span = |d: &Date| from <= *d && *d <= to;
        let everything = Horizon::everything(as_known_at);
        // Candidate days of an agreement: every event's date and every date the rules compute.
        let candidate_days = |id: &ledger::AgreementId, days: &mut BTreeSet<Date>| {
            days.extend(self.visible_entity("agreement", id.as_str(), everything).events.iter().map(|e| e.effective()));
            if let Some(view) = self.agreement(id, to, as_known_at) {
                days.extend(view.in_force_from);
                days.extend(view.ends_on.map(|(d, _)| d));
                days.extend(view.versions.iter().filter_map(|v| v.in_force_from));
                days.extend(view.versions.iter().filter_map(|v| v.expires.map(rules::expiry_end)));
                days.extend(view.parties.iter().filter_map(|p| p.leaves_on));
            }
        };
        let mut days = BTreeSet::new();
        candidate_days(id, &mut days);
        // A child (a supplementary agreement, the guideline) binds through its parent, so the
        // parent's days are the child's too.
        if let Some(parent) = self.agreement_state(id, everything).and_then(|s| s.parent) {
            candidate_days(&parent, &mut days);
        }
        for day in days.into_iter().filter(in_span) {
            let Some(after) = self.agreement(id, day, as_known_at) else { continue };
            let before = self.agreement(id, day.previous_day(), as_known_at);
            agreement_changes(before.as_ref(), &after, day, out);
        }
    }

    /// The deadlines from `from` to `to` (both included), as known at `as_known_at`. Ordered by day.
    pub fn deadlines(&self, from: Date, to: Date, as_known_at: Timestamp) -> Vec<Deadline> {
        let mut out = Vec::new();
        if to < from {
            return out;
        }
        let in_span = |d: &Date| from <= *d && *d <= to;
        for view in self.agreements(to, as_known_at) {
            for v in &view.versions {
                if let Some(due) = v.response_due.filter(in_span) {
                    let pending =
                        self.agreement(&view.id, due, as_known_at).map(|a| a.pending_parties).unwrap_or_default();
                    out.push(Deadline {
                        on: due,
                        kind: DeadlineKind::ResponseDue { agreement: view.id.clone(), version: v.number, pending },
                    });
                }
                if let Some(expires) = v.expires.filter(in_span) {
                    out.push(Deadline {
                        on: expires,
                        kind: DeadlineKind::VersionExpires { agreement: view.id.clone(), version: v.number },
                    });
                }
            }
            for p in &view.parties {
                let Some(leaves) = p.leaves_on.filter(in_span) else { continue };
                out.push(Deadline {
                    on: leaves,
                    kind: DeadlineKind::NoticePeriodEnds { agreement: view.id.clone(), party: p.party.clone() },
                });
                let region = p.kind == Some(ledger::PartyKind::Region);
                if p.continues.is_none() && !region {
                    out.push(Deadline {
                        on: leaves,
                        kind: DeadlineKind::ContinuationDecisionPending {
                            agreement: view.id.clone(),
                            party: p.party.clone(),
                        },
                    });
                }
            }
        }
        for group in self.groups(to, as_known_at) {
            if let Some(end) = group.ends_on.filter(in_span) {
                out.push(Deadline { on: end, kind: DeadlineKind::GroupEnds { group: group.id.clone() } });
            }
        }
        for year in from.year()..=to.year() {
            if let Some(day) = rules::health_centre_deadline(year).filter(in_span) {
                out.push(Deadline { on: day, kind: DeadlineKind::HealthCentreDesignation { year } });
            }
            if let Some(day) = year_end(year).filter(in_span) {
                out.push(Deadline { on: day, kind: DeadlineKind::FollowUpPlanDue { year: year + 1 } });
                out.push(Deadline { on: day, kind: DeadlineKind::AnnualDialogueDue { year } });
            }
        }
        out.sort_by_key(|d| d.on);
        out
    }
}

#[cfg(test)]
mod tests {
    use ledger::{AgreementKind, Binding};

    use super::*;
    use crate::testkit::*;

    fn world() -> Given {
        Given::new()
            .parties(2)
            .event("2021-03-01", drafted("hok", AgreementKind::Main, Binding::AllParties, parties(2)))
            .event("2021-09-06", proposed("hok", 1, Some("2022-07-01"), None))
            .event("2021-10-14", recommended("hok", 1, "2022-06-30"))
            .event("2022-03-08", adopted("hok", 1, "region"))
            .event("2022-05-16", adopted("hok", 1, "m1"))
            .event("2022-09-05", adopted("hok", 1, "m2"))
    }

    #[test]
    fn changes_report_entry_into_force_on_its_day() {
        let given = world();
        let changes = given.projections().changes(d("2022-07-01"), d("2022-10-01"), given.now());
        assert!(changes.contains(&Change {
            on: d("2022-09-05"),
            kind: ChangeKind::EnteredIntoForce { agreement: aid("hok") },
            because: given.projections().agreement(&aid("hok"), d("2022-09-05"), given.now()).expect("hok").because,
        }));
        assert!(given.projections().changes(d("2022-09-06"), d("2022-10-01"), given.now()).is_empty());
    }

    #[test]
    fn deadlines_include_the_response_deadline_and_notice_periods() {
        let given = world().event("2023-01-16", notice("hok", "m1"));
        let p = given.projections();
        let deadlines = p.deadlines(d("2022-06-01"), d("2022-07-31"), given.now());
        assert!(deadlines.iter().any(|x| x.on == d("2022-06-30")
            && matches!(&x.kind, DeadlineKind::ResponseDue { pending, .. } if pending == &vec![pid("m2")])));
        let later = p.deadlines(d("2025-01-01"), d("2025-01-31"), given.now());
        assert!(
            later
                .iter()
                .any(|x| x.on == d("2025-01-16") && matches!(x.kind, DeadlineKind::ContinuationDecisionPending { .. }))
        );
    }
}
