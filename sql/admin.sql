-- What the admin commands read and do (/stats, /user, /gen, /job, /retry). Reads only, except
-- admin_job_retry.

-- name: admin_stats_users
SELECT count(*) AS total,
       count(*) FILTER (WHERE created_at >= date_trunc('day', now())) AS today,
       count(*) FILTER (WHERE seen_at > now() - interval '7 days') AS active
FROM users;

-- name: admin_stats_generations
-- Confirmed generations by status: today and in total.
SELECT status,
       count(*) FILTER (WHERE confirmed_at >= date_trunc('day', now())) AS today,
       count(*) AS total
FROM generations
WHERE confirmed_at IS NOT NULL
GROUP BY status
ORDER BY status;

-- name: admin_stats_durations
-- Seconds from confirmation to the delivered video, over finished videos.
SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM finished_at - confirmed_at)) AS median_s,
       percentile_cont(0.95) WITHIN GROUP (ORDER BY extract(epoch FROM finished_at - confirmed_at)) AS p95_s
FROM generations
WHERE status = 'done' AND finished_at IS NOT NULL;

-- name: admin_stats_money
-- Credits sold (purchases), spent (charges less their refunds), taken back by Stars refunds;
-- Stars received for payments not refunded, in total and today.
SELECT coalesce(sum(delta) FILTER (WHERE reason = 'purchase'), 0) AS sold,
       coalesce(-sum(delta) FILTER (WHERE reason IN ('generation', 'refund')), 0) AS spent,
       coalesce(-sum(delta) FILTER (WHERE reason = 'purchase_refund'), 0) AS refunded,
       (SELECT coalesce(sum(total_amount), 0) FROM payments WHERE refunded_at IS NULL) AS stars,
       (SELECT coalesce(sum(total_amount), 0) FROM payments
        WHERE refunded_at IS NULL AND created_at >= date_trunc('day', now())) AS stars_today
FROM ledger;

-- name: admin_stats_queue
-- Jobs waiting or running, by kind.
SELECT kind, count(*) AS depth FROM jobs WHERE state IN ('queued', 'running') GROUP BY kind ORDER BY kind;

-- name: admin_stats_daily
-- The last $1 days, oldest first: confirmed generations and Stars received per day.
WITH days AS (
    SELECT generate_series(date_trunc('day', now()) - make_interval(days => $1::int - 1),
                           date_trunc('day', now()), interval '1 day') AS day
)
SELECT days.day::date AS day,
       (SELECT count(*) FROM generations
        WHERE confirmed_at >= days.day AND confirmed_at < days.day + interval '1 day') AS generations,
       (SELECT coalesce(sum(total_amount), 0) FROM payments
        WHERE created_at >= days.day AND created_at < days.day + interval '1 day' AND refunded_at IS NULL) AS stars
FROM days
ORDER BY days.day;

-- name: admin_recent_generations
-- $1 user id, $2 how many
SELECT id, status, model, price, created_at, error FROM generations
WHERE user_id = $1::bigint AND status <> 'draft'
ORDER BY id DESC LIMIT $2::int;

-- name: admin_generation_jobs
-- $1 generation id
SELECT id, kind, state, attempt, max_attempts, last_error FROM jobs
WHERE payload->>'generation_id' = $1::bigint::text
ORDER BY id;

-- name: admin_job_get
-- $1 job id
SELECT id, kind, state, attempt, max_attempts, run_at, payload, last_error FROM jobs WHERE id = $1::bigint;

-- name: admin_job_retry
-- Queue a failed job again, due now, with one more attempt; its errors are kept. Returns the job's
-- state before: 'failed' when it was retried, anything else when it was left alone.
-- $1 job id
WITH before AS (
    SELECT id, state FROM jobs WHERE id = $1::bigint FOR UPDATE
), retried AS (
    UPDATE jobs
    SET state = 'queued', run_at = now(), finished_at = NULL, max_attempts = greatest(max_attempts, attempt + 1)
    FROM before
    WHERE jobs.id = before.id AND before.state = 'failed'
    RETURNING jobs.id
), wake AS (
    SELECT pg_notify('reelsmith_jobs', '') WHERE EXISTS (SELECT 1 FROM retried)
)
SELECT before.state FROM before LEFT JOIN wake ON true;

-- name: admin_stats_spend
-- Provider spend (credits, as recorded per generation) against Stars received, per UTC day and model,
-- the last $1 days, newest first. A day with Stars and no spend has model NULL.
WITH spend AS (
    SELECT (cost_at AT TIME ZONE 'UTC')::date AS day, model, sum(provider_cost)::float8 AS cost, count(*) AS videos
    FROM generations
    WHERE cost_at >= (date_trunc('day', now() AT TIME ZONE 'UTC') - make_interval(days => $1::int - 1)) AT TIME ZONE 'UTC'
    GROUP BY 1, 2
), stars AS (
    SELECT (created_at AT TIME ZONE 'UTC')::date AS day, sum(total_amount)::bigint AS stars
    FROM payments
    WHERE refunded_at IS NULL
      AND created_at >= (date_trunc('day', now() AT TIME ZONE 'UTC') - make_interval(days => $1::int - 1)) AT TIME ZONE 'UTC'
    GROUP BY 1
)
SELECT coalesce(spend.day, stars.day) AS day, spend.model, coalesce(spend.cost, 0)::float8 AS cost,
       coalesce(spend.videos, 0) AS videos, coalesce(stars.stars, 0) AS stars
FROM spend FULL JOIN stars ON spend.day = stars.day
ORDER BY 1 DESC, 2;
