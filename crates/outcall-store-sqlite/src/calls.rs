//! `calls`: unique `callSid` and `attemptId`, status updates under the precedence rules.

use async_trait::async_trait;
use outcall_domain::call::{Call, CallPatch, StatusChange, StatusUpdate};
use outcall_domain::time::MillisecondTimes;
use outcall_domain::time::now;
use outcall_domain::{Page, PageRequest};
use outcall_store::{CallFilter, CallStore, StoreResult};

use sqlx::{QueryBuilder, Sqlite};

use crate::SqliteStore;
use crate::rows::{
    db_err, decode, encode, list_page, list_statements, load_for_update, millis, opt_millis,
};

/// Writes the whole row (columns and document) for a call, inserting or replacing.
pub(crate) async fn write_call(
    conn: &mut sqlx::SqliteConnection,
    call: &Call,
    insert: bool,
) -> StoreResult<()> {
    let sql = if insert {
        "INSERT INTO calls (id, call_sid, attempt_id, status, campaign_id, contact_id, from_number, \
         to_number, created_at, start_time, doc) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
    } else {
        "UPDATE calls SET id = ?1, call_sid = ?2, attempt_id = ?3, status = ?4, campaign_id = ?5, \
         contact_id = ?6, from_number = ?7, to_number = ?8, created_at = ?9, start_time = ?10, \
         doc = ?11 WHERE id = ?1"
    };
    sqlx::query(sql)
        .bind(call.id.to_hex())
        .bind(&call.call_sid)
        .bind(&call.attempt_id)
        .bind(call.status.as_str())
        .bind(call.campaign_id.map(|i| i.to_hex()))
        .bind(call.contact_id.map(|i| i.to_hex()))
        .bind(&call.from)
        .bind(&call.to)
        .bind(millis(call.created_at))
        .bind(opt_millis(call.start_time))
        .bind(encode(call)?)
        .execute(conn)
        .await
        .map_err(db_err)?;
    Ok(())
}

fn sort_column(page: &PageRequest) -> &'static str {
    match page.sort.field {
        "startTime" => "start_time",
        "status" => "status",
        _ => "created_at",
    }
}

fn push_filter(filter: &CallFilter, q: &mut QueryBuilder<'_, Sqlite>) {
    if let Some(s) = filter.status {
        q.push(" AND status = ").push_bind(s.as_str());
    }
    if let Some(id) = filter.campaign_id {
        q.push(" AND campaign_id = ").push_bind(id.to_hex());
    }
    if let Some(id) = filter.contact_id {
        q.push(" AND contact_id = ").push_bind(id.to_hex());
    }
    if let Some(a) = &filter.attempt_id {
        q.push(" AND attempt_id = ").push_bind(a.clone());
    }
    if let Some(from) = &filter.from {
        q.push(" AND from_number = ").push_bind(from.clone());
    }
    if let Some(to) = &filter.to {
        q.push(" AND to_number = ").push_bind(to.clone());
    }
    if let Some(t) = filter.start_date {
        q.push(" AND created_at >= ").push_bind(millis(t));
    }
    if let Some(t) = filter.end_date {
        q.push(" AND created_at < ").push_bind(millis(t));
    }
}

/// The count and page statements of `list_calls`, for the query-plan test.
pub(crate) fn statements<'a>(
    filter: &'a CallFilter,
    page: &PageRequest,
) -> (QueryBuilder<'a, Sqlite>, QueryBuilder<'a, Sqlite>) {
    list_statements("calls", page, sort_column(page), &|q| {
        push_filter(filter, q)
    })
}

#[async_trait]
impl CallStore for SqliteStore {
    async fn insert_call(&self, mut call: Call) -> StoreResult<Call> {
        call.created_at = now();
        call.updated_at = call.created_at;
        call.truncate_times();
        let mut conn = self.writer.acquire().await.map_err(db_err)?;
        write_call(&mut conn, &call, true).await?;
        Ok(call)
    }

    async fn get_call(&self, call_sid: &str) -> StoreResult<Option<Call>> {
        let doc: Option<String> = sqlx::query_scalar("SELECT doc FROM calls WHERE call_sid = ?")
            .bind(call_sid)
            .fetch_optional(&self.reader)
            .await
            .map_err(db_err)?;
        doc.as_deref().map(decode).transpose()
    }

    async fn list_calls(&self, filter: &CallFilter, page: &PageRequest) -> StoreResult<Page<Call>> {
        list_page(&self.reader, "calls", page, sort_column(page), |q| {
            push_filter(filter, q)
        })
        .await
    }

    async fn update_call_status(
        &self,
        call_sid: &str,
        update: &StatusUpdate,
    ) -> StoreResult<Option<(Call, StatusChange)>> {
        let mut tx = crate::rows::write_tx(&self.writer).await?;
        let Some(mut call): Option<Call> = load_for_update(
            &mut tx,
            "SELECT doc FROM calls WHERE call_sid = ?",
            call_sid,
        )
        .await?
        else {
            return Ok(None);
        };
        let change = call.apply_status(update);
        if change.changed() {
            call.updated_at = now();
            call.truncate_times();
            write_call(&mut tx, &call, false).await?;
            tx.commit().await.map_err(db_err)?;
        }
        Ok(Some((call, change)))
    }

    async fn update_call(
        &self,
        call_sid: &str,
        patch: &CallPatch,
    ) -> StoreResult<Option<(Call, bool)>> {
        let mut tx = crate::rows::write_tx(&self.writer).await?;
        let Some(mut call): Option<Call> = load_for_update(
            &mut tx,
            "SELECT doc FROM calls WHERE call_sid = ?",
            call_sid,
        )
        .await?
        else {
            return Ok(None);
        };
        let changed = patch.apply(&mut call);
        if changed {
            call.updated_at = now();
            call.truncate_times();
            write_call(&mut tx, &call, false).await?;
            tx.commit().await.map_err(db_err)?;
        }
        Ok(Some((call, changed)))
    }

    async fn delete_call(&self, call_sid: &str) -> StoreResult<bool> {
        let done = sqlx::query("DELETE FROM calls WHERE call_sid = ?")
            .bind(call_sid)
            .execute(&self.writer)
            .await
            .map_err(db_err)?;
        Ok(done.rows_affected() > 0)
    }
}
