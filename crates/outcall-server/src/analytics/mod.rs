//! The analytics and dashboard computations, as plain async functions over the Store
//! port that answer serde values: routes stay thin calls, and a cache or a Socket.IO
//! emitter can wrap or call the same functions.
//!
//! The store aggregates (counts per UTC slot, duration ranks, grouped outcomes); this
//! module asks for the slot grain a local-time grid needs and folds the slots into it
//! (`outcall_domain::analytics`), so every store answers the same for any time zone.
//!
//! # Layout
//! - [`query`]: the query parameters, validated (`startDate`, `endDate`, `tz`, `groupBy`,
//!   `campaignId`, `agentId`).
//! - [`reports`]: call volume, durations, outcomes, conversation sentiment.
//! - [`dashboard`]: overview, activity feed, one call's details, realtime.

pub mod dashboard;
pub mod query;
pub mod reports;

pub use dashboard::{activity, call_details, overview, realtime};
pub use query::{AnalyticsQuery, OverviewQuery};
pub use reports::{call_duration, call_outcomes, call_volume, conversation_sentiment};
