//! The number-level do-not-call list (`donotcall`), one entry per E.164 number.

use async_trait::async_trait;
use outcall_domain::dnc::DncEntry;
use outcall_domain::{Page, PageRequest};

use crate::error::StoreResult;

/// Sortable fields of the list (both indexed).
pub const DNC_SORT_FIELDS: &[&str] = &["createdAt", "phoneNumber"];

#[async_trait]
pub trait DncStore: Send + Sync {
    /// Adds each number not yet listed (`$setOnInsert`: a listed number keeps its
    /// entry and reason). Returns how many were added.
    async fn add_dnc(&self, entries: Vec<DncEntry>) -> StoreResult<u64>;
    async fn get_dnc(&self, phone_number: &str) -> StoreResult<Option<DncEntry>>;
    /// The list; `q` keeps the numbers containing its digits.
    async fn list_dnc(&self, q: Option<&str>, page: &PageRequest) -> StoreResult<Page<DncEntry>>;
    /// Removes the numbers given; returns how many were listed.
    async fn remove_dnc(&self, phone_numbers: &[String]) -> StoreResult<u64>;
}
