//! The write-back task: listens on the bus for campaign contacts reaching a result
//! (`retry`, `completed`, `failed`, `skipped`, `cancelled`) and campaigns ending, and
//! writes their rows to the campaign's sheet.
//!
//! Two halves in one task. The collector only reads the bus into a pending set, so it
//! keeps up however slow Google is; the flusher waits up to [`BATCH_WINDOW`] (or
//! until [`BATCH_SIZE`] contacts are pending) and writes each campaign's pending
//! rows in one batchUpdate. The set is bounded: past [`MAX_PENDING`] contacts a
//! campaign is marked for a full resync instead. If the bus overruns the collector
//! (`Lagged`), the events it lost are unknown, so every campaign with a sheet that
//! runs, is paused or ended in the last day is resynced from the store. A write that fails for a reason that may pass (429, 5xx,
//! network; the client already retried it with backoff) is put back and tried again
//! after a growing pause; other failures (sheet gone, access removed) are logged and
//! dropped. Nothing here ever waits on the engine or a webhook, nor they on it.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use outcall_domain::ObjectId;
use outcall_domain::campaign::CampaignStatus;
use outcall_domain::page::{PageRequest, Sort};
use outcall_sheets::SheetsClient;
use outcall_store::CampaignFilter;
use tokio::sync::Notify;
use tokio::sync::broadcast::error::RecvError;
use tokio::task::JoinHandle;

use super::results::{WriteError, sync_campaign, target, write_results};
use crate::AppState;
use crate::bus::BusEvent;

/// How long the flusher gathers results before writing them.
pub const BATCH_WINDOW: Duration = Duration::from_secs(1);
/// Pending contacts that start a write at once.
pub const BATCH_SIZE: usize = 100;
/// Pending contacts of one campaign beyond which it is resynced whole instead.
const MAX_PENDING: usize = 10_000;
const FIRST_PAUSE: Duration = Duration::from_secs(5);
const LONGEST_PAUSE: Duration = Duration::from_secs(300);

/// Dial states that are a result worth writing (not `pending` or `dialing`).
const RESULT_STATES: [&str; 5] = ["retry", "completed", "failed", "skipped", "cancelled"];

/// Starts the write-back task when Google Sheets is configured.
pub fn spawn_writeback(state: &AppState) -> Option<JoinHandle<()>> {
    let client = state.sheets.clone()?;
    let queue = Arc::new(Queue::default());
    let events = state.bus.subscribe();
    let state = state.clone();
    Some(tokio::spawn(async move {
        tokio::join!(
            collect(events, &queue),
            flush_forever(&state, &client, &queue)
        );
    }))
}

/// What to write.
#[derive(Debug, Default)]
struct Pending {
    contacts: HashMap<ObjectId, HashSet<ObjectId>>,
    /// Campaigns to write whole.
    full: HashSet<ObjectId>,
    /// Every campaign with a sheet (after a lag).
    all: bool,
}

impl Pending {
    /// Contacts pending; a whole campaign counts as a full batch, so an ended
    /// campaign's sheet is written without waiting out the window.
    fn len(&self) -> usize {
        self.contacts.values().map(HashSet::len).sum::<usize>() + self.full.len() * BATCH_SIZE
    }

    fn is_empty(&self) -> bool {
        self.contacts.is_empty() && self.full.is_empty() && !self.all
    }

    fn contact(&mut self, campaign: ObjectId, contact: ObjectId) {
        if self.full.contains(&campaign) {
            return;
        }
        let set = self.contacts.entry(campaign).or_default();
        set.insert(contact);
        if set.len() > MAX_PENDING {
            self.campaign(campaign);
        }
    }

    fn campaign(&mut self, campaign: ObjectId) {
        self.contacts.remove(&campaign);
        self.full.insert(campaign);
    }

    fn merge(&mut self, other: Pending) {
        self.all |= other.all;
        for c in other.full {
            self.campaign(c);
        }
        for (campaign, contacts) in other.contacts {
            for contact in contacts {
                self.contact(campaign, contact);
            }
        }
    }
}

