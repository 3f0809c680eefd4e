//! A real outcall server on an ephemeral port with a temporary SQLite database (or a
//! fresh database on the MongoDB at `OUTCALL_TEST_MONGODB_URI`, see [`Backend`]), and a
//! small client that speaks to it over HTTP.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use clap::Parser;
use outcall_server::config::ServerConfig;
use outcall_server::{AppState, app, launch};
use reqwest::header::HeaderMap;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use tokio::sync::oneshot;

pub const KEY: &str = "test-key-1";
pub const SECOND_KEY: &str = "test-key-2";

/// Parses configuration exactly as `outcall serve` does, from flags.
#[derive(Parser)]
struct Args {
    #[command(flatten)]
    config: ServerConfig,
}

pub struct TestServer {
    pub base: String,
    pub client: reqwest::Client,
    pub store: Arc<dyn outcall_store::Store>,
    pub bus: outcall_server::bus::EventBus,
    /// The `--database-url` flag it was started with.
    pub database_flag: String,
    _dir: Option<tempfile::TempDir>,
    stop: Option<oneshot::Sender<()>>,
}

/// What a request answered: status, headers and parsed JSON body
/// (a JSON string holding the raw text when the body is not JSON).
#[derive(Debug)]
pub struct Answer {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Value,
}

impl Answer {
    /// The `data` of a success envelope.
    pub fn data(&self) -> &Value {
        assert_eq!(
            self.body["success"],
            Value::Bool(true),
            "not a success envelope: {self:?}"
        );
        &self.body["data"]
    }

    /// The items of a list envelope.
    pub fn items(&self) -> &Vec<Value> {
        self.data()
            .as_array()
            .unwrap_or_else(|| panic!("data is not a list: {self:?}"))
    }

    /// `(page, limit, total, pages)` of a list envelope.
    pub fn pagination(&self) -> (u64, u64, u64, u64) {
        let p = &self.body["pagination"];
        let n = |k: &str| {
            p[k].as_u64()
                .unwrap_or_else(|| panic!("pagination.{k} missing: {self:?}"))
        };
        (n("page"), n("limit"), n("total"), n("pages"))
    }

    /// One string field of every item, in order.
    pub fn column(&self, field: &str) -> Vec<String> {
        self.items()
            .iter()
            .map(|i| {
                i[field]
                    .as_str()
                    .unwrap_or_else(|| panic!("item without {field}: {i}"))
                    .to_string()
            })
            .collect()
    }

    /// Asserts an error envelope with this status and code.
    pub fn assert_error(&self, status: u16, code: &str) {
        assert_eq!(self.status.as_u16(), status, "{self:?}");
        assert_eq!(self.body["success"], Value::Bool(false), "{self:?}");
        assert_eq!(
            self.body["error"]["code"],
            Value::String(code.into()),
            "{self:?}"
        );
        assert!(
            self.body["error"]["message"]
                .as_str()
                .is_some_and(|m| !m.is_empty()),
            "{self:?}"
        );
    }

    /// Asserts a 400 `validation_error` that names `field` in its details and its message.
    pub fn assert_field_error(&self, field: &str) {
        self.assert_error(400, "validation_error");
        let named = self.body["error"]["details"]
            .as_array()
            .is_some_and(|d| d.iter().any(|e| e["field"] == field));
        assert!(named, "details do not name {field:?}: {self:?}");
        assert!(
            self.message().contains(field),
            "message does not name {field:?}: {self:?}"
        );
    }

    /// The error message.
    pub fn message(&self) -> &str {
        self.body["error"]["message"].as_str().unwrap_or("")
    }
}

/// Where a test server keeps its data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    MongoDb,
}

impl Backend {
    /// SQLite, and MongoDB too when `OUTCALL_TEST_MONGODB_URI` is set (`scripts/test`
    /// starts the stand-in for it: `eval "$(scripts/mongo-standin)"`).
    pub fn all() -> Vec<Backend> {
        let mut all = vec![Backend::Sqlite];
        if mongodb_uri().is_some() {
            all.push(Backend::MongoDb);
        }
        all
    }

    /// MongoDB through the nx-27017 stand-in (`OUTCALL_TEST_MONGODB_STANDIN=nx-27017`):
    /// a check it cannot pass is skipped there, citing the MongoDB behaviour it lacks.
    pub fn is_standin(self) -> bool {
        self == Backend::MongoDb
            && std::env::var("OUTCALL_TEST_MONGODB_STANDIN").is_ok_and(|s| s == "nx-27017")
    }
}

