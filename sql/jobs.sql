-- Job queue statements. db/jobs.py runs each by its name; parameters are positional and listed
-- under each name. Channels: reelsmith_jobs (new work is due), reelsmith_job_stop (payload: job id).

-- name: job_enqueue
-- Insert jobs in the caller's transaction and wake the listeners once (one pg_notify per statement,
-- and Postgres folds identical notifications of a transaction into one). A unique_key still held
-- by an unfinished job skips that row: the rows returned, in input order, are the jobs created.
-- $1 kinds text[], $2 payloads jsonb[], $3 priorities int[], $4 run_at timestamptz[] (NULL = now),
-- $5 max_attempts int[], $6 unique_keys text[]
WITH inserted AS (
    INSERT INTO jobs (kind, payload, priority, run_at, max_attempts, unique_key)
    SELECT kind, payload, priority, coalesce(run_at, now()), max_attempts, unique_key
    FROM unnest($1::text[], $2::jsonb[], $3::int[], $4::timestamptz[], $5::int[], $6::text[])
        AS j(kind, payload, priority, run_at, max_attempts, unique_key)
    ON CONFLICT (unique_key) WHERE unique_key IS NOT NULL AND state IN ('queued', 'running')
    DO NOTHING
    RETURNING id, run_at, unique_key
), wake AS (
    SELECT pg_notify('reelsmith_jobs', '') WHERE EXISTS (SELECT 1 FROM inserted WHERE run_at <= now())
)
SELECT inserted.id, inserted.unique_key FROM inserted LEFT JOIN wake ON true ORDER BY inserted.id;

-- name: job_claim
-- Claim up to $3 due jobs for worker $4: at most $2[i] of kind $1[i], best priority first, and
-- lease them for $5 seconds. The MATERIALIZED CTE keeps the locking subqueries evaluated once.
-- $1 kinds text[], $2 per-kind caps int[], $3 total limit, $4 owner, $5 lease seconds
WITH picked AS MATERIALIZED (
    SELECT candidate.id
    FROM unnest($1::text[], $2::int[]) AS wanted(kind, cap)
    CROSS JOIN LATERAL (
        SELECT id, priority, run_at
        FROM jobs
        WHERE state = 'queued' AND kind = wanted.kind AND run_at <= now()
        ORDER BY priority DESC, run_at, id
        LIMIT wanted.cap
        FOR UPDATE SKIP LOCKED
    ) AS candidate
    ORDER BY candidate.priority DESC, candidate.run_at, candidate.id
    LIMIT $3::int
)
UPDATE jobs
SET state = 'running',
    attempt = jobs.attempt + 1,
    started_at = now(),
    lease_owner = $4::text,
    lease_expires_at = now() + make_interval(secs => $5::float8),
    attempted_by = jobs.attempted_by[greatest(1, cardinality(jobs.attempted_by) - 8):] || $4::text
FROM picked
WHERE jobs.id = picked.id
RETURNING jobs.id, jobs.kind, jobs.payload, jobs.priority, jobs.attempt, jobs.max_attempts,
          jobs.snoozes, jobs.run_at, jobs.created_at;