#[derive(Debug, Default)]
struct Queue {
    // A std mutex: held only to edit the set, never across an await.
    pending: Mutex<Pending>,
    changed: Notify,
}

impl Queue {
    fn edit(&self, f: impl FnOnce(&mut Pending)) {
        f(&mut self.pending.lock().unwrap_or_else(|p| p.into_inner()));
        self.changed.notify_one();
    }

    fn len(&self) -> usize {
        self.pending.lock().unwrap_or_else(|p| p.into_inner()).len()
    }

    fn take(&self) -> Pending {
        std::mem::take(&mut *self.pending.lock().unwrap_or_else(|p| p.into_inner()))
    }
}

/// Bus events to pending work, until the bus closes.
async fn collect(mut events: tokio::sync::broadcast::Receiver<Arc<BusEvent>>, queue: &Queue) {
    loop {
        match events.recv().await {
            Ok(event) => {
                if let Some(job) = job_of(&event) {
                    queue.edit(|p| match job {
                        Job::Contact(campaign, contact) => p.contact(campaign, contact),
                        Job::Campaign(campaign) => p.campaign(campaign),
                    });
                }
            }
            Err(RecvError::Lagged(lost)) => {
                tracing::warn!(
                    lost,
                    "Sheets write-back fell behind the event bus; resyncing every campaign sheet"
                );
                queue.edit(|p| p.all = true);
            }
            Err(RecvError::Closed) => return,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Job {
    Contact(ObjectId, ObjectId),
    Campaign(ObjectId),
}

/// The write an event calls for: a contact's result, or a whole campaign that ended
/// (stopping cancels its waiting contacts without an event each).
fn job_of(event: &BusEvent) -> Option<Job> {
    let BusEvent::Campaign(update) = event else {
        return None;
    };
    let campaign: ObjectId = update.campaign_id.parse().ok()?;
    let status = update.data.get("status").and_then(|s| s.as_str());
    match update.kind {
        "progress_update" => {
            let contact = update.data.get("contactId")?.as_str()?.parse().ok()?;
            RESULT_STATES
                .contains(&status?)
                .then_some(Job::Contact(campaign, contact))
        }
        "status_update" if matches!(status, Some("completed" | "cancelled")) => {
            Some(Job::Campaign(campaign))
        }
        _ => None,
    }
}

async fn flush_forever(state: &AppState, client: &SheetsClient, queue: &Queue) {
    let mut pause = FIRST_PAUSE;
    loop {
        queue.changed.notified().await;
        let deadline = tokio::time::Instant::now() + BATCH_WINDOW;
        while queue.len() < BATCH_SIZE {
            tokio::select! {
                () = tokio::time::sleep_until(deadline) => break,
                () = queue.changed.notified() => {}
            }
        }
        let batch = queue.take();
        if batch.is_empty() {
            continue;
        }
        let failed = flush(state, client, batch).await;
        if failed.is_empty() {
            pause = FIRST_PAUSE;
            continue;
        }
        tracing::warn!(
            retry_in_secs = pause.as_secs(),
            "Google Sheets write-back failed; will try again"
        );
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(LONGEST_PAUSE);
        queue.edit(|p| p.merge(failed));
    }
}

/// Writes `batch`; returns what failed for a reason that may pass.
async fn flush(state: &AppState, client: &SheetsClient, mut batch: Pending) -> Pending {
    let mut failed = Pending::default();
    if batch.all {
        match campaigns_with_sheets(state).await {
            Ok(ids) => ids.into_iter().for_each(|id| batch.campaign(id)),
            Err(e) => {
                tracing::warn!("Sheets write-back cannot list campaigns: {e}");
                failed.all = true;
            }
        }
    }
    for id in batch.full {
        if let Err(e) = write_campaign(state, client, id, None).await {
            report(id, &e);
            if e.is_transient() {
                failed.campaign(id);
            }
        }
    }
    for (id, contacts) in batch.contacts {
        if let Err(e) = write_campaign(state, client, id, Some(&contacts)).await {
            report(id, &e);
            if e.is_transient() {
                contacts.into_iter().for_each(|c| failed.contact(id, c));
            }
        }
    }
    failed
}

fn report(campaign: ObjectId, e: &WriteError) {
    tracing::warn!(%campaign, transient = e.is_transient(), "Google Sheets write-back: {e}");
}

/// Writes `contacts` of the campaign (all of them for `None`) to its sheet; a
/// campaign without a sheet or status column is left alone.
async fn write_campaign(
    state: &AppState,
    client: &SheetsClient,
    id: ObjectId,
    contacts: Option<&HashSet<ObjectId>>,
) -> Result<(), WriteError> {
    let Some(campaign) = state.store.get_campaign(id).await? else {
        return Ok(());
    };
    if target(&campaign).is_err() {
        return Ok(());
    }
    let report = match contacts {
        None => sync_campaign(client, state.store.as_ref(), state.region, &campaign).await?,
        Some(ids) => {
            let mut ccs = Vec::with_capacity(ids.len());
            for contact in ids {
                if let Some(cc) = state.store.get_campaign_contact(id, *contact).await? {
                    ccs.push(cc);
                }
            }
            write_results(client, state.region, &campaign, &ccs).await?
        }
    };
    tracing::debug!(campaign = %id, rows = report.rows_written, not_in_sheet = report.not_in_sheet, "wrote results to Google Sheets");
    Ok(())
}

/// Every campaign that writes to a sheet and is running, paused, or ended in the
/// last day (older ones were written when they ended).
async fn campaigns_with_sheets(state: &AppState) -> outcall_store::StoreResult<Vec<ObjectId>> {
    let recent = outcall_domain::time::now() - chrono::Duration::days(1);
    let mut ids = Vec::new();
    for n in 1.. {
        let page = PageRequest::new(Some(n), Some(100), Sort::asc("createdAt"))
            .map_err(|e| outcall_store::StoreError::Internal(e.to_string()))?;
        let got = state
            .store
            .list_campaigns(&CampaignFilter::default(), &page)
            .await?;
        let done = got.items.len() < 100;
        ids.extend(
            got.items
                .iter()
                .filter(|c| match c.status {
                    CampaignStatus::Draft => false,
                    CampaignStatus::Active | CampaignStatus::Paused => true,
                    _ => c.updated_at >= recent,
                })
                .filter(|c| target(c).is_ok())
                .map(|c| c.id),
        );
        if done {
            break;
        }
    }
    Ok(ids)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::bus::CampaignUpdate;

    fn update(kind: &'static str, campaign: ObjectId, data: serde_json::Value) -> BusEvent {
        BusEvent::Campaign(CampaignUpdate {
            kind,
            campaign_id: campaign.to_hex(),
            data,
        })
    }

    #[test]
    fn results_and_ended_campaigns_are_jobs() {
        let (campaign, contact) = (ObjectId::new(), ObjectId::new());
        let progress = |status: &str| {
            update(
                "progress_update",
                campaign,
                json!({"contactId": contact, "status": status}),
            )
        };
        assert_eq!(
            job_of(&progress("completed")),
            Some(Job::Contact(campaign, contact))
        );
        assert_eq!(
            job_of(&progress("skipped")),
            Some(Job::Contact(campaign, contact))
        );
        assert_eq!(job_of(&progress("dialing")), None, "not a result yet");
        assert_eq!(
            job_of(&update("progress_update", campaign, json!({"stats": {}}))),
            None
        );
        assert_eq!(
            job_of(&update(
                "status_update",
                campaign,
                json!({"status": "cancelled"})
            )),
            Some(Job::Campaign(campaign))
        );
        assert_eq!(
            job_of(&update(
                "status_update",
                campaign,
                json!({"status": "active"})
            )),
            None
        );
    }

    #[test]
    fn pending_is_bounded_per_campaign() {
        let campaign = ObjectId::new();
        let mut p = Pending::default();
        for _ in 0..=MAX_PENDING {
            p.contact(campaign, ObjectId::new());
        }
        assert!(p.contacts.is_empty() && p.full.contains(&campaign));
        p.contact(campaign, ObjectId::new());
        assert!(p.contacts.is_empty(), "a full resync covers later contacts");
    }
}
