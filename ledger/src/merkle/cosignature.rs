//! Witness cosignatures, C2SP `tlog-cosignature` v1 with Ed25519: a witness's statement that, at a
//! time, the checkpoint is the largest consistent one it has seen of the log. The signature line is
//! a note signature (so `signed_note` parses and places it) whose key id uses algorithm byte 0x04
//! and whose signature is a big-endian u64 timestamp followed by an Ed25519 signature over
//! `cosignature/v1\ntime <t>\n` and the checkpoint body.

use base64::Engine;
use ed25519_dalek::{Signer as _, SigningKey, Verifier as _, VerifyingKey};
use signed_note::{Note, Signer, Verifier, VerifierList};

use super::checkpoint::CheckpointError;

/// The signature type of an Ed25519 cosignature (C2SP tlog-cosignature).
const ALG_COSIGNATURE_V1: u8 = 0x04;

fn b64() -> base64::engine::GeneralPurpose {
    base64::engine::general_purpose::STANDARD
}

fn message(body: &[u8], time: u64) -> Vec<u8> {
    let mut out = format!("cosignature/v1\ntime {time}\n").into_bytes();
    out.extend_from_slice(body);
    out
}

fn key_id(name: &str, public: &VerifyingKey) -> u32 {
    let mut encoded = vec![ALG_COSIGNATURE_V1];
    encoded.extend_from_slice(public.as_bytes());
    signed_note::key_id(name, &encoded)
}

/// A witness's key: its name and Ed25519 key. `Debug` shows only the public half.
pub struct WitnessKey {
    name: String,
    key: SigningKey,
    /// The time cosignatures are dated with (seconds since the epoch); set before signing.
    time: std::cell::Cell<u64>,
}

impl std::fmt::Debug for WitnessKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WitnessKey").field("vkey", &self.vkey()).finish_non_exhaustive()
    }
}

impl WitnessKey {
    /// A new witness key named `name`, as its secret form (`PRIVATE+KEY+<name>+<id>+<base64>`).
    pub fn generate(name: &str) -> Result<String, CheckpointError> {
        if !signed_note::is_key_name_valid(name) {
            return Err(CheckpointError::Key(format!("{name:?} cannot name a key (no spaces, no '+')")));
        }
        let key = SigningKey::generate(&mut rand_core::OsRng);
        let mut secret = vec![ALG_COSIGNATURE_V1];
        secret.extend_from_slice(&key.to_bytes());
        Ok(format!("PRIVATE+KEY+{name}+{:08x}+{}", key_id(name, &key.verifying_key()), b64().encode(secret)))
    }

    /// The key from its secret form.
    pub fn open(skey: &str) -> Result<Self, CheckpointError> {
        let bad = || CheckpointError::Key("not a witness signing key (PRIVATE+KEY+<name>+<id>+<base64>)".into());
        let rest = skey.trim().strip_prefix("PRIVATE+KEY+").ok_or_else(bad)?;
        let (name, rest) = rest.split_once('+').ok_or_else(bad)?;
        let (id, secret) = rest.split_once('+').ok_or_else(bad)?;
        let secret = b64().decode(secret).map_err(|_| bad())?;
        let [ALG_COSIGNATURE_V1, seed @ ..] = secret.as_slice() else { return Err(bad()) };
        let seed: [u8; 32] = seed.try_into().map_err(|_| bad())?;
        let key = SigningKey::from_bytes(&seed);
        if format!("{:08x}", key_id(name, &key.verifying_key())) != id || !signed_note::is_key_name_valid(name) {
            return Err(bad());
        }
        Ok(Self { name: name.to_owned(), key, time: std::cell::Cell::new(0) })
    }

    /// The verifier key, `<name>+<id>+base64(0x04 ‖ public key)`, that auditors list.
    pub fn vkey(&self) -> String {
        let mut encoded = vec![ALG_COSIGNATURE_V1];
        encoded.extend_from_slice(self.key.verifying_key().as_bytes());
        format!("{}+{:08x}+{}", self.name, key_id(&self.name, &self.key.verifying_key()), b64().encode(encoded))
    }

