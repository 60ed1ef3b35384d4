-- 0011_usage_audit: per-tenant daily usage counters, the compliance decision
-- trail and the administrative audit log.

CREATE TABLE usage_daily (
    tenant_id         bigint NOT NULL REFERENCES tenants (id),
    day               date NOT NULL,
    attempts          bigint NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    answered          bigint NOT NULL DEFAULT 0 CHECK (answered >= 0),
    abandoned         bigint NOT NULL DEFAULT 0 CHECK (abandoned >= 0),
    talk_seconds      bigint NOT NULL DEFAULT 0 CHECK (talk_seconds >= 0),
    ivr_steps         bigint NOT NULL DEFAULT 0 CHECK (ivr_steps >= 0),
    inbound_calls     bigint NOT NULL DEFAULT 0 CHECK (inbound_calls >= 0),
    contacts_imported bigint NOT NULL DEFAULT 0 CHECK (contacts_imported >= 0),
    api_requests      bigint NOT NULL DEFAULT 0 CHECK (api_requests >= 0),
    updated_at        timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, day)
);

COMMENT ON TABLE usage_daily IS
    'Usage per tenant per UTC day, for metering and quotas. dialerd aggregates in memory and adds '
    'its deltas every few seconds (INSERT ... ON CONFLICT DO UPDATE SET x = usage_daily.x + '
    'EXCLUDED.x), so the row is not a per-call hot spot. Kept with the tenant (NO ACTION).';

SELECT app_secure_table('usage_daily', 'SELECT, INSERT, UPDATE', 'SELECT, INSERT, UPDATE, DELETE');

CREATE TABLE compliance_decisions (
    id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tenant_id        bigint NOT NULL REFERENCES tenants (id),
    campaign_id      bigint NOT NULL,
    contact_id       bigint REFERENCES contacts (id) ON DELETE SET NULL,
    attempt_id       uuid REFERENCES call_attempts (id) ON DELETE SET NULL,
    number           e164 NOT NULL,
    decided_at       timestamptz NOT NULL DEFAULT now(),
    verdict          text NOT NULL CHECK (verdict IN ('allow', 'block')),
    rule             text NOT NULL CHECK (rule ~ '^[a-z0-9_.]{1,64}$'),
    next_eligible_at timestamptz,
    rules_version    text NOT NULL CHECK (length(rules_version) BETWEEN 1 AND 64),
    data_versions    json_object NOT NULL DEFAULT '{}',
    trace            json_object NOT NULL DEFAULT '{}',
    FOREIGN KEY (tenant_id, campaign_id) REFERENCES campaigns (tenant_id, id),
    CHECK (verdict = 'block' OR next_eligible_at IS NULL)
);

CREATE INDEX compliance_decisions_number_idx ON compliance_decisions (tenant_id, number, decided_at);
CREATE INDEX compliance_decisions_campaign_idx ON compliance_decisions (campaign_id, decided_at);
CREATE INDEX compliance_decisions_contact_idx ON compliance_decisions (contact_id) WHERE contact_id IS NOT NULL;
CREATE INDEX compliance_decisions_attempt_idx ON compliance_decisions (attempt_id) WHERE attempt_id IS NOT NULL;

COMMENT ON TABLE compliance_decisions IS
    'Why a number was or was not dialed: one row per attempt (allow) or skip (block), with the '
    'rule that decided, the rules version and the data versions (DNC list dates, time-zone source). '
    'Full number, tenant-scoped, append-only: the record a regulator asks for.';
COMMENT ON COLUMN compliance_decisions.rule IS
    'The deciding rule: allow, dnc.national, dnc.tenant, dnc.campaign, window.federal, window.state, '
    'holiday, cap.24h, cap.reg_f_7in7, lockout.abandon_72h, attempts.max, ...';
COMMENT ON COLUMN compliance_decisions.data_versions IS
    '{"dnc_national": "2026-11-01", "dnc_tenant_at": "...", "tz_source": "npa", "phone_data": "..."}';

SELECT app_secure_table('compliance_decisions', 'SELECT, INSERT', 'SELECT, INSERT, DELETE');

CREATE TABLE audit_log (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tenant_id   bigint REFERENCES tenants (id) ON DELETE CASCADE,
    at          timestamptz NOT NULL DEFAULT now(),
    actor       text NOT NULL DEFAULT app_actor(),
    action      text NOT NULL CHECK (action ~ '^[a-z0-9_.]{1,64}$'),
    object_type text CHECK (object_type ~ '^[a-z0-9_]{1,64}$'),
    object_id   text CHECK (length(object_id) <= 128),
    detail      json_object NOT NULL DEFAULT '{}',
    client_ip   inet
);

CREATE INDEX audit_log_tenant_idx ON audit_log (tenant_id, at);

COMMENT ON TABLE audit_log IS
    'Administrative actions (user.create, api_key.revoke, flow.publish, dnc.remove, '
    'tenant.suspend, ...). tenant_id NULL: a platform-level action. Append-only.';

-- Tenants read and append their own entries; platform entries (tenant_id
-- NULL) are visible to the platform only.
SELECT app_secure_table('audit_log', 'SELECT, INSERT', 'SELECT, INSERT, DELETE');
