-- Identity: organisations, users, sessions (the `jti` of every token), login attempts (throttling).
-- Constraint names are stable: licentia-db maps them to domain errors.

CREATE TABLE organisations (
    id          uuid PRIMARY KEY,
    name        text NOT NULL,
    kind        text NOT NULL,
    disabled    boolean NOT NULL DEFAULT false,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT organisations_name_key UNIQUE (name),
    CONSTRAINT organisations_kind_check CHECK (kind IN ('licensor', 'licensee')),
    CONSTRAINT organisations_name_check CHECK (length(name) BETWEEN 1 AND 200)
);

CREATE TABLE users (
    id                  uuid PRIMARY KEY,
    organisation_id     uuid NOT NULL,
    email               text NOT NULL,
    display_name        text NOT NULL,
    password_hash       text NOT NULL,
    role                text NOT NULL,
    disabled            boolean NOT NULL DEFAULT false,
    password_changed_at timestamptz NOT NULL DEFAULT now(),
    created_at          timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT users_email_key UNIQUE (email),
    CONSTRAINT users_organisation_fk FOREIGN KEY (organisation_id) REFERENCES organisations (id),
    CONSTRAINT users_role_check CHECK (role IN ('admin', 'manager', 'auditor', 'licensee')),
    CONSTRAINT users_email_lower_check CHECK (email = lower(email))
);
CREATE INDEX users_organisation_idx ON users (organisation_id);

CREATE TABLE sessions (
    id              uuid PRIMARY KEY,
    user_id         uuid NOT NULL,
    kind            text NOT NULL,
    expires_at      timestamptz NOT NULL,
    revoked_at      timestamptz,
    revoked_reason  text,
    ip              text,
    user_agent      text,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT sessions_user_fk FOREIGN KEY (user_id) REFERENCES users (id),
    CONSTRAINT sessions_kind_check CHECK (kind IN ('browser', 'api'))
);
CREATE INDEX sessions_live_by_user_idx ON sessions (user_id) WHERE revoked_at IS NULL;

CREATE TABLE login_attempts (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    email        text NOT NULL,
    ip           text NOT NULL,
    succeeded    boolean NOT NULL,
    attempted_at timestamptz NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX login_attempts_email_idx ON login_attempts (email, attempted_at) WHERE NOT succeeded;
CREATE INDEX login_attempts_ip_idx ON login_attempts (ip, attempted_at);
