//! A sheet read as contact drafts: row 1 names the columns, the CSV import's rules
//! read them (aliases, custom fields), and the columns a campaign's `sheetInfo` names
//! override what their headers would mean. Nothing here writes.

use outcall_domain::campaign::SheetInfo;
use outcall_domain::contact::ContactSheetInfo;
use outcall_sheets::{A1Range, SheetTable, SheetsClient, SheetsError, quote_sheet_name};

use crate::contacts::ContactDraft;
use crate::contacts::csv::{Columns, Field};

/// The custom field (and agent dynamic variable) that `customMessageColumn` fills.
pub const CUSTOM_MESSAGE_FIELD: &str = "custom_message";

/// Why a sheet cannot be imported. Nothing was written.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    #[error(transparent)]
    Sheets(#[from] SheetsError),
    /// The sheet's content or the named columns do not fit; the message says why.
    #[error("{0}")]
    Unusable(String),
}

/// A sheet read for import.
#[derive(Debug)]
pub struct SheetRows {
    /// The sheet read: the one named, or the spreadsheet's first.
    pub sheet_name: String,
    pub header: Vec<String>,
    /// One per non-blank data row, numbered as the sheet shows it.
    pub drafts: Vec<ContactDraft>,
    /// Write-back columns (`statusColumn`, `resultColumn`) the header lacks yet.
    pub missing_result_columns: Vec<String>,
}

/// The spreadsheet id in `text`: the id itself, or the one in a sheet's URL
/// (`https://docs.google.com/spreadsheets/d/<id>/edit#gid=0`).
pub fn spreadsheet_id_of(text: &str) -> &str {
    let text = text.trim();
    match text.split_once("/spreadsheets/d/") {
        Some((_, rest)) => rest.split(['/', '?', '#']).next().unwrap_or(rest),
        None => text,
    }
}

/// Reads the sheet `info` names and turns its rows into drafts.
/// The sheet a read of `info`'s sheet touched: the one it names, or (without a name,
/// the first sheet) the one Google's answered `range` names.
pub fn sheet_read(info: &SheetInfo, range: &str) -> Result<String, SourceError> {
    if let Some(name) = &info.sheet_name {
        return Ok(name.clone());
    }
    A1Range::parse(range)
        .ok()
        .and_then(|r| r.sheet)
        .ok_or_else(|| {
            SourceError::Unusable(format!(
                "Google did not say which sheet it read ({range:?}): give sheetName"
            ))
        })
}

pub async fn read_contacts(
    client: &SheetsClient,
    info: &SheetInfo,
) -> Result<SheetRows, SourceError> {
    let id = info.spreadsheet_id.as_str();
    // Without a sheet name, an unnamed range reads the first sheet and Google's
    // answer names it.
    let range = match &info.sheet_name {
        Some(name) => quote_sheet_name(name).into_owned(),
        None => "A1:ZZZ".to_string(),
    };
    let answer = client.read_range(id, &range).await?;
    let sheet_name = sheet_read(info, &answer.range)?;
    let table = SheetTable::from_values(answer.values);
    if table.header.iter().all(|h| h.trim().is_empty()) {
        return Err(SourceError::Unusable(format!(
            "the sheet {sheet_name:?} is empty: row 1 must name the columns (e.g. Name, Phone)"
        )));
    }
    if table.rows.len() > crate::contacts::MAX_ROWS {
        return Err(SourceError::Unusable(format!(
            "the sheet has more than {} rows: split it",
            crate::contacts::MAX_ROWS
        )));
    }
    let roles = roles(&table, info)?;
    let columns = Columns::from_names(table.header.iter().map(String::as_str), &roles.fixed)
        .map_err(|e| SourceError::Unusable(format!("row 1 (the header): {e}")))?;
    let mut drafts = Vec::with_capacity(table.rows.len());
    for (row, cells) in &table.rows {
        // Cells right of the header are notes without a column: not contact data.
        let width = cells.len().min(columns.len());
        let mut draft = columns
            .draft_cells(
                *row as usize,
                width,
                cells[..width].iter().map(String::as_str),
            )
            .map_err(|e| SourceError::Unusable(e.to_string()))?;
        draft.sheet = Some(ContactSheetInfo {
            spreadsheet_id: id.to_string(),
            sheet_name: Some(sheet_name.clone()),
            row_index: Some(i64::from(*row)),
        });
        drafts.push(draft);
    }
    Ok(SheetRows {
        sheet_name,
        header: table.header,
        drafts,
        missing_result_columns: roles.missing_result_columns,
    })
}

struct Roles {
    fixed: Vec<(usize, Field)>,
    missing_result_columns: Vec<String>,
}

/// The meaning `info` gives to header columns. A named input column must exist; a
/// write-back column may not exist yet (the import adds it).
fn roles(table: &SheetTable, info: &SheetInfo) -> Result<Roles, SourceError> {
    let header_list = || {
        table
            .header
            .iter()
            .filter(|h| !h.trim().is_empty())
            .map(|h| format!("{:?}", h.trim()))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let mut fixed = Vec::new();
    let inputs = [
        ("phoneColumn", &info.phone_column, Field::Phone),
        ("nameColumn", &info.name_column, Field::Name),
        ("emailColumn", &info.email_column, Field::Email),
        (
            "customMessageColumn",
            &info.custom_message_column,
            Field::Custom(CUSTOM_MESSAGE_FIELD.to_string()),
        ),
    ];
    for (what, name, field) in inputs {
        let Some(name) = name.as_deref() else {
            continue;
        };
        let at = table.column(name).ok_or_else(|| {
            SourceError::Unusable(format!(
                "{what} {name:?} is not a column of the sheet; row 1 has: {}",
                header_list()
            ))
        })?;
        fixed.push((at, field));
    }
    // The column read as the phone when none is named: results must not overwrite it.
    let auto_phone = match info.phone_column {
        Some(_) => None,
        None => Columns::from_names(table.header.iter().map(String::as_str), &[])
            .ok()
            .and_then(|c| c.index_of(&Field::Phone)),
    };
    let mut missing_result_columns = Vec::new();
    for (what, name) in [
        ("statusColumn", &info.status_column),
        ("resultColumn", &info.result_column),
    ] {
        let Some(name) = name.as_deref() else {
            continue;
        };
        match table.column(name) {
            Some(at) if auto_phone == Some(at) || fixed.iter().any(|(i, _)| *i == at) => {
                return Err(SourceError::Unusable(format!(
                    "{what} {name:?} is also a column outcall reads: results would overwrite it"
                )));
            }
            // Written by outcall: never read back as contact data (a "Status" column
            // would otherwise be read as the contact's status).
            Some(at) => fixed.push((at, Field::Ignored)),
            None => missing_result_columns.push(name.trim().to_string()),
        }
    }
    if let (Some(status), Some(result)) = (&info.status_column, &info.result_column)
        && status.trim().eq_ignore_ascii_case(result.trim())
    {
        return Err(SourceError::Unusable(
            "statusColumn and resultColumn must be different columns".into(),
        ));
    }
    Ok(Roles {
        fixed,
        missing_result_columns,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spreadsheet_ids_from_urls() {
        assert_eq!(spreadsheet_id_of(" 1AbC_d-9 "), "1AbC_d-9");
        assert_eq!(
            spreadsheet_id_of("https://docs.google.com/spreadsheets/d/1AbC_d-9/edit#gid=0"),
            "1AbC_d-9"
        );
        assert_eq!(
            spreadsheet_id_of("https://docs.google.com/spreadsheets/d/1AbC?usp=sharing"),
            "1AbC"
        );
    }
}
