//! Configuration: flags, environment variables and `.env`, in that order of
//! precedence (clap reads the environment; `main` loads `.env` into it first).
//! The field docs are the `--help` text and the README's configuration table.

use std::fmt;

use clap::Args;

#[derive(Clone, Args)]
pub struct ServerConfig {
    /// Address to listen on.
    #[arg(long, env = "HOST", default_value = "127.0.0.1")]
    pub host: String,

    /// Port to listen on (0 picks a free one).
    #[arg(long, env = "PORT", default_value_t = 3000)]
    pub port: u16,

    /// API keys accepted as `Authorization: Bearer <key>`, comma-separated.
    #[arg(
        long = "api-key",
        env = "API_KEY",
        value_delimiter = ',',
        hide_env_values = true
    )]
    pub api_keys: Vec<String>,

    #[command(flatten)]
    pub store: StoreConfig,

    /// The base URL Twilio reaches this server at (https in production), used to build
    /// webhook URLs and to check `X-Twilio-Signature`. Default: `http://HOST:PORT`.
    #[arg(long, env = "PUBLIC_URL")]
    pub public_url: Option<String>,

    #[command(flatten)]
    pub twilio: TwilioSettings,

    #[command(flatten)]
    pub elevenlabs: ElevenLabsSettings,

    #[command(flatten)]
    pub google: GoogleSettings,

    #[command(flatten)]
    pub bridge: crate::bridge::settings::BridgeSettings,

    /// Region for phone numbers written without a country code (ISO 3166 code, e.g. US, GB, AU).
    #[arg(long, env = "DEFAULT_REGION", default_value = "US")]
    pub default_region: String,

    #[command(flatten)]
    pub engine: EngineSettings,

    #[command(flatten)]
    pub realtime: RealtimeSettings,

    #[command(flatten)]
    pub cache: CacheConfig,

    /// Largest request body accepted, in bytes.
    #[arg(long, env = "BODY_LIMIT_BYTES", default_value_t = 1_048_576)]
    pub body_limit_bytes: usize,

    /// Origins (comma-separated, `https://app.example.com`) whose pages may call the
    /// API from a browser. None by default: only the dashboard this server serves.
    #[arg(long = "cors-origins", env = "CORS_ORIGINS", value_delimiter = ',')]
    pub cors_origins: Vec<String>,

    /// When set, `/metrics` answers only `Authorization: Bearer <METRICS_TOKEN>` (a
    /// scraper's own secret, apart from the API keys). Unset, `/metrics` is open.
    #[arg(long, env = "METRICS_TOKEN", hide_env_values = true)]
    pub metrics_token: Option<String>,

    /// On SIGTERM, seconds live calls may go on (no new call starts meanwhile); then
    /// the rest are hung up with `terminatedBy: "system"`. A second SIGTERM ends them
    /// at once. Give the orchestrator's kill timeout a little more than this.
    #[arg(long, env = "SHUTDOWN_GRACE_SECS", default_value_t = 300)]
    pub shutdown_grace_secs: u64,
}

/// The Twilio account outcall places calls with. Calling needs all of
/// `TWILIO_ACCOUNT_SID`, `TWILIO_AUTH_TOKEN` and `TWILIO_FROM_NUMBER`.
#[derive(Clone, Args)]
pub struct TwilioSettings {
    /// Twilio account sid (`AC…`).
    #[arg(long, env = "TWILIO_ACCOUNT_SID")]
    pub twilio_account_sid: Option<String>,

    /// Twilio auth token: signs webhooks and authenticates REST calls.
    #[arg(long, env = "TWILIO_AUTH_TOKEN", hide_env_values = true)]
    pub twilio_auth_token: Option<String>,

    /// The number calls come from (E.164), unless a call gives its own caller id.
    #[arg(long, env = "TWILIO_FROM_NUMBER")]
    pub twilio_from_number: Option<String>,

