//! One measurement: the real server (in-process, SQLite in a temp dir) between the
//! Twilio and ElevenLabs simulators, N calls placed through `POST /api/outbound-call`,
//! a steady-state window, then every call hung up through `POST /api/calls/:sid/hangup`.
//!
//! The server and the simulators run on two tokio runtimes whose threads are named
//! `srv-*` and `sim-*`, so the process's CPU time can be split between the two.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::Parser;
use outcall_server::config::ServerConfig;
use outcall_server::{AppState, app, launch};
use outcall_sim::elevenlabs::{AgentScript, AgentTimings, ElevenLabsSim, ElevenLabsSimConfig};
use outcall_sim::probe::FrameProbe;
use outcall_sim::twilio::{
    MediaConfig, Scenario, ScenarioBook, Timings, TwilioSim, TwilioSimConfig,
};
use serde::{Deserialize, Serialize};
use serde_json::json;
use tokio::sync::{Semaphore, oneshot};
use tokio::task::JoinSet;

use crate::probe::{FlowTotals, Probe, percentiles};
use crate::procfs;

const KEY: &str = "bench-key";
/// One 20 ms frame a call per direction when audio flows all the time.
const FRAMES_PER_SEC: f64 = 50.0;

/// Settings of one measurement.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Settings {
    pub calls: usize,
    pub window_secs: f64,
    pub settle_secs: f64,
    pub ramp_rate: f64,
    pub ramp_concurrency: usize,
    pub server_threads: usize,
    pub sim_threads: usize,
}

/// `p50`, `p99`, `max` in milliseconds.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Latency {
    pub frames: usize,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
}

/// One direction across the bridge.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Direction {
    /// Added latency of the frames sent in the window (None when none was).
    pub latency: Option<Latency>,
    pub sent_in_window: u64,
    /// Frames sent in the window that never arrived (checked after every call ended).
    pub lost_in_window: u64,
    /// Over the calls' whole lives, as the simulators count them.
    pub sent_total: u64,
    pub received_total: u64,
    /// Reads with no frame in flight: should be 0 (else the order matching is off).
    pub unmatched: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RunResult {
    pub settings: Settings,
    pub placed: usize,
    pub place_errors: usize,
    /// Calls with audio flowing both ways when the window opened.
    pub calls_live: usize,
    /// Calls whose conversation ended before the window closed (should be 0).
    pub ended_early: usize,
    /// From the first POST until every call had audio both ways.
    pub ramp_secs: f64,
    pub window_wall_secs: f64,
    /// Process CPU time over wall time in the window; 100 = one core.
    pub cpu_percent: f64,
    /// Of which threads of the server's runtime (and its SQLite workers).
    pub cpu_server_percent: f64,
    /// Of which threads of the simulators' runtime (incl. the frame probe).
    pub cpu_sims_percent: f64,
    pub rss_before_kib: u64,
    /// RSS as the window opened, all calls live.
    pub rss_steady_kib: u64,
    pub rss_window_end_kib: u64,
    pub peak_rss_kib: u64,
    /// (rss_steady - rss_before) / calls_live: server + both simulators + probe.
    pub rss_per_call_kib: f64,
    pub open_files_steady: usize,
    /// Callee frames sent in the window over 50 a second a call: < 100 when the
    /// simulated callers could not keep their 20 ms pace (CPU starved).
    pub callee_pacing_percent: f64,
    pub callee_to_agent: Direction,
    pub agent_to_callee: Direction,
    pub hangup_errors: usize,
    /// Calls still not ended when the bench stopped waiting.
    pub not_ended: usize,
}

/// Parses configuration exactly as `outcall serve` does, from flags.
#[derive(Parser)]
struct ServerArgs {
    #[command(flatten)]
    config: ServerConfig,
}

