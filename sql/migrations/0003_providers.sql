-- Video providers behind one interface (issue 6): a generation records its provider and task, the
-- input image waits in the database until the provider has it, and the provider's health is shared
-- by every process so that an outage makes work wait instead of failing.

ALTER TABLE generations RENAME COLUMN kie_task_id TO task_id;
DROP INDEX generations_kie_task;
ALTER TABLE generations
    ADD COLUMN provider       text        NOT NULL DEFAULT 'kie',  -- who renders it (core/providers)
    ADD COLUMN image_url      text,                                -- the input image where the provider reads it
    ADD COLUMN creating_since timestamptz,                         -- a create call is in flight: too late to cancel
    ADD COLUMN refunded_at    timestamptz,                         -- refunded: failed, cancelled, or past its deadline
    ADD COLUMN late           boolean     NOT NULL DEFAULT false,  -- rendered after its deadline: delivered free
    ADD COLUMN status_stage   text;                                -- what the status message shows now
CREATE UNIQUE INDEX generations_task ON generations (provider, task_id) WHERE task_id IS NOT NULL;
COMMENT ON COLUMN generations.deadline_at IS 'rendering_at + GENERATION_TIMEOUT: render time counts from the provider''s acceptance';

-- One list of statuses; core/pipeline/status.py names the same ones (a test compares them).
-- cancelled: the user cancelled it while it waited, and was refunded.
ALTER TABLE generations DROP CONSTRAINT status_is_known;
ALTER TABLE generations ADD CONSTRAINT status_is_known CHECK (status IN (
    'draft', 'discarded', 'queued', 'prompting', 'submitting', 'rendering', 'uploading', 'done', 'failed', 'cancelled'));

-- The photo, made 9:16, downloaded from Telegram once and kept until the provider has it.
CREATE TABLE generation_inputs (
    generation_id bigint      PRIMARY KEY REFERENCES generations (id) ON DELETE CASCADE,
    image         bytea       NOT NULL,
    mime          text        NOT NULL DEFAULT 'image/jpeg',
    created_at    timestamptz NOT NULL DEFAULT now()
);

-- A provider's health, shared by every process. After a run of retryable failures across the fleet
-- (or at once, for an account problem) it is unavailable: submits wait, one probe job asks it with
-- backoff, and the first success makes it available again.
CREATE TABLE provider_health (
    provider          text        PRIMARY KEY,
    available         boolean     NOT NULL DEFAULT true,
    account_problem   boolean     NOT NULL DEFAULT false,  -- unavailable for the key or credit: confirms refused
    failures          integer     NOT NULL DEFAULT 0,      -- retryable failures in a row, every process together
    reason            text,                                -- why it is unavailable, for the operator
    since             timestamptz NOT NULL DEFAULT now(),  -- in its current state since
    balance           double precision,                    -- the account's credit, as last read
    balance_at        timestamptz,
    low_alerted_at    timestamptz                          -- the last "balance is low" alert (at most hourly)
);

DROP VIEW generation_overview;
CREATE VIEW generation_overview AS
SELECT status, provider, model, count(*) AS generations,
       count(*) FILTER (WHERE late) AS late,
       date_trunc('second', now() - min(confirmed_at) FILTER (
           WHERE status IN ('queued', 'prompting', 'submitting', 'rendering', 'uploading'))) AS oldest_unfinished
FROM generations
WHERE created_at > now() - interval '1 day'
GROUP BY status, provider, model
ORDER BY status, provider, model;
