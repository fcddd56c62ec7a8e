-- Support tickets: a user's message to the operators (/support, /paysupport, the "Contact support"
-- button). The words themselves are never stored here: they are copied into the operators' chats
-- (copyMessage), so deleting a user's data has nothing of theirs to find in this table.
-- One unresolved ticket per user: a follow-up while one is open or answered joins it.
CREATE TABLE tickets (
    id         bigserial   PRIMARY KEY,
    user_id    bigint      NOT NULL REFERENCES users (id),
    status     text        NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'answered', 'closed')),
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    closed_by  bigint
);
CREATE UNIQUE INDEX tickets_one_unresolved ON tickets (user_id) WHERE status <> 'closed';
CREATE INDEX tickets_open ON tickets (created_at) WHERE status = 'open';

-- The messages a ticket put in the operators' chats (header and copy), so that a reply to either
-- finds its ticket. Written after the send (the message id is Telegram's answer).
CREATE TABLE ticket_messages (
    chat_id    bigint NOT NULL,
    message_id bigint NOT NULL,
    ticket_id  bigint NOT NULL REFERENCES tickets (id),
    PRIMARY KEY (chat_id, message_id)
);

-- Privacy: /deletemydata leaves the user's row as a tombstone (its id keeps the ledger, payments
-- and the starter grant tied to it; every name is gone), marked here.
ALTER TABLE users ADD COLUMN erased_at timestamptz;
