//! Google Sheets adapter of outcall: reading contact lists from a sheet and
//! writing call results back, as a service account. This crate speaks the
//! Sheets v4 `spreadsheets.values` API and Google's JWT-bearer token grant
//! (`shared/spec/protocols.md`) and knows nothing of stores, campaigns or the
//! server. The simulator in `outcall-sim` serves the same protocol from the
//! other side with these wire types.
//!
//! ```no_run
//! # async fn demo() -> Result<(), outcall_sheets::SheetsError> {
//! use outcall_sheets::{ServiceAccountKey, SheetsClient, ValueRange, a1};
//! let key = ServiceAccountKey::from_file("service-account.json")?;
//! let base = url::Url::parse(outcall_sheets::DEFAULT_API_BASE).expect("constant URL");
//! let sheets = SheetsClient::new(base, key)?;
//! let table = sheets.read_table("1AbC…", "Contacts").await?;
//! if let (Some(status), Some((row, _))) = (table.column("Status"), table.rows.first()) {
//!     let cell = a1::cell("Contacts", status, *row);
//!     sheets.batch_update("1AbC…", vec![ValueRange::new(cell, vec![vec!["called".into()]])]).await?;
//! }
//! # Ok(()) }
//! ```
//!
//! # Layout
//! - [`key`]: `ServiceAccountKey`, the key JSON and the RS256 JWT assertion.
//! - [`auth`]: `ServiceAccountAuth`, access tokens fetched and cached.
//! - [`client`]: `SheetsClient`: read values, read a table, batch update.
//! - [`values`]: wire types (`ValueRange`, batchUpdate) and `SheetTable`.
//! - [`a1`]: A1 notation: column letters, cells, quoting, parsing.
//! - [`error`]: `SheetsError`, `KeyError`, and which failures are retryable.
//! - [`retry`]: `with_retry`, exponential backoff on Tokio's clock.

#![forbid(unsafe_code)]

pub mod a1;
pub mod auth;
pub mod client;
pub mod error;
pub mod key;
pub mod retry;
pub mod values;

pub use a1::{A1Error, A1Range, cell, cell_range, column_index, column_letters, quote_sheet_name};
pub use auth::ServiceAccountAuth;
pub use client::{DEFAULT_API_BASE, SheetsClient};
pub use error::{GoogleError, GoogleErrorBody, KeyError, SheetsError, TokenErrorBody};
pub use key::{SPREADSHEETS_SCOPE, ServiceAccountKey};
pub use retry::{RetryPolicy, with_retry};
pub use url::Url;
pub use values::{
    BatchUpdateRequest, BatchUpdateResponse, SheetTable, UpdateValuesResponse, ValueRange,
};
