//! CSV to [`ContactDraft`]s, read as a stream (a file is never held whole).
//!
//! - A UTF-8 byte-order mark is dropped; the separator (`,`, `;` or tab) is the one the
//!   header line uses most.
//! - Header names are matched ignoring case, spaces, `_` and `-`, with the usual
//!   aliases (see [`field_of`]); `first name` + `last name` columns make the name when
//!   there is no name column. Every other column becomes a custom field, its header as
//!   the key, keeping only non-empty cells.
//! - Rows are counted as a spreadsheet shows them: the header is row 1.
//! - A file that cannot be read as CSV (invalid UTF-8, an unclosed quote, a row longer
//!   than the header, no phone column, too many rows) is an error naming the row: the
//!   caller writes nothing. A row that is merely wrong (a bad number) is the
//!   importer's business, not this reader's.

use std::io::{BufRead, BufReader, Cursor, Read};

use serde_json::Value;

use super::ContactDraft;

/// Most data rows one import may hold.
pub const MAX_ROWS: usize = 100_000;

const BOM: &[u8] = b"\xEF\xBB\xBF";

#[derive(Debug, thiserror::Error)]
pub enum CsvError {
    /// The file breaks CSV's rules (or ours) at `row`.
    #[error("row {row}: {message}")]
    Malformed { row: usize, message: String },
    #[error(
        "no phone number column: the header needs one named phone, phoneNumber, phone_number, number, mobile or tel (found: {found})"
    )]
    NoPhoneColumn { found: String },
    #[error("more than {MAX_ROWS} rows: split the file into parts of at most {MAX_ROWS} rows")]
    TooManyRows,
    #[error("the file is empty: the first line must be a header naming the columns")]
    Empty,
    #[error("cannot read the file: {0}")]
    Io(#[from] std::io::Error),
}

impl CsvError {
    /// The row the problem is on, when it is on one.
    pub fn row(&self) -> Option<usize> {
        match self {
            Self::Malformed { row, .. } => Some(*row),
            Self::NoPhoneColumn { .. } => Some(1),
            _ => None,
        }
    }

    fn at(row: usize, message: impl Into<String>) -> Self {
        Self::Malformed {
            row,
            message: message.into(),
        }
    }
}

/// Reads a whole CSV into drafts, or says why the file cannot be read.
pub fn parse_csv(input: impl Read) -> Result<Vec<ContactDraft>, CsvError> {
    let mut input = BufReader::with_capacity(64 * 1024, input);
    let mut first = Vec::new();
    input.read_until(b'\n', &mut first)?;
    if first.starts_with(BOM) {
        first.drain(..BOM.len());
    }
    let delimiter = separator(&first);
    let tracker = QuoteTracker::new(Cursor::new(first).chain(input), delimiter);
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .delimiter(delimiter)
        .from_reader(tracker);
    let mut record = csv::StringRecord::new();
    if !next_record(&mut reader, &mut record, 1)? {
        return Err(CsvError::Empty);
    }
    let columns = Columns::from_header(&record)?;
    let mut drafts = Vec::new();
    let mut row = 1;
    while next_record(&mut reader, &mut record, row + 1)? {
        row += 1;
        if record.iter().all(|cell| cell.trim().is_empty()) {
            continue; // a blank line of separators, as spreadsheets leave at the end
        }
        if drafts.len() == MAX_ROWS {
            return Err(CsvError::TooManyRows);
        }
        drafts.push(columns.draft(row, &record)?);
    }
    if let Some(open) = reader.get_ref().unclosed_quote_row() {
        return Err(CsvError::at(
            open,
            "a quoted field is never closed (a '\"' is missing)",
        ));
    }
    Ok(drafts)
}

/// Reads the next record; `false` at the end. `row` is the record's row, for errors.
fn next_record<R: Read>(
    reader: &mut csv::Reader<R>,
    record: &mut csv::StringRecord,
    row: usize,
) -> Result<bool, CsvError> {
    reader.read_record(record).map_err(|e| match e.into_kind() {
        csv::ErrorKind::Io(io) => CsvError::Io(io),
        csv::ErrorKind::Utf8 { .. } => CsvError::at(
            row,
            "the text is not valid UTF-8: save the file as UTF-8 CSV",
        ),
        other => CsvError::at(row, format!("{other:?}")),
    })
}

