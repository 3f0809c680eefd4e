//! `outcall-bench`: outcall's media bridge against a minimal relay, under load.
//!
//! The server under test runs as a child process pinned to one core
//! (`--server-core`, via `taskset`); this process plays the load on the other core
//! (run it under `taskset` too, as `bench/bridge` does): the Twilio simulator's
//! callers, the ElevenLabs simulator's agents and the driver placing calls. For each
//! N it measures the minimal relay (same crates, no logic; `minimal.rs`) and then
//! outcall, and reports:
//!
//! - server CPU per relayed frame, and outcall's relative to the relay's;
//! - p50/p99 added round trip of a frame each way (simulator write to simulator
//!   read, on one clock);
//! - server RSS per call: steady RSS less the baseline, over the live calls; the
//!   baseline is read after `--warmup-calls` calls to a busy line have ended, so
//!   what the server sets up once (connection pools, the driver's kept-alive
//!   connections) is not counted per call; "(cold)" counts from start-up instead;
//! - streams refused: calls placed (at `--ramp-rate` starts a second) whose stream
//!   never reached the agent.
//!
//! `--pickup-calls` adds the pickup runs: a round trip added to both ElevenLabs hops
//! (signed URL and WebSocket connect) in the simulator, phones ringing a second, and
//! the time from Twilio's `start` to the client data at the agent, p50/p99, for
//! `AGENT_PREWARM=off|url|socket`.

mod minimal;
mod probe;
mod procfs;
mod run;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use run::{KEY, RunResult, Settings, System};
use serde_json::json;

#[derive(Debug, Parser)]
#[command(
    about = "outcall's media bridge against a minimal relay, server and load on separate cores"
)]
struct Cli {
    /// Numbers of concurrent calls [default: 100 300 500].
    calls: Vec<usize>,
    /// Length of the steady-state window measured, seconds.
    #[arg(long, default_value_t = 10.0)]
    window_secs: f64,
    /// Wait after every call has audio both ways, before the window, seconds.
    #[arg(long, default_value_t = 3.0)]
    settle_secs: f64,
    /// Call starts per second during the ramp.
    #[arg(long, default_value_t = 250.0)]
    ramp_rate: f64,
    /// Placement requests in flight at most.
    #[arg(long, default_value_t = 64)]
    ramp_concurrency: usize,
    /// Calls placed to a busy line, and ended, before the baseline RSS is read (so
    /// RSS per call leaves out what does not grow with calls); 0: baseline at start.
    #[arg(long, default_value_t = 64)]
    warmup_calls: usize,
    /// The server's core (`taskset -c`); empty: not pinned.
    #[arg(long, default_value = "0")]
    server_core: String,
    /// Calls per pickup run (0: no pickup runs).
    #[arg(long, default_value_t = 0)]
    pickup_calls: usize,
    /// Round trip added to each ElevenLabs hop in the pickup runs, ms.
    #[arg(long, default_value_t = 100)]
    pickup_rtt_ms: u64,
    /// Skip the load runs (only the pickup runs).
    #[arg(long)]
    pickup_only: bool,
    /// Write the results as JSON here.
    #[arg(long)]
    out: Option<PathBuf>,
    /// Internal: run this server (a child process) and print `LISTENING <url>`.
    #[arg(long, hide = true)]
    serve: Option<System>,
    #[command(flatten)]
    child: ChildArgs,
}

/// What a server child needs to know (hidden flags).
#[derive(Debug, Clone, clap::Args)]
struct ChildArgs {
    #[arg(long, hide = true, default_value = "")]
    twilio_base: String,
    #[arg(long, hide = true, default_value = "")]
    twilio_sid: String,
    #[arg(long, hide = true, default_value = "")]
    twilio_token: String,
    #[arg(long, hide = true, default_value = "")]
    eleven_base: String,
    #[arg(long, hide = true, default_value = "")]
    eleven_key: String,
    #[arg(long, hide = true, default_value = "")]
    eleven_agent: String,
    #[arg(long, hide = true, default_value = "")]
    eleven_secret: String,
    #[arg(long, hide = true, default_value = "url")]
    prewarm: String,
    #[arg(long, hide = true, default_value = "")]
    db: String,
}

/// Parses configuration exactly as `outcall serve` does, from flags.
#[derive(Parser)]
struct ServerArgs {
    #[command(flatten)]
    config: outcall_server::config::ServerConfig,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "error".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let result = match cli.serve {
        Some(system) => serve_child(system, &cli.child),
        None => parent(&cli),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("outcall-bench: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// The server child: one runtime with a worker per core it may use (one, pinned).
fn serve_child(system: System, a: &ChildArgs) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        match system {
            System::Minimal => {
                let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
                println!("LISTENING http://{}", listener.local_addr()?);
                let client =
                    outcall_elevenlabs::ElevenLabsClient::new(&a.eleven_base, &a.eleven_key)?;
                minimal::serve(listener, client, a.eleven_agent.clone()).await
            }
            System::Outcall => {
                let argv = vec![
                    "outcall".to_string(),
                    "--host=127.0.0.1".to_string(),
                    "--port=0".to_string(),
                    format!("--database-url=sqlite://{}", a.db),
                    format!("--api-key={KEY}"),
                    "--record-calls=false".to_string(),
                    format!("--twilio-account-sid={}", a.twilio_sid),
                    format!("--twilio-auth-token={}", a.twilio_token),
                    "--twilio-from-number=+15005550006".to_string(),
                    format!("--twilio-api-base={}", a.twilio_base),
                    format!("--elevenlabs-api-key={}", a.eleven_key),
                    format!("--elevenlabs-agent-id={}", a.eleven_agent),
                    format!("--elevenlabs-webhook-secret={}", a.eleven_secret),
                    format!("--elevenlabs-api-base={}", a.eleven_base),
                    format!("--agent-prewarm={}", a.prewarm),
                ];
                let config = ServerArgs::try_parse_from(argv)?.config;
                outcall_server::serve(config, futures::stream::pending(), |state| {
                    println!("LISTENING {}", state.public_url);
                })
                .await
            }
        }
    })
}

