-- The event relay's short-lived log (see outcall_store::relay). `seq` keeps append
-- order: SQLite serialises writers, so rows become visible in `seq` order.
CREATE TABLE relay (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL,
    origin TEXT NOT NULL,
    at INTEGER NOT NULL,
    event TEXT NOT NULL
);
CREATE INDEX relay_at ON relay (at, seq);
