-- Group commit for the audit log. An entry is written in the caller's transaction either straight
-- into the chain (when the chain's advisory lock is free) or, when another transaction holds it,
-- into audit_pending; right after the commit the writer (or whoever holds the lock next) moves
-- every committed pending entry into the chain in one transaction. Concurrent writers therefore
-- commit in parallel (PostgreSQL groups their WAL flushes) instead of queueing behind each
-- other's commit while holding the lock. A pending entry commits or rolls back with its change
-- like any other row; it is in the chain once the request that wrote it returns.
CREATE TABLE audit_pending (
    id              bigserial PRIMARY KEY,
    occurred_at     timestamptz NOT NULL,
    actor_id        uuid,
    actor_label     text,
    organisation_id uuid,
    action          text NOT NULL,
    target_kind     text,
    target_id       text,
    outcome         text NOT NULL,
    ip              text,
    user_agent      text,
    request_id      text,
    details         jsonb NOT NULL,
    CONSTRAINT audit_pending_outcome_check CHECK (outcome IN ('success', 'denied', 'failure'))
);
-- The application inserts, and moves (deletes) what it chains; it never edits a pending entry.
REVOKE ALL ON audit_pending FROM licentia_app;
GRANT SELECT, INSERT, DELETE ON audit_pending TO licentia_app;
GRANT USAGE, SELECT ON SEQUENCE audit_pending_id_seq TO licentia_app;
