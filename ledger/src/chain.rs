//! The hash chain: one function defines how an event's hash is computed.

use std::fmt;
use std::str::FromStr;

use sha2::{Digest, Sha256};

/// A SHA-256 hash.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Hash([u8; 32]);

impl Hash {
    /// The `prevHash` of the first event: 32 zero bytes.
    pub const GENESIS: Hash = Hash([0; 32]);

    /// Wraps raw bytes.
    pub const fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    /// The raw bytes.
    pub const fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

impl Hash {
    /// Hands its lowercase hex text to `use_text`, written into a buffer on the stack:
    /// `hex::encode` collects its `String` a `char` at a time, a tenth of every Merkle leaf's cost
    /// (each event's JSON carries two hashes). `None` cannot happen (32 bytes fill the 64 ASCII
    /// characters exactly); it is there so that nothing here panics.
    pub(crate) fn with_hex<R>(&self, use_text: impl FnOnce(Option<&str>) -> R) -> R {
        let mut text = [0u8; 64];
        let written = hex::encode_to_slice(self.0, &mut text).ok().and_then(|()| std::str::from_utf8(&text).ok());
        use_text(written)
    }
}

impl fmt::Display for Hash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.with_hex(|text| f.write_str(text.ok_or(fmt::Error)?))
    }
}

impl fmt::Debug for Hash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Hash({self})")
    }
}

/// Why a text is not a hash.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid hash {0:?}: expected 64 lowercase hex digits")]
pub struct InvalidHash(pub String);

impl FromStr for Hash {
    type Err = InvalidHash;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let mut bytes = [0u8; 32];
        if s.len() != 64 || s.bytes().any(|b| b.is_ascii_uppercase()) {
            return Err(InvalidHash(s.to_owned()));
        }
        hex::decode_to_slice(s, &mut bytes).map_err(|_| InvalidHash(s.to_owned()))?;
        Ok(Self(bytes))
    }
}

/// The chain formula, in one place:
///
/// ```text
/// hash = SHA-256( prev_hash ‖ canonical )
/// ```
///
/// where `prev_hash` is the 32 bytes of the previous event's hash ([`Hash::GENESIS`] for position 1)
/// and `canonical` is the event's canonical bytes exactly as stored: the format version (1 byte), the
/// event type's schema version (2 bytes, big-endian) and the bincode body, which holds the position,
/// id, stream, stream version, type, effective date, record time, recorder, source and payload (see
/// `encoding`). Because the position and record time are inside `canonical`, moving or re-dating a
/// record breaks the chain as surely as changing its data.
///
/// `canonical` is given in consecutive pieces: the hash is of their concatenation (a stored
/// record's canonical bytes are the record without its two hashes, hashed without a copy).
pub(crate) fn chain_hash(prev_hash: &Hash, canonical: &[&[u8]]) -> Hash {
    let mut hasher = Sha256::new();
    hasher.update(prev_hash.0);
    for part in canonical {
        hasher.update(part);
    }
    Hash(hasher.finalize().into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_text_round_trips_and_rejects_junk() {
        let h = chain_hash(&Hash::GENESIS, &[b"x"]);
        assert_eq!(h.to_string().parse::<Hash>(), Ok(h));
        assert!("00".parse::<Hash>().is_err());
        assert!("G".repeat(64).parse::<Hash>().is_err());
        assert!("A".repeat(64).parse::<Hash>().is_err());
    }

    #[test]
    fn chain_hash_is_sha256_of_prev_then_canonical() {
        // SHA-256 of 32 zero bytes followed by "abc", computed independently (Python hashlib).
        let h = chain_hash(&Hash::GENESIS, &[b"ab", b"c"]);
        assert_eq!(h.to_string(), "365aa7d8f7f9402c4b9434502b4cc89ddb09fe50d7cd95b493b834c62d5a5370");
    }
}