/// The agent never runs out of lines before the bench hangs up: lines of ~6 s of
/// speech (at 60 ms a character), each answered after ~1 s of callee audio.
fn script(call_secs: f64) -> AgentScript {
    let line = "Thanks for taking the time today; let me walk you through what the new plan \
                changes for you, step by step.";
    let lines = (call_secs / 6.0).ceil() as usize + 4;
    AgentScript {
        agent_lines: vec![line.to_string(); lines],
        user_lines: vec!["Okay, go on.".to_string()],
        interrupt_after_turn: None,
    }
}

struct Server {
    base: String,
    stop: oneshot::Sender<()>,
    _dir: tempfile::TempDir,
}

async fn start_server(flags: Vec<String>) -> anyhow::Result<Server> {
    let dir = tempfile::tempdir().context("temp dir")?;
    let mut argv = vec![
        "outcall".to_string(),
        "--host=127.0.0.1".to_string(),
        "--port=0".to_string(),
        format!(
            "--database-url=sqlite://{}",
            dir.path().join("outcall.db").display()
        ),
        format!("--api-key={KEY}"),
        // Recordings happen after the call; they only add teardown work here.
        "--record-calls=false".to_string(),
    ];
    argv.extend(flags);
    let config = ServerArgs::try_parse_from(argv)?.config;
    let store = outcall_server::store::open(&config.store).await?;
    let state = AppState::new(store, &config)?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let base = format!("http://{}", listener.local_addr()?);
    let state = state.with_public_url(&base);
    let (stop, stopped) = oneshot::channel::<()>();
    let router = app(state, config.body_limit_bytes);
    tokio::spawn(async move {
        let _ = launch(
            listener,
            router,
            async {
                let _ = stopped.await;
            },
            Duration::from_secs(1),
        )
        .await;
    });
    Ok(Server {
        base,
        stop,
        _dir: dir,
    })
}

fn runtime(name: &'static str, threads: usize) -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .worker_threads(threads.max(1))
        .thread_name(name)
        .enable_all()
        .build()?)
}

/// Runs one measurement in this process.
pub fn measure(settings: &Settings) -> anyhow::Result<RunResult> {
    let srv_rt = runtime("srv-worker", settings.server_threads)?;
    let sim_rt = runtime("sim-worker", settings.sim_threads)?;
    let probe = Arc::new(Probe::new());
    // Each call lives for the ramp, the settle time, the window and a margin.
    let call_secs = settings.calls as f64 / settings.ramp_rate.max(1.0)
        + settings.settle_secs
        + settings.window_secs
        + 120.0;
    let (twilio, eleven) = sim_rt.block_on(async {
        let twilio = TwilioSim::start(TwilioSimConfig {
            timings: Timings {
                dial: Duration::from_millis(20),
                ring: Duration::from_millis(100),
                talk: Duration::from_secs(600),
                amd: Duration::from_millis(500),
            },
            calls_per_second: None,
            scenarios: ScenarioBook::all(Scenario::Human),
            media: MediaConfig {
                enabled: true,
                ..Default::default()
            },
            probe: Some(probe.clone() as Arc<dyn FrameProbe>),
            tcp_nodelay: true,
            ..Default::default()
        })
        .await?;
        let eleven = ElevenLabsSim::start(ElevenLabsSimConfig {
            script: script(call_secs),
            timings: AgentTimings::default(),
            probe: Some(probe.clone() as Arc<dyn FrameProbe>),
            tcp_nodelay: true,
            ..Default::default()
        })
        .await?;
        anyhow::Ok((twilio, eleven))
    })?;
    let flags = vec![
        format!("--twilio-account-sid={}", twilio.account_sid()),
        format!("--twilio-auth-token={}", twilio.auth_token()),
        "--twilio-from-number=+15005550006".to_string(),
        format!("--twilio-api-base={}", twilio.base_url()),
        format!("--elevenlabs-api-key={}", eleven.api_key()),
        format!("--elevenlabs-agent-id={}", eleven.agent_id()),
        format!("--elevenlabs-webhook-secret={}", eleven.webhook_secret()),
        format!("--elevenlabs-api-base={}", eleven.base_url()),
    ];
    let server = srv_rt.block_on(start_server(flags))?;
    eleven.set_webhook_url(format!("{}/webhooks/elevenlabs", server.base));
    let result = sim_rt.block_on(drive(settings, &server.base, &twilio, &eleven, &probe))?;
    // Stop serving, and give post-call webhooks a moment before the store's dir goes.
    let _ = server.stop.send(());
    std::thread::sleep(Duration::from_millis(500));
    drop(server._dir);
    Ok(result)
}

