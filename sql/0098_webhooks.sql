-- 0098_webhooks: a tenant's webhook endpoints and the durable outbox of
-- their deliveries (hooks/hooks.h, docs/webhooks.md).
--
-- Events are written by triggers on the rows whose change they report, so
-- an event exists exactly when its fact committed: the attempt's end, the
-- campaign's state change and the import's end write their outbox rows in
-- their own transaction, whichever code path (or node) made the change.
-- One row per (event, endpoint): the event id (a UUID) is the same for
-- every endpoint and is what receivers deduplicate on.
--
-- The signing secret is stored sealed (crypto_secretbox under a key derived
-- from the platform secrets key, the tenant and the name "webhook_<id>",
-- as tenant_secrets in 0086); the database never sees it in clear.

CREATE TABLE webhook_endpoints (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tenant_id       bigint NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    url             text NOT NULL CONSTRAINT webhook_endpoints_url_format
                        CHECK (url ~ '^https?://[^/?#@[:space:]]+' AND length(url) <= 2048),
    events          text[] NOT NULL CONSTRAINT webhook_endpoints_events_size
                        CHECK (cardinality(events) BETWEEN 1 AND 16),
    enabled         boolean NOT NULL DEFAULT true,
    description     text NOT NULL DEFAULT '' CHECK (length(description) <= 500),
    secret_ct       bytea NOT NULL CHECK (octet_length(secret_ct) BETWEEN 16 AND 256),
    secret_nonce    bytea NOT NULL CHECK (octet_length(secret_nonce) = 24),
    secret_rotated_at timestamptz NOT NULL DEFAULT now(),
    -- Why the endpoint is disabled when the product disabled it (410 Gone,
    -- failing for too long); NULL when enabled or disabled by a user.
    disabled_reason text CHECK (length(disabled_reason) <= 500),
    disabled_at     timestamptz,
    -- Since when every delivery failed (NULL after a success).
    failing_since   timestamptz,
    last_success_at timestamptz,
    last_failure_at timestamptz,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT webhook_endpoints_tenant_id_key UNIQUE (tenant_id, id)
);

CREATE INDEX webhook_endpoints_tenant_idx ON webhook_endpoints (tenant_id) WHERE enabled;

CREATE TRIGGER webhook_endpoints_touch BEFORE UPDATE ON webhook_endpoints
    FOR EACH ROW EXECUTE FUNCTION app_touch_updated_at();

COMMENT ON TABLE webhook_endpoints IS
    'Where a tenant''s events are POSTed, signed with the endpoint''s secret (sealed, never '
    'listed); disabled automatically on 410 or after failing for too long (disabled_reason).';

CREATE TABLE webhook_deliveries (
    id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tenant_id        bigint NOT NULL,
    endpoint_id      bigint NOT NULL,
    event_id         uuid NOT NULL,
    event_type       text NOT NULL CHECK (length(event_type) BETWEEN 1 AND 64),
    event_at         timestamptz NOT NULL DEFAULT now(),
    data             jsonb NOT NULL,
    -- pending: due at next_attempt_at; sending: leased by lease_owner until
    -- lease_expires_at (an expired lease is pending again); delivered / failed: final.
    status           text NOT NULL DEFAULT 'pending'
                         CHECK (status IN ('pending', 'sending', 'delivered', 'failed')),
    attempts         integer NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    next_attempt_at  timestamptz NOT NULL DEFAULT now(),
    -- Retries stop once this is older than webhooks.max-age (a redelivery resets it).
    retry_from       timestamptz NOT NULL DEFAULT now(),
    lease_owner      text CHECK (length(lease_owner) <= 128),
    lease_expires_at timestamptz,
    last_attempt_at  timestamptz,
    last_code        smallint CHECK (last_code BETWEEN 0 AND 999),
    last_error       text CHECK (length(last_error) <= 500),
    finished_at      timestamptz,
    FOREIGN KEY (tenant_id, endpoint_id) REFERENCES webhook_endpoints (tenant_id, id)
        ON DELETE CASCADE,
    CONSTRAINT webhook_deliveries_event_key UNIQUE (endpoint_id, event_id),
    CHECK ((status IN ('delivered', 'failed')) = (finished_at IS NOT NULL))
);

CREATE INDEX webhook_deliveries_due_idx ON webhook_deliveries (endpoint_id, next_attempt_at)
    WHERE status = 'pending';
CREATE INDEX webhook_deliveries_sending_idx ON webhook_deliveries (endpoint_id, lease_expires_at)
    WHERE status = 'sending';
