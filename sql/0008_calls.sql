-- 0008_calls: call attempts (one per origination) and call logs (one CDR per
-- attempt). These are compliance records: a campaign or tenant that has them
-- cannot be deleted (NO ACTION), and the application cannot delete them.

CREATE TABLE call_attempts (
    id             uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    -- NO ACTION on tenant and campaign: call history outlives neither.
    tenant_id      bigint NOT NULL REFERENCES tenants (id),
    campaign_id    bigint NOT NULL,
    contact_id     bigint REFERENCES contacts (id) ON DELETE SET NULL,
    number         e164 NOT NULL,
    attempt_no     integer NOT NULL CHECK (attempt_no >= 1),
    caller_id      e164,
    trunk          text CHECK (length(trunk) <= 128),
    asterisk_node  text CHECK (length(asterisk_node) <= 128),
    dialer_node    text NOT NULL CHECK (length(dialer_node) BETWEEN 1 AND 128),
    state          text NOT NULL DEFAULT 'created'
                       CHECK (state IN ('created', 'originating', 'ringing', 'answered', 'ended',
                                        'failed')),
    started_at     timestamptz NOT NULL DEFAULT now(),
    originated_at  timestamptz,
    ringing_at     timestamptz,
    answered_at    timestamptz,
    ended_at       timestamptz,
    hangup_cause   smallint CHECK (hangup_cause BETWEEN 0 AND 127),
    sip_code       smallint CHECK (sip_code BETWEEN 100 AND 699),
    outcome        text CHECK (outcome IN ('human', 'machine', 'busy', 'no_answer', 'rejected',
                                           'congestion', 'unreachable', 'failed', 'cancelled',
                                           'abandoned', 'lost')),
    disposition    text CHECK (length(disposition) BETWEEN 1 AND 64),
    amd_result     text CHECK (amd_result IN ('human', 'machine', 'notsure', 'hangup', 'off')),
    amd_cause      text CHECK (length(amd_cause) <= 64),
    amd_ms         integer CHECK (amd_ms >= 0),
    attestation    text CHECK (attestation IN ('A', 'B', 'C')),
    FOREIGN KEY (tenant_id, campaign_id) REFERENCES campaigns (tenant_id, id),
    -- The same attempt of a contact is never written (so never dialed) twice.
    CONSTRAINT call_attempts_contact_attempt_key UNIQUE (contact_id, attempt_no),
    CONSTRAINT call_attempts_final_has_end CHECK ((state IN ('ended', 'failed')) = (ended_at IS NOT NULL)),
    CONSTRAINT call_attempts_answered_has_time CHECK (state <> 'answered' OR answered_at IS NOT NULL),
    CHECK (originated_at IS NULL OR originated_at >= started_at),
    CHECK (answered_at IS NULL OR ringing_at IS NULL OR answered_at >= ringing_at),
    CHECK (ended_at IS NULL OR ended_at >= started_at)
);

-- Frequency caps and "how often was this number called" (per tenant, rolling windows).
CREATE INDEX call_attempts_number_idx ON call_attempts (tenant_id, number, started_at);
-- Campaign reports and the per-campaign history.
CREATE INDEX call_attempts_campaign_idx ON call_attempts (campaign_id, started_at);
-- Restart reconciliation: attempts written but not finished, per dialerd node.
CREATE INDEX call_attempts_unfinished_idx ON call_attempts (dialer_node, started_at)
    WHERE ended_at IS NULL;

COMMENT ON TABLE call_attempts IS
    'One row per origination, written before the originate; id is the ARI channelId. '
    'On restart, rows with ended_at NULL are reconciled against ARI instead of being dialed again.';
COMMENT ON COLUMN call_attempts.number IS 'The number actually dialed (full, for the compliance record).';
COMMENT ON COLUMN call_attempts.attempt_no IS 'Attempt number for the contact, 1-based.';
COMMENT ON COLUMN call_attempts.state IS
    'created (row written, originate not yet sent), originating, ringing, answered, '
    'ended (hung up after any progress), failed (the originate itself failed).';
