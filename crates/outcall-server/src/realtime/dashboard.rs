//! The `dashboard_update` payload: the realtime dashboard numbers, the same answer as
//! `GET /api/db/dashboard/realtime` (`analytics::realtime`). This is the only place
//! the live feed computes it.

use serde_json::{Value, json};

use crate::AppState;

/// `{activeCalls, activeCount, last5Minutes, perMinute, callsPerMinute}`;
/// `{error, timestamp}` with the numbers missing when the store does not answer.
pub async fn dashboard_snapshot(state: &AppState) -> Value {
    let now = outcall_domain::time::now();
    match crate::analytics::realtime(state.store.as_ref(), now).await {
        Ok(numbers) => serde_json::to_value(numbers).unwrap_or(Value::Null),
        Err(e) => {
            tracing::warn!("dashboard snapshot failed: {e}");
            json!({"error": "the database did not answer", "timestamp": now})
        }
    }
}
