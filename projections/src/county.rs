//! County-wide facts: local coordinators per area and year (Riktlinje 7.1), priority areas
//! (Riktlinje 2), state stimulus funds (Riktlinje 5.3), and problems in collaboration (Riktlinje 8.6).

use ledger::{
    AgreementId, CoordinatorRole, CountyEvent, Date, DecisionId, Designator, GroupId, PartyKind, Position,
    ProblemEvent, ProblemId, ProblemRecipient, Slug, StreamId, Timestamp,
};

use crate::fold::{Horizon, Visible};
use crate::{Projections, rules};

/// A designated local coordinator.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CoordinatorView {
    /// The municipality or district.
    pub area: Slug,
    /// Municipal function or health centre.
    pub role: CoordinatorRole,
    /// Who holds it.
    pub holder: String,
    /// The year.
    pub year: i32,
    /// Who designated it.
    pub designated_by: Designator,
    /// When (effective date).
    pub designated_on: Date,
    /// The event.
    pub position: Position,
}

/// The coordinators of one area for a year.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CoordinatorArea {
    /// The municipality or district.
    pub area: Slug,
    /// The municipality's samordnande funktion.
    pub municipal_function: Option<CoordinatorView>,
    /// The region's samordnande vårdcentral.
    pub health_centre: Option<CoordinatorView>,
    /// No health centre designated by 30 April and none since: HSF must designate one
    /// ([`rules::health_centre_obligation_open`]).
    pub health_centre_open: bool,
}

/// The local coordinators of a year, per area.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CoordinatorYear {
    /// The year.
    pub year: i32,
    /// Every area: the registered municipalities without registered districts, each registered
    /// district, and any other area a designation names.
    pub areas: Vec<CoordinatorArea>,
}

/// The priority areas that apply to a year (Riktlinje 2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PriorityAreasView {
    /// The year.
    pub year: i32,
    /// The period's priority areas (the latest decision covering the year).
    pub areas: Vec<String>,
    /// The period, when one covers the year.
    pub period: Option<(i32, i32)>,
    /// One-year priorities added for the year.
    pub one_year: Vec<String>,
    /// The events the answer rests on.
    pub because: Vec<Position>,
}

/// An allocation of state stimulus funds (Riktlinje 5.3).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FundsView {
    /// The year.
    pub year: i32,
    /// The amount in Swedish kronor.
    pub amount_sek: i64,
    /// For what.
    pub purpose: String,
    /// The group that gets them.
    pub group: Option<GroupId>,
    /// The decision.
    pub decision: DecisionId,
    /// Its date.
    pub decided_on: Date,
    /// The event.
    pub position: Position,
}

/// Where a problem report stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ProblemStatus {
    /// Reported; no feedback yet.
    Reported,
    /// Feedback given.
    Answered,
    /// Raised to VIS through the officials' steering group.
    RaisedToVis,
}

/// A problem in collaboration (Riktlinje 8.6).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProblemView {
    /// Its id.
    pub id: ProblemId,
    /// Who reported it.
    pub reported_by: String,
    /// Storsthlm or HSF.
    pub reported_to: ProblemRecipient,
    /// The agreement concerned.
    pub agreement: Option<AgreementId>,
    /// What it is.
    pub summary: String,
    /// When it was reported.
    pub reported_on: Date,
    /// Where it stands.
    pub status: ProblemStatus,
    /// The feedback given.
    pub feedback: Option<String>,
    /// When feedback was given.
    pub answered_on: Option<Date>,
    /// When it was raised to VIS.
    pub raised_to_vis_on: Option<Date>,
    /// The decision that raised it (the officials' steering group's, Riktlinje 8.6), if recorded.
    pub raised_by: Option<DecisionId>,
    /// The events the answer rests on.
    pub because: Vec<Position>,
}

#[derive(Debug, Default)]
struct County {
    coordinators: Vec<CoordinatorView>,
    periods: Vec<(i32, i32, Vec<String>, Position)>,
    one_year: Vec<(i32, String, Position)>,
    funds: Vec<FundsView>,
}

