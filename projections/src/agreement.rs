//! Agreements: the fold of an `agreement/<id>` stream into state, and the evaluation of that state
//! at a valid date by the rules of [`crate::rules`] (DOMAIN.md, "Rules the projections must apply").

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use ledger::{
    AgreementEvent, AgreementId, AgreementKind, Binding, CaseId, Date, DecisionId, Document, GroupId, PartyEvent,
    PartyId, PartyKind, Position, RecordedEvent,
};

use crate::fold::{ValidDay, Visible};
use crate::rules;

#[cfg(test)]
mod tests;

/// Where an agreement stands on a date (API.md `AgreementStatus`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum AgreementStatus {
    /// Drafted or proposed; not recommended to the parties, not in force.
    Draft,
    /// Recommended to the parties (or decided and awaiting its date); not yet in force.
    Recommended,
    /// In force.
    InForce,
    /// In force, but a municipality has given notice and the remaining parties have not decided
    /// whether it continues (HÖK 7.2).
    ContinuationPending,
    /// Ended by decision, by the region's notice, by a decision not to continue after a
    /// municipality's notice, or (supplementary agreements) with its parent.
    Terminated,
    /// Past the last day of its applicable version (temporary agreements).
    Expired,
    /// Replaced by another agreement.
    Superseded,
    /// Kept out of force by a required party's declination, until the required parties change.
    Blocked,
}

impl AgreementStatus {
    /// The SCREAMING_CASE name used in GraphQL.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Draft => "DRAFT",
            Self::Recommended => "RECOMMENDED",
            Self::InForce => "IN_FORCE",
            Self::ContinuationPending => "CONTINUATION_PENDING",
            Self::Terminated => "TERMINATED",
            Self::Expired => "EXPIRED",
            Self::Superseded => "SUPERSEDED",
            Self::Blocked => "BLOCKED",
        }
    }

    /// Whether the agreement applies (IN_FORCE or CONTINUATION_PENDING).
    pub const fn applies(self) -> bool {
        matches!(self, Self::InForce | Self::ContinuationPending)
    }
}

impl std::fmt::Display for AgreementStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why an agreement ends (or will end) on its `ends_on` date.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EndCause {
    /// Terminated by decision (`AgreementTerminated`).
    Terminated,
    /// Superseded by another agreement.
    Superseded,
    /// The applicable version's `expires` date passed.
    Expired,
    /// The region gave notice (HÖK 7.2).
    NoticeByRegion,
    /// A municipality gave notice and the remaining parties decided not to continue.
    NotContinued,
    /// A supplementary agreement lapses with its parent.
    ParentEnded,
}

impl EndCause {
    /// The status an agreement has once ended for this cause.
    pub const fn status(self) -> AgreementStatus {
        match self {
            Self::Terminated | Self::NoticeByRegion | Self::NotContinued | Self::ParentEnded => {
                AgreementStatus::Terminated
            }
            Self::Superseded => AgreementStatus::Superseded,
            Self::Expired => AgreementStatus::Expired,
        }
    }
}

/// An interpretation of an agreement (HÖK 7.1: VIS has the final say), part of its history from its
/// decision date.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Interpretation {
    /// The deciding decision.
    pub decision: DecisionId,
    /// The case that asked for it.
    pub case: Option<CaseId>,
    /// The interpretation.
    pub text: String,
    /// The effective date of the event.
    pub issued_on: Date,
    /// The event.
    pub position: Position,
}

/// One required party's part in an agreement on the queried date.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Participation {
    /// The party.
    pub party: PartyId,
    /// Its kind, when the party is registered.
    pub kind: Option<PartyKind>,
    /// When it adopted the version that applies (or, before any applies, the latest version).
    pub adopted_on: Option<Date>,
    /// When it declined that version.
    pub declined_on: Option<Date>,
    /// When it gave notice (not withdrawn).
    pub notice_given_on: Option<Date>,
    /// The first day it no longer takes part: notice date + notice period.
    pub leaves_on: Option<Date>,
    /// After this party's notice: whether the remaining parties decided to continue.
    pub continues: Option<bool>,
    /// Whether the agreement binds this party on the queried date.
    pub bound: bool,
}

/// One version of an agreement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VersionView {
    /// The version number, from 1.
    pub number: u32,
    /// When it was proposed.
    pub proposed_on: Date,
    /// Its document.
    pub document: Option<Document>,
    /// What changed.
    pub summary: Option<String>,
    /// The first day it may apply.
    pub earliest_effective: Option<Date>,
    /// The last day it applies (temporary agreements).
    pub expires: Option<Date>,
    /// When a body decided it.
    pub decided_on: Option<Date>,
    /// That decision.
    pub decision: Option<DecisionId>,
    /// The first day it applies, as the decision states.
    pub effective_from: Option<Date>,
    /// When it was recommended to the parties.
    pub recommended_on: Option<Date>,
    /// The recommendation's response deadline (last day).
    pub response_due: Option<Date>,
    /// When it was published in the portal.
    pub published_on: Option<Date>,
    /// Where.
    pub published_url: Option<String>,
    /// When it comes (or came) into force by the rules, if everything needed has happened.
    pub in_force_from: Option<Date>,
}

/// An agreement as it stood on a date, as known at an instant (API.md `Agreement`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgreementView {
    /// Its id.
    pub id: AgreementId,
    /// Its title.
    pub title: String,
    /// Main, guideline, subject area, supplementary or local.
    pub kind: AgreementKind,
    /// How it becomes binding.
    pub binding: Binding,
    /// The agreement it belongs under.
    pub parent: Option<AgreementId>,
    /// When it was drafted.
    pub drafted_on: Date,
    /// Where it stands.
    pub status: AgreementStatus,
    /// Whether it applies on the date (status IN_FORCE or CONTINUATION_PENDING).
    pub in_force: bool,
    /// The first day of its time in force (also when that day is still ahead, or already past).
    pub in_force_from: Option<Date>,
    /// The last day it applies, when known.
    pub in_force_until: Option<Date>,
    /// The first day it no longer applies, when known, and why.
    pub ends_on: Option<(Date, EndCause)>,
    /// The version that applies on the date.
    pub version: Option<u32>,
    /// Every version known on the date.
    pub versions: Vec<VersionView>,
    /// One entry per required party.
    pub parties: Vec<Participation>,
    /// Required parties that have neither adopted nor declined the latest version.
    pub pending_parties: Vec<PartyId>,
    /// The group that stewards it.
    pub steward: Option<GroupId>,
    /// The provisions it is concluded under (`StatutoryBasisCited` effective by the date), e.g.
    /// `SoL 5:9a`: the statutory duties it fulfils for the parties it binds.
    pub statutory_basis: Vec<String>,
    /// Its interpretations.
    pub interpretations: Vec<Interpretation>,
    /// Whether the version that applies (or the latest, before any applies) is published in the
    /// portal (HÖK 4.7).
    pub published: bool,
    /// Notice period in months.
    pub notice_months: Option<u32>,
    /// Revision lead time in months.
    pub revision_lead_months: Option<u32>,
    /// The events the answer rests on, in log order.
    pub because: Vec<Position>,
}

