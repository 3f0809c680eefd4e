//! outcall's server: HTTP API, and later webhooks, media bridge and campaign engine.
//!
//! Handlers talk to the Store port only; they never know which database is behind it.
//!
//! # Layout
//! - [`config`]: settings from flags, environment and `.env`.
//! - [`error`], [`envelope`], [`extract`]: the API's conventions (api.md).
//! - [`auth`]: API-key check for `/api/*`.
//! - [`bus`]: the event bus every state change is published on.
//! - [`cache`]: the response cache, invalidated by the bus.
//! - [`routes`]: one module per resource, each with its `router()`.
//! - [`realtime`]: live events: Socket.IO, Server-Sent Events, the cross-process relay.
//! - [`contacts`]: contact imports (CSV, JSON, CLI) and CSV exports.
//! - [`dnc`]: do-not-call by number (the list, and do-not-call contacts).
//! - [`sheets`]: Google Sheets: campaign imports from a sheet, results written back.
//! - [`web`]: the embedded dashboard at `/`.
//! - [`bridge`]: the media bridge between Twilio and the ElevenLabs agent.
//! - [`drain`]: graceful shutdown with live calls, and the start-up reconciliation.
//! - [`launch`]: serve on a given listener until a shutdown future resolves
//!   ([`http_server`]: the connections and their policy).

pub mod agent;
pub mod analytics;
pub mod archive;
pub mod auth;
pub mod bridge;
pub mod bus;
pub mod cache;
pub mod campaign_cli;
pub mod cli_store;
pub mod config;
pub mod contacts;
pub mod cors;
pub mod demo;
pub mod dialer;
pub mod dnc;
pub mod drain;
pub mod engine;
pub mod envelope;
pub mod error;
pub mod extract;
pub mod http_server;
pub mod metrics;
pub mod mongo_cli;
pub mod realtime;
pub mod routes;
pub mod sentiment;
pub mod sheets;
pub mod sim_cli;
pub mod store;
pub mod telephony;
pub mod web;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::{HeaderName, Request};
use outcall_domain::phone::Region;
use outcall_store::Store;
use tokio::net::TcpListener;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::TraceLayer;

use crate::config::ServerConfig;

/// What every handler can reach. Cheap to clone.
#[derive(Clone)]
pub struct AppState {
    pub store: Arc<dyn Store>,
    pub bus: bus::EventBus,
    /// Cached answers of the read routes the seed caches; the bus invalidates them.
    pub cache: Arc<cache::ResponseCache>,
    pub api_keys: Arc<[String]>,
    pub region: Region,
    /// The Twilio account, when configured.
    pub telephony: Option<Arc<telephony::Telephony>>,
    /// The ElevenLabs agent, when configured.
    pub agent: Option<Arc<agent::Agent>>,
    /// The Google Sheets client, when a service account key is configured.
    pub sheets: Option<outcall_sheets::SheetsClient>,
    /// The base URL providers reach us at (no trailing slash).
    pub public_url: Arc<str>,
    pub engine: Arc<engine::Engine>,
    /// Live events for Socket.IO and SSE clients.
    pub realtime: realtime::Realtime,
    /// The media bridge's settings and the calls it is making ready.
    pub bridge: Arc<bridge::Bridge>,
    /// The shutdown phase: checked before every new call.
    pub drain: Arc<drain::Drain>,
    /// The bearer token `/metrics` wants, when one is set.
    pub metrics_token: Option<Arc<str>>,
    /// Origins allowed to call the API from a browser (`CORS_ORIGINS`).
    pub cors_origins: Arc<[axum::http::HeaderValue]>,
}

impl std::fmt::Debug for AppState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppState")
            .field("store", &self.store.backend())
            .field(
                "api_keys",
                &format_args!("[{} hidden]", self.api_keys.len()),
            )
            .field("region", &self.region)
            .field("telephony", &self.telephony.is_some())
            .field("sheets", &self.sheets.is_some())
            .field("public_url", &self.public_url)
            .finish()
    }
}

