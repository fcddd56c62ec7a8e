-- Updates are deduplicated per bot: a test token and the production token may share one database,
-- and each bot's update_ids count on their own. Rows applied before this migration keep bot_id 0
-- until the first start adopts them for its bot (update_adopt: the id is the token's numeric prefix,
-- which plain SQL cannot know); they are pruned after a day anyway.
ALTER TABLE telegram_updates ADD COLUMN bot_id bigint NOT NULL DEFAULT 0;
ALTER TABLE telegram_updates DROP CONSTRAINT telegram_updates_pkey;
ALTER TABLE telegram_updates ADD PRIMARY KEY (bot_id, update_id);
ALTER TABLE telegram_updates ALTER COLUMN bot_id DROP DEFAULT;
