//! Findings: what an auditor should look at on a date, as known at an instant – rule by rule, each
//! citing its source, each applying only from the day its source took effect and only to the
//! parties it addresses, each with the day it arose, the name of what it is about, and the events
//! behind it.

use ledger::{
    AgreementId, AgreementKind, Binding, CaseId, CaseLevel, Date, DutyId, PartyId, PartyKind, Position, ProblemId,
    Slug, Timestamp,
};

use crate::{AgreementView, CaseStatus, Projections, rules};

#[cfg(test)]
mod tests;

/// What an auditor flags.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FindingKind {
    /// A recommendation past its response date without this party's answer (letter 003: the
    /// municipalities and the region are asked to answer by the date; KSON is not asked). Per pair
    /// for EACH_PARTY agreements, also once other pairs are in force.
    RecommendationUnanswered {
        /// The agreement.
        agreement: AgreementId,
        /// The party.
        party: PartyId,
        /// The response date that passed.
        due: Date,
    },
    /// A county-wide document in force but not published in the digital portal (HÖK 4.7, 5), from
    /// the day the HÖK, which created the portal rule, came into force.
    InForceUnpublished {
        /// The agreement.
        agreement: AgreementId,
    },
    /// No samordnande vårdcentral designated for the area by 30 April, nor since (letter 003;
    /// Riktlinje 7.1.2): HSF must designate one.
    HealthCentreCoordinatorMissing {
        /// The municipality or district.
        area: Slug,
        /// The year.
        year: i32,
    },
    /// The health centres designated theirs after 30 April, when it was HSF's to designate.
    HealthCentreCoordinatorLate {
        /// The area.
        area: Slug,
        /// The year.
        year: i32,
        /// When.
        designated_on: Date,
    },
    /// The samordnande vårdcentral was designated by the municipality, which is not its designator
    /// (the health centres, else HSF).
    HealthCentreCoordinatorWrongDesignator {
        /// The area.
        area: Slug,
        /// The year.
        year: i32,
    },
    /// A municipality bound by the riktlinje with no samordnande funktion designated for the year
    /// (Riktlinje 7.1, 7.1.1: "Respektive part i HÖK utser samordnande funktioner").
    MunicipalFunctionMissing {
        /// The municipality.
        municipality: PartyId,
        /// The year.
        year: i32,
    },
    /// A follow-up plan decided late, or missing once the year began (HÖK 6).
    FollowUpPlanLate {
        /// The year.
        year: i32,
    },
    /// A planned follow-up without a report after its due date ([`rules::follow_up_report_due`]).
    FollowUpUnreported {
        /// The year.
        year: i32,
        /// The agreement.
        agreement: AgreementId,
    },
    /// A follow-up reported after its due date.
    FollowUpReportedLate {
        /// The year.
        year: i32,
        /// The agreement.
        agreement: AgreementId,
        /// When it was reported.
        reported_on: Date,
    },
    /// A year that ended without an annual dialogue (HÖK 6; Riktlinje 8.2).
    AnnualDialogueMissing {
        /// The year.
        year: i32,
    },
    /// The annual dialogue of a year held in a later year.
    AnnualDialogueLate {
        /// The year.
        year: i32,
        /// When it was held.
        held_on: Date,
    },
    /// A problem report without feedback after [`rules::PROBLEM_FEEDBACK_DAYS`] (Riktlinje 8.6).
    ProblemWithoutFeedback {
        /// The problem.
        problem: ProblemId,
    },
    /// A problem raised to VIS outside the chain of Riktlinje 8.6: without HSF's or Storsthlm's
    /// feedback first, or without a decision of the officials' steering group.
    ProblemRaisedOutsideChain {
        /// The problem.
        problem: ProblemId,
    },
    /// An escalation case open at one level for longer than [`rules::CASE_STALLED_DAYS`] (HÖK 7.1).
    CaseStalled {
        /// The case.
        case: CaseId,
        /// Its level.
        level: CaseLevel,
        /// Since when it has stood there.
        since: Date,
    },
    /// A notice on an agreement that states no notice period: the leave date is unknown (DOMAIN.md,
    /// "No stated notice period").
    NoticePeriodUnknown {
        /// The agreement.
        agreement: AgreementId,
        /// The party that gave notice.
        party: PartyId,
    },
    /// A municipality or the region without an agreement in force for a statutory duty (HÖK 5;
    /// Förstudie 8): none that binds it cites one of the duty's provisions.
    StatutoryAgreementMissing {
        /// The duty.
        duty: DutyId,
        /// The party.
        party: PartyId,
    },
}

