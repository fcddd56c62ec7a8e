"""What an unreachable database raises, as opposed to a statement that is wrong: the runtime waits
out the first kind quietly (core/runtime/outage.py), the queue does not count it toward the circuit
breaker, and the web answers 503 for it."""

from __future__ import annotations

import asyncpg

# Errors that mean "the database cannot be reached", not "this statement is wrong".
UNAVAILABLE = (
    OSError,
    TimeoutError,
    asyncpg.PostgresConnectionError,
    asyncpg.InterfaceError,
    asyncpg.CannotConnectNowError,
    asyncpg.TooManyConnectionsError,
    asyncpg.exceptions.OperatorInterventionError,  # the server is shutting down (failover)
)
# In a job the same, but narrower: a handler's own OSError (a missing file) is a real failure.
JOB_UNAVAILABLE = (*(e for e in UNAVAILABLE if e is not OSError), ConnectionError)


def unavailable(error: BaseException) -> bool:
    return isinstance(error, UNAVAILABLE)
