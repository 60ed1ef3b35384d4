-- 0004_campaigns: contact lists, campaigns with their state machine, the
-- lists a campaign dials, and the audit trail of campaign changes.

CREATE TABLE contact_lists (
    id                bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tenant_id         bigint NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    name              text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    description       text NOT NULL DEFAULT '',
    allowed_countries text[] NOT NULL DEFAULT '{}' CONSTRAINT contact_lists_allowed_countries_format
                          CHECK (array_to_string(allowed_countries, ',') ~ '^([A-Z]{2}(,[A-Z]{2})*)?$'
                                 AND array_position(allowed_countries, NULL) IS NULL),
    dnc_mode          text NOT NULL DEFAULT 'reject' CHECK (dnc_mode IN ('reject', 'mark')),
    settings          json_object NOT NULL DEFAULT '{}',
    created_by        bigint,
    created_at        timestamptz NOT NULL DEFAULT now(),
    updated_at        timestamptz NOT NULL DEFAULT now(),
    archived_at       timestamptz,
    UNIQUE (tenant_id, id),
    UNIQUE (tenant_id, name),
    FOREIGN KEY (tenant_id, created_by) REFERENCES users (tenant_id, id) ON DELETE SET NULL (created_by)
);

COMMENT ON TABLE contact_lists IS 'Uploaded contact lists; a list is dialed by at most one campaign.';
COMMENT ON COLUMN contact_lists.allowed_countries IS
    'ISO 3166-1 alpha-2 codes whose numbers the list accepts; empty = any country.';
COMMENT ON COLUMN contact_lists.dnc_mode IS
    'What an import does with a number on a DNC list: reject the row (import_rejects) '
    'or keep it as a contact in state dnc.';
COMMENT ON COLUMN contact_lists.settings IS
    'Import and dialing defaults: {"default_time_zone", "dedupe": {"scope", "days"}, "mapping": {...}}.';

CREATE TRIGGER contact_lists_touch BEFORE UPDATE ON contact_lists
    FOR EACH ROW EXECUTE FUNCTION app_touch_updated_at();

SELECT app_secure_table('contact_lists', 'SELECT, INSERT, UPDATE, DELETE',
                        'SELECT, INSERT, UPDATE, DELETE');

CREATE TABLE campaigns (
    id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tenant_id        bigint NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    name             text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    state            text NOT NULL DEFAULT 'draft'
                         CHECK (state IN ('draft', 'scheduled', 'running', 'paused', 'completed',
                                          'stopped')),
    state_changed_at timestamptz NOT NULL DEFAULT now(),
    pacing_mode      text NOT NULL DEFAULT 'progressive'
                         CHECK (pacing_mode IN ('fixed', 'power', 'progressive', 'predictive')),
    cps              numeric(8, 2) CHECK (cps > 0),
    max_channels     integer CHECK (max_channels > 0),
    dial_ratio       numeric(5, 2) CHECK (dial_ratio >= 1 AND dial_ratio <= 20),
    abandon_cap_pct  numeric(5, 2) NOT NULL DEFAULT 3.00
                         CHECK (abandon_cap_pct >= 0 AND abandon_cap_pct <= 100),
    abandon_window   text NOT NULL DEFAULT 'campaign_30d'
                         CHECK (abandon_window IN ('campaign_30d', 'calendar_day')),
    ring_time_s      integer NOT NULL DEFAULT 25 CONSTRAINT campaigns_ring_time_min
                         CHECK (ring_time_s >= 15 AND ring_time_s <= 120),
    max_attempts     integer NOT NULL DEFAULT 3 CHECK (max_attempts BETWEEN 1 AND 100),
    settings         json_object NOT NULL DEFAULT '{}',
    flow_id          bigint,
    flow_revision    integer,
    starts_at        timestamptz,
    ends_at          timestamptz,
    created_by       bigint,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now(),
    archived_at      timestamptz,
    UNIQUE (tenant_id, id),
    UNIQUE (tenant_id, name),
    -- A flow in use cannot be deleted (NO ACTION); archive it instead.
    FOREIGN KEY (tenant_id, flow_id) REFERENCES ivr_flows (tenant_id, id),
    FOREIGN KEY (flow_id, flow_revision) REFERENCES ivr_flow_revisions (flow_id, revision),
    FOREIGN KEY (tenant_id, created_by) REFERENCES users (tenant_id, id) ON DELETE SET NULL (created_by),
    CHECK (flow_revision IS NULL OR flow_id IS NOT NULL),
    CONSTRAINT campaigns_flow_required CHECK (state = 'draft' OR flow_id IS NOT NULL),
    CONSTRAINT campaigns_fixed_needs_cps CHECK (pacing_mode <> 'fixed' OR cps IS NOT NULL),
    CHECK (ends_at IS NULL OR starts_at IS NULL OR ends_at > starts_at)
);

