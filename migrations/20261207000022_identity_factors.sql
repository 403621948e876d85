-- Second factors, pending logins and password resets (issue 20).

-- Which roles of an organisation must present a second factor after their password. Licensors
-- require it of admins and managers unless an admin changes it (organisations::insert sets the
-- same default for new ones); licensees start with none.
ALTER TABLE organisations
    ADD COLUMN second_factor_roles text[] NOT NULL DEFAULT '{}',
    ADD CONSTRAINT organisations_second_factor_roles_check
        CHECK (second_factor_roles <@ ARRAY['admin', 'manager', 'auditor', 'licensee']::text[]);
UPDATE organisations SET second_factor_roles = '{admin,manager}' WHERE kind = 'licensor';

-- One authenticator app per user. `confirmed_at` is null until a first code proved the app has
-- the secret; `last_step` is the RFC 6238 time step last accepted, so a code is spent once: the
-- accepting UPDATE requires last_step to be lower, so two concurrent logins cannot both use it.
CREATE TABLE totp_credentials (
    user_id       uuid PRIMARY KEY,
    key_version   integer NOT NULL,
    sealed_secret bytea NOT NULL,
    confirmed_at  timestamptz,
    last_step     bigint,
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT totp_credentials_user_fk FOREIGN KEY (user_id) REFERENCES users (id) ON DELETE CASCADE
);

-- Recovery codes: SHA-256 of the normalised code (80 random bits each), spent by setting used_at.
CREATE TABLE recovery_codes (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id    uuid NOT NULL,
    code_hash  bytea NOT NULL CHECK (octet_length(code_hash) = 32),
    used_at    timestamptz,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT recovery_codes_user_fk FOREIGN KEY (user_id) REFERENCES users (id) ON DELETE CASCADE,
    CONSTRAINT recovery_codes_code_key UNIQUE (user_id, code_hash)
);

-- WebAuthn credentials (passkeys): the credential as webauthn-rs serialises it (public key,
-- signature counter, backup state); the counter is written back after every use.
CREATE TABLE passkeys (
    id            uuid PRIMARY KEY,
    user_id       uuid NOT NULL,
    credential_id bytea NOT NULL,
    name          text NOT NULL CHECK (char_length(name) BETWEEN 1 AND 100),
    passkey       jsonb NOT NULL,
    last_used_at  timestamptz,
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT passkeys_user_fk FOREIGN KEY (user_id) REFERENCES users (id) ON DELETE CASCADE,
    CONSTRAINT passkeys_credential_key UNIQUE (credential_id)
);
CREATE INDEX passkeys_user_idx ON passkeys (user_id);

-- A registration ceremony in progress (its server-side state between the two requests).
CREATE TABLE passkey_registrations (
    user_id    uuid PRIMARY KEY,
    ceremony   jsonb NOT NULL,
    expires_at timestamptz NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT passkey_registrations_user_fk FOREIGN KEY (user_id) REFERENCES users (id) ON DELETE CASCADE
);

-- A right password still owing its second step (purpose 'verify'), or the enrolment of a first
-- factor that the policy requires (purpose 'enrol'). The token is shown once and stored as its
-- SHA-256; it lives minutes and allows a few tries.
CREATE TABLE login_challenges (
    token_hash bytea PRIMARY KEY CHECK (octet_length(token_hash) = 32),
    user_id    uuid NOT NULL,
    kind       text NOT NULL CHECK (kind IN ('browser', 'api')),
    purpose    text NOT NULL CHECK (purpose IN ('verify', 'enrol')),
    attempts   integer NOT NULL DEFAULT 0,
    ceremony   jsonb,
    expires_at timestamptz NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT login_challenges_user_fk FOREIGN KEY (user_id) REFERENCES users (id) ON DELETE CASCADE
);
CREATE INDEX login_challenges_user_idx ON login_challenges (user_id);

-- Password resets: the e-mailed token's SHA-256, spent by one UPDATE (used_at) while unexpired.
-- `forced_by` is the admin who forced it (the old password stops working at once).
CREATE TABLE password_resets (
    token_hash bytea PRIMARY KEY CHECK (octet_length(token_hash) = 32),
    user_id    uuid NOT NULL,
    forced_by  uuid,
    expires_at timestamptz NOT NULL,
    used_at    timestamptz,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT password_resets_user_fk FOREIGN KEY (user_id) REFERENCES users (id) ON DELETE CASCADE,
    CONSTRAINT password_resets_forced_by_fk FOREIGN KEY (forced_by) REFERENCES users (id)
);
CREATE INDEX password_resets_user_idx ON password_resets (user_id);
