-- Users and credits. Credits change only through ledger_apply, which writes the ledger row and the
-- balance in one statement; the ledger's UNIQUE (reason, reference) makes each change happen once.

-- name: user_get
-- $1 id
SELECT id, credits, blocked_at, language, language_code, banned_at, created_at FROM users WHERE id = $1::bigint;

-- name: user_lock
-- Serialises everything that spends this user's credits until the transaction ends.
-- $1 id
SELECT id, credits, blocked_at, language, language_code, banned_at, created_at FROM users WHERE id = $1::bigint FOR UPDATE;

-- name: user_lock_owner
-- The owner of a generation, locked like user_lock: the pipeline takes it before the generation's
-- row, the order of an update's transaction (its first statement writes the user's row), so a
-- refund by the pipeline and the user's own tap on the same generation never wait on each other.
-- $1 generation id
SELECT id FROM users WHERE id = (SELECT user_id FROM generations WHERE id = $1::bigint) FOR UPDATE;

-- name: user_lock_payer
-- The payer of a Stars charge, locked like user_lock, before the payment's row: Telegram's
-- refunded_payment arrives as an update (whose transaction holds the payer's row first) at the
-- moment an admin's refund job takes the same charge back, and the two must not wait on each other.
-- $1 telegram_payment_charge_id
SELECT id FROM users WHERE id = (SELECT user_id FROM payments WHERE charge_id = $1::text) FOR UPDATE;

-- name: user_set_blocked
-- $1 id, $2 blocked (true when they blocked the bot, false when they came back)
UPDATE users
SET blocked_at = CASE WHEN $2::boolean THEN coalesce(blocked_at, now()) END
WHERE id = $1::bigint
RETURNING id;

-- name: ledger_apply
-- Add $2 credits (negative: take them) to user $1 for reason $3 and reference $4, once: returns the
-- new balance, or no row when this (reason, reference) was applied before. Taking more than the
-- balance violates credits_never_negative and changes nothing.
-- $1 user id, $2 delta, $3 reason, $4 reference
WITH entry AS (
    INSERT INTO ledger (user_id, delta, reason, reference)
    VALUES ($1::bigint, $2::int, $3::text, $4::text)
    ON CONFLICT ON CONSTRAINT once_per_reason_and_reference DO NOTHING
    RETURNING user_id, delta
)
UPDATE users
SET credits = users.credits + entry.delta
FROM entry
WHERE users.id = entry.user_id
RETURNING users.credits;

-- name: user_find
-- An admin looking someone up: by id, or by @username (case-insensitive, the most recently seen).
-- $1 id (NULL: by username), $2 username without @
SELECT id, username, first_name, language, language_code, credits, blocked_at, banned_at, ban_reason,
       created_at, seen_at, moderation_flags
FROM users
WHERE ($1::bigint IS NOT NULL AND id = $1::bigint)
   OR ($1::bigint IS NULL AND lower(username) = lower($2::text))
ORDER BY seen_at DESC
LIMIT 1;

-- name: user_set_language
-- $1 id, $2 language (a catalogue language: en | ru)
UPDATE users SET language = $2::text WHERE id = $1::bigint RETURNING id;

-- name: user_set_ban
-- $1 id, $2 banned, $3 reason
UPDATE users
SET banned_at = CASE WHEN $2::boolean THEN coalesce(banned_at, now()) END,
    ban_reason = CASE WHEN $2::boolean THEN $3::text END,
    ban_notice_at = NULL
WHERE id = $1::bigint
RETURNING id;

-- name: user_take_ban_notice
-- A banned user wrote: true at most once a day, when they are owed the polite reply.
-- $1 id
UPDATE users SET ban_notice_at = now()
WHERE id = $1::bigint AND banned_at IS NOT NULL
  AND (ban_notice_at IS NULL OR ban_notice_at < now() - interval '1 day')
RETURNING id;

-- name: ledger_tail
-- $1 user id, $2 how many
SELECT reason, reference, delta, created_at FROM ledger WHERE user_id = $1::bigint ORDER BY id DESC LIMIT $2::int;

-- name: user_count_moderation_flag
-- Moderation refused one of their ideas: counted, /user shows it. $1 user id
UPDATE users SET moderation_flags = moderation_flags + 1 WHERE id = $1::bigint;