CREATE INDEX webhook_deliveries_finished_idx ON webhook_deliveries (tenant_id, finished_at)
    WHERE status IN ('delivered', 'failed');
CREATE INDEX webhook_deliveries_list_idx ON webhook_deliveries (endpoint_id, id);

COMMENT ON TABLE webhook_deliveries IS
    'The webhook outbox: one row per event and endpoint, written by triggers in the '
    'transaction of the fact it reports; delivered and failed rows are pruned.';

SELECT app_secure_table('webhook_endpoints', 'SELECT, INSERT, UPDATE, DELETE', 'SELECT, UPDATE');
SELECT app_secure_table('webhook_deliveries', 'SELECT, INSERT, UPDATE', 'SELECT, INSERT, UPDATE, DELETE');

-- Writes one event for every enabled endpoint of tenant subscribed to
-- event_type (or to "*"). Runs as the role of the writer: a tenant
-- transaction sees its own endpoints, the platform role all of them.
CREATE FUNCTION webhook_emit(tenant bigint, event_type text, data jsonb) RETURNS void
    LANGUAGE sql
    AS $$
    INSERT INTO webhook_deliveries (tenant_id, endpoint_id, event_id, event_type, data)
    SELECT e.tenant_id, e.id, ev.id, event_type, data
      FROM webhook_endpoints e, (SELECT gen_random_uuid() AS id) ev
     WHERE e.tenant_id = tenant AND e.enabled
       AND (event_type = ANY (e.events) OR '*' = ANY (e.events))
$$;

GRANT EXECUTE ON FUNCTION webhook_emit(bigint, text, jsonb) TO dialer_app, dialer_platform;

CREATE FUNCTION webhook_call_completed() RETURNS trigger
    LANGUAGE plpgsql
    AS $$
BEGIN
    PERFORM webhook_emit(NEW.tenant_id, 'call.completed', jsonb_build_object(
        'attempt_id', NEW.id, 'campaign_id', NEW.campaign_id, 'contact_id', NEW.contact_id,
        'number', NEW.number, 'attempt_no', NEW.attempt_no, 'state', NEW.state,
        'outcome', NEW.outcome, 'disposition', NEW.disposition,
        'hangup_cause', NEW.hangup_cause, 'amd_result', NEW.amd_result,
        'started_at', NEW.started_at, 'answered_at', NEW.answered_at, 'ended_at', NEW.ended_at,
        'duration_s', CASE WHEN NEW.answered_at IS NULL THEN 0
                           ELSE round(extract(epoch FROM NEW.ended_at - NEW.answered_at), 3) END));
    RETURN NULL;
END
$$;

-- A call that never rang (not_dialed) is not reported: no call took place.
CREATE TRIGGER call_attempts_webhook AFTER UPDATE OF ended_at ON call_attempts
    FOR EACH ROW WHEN (OLD.ended_at IS NULL AND NEW.ended_at IS NOT NULL
                       AND NEW.outcome IS DISTINCT FROM 'not_dialed')
    EXECUTE FUNCTION webhook_call_completed();

CREATE FUNCTION webhook_campaign_state() RETURNS trigger
    LANGUAGE plpgsql
    AS $$
BEGIN
    PERFORM webhook_emit(NEW.tenant_id, 'campaign.state_changed', jsonb_build_object(
        'campaign_id', NEW.id, 'name', NEW.name, 'from', OLD.state, 'to', NEW.state,
        'changed_at', NEW.state_changed_at));
    RETURN NULL;
END
$$;

CREATE TRIGGER campaigns_webhook AFTER UPDATE OF state ON campaigns
    FOR EACH ROW WHEN (OLD.state IS DISTINCT FROM NEW.state)
    EXECUTE FUNCTION webhook_campaign_state();

CREATE FUNCTION webhook_import_finished() RETURNS trigger
    LANGUAGE plpgsql
    AS $$
BEGIN
    PERFORM webhook_emit(NEW.tenant_id, 'import.finished', jsonb_build_object(
        'import_id', NEW.id, 'list_id', NEW.list_id, 'state', NEW.state,
        'filename', NEW.filename, 'rows_read', NEW.rows_read,
        'rows_accepted', NEW.rows_accepted, 'rows_rejected', NEW.rows_rejected,
        'error', NEW.error, 'finished_at', NEW.finished_at));
    RETURN NULL;
END
$$;

CREATE TRIGGER import_jobs_webhook AFTER UPDATE OF state ON import_jobs
    FOR EACH ROW WHEN (OLD.state IS DISTINCT FROM NEW.state
                       AND NEW.state IN ('completed', 'failed', 'cancelled'))
    EXECUTE FUNCTION webhook_import_finished();
