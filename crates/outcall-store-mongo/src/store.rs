//! The port's traits over the collections.

use async_trait::async_trait;
use bson::{Bson, Document, doc};
use futures::stream::TryStreamExt;
use mongodb::Collection;
use mongodb::options::ReturnDocument;
use outcall_domain::call::{Call, CallPatch, StatusChange, StatusUpdate};
use outcall_domain::campaign::{
    CallTally, Campaign, CampaignAction, CampaignPatch, CampaignStatus, StatsDelta,
};
use outcall_domain::campaign_contact::{
    AttemptGuard, AttemptStep, CampaignContact, Claim, DialCounts, DialStatus,
};
use outcall_domain::contact::{Contact, ContactPatch};
use outcall_domain::event::CallEvent;
use outcall_domain::page::SortOrder;
use outcall_domain::recording::Recording;
use outcall_domain::time::{MillisecondTimes, Timestamp, now, to_millis};
use outcall_domain::transcript::{Transcript, TranscriptPatch};
use outcall_domain::{ObjectId, Page, PageRequest};
use outcall_store::undecodable::decode_items;
use outcall_store::{
    CALL_SORT_FIELDS, CAMPAIGN_CONTACT_SORT_FIELDS, CAMPAIGN_SORT_FIELDS, CONTACT_SORT_FIELDS,
    CallEventStore, CallFilter, CallStore, CampaignContactStore, CampaignFilter, CampaignStore,
    ContactFilter, ContactSearch, ContactStore, EVENT_SORT_FIELDS, EventFilter,
    RECORDING_SORT_FIELDS, RecordingFilter, RecordingStore, StoreError, StoreResult,
    TranscriptStore, Transition,
};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::mapping::{
    self, CALLS, CAMPAIGN_CONTACTS, CAMPAIGNS, CONTACTS, EVENTS, RECORDINGS, Schema, TRANSCRIPTS,
    date, oid,
};
use crate::reads::Read;
use crate::{MongoStore, db_err, dialing, error_code, fence, updates};

type Rules = &'static [(&'static str, &'static str)];

const CALL_RULES: Rules = &[
    ("attemptId", "a call for this attemptId"),
    ("callSid", "a call with this callSid"),
    ("_id_", "a call with this _id"),
];
const RECORDING_RULES: Rules = &[
    ("recordingSid", "a recording with this recordingSid"),
    ("_id_", "a recording with this _id"),
];
const TRANSCRIPT_RULES: Rules = &[
    ("callSid", "a transcript for this callSid"),
    ("_id_", "a transcript with this _id"),
];
const EVENT_RULES: Rules = &[("_id_", "an event with this _id")];
const CAMPAIGN_RULES: Rules = &[("_id_", "a campaign with this _id")];
const CONTACT_RULES: Rules = &[
    (
        "phoneNumber_1_campaignIds",
        "a contact with this phoneNumber in the same campaign",
    ),
    ("phoneNumber", "a contact with this phoneNumber"),
    ("_id_", "a contact with this _id"),
];
const CC_RULES: Rules = &[
    ("campaignId", "this contact in this campaign"),
    ("_id_", "a campaign contact with this _id"),
];

/// Attempts of an optimistic compare-and-set before giving up. Each failed attempt means
/// another writer succeeded, so this bounds contention, not progress.
const MAX_CAS_ATTEMPTS: usize = 200;

fn contention(what: &str) -> StoreError {
    StoreError::Unavailable(format!(
        "{what}: the document kept changing under {MAX_CAS_ATTEMPTS} attempts"
    ))
}

impl MongoStore {
    fn coll(&self, schema: &Schema) -> Collection<Document> {
        self.db.collection(schema.name)
    }

    async fn insert_doc<T: Serialize>(
        &self,
        value: &T,
        schema: &Schema,
        rules: Rules,
    ) -> StoreResult<()> {
        let doc = mapping::to_document(value, schema)?;
        self.coll(schema)
            .insert_one(doc)
            .await
            .map_err(|e| db_err(e, rules))?;
        Ok(())
    }

    async fn find_doc(&self, schema: &Schema, filter: Document) -> StoreResult<Option<Document>> {
        self.reads(schema, Read::Document)
            .find_one(filter)
            .await
            .map_err(|e| db_err(e, &[]))
    }

    async fn find_value<T: DeserializeOwned>(
        &self,
        schema: &Schema,
        filter: Document,
    ) -> StoreResult<Option<T>> {
        self.find_doc(schema, filter)
            .await?
            .map(|d| mapping::from_document(d, schema))
            .transpose()
    }

    /// One atomic `findOneAndUpdate`, returning the document after the update.
    async fn modify<T: DeserializeOwned>(
        &self,
        schema: &Schema,
        filter: Document,
        update: Document,
        rules: Rules,
    ) -> StoreResult<Option<T>> {
        self.coll(schema)
            .find_one_and_update(filter, update)
            .return_document(ReturnDocument::After)
            .await
            .map_err(|e| db_err(e, rules))?
            .map(|d| mapping::from_document(d, schema))
            .transpose()
    }