    /// Twilio's REST base URL (regional hosts, or a simulator).
    #[arg(
        long,
        env = "TWILIO_API_BASE",
        default_value = "https://api.twilio.com"
    )]
    pub twilio_api_base: String,

    /// Seconds a Twilio REST request may take before outcall gives up on its answer
    /// (1-120). A create whose answer did not come in time is settled by asking
    /// Twilio for the call, so a shorter wait frees the campaign's runner sooner.
    #[arg(long, env = "TWILIO_REQUEST_TIMEOUT_SECS", default_value_t = 15, value_parser = clap::value_parser!(u64).range(1..=120))]
    pub twilio_request_timeout_secs: u64,

    /// What to do when AMD says a machine answered: `hangup` at once, `leave-message`
    /// (say `VOICEMAIL_MESSAGE`, then hang up), or `agent` (let the agent talk on).
    #[arg(long, env = "VOICEMAIL_ACTION", value_enum, default_value = "hangup")]
    pub voicemail_action: VoicemailAction,

    /// The message left on answering machines with `VOICEMAIL_ACTION=leave-message`.
    /// Sent to Twilio as inline TwiML, which Twilio takes up to 4000 characters long.
    #[arg(long, env = "VOICEMAIL_MESSAGE", value_parser = voicemail_message)]
    pub voicemail_message: Option<String>,

    /// Answering-machine detection: `detect-message-end` (waits for the beep, so a
    /// message can be left), `enable` (decides as soon as it can), or `off`.
    #[arg(
        long,
        env = "AMD_MODE",
        value_enum,
        default_value = "detect-message-end"
    )]
    pub amd_mode: AmdMode,

    /// AMD: seconds to decide (3-59, Twilio's default 30).
    #[arg(long, env = "AMD_TIMEOUT_SECS", value_parser = clap::value_parser!(u32).range(3..=59))]
    pub amd_timeout_secs: Option<u32>,

    /// AMD: milliseconds of speech that mean a machine greeting (1000-6000, Twilio's default 2400).
    #[arg(long, env = "AMD_SPEECH_THRESHOLD_MS", value_parser = clap::value_parser!(u32).range(1000..=6000))]
    pub amd_speech_threshold_ms: Option<u32>,

    /// AMD: milliseconds of silence that end speech (500-5000, Twilio's default 1200).
    #[arg(long, env = "AMD_SPEECH_END_THRESHOLD_MS", value_parser = clap::value_parser!(u32).range(500..=5000))]
    pub amd_speech_end_threshold_ms: Option<u32>,

    /// AMD: milliseconds of initial silence before `unknown` (2000-10000, Twilio's default 5000).
    #[arg(long, env = "AMD_SILENCE_TIMEOUT_MS", value_parser = clap::value_parser!(u32).range(2000..=10000))]
    pub amd_silence_timeout_ms: Option<u32>,

    /// Record calls (dual-channel) and store the recordings' metadata.
    #[arg(long, env = "RECORD_CALLS", default_value_t = true, action = clap::ArgAction::Set)]
    pub record_calls: bool,

    /// The longest an answered call may last, in seconds (60-14400), sent to Twilio as
    /// `TimeLimit`: Twilio ends the call then, whatever happens on it (an agent that
    /// stopped talking, a callee who never hangs up), so no call runs up the bill.
    #[arg(long, env = "MAX_CALL_SECS", default_value_t = 3600, value_parser = clap::value_parser!(u32).range(60..=14400))]
    pub max_call_secs: u32,
}

