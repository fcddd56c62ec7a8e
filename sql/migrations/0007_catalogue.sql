-- The catalogue of today (issue 14): a model priced per second lets the user pick the clip's length,
-- which the generation keeps (the provider request sends it; the price charged is for it). And one
-- free retry of a render the provider failed for a passing reason (Veo's "unable to generate audio"):
-- counted here so it happens at most once per generation.
ALTER TABLE generations ADD COLUMN duration_s int CHECK (duration_s IS NULL OR duration_s > 0);
ALTER TABLE generations ADD COLUMN recreated int NOT NULL DEFAULT 0;
