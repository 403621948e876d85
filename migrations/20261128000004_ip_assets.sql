-- The IP registry. Common columns for every kind; kind-specific fields (abstract, inventors, Nice
-- classes, work type, ...) in `details`, validated at the edge by licentia-domain. `search` is
-- PostgreSQL full-text search over titles, abstracts, mark text and numbers.

CREATE TABLE ip_assets (
    id                  uuid PRIMARY KEY,
    organisation_id     uuid NOT NULL,
    kind                text NOT NULL,
    status              text NOT NULL,
    title               text NOT NULL,
    jurisdiction        text,
    application_number  text,
    publication_number  text,
    grant_number        text,
    priority_date       date,
    filing_date         date,
    publication_date    date,
    grant_date          date,
    expiry_date         date,
    parent_id           uuid,
    owners              text[] NOT NULL DEFAULT '{}',
    tags                text[] NOT NULL DEFAULT '{}',
    details             jsonb NOT NULL DEFAULT '{}',
    internal_notes      text NOT NULL DEFAULT '',
    created_by          uuid,
    created_at          timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now(),
    search              tsvector GENERATED ALWAYS AS (
        setweight(to_tsvector('simple', coalesce(application_number, '') || ' ' || coalesce(publication_number, '') || ' ' || coalesce(grant_number, '')), 'A') ||
        setweight(to_tsvector('english', title), 'A') ||
        setweight(to_tsvector('english', coalesce(details->>'abstract', '') || ' ' || coalesce(details->>'mark_text', '') || ' ' || coalesce(details->>'description', '')), 'B')
    ) STORED,
    CONSTRAINT ip_assets_organisation_fk FOREIGN KEY (organisation_id) REFERENCES organisations (id),
    CONSTRAINT ip_assets_parent_fk FOREIGN KEY (parent_id) REFERENCES ip_assets (id),
    CONSTRAINT ip_assets_kind_check CHECK (kind IN ('patent', 'utility_model', 'design', 'trademark', 'copyright', 'trade_secret', 'model')),
    CONSTRAINT ip_assets_title_check CHECK (length(title) BETWEEN 1 AND 500),
    CONSTRAINT ip_assets_dates_check CHECK (grant_date IS NULL OR filing_date IS NULL OR grant_date >= filing_date),
    CONSTRAINT ip_assets_priority_check CHECK (priority_date IS NULL OR filing_date IS NULL OR priority_date <= filing_date)
);
-- The list is newest first with a keyset cursor on (created_at, id).
CREATE INDEX ip_assets_recent_idx ON ip_assets (created_at DESC, id DESC);
CREATE INDEX ip_assets_org_idx ON ip_assets (organisation_id);
CREATE INDEX ip_assets_search_idx ON ip_assets USING gin (search);
CREATE INDEX ip_assets_kind_status_idx ON ip_assets (kind, status);
CREATE INDEX ip_assets_jurisdiction_idx ON ip_assets (jurisdiction);
CREATE INDEX ip_assets_expiry_idx ON ip_assets (expiry_date);
CREATE INDEX ip_assets_tags_idx ON ip_assets USING gin (tags);