    async fn delete_where(&self, schema: &Schema, filter: Document) -> StoreResult<bool> {
        let done = self
            .coll(schema)
            .delete_one(filter)
            .await
            .map_err(|e| db_err(e, &[]))?;
        Ok(done.deleted_count > 0)
    }

    /// A page of a list: the total matching `filter`, and the page sorted by `sort_field`
    /// then `_id` in the same direction, so equal keys still page without overlap.
    pub(crate) async fn list<T: DeserializeOwned>(
        &self,
        schema: &Schema,
        filter: Document,
        page: &PageRequest,
        sort_field: &str,
    ) -> StoreResult<Page<T>> {
        self.list_via(Read::List, schema, filter, page, sort_field)
            .await
    }

    /// [`list`](Self::list) through the handle of `read`.
    async fn list_via<T: DeserializeOwned>(
        &self,
        read: Read,
        schema: &Schema,
        filter: Document,
        page: &PageRequest,
        sort_field: &str,
    ) -> StoreResult<Page<T>> {
        let coll = self.reads(schema, read);
        let total = coll
            .count_documents(filter.clone())
            .await
            .map_err(|e| db_err(e, &[]))?;
        let dir = match page.sort.order {
            SortOrder::Asc => 1,
            SortOrder::Desc => -1,
        };
        let docs: Vec<Document> = coll
            .find(filter)
            .sort(doc! {sort_field: dir, "_id": dir})
            .skip(page.offset())
            .limit(page.limit as i64)
            .await
            .map_err(|e| db_err(e, &[]))?
            .try_collect()
            .await
            .map_err(|e| db_err(e, &[]))?;
        let (items, skipped) = decode_items(
            schema.name,
            docs.into_iter().map(|d| (mapping::doc_id(&d), d)),
            |d| mapping::from_document(d, schema),
        );
        Ok(Page {
            items,
            page: page.page,
            limit: page.limit,
            total,
            skipped,
        })
    }
}

/// The page's sort field if the list allows it, else the list's default.
fn sort_field(page: &PageRequest, allowed: &[&'static str], default: &'static str) -> &'static str {
    allowed
        .iter()
        .copied()
        .find(|f| *f == page.sort.field)
        .unwrap_or(default)
}

fn created_between(filter: &mut Document, start: Option<Timestamp>, end: Option<Timestamp>) {
    let mut range = Document::new();
    if let Some(t) = start {
        range.insert("$gte", date(t));
    }
    if let Some(t) = end {
        range.insert("$lt", date(t));
    }
    if !range.is_empty() {
        filter.insert("createdAt", range);
    }
}

/// The stored string of a serde unit enum (`DialStatus::Retry` → `"retry"`).
fn enum_str<T: Serialize>(v: &T) -> StoreResult<Bson> {
    match serde_json::to_value(v) {
        Ok(serde_json::Value::String(s)) => Ok(Bson::String(s)),
        other => Err(StoreError::Internal(format!(
            "expected a string enum, got {other:?}"
        ))),
    }
}

fn call_filter(f: &CallFilter) -> Document {
    let mut d = Document::new();
    if let Some(s) = f.status {
        d.insert("status", s.as_str());
    }
    if let Some(id) = f.campaign_id {
        d.insert("campaignId", mapping::call_campaign(id));
    }
    if let Some(id) = f.contact_id {
        d.insert("contactId", oid(id));
    }
    if let Some(a) = &f.attempt_id {
        d.insert("attemptId", a.as_str());
    }
    if let Some(from) = &f.from {
        d.insert("from", from.as_str());
    }
    if let Some(to) = &f.to {
        d.insert("to", to.as_str());
    }
    created_between(&mut d, f.start_date, f.end_date);
    d
}

#[async_trait]
impl CallStore for MongoStore {
    async fn insert_call(&self, mut call: Call) -> StoreResult<Call> {
        call.created_at = now();
        call.updated_at = call.created_at;
        call.truncate_times();
        self.insert_doc(&call, &CALLS, CALL_RULES).await?;
        Ok(call)
    }

    async fn get_call(&self, call_sid: &str) -> StoreResult<Option<Call>> {
        self.find_value(&CALLS, doc! {"callSid": call_sid}).await
    }

    async fn list_calls(&self, filter: &CallFilter, page: &PageRequest) -> StoreResult<Page<Call>> {
        let sort = sort_field(page, CALL_SORT_FIELDS, "createdAt");
        // By attempt id, this is the lease check looking for the call an attempt placed.
        let read = if filter.attempt_id.is_some() {
            Read::CallOfAttempt
        } else {
            Read::List
        };
        self.list_via(read, &CALLS, call_filter(filter), page, sort)
            .await
    }

