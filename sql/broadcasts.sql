-- Broadcasts: one row per broadcast, one per recipient; a recipient is claimed ('sending') before
-- the send and settled after it, so nobody is sent to twice, whatever restarts in between.

-- name: broadcast_create
-- A broadcast of message $3 in chat $2 by admin $1, with every user who has not blocked the bot and
-- is not banned as a recipient. No row: another broadcast is running (one at a time).
-- $1 admin id, $2 from chat id, $3 message id
WITH running AS (
    SELECT 1 FROM broadcasts WHERE state = 'running' FOR UPDATE
), created AS (
    INSERT INTO broadcasts (admin_id, from_chat_id, message_id)
    SELECT $1::bigint, $2::bigint, $3::bigint WHERE NOT EXISTS (SELECT 1 FROM running)
    RETURNING id
), recipients AS (
    INSERT INTO broadcast_recipients (broadcast_id, user_id)
    SELECT created.id, users.id FROM created, users WHERE users.blocked_at IS NULL AND users.banned_at IS NULL
    RETURNING 1
)
SELECT created.id, (SELECT count(*) FROM recipients) AS total FROM created;

-- name: broadcast_get
-- $1 id
SELECT id, admin_id, from_chat_id, message_id, status_message_id, state FROM broadcasts WHERE id = $1::bigint;

-- name: broadcast_running
SELECT id, admin_id, from_chat_id, message_id, status_message_id, state FROM broadcasts
WHERE state = 'running' ORDER BY id LIMIT 1;

-- name: broadcast_set_status_message
-- $1 id, $2 message id
UPDATE broadcasts SET status_message_id = $2::bigint WHERE id = $1::bigint;

-- name: broadcast_finish
-- $1 id, $2 final state (done | cancelled); no row when it had finished already.
UPDATE broadcasts SET state = $2::text, finished_at = now()
WHERE id = $1::bigint AND state = 'running'
RETURNING id;

-- name: broadcast_claim
-- The next recipient of a running broadcast, marked 'sending' (committed before the send). No row:
-- none left, or the broadcast was cancelled.
-- $1 broadcast id
UPDATE broadcast_recipients SET state = 'sending', updated_at = now()
WHERE (broadcast_id, user_id) = (
    SELECT r.broadcast_id, r.user_id
    FROM broadcast_recipients AS r JOIN broadcasts AS b ON b.id = r.broadcast_id AND b.state = 'running'
    WHERE r.broadcast_id = $1::bigint AND r.state = 'pending'
    ORDER BY r.user_id
    LIMIT 1
    FOR UPDATE OF r SKIP LOCKED
)
RETURNING user_id;

-- name: broadcast_settle
-- How the send to one recipient ended: sent | failed | blocked, or pending again (Telegram said
-- "too many requests": nothing was delivered).
-- $1 broadcast id, $2 user id, $3 state
UPDATE broadcast_recipients SET state = $3::text, updated_at = now()
WHERE broadcast_id = $1::bigint AND user_id = $2::bigint AND state = 'sending';

-- name: broadcast_counts
-- $1 broadcast id
SELECT count(*) FILTER (WHERE state = 'sent') AS sent,
       count(*) FILTER (WHERE state = 'failed') AS failed,
       count(*) FILTER (WHERE state = 'blocked') AS blocked,
       count(*) FILTER (WHERE state IN ('pending', 'sending')) AS open,
       count(*) FILTER (WHERE state = 'pending') AS pending,
       count(*) AS total
FROM broadcast_recipients WHERE broadcast_id = $1::bigint;

-- name: broadcast_fail_stale
-- Recipients left 'sending' by a process that died mid-send (older than $2 seconds): the message may
-- have gone out, so they are not sent again; they count as failed.
-- $1 broadcast id, $2 seconds
UPDATE broadcast_recipients SET state = 'failed', updated_at = now()
WHERE broadcast_id = $1::bigint AND state = 'sending' AND updated_at < now() - make_interval(secs => $2::float8);

-- name: broadcast_audience
-- How many a broadcast would reach now (its preview): the recipients broadcast_create would write.
SELECT count(*) AS total FROM users WHERE blocked_at IS NULL AND banned_at IS NULL;