impl AgreementView {
    /// The participation of one party.
    pub fn participation(&self, party: &PartyId) -> Option<&Participation> {
        self.parties.iter().find(|p| &p.party == party)
    }

    /// Whether the agreement binds a party on the date.
    pub fn binds(&self, party: &PartyId) -> bool {
        self.participation(party).is_some_and(|p| p.bound)
    }
}

/// A party's answers to a version, in valid-time order: `true` an adoption, `false` a declination.
/// The whole history is kept so that an answer about a date can be given as of that date: a later
/// answer never changes when a version came into force.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Answers(Vec<(Date, bool)>);

impl Answers {
    fn record(&mut self, on: Date, adopted: bool) {
        // Stable: answers of one day keep their record order.
        let at = self.0.partition_point(|(d, _)| *d <= on);
        self.0.insert(at, (on, adopted));
    }

    /// The answers on or before `on`.
    fn until(&self, on: Date) -> &[(Date, bool)] {
        &self.0[..self.0.partition_point(|(d, _)| *d <= on)]
    }

    /// The day the party adopted, if its answers in `answers` end with adoptions: the first of
    /// them since its last declination – adopting again does not move the day it adopted.
    fn adopted_in(answers: &[(Date, bool)]) -> Option<Date> {
        let since = answers.iter().rposition(|(_, adopted)| !adopted).map_or(0, |i| i + 1);
        answers.get(since).map(|(d, _)| *d)
    }

