//! What applied, on both time axes: agreements, parties, groups, cases, follow-up, changes,
//! deadlines and findings (API.md §2). Every read takes `at` (valid time, default today) and
//! `asKnownAt` (record time, default now). Resolvers are thin: they ask the projections and convert.

use async_graphql::resolver_utils::EnumType;
use async_graphql::{Context, Object, SimpleObject};
use ledger::{AgreementId, CaseId, GroupId, PartyId, Position, Timestamp};
use projections::{
    AgreementView, CaseView, ChangeKind, DeadlineKind, FindingKind, GroupView, MemberView,
    Participation as ParticipationView, PartyView, VersionView,
};

use super::enums::{
    AgreementKind, AgreementStatus, Binding, CaseKind, CaseLevel, CaseStatus, GroupKind, MemberRole, PartyKind,
};
use super::events::Event;
use super::scalars::{Date, DateTime};
use crate::error::{ApiError, ApiResult};
use crate::server::AppState;

/// The two time axes of a question.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Axes {
    at: ledger::Date,
    known: Timestamp,
}

impl Axes {
    fn new(at: Option<Date>, as_known_at: Option<DateTime>) -> Self {
        Self {
            at: at.map_or_else(ledger::Date::today_utc, |d| d.0),
            known: as_known_at.map_or_else(Timestamp::now, |t| t.0),
        }
    }
}

fn parse_id<T: std::str::FromStr<Err = ledger::InvalidSlug>>(id: &str) -> Result<T, ApiError> {
    id.parse().map_err(|e: ledger::InvalidSlug| ApiError::invalid(e.to_string()))
}

/// The events at `positions`, for `because`.
fn events_at(state: &AppState, positions: &[Position]) -> ApiResult<Vec<Event>> {
    let mut out = Vec::with_capacity(positions.len());
    for position in positions {
        match state.ledger.get(*position).map_err(ApiError::from)? {
            Some(event) => out.push(Event(event)),
            None => return Err(ApiError::internal(&format!("projection cites missing position {position}")).into()),
        }
    }
    Ok(out)
}

fn party_of(state: &AppState, id: &PartyId, axes: Axes) -> ApiResult<Option<Party>> {
    let projections = state.projections.read()?;
    Ok(projections.party_registration_view(id, axes.at, axes.known).map(|view| Party { view, axes }))
}

/// An agreement as it stood at `at`, as known at `asKnownAt`.
#[derive(Debug, Clone)]
pub(crate) struct Agreement {
    view: AgreementView,
    axes: Axes,
}

#[Object]
impl Agreement {
    /// Its id (a slug, e.g. `hok`).
    async fn id(&self) -> &str {
        self.view.id.as_str()
    }
    /// Its title.
    async fn title(&self) -> &str {
        &self.view.title
    }
    /// Main, guideline, subject area, supplementary or local.
    async fn kind(&self) -> AgreementKind {
        self.view.kind.into()
    }
    /// How it becomes binding.
    async fn binding(&self) -> Binding {
        self.view.binding.into()
    }
    /// Where it stands on `at`.
    async fn status(&self) -> AgreementStatus {
        self.view.status.into()
    }
    /// Whether it applies on `at`.
    async fn in_force(&self) -> bool {
        self.view.in_force
    }
    /// The first day it applies (as the ledger knew it).
    async fn in_force_from(&self) -> Option<Date> {
        self.view.in_force_from.map(Date)
    }
    /// The last day it applies, when an end is known.
    async fn in_force_until(&self) -> Option<Date> {
        self.view.in_force_until.map(Date)
    }
    /// The version that applies on `at`.
    async fn version(&self) -> Option<u32> {
        self.view.version
    }
    /// Every version known on `at`, oldest first: proposal, decision, recommendation, publication
    /// and the day each came (or comes) into force.
    async fn versions(&self) -> Vec<AgreementVersion> {
        self.view.versions.iter().map(AgreementVersion::from).collect()
    }
    /// Whether the applying version is published in the digital portal (HÖK 4.7, 5).
    async fn published(&self) -> bool {
        self.view.published
    }
    /// The agreement this one belongs under.
    async fn parent(&self, ctx: &Context<'_>) -> ApiResult<Option<Agreement>> {
        let Some(parent) = &self.view.parent else { return Ok(None) };
        agreement_of(AppState::from_ctx(ctx)?, parent, self.axes)
    }
    /// Notice period in months.
    async fn notice_months(&self) -> Option<u32> {
        self.view.notice_months
    }
    /// Every required party's participation.
    async fn parties(&self) -> Vec<Participation> {
        self.view.parties.iter().map(|p| Participation { view: p.clone(), axes: self.axes }).collect()
    }
    /// Required parties that have not adopted the applying (or pending) version.
    async fn pending_parties(&self, ctx: &Context<'_>) -> ApiResult<Vec<Party>> {
        let state = AppState::from_ctx(ctx)?;
        let mut out = Vec::new();
        for id in &self.view.pending_parties {
            if let Some(p) = party_of(state, id, self.axes)? {
                out.push(p);
            }
        }
        Ok(out)
    }
    /// The group that stewards it.
    async fn steward(&self, ctx: &Context<'_>) -> ApiResult<Option<Group>> {
        let Some(id) = &self.view.steward else { return Ok(None) };
        let state = AppState::from_ctx(ctx)?;
        let projections = state.projections.read()?;
        Ok(projections.group(id, self.axes.at, self.axes.known).map(|view| Group { view, axes: self.axes }))
    }
    /// Interpretations issued (by VIS, HÖK 7.1) up to `at`.
    async fn interpretations(&self) -> Vec<Interpretation> {
        self.view
            .interpretations
            .iter()
            .map(|i| Interpretation {
                decision: i.decision.to_string(),
                case: i.case.as_ref().map(ToString::to_string),
                text: i.text.clone(),
                issued_on: Date(i.issued_on),
                position: i.position.get(),
            })
            .collect()
    }
    /// The events that make this answer what it is.
    async fn because(&self, ctx: &Context<'_>) -> ApiResult<Vec<Event>> {
        events_at(AppState::from_ctx(ctx)?, &self.view.because)
    }
}