impl fmt::Debug for TwilioSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TwilioSettings")
            .field("account_sid", &self.twilio_account_sid)
            .field(
                "auth_token",
                &self.twilio_auth_token.as_ref().map(|_| "<hidden>"),
            )
            .field("from_number", &self.twilio_from_number)
            .field("api_base", &self.twilio_api_base)
            .field("voicemail_action", &self.voicemail_action)
            .field("amd_mode", &self.amd_mode)
            .field("record_calls", &self.record_calls)
            .finish()
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum AmdMode {
    DetectMessageEnd,
    Enable,
    Off,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum VoicemailAction {
    Hangup,
    LeaveMessage,
    Agent,
}

/// The ElevenLabs Conversational AI agent calls are connected to.
#[derive(Clone, Args)]
pub struct ElevenLabsSettings {
    /// ElevenLabs API key (`xi-api-key`), used to get signed conversation URLs.
    #[arg(long, env = "ELEVENLABS_API_KEY", hide_env_values = true)]
    pub elevenlabs_api_key: Option<String>,

    /// The agent that talks on calls, unless a call names its own.
    #[arg(long, env = "ELEVENLABS_AGENT_ID")]
    pub elevenlabs_agent_id: Option<String>,

    /// Secret of the post-call webhook (`ElevenLabs-Signature`); without it the webhook is refused.
    #[arg(long, env = "ELEVENLABS_WEBHOOK_SECRET", hide_env_values = true)]
    pub elevenlabs_webhook_secret: Option<String>,

    /// Largest post-call webhook body accepted, in bytes. `post_call_audio` carries the
    /// whole call as base64 MP3 (about 1 MB a minute), far past `BODY_LIMIT_BYTES`.
    #[arg(
        long,
        env = "ELEVENLABS_WEBHOOK_MAX_BYTES",
        default_value_t = crate::agent::DEFAULT_WEBHOOK_MAX_BYTES
    )]
    pub elevenlabs_webhook_max_bytes: usize,

    /// ElevenLabs' API base URL (or a simulator).
    #[arg(
        long,
        env = "ELEVENLABS_API_BASE",
        default_value = "https://api.elevenlabs.io"
    )]
    pub elevenlabs_api_base: String,
}

impl fmt::Debug for ElevenLabsSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ElevenLabsSettings")
            .field(
                "api_key",
                &self.elevenlabs_api_key.as_ref().map(|_| "<hidden>"),
            )
            .field("agent_id", &self.elevenlabs_agent_id)
            .field(
                "webhook_secret",
                &self.elevenlabs_webhook_secret.as_ref().map(|_| "<hidden>"),
            )
            .field("api_base", &self.elevenlabs_api_base)
            .field("webhook_max_bytes", &self.elevenlabs_webhook_max_bytes)
            .finish()
    }
}

/// The Google service account that reads contact sheets and writes results back.
#[derive(Clone, Debug, Args)]
pub struct GoogleSettings {
    /// Path to the service account's key JSON (from the Google Cloud console). Without
    /// it the Google Sheets routes answer 503.
    #[arg(long, env = "GOOGLE_SERVICE_ACCOUNT_KEY")]
    pub google_service_account_key: Option<std::path::PathBuf>,

    /// Google Sheets API base URL (or a simulator).
    #[arg(
        long,
        env = "GOOGLE_SHEETS_API_BASE",
        default_value = "https://sheets.googleapis.com"
    )]
    pub google_sheets_api_base: String,
}

/// Global flags: a subcommand with its own subcommands (`outcall campaign`) takes
/// them before or after those.
#[derive(Clone, Args)]
pub struct StoreConfig {
    /// Database URL: `sqlite://PATH` (the embedded default) or `mongodb://…`.
    #[arg(
        long,
        global = true,
        env = "DATABASE_URL",
        default_value = "sqlite://./data/outcall.db"
    )]
    pub database_url: String,

    /// MongoDB connection string; when set, outcall uses MongoDB instead of `DATABASE_URL`.
    #[arg(long, global = true, env = "MONGODB_URI", hide_env_values = true)]
    pub mongodb_uri: Option<String>,

    /// MongoDB database name.
    #[arg(long, global = true, env = "MONGODB_DB", default_value = "outcall")]
    pub mongodb_db: String,

    /// MongoDB connection pool: most connections open at once (driver default 10).
    #[arg(long, global = true, env = "MONGODB_MAX_POOL_SIZE")]
    pub mongodb_max_pool_size: Option<u32>,

    /// MongoDB connection pool: connections kept open even when idle (default 0).
    #[arg(long, global = true, env = "MONGODB_MIN_POOL_SIZE")]
    pub mongodb_min_pool_size: Option<u32>,

    /// How long opening one MongoDB connection may take, in milliseconds.
    #[arg(long, global = true, env = "MONGODB_CONNECT_TIMEOUT_MS")]
    pub mongodb_connect_timeout_ms: Option<u64>,

    /// How long an operation waits for a usable MongoDB server, in milliseconds (default 5000).
    #[arg(long, global = true, env = "MONGODB_SERVER_SELECTION_TIMEOUT_MS")]
    pub mongodb_server_selection_timeout_ms: Option<u64>,

    /// Name shown in MongoDB's logs and `currentOp` (default `outcall`).
    #[arg(long, global = true, env = "MONGODB_APP_NAME")]
    pub mongodb_app_name: Option<String>,

    /// Write concern: `majority` or a number of nodes (the URI's or the server's default if unset).
    #[arg(long, global = true, env = "MONGODB_WRITE_CONCERN")]
    pub mongodb_write_concern: Option<String>,

    /// Read preference for lists, counts and analytics: `primary`, `primaryPreferred`,
    /// `secondary`, `secondaryPreferred` or `nearest`. Reads that decide a write always go
    /// to the primary.
    #[arg(long, global = true, env = "MONGODB_READ_PREFERENCE")]
    pub mongodb_read_preference: Option<String>,

    /// At start-up, how long to wait for an unreachable MongoDB before giving up, in seconds.
    #[arg(
        long,
        global = true,
        env = "MONGODB_STARTUP_TIMEOUT_SECS",
        default_value_t = 60
    )]
    pub mongodb_startup_timeout_secs: u64,

    /// Delete call events this many days after they were stored (a TTL index on MongoDB,
    /// an hourly purge on SQLite). Unset: keep them forever.
    #[arg(long, global = true, env = "EVENT_RETENTION_DAYS", value_parser = clap::value_parser!(u32).range(1..))]
    pub event_retention_days: Option<u32>,

    /// Log database operations slower than this many milliseconds (collection, filter
    /// shape and duration; never values). 0 turns it off.
    #[arg(long, global = true, env = "SLOW_QUERY_MS", default_value_t = 200)]
    pub slow_query_ms: u64,
}