    async fn update_call_status(
        &self,
        call_sid: &str,
        update: &StatusUpdate,
    ) -> StoreResult<Option<(Call, StatusChange)>> {
        for _ in 0..MAX_CAS_ATTEMPTS {
            let Some(before): Option<Call> = self.get_call(call_sid).await? else {
                return Ok(None);
            };
            let mut after = before.clone();
            let change = after.apply_status(update);
            if !change.changed() {
                return Ok(Some((before, change)));
            }
            let at = now();
            after.updated_at = at;
            after.truncate_times();
            let (filter, set) = updates::call_status_cas(&before, &after, at)?;
            if let Some(stored) = self.modify(&CALLS, filter, set, CALL_RULES).await? {
                return Ok(Some((stored, change)));
            }
        }
        Err(contention("update_call_status"))
    }

    async fn update_call(
        &self,
        call_sid: &str,
        patch: &CallPatch,
    ) -> StoreResult<Option<(Call, bool)>> {
        for _ in 0..MAX_CAS_ATTEMPTS {
            let Some(before): Option<Call> = self.get_call(call_sid).await? else {
                return Ok(None);
            };
            let mut after = before.clone();
            if !patch.apply(&mut after) {
                return Ok(Some((before, false)));
            }
            let at = now();
            after.updated_at = at;
            after.truncate_times();
            let (filter, set) = updates::call_patch_cas(&before, &after, at)?;
            if let Some(stored) = self.modify(&CALLS, filter, set, CALL_RULES).await? {
                return Ok(Some((stored, true)));
            }
        }
        Err(contention("update_call"))
    }

    async fn delete_call(&self, call_sid: &str) -> StoreResult<bool> {
        self.delete_where(&CALLS, doc! {"callSid": call_sid}).await
    }
}

#[async_trait]
impl RecordingStore for MongoStore {
    async fn insert_recording(&self, mut rec: Recording) -> StoreResult<Recording> {
        rec.created_at = now();
        rec.updated_at = rec.created_at;
        rec.truncate_times();
        self.insert_doc(&rec, &RECORDINGS, RECORDING_RULES).await?;
        Ok(rec)
    }

    async fn get_recording(&self, recording_sid: &str) -> StoreResult<Option<Recording>> {
        self.find_value(&RECORDINGS, doc! {"recordingSid": recording_sid})
            .await
    }

    async fn list_recordings(
        &self,
        filter: &RecordingFilter,
        page: &PageRequest,
    ) -> StoreResult<Page<Recording>> {
        let mut d = Document::new();
        if let Some(sid) = &filter.call_sid {
            d.insert("callSid", sid.as_str());
        }
        if let Some(s) = &filter.status {
            d.insert("status", s.as_str());
        }
        created_between(&mut d, filter.start_date, filter.end_date);
        let sort = sort_field(page, RECORDING_SORT_FIELDS, "createdAt");
        self.list(&RECORDINGS, d, page, sort).await
    }

    async fn upsert_recording(&self, rec: Recording) -> StoreResult<(Recording, bool)> {
        for _ in 0..MAX_CAS_ATTEMPTS {
            let stored: Option<Recording> = self.get_recording(&rec.recording_sid).await?;
            let Some(before) = stored else {
                match self.insert_recording(rec.clone()).await {
                    Ok(inserted) => return Ok((inserted, true)),
                    // Another writer inserted it first: merge into theirs.
                    Err(e) if e.is_conflict() => continue,
                    Err(e) => return Err(e),
                }
            };
            let mut after = before.clone();
            if !after.merge(&rec) {
                return Ok((before, false));
            }
            let at = now();
            after.updated_at = at;
            after.truncate_times();
            let (filter, set) = updates::recording_merge_cas(&before, &after, at)?;
            if let Some(stored) = self
                .modify(&RECORDINGS, filter, set, RECORDING_RULES)
                .await?
            {
                return Ok((stored, true));
            }
        }
        Err(contention("upsert_recording"))
    }

    async fn delete_recording(&self, recording_sid: &str) -> StoreResult<bool> {
        self.delete_where(&RECORDINGS, doc! {"recordingSid": recording_sid})
            .await
    }
}

#[async_trait]
impl TranscriptStore for MongoStore {
    async fn insert_transcript(&self, mut t: Transcript) -> StoreResult<Transcript> {
        t.created_at = now();
        t.updated_at = t.created_at;
        t.truncate_times();
        self.insert_doc(&t, &TRANSCRIPTS, TRANSCRIPT_RULES).await?;
        Ok(t)
    }

    async fn get_transcript(&self, call_sid: &str) -> StoreResult<Option<Transcript>> {
        self.find_value(&TRANSCRIPTS, doc! {"callSid": call_sid})
            .await
    }

    async fn transcript_of_conversation(
        &self,
        conversation_id: &str,
    ) -> StoreResult<Option<Transcript>> {
        self.find_value(&TRANSCRIPTS, doc! {"conversationId": conversation_id})
            .await
    }

