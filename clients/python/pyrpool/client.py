"""Client: the thread-safe synchronous client.

One connection, shared by every thread: a caller packs its request, registers
a waiter under a fresh msgid and writes the bytes (one lock around the write);
one reader thread per connection decodes the answers and hands each to its
waiter (a bare lock released, or a future's result set). Answers come back
in completion order and find their waiter by msgid, so calls from many
threads are pipelined on the one socket.

When the connection breaks (the daemon restarts, closes it idle, ...) every
call in flight on it fails at once with ConnectionLost; the next call
connects again (auth and hello included).
"""
import collections
import concurrent.futures
import itertools
import socket
import threading

from . import _wire, errors
from ._api import API

from ._version import __version__

READ_SIZE = 256 * 1024
TIMEOUT_GRACE = 10.0   # seconds the client waits beyond a call's timeout for the daemon's answer


class CallFuture(concurrent.futures.Future):
    """The future of a cast: a concurrent.futures.Future whose cancel() asks the
    daemon to cancel the call. cancel() returns True when the call was still in
    flight (the cancel is sent); the future then completes with the daemon's
    answer, which is pyrpool.Cancelled unless the call finished first. It is
    never left in the local CANCELLED state, so result() raises pyrpool.Cancelled
    (not concurrent.futures.CancelledError)."""

    def __init__(self, conn, msgid):
        super().__init__()
        self._conn = conn
        self.msgid = msgid

    def _deliver(self, err, result):
        if err is None:
            self.set_result(result)
        else:
            self.set_exception(err)

    def cancel(self):
        if self.done():
            return False
        return self._conn.send_cancel(self.msgid)


class _Waiter:
    """What a blocking call waits on: a lock the reader releases."""
    __slots__ = ("lock", "err", "result")

    def __init__(self):
        self.lock = threading.Lock()
        self.lock.acquire()
        self.err = None
        self.result = None

    def _deliver(self, err, result):
        self.err = err
        self.result = result
        self.lock.release()


class _Conn:
    """One connected socket, its waiters and its reader thread."""

    def __init__(self, sock, unpacker, label):
        self.sock = sock
        self.unpacker = unpacker
        self.pending = {}
        self.send_lock = threading.Lock()
        self.wq = collections.deque()   # bytes to write, from any thread
        self.closed = False
        self.reason = None          # the ConnectionLost its calls fail with
        self.last_words = None      # an error the daemon sent with msgid nil before closing
        self.label = label
        self.reader = threading.Thread(target=self._read_loop, name=f"pyrpool-reader {label}", daemon=True)

    def start(self):
        self.reader.start()

    # -- sending --
    def send(self, data):
        """Queues data and writes it, unless another thread is writing now: that
        one writes it with its own (one write for the requests of many threads;
        a thread that finishes a write looks again before it leaves)."""
        wq = self.wq
        wq.append(data)
        lock = self.send_lock
        while wq and lock.acquire(False):
            try:
                while wq:
                    if len(wq) == 1:
                        chunk = wq.popleft()
                    else:
                        parts = []
                        while wq:
                            parts.append(wq.popleft())
                        chunk = b"".join(parts)
                    self.sock.sendall(chunk)
            except OSError as e:
                wq.clear()
                self.close(errors.ConnectionLost(f"cannot send to the daemon at {self.label}: {e}"))
            finally:
                lock.release()
        if self.closed:
            raise self._lost()

    def send_cancel(self, msgid):
        """Sends the cancel notification for msgid if it is still in flight."""
        if msgid not in self.pending or self.closed:
            return False
        try:
            self.send(_wire.packb([_wire.NOTIFICATION, "cancel", [msgid]]))
        except errors.ConnectionLost:
            return False
        return True

    # -- receiving --
    def _read_loop(self):
        sock, unpacker, pending = self.sock, self.unpacker, self.pending
        reason = None
        try:
            # answers the handshake left in the buffer first
            while True:
                for msg in unpacker:
                    if type(msg) is not list or len(msg) != 4 or msg[0] != 1:
                        raise errors.ProtocolError(f"the daemon sent {msg!r:.200}, not a response")
                    entry = pending.pop(msg[1], None)
                    err = msg[2]
                    if entry is None:
                        if msg[1] is None and err is not None:
                            self.last_words = errors.error_from_answer(err)
                        continue        # an answer to a call given up on
                    if err is None:
                        entry._deliver(None, msg[3])
                    else:
                        entry._deliver(errors.error_from_answer(err), None)
                data = sock.recv(READ_SIZE)
                if not data:
                    break
                unpacker.feed(data)
        except OSError as e:
            if not self.closed:
                reason = errors.ConnectionLost(f"the connection to the daemon at {self.label} broke: {e}")
        except Exception as e:  # noqa: BLE001 -- bytes that are not the protocol
            reason = errors.ConnectionLost(f"the daemon at {self.label} sent something unexpected: {e}")
            reason.__cause__ = e
        if reason is None:
            what = f" after answering {self.last_words}" if self.last_words is not None else ""
            reason = errors.ConnectionLost(f"the daemon at {self.label} closed the connection{what}")
            reason.__cause__ = self.last_words
        self.close(reason)
        self.release()      # the reader is done with the socket: its descriptor goes

    # -- closing --
    def close(self, reason):
        """Marks the connection closed, fails every call in flight with reason."""
        if not self.closed:
            self.reason = reason
            self.closed = True
            try:
                self.sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        self._fail_pending()

    def _fail_pending(self):
        while self.pending:
            try:
                _, entry = self.pending.popitem()
            except KeyError:
                break
            entry._deliver(self._lost(), None)

    def _lost(self):
        e = errors.ConnectionLost(str(self.reason))
        e.__cause__ = self.reason.__cause__
        return e

    def release(self):
        """Closes the socket (once the reader no longer reads it)."""
        try:
            self.sock.close()
        except OSError:
            pass


