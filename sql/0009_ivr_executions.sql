-- 0009_ivr_executions: one execution per flow run on a call, and its steps
-- (IVR-FLOWS.md 7.3). Written in batches by the interpreter.

CREATE TABLE ivr_executions (
    id               uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    tenant_id        bigint NOT NULL REFERENCES tenants (id),
    flow_id          bigint NOT NULL,
    flow_revision    integer,
    draft            boolean NOT NULL DEFAULT false,
    direction        text NOT NULL CHECK (direction IN ('outbound', 'inbound', 'simulated')),
    call_attempt_id  uuid REFERENCES call_attempts (id) ON DELETE CASCADE,
    channel_id       text CHECK (length(channel_id) <= 128),
    extension        integer,
    caller           text CHECK (length(caller) <= 64),
    status           text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'ended')),
    ended_reason     text CHECK (ended_reason IN ('completed', 'hangup', 'transferred', 'error',
                                                  'max_steps', 'loop', 'timeout', 'shutdown')),
    last_node        text CHECK (length(last_node) <= 64),
    steps            integer NOT NULL DEFAULT 0 CHECK (steps >= 0),
    error            jsonb,
    started_at       timestamptz NOT NULL DEFAULT now(),
    ended_at         timestamptz,
    -- NO ACTION: a flow with executions is archived, not deleted.
    FOREIGN KEY (tenant_id, flow_id) REFERENCES ivr_flows (tenant_id, id),
    FOREIGN KEY (flow_id, flow_revision) REFERENCES ivr_flow_revisions (flow_id, revision),
    CONSTRAINT ivr_executions_pinned CHECK ((flow_revision IS NULL) = draft),
    CONSTRAINT ivr_executions_end CHECK ((status = 'ended') = (ended_at IS NOT NULL)
                                        AND (status = 'ended') = (ended_reason IS NOT NULL)),
    CHECK (ended_at IS NULL OR ended_at >= started_at),
    CHECK (direction <> 'outbound' OR call_attempt_id IS NOT NULL)
);

CREATE INDEX ivr_executions_flow_idx ON ivr_executions (flow_id, started_at);
CREATE INDEX ivr_executions_attempt_idx ON ivr_executions (call_attempt_id) WHERE call_attempt_id IS NOT NULL;
CREATE INDEX ivr_executions_tenant_idx ON ivr_executions (tenant_id, started_at);
-- Executions left active by a crash are finalised at start-up.
CREATE INDEX ivr_executions_active_idx ON ivr_executions (started_at) WHERE status = 'active';

COMMENT ON TABLE ivr_executions IS
    'One run of a flow on a call: the revision pinned at start (or the draft for test numbers), '
    'how and where it ended.';
COMMENT ON COLUMN ivr_executions.draft IS 'Ran the draft (test numbers, simulator) instead of a revision.';

SELECT app_secure_table('ivr_executions', 'SELECT, INSERT, UPDATE', 'SELECT, INSERT, UPDATE, DELETE');

CREATE TABLE ivr_steps (
    execution_id uuid NOT NULL REFERENCES ivr_executions (id) ON DELETE CASCADE,
    seq          integer NOT NULL CHECK (seq >= 1),
    tenant_id    bigint NOT NULL REFERENCES tenants (id),
    node_id      text NOT NULL CHECK (length(node_id) BETWEEN 1 AND 64),
    node_type    text NOT NULL CHECK (node_type ~ '^[a-z_]{1,32}$'),
    event_in     text CHECK (length(event_in) <= 64),
    event_out    text CHECK (length(event_out) <= 64),
    started_at   timestamptz NOT NULL,
    ended_at     timestamptz,
    vars_delta   json_object NOT NULL DEFAULT '{}',
    detail       json_object NOT NULL DEFAULT '{}',
    PRIMARY KEY (execution_id, seq),
    CHECK (ended_at IS NULL OR ended_at >= started_at)
);

COMMENT ON TABLE ivr_steps IS 'The steps of an execution, in order; append-only.';
COMMENT ON COLUMN ivr_steps.event_in IS 'The event that entered the node (the previous node''s outcome).';
COMMENT ON COLUMN ivr_steps.event_out IS 'The outcome event the node ended with.';
COMMENT ON COLUMN ivr_steps.vars_delta IS
    'Variables the step changed, with values of masked variables (collect mask=true, secrets.*) '
    'replaced by "***" before they are written.';

SELECT app_secure_table('ivr_steps', 'SELECT, INSERT', 'SELECT, INSERT, DELETE');
