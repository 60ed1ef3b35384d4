-- 0010_imports: CSV import jobs and the rows they rejected.

CREATE TABLE import_jobs (
    id                 uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    tenant_id          bigint NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    list_id            bigint NOT NULL,
    upload_id          text NOT NULL CHECK (length(upload_id) BETWEEN 1 AND 128),
    state              text NOT NULL DEFAULT 'pending'
                           CHECK (state IN ('pending', 'running', 'completed', 'failed', 'cancelled')),
    filename           text CHECK (length(filename) <= 255),
    bytes_total        bigint CHECK (bytes_total >= 0),
    bytes_read         bigint NOT NULL DEFAULT 0 CHECK (bytes_read >= 0),
    rows_read          bigint NOT NULL DEFAULT 0 CHECK (rows_read >= 0),
    rows_accepted      bigint NOT NULL DEFAULT 0 CHECK (rows_accepted >= 0),
    rows_rejected      bigint NOT NULL DEFAULT 0 CHECK (rows_rejected >= 0),
    rejected_by_reason json_object NOT NULL DEFAULT '{}',
    mapping            json_object NOT NULL DEFAULT '{}',
    options            json_object NOT NULL DEFAULT '{}',
    error              text,
    worker             text CHECK (length(worker) <= 128),
    created_by         bigint,
    created_at         timestamptz NOT NULL DEFAULT now(),
    started_at         timestamptz,
    finished_at        timestamptz,
    updated_at         timestamptz NOT NULL DEFAULT now(),
    -- Deleting a list deletes its import history.
    FOREIGN KEY (tenant_id, list_id) REFERENCES contact_lists (tenant_id, id) ON DELETE CASCADE,
    FOREIGN KEY (tenant_id, created_by) REFERENCES users (tenant_id, id) ON DELETE SET NULL (created_by),
    -- Retrying an upload with the same id finds the existing job instead of importing twice.
    CONSTRAINT import_jobs_upload_key UNIQUE (list_id, upload_id),
    CHECK (rows_accepted + rows_rejected <= rows_read),
    CHECK (bytes_total IS NULL OR bytes_read <= bytes_total),
    CHECK ((state IN ('completed', 'failed', 'cancelled')) = (finished_at IS NOT NULL))
);

CREATE INDEX import_jobs_tenant_idx ON import_jobs (tenant_id, created_at);
CREATE INDEX import_jobs_open_idx ON import_jobs (created_at) WHERE state IN ('pending', 'running');

COMMENT ON TABLE import_jobs IS
    'A CSV upload into a list: progress counters (updated as the import streams), rejections by '
    'reason ({"invalid_number": 12, "duplicate": 3, "dnc": 5, "country": 1}), final state.';
COMMENT ON COLUMN import_jobs.upload_id IS 'Client-chosen idempotency key, unique per list.';
COMMENT ON COLUMN import_jobs.mapping IS 'CSV column -> contact field mapping used.';

CREATE TRIGGER import_jobs_touch BEFORE UPDATE ON import_jobs
    FOR EACH ROW EXECUTE FUNCTION app_touch_updated_at();

SELECT app_secure_table('import_jobs', 'SELECT, INSERT, UPDATE, DELETE', 'SELECT, INSERT, UPDATE, DELETE');

CREATE TABLE import_rejects (
    job_id    uuid NOT NULL REFERENCES import_jobs (id) ON DELETE CASCADE,
    row_no    bigint NOT NULL CHECK (row_no >= 1),
    tenant_id bigint NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    reason    text NOT NULL CHECK (reason ~ '^[a-z0-9_]{1,32}$'),
    detail    text CHECK (length(detail) <= 500),
    original  jsonb NOT NULL,
    PRIMARY KEY (job_id, row_no)
);

COMMENT ON TABLE import_rejects IS
    'Rows an import refused, with the CSV row number (1 = first data row), a reason code and the '
    'original values ({"header": "value", ...}, or an array when the file has no header).';

SELECT app_secure_table('import_rejects', 'SELECT, INSERT', 'SELECT, INSERT, DELETE');
