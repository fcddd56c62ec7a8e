-- Status edits are spaced per chat, not only per generation: a user with several videos under way
-- gets their progress ticks (elapsed time, place in line) at most one every few seconds in all,
-- across processes. The bot works in private chats, where the chat is the user: the mark lives on
-- the user's row, whose lock orders two processes ticking the same chat.
ALTER TABLE users ADD COLUMN status_edited_at timestamptz;
