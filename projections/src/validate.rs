//! Command validation shared by the GraphQL mutations and the importer: whether a proposed event
//! fits what the ledger knows now. A forbidden command is a [`Rejection`] value with a code and a
//! message a person understands; nothing is appended.

use std::fmt;

use ledger::{
    AgreementId, AgreementKind, Binding, BodyId, CaseId, DecisionId, EventData, GroupId, NewEvent, PartyId, PartyKind,
    ProblemId, Slug, Timestamp,
};

use crate::agreement::AgreementState;
use crate::competence::{self, Competent, Requirement};
use crate::fold::Horizon;
use crate::organisation::{CaseStatus, GroupView};
use crate::{Projections, rules};

#[cfg(test)]
mod tests;

/// What kind of rejection (API.md's `extensions.code`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RejectionCode {
    /// An id the command refers to is not registered (or was retracted).
    NotFound,
    /// The command breaks a rule of the domain.
    RuleViolation,
    /// The command's own fields do not make sense together.
    InvalidInput,
}

impl RejectionCode {
    /// The SCREAMING_CASE code used in GraphQL errors.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::NotFound => "NOT_FOUND",
            Self::RuleViolation => "RULE_VIOLATION",
            Self::InvalidInput => "INVALID_INPUT",
        }
    }
}

/// Why a command is refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection {
    /// The kind of rejection.
    pub code: RejectionCode,
    /// What is wrong, for a person.
    pub message: String,
}

impl Rejection {
    fn not_found(what: &str, id: impl fmt::Display) -> Self {
        Self { code: RejectionCode::NotFound, message: format!("{what} '{id}' is not registered") }
    }

    fn rule(message: impl Into<String>) -> Self {
        Self { code: RejectionCode::RuleViolation, message: message.into() }
    }

    fn input(message: impl Into<String>) -> Self {
        Self { code: RejectionCode::InvalidInput, message: message.into() }
    }
}

impl fmt::Display for Rejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code.as_str(), self.message)
    }
}

type Check = Result<(), Rejection>;

impl Projections {
    /// Validates a proposed event against everything applied so far.
    pub fn validate(&self, event: &NewEvent) -> Result<(), Rejection> {
        self.validate_as_known_at(event, Timestamp::from_micros(i64::MAX))
    }

    /// Validates a batch in order, each event against everything applied so far plus the batch's
    /// earlier events: `batch` pairs each proposed event with the event the ledger would store for
    /// it (`ledger::Ledger::preview`). Returns the index of the first rejected event. Pure: works
    /// on a copy.
    pub fn validate_batch(&self, batch: &[(&NewEvent, &ledger::RecordedEvent)]) -> Result<(), (usize, Rejection)> {
        let mut projections = self.clone();
        for (index, (proposed, recorded)) in batch.iter().enumerate() {
            projections.validate(proposed).map_err(|r| (index, r))?;
            projections.apply(recorded).map_err(|e| (index, Rejection::input(e.to_string())))?;
        }
        Ok(())
    }

    /// Validates a proposed event against what was known at `as_known_at`.
    ///
    /// Existence and state are judged on everything known then, whatever its effective date; only
    /// "is the agreement in force" is judged on the event's own effective date.
    pub fn validate_as_known_at(&self, event: &NewEvent, as_known_at: Timestamp) -> Result<(), Rejection> {
        screen(event)?;
        self.validate_screened_as_known_at(event, as_known_at)
    }

    /// [`Projections::validate`] of a proposed event that has passed [`screen`], given as the
    /// event the ledger sealed for it (its data and effective date are the proposal's): the checks
    /// against state alone. An import screens each line on its reader thread, and judges here, in
    /// file order, the events its steps were staged as.
    pub fn validate_screened(&self, event: &ledger::RecordedEvent) -> Result<(), Rejection> {
        let known = Timestamp::from_micros(i64::MAX);
        Validator { p: self, h: Horizon::everything(known), known, data: event.data(), effective: event.effective() }
            .check()
    }

    fn validate_screened_as_known_at(&self, event: &NewEvent, as_known_at: Timestamp) -> Result<(), Rejection> {
        let v = Validator {
            p: self,
            h: Horizon::everything(as_known_at),
            known: as_known_at,
            data: &event.data,
            effective: event.effective,
        };
        v.check()
    }
}