fn fold_county(visible: &Visible) -> County {
    use CountyEvent as E;
    let mut county = County::default();
    for event in &visible.events {
        // `county` holds only county events once `Visible` has taken the retractions out, so this
        // `else` never runs.
        let Some(data) = event.data().by_stream().as_county() else { continue };
        match data {
            E::CoordinatorDesignated(e) => county.coordinators.push(CoordinatorView {
                area: e.area.clone(),
                role: e.role,
                holder: e.holder.clone(),
                year: e.year,
                designated_by: e.designated_by,
                designated_on: event.effective(),
                position: event.position(),
            }),
            E::PriorityAreasSet(e) => county.periods.push((e.from_year, e.to_year, e.areas.clone(), event.position())),
            E::PriorityAreaAdded(e) => county.one_year.push((e.year, e.area.clone(), event.position())),
            E::FundsAllocated(e) => county.funds.push(FundsView {
                year: e.year,
                amount_sek: e.amount_sek,
                purpose: e.purpose.clone(),
                group: e.group.clone(),
                decision: e.decision.clone(),
                decided_on: event.effective(),
                position: event.position(),
            }),
        }
    }
    county
}

fn fold_problem(visible: &Visible) -> Option<ProblemView> {
    use ProblemEvent as E;
    let mut view: Option<ProblemView> = None;
    for event in &visible.events {
        // `problem/<id>` holds only problem events once `Visible` has taken the retractions out, so
        // this `else` never runs.
        let Some(data) = event.data().by_stream().as_problem() else { continue };
        let on = event.effective();
        match (data, view.as_mut()) {
            (E::Reported(e), None) => {
                view = Some(ProblemView {
                    id: e.problem.clone(),
                    reported_by: e.reported_by.clone(),
                    reported_to: e.reported_to,
                    agreement: e.agreement.clone(),
                    summary: e.summary.clone(),
                    reported_on: on,
                    status: ProblemStatus::Reported,
                    feedback: None,
                    answered_on: None,
                    raised_to_vis_on: None,
                    raised_by: None,
                    because: Vec::new(),
                });
            }
            (E::Answered(e), Some(p)) => {
                p.feedback = Some(e.summary.clone());
                p.answered_on.get_or_insert(on);
                if p.status == ProblemStatus::Reported {
                    p.status = ProblemStatus::Answered;
                }
            }
            (E::RaisedToVis(e), Some(p)) => {
                if p.raised_to_vis_on.is_none() {
                    p.raised_by = e.decision.clone();
                }
                p.raised_to_vis_on.get_or_insert(on);
                p.status = ProblemStatus::RaisedToVis;
            }
            // A second report changes nothing; nothing happens to a problem before it is reported.
            (E::Reported(_), Some(_)) | (E::Answered(_) | E::RaisedToVis(_), None) => {}
        }
    }
    if let Some(p) = view.as_mut() {
        p.because = visible.positions();
    }
    view
}

impl Projections {
    fn county(&self, horizon: Horizon) -> County {
        fold_county(&self.visible(&StreamId::county(), horizon))
    }

    /// The local coordinators of `year` per area on `at`, as known at `as_known_at`.
    pub fn coordinators(&self, year: i32, at: Date, as_known_at: Timestamp) -> CoordinatorYear {
        let horizon = Horizon::new(at, as_known_at);
        let county = self.county(horizon);
        let mut areas: Vec<Slug> = Vec::new();
        for party in self.parties(at, as_known_at) {
            if party.kind != PartyKind::Municipality {
                continue;
            }
            if party.districts.is_empty() {
                areas.extend(Slug::new(party.id.as_str()).ok());
            } else {
                areas.extend(party.districts.iter().filter_map(|d| Slug::new(d.id.as_str()).ok()));
            }
        }
        for c in county.coordinators.iter().filter(|c| c.year == year) {
            if !areas.contains(&c.area) {
                areas.push(c.area.clone());
            }
        }
        let latest = |area: &Slug, role: CoordinatorRole| {
            county.coordinators.iter().rev().find(|c| c.year == year && &c.area == area && c.role == role).cloned()
        };
        let areas = areas
            .into_iter()
            .map(|area| {
                let health_centre = latest(&area, CoordinatorRole::HealthCentre);
                let first_designation = county
                    .coordinators
                    .iter()
                    .filter(|c| c.year == year && c.area == area && c.role == CoordinatorRole::HealthCentre)
                    .map(|c| c.designated_on)
                    .min();
                CoordinatorArea {
                    municipal_function: latest(&area, CoordinatorRole::MunicipalFunction),
                    health_centre_open: rules::health_centre_obligation_open(year, first_designation, at),
                    health_centre,
                    area,
                }
            })
            .collect();
        CoordinatorYear { year, areas }
    }

