-- The bot-wide Telegram sending budget (core/bot/limiter.py): one row per bucket and short window,
-- counting the messages sent in it by every process. Processes lease slots in batches with one
-- upsert, so a message costs no query of its own. UNLOGGED: a crash loses at most the current
-- window's count, which is worth less than the WAL it would take.
CREATE UNLOGGED TABLE send_windows (
    bucket     text    NOT NULL,
    window_no  bigint  NOT NULL,  -- floor(epoch seconds / window length)
    taken      integer NOT NULL,  -- slots leased plus replies counted, by every process
    last_grant integer NOT NULL,  -- what the latest lease got: how RETURNING tells its caller
    PRIMARY KEY (bucket, window_no)
);
