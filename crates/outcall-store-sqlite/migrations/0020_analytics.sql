-- Analytics (call volume, durations, outcomes, sentiment, dashboard): every query is
-- on a range of calls.created_at, optionally for one campaign or one agent, and the
-- activity feed reads call events newest first.
-- agentId lives in the document; a virtual generated column makes it indexable
-- without changing how rows are written.
ALTER TABLE calls ADD COLUMN agent_id TEXT GENERATED ALWAYS AS (json_extract(doc, '$.agentId')) VIRTUAL;
CREATE INDEX calls_campaign_created ON calls (campaign_id, created_at);
CREATE INDEX calls_agent_created ON calls (agent_id, created_at);
CREATE INDEX callevents_timestamp ON callevents (timestamp);
