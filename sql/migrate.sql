-- Statements of the migration runner (db/migrate.py). Migrations themselves are the numbered files
-- in sql/migrations/, applied in order, each once, all in one transaction.

-- name: migration_lock
-- Serialises concurrent starts: the second process waits here, then finds nothing left to do.
-- $1 lock key bigint
SELECT pg_advisory_xact_lock($1);

-- name: migration_table
CREATE TABLE IF NOT EXISTS schema_migrations (
    version    integer     PRIMARY KEY,
    name       text        NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now()
);

-- name: migration_applied
SELECT version FROM schema_migrations ORDER BY version;

-- name: migration_record
-- $1 version, $2 name
INSERT INTO schema_migrations (version, name) VALUES ($1, $2);

-- name: migration_table_exists
-- The preflight reads without creating anything: before the first start there is no table yet.
SELECT to_regclass('schema_migrations') IS NOT NULL;
