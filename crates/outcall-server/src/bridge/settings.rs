//! The media bridge's settings: how much of the agent conversation is made ready
//! while the phone rings, and how long the agent side may take.

use std::time::Duration;

use clap::{Args, ValueEnum};

/// How far the agent side is made ready before the callee answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Prewarm {
    /// Fetch the signed URL when the call is placed and open the agent WebSocket
    /// while the phone rings: at `start` only the client data is sent. ElevenLabs
    /// bills agent minutes by connection time, so the ringing (and a callee who never
    /// answers) may be billed, and open sockets count towards the concurrency limit.
    Socket,
    /// Fetch the signed URL (valid 15 minutes) when the call is placed: at `start`
    /// the socket is connected and the client data sent. Nothing is billed before
    /// the callee answers.
    Url,
    /// Nothing ahead: at `start` the signed URL is fetched, then the socket opened.
    Off,
}

#[derive(Debug, Clone, Args)]
pub struct BridgeSettings {
    /// How much of the agent conversation is made ready while the phone rings:
    /// `url` (the signed URL is fetched when the call is placed; nothing billed before
    /// the answer), `socket` (the agent WebSocket is also opened on `ringing`; faster
    /// pickup, but ElevenLabs may bill the connection from the moment it opens) or `off`.
    #[arg(long, env = "AGENT_PREWARM", value_enum, default_value = "url")]
    pub agent_prewarm: Prewarm,

    /// Calls made ready ahead at most in this process; calls over it start cold.
    #[arg(long, env = "AGENT_PREWARM_MAX", default_value_t = 1000)]
    pub agent_prewarm_max: usize,

    /// How long a socket opened while ringing is kept waiting for the answer, seconds
    /// (Twilio rings 60 s by default); then it is closed and a fresh signed URL kept.
    #[arg(long, env = "AGENT_PREWARM_SOCKET_SECS", default_value_t = 75)]
    pub agent_prewarm_socket_secs: u64,

    /// How long the agent conversation may take to open (signed URL and WebSocket),
    /// milliseconds; then the call is ended with `terminatedBy: "system"`.
    #[arg(long, env = "AGENT_CONNECT_TIMEOUT_MS", default_value_t = 5000)]
    pub agent_connect_timeout_ms: u64,

    /// How long one write to either socket of a call may take, milliseconds; a peer
    /// that stops reading ends the call with `terminatedBy: "system"`.
    #[arg(long, env = "AGENT_SEND_TIMEOUT_MS", default_value_t = 2000)]
    pub agent_send_timeout_ms: u64,
}

impl Default for BridgeSettings {
    fn default() -> Self {
        Self {
            agent_prewarm: Prewarm::Url,
            agent_prewarm_max: 1000,
            agent_prewarm_socket_secs: 75,
            agent_connect_timeout_ms: 5000,
            agent_send_timeout_ms: 2000,
        }
    }
}

impl BridgeSettings {
    pub fn connect_timeout(&self) -> Duration {
        Duration::from_millis(self.agent_connect_timeout_ms.max(1))
    }

    pub fn send_timeout(&self) -> Duration {
        Duration::from_millis(self.agent_send_timeout_ms.max(1))
    }

    pub fn socket_lifetime(&self) -> Duration {
        Duration::from_secs(self.agent_prewarm_socket_secs.max(1))
    }
}
