//! The rules of DOMAIN.md as plain functions: no state, no events, only dates and facts. Each cites
//! the section of the source documents it comes from (`../shared/seeds/`: 000 = HÖK, 002 =
//! Riktlinje, 003 = Storsthlm's recommendation letter, 004 = Förstudie).
//!
//! Date conventions (DOMAIN.md, "Date conventions, everywhere"): a date that starts something is the
//! first day it applies; a date that ends something by notice or decision is the first day it no
//! longer applies; an `expires` date is the last day it applies; a membership's `until` is its last
//! day. Month arithmetic keeps the day of month, clamped to the month's end ([`Date::add_months`]).

use ledger::{CaseLevel, Date, PartyKind};

#[cfg(test)]
mod tests;

/// **Entry into force, ALL_PARTIES** (HÖK 7.2: "Överenskommelsen börjar gälla 2022-07-01 eller efter
/// att samtliga parter har beslutat att anta överenskommelsen").
///
/// `adoptions` holds one entry per required party: its adoption date, or `None` if it has not
/// adopted. The version is in force from `max(earliest_effective, latest adoption)`, and only once
/// every required party has adopted; with no required parties nothing can come into force.
pub fn entry_into_force_all_parties(
    earliest_effective: Option<Date>,
    adoptions: impl IntoIterator<Item = Option<Date>>,
) -> Option<Date> {
    let mut latest: Option<Date> = None;
    for adoption in adoptions {
        let adopted = adoption?;
        latest = Some(latest.map_or(adopted, |l| l.max(adopted)));
    }
    let latest = latest?;
    Some(earliest_effective.map_or(latest, |e| e.max(latest)))
}

/// **Entry into force, EACH_PARTY** (Förstudie 7.2 and 11: subject-area agreements are between the
/// region and the county's municipalities, and a municipality may choose to join or not).
///
/// The agreement binds the region and one municipality from the later of their two adoptions, and
/// never before the version's earliest date. Interpretation: the agreement as a whole is in force
/// from the first day at least one region–municipality pair is bound.
pub fn pair_bound_from(
    earliest_effective: Option<Date>,
    region_adopted: Option<Date>,
    municipality_adopted: Option<Date>,
) -> Option<Date> {
    let later = region_adopted?.max(municipality_adopted?);
    Some(earliest_effective.map_or(later, |e| e.max(later)))
}

/// **Entry into force, DECISION** (HÖK 3 and 4.2: the guideline is decided by the officials'
/// steering group alone, and revised the same way).
///
/// In force from the decision's stated `effectiveFrom`, or else from the decision's own date.
pub fn decision_in_force_from(decided_on: Date, effective_from: Option<Date>) -> Date {
    effective_from.unwrap_or(decided_on)
}

/// **Revision lead time** (HÖK 7.2: "Reviderad överenskommelse börjar gälla tidigast tre månader
/// efter att den omförhandlade överenskommelsen godkänts av parterna").
///
/// A revised version is in force from `max(stated date, last approval + lead months)`. Until then
/// the previous version still applies (see [`applies_on`]).
pub fn revision_in_force_from(stated: Option<Date>, last_approval: Date, lead_months: u32) -> Date {
    let earliest_by_lead = last_approval.add_months(lead_months);
    stated.map_or(earliest_by_lead, |s| s.max(earliest_by_lead))
}

/// **Notice** (HÖK 7.2: "Överenskommelsen kan sägas upp med en uppsägningstid om tjugofyra (24)
/// månader").
///
/// A party's participation ends `notice date + notice months`: the returned date is the first day it
/// no longer takes part (`leavesOn`).
pub fn leaves_on(notice_given_on: Date, notice_months: u32) -> Date {
    notice_given_on.add_months(notice_months)
}

/// What a party's notice does to the agreement as a whole.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NoticeEffect {
    /// The whole agreement ends when the party leaves.
    EndsAgreement,
    /// The remaining parties have yet to decide whether the agreement continues.
    ContinuationPending,
    /// Only the noticing party leaves; the rest continue.
    PartyLeaves,
}

/// **Notice by the region or a municipality** (HÖK 7.2: "Om en kommun säger upp överenskommelsen
/// behöver övriga parter ta ställning till om överenskommelsen ska fortsätta att gälla för
/// resterande parter"; DOMAIN.md rule 3).
///
/// The region is every municipality's counterpart, so its notice ends the whole agreement. Any other
/// party's notice (a municipality, or KSON acting for Norrtälje) leaves the agreement continuation
/// pending until the remaining parties decide: `continues = false` ends it for everyone on the day
/// the noticing party leaves, `continues = true` lets only that party leave.
pub fn notice_effect(noticing_party: PartyKind, continues: Option<bool>) -> NoticeEffect {
    match (noticing_party, continues) {
        (PartyKind::Region, _) => NoticeEffect::EndsAgreement,
        (PartyKind::Municipality | PartyKind::MunicipalAssociation, None) => NoticeEffect::ContinuationPending,
        (PartyKind::Municipality | PartyKind::MunicipalAssociation, Some(false)) => NoticeEffect::EndsAgreement,
        (PartyKind::Municipality | PartyKind::MunicipalAssociation, Some(true)) => NoticeEffect::PartyLeaves,
    }
}

