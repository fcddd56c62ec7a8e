-- Ideas (and photos) moderation refused before their proposal: counted per user, shown by /user.
ALTER TABLE users ADD COLUMN moderation_flags integer NOT NULL DEFAULT 0;

-- What each generation cost at the provider, in the provider's credits: KIE's own figure from the
-- task record when it gives one (cost_source 'provider'), else the price table ('table'). Set when
-- the video is rendered; cost_at is the day it counts toward (spend per day, KIE_DAILY_BUDGET).
ALTER TABLE generations ADD COLUMN provider_cost numeric;
ALTER TABLE generations ADD COLUMN cost_source text;
ALTER TABLE generations ADD COLUMN cost_at timestamptz;
CREATE INDEX generations_cost_at ON generations (cost_at) WHERE cost_at IS NOT NULL;

-- The UTC days on which KIE_DAILY_BUDGET was reached and the admins told (once a day).
CREATE TABLE budget_alerts (
    day date PRIMARY KEY
);
