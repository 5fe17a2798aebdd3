//! Who may decide what (DOMAIN.md, "Who may decide what"): every event that cites a decision is
//! valid only if the decision's body holds the competence.
//!
//! Competence is read from the ledger, not from slugs in code: a body's `of` names the party it
//! belongs to (a party acts through its own council, board or committees), the organisation it
//! belongs to (a board `of` a body of kind `ASSOCIATION` is that association's board – Storsthlm's
//! styrelse), or the group it is (a body `of` a group of kind `POLITICAL_STEERING` is VIS, `of` a
//! group of kind `OFFICIALS_STEERING` the officials' steering group).
//!
//! The competence table is that of the HÖK and its riktlinje. A decision dated before any group of
//! the competent kind was established (the termination of a subject-area agreement in 2016, before
//! VIS existed) was made under an older order the ledger does not model; such a decision is
//! accepted from any registered body, and the party-own-body rule, which is timeless, still holds.

use ledger::{
    AgreementKind, BodyId, BodyKind, ByStream, CaseLevel, Date, DecisionId, EventData, GroupId, GroupKind, PartyId,
    Slug, Timestamp,
};
use std::sync::Arc;

use crate::Projections;
use crate::fold::Horizon;

/// What a body is, as far as competence goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BodyRole {
    /// Vård i samverkan, the political steering group (a body `of` a `POLITICAL_STEERING` group).
    Vis,
    /// Tjänstemannastyrgrupp Sammanhållen vård och omsorg (a body `of` an `OFFICIALS_STEERING` group).
    Officials,
    /// The board of an association of the municipalities (Storsthlm's styrelse).
    AssociationBoard,
    /// A council, board or committee of a party.
    OfParty(PartyId),
    /// Anything else: a network, an administration, an association itself, an unlinked body.
    Other,
}

/// Who may make a decision (one row of the competence table).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Competent {
    /// VIS (HÖK 5, 7.1, 7.2; Riktlinje 2).
    Vis,
    /// The officials' steering group (HÖK 3, 4.2, 4.3, 4.6, 6; Riktlinje 1, 5.3, 8.6).
    Officials,
    /// A body of this party (HÖK 7.2; recommendation letter: "beslut om antagande … likställas med
    /// undertecknande").
    PartyItself(PartyId),
    /// A body of one of these parties (a local agreement's two parties, a case's parties at the
    /// local level).
    OneOf(Vec<PartyId>),
    /// A recommendation of a county-wide agreement: VIS, or Storsthlm's board (to the
    /// municipalities) or a body of the region (HSN, to the region) (HÖK 5; letter 003).
    Recommender,
    /// The remaining parties after a municipality's notice: VIS on their behalf, or a body of one
    /// of them (HÖK 7.2).
    Remaining { noticing: PartyId },
}

/// A requirement on one decision: who, for what, by which source.
#[derive(Debug, Clone)]
pub(crate) struct Requirement<'a> {
    pub(crate) decision: &'a DecisionId,
    pub(crate) who: Competent,
    /// What is decided, for the message ("a revision of agreement 'hok'").
    pub(crate) what: String,
    /// The seed section.
    pub(crate) source: &'static str,
}

/// Whether an agreement kind is county-wide (decided by VIS and recommended to the parties).
pub(crate) fn county_wide(kind: AgreementKind) -> bool {
    match kind {
        AgreementKind::Main | AgreementKind::SubjectArea | AgreementKind::Supplementary => true,
        AgreementKind::Guideline | AgreementKind::Local => false,
    }
}

/// Who decides (or terminates, supersedes, changes the parties of) an agreement of this kind.
pub(crate) fn decider(kind: AgreementKind, parties: &[PartyId]) -> (Competent, &'static str) {
    match kind {
        AgreementKind::Main | AgreementKind::SubjectArea | AgreementKind::Supplementary => {
            (Competent::Vis, "HÖK 5: \"VIS beslutar om gemensamma överenskommelser\"")
        }
        AgreementKind::Guideline => (Competent::Officials, "HÖK 3, 4.2; Riktlinje 1"),
        AgreementKind::Local => (Competent::OneOf(parties.to_vec()), "HÖK 5 (a local agreement is its parties' own)"),
    }
}