    /// The day the party declined, if its last answer in `answers` is a declination.
    fn declined_in(answers: &[(Date, bool)]) -> Option<Date> {
        answers.last().filter(|(_, adopted)| !adopted).map(|(d, _)| *d)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct VersionState {
    number: u32,
    /// Whether a `VersionProposed` set its terms (a version can be mentioned first by an answer in
    /// an old import).
    proposed: bool,
    proposed_on: Date,
    document: Option<Document>,
    summary: Option<String>,
    earliest_effective: Option<Date>,
    expires: Option<Date>,
    decided: Option<(Date, DecisionId, Option<Date>)>,
    recommended: Option<(Date, Date)>,
    answers: BTreeMap<PartyId, Answers>,
    published: Option<(Date, String)>,
}

impl VersionState {
    fn new(number: u32, proposed_on: Date) -> Self {
        Self {
            number,
            proposed: false,
            proposed_on,
            document: None,
            summary: None,
            earliest_effective: None,
            expires: None,
            decided: None,
            recommended: None,
            answers: BTreeMap::new(),
            published: None,
        }
    }

    /// The party's adoption date, if its last answer is an adoption.
    fn adopted(&self, party: &PartyId) -> Option<Date> {
        self.answers.get(party).and_then(|a| Answers::adopted_in(&a.0))
    }

    /// The party's adoption date, if its last answer on or before `on` is an adoption.
    fn adopted_as_of(&self, party: &PartyId, on: Date) -> Option<Date> {
        self.answers.get(party).and_then(|a| Answers::adopted_in(a.until(on)))
    }

    /// [`VersionState::adopted_as_of`] on a day under evaluation: only which answers are on or
    /// before it matters, and that is what the day notes.
    fn adopted_as_of_day(&self, party: &PartyId, on: &ValidDay) -> Option<Date> {
        let answers = &self.answers.get(party)?.0;
        let count = on.count_reached(|i| answers.get(i).map(|(d, _)| *d), answers.len());
        Answers::adopted_in(&answers[..count])
    }

    /// The party's declination date, if its last answer is a declination.
    fn declined(&self, party: &PartyId) -> Option<Date> {
        self.answers.get(party).and_then(|a| Answers::declined_in(&a.0))
    }

    /// Every date on which some party answered.
    fn answer_dates(&self) -> impl Iterator<Item = Date> + '_ {
        self.answers.values().flat_map(|a| a.0.iter().map(|(d, _)| *d))
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Notice {
    given_on: Date,
    /// The remaining parties' decision after a municipality's notice, and its date.
    continues: Option<(bool, Date)>,
}

/// When the pairs of an EACH_PARTY version are bound (see `AgreementState::pair_froms`).
#[derive(Debug, Default)]
struct PairFroms {
    /// Each party required now: the first day its pair is bound.
    bound_from: BTreeMap<PartyId, Date>,
    /// The first day any pair was bound.
    first: Option<Date>,
}

/// An agreement's fold over every event its stream records by some instant, whatever their dates
/// (what validation asks for every event it judges), kept to be extended by the stream's next
/// events: the same state as folding the longer prefix again, as long as the new events are no
/// retraction and none is dated before an event already folded (the fold applies events in
/// valid-time order, record order within a day). Anything else folds again.
#[derive(Debug)]
pub(crate) struct AgreementFold {
    /// How many events of the stream it folded (retractions included).
    len: usize,
    /// The last of them, which identifies the prefix: a stream's positions only grow, so a prefix
    /// whose `len`-th event is this one is the same prefix.
    last: Option<(Position, ledger::EventId)>,
    /// The latest effective date among the events folded.
    latest: Option<Date>,
    /// Shared with the questions that asked: extended in place once they are done with it.
    state: Option<Arc<AgreementState>>,
}

impl AgreementFold {
    /// Folds `prefix` (a record-time prefix of an agreement's stream) whole.
    pub(crate) fn of(prefix: &[Arc<RecordedEvent>]) -> Self {
        let visible = Visible::of(prefix, crate::fold::Horizon::everything(ledger::Timestamp::from_micros(i64::MAX)));
        Self {
            len: prefix.len(),
            last: prefix.last().map(|e| (e.position(), e.id())),
            latest: visible.events.iter().map(|e| e.effective()).max(),
            state: AgreementState::fold(&visible).map(Arc::new),
        }
    }

    /// The fold of `prefix`, extending this one if `prefix` continues what it folded; `false`
    /// (and unchanged) if it does not.
    pub(crate) fn extend_to(&mut self, prefix: &[Arc<RecordedEvent>]) -> bool {
        if prefix.len() < self.len || prefix[..self.len].last().map(|e| (e.position(), e.id())) != self.last {
            return false;
        }
        let new = &prefix[self.len..];
        if new.is_empty() {
            return true;
        }
        // Before its drafting an agreement has no state, and the drafting's state takes the
        // positions of everything before it: only a drafted agreement is extended.
        if self.state.is_none() {
            return false;
        }
        let mut latest = self.latest;
        for event in new {
            if matches!(event.data(), ledger::EventData::EventRetracted(_))
                || latest.is_some_and(|l| event.effective() < l)
            {
                return false;
            }
            latest = Some(event.effective());
        }
        let mut state = self.state.take().map(Arc::unwrap_or_clone);
        for event in new {
            AgreementState::apply(&mut state, event);
        }
        if let Some(state) = state.as_mut() {
            // Every new position is past those folded: `because` stays sorted.
            state.because.extend(new.iter().map(|e| e.position()));
        }
        self.state = state.map(Arc::new);
        self.len = prefix.len();
        self.last = new.last().map(|e| (e.position(), e.id()));
        self.latest = latest;
        true
    }

    /// The folded state (`None`: not drafted).
    pub(crate) fn state(&self) -> Option<&Arc<AgreementState>> {
        self.state.as_ref()
    }
}

/// An agreement folded from its stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct AgreementState {
    id: AgreementId,
    title: String,
    kind: AgreementKind,
    pub(crate) parent: Option<AgreementId>,
    binding: Binding,
    notice_months: Option<u32>,
    revision_lead_months: Option<u32>,
    drafted_on: Date,
    /// The required parties now (on the evaluated date).
    pub(crate) required: Vec<PartyId>,
    /// Every required set with the day it was decided, in valid-time order; the first is the
    /// drafting's.
    required_history: Vec<(Date, Vec<PartyId>)>,
    versions: BTreeMap<u32, VersionState>,
    notices: BTreeMap<PartyId, Notice>,
    /// Notices of parties no longer required, each with the day the set without its party was
    /// decided: they stand no more, but an end they had brought about by that day stays (DOMAIN.md,
    /// "no answer is ever rewritten by a later decision").
    lapsed: Vec<(PartyId, Notice, Date)>,
    terminated: Option<Date>,
    superseded: Option<(Date, AgreementId)>,
    interpretations: Vec<Interpretation>,
    steward: Option<GroupId>,
    /// Statutory references cited, with the day each citation takes effect.
    basis: Vec<(Date, Vec<String>)>,
    because: Vec<Position>,
}

impl AgreementState {
    /// Folds the visible events of an agreement's stream. `None` if it was not drafted.
    pub(crate) fn fold(visible: &Visible) -> Option<Self> {
        let mut state: Option<Self> = None;
        // In valid-time order (record order within a day): what applied on a day is what the
        // events dated up to it made it, whatever order they were recorded in – a decision
        // recorded late but dated early takes its place in that order, and an answer about an
        // earlier day cannot depend on it.
        let mut events: Vec<&RecordedEvent> = visible.events.iter().map(|e| &**e).collect();
        events.sort_by_key(|e| e.effective());
        for event in events {
            Self::apply(&mut state, event);
        }
        if let Some(state) = state.as_mut() {
            state.because = visible.positions();
        }
        state
    }

    /// The parties whose kind the evaluation needs: the required ones and those who gave notice.
    ///
    /// Every party ever required counts, not only those required now: the EACH_PARTY pairing looks
    /// for the region among all of them (`pair_froms`), so a region no longer required still
    /// decides when the earlier pairs were bound – as it does when the whole list is answered with
    /// every party's kind.
    pub(crate) fn parties_of_interest(&self) -> impl Iterator<Item = &PartyId> {
        self.required_history
            .iter()
            .flat_map(|(_, parties)| parties)
            .chain(self.notices.keys())
            .chain(self.lapsed.iter().map(|(party, _, _)| party))
    }

    /// Whether a version with this number was proposed (or otherwise mentioned).
    pub(crate) fn has_version(&self, number: u32) -> bool {
        self.versions.contains_key(&number)
    }

    /// Whether a version was decided by a body.
    pub(crate) fn version_decided(&self, number: u32) -> bool {
        self.versions.get(&number).is_some_and(|v| v.decided.is_some())
    }

    /// Whether the party has a notice standing.
    pub(crate) fn has_notice(&self, party: &PartyId) -> bool {
        self.notices.contains_key(party)
    }

    /// When the party's standing notice was given.
    pub(crate) fn notice_given_on(&self, party: &PartyId) -> Option<Date> {
        self.notices.get(party).map(|n| n.given_on)
    }

    /// Whether the remaining parties have decided on continuation after the party's notice.
    pub(crate) fn continuation_decided(&self, party: &PartyId) -> bool {
        self.notices.get(party).is_some_and(|n| n.continues.is_some())
    }

    /// The first day the party no longer takes part by its standing notice, when the agreement
    /// states a notice period (DOMAIN.md: without one the leave date is unknown).
    pub(crate) fn leaves_on(&self, party: &PartyId) -> Option<Date> {
        let notice = self.notices.get(party)?;
        self.notice_months.map(|months| rules::leaves_on(notice.given_on, months))
    }

    /// The agreement's kind.
    pub(crate) fn kind(&self) -> AgreementKind {
        self.kind
    }

    /// How it becomes binding.
    pub(crate) fn binding(&self) -> Binding {
        self.binding
    }

    fn version_mut(&mut self, number: u32, on: Date) -> &mut VersionState {
        // Lenient on purpose: an import may carry a decision on a version it never proposed.
        // Validation refuses that for new commands; the fold still shows what was recorded.
        self.versions.entry(number).or_insert_with(|| VersionState::new(number, on))
    }

    fn apply(state: &mut Option<Self>, event: &RecordedEvent) {
        use AgreementEvent as A;
        // `agreement/<id>` holds only agreement events once `Visible` has taken the retractions
        // out, so this `else` never runs.
        let Some(data) = event.data().by_stream().as_agreement() else { return };
        let on = event.effective();
        if let A::Drafted(e) = data {
            if state.is_none() {
                *state = Some(Self {
                    id: e.agreement.clone(),
                    title: e.title.clone(),
                    kind: e.kind,
                    parent: e.parent.clone(),
                    binding: e.binding,
                    notice_months: e.notice_months,
                    revision_lead_months: e.revision_lead_months,
                    drafted_on: on,
                    required: e.parties.clone(),
                    required_history: vec![(on, e.parties.clone())],
                    versions: BTreeMap::new(),
                    notices: BTreeMap::new(),
                    lapsed: Vec::new(),
                    terminated: None,
                    superseded: None,
                    interpretations: Vec::new(),
                    steward: None,
                    basis: Vec::new(),
                    because: Vec::new(),
                });
            }
            return;
        }
        // Invariant: nothing happens to an agreement before it is drafted.
        let Some(s) = state.as_mut() else { return };
        match data {
            A::VersionProposed(e) => {
                let v = s.version_mut(e.version, on);
                // A version's terms are those it was first proposed with: proposing it again (which
                // validation refuses) cannot move its earliest day or its last.
                // Nor can terms arrive after the version was answered or decided (only an old
                // import could carry that; validation wants the proposal first).
                if v.proposed || !v.answers.is_empty() || v.decided.is_some() {
                    return;
                }
                v.proposed = true;
                v.proposed_on = on;
                v.document = e.document.clone();
                v.summary = e.summary.clone();
                v.earliest_effective = e.earliest_effective;
                v.expires = e.expires;
            }
            A::VersionDecided(e) => {
                // A version is decided once: deciding it again does not move the day it came
                // into force by its decision.
                s.version_mut(e.version, on).decided.get_or_insert((on, e.decision.clone(), e.effective_from));
            }
            A::VersionRecommended(e) => {
                s.version_mut(e.version, on).recommended = Some((on, e.response_due));
            }
            A::PartyAdopted(e) => {
                s.version_mut(e.version, on).answers.entry(e.party.clone()).or_default().record(on, true);
            }
            A::PartyDeclined(e) => {
                s.version_mut(e.version, on).answers.entry(e.party.clone()).or_default().record(on, false);
            }
            A::RequiredPartiesChanged(e) => {
                // Stable: changes of one day keep their record order.
                let at = s.required_history.partition_point(|(d, _)| *d <= on);
                s.required_history.insert(at, (on, e.parties.clone()));
                s.required = s.required_history.last().map(|(_, p)| p.clone()).unwrap_or_default();
                // A party no longer required has no notice standing: coming back, it starts anew.
                // What its notice had already ended by this day stays ended (see `evaluate`).
                let (kept, gone): (BTreeMap<_, _>, BTreeMap<_, _>) =
                    std::mem::take(&mut s.notices).into_iter().partition(|(party, _)| s.required.contains(party));
                s.notices = kept;
                s.lapsed.extend(gone.into_iter().map(|(party, notice)| (party, notice, on)));
            }
            A::VersionPublished(e) => {
                // Published from its first publication on.
                s.version_mut(e.version, on).published.get_or_insert((on, e.url.clone()));
            }
            A::NoticeGiven(e) => {
                // Only a required party can give notice (validation refuses any other; an old
                // import's such notice changes nothing).
                // A notice standing is not given again: the first one's day counts.
                if s.required.contains(&e.party) {
                    s.notices.entry(e.party.clone()).or_insert(Notice { given_on: on, continues: None });
                }
            }
            A::NoticeWithdrawn(e) => {
                // DOMAIN.md: a withdrawal is possible only before the party's leave date (and not
                // before the notice itself); one dated otherwise changes nothing.
                let leaves = s.notices.get(&e.party).and_then(|n| s.leave_date(n));
                let given = s.notices.get(&e.party).map(|n| n.given_on);
                if given.is_some_and(|g| g <= on) && leaves.is_none_or(|l| on < l) {
                    s.notices.remove(&e.party);
                }
            }
            A::ContinuationDecided(e) => {
                // Decided once: a second decision (which validation refuses) cannot move the end.
                if let Some(notice) = s.notices.get_mut(&e.after_notice_by)
                    && notice.given_on <= on
                {
                    notice.continues.get_or_insert((e.continues, on));
                }
            }
            A::Terminated(_) => {
                s.terminated = Some(s.terminated.map_or(on, |t| t.min(on)));
            }
            A::Superseded(e) => {
                if s.superseded.as_ref().is_none_or(|(d, _)| on < *d) {
                    s.superseded = Some((on, e.by.clone()));
                }
            }
            A::InterpretationIssued(e) => s.interpretations.push(Interpretation {
                decision: e.decision.clone(),
                case: e.case.clone(),
                text: e.text.clone(),
                issued_on: on,
                position: event.position(),
            }),
            A::StewardAssigned(e) => s.steward = Some(e.group.clone()),
            A::StatutoryBasisCited(e) => s.basis.push((on, e.references.clone())),
            // Handled above: a second drafting changes nothing.
            A::Drafted(_) => {}
        }
    }

    /// The region among the required parties, if there is one.
    fn region<'a>(&'a self, kinds: &HashMap<PartyId, PartyKind>) -> Option<&'a PartyId> {
        self.required.iter().find(|p| kinds.get(*p) == Some(&PartyKind::Region))
    }

