//! A1 notation: column letters, cell and range strings, sheet-name quoting,
//! and a parser for the range forms outcall uses (`Sheet1`, `Sheet1!A1:D10`,
//! `'My Sheet'!B2`, `Sheet1!A:C`, `Sheet1!2:5`, `Sheet1!A2:C`).
//!
//! Conventions: column indexes are 0-based (`A` is 0, matching a cell's
//! position in a row vector); row numbers are 1-based, as Sheets shows them.

use std::borrow::Cow;
use std::fmt::Write as _;

/// Sheets has at most 18,278 columns (`A` to `ZZZ`).
pub const MAX_COLUMNS: usize = 26 + 26 * 26 + 26 * 26 * 26;

/// The letters of 0-based column `index`: 0 → `A`, 25 → `Z`, 26 → `AA`.
/// (Bijective base 26; works past `ZZZ` too, though Sheets stops there.)
pub fn column_letters(index: usize) -> String {
    let mut letters = Vec::new();
    // `n` counts from 1 so that every digit is 1..=26: there is no zero digit.
    let mut n = index as u128 + 1;
    while n > 0 {
        let rem = (n - 1) % 26;
        letters.push(b'A' + rem as u8);
        n = (n - 1) / 26;
    }
    letters.reverse();
    String::from_utf8(letters).expect("BUG: column letters are ASCII")
}

/// The 0-based index of column `letters` (ASCII, either case): `A` → 0,
/// `AA` → 26. `None` for an empty string, a non-letter, or an overflow.
pub fn column_index(letters: &str) -> Option<usize> {
    if letters.is_empty() {
        return None;
    }
    let mut n: usize = 0;
    for b in letters.bytes() {
        if !b.is_ascii_alphabetic() {
            return None;
        }
        let digit = usize::from(b.to_ascii_uppercase() - b'A') + 1;
        n = n.checked_mul(26)?.checked_add(digit)?;
    }
    Some(n - 1)
}

/// `name` as it must appear before `!`: bare when Sheets reads it as a name
/// unambiguously, else in single quotes with inner quotes doubled
/// (`My Sheet` → `'My Sheet'`, `Bob's` → `'Bob''s'`).
///
/// Names that look like a cell (`Q1`, `CRM26`) or an R1C1 reference are
/// quoted too: Sheets would read them as a range of the first sheet.
pub fn quote_sheet_name(name: &str) -> Cow<'_, str> {
    let plain = !name.is_empty()
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
        && !name.as_bytes()[0].is_ascii_digit()
        && !looks_like_cell(name)
        && !looks_like_r1c1(name);
    if plain {
        Cow::Borrowed(name)
    } else {
        Cow::Owned(format!("'{}'", name.replace('\'', "''")))
    }
}

/// One to three letters then digits: a cell within Sheets' `ZZZ` columns.
fn looks_like_cell(name: &str) -> bool {
    let letters = name.bytes().take_while(u8::is_ascii_alphabetic).count();
    let rest = &name[letters..];
    (1..=3).contains(&letters) && !rest.is_empty() && rest.bytes().all(|b| b.is_ascii_digit())
}

/// `R`, optional digits, `C`, optional digits (`R1C1`, `RC`, `r2c`).
fn looks_like_r1c1(name: &str) -> bool {
    let upper = name.to_ascii_uppercase();
    let Some(rest) = upper.strip_prefix('R') else {
        return false;
    };
    let rest = rest.trim_start_matches(|c: char| c.is_ascii_digit());
    rest.strip_prefix('C')
        .is_some_and(|r| r.bytes().all(|b| b.is_ascii_digit()))
}

/// The A1 reference of one cell: `cell("My Sheet", 2, 5)` → `'My Sheet'!C5`.
/// `col` is 0-based, `row` 1-based.
pub fn cell(sheet: &str, col: usize, row: u32) -> String {
    format!("{}!{}{row}", quote_sheet_name(sheet), column_letters(col))
}

