//! The wire types of `spreadsheets.values` (`ValueRange`, the batchUpdate
//! request and answer) and `SheetTable`, a sheet read as a header row and
//! numbered data rows.
//!
//! Cells travel as strings here. Google sends strings by default
//! (`FORMATTED_VALUE`) but numbers and booleans when asked for unformatted
//! values, so reading accepts any JSON scalar.

use serde::{Deserialize, Deserializer, Serialize};

/// A range and its cells, row by row (`majorDimension` `ROWS`, the default).
///
/// Google omits `values` when the range is empty and drops trailing empty
/// cells and rows, so rows can be shorter than the range and each other.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ValueRange {
    /// A1 notation (see [`crate::a1`]).
    pub range: String,
    /// `ROWS` or `COLUMNS`; `None` means `ROWS`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub major_dimension: Option<String>,
    #[serde(default, deserialize_with = "cells")]
    pub values: Vec<Vec<String>>,
}

impl ValueRange {
    pub fn new(range: impl Into<String>, values: Vec<Vec<String>>) -> Self {
        Self {
            range: range.into(),
            major_dimension: None,
            values,
        }
    }
}

/// Reads cells that may be strings, numbers, booleans or null, as text the
/// way Sheets shows them (`TRUE`/`FALSE`, null as empty).
fn cells<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Vec<String>>, D::Error> {
    use serde_json::Value;
    let raw: Option<Vec<Vec<Value>>> = Option::deserialize(d)?;
    let text = |v: Value| match v {
        Value::String(s) => Ok(s),
        Value::Number(n) => Ok(n.to_string()),
        Value::Bool(true) => Ok("TRUE".to_owned()),
        Value::Bool(false) => Ok("FALSE".to_owned()),
        Value::Null => Ok(String::new()),
        other => Err(serde::de::Error::custom(format!(
            "a cell must be a string, number or boolean, not {other}"
        ))),
    };
    raw.unwrap_or_default()
        .into_iter()
        .map(|row| row.into_iter().map(text).collect())
        .collect()
}

/// `POST …/values:batchUpdate` body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BatchUpdateRequest {
    /// `RAW` (stored as given) or `USER_ENTERED` (parsed as if typed).
    /// Optional in serde only so a server can answer its absence with
    /// Google's own error.
    #[serde(default)]
    pub value_input_option: String,
    pub data: Vec<ValueRange>,
}

/// One range's share of a batchUpdate answer.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct UpdateValuesResponse {
    pub spreadsheet_id: String,
    pub updated_range: String,
    pub updated_rows: u64,
    pub updated_columns: u64,
    pub updated_cells: u64,
}

/// `POST …/values:batchUpdate` answer. Google leaves out zero counts, hence
/// the defaults.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct BatchUpdateResponse {
    pub spreadsheet_id: String,
    pub total_updated_rows: u64,
    pub total_updated_columns: u64,
    pub total_updated_cells: u64,
    pub total_updated_sheets: u64,
    pub responses: Vec<UpdateValuesResponse>,
}

/// A whole sheet as a table: row 1 is the header, the rows below are data,
/// each with its 1-based sheet row number (to write results back beside it).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SheetTable {
    pub header: Vec<String>,
    /// Blank rows are left out; the others are padded with empty cells to
    /// the header's width (Google drops trailing empty cells), never cut.
    pub rows: Vec<(u32, Vec<String>)>,
}

impl SheetTable {
    /// Splits the values of a range that starts at row 1.
    pub fn from_values(values: Vec<Vec<String>>) -> Self {
        let mut rows = values.into_iter();
        let header = rows.next().unwrap_or_default();
        let width = header.len();
        let rows = (2u32..)
            .zip(rows)
            .filter(|(_, cells)| cells.iter().any(|c| !c.trim().is_empty()))
            .map(|(number, mut cells)| {
                if cells.len() < width {
                    cells.resize(width, String::new());
                }
                (number, cells)
            })
            .collect();
        Self { header, rows }
    }

    /// The 0-based index of the header cell named `name`, ignoring ASCII
    /// case and surrounding spaces (`Phone ` matches `phone`).
    pub fn column(&self, name: &str) -> Option<usize> {
        let name = name.trim();
        self.header
            .iter()
            .position(|h| h.trim().eq_ignore_ascii_case(name))
    }

    /// The cell of `row` under the header `name`.
    pub fn get<'r>(&self, row: &'r [String], name: &str) -> Option<&'r str> {
        row.get(self.column(name)?).map(String::as_str)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(rows: &[&[&str]]) -> Vec<Vec<String>> {
        rows.iter()
            .map(|r| r.iter().map(|c| (*c).to_owned()).collect())
            .collect()
    }

    #[test]
    fn reads_mixed_cells_and_missing_values() {
        let v: ValueRange = serde_json::from_str(
            r#"{"range":"Sheet1!A1:D3","majorDimension":"ROWS","values":[["a",1,2.5],[true,false,null],[]]}"#,
        )
        .expect("parse");
        assert_eq!(
            v.values,
            strings(&[&["a", "1", "2.5"], &["TRUE", "FALSE", ""], &[]])
        );
        let empty: ValueRange =
            serde_json::from_str(r#"{"range":"Sheet1!A1:Z1000","majorDimension":"ROWS"}"#)
                .expect("parse");
        assert!(empty.values.is_empty());
        assert!(
            serde_json::from_str::<ValueRange>(r#"{"range":"A1","values":[[{"x":1}]]}"#).is_err()
        );
    }

    #[test]
    fn batch_request_wire_shape() {
        let body = BatchUpdateRequest {
            value_input_option: "RAW".into(),
            data: vec![ValueRange::new("Sheet1!E2", strings(&[&["done"]]))],
        };
        assert_eq!(
            serde_json::to_value(&body).expect("serialize"),
            serde_json::json!({"valueInputOption": "RAW", "data": [{"range": "Sheet1!E2", "values": [["done"]]}]})
        );
    }

    #[test]
    fn table_numbers_rows_skips_blanks_and_pads() {
        let t = SheetTable::from_values(strings(&[
            &["Name", "Phone ", "Status"],
            &["Ada", "+15550001"],
            &[],
            &["", " "],
            &["Bob", "+15550002", "ok", "extra"],
        ]));
        assert_eq!(t.header.len(), 3);
        assert_eq!(
            t.rows,
            vec![
                (2, strings(&[&["Ada", "+15550001", ""]]).remove(0)),
                (
                    5,
                    strings(&[&["Bob", "+15550002", "ok", "extra"]]).remove(0)
                ),
            ]
        );
        assert_eq!(t.column("phone"), Some(1));
        assert_eq!(t.get(&t.rows[1].1, "STATUS"), Some("ok"));
        assert_eq!(t.get(&t.rows[0].1, "missing"), None);
        assert_eq!(SheetTable::from_values(Vec::new()), SheetTable::default());
    }
}
