-- Issue 17 (progress people can see): the deliveries of each model, newest first, for the median
-- render time behind the progress bar (generation_render_medians).
CREATE INDEX generations_delivered ON generations (model, finished_at DESC)
    WHERE status = 'done' AND rendering_at IS NOT NULL;
