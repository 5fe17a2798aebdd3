//! Witness cosignatures collected by the server. A witness (`samverkan witness`) checks that the
//! log's latest checkpoint is consistent with the one it cosigned before, cosigns it and posts the
//! cosigned note; the server accepts it only for a checkpoint of this very log and tree, with a
//! valid cosignature by a witness it was configured with (`serve --witness VKEY`), and keeps the
//! cosigned checkpoints of the last sizes in memory (a restart forgets them; witnesses cosign again
//! on their next run).

use ledger::merkle::checkpoint::SignedCheckpoint;
use ledger::merkle::cosignature;

use super::state::App;
use crate::error::{ApiError, Code};

/// How many cosigned sizes are kept.
const KEPT: usize = 16;

impl App {
    /// Accepts a cosigned checkpoint: returns its size and how many configured witnesses now
    /// cosign it.
    pub fn add_cosignature(&self, note: &str) -> Result<(u64, usize), ApiError> {
        let vkey = self.ledger().log_vkey().ok_or_else(|| ApiError::not_found("this ledger signs no checkpoints"))?;
        let checkpoint = SignedCheckpoint::verify(note, vkey)
            .map_err(|e| ApiError::invalid(format!("not a checkpoint of this log: {e}")))?;
        let root = self.tree_root(checkpoint.size).map_err(|e| ApiError::invalid(e.message))?;
        if root != checkpoint.root {
            return Err(ApiError::invalid(format!(
                "the checkpoint of {} events has another root than this log's tree of that size",
                checkpoint.size
            )));
        }
        let named = cosignature::cosigners(note, &self.config().witnesses)
            .map_err(|e| ApiError::invalid(format!("the cosignature: {e}")))?;
        let signers = cosignature::signer_names(note).map_err(|e| ApiError::invalid(e.to_string()))?;
        let unknown: Vec<&String> = signers.iter().filter(|n| **n != checkpoint.origin && !named.contains(n)).collect();
        if named.is_empty() || !unknown.is_empty() {
            let who = unknown.iter().map(|n| n.as_str()).collect::<Vec<_>>().join(", ");
            return Err(ApiError::new(
                Code::Forbidden,
                format!("no cosignature by a witness this server is configured with (signed by: {who})"),
            ));
        }
        let mut kept = self.cosigned.lock().map_err(|_| ApiError::internal(&"the cosignature store is poisoned"))?;
        let merged = match kept.get(&checkpoint.size) {
            Some(existing) => cosignature::merge(existing, note).map_err(|e| ApiError::invalid(e.to_string()))?,
            None => note.to_owned(),
        };
        let count = cosignature::cosigners(&merged, &self.config().witnesses).map_or(0, |n| n.len());
        kept.insert(checkpoint.size, merged);
        while kept.len() > KEPT {
            kept.pop_first();
        }
        Ok((checkpoint.size, count))
    }

    /// The latest checkpoint as served: with the cosignatures collected for it, if any.
    pub fn checkpoint_note(&self) -> Option<String> {
        let latest = self.checkpoint()?;
        let cosigned = self.cosigned.lock().ok().and_then(|kept| kept.get(&latest.size).cloned());
        Some(cosigned.unwrap_or_else(|| latest.note().to_owned()))
    }

    /// The largest checkpoint at least `min` configured witnesses cosigned.
    pub fn witnessed(&self, min: usize) -> Option<String> {
        let kept = self.cosigned.lock().ok()?;
        kept.values()
            .rev()
            .find(|note| cosignature::cosigners(note, &self.config().witnesses).is_ok_and(|n| n.len() >= min))
            .cloned()
    }
}
