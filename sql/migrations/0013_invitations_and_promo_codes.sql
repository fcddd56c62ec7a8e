-- Issue 16, parts 1 and 2: invitations and promo codes. Credits still change only through the
-- ledger: the inviter's bonus is ('referral', invitee id), a redemption is ('promo', 'CODE:user id'),
-- the invitee's welcome is ('referral_welcome', invitee id), each once by the ledger's UNIQUE.

-- Who brought whom: written at the invitee's first contact only (their users row was created by the
-- same update), never to themselves. bonus_paid_at: the inviter was paid, at the invitee's first
-- credited Stars purchase (bonus_charge_id); never again for this invitee.
CREATE TABLE referrals (
    invitee_id      bigint      PRIMARY KEY REFERENCES users (id),
    inviter_id      bigint      NOT NULL REFERENCES users (id),
    joined_at       timestamptz NOT NULL DEFAULT now(),
    bonus           integer     NOT NULL DEFAULT 0,      -- credits the inviter got for this invitee
    bonus_charge_id text,                                -- the purchase that paid it
    bonus_paid_at   timestamptz,
    CONSTRAINT never_self CHECK (invitee_id <> inviter_id),
    CONSTRAINT paid_with_its_charge CHECK ((bonus_paid_at IS NULL) = (bonus_charge_id IS NULL))
);
CREATE INDEX referrals_by_inviter ON referrals (inviter_id);

-- Admins' codes. uses counts redemptions; the statement that redeems increments it only while it is
-- under uses_limit (NULL: no limit), so concurrent redemptions never pass the limit.
CREATE TABLE promo_codes (
    code       text        PRIMARY KEY,
    credits    integer     NOT NULL,
    uses_limit integer,
    uses       integer     NOT NULL DEFAULT 0,
    expires_at timestamptz,                              -- NULL: never
    retired_at timestamptz,                              -- /promo off
    created_by bigint      NOT NULL,                     -- the admin's id
    created_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT code_is_upper_case CHECK (code ~ '^[A-Z0-9_-]{1,32}$'),
    CONSTRAINT credits_positive CHECK (credits > 0),
    CONSTRAINT uses_within_limit CHECK (uses >= 0 AND (uses_limit IS NULL OR uses <= uses_limit)),
    CONSTRAINT limit_positive CHECK (uses_limit IS NULL OR uses_limit > 0)
);

-- Once per user per code.
CREATE TABLE promo_redemptions (
    code    text        NOT NULL REFERENCES promo_codes (code),
    user_id bigint      NOT NULL REFERENCES users (id),
    at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (code, user_id)
);