impl StoreConfig {
    /// `EVENT_RETENTION_DAYS` as a duration.
    pub fn event_retention(&self) -> Option<std::time::Duration> {
        self.event_retention_days
            .map(|d| std::time::Duration::from_secs(u64::from(d) * 86_400))
    }

    /// `SLOW_QUERY_MS` as a duration; `None` when off.
    pub fn slow_query(&self) -> Option<std::time::Duration> {
        (self.slow_query_ms > 0).then(|| std::time::Duration::from_millis(self.slow_query_ms))
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

/// Hides the API keys: settings get logged, keys must not be.
impl fmt::Debug for ServerConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServerConfig")
            .field("host", &self.host)
            .field("port", &self.port)
            .field(
                "api_keys",
                &format_args!("[{} hidden]", self.api_keys.len()),
            )
            .field("store", &self.store)
            .field("public_url", &self.public_url)
            .field("twilio", &self.twilio)
            .field("elevenlabs", &self.elevenlabs)
            .field("google", &self.google)
            .field("bridge", &self.bridge)
            .field("default_region", &self.default_region)
            .field("cache", &self.cache)
            .field("body_limit_bytes", &self.body_limit_bytes)
            .field("cors_origins", &self.cors_origins)
            .field(
                "metrics_token",
                &self.metrics_token.as_ref().map(|_| "<hidden>"),
            )
            .finish()
    }
}

impl fmt::Debug for StoreConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StoreConfig")
            .field("database_url", &redact_url(&self.database_url))
            .field("mongodb_uri", &self.mongodb_uri.as_deref().map(redact_url))
            .field("mongodb_db", &self.mongodb_db)
            .field("mongodb_max_pool_size", &self.mongodb_max_pool_size)
            .field("mongodb_min_pool_size", &self.mongodb_min_pool_size)
            .field("mongodb_write_concern", &self.mongodb_write_concern)
            .field("mongodb_read_preference", &self.mongodb_read_preference)
            .field("event_retention_days", &self.event_retention_days)
            .field("slow_query_ms", &self.slow_query_ms)
            .finish()
    }
}

