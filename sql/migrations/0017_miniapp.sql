-- The Mini App's per-user request budget (core/web/miniapp): one row per user, counted in whole
-- minutes, so every process serving the API agrees. Actions (a POST or DELETE) are also counted with
-- the user's chat messages against USER_MESSAGES_PER_MINUTE; reads have their own, looser budget.
-- UNLOGGED: every API request writes its row, and a logged write would make each read request's
-- commit wait for a WAL flush; counters lost in a crash cost nothing (a minute's budget starts over).
CREATE UNLOGGED TABLE app_rates (
    user_id bigint PRIMARY KEY,
    window_start timestamptz NOT NULL,
    reads integer NOT NULL DEFAULT 0,
    actions integer NOT NULL DEFAULT 0
);

-- The delivered video's thumbnail (Telegram makes one for a streamable video): the Mini App's
-- gallery fetches it through the bot (getFile). Erased with the video's file id.
ALTER TABLE generations ADD COLUMN thumbnail_file_id text;
