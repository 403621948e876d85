-- Licence and transfer agreements. The structured terms live in each version (`terms`), with the
-- clause rewordings and the rendered text hashed on acceptance; the agreement row carries the
-- workflow state and copies of the scope fields of its current version so that exclusivity
-- conflicts are one indexed query. Versions are append-only (a trigger refuses UPDATE/DELETE).

CREATE TABLE agreements (
    id               uuid PRIMARY KEY,
    licensor_id      uuid NOT NULL,
    licensee_id      uuid NOT NULL,
    parent_id        uuid,
    kind             text NOT NULL,
    title            text NOT NULL,
    status           text NOT NULL DEFAULT 'draft',
    current_version  integer NOT NULL DEFAULT 0,
    -- The latest version sent to the licensee for review: what the licensee may read.
    shared_version   integer NOT NULL DEFAULT 0,
    approved_by      uuid,
    approved_version integer,
    executed_version integer,
    executed_at      timestamptz,
    effective_date   date,
    end_date         date,
    created_by       uuid,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT agreements_licensor_fk FOREIGN KEY (licensor_id) REFERENCES organisations (id),
    CONSTRAINT agreements_licensee_fk FOREIGN KEY (licensee_id) REFERENCES organisations (id),
    CONSTRAINT agreements_parent_fk FOREIGN KEY (parent_id) REFERENCES agreements (id),
    CONSTRAINT agreements_kind_check CHECK (kind IN ('exclusive_licence', 'sole_licence', 'non_exclusive_licence', 'assignment', 'option', 'evaluation_licence', 'sublicence', 'joint_development', 'service')),
    CONSTRAINT agreements_status_check CHECK (status IN ('draft', 'in_review', 'approved', 'executed', 'active', 'expired', 'terminated')),
    CONSTRAINT agreements_title_check CHECK (length(title) BETWEEN 1 AND 300)
);
CREATE INDEX agreements_licensee_idx ON agreements (licensee_id, created_at DESC);
CREATE INDEX agreements_recent_idx ON agreements (created_at DESC, id DESC);

CREATE TABLE agreement_assets (
    agreement_id uuid NOT NULL,
    asset_id     uuid NOT NULL,
    CONSTRAINT agreement_assets_pkey PRIMARY KEY (agreement_id, asset_id),
    CONSTRAINT agreement_assets_agreement_fk FOREIGN KEY (agreement_id) REFERENCES agreements (id) ON DELETE CASCADE,
    CONSTRAINT agreement_assets_asset_fk FOREIGN KEY (asset_id) REFERENCES ip_assets (id)
);
CREATE INDEX agreement_assets_asset_idx ON agreement_assets (asset_id);

CREATE TABLE agreement_versions (
    agreement_id uuid NOT NULL,
    number       integer NOT NULL,
    terms        jsonb NOT NULL,
    clauses      jsonb NOT NULL DEFAULT '{}',
    text         text NOT NULL,
    text_sha256  bytea NOT NULL,
    author_id    uuid NOT NULL,
    comment      text NOT NULL DEFAULT '',
    created_at   timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT agreement_versions_pkey PRIMARY KEY (agreement_id, number),
    CONSTRAINT agreement_versions_agreement_fk FOREIGN KEY (agreement_id) REFERENCES agreements (id),
    CONSTRAINT agreement_versions_sha_check CHECK (length(text_sha256) = 32)
);

CREATE FUNCTION agreement_versions_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'agreement versions are append-only' USING ERRCODE = 'insufficient_privilege';
END $$;
CREATE TRIGGER agreement_versions_no_change BEFORE UPDATE OR DELETE ON agreement_versions
    FOR EACH ROW EXECUTE FUNCTION agreement_versions_append_only();

-- Who accepted which version for each party, and the SHA-256 of the exact text accepted.
CREATE TABLE agreement_acceptances (
    agreement_id uuid NOT NULL,
    party        text NOT NULL,
    version      integer NOT NULL,
    text_sha256  bytea NOT NULL,
    user_id      uuid NOT NULL,
    accepted_at  timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT agreement_acceptances_pkey PRIMARY KEY (agreement_id, party),
    CONSTRAINT agreement_acceptances_agreement_fk FOREIGN KEY (agreement_id) REFERENCES agreements (id),
    CONSTRAINT agreement_acceptances_party_check CHECK (party IN ('licensor', 'licensee'))
);

-- Net sales the licensee reports, per period and country, in the agreement's currency.
CREATE TABLE sales_reports (
    id                 uuid PRIMARY KEY,
    agreement_id       uuid NOT NULL,
    period_start       date NOT NULL,
    period_end         date NOT NULL,
    country            text NOT NULL,
    net_sales          bigint NOT NULL,
    sublicence_revenue bigint NOT NULL DEFAULT 0,
    reported_by        uuid NOT NULL,
    created_at         timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT sales_reports_agreement_fk FOREIGN KEY (agreement_id) REFERENCES agreements (id),
    CONSTRAINT sales_reports_amounts_check CHECK (net_sales >= 0 AND sublicence_revenue >= 0),
    CONSTRAINT sales_reports_period_check CHECK (period_end >= period_start),
    CONSTRAINT sales_reports_line_key UNIQUE (agreement_id, period_start, period_end, country)
);

-- Metered use of licensed models: reservations, settlements and releases (written by training
-- runs); statements bill the settled entries.
CREATE TABLE usage_ledger (
    id              bigserial PRIMARY KEY,
    agreement_id    uuid NOT NULL,
    licence_id      uuid,
    run_id          uuid,
    entry           text NOT NULL,
    runs            bigint NOT NULL DEFAULT 0,
    compute_units   bigint NOT NULL DEFAULT 0,
    prediction_rows bigint NOT NULL DEFAULT 0,
    created_at      timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT usage_ledger_agreement_fk FOREIGN KEY (agreement_id) REFERENCES agreements (id),
    CONSTRAINT usage_ledger_entry_check CHECK (entry IN ('reserve', 'settle', 'release'))
);
CREATE INDEX usage_ledger_agreement_idx ON usage_ledger (agreement_id, created_at);
