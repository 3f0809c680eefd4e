//! Twilio adapter of outcall: everything that speaks Twilio's protocols, and
//! nothing else. This crate knows no store, no server and no domain rules; the
//! server maps these wire types onto its own. The loopback simulator in
//! `outcall-sim` uses the same types (and [`signature::sign_form`]) from the
//! other side, so both ends share one reading of `protocols.md`.
//!
//! # Layout
//! - [`client`]: `TwilioClient`, the REST client (create, hang up, fetch a call).
//! - [`error`]: `TwilioError`, and which failures are worth retrying.
//! - [`retry`]: `with_retry`, exponential backoff that honours `Retry-After`.
//! - [`twiml`]: the TwiML documents outcall answers with.
//! - [`signature`]: `X-Twilio-Signature` computation and validation.
//! - [`webhook`]: typed status, AMD and recording callbacks parsed from form pairs.
//! - [`media`]: Media Streams WebSocket messages, both directions.

#![forbid(unsafe_code)]

pub mod client;
pub mod error;
pub mod media;
pub mod retry;
pub mod signature;
pub mod twiml;
pub mod webhook;

pub use client::{
    CallResource, CreateCall, MachineDetection, MachineDetectionMode, RecordingChannels,
    RecordingEvent, RecordingTrack, StatusCallbackEvent, TwilioClient, TwilioConfig,
};
pub use error::{ApiError, TwilioError};
pub use retry::{RetryPolicy, with_retry};
pub use webhook::{AmdCallback, AnsweredBy, CallStatus, RecordingCallback, StatusCallback};
