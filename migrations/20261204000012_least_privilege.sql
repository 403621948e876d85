-- Least privilege for the application. Migrations run as the schema's owner; the application's
-- connections then assume `licentia_app` (SET ROLE on every connection, see licentia-db's
-- `Db::restricted`), a role that owns nothing and may only SELECT and INSERT on the audit tables:
-- UPDATE, DELETE and TRUNCATE of audit_log and audit_checkpoints are refused by the grants (and
-- still by the triggers of 20261128000002 for the owner). A deployment may instead give the
-- application a login that is a member of licentia_app only.
--
-- The mutable head row goes: the chain's head is the newest row of audit_log, read under a
-- transaction-scoped advisory lock, so there is no separate head a database administrator could
-- rewind and no UPDATE the application needs on an audit table.
DROP TABLE audit_head;

DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'licentia_app') THEN
        CREATE ROLE licentia_app NOLOGIN;
    END IF;
EXCEPTION
    -- Another database of the same cluster created it at the same moment (parallel test databases).
    WHEN duplicate_object OR unique_violation THEN NULL;
END
$$;

-- The migrating login must be able to SET ROLE licentia_app (a superuser always can).
DO $$
BEGIN
    IF NOT pg_has_role(current_user, 'licentia_app', 'MEMBER') THEN
        EXECUTE format('GRANT licentia_app TO %I', current_user);
    END IF;
EXCEPTION
    WHEN duplicate_object OR unique_violation THEN NULL;
END
$$;

GRANT USAGE ON SCHEMA public TO licentia_app;
GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO licentia_app;
GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO licentia_app;
REVOKE ALL ON _sqlx_migrations FROM licentia_app;
GRANT SELECT ON _sqlx_migrations TO licentia_app;
REVOKE ALL ON audit_log, audit_checkpoints FROM licentia_app;
GRANT SELECT, INSERT ON audit_log, audit_checkpoints TO licentia_app;
-- Tables of later migrations (created by the same owner) are the application's to change, unless
-- a migration revokes as above.
ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO licentia_app;
ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT USAGE, SELECT ON SEQUENCES TO licentia_app;