impl AppState {
    /// Builds the state from configuration, refusing settings that cannot work.
    pub fn new(store: Arc<dyn Store>, config: &ServerConfig) -> anyhow::Result<Self> {
        let (api_keys, region) = check_settings(config)?;
        let cors_origins = cors::parse_origins(&config.cors_origins)?;
        let telephony = telephony::Telephony::from_settings(&config.twilio, region)?.map(Arc::new);
        let agent = agent::Agent::from_settings(&config.elevenlabs)?.map(Arc::new);
        let store_is_mongodb = store.backend() == "mongodb";
        let sheets = sheets::client_from_settings(&config.google)?;
        let public_url = config
            .public_url
            .clone()
            .unwrap_or_else(|| format!("http://{}:{}", config.host, config.port));
        let cache = Arc::new(cache::ResponseCache::new(config.cache.settings()));
        let invalidate = cache.clone();
        let bus = bus::EventBus::with_hook(
            bus::DEFAULT_CAPACITY,
            Arc::new(move |event| invalidate.invalidate_for(event)),
        );
        Ok(Self {
            store,
            bus,
            cache,
            api_keys,
            region,
            telephony,
            agent,
            sheets,
            public_url: public_url.trim_end_matches('/').into(),
            engine: Arc::new(engine::Engine::new(&config.engine)),
            realtime: realtime::Realtime::new(&config.realtime, store_is_mongodb),
            bridge: Arc::new(bridge::Bridge::new(config.bridge.clone())),
            drain: Arc::new(drain::Drain::default()),
            metrics_token: config
                .metrics_token
                .as_deref()
                .map(str::trim)
                .filter(|t| !t.is_empty())
                .map(Arc::from),
            cors_origins: cors_origins.into(),
        })
    }

    /// Sets the public base URL (e.g. once the port a test bound is known).
    pub fn with_public_url(mut self, url: &str) -> Self {
        self.public_url = url.trim_end_matches('/').into();
        self
    }
}

/// Checks the settings that need no database: the API keys and the default region.
pub fn check_settings(config: &ServerConfig) -> anyhow::Result<(Arc<[String]>, Region)> {
    let keys: Vec<String> = config
        .api_keys
        .iter()
        .map(|k| k.trim().to_string())
        .filter(|k| !k.is_empty())
        .collect();
    if keys.is_empty() {
        anyhow::bail!(
            "API_KEY is not set: set API_KEY (or --api-key) to one or more comma-separated secret keys, e.g. API_KEY=dev-key"
        );
    }
    let region = Region::parse(&config.default_region)
        .map_err(|e| anyhow::anyhow!("DEFAULT_REGION: {e}"))?;
    Ok((keys.into(), region))
}

/// The whole HTTP application.
pub fn app(state: AppState, body_limit: usize) -> Router {
    metrics::handle();
    let request_id = HeaderName::from_static("x-request-id");
    state.realtime.start(&state);
    let socketio = realtime::socketio::layer(&state);
    // Outside the key check: a browser's preflight carries no key.
    let cors = tower::util::option_layer(cors::layer(&state.cors_origins));
    Router::new()
        .merge(routes::router(state.clone()))
        .merge(bridge::router())
        .with_state(state)
        .layer(socketio)
        .layer(DefaultBodyLimit::max(body_limit))
        .layer(cors)
        .layer(axum::middleware::from_fn(metrics::track_requests))
        .layer(PropagateRequestIdLayer::new(request_id.clone()))
        .layer(
            TraceLayer::new_for_http().make_span_with(|req: &Request<_>| {
                let id = req
                    .headers()
                    .get("x-request-id")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("-");
                tracing::info_span!("request", method = %req.method(), path = %req.uri().path(), request_id = %id)
            }),
        )
        .layer(SetRequestIdLayer::new(request_id, MakeRequestUuid))
}

/// Serves `app` on `listener` until `shutdown` resolves, then lets in-flight
/// requests finish for up to `grace` ([`http_server`]).
pub async fn launch(
    listener: TcpListener,
    app: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
    grace: Duration,
) -> std::io::Result<()> {
    http_server::serve(listener, app, shutdown, grace).await
}

