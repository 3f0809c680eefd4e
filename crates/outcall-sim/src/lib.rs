//! Loopback simulators of the services outcall talks to, speaking their public
//! protocols (`shared/spec/protocols.md`) so the real clients can be tested and
//! demonstrated without an account. Each is a library; `outcall demo` runs them.
//!
//! # Layout
//! - [`twilio`]: Twilio's REST API for calls, status/AMD/recording callbacks.

pub mod twilio;
