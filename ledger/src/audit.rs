//! The auditor's check of a log against signed checkpoints, trusting nothing it can compute.
//!
//! Given the leaves (recomputed by the caller from exported lines or fetched entry bundles), the
//! log's signed checkpoint, the verifier key and optionally a checkpoint pinned earlier, [`audit`]:
//! checks both signatures; rebuilds the whole Merkle tree from the leaves; requires the signed
//! root; and requires the pinned checkpoint's root at the pinned size, so that every event since
//! the pin is an append and none before it was changed. It reports the first failure, in one line.

use crate::merkle::checkpoint::{CheckpointError, SignedCheckpoint};
use crate::merkle::{self, MemoryTree, TreeHash};

/// Why an audit failed. Each message is one line for a person.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum AuditError {
    /// The log's checkpoint is unsigned, forged, malformed or for another log.
    #[error("the log's checkpoint: {0}")]
    Checkpoint(CheckpointError),
    /// The pinned checkpoint is unsigned, forged, malformed or for another log.
    #[error("the pinned checkpoint: {0}")]
    Pinned(CheckpointError),
    /// A leaf could not be read.
    #[error("event {position}: {reason}")]
    Leaf {
        /// The event's position (line number of an export).
        position: u64,
        /// What is wrong.
        reason: String,
    },
    /// Fewer events than the checkpoint covers.
    #[error("the log has {have} events but its checkpoint covers {signed}")]
    TooFew {
        /// Events read.
        have: u64,
        /// The checkpoint's size.
        signed: u64,
    },
    /// The events do not give the root the log signed.
    #[error("the {size} events do not give the signed root: they give {computed}, the checkpoint says {signed}")]
    RootMismatch {
        /// The size.
        size: u64,
        /// The root of the events read.
        computed: TreeHash,
        /// The signed root.
        signed: TreeHash,
    },
    /// Two checkpoints of the same size, both validly signed, with different roots: the log shows
    /// different histories to different readers.
    #[error("split view: two signed checkpoints of size {size} with different roots ({pinned} pinned, {now} now)")]
    SplitView {
        /// The size.
        size: u64,
        /// The pinned root.
        pinned: TreeHash,
        /// The root signed now.
        now: TreeHash,
    },
    /// The log today does not extend the pinned one: history before the pin was changed.
    #[error(
        "the log does not extend the pinned checkpoint: its first {size} events give {now}, the pinned checkpoint says {pinned} – history before the pin was rewritten"
    )]
    NotAnExtension {
        /// The pinned size.
        size: u64,
        /// The pinned root.
        pinned: TreeHash,
        /// The root of the first `size` events now.
        now: TreeHash,
    },
    /// The log is shorter than the pinned checkpoint: events were removed.
    #[error("the log shrank: {now} events are signed now, {pinned} were pinned")]
    Shrunk {
        /// The pinned size.
        pinned: u64,
        /// The size signed now.
        now: u64,
    },
    /// The server's own consistency proof does not verify (the events do: the server's proof
    /// service is wrong).
    #[error("the server's consistency proof from {from} to {to} does not verify")]
    ConsistencyProof {
        /// The pinned size.
        from: u64,
        /// The signed size.
        to: u64,
    },
}

/// What a successful audit established.
#[derive(Debug, Clone)]
pub struct AuditReport {
    /// The verified checkpoint (pin this one next time).
    pub checkpoint: SignedCheckpoint,
    /// The checkpoint it was checked against, if one was pinned.
    pub pinned: Option<SignedCheckpoint>,
    /// Events read beyond the checkpoint (a log that grew after it was signed): not covered.
    pub uncovered: u64,
}

/// The log's checkpoint and, if given, the pinned one, both checked against `vkey`, and the
/// comparison that needs no events: a pin larger than the log, or of the same size with another
/// root.
pub fn check_checkpoints(
    checkpoint: &str,
    vkey: &str,
    pinned: Option<&str>,
) -> Result<(SignedCheckpoint, Option<SignedCheckpoint>), AuditError> {
    let now = SignedCheckpoint::verify(checkpoint, vkey).map_err(AuditError::Checkpoint)?;
    let pinned = pinned.map(|p| SignedCheckpoint::verify(p, vkey).map_err(AuditError::Pinned)).transpose()?;
    if let Some(pin) = &pinned {
        if pin.size > now.size {
            return Err(AuditError::Shrunk { pinned: pin.size, now: now.size });
        }
        if pin.size == now.size && pin.root != now.root {
            return Err(AuditError::SplitView { size: now.size, pinned: pin.root, now: now.root });
        }
    }
    Ok((now, pinned))
}

/// Audits `leaves` (leaf bytes, in log order) against the signed `checkpoint`, the verifier key
/// and an optional pinned checkpoint. `proof` is the server's consistency proof from the pin to the
/// checkpoint, if one was fetched: it is checked too, though the rebuilt tree already decides.
pub fn audit(
    leaves: impl IntoIterator<Item = Result<Vec<u8>, AuditError>>,
    checkpoint: &str,
    vkey: &str,
    pinned: Option<&str>,
    proof: Option<&[TreeHash]>,
) -> Result<AuditReport, AuditError> {
    let (now, pinned) = check_checkpoints(checkpoint, vkey, pinned)?;
    let mut tree = MemoryTree::new();
    let mut uncovered = 0u64;
    for leaf in leaves {
        let leaf = leaf?;
        if tree.size() == now.size {
            uncovered += 1;
            continue;
        }
        let position = tree.size() + 1;
        tree.push(merkle::leaf_hash(&leaf)).map_err(|e| AuditError::Leaf { position, reason: e.to_string() })?;
    }
    if tree.size() < now.size {
        return Err(AuditError::TooFew { have: tree.size(), signed: now.size });
    }
    let root = |size| tree.root(size).map_err(|e| AuditError::Leaf { position: size, reason: e.to_string() });
    let computed = root(now.size)?;
    if computed != now.root {
        return Err(AuditError::RootMismatch { size: now.size, computed, signed: now.root });
    }
    if let Some(pin) = &pinned {
        let then = root(pin.size)?;
        if then != pin.root {
            return Err(AuditError::NotAnExtension { size: pin.size, pinned: pin.root, now: then });
        }
        if let Some(proof) = proof {
            if pin.size > 0 && !merkle::check_consistency(proof, pin.size, pin.root, now.size, now.root) {
                return Err(AuditError::ConsistencyProof { from: pin.size, to: now.size });
            }
        }
    }
    Ok(AuditReport { checkpoint: now, pinned, uncovered })
}
