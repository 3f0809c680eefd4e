//! Contacts in bulk: reading CSV, importing rows into the store (optionally into a
//! campaign too), enrolling one contact in a campaign, and writing CSV exports.
//!
//! Three entry points share [`import_contacts`]: `POST /api/db/contacts/import` (JSON
//! array or CSV), `outcall contacts import FILE.csv`, and the campaign routes' imports.
//! An import reads and checks its whole input first; a malformed file is refused
//! before anything is written. Rows that are merely wrong (a bad phone number, an
//! out-of-range priority) are skipped and reported with their row number.
//!
//! This module knows the Store port only, never an adapter.
//!
//! # Layout
//! - [`fields`]: the rules of each contact field.
//! - [`csv`]: CSV to [`ContactDraft`]s (separator, header aliases, custom fields).
//! - [`import`]: drafts to contacts: check, dedupe, write, enroll.
//! - [`export`]: contacts to CSV, page by page.
//! - [`cli`]: `outcall contacts import`.

pub mod cli;
pub mod csv;
pub mod export;
pub mod fields;
pub mod import;

use outcall_domain::contact::ContactSheetInfo;
use serde::Serialize;
use serde_json::{Map, Value};

pub use self::csv::{CsvError, MAX_ROWS, parse_csv};
pub use self::import::{ImportError, enroll, import_contacts};

/// One contact as read from an import, not yet checked: values are as the user wrote
/// them, so a bad one can be reported against its row instead of failing the file.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ContactDraft {
    /// Where the row is, as its user counts: in a CSV or sheet the header is row 1, so
    /// the first contact is row 2; in a JSON array the first item is row 1.
    pub row: usize,
    /// Any written form; read with the default region when it has no country code.
    pub phone_number: String,
    pub name: Option<String>,
    pub email: Option<String>,
    /// Added to the contact's tags (a contact that exists keeps its others).
    pub tags: Vec<String>,
    pub notes: Option<String>,
    /// `0`–`10`.
    pub priority: Option<String>,
    /// `active`, `inactive` or `do-not-call` (any case; `dnc` too).
    pub status: Option<String>,
    /// IANA name, e.g. `America/New_York`.
    pub timezone: Option<String>,
    /// Merged into the contact's custom fields (given keys replace stored ones). They
    /// are also the agent's dynamic variables when the contact is called; reserved
    /// names (`call_sid`, `phone_number`, `system__…`) are dropped with a warning.
    pub custom_fields: Map<String, Value>,
    /// The sheet row the contact came from (a Google Sheets import); replaces the
    /// stored one.
    pub sheet: Option<ContactSheetInfo>,
}

/// A row that was not written, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RowError {
    pub row: usize,
    pub reason: String,
}

/// What an import did. `total` is every row read; each row is counted once in
/// `created`, `updated`, `duplicates` or `invalid`, and every row not written is in
/// `errors` (invalid and duplicate rows alike), in row order.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ImportReport {
    pub created: usize,
    pub updated: usize,
    /// Rows whose phone number an earlier row of the same input already had.
    pub duplicates: usize,
    pub invalid: usize,
    pub total: usize,
    /// Contacts newly enrolled in the campaign, when one was given.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub enrolled: Option<usize>,
    pub errors: Vec<RowError>,
    /// Rows written with something left out, and what: a custom field named like a
    /// reserved dynamic variable (`call_sid`, `phone_number`, …) is dropped.
    pub warnings: Vec<RowError>,
}
