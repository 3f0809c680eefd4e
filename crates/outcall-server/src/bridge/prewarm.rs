//! Getting the agent side ready while the phone rings.
//!
//! Each call this process places gets one *warmer*: a task that owns everything
//! prepared for the call until its media stream takes it, or the call ends
//! unanswered, or the warmer's lifetime runs out. It holds the call's details (so
//! the stream needs no store read), the signed URL fetched at placement
//! (`AGENT_PREWARM=url|socket`), and with `socket` the agent WebSocket opened on
//! `ringing`. A parked socket is watched: if the agent closes it, the warmer fetches
//! a fresh URL and, while the phone still rings, opens a new socket (a few times at
//! most). The number of warmers is capped (`AGENT_PREWARM_MAX`); calls over the cap
//! start cold. Nothing here touches the audio path.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::StreamExt;
use outcall_domain::call::Call;
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::Message as AgentFrame;

use super::link::{self, AgentSocket};
use super::settings::{BridgeSettings, Prewarm};
use crate::agent::Agent;

/// A signed URL is valid 15 minutes; a warmer gives up a little before.
const LIFETIME: Duration = Duration::from_secs(14 * 60);
/// Sockets re-opened after the agent closed one, per call.
const MAX_REOPENS: u32 = 3;
/// Time to close a parked socket politely.
const CLOSE_WAIT: Duration = Duration::from_secs(1);

/// What a warmer hands to the call's media stream.
#[derive(Debug, Default)]
pub struct Ready {
    pub call: Option<Call>,
    pub url: Option<String>,
    pub socket: Option<AgentSocket>,
}

#[derive(Debug)]
enum Command {
    Ring,
    Take(oneshot::Sender<Ready>),
    End,
}

#[derive(Debug)]
struct Handle {
    tx: mpsc::Sender<Command>,
    agent_id: Option<String>,
}

/// This process's warmers, by call sid.
#[derive(Debug)]
pub struct Warmers {
    settings: BridgeSettings,
    calls: Mutex<HashMap<String, Handle>>,
}

impl Warmers {
    pub fn new(settings: BridgeSettings) -> Self {
        Self {
            settings,
            calls: Mutex::new(HashMap::new()),
        }
    }

    fn calls(&self) -> std::sync::MutexGuard<'_, HashMap<String, Handle>> {
        self.calls.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Starts the warmer of a call Twilio just accepted.
    pub fn placed(self: &Arc<Self>, agent: Option<Arc<Agent>>, call: Call) {
        let (tx, rx) = mpsc::channel(4);
        {
            let mut calls = self.calls();
            if calls.len() >= self.settings.agent_prewarm_max {
                tracing::warn!(
                    call_sid = %call.call_sid,
                    "AGENT_PREWARM_MAX calls are being made ready; this one starts cold"
                );
                return;
            }
            calls.insert(
                call.call_sid.clone(),
                Handle {
                    tx,
                    agent_id: call.agent_id.clone(),
                },
            );
        }
        let warmer = Warmer {
            owner: self.clone(),
            agent,
            mode: self.settings.agent_prewarm,
            socket_lifetime: self.settings.socket_lifetime(),
            call_sid: call.call_sid.clone(),
            call: Some(call),
            url: None,
            socket: None,
            reopens: 0,
            ringing: false,
        };
        tokio::spawn(warmer.run(rx));
    }

    fn command(&self, call_sid: &str, command: Command) -> bool {
        match self.calls().get(call_sid) {
            Some(h) => h.tx.try_send(command).is_ok(),
            None => false,
        }
    }

    /// The phone rings (or Twilio asks for the TwiML): open the socket if configured.
    pub fn ringing(&self, call_sid: &str) {
        self.command(call_sid, Command::Ring);
    }

    /// The call ended without a stream taking its warmer (busy, no answer, voicemail
    /// hung up...): close what was opened.
    pub fn ended(&self, call_sid: &str) {
        self.command(call_sid, Command::End);
    }

    /// The agent a call placed here talks to (`Some(None)`: the default agent).
    pub fn agent_of(&self, call_sid: &str) -> Option<Option<String>> {
        self.calls().get(call_sid).map(|h| h.agent_id.clone())
    }

    /// Takes what was prepared for the call; the answer comes when a fetch or connect
    /// under way finishes. `None` when nothing was prepared here.
    pub fn take(&self, call_sid: &str) -> Option<oneshot::Receiver<Ready>> {
        let (tx, rx) = oneshot::channel();
        self.command(call_sid, Command::Take(tx)).then_some(rx)
    }

    /// Calls placed here and not answered yet.
    pub fn unanswered(&self) -> Vec<String> {
        self.calls().keys().cloned().collect()
    }

