//! A stopped campaign's stats made exact once nothing of it is in flight.
//!
//! A completed campaign's runner recounts its stats from the stored calls before it
//! says `completed`. A stopped one has no runner, but calls in flight at the stop still
//! end and count afterwards, and a process killed between an attempt's end and its
//! count loses that increment. So the scheduler recounts a stopped campaign once none
//! of its contacts has been dialling for [`QUIET`] (time for the counts that follow
//! each attempt's end to land), once per stopped campaign and process.
//!
//! Until then it also cancels any contact it finds waiting: one that came back to
//! waiting after the stop is cancelled by the process that moved it, but a store
//! error or a kill right then would leave it waiting for good.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use outcall_domain::{Campaign, ObjectId};
use outcall_store::StoreResult;
use tokio::time::Instant;

use crate::AppState;

/// How long a stopped campaign must have had nothing in flight before its recount.
const QUIET: Duration = Duration::from_secs(3);

#[derive(Debug, Default)]
pub(super) struct StoppedStats {
    quiet_since: HashMap<ObjectId, Instant>,
    recounted: HashSet<ObjectId>,
}

impl StoppedStats {
    /// Looks at one stopped campaign; recounts its stats when it has been quiet long
    /// enough and this process has not recounted it yet.
    pub(super) async fn check(&mut self, state: &AppState, c: &Campaign) -> StoreResult<()> {
        if self.recounted.contains(&c.id) {
            return Ok(());
        }
        let store = state.store.as_ref();
        if super::runner::has_contacts_to_dial(store, c.id).await? {
            self.quiet_since.remove(&c.id);
            let cancelled = store.cancel_campaign_contacts(c.id).await?;
            if cancelled > 0 {
                tracing::info!(campaign = %c.id, cancelled, "stopped campaign: contacts left waiting cancelled");
                state.bus.campaign(
                    "progress_update",
                    &c.id.to_hex(),
                    serde_json::json!({"cancelledContacts": cancelled}),
                );
            }
            return Ok(());
        }
        let since = *self.quiet_since.entry(c.id).or_insert_with(Instant::now);
        if since.elapsed() < QUIET {
            return Ok(());
        }
        store.recount_campaign_calls(c.id).await?;
        self.quiet_since.remove(&c.id);
        self.recounted.insert(c.id);
        if let Some(c) = store.get_campaign(c.id).await? {
            state.bus.campaign("status_update", &c.id.to_hex(), &c);
        }
        Ok(())
    }
}
