-- Attempts refused by the throttle are kept (they count against the address) but must not count
-- as failures on the account: otherwise anyone could keep a victim locked out for ever by trying
-- once a minute.
ALTER TABLE login_attempts ADD COLUMN throttled boolean NOT NULL DEFAULT false;
DROP INDEX login_attempts_email_idx;
CREATE INDEX login_attempts_email_idx ON login_attempts (email, attempted_at) WHERE NOT succeeded AND NOT throttled;