    pub fn len(&self) -> usize {
        self.calls().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn remove(&self, call_sid: &str) {
        self.calls().remove(call_sid);
    }
}

/// A fetch or connect under way.
type Job = Pin<Box<dyn Future<Output = Done> + Send>>;

enum Done {
    Url(Result<String, String>),
    Socket(Result<Box<AgentSocket>, String>),
}

struct Warmer {
    owner: Arc<Warmers>,
    agent: Option<Arc<Agent>>,
    mode: Prewarm,
    socket_lifetime: Duration,
    call_sid: String,
    call: Option<Call>,
    url: Option<String>,
    /// The parked socket and when it must be given up.
    socket: Option<(AgentSocket, Instant)>,
    reopens: u32,
    ringing: bool,
}

/// A sleep until `at`, or forever.
async fn until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

/// The next message of a parked socket, or forever when none is parked.
async fn parked_next(
    socket: &mut Option<(AgentSocket, Instant)>,
) -> Option<Result<AgentFrame, tokio_tungstenite::tungstenite::Error>> {
    match socket {
        Some((s, _)) => s.next().await,
        None => std::future::pending().await,
    }
}

async fn job_done(job: &mut Option<Job>) -> Done {
    match job {
        Some(j) => j.await,
        None => std::future::pending().await,
    }
}

impl Warmer {
    fn agent_id(&self) -> Option<String> {
        let call_agent = self.call.as_ref().and_then(|c| c.agent_id.clone());
        call_agent.or_else(|| self.agent.as_ref().and_then(|a| a.agent_id.clone()))
    }

    fn fetch(&self) -> Option<Job> {
        let client = self.agent.as_ref()?.client.clone()?;
        let agent_id = self.agent_id()?;
        Some(Box::pin(async move {
            Done::Url(
                client
                    .signed_url(&agent_id)
                    .await
                    .map_err(|e| e.to_string()),
            )
        }))
    }

    fn connect(url: String) -> Job {
        Box::pin(async move { Done::Socket(link::connect(&url).await.map(Box::new)) })
    }

    /// The next step towards the configured depth, if any is due.
    fn next_job(&mut self) -> Option<Job> {
        match self.mode {
            Prewarm::Off => None,
            _ if self.socket.is_some() => None,
            Prewarm::Socket if self.ringing => match self.url.take() {
                Some(url) => Some(Self::connect(url)),
                None => self.fetch(),
            },
            _ if self.url.is_none() => self.fetch(),
            _ => None,
        }
    }

    async fn run(mut self, mut rx: mpsc::Receiver<Command>) {
        let deadline = Instant::now() + LIFETIME;
        let mut job = self.next_job();
        let mut waiting: Option<oneshot::Sender<Ready>> = None;
        loop {
            let socket_expiry = self.socket.as_ref().map(|(_, at)| *at);
            tokio::select! {
                command = rx.recv() => match command {
                    Some(Command::Ring) => {
                        self.ringing = true;
                        if job.is_none() {
                            job = self.next_job();
                        }
                    }
                    Some(Command::Take(reply)) => {
                        if job.is_some() {
                            // Nearly there: the stream waits for it (within its own bound).
                            waiting = Some(reply);
                        } else {
                            let _ = reply.send(self.hand_over());
                            break;
                        }
                    }
                    Some(Command::End) | None => break,
                },
                done = job_done(&mut job) => {
                    job = None;
                    match done {
                        Done::Url(Ok(url)) => self.url = Some(url),
                        Done::Url(Err(e)) => {
                            tracing::warn!(call_sid = %self.call_sid, error = %e, "pre-warm: no signed URL; the stream will fetch one");
                        }
                        Done::Socket(Ok(socket)) => {
                            self.socket = Some((*socket, Instant::now() + self.socket_lifetime));
                        }
                        Done::Socket(Err(e)) => {
                            tracing::warn!(call_sid = %self.call_sid, error = %e, "pre-warm: agent socket not opened; the stream will connect");
                        }
                    }
                    if let Some(reply) = waiting.take() {
                        let _ = reply.send(self.hand_over());
                        break;
                    }
                    // A URL fetched while ringing goes on to the socket.
                    if self.socket.is_none() && self.url.is_some() && self.ringing {
                        job = self.next_job();
                    }
                }
                frame = parked_next(&mut self.socket) => match frame {
                    Some(Ok(AgentFrame::Ping(_) | AgentFrame::Pong(_))) => {}
                    Some(Ok(AgentFrame::Close(_))) | Some(Err(_)) | None => {
                        tracing::info!(call_sid = %self.call_sid, "pre-warm: the agent closed the waiting socket; replacing it");
                        self.socket = None;
                        self.reopens += 1;
                        if job.is_none() {
                            job = self.fetch();
                            if self.reopens > MAX_REOPENS {
                                // Keep a fresh URL, stop re-opening.
                                self.ringing = false;
                            }
                        }
                    }
                    Some(Ok(_)) => {}
                },
                () = until(socket_expiry) => {
                    // Ringing longer than a socket should wait: keep a URL instead.
                    if let Some((socket, _)) = self.socket.take() {
                        close(socket).await;
                    }
                    self.ringing = false;
                    if job.is_none() {
                        job = self.fetch();
                    }
                }
                () = tokio::time::sleep_until(deadline) => break,
            }
        }
        if let Some((socket, _)) = self.socket.take() {
            close(socket).await;
        }
        self.owner.remove(&self.call_sid);
    }

    fn hand_over(&mut self) -> Ready {
        Ready {
            call: self.call.take(),
            url: self.url.take(),
            socket: self.socket.take().map(|(s, _)| s),
        }
    }
}

/// Closes an unused socket: no conversation was started on it.
async fn close(mut socket: AgentSocket) {
    let _ = tokio::time::timeout(CLOSE_WAIT, socket.close(None)).await;
}