    /// The first day a notice's party no longer takes part, when the agreement states a notice
    /// period. DOMAIN.md, "No stated notice period": without one the leave date is unknown, and the
    /// party stays bound.
    fn leave_date(&self, notice: &Notice) -> Option<Date> {
        self.notice_months.map(|months| rules::leaves_on(notice.given_on, months))
    }

    /// The required set decided last on or before `on` (the drafting's before any change), and the
    /// day it was decided.
    fn required_on(&self, on: Date) -> Option<(Date, &[PartyId])> {
        let set = self.required_history.iter().rev().find(|(d, _)| *d <= on).or(self.required_history.first());
        set.map(|(d, parties)| (*d, parties.as_slice()))
    }

    /// When a version needing every required party came into force, if it did (HÖK 7.2; DOMAIN.md
    /// rule 1 and "no answer is ever rewritten"). The required set may change over time: the
    /// version comes into force the first day on which every party required that day has adopted it,
    /// judged as of that day – so a declination keeps it out until the set is changed (then from the
    /// change at the earliest), a party added once it is in force does not take it out again, and a
    /// later answer never moves the day.
    fn all_parties_from(&self, v: &VersionState) -> Option<Date> {
        let mut days: Vec<Date> = self.required_history.iter().map(|(d, _)| *d).chain(v.answer_dates()).collect();
        days.sort();
        days.dedup();
        days.into_iter().find_map(|day| {
            let (set_on, set) = self.required_on(day)?;
            if set.is_empty() {
                return None;
            }
            let adoptions = set.iter().map(|p| v.adopted_as_of(p, day));
            if v.number > 1 {
                // HÖK 7.2: a revision applies "tidigast tre månader efter att den omförhandlade
                // överenskommelsen godkänts av parterna".
                let approved = rules::entry_into_force_with_set(None, adoptions, set_on)?;
                Some(rules::revision_in_force_from(
                    v.earliest_effective,
                    approved,
                    self.revision_lead_months.unwrap_or(0),
                ))
            } else {
                rules::entry_into_force_with_set(v.earliest_effective, adoptions, set_on)
            }
        })
    }

