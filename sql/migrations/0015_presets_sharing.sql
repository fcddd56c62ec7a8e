-- Issue 16, parts 4 and 5.
-- preset: the id of the style (PRESETS, core/growth.Preset.id) chosen on the proposal; null: none. Kept as
-- the id, not the prompt addition, so /history and the Mini App name it as PRESETS does today; the prompt
-- writer reads the addition from the settings when it writes the prompt.
ALTER TABLE generations ADD COLUMN preset text;
ALTER TABLE generations ADD CONSTRAINT preset_is_an_id CHECK (preset ~ '^[a-z0-9-]{1,24}$');

-- A user's delivered videos, newest first: what an inline query (sharing) and /history read.
CREATE INDEX generations_shareable ON generations (user_id, finished_at DESC) WHERE status = 'done';