    async fn update_transcript(
        &self,
        call_sid: &str,
        patch: &TranscriptPatch,
    ) -> StoreResult<Option<Transcript>> {
        let update = updates::transcript_patch(patch, now())?;
        let mut filter = doc! {"callSid": call_sid};
        if patch.unless_finished {
            // Not one the post-call webhook finished (`Transcript::is_finished`).
            filter.insert(
                "$or",
                vec![
                    doc! {"status": {"$ne": "done"}},
                    doc! {"conversationId": null},
                ],
            );
        }
        match self
            .modify(&TRANSCRIPTS, filter, update, TRANSCRIPT_RULES)
            .await?
        {
            Some(t) => Ok(Some(t)),
            // Finished meanwhile, or not there: as it is.
            None if patch.unless_finished => self.get_transcript(call_sid).await,
            None => Ok(None),
        }
    }
}

#[async_trait]
impl CallEventStore for MongoStore {
    async fn insert_event(&self, mut e: CallEvent) -> StoreResult<CallEvent> {
        e.created_at = now();
        e.updated_at = e.created_at;
        e.truncate_times();
        self.insert_doc(&e, &EVENTS, EVENT_RULES).await?;
        Ok(e)
    }

    async fn list_events(
        &self,
        call_sid: &str,
        filter: &EventFilter,
        page: &PageRequest,
    ) -> StoreResult<Page<CallEvent>> {
        let mut d = doc! {"callSid": call_sid};
        if let Some(t) = &filter.event_type {
            d.insert("eventType", t.as_str());
        }
        let sort = sort_field(page, EVENT_SORT_FIELDS, "timestamp");
        self.list(&EVENTS, d, page, sort).await
    }

    async fn purge_events_before(&self, cutoff: Timestamp) -> StoreResult<u64> {
        let done = self
            .coll(&EVENTS)
            .delete_many(doc! {"createdAt": {"$lt": date(cutoff)}})
            .await
            .map_err(|e| db_err(e, &[]))?;
        Ok(done.deleted_count)
    }
}

impl MongoStore {
    /// One `updateOne` on a campaign; whether it matched.
    /// Adds `delta` to the campaign's stats by compare-and-set on the stats read, with
    /// `unset` (a dial's mark) removed in the same update when given.
    async fn campaign_stats_cas(
        &self,
        id: ObjectId,
        delta: &StatsDelta,
        unset: Option<Document>,
        what: &'static str,
    ) -> StoreResult<Option<Campaign>> {
        for _ in 0..MAX_CAS_ATTEMPTS {
            let Some(raw) = self.find_doc(&CAMPAIGNS, doc! {"_id": oid(id)}).await? else {
                return Ok(None);
            };
            let stats = raw.get_document("stats").ok();
            let (filter, mut update) = updates::campaign_stats(id, stats, delta, now())?;
            if let Some(unset) = &unset {
                update.insert("$unset", unset.clone());
            }
            if let Some(c) = self
                .modify(&CAMPAIGNS, filter, update, CAMPAIGN_RULES)
                .await?
            {
                return Ok(Some(c));
            }
        }
        Err(contention(what))
    }

    async fn update_campaign_doc(&self, filter: Document, update: Document) -> StoreResult<bool> {
        let done = self
            .coll(&CAMPAIGNS)
            .update_one(filter, update)
            .await
            .map_err(|e| db_err(e, CAMPAIGN_RULES))?;
        Ok(done.matched_count > 0)
    }

    /// Runs a compare-and-set on a campaign's status (`filter` holds the allowed
    /// statuses): `Applied` if it matched; otherwise the campaign is read, and if its
    /// status now allows the write (it changed in between) the write is tried again.
    async fn campaign_cas(
        &self,
        id: ObjectId,
        allowed: &[CampaignStatus],
        build: impl Fn() -> StoreResult<(Document, Document)> + Send,
    ) -> StoreResult<Transition> {
        for _ in 0..MAX_CAS_ATTEMPTS {
            let (filter, update) = build()?;
            if let Some(c) = self
                .modify::<Campaign>(&CAMPAIGNS, filter, update, CAMPAIGN_RULES)
                .await?
            {
                return Ok(Transition::Applied(Box::new(c)));
            }
            match self.get_campaign(id).await? {
                None => return Ok(Transition::NotFound),
                Some(c) if allowed.contains(&c.status) => continue,
                Some(c) => return Ok(Transition::Refused(c.status)),
            }
        }
        Err(contention("campaign status"))
    }
}

#[async_trait]
impl CampaignStore for MongoStore {
    async fn insert_campaign(&self, mut c: Campaign) -> StoreResult<Campaign> {
        c.created_at = now();
        c.updated_at = c.created_at;
        c.truncate_times();
        self.insert_doc(&c, &CAMPAIGNS, CAMPAIGN_RULES).await?;
        Ok(c)
    }

    async fn get_campaign(&self, id: ObjectId) -> StoreResult<Option<Campaign>> {
        self.find_value(&CAMPAIGNS, doc! {"_id": oid(id)}).await
    }

