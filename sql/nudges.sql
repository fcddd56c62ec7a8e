-- Nudges (issue 16, part 6): a few polite messages (low balance after a delivery, an unpaid invoice, an
-- invitation after the third video), each once per (user, kind, subject), at most one a day per user.
-- The lifecycle of a row: written with its job (nudge_open), decided once (nudge_claim or nudge_settle:
-- sending, or why not), then sent or failed (nudge_settle).

-- name: nudge_open
-- A nudge the user is due; no row when it was opened before (then no second job).
-- $1 user id, $2 kind, $3 subject
INSERT INTO nudges (user_id, kind, subject)
VALUES ($1::bigint, $2::text, $3::text)
ON CONFLICT (user_id, kind, subject) DO NOTHING
RETURNING user_id;

-- name: nudge_get
-- $1 user id, $2 kind, $3 subject
SELECT outcome FROM nudges WHERE user_id = $1::bigint AND kind = $2::text AND subject = $3::text;

-- name: nudge_claim
-- Decide a pending nudge in one statement: 'sending' takes the user's one nudge of the day (their row
-- locked, so two nudges at the same instant cannot both take it); otherwise why not: 'unreachable'
-- (blocked the bot, banned or erased), 'opted_out' (/notifications off), 'daily_cap'. No row: not
-- pending (decided before). $1 user id, $2 kind, $3 subject
WITH pending AS (
    SELECT user_id FROM nudges
    WHERE user_id = $1::bigint AND kind = $2::text AND subject = $3::text AND outcome IS NULL
    FOR UPDATE
), who AS (
    SELECT users.id, CASE
        WHEN blocked_at IS NOT NULL OR banned_at IS NOT NULL OR erased_at IS NOT NULL THEN 'unreachable'
        WHEN NOT notifications THEN 'opted_out'
        WHEN last_nudge_at > now() - interval '1 day' THEN 'daily_cap'
        ELSE 'sending' END AS outcome
    FROM users JOIN pending ON pending.user_id = users.id
    FOR UPDATE OF users
), taken AS (
    UPDATE users SET last_nudge_at = now()
    FROM who
    WHERE users.id = who.id AND who.outcome = 'sending'
    RETURNING users.id
)
UPDATE nudges SET outcome = who.outcome, decided_at = now()
FROM who
WHERE nudges.user_id = who.id AND nudges.kind = $2::text AND nudges.subject = $3::text
RETURNING nudges.outcome;

-- name: nudge_settle
-- Record how a nudge ended: decided without a claim (disabled, moot) while pending, or sent or failed
-- after 'sending'. No row: it was not in a state that may move there. $1 user id, $2 kind, $3 subject,
-- $4 outcome
UPDATE nudges SET outcome = $4::text, decided_at = now()
WHERE user_id = $1::bigint AND kind = $2::text AND subject = $3::text
  AND (outcome IS NULL OR (outcome = 'sending' AND $4::text IN ('sent', 'failed', 'unsure', 'unreachable')))
RETURNING outcome;

-- name: user_set_notifications
-- /notifications on | off. $1 id, $2 on
UPDATE users SET notifications = $2::boolean WHERE id = $1::bigint RETURNING notifications;

-- name: user_notifications
-- $1 id
SELECT notifications FROM users WHERE id = $1::bigint;

-- name: user_delivered_count
-- How many videos the user has received. $1 user id
SELECT count(*) FROM generations WHERE user_id = $1::bigint AND status = 'done';

-- name: invoice_record
-- An invoice /buy sent. $1 payload, $2 user id, $3 credits, $4 stars
INSERT INTO invoices (payload, user_id, credits, stars)
VALUES ($1::text, $2::bigint, $3::int, $4::int)
RETURNING id;

-- name: invoice_paid
-- successful_payment for this payload (no row: not one of the invoices /buy recorded). $1 payload
UPDATE invoices SET paid_at = coalesce(paid_at, now()) WHERE payload = $1::text RETURNING id;

-- name: invoice_open
-- Whether an invoice still waits for its payment: unpaid, and its user has paid nothing since it was
-- sent (they may have bought through another invoice). No row: not open. $1 invoice id
SELECT i.credits, i.stars FROM invoices i
WHERE i.id = $1::bigint AND i.paid_at IS NULL
  AND NOT EXISTS (SELECT 1 FROM payments p WHERE p.user_id = i.user_id AND p.created_at >= i.created_at);
