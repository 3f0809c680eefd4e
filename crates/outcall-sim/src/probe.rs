//! An optional hook for benchmarks: each simulator reports when it writes an audio
//! frame to the server under test and when it reads one back, so the time the
//! server adds to each frame can be measured on one clock (`std::time::Instant`)
//! when the simulators and the server run in one process.
//!
//! Off by default (`probe: None` in [`TwilioSimConfig`](crate::twilio::TwilioSimConfig)
//! and [`ElevenLabsSimConfig`](crate::elevenlabs::ElevenLabsSimConfig)); when off, the
//! only cost is a check of that `Option` per frame.
//!
//! Frames carry no id across the bridge (a `user_audio_chunk` is only a payload), so
//! a probe matches them by order: per call and [`Flow`], the k-th frame read is the
//! k-th written (a WebSocket over TCP keeps order). Calls are keyed by the call sid:
//! the Twilio simulator knows it, the ElevenLabs simulator reads it from the
//! `call_sid` dynamic variable outcall sends (or uses the conversation id without it).

use std::fmt::Debug;
use std::time::Instant;

/// Which way an audio frame crosses the server under test.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Flow {
    /// The callee's audio: a Twilio `media` frame, relayed as a `user_audio_chunk`.
    CalleeToAgent,
    /// The agent's audio: an ElevenLabs `audio` event, relayed as a Twilio `media`.
    AgentToCallee,
}

/// Receives frame timestamps from the simulators. Called on the simulators' tasks,
/// once per frame: implementations should be quick and must not block for long.
pub trait FrameProbe: Debug + Send + Sync {
    /// A simulator is about to write one audio frame of `call` (`at`: just before
    /// the socket write; the message is already serialized).
    fn sent(&self, flow: Flow, call: &str, at: Instant);
    /// A simulator read one audio frame of `call` (`at`: as the frame was read,
    /// before it was parsed).
    fn received(&self, flow: Flow, call: &str, at: Instant);
}
