-- Status edits are spaced per chat, not only per generation: a user with several videos under way
-- gets their progress ticks (elapsed time, place in line) at most one every few seconds in all,
-- across processes. One row per chat that ever showed a status, locked by the claim so that two
-- processes ticking one chat take turns. Its own table, not a column of users: an update's
-- transaction holds the user's row from its first statement and may then lock a generation, while
-- a claim locks the generation first; a lock on users here would let the two wait on each other.
CREATE TABLE chat_edits (
    chat_id   bigint      PRIMARY KEY,
    edited_at timestamptz NOT NULL
);
