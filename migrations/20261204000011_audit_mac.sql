-- A keyed chain: each entry carries HMAC-SHA256(key v<mac_key>, "licentia-audit-mac/v1" || seq || hash)
-- under a key kept outside the database (the keys directory), so a database administrator can no
-- longer append or re-chain entries that verify. Entries written before this migration have no
-- MAC; verification accepts them only as a prefix of the chain (see licentia-audit's verify).
-- Adding columns fires no row trigger, so the append-only triggers stay as they are.
ALTER TABLE audit_log ADD COLUMN mac bytea, ADD COLUMN mac_key integer;
ALTER TABLE audit_log ADD CONSTRAINT audit_log_mac_pair CHECK ((mac IS NULL) = (mac_key IS NULL));