/// One version of an agreement, as known on the queried date.
#[derive(Debug, Clone, SimpleObject)]
pub(crate) struct AgreementVersion {
    /// The version number, from 1.
    number: u32,
    /// When it was proposed.
    proposed_on: Date,
    /// Its document.
    document: Option<VersionDocument>,
    /// What changed.
    summary: Option<String>,
    /// The first day it may apply.
    earliest_effective: Option<Date>,
    /// The last day it applies (temporary agreements).
    expires: Option<Date>,
    /// When a body decided it.
    decided_on: Option<Date>,
    /// That decision's id.
    decision: Option<String>,
    /// The first day it applies, as the decision states.
    effective_from: Option<Date>,
    /// When it was recommended to the parties.
    recommended_on: Option<Date>,
    /// The last day of the recommendation's response period.
    response_due: Option<Date>,
    /// When it was published in the digital portal.
    published_on: Option<Date>,
    /// Where.
    published_url: Option<String>,
    /// When it comes (or came) into force by the rules, once everything needed has happened.
    in_force_from: Option<Date>,
}

impl From<&VersionView> for AgreementVersion {
    fn from(v: &VersionView) -> Self {
        Self {
            number: v.number,
            proposed_on: Date(v.proposed_on),
            document: v.document.as_ref().map(|d| VersionDocument {
                title: d.title.clone(),
                url: d.url.clone(),
                sha256: d.sha256.clone(),
            }),
            summary: v.summary.clone(),
            earliest_effective: v.earliest_effective.map(Date),
            expires: v.expires.map(Date),
            decided_on: v.decided_on.map(Date),
            decision: v.decision.as_ref().map(ToString::to_string),
            effective_from: v.effective_from.map(Date),
            recommended_on: v.recommended_on.map(Date),
            response_due: v.response_due.map(Date),
            published_on: v.published_on.map(Date),
            published_url: v.published_url.clone(),
            in_force_from: v.in_force_from.map(Date),
        }
    }
}

/// The document of an agreement version.
#[derive(Debug, Clone, SimpleObject)]
pub(crate) struct VersionDocument {
    /// Its title.
    title: String,
    /// Where it is published.
    url: Option<String>,
    /// The SHA-256 of its bytes, hex, when known.
    sha256: Option<String>,
}

/// An interpretation of an agreement.
#[derive(Debug, Clone, SimpleObject)]
pub(crate) struct Interpretation {
    /// The deciding decision's id.
    decision: String,
    /// The case that asked for it.
    case: Option<String>,
    /// The interpretation.
    text: String,
    /// The decision date.
    issued_on: Date,
    /// The event's position.
    position: u64,
}

/// A party's participation in an agreement.
#[derive(Debug, Clone)]
pub(crate) struct Participation {
    view: ParticipationView,
    axes: Axes,
}

