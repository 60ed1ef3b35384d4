-- 0060_campaign_metrics: per-minute rollups of live campaign metrics.
--
-- Each dialerd node writes one row per campaign and minute it counted
-- something in: counters as the minute's increments, gauges as read at the
-- end of the minute. Cluster figures for a minute are the sum over nodes.
-- Rows older than dashboards.retention (24 hours by default) are deleted by
-- the nodes. See docs/dashboards.md.

CREATE TABLE campaign_metrics_minute (
    tenant_id          bigint NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    campaign_id        bigint NOT NULL,
    node               text NOT NULL CHECK (length(node) BETWEEN 1 AND 63),
    minute             timestamptz NOT NULL CHECK (date_trunc('minute', minute) = minute),
    attempts           bigint NOT NULL DEFAULT 0,
    answered           bigint NOT NULL DEFAULT 0,
    human              bigint NOT NULL DEFAULT 0,
    machine            bigint NOT NULL DEFAULT 0,
    busy               bigint NOT NULL DEFAULT 0,
    no_answer          bigint NOT NULL DEFAULT 0,
    failed             bigint NOT NULL DEFAULT 0,
    abandoned          bigint NOT NULL DEFAULT 0,
    ended              bigint NOT NULL DEFAULT 0,
    talk_ms            bigint NOT NULL DEFAULT 0,
    handle_ms          bigint NOT NULL DEFAULT 0,
    blocked_dnc        bigint NOT NULL DEFAULT 0,
    blocked_window     bigint NOT NULL DEFAULT 0,
    blocked_cap        bigint NOT NULL DEFAULT 0,
    ringing            bigint NOT NULL DEFAULT 0,
    in_progress        bigint NOT NULL DEFAULT 0,
    contacts_remaining bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (tenant_id, campaign_id, node, minute),
    FOREIGN KEY (tenant_id, campaign_id) REFERENCES campaigns (tenant_id, id) ON DELETE CASCADE
);

CREATE INDEX campaign_metrics_minute_minute_idx ON campaign_metrics_minute (minute);

COMMENT ON TABLE campaign_metrics_minute IS
    'Per-minute rollups of live campaign metrics, one row per campaign, node and minute '
    '(counters: the minute''s increments; gauges: the value at the end of the minute).';

SELECT app_secure_table('campaign_metrics_minute', 'SELECT', 'SELECT, INSERT, UPDATE, DELETE');
