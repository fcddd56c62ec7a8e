-- The Mini App's API (core/web/miniapp): who is asking, their budget, their videos.

-- name: app_begin
-- The first statement of every API request: the user's row (created at first contact, as an
-- update's first statement creates it; no starter credits, those come with /start) and a slot of
-- their budget for this minute. Returns the row, the reads and actions counted in this minute (this
-- one included), the chat's messages of the last minute (for an action) and the seconds left in it.
-- $1 user id, $2 username, $3 first name, $4 language code, $5 catalogue language for a new user,
-- $6 an action (POST, DELETE) rather than a read
WITH person AS (
    INSERT INTO users (id, username, first_name, language_code, language)
    VALUES ($1::bigint, $2::text, $3::text, $4::text, $5::text)
    ON CONFLICT (id) DO NOTHING
    RETURNING id, credits, blocked_at, language, language_code, banned_at, created_at
), slot AS (
    INSERT INTO app_rates AS r (user_id, window_start, reads, actions)
    VALUES ($1::bigint, date_trunc('minute', now()), CASE WHEN $6::boolean THEN 0 ELSE 1 END,
            CASE WHEN $6::boolean THEN 1 ELSE 0 END)
    ON CONFLICT (user_id) DO UPDATE
    SET reads = CASE WHEN r.window_start = EXCLUDED.window_start THEN r.reads + EXCLUDED.reads ELSE EXCLUDED.reads END,
        actions = CASE WHEN r.window_start = EXCLUDED.window_start THEN r.actions + EXCLUDED.actions
                       ELSE EXCLUDED.actions END,
        window_start = EXCLUDED.window_start
    RETURNING reads, actions, window_start
), found AS (
    SELECT * FROM person
    UNION ALL
    SELECT id, credits, blocked_at, language, language_code, banned_at, created_at FROM users
    WHERE id = $1::bigint AND NOT EXISTS (SELECT 1 FROM person)
)
SELECT found.*, slot.reads, slot.actions,
       CASE WHEN $6::boolean THEN
           (SELECT count(*) FROM telegram_updates
            WHERE user_id = $1::bigint AND kind IN ('message', 'callback_query')
              AND received_at > now() - interval '1 minute')
       ELSE 0 END AS chat_messages,
       ceil(extract(epoch FROM slot.window_start + interval '1 minute' - now()))::int AS window_left_s
FROM slot LEFT JOIN found ON true;

-- name: app_videos
-- A page of the user's generations (confirmed ones: no proposals), newest first, before id $2 (NULL:
-- from the newest). $1 user id, $2 before this id, $3 how many
SELECT * FROM generations
WHERE user_id = $1::bigint AND status NOT IN ('draft', 'discarded') AND ($2::bigint IS NULL OR id < $2::bigint)
ORDER BY id DESC
LIMIT $3::int;

-- name: app_video
-- One of the user's generations (never someone else's). $1 user id, $2 generation id
SELECT * FROM generations
WHERE id = $2::bigint AND user_id = $1::bigint AND status NOT IN ('draft', 'discarded');

-- name: app_stats_models
-- Generations confirmed per UTC day and model over the last $1 days (days without any are absent).
SELECT confirmed_at::date AS day, model, count(*) AS generations
FROM generations
WHERE confirmed_at >= date_trunc('day', now()) - make_interval(days => $1::int - 1)
GROUP BY 1, 2
ORDER BY 1, 2;

-- name: app_stats_failures
-- Per UTC day of the last $1 days: generations that ended (done or failed) that day, and how many failed.
SELECT finished_at::date AS day, count(*) AS finished, count(*) FILTER (WHERE status = 'failed') AS failed
FROM generations
WHERE finished_at >= date_trunc('day', now()) - make_interval(days => $1::int - 1)
  AND status IN ('done', 'failed')
GROUP BY 1
ORDER BY 1;

-- name: app_set_thumbnail
-- The thumbnail of the video just delivered. $1 generation id, $2 its file id
UPDATE generations SET thumbnail_file_id = $2::text WHERE id = $1::bigint;

-- name: app_thumbnail
-- The thumbnail file id of one of the user's delivered videos. $1 user id, $2 generation id
SELECT thumbnail_file_id FROM generations
WHERE id = $2::bigint AND user_id = $1::bigint AND status = 'done' AND thumbnail_file_id IS NOT NULL;
