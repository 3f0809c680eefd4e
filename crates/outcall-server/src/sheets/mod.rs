//! Google Sheets in the server: a campaign's contacts imported from a sheet, and each
//! contact's dial status and result written back to its row, as calls finish and on
//! demand. The Sheets protocol lives in `outcall-sheets`; this module knows campaigns,
//! contacts and the Store port.
//!
//! Columns are named by their header text in row 1 (case and surrounding spaces do not
//! matter), never by letter, so moving a column in the sheet breaks nothing. A
//! contact's row is found by its phone number in the phone column each time results
//! are written, so sorting or inserting rows breaks nothing either (the row it was
//! imported from is kept on the contact as `sheetInfo.rowIndex`, for people to read).
//!
//! # Layout
//! - [`source`]: reading a sheet into contact drafts (the CSV import's column rules).
//! - [`results`]: the cells written back for a campaign's contacts.
//! - [`writeback`]: the background task that writes results as the bus reports them.

pub mod results;
pub mod source;
pub mod writeback;

use outcall_sheets::{ServiceAccountKey, SheetsClient, SheetsError, Url};

use crate::config::GoogleSettings;
use crate::error::ApiError;

pub use results::{SyncReport, sync_campaign};
pub use writeback::spawn_writeback;

/// The client for `GOOGLE_SERVICE_ACCOUNT_KEY`, or `None` when it is not set. A key
/// that cannot be read or used is an error, so `serve` stops at start with one line.
pub fn client_from_settings(s: &GoogleSettings) -> anyhow::Result<Option<SheetsClient>> {
    let Some(path) = &s.google_service_account_key else {
        return Ok(None);
    };
    if path.as_os_str().is_empty() {
        return Ok(None);
    }
    let key = ServiceAccountKey::from_file(path)
        .map_err(|e| anyhow::anyhow!("GOOGLE_SERVICE_ACCOUNT_KEY: {e}"))?;
    let base = Url::parse(&s.google_sheets_api_base).map_err(|e| {
        anyhow::anyhow!(
            "GOOGLE_SHEETS_API_BASE {:?} is not a URL: {e}",
            s.google_sheets_api_base
        )
    })?;
    let client =
        SheetsClient::new(base, key).map_err(|e| anyhow::anyhow!("GOOGLE_SHEETS_API_BASE: {e}"))?;
    Ok(Some(client))
}

/// The configured client, or the 503 that says how to configure one.
pub fn require(client: Option<&SheetsClient>) -> Result<&SheetsClient, ApiError> {
    client.ok_or_else(|| {
        ApiError::ServiceUnavailable(
            "Google Sheets is off: GOOGLE_SERVICE_ACCOUNT_KEY is not set (the path to a service account key JSON)".into(),
        )
    })
}

/// A failed Sheets request as the API answers it: the user's sheet problems are 400s
/// that say what to fix; Google or the network failing is a 503.
pub fn api_error(client: &SheetsClient, e: SheetsError) -> ApiError {
    let email = client.auth().key().client_email();
    match e.http_status() {
        _ if e.is_not_found() => ApiError::validation(format!(
            "the spreadsheet or sheet was not found (check spreadsheetId and sheetName, and share the sheet with {email}): {e}"
        )),
        Some(403) => ApiError::validation(format!(
            "outcall may not open this spreadsheet: share it with {email} as an editor ({e})"
        )),
        Some(400) => ApiError::validation(format!("Google Sheets refused the request: {e}")),
        _ => ApiError::ServiceUnavailable(format!("Google Sheets cannot be reached now: {e}")),
    }
}
