//! Shared row plumbing: documents to and from JSON, times to milliseconds,
//! sqlx errors to `StoreError`, and paged list queries.

use outcall_domain::Page;
use outcall_domain::page::{PageRequest, SortOrder};
use outcall_domain::time::Timestamp;
use outcall_store::undecodable::decode_items;
use outcall_store::{StoreError, StoreResult};
use serde::Serialize;
use serde::de::DeserializeOwned;
use sqlx::{QueryBuilder, Sqlite, SqlitePool};

/// Encodes a document for the `doc` column. Callers truncate times first
/// (`MillisecondTimes`), so a document reads back exactly as it was written.
pub(crate) fn encode<T: Serialize>(doc: &T) -> StoreResult<String> {
    serde_json::to_string(doc).map_err(|e| StoreError::Internal(format!("encode document: {e}")))
}

pub(crate) fn decode<T: DeserializeOwned>(doc: &str) -> StoreResult<T> {
    serde_json::from_str(doc)
        .map_err(|e| StoreError::Internal(format!("decode stored document: {e}")))
}

/// The JSON text of a timestamp as serde writes it in documents.
pub(crate) fn json_time(t: Timestamp) -> StoreResult<String> {
    Ok(encode(&t)?.trim_matches('"').to_string())
}

pub(crate) fn millis(t: Timestamp) -> i64 {
    t.timestamp_millis()
}

pub(crate) fn opt_millis(t: Option<Timestamp>) -> Option<i64> {
    t.map(millis)
}

/// Maps a sqlx error: unique violations become `Conflict` naming the rule,
/// lost connections `Unavailable`, the rest `Internal`.
pub(crate) fn db_err(e: sqlx::Error) -> StoreError {
    match &e {
        sqlx::Error::Database(d) if d.is_unique_violation() => {
            StoreError::conflict(unique_rule(d.message()))
        }
        sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed | sqlx::Error::Io(_) => {
            StoreError::Unavailable(e.to_string())
        }
        _ => StoreError::Internal(e.to_string()),
    }
}

/// Names the broken rule in the document's terms from SQLite's
/// "UNIQUE constraint failed: calls.call_sid" message.
fn unique_rule(message: &str) -> String {
    let rule = [
        ("calls.call_sid", "a call with this callSid"),
        ("calls.attempt_id", "a call for this attemptId"),
        (
            "recordings.recording_sid",
            "a recording with this recordingSid",
        ),
        ("transcripts.call_sid", "a transcript for this callSid"),
        ("contacts.phone_number", "a contact with this phoneNumber"),
        (
            "donotcall.phone_number",
            "this number on the do-not-call list",
        ),
        (
            "contact_campaigns.phone_number",
            "a contact with this phoneNumber in the same campaign",
        ),
        (
            "campaigncontacts.campaign_id",
            "this contact in this campaign",
        ),
    ]
    .iter()
    .find(|(key, _)| message.contains(key))
    .map(|(_, rule)| *rule);
    rule.unwrap_or("a document with the same unique key")
        .to_string()
}

/// The two statements of a paged list: a `COUNT(*)` with the filter (the total) and
/// the page itself. `push_filter` appends ` AND …` conditions to both.
pub(crate) fn list_statements<'a>(
    from: &str,
    page: &PageRequest,
    sort_column: &str,
    push_filter: &impl Fn(&mut QueryBuilder<'a, Sqlite>),
) -> (QueryBuilder<'a, Sqlite>, QueryBuilder<'a, Sqlite>) {
    let mut count = QueryBuilder::<Sqlite>::new(format!("SELECT COUNT(*) FROM {from} WHERE 1=1"));
    push_filter(&mut count);
    let order = match page.sort.order {
        SortOrder::Asc => "ASC",
        SortOrder::Desc => "DESC",
    };
    let mut select = QueryBuilder::<Sqlite>::new(format!("SELECT id, doc FROM {from} WHERE 1=1"));
    push_filter(&mut select);
    select.push(format!(
        " ORDER BY {sort_column} {order}, rowid {order} LIMIT "
    ));
    select.push_bind(page.limit as i64);
    select.push(" OFFSET ");
    select.push_bind(page.offset() as i64);
    (count, select)
}

/// Runs a paged list (see [`list_statements`]).
pub(crate) async fn list_page<'a, T: DeserializeOwned>(
    pool: &SqlitePool,
    from: &str,
    page: &PageRequest,
    sort_column: &str,
    push_filter: impl Fn(&mut QueryBuilder<'a, Sqlite>),
) -> StoreResult<Page<T>> {
    let (mut count, mut select) = list_statements(from, page, sort_column, &push_filter);
    let total: i64 = count
        .build_query_scalar()
        .fetch_one(pool)
        .await
        .map_err(db_err)?;
    let docs: Vec<(String, String)> = select
        .build_query_as()
        .fetch_all(pool)
        .await
        .map_err(db_err)?;
    let (items, skipped) = decode_items(from, docs, |d| decode(&d));
    Ok(Page {
        items,
        page: page.page,
        limit: page.limit,
        total: total as u64,
        skipped,
    })
}

/// SQLite's plan for a statement: one line per step, e.g.
/// `SEARCH calls USING INDEX calls_status_created (status=?)`.
pub(crate) async fn query_plan(
    pool: &SqlitePool,
    mut q: QueryBuilder<'_, Sqlite>,
) -> StoreResult<Vec<String>> {
    let sql = format!("EXPLAIN QUERY PLAN {}", q.sql());
    // Re-binding is not possible on a built query, so the plan is asked with the same
    // placeholders bound to NULL: SQLite plans on the statement's shape, not its values.
    let params = q.sql().matches('?').count();
    let mut explain = sqlx::query_as::<_, (i64, i64, i64, String)>(&sql);
    for _ in 0..params {
        explain = explain.bind(None::<String>);
    }
    let rows = explain.fetch_all(pool).await.map_err(db_err)?;
    q.reset();
    Ok(rows.into_iter().map(|(_, _, _, detail)| detail).collect())
}

/// A write transaction that takes the write lock at its start (`BEGIN IMMEDIATE`).
/// A deferred one that reads first cannot wait for another process's writer: when
/// its snapshot went stale SQLite answers "database is locked" at once, while an
/// immediate one waits out the busy timeout.
pub(crate) async fn write_tx(pool: &SqlitePool) -> StoreResult<sqlx::Transaction<'static, Sqlite>> {
    pool.begin_with("BEGIN IMMEDIATE").await.map_err(db_err)
}

/// Loads one document inside a write transaction.
pub(crate) async fn load_for_update<T: DeserializeOwned>(
    tx: &mut sqlx::SqliteConnection,
    sql: &str,
    key: &str,
) -> StoreResult<Option<T>> {
    let doc: Option<String> = sqlx::query_scalar(sql)
        .bind(key)
        .fetch_optional(tx)
        .await
        .map_err(db_err)?;
    doc.as_deref().map(decode).transpose()
}