#[Object]
impl Participation {
    /// The party.
    async fn party(&self, ctx: &Context<'_>) -> ApiResult<Party> {
        let state = AppState::from_ctx(ctx)?;
        party_of(state, &self.view.party, self.axes)?
            .ok_or_else(|| ApiError::not_found(format!("party {} is not registered", self.view.party)).into())
    }
    /// When it adopted the version that applies or is pending.
    async fn adopted_on(&self) -> Option<Date> {
        self.view.adopted_on.map(Date)
    }
    /// When it declined.
    async fn declined_on(&self) -> Option<Date> {
        self.view.declined_on.map(Date)
    }
    /// When it gave notice.
    async fn notice_given_on(&self) -> Option<Date> {
        self.view.notice_given_on.map(Date)
    }
    /// The first day it no longer participates (notice date + notice period).
    async fn leaves_on(&self) -> Option<Date> {
        self.view.leaves_on.map(Date)
    }
    /// Whether the agreement binds it on `at`.
    async fn bound(&self) -> bool {
        self.view.bound
    }
}

/// A party.
#[derive(Debug, Clone)]
pub(crate) struct Party {
    view: PartyView,
    axes: Axes,
}

#[Object]
impl Party {
    /// Its id.
    async fn id(&self) -> &str {
        self.view.id.as_str()
    }
    /// Its name.
    async fn name(&self) -> &str {
        &self.view.name
    }
    /// Region, municipality or municipal association.
    async fn kind(&self) -> PartyKind {
        self.view.kind.into()
    }
    /// Its districts (Stockholm's stadsdelar).
    async fn districts(&self) -> Vec<String> {
        self.view.districts.iter().map(|d| d.name.clone()).collect()
    }
    /// The agreements binding it on `at`.
    async fn agreements(&self, ctx: &Context<'_>) -> ApiResult<Vec<Agreement>> {
        let state = AppState::from_ctx(ctx)?;
        let projections = state.projections.read()?;
        Ok(projections
            .agreements(self.axes.at, self.axes.known)
            .into_iter()
            .filter(|a| a.parties.iter().any(|p| p.party == self.view.id && p.bound))
            .map(|view| Agreement { view, axes: self.axes })
            .collect())
    }
    /// The events that make this answer what it is.
    async fn because(&self, ctx: &Context<'_>) -> ApiResult<Vec<Event>> {
        events_at(AppState::from_ctx(ctx)?, &self.view.because)
    }
}

/// A group of the collaboration's organisation.
#[derive(Debug, Clone)]
pub(crate) struct Group {
    view: GroupView,
    axes: Axes,
}

#[Object]
impl Group {
    /// Its id.
    async fn id(&self) -> &str {
        self.view.id.as_str()
    }
    /// Its name on `at`.
    async fn name(&self) -> &str {
        &self.view.name
    }
    /// What kind of group.
    async fn kind(&self) -> GroupKind {
        self.view.kind.into()
    }
    /// Whether it exists and works on `at` (not dissolved, not past its end date).
    async fn active(&self) -> bool {
        self.view.active
    }
    /// Its mandate on `at`.
    async fn mandate(&self) -> Option<&str> {
        Some(self.view.mandate.as_str()).filter(|m| !m.is_empty())
    }
    /// When it was established.
    async fn established_on(&self) -> Date {
        Date(self.view.established_on)
    }
    /// The first day it no longer exists, if limited in time.
    async fn ends_on(&self) -> Option<Date> {
        self.view.ends_on.map(Date)
    }
    /// The group it reports to.
    async fn parent(&self, ctx: &Context<'_>) -> ApiResult<Option<Group>> {
        let Some(id) = &self.view.parent else { return Ok(None) };
        let state = AppState::from_ctx(ctx)?;
        let projections = state.projections.read()?;
        Ok(projections.group(id, self.axes.at, self.axes.known).map(|view| Group { view, axes: self.axes }))
    }
    /// Members on `at`.
    async fn members(&self) -> Vec<Member> {
        self.view.members.iter().map(Into::into).collect()
    }
    /// Every appointment ever, with its interval.
    async fn member_history(&self) -> Vec<Member> {
        self.view.member_history.iter().map(Into::into).collect()
    }
    /// The events that make this answer what it is.
    async fn because(&self, ctx: &Context<'_>) -> ApiResult<Vec<Event>> {
        events_at(AppState::from_ctx(ctx)?, &self.view.because)
    }
}

/// A person.
#[derive(Debug, Clone, SimpleObject)]
pub(crate) struct Person {
    /// Full name.
    name: String,
    /// Title or office.
    title: Option<String>,
}

/// An appointment to a group.
#[derive(Debug, Clone, SimpleObject)]
pub(crate) struct Member {
    /// Who.
    person: Person,
    /// Their role.
    role: MemberRole,
    /// Whom they represent.
    represents: Option<String>,
    /// First day of the appointment.
    from: Date,
    /// Last day of the appointment, if ended or limited.
    until: Option<Date>,
}

