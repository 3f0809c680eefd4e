//! `dashboard-bench`: the dashboard and analytics routes over a large SQLite store.
//!
//! 1. Seeds N calls (default 10^6) spread over the last 90 days into a SQLite file,
//!    kept in `--data-dir` and reused by later runs: statuses, outcomes, durations,
//!    agents and campaigns in fixed proportions, a transcript with a sentiment for one
//!    answered call in three, and the events of the newest calls.
//! 2. Starts the release `outcall serve` (the binary beside this one) on that file,
//!    first with the cache off: p50/p95 of each route, every request computed; then
//!    with the cache on: p50/p95 of answers served from it.
//! 3. Polling: `--clients` clients each read the overview and realtime routes every
//!    second, as open dashboards do, while one call changes every `--change-ms`;
//!    reports the cache's hit ratio over that window and the clients' p50/p95.

use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use chrono::TimeDelta;
use clap::Parser;
use outcall_domain::call::{Call, CallOutcome};
use outcall_domain::event::CallEvent;
use outcall_domain::transcript::{Sentiment, SentimentLabel, Transcript};
use outcall_domain::{CallStatus, ObjectId};
use outcall_store_sqlite::{Bulk, SqliteStore};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{Value, json};

const KEY: &str = "bench-key";
const BATCH: usize = 20_000;
/// The newest calls get events (the activity feed reads only the newest).
const CALLS_WITH_EVENTS: usize = 20_000;

#[derive(Debug, Parser)]
#[command(about = "Dashboard and analytics routes over N stored calls, uncached and cached")]
struct Cli {
    /// Calls to store.
    #[arg(long, default_value_t = 1_000_000)]
    calls: usize,
    /// Where the seeded database is kept between runs.
    #[arg(long, default_value = "target/bench-data")]
    data_dir: PathBuf,
    /// Requests per route with the cache off.
    #[arg(long, default_value_t = 20)]
    samples: usize,
    /// Requests per route answered from the cache.
    #[arg(long, default_value_t = 500)]
    cached_samples: usize,
    /// Dashboards polling at once.
    #[arg(long, default_value_t = 50)]
    clients: usize,
    /// Length of the polling window, seconds.
    #[arg(long, default_value_t = 30)]
    poll_secs: u64,
    /// One call changes this often during the polling window, milliseconds.
    #[arg(long, default_value_t = 1000)]
    change_ms: u64,
    /// Write the results as JSON here.
    #[arg(long)]
    out: Option<PathBuf>,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let db = seed(&cli.data_dir, cli.calls).await?;
    let sample_sid = call_sid(cli.calls - 1);
    let routes = routes(&sample_sid);

    println!(
        "== cache off: every request computed ({} each)",
        cli.samples
    );
    let server = Server::start(&db, false)?;
    let uncached = measure_routes(&server, &routes, cli.samples).await?;
    drop(server);

    println!(
        "== cache on: answers served from the cache ({} each)",
        cli.cached_samples
    );
    let server = Server::start(&db, true)?;
    let cached = measure_routes(&server, &routes, cli.cached_samples).await?;
    println!(
        "== polling: {} clients, overview + realtime every second, one call change every {} ms, {} s",
        cli.clients, cli.change_ms, cli.poll_secs
    );
    let polling = poll(&server, &cli).await?;
    drop(server);

    println!();
    println!("| route | uncached p50 / p95 (ms) | cached p50 / p95 (ms) |");
    println!("|---|---|---|");
    for ((name, _), (u, c)) in routes.iter().zip(uncached.iter().zip(&cached)) {
        println!(
            "| {name} | {:.1} / {:.1} | {:.2} / {:.2} |",
            u.p50, u.p95, c.p50, c.p95
        );
    }
    println!(
        "\npolling: hit ratio {:.3} ({} hits, {} misses), {} requests, p50 {:.1} ms, p95 {:.1} ms, {} changes",
        polling.hit_ratio,
        polling.hits,
        polling.misses,
        polling.requests,
        polling.latency.p50,
        polling.latency.p95,
        polling.changes
    );
    if let Some(out) = &cli.out {
        let report = json!({
            "calls": cli.calls,
            "routes": routes.iter().zip(uncached.iter().zip(&cached)).map(|((name, path), (u, c))| json!({
                "route": name, "path": path,
                "uncached": {"p50Ms": u.p50, "p95Ms": u.p95},
                "cached": {"p50Ms": c.p50, "p95Ms": c.p95},
            })).collect::<Vec<_>>(),
            "polling": {
                "clients": cli.clients, "secs": cli.poll_secs, "changeMs": cli.change_ms,
                "hitRatio": polling.hit_ratio, "hits": polling.hits, "misses": polling.misses,
                "requests": polling.requests, "p50Ms": polling.latency.p50, "p95Ms": polling.latency.p95,
            },
        });
        std::fs::write(out, serde_json::to_vec_pretty(&report)?)?;
    }
    Ok(())
}

