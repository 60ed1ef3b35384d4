-- 0070_attempt_not_dialed: an attempt row whose originate Asterisk refused
-- before any channel existed (503, or a 5xx answered when the channel id was
-- then checked and not found, or no server able to take the call). Nothing
-- rang, so it is not an attempt of the contact: the row stays as the record
-- of what was tried (outcome 'not_dialed', state 'failed'), the contact's
-- attempt count is given back, and the next attempt reuses the number.
-- So the uniqueness of (contact_id, attempt_no) holds for the attempts that
-- were dialed (or may have been), not for these.

ALTER TABLE call_attempts DROP CONSTRAINT call_attempts_outcome_check;
ALTER TABLE call_attempts
    ADD CONSTRAINT call_attempts_outcome_check
        CHECK (outcome IN ('human', 'machine', 'busy', 'no_answer', 'rejected', 'congestion',
                           'unreachable', 'failed', 'cancelled', 'abandoned', 'lost',
                           'not_dialed'));

ALTER TABLE call_attempts DROP CONSTRAINT call_attempts_contact_attempt_key;
-- The same attempt of a contact is never written (so never dialed) twice.
CREATE UNIQUE INDEX call_attempts_contact_attempt_key ON call_attempts (contact_id, attempt_no)
    WHERE outcome IS DISTINCT FROM 'not_dialed';

COMMENT ON COLUMN call_attempts.outcome IS
    'System outcome that drives retries; not_dialed: the originate was refused before any '
    'channel existed (not counted as an attempt of the contact).';