impl FindingKind {
    /// The stable SCREAMING_CASE name of the kind (GraphQL's `FindingKind`).
    pub const fn name(&self) -> &'static str {
        match self {
            Self::RecommendationUnanswered { .. } => "RECOMMENDATION_UNANSWERED",
            Self::InForceUnpublished { .. } => "IN_FORCE_UNPUBLISHED",
            Self::HealthCentreCoordinatorMissing { .. } => "HEALTH_CENTRE_COORDINATOR_MISSING",
            Self::HealthCentreCoordinatorLate { .. } => "HEALTH_CENTRE_COORDINATOR_LATE",
            Self::HealthCentreCoordinatorWrongDesignator { .. } => "HEALTH_CENTRE_COORDINATOR_WRONG_DESIGNATOR",
            Self::MunicipalFunctionMissing { .. } => "MUNICIPAL_FUNCTION_MISSING",
            Self::FollowUpPlanLate { .. } => "FOLLOW_UP_PLAN_LATE",
            Self::FollowUpUnreported { .. } => "FOLLOW_UP_UNREPORTED",
            Self::FollowUpReportedLate { .. } => "FOLLOW_UP_REPORTED_LATE",
            Self::AnnualDialogueMissing { .. } => "ANNUAL_DIALOGUE_MISSING",
            Self::AnnualDialogueLate { .. } => "ANNUAL_DIALOGUE_LATE",
            Self::ProblemWithoutFeedback { .. } => "PROBLEM_WITHOUT_FEEDBACK",
            Self::ProblemRaisedOutsideChain { .. } => "PROBLEM_RAISED_OUTSIDE_CHAIN",
            Self::CaseStalled { .. } => "CASE_STALLED",
            Self::NoticePeriodUnknown { .. } => "NOTICE_PERIOD_UNKNOWN",
            Self::StatutoryAgreementMissing { .. } => "STATUTORY_AGREEMENT_MISSING",
        }
    }

    /// Every kind's name, in declaration order.
    pub const NAMES: &'static [&'static str] = &[
        "RECOMMENDATION_UNANSWERED",
        "IN_FORCE_UNPUBLISHED",
        "HEALTH_CENTRE_COORDINATOR_MISSING",
        "HEALTH_CENTRE_COORDINATOR_LATE",
        "HEALTH_CENTRE_COORDINATOR_WRONG_DESIGNATOR",
        "MUNICIPAL_FUNCTION_MISSING",
        "FOLLOW_UP_PLAN_LATE",
        "FOLLOW_UP_UNREPORTED",
        "FOLLOW_UP_REPORTED_LATE",
        "ANNUAL_DIALOGUE_MISSING",
        "ANNUAL_DIALOGUE_LATE",
        "PROBLEM_WITHOUT_FEEDBACK",
        "PROBLEM_RAISED_OUTSIDE_CHAIN",
        "CASE_STALLED",
        "NOTICE_PERIOD_UNKNOWN",
        "STATUTORY_AGREEMENT_MISSING",
    ];
}

/// A finding on a date.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    /// What.
    pub kind: FindingKind,
    /// The day it arose (the first day the rule saw it).
    pub arose_on: Date,
    /// What it is about, as a person names it ("Botkyrka kommun", the agreement's title).
    pub subject: String,
    /// The events it rests on.
    pub because: Vec<Position>,
}

impl Projections {
    /// What an auditor should look at on `at`, as known at `as_known_at`.
    pub fn findings(&self, at: Date, as_known_at: Timestamp) -> Vec<Finding> {
        let mut out = Vec::new();
        let agreements = self.agreements(at, as_known_at);
        let name_of_party =
            |p: &PartyId| self.party_registration_view(p, at, as_known_at).map_or_else(|| p.to_string(), |v| v.name);
        Self::agreement_findings(&agreements, at, &name_of_party, &mut out);
        self.coordinator_findings(&agreements, at, as_known_at, &name_of_party, &mut out);
        self.follow_up_findings(at, as_known_at, &agreements, &mut out);
        self.problem_and_case_findings(at, as_known_at, &agreements, &mut out);
        self.statutory_findings(at, as_known_at, &agreements, &name_of_party, &mut out);
        out.sort_by(|a, b| (a.kind.name(), a.arose_on).cmp(&(b.kind.name(), b.arose_on)));
        out
    }

