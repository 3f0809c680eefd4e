//! Loopback simulators of the services outcall talks to, speaking their public
//! protocols (`shared/spec/protocols.md`) so the real clients can be tested and
//! demonstrated without an account. Each is a library; `outcall demo` runs them.
//!
//! # Layout
//! - [`twilio`]: Twilio's REST API for calls, status/AMD/recording callbacks.
//! - [`elevenlabs`]: ElevenLabs' signed-URL endpoint, the ConvAI WebSocket with a
//!   scripted agent, and the signed post-call webhook.
//! - [`sheets`]: Google's service-account token endpoint and the Sheets v4
//!   values API (read, batchUpdate) over spreadsheets held in memory.
//! - [`faults`]: seeded fault and latency profiles (`none`, `flaky`, `chaos`)
//!   the simulators share; the Twilio simulator also takes scripted faults.
//! - [`probe`]: an optional hook timestamping audio frames, for benchmarks.

pub mod elevenlabs;
pub mod faults;
pub mod probe;
pub mod sheets;
pub mod twilio;
