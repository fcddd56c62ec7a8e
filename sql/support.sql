-- Support tickets (migration 0010): the ticket rows and where their messages landed in the
-- operators' chats. The user's words are never stored: they are copied, not saved.

-- name: ticket_open
-- The user's unresolved ticket, opened now or reopened (an answered ticket the user writes to again
-- is open again); created is false when the message joins a ticket that already existed. Not an
-- upsert, which would spend a ticket number on every follow-up; two updates of one user never run
-- this at once (each holds the user's row from its first statement), and the unique index
-- tickets_one_unresolved stands behind that.
-- $1 user id
WITH reopened AS (
    UPDATE tickets SET status = 'open', updated_at = now()
    WHERE user_id = $1::bigint AND status <> 'closed'
    RETURNING id
), created AS (
    INSERT INTO tickets (user_id) SELECT $1::bigint WHERE NOT EXISTS (SELECT FROM reopened)
    RETURNING id
)
SELECT id, false AS created FROM reopened
UNION ALL
SELECT id, true AS created FROM created;

-- name: ticket_recent_payments
-- The user's last payments, newest first, for the ticket's header.
-- $1 user id, $2 how many
SELECT charge_id, credits, total_amount AS stars, created_at, refunded_at
FROM payments WHERE user_id = $1::bigint ORDER BY created_at DESC LIMIT $2::int;

-- name: ticket_message_add
-- A message the ticket put in an operators' chat (header or copy); a redelivered send changes nothing.
-- $1 chat id, $2 message id, $3 ticket id
INSERT INTO ticket_messages (chat_id, message_id, ticket_id)
VALUES ($1::bigint, $2::bigint, $3::bigint)
ON CONFLICT DO NOTHING;

-- name: ticket_for_message
-- The ticket behind a message in an operators' chat: what an operator's reply answers.
-- $1 chat id, $2 message id
SELECT t.id, t.user_id, t.status
FROM ticket_messages m JOIN tickets t ON t.id = m.ticket_id
WHERE m.chat_id = $1::bigint AND m.message_id = $2::bigint;

-- name: ticket_answered
-- An operator answered: the ticket waits on the user now (still unresolved, not in /tickets).
-- $1 ticket id
UPDATE tickets SET status = 'answered', updated_at = now()
WHERE id = $1::bigint AND status <> 'closed'
RETURNING id;

-- name: ticket_close
-- /close: returns the ticket's user when it was not closed already.
-- $1 ticket id, $2 the admin closing it
UPDATE tickets SET status = 'closed', updated_at = now(), closed_by = $2::bigint
WHERE id = $1::bigint AND status <> 'closed'
RETURNING user_id;

-- name: tickets_open
-- /tickets: the ones waiting on an operator, oldest first.
-- $1 how many
SELECT t.id, t.user_id, u.username, t.created_at, t.updated_at
FROM tickets t JOIN users u ON u.id = t.user_id
WHERE t.status = 'open' ORDER BY t.created_at LIMIT $1::int;
