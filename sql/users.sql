-- Users and credits. Credits change only through ledger_apply, which writes the ledger row and the
-- balance in one statement; the ledger's UNIQUE (reason, reference) makes each change happen once.

-- name: user_get
-- $1 id
SELECT id, credits, blocked_at, language_code, created_at FROM users WHERE id = $1::bigint;

-- name: user_lock
-- Serialises everything that spends this user's credits until the transaction ends.
-- $1 id
SELECT id, credits, blocked_at, language_code, created_at FROM users WHERE id = $1::bigint FOR UPDATE;

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