/// **Continuation decided after a municipality's notice** (HÖK 7.2; DOMAIN.md, "no answer is ever
/// rewritten by a later decision").
///
/// If the remaining parties decide not to continue before the noticing municipality leaves, the
/// agreement ends for everyone on its leave date; if they decide only after that day, it ends on the
/// decision's date – it was CONTINUATION_PENDING, in force for the remaining parties, in between,
/// and a later decision cannot make those days not have been.
pub fn not_continued_end(leaves_on: Date, decided_on: Date) -> Date {
    leaves_on.max(decided_on)
}

/// **Entry into force after a changed required set** (DOMAIN.md rule 1 and "no answer is ever
/// rewritten": "A version blocked by a declination enters into force on `max(earliest effective,
/// last adoption among the new required set, date of the change)`").
///
/// `set_decided_on` is the day the required set that completed the adoptions was decided (the
/// drafting's day for the original set).
pub fn entry_into_force_with_set(
    earliest_effective: Option<Date>,
    adoptions: impl IntoIterator<Item = Option<Date>>,
    set_decided_on: Date,
) -> Option<Date> {
    entry_into_force_all_parties(earliest_effective, adoptions).map(|from| from.max(set_decided_on))
}

/// **Expiry** (Förstudie 7.1 on the temporary utskrivning agreement: "löper t.o.m. den 31/12 2019").
///
/// `expires` is the last day a version applies; the returned date is the first day it no longer
/// does.
pub fn expiry_end(expires: Date) -> Date {
    expires.next_day()
}

/// Whether something that starts on `from` (first day) and ends on `end` (first day it no longer
/// applies; `None` = until further notice, "gäller därefter tills vidare", HÖK 7.2) applies on `at`.
/// Termination by decision and supersession (Förstudie table 1: "Tidigare överenskommelse sades upp
/// 2016") end an agreement on their effective date by this convention.
pub fn applies_on(from: Date, end: Option<Date>, at: Date) -> bool {
    from <= at && end.is_none_or(|end| at < end)
}

/// Why a move on the escalation ladder is not allowed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LadderViolation {
    /// A case may start at the officials' level only when it is of a principled nature.
    OfficialsWithoutPrincipled,
    /// A case never starts at VIS: it reaches VIS through the officials' steering group.
    StartsAtPolitical,
    /// The case is already at VIS; nothing lies above it.
    AbovePolitical,
    /// A case moves one step at a time.
    SkipsStep {
        /// Where the case is.
        from: CaseLevel,
        /// Where the command wants it.
        to: CaseLevel,
    },
    /// The target level is not above the current one.
    NotUpward {
        /// Where the case is.
        from: CaseLevel,
        /// Where the command wants it.
        to: CaseLevel,
    },
}

impl std::fmt::Display for LadderViolation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::OfficialsWithoutPrincipled => f.write_str(
                "a case starts at the local level; it may start at the officials' steering group only when it is of a principled nature (HÖK 7.1)",
            ),
            Self::StartsAtPolitical => {
                f.write_str("a case cannot start at VIS; it reaches VIS through the officials' steering group (HÖK 7.1)")
            }
            Self::AbovePolitical => f.write_str("the case is already at VIS, and nothing lies above VIS (HÖK 7.1)"),
            Self::SkipsStep { from, to } => {
                write!(f, "a case moves one step at a time: from {from} the next step is OFFICIALS, not {to} (HÖK 7.1)")
            }
            Self::NotUpward { from, to } => write!(f, "the case is already at {from}; escalating to {to} is not a step up (HÖK 7.1)"),
        }
    }
}

/// The step above a level on the escalation ladder (HÖK 7.1: local level → the officials' steering
/// group Sammanhållen vård och omsorg → VIS, "ytterst"). `None` above VIS.
pub fn next_level(level: CaseLevel) -> Option<CaseLevel> {
    match level {
        CaseLevel::Local => Some(CaseLevel::Officials),
        CaseLevel::Officials => Some(CaseLevel::Political),
        CaseLevel::Political => None,
    }
}

/// **Escalation ladder, opening** (HÖK 7.1 step 1: "i första hand lösas av parterna på lokal nivå …
/// såvida dessa inte är av en sådan principiell karaktär att det kan antas påverka andra parter").
///
/// A case opens at LOCAL, or at OFFICIALS when it is principled; never at POLITICAL.
pub fn check_case_opening(level: CaseLevel, principled: bool) -> Result<(), LadderViolation> {
    match level {
        CaseLevel::Local => Ok(()),
        CaseLevel::Officials if principled => Ok(()),
        CaseLevel::Officials => Err(LadderViolation::OfficialsWithoutPrincipled),
        CaseLevel::Political => Err(LadderViolation::StartsAtPolitical),
    }
}