/// Who resolves a case at a level (HÖK 7.1).
pub(crate) fn resolver(level: CaseLevel, parties: &[PartyId]) -> Competent {
    match level {
        CaseLevel::Local => Competent::OneOf(parties.to_vec()),
        CaseLevel::Officials => Competent::Officials,
        CaseLevel::Political => Competent::Vis,
    }
}

/// Whether a group of this kind is decided on by the officials' steering group (HÖK 4.3, 4.6).
pub(crate) fn officials_decide_group(kind: GroupKind) -> bool {
    match kind {
        GroupKind::Consultation | GroupKind::Working => true,
        GroupKind::PoliticalSteering
        | GroupKind::OfficialsSteering
        | GroupKind::Secretariat
        | GroupKind::Subregional
        | GroupKind::Local
        | GroupKind::Network
        | GroupKind::Forum => false,
    }
}

impl Projections {
    /// What a body is, as the ledger knew it at `known` (registrations do not depend on valid time).
    pub fn body_role(&self, body: &BodyId, known: Timestamp) -> Option<BodyRole> {
        let (kind, of) = self.body_record(body, known)?;
        let Some(of) = of else { return Some(BodyRole::Other) };
        if let Ok(party) = of.as_str().parse::<PartyId>()
            && self.party_kind(&party, known).is_some()
        {
            return Some(match kind {
                BodyKind::Council | BodyKind::Board | BodyKind::Committee => BodyRole::OfParty(party),
                BodyKind::SteeringGroup | BodyKind::Network | BodyKind::Administration | BodyKind::Association => {
                    BodyRole::Other
                }
            });
        }
        if let Ok(group) = of.as_str().parse::<GroupId>()
            && let Some(group_kind) = self.group_kind(&group, known)
        {
            return Some(match group_kind {
                GroupKind::PoliticalSteering => BodyRole::Vis,
                GroupKind::OfficialsSteering => BodyRole::Officials,
                GroupKind::Consultation
                | GroupKind::Working
                | GroupKind::Secretariat
                | GroupKind::Subregional
                | GroupKind::Local
                | GroupKind::Network
                | GroupKind::Forum => BodyRole::Other,
            });
        }
        if let Ok(owner) = of.as_str().parse::<BodyId>()
            && kind == BodyKind::Board
            && self.body_record(&owner, known).is_some_and(|(k, _)| k == BodyKind::Association)
        {
            return Some(BodyRole::AssociationBoard);
        }
        Some(BodyRole::Other)
    }

    /// A body's kind and `of`, as registered by `known`.
    pub(crate) fn body_record(&self, body: &BodyId, known: Timestamp) -> Option<(BodyKind, Option<Slug>)> {
        let visible = self.visible_entity("body", body.as_str(), Horizon::everything(known));
        visible.events.iter().find_map(|e| match e.data().by_stream() {
            ByStream::Body(b) => Some((b.kind, b.of.clone())),
            _ => None,
        })
    }

    /// A decision's body and date, as recorded by `known`.
    pub(crate) fn decision_record(&self, decision: &DecisionId, known: Timestamp) -> Option<(BodyId, Date)> {
        let visible = self.visible_entity("decision", decision.as_str(), Horizon::everything(known));
        visible.events.iter().find_map(|e| match e.data() {
            EventData::DecisionRecorded(d) => Some((d.body.clone(), e.effective())),
            _ => None,
        })
    }

    /// A group's kind as established by `known`, whatever the date.
    fn group_kind(&self, group: &GroupId, known: Timestamp) -> Option<GroupKind> {
        self.group_established(group, known).map(|(kind, _)| kind)
    }

    /// A group's kind and establishment date, as known at `known`.
    fn group_established(&self, group: &GroupId, known: Timestamp) -> Option<(GroupKind, Date)> {
        let visible = self.visible_entity("group", group.as_str(), Horizon::everything(known));
        visible.events.iter().find_map(|e| match e.data() {
            EventData::GroupEstablished(g) => Some((g.kind, e.effective())),
            _ => None,
        })
    }

