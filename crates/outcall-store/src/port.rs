//! The traits an adapter implements. One trait per collection; [`Store`] is all of them.
//!
//! Timestamps: adapters set `createdAt` and `updatedAt` (millisecond precision) on
//! insert, and `updatedAt` on every change; values passed in are ignored.

use async_trait::async_trait;
use outcall_domain::call::{Call, CallPatch, StatusChange, StatusUpdate};
use outcall_domain::campaign::{
    Campaign, CampaignAction, CampaignPatch, CampaignStatus, StatsDelta,
};
use outcall_domain::campaign_contact::{
    AttemptGuard, AttemptStep, CampaignContact, Claim, DialCounts, DialStatus,
};
use outcall_domain::contact::{Contact, ContactPatch};
use outcall_domain::event::CallEvent;
use outcall_domain::recording::Recording;
use outcall_domain::time::Timestamp;
use outcall_domain::transcript::{Transcript, TranscriptPatch};
use outcall_domain::{ObjectId, Page, PageRequest};

use crate::error::StoreResult;
use crate::filter::*;

#[async_trait]
pub trait CallStore: Send + Sync {
    /// Inserts a call. `Conflict` if its `callSid` (or `attemptId`) exists.
    async fn insert_call(&self, call: Call) -> StoreResult<Call>;
    async fn get_call(&self, call_sid: &str) -> StoreResult<Option<Call>>;
    async fn list_calls(&self, filter: &CallFilter, page: &PageRequest) -> StoreResult<Page<Call>>;
    /// Applies a status update atomically under the rules of [`Call::apply_status`].
    /// `None` if no such call. Concurrent updates are serialised: each sees the last.
    async fn update_call_status(
        &self,
        call_sid: &str,
        update: &StatusUpdate,
    ) -> StoreResult<Option<(Call, StatusChange)>>;
    async fn delete_call(&self, call_sid: &str) -> StoreResult<bool>;
    /// Applies [`CallPatch::apply`] atomically. `None` if no such call; otherwise the
    /// stored call and whether it changed (an unchanged call keeps its `updatedAt`).
    async fn update_call(
        &self,
        call_sid: &str,
        patch: &CallPatch,
    ) -> StoreResult<Option<(Call, bool)>>;
}

#[async_trait]
pub trait RecordingStore: Send + Sync {
    /// `Conflict` if the `recordingSid` exists.
    async fn insert_recording(&self, recording: Recording) -> StoreResult<Recording>;
    async fn get_recording(&self, recording_sid: &str) -> StoreResult<Option<Recording>>;
    async fn list_recordings(
        &self,
        filter: &RecordingFilter,
        page: &PageRequest,
    ) -> StoreResult<Page<Recording>>;
    async fn delete_recording(&self, recording_sid: &str) -> StoreResult<bool>;
    /// Inserts the recording, or merges it into the stored one with the same
    /// `recordingSid` ([`Recording::merge`]: a final status is never replaced).
    /// Returns the stored recording and whether anything was written.
    async fn upsert_recording(&self, recording: Recording) -> StoreResult<(Recording, bool)>;
}

#[async_trait]
pub trait TranscriptStore: Send + Sync {
    /// `Conflict` if the call already has a transcript.
    async fn insert_transcript(&self, transcript: Transcript) -> StoreResult<Transcript>;
    async fn get_transcript(&self, call_sid: &str) -> StoreResult<Option<Transcript>>;
    /// The transcript of an ElevenLabs conversation (a webhook that names no call).
    async fn transcript_of_conversation(
        &self,
        conversation_id: &str,
    ) -> StoreResult<Option<Transcript>>;
    /// `None` if the call has no transcript.
    async fn update_transcript(
        &self,
        call_sid: &str,
        patch: &TranscriptPatch,
    ) -> StoreResult<Option<Transcript>>;
}

#[async_trait]
pub trait CallEventStore: Send + Sync {
    async fn insert_event(&self, event: CallEvent) -> StoreResult<CallEvent>;
    /// A call's timeline, sorted by `timestamp`.
    async fn list_events(
        &self,
        call_sid: &str,
        filter: &EventFilter,
        page: &PageRequest,
    ) -> StoreResult<Page<CallEvent>>;
    /// Deletes the events stored before `cutoff` (`createdAt < cutoff`), for
    /// `EVENT_RETENTION_DAYS`; returns how many went.
    async fn purge_events_before(&self, cutoff: Timestamp) -> StoreResult<u64>;
}

/// What a compare-and-set transition did.
#[derive(Debug, Clone, PartialEq)]
pub enum Transition {
    Applied(Box<Campaign>),
    /// The campaign's status did not allow the action; nothing changed.
    Refused(CampaignStatus),
    NotFound,
}

