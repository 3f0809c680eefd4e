//! The `dashboard_update` payload: the realtime dashboard numbers, the same answer as
//! `GET /api/db/dashboard/realtime`, from the same cache entry.

use serde_json::{Value, json};

use crate::AppState;

/// `{activeCalls, activeCount, last5Minutes, perMinute, callsPerMinute}`;
/// `{error, timestamp}` with the numbers missing when the store does not answer.
pub async fn dashboard_snapshot(state: &AppState) -> Value {
    match crate::routes::dashboard::realtime_answer(state).await {
        Ok(numbers) => (*numbers).clone(),
        Err(e) => {
            tracing::warn!("dashboard snapshot failed: {e}");
            json!({"error": "the database did not answer", "timestamp": outcall_domain::time::now()})
        }
    }
}