    fn agreement_findings(
        agreements: &[AgreementView],
        at: Date,
        name_of_party: &dyn Fn(&PartyId) -> String,
        out: &mut Vec<Finding>,
    ) {
        // HÖK 4.7 made the portal; its rule applies from the day the HÖK came into force.
        let portal_from = agreements
            .iter()
            .filter(|a| a.kind == AgreementKind::Main)
            .filter_map(|a| a.in_force_from.filter(|from| *from <= at))
            .min();
        for view in agreements {
            let county_wide = matches!(
                view.kind,
                AgreementKind::Main
                    | AgreementKind::SubjectArea
                    | AgreementKind::Supplementary
                    | AgreementKind::Guideline
            );
            if let Some(portal_from) = portal_from
                && county_wide
                && view.in_force
                && !view.published
            {
                let arose_on = view.in_force_from.map_or(portal_from, |from| from.max(portal_from));
                out.push(Finding {
                    kind: FindingKind::InForceUnpublished { agreement: view.id.clone() },
                    arose_on,
                    subject: view.title.clone(),
                    because: view.because.clone(),
                });
            }
            // Letter 003 asks the municipalities and the region for their answers; under ALL_PARTIES
            // the question is moot once the version is in force, under EACH_PARTY every pair counts.
            let due = view.versions.last().and_then(|v| v.response_due).filter(|due| *due < at);
            let asks = match view.binding {
                Binding::AllParties => !view.status.applies(),
                Binding::EachParty => true,
                Binding::Decision => false,
            };
            if let Some(due) = due
                && asks
            {
                for party in &view.pending_parties {
                    let kind = view.participation(party).and_then(|p| p.kind);
                    if !matches!(kind, Some(PartyKind::Municipality | PartyKind::Region)) {
                        continue;
                    }
                    out.push(Finding {
                        kind: FindingKind::RecommendationUnanswered {
                            agreement: view.id.clone(),
                            party: party.clone(),
                            due,
                        },
                        arose_on: due.next_day(),
                        subject: name_of_party(party),
                        because: view.because.clone(),
                    });
                }
            }
            for p in &view.parties {
                if view.notice_months.is_none()
                    && let Some(given) = p.notice_given_on
                {
                    out.push(Finding {
                        kind: FindingKind::NoticePeriodUnknown { agreement: view.id.clone(), party: p.party.clone() },
                        arose_on: given,
                        subject: view.title.clone(),
                        because: view.because.clone(),
                    });
                }
            }
        }
    }

