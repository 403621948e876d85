-- What people did about rule-driven deadlines (the deadlines themselves are computed from the
-- asset's facts, so they move when the facts change; a mark sticks to the rule and its ordinal),
-- and the secret tokens of per-user iCalendar feeds (stored as SHA-256, shown once).

CREATE TABLE deadline_marks (
    asset_id    uuid NOT NULL,
    rule        text NOT NULL,
    ordinal     integer NOT NULL,
    state       text NOT NULL,
    note        text NOT NULL DEFAULT '',
    marked_by   uuid,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT deadline_marks_pkey PRIMARY KEY (asset_id, rule, ordinal),
    CONSTRAINT deadline_marks_asset_fk FOREIGN KEY (asset_id) REFERENCES ip_assets (id) ON DELETE CASCADE,
    CONSTRAINT deadline_marks_state_check CHECK (state IN ('done', 'waived', 'missed'))
);

CREATE TABLE calendar_tokens (
    user_id     uuid PRIMARY KEY,
    token_hash  bytea NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT calendar_tokens_user_fk FOREIGN KEY (user_id) REFERENCES users (id) ON DELETE CASCADE,
    CONSTRAINT calendar_tokens_hash_key UNIQUE (token_hash)
);
