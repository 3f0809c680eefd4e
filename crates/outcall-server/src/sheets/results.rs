//! The cells written back for a campaign's contacts: each contact's dial status in
//! `statusColumn` and its last result in `resultColumn` (or both in `statusColumn`,
//! as `completed (held)`, when there is no result column), on the row whose phone
//! cell holds the contact's number.
//!
//! One write reads the header (row 1) and the phone column, then sends every cell in
//! one `values:batchUpdate`, consecutive rows merged into one range.

use std::collections::HashMap;

use outcall_domain::Campaign;
use outcall_domain::campaign::SheetInfo;
use outcall_domain::campaign_contact::CampaignContact;
use outcall_domain::page::{PageRequest, Sort};
use outcall_domain::phone::{PhoneNumber, Region};
use outcall_sheets::{SheetsClient, ValueRange, cell_range, quote_sheet_name};
use serde::Serialize;

use super::source::SourceError;
use crate::contacts::csv::{Columns, Field};

/// Ranges sent in one batchUpdate: keeps a request well under Google's 10 MB limit.
const RANGES_PER_REQUEST: usize = 1000;

/// What a write did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SyncReport {
    /// Campaign contacts looked at.
    pub contacts: usize,
    /// Rows whose cells were written.
    pub rows_written: usize,
    /// Contacts whose number is in no row of the sheet (nothing written for them).
    pub not_in_sheet: usize,
}

/// The status cell's text: the dial status (`pending`, `dialing`, `retry`,
/// `completed`, `failed`, `skipped`, `cancelled`), with the result in parentheses
/// when it has no column of its own.
pub fn status_text(cc: &CampaignContact, result_column: bool) -> String {
    let status = json_name(&cc.status);
    match result_text(cc) {
        Some(result) if !result_column => format!("{status} ({result})"),
        _ => status,
    }
}

/// The result cell's text: the last call's outcome (`held`, `voicemail`,
/// `no-answer`, `busy`, `failed`, `canceled`, `unknown`) or why the contact was
/// skipped (`do-not-call`, `invalid-number`, `duplicate`).
pub fn result_text(cc: &CampaignContact) -> Option<String> {
    cc.last_result
        .clone()
        .or_else(|| cc.skip_reason.as_ref().map(json_name))
}

fn json_name(v: &impl Serialize) -> String {
    serde_json::to_value(v)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default()
}

/// Writes every contact of `campaign` to its sheet now.
pub async fn sync_campaign(
    client: &SheetsClient,
    store: &dyn outcall_store::Store,
    region: Region,
    campaign: &Campaign,
) -> Result<SyncReport, WriteError> {
    let mut all = Vec::new();
    for n in 1.. {
        let page = PageRequest::new(Some(n), Some(100), Sort::asc("createdAt"))
            .map_err(|e| WriteError::Store(outcall_store::StoreError::Internal(e.to_string())))?;
        let got = store
            .list_campaign_contacts(campaign.id, None, &page)
            .await?;
        let done = got.items.len() < 100;
        all.extend(got.items);
        if done {
            break;
        }
    }
    write_results(client, region, campaign, &all).await
}

