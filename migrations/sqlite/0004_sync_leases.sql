-- A lease per store and job kind, so that when several servers share one database exactly one
-- of them runs each job. `expires_at` lets another server take over from one that died.
CREATE TABLE sync_leases (
    store_id INTEGER NOT NULL REFERENCES stores (id),
    kind TEXT NOT NULL,
    holder TEXT NOT NULL,
    expires_at INTEGER NOT NULL,
    PRIMARY KEY (store_id, kind)
);