    /// Whether a group of this kind had been established on or before `on` (as known at `known`):
    /// before that, the competence table of the HÖK cannot apply.
    fn exists_group_of_kind(&self, kind: GroupKind, on: Date, known: Timestamp) -> bool {
        self.groups.all().iter().any(|g| self.group_established(g, known).is_some_and(|(k, d)| k == kind && d <= on))
    }

    /// Checks one requirement against the decision's record (its body and date): `Ok` when the
    /// body holds the competence.
    pub(crate) fn check_competence(
        &self,
        req: &Requirement<'_>,
        body: &BodyId,
        decided_on: Date,
        known: Timestamp,
    ) -> Result<(), String> {
        let role = self.body_role(body, known).unwrap_or(BodyRole::Other);
        let is_party = |p: &PartyId| role == BodyRole::OfParty(p.clone());
        let vis_exists = || self.exists_group_of_kind(GroupKind::PoliticalSteering, decided_on, known);
        let officials_exist = || self.exists_group_of_kind(GroupKind::OfficialsSteering, decided_on, known);
        let (ok, who) = match &req.who {
            Competent::Vis => (role == BodyRole::Vis || !vis_exists(), "VIS".to_owned()),
            Competent::Officials => (
                role == BodyRole::Officials || !officials_exist(),
                "the officials' steering group (Tjänstemannastyrgrupp Sammanhållen vård och omsorg)".to_owned(),
            ),
            Competent::PartyItself(party) => (is_party(party), format!("a council, board or committee of '{party}'")),
            Competent::OneOf(parties) => {
                let names: Vec<String> = parties.iter().map(|p| format!("'{p}'")).collect();
                (parties.iter().any(is_party), format!("a council, board or committee of {}", names.join(" or ")))
            }
            Competent::Recommender => (
                matches!(role, BodyRole::Vis | BodyRole::AssociationBoard)
                    || matches!(&role, BodyRole::OfParty(p) if self.party_kind(p, known) == Some(ledger::PartyKind::Region))
                    || !vis_exists(),
                "VIS, or Storsthlm's board (to the municipalities) or a body of the region such as HSN (to the region)"
                    .to_owned(),
            ),
            Competent::Remaining { noticing } => (
                role == BodyRole::Vis || matches!(&role, BodyRole::OfParty(p) if p != noticing) || !vis_exists(),
                format!(
                    "VIS on the remaining parties' behalf, or a body of one of the remaining parties (not '{noticing}')"
                ),
            ),
        };
        if ok {
            return Ok(());
        }
        let role_name = match &role {
            BodyRole::Vis => "VIS".to_owned(),
            BodyRole::Officials => "the officials' steering group".to_owned(),
            BodyRole::AssociationBoard => "an association's board".to_owned(),
            BodyRole::OfParty(p) => format!("a body of '{p}'"),
            BodyRole::Other => "not a body with that competence".to_owned(),
        };
        Err(format!(
            "decision '{}' was made by body '{body}' ({role_name}); {} is decided by {who} ({})",
            req.decision, req.what, req.source
        ))
    }
}

/// A decision-making body (API.md `BodyRegistered`), with what it is for competence.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BodyView {
    /// Its id.
    pub id: BodyId,
    /// Its name.
    pub name: String,
    /// Council, board, committee, …
    pub kind: BodyKind,
    /// The party, organisation or group it belongs to (or is).
    pub of: Option<Slug>,
    /// What it is for the competence table.
    pub role: BodyRole,
    /// The events the answer rests on.
    pub because: Vec<ledger::Position>,
}

/// A recorded decision: who decided, when, and what cites it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecisionView {
    /// Its id.
    pub id: DecisionId,
    /// The body that decided.
    pub body: BodyId,
    /// The decision's date.
    pub decided_on: Date,
    /// Diarienummer.
    pub reference: Option<String>,
    /// Protocol paragraph.
    pub paragraph: Option<String>,
    /// What was decided on.
    pub subject: String,
    /// A short summary.
    pub summary: Option<String>,
    /// The `DecisionRecorded` event.
    pub position: ledger::Position,
    /// The events citing the decision (adoptions, notices, …) on the axes, in log order.
    pub cited_by: Vec<ledger::Position>,
}

