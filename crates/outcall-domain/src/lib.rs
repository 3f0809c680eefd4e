//! Pure types and rules of outcall. No I/O: nothing here touches a database,
//! a socket or the clock except through [`time::now`].
//!
//! # Layout
//! - [`id`]: `ObjectId`, the 24-hex-digit `_id` of every document.
//! - [`phone`]: `PhoneNumber`, parsed and normalised to E.164.
//! - [`analytics`]: counts the stores aggregate, local-time buckets, percentiles.
//! - [`call`]: the call record and its status precedence rules.
//! - [`recording`], [`transcript`], [`event`]: what hangs off a call.
//! - [`callstats`]: daily rollups of calls, kept when calls are archived.
//! - [`campaign`]: campaigns and their state machine.
//! - [`contact`], [`campaign_contact`]: who is called, and per-campaign dial state.
//! - [`attempt`]: the state machine of one dial attempt (claim to retry or final).
//! - [`dialing`]: the campaign engine's decisions: calling windows, retries, pacing.
//! - [`dnc`]: the number-level do-not-call list, and why a number is blocked.
//! - [`page`]: pagination and sorting shared by every list.
//! - [`stored`]: reading documents other systems wrote (unknown values and fields kept).
//! - [`validate`]: small validation helpers shared by the types.

pub mod analytics;
pub mod attempt;
pub mod call;
pub mod callstats;
pub mod campaign;
pub mod campaign_contact;
pub mod contact;
pub mod dialing;
pub mod dnc;
pub mod event;
pub mod id;
pub mod page;
pub mod phone;
pub mod recording;
pub mod stored;
pub mod time;
pub mod transcript;
pub mod validate;

pub use call::{Call, CallStatus, StatusChange, StatusUpdate};
pub use campaign::{Campaign, CampaignAction, CampaignStatus};
pub use campaign_contact::CampaignContact;
pub use contact::{Contact, ContactStatus};
pub use event::CallEvent;
pub use id::ObjectId;
pub use page::{Page, PageRequest, SortOrder};
pub use phone::PhoneNumber;
pub use recording::Recording;
pub use transcript::Transcript;
pub use validate::ValidationError;
