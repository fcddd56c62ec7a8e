-- Generations: one row per idea on its way to a video. Each step moves the status forward only from
-- the status it expects, so a step that runs twice (a retried job) changes nothing the second time.
-- Unfinished statuses: queued, prompting, submitting, rendering, uploading.

-- name: generation_create_draft
-- A priced proposal waiting for the user's confirmation; nothing is charged yet.
-- $1 user id, $2 chat id, $3 model, $4 price, $5 idea, $6 photo file_id, $7 callback token
INSERT INTO generations (user_id, chat_id, model, price, idea, photo_file_id, callback_token)
VALUES ($1::bigint, $2::bigint, $3::text, $4::int, $5::text, $6::text, $7::text)
RETURNING *;

-- name: generation_get
-- $1 id
SELECT * FROM generations WHERE id = $1::bigint;

-- name: generation_lock
-- $1 id, $2 user id
SELECT * FROM generations WHERE id = $1::bigint AND user_id = $2::bigint FOR UPDATE;

-- name: generation_by_callback_token
-- $1 token
SELECT * FROM generations WHERE callback_token = $1::text;

-- name: generation_set_status_message
-- $1 id, $2 message id
UPDATE generations SET status_message_id = $2::bigint WHERE id = $1::bigint;

-- name: generation_set_model
-- Change the model of a draft (and its price). $1 id, $2 user id, $3 model, $4 price
UPDATE generations SET model = $3::text, price = $4::int
WHERE id = $1::bigint AND user_id = $2::bigint AND status = 'draft'
RETURNING *;

-- name: generation_discard
-- $1 id, $2 user id
UPDATE generations SET status = 'discarded'
WHERE id = $1::bigint AND user_id = $2::bigint AND status = 'draft'
RETURNING *;

-- name: generation_count_unfinished
-- $1 user id
SELECT count(*) FROM generations
WHERE user_id = $1::bigint AND status IN ('queued', 'prompting', 'submitting', 'rendering', 'uploading');

-- name: generation_confirm
-- $1 id, $2 seconds until the deadline
UPDATE generations
SET status = 'queued', confirmed_at = now(), deadline_at = now() + make_interval(secs => $2::float8)
WHERE id = $1::bigint AND status = 'draft'
RETURNING *;

-- name: generation_queue_position
-- 1 + the confirmed generations still waiting ahead of this one. $1 id
SELECT count(*) FROM generations
WHERE status = 'queued' AND confirmed_at <= (SELECT confirmed_at FROM generations WHERE id = $1::bigint);

-- name: generation_start_prompting
-- $1 id
UPDATE generations SET status = 'prompting'
WHERE id = $1::bigint AND status IN ('queued', 'prompting')
RETURNING *;

-- name: generation_save_prompt
-- $1 id, $2 prompt, $3 source (openai | fallback)
UPDATE generations SET status = 'submitting', prompt = $2::text, prompt_source = $3::text
WHERE id = $1::bigint AND status = 'prompting'
RETURNING *;

-- name: generation_save_task
-- $1 id, $2 KIE task id
UPDATE generations SET status = 'rendering', kie_task_id = $2::text, rendering_at = now()
WHERE id = $1::bigint AND status = 'submitting'
RETURNING *;

-- name: generation_save_video
-- $1 id, $2 video URL
UPDATE generations SET status = 'uploading', video_url = $2::text
WHERE id = $1::bigint AND status = 'rendering'
RETURNING *;

-- name: generation_finish
-- $1 id, $2 Telegram file_id of the video (NULL when it went out as a link)
UPDATE generations SET status = 'done', video_file_id = $2::text, finished_at = now()
WHERE id = $1::bigint AND status = 'uploading'
RETURNING *;

-- name: generation_fail
-- Fail an unfinished generation with a readable reason. No row: it had already finished.
-- $1 id, $2 error
UPDATE generations SET status = 'failed', error = $2::text, finished_at = now()
WHERE id = $1::bigint AND status IN ('queued', 'prompting', 'submitting', 'rendering', 'uploading')
RETURNING *;

-- name: generation_claim_status_edit
-- Take the right to edit the status message now: granted when $3 (a final state) or when the last
-- edit is older than $2 seconds, which keeps edits under Telegram's limits across processes.
-- $1 id, $2 seconds between edits, $3 force
UPDATE generations SET status_edited_at = now()
WHERE id = $1::bigint
  AND ($3::boolean OR status_edited_at IS NULL OR status_edited_at < now() - make_interval(secs => $2::float8))
RETURNING id;

-- name: generation_history
-- A user's delivered videos, newest first. $1 user id, $2 how many
SELECT id, model, idea, video_file_id, video_url, finished_at
FROM generations
WHERE user_id = $1::bigint AND status = 'done'
ORDER BY finished_at DESC
LIMIT $2::int;