    /// The periods a party was a required party: from the day a set including it was decided to
    /// the day one without it was (`None`: it still is).
    fn required_periods(&self, party: &PartyId) -> Vec<(Date, Option<Date>)> {
        let mut periods: Vec<(Date, Option<Date>)> = Vec::new();
        for (on, parties) in &self.required_history {
            let open = periods.last().is_some_and(|(_, until)| until.is_none());
            match (parties.contains(party), open) {
                (true, false) => periods.push((*on, None)),
                (false, true) => {
                    if let Some(last) = periods.last_mut() {
                        last.1 = Some(*on);
                    }
                }
                (true, true) | (false, false) => {}
            }
        }
        periods
    }

    /// When each pair is bound by a version under EACH_PARTY: each municipality-side party from the
    /// later of its own and the region's adoption (a revision: plus the lead time); the region from
    /// its first bound pair. Without a region among the required parties, each party is bound from
    /// its own adoption (an interpretation: there is no counterpart to pair with).
    ///
    /// DOMAIN.md, "no answer is ever rewritten": a pair's day is the first day both sides had
    /// adopted, judged as of that day and within a period the municipality was required, so a later
    /// answer or change of parties never moves it. `bound_from` holds the day for each party
    /// required now (within its current period); `first` the first day any pair was bound, by any
    /// party ever required – when the version came into force.
    fn pair_froms(&self, v: &VersionState, kinds: &HashMap<PartyId, PartyKind>) -> PairFroms {
        let ever: BTreeSet<&PartyId> = self.required_history.iter().flat_map(|(_, parties)| parties).collect();
        let region = ever.iter().copied().find(|p| kinds.get(*p) == Some(&PartyKind::Region));
        let answer_days = |answers: Option<&Answers>| -> Vec<Date> {
            answers.into_iter().flat_map(|a| a.0.iter().map(|(d, _)| *d)).collect()
        };
        // `VersionState::adopted_as_of` with the party's answers looked up once, not on every day.
        let adopted_as_of =
            |answers: Option<&Answers>, on: Date| answers.and_then(|a| Answers::adopted_in(a.until(on)));
        let region_answers = region.and_then(|region| v.answers.get(region));
        let mut out = PairFroms::default();
        for party in ever.iter().copied().filter(|p| Some(*p) != region) {
            let periods = self.required_periods(party);
            let own_answers = v.answers.get(party);
            let mut days = answer_days(own_answers);
            days.extend(region.map(|_| answer_days(region_answers)).unwrap_or_default());
            days.extend(periods.iter().map(|(start, _)| *start));
            days.sort();
            days.dedup();
            let from_in = |(start, until): (Date, Option<Date>)| {
                days.iter().filter(|day| **day >= start && until.is_none_or(|u| **day < u)).find_map(|day| {
                    let own = adopted_as_of(own_answers, *day).map(|own| own.max(start));
                    let counterpart = match region {
                        Some(_) => adopted_as_of(region_answers, *day),
                        None => own,
                    };
                    let from = if v.number > 1 {
                        rules::pair_bound_from(None, counterpart, own).map(|later| {
                            rules::revision_in_force_from(
                                v.earliest_effective,
                                later,
                                self.revision_lead_months.unwrap_or(0),
                            )
                        })
                    } else {
                        rules::pair_bound_from(v.earliest_effective, counterpart, own)
                    };
                    from.filter(|from| until.is_none_or(|u| *from < u))
                })
            };
            if let Some(first) = periods.iter().copied().find_map(from_in) {
                out.first = Some(out.first.map_or(first, |f: Date| f.min(first)));
            }
            if let Some(current) = periods.last().copied().filter(|(_, until)| until.is_none())
                && let Some(from) = from_in(current)
            {
                out.bound_from.insert(party.clone(), from);
            }
        }
        if let Some(region) = region
            && let Some(first) = out.bound_from.values().min().copied()
        {
            out.bound_from.insert(region.clone(), first);
        }
        out
    }

    /// When a version comes into force by the agreement's binding rule (HÖK 7.2; HÖK 3, 4.2;
    /// Förstudie 11), if everything needed has happened; `pairs` is the version's
    /// [`AgreementState::pair_froms`] under EACH_PARTY.
    fn version_from(&self, v: &VersionState, pairs: Option<&PairFroms>) -> Option<Date> {
        match self.binding {
            Binding::AllParties => self.all_parties_from(v),
            Binding::EachParty => pairs.and_then(|pairs| pairs.first),
            Binding::Decision => v.decided.as_ref().map(|(on, _, from)| rules::decision_in_force_from(*on, *from)),
        }
    }

