//! Signed checkpoints: a C2SP `tlog-checkpoint` body (origin, tree size, root) in a C2SP
//! `signed-note`, signed with the log's Ed25519 key. `tlog_tiles` writes and parses the body,
//! `signed_note` the note, its signatures and the key formats (`PRIVATE+KEY+…` and the `vkey`).

use std::sync::Arc;

use signed_note::{Note, Signer, StandardSigner, StandardVerifier, Verifier, VerifierList};

use super::TreeHash;

/// Why a checkpoint or a key was refused, for a person.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CheckpointError {
    /// The verifier or signer key is not in note key form.
    #[error("the key is malformed: {0}")]
    Key(String),
    /// The text is not a signed note with a checkpoint body.
    #[error("the checkpoint is malformed: {0}")]
    Malformed(String),
    /// No signature by the given key (the note may be signed by others).
    #[error("the checkpoint is not signed by {0}")]
    NotSigned(String),
    /// A signature claims the key but does not verify: a forgery or a damaged note.
    #[error("the checkpoint's signature by {0} does not verify: it is forged or damaged")]
    BadSignature(String),
    /// The checkpoint names another log than the key does.
    #[error("the checkpoint is for the log {found:?}, the key for {expected:?}")]
    Origin {
        /// The key's name.
        expected: String,
        /// The checkpoint's origin line.
        found: String,
    },
}

/// The log's signing key, with its verifier key. Its `Debug` shows only the public half.
pub struct LogKey {
    signer: StandardSigner,
    vkey: String,
    origin: String,
}

impl std::fmt::Debug for LogKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LogKey").field("vkey", &self.vkey).finish_non_exhaustive()
    }
}

impl LogKey {
    /// A new key pair for the log named `origin`: `(skey, vkey)` in note key form. The first is
    /// secret.
    pub fn generate(origin: &str) -> Result<(String, String), CheckpointError> {
        if !signed_note::is_key_name_valid(origin) {
            return Err(CheckpointError::Key(format!("{origin:?} cannot name a key (no spaces, no '+')")));
        }
        Ok(signed_note::generate_key(&mut rand_core::OsRng, origin))
    }

    /// The key from its two halves; refused unless they belong together.
    pub fn open(skey: &str, vkey: &str) -> Result<Arc<Self>, CheckpointError> {
        let signer = StandardSigner::new(skey.trim()).map_err(|e| CheckpointError::Key(format!("signing key: {e}")))?;
        let verifier = verifier(vkey.trim())?;
        let probe = b"samverkan key check\n";
        let signature = signer.sign(probe).map_err(|e| CheckpointError::Key(e.to_string()))?;
        if verifier.name() != signer.name()
            || verifier.key_id() != signer.key_id()
            || !verifier.verify(probe, &signature)
        {
            return Err(CheckpointError::Key("the verifier key does not belong to the signing key".into()));
        }
        Ok(Arc::new(Self { origin: signer.name().to_owned(), signer, vkey: vkey.trim().to_owned() }))
    }

    /// The log's name: the origin line of its checkpoints and the name of its key.
    pub fn origin(&self) -> &str {
        &self.origin
    }

    /// The verifier key, `<name>+<id>+<base64>`.
    pub fn vkey(&self) -> &str {
        &self.vkey
    }

    /// Signs the checkpoint of the tree of `size` leaves with root `root`.
    pub fn sign(&self, size: u64, root: TreeHash) -> Result<SignedCheckpoint, CheckpointError> {
        let body = tlog_tiles::Checkpoint::new(&self.origin, size, root, "")
            .map_err(|e| CheckpointError::Malformed(e.to_string()))?
            .to_bytes();
        let mut note = Note::new(&body, &[]).map_err(|e| CheckpointError::Malformed(e.to_string()))?;
        note.add_sigs(&[&self.signer]).map_err(|e| CheckpointError::Malformed(e.to_string()))?;
        let text = String::from_utf8(note.to_bytes()).map_err(|e| CheckpointError::Malformed(e.to_string()))?;
        Ok(SignedCheckpoint { origin: self.origin.clone(), size, root, note: text })
    }
}

