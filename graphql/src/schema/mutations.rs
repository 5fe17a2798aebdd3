//! The typed mutations of API.md §2: one per event type, each recording one event and returning it
//! as stored.
//!
//! Every mutation's input holds the event's `data` fields (camelCase, typed) plus `effective`, an
//! optional `source`, an optional `eventId` (idempotency) and an optional `expectedVersion`
//! (optimistic concurrency on the event's stream). The data part of an input serializes with serde
//! to exactly the JSON of API.md §1 and is read by [`ledger::EventData::from_json`], the same path an import
//! takes, so the ledger's own parsing (slugs, UUIDs, vocabularies) is the one validation of shape.
//!
//! Every mutation is a thin call into the application's write service, [`crate::app::record`]:
//! authenticate, parse, authorise the role, validate, append, apply.

use async_graphql::{Context, ID, InputObject, Object};
use serde::{Serialize, Serializer};

use super::enums::{
    AgreementKind, Binding, BodyKind, CaseKind, CaseLevel, CoordinatorRole, Designator, GroupKind, MemberRole,
    PartyKind, ProblemRecipient,
};
use super::event::Event;
use super::scalars::Date;
use super::{app, caller};
use crate::app::{Command, record};
use crate::error::{ApiError, ApiResult};

/// The source document behind an event: what an auditor opens to check it.
#[derive(Debug, Clone, InputObject)]
struct SourceInput {
    /// The document's title, e.g. "Protokollsutdrag kommunfullmäktige 2022-06-13 § 93".
    title: String,
    /// Diarienummer or other reference.
    reference: Option<String>,
    /// Where the document is published.
    url: Option<String>,
    /// Anything an auditor should know, e.g. that a date is illustrative.
    note: Option<String>,
}

impl From<SourceInput> for ledger::Source {
    fn from(s: SourceInput) -> Self {
        ledger::Source { title: s.title, reference: s.reference, url: s.url, note: s.note }
    }
}

/// A document an agreement version refers to.
#[derive(Debug, Clone, InputObject, Serialize)]
#[serde(rename_all = "camelCase")]
struct DocumentInput {
    /// The document's title.
    title: String,
    /// Where it is published.
    url: Option<String>,
    /// The SHA-256 of the document's bytes, hex, when known.
    sha256: Option<String>,
}

/// A person appointed to a group. Public-sector role data only.
#[derive(Debug, Clone, InputObject, Serialize)]
#[serde(rename_all = "camelCase")]
struct PersonInput {
    /// Full name.
    name: String,
    /// Title or office.
    title: Option<String>,
}

/// A person referred to by name, as appointed.
#[derive(Debug, Clone, InputObject, Serialize)]
#[serde(rename_all = "camelCase")]
struct PersonRefInput {
    /// Full name, as appointed.
    name: String,
}

/// A follow-up report.
#[derive(Debug, Clone, InputObject, Serialize)]
#[serde(rename_all = "camelCase")]
struct ReportInput {
    /// The report's title.
    title: String,
    /// Where it is published.
    url: Option<String>,
}

/// Serializes a `Date` input field as the ledger's `YYYY-MM-DD`.
fn date<S: Serializer>(d: &Date, s: S) -> Result<S::Ok, S::Error> {
    d.0.serialize(s)
}

/// Serializes an optional `Date` input field as the ledger's `YYYY-MM-DD` or `null`.
fn opt_date<S: Serializer>(d: &Option<Date>, s: S) -> Result<S::Ok, S::Error> {
    d.map(|d| d.0).serialize(s)
}

