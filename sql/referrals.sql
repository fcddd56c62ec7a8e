-- Invitations (issue 16): who brought whom, and the inviter's bonus at the invitee's first purchase.

-- name: referral_attribute
-- Attribute a new user to their inviter: only at first contact (the invitee's row was created by
-- this very transaction: its created_at is the transaction's now()), never to themselves, and only
-- to a user we know who has not erased their data. Returns the inviter's id, or no row.
-- $1 invitee id, $2 inviter id
INSERT INTO referrals (invitee_id, inviter_id)
SELECT $1::bigint, $2::bigint
WHERE $1::bigint <> $2::bigint
  AND EXISTS (SELECT 1 FROM users WHERE id = $1::bigint AND created_at = now())
  AND EXISTS (SELECT 1 FROM users WHERE id = $2::bigint AND erased_at IS NULL)
ON CONFLICT (invitee_id) DO NOTHING
RETURNING inviter_id;

-- name: referral_pay_bonus
-- The invitee's purchase was credited: pay their inviter once, marked on the referral (the row's
-- lock makes a concurrent copy wait, then find it paid) and written to the ledger as ('referral',
-- invitee id) in the same statement. Returns the inviter's row as credited, or no row (no inviter,
-- paid before, or the inviter erased their data).
-- $1 invitee id, $2 bonus (> 0), $3 the charge id of the purchase
WITH paid AS (
    UPDATE referrals
    SET bonus = $2::int, bonus_charge_id = $3::text, bonus_paid_at = now()
    WHERE invitee_id = $1::bigint AND bonus_paid_at IS NULL
      AND EXISTS (SELECT 1 FROM users WHERE id = referrals.inviter_id AND erased_at IS NULL)
    RETURNING inviter_id
), entry AS (
    INSERT INTO ledger (user_id, delta, reason, reference)
    SELECT inviter_id, $2::int, 'referral', $1::bigint::text FROM paid
    ON CONFLICT ON CONSTRAINT once_per_reason_and_reference DO NOTHING
    RETURNING user_id, delta
)
UPDATE users
SET credits = users.credits + entry.delta
FROM entry
WHERE users.id = entry.user_id
RETURNING users.id, users.credits, users.blocked_at, users.language, users.language_code, users.banned_at,
          users.created_at;

-- name: referral_stats
-- What /invite shows: how many joined through the user's link, and the bonuses they earned.
-- $1 inviter id
SELECT count(*)::int AS joined, coalesce(sum(bonus), 0)::int AS earned
FROM referrals WHERE inviter_id = $1::bigint;
