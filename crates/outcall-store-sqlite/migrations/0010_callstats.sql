-- Daily rollups of calls (`callstats`), kept when `outcall archive` deletes the calls.
-- Numbered 0010 so migrations added meanwhile on other branches keep their numbers.
CREATE TABLE callstats (
    id TEXT PRIMARY KEY NOT NULL,
    day TEXT NOT NULL UNIQUE,
    sealed INTEGER NOT NULL,
    doc TEXT NOT NULL
);