    async fn list_campaigns(
        &self,
        filter: &CampaignFilter,
        page: &PageRequest,
    ) -> StoreResult<Page<Campaign>> {
        let mut d = Document::new();
        if let Some(s) = filter.status {
            d.insert("status", s.as_str());
        }
        if let Some(n) = &filter.name {
            d.insert("name", n.as_str());
        }
        let sort = sort_field(page, CAMPAIGN_SORT_FIELDS, "createdAt");
        self.list(&CAMPAIGNS, d, page, sort).await
    }

    async fn update_campaign(
        &self,
        id: ObjectId,
        patch: &CampaignPatch,
        only_if: &[CampaignStatus],
    ) -> StoreResult<Transition> {
        self.campaign_cas(id, only_if, || {
            updates::campaign_patch(id, patch, only_if, now())
        })
        .await
    }

    async fn delete_campaign(&self, id: ObjectId) -> StoreResult<bool> {
        self.delete_where(&CAMPAIGNS, doc! {"_id": oid(id)}).await
    }

    async fn transition_campaign(
        &self,
        id: ObjectId,
        action: CampaignAction,
    ) -> StoreResult<Transition> {
        self.campaign_cas(id, action.allowed_from(), || {
            Ok(updates::campaign_transition(id, action, now()))
        })
        .await
    }

    async fn add_campaign_stats(
        &self,
        id: ObjectId,
        delta: &StatsDelta,
    ) -> StoreResult<Option<Campaign>> {
        self.campaign_stats_cas(id, delta, None, "add_campaign_stats")
            .await
    }

    async fn recount_campaign_calls(&self, id: ObjectId) -> StoreResult<Option<Campaign>> {
        // One pass over the campaign's calls (index campaignId+status), folded into a
        // tally by the same rules the engine counts with as calls end.
        let groups: Vec<Document> = self
            .reads(&CALLS, Read::Recount)
            .aggregate(updates::campaign_call_tally(id))
            .await
            .map_err(|e| db_err(e, &[]))?
            .try_collect()
            .await
            .map_err(|e| db_err(e, &[]))?;
        let mut tally = CallTally::default();
        for g in groups {
            let key = g.get_document("_id").ok();
            let status = key.and_then(|k| k.get_str("status").ok()).unwrap_or("");
            let held = key.and_then(|k| k.get_bool("held").ok()).unwrap_or(false);
            tally.add_group(status, held, number(g.get("n")), number(g.get("secs")));
        }
        self.modify(
            &CAMPAIGNS,
            doc! {"_id": oid(id)},
            updates::campaign_recount(&tally, now()),
            CAMPAIGN_RULES,
        )
        .await
    }

    async fn hold_campaign_runner(
        &self,
        id: ObjectId,
        owner: &str,
        now: Timestamp,
        expires_at: Timestamp,
        dialled_at: Option<Timestamp>,
    ) -> StoreResult<Option<Campaign>> {
        let (filter, update) = dialing::hold_runner(id, owner, now, expires_at, dialled_at);
        self.modify(&CAMPAIGNS, filter, update, CAMPAIGN_RULES)
            .await
    }

    async fn release_campaign_runner(&self, id: ObjectId, owner: &str) -> StoreResult<()> {
        let (filter, update) = dialing::release_runner(id, owner);
        if self.update_campaign_doc(filter, update).await? {
            let (filter, update) = fence::touched(id, now());
            self.update_campaign_doc(filter, update).await?;
        }
        Ok(())
    }

    async fn open_campaign_dial(
        &self,
        id: ObjectId,
        owner: &str,
        dial_id: &str,
        now: Timestamp,
        expires_at: Timestamp,
    ) -> StoreResult<Option<Campaign>> {
        let (filter, update) = fence::open_dial(id, owner, dial_id, now, expires_at);
        let Some(c) = self
            .modify::<Campaign>(&CAMPAIGNS, filter, update, CAMPAIGN_RULES)
            .await?
        else {
            return Ok(None);
        };
        // Marks left by processes that died mid-dial: each goes only if still expired.
        for (stale, _) in c.dials.iter().filter(|(_, m)| m.expires_at <= now) {
            let (filter, update) = fence::prune_dial(id, stale, now);
            self.update_campaign_doc(filter, update).await?;
        }
        Ok(Some(c))
    }

    async fn renew_campaign_runner(
        &self,
        id: ObjectId,
        owner: &str,
        dials: &[String],
        expires_at: Timestamp,
    ) -> StoreResult<bool> {
        let t = now();
        let (filter, update) = fence::renew_runner(id, owner, expires_at, t);
        let mut held = self.update_campaign_doc(filter, update).await?;
        for dial_id in dials {
            let (filter, update) = fence::renew_dial(id, owner, dial_id, expires_at, t);
            held |= self.update_campaign_doc(filter, update).await?;
        }
        Ok(held)
    }

