//! The timeline: what changed between two dates, what falls due, and what an auditor should look
//! at (API.md §2 `changes`, `deadlines`, `findings`), each converted field by field from the
//! projections' typed kinds.

use async_graphql::resolver_utils::EnumType;
use async_graphql::{Context, Object, SimpleObject};
use ledger::{Position, Timestamp};
use projections::{ChangeKind, DeadlineKind, FindingKind};

use super::event::Event;
use super::scalars::{Axes, Date, DateTime};
use super::{listed, readable};
use crate::error::{ApiError, ApiResult};

/// What kind of change (`Change.kind` holds its name).
#[derive(async_graphql::Enum, Debug, Clone, Copy, PartialEq, Eq)]
#[graphql(name = "ChangeKind", rename_items = "SCREAMING_SNAKE_CASE")]
pub(super) enum ChangeKindName {
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
pub(super) enum DeadlineKindName {
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
pub(super) struct Change {
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
        Event::all_at(ctx, &self.because)
    }
}

/// A date by which something is due or ends.
#[derive(Debug, Clone, SimpleObject)]
pub(super) struct Deadline {
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

/// What kind of finding (`Finding.kind` holds its name). Each applies only from the day its
/// source took effect, and only to the parties it addresses.
#[derive(async_graphql::Enum, Debug, Clone, Copy, PartialEq, Eq)]
#[graphql(name = "FindingKind", rename_items = "SCREAMING_SNAKE_CASE")]
pub(super) enum FindingKindName {
    /// A party has not answered a recommendation by its response date (letter 003; per pair under
    /// EACH_PARTY).
    RecommendationUnanswered,
    /// A county-wide document in force is not published in the portal (HÖK 4.7, 5).
    InForceUnpublished,
    /// No samordnande vårdcentral designated by 30 April, nor since (letter 003; Riktlinje 7.1.2).
    HealthCentreCoordinatorMissing,
    /// The health centres designated theirs after 30 April.
    HealthCentreCoordinatorLate,
    /// The samordnande vårdcentral was designated by the municipality.
    HealthCentreCoordinatorWrongDesignator,
    /// A municipality bound by the riktlinje has no samordnande funktion for the year (Riktlinje 7.1.1).
    MunicipalFunctionMissing,
    /// The follow-up plan was decided late or is missing (HÖK 6).
    FollowUpPlanLate,
    /// A planned follow-up has no report by its due date (the end of the following year).
    FollowUpUnreported,
    /// A follow-up was reported after its due date.
    FollowUpReportedLate,
    /// A year ended without its annual dialogue (HÖK 6; Riktlinje 8.2).
    AnnualDialogueMissing,
    /// The annual dialogue of a year was held in a later year.
    AnnualDialogueLate,
    /// A problem report has had no feedback for 90 days (Riktlinje 8.6).
    ProblemWithoutFeedback,
    /// A problem was raised to VIS without feedback first or without the officials' steering group
    /// (Riktlinje 8.6).
    ProblemRaisedOutsideChain,
    /// An escalation case has stood at one level for 180 days (HÖK 7.1).
    CaseStalled,
    /// A notice on an agreement that states no notice period: the leave date is unknown.
    NoticePeriodUnknown,
    /// A municipality or the region without an agreement in force for a statutory duty (HÖK 5;
    /// Förstudie 8).
    StatutoryAgreementMissing,
}

/// Something an auditor should look at.
#[derive(Debug, Clone, SimpleObject)]
#[graphql(complex)]
pub(super) struct Finding {
    /// What kind: a `FindingKind` name (`IN_FORCE_UNPUBLISHED`, `PROBLEM_WITHOUT_FEEDBACK`, …).
    kind: String,
    /// The agreement concerned.
    agreement: Option<String>,
    /// The party concerned.
    party: Option<String>,
    /// The municipality or district concerned (local coordinators).
    area: Option<String>,
    /// The escalation case concerned.
    case: Option<String>,
    /// The problem report concerned.
    problem: Option<String>,
    /// The year concerned (coordinators, follow-up).
    year: Option<i32>,
    /// The statutory duty concerned.
    duty: Option<String>,
    /// The day it arose: the first day the rule sees it.
    arose: Date,
    /// What it is about, as a person names it ("Botkyrka kommun", an agreement's title).
    subject: String,
    /// A sentence for a person.
    description: String,
    #[graphql(skip)]
    because: Vec<Position>,
}

#[async_graphql::ComplexObject]
impl Finding {
    /// The events behind it.
    async fn because(&self, ctx: &Context<'_>) -> ApiResult<Vec<Event>> {
        Event::all_at(ctx, &self.because)
    }
}

/// The fields a change, deadline or finding has besides its subject, with the subject empty: each
/// conversion below names its subject with struct update syntax, so no field is given by position.
impl Change {
    fn base(c: &projections::Change, kind: ChangeKindName, description: String) -> Self {
        Change {
            on: Date(c.on),
            kind: graphql_name(kind).to_owned(),
            agreement: None,
            party: None,
            group: None,
            case: None,
            description,
            because: c.because.clone(),
        }
    }
}

impl From<projections::Change> for Change {
    fn from(c: projections::Change) -> Self {
        use ChangeKindName as N;
        let s = |x: &dyn ToString| Some(x.to_string());
        match &c.kind {
            ChangeKind::EnteredIntoForce { agreement } => Change {
                agreement: s(agreement),
                ..Change::base(&c, N::EnteredIntoForce, format!("{agreement} entered into force"))
            },
            ChangeKind::Ended { agreement, status } => Change {
                agreement: s(agreement),
                ..Change::base(&c, N::Ended, format!("{agreement} ended ({status})"))
            },
            ChangeKind::StatusChanged { agreement, from, to } => Change {
                agreement: s(agreement),
                ..Change::base(&c, N::StatusChanged, format!("{agreement} went from {from} to {to}"))
            },
            ChangeKind::VersionChanged { agreement, version } => {
                let version = version.map_or("none".into(), |v| v.to_string());
                Change {
                    agreement: s(agreement),
                    ..Change::base(&c, N::VersionChanged, format!("{agreement} version {version} applies"))
                }
            }
            ChangeKind::PartyJoined { agreement, party } => Change {
                agreement: s(agreement),
                party: s(party),
                ..Change::base(&c, N::PartyJoined, format!("{party} is bound by {agreement}"))
            },
            ChangeKind::PartyLeft { agreement, party } => Change {
                agreement: s(agreement),
                party: s(party),
                ..Change::base(&c, N::PartyLeft, format!("{party} is no longer bound by {agreement}"))
            },
            ChangeKind::GroupEstablished { group } => {
                Change { group: s(group), ..Change::base(&c, N::GroupEstablished, format!("{group} was established")) }
            }
            ChangeKind::GroupEnded { group } => {
                Change { group: s(group), ..Change::base(&c, N::GroupEnded, format!("{group} ended")) }
            }
            ChangeKind::MemberAppointed { group, person } => {
                Change { group: s(group), ..Change::base(&c, N::MemberAppointed, format!("{person} joined {group}")) }
            }
            ChangeKind::MemberLeft { group, person } => {
                Change { group: s(group), ..Change::base(&c, N::MemberLeft, format!("{person} left {group}")) }
            }
            ChangeKind::CaseMoved { case, level, status } => Change {
                case: s(case),
                ..Change::base(&c, N::CaseMoved, format!("case {case} is {} at level {level}", status.as_str()))
            },
        }
    }
}

impl Deadline {
    fn base(d: &projections::Deadline, kind: DeadlineKindName, description: String) -> Self {
        Deadline {
            on: Date(d.on),
            kind: graphql_name(kind).to_owned(),
            agreement: None,
            parties: Vec::new(),
            group: None,
            description,
        }
    }
}

impl From<projections::Deadline> for Deadline {
    fn from(d: projections::Deadline) -> Self {
        use DeadlineKindName as N;
        match &d.kind {
            DeadlineKind::ResponseDue { agreement, version, pending } => Deadline {
                agreement: Some(agreement.to_string()),
                parties: pending.iter().map(ToString::to_string).collect(),
                ..Deadline::base(
                    &d,
                    N::ResponseDue,
                    format!("answers to {agreement} version {version} are due ({} pending)", pending.len()),
                )
            },
            DeadlineKind::NoticePeriodEnds { agreement, party } => Deadline {
                agreement: Some(agreement.to_string()),
                parties: vec![party.to_string()],
                ..Deadline::base(&d, N::NoticePeriodEnds, format!("{party}'s notice on {agreement} takes effect"))
            },
            DeadlineKind::ContinuationDecisionPending { agreement, party } => Deadline {
                agreement: Some(agreement.to_string()),
                parties: vec![party.to_string()],
                ..Deadline::base(
                    &d,
                    N::ContinuationDecisionPending,
                    format!("the remaining parties must decide whether {agreement} continues after {party}'s notice"),
                )
            },
            DeadlineKind::VersionExpires { agreement, version } => Deadline {
                agreement: Some(agreement.to_string()),
                ..Deadline::base(
                    &d,
                    N::VersionExpires,
                    format!("{agreement} version {version} applies for the last day"),
                )
            },
            DeadlineKind::HealthCentreDesignation { year } => Deadline::base(
                &d,
                N::HealthCentreDesignation,
                format!("health centres choose their coordinating health centre for {year} (else HSF designates)"),
            ),
            DeadlineKind::FollowUpPlanDue { year } => {
                Deadline::base(&d, N::FollowUpPlanDue, format!("the follow-up plan for {year} is due"))
            }
            DeadlineKind::AnnualDialogueDue { year } => {
                Deadline::base(&d, N::AnnualDialogueDue, format!("the annual dialogue of {year} is due"))
            }
            DeadlineKind::GroupEnds { group } => {
                Deadline { group: Some(group.to_string()), ..Deadline::base(&d, N::GroupEnds, format!("{group} ends")) }
            }
        }
    }
}

impl Finding {
    fn base(f: &projections::Finding, description: String) -> Self {
        Finding {
            kind: f.kind.name().to_owned(),
            agreement: None,
            party: None,
            area: None,
            case: None,
            problem: None,
            year: None,
            duty: None,
            arose: Date(f.arose_on),
            subject: f.subject.clone(),
            description,
            because: f.because.clone(),
        }
    }
}

impl From<projections::Finding> for Finding {
    fn from(f: projections::Finding) -> Self {
        let s = |x: &dyn ToString| Some(x.to_string());
        let who = &f.subject;
        match &f.kind {
            FindingKind::RecommendationUnanswered { agreement, party, due } => Finding {
                agreement: s(agreement),
                party: s(party),
                ..Finding::base(&f, format!("{who} has not answered the recommendation of {agreement}, due {due}"))
            },
            FindingKind::InForceUnpublished { agreement } => Finding {
                agreement: s(agreement),
                ..Finding::base(&f, format!("{who} is in force but not published in the portal (HÖK 4.7)"))
            },
            FindingKind::HealthCentreCoordinatorMissing { area, year } => Finding {
                area: s(area),
                year: Some(*year),
                ..Finding::base(
                    &f,
                    format!(
                        "no samordnande vårdcentral is recorded for {who} in {year}, due 30 April; HSF must designate one"
                    ),
                )
            },
            FindingKind::HealthCentreCoordinatorLate { area, year, designated_on } => Finding {
                area: s(area),
                year: Some(*year),
                ..Finding::base(
                    &f,
                    format!(
                        "the health centres of {who} designated their samordnande vårdcentral for {year} on {designated_on}, after 30 April, when it was HSF's to designate"
                    ),
                )
            },
            FindingKind::HealthCentreCoordinatorWrongDesignator { area, year } => Finding {
                area: s(area),
                year: Some(*year),
                ..Finding::base(
                    &f,
                    format!(
                        "the samordnande vårdcentral of {who} for {year} was designated by the municipality; the health centres choose it, else HSF"
                    ),
                )
            },
            FindingKind::MunicipalFunctionMissing { municipality, year } => Finding {
                party: s(municipality),
                year: Some(*year),
                ..Finding::base(
                    &f,
                    format!("no samordnande funktion is recorded for {who} in {year} (Riktlinje 7.1.1)"),
                )
            },
            FindingKind::FollowUpPlanLate { year } => Finding {
                year: Some(*year),
                ..Finding::base(&f, format!("the follow-up plan for {year} was decided late or is missing (HÖK 6)"))
            },
            FindingKind::FollowUpUnreported { year, agreement } => Finding {
                agreement: s(agreement),
                year: Some(*year),
                ..Finding::base(&f, format!("the planned follow-up of {who} in {year} has no report"))
            },
            FindingKind::FollowUpReportedLate { year, agreement, reported_on } => Finding {
                agreement: s(agreement),
                year: Some(*year),
                ..Finding::base(&f, format!("the follow-up of {who} in {year} was reported late, on {reported_on}"))
            },
            FindingKind::AnnualDialogueMissing { year } => Finding {
                year: Some(*year),
                ..Finding::base(&f, format!("no annual dialogue was held in {year} (HÖK 6)"))
            },
            FindingKind::AnnualDialogueLate { year, held_on } => Finding {
                year: Some(*year),
                ..Finding::base(&f, format!("the annual dialogue of {year} was held late, on {held_on}"))
            },
            FindingKind::ProblemWithoutFeedback { problem } => Finding {
                problem: s(problem),
                ..Finding::base(&f, format!("problem {who} has had no feedback from HSF or Storsthlm (Riktlinje 8.6)"))
            },
            FindingKind::ProblemRaisedOutsideChain { problem } => Finding {
                problem: s(problem),
                ..Finding::base(
                    &f,
                    format!(
                        "problem {who} was raised to VIS without feedback first or without the officials' steering group (Riktlinje 8.6)"
                    ),
                )
            },
            FindingKind::CaseStalled { case, level, since } => Finding {
                case: s(case),
                ..Finding::base(&f, format!("case {who} has stood at level {} since {since}", level.as_str()))
            },
            FindingKind::NoticePeriodUnknown { agreement, party } => Finding {
                agreement: s(agreement),
                party: s(party),
                ..Finding::base(
                    &f,
                    format!("{party} gave notice on {who}, which states no notice period: its leave date is unknown"),
                )
            },
            FindingKind::StatutoryAgreementMissing { duty, party } => Finding {
                duty: s(duty),
                party: s(party),
                ..Finding::base(
                    &f,
                    format!(
                        "{who}: no agreement in force binds this party under the law that requires it (statutory duty {duty})"
                    ),
                )
            },
        }
    }
}

/// The timeline part of the query root.
#[derive(Debug, Default)]
pub(super) struct TimelineQuery;

#[Object]
impl TimelineQuery {
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
        let app = readable(ctx)?;
        check_range(from, to)?;
        let axes = Axes::new(None, as_known_at);
        let changes = app.projections()?.changes(from.0, to.0, axes.known);
        let kinds: Option<Vec<&str>> = kinds.map(|k| k.into_iter().map(graphql_name).collect());
        let changes = changes
            .into_iter()
            .map(Change::from)
            .filter(|c| wanted(&c.kind, c.agreement.as_deref(), kinds.as_deref(), agreement.as_deref()))
            .collect();
        listed(ctx, changes)
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
        let app = readable(ctx)?;
        check_range(from, to)?;
        let axes = Axes::new(None, as_known_at);
        let deadlines = app.projections()?.deadlines(from.0, to.0, axes.known);
        let kinds: Option<Vec<&str>> = kinds.map(|k| k.into_iter().map(graphql_name).collect());
        let deadlines = deadlines
            .into_iter()
            .map(Deadline::from)
            .filter(|d| wanted(&d.kind, d.agreement.as_deref(), kinds.as_deref(), agreement.as_deref()))
            .collect();
        listed(ctx, deadlines)
    }

