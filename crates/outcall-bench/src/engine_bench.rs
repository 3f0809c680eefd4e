//! `engine-bench`: the campaign engine's own time per dial, on SQLite.
//!
//! One campaign of N contacts (`callDelay` 0, no concurrency cap in the way, no
//! calls-per-second limit in the way; callbacks are dropped, so each call stays live
//! and N is at most the API's cap of 100 live calls) runs in-process against the Twilio simulator
//! with zero latency and every callback dropped, so the runner does nothing but
//! dial: hold its lease, claim, vet, mark sent, `POST Calls.json`, store the call,
//! mark placed and count it. The simulator logs when each create arrived; the gap
//! between two consecutive creates is one whole dial of the engine, the request's
//! round trip included. The same create, sent N times straight from outcall's
//! Twilio client to the same simulator, gives that round trip alone; the engine's
//! overhead per dial is the difference of the means.
//!
//! Run it from a release build:
//! `cargo run --release -p outcall-bench --bin engine-bench -- --contacts 100 --warmup 10`.

use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::Parser;
use outcall_domain::contact::Contact;
use outcall_server::config::ServerConfig;
use outcall_server::{AppState, app, launch};
use outcall_sim::twilio::{
    CallbackFault, CallbackRule, Scenario, ScenarioBook, TwilioSim, TwilioSimConfig,
};
use outcall_twilio::{CreateCall, TwilioClient, TwilioConfig};
use serde_json::{Value, json};
use tokio::sync::oneshot;

const KEY: &str = "bench-key";
const FROM: &str = "+15005550006";

#[derive(Debug, Parser)]
#[command(about = "The campaign engine's time per dial (claim, vet, sent, placed) on SQLite")]
struct Cli {
    /// Contacts in the campaign (dials measured).
    #[arg(long, default_value_t = 100)]
    contacts: usize,
    /// Leading dials left out (caches, connection pools, SQLite pages warming up).
    #[arg(long, default_value_t = 50)]
    warmup: usize,
    /// Worker threads of the server's runtime.
    #[arg(long, default_value_t = 2)]
    threads: usize,
}

/// Parses configuration exactly as `outcall serve` does, from flags.
#[derive(Parser)]
struct ServerArgs {
    #[command(flatten)]
    config: ServerConfig,
}

#[derive(Debug, Clone, Copy)]
struct Summary {
    n: usize,
    mean_ms: f64,
    p50_ms: f64,
    p99_ms: f64,
    max_ms: f64,
}

