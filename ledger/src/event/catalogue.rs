//! The event catalogue of API.md §1: one payload struct per event type, and the `EventData` enum
//! that holds any of them.
//!
//! Field names are camelCase in JSON; optional fields may be omitted on input and are written as
//! `null` on output. Unknown fields are rejected, so a misspelt field in an import is an error and
//! not silently lost.

use serde::{Deserialize, Serialize};

use super::kinds::{
    AgreementKind, Binding, BodyKind, CaseKind, CaseLevel, CoordinatorRole, Designator, GroupKind, MemberRole,
    PartyKind, ProblemRecipient,
};
use crate::id::{
    AgreementId, BodyId, CaseId, DecisionId, DistrictId, DutyId, EventId, GroupId, PartyId, ProblemId, Slug,
};
use crate::time::Date;

/// A document an agreement version refers to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Document {
    /// The document's title.
    pub title: String,
    /// Where it is published.
    #[serde(default)]
    pub url: Option<String>,
    /// The SHA-256 of the document's bytes, hex, when known.
    #[serde(default)]
    pub sha256: Option<String>,
}

/// A person holding a role in a group. Public-sector role data only.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Person {
    /// Full name.
    pub name: String,
    /// Title or office.
    #[serde(default)]
    pub title: Option<String>,
}

/// A person referred to by name only.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PersonRef {
    /// Full name, as appointed.
    pub name: String,
}

/// A follow-up report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Report {
    /// The report's title.
    pub title: String,
    /// Where it is published.
    #[serde(default)]
    pub url: Option<String>,
}

/// A party is registered (HÖK 7.3).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PartyRegistered {
    /// The party's id.
    pub party: PartyId,
    /// Its name.
    pub name: String,
    /// Region, municipality or municipal association.
    pub kind: PartyKind,
}

/// A district (stadsdel) of a municipality is registered (Riktlinje 1, 7).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DistrictRegistered {
    /// The district's id.
    pub district: DistrictId,
    /// Its name.
    pub name: String,
    /// The municipality it belongs to.
    pub municipality: PartyId,
}

/// A decision-making body is registered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct BodyRegistered {
    /// The body's id.
    pub body: BodyId,
    /// Its name.
    pub name: String,
    /// Council, board, committee, …
    pub kind: BodyKind,
    /// The party or organisation it belongs to.
    #[serde(default)]
    pub of: Option<Slug>,
}

/// A decision is recorded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DecisionRecorded {
    /// The decision's id.
    pub decision: DecisionId,
    /// The body that decided.
    pub body: BodyId,
    /// Diarienummer.
    #[serde(default)]
    pub reference: Option<String>,
    /// Protocol paragraph (§).
    #[serde(default)]
    pub paragraph: Option<String>,
    /// What was decided on.
    pub subject: String,
    /// A short summary.
    #[serde(default)]
    pub summary: Option<String>,
}

/// An agreement is drafted, with its required parties and how it becomes binding.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AgreementDrafted {
    /// The agreement's id.
    pub agreement: AgreementId,
    /// Its title.
    pub title: String,
    /// Main, guideline, subject area, supplementary or local.
    pub kind: AgreementKind,
    /// The agreement it belongs under (a supplementary agreement's parent, the guideline's HÖK).
    #[serde(default)]
    pub parent: Option<AgreementId>,
    /// The required parties.
    pub parties: Vec<PartyId>,
    /// How it becomes binding.
    pub binding: Binding,
    /// Notice period in months (24 for the HÖK, HÖK 7.2).
    #[serde(default)]
    pub notice_months: Option<u32>,
    /// Months between the last approval of a revision and its entry into force (3 for the HÖK).
    #[serde(default)]
    pub revision_lead_months: Option<u32>,
}

/// A version of an agreement is proposed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct VersionProposed {
    /// The agreement.
    pub agreement: AgreementId,
    /// The version number, from 1.
    pub version: u32,
    /// The document.
    #[serde(default)]
    pub document: Option<Document>,
    /// The first day the version may apply.
    #[serde(default)]
    pub earliest_effective: Option<Date>,
    /// The last day it applies (temporary agreements).
    #[serde(default)]
    pub expires: Option<Date>,
    /// What changed.
    #[serde(default)]
    pub summary: Option<String>,
}

/// A version is decided by a body (a guideline comes into force here).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct VersionDecided {
    /// The agreement.
    pub agreement: AgreementId,
    /// The version.
    pub version: u32,
    /// The decision.
    pub decision: DecisionId,
    /// The first day it applies, when the decision says.
    #[serde(default)]
    pub effective_from: Option<Date>,
}

