//! ElevenLabs adapter of outcall: everything that speaks ElevenLabs'
//! Conversational AI protocols (`protocols.md`, "ElevenLabs Conversational
//! AI"), and nothing else. This crate knows no store, no server and no domain
//! rules, and it owns no WebSocket: the media bridge in the server holds the
//! sockets and uses these types and pure functions to read and write frames.
//! The loopback simulator in `outcall-sim` uses the same types (and
//! [`signature::sign`]) from the other side, so both ends share one reading of
//! the protocol.
//!
//! # Layout
//! - [`client`]: `ElevenLabsClient`, the HTTP client that fetches a signed
//!   conversation URL.
//! - [`error`]: `ElevenLabsError`, and which failures are worth retrying.
//! - [`convai`]: ConvAI WebSocket messages, both directions, and the
//!   interruption rule for agent audio.
//! - [`webhook`]: post-call webhook bodies (`post_call_transcription`,
//!   `post_call_audio`, `call_initiation_failure`).
//! - [`signature`]: `ElevenLabs-Signature` signing and verification.

#![forbid(unsafe_code)]

pub mod client;
pub mod convai;
pub mod error;
pub mod signature;
pub mod webhook;

pub use client::{ElevenLabsClient, ElevenLabsConfig};
pub use convai::{
    ClientMessage, ConversationInitiationClientData, DynamicValue, InterruptionGate, ServerMessage,
    user_audio_chunk_json,
};
pub use error::ElevenLabsError;
pub use signature::SignatureError;
pub use webhook::{PostCallWebhook, WebhookEvent};
