-- outcall's collections as SQLite tables. Each row keeps the whole document as JSON
-- in `doc` (the same camelCase document MongoDB stores) plus the fields that are
-- filtered, sorted or unique as plain columns, written by the adapter with the doc.
-- Times in columns are milliseconds since the Unix epoch. Indexes are ascending: SQLite
-- scans them backwards for descending sorts, and lists tie-break on rowid in the sort's
-- direction, which an index provides in either direction.

CREATE TABLE calls (
    id TEXT PRIMARY KEY NOT NULL,
    call_sid TEXT NOT NULL,
    attempt_id TEXT,
    status TEXT NOT NULL,
    campaign_id TEXT,
    contact_id TEXT,
    from_number TEXT NOT NULL,
    to_number TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    start_time INTEGER,
    doc TEXT NOT NULL
);
-- The seed's indexes.
CREATE UNIQUE INDEX calls_call_sid ON calls (call_sid);
CREATE INDEX calls_status ON calls (status);
CREATE INDEX calls_created_at ON calls (created_at);
CREATE INDEX calls_start_time ON calls (start_time);
CREATE INDEX calls_campaign_status ON calls (campaign_id, status);
CREATE INDEX calls_contact_created ON calls (contact_id, created_at);
-- data-model.md's additions (a unique index allows many NULLs: sparse, as in MongoDB).
CREATE UNIQUE INDEX calls_attempt_id ON calls (attempt_id);
CREATE INDEX calls_status_created ON calls (status, created_at);
CREATE INDEX calls_to_created ON calls (to_number, created_at);

CREATE TABLE recordings (
    id TEXT PRIMARY KEY NOT NULL,
    recording_sid TEXT NOT NULL,
    call_sid TEXT NOT NULL,
    status TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    doc TEXT NOT NULL
);
CREATE UNIQUE INDEX recordings_recording_sid ON recordings (recording_sid);
CREATE INDEX recordings_call_sid ON recordings (call_sid, created_at);
CREATE INDEX recordings_created_at ON recordings (created_at);

CREATE TABLE transcripts (
    id TEXT PRIMARY KEY NOT NULL,
    call_sid TEXT NOT NULL,
    conversation_id TEXT,
    created_at INTEGER NOT NULL,
    doc TEXT NOT NULL
);
CREATE UNIQUE INDEX transcripts_call_sid ON transcripts (call_sid);
CREATE INDEX transcripts_conversation_id ON transcripts (conversation_id);

CREATE TABLE callevents (
    id TEXT PRIMARY KEY NOT NULL,
    call_sid TEXT NOT NULL,
    event_type TEXT NOT NULL,
    timestamp INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    doc TEXT NOT NULL
);
CREATE INDEX callevents_call_timestamp ON callevents (call_sid, timestamp);
CREATE INDEX callevents_event_type ON callevents (event_type);
CREATE INDEX callevents_created_at ON callevents (created_at);

CREATE TABLE campaigns (
    id TEXT PRIMARY KEY NOT NULL,
    name TEXT NOT NULL,
    status TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    next_execution INTEGER,
    doc TEXT NOT NULL
);
CREATE INDEX campaigns_name ON campaigns (name);
CREATE INDEX campaigns_status ON campaigns (status);
CREATE INDEX campaigns_created_at ON campaigns (created_at);
CREATE INDEX campaigns_status_next ON campaigns (status, next_execution);

CREATE TABLE contacts (
    id TEXT PRIMARY KEY NOT NULL,
    phone_number TEXT NOT NULL,
    name TEXT,
    email TEXT,
    status TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    doc TEXT NOT NULL
);
CREATE INDEX contacts_phone ON contacts (phone_number);
CREATE INDEX contacts_name ON contacts (name);
CREATE INDEX contacts_email ON contacts (email);
CREATE INDEX contacts_created_at ON contacts (created_at);

-- The multikey parts of contacts' indexes. MongoDB indexes each element of an array;
-- SQLite gets one row per element. An empty campaignIds is indexed as '' so that, as
-- in MongoDB's unique {phoneNumber, campaignIds}, two campaign-less contacts with
-- the same number conflict.
CREATE TABLE contact_campaigns (
    contact_id TEXT NOT NULL REFERENCES contacts (id) ON DELETE CASCADE,
    phone_number TEXT NOT NULL,
    campaign_id TEXT NOT NULL,
    status TEXT NOT NULL
);
CREATE UNIQUE INDEX contact_campaigns_phone_campaign ON contact_campaigns (phone_number, campaign_id);
CREATE INDEX contact_campaigns_campaign_status ON contact_campaigns (campaign_id, status);
CREATE INDEX contact_campaigns_contact ON contact_campaigns (contact_id);

CREATE TABLE contact_tags (
    contact_id TEXT NOT NULL REFERENCES contacts (id) ON DELETE CASCADE,
    tag TEXT NOT NULL,
    PRIMARY KEY (contact_id, tag)
);
CREATE INDEX contact_tags_tag ON contact_tags (tag);

CREATE TABLE campaigncontacts (
    id TEXT PRIMARY KEY NOT NULL,
    campaign_id TEXT NOT NULL,
    contact_id TEXT NOT NULL,
    status TEXT NOT NULL,
    next_attempt_at INTEGER,
    priority INTEGER NOT NULL,
    lease_expires_at INTEGER,
    created_at INTEGER NOT NULL,
    doc TEXT NOT NULL
);
CREATE UNIQUE INDEX campaigncontacts_campaign_contact ON campaigncontacts (campaign_id, contact_id);
CREATE INDEX campaigncontacts_due ON campaigncontacts (campaign_id, status, next_attempt_at, priority DESC);
CREATE INDEX campaigncontacts_lease ON campaigncontacts (lease_expires_at);
