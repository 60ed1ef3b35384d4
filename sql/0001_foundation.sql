-- 0001_foundation: roles, row-level-security helpers, shared domains, tenants.
--
-- Every migration runs in one transaction together with its schema_migrations
-- row (server/migrate.c), so it must not contain BEGIN/COMMIT nor statements
-- that cannot run inside a transaction block (CREATE INDEX CONCURRENTLY).
-- The model is described in docs/schema.md.

-- The application must never run the migrations: it would own the tables and
-- could switch row-level security off for itself.
DO $$
BEGIN
    IF current_user IN ('dialer_app', 'dialer_platform') THEN
        RAISE EXCEPTION 'migrations must run as the schema owner, not as %', current_user
            USING HINT = 'use db.admin-conninfo with the owner (or a superuser) role';
    END IF;
END
$$;

-- Roles are cluster-wide: create them once, tolerate a concurrent creator
-- (another database of the same cluster migrating at the same moment), and
-- refuse an existing application role that could bypass row-level security.
DO $$
DECLARE
    r record;
BEGIN
    BEGIN
        CREATE ROLE dialer_platform NOLOGIN NOINHERIT NOBYPASSRLS;
    EXCEPTION WHEN duplicate_object OR unique_violation THEN
        NULL;
    END;
    BEGIN
        CREATE ROLE dialer_app LOGIN NOINHERIT NOBYPASSRLS;
    EXCEPTION WHEN duplicate_object OR unique_violation THEN
        NULL;
    END;
    FOR r IN SELECT rolname, rolsuper, rolbypassrls FROM pg_roles
             WHERE rolname IN ('dialer_app', 'dialer_platform') LOOP
        IF r.rolsuper OR r.rolbypassrls THEN
            RAISE EXCEPTION 'role % must not be SUPERUSER or BYPASSRLS', r.rolname
                USING HINT = 'ALTER ROLE ' || r.rolname || ' NOSUPERUSER NOBYPASSRLS (as a superuser)';
        END IF;
    END LOOP;
    -- NOINHERIT is what keeps the platform policies (TO dialer_platform) from
    -- applying to dialer_app merely because it is a member of dialer_platform:
    -- the application reaches them only by SET LOCAL ROLE dialer_platform.
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'dialer_app' AND rolinherit) THEN
        ALTER ROLE dialer_app NOINHERIT;
    END IF;
END
$$;

GRANT dialer_platform TO dialer_app;

DO $$
BEGIN
    EXECUTE format('GRANT USAGE ON SCHEMA %I TO dialer_app, dialer_platform', current_schema());
END
$$;

-- The runner creates schema_migrations before the first migration; the
-- application reads it to refuse to start on a schema older than it needs.
GRANT SELECT ON schema_migrations TO dialer_app, dialer_platform;

-- ---------------------------------------------------------------------------
-- Session context
--
-- The application sets, per transaction (SET LOCAL / set_config(..., true)):
--   app.tenant_id  the tenant the transaction acts for (bigint)
--   app.actor      who acts, for audit rows ("user:42", "api_key:7", "scheduler:node-a")
--   app.reason     optional free text for audit rows
-- An unset or empty app.tenant_id means "no tenant": every tenant policy is
-- false and nothing is visible.
-- ---------------------------------------------------------------------------

CREATE FUNCTION app_tenant_id() RETURNS bigint
    LANGUAGE sql STABLE PARALLEL SAFE
    AS $$ SELECT nullif(current_setting('app.tenant_id', true), '')::bigint $$;

COMMENT ON FUNCTION app_tenant_id() IS
    'The tenant of the current transaction (setting app.tenant_id), NULL when unset.';

-- True only while the session has explicitly switched to the platform role
-- (SET LOCAL ROLE dialer_platform). Checking current_user as well as the
-- policy's TO clause means that a role which merely inherits dialer_platform
-- does not get platform access implicitly.
CREATE FUNCTION app_is_platform() RETURNS boolean
    LANGUAGE sql STABLE PARALLEL SAFE
    AS $$ SELECT current_user = 'dialer_platform' $$;

COMMENT ON FUNCTION app_is_platform() IS
    'True when the current role is dialer_platform (entered with SET LOCAL ROLE).';

CREATE FUNCTION app_actor() RETURNS text
    LANGUAGE sql STABLE PARALLEL SAFE
    AS $$ SELECT coalesce(nullif(current_setting('app.actor', true), ''), 'db:' || session_user) $$;

