-- Webhooks (Standard Webhooks): endpoints per organisation, an outbox of deliveries written in
-- the transaction of the change that caused the event, and every attempt kept for the log.
CREATE TABLE webhook_endpoints (
    id              uuid PRIMARY KEY,
    organisation_id uuid NOT NULL REFERENCES organisations (id),
    url             text NOT NULL CHECK (char_length(url) BETWEEN 8 AND 2000),
    description     text NOT NULL DEFAULT '' CHECK (char_length(description) <= 200),
    events          text[] NOT NULL CHECK (cardinality(events) BETWEEN 1 AND 20),
    -- The signing secret, sealed by the master key ring (bound to the endpoint's id).
    secret_version  integer NOT NULL,
    secret_sealed   bytea NOT NULL,
    -- An admin let this endpoint reach private, loopback or link-local addresses.
    allow_private   boolean NOT NULL DEFAULT false,
    created_by      uuid REFERENCES users (id),
    created_at      timestamptz NOT NULL DEFAULT now(),
    deleted_at      timestamptz
);
CREATE INDEX webhook_endpoints_org_idx ON webhook_endpoints (organisation_id) WHERE deleted_at IS NULL;

CREATE TABLE webhook_deliveries (
    -- Also the message's `webhook-id`: the same on every retry and replay, so receivers dedupe.
    id              uuid PRIMARY KEY,
    endpoint_id     uuid NOT NULL REFERENCES webhook_endpoints (id),
    event_type      text NOT NULL,
    payload         jsonb NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    attempts        integer NOT NULL DEFAULT 0,
    next_attempt_at timestamptz,
    delivered_at    timestamptz,
    -- Scheduled events (a deadline coming due, a reporting period closed) are sent once per
    -- endpoint: this names the occurrence.
    dedupe_key      text
);
CREATE UNIQUE INDEX webhook_deliveries_dedupe_idx ON webhook_deliveries (endpoint_id, dedupe_key) WHERE dedupe_key IS NOT NULL;
CREATE INDEX webhook_deliveries_due_idx ON webhook_deliveries (next_attempt_at) WHERE next_attempt_at IS NOT NULL;
CREATE INDEX webhook_deliveries_endpoint_idx ON webhook_deliveries (endpoint_id, created_at DESC);

CREATE TABLE webhook_attempts (
    delivery_id uuid NOT NULL REFERENCES webhook_deliveries (id),
    attempt     integer NOT NULL,
    at          timestamptz NOT NULL DEFAULT now(),
    status      integer,
    response    text NOT NULL DEFAULT '',
    error       text,
    duration_ms integer NOT NULL,
    PRIMARY KEY (delivery_id, attempt)
);