/// Generates, for each event type, its input object and its mutation on [`MutationRoot`].
///
/// Each entry reads `method(InputName) => EventType { data fields }`. The data fields are declared
/// once and serve both GraphQL (`InputObject`) and the ledger's JSON (serde, camelCase; the enums
/// serialize as their SCREAMING names). The envelope fields are added to every input and skipped by
/// serde.
macro_rules! mutations {
    ($(
        $(#[$doc:meta])*
        $method:ident($input:ident) => $event:ident {
            $( $(#[$field_attr:meta])* $field:ident : $ty:ty ),* $(,)?
        }
    )+) => {
        $(
            #[doc = concat!("What to record as a `", stringify!($event),
                "` event: its data, when it took effect, and how to record it.")]
            #[derive(Debug, InputObject, Serialize)]
            #[serde(rename_all = "camelCase")]
            struct $input {
                $( $(#[$field_attr])* $field: $ty, )*
                /// Valid time: the date the fact belongs to (usually the decision date), `YYYY-MM-DD`.
                #[serde(skip)]
                effective: Date,
                /// The source document behind the event.
                #[serde(skip)]
                source: Option<SourceInput>,
                /// A UUID chosen by the client to make the call idempotent: sending the same event
                /// with the same id again returns the stored event and records nothing new.
                #[serde(skip)]
                event_id: Option<ID>,
                /// Record only if the event's stream is at this version (0: the stream does not
                /// exist yet); otherwise nothing is recorded and the error is `CONFLICT`.
                #[serde(skip)]
                expected_version: Option<u64>,
            }

            impl $input {
                /// The command to record, and the expected version of its stream.
                fn into_command(self) -> Result<(Command, Option<u64>), ApiError> {
                    // Invariant: `$event` names a variant of `EventData`, checked at compile time.
                    const _: fn(ledger::$event) -> ledger::EventData = ledger::EventData::$event;
                    // Serializing a plain input struct cannot fail in practice; should it, that is
                    // the server's fault.
                    let data = serde_json::to_value(&self).map_err(|e| ApiError::internal(&e))?;
                    let command = Command {
                        type_name: stringify!($event).to_owned(),
                        data,
                        effective: self.effective.0,
                        source: self.source.map(Into::into),
                        event_id: self.event_id.map(|id| id.0),
                    };
                    Ok((command, self.expected_version))
                }
            }
        )+

        /// The event types the mutations record, in declaration order.
        #[cfg(test)]
        const RECORDED_TYPES: &[&str] = &[$(stringify!($event)),+];

        /// The mutation root: one mutation per event type (API.md §2). Every mutation needs
        /// `Authorization: Bearer <token>` and returns the event as stored.
        #[Object(name = "Mutation")]
        impl MutationRoot {
            $(
                $(#[$doc])*
                async fn $method(&self, ctx: &Context<'_>, input: $input) -> ApiResult<Event> {
                    let (command, expected_version) = input.into_command()?;
                    let committed = record(app(ctx)?, caller(ctx), command, expected_version).await?;
                    Ok(Event(committed.event))
                }
            )+
        }
    };
}

/// The mutation root. The write lock that serialises commands lives in the application, so every
/// schema over one [`crate::app::App`] shares it.
#[derive(Debug, Default)]
pub struct MutationRoot;

mutations! {
    /// Registers a party (region, municipality or municipal association; HÖK 7.3).
    register_party(RegisterPartyInput) => PartyRegistered {
        /// The party's id, a lowercase slug, e.g. `nacka`.
        party: ID,
        /// Its name.
        name: String,
        /// Region, municipality or municipal association.
        kind: PartyKind,
    }

    /// Registers a district (stadsdel) of a municipality (Riktlinje 1, 7).
    register_district(RegisterDistrictInput) => DistrictRegistered {
        /// The district's id.
        district: ID,
        /// Its name.
        name: String,
        /// The municipality it belongs to.
        municipality: ID,
    }

    /// Registers a decision-making body.
    register_body(RegisterBodyInput) => BodyRegistered {
        /// The body's id.
        body: ID,
        /// Its name.
        name: String,
        /// Council, board, committee, …
        kind: BodyKind,
        /// The party or organisation it belongs to.
        of: Option<ID>,
    }

    /// Records a decision of a registered body, so that events can refer to it.
    record_decision(RecordDecisionInput) => DecisionRecorded {
        /// The decision's id.
        decision: ID,
        /// The body that decided.
        body: ID,
        /// Diarienummer.
        reference: Option<String>,
        /// Protocol paragraph (§).
        paragraph: Option<String>,
        /// What was decided on.
        subject: String,
        /// A short summary.
        summary: Option<String>,
    }

    /// Drafts an agreement with its required parties and how it becomes binding.
    draft_agreement(DraftAgreementInput) => AgreementDrafted {
        /// The agreement's id.
        agreement: ID,
        /// Its title.
        title: String,
        /// Main, guideline, subject area, supplementary or local.
        kind: AgreementKind,
        /// The agreement it belongs under.
        parent: Option<ID>,
        /// The required parties.
        parties: Vec<ID>,
        /// How it becomes binding.
        binding: Binding,
        /// Notice period in months (24 for the HÖK, HÖK 7.2).
        notice_months: Option<u32>,
        /// Months between the last approval of a revision and its entry into force.
        revision_lead_months: Option<u32>,
    }

    /// Proposes a version of an agreement.
    propose_version(ProposeVersionInput) => VersionProposed {
        /// The agreement.
        agreement: ID,
        /// The version number, from 1.
        version: u32,
        /// The document.
        document: Option<DocumentInput>,
        /// The first day the version may apply.
        #[serde(serialize_with = "opt_date")]
        earliest_effective: Option<Date>,
        /// The last day it applies (temporary agreements).
        #[serde(serialize_with = "opt_date")]
        expires: Option<Date>,
        /// What changed.
        summary: Option<String>,
    }

    /// Records that a body decided a version (a guideline comes into force here).
    decide_version(DecideVersionInput) => VersionDecided {
        /// The agreement.
        agreement: ID,
        /// The version.
        version: u32,
        /// The decision.
        decision: ID,
        /// The first day it applies, when the decision says.
        #[serde(serialize_with = "opt_date")]
        effective_from: Option<Date>,
    }

    /// Records that a version was recommended to the parties, with a response deadline.
    recommend_version(RecommendVersionInput) => VersionRecommended {
        /// The agreement.
        agreement: ID,
        /// The version.
        version: u32,
        /// The recommending decision.
        decision: ID,
        /// The last day for the parties' answers.
        #[serde(serialize_with = "date")]
        response_due: Date,
    }

    /// Records that a party adopted a version. A PARTY token may record this for its own party.
    record_adoption(RecordAdoptionInput) => PartyAdopted {
        /// The agreement.
        agreement: ID,
        /// The version.
        version: u32,
        /// The adopting party.
        party: ID,
        /// The party's decision.
        decision: ID,
    }

    /// Records that a party declined a version. A PARTY token may record this for its own party.
    record_declination(RecordDeclinationInput) => PartyDeclined {
        /// The agreement.
        agreement: ID,
        /// The version.
        version: u32,
        /// The declining party.
        party: ID,
        /// The party's decision.
        decision: ID,
    }

    /// Changes the set of required parties of an agreement by decision.
    change_required_parties(ChangeRequiredPartiesInput) => RequiredPartiesChanged {
        /// The agreement.
        agreement: ID,
        /// The new required parties.
        parties: Vec<ID>,
        /// The decision.
        decision: ID,
    }

    /// Records that a version was published in the digital portal (HÖK 4.7, 5).
    publish_version(PublishVersionInput) => VersionPublished {
        /// The agreement.
        agreement: ID,
        /// The version.
        version: u32,
        /// Where.
        url: String,
    }

    /// Records that a party gave notice (uppsägning, HÖK 7.2). A PARTY token may record this for
    /// its own party.
    give_notice(GiveNoticeInput) => NoticeGiven {
        /// The agreement.
        agreement: ID,
        /// The party.
        party: ID,
        /// The party's decision.
        decision: ID,
    }

    /// Records that a party withdrew its notice. A PARTY token may record this for its own party.
    withdraw_notice(WithdrawNoticeInput) => NoticeWithdrawn {
        /// The agreement.
        agreement: ID,
        /// The party.
        party: ID,
        /// The party's decision.
        decision: ID,
    }

    /// Records whether the remaining parties continue an agreement after a municipality's notice.
    decide_continuation(DecideContinuationInput) => ContinuationDecided {
        /// The agreement.
        agreement: ID,
        /// The municipality whose notice prompted the decision.
        after_notice_by: ID,
        /// Whether the agreement continues for the remaining parties.
        continues: bool,
        /// The decision.
        decision: ID,
    }

    /// Terminates an agreement by decision.
    terminate_agreement(TerminateAgreementInput) => AgreementTerminated {
        /// The agreement.
        agreement: ID,
        /// The decision.
        decision: ID,
        /// Why.
        reason: String,
    }

    /// Records that an agreement is superseded by another.
    supersede_agreement(SupersedeAgreementInput) => AgreementSuperseded {
        /// The agreement that ends.
        agreement: ID,
        /// The agreement that replaces it.
        by: ID,
        /// The decision.
        decision: ID,
    }

    /// Records an interpretation of an agreement (HÖK 7.1).
    issue_interpretation(IssueInterpretationInput) => InterpretationIssued {
        /// The agreement.
        agreement: ID,
        /// The case that asked for it.
        case: Option<ID>,
        /// The decision.
        decision: ID,
        /// The interpretation.
        text: String,
    }

    /// Makes a group steward ("förvaltar") of an agreement.
    assign_steward(AssignStewardInput) => StewardAssigned {
        /// The agreement.
        agreement: ID,
        /// The group.
        group: ID,
    }

    /// Establishes a group.
    establish_group(EstablishGroupInput) => GroupEstablished {
        /// The group's id.
        group: ID,
        /// Its name.
        name: String,
        /// What kind of group.
        kind: GroupKind,
        /// The group it reports to.
        parent: Option<ID>,
        /// Its mandate.
        mandate: String,
        /// The establishing decision.
        decision: Option<ID>,
        /// The first day it no longer exists (working groups limited in time).
        #[serde(serialize_with = "opt_date")]
        ends_on: Option<Date>,
        /// The municipality or district of a local group.
        area: Option<ID>,
    }

    /// Changes a group's mandate by decision.
    change_mandate(ChangeMandateInput) => MandateChanged {
        /// The group.
        group: ID,
        /// The new mandate.
        mandate: String,
        /// The decision.
        decision: ID,
    }

    /// Renames a group.
    rename_group(RenameGroupInput) => GroupRenamed {
        /// The group.
        group: ID,
        /// The new name.
        name: String,
    }

    /// Appoints a person to a group.
    appoint_member(AppointMemberInput) => MemberAppointed {
        /// The group.
        group: ID,
        /// The person.
        person: PersonInput,
        /// Their role.
        role: MemberRole,
        /// Whom they represent (a party, "kommunerna", Storsthlm, …).
        represents: String,
        /// Who appointed them.
        appointed_by: Option<String>,
        /// The last day of the appointment.
        #[serde(serialize_with = "opt_date")]
        until: Option<Date>,
    }

    /// Records that a person left a group.
    record_member_left(RecordMemberLeftInput) => MemberLeft {
        /// The group.
        group: ID,
        /// The person, by name as appointed.
        person: PersonRefInput,
        /// Why.
        reason: Option<String>,
    }

    /// Dissolves a group by decision.
    dissolve_group(DissolveGroupInput) => GroupDissolved {
        /// The group.
        group: ID,
        /// The decision.
        decision: ID,
    }

    /// Designates a local coordinator for an area and year.
    designate_coordinator(DesignateCoordinatorInput) => CoordinatorDesignated {
        /// The municipality or district.
        area: ID,
        /// Municipal function or health centre.
        role: CoordinatorRole,
        /// Who holds it (a unit or health centre).
        holder: String,
        /// The year.
        year: i32,
        /// Who designated it.
        designated_by: Designator,
    }

    /// Opens an escalation case (HÖK 7.1).
    open_case(OpenCaseInput) => CaseOpened {
        /// The case's id.
        case: ID,
        /// The agreement concerned.
        agreement: ID,
        /// Deviation or interpretation.
        kind: CaseKind,
        /// The parties involved.
        parties: Vec<ID>,
        /// The starting step.
        level: CaseLevel,
        /// Whether it is of a principled nature (may then start at the officials' level).
        principled: bool,
        /// What it is about.
        summary: String,
    }

    /// Moves a case one step up the escalation ladder.
    escalate_case(EscalateCaseInput) => CaseEscalated {
        /// The case.
        case: ID,
        /// The new step: OFFICIALS or POLITICAL.
        to: CaseLevel,
        /// Why.
        reason: String,
    }

    /// Resolves a case.
    resolve_case(ResolveCaseInput) => CaseResolved {
        /// The case.
        case: ID,
        /// The resolution.
        resolution: String,
        /// The deciding decision, if any.
        decision: Option<ID>,
    }

    /// Withdraws a case.
    withdraw_case(WithdrawCaseInput) => CaseWithdrawn {
        /// The case.
        case: ID,
        /// Why.
        reason: String,
    }

    /// Sets the priority areas for a period (Riktlinje 2).
    set_priority_areas(SetPriorityAreasInput) => PriorityAreasSet {
        /// The first year.
        from_year: i32,
        /// The last year.
        to_year: i32,
        /// The areas.
        areas: Vec<String>,
        /// The decision.
        decision: ID,
    }

    /// Adds a one-year priority area (Riktlinje 2).
    add_priority_area(AddPriorityAreaInput) => PriorityAreaAdded {
        /// The year.
        year: i32,
        /// The area.
        area: String,
        /// The decision.
        decision: ID,
    }

    /// Plans which agreements to follow up in a year (HÖK 6).
    plan_follow_up(PlanFollowUpInput) => FollowUpPlanned {
        /// The year followed up.
        year: i32,
        /// The agreements.
        agreements: Vec<ID>,
        /// The decision.
        decision: ID,
    }

    /// Records a follow-up reported to VIS.
    report_follow_up(ReportFollowUpInput) => FollowUpReported {
        /// The year.
        year: i32,
        /// The agreement followed up.
        agreement: ID,
        /// The report.
        report: Option<ReportInput>,
        /// What it found.
        summary: String,
    }

    /// Records the yearly dialogue on how well the HÖK serves its goals (HÖK 6).
    record_annual_dialogue(RecordAnnualDialogueInput) => AnnualDialogueHeld {
        /// The year.
        year: i32,
        /// Who took part.
        participants: Vec<String>,
        /// What was said.
        summary: String,
    }

    /// Records a structural problem in collaboration (Riktlinje 8.6).
    report_problem(ReportProblemInput) => ProblemReported {
        /// The problem's id.
        problem: ID,
        /// Who reported it (a municipality or care provider).
        reported_by: String,
        /// STORSTHLM or HSF.
        reported_to: ProblemRecipient,
        /// The agreement concerned.
        agreement: Option<ID>,
        /// What it is; never about individual persons.
        summary: String,
    }

    /// Records feedback on a reported problem.
    answer_problem(AnswerProblemInput) => ProblemAnswered {
        /// The problem.
        problem: ID,
        /// The feedback.
        summary: String,
    }

    /// Records that a problem was raised to VIS through the officials' steering group.
    raise_problem_to_vis(RaiseProblemToVisInput) => ProblemRaisedToVis {
        /// The problem.
        problem: ID,
        /// The decision to raise it.
        decision: Option<ID>,
    }

    /// Records an allocation of state stimulus funds (Riktlinje 5.3).
    allocate_funds(AllocateFundsInput) => FundsAllocated {
        /// The year.
        year: i32,
        /// The amount in Swedish kronor.
        amount_sek: i64,
        /// For what.
        purpose: String,
        /// The group that gets them.
        group: Option<ID>,
        /// The decision.
        decision: ID,
    }

    /// Retracts an earlier event. Both stay in the history; record the right event afterwards to
    /// correct it.
    retract_event(RetractEventInput) => EventRetracted {
        /// The retracted event's id (a UUID).
        event: ID,
        /// Why.
        reason: String,
    }

    /// Records a statutory duty to have an agreement (HÖK 5; Förstudie 8) as the secretariat reads
    /// the law: from its effective date each municipality and the region must be bound by an
    /// agreement in force citing one of its provisions. Recording it again reads it anew.
    record_statutory_duty(RecordStatutoryDutyInput) => StatutoryDutyRecorded {
        /// The duty's id, a lowercase slug, e.g. `missbruk-beroende`.
        duty: ID,
        /// What must be agreed.
        title: String,
        /// The provisions that require it, e.g. `["SoL 5:9a", "HSL 16:3"]`.
        references: Vec<String>,
    }

    /// An agreement cites the law it is concluded under, from the effective date.
    cite_statutory_basis(CiteStatutoryBasisInput) => StatutoryBasisCited {
        /// The agreement.
        agreement: ID,
        /// The provisions, in the duties' notation, e.g. `["SoL 5:9a"]`.
        references: Vec<String>,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_mutation_per_event_type_in_catalogue_order() {
        assert_eq!(RECORDED_TYPES, ledger::EventData::TYPES);
    }
}
