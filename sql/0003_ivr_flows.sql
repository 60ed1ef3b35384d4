-- 0003_ivr_flows: IVR flows (editable draft) and their published revisions
-- (immutable), after the draft/publish model in shared/design/IVR-FLOWS.md 7.3.
--
-- Publishing = validate the draft, then in one transaction:
--   UPDATE ivr_flows SET latest_revision = latest_revision + 1 ... RETURNING latest_revision
--   INSERT INTO ivr_flow_revisions (...) VALUES (..., that revision, ...)
--   UPDATE ivr_flows SET published_revision = that revision
-- The first UPDATE locks the flow row, so revision numbers never collide.

CREATE TABLE ivr_flows (
    id                 bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tenant_id          bigint NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    name               text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    description        text NOT NULL DEFAULT '',
    draft              json_object NOT NULL DEFAULT '{}',
    draft_valid        boolean,
    draft_errors       jsonb,
    draft_updated_at   timestamptz NOT NULL DEFAULT now(),
    draft_updated_by   bigint,
    latest_revision    integer NOT NULL DEFAULT 0 CHECK (latest_revision >= 0),
    published_revision integer,
    archived_at        timestamptz,
    created_at         timestamptz NOT NULL DEFAULT now(),
    updated_at         timestamptz NOT NULL DEFAULT now(),
    UNIQUE (tenant_id, id),
    UNIQUE (tenant_id, name),
    FOREIGN KEY (tenant_id, draft_updated_by) REFERENCES users (tenant_id, id)
        ON DELETE SET NULL (draft_updated_by),
    CHECK (published_revision IS NULL OR published_revision BETWEEN 1 AND latest_revision)
);

COMMENT ON TABLE ivr_flows IS
    'An IVR flow: its editable draft (may be invalid) and which published revision is current.';
COMMENT ON COLUMN ivr_flows.draft IS 'The draft flow document (format ivrflow/1).';
COMMENT ON COLUMN ivr_flows.latest_revision IS
    'Highest revision number allocated so far; the next publish takes latest_revision + 1.';
COMMENT ON COLUMN ivr_flows.published_revision IS
    'The revision callers get when a campaign or extension asks for "latest published"; '
    'may point back to an older revision (revert). NULL: never published.';

CREATE TRIGGER ivr_flows_touch BEFORE UPDATE ON ivr_flows
    FOR EACH ROW EXECUTE FUNCTION app_touch_updated_at();

SELECT app_secure_table('ivr_flows', 'SELECT, INSERT, UPDATE, DELETE', 'SELECT, INSERT, UPDATE, DELETE');

CREATE TABLE ivr_flow_revisions (
    tenant_id    bigint NOT NULL,
    flow_id      bigint NOT NULL,
    revision     integer NOT NULL CHECK (revision >= 1),
    definition   json_object NOT NULL,
    message      text NOT NULL DEFAULT '' CHECK (length(message) <= 2000),
    published_by bigint,
    published_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (flow_id, revision),
    -- A revision dies only with its flow (and so with its tenant).
    FOREIGN KEY (tenant_id, flow_id) REFERENCES ivr_flows (tenant_id, id) ON DELETE CASCADE,
    -- NO ACTION: a user who published cannot be deleted on their own (disable them instead).
    FOREIGN KEY (tenant_id, published_by) REFERENCES users (tenant_id, id)
);

COMMENT ON TABLE ivr_flow_revisions IS
    'Published flow revisions. Immutable: UPDATE, DELETE and TRUNCATE are refused by trigger; '
    'rows go away only when their flow is deleted (cascade). Calls pin a revision when they start.';

ALTER TABLE ivr_flows ADD CONSTRAINT ivr_flows_published_revision_fkey
    FOREIGN KEY (id, published_revision) REFERENCES ivr_flow_revisions (flow_id, revision);

CREATE FUNCTION ivr_flow_revisions_immutable() RETURNS trigger
    LANGUAGE plpgsql
    AS $$
BEGIN
    -- Deletion cascaded from the flow (an RI trigger runs the DELETE, so we
    -- are nested) removes the flow's whole history together with it.
    IF TG_OP = 'DELETE' AND pg_trigger_depth() > 1 THEN
        RETURN OLD;
    END IF;
    IF TG_OP = 'TRUNCATE' THEN
        RAISE EXCEPTION 'published flow revisions are immutable'
            USING ERRCODE = 'restrict_violation';
    END IF;
    RAISE EXCEPTION 'published flow revisions are immutable (flow %, revision %)',
        OLD.flow_id, OLD.revision
        USING ERRCODE = 'restrict_violation',
              HINT = 'publish a new revision instead';
END
$$;

CREATE TRIGGER ivr_flow_revisions_immutable BEFORE UPDATE OR DELETE ON ivr_flow_revisions
    FOR EACH ROW EXECUTE FUNCTION ivr_flow_revisions_immutable();
CREATE TRIGGER ivr_flow_revisions_no_truncate BEFORE TRUNCATE ON ivr_flow_revisions
    FOR EACH STATEMENT EXECUTE FUNCTION ivr_flow_revisions_immutable();

-- Append-only for the application as well (defence in depth).
SELECT app_secure_table('ivr_flow_revisions', 'SELECT, INSERT', 'SELECT, INSERT');