/// A version is recommended to the parties for adoption, with a response deadline.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct VersionRecommended {
    /// The agreement.
    pub agreement: AgreementId,
    /// The version.
    pub version: u32,
    /// The recommending decision.
    pub decision: DecisionId,
    /// The last day for the parties' answers.
    pub response_due: Date,
}

/// A party adopts a version (its decision "likställs med undertecknande").
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PartyAdopted {
    /// The agreement.
    pub agreement: AgreementId,
    /// The version.
    pub version: u32,
    /// The adopting party.
    pub party: PartyId,
    /// The party's decision.
    pub decision: DecisionId,
}

/// A party declines a version.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PartyDeclined {
    /// The agreement.
    pub agreement: AgreementId,
    /// The version.
    pub version: u32,
    /// The declining party.
    pub party: PartyId,
    /// The party's decision.
    pub decision: DecisionId,
}

/// The set of required parties changes by decision.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RequiredPartiesChanged {
    /// The agreement.
    pub agreement: AgreementId,
    /// The new required parties.
    pub parties: Vec<PartyId>,
    /// The decision.
    pub decision: DecisionId,
}

/// A version is published in the digital portal (HÖK 4.7, 5).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct VersionPublished {
    /// The agreement.
    pub agreement: AgreementId,
    /// The version.
    pub version: u32,
    /// Where.
    pub url: String,
}

/// A party gives notice (uppsägning, HÖK 7.2).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NoticeGiven {
    /// The agreement.
    pub agreement: AgreementId,
    /// The party.
    pub party: PartyId,
    /// The party's decision.
    pub decision: DecisionId,
}

/// A party withdraws its notice.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NoticeWithdrawn {
    /// The agreement.
    pub agreement: AgreementId,
    /// The party.
    pub party: PartyId,
    /// The party's decision.
    pub decision: DecisionId,
}

/// The remaining parties decide whether the agreement continues after a municipality's notice.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ContinuationDecided {
    /// The agreement.
    pub agreement: AgreementId,
    /// The municipality whose notice prompted the decision.
    pub after_notice_by: PartyId,
    /// Whether the agreement continues for the remaining parties.
    pub continues: bool,
    /// The decision.
    pub decision: DecisionId,
}

/// An agreement is terminated by decision.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AgreementTerminated {
    /// The agreement.
    pub agreement: AgreementId,
    /// The decision.
    pub decision: DecisionId,
    /// Why.
    pub reason: String,
}

/// An agreement is superseded by another.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AgreementSuperseded {
    /// The agreement that ends.
    pub agreement: AgreementId,
    /// The agreement that replaces it.
    pub by: AgreementId,
    /// The decision.
    pub decision: DecisionId,
}

/// VIS (or a steward) issues an interpretation of an agreement (HÖK 7.1).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct InterpretationIssued {
    /// The agreement.
    pub agreement: AgreementId,
    /// The case that asked for it.
    #[serde(default)]
    pub case: Option<CaseId>,
    /// The decision.
    pub decision: DecisionId,
    /// The interpretation.
    pub text: String,
}

/// A group is made steward ("förvaltar") of an agreement.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct StewardAssigned {
    /// The agreement.
    pub agreement: AgreementId,
    /// The group.
    pub group: GroupId,
}

/// A group is established.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct GroupEstablished {
    /// The group's id.
    pub group: GroupId,
    /// Its name.
    pub name: String,
    /// What kind of group.
    pub kind: GroupKind,
    /// The group it reports to.
    #[serde(default)]
    pub parent: Option<GroupId>,
    /// Its mandate.
    pub mandate: String,
    /// The establishing decision.
    #[serde(default)]
    pub decision: Option<DecisionId>,
    /// The first day it no longer exists (working groups limited in time).
    #[serde(default)]
    pub ends_on: Option<Date>,
    /// The municipality or district of a local group.
    #[serde(default)]
    pub area: Option<Slug>,
}

/// A group's mandate changes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct MandateChanged {
    /// The group.
    pub group: GroupId,
    /// The new mandate.
    pub mandate: String,
    /// The decision.
    pub decision: DecisionId,
}

/// A group is renamed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct GroupRenamed {
    /// The group.
    pub group: GroupId,
    /// The new name.
    pub name: String,
}

/// A person is appointed to a group.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct MemberAppointed {
    /// The group.
    pub group: GroupId,
    /// The person.
    pub person: Person,
    /// Their role.
    pub role: MemberRole,
    /// Whom they represent (a party, "kommunerna", Storsthlm, …).
    pub represents: String,
    /// Who appointed them.
    #[serde(default)]
    pub appointed_by: Option<String>,
    /// The last day of the appointment.
    #[serde(default)]
    pub until: Option<Date>,
}