CREATE INDEX campaigns_flow_idx ON campaigns (flow_id) WHERE flow_id IS NOT NULL;
CREATE INDEX campaigns_active_idx ON campaigns (state) WHERE state IN ('scheduled', 'running', 'paused');

COMMENT ON TABLE campaigns IS
    'Outbound campaigns. state follows the machine enforced by campaigns_state_guard; '
    'every state change is written to campaign_events by trigger.';
COMMENT ON COLUMN campaigns.cps IS 'Originations per second (fixed pacing; an upper bound otherwise).';
COMMENT ON COLUMN campaigns.dial_ratio IS 'Lines per available port/agent (power pacing).';
COMMENT ON COLUMN campaigns.abandon_cap_pct IS
    'Maximum abandoned calls as a percentage of live-answered calls over abandon_window '
    '(3% per campaign per 30 days under the US TSR/FCC safe harbour).';
COMMENT ON COLUMN campaigns.abandon_window IS
    'campaign_30d: whole campaign or each successive 30-day period (US/CA); '
    'calendar_day: midnight to midnight (UK practice).';
COMMENT ON COLUMN campaigns.ring_time_s IS
    'How long an unanswered call rings before it is given up; at least 15 s (TSR safe harbour, Ofcom).';
COMMENT ON COLUMN campaigns.settings IS
    'Everything else, validated by the campaign module: {"schedule": {"time_zone", "windows": [...], '
    '"holidays"}, "retry": {"<disposition>": {"delay_s", "max"}}, "caller_id": {"number", "pool"}, '
    '"trunk": "...", "amd": {"enabled", "action"}, "safe_harbour": {"media", "seller", "callback_number"}}.';
COMMENT ON COLUMN campaigns.flow_id IS 'The IVR flow run on answered calls.';
COMMENT ON COLUMN campaigns.flow_revision IS
    'Pinned revision of flow_id, or NULL for the flow''s published revision at call start.';

CREATE TRIGGER campaigns_touch BEFORE UPDATE ON campaigns
    FOR EACH ROW EXECUTE FUNCTION app_touch_updated_at();

SELECT app_secure_table('campaigns', 'SELECT, INSERT, UPDATE, DELETE', 'SELECT, INSERT, UPDATE, DELETE');

-- The state machine:
--   draft     -> scheduled | running
--   scheduled -> draft | running | paused | stopped
--   running   -> paused | completed | stopped
--   paused    -> running | scheduled | stopped | completed
--   completed, stopped: final
CREATE FUNCTION campaigns_state_guard() RETURNS trigger
    LANGUAGE plpgsql
    AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        IF NEW.state NOT IN ('draft', 'scheduled') THEN
            RAISE EXCEPTION 'a campaign is created in state draft or scheduled, not %', NEW.state
                USING ERRCODE = 'check_violation';
        END IF;
        NEW.state_changed_at := now();
        RETURN NEW;
    END IF;
    IF NEW.state IS DISTINCT FROM OLD.state THEN
        IF (OLD.state, NEW.state) NOT IN (
                ('draft', 'scheduled'), ('draft', 'running'),
                ('scheduled', 'draft'), ('scheduled', 'running'), ('scheduled', 'paused'),
                ('scheduled', 'stopped'),
                ('running', 'paused'), ('running', 'completed'), ('running', 'stopped'),
                ('paused', 'running'), ('paused', 'scheduled'), ('paused', 'stopped'),
                ('paused', 'completed')) THEN
            RAISE EXCEPTION 'campaign % cannot go from % to %', OLD.id, OLD.state, NEW.state
                USING ERRCODE = 'check_violation';
        END IF;
        NEW.state_changed_at := now();
    END IF;
    RETURN NEW;
