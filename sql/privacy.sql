-- Privacy (migration 0010): what /deletemydata erases. The ledger and payments stay (accounting),
-- tied to the user's numeric id, which the tombstone row keeps so the starter grant (ledger
-- 'starter', reference = the id) is never made twice.

-- name: privacy_unfinished
-- The user's generations still under way, for /deletemydata to cancel (or wait for).
-- $1 user id
SELECT id, status FROM generations
WHERE user_id = $1::bigint AND status IN ('queued', 'prompting', 'submitting', 'rendering', 'uploading')
ORDER BY id;

-- name: privacy_erase
-- Erase what the user wrote, sent and is called: ideas, prompts, photos, file ids and URLs of their
-- generations (proposals never confirmed go altogether), the photos kept for the provider, the conversation state, and
-- the user's names and languages. Returns the generation ids whose archived objects must go too.
-- $1 user id
WITH inputs AS (
    DELETE FROM generation_inputs
    WHERE generation_id IN (SELECT id FROM generations WHERE user_id = $1::bigint)
), drafts AS (
    DELETE FROM generations WHERE user_id = $1::bigint AND status IN ('draft', 'discarded')
), scrubbed AS (
    UPDATE generations
    SET idea = '', prompt = NULL, photo_file_id = NULL, image_url = NULL, video_url = NULL,
        video_file_id = NULL, thumbnail_file_id = NULL, error = NULL
    WHERE user_id = $1::bigint AND status NOT IN ('draft', 'discarded')
    RETURNING id
), states AS (
    DELETE FROM fsm_states WHERE split_part(key, ':', 3) = $1::bigint::text
), tombstone AS (
    UPDATE users
    SET username = NULL, first_name = NULL, language_code = NULL, language = NULL, ban_reason = NULL,
        erased_at = now()
    WHERE id = $1::bigint
)
SELECT id FROM scrubbed ORDER BY id;

-- name: retention_clear
-- RETENTION_DAYS: a batch of generations older than $1 days, finished (or never confirmed), whose
-- idea, prompt or photo is still kept: cleared (a draft that old is discarded, its buttons dead).
-- Returns them, so that their archived objects are deleted too.
-- $1 days, $2 batch size
UPDATE generations
SET idea = '', prompt = NULL, photo_file_id = NULL, image_url = NULL,
    status = CASE WHEN status = 'draft' THEN 'discarded' ELSE status END
WHERE id IN (
    SELECT id FROM generations
    WHERE created_at < now() - make_interval(days => $1::int)
      AND status NOT IN ('queued', 'prompting', 'submitting', 'rendering', 'uploading')
      AND (idea <> '' OR prompt IS NOT NULL OR photo_file_id IS NOT NULL OR image_url IS NOT NULL)
    ORDER BY id
    LIMIT $2::int
)
RETURNING id, user_id;