    /// What an auditor should look at on `at`, as known at `asKnownAt`, rule by rule (see
    /// `FindingKind`); only the given `kinds`, when given.
    async fn findings(
        &self,
        ctx: &Context<'_>,
        at: Option<Date>,
        as_known_at: Option<DateTime>,
        kinds: Option<Vec<FindingKindName>>,
    ) -> ApiResult<Vec<Finding>> {
        let app = readable(ctx)?;
        let axes = Axes::new(at, as_known_at);
        let kinds: Option<Vec<&str>> = kinds.map(|k| k.into_iter().map(graphql_name).collect());
        let findings = app
            .projections()?
            .findings(axes.at, axes.known)
            .into_iter()
            .map(Finding::from)
            .filter(|f| wanted(&f.kind, None, kinds.as_deref(), None))
            .collect();
        listed(ctx, findings)
    }
}

/// Longest span `changes` and `deadlines` accept: they scan day by day.
const MAX_RANGE_DAYS: i64 = 366 * 20;

/// Whether an item of `kind` about `agreement` passes the filters (`None`: no filter).
fn wanted(kind: &str, agreement: Option<&str>, kinds: Option<&[&str]>, of_agreement: Option<&str>) -> bool {
    kinds.is_none_or(|kinds| kinds.contains(&kind)) && of_agreement.is_none_or(|wanted| agreement == Some(wanted))
}

pub(super) fn check_range(from: Date, to: Date) -> Result<(), ApiError> {
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

    use super::{ChangeKindName, DeadlineKindName, FindingKindName, graphql_name};

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
        // The finding kinds are the projections' names, in their order.
        let names: Vec<&str> = FindingKindName::items().iter().map(|item| item.name).collect();
        assert_eq!(names, projections::FindingKind::NAMES);
    }
}