/// The separator the header line uses most (outside quotes): `,` unless `;` or tab win.
fn separator(line: &[u8]) -> u8 {
    let mut counts = [(b',', 0usize), (b';', 0), (b'\t', 0)];
    let mut quoted = false;
    for &b in line {
        if b == b'"' {
            quoted = !quoted;
        } else if !quoted && let Some(c) = counts.iter_mut().find(|(d, _)| *d == b) {
            c.1 += 1;
        }
    }
    counts
        .iter()
        .fold((b',', 0), |best, &c| if c.1 > best.1 { c } else { best })
        .0
}

/// What a column holds.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Field {
    Phone,
    Name,
    FirstName,
    LastName,
    Email,
    Tags,
    Notes,
    Priority,
    Status,
    Timezone,
    Custom(String),
    /// A column without a header.
    Ignored,
}

/// The field a header names: case, spaces, `_` and `-` do not matter.
fn field_of(header: &str) -> Field {
    let key: String = header
        .chars()
        .filter(|c| !matches!(c, ' ' | '_' | '-'))
        .flat_map(char::to_lowercase)
        .collect();
    match key.as_str() {
        "phone" | "phonenumber" | "number" | "mobile" | "mobilenumber" | "mobilephone" | "tel"
        | "telephone" | "cell" | "cellphone" => Field::Phone,
        "name" | "fullname" | "contactname" => Field::Name,
        "firstname" | "first" | "givenname" => Field::FirstName,
        "lastname" | "last" | "surname" | "familyname" => Field::LastName,
        "email" | "emailaddress" => Field::Email,
        "tags" | "tag" => Field::Tags,
        "notes" | "note" => Field::Notes,
        "priority" => Field::Priority,
        "status" => Field::Status,
        "timezone" | "tz" => Field::Timezone,
        "" => Field::Ignored,
        _ => Field::Custom(header.to_string()),
    }
}

/// The meaning of each column of a header, and how to read a row by it.
#[derive(Debug)]
pub(crate) struct Columns(Vec<Field>);

impl Columns {
    fn from_header(header: &csv::StringRecord) -> Result<Self, CsvError> {
        Self::from_names(header.iter(), &[])
    }

