//! The authorization matrix: every mutation × every role × own/other party.
