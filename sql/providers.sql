-- Provider health (core/pipeline/health.py), shared by every process: one row per provider.

-- name: provider_health_ensure
-- $1 provider
INSERT INTO provider_health (provider) VALUES ($1::text) ON CONFLICT (provider) DO NOTHING;

-- name: provider_health_get
-- $1 provider
SELECT provider, available, account_problem, failures, reason, since, balance, balance_at
FROM provider_health WHERE provider = $1::text;

-- name: provider_failed
-- One more retryable failure. At $2 in a row (whichever processes saw them) the provider becomes
-- unavailable; went_down is true for the one call that made it so (it alerts and starts the probe).
-- $1 provider, $2 threshold, $3 reason
WITH old AS (SELECT available FROM provider_health WHERE provider = $1::text FOR UPDATE)
UPDATE provider_health AS h
SET failures = h.failures + 1,
    available = h.available AND h.failures + 1 < $2::int,
    since = CASE WHEN h.available AND h.failures + 1 >= $2::int THEN now() ELSE h.since END,
    reason = CASE WHEN h.available AND h.failures + 1 >= $2::int THEN $3::text ELSE h.reason END
FROM old
WHERE h.provider = $1::text
RETURNING old.available AND NOT h.available AS went_down, h.failures;

-- name: provider_account_problem
-- The key, the credit or a quota: unavailable at once, and new confirms are refused (not charged).
-- $1 provider, $2 reason
WITH old AS (SELECT available, account_problem FROM provider_health WHERE provider = $1::text FOR UPDATE)
UPDATE provider_health AS h
SET available = false,
    account_problem = true,
    since = CASE WHEN h.available THEN now() ELSE h.since END,
    reason = $2::text
FROM old
WHERE h.provider = $1::text
RETURNING NOT old.account_problem AS went_down;

-- name: provider_succeeded
-- A call succeeded: the run of failures is over and an unavailable provider is available again.
-- down_s: how long it was down (NULL when it was not), for the one call that brought it back.
-- $1 provider
WITH old AS (SELECT available, since FROM provider_health WHERE provider = $1::text FOR UPDATE)
UPDATE provider_health AS h
SET failures = 0,
    available = true,
    account_problem = false,
    reason = CASE WHEN old.available THEN h.reason END,
    since = CASE WHEN old.available THEN h.since ELSE now() END
FROM old
WHERE h.provider = $1::text AND (h.failures <> 0 OR NOT h.available)
RETURNING CASE WHEN old.available THEN NULL ELSE extract(epoch FROM now() - old.since)::float8 END AS down_s;

-- name: provider_balance_seen
-- $1 provider, $2 balance
UPDATE provider_health SET balance = $2::float8, balance_at = now() WHERE provider = $1::text;

-- name: provider_claim_low_balance_alert
-- The right to tell the admins the balance is low: at most once per $2 seconds. $1 provider
UPDATE provider_health SET low_alerted_at = now()
WHERE provider = $1::text AND (low_alerted_at IS NULL OR low_alerted_at < now() - make_interval(secs => $2::float8))
RETURNING provider;
