//! The simulator's spreadsheets: named sheets of string cells in memory, read
//! and written through A1 ranges the way `spreadsheets.values` does it.
//!
//! Simplifications: the grid grows as needed (Google refuses writes past a
//! sheet's grid size), and sheet names match exactly.

use std::collections::HashMap;

use outcall_sheets::a1::{self, A1Range};
use outcall_sheets::{UpdateValuesResponse, ValueRange};

/// Google's minimum grid for a new sheet, echoed in the `range` of reads.
const GRID_ROWS: u32 = 1000;
const GRID_COLS: usize = 26;
/// Where the simulator stops growing a sheet (Google caps a spreadsheet at
/// ten million cells), so a wild write cannot exhaust memory.
const MAX_ROWS: u32 = 1_000_000;

#[derive(Debug, Default)]
pub(super) struct Books {
    /// Spreadsheet id → sheets, in tab order (a range without a sheet name
    /// means the first).
    books: HashMap<String, Vec<Sheet>>,
}

#[derive(Debug)]
struct Sheet {
    name: String,
    cells: Vec<Vec<String>>,
}

/// Why a request's range cannot be served, as Google words it.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum RangeError {
    /// 404 `NOT_FOUND`.
    NoSpreadsheet,
    /// 400 `INVALID_ARGUMENT` "Unable to parse range: …": a malformed range
    /// or a sheet that does not exist.
    Unparsable(String),
    /// 400 `INVALID_ARGUMENT` with this message.
    Invalid(String),
}

/// A range checked against a spreadsheet: which sheet, which cells.
#[derive(Debug)]
pub(super) struct Target {
    sheet: usize,
    name: String,
    range: A1Range,
}

impl Target {
    pub(super) fn sheet_index(&self) -> usize {
        self.sheet
    }
}

impl Books {
    pub(super) fn put(&mut self, id: &str, name: &str, rows: Vec<Vec<String>>) {
        let sheets = self.books.entry(id.to_owned()).or_default();
        match sheets.iter_mut().find(|s| s.name == name) {
            Some(sheet) => sheet.cells = rows,
            None => sheets.push(Sheet {
                name: name.to_owned(),
                cells: rows,
            }),
        }
    }

    /// The sheet's cells, trailing empty cells and rows dropped.
    pub(super) fn get(&self, id: &str, name: &str) -> Option<Vec<Vec<String>>> {
        let sheet = self.books.get(id)?.iter().find(|s| s.name == name)?;
        Some(trim(sheet.cells.clone()))
    }

    pub(super) fn resolve(&self, id: &str, range: &str) -> Result<Target, RangeError> {
        let sheets = self.books.get(id).ok_or(RangeError::NoSpreadsheet)?;
        let unparsable = || RangeError::Unparsable(format!("Unable to parse range: {range}"));
        let parsed = A1Range::parse(range).map_err(|_| unparsable())?;
        let sheet = match &parsed.sheet {
            Some(name) => sheets.iter().position(|s| &s.name == name),
            None => (!sheets.is_empty()).then_some(0),
        }
        .ok_or_else(unparsable)?;
        Ok(Target {
            sheet,
            name: sheets[sheet].name.clone(),
            range: parsed,
        })
    }

    /// The values of `target` as Google answers a read: `range` echoed with
    /// open ends closed at the grid's edge, rows relative to the range's top
    /// left, trailing empty cells and rows left out.
    pub(super) fn read(&self, id: &str, target: &Target) -> Option<ValueRange> {
        let sheet = self.books.get(id)?.get(target.sheet)?;
        let r = &target.range;
        let data_rows = u32::try_from(sheet.cells.len()).unwrap_or(u32::MAX);
        let data_cols = sheet.cells.iter().map(Vec::len).max().unwrap_or(0);
        let last_row = r.last_row.unwrap_or(data_rows.max(GRID_ROWS));
        let last_col = r.last_col.unwrap_or((data_cols.max(GRID_COLS)) - 1);
        let mut values = Vec::new();
        for row in r.first_row..=last_row.min(data_rows) {
            let cells = &sheet.cells[(row - 1) as usize];
            let end = cells.len().min(last_col + 1);
            values.push(cells.get(r.first_col..end).unwrap_or_default().to_vec());
        }
        Some(ValueRange {
            range: a1::cell_range(&sheet.name, r.first_col, r.first_row, last_col, last_row),
            major_dimension: Some("ROWS".to_owned()),
            values: trim(values),
        })
    }

    /// Checks that `values` fit in `target` (a bounded range must hold them
    /// all), without writing; Google applies a batch all or nothing.
    pub(super) fn check_write(target: &Target, values: &[Vec<String>]) -> Result<(), RangeError> {
        let r = &target.range;
        let rows = u32::try_from(values.len()).unwrap_or(u32::MAX);
        let cols = values.iter().map(Vec::len).max().unwrap_or(0);
        let shown = || {
            let name = target.name.as_str();
            match (r.last_col, r.last_row) {
                (Some(lc), Some(lr)) => a1::cell_range(name, r.first_col, r.first_row, lc, lr),
                _ => format!(
                    "{}!{}{}",
                    a1::quote_sheet_name(name),
                    a1::column_letters(r.first_col),
                    r.first_row
                ),
            }
        };
        let bottom = r.first_row.saturating_add(rows.saturating_sub(1));
        if bottom > MAX_ROWS || r.first_col.saturating_add(cols) > a1::MAX_COLUMNS {
            return Err(RangeError::Invalid(format!(
                "Range ({}) exceeds grid limits. Max rows: {MAX_ROWS}, max columns: {}",
                shown(),
                a1::MAX_COLUMNS
            )));
        }
        if let Some(last) = r.last_row.filter(|&l| rows > 0 && bottom > l) {
            return Err(RangeError::Invalid(format!(
                "Requested writing within range [{}], but tried writing to row [{}]",
                shown(),
                last + 1
            )));
        }
        if let Some(last) = r
            .last_col
            .filter(|&l| cols > 0 && r.first_col + (cols - 1) > l)
        {
            return Err(RangeError::Invalid(format!(
                "Requested writing within range [{}], but tried writing to column [{}]",
                shown(),
                a1::column_letters(last + 1)
            )));
        }
        Ok(())
    }

