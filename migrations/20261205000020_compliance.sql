-- Compliance at the moment of the transfer (issue 17).
--
-- Export control: organisations carry their country; assets their classifications under the
-- export-control regimes (licentia_domain::export); agreements the permits that cure a
-- restriction, whose expiry the docket lists.
ALTER TABLE organisations ADD COLUMN country text CHECK (country IS NULL OR country ~ '^[A-Z]{2}$');

CREATE TABLE export_classifications (
    asset_id   uuid NOT NULL REFERENCES ip_assets (id) ON DELETE CASCADE,
    regime     text NOT NULL CHECK (regime IN ('us_ear', 'eu_dual_use', 'cn_catalogue')),
    code       text NOT NULL CHECK (char_length(code) BETWEEN 1 AND 24),
    created_by uuid,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (asset_id, regime, code)
);

CREATE TABLE export_permits (
    id           uuid PRIMARY KEY,
    agreement_id uuid NOT NULL REFERENCES agreements (id),
    reference    text NOT NULL CHECK (char_length(reference) BETWEEN 1 AND 100),
    authority    text NOT NULL CHECK (char_length(authority) BETWEEN 1 AND 100),
    countries    text[] NOT NULL,
    assets       uuid[] NOT NULL DEFAULT '{}',
    valid_from   date NOT NULL,
    valid_until  date NOT NULL CHECK (valid_until >= valid_from),
    created_by   uuid,
    created_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX export_permits_agreement_idx ON export_permits (agreement_id);

-- Field of use and territory at run time: what the licensee declared at launch (the receipt
-- carries both).
ALTER TABLE runs ADD COLUMN use_field text, ADD COLUMN use_country text CHECK (use_country IS NULL OR use_country ~ '^[A-Z]{2}$');

-- Data residency and erasure. A dataset restricted to a region is claimed only by workers started
-- with that region; its retention ends on a day, or on its owner's request, by destroying its
-- data key (the wrapped key of its artifact is overwritten with nothing), after which the
-- ciphertext is unreadable wherever a copy of it lies. The row keeps its metadata.
ALTER TABLE datasets
    ADD COLUMN personal_data boolean NOT NULL DEFAULT false,
    ADD COLUMN lawful_basis text CHECK (lawful_basis IS NULL OR lawful_basis IN ('consent', 'contract', 'legal_obligation', 'vital_interests', 'public_task', 'legitimate_interests')),
    ADD COLUMN region text CHECK (region IS NULL OR region ~ '^[a-z][a-z0-9-]{0,31}$'),
    ADD COLUMN retain_until date,
    ADD COLUMN erased_at timestamptz,
    ADD COLUMN erasure_reason text,
    ADD CONSTRAINT datasets_personal_data_basis_check CHECK (NOT personal_data OR lawful_basis IS NOT NULL);
ALTER TABLE artifacts ADD COLUMN shredded_at timestamptz;

-- Workers say which region they run in and that they are alive, so that a run no live worker
-- may take can say so instead of waiting.
CREATE TABLE workers (
    id        text PRIMARY KEY,
    region    text,
    last_seen timestamptz NOT NULL DEFAULT now()
);