    /// Whether a version is kept out of force by a declination (DOMAIN.md rule 1): a required party
    /// declined it after the required set was last decided. Under EACH_PARTY only the region's
    /// declination blocks: a municipality that declines just stays outside.
    fn blocked(&self, v: &VersionState, kinds: &HashMap<PartyId, PartyKind>) -> bool {
        let set_on = self.required_history.last().map(|(d, _)| *d);
        let blocked_by = |p: &PartyId| v.declined(p).is_some_and(|declined| set_on.is_none_or(|set| set <= declined));
        match self.binding {
            Binding::AllParties => self.required.iter().any(blocked_by),
            Binding::EachParty => self.region(kinds).is_some_and(blocked_by),
            Binding::Decision => false,
        }
    }

    /// Evaluates the state at `at`. `kinds` holds the kinds of the registered parties of interest;
    /// `parent` is the parent agreement's view at `at`, needed for a supplementary agreement.
    ///
    /// `at` notes every comparison made against the date (see [`ValidDay`]): the answer is the same
    /// for every date of the interval it ends with, given the same state, kinds and parent.
    pub(crate) fn evaluate(
        &self,
        at: &ValidDay,
        kinds: &HashMap<PartyId, PartyKind>,
        parent: Option<&AgreementView>,
    ) -> AgreementView {
        // Under EACH_PARTY, each version's pairs (by version number), worked out once: their first
        // day is the version's, their days the participations'.
        let pairs: BTreeMap<u32, PairFroms> = match self.binding {
            Binding::EachParty => self.versions.values().map(|v| (v.number, self.pair_froms(v, kinds))).collect(),
            Binding::AllParties | Binding::Decision => BTreeMap::new(),
        };
        // A version that could only come into force after its last day never applies.
        let froms: BTreeMap<u32, Option<Date>> = self
            .versions
            .values()
            .map(|v| {
                let from = self.version_from(v, pairs.get(&v.number));
                (v.number, from.filter(|from| v.expires.is_none_or(|last| *from <= last)))
            })
            .collect();
        let applicable = self
            .versions
            .values()
            .filter_map(|v| froms.get(&v.number).copied().flatten().filter(|f| at.reached(*f)).map(|f| (f, v)))
            .max_by_key(|(f, v)| (*f, v.number));

        // Everything that ends the agreement as a whole; the earliest wins.
        let mut ends: Vec<(Date, EndCause)> = Vec::new();
        if let Some(d) = self.terminated {
            ends.push((d, EndCause::Terminated));
        }
        if let Some((d, _)) = &self.superseded {
            ends.push((*d, EndCause::Superseded));
        }
        let mut continuation_pending = false;
        // DOMAIN.md, "Children": there is no notice on the guideline – a party leaves it by leaving
        // the HÖK – so a notice recorded on it (only an old import could) changes nothing.
        // A lapsed notice (its party is no longer required) counts only for an end it had already
        // brought about by the day it lapsed; nothing is pending on it any more.
        let standing = self.notices.iter().map(|(party, notice)| (party, notice, None));
        let lapsed = self.lapsed.iter().map(|(party, notice, on)| (party, notice, Some(*on)));
        let notices = standing.chain(lapsed).filter(|_| self.kind != AgreementKind::Guideline);
        for (party, notice, lapsed_on) in notices {
            let stood_then = |end: &(Date, EndCause)| lapsed_on.is_none_or(|lapsed| end.0 <= lapsed);
            // An unregistered party is treated as a municipality: its notice then only asks the
            // others to decide, which is the cautious reading.
            let kind = kinds.get(party).copied().unwrap_or(PartyKind::Municipality);
            let leaves = self.leave_date(notice);
            let effect = match (self.binding, kind) {
                // DOMAIN.md, "EACH_PARTY agreements": a municipality's notice ends its own pair on
                // its leave date and nothing else; no continuation decision applies.
                (Binding::EachParty, PartyKind::Municipality | PartyKind::MunicipalAssociation) => {
                    rules::NoticeEffect::PartyLeaves
                }
                _ => rules::notice_effect(kind, notice.continues.map(|(continues, _)| continues)),
            };
            match effect {
                // Without a stated notice period the end is unknown: nothing ends on a guessed day.
                rules::NoticeEffect::EndsAgreement if kind == PartyKind::Region => {
                    ends.extend(leaves.map(|l| (l, EndCause::NoticeByRegion)).filter(stood_then));
                }
                rules::NoticeEffect::EndsAgreement => {
                    let decided_on = notice.continues.map_or(notice.given_on, |(_, on)| on);
                    let end = leaves.map(|l| (rules::not_continued_end(l, decided_on), EndCause::NotContinued));
                    ends.extend(end.filter(stood_then));
                }
                rules::NoticeEffect::ContinuationPending => continuation_pending |= lapsed_on.is_none(),
                rules::NoticeEffect::PartyLeaves => {}
            }
        }
        if self.kind == AgreementKind::Supplementary
            && let Some((end, _)) = parent.and_then(|p| p.ends_on)
        {
            ends.push((end, EndCause::ParentEnded));
        }
        // DOMAIN.md, "Children": a supplementary agreement is in force only while its parent is.
        let waits_for_parent = self.kind == AgreementKind::Supplementary && parent.is_some_and(|p| !p.in_force);
        let global_end = ends.iter().copied().min_by_key(|(d, _)| *d);

        let expiry_end = applicable.and_then(|(_, v)| v.expires).map(|e| (rules::expiry_end(e), EndCause::Expired));
        let ends_on = match (global_end, expiry_end) {
            (Some(g), Some(x)) => Some(if x.0 < g.0 { x } else { g }),
            (g, x) => g.or(x),
        };

        let latest = self.versions.values().next_back();
        let status = match (ends_on, applicable) {
            (Some((end, cause)), _) if at.reached(end) => cause.status(),
            (_, Some(_)) if waits_for_parent => AgreementStatus::Recommended,
            (_, Some(_)) if continuation_pending => AgreementStatus::ContinuationPending,
            (_, Some(_)) => AgreementStatus::InForce,
            (_, None) => {
                if latest.is_some_and(|v| self.blocked(v, kinds)) {
                    AgreementStatus::Blocked
                } else if self.versions.values().any(|v| v.recommended.is_some() || v.decided.is_some()) {
                    AgreementStatus::Recommended
                } else {
                    AgreementStatus::Draft
                }
            }
        };
        let in_force = status.applies();
        let focus = applicable.map(|(_, v)| v).or(latest);

        let own_from = froms.values().flatten().min().copied();
        // A supplementary agreement's time in force starts when both it and its parent apply.
        let in_force_from = match (self.kind, parent) {
            (AgreementKind::Supplementary, Some(parent)) => {
                own_from.zip(parent.in_force_from).map(|(own, parent)| own.max(parent))
            }
            _ => own_from,
        };
        let in_force_until = match (ends_on, in_force_from) {
            (Some((end, _)), Some(from)) if from < end => Some(end.previous_day()),
            _ => None,
        };

        // Participations.
        let pair_froms: Vec<(Option<Date>, &BTreeMap<PartyId, Date>)> = self
            .versions
            .values()
            .filter_map(|v| pairs.get(&v.number).map(|pairs| (v.expires, &pairs.bound_from)))
            .collect();
        let parties = self
            .required
            .iter()
            .map(|party| {
                let notice = self.notices.get(party).filter(|_| self.kind != AgreementKind::Guideline);
                let leaves_on = notice.and_then(|n| self.leave_date(n));
                let left = leaves_on.is_some_and(|l| at.reached(l));
                let bound_by_rule = match self.binding {
                    // DOMAIN.md, "A party added to an agreement in force": bound from its own
                    // adoption of the version that applies.
                    Binding::AllParties => applicable.is_some_and(|(_, v)| v.adopted_as_of_day(party, at).is_some()),
                    Binding::Decision => true,
                    Binding::EachParty => pair_froms.iter().any(|(expires, froms)| {
                        froms.get(party).is_some_and(|f| at.reached(*f)) && expires.is_none_or(|e| at.on_or_before(e))
                    }),
                };
                // DOMAIN.md, "Children": a supplementary agreement binds only parties bound by its
                // parent, and the guideline binds a party only while the HÖK binds it (Riktlinje 1:
                // "Parterna förbinder sig genom HÖK att samverka i enlighet med riktlinjen").
                let bound_through_parent = match (self.kind, parent) {
                    (AgreementKind::Supplementary | AgreementKind::Guideline, Some(parent)) => parent.binds(party),
                    _ => true,
                };
                Participation {
                    party: party.clone(),
                    kind: kinds.get(party).copied(),
                    adopted_on: focus.and_then(|v| v.adopted(party)),
                    declined_on: focus.and_then(|v| v.declined(party)),
                    notice_given_on: notice.map(|n| n.given_on),
                    leaves_on,
                    continues: notice.and_then(|n| n.continues).map(|(continues, _)| continues),
                    bound: in_force && !left && bound_by_rule && bound_through_parent,
                }
            })
            .collect();

        let pending_parties = match (self.binding, latest) {
            (Binding::AllParties | Binding::EachParty, Some(v)) if ends_on.is_none_or(|(end, _)| !at.reached(end)) => {
                self.required.iter().filter(|p| v.adopted(p).is_none() && v.declined(p).is_none()).cloned().collect()
            }
            _ => Vec::new(),
        };

        AgreementView {
            id: self.id.clone(),
            title: self.title.clone(),
            kind: self.kind,
            binding: self.binding,
            parent: self.parent.clone(),
            drafted_on: self.drafted_on,
            status,
            in_force,
            in_force_from,
            in_force_until,
            ends_on,
            version: if in_force { applicable.map(|(_, v)| v.number) } else { None },
            versions: self
                .versions
                .values()
                .map(|v| VersionView {
                    number: v.number,
                    proposed_on: v.proposed_on,
                    document: v.document.clone(),
                    summary: v.summary.clone(),
                    earliest_effective: v.earliest_effective,
                    expires: v.expires,
                    decided_on: v.decided.as_ref().map(|(d, _, _)| *d),
                    decision: v.decided.as_ref().map(|(_, dec, _)| dec.clone()),
                    effective_from: v.decided.as_ref().and_then(|(_, _, f)| *f),
                    recommended_on: v.recommended.map(|(d, _)| d),
                    response_due: v.recommended.map(|(_, due)| due),
                    published_on: v.published.as_ref().map(|(d, _)| *d),
                    published_url: v.published.as_ref().map(|(_, url)| url.clone()),
                    in_force_from: froms.get(&v.number).copied().flatten(),
                })
                .collect(),
            parties,
            pending_parties,
            steward: self.steward.clone(),
            statutory_basis: {
                let mut refs: Vec<String> = self
                    .basis
                    .iter()
                    .filter(|(from, _)| at.reached(*from))
                    .flat_map(|(_, r)| r.iter().cloned())
                    .collect();
                refs.sort();
                refs.dedup();
                refs
            },
            interpretations: self.interpretations.clone(),
            published: focus.is_some_and(|v| v.published.is_some()),
            notice_months: self.notice_months,
            revision_lead_months: self.revision_lead_months,
            because: {
                let mut because = self.because.clone();
                if let (AgreementKind::Supplementary | AgreementKind::Guideline, Some(parent)) = (self.kind, parent) {
                    because.extend(parent.because.iter().copied());
                    because.sort();
                    because.dedup();
                }
                because
            },
        }
    }
}