fn routes(sample_sid: &str) -> Vec<(&'static str, String)> {
    let tz = "tz=America%2FNew_York";
    vec![
        (
            "dashboard/overview",
            format!("/api/db/dashboard/overview?{tz}"),
        ),
        ("dashboard/realtime", "/api/db/dashboard/realtime".into()),
        ("dashboard/activity", "/api/db/dashboard/activity".into()),
        (
            "dashboard/call/:callSid",
            format!("/api/db/dashboard/call/{sample_sid}"),
        ),
        (
            "analytics/call-volume (30 days by day)",
            format!("/api/db/analytics/call-volume?groupBy=day&{tz}"),
        ),
        (
            "analytics/call-duration (all)",
            "/api/db/analytics/call-duration".into(),
        ),
        (
            "analytics/call-outcomes (all)",
            "/api/db/analytics/call-outcomes".into(),
        ),
        (
            "analytics/conversation-sentiment (30 days)",
            format!("/api/db/analytics/conversation-sentiment?groupBy=day&{tz}"),
        ),
    ]
}

fn call_sid(i: usize) -> String {
    format!("CAbench{i:025}")
}

/// The seeded database for `calls` calls, made once and reused.
async fn seed(dir: &Path, calls: usize) -> anyhow::Result<PathBuf> {
    std::fs::create_dir_all(dir).with_context(|| format!("create {}", dir.display()))?;
    let db = dir.join(format!("dashboard-{calls}.db"));
    let done = dir.join(format!("dashboard-{calls}.done"));
    if done.exists() && db.exists() {
        println!("== reusing {} ({calls} calls)", db.display());
        return Ok(db);
    }
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", db.display()));
    }
    println!("== seeding {calls} calls into {}", db.display());
    let store = SqliteStore::open(&format!("sqlite://{}", db.display()))
        .await
        .context("open the bench database")?;
    let started = Instant::now();
    let mut rng = StdRng::seed_from_u64(7);
    let now = outcall_domain::time::now();
    let span_ms = TimeDelta::days(90).num_milliseconds();
    let campaigns: Vec<ObjectId> = (0..10).map(|_| ObjectId::new()).collect();
    let mut i = 0;
    while i < calls {
        let mut bulk = Bulk::default();
        for j in i..(i + BATCH).min(calls) {
            // Oldest first, evenly over 90 days, jittered.
            let age = span_ms - (span_ms as i128 * j as i128 / calls as i128) as i64;
            let created = now - TimeDelta::milliseconds(age.max(1) + rng.random_range(0..1000));
            let (call, transcript) = make_call(&mut rng, j, calls, created, &campaigns);
            if calls - j <= CALLS_WITH_EVENTS {
                bulk.events.extend(events_of(&call));
            }
            bulk.calls.push(call);
            bulk.transcripts.extend(transcript);
        }
        store.load_bulk(bulk).await.context("load a batch")?;
        i = (i + BATCH).min(calls);
        if i.is_multiple_of(100_000) || i == calls {
            println!("   {i} calls ({:.0} s)", started.elapsed().as_secs_f64());
        }
    }
    drop(store);
    std::fs::write(&done, calls.to_string())?;
    Ok(db)
}