COMMENT ON COLUMN call_attempts.hangup_cause IS 'Q.850 cause code of the hang-up.';
COMMENT ON COLUMN call_attempts.outcome IS 'System outcome that drives retries.';
COMMENT ON COLUMN call_attempts.disposition IS 'Result code set by the flow (hangup node) or an agent.';
COMMENT ON COLUMN call_attempts.attestation IS 'STIR/SHAKEN attestation the carrier applied, when known.';

SELECT app_secure_table('call_attempts', 'SELECT, INSERT, UPDATE', 'SELECT, INSERT, UPDATE, DELETE');

CREATE TABLE call_logs (
    attempt_id          uuid PRIMARY KEY REFERENCES call_attempts (id) ON DELETE CASCADE,
    tenant_id           bigint NOT NULL REFERENCES tenants (id),
    campaign_id         bigint NOT NULL,
    number              e164 NOT NULL,
    caller_id           e164,
    started_at          timestamptz NOT NULL,
    answered_at         timestamptz,
    human_detected_at   timestamptz,
    connected_at        timestamptz,
    safe_harbour_at     timestamptz,
    ended_at            timestamptz NOT NULL,
    ring_timeout_s      integer NOT NULL CHECK (ring_timeout_s >= 15),
    ring_ms             integer NOT NULL DEFAULT 0 CHECK (ring_ms >= 0),
    talk_ms             integer NOT NULL DEFAULT 0 CHECK (talk_ms >= 0),
    total_ms            integer NOT NULL CHECK (total_ms >= 0),
    outcome             text NOT NULL CHECK (outcome IN ('human', 'machine', 'busy', 'no_answer',
                                                         'rejected', 'congestion', 'unreachable',
                                                         'failed', 'cancelled', 'abandoned', 'lost')),
    disposition         text CHECK (length(disposition) BETWEEN 1 AND 64),
    hangup_cause        smallint CHECK (hangup_cause BETWEEN 0 AND 127),
    hangup_by           text CHECK (hangup_by IN ('callee', 'system', 'network')),
    amd_result          text CHECK (amd_result IN ('human', 'machine', 'notsure', 'hangup', 'off')),
    live_answer         boolean NOT NULL DEFAULT false,
    abandoned           boolean NOT NULL DEFAULT false,
    recording_uri       text,
    FOREIGN KEY (tenant_id, campaign_id) REFERENCES campaigns (tenant_id, id),
    CHECK (ended_at >= started_at),
    CHECK (answered_at IS NULL OR answered_at >= started_at),
    CONSTRAINT call_logs_abandoned_is_live CHECK (NOT abandoned OR (live_answer AND answered_at IS NOT NULL)),
    CONSTRAINT call_logs_live_is_answered CHECK (NOT live_answer OR answered_at IS NOT NULL)
);

-- The abandonment rate over a window (count abandoned / live answered) by
-- index-only scan.
CREATE INDEX call_logs_campaign_idx ON call_logs (campaign_id, ended_at) INCLUDE (live_answer, abandoned);
CREATE INDEX call_logs_tenant_idx ON call_logs (tenant_id, ended_at);

COMMENT ON TABLE call_logs IS
    'One CDR per attempt, written at hang-up (in batches). The abandonment proof: which calls '
    'were answered by a live person, which were abandoned, and the timings that show it.';
COMMENT ON COLUMN call_logs.human_detected_at IS
    'When the callee was known to be a live person (AMD verdict, or answer when AMD is off): '
    'the 2-second clock starts at the end of the greeting, which this approximates.';
COMMENT ON COLUMN call_logs.connected_at IS 'When the flow or an agent took the call.';
COMMENT ON COLUMN call_logs.safe_harbour_at IS 'When the safe-harbour message started, if played.';
COMMENT ON COLUMN call_logs.ring_timeout_s IS 'The ring time in force for this call (>= 15 s).';
COMMENT ON COLUMN call_logs.live_answer IS 'Answered by a live person: the abandonment-rate denominator.';
COMMENT ON COLUMN call_logs.abandoned IS
    'Not connected within 2 s of the live answer: the abandonment-rate numerator.';

SELECT app_secure_table('call_logs', 'SELECT, INSERT', 'SELECT, INSERT, DELETE');
