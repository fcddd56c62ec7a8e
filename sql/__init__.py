"""The SQL of Reelsmith, shipped as package data: named statements (``*.sql``) and ``migrations/``.

A package so that ``pip install .`` carries the files and ``importlib.resources`` finds them wherever
the code is installed; db/sql.py and db/migrate.py read them from here."""
