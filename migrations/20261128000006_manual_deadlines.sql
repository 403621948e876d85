-- Deadlines people add by hand (an office action response, a licence option date): numbered per
-- asset so that marks (done, waived, missed) address them like rule-driven ones, as rule 'manual'.

CREATE TABLE manual_deadlines (
    asset_id    uuid NOT NULL,
    ordinal     integer NOT NULL,
    title       text NOT NULL,
    due         date NOT NULL,
    note        text NOT NULL DEFAULT '',
    created_by  uuid,
    created_at  timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT manual_deadlines_pkey PRIMARY KEY (asset_id, ordinal),
    CONSTRAINT manual_deadlines_asset_fk FOREIGN KEY (asset_id) REFERENCES ip_assets (id) ON DELETE CASCADE,
    CONSTRAINT manual_deadlines_title_check CHECK (length(title) BETWEEN 1 AND 200)
);
CREATE INDEX manual_deadlines_due_idx ON manual_deadlines (due);
