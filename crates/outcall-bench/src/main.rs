//! `outcall-bench`: N concurrent simulated calls through outcall's real media bridge.
//!
//! The server runs in-process on an ephemeral port with SQLite in a temp dir, between
//! the Twilio simulator (callers streaming 20 ms μ-law frames) and the ElevenLabs
//! simulator (a scripted agent speaking in real time). Each N is measured in a fresh
//! child process (this same binary, `--child N`), so RSS starts clean and one run's
//! sockets and tasks cannot disturb the next. Reported per N:
//!
//! - added latency per frame, callee→agent and agent→callee (p50, p99, max): the
//!   simulators timestamp each frame as they write it and as they read it on the
//!   other side, on one `Instant` clock (`outcall_sim::probe`);
//! - CPU: process CPU time (/proc/self/stat utime+stime) over wall time in the
//!   window, split into the server's and the simulators' threads;
//! - RSS per call: (VmRSS with N calls live − VmRSS before) / N, simulators included;
//! - frames lost: frames sent in the window that never arrived, and the simulators'
//!   whole-call counts.
//!
//! `--max` steps N up (×1.5) until frames are lost, p99 passes 50 ms, the callers
//! cannot keep their pace, or RSS passes its budget, within a time budget.

mod probe;
mod procfs;
mod run;

