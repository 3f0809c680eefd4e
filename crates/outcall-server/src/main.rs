//! The `outcall` command: `serve`, `migrate`, `demo`, `sim`, `archive`, `mongo shard`, `contacts`, `campaign`.

use std::io::IsTerminal;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};
use outcall_server::config::{LogFormat, ServerConfig, StoreConfig};

/// outcall: AI outbound calls with Twilio and ElevenLabs, stored in SQLite or MongoDB.
#[derive(Debug, Parser)]
#[command(version)]
struct Cli {
    /// Log format.
    #[arg(
        long,
        env = "LOG_FORMAT",
        value_enum,
        default_value = "text",
        global = true
    )]
    log_format: LogFormat,

    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the server: API, webhooks and dashboard.
    Serve(Box<ServerConfig>),
    /// Create or update the database schema and indexes, then exit.
    Migrate(StoreConfig),
    /// Run the server with simulated Twilio and ElevenLabs on loopback, placing demo
    /// calls: no account needed.
    Demo(outcall_server::demo::DemoArgs),
    /// Run one simulator (Twilio or ElevenLabs) on its own.
    Sim(outcall_server::sim_cli::SimArgs),
    /// Move calls older than a day into a compressed file, keeping daily rollups.
    Archive(outcall_server::archive::ArchiveArgs),
    /// MongoDB administration.
    #[command(subcommand)]
    Mongo(outcall_server::mongo_cli::MongoCommand),
    /// Work on contacts in bulk: `outcall contacts import FILE.csv`.
    Contacts(outcall_server::contacts::cli::ContactsArgs),
    /// Start, pause, resume or stop a campaign: `outcall campaign pause ID`.
    Campaign(outcall_server::campaign_cli::CampaignArgs),
}

fn main() -> ExitCode {
    // A missing .env is normal; a malformed one is worth saying.
    if let Err(e) = dotenvy::dotenv()
        && !e.not_found()
    {
        eprintln!("warning: ignoring .env: {e}");
    }
    let cli = Cli::parse();
    let log_format = cli.log_format;
    init_tracing(log_format);
    let result = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")
        .and_then(|runtime| runtime.block_on(run(cli.command)));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            // One line a person can act on; the cause chain is joined with ": ". As
            // text it is a plain line (no timestamp, no colours), for people and for
            // scripts that read stderr; as JSON, a log record like the others.
            match log_format {
                LogFormat::Json => tracing::error!("{e:#}"),
                LogFormat::Text => eprintln!("error: {e:#}"),
            }
            ExitCode::FAILURE
        }
    }
}

async fn run(command: Command) -> anyhow::Result<()> {
    match command {
        Command::Serve(config) => serve(*config).await,
        Command::Demo(args) => outcall_server::demo::run(args, shutdown_signals()).await,
        Command::Sim(args) => outcall_server::sim_cli::run(args, shutdown_signal()).await,
        Command::Archive(args) => outcall_server::archive::run(args).await,
        Command::Mongo(command) => outcall_server::mongo_cli::run(command).await,
        Command::Contacts(args) => outcall_server::contacts::cli::run(args).await,
        Command::Campaign(args) => outcall_server::campaign_cli::run(args).await,
        Command::Migrate(config) => {
            let store = outcall_server::store::open(&config).await?;
            tracing::info!(
                backend = store.backend(),
                "schema and indexes are up to date"
            );
            Ok(())
        }
    }
}

async fn serve(config: ServerConfig) -> anyhow::Result<()> {
    outcall_server::serve(config, shutdown_signals(), |_| {}).await
}

/// One item per Ctrl-C or SIGTERM: the first drains live calls, a second ends them.
fn shutdown_signals() -> impl futures::Stream<Item = ()> + Send + Unpin + 'static {
    #[cfg(unix)]
    let term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
    #[cfg(not(unix))]
    let term: Option<()> = None;
    Box::pin(futures::stream::unfold(term, |mut term| async move {
        #[cfg(unix)]
        let sigterm = async {
            match term.as_mut() {
                Some(s) => {
                    s.recv().await;
                }
                None => std::future::pending::<()>().await,
            }
        };
        #[cfg(not(unix))]
        let sigterm = std::future::pending::<()>();
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {},
            () = sigterm => {},
        }
        Some(((), term))
    }))
}

/// Resolves on Ctrl-C or SIGTERM.
async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
    tracing::info!("shutting down: finishing in-flight requests");
}

fn init_tracing(format: LogFormat) {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_env("RUST_LOG")
        .unwrap_or_else(|_| EnvFilter::new("info,tower_http=info,sqlx=warn"));
    // Colours only for a person at a terminal, never into a pipe or a file.
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Json => builder.json().init(),
        LogFormat::Text => builder.init(),
    }
}