impl From<&MemberView> for Member {
    fn from(m: &MemberView) -> Self {
        Member {
            person: Person { name: m.person.name.clone(), title: m.person.title.clone() },
            role: m.role.into(),
            represents: Some(m.represents.clone()),
            from: Date(m.from),
            until: m.until.map(Date),
        }
    }
}

/// An escalation case (HÖK 7.1).
#[derive(Debug, Clone)]
pub(crate) struct Case {
    view: CaseView,
    axes: Axes,
}

#[Object]
impl Case {
    /// Its id.
    async fn id(&self) -> &str {
        self.view.id.as_str()
    }
    /// The agreement concerned.
    async fn agreement(&self, ctx: &Context<'_>) -> ApiResult<Option<Agreement>> {
        agreement_of(AppState::from_ctx(ctx)?, &self.view.agreement, self.axes)
    }
    /// Deviation or interpretation.
    async fn kind(&self) -> CaseKind {
        self.view.kind.into()
    }
    /// The ladder step it is at.
    async fn level(&self) -> CaseLevel {
        self.view.level.into()
    }
    /// Open, resolved or withdrawn.
    async fn status(&self) -> CaseStatus {
        self.view.status.into()
    }
    /// Whether it is of a principled nature.
    async fn principled(&self) -> bool {
        self.view.principled
    }
    /// What it is about.
    async fn summary(&self) -> &str {
        &self.view.summary
    }
    /// The case's events, in order.
    async fn history(&self, ctx: &Context<'_>) -> ApiResult<Vec<Event>> {
        events_at(AppState::from_ctx(ctx)?, &self.view.because)
    }
}

/// An agreement's follow-up in a year.
#[derive(Debug, Clone, SimpleObject)]
#[graphql(complex)]
pub(crate) struct FollowUpItem {
    #[graphql(skip)]
    agreement_id: AgreementId,
    #[graphql(skip)]
    axes: Axes,
    /// Whether it was in the year's plan.
    planned: bool,
    /// Whether a follow-up was reported.
    reported: bool,
    /// When.
    reported_on: Option<Date>,
}

#[async_graphql::ComplexObject]
impl FollowUpItem {
    /// The agreement followed up.
    async fn agreement(&self, ctx: &Context<'_>) -> ApiResult<Option<Agreement>> {
        agreement_of(AppState::from_ctx(ctx)?, &self.agreement_id, self.axes)
    }
}

/// A year of follow-up (HÖK 6, Riktlinje 8).
#[derive(Debug, Clone, SimpleObject)]
pub(crate) struct FollowUpYear {
    /// The year.
    year: i32,
    /// When the plan was decided.
    plan_decided_on: Option<Date>,
    /// Whether the plan was decided on or after the year began.
    plan_late: bool,
    /// Whether the annual dialogue was held.
    dialogue_held: bool,
    /// The agreements planned or reported.
    agreements: Vec<FollowUpItem>,
}

/// What kind of change (`Change.kind` holds its name).
#[derive(async_graphql::Enum, Debug, Clone, Copy, PartialEq, Eq)]
#[graphql(name = "ChangeKind", rename_items = "SCREAMING_SNAKE_CASE")]
pub(crate) enum ChangeKindName {
    /// An agreement came into force.
    EnteredIntoForce,
    /// An agreement stopped applying: TERMINATED, EXPIRED or SUPERSEDED.
    Ended,
    /// An agreement's status changed otherwise (e.g. to CONTINUATION_PENDING, BLOCKED).
    StatusChanged,
    /// Another version of an agreement applies.
    VersionChanged,
    /// A party became bound by an agreement.
    PartyJoined,
    /// An agreement stopped binding a party while it still applies.
    PartyLeft,
    /// A group was established.
    GroupEstablished,
    /// A group ended.
    GroupEnded,
    /// A member was appointed to a group.
    MemberAppointed,
    /// A member left a group.
    MemberLeft,
    /// An escalation case changed level or status.
    CaseMoved,
}

/// What kind of deadline (`Deadline.kind` holds its name).
#[derive(async_graphql::Enum, Debug, Clone, Copy, PartialEq, Eq)]
#[graphql(name = "DeadlineKind", rename_items = "SCREAMING_SNAKE_CASE")]
pub(crate) enum DeadlineKindName {
    /// Answers to a recommended version are due.
    ResponseDue,
    /// A party leaves after its notice (the first day it no longer takes part).
    NoticePeriodEnds,
    /// The remaining parties must decide whether an agreement continues after a notice.
    ContinuationDecisionPending,
    /// The last day a version applies.
    VersionExpires,
    /// 30 April: the health centres' choice of coordinating health centre (seed 003).
    HealthCentreDesignation,
    /// The follow-up plan for a year is due.
    FollowUpPlanDue,
    /// The annual dialogue of a year is due.
    AnnualDialogueDue,
    /// A group ends.
    GroupEnds,
}