    /// Writes `values` from the top left of `target` (checked first with
    /// [`Books::check_write`]); an empty string clears a cell.
    pub(super) fn write(
        &mut self,
        id: &str,
        target: &Target,
        values: &[Vec<String>],
    ) -> UpdateValuesResponse {
        let r = &target.range;
        let Some(sheet) = self.books.get_mut(id).and_then(|s| s.get_mut(target.sheet)) else {
            return UpdateValuesResponse::default();
        };
        let first_row = (r.first_row - 1) as usize;
        for (i, row) in values.iter().enumerate() {
            if row.is_empty() {
                continue;
            }
            let at = first_row + i;
            if sheet.cells.len() <= at {
                sheet.cells.resize_with(at + 1, Vec::new);
            }
            let line = &mut sheet.cells[at];
            if line.len() < r.first_col + row.len() {
                line.resize(r.first_col + row.len(), String::new());
            }
            line[r.first_col..r.first_col + row.len()].clone_from_slice(row);
        }
        let cols = values.iter().map(Vec::len).max().unwrap_or(0);
        let rows = values.iter().filter(|row| !row.is_empty()).count();
        let cells: usize = values.iter().map(Vec::len).sum();
        let updated_range = if cols == 0 {
            String::new()
        } else {
            a1::cell_range(
                &sheet.name,
                r.first_col,
                r.first_row,
                r.first_col + cols - 1,
                r.first_row
                    .saturating_add(u32::try_from(values.len()).unwrap_or(u32::MAX) - 1),
            )
        };
        UpdateValuesResponse {
            spreadsheet_id: id.to_owned(),
            updated_range,
            updated_rows: rows as u64,
            updated_columns: cols as u64,
            updated_cells: cells as u64,
        }
    }
}

/// Drops trailing empty cells of each row, then trailing empty rows.
fn trim(mut rows: Vec<Vec<String>>) -> Vec<Vec<String>> {
    for row in &mut rows {
        while row.last().is_some_and(String::is_empty) {
            row.pop();
        }
    }
    while rows.last().is_some_and(Vec::is_empty) {
        rows.pop();
    }
    rows
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rows(cells: &[&[&str]]) -> Vec<Vec<String>> {
        cells
            .iter()
            .map(|r| r.iter().map(|c| (*c).to_owned()).collect())
            .collect()
    }

    fn read(books: &Books, range: &str) -> ValueRange {
        let target = books.resolve("b", range).expect("resolves");
        books.read("b", &target).expect("reads")
    }

    #[test]
    fn reads_echo_the_range_closed_at_the_grid() {
        let mut books = Books::default();
        books.put("b", "Sheet1", rows(&[&["a", "b", ""], &[], &["c"], &[""]]));
        books.put("b", "My Sheet", rows(&[&["x"]]));
        let whole = read(&books, "Sheet1");
        assert_eq!(whole.range, "Sheet1!A1:Z1000");
        assert_eq!(whole.values, rows(&[&["a", "b"], &[], &["c"]]));
        assert_eq!(read(&books, "Sheet1!B:C").range, "Sheet1!B1:C1000");
        assert_eq!(
            read(&books, "A1:A1").range,
            "Sheet1!A1:A1",
            "no sheet: the first"
        );
        assert_eq!(read(&books, "'My Sheet'!A1:B9").range, "'My Sheet'!A1:B9");
        assert_eq!(
            books.resolve("b", "Other!A1").expect_err("unknown sheet"),
            RangeError::Unparsable("Unable to parse range: Other!A1".into())
        );
        assert_eq!(
            books.resolve("x", "Sheet1").expect_err("unknown book"),
            RangeError::NoSpreadsheet
        );
    }

    #[test]
    fn writes_grow_the_sheet_and_respect_bounds() {
        let mut books = Books::default();
        books.put("b", "S", Vec::new());
        let target = books.resolve("b", "S!B2:C3").expect("resolves");
        assert!(Books::check_write(&target, &rows(&[&["1", "2"], &["3"]])).is_ok());
        let err = Books::check_write(&target, &rows(&[&["1", "2", "3"]])).expect_err("column D");
        assert_eq!(
            err,
            RangeError::Invalid(
                "Requested writing within range [S!B2:C3], but tried writing to column [D]".into()
            )
        );
        assert!(Books::check_write(&target, &rows(&[&["1"], &["2"], &["3"]])).is_err());
        let far = books.resolve("b", "S!A999999999").expect("resolves");
        assert!(
            Books::check_write(&far, &rows(&[&["x"]])).is_err(),
            "past the grid cap"
        );
        let one = books.write("b", &target, &rows(&[&["1", "2"], &["3"]]));
        assert_eq!(
            (one.updated_range.as_str(), one.updated_cells),
            ("S!B2:C3", 3)
        );
        assert_eq!(
            books.get("b", "S").expect("sheet"),
            rows(&[&[], &["", "1", "2"], &["", "3"]])
        );
    }
}
