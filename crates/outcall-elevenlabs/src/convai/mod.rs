//! ConvAI WebSocket messages (`wss://…/v1/convai/conversation`), both
//! directions, as `protocols.md` and ElevenLabs' AsyncAPI describe them.
//!
//! Text frames are JSON. Client → server messages carry a `type`, except the
//! audio chunk `{"user_audio_chunk": "…"}`; server → client messages are
//! `{"type": T, "<payload key>": {…}}` where the payload key is usually
//! `<T>_event`, with a few historical exceptions noted on each variant.
//! Unknown server types parse to [`ServerMessage::Unknown`] (ElevenLabs adds
//! types over time), and unknown fields are ignored everywhere.
//!
//! This module owns no socket and does no I/O; the bridge and the simulator
//! read and write frames with it.

mod client_message;
mod interruption;
mod server_message;

pub use client_message::{
    AgentOverride, ClientMessage, ClientToolResult, ContextualUpdate, ConversationConfigOverride,
    ConversationInitiationClientData, DynamicValue, Pong, PromptOverride, TtsOverride,
    UserAudioChunk, user_audio_chunk_json,
};
pub use interruption::{InterruptionGate, is_interrupted};
pub use server_message::{
    AgentResponseCorrectionEvent, AgentResponseEvent, AudioEvent, ClientToolCall,
    ConversationInitiationMetadata, InterruptionEvent, PingEvent, ServerMessage,
    TentativeAgentResponseEvent, UserTranscriptionEvent, VadScoreEvent,
};

/// The audio format outcall configures on the agent, both ways, so that
/// Twilio's 8 kHz μ-law payloads pass through unchanged.
pub const ULAW_8000: &str = "ulaw_8000";
