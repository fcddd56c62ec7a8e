-- The job queue. Every slow or fallible step of the bot is one row here.
--
-- Life of a row:
--   queued ──claim──▶ running ──▶ succeeded
--      ▲                 │
--      └── retry/snooze ─┤──▶ failed      (attempts used up; row and errors kept)
--          lease expired │──▶ cancelled   (permanent error, or cancelled by request)
--
-- Operators: start with the views at the bottom (queue_overview, queue_stuck, queue_failures).

CREATE TABLE jobs (
    id                bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    kind              text        NOT NULL,
    state             text        NOT NULL DEFAULT 'queued',
    priority          smallint    NOT NULL DEFAULT 0,      -- higher runs first
    attempt           smallint    NOT NULL DEFAULT 0,      -- attempts started so far (snoozes give theirs back)
    max_attempts      smallint    NOT NULL DEFAULT 5,
    snoozes           integer     NOT NULL DEFAULT 0,      -- times the job asked to run again later
    run_at            timestamptz NOT NULL DEFAULT now(),  -- not claimed before this
    payload           jsonb       NOT NULL DEFAULT '{}',
    unique_key        text,                                -- at most one unfinished job per key
    lease_owner       text,                                -- worker running it: host:pid:token
    lease_expires_at  timestamptz,                         -- renewed by the owner; past it, rescued
    stop_requested_at timestamptz,                         -- someone asked the running job to stop
    attempted_by      text[]      NOT NULL DEFAULT '{}',   -- one entry per claim, newest last
    last_error        text,
    errors            jsonb       NOT NULL DEFAULT '[]',   -- [{at, attempt, error}], one per failed attempt
    created_at        timestamptz NOT NULL DEFAULT now(),
    started_at        timestamptz,                         -- start of the latest attempt
    finished_at       timestamptz,
    CONSTRAINT state_is_known
        CHECK (state IN ('queued', 'running', 'succeeded', 'failed', 'cancelled')),
    CONSTRAINT running_iff_leased
        CHECK ((state = 'running') = (lease_owner IS NOT NULL AND lease_expires_at IS NOT NULL)),
    CONSTRAINT finished_iff_final
        CHECK ((state IN ('succeeded', 'failed', 'cancelled')) = (finished_at IS NOT NULL)),
    CONSTRAINT attempts_in_range
        CHECK (attempt >= 0 AND max_attempts >= 1),
    CONSTRAINT kind_is_named
        CHECK (kind <> '' AND length(kind) <= 100)
);

-- The claim walks this index per kind in (priority, run_at, id) order; it holds queued rows only,
-- so its size follows the backlog, never the history.
CREATE INDEX jobs_claim ON jobs (kind, priority DESC, run_at, id) WHERE state = 'queued';

-- Running rows, for lease renewal by owner and for the rescue of expired leases. lease_expires_at
-- is deliberately in no index, so the renewal every few seconds is a HOT update.
CREATE INDEX jobs_running ON jobs (lease_owner) WHERE state = 'running';

-- Retention: pruning walks finished rows oldest first.
CREATE INDEX jobs_finished ON jobs (finished_at) WHERE finished_at IS NOT NULL;

-- Deduplication: a key is taken while its job is unfinished and free again afterwards.
CREATE UNIQUE INDEX jobs_unique_unfinished ON jobs (unique_key)
    WHERE unique_key IS NOT NULL AND state IN ('queued', 'running');

-- Every job writes three row versions (insert, claim, finish); vacuum early and often so dead
-- versions never pile up at the head of jobs_claim.
ALTER TABLE jobs SET (
    fillfactor = 90,
    autovacuum_vacuum_scale_factor = 0.01,
    autovacuum_vacuum_threshold = 1000,
    autovacuum_vacuum_insert_scale_factor = 0.01,
    autovacuum_vacuum_insert_threshold = 1000,
    autovacuum_analyze_scale_factor = 0.02,
    autovacuum_vacuum_cost_delay = 0
);

-- What is waiting, running and done, per kind. oldest_due is the age of the oldest job that could
-- run now but has not been claimed: the number to watch.
CREATE VIEW queue_overview AS
SELECT kind,
       state,
       count(*) AS jobs,
       count(*) FILTER (WHERE state = 'queued' AND run_at > now()) AS scheduled,
       date_trunc('second', now() - min(run_at) FILTER (WHERE state = 'queued' AND run_at <= now()))
           AS oldest_due
FROM jobs
GROUP BY kind, state
ORDER BY kind, state;

-- Running jobs whose worker stopped renewing the lease (crashed, killed, partitioned). The rescue
-- loop puts them back in the queue within a few seconds; rows that stay here mean no worker runs.
CREATE VIEW queue_stuck AS
SELECT id, kind, attempt, max_attempts, lease_owner,
       date_trunc('second', now() - lease_expires_at) AS overdue,
       started_at, payload
FROM jobs
WHERE state = 'running' AND lease_expires_at < now()
ORDER BY lease_expires_at;

-- Jobs that failed for good, were cancelled, or are waiting to retry after an error; newest first.
CREATE VIEW queue_failures AS
SELECT id, kind, state, attempt, max_attempts,
       coalesce(finished_at, run_at) AS at,
       last_error,
       jsonb_array_length(errors) AS errors
FROM jobs
WHERE state IN ('failed', 'cancelled') OR (state = 'queued' AND last_error IS NOT NULL)
ORDER BY coalesce(finished_at, run_at) DESC;
