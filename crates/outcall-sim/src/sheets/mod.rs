//! The Google Sheets simulator: Google's token endpoint for service accounts
//! (it checks the RS256 JWT assertion) and the `spreadsheets.values` read and
//! batchUpdate endpoints behind bearer tokens it issued, over spreadsheets
//! held in memory. It answers with Google's error shapes, including 400
//! "Unable to parse range" for a sheet that does not exist.
//!
//! The service account is fixed: a committed test-only RSA key
//! ([`SheetsSim::service_account_json`]), since generating a key at start
//! is slow in debug builds.
//!
//! ```no_run
//! # async fn demo() -> std::io::Result<()> {
//! use outcall_sim::sheets::SheetsSim;
//! let sim = SheetsSim::start().await?;
//! sim.put_sheet("sheet-1", "Contacts", vec![vec!["Name".into(), "Phone".into()]]);
//! std::fs::write("sim-key.json", sim.service_account_json())?;
//! println!("point GOOGLE_SHEETS_API_BASE at {}", sim.base_url());
//! # Ok(()) }
//! ```

mod book;
mod rest;
mod token;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use axum::http::StatusCode;
use jsonwebtoken::DecodingKey;

/// TEST KEY with no value (see the file's header): the simulated service
/// account's private key, handed out in [`SheetsSim::service_account_json`].
const TEST_PRIVATE_KEY: &str = include_str!("test_key.pem");
/// Its public half, which the token endpoint verifies assertions with.
const TEST_PUBLIC_KEY: &str = include_str!("test_key.pub.pem");
/// The `private_key_id` of the key JSON, checked against the JWT's `kid`.
const KEY_ID: &str = "0000000000000000000000000000000000sim0";
const CLIENT_EMAIL: &str = "outcall-sim@outcall-sim.iam.gserviceaccount.com";

/// The PEM itself, without the warning above it.
fn pem_block(text: &str) -> &str {
    text.find("-----BEGIN").map_or(text, |at| &text[at..])
}

/// State shared by the handlers.
#[derive(Debug)]
struct Shared {
    base_url: String,
    public_key: DecodingKey,
    books: Mutex<book::Books>,
    tokens: token::Tokens,
    batch_updates: AtomicUsize,
    reads: AtomicUsize,
    /// Requests still to fail, and the status they fail with.
    failures: Mutex<(usize, StatusCode)>,
}

impl Shared {
    fn token_uri(&self) -> String {
        format!("{}/token", self.base_url)
    }

    fn books(&self) -> MutexGuard<'_, book::Books> {
        self.books.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Takes one injected failure, if any are left.
    fn take_failure(&self) -> Option<StatusCode> {
        let mut f = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        (f.0 > 0).then(|| {
            f.0 -= 1;
            f.1
        })
    }
}

/// A running Google Sheets simulator. Dropping it stops the server.
#[derive(Debug)]
pub struct SheetsSim {
    shared: Arc<Shared>,
    task: tokio::task::JoinHandle<()>,
}

impl SheetsSim {
    /// Starts on a free loopback port.
    pub async fn start() -> std::io::Result<Self> {
        Self::start_on("127.0.0.1:0").await
    }

    /// Starts on `addr` (e.g. `127.0.0.1:4030`), for running the simulator on its own.
    pub async fn start_on(addr: &str) -> std::io::Result<Self> {
        let listener = tokio::net::TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        let public_key = DecodingKey::from_rsa_pem(pem_block(TEST_PUBLIC_KEY).as_bytes())
            .expect("BUG: the committed test public key is an RSA PEM");
        let shared = Arc::new(Shared {
            base_url: format!("http://{addr}"),
            public_key,
            books: Mutex::default(),
            tokens: token::Tokens::default(),
            batch_updates: AtomicUsize::new(0),
            reads: AtomicUsize::new(0),
            failures: Mutex::new((0, StatusCode::SERVICE_UNAVAILABLE)),
        });
        let app = rest::router(shared.clone()).merge(token::router(shared.clone()));
        let task = tokio::spawn(async move {
            if let Err(e) = axum::serve(listener, app).await {
                tracing::error!(error = %e, "Google Sheets simulator stopped");
            }
        });
        Ok(Self { shared, task })
    }

    /// The base URL to give outcall as `GOOGLE_SHEETS_API_BASE`.
    pub fn base_url(&self) -> &str {
        &self.shared.base_url
    }

    /// Where the simulated service account trades assertions for tokens.
    pub fn token_uri(&self) -> String {
        self.shared.token_uri()
    }

    pub fn client_email(&self) -> &str {
        CLIENT_EMAIL
    }

    /// A service-account key JSON, shaped like Google's, whose `token_uri`
    /// points at this simulator and whose `private_key` is the test key.
    pub fn service_account_json(&self) -> String {
        serde_json::json!({
            "type": "service_account",
            "project_id": "outcall-sim",
            "private_key_id": KEY_ID,
            "private_key": pem_block(TEST_PRIVATE_KEY),
            "client_email": CLIENT_EMAIL,
            "client_id": "100000000000000000000",
            "auth_uri": format!("{}/o/oauth2/auth", self.shared.base_url),
            "token_uri": self.shared.token_uri(),
            "universe_domain": "googleapis.com",
        })
        .to_string()
    }

    /// Creates the spreadsheet if needed and sets the sheet's cells (replacing
    /// a sheet of that name); sheets are kept in the order first put.
    pub fn put_sheet(&self, spreadsheet_id: &str, sheet_name: &str, rows: Vec<Vec<String>>) {
        self.shared.books().put(spreadsheet_id, sheet_name, rows);
    }

    /// The sheet's cells as they are now (after write-backs), trailing empty
    /// cells and rows left out; empty if there is no such sheet.
    pub fn sheet(&self, spreadsheet_id: &str, sheet_name: &str) -> Vec<Vec<String>> {
        self.shared
            .books()
            .get(spreadsheet_id, sheet_name)
            .unwrap_or_default()
    }

    /// How many batchUpdate requests were applied.
    pub fn batch_updates(&self) -> usize {
        self.shared.batch_updates.load(Ordering::Relaxed)
    }

    /// How many value reads were answered with values.
    pub fn reads(&self) -> usize {
        self.shared.reads.load(Ordering::Relaxed)
    }

    /// How many access tokens the token endpoint issued.
    pub fn tokens_issued(&self) -> usize {
        self.shared.tokens.issued()
    }

    /// Makes the next `n` authenticated values requests (reads or batch
    /// updates) fail with `status` (e.g. 503, 429, 500) and Google's error
    /// body for it, before touching any sheet.
    pub fn fail_next(&self, n: usize, status: u16) {
        let status = StatusCode::from_u16(status).unwrap_or(StatusCode::SERVICE_UNAVAILABLE);
        *self
            .shared
            .failures
            .lock()
            .unwrap_or_else(|p| p.into_inner()) = (n, status);
    }

    /// Sets the lifetime of tokens issued from now on (Google's: 3599 s).
    pub fn set_token_lifetime(&self, lifetime: Duration) {
        self.shared.tokens.set_lifetime(lifetime);
    }

    /// Revokes every issued token: the next request with one answers 401.
    pub fn revoke_tokens(&self) {
        self.shared.tokens.revoke_all();
    }
}

impl Drop for SheetsSim {
    fn drop(&mut self) {
        self.task.abort();
    }
}
