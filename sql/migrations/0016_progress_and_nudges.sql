-- Issue 17 (progress people can see): the deliveries of each model, newest first, for the median
-- render time behind the progress bar (generation_render_medians).
CREATE INDEX generations_delivered ON generations (model, finished_at DESC)
    WHERE status = 'done' AND rendering_at IS NOT NULL;

-- Issue 16, part 6: nudges, few and polite. At most one a day per user (last_nudge_at, taken in one
-- statement: nudge_claim), none after /notifications off.
ALTER TABLE users ADD COLUMN notifications boolean NOT NULL DEFAULT true;
ALTER TABLE users ADD COLUMN last_nudge_at timestamptz;

-- The Stars invoices /buy sent, so that one still unpaid an hour later is reminded of once. Keyed by
-- the signed payload (core/stars.py: it carries a nonce), which successful_payment hands back.
CREATE TABLE invoices (
    id         bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    payload    text        NOT NULL UNIQUE,
    user_id    bigint      NOT NULL REFERENCES users (id),
    credits    integer     NOT NULL,
    stars      integer     NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    paid_at    timestamptz
);
CREATE INDEX invoices_by_user ON invoices (user_id, created_at);

-- Each nudge a user was ever due, once per (kind, subject): a row is written with its job, in one
-- transaction, so a redelivered update or a retried job never makes a second one.
CREATE TABLE nudges (
    user_id    bigint      NOT NULL REFERENCES users (id),
    kind       text        NOT NULL,            -- low_balance | invoice | invite
    subject    text        NOT NULL,            -- what it is about: a generation id, an invoice id, 'third'
    created_at timestamptz NOT NULL DEFAULT now(),
    outcome    text,                            -- NULL until decided: sending, then sent; or why not
    decided_at timestamptz,
    PRIMARY KEY (user_id, kind, subject),
    CONSTRAINT nudge_kind_is_known CHECK (kind IN ('low_balance', 'invoice', 'invite')),
    CONSTRAINT nudge_outcome_is_known CHECK (outcome IN (
        'sending', 'sent', 'disabled', 'moot', 'unreachable', 'opted_out', 'daily_cap', 'failed', 'unsure'))
);
