-- E-mail leaves through an outbox: a change queues its notices in its own transaction and the
-- worker sends them, so a slow or absent mail server never holds a request and a rolled-back
-- change sends nothing. `dedupe_key` makes queuing idempotent (one notice per event and person,
-- one digest per person and local day).
ALTER TABLE users
    ADD COLUMN notify_email  boolean NOT NULL DEFAULT true,
    ADD COLUMN notify_digest boolean NOT NULL DEFAULT true,
    ADD COLUMN time_zone     text NOT NULL DEFAULT 'UTC' CHECK (char_length(time_zone) BETWEEN 1 AND 64),
    -- The local day whose digest was last considered (sent, or nothing waited): checked once a day.
    ADD COLUMN digest_on     date;

CREATE TABLE mail_outbox (
    id              uuid PRIMARY KEY,
    user_id         uuid NOT NULL REFERENCES users (id),
    recipient       text NOT NULL,
    kind            text NOT NULL,
    subject         text NOT NULL CHECK (char_length(subject) <= 300),
    body            text NOT NULL,
    dedupe_key      text NOT NULL UNIQUE,
    created_at      timestamptz NOT NULL DEFAULT now(),
    attempts        integer NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    sent_at         timestamptz,
    last_error      text
);
CREATE INDEX mail_outbox_due_idx ON mail_outbox (next_attempt_at) WHERE sent_at IS NULL;