#[async_trait]
pub trait CampaignStore: Send + Sync {
    async fn insert_campaign(&self, campaign: Campaign) -> StoreResult<Campaign>;
    async fn get_campaign(&self, id: ObjectId) -> StoreResult<Option<Campaign>>;
    async fn list_campaigns(
        &self,
        filter: &CampaignFilter,
        page: &PageRequest,
    ) -> StoreResult<Page<Campaign>>;
    /// Applies `patch` only while the campaign's status is one of `only_if`.
    async fn update_campaign(
        &self,
        id: ObjectId,
        patch: &CampaignPatch,
        only_if: &[CampaignStatus],
    ) -> StoreResult<Transition>;
    async fn delete_campaign(&self, id: ObjectId) -> StoreResult<bool>;
    /// Compare-and-set on the status: of N concurrent callers, exactly one wins.
    async fn transition_campaign(
        &self,
        id: ObjectId,
        action: CampaignAction,
    ) -> StoreResult<Transition>;
    /// Adds to the stats counters atomically (`$inc`), keeping `averageDuration` exact.
    async fn add_campaign_stats(
        &self,
        id: ObjectId,
        delta: &StatsDelta,
    ) -> StoreResult<Option<Campaign>>;
    /// Recounts the call counters of the stats from the stored calls of the campaign
    /// ([`outcall_domain::campaign::CampaignStats::recount`]); `totalContacts` stays.
    /// For when no call of the campaign is live: a concurrent increment could be lost.
    async fn recount_campaign_calls(&self, id: ObjectId) -> StoreResult<Option<Campaign>>;
    /// Takes or renews the campaign's runner lease for `owner` until `expires_at`, in
    /// one compare-and-set that also requires the campaign to be `active` and the lease
    /// free, expired or already `owner`'s ([`Campaign::runnable_by`]); `dialled_at`
    /// also sets `lastExecuted`. The campaign as written, or `None` if refused.
    async fn hold_campaign_runner(
        &self,
        id: ObjectId,
        owner: &str,
        now: Timestamp,
        expires_at: Timestamp,
        dialled_at: Option<Timestamp>,
    ) -> StoreResult<Option<Campaign>>;
    /// Drops `owner`'s runner lease (if it holds it), whatever the status.
    async fn release_campaign_runner(&self, id: ObjectId, owner: &str) -> StoreResult<()>;
    /// The dial fence's entry, right before a request to Twilio: one compare-and-set of
    /// [`Campaign::open_dial`] (the campaign `active`, the runner lease `owner`'s or
    /// free; then the lease renewed, `dial_id` marked in flight until `expires_at`,
    /// `lastExecuted` set to `now`). The campaign as written, or `None` if refused.
    async fn open_campaign_dial(
        &self,
        id: ObjectId,
        owner: &str,
        dial_id: &str,
        now: Timestamp,
        expires_at: Timestamp,
    ) -> StoreResult<Option<Campaign>>;
    /// [`Campaign::renew_runner`]: extends `owner`'s runner lease and its marks of
    /// `dials` until `expires_at`, whatever the status. Whether anything was `owner`'s.
    async fn renew_campaign_runner(
        &self,
        id: ObjectId,
        owner: &str,
        dials: &[String],
        expires_at: Timestamp,
    ) -> StoreResult<bool>;
    /// [`Campaign::close_dial`]: the dial was answered (or never sent); its mark goes.
    async fn close_campaign_dial(&self, id: ObjectId, dial_id: &str) -> StoreResult<()>;
    /// A dial answered with a call placed: its mark goes ([`Campaign::close_dial`]) and
    /// `delta` is added to the stats (as [`CampaignStore::add_campaign_stats`]), in one
    /// atomic write: the engine's last campaign write of every dial. The campaign as
    /// written, `None` if there is none.
    async fn close_campaign_dial_counting(
        &self,
        id: ObjectId,
        dial_id: &str,
        delta: &StatsDelta,
    ) -> StoreResult<Option<Campaign>>;
}

#[async_trait]
pub trait ContactStore: Send + Sync {
    /// `Conflict` if another contact has the same `phoneNumber`: numbers are unique per
    /// store (a unique index on the E.164 number; opening a store that holds duplicates
    /// from before merges them with [`outcall_domain::contact::merge_duplicates`]).
    async fn insert_contact(&self, contact: Contact) -> StoreResult<Contact>;
    async fn get_contact(&self, id: ObjectId) -> StoreResult<Option<Contact>>;
    /// The contact with this E.164 number (the oldest, should several exist).
    async fn get_contact_by_phone(&self, phone_number: &str) -> StoreResult<Option<Contact>>;
    /// A `do-not-call` contact with this number, if any record with it is one.
    async fn do_not_call_contact(&self, phone_number: &str) -> StoreResult<Option<ObjectId>>;
    async fn list_contacts(
        &self,
        filter: &ContactFilter,
        page: &PageRequest,
    ) -> StoreResult<Page<Contact>>;
    async fn update_contact(
        &self,
        id: ObjectId,
        patch: &ContactPatch,
    ) -> StoreResult<Option<Contact>>;
    async fn delete_contact(&self, id: ObjectId) -> StoreResult<bool>;
    /// Adds tags not already present (`$addToSet`).
    async fn add_contact_tags(&self, id: ObjectId, tags: &[String])
    -> StoreResult<Option<Contact>>;
    /// Removes the given tags (`$pull`).
    async fn remove_contact_tags(
        &self,
        id: ObjectId,
        tags: &[String],
    ) -> StoreResult<Option<Contact>>;
    /// Adds the campaign to `campaignIds` (`$addToSet`).
    async fn add_contact_campaign(
        &self,
        id: ObjectId,
        campaign_id: ObjectId,
    ) -> StoreResult<Option<Contact>>;
    async fn remove_contact_campaign(
        &self,
        id: ObjectId,
        campaign_id: ObjectId,
    ) -> StoreResult<Option<Contact>>;
    /// Records a call placed to the contact: `$inc callCount`, `$push callIds`, `lastContacted`.
    async fn record_contact_call(
        &self,
        id: ObjectId,
        call_id: ObjectId,
        at: Timestamp,
    ) -> StoreResult<Option<Contact>>;
}