impl std::fmt::Display for Backend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Backend::Sqlite => "SQLite",
            Backend::MongoDb => "MongoDB",
        })
    }
}

fn mongodb_uri() -> Option<String> {
    std::env::var("OUTCALL_TEST_MONGODB_URI")
        .ok()
        .filter(|u| !u.is_empty())
}

/// `OUTCALL_TEST_MONGODB_URI` and a database name no other test uses.
pub fn fresh_mongodb() -> (String, String) {
    static DBS: AtomicUsize = AtomicUsize::new(0);
    let uri = mongodb_uri().expect("MongoDB tests need OUTCALL_TEST_MONGODB_URI");
    let db = format!(
        "outcall_api_{}_{}",
        std::process::id(),
        DBS.fetch_add(1, Ordering::Relaxed)
    );
    (uri, db)
}

/// Runs `test` once on each of [`Backend::all`], one after the other; a failure says
/// which backend it happened on.
pub async fn on_each_backend<F, Fut>(test: F)
where
    F: Fn(Backend) -> Fut,
    Fut: Future<Output = ()>,
{
    /// Names the backend when the test panics (the panic message comes first).
    struct Note(Backend);
    impl Drop for Note {
        fn drop(&mut self) {
            if std::thread::panicking() {
                eprintln!("(this failure is on {})", self.0);
            }
        }
    }
    for backend in Backend::all() {
        let _note = Note(backend);
        test(backend).await;
    }
}

/// The SQLite database a server started [in](TestServer::start_in) `dir` uses.
pub fn sqlite_path(dir: &tempfile::TempDir) -> std::path::PathBuf {
    dir.path().join("outcall.db")
}

/// A distinct, well-formed Twilio-like call sid.
pub fn call_sid(n: u32) -> String {
    format!("CA{n:032x}")
}

/// A distinct, well-formed Twilio-like recording sid.
pub fn recording_sid(n: u32) -> String {
    format!("RE{n:032x}")
}

/// An RFC 3339 time from a JSON string, for comparing times in answers.
pub fn time(v: &Value) -> chrono::DateTime<chrono::Utc> {
    v.as_str()
        .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
        .unwrap_or_else(|| panic!("not an RFC 3339 time: {v}"))
        .to_utc()
}

/// `path?k=v&…` with keys and values percent-encoded.
pub fn with_query(path: &str, pairs: &[(&str, &str)]) -> String {
    let encode = |s: &str| {
        s.bytes()
            .map(|b| match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                    (b as char).to_string()
                }
                _ => format!("%{b:02X}"),
            })
            .collect::<String>()
    };
    let query = pairs
        .iter()
        .map(|(k, v)| format!("{}={}", encode(k), encode(v)))
        .collect::<Vec<_>>()
        .join("&");
    format!("{path}?{query}")
}

impl TestServer {
    pub async fn start() -> Self {
        Self::start_with(&[]).await
    }

    /// Starts a server with extra `outcall serve` flags (e.g. `--body-limit-bytes=1000`).
    pub async fn start_with(extra: &[&str]) -> Self {
        Self::start_in(tempfile::tempdir().expect("tempdir"), extra).await
    }

    /// Starts a server on the SQLite database `outcall.db` in `dir`, which may already
    /// hold data (see [`sqlite_path`]).
    pub async fn start_in(dir: tempfile::TempDir, extra: &[&str]) -> Self {
        let url = format!("--database-url=sqlite://{}", sqlite_path(&dir).display());
        Self::start_on(url, Some(dir), extra).await
    }

    /// A server on `backend` with extra flags: SQLite in a temporary directory, or a
    /// database of its own on the MongoDB at `OUTCALL_TEST_MONGODB_URI`.
    pub async fn start_on_backend(backend: Backend, extra: &[&str]) -> Self {
        match backend {
            Backend::Sqlite => Self::start_with(extra).await,
            Backend::MongoDb => {
                let (uri, db) = fresh_mongodb();
                Self::start_on_mongodb(&uri, &db, extra).await
            }
        }
    }

    /// A server on the MongoDB at `uri`, database `db` (`start_beside` shares it).
    pub async fn start_on_mongodb(uri: &str, db: &str, extra: &[&str]) -> Self {
        let db = format!("--mongodb-db={db}");
        let mut flags = vec![db.as_str()];
        flags.extend_from_slice(extra);
        Self::start_on(format!("--mongodb-uri={uri}"), None, &flags).await
    }

