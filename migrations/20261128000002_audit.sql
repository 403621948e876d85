-- The tamper-evident audit log. Each row stores the exact bytes that were hashed (`canonical`) and
-- `hash = SHA-256(prev_hash || canonical)`. `audit_head` holds the chain's head; appending locks it,
-- which serialises appends and keeps `seq` gapless (a rolled-back transaction releases the lock
-- without advancing the head). Rows are immutable: UPDATE, DELETE and TRUNCATE raise.

CREATE TABLE audit_log (
    seq             bigint PRIMARY KEY,
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
    prev_hash       bytea NOT NULL,
    hash            bytea NOT NULL,
    canonical       bytea NOT NULL,
    CONSTRAINT audit_log_outcome_check CHECK (outcome IN ('success', 'denied', 'failure')),
    CONSTRAINT audit_log_seq_check CHECK (seq > 0)
);
CREATE INDEX audit_log_actor_idx ON audit_log (actor_id, seq);
CREATE INDEX audit_log_org_idx ON audit_log (organisation_id, seq);
CREATE INDEX audit_log_action_idx ON audit_log (action, seq);
CREATE INDEX audit_log_time_idx ON audit_log (occurred_at);

CREATE TABLE audit_head (
    id          boolean PRIMARY KEY DEFAULT true,
    seq         bigint NOT NULL,
    hash        bytea NOT NULL,
    updated_at  timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT audit_head_single_row CHECK (id)
);
INSERT INTO audit_head (id, seq, hash) VALUES (true, 0, '\x0000000000000000000000000000000000000000000000000000000000000000');

-- Signed checkpoints of the head (also appended to a file outside the database).
CREATE TABLE audit_checkpoints (
    seq         bigint PRIMARY KEY,
    hash        bytea NOT NULL,
    key_id      text NOT NULL,
    signature   bytea NOT NULL,
    signed_at   timestamptz NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);

CREATE FUNCTION audit_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'the audit log is append-only: % refused on %', TG_OP, TG_TABLE_NAME
        USING ERRCODE = 'insufficient_privilege';
END;
$$;

CREATE TRIGGER audit_log_no_update_delete BEFORE UPDATE OR DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION audit_refuse_change();
CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION audit_refuse_change();
CREATE TRIGGER audit_checkpoints_no_update_delete BEFORE UPDATE OR DELETE ON audit_checkpoints
    FOR EACH ROW EXECUTE FUNCTION audit_refuse_change();
CREATE TRIGGER audit_checkpoints_no_truncate BEFORE TRUNCATE ON audit_checkpoints
    FOR EACH STATEMENT EXECUTE FUNCTION audit_refuse_change();