    fn coordinator_findings(
        &self,
        agreements: &[AgreementView],
        at: Date,
        as_known_at: Timestamp,
        name_of_party: &dyn Fn(&PartyId) -> String,
        out: &mut Vec<Finding>,
    ) {
        let year = at.year();
        let coordinators = self.coordinators(year, at, as_known_at);
        let parties = self.parties(at, as_known_at);
        // Each area's display name and municipality.
        let area_of = |area: &Slug| -> (String, Option<PartyId>) {
            for party in &parties {
                if party.id.as_str() == area.as_str() {
                    return (party.name.clone(), Some(party.id.clone()));
                }
                if let Some(d) = party.districts.iter().find(|d| d.id.as_str() == area.as_str()) {
                    return (d.name.clone(), Some(party.id.clone()));
                }
            }
            (area.to_string(), None)
        };
        if year >= rules::HEALTH_CENTRE_RULE_FROM_YEAR {
            for area in &coordinators.areas {
                let (name, municipality) = area_of(&area.area);
                if municipality.as_ref().is_some_and(|m| rules::coordination_held_by_association(m.as_str())) {
                    continue;
                }
                let deadline = rules::health_centre_deadline(year);
                if area.health_centre_open
                    && let Some(deadline) = deadline
                {
                    out.push(Finding {
                        kind: FindingKind::HealthCentreCoordinatorMissing { area: area.area.clone(), year },
                        arose_on: deadline.next_day(),
                        subject: name.clone(),
                        because: Vec::new(),
                    });
                }
                if let Some(c) = &area.health_centre {
                    let because = vec![c.position];
                    match c.designated_by {
                        ledger::Designator::Municipality => out.push(Finding {
                            kind: FindingKind::HealthCentreCoordinatorWrongDesignator { area: area.area.clone(), year },
                            arose_on: c.designated_on,
                            subject: name.clone(),
                            because,
                        }),
                        ledger::Designator::HealthCentres if deadline.is_some_and(|d| c.designated_on > d) => {
                            out.push(Finding {
                                kind: FindingKind::HealthCentreCoordinatorLate {
                                    area: area.area.clone(),
                                    year,
                                    designated_on: c.designated_on,
                                },
                                arose_on: c.designated_on,
                                subject: name.clone(),
                                because,
                            });
                        }
                        ledger::Designator::HealthCentres | ledger::Designator::Hsf => {}
                    }
                }
            }
        }
        // Riktlinje 7.1.1: every municipality the riktlinje binds designates a samordnande funktion
        // (in Stockholm, per district or for the city).
        for guideline in agreements.iter().filter(|a| a.kind == AgreementKind::Guideline && a.in_force) {
            // The guideline on each day its binding can have begun (its own and its parent's entry
            // into force), latest first, evaluated once for all its parties.
            let since_views = self.binding_days(guideline, at, as_known_at);
            for p in guideline.parties.iter().filter(|p| p.bound && p.kind == Some(PartyKind::Municipality)) {
                if rules::coordination_held_by_association(p.party.as_str()) {
                    continue;
                }
                let own_areas: Vec<&crate::CoordinatorArea> =
                    coordinators.areas.iter().filter(|a| area_of(&a.area).1.as_ref() == Some(&p.party)).collect();
                if own_areas.iter().any(|a| a.municipal_function.is_some()) {
                    continue;
                }
                let bound_since = since_views.iter().find(|(_, v)| v.binds(&p.party)).map(|(day, _)| *day);
                let year_start = Date::from_ymd(year, 1, 1).unwrap_or(at);
                out.push(Finding {
                    kind: FindingKind::MunicipalFunctionMissing { municipality: p.party.clone(), year },
                    arose_on: bound_since.map_or(year_start, |since| since.max(year_start)),
                    subject: name_of_party(&p.party),
                    because: guideline.because.clone(),
                });
            }
        }
    }

    /// The days up to `at` on which `view`'s binding of a party can have begun – its own and its
    /// parent's entry into force – latest first, each with the agreement as it stood that day.
    fn binding_days(&self, view: &AgreementView, at: Date, known: Timestamp) -> Vec<(Date, AgreementView)> {
        let parent = view.parent.as_ref().and_then(|p| self.agreement(p, at, known));
        let mut days: Vec<Date> = view.in_force_from.into_iter().chain(parent.and_then(|p| p.in_force_from)).collect();
        days.sort();
        days.dedup();
        days.into_iter()
            .rev()
            .filter(|day| *day <= at)
            .filter_map(|day| self.agreement(&view.id, day, known).map(|v| (day, v)))
            .collect()
    }

    fn follow_up_findings(
        &self,
        at: Date,
        as_known_at: Timestamp,
        agreements: &[AgreementView],
        out: &mut Vec<Finding>,
    ) {
        let title = |id: &AgreementId| {
            agreements.iter().find(|a| &a.id == id).map_or_else(|| id.to_string(), |a| a.title.clone())
        };
        for year in self.follow_up_years.iter().copied() {
            let (Some(start), Some(end)) = (Date::from_ymd(year, 1, 1), Date::from_ymd(year, 12, 31)) else { continue };
            if at < start {
                continue;
            }
            let follow_up = self.follow_up_on(year, Some(at), as_known_at);
            if follow_up.plan_late {
                out.push(Finding {
                    kind: FindingKind::FollowUpPlanLate { year },
                    arose_on: follow_up.plan_decided_on.map_or(start, |d| d.max(start)),
                    subject: format!("{year}"),
                    because: follow_up.because.clone(),
                });
            }
            let due = rules::follow_up_report_due(year);
            for item in follow_up.agreements.iter().filter(|i| i.planned) {
                match (item.reported_on, due) {
                    (None, Some(due)) if at > due => out.push(Finding {
                        kind: FindingKind::FollowUpUnreported { year, agreement: item.agreement.clone() },
                        arose_on: due.next_day(),
                        subject: title(&item.agreement),
                        because: follow_up.because.clone(),
                    }),
                    (Some(reported_on), Some(due)) if reported_on > due => out.push(Finding {
                        kind: FindingKind::FollowUpReportedLate {
                            year,
                            agreement: item.agreement.clone(),
                            reported_on,
                        },
                        arose_on: reported_on,
                        subject: title(&item.agreement),
                        because: follow_up.because.clone(),
                    }),
                    _ => {}
                }
            }
            match follow_up.dialogue_held_on {
                None if at > end => out.push(Finding {
                    kind: FindingKind::AnnualDialogueMissing { year },
                    arose_on: end.next_day(),
                    subject: format!("{year}"),
                    because: follow_up.because.clone(),
                }),
                Some(held_on) if rules::annual_dialogue_late(year, held_on) => out.push(Finding {
                    kind: FindingKind::AnnualDialogueLate { year, held_on },
                    arose_on: held_on,
                    subject: format!("{year}"),
                    because: follow_up.because.clone(),
                }),
                _ => {}
            }
        }
    }