    /// Reads a header's names. `roles` fix the meaning of some columns by index (a
    /// Sheets import's named columns); they win over what the header says, and a
    /// column that would otherwise mean the same thing is kept as a custom field.
    pub(crate) fn from_names<'a>(
        header: impl IntoIterator<Item = &'a str>,
        roles: &[(usize, Field)],
    ) -> Result<Self, CsvError> {
        let header: Vec<&str> = header.into_iter().map(str::trim).collect();
        let mut fields: Vec<Field> = Vec::with_capacity(header.len());
        let mut seen: Vec<String> = Vec::new();
        for &name in &header {
            if !name.is_empty() {
                let lower = name.to_lowercase();
                if seen.contains(&lower) {
                    return Err(CsvError::at(
                        1,
                        format!("the column {name:?} appears twice"),
                    ));
                }
                seen.push(lower);
            }
            let mut field = field_of(name);
            // A second column for the same field (say "phone" and "mobile") is kept as data.
            if !matches!(field, Field::Custom(_) | Field::Ignored) && fields.contains(&field) {
                field = Field::Custom(name.to_string());
            }
            fields.push(field);
        }
        for (at, role) in roles {
            let named = !matches!(role, Field::Custom(_) | Field::Ignored);
            for (i, field) in fields.iter_mut().enumerate() {
                if i == *at {
                    *field = role.clone();
                } else if named && field == role {
                    *field = Field::Custom(header[i].to_string());
                }
            }
        }
        if !fields.contains(&Field::Phone) {
            return Err(CsvError::NoPhoneColumn {
                found: header
                    .iter()
                    .map(|h| format!("{h:?}"))
                    .collect::<Vec<_>>()
                    .join(", "),
            });
        }
        Ok(Self(fields))
    }

    /// The first column holding `field`.
    pub(crate) fn index_of(&self, field: &Field) -> Option<usize> {
        self.0.iter().position(|f| f == field)
    }

    /// How many columns the header names.
    pub(crate) fn len(&self) -> usize {
        self.0.len()
    }

    fn draft(&self, row: usize, record: &csv::StringRecord) -> Result<ContactDraft, CsvError> {
        self.draft_cells(row, record.len(), record.iter())
    }

    /// Reads one row's `count` cells (an error if more than the header names).
    pub(crate) fn draft_cells<'a>(
        &self,
        row: usize,
        count: usize,
        cells: impl Iterator<Item = &'a str>,
    ) -> Result<ContactDraft, CsvError> {
        let mut d = ContactDraft {
            row,
            ..ContactDraft::default()
        };
        let (mut first, mut last) = (None, None);
        for (i, cell) in cells.enumerate() {
            let cell = cell.trim();
            if cell.is_empty() {
                continue;
            }
            let Some(field) = self.0.get(i) else {
                return Err(CsvError::at(
                    row,
                    format!("{count} fields, but the header names {}", self.0.len()),
                ));
            };
            let text = Some(cell.to_string());
            match field {
                Field::Phone => d.phone_number = cell.to_string(),
                Field::Name => d.name = text,
                Field::FirstName => first = text,
                Field::LastName => last = text,
                Field::Email => d.email = text,
                Field::Tags => {
                    d.tags = cell
                        .split([';', '|'])
                        .map(str::trim)
                        .filter(|t| !t.is_empty())
                        .map(String::from)
                        .collect()
                }
                Field::Notes => d.notes = text,
                Field::Priority => d.priority = text,
                Field::Status => d.status = text,
                Field::Timezone => d.timezone = text,
                Field::Custom(key) => {
                    d.custom_fields
                        .insert(key.clone(), Value::String(cell.to_string()));
                }
                Field::Ignored => {}
            }
        }
        if d.name.is_none() {
            let joined = [first, last].into_iter().flatten().collect::<Vec<_>>();
            if !joined.is_empty() {
                d.name = Some(joined.join(" "));
            }
        }
        Ok(d)
    }
}

/// Passes bytes through while following CSV quoting the way the `csv` crate reads it,
/// to notice a quoted field still open at the end of the input: the `csv` crate then
/// silently takes the rest of the file as that one field.
#[derive(Debug)]
struct QuoteTracker<R> {
    inner: R,
    delimiter: u8,
    in_quotes: bool,
    /// A `"` seen inside quotes: the field's end, or the first half of `""`.
    quote_pending: bool,
    field_start: bool,
    record_has_content: bool,
    /// Records finished so far (blank lines are not records).
    records: usize,
    /// The row whose quote is open.
    open_row: usize,
}

impl<R> QuoteTracker<R> {
    fn new(inner: R, delimiter: u8) -> Self {
        Self {
            inner,
            delimiter,
            in_quotes: false,
            quote_pending: false,
            field_start: true,
            record_has_content: false,
            records: 0,
            open_row: 0,
        }
    }

    fn feed(&mut self, b: u8) {
        if self.in_quotes {
            if self.quote_pending {
                self.quote_pending = false;
                if b == b'"' {
                    return; // `""`: a quote inside the field
                }
                self.in_quotes = false; // the field's closing quote; `b` is outside
            } else {
                if b == b'"' {
                    self.quote_pending = true;
                }
                return;
            }
        }
        match b {
            b'\n' | b'\r' => {
                if self.record_has_content {
                    self.records += 1;
                    self.record_has_content = false;
                }
                self.field_start = true;
            }
            d if d == self.delimiter => {
                self.field_start = true;
                self.record_has_content = true;
            }
            b'"' if self.field_start => {
                self.in_quotes = true;
                self.open_row = self.records + 1;
                self.field_start = false;
                self.record_has_content = true;
            }
            _ => {
                self.field_start = false;
                self.record_has_content = true;
            }
        }
    }