/// A person leaves a group.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct MemberLeft {
    /// The group.
    pub group: GroupId,
    /// The person.
    pub person: PersonRef,
    /// Why.
    #[serde(default)]
    pub reason: Option<String>,
}

/// A group is dissolved.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct GroupDissolved {
    /// The group.
    pub group: GroupId,
    /// The decision.
    pub decision: DecisionId,
}

/// A local coordinator is designated for an area and year.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CoordinatorDesignated {
    /// The municipality or district.
    pub area: Slug,
    /// Municipal function or health centre.
    pub role: CoordinatorRole,
    /// Who holds it (a unit or health centre).
    pub holder: String,
    /// The year.
    pub year: i32,
    /// Who designated it.
    pub designated_by: Designator,
}

/// The law obliges the parties to have an agreement (HÖK 5: "Hälso- och sjukvårdslagen (16 kap.
/// 3 §) och socialtjänstlagen (5 kap. 1 a §, 8a § och 9a §) reglerar att region och kommun ska ingå
/// överenskommelser"; Förstudie 8, "Lagkrav om samverkan"). Recorded as data, as the secretariat
/// reads the law: a new law or a new reading is one more event, not code. From its effective date
/// each municipality and the region must be bound by an agreement in force that cites one of
/// `references` ([`StatutoryBasisCited`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct StatutoryDutyRecorded {
    /// The duty's id.
    pub duty: DutyId,
    /// What must be agreed, e.g. "Samverkan kring personer med missbruk/beroende".
    pub title: String,
    /// The provisions that require it, e.g. `SoL 5:9a`, `HSL 16:3`, `lag 2017:612`.
    pub references: Vec<String>,
}

/// An agreement cites the law that requires it: from the effective date it fulfils the statutory
/// duties naming any of `references` for the parties it binds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct StatutoryBasisCited {
    /// The agreement.
    pub agreement: AgreementId,
    /// The provisions it is concluded under, in the duties' notation (`SoL 5:9a`).
    pub references: Vec<String>,
}

/// An escalation case is opened (HÖK 7.1).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CaseOpened {
    /// The case's id.
    pub case: CaseId,
    /// The agreement concerned.
    pub agreement: AgreementId,
    /// Deviation or interpretation.
    pub kind: CaseKind,
    /// The parties involved.
    pub parties: Vec<PartyId>,
    /// The starting step.
    pub level: CaseLevel,
    /// Whether it is of a principled nature (may then start at the officials' level).
    pub principled: bool,
    /// What it is about.
    pub summary: String,
}

/// A case moves one step up the ladder.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CaseEscalated {
    /// The case.
    pub case: CaseId,
    /// The new step: officials or political.
    pub to: CaseLevel,
    /// Why.
    pub reason: String,
}

/// A case is resolved.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CaseResolved {
    /// The case.
    pub case: CaseId,
    /// The resolution.
    pub resolution: String,
    /// The deciding decision, if any.
    #[serde(default)]
    pub decision: Option<DecisionId>,
}

/// A case is withdrawn.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CaseWithdrawn {
    /// The case.
    pub case: CaseId,
    /// Why.
    pub reason: String,
}

/// VIS sets priority areas for a period (Riktlinje 2).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PriorityAreasSet {
    /// The first year.
    pub from_year: i32,
    /// The last year.
    pub to_year: i32,
    /// The areas.
    pub areas: Vec<String>,
    /// The decision.
    pub decision: DecisionId,
}

/// A one-year priority is added (Riktlinje 2).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PriorityAreaAdded {
    /// The year.
    pub year: i32,
    /// The area.
    pub area: String,
    /// The decision.
    pub decision: DecisionId,
}

/// The officials' steering group plans which agreements to follow up in a year (HÖK 6).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct FollowUpPlanned {
    /// The year followed up.
    pub year: i32,
    /// The agreements.
    pub agreements: Vec<AgreementId>,
    /// The decision.
    pub decision: DecisionId,
}

/// A follow-up is reported to VIS.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct FollowUpReported {
    /// The year.
    pub year: i32,
    /// The agreement followed up.
    pub agreement: AgreementId,
    /// The report.
    #[serde(default)]
    pub report: Option<Report>,
    /// What it found.
    pub summary: String,
}

/// The yearly dialogue on how well the HÖK serves its goals is held (HÖK 6).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AnnualDialogueHeld {
    /// The year.
    pub year: i32,
    /// Who took part.
    pub participants: Vec<String>,
    /// What was said.
    pub summary: String,
}