    /// The note with this witness's cosignature added, dated `time` (seconds since the epoch).
    pub fn cosign(&self, note: &str, time: u64) -> Result<String, CheckpointError> {
        let mut parsed = Note::from_bytes(note.as_bytes()).map_err(|e| CheckpointError::Malformed(e.to_string()))?;
        self.time.set(time);
        parsed.add_sigs(&[self]).map_err(|e| CheckpointError::Malformed(e.to_string()))?;
        String::from_utf8(parsed.to_bytes()).map_err(|e| CheckpointError::Malformed(e.to_string()))
    }
}

impl Signer for WitnessKey {
    fn name(&self) -> &str {
        &self.name
    }

    fn key_id(&self) -> u32 {
        key_id(&self.name, &self.key.verifying_key())
    }

    fn sign(&self, msg: &[u8]) -> Result<Vec<u8>, signature::Error> {
        let time = self.time.get();
        let mut out = time.to_be_bytes().to_vec();
        out.extend_from_slice(&self.key.sign(&message(msg, time)).to_bytes());
        Ok(out)
    }
}

/// A witness's verifier key.
struct WitnessVerifier {
    name: String,
    id: u32,
    key: VerifyingKey,
}

impl WitnessVerifier {
    fn new(vkey: &str) -> Result<Self, CheckpointError> {
        let bad = || CheckpointError::Key(format!("{vkey:?} is not a witness verifier key (<name>+<id>+<base64>)"));
        let (name, rest) = vkey.trim().split_once('+').ok_or_else(bad)?;
        let (id, public) = rest.split_once('+').ok_or_else(bad)?;
        let public = b64().decode(public).map_err(|_| bad())?;
        let [ALG_COSIGNATURE_V1, public @ ..] = public.as_slice() else { return Err(bad()) };
        let public: [u8; 32] = public.try_into().map_err(|_| bad())?;
        let key = VerifyingKey::from_bytes(&public).map_err(|_| bad())?;
        let id = u32::from_str_radix(id, 16).map_err(|_| bad())?;
        if id != key_id(name, &key) {
            return Err(bad());
        }
        Ok(Self { name: name.to_owned(), id, key })
    }
}

impl Verifier for WitnessVerifier {
    fn name(&self) -> &str {
        &self.name
    }

    fn key_id(&self) -> u32 {
        self.id
    }

    fn verify(&self, msg: &[u8], sig: &[u8]) -> bool {
        let Some((time, signature)) = sig.split_first_chunk::<8>() else { return false };
        let Ok(signature) = ed25519_dalek::Signature::from_slice(signature) else { return false };
        self.key.verify(&message(msg, u64::from_be_bytes(*time)), &signature).is_ok()
    }
}

/// Checks that `vkey` is a witness verifier key (type 0x04).
pub fn check_vkey(vkey: &str) -> Result<(), CheckpointError> {
    WitnessVerifier::new(vkey).map(|_| ())
}

/// The names of the witnesses among `vkeys` whose cosignatures on `note` verify. A cosignature
/// that names one of them but does not verify is an error (forged or damaged); signatures by keys
/// not listed are ignored.
pub fn cosigners(note: &str, vkeys: &[String]) -> Result<Vec<String>, CheckpointError> {
    let parsed = Note::from_bytes(note.as_bytes()).map_err(|e| CheckpointError::Malformed(e.to_string()))?;
    let mut list: Vec<Box<dyn Verifier>> = Vec::new();
    for vkey in vkeys {
        list.push(Box::new(WitnessVerifier::new(vkey)?));
    }
    match parsed.verify(&VerifierList::new(list)) {
        Ok((verified, _)) => Ok(verified.iter().map(|s| s.name().to_owned()).collect()),
        Err(signed_note::NoteError::UnverifiedNote) => Ok(Vec::new()),
        Err(signed_note::NoteError::InvalidSignature { name, .. }) => Err(CheckpointError::BadSignature(name)),
        Err(e) => Err(CheckpointError::Malformed(e.to_string())),
    }
}

/// The signature lines of a note, parsed.
fn signatures(note: &str) -> Result<(Vec<u8>, Vec<signed_note::Signature>), CheckpointError> {
    let malformed = |e: signed_note::NoteError| CheckpointError::Malformed(e.to_string());
    let text = Note::from_bytes(note.as_bytes()).map_err(malformed)?.text().to_vec();
    let lines = note.rsplit_once("\n\n").map(|(_, sigs)| sigs.lines().collect::<Vec<_>>()).unwrap_or_default();
    let sigs = lines
        .into_iter()
        .map(|line| signed_note::Signature::from_bytes(line.as_bytes()).map_err(malformed))
        .collect::<Result<_, _>>()?;
    Ok((text, sigs))
}

