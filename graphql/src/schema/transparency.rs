//! The transparency log in GraphQL: `checkpoint`, `inclusionProof`, `consistencyProof`, and the
//! proof of any event (`Event.inclusionProof`), so that an answer's `because` can come with proofs
//! against one checkpoint. Hashes are standard base64, as in the checkpoint's root line.

use async_graphql::{Context, Object, SimpleObject};
use base64::Engine;
use ledger::Position;
use ledger::merkle::TreeHash;

use super::{app, readable};
use crate::app::App;
use crate::error::{ApiError, ApiResult};

/// Standard base64 of a tree hash, as C2SP checkpoints write it.
fn b64(hash: &TreeHash) -> String {
    base64::engine::general_purpose::STANDARD.encode(hash.0)
}

/// A signed checkpoint of the log's Merkle tree (C2SP tlog-checkpoint in a C2SP signed note).
#[derive(Debug, Clone, SimpleObject)]
pub(super) struct Checkpoint {
    /// The log's name: the checkpoint's first line and its key's name.
    origin: String,
    /// How many events the tree covers (positions 1 to `size`).
    size: u64,
    /// The RFC 6962 root of those events, base64.
    root_hash: String,
    /// The whole signed note, exactly as `GET /checkpoint` serves it: verify it with the verifier
    /// key (`samverkan key show`).
    note: String,
}

/// An RFC 6962 inclusion proof (audit path) of one event in the tree of `treeSize` events.
#[derive(Debug, Clone, SimpleObject)]
pub(super) struct InclusionProof {
    /// The event's position; its leaf index is `position - 1`.
    position: u64,
    /// The size of the tree the proof is for.
    tree_size: u64,
    /// That tree's root, base64: compare it with the checkpoint of that size.
    root_hash: String,
    /// SHA-256(0x00 ‖ the RFC 8785 form of the event's export JSON), base64.
    leaf_hash: String,
    /// The audit path, leaf to root, base64.
    hashes: Vec<String>,
}

/// An RFC 6962 consistency proof: the tree of `toSize` events extends the tree of `fromSize`.
#[derive(Debug, Clone, SimpleObject)]
pub(super) struct ConsistencyProof {
    /// The older, smaller tree.
    from_size: u64,
    /// Its root, base64.
    from_root_hash: String,
    /// The newer tree.
    to_size: u64,
    /// Its root, base64.
    to_root_hash: String,
    /// The proof, base64.
    hashes: Vec<String>,
}

/// The proof of the event at `position` in the tree of `size` events (default: the latest
/// checkpoint's size).
pub(super) fn inclusion(app: &App, position: Position, size: Option<u64>) -> ApiResult<InclusionProof> {
    let size = size.unwrap_or_else(|| app.proof_size());
    let hashes = app.inclusion_proof(position, size)?;
    let event = app.events_at(&[position])?.pop();
    let leaf = match event {
        Some(event) => ledger::merkle::leaf_hash(&ledger::merkle::leaf_bytes(&event).map_err(ApiError::from)?),
        None => return Err(ApiError::not_found(format!("there is no event at position {}", position.get())).into()),
    };
    Ok(InclusionProof {
        position: position.get(),
        tree_size: size,
        root_hash: b64(&app.tree_root(size)?),
        leaf_hash: b64(&leaf),
        hashes: hashes.iter().map(b64).collect(),
    })
}

/// The transparency-log queries.
#[derive(Debug, Default)]
pub(super) struct TransparencyQuery;

#[Object]
impl TransparencyQuery {
    /// The latest signed checkpoint; null only for a ledger without a log key.
    async fn checkpoint(&self, ctx: &Context<'_>) -> ApiResult<Option<Checkpoint>> {
        let app = readable(ctx)?;
        Ok(app.checkpoint().map(|c| Checkpoint {
            origin: c.origin.clone(),
            size: c.size,
            root_hash: b64(&c.root),
            note: c.note().to_owned(),
        }))
    }

    /// The inclusion proof of the event at `position` in the tree of `treeSize` events (default:
    /// the latest checkpoint's size).
    async fn inclusion_proof(
        &self,
        ctx: &Context<'_>,
        position: u64,
        tree_size: Option<u64>,
    ) -> ApiResult<InclusionProof> {
        inclusion(readable(ctx)?, Position::new(position), tree_size)
    }

    /// The consistency proof from the tree of `from` events to the tree of `to` (default: the
    /// latest checkpoint's size).
    async fn consistency_proof(&self, ctx: &Context<'_>, from: u64, to: Option<u64>) -> ApiResult<ConsistencyProof> {
        let app = readable(ctx)?;
        let to = to.unwrap_or_else(|| app.proof_size());
        let hashes = app.consistency_proof(from, to)?;
        Ok(ConsistencyProof {
            from_size: from,
            from_root_hash: b64(&app.tree_root(from)?),
            to_size: to,
            to_root_hash: b64(&app.tree_root(to)?),
            hashes: hashes.iter().map(b64).collect(),
        })
    }
}

/// `Event.inclusionProof`, for `events.rs`.
pub(super) fn event_proof(ctx: &Context<'_>, position: Position, tree_size: Option<u64>) -> ApiResult<InclusionProof> {
    inclusion(app(ctx)?, position, tree_size)
}
