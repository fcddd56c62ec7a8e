"""What the process is asked to be (its role) and how it ends (exit codes): light enough to import
before the settings are read, so a bad setting is reported before any heavy import.

Exit codes: 0 stopped on request, 1 failed to start, 70 a part kept crashing (or the database
stayed away too long), 75 the circuit breaker tripped, 78 bad settings (also a bot token Telegram
refuses), 128+N a second signal N. Anything non-zero asks the platform for a restart.
"""

from __future__ import annotations

from enum import StrEnum

EXIT_OK = 0
EXIT_START_FAILED = 1
EXIT_SUPERVISOR = 70
EXIT_BREAKER = 75
EXIT_CONFIG = 78


class Role(StrEnum):
    ALL = "all"
    WEB = "web"
    WORKER = "worker"


class Fatal(Exception):
    """Restarting cannot help: stop the process with ``exit_code``."""

    def __init__(self, message: str, exit_code: int) -> None:
        super().__init__(message)
        self.exit_code = exit_code
