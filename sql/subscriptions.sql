-- Monthly plans (Telegram Stars subscriptions): one row per subscription, written with the ledger
-- entry of each of its charges.

-- name: subscription_charged
-- A plan's charge, first or renewal. The expiry only moves on (an older charge's redelivery changes
-- nothing); a later one also means Telegram renews it, so it is no longer cancelled. The first
-- charge's id is kept; a renewal that finds no row (its first charge never reached us) stands in.
-- $1 user id, $2 payload, $3 credits, $4 stars, $5 charge id, $6 expires at, $7 is the first charge
INSERT INTO subscriptions AS s (user_id, payload, credits, stars, charge_id, expires_at)
VALUES ($1::bigint, $2::text, $3::int, $4::int, $5::text, $6::timestamptz)
ON CONFLICT (user_id, payload) DO UPDATE
SET expires_at = greatest(s.expires_at, excluded.expires_at),
    canceled = s.canceled AND excluded.expires_at <= s.expires_at,
    charge_id = CASE WHEN $7::boolean THEN excluded.charge_id ELSE s.charge_id END,
    updated_at = now()
RETURNING id, user_id, credits, stars, charge_id, expires_at, canceled;

-- name: subscription_list
-- A user's subscriptions, the latest to end first. $1 user id, $2 how many
SELECT id, user_id, credits, stars, charge_id, expires_at, canceled
FROM subscriptions WHERE user_id = $1::bigint
ORDER BY expires_at DESC, id DESC LIMIT $2::int;

-- name: subscription_get
-- One of a user's subscriptions (a button's id, checked against who tapped it). $1 id, $2 user id
SELECT id, user_id, credits, stars, charge_id, expires_at, canceled
FROM subscriptions WHERE id = $1::bigint AND user_id = $2::bigint;

-- name: subscription_set_canceled
-- After Telegram took editUserStarSubscription. $1 id, $2 user id, $3 cancelled
UPDATE subscriptions SET canceled = $3::boolean, updated_at = now()
WHERE id = $1::bigint AND user_id = $2::bigint
RETURNING id, user_id, credits, stars, charge_id, expires_at, canceled;

-- name: subscription_running
-- Whether the user already has this plan running under another invoice (subscribing twice would
-- charge twice a month); at pre-checkout of a plan only. $1 user id, $2 credits, $3 stars, $4 payload
SELECT EXISTS (
    SELECT 1 FROM subscriptions
    WHERE user_id = $1::bigint AND credits = $2::int AND stars = $3::int AND payload <> $4::text
      AND expires_at > now()
) AS running;
