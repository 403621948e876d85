-- Encrypted artifacts. The content lives in the blob store under `storage_key` (server-generated),
-- encrypted with a per-artifact data key; `wrapped_key` is that data key wrapped by master key
-- `key_version`. `sha256` is the plaintext digest, checked on every download.

CREATE TABLE artifacts (
    id              uuid PRIMARY KEY,
    organisation_id uuid NOT NULL,
    attached_kind   text NOT NULL,
    attached_id     uuid NOT NULL,
    version         integer NOT NULL DEFAULT 1,
    filename        text NOT NULL,
    content_type    text NOT NULL,
    size_bytes      bigint NOT NULL,
    sha256          bytea NOT NULL,
    storage_key     text NOT NULL,
    key_version     integer NOT NULL,
    wrapped_key     bytea NOT NULL,
    segment_size    integer NOT NULL,
    created_by      uuid,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT artifacts_organisation_fk FOREIGN KEY (organisation_id) REFERENCES organisations (id),
    CONSTRAINT artifacts_storage_key_key UNIQUE (storage_key),
    CONSTRAINT artifacts_attached_kind_check CHECK (attached_kind IN ('organisation', 'asset', 'agreement', 'dataset', 'run', 'model')),
    CONSTRAINT artifacts_size_check CHECK (size_bytes >= 0),
    CONSTRAINT artifacts_sha256_check CHECK (length(sha256) = 32)
);
CREATE INDEX artifacts_organisation_idx ON artifacts (organisation_id, created_at DESC);
CREATE INDEX artifacts_attached_idx ON artifacts (attached_kind, attached_id);
CREATE INDEX artifacts_key_version_idx ON artifacts (key_version);