/// A structural problem in collaboration is reported (Riktlinje 8.6).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ProblemReported {
    /// The problem's id.
    pub problem: ProblemId,
    /// Who reported it (a municipality or care provider).
    pub reported_by: String,
    /// Storsthlm or HSF.
    pub reported_to: ProblemRecipient,
    /// The agreement concerned.
    #[serde(default)]
    pub agreement: Option<AgreementId>,
    /// What it is; never about individual persons.
    pub summary: String,
}

/// Feedback is given on a reported problem.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ProblemAnswered {
    /// The problem.
    pub problem: ProblemId,
    /// The feedback.
    pub summary: String,
}

/// A structural problem is raised to VIS through the officials' steering group.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ProblemRaisedToVis {
    /// The problem.
    pub problem: ProblemId,
    /// The decision to raise it.
    #[serde(default)]
    pub decision: Option<DecisionId>,
}

/// State stimulus funds are allocated (Riktlinje 5.3).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct FundsAllocated {
    /// The year.
    pub year: i32,
    /// The amount in Swedish kronor.
    pub amount_sek: i64,
    /// For what.
    pub purpose: String,
    /// The group that gets them.
    #[serde(default)]
    pub group: Option<GroupId>,
    /// The decision.
    pub decision: DecisionId,
}

/// An earlier event is retracted. Both stay in the history; the retraction is stored in the stream
/// of the event it retracts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct EventRetracted {
    /// The retracted event's id.
    pub event: EventId,
    /// Why.
    pub reason: String,
}

macro_rules! catalogue {
    ($($name:ident),+ $(,)?) => {
        /// The data of an event: one variant per event type of API.md §1, named in the past tense.
        #[derive(Debug, Clone, PartialEq, Eq)]
        #[allow(clippy::large_enum_variant)]
        pub enum EventData {
            $(
                #[doc = concat!("See [`", stringify!($name), "`].")]
                $name($name),
            )+
        }

        impl EventData {
            /// Every event type's name, in catalogue order.
            pub const TYPES: &'static [&'static str] = &[$(stringify!($name)),+];

            /// The name of the event type called `name`, as [`EventData::TYPES`] holds it, or
            /// `None` for a name that is no event type's.
            pub fn type_named(name: &str) -> Option<&'static str> {
                match name {
                    $(stringify!($name) => Some(stringify!($name)),)+
                    _ => None,
                }
            }

            /// The event type's name, as in JSON's `type`.
            pub fn type_name(&self) -> &'static str {
                match self {
                    $(EventData::$name(_) => stringify!($name),)+
                }
            }

            /// The event type's index in [`EventData::TYPES`].
            pub fn type_index(&self) -> usize {
                let mut index = 0usize;
                $(
                    if let EventData::$name(_) = self {
                        return index;
                    }
                    index += 1;
                )+
                index
            }

            /// Decodes a payload from JSON, given its type name.
            pub fn from_json(type_name: &str, data: serde_json::Value) -> Result<Self, DataError> {
                match type_name {
                    $(stringify!($name) => serde_json::from_value::<$name>(data)
                        .map(EventData::$name)
                        .map_err(|e| DataError::Invalid { type_name: stringify!($name), reason: e.to_string() }),)+
                    other => Err(DataError::UnknownType(other.to_owned())),
                }
            }

            /// The payload as JSON.
            pub fn to_json(&self) -> Result<serde_json::Value, serde_json::Error> {
                match self {
                    $(EventData::$name(p) => serde_json::to_value(p),)+
                }
            }

            /// Serializes the payload with `serializer` as the value [`EventData::to_json`] builds,
            /// without building it (the Merkle leaf's canonical JSON is written straight from it).
            pub fn serialize_payload<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                match self {
                    $(EventData::$name(p) => p.serialize(serializer),)+
                }
            }

            /// Encodes the payload alone with the given bincode configuration, after what `out`
            /// holds.
            pub(crate) fn encode_payload_into<C: bincode::config::Config>(
                &self,
                out: &mut Vec<u8>,
                config: C,
            ) -> Result<usize, bincode::error::EncodeError> {
                match self {
                    $(EventData::$name(p) => bincode::serde::encode_into_std_write(p, out, config),)+
                }
            }

            /// Decodes a payload of the current schema version, given its type name.
            pub(crate) fn decode_payload<C: bincode::config::Config>(
                type_name: &str,
                bytes: &[u8],
                config: C,
            ) -> Result<Self, DataError> {
                match type_name {
                    $(stringify!($name) => {
                        let (payload, read) = bincode::serde::decode_from_slice::<$name, C>(bytes, config)
                            .map_err(|e| DataError::Invalid { type_name: stringify!($name), reason: e.to_string() })?;
                        if read != bytes.len() {
                            return Err(DataError::Invalid {
                                type_name: stringify!($name),
                                reason: format!("{} trailing bytes", bytes.len() - read),
                            });
                        }
                        Ok(EventData::$name(payload))
                    })+
                    other => Err(DataError::UnknownType(other.to_owned())),
                }
            }
        }

        $(
            impl From<$name> for EventData {
                fn from(payload: $name) -> Self {
                    EventData::$name(payload)
                }
            }
        )+
    };
}

