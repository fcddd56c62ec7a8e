-- What /metrics reads from the database (core/metrics.py, Fleet): the truths of the whole fleet,
-- whichever process is scraped. Read at most once per METRICS_CACHE, in one read-only transaction.

-- name: metrics_generations
-- Generations by status and model, all time.
SELECT status, model, count(*)::bigint AS n FROM generations GROUP BY status, model;

-- name: metrics_credits
-- Credits moved by the ledger per reason: added (granted, sold, refunded) and taken (spent).
SELECT reason,
       coalesce(sum(delta) FILTER (WHERE delta > 0), 0)::bigint AS added,
       coalesce(-sum(delta) FILTER (WHERE delta < 0), 0)::bigint AS taken
FROM ledger
GROUP BY reason;

-- name: metrics_queue_depth
-- Queued jobs by kind, counted exactly up to $1 per kind, and the age of the oldest job that could
-- run now; then running jobs by kind. A backlog of millions must not make a scrape slow, so the
-- queued side never walks more than $1 entries of jobs_claim per kind: the distinct (kind,
-- priority) pairs are found by skipping through the index (one probe each), the oldest run_at of
-- each pair is its first entry. queued_estimate is the planner's count of the whole index
-- (kept by VACUUM), for kinds past the cap.
-- $1 cap
WITH RECURSIVE pairs AS (
    (SELECT kind, priority FROM jobs WHERE state = 'queued' ORDER BY kind, priority DESC LIMIT 1)
    UNION ALL
    SELECT next.kind, next.priority
    FROM pairs, LATERAL (
        SELECT * FROM (
            (SELECT j.kind, j.priority FROM jobs j
             WHERE j.state = 'queued' AND j.kind = pairs.kind AND j.priority < pairs.priority
             ORDER BY j.kind, j.priority DESC LIMIT 1)
            UNION ALL
            (SELECT j.kind, j.priority FROM jobs j
             WHERE j.state = 'queued' AND j.kind > pairs.kind
             ORDER BY j.kind, j.priority DESC LIMIT 1)
        ) candidates LIMIT 1
    ) next
), queued AS (
    SELECT pairs.kind,
           min((SELECT j.run_at FROM jobs j
                WHERE j.state = 'queued' AND j.kind = pairs.kind AND j.priority = pairs.priority
                ORDER BY j.run_at LIMIT 1)) AS oldest_run_at
    FROM pairs
    GROUP BY pairs.kind
)
SELECT queued.kind, 'queued' AS state,
       (SELECT count(*) FROM (SELECT 1 FROM jobs j WHERE j.state = 'queued' AND j.kind = queued.kind LIMIT $1::int) c)::bigint AS n,
       greatest(0, extract(epoch FROM now() - queued.oldest_run_at))::float8 AS oldest_due_s,
       (SELECT reltuples FROM pg_class WHERE oid = 'jobs_claim'::regclass)::float8 AS queued_estimate
FROM queued
UNION ALL
SELECT kind, 'running', count(*)::bigint, NULL::float8, NULL::float8
FROM jobs WHERE state = 'running' GROUP BY kind;

-- name: metrics_stars_revenue
-- Telegram Stars received, refunds deducted.
SELECT coalesce(sum(total_amount) FILTER (WHERE refunded_at IS NULL), 0)::bigint AS stars FROM payments;

-- name: metrics_provider_health
-- Whether each video provider is available. Needs the provider_health table (skipped while absent).
SELECT provider, available FROM provider_health;

-- name: metrics_provider_spend
-- Provider credits spent per UTC day and model (the last 2 days: today and yesterday, as recorded).
SELECT (cost_at AT TIME ZONE 'UTC')::date::text AS day, model, sum(provider_cost)::float8 AS cost
FROM generations
WHERE cost_at >= (date_trunc('day', now() AT TIME ZONE 'UTC') - interval '1 day') AT TIME ZONE 'UTC'
GROUP BY 1, 2;

-- name: metrics_stars_daily
-- Telegram Stars received per UTC day (today and yesterday), refunds deducted.
SELECT (created_at AT TIME ZONE 'UTC')::date::text AS day, sum(total_amount)::bigint AS stars
FROM payments
WHERE refunded_at IS NULL AND created_at >= (date_trunc('day', now() AT TIME ZONE 'UTC') - interval '1 day') AT TIME ZONE 'UTC'
GROUP BY 1;
