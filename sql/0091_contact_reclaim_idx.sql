-- 0091_contact_reclaim_idx: expired leases are leased again before the backlog.
--
-- A leased contact's next_attempt_at is its lease expiry, so ordering the
-- ready set by next_attempt_at alone put a dead node's contacts (whose lease
-- expired a moment ago) behind every contact that was already due, although
-- they were chosen as the first due when they were leased. The lease query
-- now takes expired leases first (oldest expiry first), then pending
-- contacts by due time. This index serves the first part: only leased rows
-- (a few batches per node), so the scan is short and never walks the
-- pending backlog; the second part keeps contacts_lease_idx.

CREATE INDEX contacts_reclaim_idx ON contacts (list_id, next_attempt_at)
    WHERE state = 'leased';