    /// A second server (as another process would be) on `other`'s database.
    pub async fn start_beside(other: &TestServer, extra: &[&str]) -> Self {
        Self::start_on(other.database_flag.clone(), None, extra).await
    }

    async fn start_on(url: String, dir: Option<tempfile::TempDir>, extra: &[&str]) -> Self {
        let keys = format!("--api-key={KEY},{SECOND_KEY}");
        let mut argv = vec!["outcall", "--port=0", url.as_str(), keys.as_str()];
        argv.extend_from_slice(extra);
        let config = Args::try_parse_from(argv).expect("flags").config;
        let store = outcall_server::store::open(&config.store)
            .await
            .expect("open store");
        let state = AppState::new(store.clone(), &config).expect("state");
        let bus = state.bus.clone();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let base = format!("http://{}", listener.local_addr().expect("addr"));
        let state = state.with_public_url(&base);
        outcall_server::engine::spawn(state.clone());
        outcall_server::sheets::spawn_writeback(&state);
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
        Self {
            base,
            client: reqwest::Client::new(),
            store,
            bus,
            database_flag: url,
            _dir: dir,
            stop: Some(stop),
        }
    }

    /// Sends a request with the API key; `body` as JSON when given.
    pub async fn call(&self, method: Method, path: &str, body: Option<Value>) -> Answer {
        self.send(
            method,
            path,
            Some(KEY),
            body.map(|b| ("application/json", b.to_string())),
        )
        .await
    }

    pub async fn get(&self, path: &str) -> Answer {
        self.call(Method::GET, path, None).await
    }

    pub async fn post(&self, path: &str, body: Value) -> Answer {
        self.call(Method::POST, path, Some(body)).await
    }

    pub async fn put(&self, path: &str, body: Value) -> Answer {
        self.call(Method::PUT, path, Some(body)).await
    }

    pub async fn delete(&self, path: &str) -> Answer {
        self.call(Method::DELETE, path, None).await
    }

    /// Sends `raw` as the body with this content type, with the API key.
    pub async fn send_raw(
        &self,
        method: Method,
        path: &str,
        content_type: &str,
        raw: impl Into<String>,
    ) -> Answer {
        self.send(method, path, Some(KEY), Some((content_type, raw.into())))
            .await
    }

    /// Full control: any key (or none), any content type, any raw body.
    pub async fn send(
        &self,
        method: Method,
        path: &str,
        key: Option<&str>,
        body: Option<(&str, String)>,
    ) -> Answer {
        let mut req = self.client.request(method, format!("{}{path}", self.base));
        if let Some(k) = key {
            req = req.bearer_auth(k);
        }
        if let Some((content_type, raw)) = body {
            req = req.header("content-type", content_type).body(raw);
        }
        let res = req.send().await.expect("request");
        let status = res.status();
        let headers = res.headers().clone();
        let text = res.text().await.expect("body");
        let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
        Answer {
            status,
            headers,
            body,
        }
    }

    /// Creates a call with valid numbers; `extra` fields are merged into the body.
    pub async fn create_call(&self, sid: &str, extra: Value) -> Value {
        let mut body = json!({"callSid": sid, "from": "+15005550006", "to": "+14155552671"});
        if let (Some(b), Value::Object(extra)) = (body.as_object_mut(), extra) {
            b.extend(extra);
        }
        let answer = self.post("/api/db/calls", body).await;
        assert_eq!(answer.status.as_u16(), 201, "create call: {answer:?}");
        answer.data().clone()
    }

    /// Creates a recording of `call` with valid fields; `extra` fields are merged in.
    pub async fn create_recording(&self, sid: &str, call: &str, extra: Value) -> Value {
        let mut body = json!({"recordingSid": sid, "callSid": call});
        if let (Some(b), Value::Object(extra)) = (body.as_object_mut(), extra) {
            b.extend(extra);
        }
        let answer = self.post("/api/db/recordings", body).await;
        assert_eq!(answer.status.as_u16(), 201, "create recording: {answer:?}");
        answer.data().clone()
    }

    /// The `pagination.total` of a list.
    pub async fn total(&self, path: &str) -> u64 {
        let answer = self.get(path).await;
        assert_eq!(answer.status.as_u16(), 200, "list {path}: {answer:?}");
        answer.pagination().2
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// The media-stream token the server issues for `call_sid` under `auth_token`.
pub fn media_token(auth_token: &str, call_sid: &str) -> String {
    outcall_server::bridge::token::issue(auth_token, call_sid)
}