    /// The priority areas for `year` as known at `as_known_at`.
    pub fn priority_areas(&self, year: i32, as_known_at: Timestamp) -> PriorityAreasView {
        let county = self.county(Horizon::everything(as_known_at));
        let period = county.periods.iter().rev().find(|(from, to, _, _)| *from <= year && year <= *to);
        let one_year: Vec<&(i32, String, Position)> = county.one_year.iter().filter(|(y, _, _)| *y == year).collect();
        let mut because: Vec<Position> = period.map(|p| p.3).into_iter().chain(one_year.iter().map(|o| o.2)).collect();
        because.sort();
        PriorityAreasView {
            year,
            areas: period.map(|p| p.2.clone()).unwrap_or_default(),
            period: period.map(|p| (p.0, p.1)),
            one_year: one_year.into_iter().map(|o| o.1.clone()).collect(),
            because,
        }
    }

    /// Fund allocations (of `year` when given) as known at `as_known_at`.
    pub fn funds(&self, year: Option<i32>, as_known_at: Timestamp) -> Vec<FundsView> {
        let county = self.county(Horizon::everything(as_known_at));
        county.funds.into_iter().filter(|f| year.is_none_or(|y| f.year == y)).collect()
    }

    /// A problem report on `at` as known at `as_known_at`.
    pub fn problem(&self, id: &ProblemId, at: Date, as_known_at: Timestamp) -> Option<ProblemView> {
        fold_problem(&self.visible_entity("problem", id.as_str(), Horizon::new(at, as_known_at)))
    }

    /// Every problem reported by `at`.
    pub fn problems(&self, at: Date, as_known_at: Timestamp) -> Vec<ProblemView> {
        self.problems.all().iter().filter_map(|id| self.problem(id, at, as_known_at)).collect()
    }
}

#[cfg(test)]
mod tests {
    use ledger::{CoordinatorDesignated, CoordinatorRole, Designator, PriorityAreaAdded, PriorityAreasSet, Slug};

    use crate::testkit::*;

    fn designated(area: &str, by: Designator) -> CoordinatorDesignated {
        CoordinatorDesignated {
            area: Slug::new(area).expect("slug"),
            role: CoordinatorRole::HealthCentre,
            holder: "Vårdcentralen".into(),
            year: 2024,
            designated_by: by,
        }
    }

    #[test]
    fn health_centre_coordinator_not_designated_by_30_april_is_an_open_obligation() {
        let given = Given::new()
            .parties(2)
            .event("2024-04-30", designated("m1", Designator::HealthCentres))
            .event("2024-05-20", designated("m2", Designator::Hsf));
        let p = given.projections();
        let open = |date: &str| -> Vec<String> {
            p.coordinators(2024, d(date), given.now())
                .areas
                .into_iter()
                .filter(|a| a.health_centre_open)
                .map(|a| a.area.to_string())
                .collect()
        };
        assert!(open("2024-04-30").is_empty());
        assert_eq!(open("2024-05-01"), vec!["m2"]);
        assert_eq!(open("2024-05-19"), vec!["m2"]);
        assert!(open("2024-05-20").is_empty());
    }

    #[test]
    fn priority_areas_cover_their_period_plus_one_year_additions() {
        let given = Given::new()
            .event(
                "2023-12-13",
                PriorityAreasSet {
                    from_year: 2024,
                    to_year: 2030,
                    areas: vec!["Sömlös vård".into()],
                    decision: dec("vis"),
                },
            )
            .event("2024-02-01", PriorityAreaAdded { year: 2025, area: "Kompetens".into(), decision: dec("vis2") });
        let p = given.projections();
        assert_eq!(p.priority_areas(2023, given.now()).areas, Vec::<String>::new());
        assert_eq!(p.priority_areas(2024, given.now()).areas, vec!["Sömlös vård".to_owned()]);
        assert_eq!(p.priority_areas(2025, given.now()).one_year, vec!["Kompetens".to_owned()]);
        assert_eq!(p.priority_areas(2031, given.now()).period, None);
    }
}