/// The checks of [`Projections::validate`] that look at the event alone, whatever has been
/// applied: no personal identity number anywhere in its text. [`Projections::validate`] runs them
/// first; `validate` = `screen`, then [`Projections::validate_screened`].
pub fn screen(event: &NewEvent) -> Result<(), Rejection> {
    personal_data(event)
}

struct Validator<'a> {
    p: &'a Projections,
    h: Horizon,
    known: Timestamp,
    /// The proposed event's data and effective date: all the rules against state look at.
    data: &'a EventData,
    effective: ledger::Date,
}

impl Validator<'_> {
    fn party(&self, id: &PartyId) -> Result<PartyKind, Rejection> {
        self.p.party_kind(id, self.known).ok_or_else(|| Rejection::not_found("party", id))
    }

    fn party_is_free(&self, id: &PartyId) -> Check {
        match self.p.party_kind(id, self.known) {
            Some(_) => Err(Rejection::rule(format!("party '{id}' is already registered"))),
            None => Ok(()),
        }
    }

    /// The decision exists, and the event citing it is not dated before it: a decision cannot
    /// take effect before it was made (DOMAIN.md, "no answer is ever rewritten").
    /// Gives the decision's body and date.
    fn decision(&self, id: &DecisionId) -> Result<(BodyId, ledger::Date), Rejection> {
        let Some((body, decided_on)) = self.p.decision_record(id, self.known) else {
            return Err(Rejection::not_found("decision", id));
        };
        let on = self.effective;
        if on < decided_on {
            return Err(Rejection::rule(format!(
                "this event is dated {on}, before decision '{id}' of {decided_on}; a decision cannot take effect before it was made"
            )));
        }
        Ok((body, decided_on))
    }

    /// The decision exists, and its body holds the competence (DOMAIN.md, "Who may decide what").
    fn decided_by(&self, decision: &DecisionId, who: Competent, what: String, source: &'static str) -> Check {
        let (body, decided_on) = self.decision(decision)?;
        let requirement = Requirement { decision, who, what, source };
        self.p.check_competence(&requirement, &body, decided_on, self.known).map_err(Rejection::rule)
    }

    /// The decision on an agreement itself (deciding, recommending locally, changing its parties,
    /// terminating, superseding) is its decider's: VIS for county-wide agreements, the officials'
    /// steering group for the guideline, a local agreement's own parties.
    fn decided_by_decider(&self, decision: &DecisionId, state: &AgreementState, what: String) -> Check {
        let (who, source) = competence::decider(state.kind(), &state.required);
        self.decided_by(decision, who, what, source)
    }

    fn body_exists(&self, id: &BodyId) -> bool {
        self.p.body_record(id, self.known).is_some()
    }

    fn agreement(&self, id: &AgreementId) -> Result<std::sync::Arc<AgreementState>, Rejection> {
        self.p.kept_agreement_state(id, self.known).ok_or_else(|| Rejection::not_found("agreement", id))
    }

    fn version(&self, state: &AgreementState, id: &AgreementId, version: u32) -> Check {
        if state.has_version(version) {
            Ok(())
        } else {
            Err(Rejection::rule(format!("version {version} of agreement '{id}' was never proposed")))
        }
    }

    /// HÖK 7.2: "VIS beslutar om eventuella revidering av överenskommelsen" – a revision needs a
    /// decision before it is recommended to or adopted by the parties.
    fn revision_decided(&self, state: &AgreementState, id: &AgreementId, version: u32) -> Check {
        if version > 1 && state.binding() != Binding::Decision && !state.version_decided(version) {
            return Err(Rejection::rule(format!(
                "version {version} of agreement '{id}' is a revision and has not been decided (HÖK 7.2: VIS decides on revisions)"
            )));
        }
        Ok(())
    }

    fn required(&self, state: &AgreementState, id: &AgreementId, party: &PartyId) -> Check {
        if state.required.contains(party) {
            Ok(())
        } else {
            Err(Rejection::rule(format!("party '{party}' is not a required party of agreement '{id}'")))
        }
    }

    fn group(&self, id: &GroupId) -> Result<GroupView, Rejection> {
        self.p.group_now(id, self.h, self.effective).ok_or_else(|| Rejection::not_found("group", id))
    }

    fn group_open(&self, id: &GroupId) -> Result<GroupView, Rejection> {
        let group = self.group(id)?;
        match group.dissolved_on {
            Some(on) => Err(Rejection::rule(format!("group '{id}' was dissolved on {on}"))),
            None => Ok(group),
        }
    }

    fn case(&self, id: &CaseId) -> Result<crate::CaseView, Rejection> {
        crate::organisation::fold_case(&self.p.visible_entity("case", id.as_str(), self.h))
            .ok_or_else(|| Rejection::not_found("case", id))
    }

    fn open_case(&self, id: &CaseId) -> Result<crate::CaseView, Rejection> {
        let case = self.case(id)?;
        match case.status {
            CaseStatus::Open => Ok(case),
            CaseStatus::Resolved | CaseStatus::Withdrawn => Err(Rejection::rule(format!(
                "case '{id}' is {} and closed; resolved and withdrawn are final (HÖK 7.1)",
                case.status.as_str().to_lowercase()
            ))),
        }
    }

    fn problem(&self, id: &ProblemId) -> Check {
        let visible = self.p.visible_entity("problem", id.as_str(), self.h);
        if visible.events.iter().any(|e| matches!(e.data(), EventData::ProblemReported(_))) {
            Ok(())
        } else {
            Err(Rejection::not_found("problem", id))
        }
    }

    fn area(&self, area: &Slug) -> Check {
        let parties = self.p.parties.all().iter().filter_map(|id| self.p.party_registration(id, self.h));
        for party in parties {
            if party.id.as_str() == area.as_str() || party.districts.iter().any(|d| d.id.as_str() == area.as_str()) {
                return Ok(());
            }
        }
        Err(Rejection::not_found("municipality or district", area))
    }

    /// A party's own answer (adoption, declination, notice, withdrawal) is decided by a body of
    /// that party (HÖK 7.2; recommendation letter: "beslut om antagande är att likställas med
    /// undertecknande").
    fn own_decision(&self, decision: &DecisionId, party: &PartyId, what: &str, agreement: &AgreementId) -> Check {
        let what = format!("the {what} by '{party}' of agreement '{agreement}'");
        self.decided_by(
            decision,
            Competent::PartyItself(party.clone()),
            what,
            "HÖK 7.2; recommendation letter (seed 003)",
        )
    }

    /// A group's mandate and dissolution: for consultation and working groups, the officials'
    /// steering group's decision (HÖK 4.3, 4.6).
    fn group_decision(&self, decision: &DecisionId, group: &GroupView, what: &str) -> Check {
        if competence::officials_decide_group(group.kind) {
            let what = format!("{what} group '{}'", group.id);
            self.decided_by(decision, Competent::Officials, what, "HÖK 4.3, 4.6")
        } else {
            self.decision(decision).map(|_| ())
        }
    }

    /// There is no notice on the guideline, nor a continuation: a party leaves it by leaving the
    /// HÖK (Riktlinje 1: "Parterna förbinder sig genom HÖK att samverka i enlighet med riktlinjen").
    fn not_a_guideline(&self, state: &AgreementState, id: &AgreementId, what: &str) -> Check {
        if state.kind() == AgreementKind::Guideline {
            return Err(Rejection::rule(format!(
                "agreement '{id}' is the guideline, which binds the parties through the HÖK: {what} is given on the HÖK, not on the guideline (Riktlinje 1)"
            )));
        }
        Ok(())
    }

    /// A case's next step is dated on or after its previous one (HÖK 7.1: a case moves one step at
    /// a time).
    fn after_last_step(case: &crate::CaseView, on: ledger::Date, what: &str) -> Check {
        let last = case.history.last().map_or(case.opened_on, |step| step.on);
        if on < last {
            return Err(Rejection::rule(format!(
                "the {what} of case '{}' is dated {on}, before the case's last step on {last}",
                case.id
            )));
        }
        Ok(())
    }

    /// Statutory references: at least one, none blank, none repeated (`SoL 5:9a`, `lag 2017:612`).
    fn references(references: &[String]) -> Check {
        if references.is_empty() {
            return Err(Rejection::input("references must name at least one provision, e.g. \"SoL 5:9a\""));
        }
        for (i, r) in references.iter().enumerate() {
            Self::not_blank("a reference", r)?;
            if r.trim() != r || r.len() > 100 {
                return Err(Rejection::input(format!("reference {r:?} must be trimmed and at most 100 characters")));
            }
            if references[..i].contains(r) {
                return Err(Rejection::input(format!("reference {r:?} is given twice")));
            }
        }
        Ok(())
    }

    fn not_blank(field: &str, text: &str) -> Check {
        if text.trim().is_empty() { Err(Rejection::input(format!("{field} must not be empty"))) } else { Ok(()) }
    }

    fn check(&self) -> Check {
        use EventData as E;
        let on = self.effective;
        match self.data {
            E::PartyRegistered(e) => {
                Self::not_blank("name", &e.name)?;
                self.party_is_free(&e.party)
            }
            E::DistrictRegistered(e) => {
                Self::not_blank("name", &e.name)?;
                match self.party(&e.municipality)? {
                    PartyKind::Municipality => Ok(()),
                    PartyKind::Region | PartyKind::MunicipalAssociation => Err(Rejection::rule(format!(
                        "'{}' is not a municipality; only municipalities have districts",
                        e.municipality
                    ))),
                }
            }
            E::BodyRegistered(e) => {
                Self::not_blank("name", &e.name)?;
                if self.body_exists(&e.body) {
                    return Err(Rejection::rule(format!("body '{}' is already registered", e.body)));
                }
                Ok(())
            }
            E::DecisionRecorded(e) => {
                Self::not_blank("subject", &e.subject)?;
                if !self.body_exists(&e.body) {
                    return Err(Rejection::not_found("body", &e.body));
                }
                match self.p.decision_record(&e.decision, self.known) {
                    Some(_) => Err(Rejection::rule(format!("decision '{}' is already recorded", e.decision))),
                    None => Ok(()),
                }
            }
            E::AgreementDrafted(e) => {
                Self::not_blank("title", &e.title)?;
                if self.p.kept_agreement_state(&e.agreement, self.known).is_some() {
                    return Err(Rejection::rule(format!("agreement '{}' is already drafted", e.agreement)));
                }
                if e.parties.is_empty() {
                    return Err(Rejection::input("an agreement needs at least one required party"));
                }
                for party in &e.parties {
                    self.party(party)?;
                }
                match (&e.parent, e.kind) {
                    (None, AgreementKind::Supplementary) => {
                        Err(Rejection::input("a supplementary agreement needs the parent agreement it supplements"))
                    }
                    (Some(parent), _) if parent == &e.agreement => {
                        Err(Rejection::input("an agreement cannot be its own parent"))
                    }
                    (Some(parent), _) => self.agreement(parent).map(|_| ()),
                    (None, _) => Ok(()),
                }
            }
            E::VersionProposed(e) => {
                let state = self.agreement(&e.agreement)?;
                if e.version == 0 {
                    return Err(Rejection::input("versions are numbered from 1"));
                }
                if state.has_version(e.version) {
                    return Err(Rejection::rule(format!(
                        "version {} of agreement '{}' is already proposed",
                        e.version, e.agreement
                    )));
                }
                if e.version > 1 && !state.has_version(e.version - 1) {
                    return Err(Rejection::rule(format!(
                        "version {} of agreement '{}' cannot be proposed before version {}",
                        e.version,
                        e.agreement,
                        e.version - 1
                    )));
                }
                if let (Some(from), Some(last)) = (e.earliest_effective, e.expires)
                    && last < from
                {
                    return Err(Rejection::input(format!("expires {last} is before earliestEffective {from}")));
                }
                Ok(())
            }
            E::VersionDecided(e) => {
                let state = self.agreement(&e.agreement)?;
                self.version(&state, &e.agreement, e.version)?;
                let what = if e.version > 1 {
                    format!("a revision (version {}) of agreement '{}'", e.version, e.agreement)
                } else {
                    format!("agreement '{}'", e.agreement)
                };
                self.decided_by_decider(&e.decision, &state, what)?;
                if let Some(from) = e.effective_from
                    && from < on
                {
                    return Err(Rejection::rule(format!(
                        "effectiveFrom {from} is before the decision's date {on}; a decision cannot take effect before it was made"
                    )));
                }
                Ok(())
            }
            E::VersionRecommended(e) => {
                let state = self.agreement(&e.agreement)?;
                self.version(&state, &e.agreement, e.version)?;
                let what = format!("the recommendation of agreement '{}'", e.agreement);
                if competence::county_wide(state.kind()) {
                    let source =
                        "HÖK 5: VIS \"rekommenderar sedan huvudmännen att anta\"; recommendation letter (seed 003)";
                    self.decided_by(&e.decision, Competent::Recommender, what, source)?;
                } else {
                    self.decided_by_decider(&e.decision, &state, what)?;
                }
                self.revision_decided(&state, &e.agreement, e.version)?;
                if e.response_due < on {
                    return Err(Rejection::input(format!(
                        "responseDue {} is before the recommendation's date {on}",
                        e.response_due
                    )));
                }
                Ok(())
            }
            E::PartyAdopted(e) => {
                let state = self.agreement(&e.agreement)?;
                self.party(&e.party)?;
                self.required(&state, &e.agreement, &e.party)?;
                self.version(&state, &e.agreement, e.version)?;
                self.revision_decided(&state, &e.agreement, e.version)?;
                self.own_decision(&e.decision, &e.party, "adoption", &e.agreement)
            }
            E::PartyDeclined(e) => {
                let state = self.agreement(&e.agreement)?;
                self.party(&e.party)?;
                self.required(&state, &e.agreement, &e.party)?;
                self.version(&state, &e.agreement, e.version)?;
                self.revision_decided(&state, &e.agreement, e.version)?;
                self.own_decision(&e.decision, &e.party, "declination", &e.agreement)
            }
            E::RequiredPartiesChanged(e) => {
                let state = self.agreement(&e.agreement)?;
                if e.parties.is_empty() {
                    return Err(Rejection::input("an agreement needs at least one required party"));
                }
                e.parties.iter().try_for_each(|p| self.party(p).map(|_| ()))?;
                self.decided_by_decider(
                    &e.decision,
                    &state,
                    format!("the required parties of agreement '{}'", e.agreement),
                )
            }
            E::VersionPublished(e) => {
                let state = self.agreement(&e.agreement)?;
                Self::not_blank("url", &e.url)?;
                self.version(&state, &e.agreement, e.version)
            }
            E::NoticeGiven(e) => {
                let state = self.agreement(&e.agreement)?;
                self.not_a_guideline(&state, &e.agreement, "notice")?;
                self.party(&e.party)?;
                self.required(&state, &e.agreement, &e.party)?;
                if state.has_notice(&e.party) {
                    return Err(Rejection::rule(format!(
                        "party '{}' has already given notice on agreement '{}'",
                        e.party, e.agreement
                    )));
                }
                let in_force = self.p.agreement(&e.agreement, on, self.known).is_some_and(|a| a.in_force);
                if !in_force {
                    return Err(Rejection::rule(format!(
                        "agreement '{}' is not in force on {on}; notice can only be given on an agreement in force",
                        e.agreement
                    )));
                }
                self.own_decision(&e.decision, &e.party, "notice", &e.agreement)
            }
            E::NoticeWithdrawn(e) => {
                let state = self.agreement(&e.agreement)?;
                let Some(given_on) = state.notice_given_on(&e.party) else {
                    return Err(Rejection::rule(format!(
                        "party '{}' has no notice standing on agreement '{}'",
                        e.party, e.agreement
                    )));
                };
                if on < given_on {
                    return Err(Rejection::rule(format!(
                        "the withdrawal is dated {on}, before the notice of {given_on} it withdraws"
                    )));
                }
                // DOMAIN.md: a withdrawal is possible only before the party's leave date.
                if let Some(leaves) = state.leaves_on(&e.party)
                    && leaves <= on
                {
                    return Err(Rejection::rule(format!(
                        "'{}' left agreement '{}' on {leaves} by its notice; a notice can be withdrawn only before the leave date (HÖK 7.2)",
                        e.party, e.agreement
                    )));
                }
                self.own_decision(&e.decision, &e.party, "notice withdrawal", &e.agreement)
            }
            E::ContinuationDecided(e) => {
                let state = self.agreement(&e.agreement)?;
                self.not_a_guideline(&state, &e.agreement, "a continuation decision")?;
                if state.binding() == Binding::EachParty {
                    return Err(Rejection::rule(format!(
                        "agreement '{}' binds region–municipality pairs (EACH_PARTY): a municipality's notice ends only its own pair on its leave date, and there is no continuation to decide",
                        e.agreement
                    )));
                }
                let Some(given_on) = state.notice_given_on(&e.after_notice_by) else {
                    return Err(Rejection::rule(format!(
                        "party '{}' has no notice standing on agreement '{}', so there is no continuation to decide",
                        e.after_notice_by, e.agreement
                    )));
                };
                match self.party(&e.after_notice_by)? {
                    PartyKind::Region => {
                        return Err(Rejection::rule(
                            "the region's notice ends the whole agreement; the remaining parties decide on continuation only after a municipality's notice (HÖK 7.2)",
                        ));
                    }
                    PartyKind::Municipality | PartyKind::MunicipalAssociation => {}
                }
                if on < given_on {
                    return Err(Rejection::rule(format!(
                        "the continuation decision is dated {on}, before the notice of {given_on} it answers"
                    )));
                }
                if state.continuation_decided(&e.after_notice_by) {
                    return Err(Rejection::rule(format!(
                        "the remaining parties have already decided whether agreement '{}' continues after the notice of '{}'",
                        e.agreement, e.after_notice_by
                    )));
                }
                let what = format!(
                    "whether agreement '{}' continues after the notice of '{}'",
                    e.agreement, e.after_notice_by
                );
                let who = Competent::Remaining { noticing: e.after_notice_by.clone() };
                self.decided_by(&e.decision, who, what, "HÖK 7.2: \"övriga parter ta ställning\"")
            }
            E::AgreementTerminated(e) => {
                let state = self.agreement(&e.agreement)?;
                Self::not_blank("reason", &e.reason)?;
                self.decided_by_decider(&e.decision, &state, format!("the termination of agreement '{}'", e.agreement))
            }
            E::AgreementSuperseded(e) => {
                let state = self.agreement(&e.agreement)?;
                if e.by == e.agreement {
                    return Err(Rejection::input("an agreement cannot supersede itself"));
                }
                self.agreement(&e.by)?;
                self.decided_by_decider(&e.decision, &state, format!("the supersession of agreement '{}'", e.agreement))
            }
            E::InterpretationIssued(e) => {
                self.agreement(&e.agreement)?;
                Self::not_blank("text", &e.text)?;
                if let Some(case) = &e.case {
                    let case = self.case(case)?;
                    if case.agreement != e.agreement {
                        return Err(Rejection::rule(format!(
                            "case '{}' is about agreement '{}', not '{}'",
                            case.id, case.agreement, e.agreement
                        )));
                    }
                }
                let what = format!("an interpretation of agreement '{}'", e.agreement);
                self.decided_by(&e.decision, Competent::Vis, what, "HÖK 7.1: VIS har tolkningsföreträde")
            }
            E::StewardAssigned(e) => {
                self.agreement(&e.agreement)?;
                self.group_open(&e.group).map(|_| ())
            }
            E::GroupEstablished(e) => {
                Self::not_blank("name", &e.name)?;
                if self.p.group_now(&e.group, self.h, on).is_some() {
                    return Err(Rejection::rule(format!("group '{}' is already established", e.group)));
                }
                if let Some(parent) = &e.parent {
                    self.group(parent)?;
                }
                if let Some(decision) = &e.decision {
                    if competence::officials_decide_group(e.kind) {
                        let what = format!("establishing group '{}'", e.group);
                        self.decided_by(decision, Competent::Officials, what, "HÖK 4.3, 4.6")?;
                    } else {
                        self.decision(decision)?;
                    }
                }
                match e.ends_on {
                    Some(end) if end <= on => {
                        Err(Rejection::input(format!("endsOn {end} must be after the establishment date {on}")))
                    }
                    _ => Ok(()),
                }
            }
            E::MandateChanged(e) => {
                let group = self.group_open(&e.group)?;
                Self::not_blank("mandate", &e.mandate)?;
                self.group_decision(&e.decision, &group, "the mandate of")
            }
            E::GroupRenamed(e) => {
                self.group_open(&e.group)?;
                Self::not_blank("name", &e.name)
            }
            E::MemberAppointed(e) => {
                self.group_open(&e.group)?;
                Self::not_blank("person.name", &e.person.name)?;
                match e.until {
                    Some(until) if until < on => {
                        Err(Rejection::input(format!("until {until} is before the appointment date {on}")))
                    }
                    _ => Ok(()),
                }
            }
            E::MemberLeft(e) => {
                let group = self.group(&e.group)?;
                let member = group
                    .member_history
                    .iter()
                    .any(|m| m.person.name == e.person.name && m.from <= on && m.until.is_none_or(|u| on <= u));
                if member {
                    Ok(())
                } else {
                    Err(Rejection::rule(format!("{} is not a member of group '{}' on {on}", e.person.name, e.group)))
                }
            }
            E::GroupDissolved(e) => {
                let group = self.group_open(&e.group)?;
                self.group_decision(&e.decision, &group, "dissolving")
            }
            E::CoordinatorDesignated(e) => {
                self.area(&e.area)?;
                Self::not_blank("holder", &e.holder)
            }
            E::StatutoryDutyRecorded(e) => {
                Self::not_blank("title", &e.title)?;
                Self::references(&e.references)
            }
            E::StatutoryBasisCited(e) => {
                self.agreement(&e.agreement)?;
                Self::references(&e.references)
            }
            E::CaseOpened(e) => {
                if self.case(&e.case).is_ok() {
                    return Err(Rejection::rule(format!("case '{}' is already open", e.case)));
                }
                if e.parties.is_empty() {
                    return Err(Rejection::input(
                        "a case needs the parties it is between (HÖK 7.1: \"mellan parterna i kommunen och regionen\")",
                    ));
                }
                Self::not_blank("summary", &e.summary)?;
                self.agreement(&e.agreement)?;
                e.parties.iter().try_for_each(|p| self.party(p).map(|_| ()))?;
                rules::check_case_opening(e.level, e.principled).map_err(|v| Rejection::rule(v.to_string()))
            }
            E::CaseEscalated(e) => {
                let case = self.open_case(&e.case)?;
                Self::after_last_step(&case, on, "escalation")?;
                rules::check_escalation(case.level, e.to).map_err(|v| Rejection::rule(v.to_string()))
            }
            E::CaseResolved(e) => {
                let case = self.open_case(&e.case)?;
                Self::after_last_step(&case, on, "resolution")?;
                match &e.decision {
                    Some(decision) => {
                        let who = competence::resolver(case.level, &case.parties);
                        let what = format!("the resolution of case '{}' at level {}", e.case, case.level.as_str());
                        self.decided_by(decision, who, what, "HÖK 7.1")
                    }
                    None => Ok(()),
                }
            }
            E::CaseWithdrawn(e) => {
                let case = self.open_case(&e.case)?;
                Self::after_last_step(&case, on, "withdrawal")
            }
            E::PriorityAreasSet(e) => {
                if e.to_year < e.from_year {
                    return Err(Rejection::input(format!("toYear {} is before fromYear {}", e.to_year, e.from_year)));
                }
                if e.areas.is_empty() {
                    return Err(Rejection::input("at least one priority area is needed"));
                }
                let what = format!("the priority areas for {}–{}", e.from_year, e.to_year);
                self.decided_by(&e.decision, Competent::Vis, what, "Riktlinje 2")
            }
            E::PriorityAreaAdded(e) => {
                Self::not_blank("area", &e.area)?;
                let what = format!("a priority area for {}", e.year);
                self.decided_by(&e.decision, Competent::Vis, what, "Riktlinje 2")
            }
            E::FollowUpPlanned(e) => {
                e.agreements.iter().try_for_each(|a| self.agreement(a).map(|_| ()))?;
                let what = format!("the follow-up plan for {}", e.year);
                self.decided_by(&e.decision, Competent::Officials, what, "HÖK 6; Riktlinje 8")
            }
            E::FollowUpReported(e) => self.agreement(&e.agreement).map(|_| ()),
            E::AnnualDialogueHeld(e) => Self::not_blank("summary", &e.summary),
            E::ProblemReported(e) => {
                if self.problem(&e.problem).is_ok() {
                    return Err(Rejection::rule(format!("problem '{}' is already reported", e.problem)));
                }
                if let Some(agreement) = &e.agreement {
                    self.agreement(agreement)?;
                }
                Self::not_blank("summary", &e.summary)
            }
            E::ProblemAnswered(e) => {
                self.problem(&e.problem)?;
                Self::not_blank("summary", &e.summary)
            }
            E::ProblemRaisedToVis(e) => {
                self.problem(&e.problem)?;
                match &e.decision {
                    Some(decision) => {
                        let what = format!("raising problem '{}' to VIS", e.problem);
                        let source =
                            "Riktlinje 8.6: structural problems go to VIS through the officials' steering group";
                        self.decided_by(decision, Competent::Officials, what, source)
                    }
                    None => Ok(()),
                }
            }
            E::FundsAllocated(e) => {
                if e.amount_sek <= 0 {
                    return Err(Rejection::input(format!("amountSek must be positive, got {}", e.amount_sek)));
                }
                if let Some(group) = &e.group {
                    self.group(group)?;
                }
                let what = format!("an allocation of state stimulus funds for {}", e.year);
                self.decided_by(&e.decision, Competent::Officials, what, "Riktlinje 5.3")
            }
            E::EventRetracted(e) => match self.p.find_event(e.event, self.known) {
                None => Err(Rejection::not_found("event", e.event)),
                Some((_, true)) => Err(Rejection::rule(format!("event {} is already retracted", e.event))),
                Some((target, false)) if matches!(target.data(), EventData::EventRetracted(_)) => {
                    Err(Rejection::rule("a retraction cannot be retracted; record the retracted event again instead"))
                }
                Some(_) => Self::not_blank("reason", &e.reason),
            },
        }
    }
}

