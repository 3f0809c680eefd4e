//! Do-not-call by number: a number is blocked when it is on the do-not-call list or
//! any contact record with it is `do-not-call`. Checked right before each campaign
//! dial and on `POST /api/outbound-call`; both ask [`blocked`] and nothing else.

use outcall_domain::dnc::Blocked;
use outcall_store::StoreResult;

use crate::AppState;

/// Why `number` (E.164) must not be called, or `None` when it may be.
pub async fn blocked(state: &AppState, number: &str) -> StoreResult<Option<Blocked>> {
    if let Some(entry) = state.store.get_dnc(number).await? {
        return Ok(Some(Blocked::List {
            reason: entry.reason,
        }));
    }
    Ok(state
        .store
        .do_not_call_contact(number)
        .await?
        .map(|contact_id| Blocked::Contact { contact_id }))
}
