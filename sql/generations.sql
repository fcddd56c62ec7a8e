-- Generations: one row per idea on its way to a video. Each step moves the status forward only from
-- the status it expects, so a step that runs twice (a retried job) changes nothing the second time.
-- Statuses (db/generations.Status): draft, discarded, then queued, prompting, submitting (waiting for a
-- create slot or for the provider), rendering, uploading (the unfinished ones), done, failed, cancelled.

-- name: generation_create_draft
-- A priced proposal waiting for the user's confirmation; nothing is charged yet.
-- $1 user id, $2 chat id, $3 model, $4 price, $5 idea, $6 photo file_id, $7 callback token, $8 provider,
-- $9 length in seconds (null: the model's fixed length), $10 preset id (null: no style)
INSERT INTO generations (
    user_id, chat_id, model, price, idea, photo_file_id, callback_token, provider, duration_s, preset
)
VALUES ($1::bigint, $2::bigint, $3::text, $4::int, $5::text, $6::text, $7::text, $8::text, $9::int, $10::text)
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
-- Change the model or length of a draft (and its price, provider). $1 id, $2 user id, $3 model, $4 price,
-- $5 provider, $6 length in seconds (null: the model's fixed length)
UPDATE generations SET model = $3::text, price = $4::int, provider = $5::text, duration_s = $6::int
WHERE id = $1::bigint AND user_id = $2::bigint AND status = 'draft'
RETURNING *;

-- name: generation_set_preset
-- Choose (or clear, null) the style of a draft; its price does not change. $1 id, $2 user id, $3 preset id
UPDATE generations SET preset = $3::text
WHERE id = $1::bigint AND user_id = $2::bigint AND status = 'draft'
RETURNING *;

-- name: generation_discard
-- $1 id, $2 user id
UPDATE generations SET status = 'discarded'
WHERE id = $1::bigint AND user_id = $2::bigint AND status = 'draft'
RETURNING *;

-- name: generation_count_unfinished
-- What MAX_ACTIVE_PER_USER counts: unfinished and not refunded (one past its deadline is refunded and
-- only still awaited, so it holds nobody back). $1 user id
SELECT count(*) FROM generations
WHERE user_id = $1::bigint AND refunded_at IS NULL
  AND status IN ('queued', 'prompting', 'submitting', 'rendering', 'uploading');

-- name: generation_confirm
-- The deadline is set when the provider accepts the task (generation_save_task). $1 id
UPDATE generations
SET status = 'queued', confirmed_at = now()
WHERE id = $1::bigint AND status = 'draft'
RETURNING *;

-- name: generation_queue_position
-- This generation's place among those waiting to reach the provider (1 = next), oldest first. $1 id
SELECT count(*) FROM generations
WHERE status IN ('queued', 'prompting', 'submitting')
  AND confirmed_at <= (SELECT confirmed_at FROM generations WHERE id = $1::bigint);

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

-- name: generation_begin_create
-- About to ask the provider for a task: from now on the user can no longer cancel (the provider may
-- bill it). No row: the generation is not waiting to be submitted (cancelled, or done by another run).
-- $1 id
UPDATE generations SET creating_since = now()
WHERE id = $1::bigint AND status = 'submitting'
RETURNING *;

-- name: generation_count_possible_duplicate
-- An earlier create's answer was lost and no callback adopted its task: the create about to be sent
-- again may be a second, billed task. $1 id
UPDATE generations SET possible_duplicates = possible_duplicates + 1
WHERE id = $1::bigint AND status = 'submitting'
RETURNING possible_duplicates;

-- name: generation_end_create
-- The create call failed without a task: cancelling is possible again. $1 id
UPDATE generations SET creating_since = NULL WHERE id = $1::bigint AND status = 'submitting';

-- name: generation_set_image_url
-- Where the provider reads the input image (uploaded once, reused by every create attempt).
-- $1 id, $2 URL
UPDATE generations SET image_url = $2::text WHERE id = $1::bigint;

-- name: generation_save_task
-- The provider accepted the task: render time (GENERATION_TIMEOUT) counts from now.
-- $1 id, $2 task id, $3 seconds until the deadline
UPDATE generations
SET status = 'rendering', task_id = $2::text, rendering_at = now(), creating_since = NULL,
    deadline_at = now() + make_interval(secs => $3::float8)
WHERE id = $1::bigint AND status = 'submitting'
RETURNING *;

-- name: generation_save_video
-- Rendered. A render that arrives after its deadline (already refunded) is delivered free.
-- $1 id, $2 video URL
UPDATE generations SET status = 'uploading', video_url = $2::text, late = refunded_at IS NOT NULL
WHERE id = $1::bigint AND status = 'rendering'
RETURNING *;

-- name: generation_mark_refunded
-- Past its deadline and still rendering: refunded now, still awaited (delivered free if it comes).
-- No row: not rendering, or refunded before. $1 id
UPDATE generations SET refunded_at = now()
WHERE id = $1::bigint AND status = 'rendering' AND refunded_at IS NULL
RETURNING *;

-- name: generation_cancel
-- The user cancels a generation that has not reached the provider. Refused (no row) once a create
-- call is in flight, unless that call was lost long ago (its process died).
-- $1 id, $2 user id
UPDATE generations
SET status = 'cancelled', error = 'cancelled by the user', finished_at = now(), refunded_at = now()
WHERE id = $1::bigint AND user_id = $2::bigint
  AND status IN ('queued', 'prompting', 'submitting')
  AND (creating_since IS NULL OR creating_since < now() - interval '5 minutes')
RETURNING *;

-- name: generation_finish
-- $1 id, $2 Telegram file_id of the video (NULL when it went out as a link)
UPDATE generations SET status = 'done', video_file_id = $2::text, finished_at = now()
WHERE id = $1::bigint AND status = 'uploading'
RETURNING *;

-- name: generation_fail
-- Fail an unfinished generation with a readable reason (the caller refunds it, once). No row: it had
-- already finished. $1 id, $2 error
UPDATE generations
SET status = 'failed', error = $2::text, finished_at = now(), refunded_at = coalesce(refunded_at, now()),
    creating_since = NULL
WHERE id = $1::bigint AND status IN ('queued', 'prompting', 'submitting', 'rendering', 'uploading')
RETURNING *;

-- name: input_save
-- The 9:16 input image of a generation, until the provider has it. $1 generation id, $2 bytes, $3 mime
INSERT INTO generation_inputs (generation_id, image, mime) VALUES ($1::bigint, $2::bytea, $3::text)
ON CONFLICT (generation_id) DO UPDATE SET image = EXCLUDED.image, mime = EXCLUDED.mime;

-- name: input_get
-- $1 generation id
SELECT image, mime FROM generation_inputs WHERE generation_id = $1::bigint;

-- name: input_delete
-- $1 generation id
DELETE FROM generation_inputs WHERE generation_id = $1::bigint;

-- name: generation_claim_status_edit
-- Take the right to edit the status message now, which keeps edits under Telegram's limits across
-- processes. $1 id, $2 seconds between ticks of one generation, $3 force (a final word: always),
-- $4 the stage to show, $5 seconds between ticks in one chat.
-- A new stage always shows (at most a handful per generation, and the user waits for them: the
-- "waiting for the service" line carries the cancel button). The same stage again (a tick of the
-- elapsed time, a new place in line) only after $2 seconds for this generation and $5 for the chat,
-- whichever of its generations ticked last. Locks: the generation's row, then the chat's
-- chat_edits row (always in that order, as an update's transaction that edits a status does), so
-- two processes ticking one chat take turns. Progress edits stop once the generation has ended, so
-- a late one cannot overwrite the final word.
WITH target AS (
    SELECT id, chat_id, status, status_stage, status_edited_at
    FROM generations
    WHERE id = $1::bigint
    FOR UPDATE
), chat AS (
    SELECT c.edited_at
    FROM chat_edits c JOIN target t ON c.chat_id = t.chat_id
    FOR UPDATE OF c
), decided AS (
    SELECT t.id, t.chat_id
    FROM target t LEFT JOIN chat c ON true
    WHERE $3::boolean OR (
          t.status IN ('queued', 'prompting', 'submitting', 'rendering', 'uploading')
          AND (t.status_stage IS DISTINCT FROM $4::text
               OR ((t.status_edited_at IS NULL OR t.status_edited_at < now() - make_interval(secs => $2::float8))
                   AND (c.edited_at IS NULL OR c.edited_at < now() - make_interval(secs => $5::float8)))))
), shown AS (
    UPDATE generations g SET status_edited_at = now(), status_stage = $4::text
    FROM decided d
    WHERE g.id = d.id
    RETURNING g.id, g.chat_id
), stamped AS (
    INSERT INTO chat_edits (chat_id, edited_at)
    SELECT chat_id, now() FROM shown
    ON CONFLICT (chat_id) DO UPDATE SET edited_at = excluded.edited_at
)
SELECT id FROM shown;

-- name: generation_history
-- A user's delivered videos, newest first. $1 user id, $2 how many
SELECT id, model, idea, preset, video_file_id, video_url, finished_at
FROM generations
WHERE user_id = $1::bigint AND status = 'done'
ORDER BY finished_at DESC
LIMIT $2::int;

-- name: generation_shareable
-- A user's delivered videos that Telegram holds (a file_id: not sent as a link, not erased), newest first,
-- those whose idea matches $2 (ILIKE; '': all): what their inline queries offer to share. Only this user's:
-- another user's query never sees them. $1 user id, $2 pattern (core/bot/sharing.pattern_of), $3 how many,
-- $4 how many to skip
SELECT id, idea, preset, video_file_id, finished_at
FROM generations
WHERE user_id = $1::bigint AND status = 'done' AND video_file_id IS NOT NULL
  AND ($2::text = '' OR idea ILIKE $2::text)
ORDER BY finished_at DESC, id DESC
LIMIT $3::int OFFSET $4::int;

-- name: generation_recreate
-- A rendering task the provider failed in a way worth one more try (Veo's "unable to generate audio"): back
-- to submitting, its task forgotten, the retry counted; the charge stays as it is. Only once, and only
-- for the task that failed. $1 id, $2 the failed task id
UPDATE generations
SET status = 'submitting', task_id = NULL, rendering_at = NULL, deadline_at = NULL, creating_since = NULL,
    recreated = recreated + 1
WHERE id = $1::bigint AND status = 'rendering' AND task_id = $2::text AND recreated = 0
RETURNING *;

-- name: generations_open_refundable
-- A user's unfinished generations not refunded yet, oldest first: what a Stars refund may claim
-- from. Read under the user's row lock (every refund takes it first). $1 user id
SELECT id, price, refund_claim FROM generations
WHERE user_id = $1::bigint AND refunded_at IS NULL
  AND status IN ('queued', 'prompting', 'submitting', 'rendering', 'uploading')
ORDER BY confirmed_at, id;

-- name: generations_claim_refunds
-- A Stars refund's shortfall, claimed from the user's unfinished generations' future refunds, oldest
-- first, up to $2 credits in all (never more than a generation's price). Under the user's row lock.
-- $1 user id, $2 credits to claim
WITH open AS (
    SELECT id, free, upto - free AS before
    FROM (
        SELECT id, price - refund_claim AS free,
               sum(price - refund_claim) OVER (ORDER BY confirmed_at, id) AS upto
        FROM generations
        WHERE user_id = $1::bigint AND refunded_at IS NULL
          AND status IN ('queued', 'prompting', 'submitting', 'rendering', 'uploading')
    ) o
)
UPDATE generations g
SET refund_claim = g.refund_claim + least(open.free, $2::int - open.before)::int
FROM open
WHERE g.id = open.id AND open.free > 0 AND open.before < $2::int
RETURNING g.id, least(open.free, $2::int - open.before)::int AS claimed;

-- name: generation_set_cost
-- What the rendered video cost at the provider (KIE credits), once. $1 id, $2 cost, $3 source (provider | table)
UPDATE generations SET provider_cost = $2::numeric, cost_source = $3::text, cost_at = now()
WHERE id = $1::bigint AND provider_cost IS NULL;

-- name: generation_spend_today
-- KIE_DAILY_BUDGET's measure: provider credits recorded since 00:00 UTC, plus what the confirmed videos not
-- yet rendered will cost at the price table ($1 model ids, $2 their credits), so that a burst of confirms
-- cannot run far past the budget before their costs are recorded.
SELECT (SELECT coalesce(sum(provider_cost), 0) FROM generations
        WHERE cost_at >= date_trunc('day', now() AT TIME ZONE 'UTC') AT TIME ZONE 'UTC')::float8
     + (SELECT coalesce(sum(price.credits), 0)
        FROM generations JOIN unnest($1::text[], $2::float8[]) AS price (model, credits) USING (model)
        WHERE status IN ('queued', 'prompting', 'submitting', 'rendering') AND provider_cost IS NULL)::float8 AS spent;

-- name: budget_alert_take
-- True (a row) the first time today's budget is found reached: the admins are told once a day.
INSERT INTO budget_alerts (day) VALUES ((now() AT TIME ZONE 'UTC')::date)
ON CONFLICT (day) DO NOTHING
RETURNING day;

-- name: generation_render_medians
-- The progress bar's estimate (core/ui/progress.py): per model, the median seconds from the provider's
-- acceptance (rendering_at) to delivery (finished_at) over its last $1 deliveries. The models come from
-- a loose index scan of generations_delivered (one probe per model, however many rows), and each
-- model's last deliveries from the same index, so the cost does not grow with the table.
-- $1 deliveries per model
WITH RECURSIVE models AS (
    (SELECT model FROM generations WHERE status = 'done' AND rendering_at IS NOT NULL ORDER BY model LIMIT 1)
    UNION ALL
    SELECT (SELECT g.model FROM generations g
            WHERE g.status = 'done' AND g.rendering_at IS NOT NULL AND g.model > m.model
            ORDER BY g.model LIMIT 1)
    FROM models m
    WHERE m.model IS NOT NULL
)
SELECT m.model, percentile_cont(0.5) WITHIN GROUP (ORDER BY d.seconds)::float8 AS median_s
FROM models m
CROSS JOIN LATERAL (
    SELECT extract(epoch FROM g.finished_at - g.rendering_at)::float8 AS seconds
    FROM generations g
    WHERE g.model = m.model AND g.status = 'done' AND g.rendering_at IS NOT NULL
    ORDER BY g.finished_at DESC
    LIMIT $1::int
) d
WHERE m.model IS NOT NULL
GROUP BY m.model;

-- name: generation_delete_stale_drafts
-- Proposals never confirmed (drafts and discarded ones: every "Again" tap, replaced or dropped
-- proposal and moderation refusal leaves one) older than $1 days: a batch of them deleted. Never
-- charged, so no ledger row names them; a tap on an old proposal's button then answers "draft_gone".
-- Locked rows are skipped (a confirm under way wins). $1 days, $2 batch size
DELETE FROM generations
WHERE id IN (
    SELECT id FROM generations
    WHERE confirmed_at IS NULL AND created_at < now() - make_interval(days => $1::int)
    ORDER BY created_at
    LIMIT $2::int
    FOR UPDATE SKIP LOCKED
)
RETURNING id;
