-- Telegram plumbing: updates already applied, conversation state, and shared rate limits.

-- name: update_begin
-- The first statement of every update, in its transaction: record the update_id (no row came back
-- before: it is new), refresh its user, and read what the handlers need: the user's messages in the
-- last minute (this one included, with the Mini App's actions) and the conversation state. A user who
-- writes has unblocked the bot.
-- The language is set at first contact only; /language changes it, later updates never do.
-- Button taps count with messages: a flood of taps is a flood all the same.
-- $1 update id, $2 user id (NULL: none), $3 kind, $4 username, $5 first name, $6 language code, $7 FSM key,
-- $8 catalogue language for a new user, $9 bot id (update_ids count per bot)
WITH claimed AS (
    INSERT INTO telegram_updates (bot_id, update_id, user_id, kind)
    VALUES ($9::bigint, $1::bigint, $2::bigint, $3::text)
    ON CONFLICT (bot_id, update_id) DO NOTHING
    RETURNING update_id
), person AS (
    INSERT INTO users (id, username, first_name, language_code, language)
    SELECT $2::bigint, $4::text, $5::text, $6::text, $8::text
    WHERE $2::bigint IS NOT NULL AND EXISTS (SELECT 1 FROM claimed)
      -- An inline query (typing @bot anywhere, e.g. from a shared video's "via @bot") is no first contact:
      -- it makes no row, so the /start that follows still is one (an invitation counts only then).
      AND ($3::text <> 'inline_query' OR EXISTS (SELECT 1 FROM users WHERE id = $2::bigint))
    ON CONFLICT (id) DO UPDATE
    SET username = EXCLUDED.username,
        first_name = EXCLUDED.first_name,
        language_code = EXCLUDED.language_code,
        language = coalesce(users.language, EXCLUDED.language),
        -- Inline mode works in other chats while the bot is blocked: only a private-chat update unblocks.
        blocked_at = CASE WHEN $3::text = 'inline_query' THEN users.blocked_at END,
        seen_at = now()
    RETURNING id, credits, blocked_at, language, language_code, banned_at, created_at
)
SELECT EXISTS (SELECT 1 FROM claimed) AS first,
       1 + (SELECT count(*) FROM telegram_updates  -- the statement's snapshot does not see its own insert
            WHERE user_id = $2::bigint AND kind IN ('message', 'callback_query') AND received_at > now() - interval '1 minute')
         -- and the Mini App's actions of this minute (migration 0017): one budget for both ways in
         + coalesce((SELECT actions FROM app_rates
                     WHERE user_id = $2::bigint AND window_start > now() - interval '1 minute'), 0) AS recent,
       person.id, person.credits, person.blocked_at, person.language, person.language_code, person.banned_at,
       person.created_at,
       fsm.state AS fsm_state, fsm.data AS fsm_data
FROM (SELECT 1) AS one
LEFT JOIN person ON true
LEFT JOIN fsm_states AS fsm ON fsm.key = $7::text;

-- name: update_set_outcome
-- Record how an update ended, also after its transaction was rolled back (a failed handler).
-- $1 update id, $2 user id, $3 kind, $4 outcome (handled | failed | rate_limited | banned | skipped), $5 error,
-- $6 bot id
INSERT INTO telegram_updates (bot_id, update_id, user_id, kind, outcome, error)
VALUES ($6::bigint, $1::bigint, $2::bigint, $3::text, $4::text, $5::text)
ON CONFLICT (bot_id, update_id) DO UPDATE SET outcome = EXCLUDED.outcome, error = EXCLUDED.error;

-- name: update_skip
-- Record an update aiogram cannot read as skipped, unless that update_id was seen before.
-- $1 update id, $2 kind (as Telegram named it), $3 why, $4 bot id
INSERT INTO telegram_updates (bot_id, update_id, kind, outcome, error)
VALUES ($4::bigint, $1::bigint, $2::text, 'skipped', $3::text)
ON CONFLICT (bot_id, update_id) DO NOTHING;

-- name: update_adopt
-- Updates recorded before dedupe was per bot (bot_id 0, migration 0011) become this bot's ($1), so
-- a redelivery of one of them is still recognised.
UPDATE telegram_updates SET bot_id = $1::bigint WHERE bot_id = 0;

-- name: update_prune
-- Forget updates older than $1 seconds (Telegram redelivers for 24 h at most), $2 at a time.
WITH doomed AS (
    SELECT bot_id, update_id FROM telegram_updates
    WHERE received_at < now() - make_interval(secs => $1::float8)
    LIMIT $2::int
), deleted AS (
    DELETE FROM telegram_updates USING doomed
    WHERE (telegram_updates.bot_id, telegram_updates.update_id) = (doomed.bot_id, doomed.update_id) RETURNING 1
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
-- Take a slot of bucket $1 (at most $2 per $3 seconds), under rate_lock. Returns wait_s, 0 when taken,
-- else the seconds until the oldest slot in the window frees up, and the slot's taken_at (for
-- rate_settle). Old slots are swept on the way.
WITH recent AS (
    SELECT count(*) AS taken, min(taken_at) AS oldest
    FROM rate_slots
    WHERE bucket = $1::text AND taken_at > clock_timestamp() - make_interval(secs => $3::float8)
), took AS (
    INSERT INTO rate_slots (bucket, taken_at)
    SELECT $1::text, clock_timestamp() FROM recent WHERE recent.taken < $2::int
    RETURNING taken_at
), swept AS (
    DELETE FROM rate_slots
    WHERE bucket = $1::text AND taken_at < clock_timestamp() - make_interval(secs => $3::float8)
)
SELECT CASE WHEN recent.taken < $2::int THEN 0.0
            ELSE greatest(0.05, extract(epoch FROM recent.oldest + make_interval(secs => $3::float8)
                                                   - clock_timestamp())::float8)
       END AS wait_s,
       (SELECT taken_at FROM took) AS taken_at
FROM recent;

-- name: send_lease
-- Lease up to $3 slots of bucket $1's window $2, which holds at most $4, after counting $5 messages
-- already sent without asking (replies). One upsert: the row lock lasts only this statement.
-- Returns the slots granted (0: the window is full).
INSERT INTO send_windows AS w (bucket, window_no, taken, last_grant)
SELECT $1::text, $2::bigint, $5::int + g.grant, g.grant
FROM (SELECT LEAST($3::int, GREATEST(0, $4::int - $5::int)) AS grant) AS g
ON CONFLICT (bucket, window_no) DO UPDATE
SET last_grant = LEAST($3::int, GREATEST(0, $4::int - w.taken - $5::int)),
    taken = w.taken + $5::int + LEAST($3::int, GREATEST(0, $4::int - w.taken - $5::int))
RETURNING last_grant;

-- name: send_windows_prune
-- Forget windows of bucket $1 older than window $2.
DELETE FROM send_windows WHERE bucket = $1::text AND window_no < $2::bigint;

-- name: rate_settle
-- The request a slot was taken for has been answered: the slot now counts from this moment, which is
-- after the remote service counted the request (taking it is before, by however long the request took
-- to get there; a remote limit counting arrivals would see 21 in its window otherwise).
-- $1 bucket, $2 the slot's taken_at as rate_take returned it
UPDATE rate_slots SET taken_at = clock_timestamp()
WHERE bucket = $1::text AND taken_at = $2::timestamptz;

-- name: bot_secret_get
-- The webhook secret stored for bot $1 (migration 0018), if any.
SELECT webhook_secret FROM bot_secrets WHERE bot_id = $1::bigint;

-- name: bot_secret_insert
-- Store $2 as bot $1's webhook secret unless one is stored already: the first process to start wins,
-- the others get no row and read the winner's with bot_secret_get (a fresh statement, so it sees the
-- row a concurrent insert committed after this statement began).
INSERT INTO bot_secrets (bot_id, webhook_secret) VALUES ($1::bigint, $2::text)
ON CONFLICT (bot_id) DO NOTHING
RETURNING webhook_secret;