async fn drive(
    settings: &Settings,
    base: &str,
    twilio: &TwilioSim,
    eleven: &ElevenLabsSim,
    probe: &Probe,
) -> anyhow::Result<RunResult> {
    let n = settings.calls;
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()?;
    // Warm the HTTP path (and the store) before the baseline.
    client.get(format!("{base}/healthz")).send().await?;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let rss_before_kib = procfs::rss_kib();

    // Ramp: at most `ramp_rate` POSTs a second, `ramp_concurrency` in flight.
    let ramp_start = Instant::now();
    let permits = Arc::new(Semaphore::new(settings.ramp_concurrency.max(1)));
    let mut pace =
        tokio::time::interval(Duration::from_secs_f64(1.0 / settings.ramp_rate.max(0.1)));
    pace.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut posts = JoinSet::new();
    for _ in 0..n {
        pace.tick().await;
        let permit = permits.clone().acquire_owned().await?;
        let (client, url) = (client.clone(), format!("{base}/api/outbound-call"));
        posts.spawn(async move {
            let answer = client
                .post(url)
                .bearer_auth(KEY)
                .json(&json!({"to": "+14155552671", "contactName": "Bench"}))
                .send()
                .await;
            drop(permit);
            let body: serde_json::Value = answer.ok()?.json().await.ok()?;
            body["data"]["callSid"].as_str().map(str::to_string)
        });
    }
    let mut sids = Vec::with_capacity(n);
    let mut place_errors = 0;
    while let Some(done) = posts.join_next().await {
        match done.ok().flatten() {
            Some(sid) => sids.push(sid),
            None => place_errors += 1,
        }
    }
    let up_deadline = Instant::now() + Duration::from_secs(60);
    while probe.flowing_calls() < sids.len() && Instant::now() < up_deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let ramp_secs = ramp_start.elapsed().as_secs_f64();
    tokio::time::sleep(Duration::from_secs_f64(settings.settle_secs)).await;

    // The steady-state window.
    let calls_live = probe.flowing_calls();
    let window = Duration::from_secs_f64(settings.window_secs);
    let expected = (calls_live as f64 * settings.window_secs * FRAMES_PER_SEC * 1.1) as usize;
    let start = probe.open_window(window, expected);
    let rss_steady_kib = procfs::rss_kib();
    let open_files_steady = procfs::open_files();
    let (cpu0, threads0) = (procfs::process_cpu_secs(), procfs::thread_cpu_secs());
    let wall0 = Instant::now();
    tokio::time::sleep_until((start + window).into()).await;
    let (cpu1, threads1) = (procfs::process_cpu_secs(), procfs::thread_cpu_secs());
    let wall = wall0.elapsed().as_secs_f64();
    let rss_window_end_kib = procfs::rss_kib();
    let ended_early = eleven
        .conversations()
        .iter()
        .filter(|c| c.ended_by.is_some())
        .count();
    let by_group = |prefixes: &[&str]| -> f64 {
        let used = |t: &[(String, f64)]| -> f64 {
            t.iter()
                .filter(|(name, _)| prefixes.iter().any(|p| name.starts_with(p)))
                .map(|(_, s)| s)
                .sum()
        };
        (used(&threads1) - used(&threads0)).max(0.0) / wall * 100.0
    };
    let cpu_server_percent = by_group(&["srv-", "sqlx-"]);
    let cpu_sims_percent = by_group(&["sim-"]);
    let cpu_percent = (cpu1 - cpu0) / wall * 100.0;

    // Let frames in flight land, then hang every call up through the API.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let mut hangups = JoinSet::new();
    let permits = Arc::new(Semaphore::new(settings.ramp_concurrency.max(1)));
    for sid in &sids {
        let permit = permits.clone().acquire_owned().await?;
        let (client, url) = (client.clone(), format!("{base}/api/calls/{sid}/hangup"));
        hangups.spawn(async move {
            let ok = client
                .post(url)
                .bearer_auth(KEY)
                .send()
                .await
                .map(|r| r.status().is_success() || r.status().as_u16() == 409)
                .unwrap_or(false);
            drop(permit);
            ok
        });
    }
    let mut hangup_errors = 0;
    while let Some(done) = hangups.join_next().await {
        if !done.unwrap_or(false) {
            hangup_errors += 1;
        }
    }
    let end_deadline = Instant::now() + Duration::from_secs(30);
    let not_ended = loop {
        let twilio_open = sids
            .iter()
            .filter(|sid| {
                twilio.call(sid).is_some_and(|c| {
                    c.media_stats().stream_started && c.media_stats().ended.is_none()
                })
            })
            .count();
        let agent_open = eleven
            .conversations()
            .iter()
            .filter(|c| c.ended_by.is_none())
            .count();
        if twilio_open + agent_open == 0 || Instant::now() >= end_deadline {
            break twilio_open.max(agent_open);
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    };

    // Whole-call totals as the simulators count them.
    let (mut callee_sent, mut agent_received) = (0, 0);
    for sid in &sids {
        if let Some(call) = twilio.call(sid) {
            let m = call.media_stats();
            callee_sent += m.frames_sent;
            agent_received += m.frames_received;
        }
    }
    let heard: u64 = eleven
        .conversations()
        .iter()
        .map(|c| c.user_audio_frames)
        .sum();
    let [(callee, mut callee_lat), (agent, mut agent_lat)] = probe.collect();
    let direction = |t: FlowTotals, lat: &mut Vec<u32>, sent_total, received_total| Direction {
        latency: percentiles(lat).map(|[p50, p99, max]| Latency {
            frames: lat.len(),
            p50_ms: p50,
            p99_ms: p99,
            max_ms: max,
        }),
        sent_in_window: t.sent_in_window,
        lost_in_window: t.sent_in_window.saturating_sub(t.received_in_window),
        sent_total,
        received_total,
        unmatched: t.unmatched,
    };
    let callee_pacing_percent = if calls_live == 0 {
        0.0
    } else {
        callee.sent_in_window as f64 / (calls_live as f64 * settings.window_secs * FRAMES_PER_SEC)
            * 100.0
    };
    Ok(RunResult {
        settings: settings.clone(),
        placed: sids.len(),
        place_errors,
        calls_live,
        ended_early,
        ramp_secs,
        window_wall_secs: wall,
        cpu_percent,
        cpu_server_percent,
        cpu_sims_percent,
        rss_before_kib,
        rss_steady_kib,
        rss_window_end_kib,
        peak_rss_kib: procfs::peak_rss_kib(),
        rss_per_call_kib: if calls_live == 0 {
            0.0
        } else {
            rss_steady_kib.saturating_sub(rss_before_kib) as f64 / calls_live as f64
        },
        open_files_steady,
        callee_pacing_percent,
        // The agent's audio count comes from the probe: the ElevenLabs simulator
        // keeps none of its own.
        callee_to_agent: direction(callee, &mut callee_lat, callee_sent, heard),
        agent_to_callee: direction(agent, &mut agent_lat, agent.sent, agent_received),
        hangup_errors,
        not_ended,
    })
}

/// Writes `result` as JSON to `path` (the parent process reads it).
pub fn write(path: &Path, result: &RunResult) -> anyhow::Result<()> {
    std::fs::write(path, serde_json::to_vec_pretty(result)?)?;
    Ok(())
}
