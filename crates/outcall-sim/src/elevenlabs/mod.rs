//! The ElevenLabs Conversational AI simulator: the signed-URL endpoint, the
//! ConvAI WebSocket where a scripted agent talks (text events and μ-law
//! audio), pings and listens, and the signed post-call webhook afterwards.
//! It speaks through `outcall_elevenlabs`' own message types, from the
//! server's side.
//!
//! ```no_run
//! # async fn demo() -> std::io::Result<()> {
//! use outcall_sim::elevenlabs::{ElevenLabsSim, ElevenLabsSimConfig};
//! let sim = ElevenLabsSim::start(ElevenLabsSimConfig::default()).await?;
//! println!("point ELEVENLABS_API_BASE at {}", sim.base_url());
//! sim.set_webhook_url("http://127.0.0.1:8080/webhooks/elevenlabs");
//! # Ok(()) }
//! ```

mod audio;
mod conversation;
mod faults;
mod rest;
mod script;
mod session;
mod socket;
mod webhook;

use std::sync::{Arc, Mutex};

pub use audio::{FRAME, FRAME_BYTES};
pub use conversation::{EndedBy, SimConversation};
pub use faults::{Delay, ElevenLabsFaults, SocketStats};
pub use script::{AgentScript, AgentTimings};

use crate::probe::FrameProbe;

/// Settings of a simulated ElevenLabs account with one agent.
#[derive(Debug, Clone)]
pub struct ElevenLabsSimConfig {
    /// The `xi-api-key` the signed-URL endpoint accepts.
    pub api_key: String,
    /// The only agent that exists.
    pub agent_id: String,
    /// Where post-call webhooks go; can also be set after start.
    pub webhook_url: Option<String>,
    /// The secret webhooks are signed with (`ElevenLabs-Signature`).
    pub webhook_secret: String,
    pub script: AgentScript,
    pub timings: AgentTimings,
    /// Told when each user audio frame is received and each agent audio frame is
    /// sent, for benchmarks ([`crate::probe`]). `None` by default.
    pub probe: Option<Arc<dyn FrameProbe>>,
    /// Set `TCP_NODELAY` on accepted connections, so Nagle's algorithm does not hold
    /// the agent's audio frames back (benchmarks timing the server under test want
    /// this). Off by default.
    pub tcp_nodelay: bool,
    /// Latency and faults to inject (none by default).
    pub faults: ElevenLabsFaults,
}

impl Default for ElevenLabsSimConfig {
    fn default() -> Self {
        Self {
            api_key: "sim-xi-key".into(),
            agent_id: "agent_sim".into(),
            webhook_url: None,
            webhook_secret: "sim-webhook-secret".into(),
            script: AgentScript::default(),
            timings: AgentTimings::default(),
            probe: None,
            tcp_nodelay: false,
            faults: ElevenLabsFaults::default(),
        }
    }
}

/// State shared by the HTTP handlers and the conversations.
#[derive(Debug)]
struct Shared {
    config: ElevenLabsSimConfig,
    /// Kept apart from `config` because the server's URL is known only
    /// after the simulator is running.
    webhook_url: Mutex<Option<String>>,
    base_url: String,
    tokens: rest::Tokens,
    conversations: conversation::Registry,
    http: reqwest::Client,
    dice: faults::Dice,
    sockets: Mutex<SocketStats>,
}

impl Shared {
    fn webhook_url(&self) -> Option<String> {
        self.webhook_url
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    fn sockets(&self) -> std::sync::MutexGuard<'_, SocketStats> {
        self.sockets.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// A running ElevenLabs simulator. Dropping it stops the server (open
/// conversations keep their sockets until they end).
#[derive(Debug)]
pub struct ElevenLabsSim {
    shared: Arc<Shared>,
    task: tokio::task::JoinHandle<()>,
}

impl ElevenLabsSim {
    /// Starts on a free loopback port.
    pub async fn start(config: ElevenLabsSimConfig) -> std::io::Result<Self> {
        Self::start_on("127.0.0.1:0", config).await
    }

    /// Starts on `addr` (e.g. `127.0.0.1:4010`), for running the simulator on its own.
    pub async fn start_on(addr: &str, mut config: ElevenLabsSimConfig) -> std::io::Result<Self> {
        let listener = tokio::net::TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        let webhook_url = config.webhook_url.take();
        let dice = faults::Dice::new(config.faults.seed);
        let shared = Arc::new(Shared {
            config,
            webhook_url: Mutex::new(webhook_url),
            base_url: format!("http://{addr}"),
            tokens: rest::Tokens::default(),
            conversations: conversation::Registry::default(),
            http: reqwest::Client::new(),
            dice,
            sockets: Mutex::new(SocketStats::default()),
        });
        let app = rest::router(shared.clone());
        let nodelay = shared.config.tcp_nodelay;
        let task = tokio::spawn(async move {
            let served = if nodelay {
                use axum::serve::ListenerExt;
                let listener = listener.tap_io(|tcp| {
                    let _ = tcp.set_nodelay(true);
                });
                axum::serve(listener, app).await
            } else {
                axum::serve(listener, app).await
            };
            if let Err(e) = served {
                tracing::error!(error = %e, "ElevenLabs simulator stopped");
            }
        });
        Ok(Self { shared, task })
    }

    /// The base URL to give outcall as `ELEVENLABS_API_BASE`
    /// (`http://127.0.0.1:PORT`).
    pub fn base_url(&self) -> &str {
        &self.shared.base_url
    }

    /// Sets (or replaces) where post-call webhooks go.
    pub fn set_webhook_url(&self, url: impl Into<String>) {
        *self
            .shared
            .webhook_url
            .lock()
            .unwrap_or_else(|p| p.into_inner()) = Some(url.into());
    }

    pub fn webhook_url(&self) -> Option<String> {
        self.shared.webhook_url()
    }

    pub fn api_key(&self) -> &str {
        &self.shared.config.api_key
    }

    pub fn agent_id(&self) -> &str {
        &self.shared.config.agent_id
    }

    pub fn webhook_secret(&self) -> &str {
        &self.shared.config.webhook_secret
    }

    /// Every conversation started so far (ongoing or ended), oldest first.
    pub fn conversations(&self) -> Vec<SimConversation> {
        self.shared.conversations.snapshots()
    }

    /// Every WebSocket connection so far, with or without a conversation.
    pub fn sockets(&self) -> SocketStats {
        self.shared.sockets().clone()
    }

    /// One conversation by id.
    pub fn conversation(&self, conversation_id: &str) -> Option<SimConversation> {
        self.conversations()
            .into_iter()
            .find(|c| c.conversation_id == conversation_id)
    }
}

impl Drop for ElevenLabsSim {
    fn drop(&mut self) {
        self.task.abort();
    }
}
