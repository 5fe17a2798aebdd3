//! The ledger's vocabularies as GraphQL enums, with the same SCREAMING names as in JSON (API.md §1).
//! They are shared by inputs (mutations) and outputs (queries), and serialize with serde to the names
//! the ledger's JSON reads.

use async_graphql::Enum;
use serde::Serialize;

macro_rules! mirror {
    ($(#[$doc:meta])* $name:ident => $ledger:path { $($variant:ident),+ $(,)? }) => {
        $(#[$doc])*
        #[derive(Enum, Serialize, Debug, Clone, Copy, PartialEq, Eq)]
        #[serde(rename_all = "SCREAMING_SNAKE_CASE")]
        #[graphql(rename_items = "SCREAMING_SNAKE_CASE")]
        pub(crate) enum $name {
            $(
                #[allow(missing_docs)]
                $variant
            ),+
        }

        impl From<$ledger> for $name {
            fn from(value: $ledger) -> Self {
                use $ledger as L;
                match value {
                    $(L::$variant => $name::$variant),+
                }
            }
        }

        impl From<$name> for $ledger {
            fn from(value: $name) -> Self {
                use $ledger as L;
                match value {
                    $($name::$variant => L::$variant),+
                }
            }
        }
    };
}

mirror!(
    /// Region, municipality or municipal association.
    PartyKind => ledger::PartyKind { Region, Municipality, MunicipalAssociation }
);
mirror!(
    /// What kind of decision-making body.
    BodyKind => ledger::BodyKind { Council, Board, Committee, SteeringGroup, Network, Administration, Association }
);
mirror!(
    /// What kind of agreement.
    AgreementKind => ledger::AgreementKind { Main, Guideline, SubjectArea, Supplementary, Local }
);
mirror!(
    /// How an agreement becomes binding.
    Binding => ledger::Binding { AllParties, EachParty, Decision }
);
mirror!(
    /// What kind of group.
    GroupKind => ledger::GroupKind {
        PoliticalSteering, OfficialsSteering, Consultation, Working, Secretariat, Subregional, Local, Network, Forum
    }
);
mirror!(
    /// A member's role.
    MemberRole => ledger::MemberRole { Chair, ViceChair, Member, Secretary, Contact }
);
mirror!(
    /// A local coordinating role.
    CoordinatorRole => ledger::CoordinatorRole { MunicipalFunction, HealthCentre }
);
mirror!(
    /// Who designated a local coordinator.
    Designator => ledger::Designator { HealthCentres, Hsf, Municipality }
);
mirror!(
    /// What an escalation case is about.
    CaseKind => ledger::CaseKind { Deviation, Interpretation }
);
mirror!(
    /// A step of the escalation ladder.
    CaseLevel => ledger::CaseLevel { Local, Officials, Political }
);
mirror!(
    /// Where a problem is reported.
    ProblemRecipient => ledger::ProblemRecipient { Storsthlm, Hsf }
);
mirror!(
    /// Where an agreement stands on a date.
    AgreementStatus => projections::AgreementStatus {
        Draft, Recommended, InForce, ContinuationPending, Terminated, Expired, Superseded, Blocked
    }
);
mirror!(
    /// Where an escalation case stands.
    CaseStatus => projections::CaseStatus { Open, Resolved, Withdrawn }
);
