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
-- Unfinished jobs by kind and state, and for queued ones the age of the oldest that could run now.
-- Each half walks a partial index (jobs_claim, jobs_running) that holds unfinished rows only, so
-- the cost follows the backlog, never the history of finished jobs.
SELECT kind, 'queued' AS state, count(*)::bigint AS n,
       extract(epoch FROM now() - min(run_at) FILTER (WHERE run_at <= now()))::float8 AS oldest_due_s
FROM jobs WHERE state = 'queued' GROUP BY kind
UNION ALL
SELECT kind, 'running', count(*)::bigint, NULL::float8
FROM jobs WHERE state = 'running' GROUP BY kind;

-- name: metrics_tables_present
-- Which of the tables other parts of the system add exist yet (payments, provider_health).
SELECT array_remove(ARRAY[
    CASE WHEN to_regclass('payments') IS NOT NULL THEN 'payments' END,
    CASE WHEN to_regclass('provider_health') IS NOT NULL THEN 'provider_health' END
], NULL) AS present;

-- name: metrics_stars_revenue
-- Telegram Stars received, refunds deducted. Needs the payments table (skipped while it is absent).
SELECT coalesce(sum(total_amount) FILTER (WHERE refunded_at IS NULL), 0)::bigint AS stars FROM payments;

-- name: metrics_provider_health
-- Whether each video provider is available. Needs the provider_health table (skipped while absent).
SELECT provider, available FROM provider_health;
