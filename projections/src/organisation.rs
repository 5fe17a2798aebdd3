//! The organisation: parties and their districts, groups (kind, parent, mandate history,
//! membership, end dates, dissolution) and escalation cases (HÖK 7.1).

use ledger::{
    AgreementId, CaseEvent, CaseId, CaseKind, CaseLevel, Date, DecisionId, DistrictId, GroupEvent, GroupId, GroupKind,
    MemberRole, PartyEvent, PartyId, PartyKind, Person, Position, RecordedEvent, Slug, Timestamp,
};

use crate::Projections;
use crate::fold::{Horizon, Visible};
use crate::rules;

#[cfg(test)]
mod tests;

/// A district (stadsdel) of a municipality.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DistrictView {
    /// Its id.
    pub id: DistrictId,
    /// Its name.
    pub name: String,
}

/// A party on a date (API.md `Party`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartyView {
    /// Its id.
    pub id: PartyId,
    /// Its name.
    pub name: String,
    /// Region, municipality or municipal association.
    pub kind: PartyKind,
    /// Its registered districts.
    pub districts: Vec<DistrictView>,
    /// The agreements that bind it on the date.
    pub agreements: Vec<AgreementId>,
    /// The events of the party's own stream the answer rests on.
    pub because: Vec<Position>,
}

/// A mandate a group held from a date.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MandateView {
    /// The mandate.
    pub mandate: String,
    /// From when (the event's effective date).
    pub from: Date,
    /// The deciding decision.
    pub decision: Option<DecisionId>,
}

/// A membership of a group (API.md `Member`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberView {
    /// The person.
    pub person: Person,
    /// Their role.
    pub role: MemberRole,
    /// Whom they represent.
    pub represents: String,
    /// Who appointed them.
    pub appointed_by: Option<String>,
    /// The first day (the appointment's effective date).
    pub from: Date,
    /// The last day, when known: the appointment's `until`, or the day before the person left or
    /// took another role in the group.
    pub until: Option<Date>,
}

/// A group on a date (API.md `Group`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupView {
    /// Its id.
    pub id: GroupId,
    /// Its current name.
    pub name: String,
    /// What kind of group.
    pub kind: GroupKind,
    /// The group it reports to.
    pub parent: Option<GroupId>,
    /// The municipality or district of a local group.
    pub area: Option<Slug>,
    /// When it was established.
    pub established_on: Date,
    /// The first day it no longer exists, if limited in time.
    pub ends_on: Option<Date>,
    /// The date of its dissolution (the first day it no longer exists).
    pub dissolved_on: Option<Date>,
    /// Whether it exists on the date.
    pub active: bool,
    /// Its current mandate.
    pub mandate: String,
    /// Every mandate it has held, oldest first.
    pub mandates: Vec<MandateView>,
    /// The memberships that cover the date.
    pub members: Vec<MemberView>,
    /// Every membership known, in appointment order.
    pub member_history: Vec<MemberView>,
    /// The events the answer rests on.
    pub because: Vec<Position>,
}

/// Where a case stands (API.md `CaseStatus`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CaseStatus {
    /// Being handled at its level.
    Open,
    /// Resolved (final).
    Resolved,
    /// Withdrawn (final).
    Withdrawn,
}

impl CaseStatus {
    /// The SCREAMING_CASE name used in GraphQL.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Open => "OPEN",
            Self::Resolved => "RESOLVED",
            Self::Withdrawn => "WITHDRAWN",
        }
    }
}

/// One step in a case's history.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaseStep {
    /// The event.
    pub position: Position,
    /// Its effective date.
    pub on: Date,
    /// The level after the step.
    pub level: CaseLevel,
    /// The status after the step.
    pub status: CaseStatus,
    /// The reason, resolution or summary given.
    pub text: String,
}

/// An escalation case on a date (API.md `Case`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaseView {
    /// Its id.
    pub id: CaseId,
    /// The agreement concerned.
    pub agreement: AgreementId,
    /// Deviation or interpretation.
    pub kind: CaseKind,
    /// The parties involved.
    pub parties: Vec<PartyId>,
    /// Its current level on the ladder.
    pub level: CaseLevel,
    /// Open, resolved or withdrawn.
    pub status: CaseStatus,
    /// Whether it is of a principled nature.
    pub principled: bool,
    /// What it is about.
    pub summary: String,
    /// When it was opened.
    pub opened_on: Date,
    /// The resolution, once resolved.
    pub resolution: Option<String>,
    /// The deciding decision of the resolution.
    pub resolved_by: Option<DecisionId>,
    /// Every step, oldest first.
    pub history: Vec<CaseStep>,
    /// The events the answer rests on.
    pub because: Vec<Position>,
}