/// The A1 reference of a rectangle, corners included:
/// `cell_range("Sheet1", 0, 1, 3, 10)` → `Sheet1!A1:D10`.
pub fn cell_range(
    sheet: &str,
    first_col: usize,
    first_row: u32,
    last_col: usize,
    last_row: u32,
) -> String {
    let mut s = format!(
        "{}!{}{first_row}",
        quote_sheet_name(sheet),
        column_letters(first_col)
    );
    let _ = write!(s, ":{}{last_row}", column_letters(last_col));
    s
}

/// A parsed A1 range. Bounds are inclusive; `None` as a last bound means "to
/// the end of the sheet" (`Sheet1!A:C` has no last row).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct A1Range {
    /// `None` when the range named no sheet: Sheets then uses the first one.
    pub sheet: Option<String>,
    /// 0-based.
    pub first_col: usize,
    pub last_col: Option<usize>,
    /// 1-based.
    pub first_row: u32,
    pub last_row: Option<u32>,
}

/// Why a string is not an A1 range.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unable to parse range {range:?}: {reason}")]
pub struct A1Error {
    pub range: String,
    pub reason: &'static str,
}

/// One side of a `:`: column letters, a row number, or both.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Corner {
    col: Option<usize>,
    row: Option<u32>,
}

impl A1Range {
    /// Every cell of `sheet`.
    pub fn whole_sheet(sheet: impl Into<String>) -> Self {
        Self {
            sheet: Some(sheet.into()),
            first_col: 0,
            last_col: None,
            first_row: 1,
            last_row: None,
        }
    }

    /// Parses `Sheet1`, `'My Sheet'`, `Sheet1!A1:D10`, `'My Sheet'!B2`,
    /// `Sheet1!A:C`, `Sheet1!2:5`, `Sheet1!A2:C`, or a range with no sheet
    /// (`A1:B2`). A lone string that is not a cell or range is a sheet name.
    pub fn parse(input: &str) -> Result<Self, A1Error> {
        let fail = |reason| A1Error {
            range: input.to_owned(),
            reason,
        };
        let (sheet, region) = if let Some(quoted) = input.strip_prefix('\'') {
            let (name, rest) = split_quoted(quoted).ok_or_else(|| fail("unterminated quote"))?;
            if rest.is_empty() {
                (Some(name), None)
            } else {
                let region = rest
                    .strip_prefix('!')
                    .ok_or_else(|| fail("expected `!` after the quoted sheet name"))?;
                (Some(name), Some(region))
            }
        } else if let Some((name, region)) = input.split_once('!') {
            (Some(name.to_owned()), Some(region))
        } else if parse_region(input).is_some() {
            (None, Some(input))
        } else {
            (Some(input.to_owned()), None)
        };
        if sheet.as_deref() == Some("") {
            return Err(fail("empty sheet name"));
        }
        let Some(region) = region else {
            let Some(name) = sheet else {
                return Err(fail("empty range"));
            };
            return Ok(Self::whole_sheet(name));
        };
        let (start, end) = parse_region(region).ok_or_else(|| fail("bad cell reference"))?;
        let mut range = Self {
            sheet,
            first_col: start.col.unwrap_or(0),
            last_col: end.col,
            first_row: start.row.unwrap_or(1),
            last_row: end.row,
        };
        // Sheets accepts corners in any order (`D10:A1`).
        if let Some(last) = range.last_col.filter(|&l| l < range.first_col) {
            range.last_col = Some(range.first_col);
            range.first_col = last;
        }
        if let Some(last) = range.last_row.filter(|&l| l < range.first_row) {
            range.last_row = Some(range.first_row);
            range.first_row = last;
        }
        Ok(range)
    }

    /// Whether the 0-based column `col` and 1-based row `row` lie inside.
    pub fn contains(&self, col: usize, row: u32) -> bool {
        col >= self.first_col
            && self.last_col.is_none_or(|l| col <= l)
            && row >= self.first_row
            && self.last_row.is_none_or(|l| row <= l)
    }
}