impl Projections {
    /// Every body registered by `known` (registrations do not depend on valid time), in
    /// registration order.
    pub fn bodies(&self, known: Timestamp) -> Vec<BodyView> {
        self.ids(&self.bodies).filter_map(|id| self.body(&id, known)).collect()
    }

    /// One body, as registered by `known`.
    pub fn body(&self, id: &BodyId, known: Timestamp) -> Option<BodyView> {
        let visible = self.visible_entity("body", id.as_str(), Horizon::everything(known));
        let registered = visible.events.iter().find_map(|e| match e.data().by_stream() {
            ByStream::Body(b) => Some(b.clone()),
            _ => None,
        })?;
        Some(BodyView {
            role: self.body_role(id, known).unwrap_or(BodyRole::Other),
            id: registered.body,
            name: registered.name,
            kind: registered.kind,
            of: registered.of,
            because: visible.positions(),
        })
    }

    /// Every decision made by `at`, as known at `known`, in recording order; only `body`'s, when
    /// given.
    pub fn decisions(&self, body: Option<&BodyId>, at: Date, known: Timestamp) -> Vec<DecisionView> {
        let mut views: Vec<DecisionView> = self.decisions_made(body, at, known).collect();
        self.cite(&mut views, at, known);
        views
    }

    /// [`Projections::decisions`] one by one, as far as the caller reads, without what cites them
    /// (`cited_by` empty; [`Projections::cite`] fills it in for those kept): a page of a county's
    /// decisions computes only as many as it shows, not every one (408,531 at a million events).
    pub fn decisions_made<'a>(
        &'a self,
        body: Option<&'a BodyId>,
        at: Date,
        known: Timestamp,
    ) -> impl Iterator<Item = DecisionView> + 'a {
        self.ids(&self.decisions)
            .filter_map(move |id| self.decision_view(&id, at, known))
            .filter(move |d| body.is_none_or(|b| &d.body == b))
    }

    /// Fills in `cited_by` of each of `views` (decisions on the axes `at`, `known`): the events
    /// citing it, on the same axes, in log order.
    pub fn cite(&self, views: &mut [DecisionView], at: Date, known: Timestamp) {
        let numbers: std::collections::HashMap<u32, Vec<usize>> =
            views.iter().enumerate().fold(Default::default(), |mut numbers, (i, view)| {
                if let Some(number) = self.cited_number(&view.id) {
                    numbers.entry(number).or_insert_with(Vec::new).push(i);
                }
                numbers
            });
        if numbers.is_empty() {
            return;
        }
        for (number, positions) in self.citations_where(at, known, |n| numbers.contains_key(&n)) {
            for i in numbers.get(&number).into_iter().flatten() {
                if let Some(view) = views.get_mut(*i) {
                    view.cited_by.clone_from(&positions);
                }
            }
        }
    }

    /// One decision, if made by `at` as known at `known`.
    pub fn decision(&self, id: &DecisionId, at: Date, known: Timestamp) -> Option<DecisionView> {
        let mut view = self.decision_view(id, at, known)?;
        self.cite(std::slice::from_mut(&mut view), at, known);
        Some(view)
    }

    /// A decision's view without what cites it (`cited_by` empty).
    fn decision_view(&self, id: &DecisionId, at: Date, known: Timestamp) -> Option<DecisionView> {
        let visible = self.visible_entity("decision", id.as_str(), Horizon::new(at, known));
        let (event, recorded) = visible.events.iter().find_map(|e| match e.data() {
            EventData::DecisionRecorded(d) => Some((Arc::clone(e), d.clone())),
            _ => None,
        })?;
        Some(DecisionView {
            id: recorded.decision,
            body: recorded.body,
            decided_on: event.effective(),
            reference: recorded.reference,
            paragraph: recorded.paragraph,
            subject: recorded.subject,
            summary: recorded.summary,
            position: event.position(),
            cited_by: Vec::new(),
        })
    }
}
