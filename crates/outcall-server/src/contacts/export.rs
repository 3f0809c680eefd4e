//! Contacts to CSV, fetched from the store a page at a time so an export of any size
//! holds one page in memory. Pages are read by offset, oldest first: a contact created
//! during the export lands on a later page, but one deleted during it can shift a
//! later contact onto a page already sent (that contact is then missing).

use std::sync::Arc;

use axum::body::Bytes;
use chrono::SecondsFormat;
use futures::Stream;
use outcall_domain::contact::Contact;
use outcall_domain::page::{PageRequest, Sort};
use outcall_store::{ContactFilter, Store};

/// The export's columns, in order. `tags` are joined with `;`; `customFields` is one
/// JSON object.
pub const COLUMNS: [&str; 12] = [
    "id",
    "phoneNumber",
    "name",
    "email",
    "status",
    "priority",
    "tags",
    "timezone",
    "callCount",
    "lastContacted",
    "notes",
    "customFields",
];

/// Contacts per store query. Above the API's page limit on purpose: nobody pages this
/// by hand, and fewer queries means fewer `COUNT`s.
const BATCH: u32 = 500;

/// The header line.
pub fn header() -> Result<Vec<u8>, csv::Error> {
    let mut w = csv::Writer::from_writer(Vec::new());
    w.write_record(COLUMNS)?;
    into_bytes(w)
}

/// The CSV lines of `contacts`, without a header.
pub fn lines(contacts: &[Contact]) -> Result<Vec<u8>, csv::Error> {
    let mut w = csv::Writer::from_writer(Vec::with_capacity(contacts.len() * 128));
    for c in contacts {
        let custom = serde_json::to_string(&c.custom_fields).unwrap_or_else(|_| "{}".into());
        w.write_record([
            c.id.to_hex().as_str(),
            &c.phone_number,
            c.name.as_deref().unwrap_or(""),
            c.email.as_deref().unwrap_or(""),
            c.status.as_str(),
            &c.priority.to_string(),
            &c.tags.join(";"),
            c.timezone.as_deref().unwrap_or(""),
            &c.call_count.to_string(),
            &c.last_contacted
                .map(|t| t.to_rfc3339_opts(SecondsFormat::Millis, true))
                .unwrap_or_default(),
            c.notes.as_deref().unwrap_or(""),
            &custom,
        ])?;
    }
    into_bytes(w)
}

fn into_bytes(w: csv::Writer<Vec<u8>>) -> Result<Vec<u8>, csv::Error> {
    w.into_inner().map_err(|e| e.into_error().into())
}

enum Next {
    Header,
    Page(u32),
    Done,
}

/// The whole export as a stream of chunks: the header, then one chunk per page. A
/// store failure mid-way ends the stream with an error, which cuts the response short
/// (the status line is long gone), so a client sees a truncated download, not a
/// complete-looking one.
pub fn stream(
    store: Arc<dyn Store>,
    filter: ContactFilter,
) -> impl Stream<Item = Result<Bytes, std::io::Error>> + Send + 'static {
    futures::stream::unfold(Next::Header, move |next| {
        let store = store.clone();
        let filter = filter.clone();
        async move {
            match next {
                Next::Done => None,
                Next::Header => Some((header().map(Bytes::from).map_err(io), Next::Page(1))),
                Next::Page(n) => {
                    let page = PageRequest {
                        page: n,
                        limit: BATCH,
                        sort: Sort::asc("createdAt"),
                    };
                    match store.list_contacts(&filter, &page).await {
                        Err(e) => {
                            tracing::error!("contacts export stopped at page {n}: {e}");
                            Some((Err(io(e)), Next::Done))
                        }
                        Ok(p) => {
                            let more = p.items.len() == BATCH as usize;
                            let chunk = lines(&p.items).map(Bytes::from).map_err(io);
                            Some((chunk, if more { Next::Page(n + 1) } else { Next::Done }))
                        }
                    }
                }
            }
        }
    })
}

fn io(e: impl std::fmt::Display) -> std::io::Error {
    std::io::Error::other(e.to_string())
}