fn fold_party(id: &PartyId, visible: &Visible) -> Option<PartyView> {
    use PartyEvent as E;
    let mut view: Option<PartyView> = None;
    for event in &visible.events {
        // `party/<id>` holds only the party's events once `Visible` has taken the retractions out,
        // so this `else` never runs.
        let Some(data) = event.data().by_stream().as_party() else { continue };
        match data {
            E::Registered(e) => {
                let districts = view.take().map(|v| v.districts).unwrap_or_default();
                view = Some(PartyView {
                    id: id.clone(),
                    name: e.name.clone(),
                    kind: e.kind,
                    districts,
                    agreements: Vec::new(),
                    because: Vec::new(),
                });
            }
            E::DistrictRegistered(e) => {
                if let Some(v) = view.as_mut() {
                    v.districts.retain(|d| d.id != e.district);
                    v.districts.push(DistrictView { id: e.district.clone(), name: e.name.clone() });
                }
            }
        }
    }
    if let Some(v) = view.as_mut() {
        v.because = visible.positions();
    }
    view
}

/// Closes a person's open memberships on the day before `on` (they left, or took another role).
fn close_memberships(members: &mut [MemberView], name: &str, on: Date) {
    let last_day = on.previous_day();
    for member in members.iter_mut().filter(|m| m.person.name == name && m.from <= on) {
        member.until = Some(member.until.map_or(last_day, |u| u.min(last_day)));
    }
}

fn fold_group(visible: &Visible, at: Date) -> Option<GroupView> {
    use GroupEvent as E;
    let mut view: Option<GroupView> = None;
    for event in &visible.events {
        // `group/<id>` holds only group events once `Visible` has taken the retractions out, so
        // this `else` never runs.
        let Some(data) = event.data().by_stream().as_group() else { continue };
        let on = event.effective();
        if let E::Established(e) = data {
            if view.is_none() {
                view = Some(GroupView {
                    id: e.group.clone(),
                    name: e.name.clone(),
                    kind: e.kind,
                    parent: e.parent.clone(),
                    area: e.area.clone(),
                    established_on: on,
                    ends_on: e.ends_on,
                    dissolved_on: None,
                    active: false,
                    mandate: e.mandate.clone(),
                    mandates: vec![MandateView { mandate: e.mandate.clone(), from: on, decision: e.decision.clone() }],
                    members: Vec::new(),
                    member_history: Vec::new(),
                    because: Vec::new(),
                });
            }
            continue;
        }
        // Invariant: nothing happens to a group before it is established.
        let Some(g) = view.as_mut() else { continue };
        match data {
            E::MandateChanged(e) => {
                g.mandate = e.mandate.clone();
                g.mandates.push(MandateView {
                    mandate: e.mandate.clone(),
                    from: on,
                    decision: Some(e.decision.clone()),
                });
            }
            E::Renamed(e) => g.name = e.name.clone(),
            E::MemberAppointed(e) => {
                // A person holds one role in a group at a time: a new appointment (a new role, a
                // new term) closes the previous one the day before.
                close_memberships(&mut g.member_history, &e.person.name, on);
                g.member_history.push(MemberView {
                    person: e.person.clone(),
                    role: e.role,
                    represents: e.represents.clone(),
                    appointed_by: e.appointed_by.clone(),
                    from: on,
                    until: e.until,
                });
            }
            E::MemberLeft(e) => close_memberships(&mut g.member_history, &e.person.name, on),
            E::Dissolved(_) => g.dissolved_on = Some(g.dissolved_on.map_or(on, |d| d.min(on))),
            // Handled above: a second establishment changes nothing.
            E::Established(_) => {}
        }
    }
    let mut g = view?;
    g.active = rules::group_active(g.established_on, g.dissolved_on, g.ends_on, at);
    g.members = if g.active {
        g.member_history.iter().filter(|m| rules::member_on(m.from, m.until, at)).cloned().collect()
    } else {
        Vec::new()
    };
    g.because = visible.positions();
    Some(g)
}

