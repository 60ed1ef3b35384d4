-- 0090_attempt_process: which dialerd process holds an unfinished attempt.
--
-- dialer_node says which node wrote the attempt (reports, call-log repair);
-- dialer_process is the process that watches it until it ends: written as
-- "<node id>/<incarnation>" (the field under which the process books its
-- channels in Redis) by attempt_begin, and changed when another process
-- adopts the attempt: a surviving node taking over a dead process's calls,
-- or the node's own next process after a restart. The change is an UPDATE
-- guarded by the current holder and ended_at IS NULL, so an attempt is
-- adopted by exactly one process (the row lock decides between two that try
-- at once). NULL on rows written before this migration: the node's next
-- process takes them, as before.

ALTER TABLE call_attempts
    ADD COLUMN dialer_process text CHECK (length(dialer_process) BETWEEN 1 AND 200);

-- Adoption of a dead process's attempts: its unfinished rows by holder.
CREATE INDEX call_attempts_process_idx ON call_attempts (dialer_process)
    WHERE ended_at IS NULL;

COMMENT ON COLUMN call_attempts.dialer_process IS
    'The dialerd process ("<node>/<incarnation>") that holds the unfinished attempt: the writer, '
    'or the process that adopted it after the writer died (docs/dialer.md section 2a).';