    /// STATUTORY_AGREEMENT_MISSING: each duty in effect on `at`, each municipality and the region
    /// registered then that no agreement in force binding it fulfils. It arose on the later of the
    /// duty's day and the party's registration.
    fn statutory_findings(
        &self,
        at: Date,
        known: Timestamp,
        agreements: &[AgreementView],
        name_of_party: &dyn Fn(&PartyId) -> String,
        out: &mut Vec<Finding>,
    ) {
        for id in self.duties.all() {
            let Some(duty) = self.duty_with(id, at, known, agreements) else { continue };
            for coverage in duty.parties.iter().filter(|c| c.agreements.is_empty()) {
                let registered = self
                    .party_registration_view(&coverage.party, at, known)
                    .and_then(|p| p.because.first().copied())
                    .and_then(|position| self.event(position).map(|e| e.effective()));
                let mut because = duty.because.clone();
                because.extend(
                    self.party_registration_view(&coverage.party, at, known).map(|p| p.because).unwrap_or_default(),
                );
                out.push(Finding {
                    kind: FindingKind::StatutoryAgreementMissing {
                        duty: duty.id.clone(),
                        party: coverage.party.clone(),
                    },
                    arose_on: registered.map_or(duty.since, |r| r.max(duty.since)),
                    subject: format!("{}: {}", name_of_party(&coverage.party), duty.title),
                    because,
                });
            }
        }
    }

    fn problem_and_case_findings(
        &self,
        at: Date,
        as_known_at: Timestamp,
        agreements: &[AgreementView],
        out: &mut Vec<Finding>,
    ) {
        for problem in self.problems(at, as_known_at) {
            let subject = format!("{} ({})", problem.summary.chars().take(60).collect::<String>(), problem.reported_by);
            let feedback_due = rules::days_after(problem.reported_on, rules::PROBLEM_FEEDBACK_DAYS);
            if problem.answered_on.is_none() && at >= feedback_due {
                out.push(Finding {
                    kind: FindingKind::ProblemWithoutFeedback { problem: problem.id.clone() },
                    arose_on: feedback_due,
                    subject: subject.clone(),
                    because: problem.because.clone(),
                });
            }
            if let Some(raised_on) = problem.raised_to_vis_on {
                let answered_first = problem.answered_on.is_some_and(|a| a <= raised_on);
                if !answered_first || problem.raised_by.is_none() {
                    out.push(Finding {
                        kind: FindingKind::ProblemRaisedOutsideChain { problem: problem.id.clone() },
                        arose_on: raised_on,
                        subject,
                        because: problem.because.clone(),
                    });
                }
            }
        }
        for case in self.cases(at, as_known_at) {
            if case.status != CaseStatus::Open {
                continue;
            }
            let since = case.history.last().map_or(case.opened_on, |s| s.on);
            let stalled_on = rules::days_after(since, rules::CASE_STALLED_DAYS);
            if at >= stalled_on {
                let title = agreements
                    .iter()
                    .find(|a| a.id == case.agreement)
                    .map_or_else(|| case.agreement.to_string(), |a| a.title.clone());
                out.push(Finding {
                    kind: FindingKind::CaseStalled { case: case.id.clone(), level: case.level, since },
                    arose_on: stalled_on,
                    subject: format!("{} ({title})", case.id),
                    because: case.because.clone(),
                });
            }
        }
    }
}
