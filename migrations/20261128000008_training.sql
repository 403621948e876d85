-- Metered training. A licence hangs under an executed agreement and names the model templates,
-- the validity window and the quotas; datasets are encrypted artifacts with their inferred
-- schema; runs are a queue that workers claim with FOR UPDATE SKIP LOCKED and hold by a lease.
-- Every reservation, settlement and release is a usage_ledger row (table from 0007).

CREATE TABLE licences (
    id                    uuid PRIMARY KEY,
    agreement_id          uuid NOT NULL,
    organisation_id       uuid NOT NULL,
    templates             text[] NOT NULL,
    valid_from            timestamptz NOT NULL,
    valid_until           timestamptz NOT NULL,
    quota_runs            bigint,
    quota_compute_units   bigint,
    quota_prediction_rows bigint,
    reset_period          text NOT NULL DEFAULT 'none',
    overage               text NOT NULL DEFAULT 'refuse',
    overage_percent       integer NOT NULL DEFAULT 0,
    allow_model_download  boolean NOT NULL DEFAULT false,
    created_by            uuid,
    created_at            timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT licences_agreement_fk FOREIGN KEY (agreement_id) REFERENCES agreements (id),
    CONSTRAINT licences_organisation_fk FOREIGN KEY (organisation_id) REFERENCES organisations (id),
    CONSTRAINT licences_window_check CHECK (valid_until > valid_from),
    CONSTRAINT licences_quota_check CHECK (coalesce(quota_runs, 0) >= 0 AND coalesce(quota_compute_units, 0) >= 0 AND coalesce(quota_prediction_rows, 0) >= 0),
    CONSTRAINT licences_reset_check CHECK (reset_period IN ('none', 'monthly', 'yearly')),
    CONSTRAINT licences_overage_check CHECK (overage IN ('refuse', 'allow') AND overage_percent BETWEEN 0 AND 100)
);
CREATE INDEX licences_organisation_idx ON licences (organisation_id);

CREATE TABLE datasets (
    id              uuid PRIMARY KEY,
    organisation_id uuid NOT NULL,
    artifact_id     uuid NOT NULL,
    name            text NOT NULL,
    rows            bigint NOT NULL,
    columns         integer NOT NULL,
    schema          jsonb NOT NULL,
    -- column name → 'drop' or 'mask' (personal data): neither reaches training; masked values
    -- are never shown.
    column_actions  jsonb NOT NULL DEFAULT '{}',
    sha256          bytea NOT NULL,
    created_by      uuid,
    created_at      timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT datasets_organisation_fk FOREIGN KEY (organisation_id) REFERENCES organisations (id),
    CONSTRAINT datasets_artifact_fk FOREIGN KEY (artifact_id) REFERENCES artifacts (id)
);
CREATE INDEX datasets_organisation_idx ON datasets (organisation_id, created_at DESC);

CREATE TABLE runs (
    id               uuid PRIMARY KEY,
    licence_id       uuid NOT NULL,
    agreement_id     uuid NOT NULL,
    organisation_id  uuid NOT NULL,
    dataset_id       uuid NOT NULL,
    template         text NOT NULL,
    hyper            jsonb NOT NULL,
    status           text NOT NULL DEFAULT 'queued',
    idempotency_key  text,
    reserved_units   bigint NOT NULL,
    units_used       bigint NOT NULL DEFAULT 0,
    epochs_done      integer NOT NULL DEFAULT 0,
    worker_id        text,
    lease_until      timestamptz,
    attempts         integer NOT NULL DEFAULT 0,
    cancel_requested boolean NOT NULL DEFAULT false,
    progress         jsonb NOT NULL DEFAULT '{}',
    metrics          jsonb NOT NULL DEFAULT '[]',
    preprocessing    jsonb,
    weights_artifact uuid,
    receipt          jsonb,
    error            text,
    created_by       uuid,
    created_at       timestamptz NOT NULL DEFAULT now(),
    started_at       timestamptz,
    finished_at      timestamptz,
    CONSTRAINT runs_licence_fk FOREIGN KEY (licence_id) REFERENCES licences (id),
    CONSTRAINT runs_dataset_fk FOREIGN KEY (dataset_id) REFERENCES datasets (id),
    CONSTRAINT runs_organisation_fk FOREIGN KEY (organisation_id) REFERENCES organisations (id),
    CONSTRAINT runs_status_check CHECK (status IN ('queued', 'running', 'succeeded', 'failed', 'cancelled')),
    CONSTRAINT runs_idempotency_key UNIQUE (organisation_id, idempotency_key)
);
CREATE INDEX runs_queue_idx ON runs (created_at) WHERE status = 'queued';
CREATE INDEX runs_lease_idx ON runs (lease_until) WHERE status = 'running';
CREATE INDEX runs_licence_idx ON runs (licence_id);

ALTER TABLE usage_ledger ADD CONSTRAINT usage_ledger_licence_fk FOREIGN KEY (licence_id) REFERENCES licences (id);
CREATE INDEX usage_ledger_licence_idx ON usage_ledger (licence_id, created_at);