fn parent(cli: &Cli) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let calls = if cli.calls.is_empty() {
        vec![100, 300, 500]
    } else {
        cli.calls.clone()
    };
    let settings = |system, calls, prewarm: &str, rtt, ring, rate| Settings {
        system,
        calls,
        window_secs: cli.window_secs,
        settle_secs: cli.settle_secs,
        ramp_rate: rate,
        ramp_concurrency: cli.ramp_concurrency,
        warmup_calls: cli.warmup_calls,
        server_core: (!cli.server_core.is_empty()).then(|| cli.server_core.clone()),
        prewarm: prewarm.to_string(),
        eleven_rtt_ms: rtt,
        ring_ms: ring,
    };
    println!(
        "outcall-bench: {} cores; server on core {:?}; window {} s after {} s settle; {} call starts/s",
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(0),
        cli.server_core,
        cli.window_secs,
        cli.settle_secs,
        cli.ramp_rate
    );
    let mut load = Vec::new();
    if !cli.pickup_only {
        print_header();
        for &n in &calls {
            let mut pair = Vec::new();
            for system in [System::Minimal, System::Outcall] {
                let s = settings(system, n, "url", 0, 100, cli.ramp_rate);
                match runtime.block_on(run::measure(&s)) {
                    Ok(r) => pair.push(r),
                    Err(e) => eprintln!("outcall-bench: {system:?} N={n}: {e:#}"),
                }
            }
            print_pair(&pair);
            load.extend(pair);
        }
    }
    let mut pickups = Vec::new();
    if cli.pickup_calls > 0 {
        println!(
            "pickup: {} calls, {} ms round trip on the signed-URL and WebSocket hops, phones ringing 1 s",
            cli.pickup_calls, cli.pickup_rtt_ms
        );
        for (prewarm, network_rtts) in [("off", 2), ("url", 1), ("socket", 0)] {
            let mut s = settings(
                System::Outcall,
                cli.pickup_calls,
                prewarm,
                cli.pickup_rtt_ms,
                1000,
                10.0,
            );
            // Pickup is measured per call as it starts: no long steady window needed.
            s.window_secs = 1.0;
            s.settle_secs = 0.5;
            s.warmup_calls = 0;
            match runtime.block_on(run::measure(&s)) {
                Ok(r) => {
                    let network = (network_rtts * cli.pickup_rtt_ms) as f64;
                    if let Some(p) = &r.pickup {
                        println!(
                            "  AGENT_PREWARM={prewarm:<6} start -> client data p50 {:>7.1} ms  p99 {:>7.1} ms  (simulated network {network:.0} ms; outcall's own p99 {:.1} ms; {} of {} calls)",
                            p.p50_ms,
                            p.p99_ms,
                            p.p99_ms - network,
                            r.placed - r.refused,
                            r.placed
                        );
                    }
                    pickups.push(r);
                }
                Err(e) => eprintln!("outcall-bench: pickup {prewarm}: {e:#}"),
            }
        }
    }
    if let Some(path) = &cli.out {
        let doc = json!({ "load": load, "pickup": pickups });
        std::fs::write(path, serde_json::to_vec_pretty(&doc)?)?;
        println!("results written to {}", path.display());
    }
    Ok(())
}

fn print_header() {
    println!(
        "{:>5} {:>8} | {:>5} {:>7} | {:>9} {:>6} | {:>6} | {:>17} | {:>17} | {:>8} {:>8}",
        "N",
        "server",
        "live",
        "refused",
        "CPU/frame",
        "ratio",
        "CPU%",
        "callee->agent p50/p99",
        "agent->callee p50/p99",
        "RSS/call",
        "(cold)"
    );
}

fn print_pair(pair: &[RunResult]) {
    let base = pair
        .iter()
        .find(|r| r.settings.system == System::Minimal)
        .map(|r| r.cpu_us_per_frame);
    let lat = |l: &Option<run::Latency>| match l {
        Some(l) => format!("{:.2}/{:.2} ms", l.p50_ms, l.p99_ms),
        None => "-".into(),
    };
    for r in pair {
        let ratio = match base {
            Some(b) if b > 0.0 => format!("{:.2}x", r.cpu_us_per_frame / b),
            _ => "-".into(),
        };
        println!(
            "{:>5} {:>8} | {:>5} {:>7} | {:>6.2} us {:>6} | {:>6.1} | {:>17} | {:>17} | {:>5.1} KiB {:>4.1} KiB",
            r.settings.calls,
            format!("{:?}", r.settings.system).to_lowercase(),
            r.calls_live,
            r.refused,
            r.cpu_us_per_frame,
            ratio,
            r.cpu_percent,
            lat(&r.callee_to_agent),
            lat(&r.agent_to_callee),
            r.rss_per_call_kib,
            r.rss_per_call_cold_kib,
        );
    }
}
