-- Telegram plumbing: updates already applied, conversation state, and shared rate limits.

-- name: update_claim
-- Record an update as applied, in the transaction that applies it. No row: it was applied before
-- (a redelivery), and the caller skips it.
-- $1 update id, $2 user id, $3 kind
INSERT INTO telegram_updates (update_id, user_id, kind)
VALUES ($1::bigint, $2::bigint, $3::text)
ON CONFLICT (update_id) DO NOTHING
RETURNING update_id;

-- name: update_set_outcome
-- Record how an update ended, also after its transaction was rolled back (a failed handler).
-- $1 update id, $2 user id, $3 kind, $4 outcome (handled | failed | rate_limited), $5 error
INSERT INTO telegram_updates (update_id, user_id, kind, outcome, error)
VALUES ($1::bigint, $2::bigint, $3::text, $4::text, $5::text)
ON CONFLICT (update_id) DO UPDATE SET outcome = EXCLUDED.outcome, error = EXCLUDED.error;

-- name: update_count_recent_messages
-- Messages from user $1 in the last minute (this one included).
SELECT count(*) FROM telegram_updates
WHERE user_id = $1::bigint AND kind = 'message' AND received_at > now() - interval '1 minute';

-- name: update_prune
-- Forget updates older than $1 seconds (Telegram redelivers for 24 h at most), $2 at a time.
WITH doomed AS (
    SELECT update_id FROM telegram_updates
    WHERE received_at < now() - make_interval(secs => $1::float8)
    LIMIT $2::int
), deleted AS (
    DELETE FROM telegram_updates USING doomed WHERE telegram_updates.update_id = doomed.update_id RETURNING 1
)
SELECT count(*) FROM deleted;

-- name: fsm_get
-- $1 key
SELECT state, data FROM fsm_states WHERE key = $1::text;

-- name: fsm_set_state
-- $1 key, $2 state (NULL clears it)
INSERT INTO fsm_states (key, state) VALUES ($1::text, $2::text)
ON CONFLICT (key) DO UPDATE SET state = EXCLUDED.state, updated_at = now();

-- name: fsm_set_data
-- $1 key, $2 data
INSERT INTO fsm_states (key, data) VALUES ($1::text, $2::jsonb)
ON CONFLICT (key) DO UPDATE SET data = EXCLUDED.data, updated_at = now();

-- name: rate_lock
-- Serialise takers of bucket $1 across processes until the transaction ends.
SELECT pg_advisory_xact_lock(hashtext('rate:' || $1::text));

-- name: rate_take
-- Take a slot of bucket $1 (at most $2 per $3 seconds), under rate_lock. Returns 0 when taken, else
-- the seconds until the oldest slot in the window frees up. Old slots are swept on the way.
WITH recent AS (
    SELECT count(*) AS taken, min(taken_at) AS oldest
    FROM rate_slots
    WHERE bucket = $1::text AND taken_at > clock_timestamp() - make_interval(secs => $3::float8)
), took AS (
    INSERT INTO rate_slots (bucket, taken_at)
    SELECT $1::text, clock_timestamp() FROM recent WHERE recent.taken < $2::int
    RETURNING 1
), swept AS (
    DELETE FROM rate_slots
    WHERE bucket = $1::text AND taken_at < clock_timestamp() - make_interval(secs => $3::float8)
)
SELECT CASE WHEN recent.taken < $2::int THEN 0.0
            ELSE greatest(0.05, extract(epoch FROM recent.oldest + make_interval(secs => $3::float8)
                                                   - clock_timestamp())::float8)
       END AS wait_s
FROM recent;
