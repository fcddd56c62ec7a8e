-- Telegram Stars payments: one row per charge id, written with its ledger entry.

-- name: payment_record
-- A successful payment; no row comes back when this charge was recorded before (a redelivery).
-- $1 charge id, $2 user id, $3 credits, $4 stars, $5 payload
INSERT INTO payments (charge_id, user_id, credits, total_amount, payload)
VALUES ($1::text, $2::bigint, $3::int, $4::int, $5::text)
ON CONFLICT (charge_id) DO NOTHING
RETURNING charge_id;

-- name: payment_get
-- $1 charge id
SELECT charge_id, user_id, credits, total_amount AS stars, created_at, refunded_at, refunded_by, refund_shortfall
FROM payments WHERE charge_id = $1::text;

-- name: payment_lock
-- Serialises the refunds of one charge (an admin's job, Telegram's refunded_payment message).
-- $1 charge id
SELECT charge_id, user_id, credits, total_amount AS stars, created_at, refunded_at, refunded_by, refund_shortfall
FROM payments WHERE charge_id = $1::text FOR UPDATE;

-- name: payment_set_refunded
-- $1 charge id, $2 by (admin:<id> | telegram), $3 shortfall (credits already spent)
UPDATE payments
SET refunded_at = now(), refunded_by = $2::text, refund_shortfall = $3::int
WHERE charge_id = $1::text AND refunded_at IS NULL
RETURNING charge_id;

-- name: payment_by_digest
-- The payment behind an admin's refund button: a charge id can be longer than a button's 64 bytes
-- of data, so the button carries the first 24 hex digits of its sha256. A scan of payments, on an
-- admin's tap only. $1 digest
SELECT charge_id, user_id, credits, total_amount AS stars, created_at, refunded_at, refunded_by, refund_shortfall
FROM payments WHERE left(encode(sha256(convert_to(charge_id, 'UTF8')), 'hex'), 24) = $1::text;