#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    /// The campaign has no sheet, or no `statusColumn` to write to.
    #[error("{0}")]
    NoSheet(String),
    #[error(transparent)]
    Source(#[from] SourceError),
    #[error(transparent)]
    Store(#[from] outcall_store::StoreError),
}

impl From<outcall_sheets::SheetsError> for WriteError {
    fn from(e: outcall_sheets::SheetsError) -> Self {
        Self::Source(SourceError::Sheets(e))
    }
}

impl WriteError {
    /// Whether trying again later may succeed (Google or the store failing now).
    pub fn is_transient(&self) -> bool {
        match self {
            Self::Source(SourceError::Sheets(e)) => e.is_retryable(),
            Self::Store(outcall_store::StoreError::Unavailable(_)) => true,
            _ => false,
        }
    }
}

/// The sheet and status column a campaign writes to, or why it writes nowhere.
pub fn target(campaign: &Campaign) -> Result<(&SheetInfo, &str), WriteError> {
    let info = campaign.sheet_info.as_ref().ok_or_else(|| {
        WriteError::NoSheet(format!(
            "campaign {} has no sheetInfo: import its contacts from a sheet first",
            campaign.id
        ))
    })?;
    let status = info.status_column.as_deref().ok_or_else(|| {
        WriteError::NoSheet(format!(
            "campaign {} has no sheetInfo.statusColumn to write results to",
            campaign.id
        ))
    })?;
    Ok((info, status))
}

/// Writes the cells of `contacts` (of `campaign`) to their rows.
pub async fn write_results(
    client: &SheetsClient,
    region: Region,
    campaign: &Campaign,
    contacts: &[CampaignContact],
) -> Result<SyncReport, WriteError> {
    let (info, status_name) = target(campaign)?;
    let layout = Layout::read(client, info, status_name).await?;
    let rows = layout.rows_by_phone(client, info, region).await?;
    let mut report = SyncReport {
        contacts: contacts.len(),
        ..SyncReport::default()
    };
    let mut status_cells = Vec::new();
    let mut result_cells = Vec::new();
    for cc in contacts {
        let Some(&row) = rows.get(&cc.phone_number) else {
            report.not_in_sheet += 1;
            continue;
        };
        report.rows_written += 1;
        status_cells.push((row, status_text(cc, layout.result.is_some())));
        if layout.result.is_some() {
            result_cells.push((row, result_text(cc).unwrap_or_default()));
        }
    }
    let mut ranges = runs(&layout.sheet, layout.status, status_cells);
    if let Some(col) = layout.result {
        ranges.extend(runs(&layout.sheet, col, result_cells));
    }
    let id = info.spreadsheet_id.as_str();
    while !ranges.is_empty() {
        let rest = ranges.split_off(ranges.len().min(RANGES_PER_REQUEST));
        client
            .batch_update(id, std::mem::replace(&mut ranges, rest))
            .await?;
    }
    Ok(report)
}

/// Where the columns are now, from the header row.
struct Layout {
    sheet: String,
    phone: usize,
    status: usize,
    result: Option<usize>,
}

impl Layout {
    async fn read(
        client: &SheetsClient,
        info: &SheetInfo,
        status_name: &str,
    ) -> Result<Self, WriteError> {
        let range = match &info.sheet_name {
            Some(name) => format!("{}!1:1", quote_sheet_name(name)),
            None => "1:1".to_string(),
        };
        let answer = client.read_range(&info.spreadsheet_id, &range).await?;
        let sheet = super::source::sheet_read(info, &answer.range)?;
        let header = answer.values.into_iter().next().unwrap_or_default();
        let find = |name: &str| {
            let name = name.trim();
            header
                .iter()
                .position(|h| h.trim().eq_ignore_ascii_case(name))
        };
        let missing = |what: &str, name: &str| {
            SourceError::Unusable(format!(
                "{what} {name:?} is not in row 1 of the sheet {sheet:?}"
            ))
        };
        let status = find(status_name).ok_or_else(|| missing("statusColumn", status_name))?;
        let result = match info.result_column.as_deref() {
            Some(name) => Some(find(name).ok_or_else(|| missing("resultColumn", name))?),
            None => None,
        };
        let phone = match info.phone_column.as_deref() {
            Some(name) => find(name).ok_or_else(|| missing("phoneColumn", name))?,
            None => Columns::from_names(header.iter().map(String::as_str), &[])
                .ok()
                .and_then(|c| c.index_of(&Field::Phone))
                .ok_or_else(|| missing("a phone column", "phone"))?,
        };
        Ok(Self {
            sheet,
            phone,
            status,
            result,
        })
    }

    /// E.164 number → the first row that has it (as the import keeps the first).
    async fn rows_by_phone(
        &self,
        client: &SheetsClient,
        info: &SheetInfo,
        region: Region,
    ) -> Result<HashMap<String, u32>, WriteError> {
        let letters = outcall_sheets::column_letters(self.phone);
        let range = format!("{}!{letters}2:{letters}", quote_sheet_name(&self.sheet));
        let cells = client.read_values(&info.spreadsheet_id, &range).await?;
        let mut rows = HashMap::with_capacity(cells.len());
        for (row, cell) in (2u32..).zip(cells) {
            let Some(text) = cell.first().filter(|t| !t.trim().is_empty()) else {
                continue;
            };
            if let Ok(phone) = PhoneNumber::parse(text, region) {
                rows.entry(phone.to_string()).or_insert(row);
            }
        }
        Ok(rows)
    }
}

/// One range per run of consecutive rows of column `col`.
fn runs(sheet: &str, col: usize, mut cells: Vec<(u32, String)>) -> Vec<ValueRange> {
    cells.sort_by_key(|(row, _)| *row);
    cells.dedup_by_key(|(row, _)| *row);
    let mut ranges = Vec::new();
    let mut run: Vec<(u32, String)> = Vec::new();
    let flush = |run: &mut Vec<(u32, String)>, ranges: &mut Vec<ValueRange>| {
        if let (Some(first), Some(last)) = (run.first(), run.last()) {
            let range = cell_range(sheet, col, first.0, col, last.0);
            let values = run.drain(..).map(|(_, v)| vec![v]).collect();
            ranges.push(ValueRange::new(range, values));
        }
    };
    for (row, value) in cells {
        if run.last().is_some_and(|(last, _)| *last + 1 != row) {
            flush(&mut run, &mut ranges);
        }
        run.push((row, value));
    }
    flush(&mut run, &mut ranges);
    ranges
}

#[cfg(test)]
mod tests {
    use outcall_domain::ObjectId;
    use outcall_domain::campaign_contact::{DialStatus, SkipReason};

    use super::*;

    #[test]
    fn status_and_result_texts() {
        let mut cc = CampaignContact::new(ObjectId::new(), ObjectId::new(), "+14155550100");
        assert_eq!(status_text(&cc, false), "pending");
        cc.status = DialStatus::Completed;
        cc.last_result = Some("held".into());
        assert_eq!(status_text(&cc, false), "completed (held)");
        assert_eq!(status_text(&cc, true), "completed");
        assert_eq!(result_text(&cc).as_deref(), Some("held"));
        cc.status = DialStatus::Skipped;
        cc.last_result = None;
        cc.skip_reason = Some(SkipReason::DoNotCall);
        assert_eq!(status_text(&cc, false), "skipped (do-not-call)");
    }

    #[test]
    fn consecutive_rows_share_a_range() {
        let cells = vec![
            (3, "b".to_string()),
            (2, "a".to_string()),
            (4, "c".to_string()),
            (7, "d".to_string()),
        ];
        let ranges = runs("My Sheet", 4, cells);
        let got: Vec<(&str, &Vec<Vec<String>>)> = ranges
            .iter()
            .map(|r| (r.range.as_str(), &r.values))
            .collect();
        assert_eq!(
            got,
            vec![
                (
                    "'My Sheet'!E2:E4",
                    &vec![vec!["a".to_string()], vec!["b".into()], vec!["c".into()]]
                ),
                ("'My Sheet'!E7:E7", &vec![vec!["d".to_string()]]),
            ]
        );
    }
}
