"""The exceptions pyrpool raises.

Everything derives from PyrpoolError. An error answer from the daemon is a
RemoteError: a PythonError when the remote Python code raised (its class name
kept as the string .type, never imported here), or one class per error type of
the daemon's own (Timeout, Overloaded, ...), all DaemonError. Trouble on the
connection itself is a ConnectionLost (a builtin ConnectionError too).

The daemon's types keep their protocol names, none of which is a builtin:
pyrpool.Timeout is not the builtin TimeoutError, pyrpool.Cancelled is not
asyncio.CancelledError nor concurrent.futures.CancelledError. Refer to them
qualified (pyrpool.Timeout) rather than importing them bare.
"""

__all__ = [
    "PyrpoolError", "RemoteError", "PythonError", "DaemonError",
    "BadRequest", "NoSuchMethod", "NoSuchPool", "Unauthorized", "Forbidden", "EncodeError",
    "Timeout", "Cancelled", "PoolExists", "PoolDegraded", "Quarantined", "Overloaded",
    "WorkerCrashed", "ReloadFailed", "StateNotSaved", "ShuttingDown",
    "ConnectionLost", "NoAnswer", "ProtocolError", "UnsupportedProtocol",
    "DAEMON_ERRORS", "error_from_answer",
]


class PyrpoolError(Exception):
    """Base class of every exception raised by pyrpool."""


class RemoteError(PyrpoolError):
    """The daemon answered a request with an error.

    .type       the error type: a daemon type ("Timeout", ...) or the name of
                the Python exception class the remote code raised ("ValueError")
    .message    the text (str(exception) for a Python exception)
    .traceback  the remote traceback as a str, or None (daemon errors)
    .index      for a failed `map`: the position of the failing item, else None
    .raw        the error as it arrived (normally the map {"type", "message",
                "traceback"[, "index"]})
    """

    def __init__(self, type, message, traceback=None, index=None, raw=None):  # noqa: A002
        super().__init__(type, message)
        self.type = type
        self.message = message
        self.traceback = traceback
        self.index = index
        self.raw = raw

    def __str__(self):
        where = f" (map item {self.index})" if self.index is not None else ""
        return f"{self.type}: {self.message}{where}"

    def __reduce__(self):
        return (_rebuild, (self.type, self.message, self.traceback, self.index, self.raw))


def _rebuild(type, message, traceback, index, raw):  # noqa: A002
    return error_class(type)(type, message, traceback, index, raw)


class PythonError(RemoteError):
    """The remote Python code raised an exception; .type is its class name (a str)."""


class DaemonError(RemoteError):
    """One of the daemon's own error types (proto/PROTOCOL.md "Errors")."""


class BadRequest(DaemonError):
    """The request has the wrong shape, or its arguments cannot become Python objects."""


class NoSuchMethod(DaemonError):
    """The daemon does not know the method."""


class NoSuchPool(DaemonError):
    """The pool named (opts.pool, register_pool, a pool admin call) does not exist."""


class Unauthorized(DaemonError):
    """TCP: a wrong token, or no auth first; the daemon closes the connection."""


class Forbidden(DaemonError):
    """Not allowed here: an admin method on a non-admin listener, eval/exec while
    python.allow_eval is off, a module outside python.allow, stopping default/io."""


class EncodeError(DaemonError):
    """The result cannot be encoded in MessagePack (outside the type mapping)."""


class Timeout(DaemonError):
    """The call's timeout passed (the daemon's `timeout` option). Not the builtin TimeoutError."""


class Cancelled(DaemonError):
    """The call was cancelled (Client.cancel / a cast future's cancel())."""


class PoolExists(DaemonError):
    """start_pool with a name in use."""


class PoolDegraded(DaemonError):
    """The routed pool cannot start executors."""


class Quarantined(DaemonError):
    """This function crashed its pool's executors too often; held off for a while."""


class Overloaded(DaemonError):
    """The routed pool's queue is full (max_queue), or the daemon has too many connections."""


class WorkerCrashed(DaemonError):
    """The executor running the call died; the call is not run again."""


class ReloadFailed(DaemonError):
    """reload: the config does not load, or its new executors could not start (the running config stays)."""


class StateNotSaved(DaemonError):
    """A routing or pool change could not be written to the daemon's state_file: it is not made."""


class ShuttingDown(DaemonError):
    """The daemon is stopping."""


DAEMON_ERRORS = {cls.__name__: cls for cls in (
    BadRequest, NoSuchMethod, NoSuchPool, Unauthorized, Forbidden, EncodeError, Timeout,
    Cancelled, PoolExists, PoolDegraded, Quarantined, Overloaded, WorkerCrashed, ReloadFailed,
    StateNotSaved, ShuttingDown)}


class ConnectionLost(PyrpoolError, ConnectionError):
    """The connection to the daemon could not be made, or closed or broke while
    the call was in flight (the call may or may not have run). The next call
    connects again."""


class NoAnswer(PyrpoolError, TimeoutError):
    """No answer arrived within the client's own wait bound (wait=...); the
    client sent a cancel for the call."""


class ProtocolError(PyrpoolError):
    """The server sent something that is not the protocol this client speaks."""


class UnsupportedProtocol(ProtocolError):
    """The server's hello names a protocol version this client does not know."""


def error_class(type_name):
    """The class for an error type: the daemon's own, else PythonError."""
    return DAEMON_ERRORS.get(type_name, PythonError)


def _text(v):
    if isinstance(v, bytes):
        return v.decode("utf-8", "replace")
    return v


def error_from_answer(err):
    """The exception for the error slot of a response (any shape: the map the
    daemon sends by default, or a bare string / array from a peer that sends
    those)."""
    if isinstance(err, dict):
        type_name = _text(err.get("type"))
        if not isinstance(type_name, str) or not type_name:
            type_name = "RemoteError"
        message = _text(err.get("message"))
        message = "" if message is None else str(message)
        tb = _text(err.get("traceback"))
        index = err.get("index")
        if not isinstance(index, int) or isinstance(index, bool):
            index = None
        return error_class(type_name)(type_name, message, tb, index, err)
    if isinstance(err, (list, tuple)) and err and isinstance(_text(err[0]), str):
        type_name = _text(err[0])
        message = str(_text(err[1])) if len(err) > 1 else ""
        tb = _text(err[2]) if len(err) > 2 else None
        return error_class(type_name)(type_name, message, tb if isinstance(tb, str) else None, None, err)
    if isinstance(err, (str, bytes)):
        # the "string" shape: "Type: message", then a newline and the traceback if any
        text = _text(err)
        head, _, tb = text.partition("\n")
        type_name, sep, message = head.partition(": ")
        if sep and type_name.isidentifier():
            return error_class(type_name)(type_name, message, tb or None, None, err)
        return RemoteError("RemoteError", text, None, None, err)
    return RemoteError("RemoteError", repr(err), None, None, err)