    async fn close_campaign_dial(&self, id: ObjectId, dial_id: &str) -> StoreResult<()> {
        let (filter, update) = fence::close_dial(id, dial_id);
        self.update_campaign_doc(filter, update).await?;
        let (filter, update) = fence::touched(id, now());
        self.update_campaign_doc(filter, update).await?;
        Ok(())
    }

    async fn close_campaign_dial_counting(
        &self,
        id: ObjectId,
        dial_id: &str,
        delta: &StatsDelta,
    ) -> StoreResult<Option<Campaign>> {
        let unset = doc! {fence::mark(dial_id): ""};
        self.campaign_stats_cas(id, delta, Some(unset), "close_campaign_dial_counting")
            .await
    }
}

/// The `$or` of a contact search: substrings by regular expression, `q` escaped so it
/// matches literally (`i`: ignoring case, as SQLite's LIKE does for ASCII letters).
/// Written as `{$regex, $options}` strings rather than a BSON regular expression: the
/// same query to MongoDB, and the form the wire-protocol stand-in also understands.
fn contact_search(search: &ContactSearch) -> Vec<Document> {
    let contains =
        |text: &str, options: &str| doc! {"$regex": regex_escape(text), "$options": options};
    let mut any = vec![
        doc! {"name": contains(&search.text, "i")},
        doc! {"email": contains(&search.text, "i")},
    ];
    if let Some(digits) = &search.digits {
        any.push(doc! {"phoneNumber": contains(digits, "")});
    }
    any
}

/// Escapes every character that means something in a PCRE pattern.
fn regex_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if "\\^$.|?*+()[]{}/-".contains(c) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

#[async_trait]
impl ContactStore for MongoStore {
    async fn insert_contact(&self, mut c: Contact) -> StoreResult<Contact> {
        c.created_at = now();
        c.updated_at = c.created_at;
        c.truncate_times();
        self.insert_doc(&c, &CONTACTS, CONTACT_RULES).await?;
        Ok(c)
    }

    async fn get_contact(&self, id: ObjectId) -> StoreResult<Option<Contact>> {
        self.find_value(&CONTACTS, doc! {"_id": oid(id)}).await
    }

    async fn get_contact_by_phone(&self, phone_number: &str) -> StoreResult<Option<Contact>> {
        let doc = self
            .reads(&CONTACTS, Read::ContactByPhone)
            .find_one(doc! {"phoneNumber": phone_number})
            .sort(doc! {"createdAt": 1, "_id": 1})
            .await
            .map_err(|e| db_err(e, &[]))?;
        doc.map(|d| mapping::from_document(d, &CONTACTS))
            .transpose()
    }

    async fn do_not_call_contact(&self, phone_number: &str) -> StoreResult<Option<ObjectId>> {
        let status = outcall_domain::contact::ContactStatus::DoNotCall.as_str();
        let found: Option<Contact> = self
            .find_value(
                &CONTACTS,
                doc! {"phoneNumber": phone_number, "status": status},
            )
            .await?;
        Ok(found.map(|c| c.id))
    }

    async fn list_contacts(
        &self,
        filter: &ContactFilter,
        page: &PageRequest,
    ) -> StoreResult<Page<Contact>> {
        let mut d = Document::new();
        if let Some(s) = &filter.status {
            // Every stored name of the status (`active` also finds `pending`).
            d.insert("status", doc! {"$in": s.stored_names()});
        }
        if let Some(t) = &filter.tag {
            d.insert("tags", t.as_str());
        }
        if let Some(c) = filter.campaign_id {
            d.insert("campaignIds", oid(c));
        }
        if let Some(e) = &filter.email {
            d.insert("email", e.as_str());
        }
        if let Some(n) = &filter.name {
            d.insert("name", n.as_str());
        }
        if let Some(search) = filter.q.as_deref().and_then(ContactSearch::parse) {
            d.insert("$or", contact_search(&search));
        }
        let sort = sort_field(page, CONTACT_SORT_FIELDS, "createdAt");
        self.list(&CONTACTS, d, page, sort).await
    }

    async fn update_contact(
        &self,
        id: ObjectId,
        patch: &ContactPatch,
    ) -> StoreResult<Option<Contact>> {
        let update = updates::contact_patch(patch, now())?;
        self.modify(&CONTACTS, doc! {"_id": oid(id)}, update, CONTACT_RULES)
            .await
    }

    async fn delete_contact(&self, id: ObjectId) -> StoreResult<bool> {
        self.delete_where(&CONTACTS, doc! {"_id": oid(id)}).await
    }

    async fn add_contact_tags(
        &self,
        id: ObjectId,
        tags: &[String],
    ) -> StoreResult<Option<Contact>> {
        self.modify(
            &CONTACTS,
            doc! {"_id": oid(id)},
            updates::add_tags(tags, now()),
            CONTACT_RULES,
        )
        .await
    }

