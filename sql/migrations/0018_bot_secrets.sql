-- Issue 15, the rest of it.
-- The webhook secret when WEBHOOK_SECRET is unset: generated once per bot by the first process that
-- starts (INSERT ... ON CONFLICT DO NOTHING, then read back), so every process of the bot agrees and
-- a leaked bot token no longer gives the secret away (it used to be derived from the token).
CREATE TABLE bot_secrets (
    bot_id         bigint      PRIMARY KEY,
    webhook_secret text        NOT NULL CONSTRAINT telegram_charset
        CHECK (webhook_secret ~ '^[A-Za-z0-9_-]+$' AND length(webhook_secret) BETWEEN 32 AND 256),
    created_at     timestamptz NOT NULL DEFAULT now()
);

-- The daily clean-up of proposals never confirmed (core/pipeline/retention.py) finds them by age.
CREATE INDEX generations_unconfirmed ON generations (created_at) WHERE confirmed_at IS NULL;
