//! Which stream an event belongs to: [`EventData::by_stream`], a borrowed view of an event grouped
//! by its stream, and [`EventData::stream`], the stream's name, derived from that view.
//!
//! The catalogue is one flat enum, because the encoding, the JSON form and every writer and reader
//! of the log handle "any event". A fold, though, reads one stream: an agreement's fold only ever
//! sees agreement events. Matched over the flat enum, it must list every other type only to skip
//! it, and a new type then touches every fold. Matched over the view, a fold lists its own stream's
//! events and nothing else, exhaustively: a new event type makes the compiler ask exactly the folds
//! of its stream what it means, and no other.
//!
//! Nesting `EventData` itself by stream, the way disintegrate groups events, would have changed it
//! and every crate that matches on it (the GraphQL layer, the fuzz targets, the generators). The
//! view borrows instead and leaves `EventData`, and so every stored byte, as it is.
//!
//! Variant names are the payload types' names without the stream's own name in front
//! (`AgreementEvent::Drafted(&AgreementDrafted)`, `CaseEvent::Opened(&CaseOpened)`): a repeated
//! prefix says nothing the enum's name does not already say.

use super::catalogue::*;
use crate::id::{AgreementId, CaseId, EventId, GroupId, PartyId, ProblemId, StreamId};

/// Where an event is stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StreamTarget {
    /// A stream derived from the event's own data.
    Stream(StreamId),
    /// The stream of the event this one retracts; the ledger looks it up.
    OfEvent(EventId),
}

