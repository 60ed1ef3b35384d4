-- 0012_api_idempotency: stored answers for the REST API's Idempotency-Key.
--
-- A create request that carries an Idempotency-Key reserves the key for its
-- tenant with a digest of the request (method, path, body); its answer is
-- stored before it is sent. A retry with the same key and request gets the
-- stored answer again; with another request, 422. Rows older than 24 hours
-- are dead (taken over by a new request with the key, purged by the API's
-- housekeeping). See docs/api.md.

CREATE TABLE api_idempotency (
    tenant_id    bigint NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    idem_key     text NOT NULL CHECK (idem_key ~ '^[!-~]{1,255}$'),
    request_hash text NOT NULL CHECK (request_hash ~ '^[0-9a-f]{64}$'),
    status       int CHECK (status BETWEEN 100 AND 499),
    response     text,
    etag         text CHECK (length(etag) <= 128),
    location     text CHECK (length(location) <= 512),
    created_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, idem_key),
    CHECK (status IS NOT NULL OR response IS NULL)
);

CREATE INDEX api_idempotency_created_idx ON api_idempotency (created_at);

COMMENT ON TABLE api_idempotency IS
    'Idempotency keys of API creates per tenant: the request digest and, once answered, the '
    'status and body that a retry with the same key replays. status NULL: still in progress.';

SELECT app_secure_table('api_idempotency', 'SELECT, INSERT, UPDATE, DELETE',
                        'SELECT, INSERT, UPDATE, DELETE');