/// Replaces a password in a URL (`scheme://user:pass@host`) with `***`.
pub fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme_end), Some(at)) if at > scheme_end => {
            let userinfo = &url[scheme_end + 3..at];
            match userinfo.find(':') {
                Some(colon) => format!(
                    "{}{}:***{}",
                    &url[..scheme_end + 3],
                    &userinfo[..colon],
                    &url[at..]
                ),
                None => url.to_string(),
            }
        }
        _ => url.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[derive(Parser)]
    struct Settings {
        #[command(flatten)]
        engine: EngineSettings,
        #[command(flatten)]
        twilio: TwilioSettings,
    }

    fn parse(args: &[&str]) -> Result<Settings, String> {
        Settings::try_parse_from(std::iter::once("outcall").chain(args.iter().copied()))
            .map_err(|e| e.to_string())
    }

    #[test]
    fn calls_per_second_out_of_range_is_refused_with_its_name() {
        for bad in [
            "0", "-1", "NaN", "inf", "1e-300", "0.0009", "1000001", "fast",
        ] {
            let arg = format!("--calls-per-second={bad}");
            let e = parse(&[&arg]).err().unwrap_or_default();
            assert!(
                e.contains("CALLS_PER_SECOND must be a number from 0.001 to 1000000"),
                "{bad}: {e}"
            );
        }
        for good in ["0.001", "1", "2.5", "10000", "1000000"] {
            let s = parse(&["--calls-per-second", good]).expect(good);
            assert_eq!(s.engine.calls_per_second, good.parse::<f64>().expect(good));
        }
        assert_eq!(parse(&[]).map(|s| s.engine.calls_per_second), Ok(1.0));
    }

    #[test]
    fn lease_seconds_out_of_range_are_refused() {
        for flag in ["--attempt-lease-secs", "--runner-lease-secs"] {
            for bad in ["0", "0.5", "-3", "NaN", "inf", "86401"] {
                let arg = format!("{flag}={bad}");
                let e = parse(&[&arg]).err().unwrap_or_default();
                assert!(e.contains("from 1 to 86400"), "{flag} {bad}: {e}");
            }
            assert!(parse(&[flag, "1"]).is_ok());
        }
    }

    #[test]
    fn amd_thresholds_outside_twilios_ranges_are_refused() {
        let cases = [
            ("--amd-timeout-secs", ["2", "60"], "3"),
            ("--amd-speech-threshold-ms", ["999", "6001"], "6000"),
            ("--amd-speech-end-threshold-ms", ["499", "5001"], "500"),
            ("--amd-silence-timeout-ms", ["1999", "10001"], "10000"),
        ];
        for (flag, bad, good) in cases {
            for b in bad {
                let e = parse(&[flag, b]).err().unwrap_or_default();
                assert!(e.contains("is not in"), "{flag} {b}: {e}");
            }
            assert!(parse(&[flag, good]).is_ok(), "{flag} {good}");
        }
    }

    #[test]
    fn a_voicemail_message_too_long_for_inline_twiml_is_refused() {
        // Escaping counts: `&` becomes `&amp;` in the TwiML Twilio receives.
        let fits = "a".repeat(MAX_INLINE_TWIML - 120);
        assert!(parse(&["--voicemail-message", &fits]).is_ok());
        let escaped = "&".repeat(MAX_INLINE_TWIML / 5);
        let e = parse(&["--voicemail-message", &escaped])
            .err()
            .unwrap_or_default();
        assert!(e.contains("VOICEMAIL_MESSAGE is too long"), "{e}");
        let long = "a".repeat(MAX_INLINE_TWIML);
        assert!(parse(&["--voicemail-message", &long]).is_err());
    }

    #[test]
    fn redacts_passwords_in_urls() {
        assert_eq!(
            redact_url("mongodb://bob:secret@db:27017/x"),
            "mongodb://bob:***@db:27017/x"
        );
        assert_eq!(
            redact_url("sqlite://./data/outcall.db"),
            "sqlite://./data/outcall.db"
        );
    }
}

/// The campaign engine.
#[derive(Clone, Debug, Args)]
pub struct EngineSettings {
    /// Run campaigns in this process (`false` for an API-only process).
    #[arg(long, env = "CAMPAIGN_ENGINE", default_value_t = true, action = clap::ArgAction::Set)]
    pub campaign_engine: bool,

    /// Account-wide calls started per second, across campaigns (0.001 to 1000000;
    /// Twilio's default is 1).
    #[arg(long, env = "CALLS_PER_SECOND", default_value_t = 1.0, value_parser = calls_per_second)]
    pub calls_per_second: f64,

