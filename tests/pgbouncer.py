"""A real PgBouncer in transaction pool mode in front of the tests' PostgreSQL, as Supabase and most
managed databases put one in front of theirs.

.ci/run starts one (Debian's ``pgbouncer``) and passes its address in PGBOUNCER_URL. Without that
variable the tests start their own when the binary is installed; without the binary they say so and
run the same tests directly against PostgreSQL, with the pooler settings still on.
"""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from tests.helpers import free_port

CANDIDATES = ("pgbouncer", "/usr/sbin/pgbouncer")


def find_binary() -> str | None:
    return next((found for name in CANDIDATES if (found := shutil.which(name))), None)


def server_address(server_dsn: str) -> tuple[str, int]:
    """Host (or unix socket directory, as the embedded server has) and port of the server."""
    parts = urlsplit(server_dsn)
    host = parts.hostname or parse_qs(parts.query).get("host", ["127.0.0.1"])[0]
    return host, parts.port or int(parse_qs(parts.query).get("port", ["5432"])[0])


def config(server_dsn: str, port: int, directory: Path, *, daemon: bool = False) -> str:
    """pgbouncer.ini: every database name of the server, transaction pooling, trust auth (tests only).
    Its users file is ``directory``/users.txt; a daemon also keeps its log and pid file there."""
    host, server_port = server_address(server_dsn)
    return f"""[databases]
* = host={host} port={server_port}

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = {port}
unix_socket_dir =
auth_type = trust
auth_file = {directory / "users.txt"}
pool_mode = transaction
max_client_conn = 1000
default_pool_size = 40
ignore_startup_parameters = extra_float_digits
""" + (f"logfile = {directory / 'pgbouncer.log'}\npidfile = {directory / 'pgbouncer.pid'}\n" if daemon else "")


def prepare(directory: Path, server_dsn: str, port: int, *, daemon: bool = False) -> list[str]:
    """Write the config and users file into ``directory``; return the command line that runs pgbouncer."""
    user = urlsplit(server_dsn).username or "postgres"
    (directory / "pgbouncer.ini").write_text(config(server_dsn, port, directory, daemon=daemon))
    (directory / "users.txt").write_text(f'"{user}" ""\n')
    command = ["-d", "pgbouncer.ini"] if daemon else ["pgbouncer.ini"]
    if os.geteuid() == 0:
        # PgBouncer refuses to run as root (CI is root): it drops to an unprivileged user itself, who
        # then writes its log and pid file here.
        user_entry = _unprivileged_user(server_address(server_dsn)[0])
        command[:0] = ["-u", user_entry.pw_name]
        os.chown(directory, user_entry.pw_uid, user_entry.pw_gid)
        directory.chmod(0o755)
    return command


class PgBouncer:
    """A pgbouncer process owned by the test session."""

    def __init__(self, proc: subprocess.Popen[bytes], port: int, user: str, directory: Path) -> None:
        self.proc = proc
        self.port = port
        self.user = user
        self._directory = directory

    @property
    def url(self) -> str:
        return f"postgresql://{self.user}@127.0.0.1:{self.port}/postgres"

    @classmethod
    def start(cls, binary: str, server_dsn: str) -> PgBouncer:
        user = urlsplit(server_dsn).username or "postgres"
        directory = Path(tempfile.mkdtemp(prefix="reelsmith-pgbouncer-"))
        port = free_port()
        command = [binary, *prepare(directory, server_dsn, port)]
        with (directory / "pgbouncer.log").open("wb") as log:  # the child keeps its own copy of the descriptor
            proc = subprocess.Popen(command, cwd=directory, stdout=log, stderr=subprocess.STDOUT)
        bouncer = cls(proc, port, user, directory)
        bouncer._wait_listening()
        return bouncer

    def _wait_listening(self, timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                break
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.5).close()
                return
            except OSError:
                time.sleep(0.05)  # a process we do not control: no event to wait on
        self.stop()
        raise RuntimeError("pgbouncer did not start:\n" + (self._directory / "pgbouncer.log").read_text())

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=10)
        shutil.rmtree(self._directory, ignore_errors=True)


def _unprivileged_user(server_host: str) -> pwd.struct_passwd:
    if server_host.startswith("/"):
        # A unix socket in a private directory (the embedded server's data directory, owned by the
        # user it runs as when started by root): only that user may connect through it.
        owner = Path(server_host).stat().st_uid
        if owner != 0:
            return pwd.getpwuid(owner)
    for name in ("postgres", "nobody"):
        try:
            return pwd.getpwnam(name)
        except KeyError:
            continue
    raise RuntimeError("no unprivileged user to run pgbouncer as")


if __name__ == "__main__":
    # .ci/run: python -m tests.pgbouncer DIR SERVER_DSN PORT prints the arguments that start a daemon.
    import sys

    print(" ".join(prepare(Path(sys.argv[1]), sys.argv[2], int(sys.argv[3]), daemon=True)))