fn verifier(vkey: &str) -> Result<StandardVerifier, CheckpointError> {
    let vkey = vkey.trim();
    StandardVerifier::new(vkey).map_err(|e| CheckpointError::Key(format!("verifier key {vkey:?}: {e}")))
}

/// A checkpoint with its signed note: what `GET /checkpoint` serves and an auditor pins.
#[derive(Debug, Clone, PartialEq)]
pub struct SignedCheckpoint {
    /// The log's name.
    pub origin: String,
    /// The tree size: how many events it covers.
    pub size: u64,
    /// The tree's root.
    pub root: TreeHash,
    note: String,
}

impl SignedCheckpoint {
    /// The signed note, as served: the checkpoint body, a blank line, the signature lines.
    pub fn note(&self) -> &str {
        &self.note
    }

    /// Reads a signed note and checks that `vkey` signed it and that it names `vkey`'s log.
    /// Signatures by other keys (witnesses) are kept and not checked here.
    pub fn verify(note: &str, vkey: &str) -> Result<Self, CheckpointError> {
        let verifier = verifier(vkey)?;
        let name = verifier.name().to_owned();
        let parsed = Note::from_bytes(note.as_bytes()).map_err(|e| CheckpointError::Malformed(e.to_string()))?;
        let known = VerifierList::new(vec![Box::new(verifier)]);
        match parsed.verify(&known) {
            Ok(_) => {}
            Err(signed_note::NoteError::UnverifiedNote) => return Err(CheckpointError::NotSigned(vkey.to_owned())),
            Err(signed_note::NoteError::InvalidSignature { .. }) => return Err(CheckpointError::BadSignature(name)),
            Err(e) => return Err(CheckpointError::Malformed(e.to_string())),
        }
        let body = tlog_tiles::Checkpoint::from_bytes(parsed.text())
            .map_err(|e| CheckpointError::Malformed(format!("the body is not a checkpoint: {e}")))?;
        if body.origin() != name {
            return Err(CheckpointError::Origin { expected: name, found: body.origin().to_owned() });
        }
        Ok(Self { origin: name, size: body.size(), root: *body.hash(), note: note.to_owned() })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(origin: &str) -> Arc<LogKey> {
        let (skey, vkey) = LogKey::generate(origin).unwrap_or_default();
        LogKey::open(&skey, &vkey).expect("a generated key opens")
    }

    #[test]
    fn a_signed_checkpoint_verifies_with_its_key_only() {
        let log = key("samverkan/test");
        let signed = log.sign(7, super::super::leaf_hash(b"x")).expect("signs");
        assert!(signed.note().starts_with("samverkan/test\n7\n"));
        assert_eq!(SignedCheckpoint::verify(signed.note(), log.vkey()), Ok(signed.clone()));
        let other = key("samverkan/test");
        assert!(matches!(SignedCheckpoint::verify(signed.note(), other.vkey()), Err(CheckpointError::NotSigned(_))));
        // The same size with another root, keeping the signature line: refused as forged.
        let forged = signed.note().replacen("\n7\n", "\n8\n", 1);
        assert!(matches!(SignedCheckpoint::verify(&forged, log.vkey()), Err(CheckpointError::BadSignature(_))));
        assert!(matches!(SignedCheckpoint::verify("hello", log.vkey()), Err(CheckpointError::Malformed(_))));
    }

    #[test]
    fn halves_of_two_keys_do_not_open() {
        let (skey, _) = LogKey::generate("a/b").unwrap_or_default();
        let (_, vkey) = LogKey::generate("a/b").unwrap_or_default();
        assert!(LogKey::open(&skey, &vkey).is_err());
        assert!(LogKey::generate("has space").is_err());
        assert!(format!("{:?}", key("a/b")).contains("vkey"));
        assert!(!format!("{:?}", key("a/b")).contains("PRIVATE"));
    }
}
