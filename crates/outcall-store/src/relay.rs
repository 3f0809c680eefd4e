//! The event relay's log: each process appends the bus events it originated, and every
//! process reads the entries of the others to republish them to its own clients, so
//! live events reach the clients of every process sharing one database.
//!
//! Entries are short-lived (seconds): readers poll the recent tail, and old entries are
//! purged. The event itself is opaque JSON text to the store.

use async_trait::async_trait;
use outcall_domain::ObjectId;
use outcall_domain::time::Timestamp;

use crate::error::StoreResult;

#[derive(Debug, Clone, PartialEq)]
pub struct RelayEntry {
    pub id: ObjectId,
    /// The process that published the event.
    pub origin: String,
    /// When it was appended (set by the adapter, millisecond precision).
    pub at: Timestamp,
    /// The event, as JSON text.
    pub event: String,
}

impl RelayEntry {
    pub fn new(origin: &str, event: String) -> Self {
        Self {
            id: ObjectId::new(),
            origin: origin.to_string(),
            at: outcall_domain::time::now(),
            event,
        }
    }
}

#[async_trait]
pub trait RelayStore: Send + Sync {
    /// Appends the entries, each stamped `at` = now.
    async fn append_relay(&self, entries: Vec<RelayEntry>) -> StoreResult<()>;
    /// Entries with `at >= since` not from `exclude_origin`, in append order (by `at`;
    /// the entries of one append keep their order), at most `limit`.
    async fn relay_since(
        &self,
        since: Timestamp,
        exclude_origin: &str,
        limit: i64,
    ) -> StoreResult<Vec<RelayEntry>>;
    /// Deletes entries appended before `cutoff`; returns how many went.
    async fn purge_relay_before(&self, cutoff: Timestamp) -> StoreResult<u64>;
}