/// Why a payload could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DataError {
    /// The type name is not in the catalogue.
    #[error("unknown event type {0:?}")]
    UnknownType(String),
    /// The payload does not fit its type.
    #[error("invalid {type_name} data: {reason}")]
    Invalid {
        /// The event type.
        type_name: &'static str,
        /// What is wrong, for a person.
        reason: String,
    },
}

catalogue!(
    PartyRegistered,
    DistrictRegistered,
    BodyRegistered,
    DecisionRecorded,
    AgreementDrafted,
    VersionProposed,
    VersionDecided,
    VersionRecommended,
    PartyAdopted,
    PartyDeclined,
    RequiredPartiesChanged,
    VersionPublished,
    NoticeGiven,
    NoticeWithdrawn,
    ContinuationDecided,
    AgreementTerminated,
    AgreementSuperseded,
    InterpretationIssued,
    StewardAssigned,
    GroupEstablished,
    MandateChanged,
    GroupRenamed,
    MemberAppointed,
    MemberLeft,
    GroupDissolved,
    CoordinatorDesignated,
    CaseOpened,
    CaseEscalated,
    CaseResolved,
    CaseWithdrawn,
    PriorityAreasSet,
    PriorityAreaAdded,
    FollowUpPlanned,
    FollowUpReported,
    AnnualDialogueHeld,
    ProblemReported,
    ProblemAnswered,
    ProblemRaisedToVis,
    FundsAllocated,
    EventRetracted,
    StatutoryDutyRecorded,
    StatutoryBasisCited,
);

impl EventData {
    /// The decision this event cites (the decision an adoption, a notice, a group's establishment …
    /// rests on), if it cites one. `DecisionRecorded` is the decision itself, not a citation.
    pub fn cited_decision(&self) -> Option<&DecisionId> {
        use EventData as E;
        match self {
            E::VersionDecided(e) => Some(&e.decision),
            E::VersionRecommended(e) => Some(&e.decision),
            E::PartyAdopted(e) => Some(&e.decision),
            E::PartyDeclined(e) => Some(&e.decision),
            E::RequiredPartiesChanged(e) => Some(&e.decision),
            E::NoticeGiven(e) => Some(&e.decision),
            E::NoticeWithdrawn(e) => Some(&e.decision),
            E::ContinuationDecided(e) => Some(&e.decision),
            E::AgreementTerminated(e) => Some(&e.decision),
            E::AgreementSuperseded(e) => Some(&e.decision),
            E::InterpretationIssued(e) => Some(&e.decision),
            E::GroupEstablished(e) => e.decision.as_ref(),
            E::MandateChanged(e) => Some(&e.decision),
            E::GroupDissolved(e) => Some(&e.decision),
            E::CaseResolved(e) => e.decision.as_ref(),
            E::PriorityAreasSet(e) => Some(&e.decision),
            E::PriorityAreaAdded(e) => Some(&e.decision),
            E::FollowUpPlanned(e) => Some(&e.decision),
            E::ProblemRaisedToVis(e) => e.decision.as_ref(),
            E::FundsAllocated(e) => Some(&e.decision),
            E::PartyRegistered(_)
            | E::DistrictRegistered(_)
            | E::BodyRegistered(_)
            | E::DecisionRecorded(_)
            | E::AgreementDrafted(_)
            | E::VersionProposed(_)
            | E::VersionPublished(_)
            | E::StewardAssigned(_)
            | E::GroupRenamed(_)
            | E::MemberAppointed(_)
            | E::MemberLeft(_)
            | E::CoordinatorDesignated(_)
            | E::CaseOpened(_)
            | E::CaseEscalated(_)
            | E::CaseWithdrawn(_)
            | E::FollowUpReported(_)
            | E::AnnualDialogueHeld(_)
            | E::ProblemReported(_)
            | E::ProblemAnswered(_)
            | E::EventRetracted(_)
            | E::StatutoryDutyRecorded(_)
            | E::StatutoryBasisCited(_) => None,
        }
    }
}
