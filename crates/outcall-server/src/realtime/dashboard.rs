//! The `dashboard_update` payload: the realtime dashboard numbers, from store queries.
//! This is the only place that computes it (`analytics::realtime` replaces its body).

use chrono::TimeDelta;
use outcall_domain::page::{PageRequest, Sort};
use outcall_store::CallFilter;
use serde_json::{Value, json};

use crate::AppState;

/// `{activeCalls, calls: [live calls, newest first], callsLast5Minutes, timestamp}`;
/// `{error}` with the numbers missing when the store does not answer.
pub async fn dashboard_snapshot(state: &AppState) -> Value {
    match snapshot(state).await {
        Ok(v) => v,
        Err(e) => {
            tracing::warn!("dashboard snapshot failed: {e}");
            json!({"error": "the database did not answer", "timestamp": outcall_domain::time::now()})
        }
    }
}

async fn snapshot(state: &AppState) -> outcall_store::StoreResult<Value> {
    let now = outcall_domain::time::now();
    let mut live = super::live_calls::live_calls(state.store.as_ref()).await?;
    live.sort_by_key(|c| std::cmp::Reverse(c.created_at));
    let one = PageRequest::new(Some(1), Some(1), Sort::desc("createdAt"))
        .map_err(|e| outcall_store::StoreError::Internal(format!("BUG: page: {e:?}")))?;
    let recent = CallFilter {
        start_date: Some(now - TimeDelta::minutes(5)),
        ..Default::default()
    };
    let last_5_minutes = state.store.list_calls(&recent, &one).await?.total;
    let calls: Vec<Value> = live
        .iter()
        .map(|c| {
            json!({
                "callSid": c.call_sid,
                "status": c.status,
                "to": c.to,
                "contactName": c.contact_name,
                "campaignId": c.campaign_id.map(|id| id.to_hex()),
                "startTime": c.start_time,
                "createdAt": c.created_at,
            })
        })
        .collect();
    Ok(json!({
        "activeCalls": calls.len(),
        "calls": calls,
        "callsLast5Minutes": last_5_minutes,
        "timestamp": now,
    }))
}