    async fn remove_contact_tags(
        &self,
        id: ObjectId,
        tags: &[String],
    ) -> StoreResult<Option<Contact>> {
        self.modify(
            &CONTACTS,
            doc! {"_id": oid(id)},
            updates::remove_tags(tags, now()),
            CONTACT_RULES,
        )
        .await
    }

    async fn add_contact_campaign(
        &self,
        id: ObjectId,
        campaign_id: ObjectId,
    ) -> StoreResult<Option<Contact>> {
        self.modify(
            &CONTACTS,
            doc! {"_id": oid(id)},
            updates::add_campaign(campaign_id, now()),
            CONTACT_RULES,
        )
        .await
    }

    async fn remove_contact_campaign(
        &self,
        id: ObjectId,
        campaign_id: ObjectId,
    ) -> StoreResult<Option<Contact>> {
        self.modify(
            &CONTACTS,
            doc! {"_id": oid(id)},
            updates::remove_campaign(campaign_id, now()),
            CONTACT_RULES,
        )
        .await
    }

    async fn record_contact_call(
        &self,
        id: ObjectId,
        call_id: ObjectId,
        at: Timestamp,
    ) -> StoreResult<Option<Contact>> {
        self.modify(
            &CONTACTS,
            doc! {"_id": oid(id)},
            updates::record_call(call_id, to_millis(at), now()),
            CONTACT_RULES,
        )
        .await
    }
}

#[async_trait]
impl CampaignContactStore for MongoStore {
    async fn upsert_campaign_contact(
        &self,
        mut cc: CampaignContact,
    ) -> StoreResult<(CampaignContact, bool)> {
        cc.created_at = now();
        cc.updated_at = cc.created_at;
        cc.truncate_times();
        let mut on_insert = mapping::to_document(&cc, &CAMPAIGN_CONTACTS)?;
        // The pair is the query; an upsert copies its equality fields into the new document.
        on_insert.remove("campaignId");
        on_insert.remove("contactId");
        let pair = doc! {"campaignId": oid(cc.campaign_id), "contactId": oid(cc.contact_id)};
        // Two upserts of a new pair can both try to insert; the loser gets a duplicate key
        // (MongoDB retries some of these itself) and finds the winner's document on retry.
        for attempt in 0..2 {
            let result = self
                .coll(&CAMPAIGN_CONTACTS)
                .update_one(pair.clone(), doc! {"$setOnInsert": on_insert.clone()})
                .upsert(true)
                .await;
            match result {
                Ok(r) if r.upserted_id.is_some() => return Ok((cc, true)),
                Ok(_) => {
                    let existing = self
                        .get_campaign_contact(cc.campaign_id, cc.contact_id)
                        .await?
                        .ok_or_else(|| {
                            StoreError::Internal(
                                "campaign contact matched by the upsert vanished".into(),
                            )
                        })?;
                    return Ok((existing, false));
                }
                Err(e) if attempt == 0 && error_code(&e) == Some(11000) => continue,
                Err(e) => return Err(db_err(e, CC_RULES)),
            }
        }
        Err(contention("upsert_campaign_contact"))
    }

    async fn get_campaign_contact(
        &self,
        campaign_id: ObjectId,
        contact_id: ObjectId,
    ) -> StoreResult<Option<CampaignContact>> {
        self.find_value(
            &CAMPAIGN_CONTACTS,
            doc! {"campaignId": oid(campaign_id), "contactId": oid(contact_id)},
        )
        .await
    }

    async fn list_campaign_contacts(
        &self,
        campaign_id: ObjectId,
        status: Option<DialStatus>,
        page: &PageRequest,
    ) -> StoreResult<Page<CampaignContact>> {
        let mut d = doc! {"campaignId": oid(campaign_id)};
        if let Some(s) = status {
            d.insert("status", enum_str(&s)?);
        }
        let sort = sort_field(page, CAMPAIGN_CONTACT_SORT_FIELDS, "createdAt");
        self.list_via(Read::CampaignContacts, &CAMPAIGN_CONTACTS, d, page, sort)
            .await
    }

    async fn claim_campaign_contact(
        &self,
        campaign_id: ObjectId,
        claim: &Claim,
    ) -> StoreResult<Option<CampaignContact>> {
        let (filter, update, sort) = dialing::claim_contact(campaign_id, claim, now());
        // findOneAndUpdate picks and changes one document atomically: two claims
        // can never both match the same pending contact.
        self.coll(&CAMPAIGN_CONTACTS)
            .find_one_and_update(filter, update)
            .sort(sort)
            .return_document(ReturnDocument::After)
            .await
            .map_err(|e| db_err(e, CC_RULES))?
            .map(|d| mapping::from_document(d, &CAMPAIGN_CONTACTS))
            .transpose()
    }

    async fn step_attempt(
        &self,
        campaign_id: ObjectId,
        contact_id: ObjectId,
        guard: &AttemptGuard,
        step: &AttemptStep,
    ) -> StoreResult<Option<CampaignContact>> {
        let (filter, update) = dialing::attempt_step(campaign_id, contact_id, guard, step, now());
        self.modify(&CAMPAIGN_CONTACTS, filter, update, CC_RULES)
            .await
    }