fn make_call(
    rng: &mut StdRng,
    i: usize,
    total: usize,
    created: outcall_domain::time::Timestamp,
    campaigns: &[ObjectId],
) -> (Call, Option<Transcript>) {
    let mut call = Call::new(
        call_sid(i),
        "+15005550006",
        format!("+1415{:07}", i % 10_000_000),
    );
    call.created_at = created;
    call.updated_at = created;
    call.agent_id = Some(format!("agent_{}", i % 3));
    if !i.is_multiple_of(4) {
        call.campaign_id = Some(campaigns[i % campaigns.len()]);
    }
    // The newest 40 calls are live; the rest ended in fixed proportions.
    let live = total - i <= 40;
    let roll = rng.random_range(0..100);
    let (status, outcome) = if live {
        (CallStatus::InProgress, None)
    } else if roll < 45 {
        (CallStatus::Completed, Some(CallOutcome::Held))
    } else if roll < 60 {
        (CallStatus::Completed, Some(CallOutcome::Voicemail))
    } else if roll < 75 {
        (CallStatus::NoAnswer, Some(CallOutcome::NoAnswer))
    } else if roll < 88 {
        (CallStatus::Busy, Some(CallOutcome::Busy))
    } else if roll < 96 {
        (CallStatus::Failed, Some(CallOutcome::Failed))
    } else {
        (CallStatus::Canceled, Some(CallOutcome::Canceled))
    };
    call.status = status;
    call.outcome = outcome;
    call.start_time = Some(created + TimeDelta::seconds(2));
    if status == CallStatus::Completed || live {
        call.answer_time = Some(created + TimeDelta::seconds(8));
        call.answered_by = Some(if outcome == Some(CallOutcome::Voicemail) {
            "machine_end_beep".into()
        } else {
            "human".into()
        });
    }
    let mut transcript = None;
    if status == CallStatus::Completed {
        let secs = rng.random_range(5..600);
        call.duration = Some(secs);
        call.end_time = Some(created + TimeDelta::seconds(8 + secs));
        if outcome == Some(CallOutcome::Held) && i.is_multiple_of(3) {
            let score: f64 = rng.random_range(-1.0..1.0);
            let label = if score >= 0.05 {
                SentimentLabel::Positive
            } else if score <= -0.05 {
                SentimentLabel::Negative
            } else {
                SentimentLabel::Neutral
            };
            let mut t = Transcript::new(call.call_sid.clone());
            t.sentiment = Some(Sentiment { label, score });
            t.summary = Some("The callee confirmed the appointment.".into());
            t.created_at = created + TimeDelta::seconds(10 + secs);
            t.updated_at = t.created_at;
            transcript = Some(t);
        }
    }
    (call, transcript)
}

fn events_of(call: &Call) -> Vec<CallEvent> {
    let mut out = Vec::new();
    for (k, kind) in ["initiated", "ringing", "in-progress", "completed"]
        .iter()
        .enumerate()
    {
        let mut data = serde_json::Map::new();
        data.insert("status".into(), Value::String((*kind).into()));
        let mut e = CallEvent::new(call.call_sid.clone(), "status_update", data);
        e.timestamp = call.created_at + TimeDelta::seconds(4 * k as i64);
        e.created_at = e.timestamp;
        e.updated_at = e.timestamp;
        out.push(e);
    }
    out
}

/// A release `outcall serve` on the seeded file; killed when dropped.
struct Server {
    child: Child,
    base: String,
    http: reqwest::Client,
}

impl Server {
    fn start(db: &Path, cache: bool) -> anyhow::Result<Self> {
        let exe = std::env::current_exe()?;
        let outcall = exe.with_file_name("outcall");
        if !outcall.exists() {
            bail!(
                "{} is missing: build it with `cargo build --release -p outcall-server`",
                outcall.display()
            );
        }
        let port = free_port()?;
        let child = Command::new(&outcall)
            .arg("serve")
            .env("API_KEY", KEY)
            .env("PORT", port.to_string())
            .env("DATABASE_URL", format!("sqlite://{}", db.display()))
            .env("CACHE_ENABLED", cache.to_string())
            .env("SLOW_QUERY_MS", "0")
            .env("RUST_LOG", "warn")
            .env_remove("MONGODB_URI")
            .spawn()
            .context("start outcall serve")?;
        let server = Self {
            child,
            base: format!("http://127.0.0.1:{port}"),
            http: reqwest::Client::new(),
        };
        server.wait_ready()?;
        Ok(server)
    }

