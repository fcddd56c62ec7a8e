-- Model health (core/pipeline/models.py), shared by every process: one row per model ever refused.

-- name: model_withdraw
-- The provider refused this model (paused, not supported, unknown) while it works: the model is
-- unavailable. $1 model, $2 provider, $3 reason
INSERT INTO model_health AS m (model, provider, unavailable_since, reason)
VALUES ($1::text, $2::text, now(), $3::text)
ON CONFLICT (model) DO UPDATE SET unavailable_since = coalesce(m.unavailable_since, now()), reason = $3::text;

-- name: model_claim_alert
-- The right to tell the admins, once until the model renders again: of concurrent refusals, the row
-- lock lets one through. No row: told already. $1 model
UPDATE model_health SET alerted_at = now()
WHERE model = $1::text AND alerted_at IS NULL
RETURNING model;

-- name: model_unavailable
-- The models not offered now.
SELECT model FROM model_health WHERE unavailable_since IS NOT NULL;

-- name: model_offer_again
-- The hourly probe: the model is offered again, and the next create of it is the real probe (a refusal
-- withdraws it again, without a second alert). No row: it was back already. $1 model
UPDATE model_health SET unavailable_since = NULL
WHERE model = $1::text AND unavailable_since IS NOT NULL
RETURNING model;

-- name: model_rendered
-- A create of this model succeeded: healthy, and a later refusal alerts again. No row: nothing to
-- clear (the common case, a read of an index page). $1 model
UPDATE model_health SET unavailable_since = NULL, reason = NULL, alerted_at = NULL
WHERE model = $1::text AND (alerted_at IS NOT NULL OR unavailable_since IS NOT NULL)
RETURNING model;

-- name: model_waiting_generations
-- Confirmed generations of this model not yet at the provider (no create in flight): refunded when
-- the model goes away. $1 model
SELECT id FROM generations
WHERE model = $1::text AND status IN ('queued', 'prompting', 'submitting') AND creating_since IS NULL
ORDER BY id;