    async fn expired_attempts(
        &self,
        campaign_id: ObjectId,
        now: Timestamp,
        limit: i64,
    ) -> StoreResult<Vec<CampaignContact>> {
        let docs: Vec<Document> = self
            .reads(&CAMPAIGN_CONTACTS, Read::ExpiredAttempts)
            .find(doc! {
                "campaignId": oid(campaign_id),
                "status": "dialing",
                "lease.expiresAt": {"$lte": date(now)},
            })
            .sort(doc! {"lease.expiresAt": 1, "_id": 1})
            .limit(limit.max(1))
            .await
            .map_err(|e| db_err(e, &[]))?
            .try_collect()
            .await
            .map_err(|e| db_err(e, &[]))?;
        docs.into_iter()
            .map(|d| mapping::from_document(d, &CAMPAIGN_CONTACTS))
            .collect()
    }

    async fn count_campaign_contacts(
        &self,
        campaign_id: ObjectId,
        now: Timestamp,
    ) -> StoreResult<DialCounts> {
        let coll = self.reads(&CAMPAIGN_CONTACTS, Read::DialCounts);
        let id = oid(campaign_id);
        let groups: Vec<Document> = coll
            .aggregate(vec![
                doc! {"$match": {"campaignId": id}},
                doc! {"$group": {"_id": "$status", "n": {"$sum": 1}}},
            ])
            .await
            .map_err(|e| db_err(e, &[]))?
            .try_collect()
            .await
            .map_err(|e| db_err(e, &[]))?;
        let mut counts = DialCounts::default();
        for g in groups {
            let Ok(name) = g.get_str("_id") else { continue };
            let n = number(g.get("n"));
            let status: DialStatus = serde_json::from_value(serde_json::Value::String(name.into()))
                .map_err(|e| StoreError::Internal(format!("unknown dial status {name:?}: {e}")))?;
            counts.add(status, n);
        }
        counts.live = coll
            .count_documents(doc! {
                "campaignId": id,
                "status": "dialing",
                "lease.expiresAt": {"$gt": date(now)},
            })
            .await
            .map_err(|e| db_err(e, &[]))? as i64;
        let next: Option<CampaignContact> = coll
            .find_one(doc! {
                "campaignId": id,
                "status": {"$in": ["pending", "retry"]},
                "nextAttemptAt": {"$ne": Bson::Null},
            })
            .sort(doc! {"nextAttemptAt": 1})
            .await
            .map_err(|e| db_err(e, &[]))?
            .map(|d| mapping::from_document(d, &CAMPAIGN_CONTACTS))
            .transpose()?;
        counts.next_due = next.and_then(|c| c.next_attempt_at);
        Ok(counts)
    }

    async fn cancel_campaign_contacts(&self, campaign_id: ObjectId) -> StoreResult<u64> {
        let done = self
            .coll(&CAMPAIGN_CONTACTS)
            .update_many(
                doc! {"campaignId": oid(campaign_id), "status": {"$in": ["pending", "retry"]}},
                doc! {"$set": {"status": "cancelled", "updatedAt": date(now())}},
            )
            .await
            .map_err(|e| db_err(e, CC_RULES))?;
        Ok(done.modified_count)
    }

    async fn remove_campaign_contact(
        &self,
        campaign_id: ObjectId,
        contact_id: ObjectId,
    ) -> StoreResult<bool> {
        let pair = doc! {"campaignId": oid(campaign_id), "contactId": oid(contact_id)};
        let mut not_dialing = pair.clone();
        not_dialing.insert("status", doc! {"$ne": "dialing"});
        let done = self
            .coll(&CAMPAIGN_CONTACTS)
            .delete_one(not_dialing)
            .await
            .map_err(|e| db_err(e, CC_RULES))?;
        if done.deleted_count > 0 {
            return Ok(true);
        }
        if self.find_doc(&CAMPAIGN_CONTACTS, pair).await?.is_some() {
            return Err(StoreError::Conflict {
                what: "the contact is being called in this campaign".into(),
            });
        }
        Ok(false)
    }

    async fn delete_campaign_contacts(&self, campaign_id: ObjectId) -> StoreResult<u64> {
        let done = self
            .coll(&CAMPAIGN_CONTACTS)
            .delete_many(doc! {"campaignId": oid(campaign_id)})
            .await
            .map_err(|e| db_err(e, CC_RULES))?;
        Ok(done.deleted_count)
    }
}

/// A count or sum from an aggregation, whatever numeric type the server chose.
fn number(v: Option<&Bson>) -> i64 {
    match v {
        Some(Bson::Int32(n)) => i64::from(*n),
        Some(Bson::Int64(n)) => *n,
        Some(Bson::Double(n)) => *n as i64,
        _ => 0,
    }
}