/// Folds a case's events. `None` if it was not opened.
pub(crate) fn fold_case(visible: &Visible) -> Option<CaseView> {
    use CaseEvent as E;
    let mut view: Option<CaseView> = None;
    for event in &visible.events {
        // `case/<id>` holds only case events once `Visible` has taken the retractions out, so this
        // `else` never runs.
        let Some(data) = event.data().by_stream().as_case() else { continue };
        let step = |level: CaseLevel, status: CaseStatus, text: &str, event: &RecordedEvent| CaseStep {
            position: event.position(),
            on: event.effective(),
            level,
            status,
            text: text.to_owned(),
        };
        if let E::Opened(e) = data {
            if view.is_none() {
                view = Some(CaseView {
                    id: e.case.clone(),
                    agreement: e.agreement.clone(),
                    kind: e.kind,
                    parties: e.parties.clone(),
                    level: e.level,
                    status: CaseStatus::Open,
                    principled: e.principled,
                    summary: e.summary.clone(),
                    opened_on: event.effective(),
                    resolution: None,
                    resolved_by: None,
                    history: vec![step(e.level, CaseStatus::Open, &e.summary, event)],
                    because: Vec::new(),
                });
            }
            continue;
        }
        // Invariant: nothing happens to a case before it is opened.
        let Some(c) = view.as_mut() else { continue };
        match data {
            E::Escalated(e) => {
                c.level = e.to;
                c.history.push(step(e.to, c.status, &e.reason, event));
            }
            E::Resolved(e) => {
                c.status = CaseStatus::Resolved;
                c.resolution = Some(e.resolution.clone());
                c.resolved_by = e.decision.clone();
                c.history.push(step(c.level, c.status, &e.resolution, event));
            }
            E::Withdrawn(e) => {
                c.status = CaseStatus::Withdrawn;
                c.history.push(step(c.level, c.status, &e.reason, event));
            }
            // Handled above: a second opening changes nothing.
            E::Opened(_) => {}
        }
    }
    if let Some(c) = view.as_mut() {
        c.because = visible.positions();
    }
    view
}

impl Projections {
    /// A party on `at` as known at `as_known_at`, with the agreements binding it then.
    pub fn party(&self, id: &PartyId, at: Date, as_known_at: Timestamp) -> Option<PartyView> {
        let mut view = self.party_registration(id, Horizon::new(at, as_known_at))?;
        view.agreements = self.agreements(at, as_known_at).into_iter().filter(|a| a.binds(id)).map(|a| a.id).collect();
        Some(view)
    }

    /// Every party registered by `at` (without their agreements; ask [`Projections::party`]).
    pub fn parties(&self, at: Date, as_known_at: Timestamp) -> Vec<PartyView> {
        let horizon = Horizon::new(at, as_known_at);
        self.parties.all().iter().filter_map(|id| self.party_registration(id, horizon)).collect()
    }

    /// A party's registration on `at` as known at `as_known_at`, without its agreements: cheap, for
    /// naming the parties of an agreement.
    pub fn party_registration_view(&self, id: &PartyId, at: Date, as_known_at: Timestamp) -> Option<PartyView> {
        self.party_registration(id, Horizon::new(at, as_known_at))
    }

    pub(crate) fn party_registration(&self, id: &PartyId, horizon: Horizon) -> Option<PartyView> {
        fold_party(id, &self.visible_entity("party", id.as_str(), horizon))
    }

    /// A group on `at` as known at `as_known_at`. `None` if it was not established by then.
    pub fn group(&self, id: &GroupId, at: Date, as_known_at: Timestamp) -> Option<GroupView> {
        fold_group(&self.visible_entity("group", id.as_str(), Horizon::new(at, as_known_at)), at)
    }

    /// Every group established by `at`, active or not.
    pub fn groups(&self, at: Date, as_known_at: Timestamp) -> Vec<GroupView> {
        self.groups.all().iter().filter_map(|id| self.group(id, at, as_known_at)).collect()
    }

    /// A group's state on a horizon with no valid-time filter (for validation).
    pub(crate) fn group_now(&self, id: &GroupId, horizon: Horizon, at: Date) -> Option<GroupView> {
        fold_group(&self.visible_entity("group", id.as_str(), horizon), at)
    }

    /// A case on `at` as known at `as_known_at`. `None` if it was not opened by then.
    pub fn case(&self, id: &CaseId, at: Date, as_known_at: Timestamp) -> Option<CaseView> {
        fold_case(&self.visible_entity("case", id.as_str(), Horizon::new(at, as_known_at)))
    }

    /// Every case opened by `at`.
    pub fn cases(&self, at: Date, as_known_at: Timestamp) -> Vec<CaseView> {
        self.cases.all().iter().filter_map(|id| self.case(id, at, as_known_at)).collect()
    }
}
