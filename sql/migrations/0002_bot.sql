-- The bot: users and their credits, the ledger of every credit change, generations (an idea on its
-- way to a video), Telegram updates already applied, conversation state, and the KIE rate limiter.
--
-- Money rules, enforced here: credits never go negative; every change of credits is one ledger row
-- whose (reason, reference) is unique, so a debit or a refund can only happen once.
-- Check: SELECT * FROM ledger_mismatches;  -- must be empty

CREATE TABLE users (
    id            bigint      PRIMARY KEY,             -- the Telegram user id (= their private chat id)
    username      text,
    first_name    text,
    language_code text,
    credits       integer     NOT NULL DEFAULT 0,
    blocked_at    timestamptz,                         -- they blocked the bot: nothing is sent to them
    created_at    timestamptz NOT NULL DEFAULT now(),
    seen_at       timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT credits_never_negative CHECK (credits >= 0)
);

CREATE TABLE ledger (
    id         bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id    bigint      NOT NULL REFERENCES users (id),
    delta      integer     NOT NULL,                   -- credits added (+) or taken (-)
    reason     text        NOT NULL,                   -- starter | generation | refund | admin
    reference  text        NOT NULL,                   -- what it is for: a generation id, a user id
    created_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT once_per_reason_and_reference UNIQUE (reason, reference),
    CONSTRAINT delta_is_not_zero CHECK (delta <> 0)
);
CREATE INDEX ledger_by_user ON ledger (user_id, created_at);

-- draft ─confirm─▶ queued ▶ prompting ▶ submitting ▶ rendering ▶ uploading ▶ done
--   │                 └──────────────────────┴─────────────┴───────────┴──▶ failed (refunded)
--   └─▶ discarded (never confirmed, never charged)
CREATE TABLE generations (
    id                bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id           bigint      NOT NULL REFERENCES users (id),
    chat_id           bigint      NOT NULL,
    status            text        NOT NULL DEFAULT 'draft',
    model             text        NOT NULL,
    price             integer     NOT NULL,
    idea              text        NOT NULL DEFAULT '',
    photo_file_id     text,                            -- Telegram file_id of the user's photo
    prompt            text,
    prompt_source     text,                            -- openai | fallback (the user's own words)
    kie_task_id       text,
    callback_token    text        NOT NULL,            -- unguessable part of this generation's KIE callback URL
    status_message_id bigint,                          -- the one message that shows progress
    status_edited_at  timestamptz,
    video_url         text,                            -- KIE's result (deleted by KIE after a while)
    video_file_id     text,                            -- Telegram file_id once delivered: resend from history
    error             text,                            -- why it failed, readable
    created_at        timestamptz NOT NULL DEFAULT now(),
    confirmed_at      timestamptz,
    deadline_at       timestamptz,                     -- confirmed_at + GENERATION_TIMEOUT
    rendering_at      timestamptz,                     -- task accepted by KIE
    finished_at       timestamptz,
    CONSTRAINT status_is_known CHECK (status IN (
        'draft', 'discarded', 'queued', 'prompting', 'submitting', 'rendering', 'uploading', 'done', 'failed')),
    CONSTRAINT price_is_positive CHECK (price > 0),
    CONSTRAINT confirmed_unless_draft CHECK ((status IN ('draft', 'discarded')) = (confirmed_at IS NULL))
);
CREATE UNIQUE INDEX generations_callback_token ON generations (callback_token);
CREATE UNIQUE INDEX generations_kie_task ON generations (kie_task_id) WHERE kie_task_id IS NOT NULL;
CREATE INDEX generations_by_user ON generations (user_id, created_at DESC);
CREATE INDEX generations_unfinished ON generations (user_id, confirmed_at)
    WHERE status IN ('queued', 'prompting', 'submitting', 'rendering', 'uploading');

-- Updates applied, by update_id, so a redelivery is recognised; recorded in the same transaction as
-- the handler's writes. Also the per-user message rate limit's memory.
CREATE TABLE telegram_updates (
    update_id   bigint      PRIMARY KEY,
    user_id     bigint,
    kind        text        NOT NULL,                  -- message | callback_query | my_chat_member | ...
    outcome     text        NOT NULL DEFAULT 'handled', -- handled | failed | rate_limited
    error       text,
    received_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX telegram_updates_by_user ON telegram_updates (user_id, received_at) WHERE user_id IS NOT NULL;
CREATE INDEX telegram_updates_received ON telegram_updates (received_at);

-- aiogram's conversation state (FSM), one row per chat and user.
CREATE TABLE fsm_states (
    key        text        PRIMARY KEY,
    state      text,
    data       jsonb       NOT NULL DEFAULT '{}',
    updated_at timestamptz NOT NULL DEFAULT now()
);

-- Slots taken from a shared rate limit (KIE accepts 20 new tasks per 10 s per account).
CREATE TABLE rate_slots (
    bucket   text        NOT NULL,
    taken_at timestamptz NOT NULL
);
CREATE INDEX rate_slots_by_bucket ON rate_slots (bucket, taken_at);

-- Users whose balance is not the sum of their ledger: must always be empty.
CREATE VIEW ledger_mismatches AS
SELECT users.id, users.credits, coalesce(sum(ledger.delta), 0) AS ledger_sum
FROM users LEFT JOIN ledger ON ledger.user_id = users.id
GROUP BY users.id
HAVING users.credits <> coalesce(sum(ledger.delta), 0);

-- Generations by status today, with the age of the oldest unfinished one.
CREATE VIEW generation_overview AS
SELECT status, model, count(*) AS generations,
       date_trunc('second', now() - min(confirmed_at) FILTER (
           WHERE status IN ('queued', 'prompting', 'submitting', 'rendering', 'uploading'))) AS oldest_unfinished
FROM generations
WHERE created_at > now() - interval '1 day'
GROUP BY status, model
ORDER BY status, model;
