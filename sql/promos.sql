-- Promo codes (issue 16): admins create them, users redeem each once.

-- name: promo_create
-- No row comes back when the code exists already (retired or not: a code is never reused).
-- $1 code (upper case), $2 credits, $3 uses limit (NULL: none), $4 days valid (NULL: forever), $5 admin id
INSERT INTO promo_codes (code, credits, uses_limit, expires_at, created_by)
VALUES ($1::text, $2::int, $3::int, now() + make_interval(days => $4::int), $5::bigint)
ON CONFLICT (code) DO NOTHING
RETURNING code, credits, uses_limit, uses, expires_at, retired_at;

-- name: promo_list
-- The codes still redeemable first, then the rest, newest first. $1 how many
SELECT code, credits, uses_limit, uses, expires_at, retired_at
FROM promo_codes
ORDER BY (retired_at IS NULL AND (expires_at IS NULL OR expires_at > now())
          AND (uses_limit IS NULL OR uses < uses_limit)) DESC,
         created_at DESC
LIMIT $1::int;

-- name: promo_retire
-- $1 code. Returns the code as it is now (retired), or no row for an unknown code.
UPDATE promo_codes SET retired_at = coalesce(retired_at, now())
WHERE code = $1::text
RETURNING code, credits, uses_limit, uses, expires_at, retired_at;

-- name: promo_redeem
-- A user redeems a code, decided in this one statement: the code's row is taken (uses + 1) only
-- while it is live, under its limit and not redeemed by this user before. Concurrent redeemers of
-- one code queue on its row and each re-checks the limit on the row as the previous one left it,
-- so the uses never pass the limit. The redemption row and the ledger entry ('promo', 'CODE:user')
-- are written with it. A user's own updates are serialised by their users row (the update's first
-- statement), so ON CONFLICT is a second guard, never the first.
-- The row that comes back says what happened: balance NULL means nothing was credited, and the
-- code's state (as it was before this statement) says why.
-- $1 code (upper case), $2 user id
WITH claimed AS (
    UPDATE promo_codes AS p
    SET uses = p.uses + 1
    WHERE p.code = $1::text
      AND p.retired_at IS NULL
      AND (p.expires_at IS NULL OR p.expires_at > now())
      AND (p.uses_limit IS NULL OR p.uses < p.uses_limit)
      AND NOT EXISTS (SELECT 1 FROM promo_redemptions AS r WHERE r.code = p.code AND r.user_id = $2::bigint)
    RETURNING p.code, p.credits
), redeemed AS (
    INSERT INTO promo_redemptions (code, user_id)
    SELECT code, $2::bigint FROM claimed
    ON CONFLICT (code, user_id) DO NOTHING
    RETURNING code
), entry AS (
    INSERT INTO ledger (user_id, delta, reason, reference)
    SELECT $2::bigint, claimed.credits, 'promo', claimed.code || ':' || $2::bigint::text
    FROM claimed JOIN redeemed USING (code)
    ON CONFLICT ON CONSTRAINT once_per_reason_and_reference DO NOTHING
    RETURNING user_id, delta
), credited AS (
    UPDATE users
    SET credits = users.credits + entry.delta
    FROM entry
    WHERE users.id = entry.user_id
    RETURNING users.credits
)
SELECT (SELECT credits FROM credited) AS balance,
       p.code IS NOT NULL AS known,
       coalesce(p.credits, 0) AS credits,
       p.retired_at IS NOT NULL AS retired,
       coalesce(p.expires_at <= now(), false) AS expired,
       EXISTS (SELECT 1 FROM promo_redemptions AS r WHERE r.code = $1::text AND r.user_id = $2::bigint) AS redeemed_before
FROM (SELECT 1) AS one
LEFT JOIN promo_codes AS p ON p.code = $1::text;