impl crate::Projections {
    /// The agreement as it stood on `at`, as the ledger knew it at `as_known_at`. `None` if it had not
    /// been drafted by then (or its drafting was retracted).
    ///
    /// Answered from the materialized timelines (`materialized.rs`) when they hold the
    /// answer, otherwise folded (and the answer kept for every date it holds on); always equal to
    /// [`Projections::agreement_by_fold`](crate::Projections::agreement_by_fold).
    pub fn agreement(&self, id: &AgreementId, at: Date, as_known_at: ledger::Timestamp) -> Option<AgreementView> {
        self.agreement_shared(id, at, as_known_at).map(Arc::unwrap_or_clone)
    }

    /// [`Projections::agreement`](crate::Projections::agreement) as the materialized answer itself,
    /// shared instead of copied.
    pub fn agreement_shared(
        &self,
        id: &AgreementId,
        at: Date,
        as_known_at: ledger::Timestamp,
    ) -> Option<Arc<AgreementView>> {
        self.timelines.agreement(self, id, at, as_known_at, &mut crate::materialized::Kinds::Single)
    }

    /// Every agreement drafted by `at`, in drafting order (materialized like
    /// [`Projections::agreement`](crate::Projections::agreement); always equal to
    /// [`Projections::agreements_by_fold`](crate::Projections::agreements_by_fold)).
    pub fn agreements(&self, at: Date, as_known_at: ledger::Timestamp) -> Vec<AgreementView> {
        self.agreements_shared(at, as_known_at).into_iter().map(Arc::unwrap_or_clone).collect()
    }