#[async_trait]
pub trait CampaignContactStore: Send + Sync {
    /// Inserts the (campaign, contact) pair if absent (`$setOnInsert`); returns the
    /// stored document and whether this call created it.
    async fn upsert_campaign_contact(
        &self,
        cc: CampaignContact,
    ) -> StoreResult<(CampaignContact, bool)>;
    async fn get_campaign_contact(
        &self,
        campaign_id: ObjectId,
        contact_id: ObjectId,
    ) -> StoreResult<Option<CampaignContact>>;
    async fn list_campaign_contacts(
        &self,
        campaign_id: ObjectId,
        status: Option<DialStatus>,
        page: &PageRequest,
    ) -> StoreResult<Page<CampaignContact>>;
    /// Claims the campaign's next contact to dial, atomically: one that is
    /// [claimable](CampaignContact::is_claimable) at `claim.now`, highest `priority`
    /// first, then earliest `nextAttemptAt` (none first), then oldest. It gets the
    /// attempt machine's claim step ([`CampaignContact::claim`]): `dialing` under a lease
    /// of `claim.attempt_id`, the previous attempt's `lastCallSid` and `dialledAt`
    /// cleared. Concurrent claims never share one.
    async fn claim_campaign_contact(
        &self,
        campaign_id: ObjectId,
        claim: &Claim,
    ) -> StoreResult<Option<CampaignContact>>;
    /// One transition of an attempt (decided by `outcall_domain::attempt`) as a
    /// compare-and-set: applies `step` ([`AttemptStep::apply`]) only if the contact is
    /// still in the guard's stage under the same lease, attempt id **and** owner
    /// ([`AttemptGuard::admits`]); `None` (nothing changed) otherwise. The adapter
    /// decides nothing: it compares and writes, atomically.
    async fn step_attempt(
        &self,
        campaign_id: ObjectId,
        contact_id: ObjectId,
        guard: &AttemptGuard,
        step: &AttemptStep,
    ) -> StoreResult<Option<CampaignContact>>;
    /// `dialing` contacts whose lease expired by `now`, oldest expiry first.
    async fn expired_attempts(
        &self,
        campaign_id: ObjectId,
        now: Timestamp,
        limit: i64,
    ) -> StoreResult<Vec<CampaignContact>>;
    /// Counts of the campaign's contacts per dial status, live leases at `now`, and the
    /// next due retry.
    async fn count_campaign_contacts(
        &self,
        campaign_id: ObjectId,
        now: Timestamp,
    ) -> StoreResult<DialCounts>;
    /// Moves every `pending` and `retry` contact of the campaign to `cancelled`;
    /// `dialing` ones finish their attempt. Returns how many moved.
    async fn cancel_campaign_contacts(&self, campaign_id: ObjectId) -> StoreResult<u64>;
    /// Removes the pair unless it is being dialled. `Conflict` while `dialing`.
    async fn remove_campaign_contact(
        &self,
        campaign_id: ObjectId,
        contact_id: ObjectId,
    ) -> StoreResult<bool>;
    /// Removes every pair of the campaign (the campaign is being deleted).
    async fn delete_campaign_contacts(&self, campaign_id: ObjectId) -> StoreResult<u64>;
}

/// Everything outcall stores. `Arc<dyn Store>` is what the server holds.
#[async_trait]
pub trait Store:
    CallStore
    + RecordingStore
    + TranscriptStore
    + CallEventStore
    + CampaignStore
    + ContactStore
    + CampaignContactStore
    + crate::archive::ArchiveStore
    + crate::analytics::AnalyticsStore
    + crate::relay::RelayStore
    + crate::dnc::DncStore
    + crate::raw::RawDocumentStore
{
    /// The adapter's name for logs: `sqlite` or `mongodb`.
    fn backend(&self) -> &'static str;
    /// Whether the database answers now (for `/readyz`).
    async fn ping(&self) -> StoreResult<()>;
}

pub const CAMPAIGN_CONTACT_SORT_FIELDS: &[&str] = &["createdAt", "priority", "nextAttemptAt"];