/// `outcall serve`: opens the store, binds `HOST:PORT`, and serves until the
/// shutdown. `signals` yields once per SIGTERM (or Ctrl-C): the first starts the
/// drain ([`drain`]), a second ends the live calls at once. `on_listening` sees the
/// state once the address is known (the demo uses it).
pub async fn serve(
    config: ServerConfig,
    signals: impl futures::Stream<Item = ()> + Send + Unpin + 'static,
    on_listening: impl FnOnce(&AppState),
) -> anyhow::Result<()> {
    use anyhow::Context;
    tracing::debug!(?config, "configuration");
    // Refuse bad settings before touching the database.
    check_settings(&config)?;
    // Before the store opens, so the MongoDB pool's first connections are counted.
    metrics::handle();
    let store = store::open(&config.store).await?;
    spawn_event_purge(store.clone(), config.store.event_retention());
    spawn_daily_rollups(store.clone());
    let state = AppState::new(store, &config)?;
    let addr = format!("{}:{}", config.host, config.port);
    let listener = TcpListener::bind(&addr)
        .await
        .with_context(|| format!("cannot listen on {addr} (HOST/PORT)"))?;
    let local = listener.local_addr()?;
    let state = match &config.public_url {
        Some(_) => state,
        None => state.with_public_url(&format!("http://{local}")),
    };
    if state.telephony.is_none() {
        tracing::info!(
            "Twilio is not configured: calling is off (set TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN, TWILIO_FROM_NUMBER)"
        );
    }
    tracing::info!(
        backend = state.store.backend(),
        "outcall listening on http://{local}"
    );
    on_listening(&state);
    // Calls a crash left open are settled from Twilio, off the start-up path.
    let reconciling = state.clone();
    tokio::spawn(async move { drain::reconcile(&reconciling).await });
    let engine = engine::spawn(state.clone());
    let writeback = sheets::spawn_writeback(&state);
    let grace = Duration::from_secs(config.shutdown_grace_secs);
    let draining = state.clone();
    let shutdown = async move {
        let mut signals = signals;
        next_signal(&mut signals).await;
        drain::run(draining, grace, next_signal(&mut signals)).await;
        tracing::info!("live calls settled; stopping the HTTP server");
    };
    launch(
        listener,
        app(state, config.body_limit_bytes),
        shutdown,
        HTTP_GRACE,
    )
    .await?;
    if let Some(engine) = engine {
        engine.abort();
    }
    if let Some(writeback) = writeback {
        writeback.abort();
    }
    tracing::info!("outcall stopped");
    Ok(())
}

/// The next signal; a stream that ends without one (the demo's) never resolves.
async fn next_signal(signals: &mut (impl futures::Stream<Item = ()> + Unpin)) {
    if futures::StreamExt::next(signals).await.is_none() {
        std::future::pending::<()>().await;
    }
}

/// After the calls are settled, how long in-flight HTTP requests may take.
const HTTP_GRACE: Duration = Duration::from_secs(5);

/// `EVENT_RETENTION_DAYS`: deletes older call events hourly. On MongoDB a TTL index does
/// the same work server-side; the purge then finds nothing left to delete.
fn spawn_event_purge(store: Arc<dyn Store>, retention: Option<std::time::Duration>) {
    let Some(retention) = retention else { return };
    let Ok(retention) = chrono::Duration::from_std(retention) else {
        return;
    };
    tokio::spawn(async move {
        let mut every = tokio::time::interval(std::time::Duration::from_secs(3600));
        loop {
            every.tick().await;
            let cutoff = outcall_domain::time::now() - retention;
            match store.purge_events_before(cutoff).await {
                Ok(0) => {}
                Ok(n) => tracing::info!(
                    deleted = n,
                    "purged call events older than EVENT_RETENTION_DAYS"
                ),
                Err(e) => tracing::warn!("purging old call events failed: {e}"),
            }
        }
    });
}

/// Recomputes the `callstats` rollups of the last week once a day (sealed days stay).
fn spawn_daily_rollups(store: Arc<dyn Store>) {
    tokio::spawn(async move {
        let mut every = tokio::time::interval(std::time::Duration::from_secs(86_400));
        loop {
            every.tick().await;
            let today = outcall_domain::time::now().date_naive();
            if let Err(e) = archive::roll_up_recent_days(&store, today, 7).await {
                tracing::warn!("daily call rollups failed: {e:#}");
            }
        }
    });
}
