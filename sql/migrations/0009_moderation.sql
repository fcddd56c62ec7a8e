-- Ideas (and photos) moderation refused before their proposal: counted per user, shown by /user.
ALTER TABLE users ADD COLUMN moderation_flags integer NOT NULL DEFAULT 0;
