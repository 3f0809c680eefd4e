//! The Twilio simulator: the REST API for calls, then each call's life as Twilio
//! runs it, calling back the server under test over HTTP with signed requests,
//! running the TwiML it answers with and, when [`MediaConfig::enabled`], opening
//! the `<Connect><Stream>` media stream ([`media`]).
//!
//! ```no_run
//! # async fn demo() -> std::io::Result<()> {
//! use outcall_sim::twilio::{TwilioSim, TwilioSimConfig};
//! let sim = TwilioSim::start(TwilioSimConfig::default()).await?;
//! println!("point TWILIO_API_BASE at {}", sim.base_url());
//! # Ok(()) }
//! ```

mod calls;
pub mod faults;
mod lifecycle;
mod listener;
pub mod log;
pub mod media;
mod rest;
pub mod scenario;
mod twiml;

use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

pub use calls::{CallRequest, SimCall, Stage};
pub use faults::{
    CallbackFault, CallbackRule, CreateFault, CreateRule, TwilioFaultRates, TwilioFaults,
};
pub use log::{CallbackRecord, CreateRecord, HangupRecord, OutageRecord, SimLog};
pub use media::{MediaConfig, MediaStats, StreamEnd};
pub use scenario::{Scenario, ScenarioBook, Timings};

use crate::faults::Dice;
use crate::probe::FrameProbe;

/// Settings of a simulated Twilio account.
#[derive(Debug)]
pub struct TwilioSimConfig {
    pub account_sid: String,
    pub auth_token: String,
    pub timings: Timings,
    /// Calls accepted per second before answering 429 (Twilio's default is 1). `None`: no limit.
    pub calls_per_second: Option<u32>,
    pub scenarios: ScenarioBook,
    /// Media streams of `<Connect><Stream>` (off by default).
    pub media: MediaConfig,
    /// Told when each callee audio frame is sent and each agent audio frame is
    /// received on a media stream, for benchmarks ([`crate::probe`]). `None` by default.
    pub probe: Option<Arc<dyn FrameProbe>>,
    /// Set `TCP_NODELAY` on media-stream connections, so Nagle's algorithm does not
    /// hold the callee's audio frames back (benchmarks timing the server under test
    /// want this). Off by default.
    pub tcp_nodelay: bool,
    /// The seeded random fault profile ([`TwilioFaultRates::none`] by default);
    /// scripted rules are added after start through [`TwilioSim::faults`].
    pub faults: TwilioFaultRates,
    /// The seed of the fault profile's decisions.
    pub fault_seed: u64,
}

impl Default for TwilioSimConfig {
    fn default() -> Self {
        Self {
            account_sid: "AC00000000000000000000000000000000".into(),
            auth_token: "sim-auth-token".into(),
            timings: Timings::default(),
            calls_per_second: None,
            scenarios: ScenarioBook::all(Scenario::Human),
            media: MediaConfig::default(),
            probe: None,
            tcp_nodelay: false,
            faults: TwilioFaultRates::none(),
            fault_seed: 0,
        }
    }
}

/// A fixed-window calls-per-second limit.
#[derive(Debug)]
struct Limiter {
    per_second: Option<u32>,
    window: Mutex<(Instant, u32)>,
    /// Requests answered 429 so far.
    refused: std::sync::atomic::AtomicU64,
}

impl Limiter {
    fn try_acquire(&self) -> bool {
        let Some(limit) = self.per_second else {
            return true;
        };
        let mut w = self.window.lock().unwrap_or_else(|p| p.into_inner());
        if w.0.elapsed() >= Duration::from_secs(1) {
            *w = (Instant::now(), 0);
        }
        if w.1 < limit {
            w.1 += 1;
            true
        } else {
            self.refused
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            false
        }
    }
}

/// State shared by the REST handlers and the call lifecycles.
#[derive(Debug)]
struct Shared {
    config: TwilioSimConfig,
    /// Kept apart from `config` so the config can be taken whole at start.
    scenarios: ScenarioBook,
    calls: calls::CallRegistry,
    /// Calls created and not yet in a final status, and the most there ever were.
    live: std::sync::atomic::AtomicUsize,
    peak_live: std::sync::atomic::AtomicUsize,
    /// Callbacks decided and not yet delivered (or dropped), delayed ones included.
    pending_callbacks: std::sync::atomic::AtomicUsize,
    limiter: Limiter,
    http: reqwest::Client,
    base_url: OnceLock<String>,
    faults: Arc<TwilioFaults>,
    log: log::LogBook,
}

impl Shared {
    fn base_url(&self) -> &str {
        self.base_url.get().map(String::as_str).unwrap_or("")
    }

    /// Waits one hop's simulated latency.
    async fn hop(&self, dice: Option<&Dice>) {
        let wait = self.faults.hop_latency(dice);
        if !wait.is_zero() {
            tokio::time::sleep(wait).await;
        }
    }