    /// After the whole input was read: the row of a quote never closed.
    fn unclosed_quote_row(&self) -> Option<usize> {
        (self.in_quotes && !self.quote_pending).then_some(self.open_row)
    }
}

impl<R: Read> Read for QuoteTracker<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        for &b in &buf[..n] {
            self.feed(b);
        }
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Vec<ContactDraft>, CsvError> {
        parse_csv(text.as_bytes())
    }

    #[test]
    fn reads_aliases_tags_and_custom_fields() {
        let drafts = parse(
            "\u{feff}Phone Number;First Name;Last Name;E-mail;Tags;Company;TZ\n\
             +14155550100;Ada;Lovelace;ada@example.com;vip| west ;Acme;Europe/London\n",
        )
        .expect("parses");
        assert_eq!(drafts.len(), 1);
        let d = &drafts[0];
        assert_eq!(d.row, 2);
        assert_eq!(d.phone_number, "+14155550100");
        assert_eq!(d.name.as_deref(), Some("Ada Lovelace"));
        assert_eq!(d.email.as_deref(), Some("ada@example.com"));
        assert_eq!(d.tags, vec!["vip", "west"]);
        assert_eq!(d.timezone.as_deref(), Some("Europe/London"));
        assert_eq!(d.custom_fields["Company"], "Acme");
    }

    #[test]
    fn quoted_fields_may_hold_separators_newlines_and_quotes() {
        let drafts = parse("phone,notes\n+14155550100,\"a, b\nc \"\"d\"\"\"\n+14155550101,x\n")
            .expect("parses");
        assert_eq!(drafts[0].notes.as_deref(), Some("a, b\nc \"d\""));
        assert_eq!(drafts[1].row, 3);
    }

    #[test]
    fn an_unclosed_quote_is_an_error_on_its_row() {
        let err = parse("phone,name\n+14155550100,Ada\n+14155550101,\"Grace\n+14155550102,Alan\n")
            .expect_err("unclosed");
        assert_eq!(err.row(), Some(3), "{err}");
    }

    #[test]
    fn a_row_longer_than_the_header_is_an_error() {
        let err = parse("phone,name\n+14155550100,Ada,extra\n").expect_err("long row");
        assert_eq!(err.row(), Some(2), "{err}");
        // Trailing empty cells are harmless.
        assert_eq!(
            parse("phone,name\n+14155550100,Ada,,\n").expect("ok").len(),
            1
        );
    }

    #[test]
    fn invalid_utf8_names_its_row() {
        let mut bytes = b"phone,name\n+14155550100,Ada\n+14155550101,".to_vec();
        bytes.extend_from_slice(&[0xff, 0xfe, b'\n']);
        let err = parse_csv(&bytes[..]).expect_err("not utf-8");
        assert_eq!(err.row(), Some(3), "{err}");
    }

    #[test]
    fn a_header_without_a_phone_column_is_refused() {
        assert!(matches!(
            parse("name,email\nAda,ada@example.com\n"),
            Err(CsvError::NoPhoneColumn { .. })
        ));
        assert!(matches!(parse(""), Err(CsvError::Empty)));
        assert_eq!(
            parse("phone,Name,name\n").expect_err("twice").row(),
            Some(1)
        );
    }

    #[test]
    fn blank_rows_are_skipped_but_counted() {
        let drafts = parse("tel\n+14155550100\n\n,\n+14155550101\n").expect("parses");
        let rows: Vec<usize> = drafts.iter().map(|d| d.row).collect();
        assert_eq!(rows, vec![2, 4]);
    }

    #[test]
    fn separators_are_detected_from_the_header() {
        assert_eq!(separator(b"phone;name;\"a,b\""), b';');
        assert_eq!(separator(b"phone,name"), b',');
        assert_eq!(separator(b"phone\tname"), b'\t');
        assert_eq!(separator(b"phone"), b',');
    }
}
