//! One measurement. This process plays the load: the Twilio simulator (callers
//! streaming 20 ms μ-law frames) and the ElevenLabs simulator (an agent speaking in
//! real time), both reporting to one frame probe, and the driver placing calls. The
//! server under test, outcall or the minimal relay, runs as a child process pinned to
//! its own core (`taskset`); its CPU time and RSS are read from /proc.

use std::collections::HashSet;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use outcall_sim::elevenlabs::{
    AgentScript, AgentTimings, Delay, ElevenLabsFaults, ElevenLabsSim, ElevenLabsSimConfig,
};
use outcall_sim::probe::FrameProbe;
use outcall_sim::twilio::{
    MediaConfig, Scenario, ScenarioBook, Timings, TwilioSim, TwilioSimConfig,
};
use serde::{Deserialize, Serialize};
use serde_json::json;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use crate::probe::{Probe, percentiles};
use crate::procfs;

pub const KEY: &str = "bench-key";
const FROM: &str = "+15005550006";
/// The callee of the live calls.
const TO: &str = "+14155552671";
/// The callee of the warm-up calls: the line is busy, so they end without media.
const TO_BUSY: &str = "+14155550100";

/// The server under test.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
pub enum System {
    Outcall,
    Minimal,
}

/// Settings of one measurement.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Settings {
    pub system: System,
    pub calls: usize,
    pub window_secs: f64,
    pub settle_secs: f64,
    /// Call starts per second.
    pub ramp_rate: f64,
    pub ramp_concurrency: usize,
    /// Calls placed to a busy line, and finished, before the baseline RSS is read.
    pub warmup_calls: usize,
    /// `taskset -c` of the server; None: not pinned.
    pub server_core: Option<String>,
    /// outcall's `AGENT_PREWARM`.
    pub prewarm: String,
    /// Round trip added to each ElevenLabs hop (signed URL, WebSocket connect), ms.
    pub eleven_rtt_ms: u64,
    /// How long the phones ring, ms.
    pub ring_ms: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Latency {
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RunResult {
    pub settings: Settings,
    pub placed: usize,
    pub place_errors: usize,
    /// Calls with audio flowing both ways when the window opened.
    pub calls_live: usize,
    /// Calls placed whose stream never reached the agent (refused or failed).
    pub refused: usize,
    pub ramp_secs: f64,
    /// Server CPU seconds per relayed frame (both directions), microseconds.
    pub cpu_us_per_frame: f64,
    /// Server CPU over the window, % of one core.
    pub cpu_percent: f64,
    pub frames_in_window: u64,
    /// RSS 300 ms after the server started listening.
    pub rss_cold_kib: u64,
    /// RSS after the warm-up calls ended: the baseline.
    pub rss_before_kib: u64,
    pub rss_steady_kib: u64,
    /// (steady - baseline) / live calls.
    pub rss_per_call_kib: f64,
    /// (steady - cold) / live calls: also counts what the warm-up set up.
    pub rss_per_call_cold_kib: f64,
    pub callee_to_agent: Option<Latency>,
    pub agent_to_callee: Option<Latency>,
    /// Twilio's `start` to the client data at the agent, per call.
    pub pickup: Option<Latency>,
}

/// A server child process, killed on drop.
struct ServerChild {
    child: Child,
    base: String,
}

impl Drop for ServerChild {
    fn drop(&mut self) {
        // Our own child, by its handle.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn spawn_server(
    settings: &Settings,
    twilio: &TwilioSim,
    eleven: &ElevenLabsSim,
    dir: &std::path::Path,
) -> anyhow::Result<ServerChild> {
    let exe = std::env::current_exe()?;
    let args: Vec<String> = vec![
        format!(
            "--serve={}",
            match settings.system {
                System::Outcall => "outcall",
                System::Minimal => "minimal",
            }
        ),
        format!("--twilio-base={}", twilio.base_url()),
        format!("--twilio-sid={}", twilio.account_sid()),
        format!("--twilio-token={}", twilio.auth_token()),
        format!("--eleven-base={}", eleven.base_url()),
        format!("--eleven-key={}", eleven.api_key()),
        format!("--eleven-agent={}", eleven.agent_id()),
        format!("--eleven-secret={}", eleven.webhook_secret()),
        format!("--prewarm={}", settings.prewarm),
        format!("--db={}", dir.join("outcall.db").display()),
    ];
    let mut command = match &settings.server_core {
        Some(core) => {
            let mut c = Command::new("taskset");
            c.arg("-c").arg(core).arg(exe);
            c
        }
        None => Command::new(exe),
    };
    // `BENCH_SERVER_ENV_<NAME>=value` sets `<NAME>` for the server child only, e.g. to
    // preload heaptrack into it and not into the load; `{system}` in the value becomes
    // `outcall` or `minimal`.
    let system = format!("{:?}", settings.system).to_lowercase();
    for (key, value) in std::env::vars() {
        if let Some(name) = key.strip_prefix("BENCH_SERVER_ENV_") {
            command.env(name, value.replace("{system}", &system));
        }
    }
    command
        .args(&args)
        .env("RUST_LOG", "error")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    let mut child = command.spawn().context("starting the server child")?;
    let stdout = child.stdout.take().context("child stdout")?;
    let mut lines = BufReader::new(stdout);
    let base = loop {
        let mut line = String::new();
        if lines.read_line(&mut line)? == 0 {
            anyhow::bail!("the server child exited before listening");
        }
        if let Some(base) = line.strip_prefix("LISTENING ") {
            break base.trim().to_string();
        }
    };
    Ok(ServerChild { child, base })
}

fn script() -> AgentScript {
    let line = "Thanks for taking the time today; let me walk you through what the new plan \
                changes for you, step by step.";
    AgentScript {
        agent_lines: vec![line.to_string(); 200],
        user_lines: vec!["Okay, go on.".to_string()],
        interrupt_after_turn: None,
    }
}

/// Runs one measurement on the current runtime.
pub async fn measure(settings: &Settings) -> anyhow::Result<RunResult> {
    let probe = Arc::new(Probe::new());
    let twilio = TwilioSim::start(TwilioSimConfig {
        timings: Timings {
            dial: Duration::from_millis(20),
            ring: Duration::from_millis(settings.ring_ms),
            talk: Duration::from_secs(600),
            amd: Duration::from_millis(500),
        },
        scenarios: ScenarioBook::all(Scenario::Human).with(TO_BUSY, Scenario::Busy),
        media: MediaConfig {
            enabled: true,
            ..Default::default()
        },
        probe: Some(probe.clone() as Arc<dyn FrameProbe>),
        tcp_nodelay: true,
        ..Default::default()
    })
    .await?;
    let rtt = Delay::fixed(Duration::from_millis(settings.eleven_rtt_ms));
    let eleven = ElevenLabsSim::start(ElevenLabsSimConfig {
        script: script(),
        timings: AgentTimings::default(),
        probe: Some(probe.clone() as Arc<dyn FrameProbe>),
        tcp_nodelay: true,
        faults: ElevenLabsFaults {
            signed_url_delay: rtt,
            connect_delay: rtt,
            ..Default::default()
        },
        ..Default::default()
    })
    .await?;
    let dir = tempfile::tempdir()?;
    let server = spawn_server(settings, &twilio, &eleven, dir.path())?;
    let pid = server.child.id();
    eleven.set_webhook_url(format!("{}/webhooks/elevenlabs", server.base));
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()?;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let rss_cold_kib = procfs::pid_rss_kib(pid);
    // What does not grow with live calls is set up before the baseline: the same
    // burst of placements (the driver's kept-alive connections, the server's client
    // pools and store connections, the allocator's high-water mark), to a busy line.
    if settings.warmup_calls > 0 {
        place_all(
            settings,
            &client,
            &server.base,
            &twilio,
            settings.warmup_calls,
            TO_BUSY,
        )
        .await?;
        let quiet_deadline = Instant::now() + Duration::from_secs(30);
        while !twilio.is_quiet() && Instant::now() < quiet_deadline {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        // Quiet: every call ended and every status callback was answered.
        anyhow::ensure!(
            twilio.is_quiet(),
            "the warm-up calls did not end within 30 s"
        );
    }
    let rss_before_kib = procfs::pid_rss_kib(pid);

    let ramp_start = Instant::now();
    let (sids, place_errors) =
        place_all(settings, &client, &server.base, &twilio, settings.calls, TO).await?;
    let up_deadline = Instant::now() + Duration::from_secs(60);
    while probe.flowing_calls() < sids.len() && Instant::now() < up_deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let ramp_secs = ramp_start.elapsed().as_secs_f64();
    tokio::time::sleep(Duration::from_secs_f64(settings.settle_secs)).await;

    let calls_live = probe.flowing_calls();
    let window = Duration::from_secs_f64(settings.window_secs);
    let expected = (calls_live as f64 * settings.window_secs * 50.0 * 1.1) as usize;
    let rss_steady_kib = procfs::pid_rss_kib(pid);
    let cpu0 = procfs::pid_cpu_secs(pid);
    let start = probe.open_window(window, expected);
    tokio::time::sleep_until((start + window).into()).await;
    let cpu1 = procfs::pid_cpu_secs(pid);
    let wall = start.elapsed().as_secs_f64();
    // Let the window's frames land.
    tokio::time::sleep(Duration::from_millis(500)).await;

    let conversations = eleven.conversations();
    let talked: HashSet<String> = conversations
        .iter()
        .filter_map(|c| c.client_data["dynamic_variables"]["call_sid"].as_str())
        .map(str::to_string)
        .collect();
    let refused = sids.iter().filter(|s| !talked.contains(*s)).count();
    let firsts = probe.first_callee_frames();
    let mut pickups: Vec<u32> = conversations
        .iter()
        .filter_map(|c| {
            let sid = c.client_data["dynamic_variables"]["call_sid"].as_str()?;
            let first = firsts.get(sid)?;
            let micros = c.initiated_at.saturating_duration_since(*first).as_micros();
            u32::try_from(micros).ok()
        })
        .collect();
    let [(callee, mut callee_lat), (agent, mut agent_lat)] = probe.collect();
    let frames = callee.received_in_window + agent.received_in_window;
    let cpu = (cpu1 - cpu0).max(0.0);
    let latency = |l: &mut Vec<u32>| {
        percentiles(l).map(|[p50, p99, max]| Latency {
            p50_ms: p50,
            p99_ms: p99,
            max_ms: max,
        })
    };
    drop(server);
    let per_call = |base: u64| {
        if calls_live == 0 {
            0.0
        } else {
            rss_steady_kib.saturating_sub(base) as f64 / calls_live as f64
        }
    };
    Ok(RunResult {
        settings: settings.clone(),
        placed: sids.len(),
        place_errors,
        calls_live,
        refused,
        ramp_secs,
        cpu_us_per_frame: if frames == 0 {
            0.0
        } else {
            cpu / frames as f64 * 1e6
        },
        cpu_percent: cpu / wall * 100.0,
        frames_in_window: frames,
        rss_cold_kib,
        rss_before_kib,
        rss_steady_kib,
        rss_per_call_kib: per_call(rss_before_kib),
        rss_per_call_cold_kib: per_call(rss_cold_kib),
        callee_to_agent: latency(&mut callee_lat),
        agent_to_callee: latency(&mut agent_lat),
        pickup: latency(&mut pickups),
    })
}

/// Starts `calls` calls to `to` at `ramp_rate` a second: through outcall's API, or
/// straight at the Twilio simulator with the minimal relay's webhooks.
async fn place_all(
    settings: &Settings,
    client: &reqwest::Client,
    base: &str,
    twilio: &TwilioSim,
    calls: usize,
    to: &str,
) -> anyhow::Result<(Vec<String>, usize)> {
    let permits = Arc::new(Semaphore::new(settings.ramp_concurrency.max(1)));
    let mut pace =
        tokio::time::interval(Duration::from_secs_f64(1.0 / settings.ramp_rate.max(0.1)));
    pace.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut posts = JoinSet::new();
    for _ in 0..calls {
        pace.tick().await;
        let permit = permits.clone().acquire_owned().await?;
        let client = client.clone();
        let request = match settings.system {
            System::Outcall => client
                .post(format!("{base}/api/outbound-call"))
                .bearer_auth(KEY)
                .json(&json!({"to": to, "contactName": "Bench"})),
            System::Minimal => client
                .post(format!(
                    "{}/2010-04-01/Accounts/{}/Calls.json",
                    twilio.base_url(),
                    twilio.account_sid()
                ))
                .basic_auth(twilio.account_sid(), Some(twilio.auth_token()))
                .form(&[
                    ("To", to.to_string()),
                    ("From", FROM.to_string()),
                    ("Url", format!("{base}/voice")),
                    ("StatusCallback", format!("{base}/status")),
                ]),
        };
        let system = settings.system;
        posts.spawn(async move {
            let answer = request.send().await;
            drop(permit);
            let body: serde_json::Value = answer.ok()?.json().await.ok()?;
            match system {
                System::Outcall => body["data"]["callSid"].as_str().map(str::to_string),
                System::Minimal => body["sid"].as_str().map(str::to_string),
            }
        });
    }
    let mut sids = Vec::with_capacity(calls);
    let mut errors = 0;
    while let Some(done) = posts.join_next().await {
        match done.ok().flatten() {
            Some(sid) => sids.push(sid),
            None => errors += 1,
        }
    }
    Ok((sids, errors))
}