    /// Starts an outage of the REST listener, logged.
    fn outage(&self, d: Duration) {
        self.log.outage(log::OutageRecord {
            at: chrono::Utc::now(),
            for_ms: u64::try_from(d.as_millis()).unwrap_or(u64::MAX),
        });
        self.faults.refuse_for(d);
    }

    /// POSTs a signed form request to the server under test, retrying once on failure
    /// as Twilio does; returns the answer's body on success.
    async fn deliver(&self, url: &str, params: Vec<(String, String)>) -> Option<String> {
        let signature = outcall_twilio::signature::sign_form(url, &params, &self.config.auth_token);
        for attempt in 0..2 {
            let sent = self
                .http
                .post(url)
                .header("X-Twilio-Signature", &signature)
                .form(&params)
                .timeout(Duration::from_secs(15))
                .send()
                .await;
            match sent {
                Ok(res) if res.status().is_success() => return res.text().await.ok(),
                Ok(res) => tracing::warn!(url, status = %res.status(), attempt, "callback refused"),
                Err(e) => tracing::warn!(url, error = %e, attempt, "callback failed"),
            }
        }
        None
    }
}

/// A running Twilio simulator.
#[derive(Debug)]
pub struct TwilioSim {
    shared: Arc<Shared>,
    task: tokio::task::JoinHandle<()>,
}

impl TwilioSim {
    /// Starts on a free loopback port.
    pub async fn start(config: TwilioSimConfig) -> std::io::Result<Self> {
        Self::start_on("127.0.0.1:0", config).await
    }

    /// Starts on `addr` (e.g. `127.0.0.1:4010`), for running the simulator on its own.
    pub async fn start_on(addr: &str, mut config: TwilioSimConfig) -> std::io::Result<Self> {
        let faults = Arc::new(TwilioFaults::new(config.faults.clone(), config.fault_seed));
        let slot = listener::ListenSlot::new(tokio::net::TcpListener::bind(addr).await?)?;
        faults.set_listener(slot.clone());
        let addr = slot.addr();
        let listener = listener::SimListener(slot);
        let scenarios =
            std::mem::replace(&mut config.scenarios, ScenarioBook::all(Scenario::Human));
        let shared = Arc::new(Shared {
            limiter: Limiter {
                per_second: config.calls_per_second,
                window: Mutex::new((Instant::now(), 0)),
                refused: Default::default(),
            },
            config,
            scenarios,
            calls: calls::CallRegistry::default(),
            live: Default::default(),
            peak_live: Default::default(),
            pending_callbacks: Default::default(),
            http: reqwest::Client::new(),
            base_url: OnceLock::new(),
            faults,
            log: log::LogBook::default(),
        });
        let _ = shared.base_url.set(format!("http://{addr}"));
        let app =
            rest::router(shared.clone()).into_make_service_with_connect_info::<listener::Peer>();
        let task = tokio::spawn(async move {
            if let Err(e) = axum::serve(listener, app).await {
                tracing::error!(error = %e, "Twilio simulator stopped");
            }
        });
        Ok(Self { shared, task })
    }

    /// The base URL to give outcall as `TWILIO_API_BASE`.
    pub fn base_url(&self) -> &str {
        self.shared.base_url()
    }

    pub fn account_sid(&self) -> &str {
        &self.shared.config.account_sid
    }

    pub fn auth_token(&self) -> &str {
        &self.shared.config.auth_token
    }

    /// A call placed through the simulator, by sid.
    pub fn call(&self, sid: &str) -> Option<SimCall> {
        self.shared.calls.get(sid)
    }

    /// Every call placed through the simulator, in no particular order.
    pub fn calls(&self) -> Vec<SimCall> {
        self.shared.calls.all()
    }

    /// The most calls that were live (created, not yet final) at once.
    pub fn peak_live_calls(&self) -> usize {
        self.shared
            .peak_live
            .load(std::sync::atomic::Ordering::SeqCst)
    }

    /// Calls live now (created, not yet final).
    pub fn live_calls(&self) -> usize {
        self.shared.live.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// Whether nothing is left to happen: no call live, no callback waiting to go
    /// out (a delayed one included). Tests wait for this before reading final state.
    pub fn is_quiet(&self) -> bool {
        use std::sync::atomic::Ordering::SeqCst;
        self.shared.live.load(SeqCst) == 0 && self.shared.pending_callbacks.load(SeqCst) == 0
    }

    /// How many calls were accepted.
    pub fn calls_placed(&self) -> usize {
        self.shared.calls.len()
    }

    /// The fault controls: scripted rules, the seeded profile, latency, outages.
    pub fn faults(&self) -> &Arc<TwilioFaults> {
        &self.shared.faults
    }

    /// What the simulator received so far (also at `GET /_sim/log`).
    pub fn log(&self) -> SimLog {
        self.shared.log.snapshot()
    }

    /// How many create-call requests were answered 429 by the calls-per-second limit.
    pub fn calls_rate_limited(&self) -> u64 {
        self.shared
            .limiter
            .refused
            .load(std::sync::atomic::Ordering::Relaxed)
    }
}

impl Drop for TwilioSim {
    fn drop(&mut self) {
        self.task.abort();
    }
}