/// Splits `name'rest` at the closing quote, undoubling `''`.
fn split_quoted(s: &str) -> Option<(String, &str)> {
    let mut name = String::new();
    let mut chars = s.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        if c == '\'' {
            if chars.peek().is_some_and(|&(_, next)| next == '\'') {
                chars.next();
                name.push('\'');
            } else {
                return Some((name, &s[i + 1..]));
            }
        } else {
            name.push(c);
        }
    }
    None
}

/// `A1`, `A1:D10`, `A:C`, `2:5`, `A2:C` into (start, end). A single corner
/// must be a whole cell; a pair must not mix a column-only start with a
/// row-only end or the reverse. The end of a single cell is the cell.
fn parse_region(region: &str) -> Option<(Corner, Corner)> {
    match region.split_once(':') {
        None => {
            let c = parse_corner(region)?;
            (c.col.is_some() && c.row.is_some()).then_some((c, c))
        }
        Some((a, b)) => {
            let (start, end) = (parse_corner(a)?, parse_corner(b)?);
            let mixed = (start.col.is_none() && end.row.is_none())
                || (start.row.is_none() && end.col.is_none());
            (!mixed).then_some((start, end))
        }
    }
}

/// Column letters (at most three, Sheets' limit) then a row number, either
/// one optional but not both. `$` anchors are accepted and ignored.
fn parse_corner(s: &str) -> Option<Corner> {
    let s = s.trim_start_matches('$');
    let letters = s.bytes().take_while(u8::is_ascii_alphabetic).count();
    let (col, rest) = s.split_at(letters);
    let rest = rest.strip_prefix('$').unwrap_or(rest);
    if letters > 3 || (col.is_empty() && rest.is_empty()) {
        return None;
    }
    let col = if col.is_empty() {
        None
    } else {
        Some(column_index(col)?)
    };
    let row = if rest.is_empty() {
        None
    } else {
        if !rest.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let row: u32 = rest.parse().ok()?;
        if row == 0 {
            return None;
        }
        Some(row)
    };
    Some(Corner { col, row })
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn letters_of_known_columns() {
        for (i, l) in [
            (0, "A"),
            (25, "Z"),
            (26, "AA"),
            (27, "AB"),
            (51, "AZ"),
            (52, "BA"),
            (701, "ZZ"),
            (702, "AAA"),
            (MAX_COLUMNS - 1, "ZZZ"),
        ] {
            assert_eq!(column_letters(i), l);
            assert_eq!(column_index(l), Some(i));
        }
        assert_eq!(column_index("ab"), Some(27));
        assert_eq!(column_index(""), None);
        assert_eq!(column_index("A1"), None);
        assert_eq!(column_index(&"Z".repeat(40)), None, "overflow");
    }

    proptest! {
        #[test]
        fn column_index_round_trips(i in 0usize..10_000_000) {
            let letters = column_letters(i);
            prop_assert!(letters.bytes().all(|b| b.is_ascii_uppercase()));
            prop_assert_eq!(column_index(&letters), Some(i));
        }

        #[test]
        fn letters_round_trip(letters in "[A-Z]{1,6}") {
            let i = column_index(&letters).expect("letters are a column");
            prop_assert_eq!(column_letters(i), letters);
        }

        #[test]
        fn quoted_names_parse_back(name in "[ -~]{1,20}", col in 0usize..MAX_COLUMNS, row in 1u32..1_000_000) {
            let whole = A1Range::parse(&quote_sheet_name(&name)).expect("a quoted name parses");
            prop_assert_eq!(whole, A1Range::whole_sheet(name.clone()));
            let one = A1Range::parse(&cell(&name, col, row)).expect("a cell parses");
            prop_assert_eq!(one.sheet.as_deref(), Some(name.as_str()));
            prop_assert_eq!((one.first_col, one.last_col, one.first_row, one.last_row),
                (col, Some(col), row, Some(row)));
        }
    }

    #[test]
    fn quoting() {
        assert_eq!(quote_sheet_name("Sheet1"), "Sheet1");
        assert_eq!(quote_sheet_name("Contacts_2024"), "Contacts_2024");
        assert_eq!(quote_sheet_name("My Sheet"), "'My Sheet'");
        assert_eq!(quote_sheet_name("Bob's"), "'Bob''s'");
        assert_eq!(quote_sheet_name("Q1"), "'Q1'");
        assert_eq!(quote_sheet_name("CRM26"), "'CRM26'");
        assert_eq!(quote_sheet_name("R1C1"), "'R1C1'");
        assert_eq!(quote_sheet_name("2024"), "'2024'");
        assert_eq!(quote_sheet_name("Café"), "'Café'");
        assert_eq!(quote_sheet_name(""), "''");
    }

    #[test]
    fn cells_and_ranges() {
        assert_eq!(cell("Sheet1", 2, 5), "Sheet1!C5");
        assert_eq!(cell("My Sheet", 1, 2), "'My Sheet'!B2");
        assert_eq!(cell_range("Sheet1", 0, 1, 3, 10), "Sheet1!A1:D10");
    }

    fn range(
        sheet: Option<&str>,
        fc: usize,
        lc: Option<usize>,
        fr: u32,
        lr: Option<u32>,
    ) -> A1Range {
        A1Range {
            sheet: sheet.map(str::to_owned),
            first_col: fc,
            last_col: lc,
            first_row: fr,
            last_row: lr,
        }
    }

    #[test]
    fn parses_the_forms_outcall_uses() {
        let cases = [
            ("Sheet1", range(Some("Sheet1"), 0, None, 1, None)),
            ("'My Sheet'", range(Some("My Sheet"), 0, None, 1, None)),
            (
                "Sheet1!A1:D10",
                range(Some("Sheet1"), 0, Some(3), 1, Some(10)),
            ),
            (
                "'My Sheet'!B2",
                range(Some("My Sheet"), 1, Some(1), 2, Some(2)),
            ),
            ("'Bob''s'!B2", range(Some("Bob's"), 1, Some(1), 2, Some(2))),
            ("Sheet1!C5", range(Some("Sheet1"), 2, Some(2), 5, Some(5))),
            ("Sheet1!A:C", range(Some("Sheet1"), 0, Some(2), 1, None)),
            ("Sheet1!2:5", range(Some("Sheet1"), 0, None, 2, Some(5))),
            ("Sheet1!A2:C", range(Some("Sheet1"), 0, Some(2), 2, None)),
            (
                "Sheet1!$A$1:$b$2",
                range(Some("Sheet1"), 0, Some(1), 1, Some(2)),
            ),
            (
                "Sheet1!D10:A1",
                range(Some("Sheet1"), 0, Some(3), 1, Some(10)),
            ),
            ("A1:B2", range(None, 0, Some(1), 1, Some(2))),
            ("Contacts", range(Some("Contacts"), 0, None, 1, None)),
        ];
        for (input, want) in cases {
            assert_eq!(A1Range::parse(input), Ok(want), "{input}");
        }
    }

    #[test]
    fn rejects_malformed_ranges() {
        for bad in [
            "",
            "'Open",
            "'Sheet'A1",
            "!A1",
            "Sheet1!",
            "Sheet1!A",
            "Sheet1!A0",
            "Sheet1!AAAA1",
            "Sheet1!A1:",
            "Sheet1!A:5",
            "Sheet1!1:C",
            "Sheet1!A1B",
        ] {
            assert!(A1Range::parse(bad).is_err(), "{bad:?} should not parse");
        }
    }

    #[test]
    fn contains_respects_open_ends() {
        let r = A1Range::parse("Sheet1!B2:C").expect("parses");
        assert!(r.contains(1, 2) && r.contains(2, 999_999));
        assert!(!r.contains(0, 2) && !r.contains(3, 2) && !r.contains(1, 1));
    }
}