/// **Escalation ladder, one step at a time** (HÖK 7.1 steps 2–3: a matter not solved locally goes to
/// the officials' steering group, and "ytterst" to VIS, which has the final say).
pub fn check_escalation(from: CaseLevel, to: CaseLevel) -> Result<(), LadderViolation> {
    match next_level(from) {
        None => Err(LadderViolation::AbovePolitical),
        Some(next) if next == to => Ok(()),
        Some(_) if to <= from => Err(LadderViolation::NotUpward { from, to }),
        Some(_) => Err(LadderViolation::SkipsStep { from, to }),
    }
}

/// **Groups limited in time** (HÖK 4.6 and Riktlinje 5.2: working groups are limited in scope or
/// time).
///
/// A group is active from its establishment, until it is dissolved (the dissolution's date is the
/// first day it no longer exists) or reaches `ends_on` (also the first day it no longer exists).
pub fn group_active(established_on: Date, dissolved_on: Option<Date>, ends_on: Option<Date>, at: Date) -> bool {
    let end = match (dissolved_on, ends_on) {
        (Some(d), Some(e)) => Some(d.min(e)),
        (d, e) => d.or(e),
    };
    applies_on(established_on, end, at)
}

/// Whether a membership from `from` (first day) until `until` (last day) covers `at` (Riktlinje 5,
/// group membership; DOMAIN.md: "a membership's `until` is its last day").
pub fn member_on(from: Date, until: Option<Date>, at: Date) -> bool {
    from <= at && until.is_none_or(|u| at <= u)
}

/// The last day for the health centres of an area to choose their coordinating health centre for a
/// year: 30 April (recommendation letter, seed 003: "… till HSF senast den 30 april"; Riktlinje
/// 7.1.2).
pub fn health_centre_deadline(year: i32) -> Option<Date> {
    Date::from_ymd(year, 4, 30)
}

/// **Coordinating health centre by 30 April** (seed 003; Riktlinje 7.1.2): if no health centre is
/// designated for an area and year by 30 April, HSF must designate one. The obligation is open on
/// `at` when `at` is after the deadline and no designation has been made by `at`.
pub fn health_centre_obligation_open(year: i32, designated_on: Option<Date>, at: Date) -> bool {
    let Some(deadline) = health_centre_deadline(year) else { return false };
    at > deadline && designated_on.is_none_or(|d| d > at)
}

/// **Follow-up plan before the year** (HÖK 6: "Inför varje kalenderår fattar tjänstemannastyrgruppen
/// … beslut om prioriteringar vad gäller uppföljningar"; Riktlinje 8.1).
///
/// A plan decided on or after 1 January of its year is late. With no plan, the plan is late once
/// the year has begun (`as_of` on or after 1 January).
pub fn follow_up_plan_late(year: i32, decided_on: Option<Date>, as_of: Date) -> bool {
    let Some(new_year) = Date::from_ymd(year, 1, 1) else { return false };
    match decided_on {
        Some(decided) => decided >= new_year,
        None => as_of >= new_year,
    }
}

/// **The health-centre rule's first year** (recommendation letter, seed 003, quoting the
/// förfrågningsunderlag för husläkarverksamhet "från och med 1 februari 2021": the health centres
/// of an area choose their samordnande vårdcentral and report it to HSF by 30 April). No year before
/// 2021 has that obligation.
pub const HEALTH_CENTRE_RULE_FROM_YEAR: i32 = 2021;

/// **Norrtälje** (Riktlinje 7.2: "I Norrtälje kommun har Kommunalförbundet Sjukvård och omsorg i
/// Norrtälje (KSON) hela samordningsansvaret för hälsa, vård och omsorg"): the local coordinators of
/// Riktlinje 7.1 are not asked of Norrtälje. The ledger has no event linking KSON to its
/// municipality yet, so the municipality is named here, with its source.
pub fn coordination_held_by_association(area: &str) -> bool {
    area == "norrtalje"
}

/// **Feedback on a problem report** (Riktlinje 8.6: "HSF och Storsthlm ska löpande stämma av inkomna
/// rapporter och återkoppla till parterna"). "Löpande" names no period; a report without feedback
/// 90 days after it was made is a finding (our choice: one quarter).
pub const PROBLEM_FEEDBACK_DAYS: u32 = 90;

/// **An escalation case at one level** (HÖK 7.1 sets no time limit): a case still open at the same
/// level 180 days after its last step is a finding (our choice: half a year, two VIS meeting
/// cycles).
pub const CASE_STALLED_DAYS: u32 = 180;

/// **When a follow-up report is due** (HÖK 6, Riktlinje 8: follow-ups are reported to VIS; neither
/// states a deadline): by the end of the year after the year followed up (our choice: the latest a
/// yearly follow-up can still be said to report on its year). The returned date is the last day.
pub fn follow_up_report_due(year: i32) -> Option<Date> {
    Date::from_ymd(year + 1, 12, 31)
}

/// **The annual dialogue** (HÖK 6; Riktlinje 8.2: "Enligt HÖK sker uppföljning årligen i dialogform"):
/// the dialogue of a year is held within that year; one held later is late.
pub fn annual_dialogue_late(year: i32, held_on: Date) -> bool {
    held_on.year() > year
}

/// `n` days after `day`.
pub fn days_after(mut day: Date, n: u32) -> Date {
    for _ in 0..n {
        day = day.next_day();
    }
    day
}
