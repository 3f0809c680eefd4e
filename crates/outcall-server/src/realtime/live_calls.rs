//! The set of live calls behind `active_calls`: loaded from the store, then kept from
//! the call events of the bus (each carries the stored call), and reloaded when the
//! bus lagged or now and then, so a call whose last event was lost does not stay.
//!
//! Each call is kept as its JSON text, not as a parsed `Value`: a parsed call is a
//! tree of small allocations several times the size of its text, and this set holds
//! every live call for as long as it lasts.

use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::TimeDelta;
use outcall_domain::call::{Call, CallStatus};
use outcall_domain::page::{PageRequest, Sort};
use outcall_store::{CallFilter, Store, StoreResult};
use serde_json::Value;

use crate::bus::BusEvent;

/// Call events whose `data` is the stored call.
const CALL_KINDS: [&str; 5] = [
    "new_call",
    "status_update",
    "machine_detection",
    "call_ended",
    "conversation_started",
];

/// How far back a call may have started and still be live; older ones are stale.
const LIVE_WINDOW: TimeDelta = TimeDelta::hours(6);
/// Most calls listed (per live status) when loading from the store.
const LOAD_LIMIT: i64 = 100;

/// Cheap to clone: the calls' texts are shared.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct LiveCalls {
    /// Call sid → the stored call as JSON text.
    calls: BTreeMap<String, Arc<str>>,
}

fn text(call: &Value) -> Arc<str> {
    Arc::from(call.to_string())
}

impl LiveCalls {
    /// The live calls in the store, newest first per status.
    pub async fn load(store: &dyn Store) -> StoreResult<Self> {
        let calls = live_calls(store).await?;
        Ok(Self {
            calls: calls
                .into_iter()
                .map(|c| {
                    let json = serde_json::to_string(&c).unwrap_or_else(|_| "null".into());
                    (c.call_sid.clone(), Arc::from(json))
                })
                .collect(),
        })
    }

    /// Applies a bus event; `true` if the set of live calls changed.
    pub fn apply(&mut self, event: &BusEvent) -> bool {
        let BusEvent::Call(u) = event else {
            return false;
        };
        if !CALL_KINDS.contains(&u.kind) {
            return false;
        }
        let status: Option<CallStatus> = serde_json::from_value(u.data["status"].clone()).ok();
        match status {
            Some(s) if s.is_live() => self
                .calls
                .insert(u.call_sid.clone(), text(&u.data))
                .is_none(),
            Some(_) => self.calls.remove(&u.call_sid).is_some(),
            None => false,
        }
    }

    /// Whether both hold the same calls (whatever their details).
    pub fn same_members(&self, other: &Self) -> bool {
        self.calls.keys().eq(other.calls.keys())
    }

    /// The `active_calls` payload: the calls, oldest first.
    pub fn payload(&self) -> Value {
        // The texts were written from `Value`s or calls: they parse.
        let mut calls: Vec<Value> = self
            .calls
            .values()
            .map(|t| serde_json::from_str(t).unwrap_or_default())
            .collect();
        calls.sort_by(|a, b| created_at(a).cmp(created_at(b)));
        Value::Array(calls)
    }
}

fn created_at(call: &Value) -> &str {
    call["createdAt"].as_str().unwrap_or_default()
}

/// The store's live calls created within [`LIVE_WINDOW`], newest first per status.
pub async fn live_calls(store: &dyn Store) -> StoreResult<Vec<Call>> {
    let page = PageRequest::new(Some(1), Some(LOAD_LIMIT), Sort::desc("createdAt"))
        .map_err(|e| outcall_store::StoreError::Internal(format!("BUG: page: {e:?}")))?;
    let since = outcall_domain::time::now() - LIVE_WINDOW;
    let mut calls = Vec::new();
    for status in CallStatus::ALL.into_iter().filter(|s| s.is_live()) {
        let filter = CallFilter {
            status: Some(status),
            start_date: Some(since),
            ..Default::default()
        };
        calls.extend(store.list_calls(&filter, &page).await?.items);
    }
    Ok(calls)
}