COMMENT ON FUNCTION app_actor() IS
    'Who acts in the current transaction (setting app.actor), else db:<session user>.';

-- The policies call these as the acting role; do not rely on PUBLIC's default.
GRANT EXECUTE ON FUNCTION app_tenant_id(), app_is_platform(), app_actor()
    TO dialer_app, dialer_platform;

-- Applies the standard tenant model to a table with a tenant_id column:
-- RLS enabled and forced (the owner is subject to it too), a tenant policy
-- for dialer_app, a platform policy for dialer_platform, and the grants.
-- with_tenant_policy = false leaves the tenant policies to the caller (for
-- tables with shared or platform-owned rows).
CREATE FUNCTION app_secure_table(tbl regclass, app_privs text, platform_privs text,
                                 with_tenant_policy boolean DEFAULT true) RETURNS void
    LANGUAGE plpgsql
    AS $$
BEGIN
    EXECUTE format('ALTER TABLE %s ENABLE ROW LEVEL SECURITY', tbl);
    EXECUTE format('ALTER TABLE %s FORCE ROW LEVEL SECURITY', tbl);
    IF with_tenant_policy THEN
        EXECUTE format('CREATE POLICY tenant_isolation ON %s FOR ALL TO dialer_app '
                       'USING (tenant_id = app_tenant_id()) '
                       'WITH CHECK (tenant_id = app_tenant_id())', tbl);
    END IF;
    EXECUTE format('CREATE POLICY platform_access ON %s FOR ALL TO dialer_platform '
                   'USING (app_is_platform()) WITH CHECK (app_is_platform())', tbl);
    EXECUTE format('REVOKE ALL ON %s FROM PUBLIC', tbl);
    IF app_privs <> '' THEN
        EXECUTE format('GRANT %s ON %s TO dialer_app', app_privs, tbl);
    END IF;
    IF platform_privs <> '' THEN
        EXECUTE format('GRANT %s ON %s TO dialer_platform', platform_privs, tbl);
    END IF;
END
$$;

REVOKE EXECUTE ON FUNCTION app_secure_table(regclass, text, text, boolean) FROM PUBLIC;

-- BEFORE UPDATE trigger keeping updated_at current.
CREATE FUNCTION app_touch_updated_at() RETURNS trigger
    LANGUAGE plpgsql
    AS $$
BEGIN
    NEW.updated_at := now();
    RETURN NEW;
END
$$;

-- ---------------------------------------------------------------------------
-- Shared domains
-- ---------------------------------------------------------------------------

CREATE DOMAIN e164 AS text
    CONSTRAINT e164_format CHECK (VALUE ~ '^\+[1-9][0-9]{6,14}$');

COMMENT ON DOMAIN e164 IS
    'A telephone number in E.164 form: +, country code, subscriber number; 8 to 16 characters.';

-- A JSON object (settings, custom fields); arrays and scalars are refused.
CREATE DOMAIN json_object AS jsonb
    CONSTRAINT json_object_is_object CHECK (jsonb_typeof(VALUE) = 'object');

-- ---------------------------------------------------------------------------
-- tenants
-- ---------------------------------------------------------------------------

CREATE TABLE tenants (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    slug        text NOT NULL UNIQUE CONSTRAINT tenants_slug_format
                    CHECK (slug ~ '^[a-z0-9][a-z0-9-]{1,62}$'),
    name        text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    status      text NOT NULL DEFAULT 'active'
                    CHECK (status IN ('active', 'suspended', 'closed')),
    settings    json_object NOT NULL DEFAULT '{}',
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);

COMMENT ON TABLE tenants IS
    'Customers of the platform. Every tenant-owned row references one; tenants are closed '
    '(status) rather than deleted, and cannot be deleted while call records exist.';
COMMENT ON COLUMN tenants.settings IS
    'Limits and defaults: {"limits": {"max_channels", "max_cps", "max_campaigns"}, '
    '"default_time_zone", "caller_ids": [...]}; validated by the application.';

CREATE TRIGGER tenants_touch BEFORE UPDATE ON tenants
    FOR EACH ROW EXECUTE FUNCTION app_touch_updated_at();

-- A tenant sees its own row; only the platform creates, changes or deletes tenants.
SELECT app_secure_table('tenants', 'SELECT', 'SELECT, INSERT, UPDATE, DELETE', false);
CREATE POLICY tenant_self ON tenants FOR SELECT TO dialer_app
    USING (id = app_tenant_id());
