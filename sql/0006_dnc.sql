-- 0006_dnc: do-not-call lists and entries at three scopes.
--
--   national  a registry (FTC, CRTC DNCL, TPS...), loaded by the platform; no
--             tenant; readable by every tenant
--   tenant    the tenant's internal list, applies to all its campaigns
--   campaign  applies to one campaign
-- An entry blocks one number, or a NANP block: an NPA (+1NPA) or NPA-NXX
-- (+1NPANXX) prefix. The in-memory DNC index of the compliance module is
-- built from these rows (or, for a national registry too large to keep in
-- PostgreSQL, straight from the registry file, whose date and digest are
-- still recorded in dnc_lists so that every decision can name its version).

CREATE TABLE dnc_lists (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    scope         text NOT NULL CHECK (scope IN ('national', 'tenant', 'campaign')),
    tenant_id     bigint REFERENCES tenants (id) ON DELETE CASCADE,
    campaign_id   bigint,
    name          text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    source        text NOT NULL CHECK (source ~ '^[a-z0-9_]{1,32}$'),
    country       text CHECK (country ~ '^[A-Z]{2}$'),
    list_date     date,
    loaded_at     timestamptz,
    max_age_days  integer CHECK (max_age_days > 0),
    entry_count   bigint NOT NULL DEFAULT 0 CHECK (entry_count >= 0),
    file_sha256   bytea CHECK (octet_length(file_sha256) = 32),
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now(),
    UNIQUE (id, scope),
    FOREIGN KEY (tenant_id, campaign_id) REFERENCES campaigns (tenant_id, id) ON DELETE CASCADE,
    CONSTRAINT dnc_lists_scope_owner CHECK (
        (scope = 'national' AND tenant_id IS NULL AND campaign_id IS NULL) OR
        (scope = 'tenant' AND tenant_id IS NOT NULL AND campaign_id IS NULL) OR
        (scope = 'campaign' AND tenant_id IS NOT NULL AND campaign_id IS NOT NULL))
);

CREATE UNIQUE INDEX dnc_lists_name_key ON dnc_lists (coalesce(tenant_id, 0), name);

COMMENT ON TABLE dnc_lists IS
    'DNC list metadata. For registries, list_date is the date of the registry data in use and '
    'loaded_at when it was loaded: the compliance module alarms when list_date is older than '
    'max_age_days (31 for the FTC registry and CRTC DNCL, 28 for TPS).';
COMMENT ON COLUMN dnc_lists.source IS 'ftc, crtc, tps, ctps, internal, import, api, ...';
COMMENT ON COLUMN dnc_lists.file_sha256 IS 'Digest of the registry file loaded, for the audit trail.';

CREATE TRIGGER dnc_lists_touch BEFORE UPDATE ON dnc_lists
    FOR EACH ROW EXECUTE FUNCTION app_touch_updated_at();

-- Tenants read national lists and manage their own; national ones are the platform's.
SELECT app_secure_table('dnc_lists', 'SELECT, INSERT, UPDATE, DELETE', 'SELECT, INSERT, UPDATE, DELETE',
                        false);
CREATE POLICY tenant_isolation ON dnc_lists FOR ALL TO dialer_app
    USING (tenant_id = app_tenant_id()) WITH CHECK (tenant_id = app_tenant_id());
CREATE POLICY national_read ON dnc_lists FOR SELECT TO dialer_app
    USING (scope = 'national' AND app_tenant_id() IS NOT NULL);

CREATE TABLE dnc_entries (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    scope       text NOT NULL CHECK (scope IN ('national', 'tenant', 'campaign')),
    tenant_id   bigint REFERENCES tenants (id) ON DELETE CASCADE,
    campaign_id bigint,
    list_id     bigint,
    number      e164,
    prefix      text CONSTRAINT dnc_entries_prefix_nanp CHECK (prefix ~ '^\+1[2-9][0-9]{2}([2-9][0-9]{2})?$'),
    source      text NOT NULL CHECK (source ~ '^[a-z0-9_]{1,32}$'),
    reason      text CHECK (length(reason) <= 500),
    added_by    text NOT NULL DEFAULT app_actor(),
    added_at    timestamptz NOT NULL DEFAULT now(),
    FOREIGN KEY (tenant_id, campaign_id) REFERENCES campaigns (tenant_id, id) ON DELETE CASCADE,
    -- An entry of a list has the list's scope; reloading a registry replaces its entries.
    FOREIGN KEY (list_id, scope) REFERENCES dnc_lists (id, scope) ON DELETE CASCADE,
    CONSTRAINT dnc_entries_number_or_prefix CHECK ((number IS NULL) <> (prefix IS NULL)),
    CONSTRAINT dnc_entries_scope_owner CHECK (
        (scope = 'national' AND tenant_id IS NULL AND campaign_id IS NULL AND list_id IS NOT NULL) OR
        (scope = 'tenant' AND tenant_id IS NOT NULL AND campaign_id IS NULL) OR
        (scope = 'campaign' AND tenant_id IS NOT NULL AND campaign_id IS NOT NULL)),
    -- One entry per number (or prefix) per scope owner.
    CONSTRAINT dnc_entries_scope_key UNIQUE NULLS NOT DISTINCT (scope, tenant_id, campaign_id, number, prefix)
);

CREATE INDEX dnc_entries_number_idx ON dnc_entries (number) WHERE number IS NOT NULL;
CREATE INDEX dnc_entries_list_idx ON dnc_entries (list_id) WHERE list_id IS NOT NULL;

COMMENT ON TABLE dnc_entries IS
    'Numbers and NANP prefix blocks that must not be called, by scope. Entries are proof of an '
    'opt-out: the application may add and remove tenant/campaign entries but not change them.';
COMMENT ON COLUMN dnc_entries.prefix IS 'A NANP block: +1NPA (area code) or +1NPANXX (exchange).';
COMMENT ON COLUMN dnc_entries.source IS
    'How the entry arrived: registry, ivr_opt_out, api, import, agent, complaint, ...';
COMMENT ON COLUMN dnc_entries.added_by IS 'app.actor of the transaction that added the entry.';

SELECT app_secure_table('dnc_entries', 'SELECT, INSERT, DELETE', 'SELECT, INSERT, UPDATE, DELETE', false);
CREATE POLICY tenant_isolation ON dnc_entries FOR ALL TO dialer_app
    USING (tenant_id = app_tenant_id()) WITH CHECK (tenant_id = app_tenant_id());
CREATE POLICY national_read ON dnc_entries FOR SELECT TO dialer_app
    USING (scope = 'national' AND app_tenant_id() IS NOT NULL);