fn note_of(text: &[u8], sigs: &[signed_note::Signature]) -> Result<String, CheckpointError> {
    let note = Note::new(text, sigs).map_err(|e| CheckpointError::Malformed(e.to_string()))?;
    String::from_utf8(note.to_bytes()).map_err(|e| CheckpointError::Malformed(e.to_string()))
}

/// The names of every signature line of a note (verified or not).
pub fn signer_names(note: &str) -> Result<Vec<String>, CheckpointError> {
    Ok(signatures(note)?.1.iter().map(|s| s.name().to_owned()).collect())
}

/// The note with only the signatures by `name` (the log's own, say).
pub fn only_signed_by(note: &str, name: &str) -> Result<String, CheckpointError> {
    let (text, mut sigs) = signatures(note)?;
    sigs.retain(|s| s.name() == name);
    note_of(&text, &sigs)
}

/// One note with the signatures of both `a` and `b`, which must be signed notes of the same text
/// (a signature of the same key in both is kept once, from `b`).
pub fn merge(a: &str, b: &str) -> Result<String, CheckpointError> {
    let (text_a, mut sigs) = signatures(a)?;
    let (text_b, more) = signatures(b)?;
    if text_a != text_b {
        return Err(CheckpointError::Malformed("the two notes sign different checkpoints".into()));
    }
    for sig in more {
        sigs.retain(|s| !(s.name() == sig.name() && s.id() == sig.id()));
        sigs.push(sig);
    }
    note_of(&text_a, &sigs)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::merkle::checkpoint::{LogKey, SignedCheckpoint};

    #[test]
    fn a_cosigned_checkpoint_keeps_the_log_signature_and_counts_its_witness() {
        let (skey, vkey) = LogKey::generate("samverkan/test").unwrap_or_default();
        let log = LogKey::open(&skey, &vkey).expect("log key");
        let note = log.sign(10, crate::merkle::leaf_hash(b"x")).expect("signs");
        let witness = WitnessKey::open(&WitnessKey::generate("witness/nacka").unwrap_or_default()).expect("opens");
        let cosigned = witness.cosign(note.note(), 1_700_000_000).expect("cosigns");
        assert!(SignedCheckpoint::verify(&cosigned, log.vkey()).is_ok(), "the log's signature still verifies");
        assert_eq!(cosigners(&cosigned, &[witness.vkey()]), Ok(vec!["witness/nacka".to_owned()]));
        assert_eq!(cosigners(note.note(), &[witness.vkey()]), Ok(vec![]));
        let other = WitnessKey::open(&WitnessKey::generate("witness/solna").unwrap_or_default()).expect("opens");
        assert_eq!(cosigners(&cosigned, &[other.vkey()]), Ok(vec![]));
        // The cosignature moved onto another checkpoint of the same log does not verify.
        let other_note = log.sign(11, crate::merkle::leaf_hash(b"y")).expect("signs");
        let line = cosigned.lines().last().unwrap_or_default();
        let moved = format!("{}{line}\n", other_note.note());
        assert!(matches!(cosigners(&moved, &[witness.vkey()]), Err(CheckpointError::BadSignature(_))));
        assert!(WitnessKey::open("PRIVATE+KEY+x+00000000+AAAA").is_err());
        // Two witnesses' notes merge into one carrying both, and the log's signature once.
        let both = merge(&cosigned, &other.cosign(note.note(), 1_700_000_001).expect("cosigns")).expect("merges");
        let names = cosigners(&both, &[witness.vkey(), other.vkey()]).expect("verifies");
        assert_eq!(names.len(), 2);
        assert_eq!(both.matches("samverkan/test ").count(), 1);
        assert!(merge(&cosigned, other_note.note()).is_err());
        assert_eq!(signer_names(&both).map(|n| n.len()), Ok(3));
        assert_eq!(only_signed_by(&both, "samverkan/test").as_deref(), Ok(note.note()));
    }
}
