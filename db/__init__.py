"""Everything that talks to PostgreSQL: the pool, migrations, named SQL and the LISTEN connection."""
