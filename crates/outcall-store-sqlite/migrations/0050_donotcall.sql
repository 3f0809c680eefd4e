-- The number-level do-not-call list (outcall_store::dnc): one row per E.164 number.
CREATE TABLE donotcall (
    id TEXT PRIMARY KEY NOT NULL,
    phone_number TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    doc TEXT NOT NULL
);
CREATE UNIQUE INDEX donotcall_phone ON donotcall (phone_number);
CREATE INDEX donotcall_created_at ON donotcall (created_at);
