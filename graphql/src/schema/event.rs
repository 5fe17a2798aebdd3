//! The `Event` type: a stored event exactly as in the ledger (API.md §1), with its source
//! document; shared by every module that answers with events.

use std::sync::Arc;

use async_graphql::{Context, ID, Json, Object, SimpleObject};
use ledger::{Position, RecordedEvent};

use super::app;
use super::scalars::{Date, DateTime};
use crate::error::{ApiError, ApiResult};

/// The source document behind an event.
#[derive(Debug, Clone, SimpleObject)]
pub(super) struct Source {
    /// Title of the document or decision.
    pub title: String,
    /// Diarienummer or other reference.
    pub reference: Option<String>,
    /// Where it is published.
    pub url: Option<String>,
    /// A note, e.g. that a date is illustrative.
    pub note: Option<String>,
}

/// A stored event, exactly as in the ledger (API.md §1): shared with the projections, not copied.
#[derive(Debug, Clone)]
pub(super) struct Event(pub Arc<RecordedEvent>);

impl Event {
    /// The events at `positions`, for `because` and histories.
    pub(super) fn all_at(ctx: &Context<'_>, positions: &[Position]) -> ApiResult<Vec<Event>> {
        Ok(app(ctx)?.events_at(positions)?.into_iter().map(Event).collect())
    }
}

#[Object]
impl Event {
    /// The event's UUID.
    async fn id(&self) -> ID {
        ID(self.0.id().to_string())
    }
    /// Global position, gapless from 1.
    async fn position(&self) -> u64 {
        self.0.position().get()
    }
    /// The stream it belongs to.
    async fn stream(&self) -> &str {
        self.0.stream().as_str()
    }
    /// Its version within the stream.
    async fn stream_version(&self) -> u64 {
        self.0.stream_version()
    }
    /// The event type, e.g. `PartyAdopted`.
    #[graphql(name = "type")]
    async fn type_name(&self) -> &str {
        self.0.type_name()
    }
    /// Valid time: the date the fact belongs to.
    async fn effective(&self) -> Date {
        Date(self.0.effective())
    }
    /// Record time: when the ledger stored it.
    async fn recorded_at(&self) -> DateTime {
        DateTime(self.0.recorded_at())
    }
    /// Who recorded it.
    async fn recorded_by(&self) -> &str {
        self.0.recorded_by()
    }
    /// The source document.
    async fn source(&self) -> Option<Source> {
        self.0.source().map(|s| Source {
            title: s.title.clone(),
            reference: s.reference.clone(),
            url: s.url.clone(),
            note: s.note.clone(),
        })
    }
    /// The event's data, as in API.md §1.
    async fn data(&self) -> ApiResult<Json<serde_json::Value>> {
        self.0.data().to_json().map(Json).map_err(|e| ApiError::internal(&e).into())
    }
    /// The previous event's hash.
    async fn prev_hash(&self) -> String {
        self.0.prev_hash().to_string()
    }
    /// This event's hash: SHA-256 over the previous hash and the event's canonical bytes.
    async fn hash(&self) -> String {
        self.0.hash().to_string()
    }
    /// The proof that this event is in the log: its inclusion proof in the tree of `treeSize`
    /// events (default: the latest checkpoint's size). Ask every event of a `because` with the
    /// same `treeSize`, read `checkpoint` in the same query, and the answer comes with its proof.
    async fn inclusion_proof(
        &self,
        ctx: &Context<'_>,
        tree_size: Option<u64>,
    ) -> ApiResult<super::transparency::InclusionProof> {
        super::transparency::event_proof(ctx, self.0.position(), tree_size)
    }
}