/// The personal-data guard over every free text of a command: the data's strings (except `url` and
/// `sha256`, which are not prose) and the source's title, reference and note. Riktlinje 8.6: the
/// ledger records structures, never individuals, and an append-only log could never forget one.
/// The payload serialized as [`ledger::EventData::to_json`]'s value is.
struct PayloadJson<'a>(&'a ledger::EventData);

impl serde::Serialize for PayloadJson<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.0.serialize_payload(serializer)
    }
}

/// The field of `data` that holds what looks like a personal number, if any: its strings walked
/// value by value (numbers, `url` and `sha256` left alone). With `scan`, the payload's JSON text
/// is scanned first and walked only if it holds a candidate: a personal number in one of the
/// payload's strings is in the text as it stands (digits, `-` and `+` are never escaped, and a
/// string's quotes are not digits), so the scan only ever adds a walk. (Building the value for
/// every event was a tenth of an import's reader thread.)
fn personal_field(data: &ledger::EventData, scan: bool) -> Option<String> {
    fn walk(value: &serde_json::Value, field: &str, found: &mut Option<String>) {
        if found.is_some() {
            return;
        }
        match value {
            serde_json::Value::String(text) => {
                if crate::personal::find_personal_number(text).is_some() {
                    *found = Some(field.to_owned());
                }
            }
            serde_json::Value::Array(items) => items.iter().for_each(|v| walk(v, field, found)),
            serde_json::Value::Object(map) => {
                for (key, v) in map {
                    if key != "url" && key != "sha256" {
                        walk(v, key, found);
                    }
                }
            }
            serde_json::Value::Null | serde_json::Value::Bool(_) | serde_json::Value::Number(_) => {}
        }
    }
    if scan
        && serde_json::to_string(&PayloadJson(data))
            .is_ok_and(|text| crate::personal::find_personal_number(&text).is_none())
    {
        return None;
    }
    let mut found = None;
    if let Ok(value) = data.to_json() {
        walk(&value, "data", &mut found);
    }
    found
}

fn personal_data(event: &NewEvent) -> Check {
    let mut found = personal_field(&event.data, true);
    if let Some(source) = &event.source {
        for (field, text) in [
            ("source.title", Some(&source.title)),
            ("source.reference", source.reference.as_ref()),
            ("source.note", source.note.as_ref()),
        ] {
            if found.is_none() && text.is_some_and(|t| crate::personal::find_personal_number(t).is_some()) {
                found = Some(field.to_owned());
            }
        }
    }
    match found {
        Some(field) => Err(Rejection::rule(format!(
            "{field} holds what looks like a Swedish personal identity or coordination number; the ledger records structures, never individuals, and cannot forget what it stores (Riktlinje 8.6: \"avser inte avvikelser som rör enskilda individer\"). Remove it and send the command again"
        ))),
        None => Ok(()),
    }
}
