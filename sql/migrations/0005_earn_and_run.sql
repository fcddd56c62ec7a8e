-- Earning and running the bot: Telegram Stars payments, bans, the user's chosen language, and
-- broadcasts with one row per recipient.
--
-- Money rules stay those of 0002: every credit change is one ledger row, unique per (reason,
-- reference). A purchase is ('purchase', charge id), its refund ('purchase_refund', charge id), so
-- each happens once whatever Telegram redelivers.

-- The language the user reads, set at first contact from Telegram's language_code and changed only
-- by /language (later updates refresh language_code, never this). NULL: not chosen yet.
ALTER TABLE users ADD COLUMN language text;
ALTER TABLE users ADD COLUMN banned_at timestamptz;             -- an admin banned them
ALTER TABLE users ADD COLUMN ban_reason text;
ALTER TABLE users ADD COLUMN ban_notice_at timestamptz;          -- the last "you are banned" reply (one a day)

-- One row per Stars payment, by Telegram's charge id: written in the transaction of its ledger entry.
CREATE TABLE payments (
    charge_id          text        PRIMARY KEY,                   -- telegram_payment_charge_id
    user_id            bigint      NOT NULL REFERENCES users (id),
    credits            integer     NOT NULL,                      -- credits bought (0: payload not ours)
    total_amount       integer     NOT NULL,                      -- Stars paid (XTR), as Telegram names it
    payload            text        NOT NULL,
    created_at         timestamptz NOT NULL DEFAULT now(),
    refunded_at        timestamptz,
    refunded_by        text,                                      -- admin:<id> | telegram (a refund made elsewhere)
    refund_shortfall   integer     NOT NULL DEFAULT 0,            -- credits already spent when refunded
    CONSTRAINT stars_positive CHECK (total_amount > 0),
    CONSTRAINT credits_not_negative CHECK (credits >= 0)
);
CREATE INDEX payments_by_user ON payments (user_id, created_at);
CREATE INDEX payments_by_day ON payments (created_at);

-- A message copied to every user who has not blocked the bot; one row per recipient records what
-- happened to them, so a restart in the middle sends nobody twice.
CREATE TABLE broadcasts (
    id                bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    admin_id          bigint      NOT NULL,
    from_chat_id      bigint      NOT NULL,
    message_id        bigint      NOT NULL,                       -- the message copied
    status_message_id bigint,                                     -- the admin's progress message
    state             text        NOT NULL DEFAULT 'running',
    created_at        timestamptz NOT NULL DEFAULT now(),
    finished_at       timestamptz,
    CONSTRAINT broadcast_state_is_known CHECK (state IN ('running', 'done', 'cancelled'))
);

-- pending ─▶ sending ─▶ sent | failed | blocked. A row left in 'sending' by a crash is never retried:
-- the message may have gone out, and a duplicate is worse than a miss.
CREATE TABLE broadcast_recipients (
    broadcast_id bigint      NOT NULL REFERENCES broadcasts (id),
    user_id      bigint      NOT NULL,
    state        text        NOT NULL DEFAULT 'pending',
    updated_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (broadcast_id, user_id),
    CONSTRAINT recipient_state_is_known CHECK (state IN ('pending', 'sending', 'sent', 'failed', 'blocked'))
);
CREATE INDEX broadcast_recipients_pending ON broadcast_recipients (broadcast_id, user_id) WHERE state = 'pending';
