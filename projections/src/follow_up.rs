//! Follow-up years (HÖK 6; Riktlinje 8): the plan decided before the year, the reports to VIS and
//! the annual dialogue.

use ledger::{AgreementId, Date, DecisionId, FollowUpEvent, Position, Report, StreamId, Timestamp};

use crate::fold::Horizon;
use crate::{Projections, rules};

/// One agreement in a year's follow-up (API.md `FollowUpItem`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FollowUpItem {
    /// The agreement.
    pub agreement: AgreementId,
    /// Whether the plan named it.
    pub planned: bool,
    /// Whether a follow-up was reported.
    pub reported: bool,
    /// When it was reported.
    pub reported_on: Option<Date>,
    /// The report.
    pub report: Option<Report>,
    /// What the report found.
    pub summary: Option<String>,
}

/// A follow-up year (API.md `FollowUpYear`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FollowUpYear {
    /// The year followed up.
    pub year: i32,
    /// When the (first) plan was decided.
    pub plan_decided_on: Option<Date>,
    /// The deciding decision.
    pub plan_decision: Option<DecisionId>,
    /// Whether the plan was late: decided on or after 1 January of the year, or (no plan) the year
    /// had begun by the query's record instant ([`rules::follow_up_plan_late`]).
    pub plan_late: bool,
    /// Whether the annual dialogue was held.
    pub dialogue_held: bool,
    /// When.
    pub dialogue_held_on: Option<Date>,
    /// The planned agreements first, then any reported without being planned.
    pub agreements: Vec<FollowUpItem>,
    /// The events the answer rests on.
    pub because: Vec<Position>,
}

impl FollowUpYear {
    /// Planned agreements with no report (a finding).
    pub fn unreported(&self) -> impl Iterator<Item = &FollowUpItem> {
        self.agreements.iter().filter(|i| i.planned && !i.reported)
    }
}

impl Projections {
    /// A follow-up year as known at `as_known_at` (the year itself is the valid-time question).
    pub fn follow_up(&self, year: i32, as_known_at: Timestamp) -> FollowUpYear {
        self.follow_up_on(year, None, as_known_at)
    }

    /// A follow-up year counting only events effective by `at` when given.
    pub(crate) fn follow_up_on(&self, year: i32, at: Option<Date>, as_known_at: Timestamp) -> FollowUpYear {
        use FollowUpEvent as E;
        let visible = self.visible(&StreamId::followup(year), Horizon { at, known: as_known_at });
        let mut out = FollowUpYear {
            year,
            plan_decided_on: None,
            plan_decision: None,
            plan_late: false,
            dialogue_held: false,
            dialogue_held_on: None,
            agreements: Vec::new(),
            because: visible.positions(),
        };
        for event in &visible.events {
            // `followup/<year>` holds only follow-up events once `Visible` has taken the
            // retractions out, so this `else` never runs.
            let Some(data) = event.data().by_stream().as_follow_up() else { continue };
            let on = event.effective();
            match data {
                E::Planned(e) => {
                    // A second plan for the same year adds to the first; lateness is judged by the
                    // first.
                    if out.plan_decided_on.is_none() {
                        out.plan_decided_on = Some(on);
                        out.plan_decision = Some(e.decision.clone());
                    }
                    for agreement in &e.agreements {
                        match out.agreements.iter_mut().find(|i| &i.agreement == agreement) {
                            Some(item) => item.planned = true,
                            None => out.agreements.push(FollowUpItem {
                                agreement: agreement.clone(),
                                planned: true,
                                reported: false,
                                reported_on: None,
                                report: None,
                                summary: None,
                            }),
                        }
                    }
                }
                E::Reported(e) => {
                    let item = match out.agreements.iter().position(|i| i.agreement == e.agreement) {
                        Some(i) => &mut out.agreements[i],
                        None => {
                            out.agreements.push(FollowUpItem {
                                agreement: e.agreement.clone(),
                                planned: false,
                                reported: false,
                                reported_on: None,
                                report: None,
                                summary: None,
                            });
                            let last = out.agreements.len() - 1;
                            &mut out.agreements[last]
                        }
                    };
                    item.reported = true;
                    item.reported_on = Some(on);
                    item.report = e.report.clone();
                    item.summary = Some(e.summary.clone());
                }
                E::AnnualDialogueHeld(_) => {
                    out.dialogue_held = true;
                    out.dialogue_held_on.get_or_insert(on);
                }
            }
        }
        let as_of = at.unwrap_or_else(|| as_known_at.date_utc());
        out.plan_late = rules::follow_up_plan_late(year, out.plan_decided_on, as_of);
        out
    }
}

#[cfg(test)]
mod tests {
    use ledger::{AnnualDialogueHeld, FollowUpPlanned, FollowUpReported};

    use crate::testkit::*;

    #[test]
    fn follow_up_plan_late_when_decided_after_the_year_began() {
        let given = Given::new()
            .event(
                "2024-01-15",
                FollowUpPlanned { year: 2024, agreements: vec![aid("hok"), aid("bus")], decision: dec("plan") },
            )
            .event(
                "2024-09-01",
                FollowUpReported { year: 2024, agreement: aid("hok"), report: None, summary: "bra".into() },
            )
            .event(
                "2024-10-01",
                AnnualDialogueHeld { year: 2024, participants: vec!["VIS".into()], summary: "dialog".into() },
            );
        let year = given.projections().follow_up(2024, given.now());
        assert_eq!(year.plan_decided_on, Some(d("2024-01-15")));
        assert!(year.plan_late);
        assert!(year.dialogue_held);
        assert_eq!(year.unreported().map(|i| i.agreement.as_str()).collect::<Vec<_>>(), vec!["bus"]);
    }

    #[test]
    fn follow_up_plan_on_time_when_decided_the_day_before_new_year() {
        let given = Given::new()
            .event("2023-12-31", FollowUpPlanned { year: 2024, agreements: vec![aid("hok")], decision: dec("plan") });
        let year = given.projections().follow_up(2024, given.now());
        assert!(!year.plan_late);
        assert!(!year.dialogue_held);
    }
}