/// The GraphQL name of an enum value (`ENTERED_INTO_FORCE`), as async-graphql's derive spells it:
/// `Change.kind` and `Deadline.kind` are these names, so the filters' enums and the strings agree.
fn graphql_name<E: EnumType + PartialEq>(value: E) -> &'static str {
    // The derive lists every value, so the empty fallback is never used (a unit test checks).
    E::items().iter().find(|item| item.value == value).map_or("", |item| item.name)
}

/// Something that changed between two dates.
#[derive(Debug, Clone, SimpleObject)]
#[graphql(complex)]
pub(crate) struct Change {
    /// The day it took effect.
    on: Date,
    /// What kind of change: a `ChangeKind` name (`ENTERED_INTO_FORCE`, `PARTY_JOINED`, …).
    kind: String,
    /// The agreement concerned.
    agreement: Option<String>,
    /// The party concerned.
    party: Option<String>,
    /// The group concerned.
    group: Option<String>,
    /// The case concerned.
    case: Option<String>,
    /// A sentence for a person.
    description: String,
    #[graphql(skip)]
    because: Vec<Position>,
}

#[async_graphql::ComplexObject]
impl Change {
    /// The events behind it.
    async fn because(&self, ctx: &Context<'_>) -> ApiResult<Vec<Event>> {
        events_at(AppState::from_ctx(ctx)?, &self.because)
    }
}

/// A date by which something is due or ends.
#[derive(Debug, Clone, SimpleObject)]
pub(crate) struct Deadline {
    /// The day.
    on: Date,
    /// What kind: a `DeadlineKind` name (`RESPONSE_DUE`, `NOTICE_PERIOD_ENDS`, …).
    kind: String,
    /// The agreement concerned.
    agreement: Option<String>,
    /// The party or parties concerned.
    parties: Vec<String>,
    /// The group concerned.
    group: Option<String>,
    /// A sentence for a person.
    description: String,
}

/// Something an auditor should look at.
#[derive(Debug, Clone, SimpleObject)]
#[graphql(complex)]
pub(crate) struct Finding {
    /// What kind (`IN_FORCE_UNPUBLISHED`, `PROBLEM_WITHOUT_FEEDBACK`, …).
    kind: String,
    /// The agreement concerned.
    agreement: Option<String>,
    /// The party concerned.
    party: Option<String>,
    /// A sentence for a person.
    description: String,
    #[graphql(skip)]
    because: Vec<Position>,
}

#[async_graphql::ComplexObject]
impl Finding {
    /// The events behind it.
    async fn because(&self, ctx: &Context<'_>) -> ApiResult<Vec<Event>> {
        events_at(AppState::from_ctx(ctx)?, &self.because)
    }
}

fn agreement_of(state: &AppState, id: &AgreementId, axes: Axes) -> ApiResult<Option<Agreement>> {
    let projections = state.projections.read()?;
    Ok(projections.agreement(id, axes.at, axes.known).map(|view| Agreement { view, axes }))
}

fn change(c: projections::Change) -> Change {
    let s = |x: &dyn ToString| Some(x.to_string());
    let (kind, agreement, party, group, case, description) = match &c.kind {
        ChangeKind::EnteredIntoForce { agreement } => (
            ChangeKindName::EnteredIntoForce,
            s(agreement),
            None,
            None,
            None,
            format!("{agreement} entered into force"),
        ),
        ChangeKind::Ended { agreement, status } => {
            (ChangeKindName::Ended, s(agreement), None, None, None, format!("{agreement} ended ({status})"))
        }
        ChangeKind::StatusChanged { agreement, from, to } => (
            ChangeKindName::StatusChanged,
            s(agreement),
            None,
            None,
            None,
            format!("{agreement} went from {from} to {to}"),
        ),
        ChangeKind::VersionChanged { agreement, version } => (
            ChangeKindName::VersionChanged,
            s(agreement),
            None,
            None,
            None,
            format!("{agreement} version {} applies", version.map_or("none".into(), |v| v.to_string())),
        ),
        ChangeKind::PartyJoined { agreement, party } => (
            ChangeKindName::PartyJoined,
            s(agreement),
            s(party),
            None,
            None,
            format!("{party} is bound by {agreement}"),
        ),
        ChangeKind::PartyLeft { agreement, party } => (
            ChangeKindName::PartyLeft,
            s(agreement),
            s(party),
            None,
            None,
            format!("{party} is no longer bound by {agreement}"),
        ),
        ChangeKind::GroupEstablished { group } => {
            (ChangeKindName::GroupEstablished, None, None, s(group), None, format!("{group} was established"))
        }
        ChangeKind::GroupEnded { group } => {
            (ChangeKindName::GroupEnded, None, None, s(group), None, format!("{group} ended"))
        }
        ChangeKind::MemberAppointed { group, person } => {
            (ChangeKindName::MemberAppointed, None, None, s(group), None, format!("{person} joined {group}"))
        }
        ChangeKind::MemberLeft { group, person } => {
            (ChangeKindName::MemberLeft, None, None, s(group), None, format!("{person} left {group}"))
        }
        ChangeKind::CaseMoved { case, level, status } => (
            ChangeKindName::CaseMoved,
            None,
            None,
            None,
            s(case),
            format!("case {case} is {} at level {level}", status.as_str()),
        ),
    };
    Change {
        on: Date(c.on),
        kind: graphql_name(kind).to_owned(),
        agreement,
        party,
        group,
        case,
        description,
        because: c.because,
    }
}

