-- Model versions (issue 18): a model asset's trained weights, published by its licensor as
-- numbered versions. The weights are an encrypted artifact of the licensor's organisation; the
-- row keeps their SHA-256, the architecture (template and hyperparameters), the input schema with
-- its preprocessing statistics, and the metrics they were published with.
CREATE TABLE model_versions (
    id               uuid PRIMARY KEY,
    asset_id         uuid NOT NULL,
    organisation_id  uuid NOT NULL,
    number           integer NOT NULL CHECK (number >= 1),
    template         text NOT NULL,
    hyper            jsonb NOT NULL,
    preprocessing    jsonb NOT NULL,
    metrics          jsonb NOT NULL DEFAULT '[]',
    weights_artifact uuid NOT NULL,
    weights_sha256   bytea NOT NULL CHECK (octet_length(weights_sha256) = 32),
    -- 'uploaded' (weights trained elsewhere) or 'trained' (by `licentia model train`, whose data's
    -- SHA-256 is kept beside them).
    source           text NOT NULL CHECK (source IN ('uploaded', 'trained')),
    dataset_sha256   bytea CHECK (dataset_sha256 IS NULL OR octet_length(dataset_sha256) = 32),
    notes            text NOT NULL DEFAULT '' CHECK (char_length(notes) <= 2000),
    created_by       uuid,
    created_at       timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT model_versions_asset_fk FOREIGN KEY (asset_id) REFERENCES ip_assets (id),
    CONSTRAINT model_versions_organisation_fk FOREIGN KEY (organisation_id) REFERENCES organisations (id),
    CONSTRAINT model_versions_weights_fk FOREIGN KEY (weights_artifact) REFERENCES artifacts (id),
    CONSTRAINT model_versions_number_key UNIQUE (asset_id, number)
);

-- A licence grants model versions by id (besides the templates it allows from random weights).
ALTER TABLE licences ADD COLUMN model_versions uuid[] NOT NULL DEFAULT '{}';

-- A fine-tuning run names its base version and how it starts from it.
ALTER TABLE runs
    ADD COLUMN base_version uuid CONSTRAINT runs_base_version_fk REFERENCES model_versions (id),
    ADD COLUMN freeze_layers integer NOT NULL DEFAULT 0 CHECK (freeze_layers BETWEEN 0 AND 4),
    ADD COLUMN base_preprocessing boolean NOT NULL DEFAULT false;
CREATE INDEX runs_base_version_idx ON runs (base_version) WHERE base_version IS NOT NULL;