class Client(API):
    """A thread-safe client of pyrpoold.

        with pyrpool.Client("unix:/run/pyrpoold/pyrpoold.sock") as c:
            c.call("math", "sqrt", 16)            # 4.0

    address: "unix:/path/to.sock" (or a bare path) or "tcp://host:port" (or a
    (host, port) tuple); token: the TCP listener's token (sent with auth).
    connect_timeout: seconds to connect and handshake. answer_timeout: the
    longest the client waits for any answer (None: no bound; a call with a
    timeout waits at most that timeout + 10 s); when it passes, the call is
    cancelled on the daemon and NoAnswer raised. The client connects at once
    (pyrpool.ConnectionLost if it cannot) and again whenever the connection
    was lost.
    """

    def __init__(self, address, *, token=None, connect_timeout=10.0, answer_timeout=None,
                 client_name=_wire.CLIENT_NAME, client_version=__version__, connect=True):
        self.kind, self.where = _wire.parse_address(address)
        self.label = self.where if self.kind == "unix" else f"{self.where[0]}:{self.where[1]}"
        self.token = token
        self.connect_timeout = connect_timeout
        self.answer_timeout = answer_timeout
        self.client_name = client_name
        self.client_version = client_version
        self.server = None            # the hello answer of the current connection
        self._ids = itertools.count(1)
        self._conn = None
        self._connect_lock = threading.Lock()
        self._closed = False
        if connect:
            self._connection()

    # -- connecting --
    def _connection(self):
        conn = self._conn
        if conn is not None and not conn.closed:
            return conn
        with self._connect_lock:
            if self._closed:
                raise errors.ConnectionLost("the client is closed")
            conn = self._conn
            if conn is None or conn.closed:
                self._conn = None
                conn = self._connect()
                self._conn = conn
            return conn

    def _connect(self):
        try:
            if self.kind == "unix":
                sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                sock.settimeout(self.connect_timeout)
                try:
                    sock.connect(self.where)
                except BaseException:
                    sock.close()
                    raise
            else:
                sock = socket.create_connection(self.where, timeout=self.connect_timeout)
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except OSError as e:
            raise errors.ConnectionLost(f"cannot connect to the daemon at {self.label}: {e}") from e
        unpacker = _wire.new_unpacker()
        try:
            if self.kind == "tcp" or self.token is not None:
                if self.token is None:
                    raise errors.Unauthorized("Unauthorized", f"{self.label} is a TCP listener: it needs token=")
                if self._handshake(sock, unpacker, "auth", [self.token]) is not True:
                    raise errors.ProtocolError("auth did not answer true")
            self.server = _wire.check_hello(
                self._handshake(sock, unpacker, "hello", _wire.hello_params(self.client_name, self.client_version)))
        except BaseException:
            sock.close()
            raise
        sock.settimeout(None)
        conn = _Conn(sock, unpacker, self.label)
        conn.start()
        return conn

    def _handshake(self, sock, unpacker, method, params):
        """One request answered before the reader thread starts (bounded by connect_timeout)."""
        msgid = next(self._ids) & _wire.MSGID_MASK
        try:
            sock.sendall(_wire.packb([_wire.REQUEST, msgid, method, params]))
            while True:
                for msg in unpacker:
                    got, err, result = _wire.decode_response(msg)
                    if got == msgid or got is None:
                        if err is not None:
                            raise err
                        return result
                data = sock.recv(READ_SIZE)
                if not data:
                    raise errors.ConnectionLost(f"the daemon at {self.label} closed the connection "
                                                f"during {method}")
                unpacker.feed(data)
        except socket.timeout as e:
            raise errors.ConnectionLost(f"no answer to {method} from {self.label} within "
                                        f"{self.connect_timeout} s") from e
        except OSError as e:
            raise errors.ConnectionLost(f"the connection to {self.label} broke during {method}: {e}") from e
        except ValueError as e:      # bytes that are not MessagePack
            raise errors.ProtocolError(f"{self.label} does not speak MessagePack-RPC: {e}") from e

    # -- requests --
    def _send(self, method, params, entry_factory):
        msgid = next(self._ids) & _wire.MSGID_MASK
        data = _wire.packb([_wire.REQUEST, msgid, method, params])   # a TypeError here sends nothing
        conn = self._connection()
        entry = entry_factory(conn, msgid)
        while conn.pending.setdefault(msgid, entry) is not entry:
            # the msgids wrapped around to one still in flight: take the next
            msgid = next(self._ids) & _wire.MSGID_MASK
            data = _wire.packb([_wire.REQUEST, msgid, method, params])
            entry = entry_factory(conn, msgid)
        conn.send(data)
        if conn.closed and conn.pending.pop(msgid, None) is entry:
            raise conn._lost()
        return conn, msgid, entry

    def _request(self, method, params, timeout, check=None):
        conn = self._conn
        if conn is not None and conn.reader is threading.current_thread():
            raise RuntimeError("a blocking call from a cast future's done callback would wait for "
                               "the thread that runs the callback: use cast() there")
        conn, msgid, w = self._send(method, params, _new_waiter)
        wait = self.answer_timeout
        if timeout is not None:
            wait = max(wait or 0, timeout + TIMEOUT_GRACE)
        try:
            if wait is None:
                w.lock.acquire()
            elif not w.lock.acquire(timeout=wait):
                if conn.pending.pop(msgid, None) is w:
                    _cancel_quietly(conn, msgid)
                    raise errors.NoAnswer(f"no answer to {method} within {wait} s (the call was cancelled)")
                w.lock.acquire()        # its answer is being handed over now
        except BaseException:
            # interrupted (KeyboardInterrupt, ...): nobody waits for the answer, so the call stops
            if conn.pending.pop(msgid, None) is w:
                _cancel_quietly(conn, msgid)
            raise
        if w.err is not None:
            raise w.err
        return w.result if check is None else check(w.result)

    def _cast(self, method, params, timeout):
        conn, msgid, fut = self._send(method, params, CallFuture)
        return fut

    def cancel(self, future):
        """Cancels a cast on the daemon (future.cancel()); True if it was still in flight."""
        return future.cancel()

    # -- life cycle --
    @property
    def connected(self):
        conn = self._conn
        return conn is not None and not conn.closed

    def close(self):
        """Closes the connection; calls still in flight fail with ConnectionLost."""
        with self._connect_lock:
            self._closed = True
            conn, self._conn = self._conn, None
        if conn is not None:
            conn.close(errors.ConnectionLost("the client was closed"))
            if conn.reader.is_alive() and conn.reader is not threading.current_thread():
                conn.reader.join(5)
            conn.release()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __repr__(self):
        return f"<pyrpool.Client {self.kind}:{self.label} {'connected' if self.connected else 'not connected'}>"


def _new_waiter(conn, msgid):
    return _Waiter()


def _cancel_quietly(conn, msgid):
    try:
        conn.send(_wire.packb([_wire.NOTIFICATION, "cancel", [msgid]]))
    except errors.ConnectionLost:
        pass
