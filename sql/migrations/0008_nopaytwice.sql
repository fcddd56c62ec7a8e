-- Never pay the provider twice (issue 14). A create whose answer was lost (timeout, crash, database
-- error after it) leaves creating_since set: the generation then waits for the task's callback, which
-- adopts it, and only after CREATE_ADOPT_WAIT creates again. Each such second create may be a second,
-- billed task at the provider: counted here, shown in /gen.
ALTER TABLE generations ADD COLUMN possible_duplicates int NOT NULL DEFAULT 0;
