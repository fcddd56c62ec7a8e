-- Never pay the provider twice (issue 14). A create whose answer was lost (timeout, crash, database
-- error after it) leaves creating_since set: the generation then waits for the task's callback, which
-- adopts it, and only after CREATE_ADOPT_WAIT creates again. Each such second create may be a second,
-- billed task at the provider: counted here, shown in /gen.
ALTER TABLE generations ADD COLUMN possible_duplicates int NOT NULL DEFAULT 0;

-- One model can go away while the rest of the provider works (KIE: "This interface is temporarily
-- paused" for Sora since mid-2026). Its health is its own, never the provider's (provider_health):
-- unavailable, it leaves the proposals' buttons and its waiting generations are refunded. A row per
-- model that was ever refused; alerted_at keeps the admins' alert to one until a create succeeds.
CREATE TABLE model_health (
    model             text        PRIMARY KEY,
    provider          text        NOT NULL,
    unavailable_since timestamptz,              -- NULL: offered (again, after the hourly probe)
    reason            text,
    alerted_at        timestamptz               -- the admins were told; cleared by a successful create
);
