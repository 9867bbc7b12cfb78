"""pyrpool: the Python client of pyrpoold.

    import pyrpool
    with pyrpool.Client("unix:/run/pyrpoold/pyrpoold.sock") as c:
        c.call("math", "sqrt", 16)                      # 4.0
        c.call("json", "dumps", {"b": 1}, sort_keys=True, pool="io", timeout=5)

Client is thread-safe (one connection, calls pipelined on it); AsyncClient
is the same API for asyncio. Errors: see pyrpool.errors.
"""
from .client import Client, CallFuture, __version__
from .aio import AsyncClient
from .errors import (
    PyrpoolError, RemoteError, PythonError, DaemonError,
    BadRequest, NoSuchMethod, NoSuchPool, Unauthorized, Forbidden, EncodeError, Timeout,
    Cancelled, PoolExists, PoolDegraded, Quarantined, Overloaded, WorkerCrashed, ReloadFailed,
    StateNotSaved, ShuttingDown, ConnectionLost, NoAnswer, ProtocolError, UnsupportedProtocol, DAEMON_ERRORS,
)
from ._wire import PROTOCOL_VERSIONS, packb, unpackb, decode_response

__all__ = [
    "Client", "AsyncClient", "CallFuture", "__version__",
    "PyrpoolError", "RemoteError", "PythonError", "DaemonError",
    "BadRequest", "NoSuchMethod", "NoSuchPool", "Unauthorized", "Forbidden", "EncodeError", "Timeout",
    "Cancelled", "PoolExists", "PoolDegraded", "Quarantined", "Overloaded", "WorkerCrashed", "ReloadFailed",
    "StateNotSaved", "ShuttingDown",
    "ConnectionLost", "NoAnswer", "ProtocolError", "UnsupportedProtocol", "DAEMON_ERRORS",
    "PROTOCOL_VERSIONS", "packb", "unpackb", "decode_response",
]