fn deadline(d: projections::Deadline) -> Deadline {
    let (kind, agreement, parties, group, description) = match &d.kind {
        DeadlineKind::ResponseDue { agreement, version, pending } => (
            DeadlineKindName::ResponseDue,
            Some(agreement.to_string()),
            pending.iter().map(ToString::to_string).collect(),
            None,
            format!("answers to {agreement} version {version} are due ({} pending)", pending.len()),
        ),
        DeadlineKind::NoticePeriodEnds { agreement, party } => (
            DeadlineKindName::NoticePeriodEnds,
            Some(agreement.to_string()),
            vec![party.to_string()],
            None,
            format!("{party}'s notice on {agreement} takes effect"),
        ),
        DeadlineKind::ContinuationDecisionPending { agreement, party } => (
            DeadlineKindName::ContinuationDecisionPending,
            Some(agreement.to_string()),
            vec![party.to_string()],
            None,
            format!("the remaining parties must decide whether {agreement} continues after {party}'s notice"),
        ),
        DeadlineKind::VersionExpires { agreement, version } => (
            DeadlineKindName::VersionExpires,
            Some(agreement.to_string()),
            Vec::new(),
            None,
            format!("{agreement} version {version} applies for the last day"),
        ),
        DeadlineKind::HealthCentreDesignation { year } => (
            DeadlineKindName::HealthCentreDesignation,
            None,
            Vec::new(),
            None,
            format!("health centres choose their coordinating health centre for {year} (else HSF designates)"),
        ),
        DeadlineKind::FollowUpPlanDue { year } => {
            (DeadlineKindName::FollowUpPlanDue, None, Vec::new(), None, format!("the follow-up plan for {year} is due"))
        }
        DeadlineKind::AnnualDialogueDue { year } => (
            DeadlineKindName::AnnualDialogueDue,
            None,
            Vec::new(),
            None,
            format!("the annual dialogue of {year} is due"),
        ),
        DeadlineKind::GroupEnds { group } => {
            (DeadlineKindName::GroupEnds, None, Vec::new(), Some(group.to_string()), format!("{group} ends"))
        }
    };
    Deadline { on: Date(d.on), kind: graphql_name(kind).to_owned(), agreement, parties, group, description }
}

fn finding(f: projections::Finding) -> Finding {
    let (kind, agreement, party, description) = match &f.kind {
        FindingKind::InForceUnpublished { agreement } => (
            "IN_FORCE_UNPUBLISHED",
            Some(agreement.to_string()),
            None,
            format!("{agreement} is in force but not published in the portal (HÖK 4.7)"),
        ),
        FindingKind::ProblemWithoutFeedback { problem } => {
            ("PROBLEM_WITHOUT_FEEDBACK", None, None, format!("problem {problem} has had no feedback"))
        }
        FindingKind::RecommendationUnanswered { agreement, party, due } => (
            "RECOMMENDATION_UNANSWERED",
            Some(agreement.to_string()),
            Some(party.to_string()),
            format!("{party} has not answered the recommendation of {agreement}, due {due}"),
        ),
        FindingKind::FollowUpPlanLate { year } => {
            ("FOLLOW_UP_PLAN_LATE", None, None, format!("the follow-up plan for {year} was decided late"))
        }
        FindingKind::FollowUpUnreported { year, agreement } => (
            "FOLLOW_UP_UNREPORTED",
            Some(agreement.to_string()),
            None,
            format!("the planned follow-up of {agreement} in {year} has no report"),
        ),
        FindingKind::AnnualDialogueMissing { year } => {
            ("ANNUAL_DIALOGUE_MISSING", None, None, format!("no annual dialogue was held in {year}"))
        }
        FindingKind::HealthCentreCoordinatorMissing { area, year } => (
            "HEALTH_CENTRE_COORDINATOR_MISSING",
            None,
            None,
            format!("{area} has no coordinating health centre for {year}; HSF must designate one"),
        ),
    };
    Finding { kind: kind.to_owned(), agreement, party, description, because: f.because }
}

