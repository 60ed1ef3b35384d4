-- 0007_extensions: the platform's extension inventory and which tenant flow
-- each extension runs.
--
-- Pools by number range: 2000-2999 inbound, 3000-3999 outbound, 4000-4999
-- reserved. Extensions are platform inventory (rows are created by the
-- platform); a tenant claims a free one (free -> assigned, tenant_id = its
-- own), binds it to a flow, and releases it to quarantine (tenant_id kept,
-- quarantine_until set) so that callers of the old tenant do not reach a new
-- one at once. A platform job frees quarantined extensions once
-- quarantine_until has passed.

CREATE TABLE extensions (
    id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    number           integer NOT NULL UNIQUE,
    pool             text NOT NULL CHECK (pool IN ('inbound', 'outbound', 'reserved')),
    -- NO ACTION: a tenant cannot be deleted while it holds extensions.
    tenant_id        bigint REFERENCES tenants (id),
    state            text NOT NULL DEFAULT 'free' CHECK (state IN ('free', 'assigned', 'quarantined')),
    flow_id          bigint,
    flow_revision    integer,
    label            text CHECK (length(label) <= 200),
    assigned_at      timestamptz,
    quarantine_until timestamptz,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT extensions_number_in_pool CHECK (
        (pool = 'inbound' AND number BETWEEN 2000 AND 2999) OR
        (pool = 'outbound' AND number BETWEEN 3000 AND 3999) OR
        (pool = 'reserved' AND number BETWEEN 4000 AND 4999)),
    -- NO ACTION: a flow bound to an extension cannot be deleted.
    FOREIGN KEY (tenant_id, flow_id) REFERENCES ivr_flows (tenant_id, id),
    FOREIGN KEY (flow_id, flow_revision) REFERENCES ivr_flow_revisions (flow_id, revision),
    CHECK (flow_revision IS NULL OR flow_id IS NOT NULL),
    CONSTRAINT extensions_state_fields CHECK (
        (state = 'free' AND tenant_id IS NULL AND flow_id IS NULL AND quarantine_until IS NULL) OR
        (state = 'assigned' AND tenant_id IS NOT NULL AND quarantine_until IS NULL) OR
        (state = 'quarantined' AND tenant_id IS NOT NULL AND flow_id IS NULL
            AND quarantine_until IS NOT NULL))
);

CREATE INDEX extensions_tenant_idx ON extensions (tenant_id) WHERE tenant_id IS NOT NULL;
CREATE INDEX extensions_free_idx ON extensions (pool, number) WHERE state = 'free';
CREATE INDEX extensions_flow_idx ON extensions (flow_id) WHERE flow_id IS NOT NULL;

COMMENT ON TABLE extensions IS
    'Extension inventory (globally unique numbers in fixed pools) and the tenant flow each runs. '
    'Asterisk sends calls to assigned extensions into Stasis; dialerd maps them here.';
COMMENT ON COLUMN extensions.flow_revision IS 'Pinned revision, or NULL for the published revision.';
COMMENT ON COLUMN extensions.quarantine_until IS
    'A released extension is not handed to another tenant before this time.';

CREATE TRIGGER extensions_touch BEFORE UPDATE ON extensions
    FOR EACH ROW EXECUTE FUNCTION app_touch_updated_at();

-- Tenants see their extensions and the free ones (to claim one); they can
-- change only the binding columns, never number or pool.
SELECT app_secure_table('extensions', 'SELECT', 'SELECT, INSERT, UPDATE, DELETE', false);
GRANT UPDATE (tenant_id, state, flow_id, flow_revision, label, assigned_at, quarantine_until)
    ON extensions TO dialer_app;
CREATE POLICY tenant_read ON extensions FOR SELECT TO dialer_app
    USING (tenant_id = app_tenant_id() OR (state = 'free' AND app_tenant_id() IS NOT NULL));
CREATE POLICY tenant_claim ON extensions FOR UPDATE TO dialer_app
    USING (tenant_id = app_tenant_id() OR (state = 'free' AND app_tenant_id() IS NOT NULL))
    WITH CHECK (tenant_id = app_tenant_id());