END
$$;

CREATE TRIGGER campaigns_state_guard BEFORE INSERT OR UPDATE OF state ON campaigns
    FOR EACH ROW EXECUTE FUNCTION campaigns_state_guard();

CREATE TABLE campaign_events (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tenant_id   bigint NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    campaign_id bigint NOT NULL,
    at          timestamptz NOT NULL DEFAULT now(),
    kind        text NOT NULL CHECK (kind IN ('created', 'state_change', 'settings_change', 'list_attached',
                                              'list_detached', 'note')),
    from_state  text,
    to_state    text,
    actor       text NOT NULL DEFAULT app_actor(),
    reason      text,
    detail      json_object NOT NULL DEFAULT '{}',
    -- A campaign can be deleted only while it has no call history (see
    -- call_attempts); its events go with it.
    FOREIGN KEY (tenant_id, campaign_id) REFERENCES campaigns (tenant_id, id) ON DELETE CASCADE,
    CHECK ((kind IN ('created', 'state_change')) = (to_state IS NOT NULL))
);

CREATE INDEX campaign_events_campaign_idx ON campaign_events (campaign_id, at);

COMMENT ON TABLE campaign_events IS
    'Append-only audit trail of a campaign: creation and state changes (written by trigger, '
    'with app.actor and app.reason), settings changes and notes (written by the application).';

SELECT app_secure_table('campaign_events', 'SELECT, INSERT', 'SELECT, INSERT, DELETE');

CREATE FUNCTION campaigns_state_audit() RETURNS trigger
    LANGUAGE plpgsql
    AS $$
BEGIN
    INSERT INTO campaign_events (tenant_id, campaign_id, kind, from_state, to_state, reason)
    VALUES (NEW.tenant_id, NEW.id,
            CASE TG_OP WHEN 'INSERT' THEN 'created' ELSE 'state_change' END,
            CASE TG_OP WHEN 'INSERT' THEN NULL ELSE OLD.state END,
            NEW.state,
            nullif(current_setting('app.reason', true), ''));
    RETURN NULL;
END
$$;

CREATE TRIGGER campaigns_state_audit_insert AFTER INSERT ON campaigns
    FOR EACH ROW EXECUTE FUNCTION campaigns_state_audit();
CREATE TRIGGER campaigns_state_audit_update AFTER UPDATE OF state ON campaigns
    FOR EACH ROW WHEN (OLD.state IS DISTINCT FROM NEW.state)
    EXECUTE FUNCTION campaigns_state_audit();

CREATE TABLE campaign_lists (
    tenant_id   bigint NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    campaign_id bigint NOT NULL,
    list_id     bigint NOT NULL,
    priority    integer NOT NULL DEFAULT 0,
    active      boolean NOT NULL DEFAULT true,
    added_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (campaign_id, list_id),
    -- A contact's state (attempts, next attempt) is per contact, so a list is
    -- dialed by one campaign at a time.
    CONSTRAINT campaign_lists_one_campaign UNIQUE (list_id),
    FOREIGN KEY (tenant_id, campaign_id) REFERENCES campaigns (tenant_id, id) ON DELETE CASCADE,
    FOREIGN KEY (tenant_id, list_id) REFERENCES contact_lists (tenant_id, id) ON DELETE CASCADE
);

COMMENT ON TABLE campaign_lists IS
    'Lists a campaign dials; the scheduler leases from active lists in priority order (higher first).';

SELECT app_secure_table('campaign_lists', 'SELECT, INSERT, UPDATE, DELETE',
                        'SELECT, INSERT, UPDATE, DELETE');
