-- Issue 16, part 3: monthly plans, sold as Telegram Stars subscriptions.
-- One row per subscription, made by its first charge (is_first_recurring) and moved on by each
-- renewal (is_recurring). A renewal carries the first invoice's payload, not the first charge's id,
-- so the row is found again by (user, payload); the first charge's id is what
-- editUserStarSubscription names. Every charge is also a payments row with its ledger entry
-- ('purchase', charge id), so crediting once, redelivery and refunds are the packages' own.
CREATE TABLE subscriptions (
    id         bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,  -- what a Cancel/Resume button carries
    user_id    bigint      NOT NULL REFERENCES users (id),
    payload    text        NOT NULL,                 -- the invoice's signed payload (core/stars.py, m1)
    credits    integer     NOT NULL,                 -- the plan: credits added at every charge
    stars      integer     NOT NULL,                 -- and its price a month
    charge_id  text        NOT NULL,                 -- telegram_payment_charge_id of the first charge
    expires_at timestamptz NOT NULL,                 -- subscription_expiration_date of the latest charge
    canceled   boolean     NOT NULL DEFAULT false,   -- renewal cancelled through the bot (/subscription)
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT one_subscription_per_invoice UNIQUE (user_id, payload)
);
CREATE INDEX subscriptions_by_user ON subscriptions (user_id, expires_at DESC);