/// An event seen through its stream: one variant per kind of stream (API.md §1), each holding the
/// events of that stream. Made by [`EventData::by_stream`].
///
/// A fold over one stream matches its own group exhaustively and steps over every other group in
/// one arm (or with [`ByStream::as_agreement`] and its siblings), so it never names another
/// stream's event types.
#[derive(Debug, Clone, Copy)]
pub enum ByStream<'a> {
    /// `party/<id>`: a party and the districts of a municipality.
    Party(PartyEvent<'a>),
    /// `body/<id>`.
    Body(&'a BodyRegistered),
    /// `decision/<id>`.
    Decision(&'a DecisionRecorded),
    /// `agreement/<id>`.
    Agreement(AgreementEvent<'a>),
    /// `group/<id>`.
    Group(GroupEvent<'a>),
    /// `case/<id>`.
    Case(CaseEvent<'a>),
    /// `problem/<id>`.
    Problem(ProblemEvent<'a>),
    /// `followup/<year>`.
    FollowUp(FollowUpEvent<'a>),
    /// `county`: coordinators, priority areas, funds.
    County(CountyEvent<'a>),
    /// `duty/<id>`: a statutory duty to have an agreement.
    Duty(&'a StatutoryDutyRecorded),
    /// A retraction, stored in the stream of the event it retracts, whichever that is.
    Retraction(&'a EventRetracted),
}

/// The events of a `party/<id>` stream.
#[derive(Debug, Clone, Copy)]
pub enum PartyEvent<'a> {
    /// See [`PartyRegistered`].
    Registered(&'a PartyRegistered),
    /// See [`DistrictRegistered`]: a district lives in its municipality's stream.
    DistrictRegistered(&'a DistrictRegistered),
}

/// The events of an `agreement/<id>` stream.
#[derive(Debug, Clone, Copy)]
pub enum AgreementEvent<'a> {
    /// See [`AgreementDrafted`].
    Drafted(&'a AgreementDrafted),
    /// See [`VersionProposed`].
    VersionProposed(&'a VersionProposed),
    /// See [`VersionDecided`].
    VersionDecided(&'a VersionDecided),
    /// See [`VersionRecommended`].
    VersionRecommended(&'a VersionRecommended),
    /// See [`PartyAdopted`].
    PartyAdopted(&'a PartyAdopted),
    /// See [`PartyDeclined`].
    PartyDeclined(&'a PartyDeclined),
    /// See [`RequiredPartiesChanged`].
    RequiredPartiesChanged(&'a RequiredPartiesChanged),
    /// See [`VersionPublished`].
    VersionPublished(&'a VersionPublished),
    /// See [`NoticeGiven`].
    NoticeGiven(&'a NoticeGiven),
    /// See [`NoticeWithdrawn`].
    NoticeWithdrawn(&'a NoticeWithdrawn),
    /// See [`ContinuationDecided`].
    ContinuationDecided(&'a ContinuationDecided),
    /// See [`AgreementTerminated`].
    Terminated(&'a AgreementTerminated),
    /// See [`AgreementSuperseded`].
    Superseded(&'a AgreementSuperseded),
    /// See [`InterpretationIssued`].
    InterpretationIssued(&'a InterpretationIssued),
    /// See [`StewardAssigned`].
    StewardAssigned(&'a StewardAssigned),
    /// See [`StatutoryBasisCited`].
    StatutoryBasisCited(&'a StatutoryBasisCited),
}

/// The events of a `group/<id>` stream.
#[derive(Debug, Clone, Copy)]
pub enum GroupEvent<'a> {
    /// See [`GroupEstablished`].
    Established(&'a GroupEstablished),
    /// See [`MandateChanged`].
    MandateChanged(&'a MandateChanged),
    /// See [`GroupRenamed`].
    Renamed(&'a GroupRenamed),
    /// See [`MemberAppointed`].
    MemberAppointed(&'a MemberAppointed),
    /// See [`MemberLeft`].
    MemberLeft(&'a MemberLeft),
    /// See [`GroupDissolved`].
    Dissolved(&'a GroupDissolved),
}

/// The events of a `case/<id>` stream.
#[derive(Debug, Clone, Copy)]
pub enum CaseEvent<'a> {
    /// See [`CaseOpened`].
    Opened(&'a CaseOpened),
    /// See [`CaseEscalated`].
    Escalated(&'a CaseEscalated),
    /// See [`CaseResolved`].
    Resolved(&'a CaseResolved),
    /// See [`CaseWithdrawn`].
    Withdrawn(&'a CaseWithdrawn),
}

/// The events of a `problem/<id>` stream.
#[derive(Debug, Clone, Copy)]
pub enum ProblemEvent<'a> {
    /// See [`ProblemReported`].
    Reported(&'a ProblemReported),
    /// See [`ProblemAnswered`].
    Answered(&'a ProblemAnswered),
    /// See [`ProblemRaisedToVis`].
    RaisedToVis(&'a ProblemRaisedToVis),
}

/// The events of a `followup/<year>` stream.
#[derive(Debug, Clone, Copy)]
pub enum FollowUpEvent<'a> {
    /// See [`FollowUpPlanned`].
    Planned(&'a FollowUpPlanned),
    /// See [`FollowUpReported`].
    Reported(&'a FollowUpReported),
    /// See [`AnnualDialogueHeld`].
    AnnualDialogueHeld(&'a AnnualDialogueHeld),
}

/// The events of the `county` stream.
#[derive(Debug, Clone, Copy)]
pub enum CountyEvent<'a> {
    /// See [`CoordinatorDesignated`].
    CoordinatorDesignated(&'a CoordinatorDesignated),
    /// See [`PriorityAreasSet`].
    PriorityAreasSet(&'a PriorityAreasSet),
    /// See [`PriorityAreaAdded`].
    PriorityAreaAdded(&'a PriorityAreaAdded),
    /// See [`FundsAllocated`].
    FundsAllocated(&'a FundsAllocated),
}

impl EventData {
    /// The event seen through its stream.
    ///
    /// This is the one place that says which event type belongs to which stream: [`EventData::stream`]
    /// derives from it, and folds match on it, so a new event type is placed in its stream here and
    /// the compiler then asks every fold of that stream, and only those, what it means.
    pub fn by_stream(&self) -> ByStream<'_> {
        use AgreementEvent as A;
        use ByStream as S;
        use EventData as E;
        match self {
            E::PartyRegistered(e) => S::Party(PartyEvent::Registered(e)),
            E::DistrictRegistered(e) => S::Party(PartyEvent::DistrictRegistered(e)),
            E::BodyRegistered(e) => S::Body(e),
            E::DecisionRecorded(e) => S::Decision(e),
            E::AgreementDrafted(e) => S::Agreement(A::Drafted(e)),
            E::VersionProposed(e) => S::Agreement(A::VersionProposed(e)),
            E::VersionDecided(e) => S::Agreement(A::VersionDecided(e)),
            E::VersionRecommended(e) => S::Agreement(A::VersionRecommended(e)),
            E::PartyAdopted(e) => S::Agreement(A::PartyAdopted(e)),
            E::PartyDeclined(e) => S::Agreement(A::PartyDeclined(e)),
            E::RequiredPartiesChanged(e) => S::Agreement(A::RequiredPartiesChanged(e)),
            E::VersionPublished(e) => S::Agreement(A::VersionPublished(e)),
            E::NoticeGiven(e) => S::Agreement(A::NoticeGiven(e)),
            E::NoticeWithdrawn(e) => S::Agreement(A::NoticeWithdrawn(e)),
            E::ContinuationDecided(e) => S::Agreement(A::ContinuationDecided(e)),
            E::AgreementTerminated(e) => S::Agreement(A::Terminated(e)),
            E::AgreementSuperseded(e) => S::Agreement(A::Superseded(e)),
            E::InterpretationIssued(e) => S::Agreement(A::InterpretationIssued(e)),
            E::StewardAssigned(e) => S::Agreement(A::StewardAssigned(e)),
            E::GroupEstablished(e) => S::Group(GroupEvent::Established(e)),
            E::MandateChanged(e) => S::Group(GroupEvent::MandateChanged(e)),
            E::GroupRenamed(e) => S::Group(GroupEvent::Renamed(e)),
            E::MemberAppointed(e) => S::Group(GroupEvent::MemberAppointed(e)),
            E::MemberLeft(e) => S::Group(GroupEvent::MemberLeft(e)),
            E::GroupDissolved(e) => S::Group(GroupEvent::Dissolved(e)),
            E::CoordinatorDesignated(e) => S::County(CountyEvent::CoordinatorDesignated(e)),
            E::CaseOpened(e) => S::Case(CaseEvent::Opened(e)),
            E::CaseEscalated(e) => S::Case(CaseEvent::Escalated(e)),
            E::CaseResolved(e) => S::Case(CaseEvent::Resolved(e)),
            E::CaseWithdrawn(e) => S::Case(CaseEvent::Withdrawn(e)),
            E::PriorityAreasSet(e) => S::County(CountyEvent::PriorityAreasSet(e)),
            E::PriorityAreaAdded(e) => S::County(CountyEvent::PriorityAreaAdded(e)),
            E::FollowUpPlanned(e) => S::FollowUp(FollowUpEvent::Planned(e)),
            E::FollowUpReported(e) => S::FollowUp(FollowUpEvent::Reported(e)),
            E::AnnualDialogueHeld(e) => S::FollowUp(FollowUpEvent::AnnualDialogueHeld(e)),
            E::ProblemReported(e) => S::Problem(ProblemEvent::Reported(e)),
            E::ProblemAnswered(e) => S::Problem(ProblemEvent::Answered(e)),
            E::ProblemRaisedToVis(e) => S::Problem(ProblemEvent::RaisedToVis(e)),
            E::FundsAllocated(e) => S::County(CountyEvent::FundsAllocated(e)),
            E::EventRetracted(e) => S::Retraction(e),
            E::StatutoryDutyRecorded(e) => S::Duty(e),
            E::StatutoryBasisCited(e) => S::Agreement(A::StatutoryBasisCited(e)),
        }
    }

    /// The stream this event belongs to (API.md §1). Districts live in their municipality's stream,
    /// coordinators, priority areas and funds in `county`, follow-up in `followup/<year>`.
    ///
    /// Derived from [`EventData::by_stream`], so that which type goes to which stream is said once.
    pub fn stream(&self) -> StreamTarget {
        let entity = |kind: &str, slug: &str| StreamTarget::Stream(StreamId::entity(kind, slug));
        match self.by_stream() {
            ByStream::Party(e) => entity("party", e.party().as_str()),
            ByStream::Body(e) => entity("body", e.body.as_str()),
            ByStream::Decision(e) => entity("decision", e.decision.as_str()),
            ByStream::Agreement(e) => entity("agreement", e.agreement().as_str()),
            ByStream::Group(e) => entity("group", e.group().as_str()),
            ByStream::Case(e) => entity("case", e.case().as_str()),
            ByStream::Problem(e) => entity("problem", e.problem().as_str()),
            ByStream::FollowUp(e) => StreamTarget::Stream(StreamId::followup(e.year())),
            ByStream::County(_) => StreamTarget::Stream(StreamId::county()),
            ByStream::Duty(e) => entity("duty", e.duty.as_str()),
            ByStream::Retraction(e) => StreamTarget::OfEvent(e.event),
        }
    }
}

// The accessors below use `if let` rather than an exhaustive match on purpose: "is this an
// agreement event?" has the same answer for any stream added later, so a new stream must not make
// the compiler ask these (the folds that step over other streams with them stay untouched too).
impl<'a> ByStream<'a> {
    /// The event, if it belongs to a `party/<id>` stream.
    pub fn as_party(&self) -> Option<PartyEvent<'a>> {
        if let Self::Party(e) = self { Some(*e) } else { None }
    }

    /// The event, if it belongs to an `agreement/<id>` stream.
    pub fn as_agreement(&self) -> Option<AgreementEvent<'a>> {
        if let Self::Agreement(e) = self { Some(*e) } else { None }
    }

    /// The event, if it belongs to a `group/<id>` stream.
    pub fn as_group(&self) -> Option<GroupEvent<'a>> {
        if let Self::Group(e) = self { Some(*e) } else { None }
    }

    /// The event, if it belongs to a `case/<id>` stream.
    pub fn as_case(&self) -> Option<CaseEvent<'a>> {
        if let Self::Case(e) = self { Some(*e) } else { None }
    }

    /// The event, if it belongs to a `problem/<id>` stream.
    pub fn as_problem(&self) -> Option<ProblemEvent<'a>> {
        if let Self::Problem(e) = self { Some(*e) } else { None }
    }

    /// The event, if it belongs to a `followup/<year>` stream.
    pub fn as_follow_up(&self) -> Option<FollowUpEvent<'a>> {
        if let Self::FollowUp(e) = self { Some(*e) } else { None }
    }

    /// The event, if it belongs to the `county` stream.
    pub fn as_county(&self) -> Option<CountyEvent<'a>> {
        if let Self::County(e) = self { Some(*e) } else { None }
    }
}

impl<'a> PartyEvent<'a> {
    /// The party whose stream holds the event: the registered party, or a district's municipality.
    pub fn party(&self) -> &'a PartyId {
        match self {
            Self::Registered(e) => &e.party,
            Self::DistrictRegistered(e) => &e.municipality,
        }
    }
}

impl<'a> AgreementEvent<'a> {
    /// The agreement the event is about.
    pub fn agreement(&self) -> &'a AgreementId {
        match self {
            Self::Drafted(e) => &e.agreement,
            Self::VersionProposed(e) => &e.agreement,
            Self::VersionDecided(e) => &e.agreement,
            Self::VersionRecommended(e) => &e.agreement,
            Self::PartyAdopted(e) => &e.agreement,
            Self::PartyDeclined(e) => &e.agreement,
            Self::RequiredPartiesChanged(e) => &e.agreement,
            Self::VersionPublished(e) => &e.agreement,
            Self::NoticeGiven(e) => &e.agreement,
            Self::NoticeWithdrawn(e) => &e.agreement,
            Self::ContinuationDecided(e) => &e.agreement,
            Self::Terminated(e) => &e.agreement,
            Self::Superseded(e) => &e.agreement,
            Self::InterpretationIssued(e) => &e.agreement,
            Self::StewardAssigned(e) => &e.agreement,
            Self::StatutoryBasisCited(e) => &e.agreement,
        }
    }
}

impl<'a> GroupEvent<'a> {
    /// The group the event is about.
    pub fn group(&self) -> &'a GroupId {
        match self {
            Self::Established(e) => &e.group,
            Self::MandateChanged(e) => &e.group,
            Self::Renamed(e) => &e.group,
            Self::MemberAppointed(e) => &e.group,
            Self::MemberLeft(e) => &e.group,
            Self::Dissolved(e) => &e.group,
        }
    }
}

impl<'a> CaseEvent<'a> {
    /// The case the event is about.
    pub fn case(&self) -> &'a CaseId {
        match self {
            Self::Opened(e) => &e.case,
            Self::Escalated(e) => &e.case,
            Self::Resolved(e) => &e.case,
            Self::Withdrawn(e) => &e.case,
        }
    }
}

impl<'a> ProblemEvent<'a> {
    /// The problem the event is about.
    pub fn problem(&self) -> &'a ProblemId {
        match self {
            Self::Reported(e) => &e.problem,
            Self::Answered(e) => &e.problem,
            Self::RaisedToVis(e) => &e.problem,
        }
    }
}

impl FollowUpEvent<'_> {
    /// The year followed up.
    pub fn year(&self) -> i32 {
        match self {
            Self::Planned(e) => e.year,
            Self::Reported(e) => e.year,
            Self::AnnualDialogueHeld(e) => e.year,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::id::Position;

    const GOLDEN: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/golden/records-v1.jsonl");

    #[derive(serde::Deserialize)]
    struct GoldenLine {
        #[serde(rename = "type")]
        type_name: String,
        record: String,
    }

    /// Every type's name is found under itself (asked with a name of its own, not the constant);
    /// other names, near ones included, are no type's.
    #[test]
    fn a_type_is_named_by_its_own_name_and_nothing_else() {
        for name in EventData::TYPES {
            let asked: String = name.chars().collect();
            assert_eq!(EventData::type_named(&asked), Some(*name));
        }
        for other in ["", "partyregistered", "PartyRegistered ", "Party", "Unknown"] {
            assert_eq!(EventData::type_named(other), None, "{other:?}");
        }
    }

    /// The kind of stream a group's events are stored in, as the first part of its name (API.md §1);
    /// a retraction has no stream of its own.
    fn kind(view: ByStream<'_>) -> &'static str {
        match view {
            ByStream::Party(_) => "party",
            ByStream::Body(_) => "body",
            ByStream::Decision(_) => "decision",
            ByStream::Agreement(_) => "agreement",
            ByStream::Group(_) => "group",
            ByStream::Case(_) => "case",
            ByStream::Problem(_) => "problem",
            ByStream::FollowUp(_) => "followup",
            ByStream::County(_) => "county",
            ByStream::Retraction(_) => "retraction",
            ByStream::Duty(_) => "duty",
        }
    }

    #[test]
    fn every_golden_record_is_stored_in_the_stream_its_by_stream_view_names() {
        let text = std::fs::read_to_string(GOLDEN).expect("golden file is checked in");
        let mut per_kind: BTreeMap<&str, usize> = BTreeMap::new();
        for (index, line) in text.lines().enumerate() {
            let line: GoldenLine = serde_json::from_str(line).expect("golden line parses");
            let bytes = hex::decode(&line.record).expect("record is hex");
            let recorded =
                crate::encoding::decode(Position::new(index as u64 + 1), &bytes).expect("golden record decodes");
            assert_eq!(recorded.type_name(), line.type_name);
            let view = recorded.data().by_stream();
            let kind = kind(view);
            let stored = recorded.stream().as_str();
            if let ByStream::Retraction(r) = view {
                // The golden sample retracts an event that is not in the file, so it was sealed into a
                // stand-in stream; what the view decides is that the ledger looks the stream up from
                // the retracted event.
                assert_eq!(recorded.data().stream(), StreamTarget::OfEvent(r.event));
                assert_eq!(stored, "agreement/hok", "the stand-in stream of the golden retraction");
            } else {
                assert_eq!(
                    recorded.data().stream(),
                    StreamTarget::Stream(recorded.stream().clone()),
                    "{}",
                    line.type_name
                );
                let in_kind = stored == kind || stored.strip_prefix(kind).is_some_and(|rest| rest.starts_with('/'));
                assert!(in_kind, "{} is stored in {stored}, not in a {kind} stream", line.type_name);
            }
            *per_kind.entry(kind).or_default() += 1;
        }
        // API.md §1's grouping, pinned: moving a type to another stream would change its stored bytes.
        let expected = [
            ("agreement", 16),
            ("body", 1),
            ("case", 4),
            ("county", 4),
            ("decision", 1),
            ("duty", 1),
            ("followup", 3),
            ("group", 6),
            ("party", 2),
            ("problem", 3),
            ("retraction", 1),
        ];
        assert_eq!(per_kind.into_iter().collect::<Vec<_>>(), expected);
    }
}