    /// Seconds a dial attempt's lease lasts before another process may check on it;
    /// a live call's lease is renewed while Twilio says it is live (1-86400).
    #[arg(long, env = "ATTEMPT_LEASE_SECS", default_value_t = 120.0, value_parser = lease_secs)]
    pub attempt_lease_secs: f64,

    /// Seconds a process holds a campaign before another may take it over; renewed
    /// while it runs, also while a dial waits (1-86400).
    #[arg(long, env = "RUNNER_LEASE_SECS", default_value_t = 15.0, value_parser = lease_secs)]
    pub runner_lease_secs: f64,

    /// Milliseconds between the engine's looks at campaigns when nothing wakes it.
    #[arg(long, env = "ENGINE_TICK_MS", default_value_t = 1000)]
    pub engine_tick_ms: u64,
}

/// Twilio takes inline TwiML (the voicemail message is sent that way) up to this long.
pub const MAX_INLINE_TWIML: usize = 4000;

/// `CALLS_PER_SECOND`: a finite rate whose interval between calls is representable
/// (at most 1000 s; the top is for simulators, Twilio's accounts go to a few hundred).
fn calls_per_second(raw: &str) -> Result<f64, String> {
    let bound = "CALLS_PER_SECOND must be a number from 0.001 to 1000000";
    match raw.trim().parse::<f64>() {
        Ok(v) if (0.001..=1_000_000.0).contains(&v) => Ok(v),
        _ => Err(bound.into()),
    }
}

/// `ATTEMPT_LEASE_SECS` and `RUNNER_LEASE_SECS`.
fn lease_secs(raw: &str) -> Result<f64, String> {
    match raw.trim().parse::<f64>() {
        Ok(v) if (1.0..=86_400.0).contains(&v) => Ok(v),
        _ => Err("must be a number of seconds from 1 to 86400".into()),
    }
}

/// `VOICEMAIL_MESSAGE`: short enough for Twilio once put in its TwiML (a blank one is
/// no message, which `leave-message` refuses at start).
fn voicemail_message(raw: &str) -> Result<String, String> {
    let len = outcall_twilio::twiml::say_then_hangup(raw).chars().count();
    if len > MAX_INLINE_TWIML {
        return Err(format!(
            "VOICEMAIL_MESSAGE is too long: its TwiML is {len} characters, Twilio takes at most {MAX_INLINE_TWIML}"
        ));
    }
    Ok(raw.to_string())
}

/// Live events (Socket.IO, SSE) across processes.
#[derive(Clone, Debug, Args)]
pub struct RealtimeSettings {
    /// Share live events with other outcall processes on the same database: `auto`
    /// (on for MongoDB, off for SQLite), `on` or `off`.
    #[arg(long, env = "EVENT_RELAY", value_enum, default_value_t = RelayMode::Auto)]
    pub event_relay: RelayMode,

    /// Milliseconds between two reads of the relay log (how late events of other
    /// processes may arrive).
    #[arg(long, env = "EVENT_RELAY_POLL_MS", default_value_t = 200)]
    pub event_relay_poll_ms: u64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum RelayMode {
    Auto,
    On,
    Off,
}

/// The response cache.
#[derive(Clone, Debug, Args)]
pub struct CacheConfig {
    /// Cache the answers of the read routes the seed caches (dropped on every change).
    #[arg(long, env = "CACHE_ENABLED", default_value_t = true, action = clap::ArgAction::Set)]
    pub cache_enabled: bool,

    /// Most answers kept per cached route kind; the least used go first.
    #[arg(long, env = "CACHE_MAX_ENTRIES", default_value_t = 10_000)]
    pub cache_max_entries: u64,

    /// Milliseconds every cached route keeps an answer, instead of the seed's TTLs (tests).
    #[arg(long, hide = true)]
    pub cache_ttl_ms: Option<u64>,
}

impl CacheConfig {
    pub fn settings(&self) -> crate::cache::CacheSettings {
        crate::cache::CacheSettings {
            enabled: self.cache_enabled,
            max_entries: self.cache_max_entries,
            ttl_override: self.cache_ttl_ms.map(std::time::Duration::from_millis),
        }
    }
}