-- name: job_finish
-- Write the outcomes core/queue/outcomes.py decided, for jobs worker $1 still holds. A job whose
-- lease was lost meanwhile (rescued, finished elsewhere) is left alone and missing from the result.
-- Jobs handed back due now (shutdown) wake the listeners, so another worker takes them at once;
-- due_in (seconds, by the database's clock) tells this worker when its re-queued jobs fall due.
-- $1 owner, $2 ids bigint[], $3 states text[], $4 delays float8[] (seconds until run_at; NULL keeps it),
-- $5 errors text[] (NULL = none), $6 attempt refunds int[] (1 gives the attempt back), $7 snoozed int[]
WITH finished AS (
    UPDATE jobs
    SET state = o.state,
        attempt = jobs.attempt - o.refund,
        snoozes = jobs.snoozes + o.snoozed,
        run_at = CASE WHEN o.delay IS NULL THEN jobs.run_at ELSE now() + make_interval(secs => o.delay) END,
        last_error = coalesce(o.error, jobs.last_error),
        errors = CASE WHEN o.error IS NULL THEN jobs.errors
                      ELSE jobs.errors || jsonb_build_array(jsonb_build_object(
                          'at', now(), 'attempt', jobs.attempt, 'error', o.error))
                 END,
        lease_owner = NULL,
        lease_expires_at = NULL,
        stop_requested_at = NULL,
        finished_at = CASE WHEN o.state IN ('succeeded', 'failed', 'cancelled') THEN now() END
    FROM unnest($2::bigint[], $3::text[], $4::float8[], $5::text[], $6::int[], $7::int[])
        AS o(id, state, delay, error, refund, snoozed)
    WHERE jobs.id = o.id AND jobs.state = 'running' AND jobs.lease_owner = $1::text
    RETURNING jobs.id, jobs.state, jobs.run_at
), wake AS (
    SELECT pg_notify('reelsmith_jobs', '')
    WHERE EXISTS (SELECT 1 FROM finished WHERE state = 'queued' AND run_at <= now())
)
SELECT finished.id,
       CASE WHEN finished.state = 'queued' THEN extract(epoch FROM finished.run_at - now())::float8 END AS due_in
FROM finished LEFT JOIN wake ON true;

-- name: job_renew_leases
-- Extend the leases of every job worker $1 runs. Returns them, flagging those asked to stop.
-- $1 owner, $2 lease seconds
UPDATE jobs
SET lease_expires_at = now() + make_interval(secs => $2::float8)
WHERE state = 'running' AND lease_owner = $1::text
RETURNING id, stop_requested_at IS NOT NULL AS stop_requested;

-- name: job_rescue_expired
-- Put back running jobs whose worker stopped renewing the lease; the crash costs an attempt, and a
-- job out of attempts fails. The outer WHERE re-checks the lease, so a job that finished or was
-- renewed after the scan is never overwritten.
-- $1 batch size
WITH expired AS MATERIALIZED (
    SELECT id
    FROM jobs
    WHERE state = 'running' AND lease_expires_at < now()
    ORDER BY lease_expires_at
    LIMIT $1::int
    FOR UPDATE SKIP LOCKED
), rescued AS (
    UPDATE jobs
    SET state = CASE WHEN jobs.attempt >= jobs.max_attempts THEN 'failed' ELSE 'queued' END,
        run_at = now(),
        finished_at = CASE WHEN jobs.attempt >= jobs.max_attempts THEN now() END,
        last_error = 'lease expired: worker ' || jobs.lease_owner || ' stopped renewing it (crashed or lost)',
        errors = jobs.errors || jsonb_build_array(jsonb_build_object(
            'at', now(), 'attempt', jobs.attempt,
            'error', 'lease expired: worker ' || jobs.lease_owner || ' stopped renewing it (crashed or lost)')),
        lease_owner = NULL,
        lease_expires_at = NULL,
        stop_requested_at = NULL
    FROM expired
    WHERE jobs.id = expired.id AND jobs.state = 'running' AND jobs.lease_expires_at < now()
    RETURNING jobs.id, jobs.kind, jobs.attempt, jobs.state, jobs.last_error
), wake AS (
    SELECT pg_notify('reelsmith_jobs', '') WHERE EXISTS (SELECT 1 FROM rescued WHERE state = 'queued')
)
SELECT rescued.* FROM rescued LEFT JOIN wake ON true;

-- name: job_prune
-- Delete up to $3 finished rows past their retention: failed rows after $2 seconds, succeeded and
-- cancelled rows after $1. Returns how many went.
-- $1 keep seconds (succeeded, cancelled), $2 keep seconds (failed), $3 batch size
WITH doomed AS MATERIALIZED (
    SELECT id
    FROM jobs
    WHERE finished_at < now() - make_interval(secs => least($1::float8, $2::float8))
      AND finished_at < now() - make_interval(secs => CASE WHEN state = 'failed' THEN $2::float8 ELSE $1::float8 END)
    ORDER BY finished_at
    LIMIT $3::int
    FOR UPDATE SKIP LOCKED
), deleted AS (
    DELETE FROM jobs USING doomed WHERE jobs.id = doomed.id RETURNING 1
)
SELECT count(*) AS pruned FROM deleted;

-- name: job_cancel
-- Cancel job $1 for reason $2: a queued job is cancelled at once; a running one is asked to stop,
-- and its worker (woken by reelsmith_job_stop) cancels the handler. Returns the job's state, or
-- nothing when it had already finished.
-- $1 id, $2 reason
WITH target AS (
    UPDATE jobs
    SET state = CASE WHEN state = 'queued' THEN 'cancelled' ELSE state END,
        finished_at = CASE WHEN state = 'queued' THEN now() END,
        stop_requested_at = CASE WHEN state = 'running' THEN now() END,
        last_error = CASE WHEN state = 'queued' THEN 'cancelled: ' || $2::text ELSE last_error END
    WHERE id = $1::bigint AND state IN ('queued', 'running')
    RETURNING id, state
), wake AS (
    SELECT pg_notify('reelsmith_job_stop', target.id::text) FROM target WHERE target.state = 'running'
)
SELECT target.state FROM target LEFT JOIN wake ON true;

-- name: job_dead_rows
-- Dead row versions in the jobs table, as the statistics system last counted them.
SELECT coalesce((SELECT n_dead_tup FROM pg_stat_user_tables WHERE relid = 'jobs'::regclass), 0) AS dead_rows;

-- name: job_vacuum
-- Every claim, retry and finish leaves a dead row version, and dead entries at the head of
-- jobs_claim make every later claim walk past them. Autovacuum wakes up once a minute at best (and
-- may be off), so a busy queue vacuums its own table. SKIP_LOCKED: if another process is already
-- vacuuming it, do nothing.
VACUUM (SKIP_LOCKED) jobs;

-- name: job_wake
-- Make a queued job with unique key $1 due now (e.g. the poll of a render whose callback arrived)
-- and wake the workers. No row: there is no such queued job (it is running or done).
WITH woken AS (
    UPDATE jobs SET run_at = now()
    WHERE unique_key = $1::text AND state = 'queued' AND run_at > now()
    RETURNING id
), wake AS (
    SELECT pg_notify('reelsmith_jobs', '') WHERE EXISTS (SELECT 1 FROM woken)
)
SELECT woken.id FROM woken LEFT JOIN wake ON true;

-- name: job_reschedule
-- Move the queued job with unique key $1 to run at $2 (e.g. a watchdog to the deadline that is known
-- only later). No row: no such queued job.
UPDATE jobs SET run_at = $2::timestamptz
WHERE unique_key = $1::text AND state = 'queued'
RETURNING id;

-- name: job_wake_kind
-- Make every queued job of kind $1 due now and wake the workers (e.g. submits that waited for a
-- provider that is back). Returns how many.
WITH woken AS (
    UPDATE jobs SET run_at = now()
    WHERE kind = $1::text AND state = 'queued' AND run_at > now()
    RETURNING id
), wake AS (
    SELECT pg_notify('reelsmith_jobs', '') WHERE EXISTS (SELECT 1 FROM woken)
)
SELECT count(*) FROM woken LEFT JOIN wake ON true;

-- name: job_in_flight
-- Whether the job holding this key runs now in a live process (its lease not expired): a create in
-- flight whose answer may still come. $1 unique key
SELECT EXISTS (
    SELECT 1 FROM jobs
    WHERE unique_key = $1::text AND state = 'running' AND lease_expires_at > now()
);
