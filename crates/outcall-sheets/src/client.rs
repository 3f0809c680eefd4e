//! `SheetsClient`: the `spreadsheets.values` calls outcall makes (read a
//! range, write ranges back), against a configurable base URL so the same
//! client talks to `sheets.googleapis.com` or the loopback simulator.
//!
//! Every request carries a bearer token from [`ServiceAccountAuth`]. A 401
//! drops the cached token and tries once more with a new one (a token can be
//! revoked before it expires); 429 and 5xx are retried with backoff by the
//! client's [`RetryPolicy`], which is safe because both calls are idempotent.

use std::sync::Arc;
use std::time::Duration;

use reqwest::StatusCode;
use serde::de::DeserializeOwned;
use url::Url;

use crate::a1::quote_sheet_name;
use crate::auth::{ServiceAccountAuth, snippet};
use crate::error::{GoogleError, GoogleErrorBody, SheetsError};
use crate::key::ServiceAccountKey;
use crate::retry::{RetryPolicy, with_retry};
use crate::values::{BatchUpdateRequest, BatchUpdateResponse, SheetTable, ValueRange};

/// Google's production endpoint, for configuration defaults.
pub const DEFAULT_API_BASE: &str = "https://sheets.googleapis.com";

/// A Google Sheets v4 client acting as one service account. Cheap to clone:
/// clones share the HTTP pool and the token cache.
#[derive(Debug, Clone)]
pub struct SheetsClient {
    http: reqwest::Client,
    base: Url,
    auth: Arc<ServiceAccountAuth>,
    retry: RetryPolicy,
}

/// What to send: a GET of a range, or a batchUpdate body.
enum Call<'a> {
    Get,
    Post(&'a BatchUpdateRequest),
}

impl SheetsClient {
    /// A client for the API at `api_base` (e.g. `https://sheets.googleapis.com`,
    /// or the simulator's base URL; a path prefix is kept), with 30 s request
    /// and 5 s connect timeouts and the default [`RetryPolicy`].
    pub fn new(api_base: Url, key: ServiceAccountKey) -> Result<Self, SheetsError> {
        if api_base.cannot_be_a_base() || !matches!(api_base.scheme(), "http" | "https") {
            return Err(SheetsError::Config(format!(
                "api_base {api_base} is not an http(s) base URL"
            )));
        }
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .connect_timeout(Duration::from_secs(5))
            .user_agent(concat!("outcall-sheets/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| SheetsError::Config(format!("HTTP client: {e}")))?;
        Ok(Self {
            auth: Arc::new(ServiceAccountAuth::new(key, http.clone())),
            http,
            base: api_base,
            retry: RetryPolicy::default(),
        })
    }

    /// Replaces the retry policy (`RetryPolicy::no_retry()` to handle
    /// failures yourself).
    pub fn with_retry_policy(mut self, retry: RetryPolicy) -> Self {
        self.retry = retry;
        self
    }

    /// The token source, shared by clones.
    pub fn auth(&self) -> &ServiceAccountAuth {
        &self.auth
    }

    /// `GET {base}/v4/spreadsheets/{id}/values/{range}`: the cells of `range`
    /// (A1 notation), row by row. An empty range gives no rows; rows end at
    /// their last non-empty cell.
    pub async fn read_values(
        &self,
        spreadsheet_id: &str,
        range: &str,
    ) -> Result<Vec<Vec<String>>, SheetsError> {
        Ok(self.read_range(spreadsheet_id, range).await?.values)
    }

    /// Like [`Self::read_values`], with the range Google echoes: it names the
    /// sheet, so reading `A1:ZZZ` tells which sheet is the first.
    pub async fn read_range(
        &self,
        spreadsheet_id: &str,
        range: &str,
    ) -> Result<ValueRange, SheetsError> {
        let url = self.url(spreadsheet_id, &["values", range]);
        with_retry(&self.retry, || self.send(&url, Call::Get)).await
    }

    /// Reads the whole sheet `sheet_name` as a table, row 1 being the header.
    pub async fn read_table(
        &self,
        spreadsheet_id: &str,
        sheet_name: &str,
    ) -> Result<SheetTable, SheetsError> {
        let values = self
            .read_values(spreadsheet_id, &quote_sheet_name(sheet_name))
            .await?;
        Ok(SheetTable::from_values(values))
    }

    /// `POST {base}/v4/spreadsheets/{id}/values:batchUpdate` with
    /// `valueInputOption` `RAW`: writes every range in one request, which
    /// Google applies all or nothing.
    pub async fn batch_update(
        &self,
        spreadsheet_id: &str,
        data: Vec<ValueRange>,
    ) -> Result<BatchUpdateResponse, SheetsError> {
        let body = BatchUpdateRequest {
            value_input_option: "RAW".to_owned(),
            data,
        };
        let url = self.url(spreadsheet_id, &["values:batchUpdate"]);
        with_retry(&self.retry, || self.send(&url, Call::Post(&body))).await
    }

    /// `{base}/v4/spreadsheets/{id}/{tail…}`. Segments are percent-encoded, so
    /// an id or a range with `/`, `?`, `#` or spaces cannot change the path.
    fn url(&self, spreadsheet_id: &str, tail: &[&str]) -> Url {
        let mut url = self.base.clone();
        {
            let mut segments = url
                .path_segments_mut()
                .expect("BUG: api_base was checked to be a base URL");
            segments
                .pop_if_empty()
                .extend(["v4", "spreadsheets", spreadsheet_id])
                .extend(tail);
        }
        url
    }

    /// One attempt, with one more after a 401 on a fresh token.
    async fn send<T: DeserializeOwned>(&self, url: &Url, call: Call<'_>) -> Result<T, SheetsError> {
        let mut refreshed = false;
        loop {
            let token = self.auth.access_token().await?;
            let builder = match call {
                Call::Get => self.http.get(url.clone()),
                Call::Post(body) => self.http.post(url.clone()).json(body),
            };
            let res = builder.bearer_auth(&token).send().await?;
            if res.status() == StatusCode::UNAUTHORIZED && !refreshed {
                tracing::info!("Google refused the access token; fetching a new one");
                self.auth.invalidate(&token).await;
                refreshed = true;
                continue;
            }
            return parse(res).await;
        }
    }
}

async fn parse<T: DeserializeOwned>(res: reqwest::Response) -> Result<T, SheetsError> {
    let status = res.status().as_u16();
    let body = res.text().await?;
    if !(200..300).contains(&status) {
        let error = serde_json::from_str::<GoogleErrorBody>(&body)
            .map(|b| b.error)
            .unwrap_or_else(|_| GoogleError {
                code: status,
                message: snippet(&body),
                status: String::new(),
            });
        return Err(SheetsError::Api { status, error });
    }
    serde_json::from_str(&body).map_err(|e| SheetsError::BadResponse {
        status,
        detail: format!("{e}: {}", snippet(&body)),
    })
}