    fn wait_ready(&self) -> anyhow::Result<()> {
        let deadline = Instant::now() + Duration::from_secs(120);
        let url = format!("{}/healthz", self.base);
        loop {
            if healthz_ok(&url) {
                return Ok(());
            }
            if Instant::now() > deadline {
                bail!("outcall serve did not answer {url} within 120 s");
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    async fn get(&self, path: &str) -> anyhow::Result<Value> {
        let res = self
            .http
            .get(format!("{}{path}", self.base))
            .bearer_auth(KEY)
            .send()
            .await?;
        let status = res.status();
        let body: Value = res.json().await?;
        if !status.is_success() {
            bail!("GET {path}: {status} {body}");
        }
        Ok(body)
    }

    async fn send(&self, method: reqwest::Method, path: &str, body: Value) -> anyhow::Result<()> {
        let res = self
            .http
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(KEY)
            .json(&body)
            .send()
            .await?;
        if !res.status().is_success() {
            bail!("{path}: {}", res.status());
        }
        Ok(())
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `GET url` answered 200, over a plain TCP request (no blocking HTTP client needed).
fn healthz_ok(url: &str) -> bool {
    use std::io::{Read, Write};
    let Some(rest) = url.strip_prefix("http://") else {
        return false;
    };
    let (host, path) = rest.split_once('/').unwrap_or((rest, ""));
    let Ok(mut s) = std::net::TcpStream::connect(host) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
    let req = format!("GET /{path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n");
    if s.write_all(req.as_bytes()).is_err() {
        return false;
    }
    let mut head = [0u8; 12];
    s.read_exact(&mut head).is_ok() && head.ends_with(b"200")
}

fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

#[derive(Debug, Clone, Copy, Default)]
struct Latency {
    p50: f64,
    p95: f64,
}

fn latency(mut ms: Vec<f64>) -> Latency {
    if ms.is_empty() {
        return Latency::default();
    }
    ms.sort_by(f64::total_cmp);
    let at = |p: f64| ms[((p * ms.len() as f64).ceil() as usize).clamp(1, ms.len()) - 1];
    Latency {
        p50: at(0.50),
        p95: at(0.95),
    }
}

async fn measure_routes(
    server: &Server,
    routes: &[(&'static str, String)],
    samples: usize,
) -> anyhow::Result<Vec<Latency>> {
    let mut out = Vec::new();
    for (name, path) in routes {
        server.get(path).await?; // warms the page cache (and the response cache)
        let mut ms = Vec::with_capacity(samples);
        for _ in 0..samples {
            let t = Instant::now();
            server.get(path).await?;
            ms.push(t.elapsed().as_secs_f64() * 1000.0);
        }
        let l = latency(ms);
        println!("   {name}: p50 {:.2} ms, p95 {:.2} ms", l.p50, l.p95);
        out.push(l);
    }
    Ok(out)
}

struct Polling {
    hits: u64,
    misses: u64,
    hit_ratio: f64,
    requests: usize,
    changes: usize,
    latency: Latency,
}

async fn cache_totals(server: &Server) -> anyhow::Result<(u64, u64)> {
    let stats = server.get("/api/cache/stats").await?;
    let d = &stats["data"];
    let n = |k: &str| d[k].as_u64().unwrap_or(0);
    Ok((n("hits"), n("misses")))
}

async fn poll(server: &Server, cli: &Cli) -> anyhow::Result<Polling> {
    let (hits0, misses0) = cache_totals(server).await?;
    let until = Instant::now() + Duration::from_secs(cli.poll_secs);
    let server_ref = Arc::new(ServerRef {
        base: server.base.clone(),
        http: server.http.clone(),
    });
    let mut clients = Vec::new();
    for c in 0..cli.clients {
        let s = server_ref.clone();
        clients.push(tokio::spawn(async move {
            // Spread the clients over the second, as dashboards opened at different times.
            tokio::time::sleep(Duration::from_millis((c as u64 * 1000) / 50)).await;
            let mut ms = Vec::new();
            let mut tick = tokio::time::interval(Duration::from_secs(1));
            while Instant::now() < until {
                tick.tick().await;
                for path in [
                    "/api/db/dashboard/overview?tz=America%2FNew_York",
                    "/api/db/dashboard/realtime",
                ] {
                    let t = Instant::now();
                    if s.get_ok(path).await {
                        ms.push(t.elapsed().as_secs_f64() * 1000.0);
                    }
                }
            }
            ms
        }));
    }
    // Each change stores a new call, as a running campaign does: it drops every answer
    // that depends on any call (overview, realtime, analytics).
    let mut changes = 0;
    // A fresh run id: the database is reused between runs, and a callSid is stored once.
    let run = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis());
    while Instant::now() < until {
        tokio::time::sleep(Duration::from_millis(cli.change_ms)).await;
        let body = json!({
            "callSid": format!("CApoll{run:016}{changes:010}"),
            "from": "+15005550006",
            "to": "+14155550100",
        });
        if server
            .send(reqwest::Method::POST, "/api/db/calls", body)
            .await
            .is_ok()
        {
            changes += 1;
        }
    }
    let mut all = Vec::new();
    for c in clients {
        all.extend(c.await?);
    }
    let (hits1, misses1) = cache_totals(server).await?;
    let (hits, misses) = (hits1 - hits0, misses1 - misses0);
    Ok(Polling {
        hits,
        misses,
        hit_ratio: hits as f64 / (hits + misses).max(1) as f64,
        requests: all.len(),
        changes,
        latency: latency(all),
    })
}

struct ServerRef {
    base: String,
    http: reqwest::Client,
}

impl ServerRef {
    async fn get_ok(&self, path: &str) -> bool {
        let res = self
            .http
            .get(format!("{}{path}", self.base))
            .bearer_auth(KEY)
            .send()
            .await;
        match res {
            Ok(r) if r.status().is_success() => r.bytes().await.is_ok(),
            _ => false,
        }
    }
}