    /// [`Projections::agreements`](crate::Projections::agreements) as the materialized answers
    /// themselves, shared instead of copied (a county-wide list copies nothing).
    pub fn agreements_shared(&self, at: Date, as_known_at: ledger::Timestamp) -> Vec<Arc<AgreementView>> {
        // The kinds of every party are looked up once for the whole list, and only if some answer
        // has to be folded.
        let mut kinds = crate::materialized::Kinds::Lazy(None);
        self.agreements
            .all()
            .iter()
            .filter_map(|id| self.timelines.agreement(self, id, at, as_known_at, &mut kinds))
            .collect()
    }

    /// [`Projections::agreement`](crate::Projections::agreement) folded from the raw events, with
    /// nothing materialized: the specification the materialized answers are checked against (in
    /// `tests/it/materialized.rs`) and the benchmark's baseline.
    pub fn agreement_by_fold(
        &self,
        id: &AgreementId,
        at: Date,
        as_known_at: ledger::Timestamp,
    ) -> Option<AgreementView> {
        self.agreement_view(id, &ValidDay::new(at), as_known_at, 0, None, &mut Vec::new())
    }

    /// [`Projections::agreements`](crate::Projections::agreements) folded from the raw events, with
    /// nothing materialized (the specification; see
    /// [`Projections::agreement_by_fold`](crate::Projections::agreement_by_fold)).
    pub fn agreements_by_fold(&self, at: Date, as_known_at: ledger::Timestamp) -> Vec<AgreementView> {
        // Every agreement needs the kinds of its parties, and the same parties recur across
        // agreements: look each party up once for the whole list. A superset of each agreement's
        // parties of interest gives the same answers, since evaluation only looks kinds up.
        let kinds = self.party_kinds(self.parties.all().iter(), as_known_at);
        self.agreements
            .all()
            .iter()
            .filter_map(|id| self.agreement_view(id, &ValidDay::new(at), as_known_at, 0, Some(&kinds), &mut Vec::new()))
            .collect()
    }

    /// How many answers of [`Projections::agreement`](crate::Projections::agreement) and
    /// [`Projections::agreements`](crate::Projections::agreements) came from a materialized
    /// timeline instead of a fold, since these projections were made (for tests and the benchmark).
    pub fn materialized_answers(&self) -> u64 {
        self.timelines.hits()
    }

    /// How many answers the materialized timelines' memory bound removed since these projections
    /// were made (for the benchmark: each one asked again is a fold).
    pub fn materialized_evictions(&self) -> u64 {
        self.timelines.evicted()
    }

    /// The folded state of an agreement on a horizon.
    pub(crate) fn agreement_state(&self, id: &AgreementId, horizon: crate::fold::Horizon) -> Option<AgreementState> {
        AgreementState::fold(&self.visible_entity("agreement", id.as_str(), horizon))
    }

    /// The folded state of an agreement over everything recorded by `known`, whatever the dates:
    /// validation's question, asked for every event it judges. The fold is kept with the stream's
    /// decoded events and extended by its next events ([`AgreementFold`]); other questions fold
    /// as they need ([`Projections::agreement_state`]), and keep nothing.
    pub(crate) fn kept_agreement_state(
        &self,
        id: &AgreementId,
        known: ledger::Timestamp,
    ) -> Option<Arc<AgreementState>> {
        self.kept_fold_state(self.entity_stream("agreement", id.as_str())?, known)
    }

    /// The fold itself: the agreement's view at `at` as known at `known`. `at` notes every
    /// comparison made against the date (this agreement's and its parents'); `deps` gets each
    /// agreement stream read, with the length of its prefix recorded by `known`.
    ///
    /// `all_kinds`, when given, holds the kinds of (at least) every party of interest as registered
    /// by `known`; otherwise they are looked up.
    pub(crate) fn agreement_view(
        &self,
        id: &AgreementId,
        at: &ValidDay,
        known: ledger::Timestamp,
        depth: u8,
        all_kinds: Option<&HashMap<PartyId, PartyKind>>,
        deps: &mut Vec<(AgreementId, usize)>,
    ) -> Option<AgreementView> {
        let prefix = self.entity_prefix("agreement", id.as_str(), known);
        deps.push((id.clone(), prefix.len()));
        let state = AgreementState::fold(&Visible::on_day(&prefix, at))?;
        let own_kinds;
        let kinds = match all_kinds {
            Some(kinds) => kinds,
            None => {
                own_kinds = self.party_kinds(state.parties_of_interest(), known);
                &own_kinds
            }
        };
        // A parent chain is short; the depth bound only guards against a cycle in bad data.
        let parent = match (&state.parent, state.kind()) {
            (Some(parent), AgreementKind::Supplementary | AgreementKind::Guideline) if depth < 8 => {
                self.agreement_view(parent, at, known, depth + 1, all_kinds, deps)
            }
            _ => None,
        };
        Some(state.evaluate(at, kinds, parent.as_ref()))
    }

    /// The kinds of the given parties as registered by `known` (a party's kind does not depend on
    /// valid time).
    pub(crate) fn party_kinds<'a>(
        &self,
        parties: impl Iterator<Item = &'a PartyId>,
        known: ledger::Timestamp,
    ) -> HashMap<PartyId, PartyKind> {
        let mut kinds = HashMap::new();
        for party in parties {
            if kinds.contains_key(party) {
                continue;
            }
            if let Some(kind) = self.party_kind(party, known) {
                kinds.insert(party.clone(), kind);
            }
        }
        kinds
    }

    /// A party's kind as registered by `known`.
    pub(crate) fn party_kind(&self, party: &PartyId, known: ledger::Timestamp) -> Option<PartyKind> {
        let visible = self.visible_entity("party", party.as_str(), crate::fold::Horizon::everything(known));
        visible.events.iter().rev().find_map(|e| match e.data().by_stream().as_party()? {
            PartyEvent::Registered(p) => Some(p.kind),
            PartyEvent::DistrictRegistered(_) => None,
        })
    }
}