/// The state part of the query root.
#[derive(Debug, Default)]
pub(crate) struct StateQuery;

#[Object]
impl StateQuery {
    /// Every agreement known by `asKnownAt`, as it stood on `at`.
    async fn agreements(
        &self,
        ctx: &Context<'_>,
        at: Option<Date>,
        as_known_at: Option<DateTime>,
    ) -> ApiResult<Vec<Agreement>> {
        let state = AppState::readable(ctx)?;
        let axes = Axes::new(at, as_known_at);
        let projections = state.projections.read()?;
        Ok(projections.agreements(axes.at, axes.known).into_iter().map(|view| Agreement { view, axes }).collect())
    }

    /// One agreement on `at`, as known at `asKnownAt`; null if not drafted by then.
    async fn agreement(
        &self,
        ctx: &Context<'_>,
        id: String,
        at: Option<Date>,
        as_known_at: Option<DateTime>,
    ) -> ApiResult<Option<Agreement>> {
        let state = AppState::readable(ctx)?;
        agreement_of(state, &parse_id(&id)?, Axes::new(at, as_known_at))
    }

    /// One party, with the agreements binding it on `at`.
    async fn party(
        &self,
        ctx: &Context<'_>,
        id: String,
        at: Option<Date>,
        as_known_at: Option<DateTime>,
    ) -> ApiResult<Option<Party>> {
        let state = AppState::readable(ctx)?;
        let id: PartyId = parse_id(&id)?;
        party_of(state, &id, Axes::new(at, as_known_at))
    }

    /// Every party registered by `at`.
    async fn parties(
        &self,
        ctx: &Context<'_>,
        at: Option<Date>,
        as_known_at: Option<DateTime>,
    ) -> ApiResult<Vec<Party>> {
        let state = AppState::readable(ctx)?;
        let axes = Axes::new(at, as_known_at);
        let projections = state.projections.read()?;
        Ok(projections.parties(axes.at, axes.known).into_iter().map(|view| Party { view, axes }).collect())
    }

    /// Every group established by `at`, active or not.
    async fn groups(
        &self,
        ctx: &Context<'_>,
        at: Option<Date>,
        as_known_at: Option<DateTime>,
    ) -> ApiResult<Vec<Group>> {
        let state = AppState::readable(ctx)?;
        let axes = Axes::new(at, as_known_at);
        let projections = state.projections.read()?;
        Ok(projections.groups(axes.at, axes.known).into_iter().map(|view| Group { view, axes }).collect())
    }

    /// One group.
    async fn group(
        &self,
        ctx: &Context<'_>,
        id: String,
        at: Option<Date>,
        as_known_at: Option<DateTime>,
    ) -> ApiResult<Option<Group>> {
        let state = AppState::readable(ctx)?;
        let id: GroupId = parse_id(&id)?;
        let axes = Axes::new(at, as_known_at);
        let projections = state.projections.read()?;
        Ok(projections.group(&id, axes.at, axes.known).map(|view| Group { view, axes }))
    }

    /// Every escalation case opened by `at`.
    async fn cases(&self, ctx: &Context<'_>, at: Option<Date>, as_known_at: Option<DateTime>) -> ApiResult<Vec<Case>> {
        let state = AppState::readable(ctx)?;
        let axes = Axes::new(at, as_known_at);
        let projections = state.projections.read()?;
        Ok(projections.cases(axes.at, axes.known).into_iter().map(|view| Case { view, axes }).collect())
    }

    /// One escalation case.
    async fn case(
        &self,
        ctx: &Context<'_>,
        id: String,
        at: Option<Date>,
        as_known_at: Option<DateTime>,
    ) -> ApiResult<Option<Case>> {
        let state = AppState::readable(ctx)?;
        let id: CaseId = parse_id(&id)?;
        let axes = Axes::new(at, as_known_at);
        let projections = state.projections.read()?;
        Ok(projections.case(&id, axes.at, axes.known).map(|view| Case { view, axes }))
    }

    /// A year of follow-up: plan, reports, dialogue.
    async fn follow_up(&self, ctx: &Context<'_>, year: i32, as_known_at: Option<DateTime>) -> ApiResult<FollowUpYear> {
        let state = AppState::readable(ctx)?;
        if !(1900..=2200).contains(&year) {
            return Err(ApiError::invalid(format!("year {year} is out of range 1900–2200")).into());
        }
        let axes = Axes::new(None, as_known_at);
        let f = state.projections.read()?.follow_up(year, axes.known);
        Ok(FollowUpYear {
            year: f.year,
            plan_decided_on: f.plan_decided_on.map(Date),
            plan_late: f.plan_late,
            dialogue_held: f.dialogue_held,
            agreements: f
                .agreements
                .into_iter()
                .map(|i| FollowUpItem {
                    agreement_id: i.agreement,
                    axes,
                    planned: i.planned,
                    reported: i.reported,
                    reported_on: i.reported_on.map(Date),
                })
                .collect(),
        })
    }