use std::path::PathBuf;
use std::process::{Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

use clap::Parser;
use run::{RunResult, Settings};
use serde_json::json;

#[derive(Debug, Parser)]
#[command(about = "N concurrent simulated calls through outcall's media bridge")]
struct Cli {
    /// Numbers of concurrent calls to measure, each in its own process [default: 100 1000].
    calls: Vec<usize>,
    /// Step N up from --max-start by --max-factor until the machine stops holding it.
    #[arg(long)]
    max: bool,
    /// Write the results as JSON here.
    #[arg(long)]
    out: Option<PathBuf>,
    /// Length of the steady-state window measured, seconds.
    #[arg(long, default_value_t = 10.0)]
    window_secs: f64,
    /// Wait after every call has audio both ways, before the window, seconds.
    #[arg(long, default_value_t = 3.0)]
    settle_secs: f64,
    /// Calls placed per second during the ramp.
    #[arg(long, default_value_t = 100.0)]
    ramp_rate: f64,
    /// Placement (and hang-up) requests in flight at most.
    #[arg(long, default_value_t = 32)]
    ramp_concurrency: usize,
    /// Worker threads of the server's runtime (production: one per core).
    #[arg(long, default_value_t = 2)]
    server_threads: usize,
    /// Worker threads of the simulators' runtime.
    #[arg(long, default_value_t = 2)]
    sim_threads: usize,
    /// --max: the first N.
    #[arg(long, default_value_t = 250)]
    max_start: usize,
    /// --max: the factor between steps.
    #[arg(long, default_value_t = 1.5)]
    max_factor: f64,
    /// --max: stop when p99 (either direction) passes this, ms.
    #[arg(long, default_value_t = 50.0)]
    max_p99_ms: f64,
    /// --max: stop when RSS with N calls live passes (or would pass) this, MiB.
    #[arg(long, default_value_t = 4096)]
    rss_budget_mib: u64,
    /// --max: do not start a step that would end after this many seconds in total.
    #[arg(long, default_value_t = 300)]
    max_secs: u64,
    /// Internal: measure this N in this process and write the result to --child-out.
    #[arg(long, hide = true)]
    child: Option<usize>,
    #[arg(long, hide = true)]
    child_out: Option<PathBuf>,
}

impl Cli {
    fn settings(&self, calls: usize) -> Settings {
        Settings {
            calls,
            window_secs: self.window_secs,
            settle_secs: self.settle_secs,
            ramp_rate: self.ramp_rate,
            ramp_concurrency: self.ramp_concurrency,
            server_threads: self.server_threads,
            sim_threads: self.sim_threads,
        }
    }

    /// A rough upper bound of one step's duration, for the --max time budget.
    fn step_secs(&self, calls: usize) -> f64 {
        calls as f64 / self.ramp_rate + self.settle_secs + self.window_secs + 8.0
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "warn,outcall_sim=error".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    if let Some(n) = cli.child {
        let result = run::measure(&cli.settings(n)).and_then(|r| match &cli.child_out {
            Some(path) => run::write(path, &r),
            None => {
                println!("{}", serde_json::to_string_pretty(&r)?);
                Ok(())
            }
        });
        return match result {
            Ok(()) => {
                // Skip tearing down thousands of tasks and sockets: the process ends.
                std::process::exit(0)
            }
            Err(e) => {
                eprintln!("outcall-bench: {e:#}");
                ExitCode::FAILURE
            }
        };
    }
    match parent(&cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("outcall-bench: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// Measures N in a child process.
fn measure_in_child(cli: &Cli, n: usize) -> anyhow::Result<RunResult> {
    let out = tempfile::NamedTempFile::new()?;
    let exe = std::env::current_exe()?;
    let timeout = Duration::from_secs_f64(cli.step_secs(n) + 150.0);
    let mut child = Command::new(exe)
        .args([
            format!("--child={n}"),
            format!("--child-out={}", out.path().display()),
            format!("--window-secs={}", cli.window_secs),
            format!("--settle-secs={}", cli.settle_secs),
            format!("--ramp-rate={}", cli.ramp_rate),
            format!("--ramp-concurrency={}", cli.ramp_concurrency),
            format!("--server-threads={}", cli.server_threads),
            format!("--sim-threads={}", cli.sim_threads),
        ])
        .stdin(Stdio::null())
        .spawn()?;
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait()? {
            break status;
        }
        if started.elapsed() > timeout {
            // Our own child, by its handle.
            let _ = child.kill();
            let _ = child.wait();
            anyhow::bail!("N={n}: no result after {timeout:?}; killed");
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    anyhow::ensure!(
        status.success(),
        "N={n}: the measuring process failed ({status})"
    );
    Ok(serde_json::from_slice(&std::fs::read(out.path())?)?)
}

/// Why `r` is more than the machine holds, if it is.
fn over_limit(cli: &Cli, r: &RunResult) -> Option<String> {
    let lost = r.callee_to_agent.lost_in_window + r.agent_to_callee.lost_in_window;
    let p99 = [&r.callee_to_agent, &r.agent_to_callee]
        .iter()
        .filter_map(|d| d.latency.as_ref().map(|l| l.p99_ms))
        .fold(0.0, f64::max);
    if r.calls_live < r.settings.calls {
        Some(format!(
            "only {} of {} calls came up",
            r.calls_live, r.settings.calls
        ))
    } else if lost > 0 {
        Some(format!("{lost} frames lost"))
    } else if p99 > cli.max_p99_ms {
        Some(format!("p99 {p99:.1} ms > {} ms", cli.max_p99_ms))
    } else if r.rss_steady_kib > cli.rss_budget_mib * 1024 {
        Some(format!(
            "RSS {} MiB > budget {} MiB",
            r.rss_steady_kib / 1024,
            cli.rss_budget_mib
        ))
    } else if r.callee_pacing_percent < 95.0 {
        Some(format!(
            "callers kept only {:.1}% of their 20 ms pace (CPU starved)",
            r.callee_pacing_percent
        ))
    } else {
        None
    }
}

fn parent(cli: &Cli) -> anyhow::Result<()> {
    let started = Instant::now();
    let calls = if cli.calls.is_empty() && !cli.max {
        vec![100, 1000]
    } else {
        cli.calls.clone()
    };
    let fd_limit = procfs::open_files_limit();
    println!(
        "outcall-bench: {} cores, open-files limit {}, window {} s after {} s settle, ramp {} calls/s",
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(0),
        fd_limit.map_or("?".into(), |l| l.to_string()),
        cli.window_secs,
        cli.settle_secs,
        cli.ramp_rate
    );
    print_header();
    let mut runs = Vec::new();
    for &n in &calls {
        match measure_in_child(cli, n) {
            Ok(r) => {
                print_row(&r);
                runs.push(r);
            }
            Err(e) => eprintln!("outcall-bench: {e:#}"),
        }
    }

    let mut max = None;
    if cli.max {
        println!(
            "--max: ×{} from {} until a limit is hit (time budget {} s)",
            cli.max_factor, cli.max_start, cli.max_secs
        );
        let budget = Duration::from_secs(cli.max_secs);
        let search_start = Instant::now();
        let mut n = cli.max_start.max(1);
        let mut held: Option<usize> = None;
        let mut steps = Vec::new();
        let stop = loop {
            if search_start.elapsed().as_secs_f64() + cli.step_secs(n) > budget.as_secs_f64() {
                break format!("time budget: N={n} would end after {} s", cli.max_secs);
            }
            // ~4 sockets a call (2 per side) plus HTTP pools and the store.
            if let Some(limit) = fd_limit
                && (n as u64) * 5 + 256 > limit
            {
                break format!("open-files limit {limit} too low for N={n} (raise ulimit -n)");
            }
            if let Some(last) = steps.last().map(|r: &RunResult| r)
                && last.rss_before_kib + (last.rss_per_call_kib * n as f64) as u64
                    > cli.rss_budget_mib * 1024
            {
                break format!(
                    "RSS budget: N={n} would need more than {} MiB",
                    cli.rss_budget_mib
                );
            }
            let r = match measure_in_child(cli, n) {
                Ok(r) => r,
                Err(e) => break format!("{e:#}"),
            };
            print_row(&r);
            let over = over_limit(cli, &r);
            steps.push(r);
            if let Some(why) = over {
                break format!("N={n}: {why}");
            }
            held = Some(n);
            n = ((n as f64) * cli.max_factor).round() as usize;
        };
        match held {
            Some(h) => println!("--max: largest N held: {h} (stopped: {stop})"),
            None => println!("--max: no N held (stopped: {stop})"),
        }
        max = Some(json!({ "held": held, "stopped": stop, "steps": steps }));
    }
    print_notes();
    if let Some(path) = &cli.out {
        let doc = json!({
            "cores": std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0),
            "openFilesLimit": fd_limit,
            "notes": NOTES,
            "runs": runs,
            "max": max,
            "elapsedSecs": started.elapsed().as_secs_f64(),
        });
        std::fs::write(path, serde_json::to_vec_pretty(&doc)?)?;
        println!("results written to {}", path.display());
    }
    Ok(())
}

const NOTES: &[&str] = &[
    "latency: simulator write to simulator read on one Instant clock; includes both loopback hops, the bridge, and the reading simulator's own scheduling delay",
    "CPU %: 100 = one core; total = whole process (server + both simulators + driver), split by thread: srv = server runtime and SQLite workers, sims = simulator runtime incl. the frame probe",
    "RSS/call: (VmRSS with N calls live - VmRSS before) / N; includes both simulators' per-call state and the probe, not only the server",
    "lost: frames sent during the window that never arrived; whole-call: sent - received over each call's life (agent->callee loses the frames in flight at hang-up by design)",
];

fn print_header() {
    println!(
        "{:>6} {:>5} {:>6} | {:>6} {:>5} {:>5} | {:>8} | {:>23} | {:>23} | {:>9} | {:>13} | {:>5}",
        "N",
        "live",
        "ramp s",
        "CPU%",
        "srv",
        "sims",
        "RSS/call",
        "callee->agent p50/p99/max",
        "agent->callee p50/p99/max",
        "lost win",
        "lost whole",
        "pace%"
    );
}

fn print_row(r: &RunResult) {
    let lat = |d: &run::Direction| match &d.latency {
        Some(l) => format!("{:.3}/{:.3}/{:.1} ms", l.p50_ms, l.p99_ms, l.max_ms),
        None => "-".into(),
    };
    let (c, a) = (&r.callee_to_agent, &r.agent_to_callee);
    println!(
        "{:>6} {:>5} {:>6.1} | {:>6.1} {:>5.1} {:>5.1} | {:>5.1} KiB | {:>23} | {:>23} | {:>4}/{:<4} | {:>6}/{:<6} | {:>5.1}",
        r.settings.calls,
        r.calls_live,
        r.ramp_secs,
        r.cpu_percent,
        r.cpu_server_percent,
        r.cpu_sims_percent,
        r.rss_per_call_kib,
        lat(c),
        lat(a),
        c.lost_in_window,
        a.lost_in_window,
        c.sent_total.saturating_sub(c.received_total),
        a.sent_total.saturating_sub(a.received_total),
        r.callee_pacing_percent,
    );
    if r.place_errors + r.ended_early + r.hangup_errors + r.not_ended > 0
        || c.unmatched + a.unmatched > 0
    {
        println!(
            "       ! place errors {}, ended early {}, hang-up errors {}, not ended {}, unmatched {}/{}",
            r.place_errors, r.ended_early, r.hangup_errors, r.not_ended, c.unmatched, a.unmatched
        );
    }
}

fn print_notes() {
    for n in NOTES {
        println!("  - {n}");
    }
}
