-- Plugin versions move through states: `pending` (uploaded, its hosts not yet approved by an
-- admin), `active` (the version new sync jobs use; at most one per plugin id), `inactive`
-- (kept for rollback) and `disabled` (the active version, paused by an admin).
ALTER TABLE plugins ADD COLUMN state TEXT NOT NULL DEFAULT 'inactive';
ALTER TABLE plugins ADD COLUMN activated_at INTEGER;
ALTER TABLE plugins ADD COLUMN publisher_key TEXT;
UPDATE plugins SET state = 'active', activated_at = installed_at WHERE enabled = 1;

-- Publisher keys (Ed25519, hex) whose signatures an admin accepts.
CREATE TABLE trusted_publishers (
    public_key TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    added_at INTEGER NOT NULL
);