    /// What changed between two dates (inclusive), as known at `asKnownAt`; only changes of
    /// `agreement` and of the given `kinds`, when given.
    async fn changes(
        &self,
        ctx: &Context<'_>,
        from: Date,
        to: Date,
        as_known_at: Option<DateTime>,
        agreement: Option<String>,
        kinds: Option<Vec<ChangeKindName>>,
    ) -> ApiResult<Vec<Change>> {
        let state = AppState::readable(ctx)?;
        check_range(from, to)?;
        let axes = Axes::new(None, as_known_at);
        let changes = state.projections.read()?.changes(from.0, to.0, axes.known);
        let kinds: Option<Vec<&str>> = kinds.map(|k| k.into_iter().map(graphql_name).collect());
        Ok(changes
            .into_iter()
            .map(change)
            .filter(|c| wanted(&c.kind, c.agreement.as_deref(), kinds.as_deref(), agreement.as_deref()))
            .collect())
    }

    /// Deadlines between two dates (inclusive), as known at `asKnownAt`; only those of
    /// `agreement` and of the given `kinds`, when given.
    async fn deadlines(
        &self,
        ctx: &Context<'_>,
        from: Date,
        to: Date,
        as_known_at: Option<DateTime>,
        agreement: Option<String>,
        kinds: Option<Vec<DeadlineKindName>>,
    ) -> ApiResult<Vec<Deadline>> {
        let state = AppState::readable(ctx)?;
        check_range(from, to)?;
        let axes = Axes::new(None, as_known_at);
        let deadlines = state.projections.read()?.deadlines(from.0, to.0, axes.known);
        let kinds: Option<Vec<&str>> = kinds.map(|k| k.into_iter().map(graphql_name).collect());
        Ok(deadlines
            .into_iter()
            .map(deadline)
            .filter(|d| wanted(&d.kind, d.agreement.as_deref(), kinds.as_deref(), agreement.as_deref()))
            .collect())
    }

    /// What an auditor should look at on `at`: unpublished documents in force, problems without
    /// feedback, unanswered recommendations, late plans, missing reports and dialogues.
    async fn findings(
        &self,
        ctx: &Context<'_>,
        at: Option<Date>,
        as_known_at: Option<DateTime>,
    ) -> ApiResult<Vec<Finding>> {
        let state = AppState::readable(ctx)?;
        let axes = Axes::new(at, as_known_at);
        Ok(state.projections.read()?.findings(axes.at, axes.known).into_iter().map(finding).collect())
    }
}

/// Longest span `changes` and `deadlines` accept: they scan day by day.
const MAX_RANGE_DAYS: i64 = 366 * 20;

/// Whether an item of `kind` about `agreement` passes the filters (`None`: no filter).
fn wanted(kind: &str, agreement: Option<&str>, kinds: Option<&[&str]>, of_agreement: Option<&str>) -> bool {
    kinds.is_none_or(|kinds| kinds.contains(&kind)) && of_agreement.is_none_or(|wanted| agreement == Some(wanted))
}

fn check_range(from: Date, to: Date) -> Result<(), ApiError> {
    if from > to {
        return Err(ApiError::invalid(format!("from ({}) is after to ({})", from.0, to.0)));
    }
    let days = (Timestamp::start_of(to.0).as_micros() - Timestamp::start_of(from.0).as_micros()) / 86_400_000_000;
    if days > MAX_RANGE_DAYS {
        return Err(ApiError::invalid(format!("the range is {days} days; the limit is {MAX_RANGE_DAYS}")));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use async_graphql::resolver_utils::EnumType;

    use super::{ChangeKindName, DeadlineKindName, graphql_name};

    #[test]
    fn kind_strings_are_the_graphql_enum_names() {
        assert_eq!(graphql_name(ChangeKindName::EnteredIntoForce), "ENTERED_INTO_FORCE");
        assert_eq!(graphql_name(DeadlineKindName::ContinuationDecisionPending), "CONTINUATION_DECISION_PENDING");
        for item in ChangeKindName::items() {
            assert_eq!(graphql_name(item.value), item.name);
        }
        for item in DeadlineKindName::items() {
            assert_eq!(graphql_name(item.value), item.name);
        }
    }
}
