//! The Store port: what outcall needs from a database, as async traits per
//! collection, plus the conformance suite every adapter runs against itself.
//!
//! This crate never names sqlx or the MongoDB driver. Adapters implement
//! [`Store`]; the server holds an `Arc<dyn Store>` and does not know which one.
//!
//! Every write that must be atomic is a single operation here (conditional status
//! update, compare-and-set transition, counter increment, set-like array edits),
//! so each adapter can do it as one single-document atomic update.
//!
//! # Layout
//! - [`error`]: `StoreError`, the few failures callers distinguish.
//! - [`filter`]: the filters each list accepts, and their sortable fields.
//! - [`port`]: the traits.
//! - [`analytics`]: aggregated counts for the analytics and dashboard API.
//! - [`archive`]: daily rollups and whole-call deletion, for `outcall archive`.
//! - [`dnc`]: the number-level do-not-call list.
//! - [`raw`]: documents inserted exactly as another system wrote them (fixtures).
//! - [`relay`]: the short-lived log that carries live events between processes.
//! - [`undecodable`]: lists skip (and count) documents they cannot read.
//! - [`conformance`]: the shared behaviour suite.

pub mod analytics;
pub mod archive;
pub mod conformance;
pub mod dnc;
pub mod error;
pub mod filter;
pub mod port;
pub mod raw;
pub mod relay;
pub mod undecodable;

pub use analytics::{AnalyticsFilter, AnalyticsStore, EventWithCall};
pub use archive::ArchiveStore;
pub use dnc::{DNC_SORT_FIELDS, DncStore};
pub use error::{StoreError, StoreResult};
pub use filter::*;
pub use port::*;
pub use raw::RawDocumentStore;
pub use relay::{RelayEntry, RelayStore};