fn summary(mut samples: Vec<Duration>) -> Summary {
    samples.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    let at = |q: f64| {
        let i = ((samples.len() as f64 - 1.0) * q).round() as usize;
        samples.get(i).copied().map_or(0.0, ms)
    };
    let total: Duration = samples.iter().sum();
    Summary {
        n: samples.len(),
        mean_ms: ms(total) / samples.len().max(1) as f64,
        p50_ms: at(0.50),
        p99_ms: at(0.99),
        max_ms: samples.last().copied().map_or(0.0, ms),
    }
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    // `RUST_LOG=sqlx::query=debug` lists every statement (with its time) for a profile.
    if std::env::var_os("RUST_LOG").is_some() {
        tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
            .with_writer(std::io::stderr)
            .init();
    }
    if cli.contacts > 100 {
        bail!("--contacts is at most 100 (maxConcurrentCalls' limit; every call stays live)");
    }
    if cli.contacts <= cli.warmup + 1 {
        bail!("--contacts must exceed --warmup + 1");
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(cli.threads.max(1))
        .enable_all()
        .build()?;
    let (dial, create) = rt.block_on(run(&cli))?;
    let overhead = dial.mean_ms - create.mean_ms;
    println!(
        "engine dial (create to create): n={} mean={:.3} ms p50={:.3} ms p99={:.3} ms max={:.3} ms",
        dial.n, dial.mean_ms, dial.p50_ms, dial.p99_ms, dial.max_ms
    );
    println!(
        "bare create round trip:         n={} mean={:.3} ms p50={:.3} ms p99={:.3} ms max={:.3} ms",
        create.n, create.mean_ms, create.p50_ms, create.p99_ms, create.max_ms
    );
    println!("engine overhead per dial (mean of the difference): {overhead:.3} ms (goal <= 1 ms)");
    let out = json!({
        "contacts": cli.contacts,
        "dial": {"mean_ms": dial.mean_ms, "p50_ms": dial.p50_ms, "p99_ms": dial.p99_ms, "max_ms": dial.max_ms},
        "create": {"mean_ms": create.mean_ms, "p50_ms": create.p50_ms, "p99_ms": create.p99_ms, "max_ms": create.max_ms},
        "overhead_mean_ms": overhead,
    });
    println!("{out}");
    Ok(())
}

async fn run(cli: &Cli) -> anyhow::Result<(Summary, Summary)> {
    let sim = TwilioSim::start(TwilioSimConfig {
        // Busy at once: no answer, no media; the calls' callbacks are all dropped.
        scenarios: ScenarioBook::all(Scenario::Busy),
        ..Default::default()
    })
    .await?;
    sim.faults()
        .on_callback(CallbackRule::any().always().fault(CallbackFault::Drop));
    let dir = tempfile::tempdir().context("temp dir")?;
    let argv = vec![
        "outcall".to_string(),
        "--host=127.0.0.1".to_string(),
        "--port=0".to_string(),
        format!(
            "--database-url=sqlite://{}",
            dir.path().join("outcall.db").display()
        ),
        format!("--api-key={KEY}"),
        "--record-calls=false".to_string(),
        format!("--twilio-account-sid={}", sim.account_sid()),
        format!("--twilio-auth-token={}", sim.auth_token()),
        format!("--twilio-from-number={FROM}"),
        format!("--twilio-api-base={}", sim.base_url()),
        "--calls-per-second=1000".to_string(),
        // The default tick (`ENGINE_TICK_MS`, 1 s): starting the campaign wakes the
        // engine, and a runner dialling back to back never waits for a tick. A 10 ms
        // tick had the scheduler list every campaign status a hundred times a second
        // beside the runner, load of this bench's making that a deployment does not
        // see, counted as the dials' own time.
        "--attempt-lease-secs=3600".to_string(),
    ];
    let mut config = ServerArgs::try_parse_from(argv)?.config;
    // Above the flag's range: the account-wide pacing must not be what is measured.
    config.engine.calls_per_second = 1_000_000.0;
    let store = outcall_server::store::open(&config.store).await?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let base = format!("http://{}", listener.local_addr()?);
    let state = AppState::new(store, &config)?.with_public_url(&base);
    let (stop, stopped) = oneshot::channel::<()>();
    let router = app(state.clone(), config.body_limit_bytes);
    let server = tokio::spawn(launch(
        listener,
        router,
        async move {
            let _ = stopped.await;
        },
        Duration::from_secs(1),
    ));
    let engine = outcall_server::engine::spawn(state.clone()).context("engine")?;

    let mut ids = Vec::with_capacity(cli.contacts);
    for i in 0..cli.contacts {
        let c = state
            .store
            .insert_contact(Contact::new(format!("+1415{:07}", 5_000_000 + i)))
            .await?;
        ids.push(c.id.to_hex());
    }
    let http = reqwest::Client::new();
    let post = |path: &str, body: Value| {
        http.post(format!("{base}{path}"))
            .bearer_auth(KEY)
            .json(&body)
            .send()
    };
    let created: Value = post(
        "/api/db/campaigns",
        json!({"name": "engine-bench", "prompt": "Hello.", "settings": {
            "callDelay": 0, "maxConcurrentCalls": 100, "retryCount": 0,
        }}),
    )
    .await?
    .error_for_status()?
    .json()
    .await?;
    let id = created["data"]["_id"]
        .as_str()
        .context("campaign id")?
        .to_string();
    post(
        &format!("/api/db/campaigns/{id}/contacts"),
        json!({"contactIds": ids}),
    )
    .await?
    .error_for_status()?;
    post(&format!("/api/db/campaigns/{id}/start"), json!({}))
        .await?
        .error_for_status()?;

    let deadline = Instant::now() + Duration::from_secs(600);
    while sim.log().creates.len() < cli.contacts {
        if Instant::now() > deadline {
            bail!(
                "only {} of {} dials in time",
                sim.log().creates.len(),
                cli.contacts
            );
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    engine.abort();
    let log = sim.log();
    let mut at: Vec<_> = log.creates.iter().map(|c| (c.seq, c.at)).collect();
    at.sort();
    let gaps: Vec<Duration> = at
        .windows(2)
        .skip(cli.warmup)
        .map(|w| (w[1].1 - w[0].1).to_std().unwrap_or_default())
        .collect();

    // The same create, straight from the client: the round trip the gaps include.
    let client = TwilioClient::new(TwilioConfig::new(
        sim.base_url(),
        sim.account_sid(),
        sim.auth_token(),
    ))?;
    let mut trips = Vec::with_capacity(cli.contacts);
    for i in 0..cli.contacts {
        let mut request = CreateCall::new(
            format!("+1416{:07}", 5_000_000 + i),
            FROM,
            format!("{base}/webhooks/twilio/voice"),
        );
        request.status_callback = Some(format!(
            "{base}/webhooks/twilio/status?attemptId=bench&campaignId={id}&contactId={id}"
        ));
        let t = Instant::now();
        client.create_call(&request).await?;
        if i >= cli.warmup {
            trips.push(t.elapsed());
        }
    }
    let _ = stop.send(());
    let _ = server.await;
    Ok((summary(gaps), summary(trips)))
}
