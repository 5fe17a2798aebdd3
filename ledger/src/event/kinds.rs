//! The closed vocabularies of the event catalogue (`REGION`, `ALL_PARTIES`, `CHAIR`, …).
//!
//! Each enum serializes as its SCREAMING_CASE name in every format, binary included. bincode would
//! otherwise write the variant's index, and reordering variants would silently change the meaning of
//! stored bytes; names make the encoding independent of declaration order.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Why a text is not a member of a vocabulary.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid {kind} {given:?}: expected one of {allowed}")]
pub struct InvalidVariant {
    /// The vocabulary's name.
    pub kind: &'static str,
    /// The rejected input.
    pub given: String,
    /// The accepted names, comma-separated.
    pub allowed: String,
}

macro_rules! string_enum {
    ($(#[$doc:meta])* $name:ident { $($(#[$vdoc:meta])* $variant:ident = $text:literal),+ $(,)? }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub enum $name {
            $($(#[$vdoc])* $variant),+
        }

        impl $name {
            /// Every variant, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The SCREAMING_CASE name used in JSON, GraphQL and storage.
            pub const fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $text),+
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl FromStr for $name {
            type Err = InvalidVariant;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                match s {
                    $($text => Ok($name::$variant),)+
                    _ => Err(InvalidVariant {
                        kind: stringify!($name),
                        given: s.to_owned(),
                        allowed: [$($text),+].join(", "),
                    }),
                }
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(self.as_str())
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let s = String::deserialize(deserializer)?;
                s.parse().map_err(serde::de::Error::custom)
            }
        }
    };
}

string_enum!(
    /// What kind of party (HÖK 1.4, 7.3).
    PartyKind {
        /// Region Stockholm.
        Region = "REGION",
        /// One of the 26 municipalities.
        Municipality = "MUNICIPALITY",
        /// KSON, Kommunalförbundet Sjukvård och omsorg i Norrtälje.
        MunicipalAssociation = "MUNICIPAL_ASSOCIATION",
    }
);

string_enum!(
    /// What kind of decision-making body.
    BodyKind {
        /// A council (fullmäktige).
        Council = "COUNCIL",
        /// A board (styrelse, kommunstyrelse).
        Board = "BOARD",
        /// A committee (nämnd).
        Committee = "COMMITTEE",
        /// A steering group (VIS, the officials' steering group).
        SteeringGroup = "STEERING_GROUP",
        /// A network (Storsthlm's socialtjänstnätverk).
        Network = "NETWORK",
        /// An administration (förvaltning, e.g. HSF).
        Administration = "ADMINISTRATION",
        /// An association (Storsthlm).
        Association = "ASSOCIATION",
    }
);

string_enum!(
    /// What kind of agreement (DOMAIN.md, "What: agreements").
    AgreementKind {
        /// The main agreement, the HÖK.
        Main = "MAIN",
        /// The guideline (riktlinje) to the HÖK.
        Guideline = "GUIDELINE",
        /// A subject-area agreement (sakområde).
        SubjectArea = "SUBJECT_AREA",
        /// A supplementary agreement; lapses with its parent.
        Supplementary = "SUPPLEMENTARY",
        /// A local routine or agreement between a municipality and the region.
        Local = "LOCAL",
    }
);

string_enum!(
    /// How an agreement becomes binding.
    Binding {
        /// In force once every required party has adopted (the HÖK, HÖK 7.2).
        AllParties = "ALL_PARTIES",
        /// Binds the region and each municipality from the later of their two adoptions.
        EachParty = "EACH_PARTY",
        /// In force by a single decision (the guideline, HÖK 3, 4.2).
        Decision = "DECISION",
    }
);

string_enum!(
    /// What kind of group (DOMAIN.md, "What: the organisation").
    GroupKind {
        /// VIS, the political steering group.
        PoliticalSteering = "POLITICAL_STEERING",
        /// Tjänstemannastyrgrupp Sammanhållen vård och omsorg.
        OfficialsSteering = "OFFICIALS_STEERING",
        /// A samrådsgrupp.
        Consultation = "CONSULTATION",
        /// An arbetsgrupp, limited in scope or time.
        Working = "WORKING",
        /// The joint secretariat.
        Secretariat = "SECRETARIAT",
        /// Sub-regional collaboration.
        Subregional = "SUBREGIONAL",
        /// Local collaboration in a municipality or district.
        Local = "LOCAL",
        /// A network.
        Network = "NETWORK",
        /// An older forum (BUSSAM, …).
        Forum = "FORUM",
    }
);

string_enum!(
    /// A member's role in a group.
    MemberRole {
        /// Chair (ordförande).
        Chair = "CHAIR",
        /// Vice chair.
        ViceChair = "VICE_CHAIR",
        /// Member.
        Member = "MEMBER",
        /// Secretary.
        Secretary = "SECRETARY",
        /// Contact person.
        Contact = "CONTACT",
    }
);

string_enum!(
    /// Which local coordinating role (recommendation letter; Riktlinje 7).
    CoordinatorRole {
        /// The municipality's samordnande funktion.
        MunicipalFunction = "MUNICIPAL_FUNCTION",
        /// The region's samordnande vårdcentral.
        HealthCentre = "HEALTH_CENTRE",
    }
);

string_enum!(
    /// Who designated a local coordinator.
    Designator {
        /// The area's health centres (by 30 April).
        HealthCentres = "HEALTH_CENTRES",
        /// HSF, when the health centres did not choose in time.
        Hsf = "HSF",
        /// The municipality itself.
        Municipality = "MUNICIPALITY",
    }
);

string_enum!(
    /// What an escalation case is about (HÖK 7.1).
    CaseKind {
        /// A deviation from a commitment (avsteg).
        Deviation = "DEVIATION",
        /// A disagreement on interpretation.
        Interpretation = "INTERPRETATION",
    }
);

string_enum!(
    /// A step of the escalation ladder (HÖK 7.1).
    CaseLevel {
        /// Between the parties locally.
        Local = "LOCAL",
        /// The officials' steering group.
        Officials = "OFFICIALS",
        /// VIS; nothing lies above it.
        Political = "POLITICAL",
    }
);

string_enum!(
    /// Where a problem in collaboration is reported (Riktlinje 8.6).
    ProblemRecipient {
        /// Municipalities report to Storsthlm.
        Storsthlm = "STORSTHLM",
        /// Care providers report to HSF.
        Hsf = "HSF",
    }
);
