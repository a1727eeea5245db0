-- Haven serves requests as haven_app, which has only the rights a running server needs;
-- migrations and provisioning run as the role that DATABASE_URL (or the private cluster)
-- names. haven_owner owns the tables that haven_app must not alter (the audit trail).
-- Roles belong to the whole PostgreSQL server, so creating them tolerates a concurrent
-- creator.
DO $$
BEGIN
    BEGIN
        CREATE ROLE haven_owner NOLOGIN;
    EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL;
    END;
    BEGIN
        CREATE ROLE haven_app LOGIN;
    EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL;
    END;
END $$;

GRANT USAGE ON SCHEMA public TO haven_app;
GRANT SELECT ON tenants, tenant_hosts, _sqlx_migrations TO haven_app;
