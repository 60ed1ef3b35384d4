-- 0005_contacts: the people a campaign calls, with their dialing state and
-- the lease that hands each one to exactly one dialerd node.
--
-- Lease protocol (docs/schema.md has the query): a node takes ready contacts
-- of one list with FOR UPDATE SKIP LOCKED ordered by next_attempt_at and sets
-- state = 'leased', lease_owner, and lease_expires_at = next_attempt_at =
-- now() + lease time. Because a leased contact's next_attempt_at is its lease
-- expiry, "pending and due, or leased and expired" is the single range
-- condition state IN ('pending', 'leased') AND next_attempt_at <= now(),
-- which the partial index contacts_lease_idx serves in order.

CREATE TABLE contacts (
    id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tenant_id        bigint NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    list_id          bigint NOT NULL,
    number           e164 NOT NULL,
    extension        text CHECK (extension ~ '^[0-9*#]{1,16}$'),
    alt_numbers      e164[] NOT NULL DEFAULT '{}'
                         CHECK (cardinality(alt_numbers) <= 9 AND array_position(alt_numbers, NULL) IS NULL),
    external_id      text CHECK (length(external_id) BETWEEN 1 AND 200),
    country          text CHECK (country ~ '^[A-Z]{2}$'),
    region           text CHECK (region ~ '^[A-Z]{2}-[A-Z0-9]{1,3}$'),
    postal_code      text CHECK (length(postal_code) <= 16),
    time_zones       text[] NOT NULL DEFAULT '{}'
                         CHECK (array_to_string(time_zones, ',') ~ '^([A-Za-z0-9_+/-]+(,[A-Za-z0-9_+/-]+)*)?$'
                                AND array_position(time_zones, NULL) IS NULL),
    tz_source        text CHECK (tz_source IN ('explicit', 'postal_code', 'npa_nxx', 'npa', 'country',
                                               'default')),
    custom           json_object NOT NULL DEFAULT '{}',
    state            text NOT NULL DEFAULT 'pending'
                         CHECK (state IN ('pending', 'leased', 'dialing', 'done', 'failed', 'dnc',
                                          'excluded')),
    attempts         integer NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    next_attempt_at  timestamptz NOT NULL DEFAULT now(),
    last_attempt_at  timestamptz,
    last_outcome     text,
    last_disposition text,
    block_reason     text,
    callback_at      timestamptz,
    lease_owner      text CHECK (length(lease_owner) BETWEEN 1 AND 128),
    lease_expires_at timestamptz,
    created_at       timestamptz NOT NULL DEFAULT now(),
    -- One E.164 number per list: dedupe at import, and the natural key.
    CONSTRAINT contacts_list_number_key UNIQUE (list_id, number),
    FOREIGN KEY (tenant_id, list_id) REFERENCES contact_lists (tenant_id, id) ON DELETE CASCADE,
    -- A held contact names its holder; a free one has no lease.
    CONSTRAINT contacts_lease_held CHECK (
        (state IN ('leased', 'dialing')) = (lease_owner IS NOT NULL AND lease_expires_at IS NOT NULL)),
    CONSTRAINT contacts_lease_no_stray CHECK (
        state IN ('leased', 'dialing') OR (lease_owner IS NULL AND lease_expires_at IS NULL)),
    -- What makes an expired lease due again without a second index.
    CONSTRAINT contacts_lease_due_at_expiry CHECK (state <> 'leased' OR next_attempt_at = lease_expires_at)
);

-- Serves the lease query: one list, ready states, oldest due first.
CREATE INDEX contacts_lease_idx ON contacts (list_id, next_attempt_at)
    WHERE state IN ('pending', 'leased');
-- An upsert key for CRM-fed lists.
CREATE UNIQUE INDEX contacts_list_external_id_key ON contacts (list_id, external_id)
    WHERE external_id IS NOT NULL;

COMMENT ON TABLE contacts IS
    'Contacts of a list with their dialing state. Leased in batches by the scheduler; '
    'see the lease protocol in docs/schema.md.';
COMMENT ON COLUMN contacts.number IS 'The main number, E.164.';
COMMENT ON COLUMN contacts.extension IS 'Digits sent as DTMF after the call is answered.';
COMMENT ON COLUMN contacts.alt_numbers IS 'Alternate numbers, tried by the retry policy after number.';
COMMENT ON COLUMN contacts.region IS 'Derived state/province (ISO 3166-2, e.g. US-FL): selects state rules.';
COMMENT ON COLUMN contacts.time_zones IS
    'IANA zones the contact may be in; a calling window must hold in all of them.';
COMMENT ON COLUMN contacts.tz_source IS 'Where time_zones came from, weakest last (for the compliance trace).';
COMMENT ON COLUMN contacts.custom IS 'The list''s custom columns, by name (flow variables contact.*).';
COMMENT ON COLUMN contacts.state IS
    'pending: waits for next_attempt_at; leased: held by lease_owner until lease_expires_at; '
    'dialing: an attempt is in flight (never reclaimed by lease expiry: reconciled from call_attempts); '
    'done, failed, dnc, excluded: final.';
COMMENT ON COLUMN contacts.next_attempt_at IS
    'When the contact is next due. For a leased contact it equals lease_expires_at.';
COMMENT ON COLUMN contacts.block_reason IS
    'Why the last lease did not dial (window, DNC, cap...); the full trace is in compliance_decisions.';
COMMENT ON COLUMN contacts.callback_at IS 'A requested callback time; next_attempt_at is set to it.';

SELECT app_secure_table('contacts', 'SELECT, INSERT, UPDATE, DELETE', 'SELECT, INSERT, UPDATE, DELETE');
