"""AsyncClient: the client for asyncio.

Same methods as Client, as coroutines (await c.call(...)); one connection,
any number of calls in flight on it, answers matched by msgid in the
protocol's data_received. cast() is a coroutine too: it returns once the
request is written, with an asyncio future of the answer.
"""
import asyncio
import itertools
import socket

from . import _wire, errors
from ._api import API
from ._version import __version__
from .client import TIMEOUT_GRACE


class AsyncCallFuture(asyncio.Future):
    """The future of an AsyncClient cast. Client.cancel(fut) asks the daemon to
    cancel the call: the future then raises pyrpool.Cancelled (the daemon's
    answer). fut.cancel() cancels it here at once (asyncio.CancelledError)
    and sends the daemon the cancel as well."""
    msgid = None


class _Protocol(asyncio.Protocol):
    def __init__(self, label):
        self.label = label
        self.unpacker = _wire.new_unpacker()
        self.pending = {}
        self.transport = None
        self.closed = False
        self.reason = None
        self.last_words = None
        self.paused = False
        self.resumed = None
        self.wbuf = []          # requests of this loop turn, written together at its end
        self.loop = asyncio.get_running_loop()

    def connection_made(self, transport):
        self.transport = transport

    def data_received(self, data):
        unpacker, pending = self.unpacker, self.pending
        unpacker.feed(data)
        try:
            for msg in unpacker:
                if type(msg) is not list or len(msg) != 4 or msg[0] != 1:
                    raise errors.ProtocolError(f"the daemon sent {msg!r:.200}, not a response")
                fut = pending.pop(msg[1], None)
                err = msg[2]
                if fut is None:
                    if msg[1] is None and err is not None:
                        self.last_words = errors.error_from_answer(err)
                    continue
                if fut.done():
                    continue
                if err is None:
                    fut.set_result(msg[3])
                else:
                    fut.set_exception(errors.error_from_answer(err))
        except Exception as e:  # noqa: BLE001 -- not the protocol
            self.reason = errors.ConnectionLost(f"the daemon at {self.label} sent something unexpected: {e}")
            self.reason.__cause__ = e
            self.transport.abort()

    def connection_lost(self, exc):
        if self.reason is None:
            if exc is not None:
                self.reason = errors.ConnectionLost(f"the connection to the daemon at {self.label} broke: {exc}")
            else:
                what = f" after answering {self.last_words}" if self.last_words is not None else ""
                self.reason = errors.ConnectionLost(f"the daemon at {self.label} closed the connection{what}")
                self.reason.__cause__ = self.last_words
        self.closed = True
        pending, self.pending = self.pending, {}
        for fut in pending.values():
            if not fut.done():
                fut.set_exception(self.lost())
        if self.resumed is not None and not self.resumed.done():
            self.resumed.set_result(None)

    def lost(self):
        e = errors.ConnectionLost(str(self.reason))
        e.__cause__ = self.reason.__cause__
        return e

    def pause_writing(self):
        self.paused = True

    def resume_writing(self):
        self.paused = False
        if self.resumed is not None and not self.resumed.done():
            self.resumed.set_result(None)

    async def writable(self):
        while self.paused and not self.closed:
            if self.resumed is None or self.resumed.done():
                self.resumed = asyncio.get_running_loop().create_future()
            await self.resumed

    def send(self, data):
        """Queues data; what the coroutines of one loop turn send goes out in
        one write, at the end of the turn."""
        if self.closed:
            raise self.lost()
        if not self.wbuf:
            self.loop.call_soon(self.flush)
        self.wbuf.append(data)

    def flush(self):
        buf, self.wbuf = self.wbuf, []
        if buf and not self.closed and not self.transport.is_closing():
            self.transport.write(buf[0] if len(buf) == 1 else b"".join(buf))

    def cancel(self, msgid):
        if not self.closed and not self.transport.is_closing():
            self.send(_wire.packb([_wire.NOTIFICATION, "cancel", [msgid]]))


class AsyncClient(API):
    """The asyncio client of pyrpoold: Client's API as coroutines.

        async with pyrpool.AsyncClient("unix:/run/pyrpoold/pyrpoold.sock") as c:
            await c.call("math", "sqrt", 16)        # 4.0
            futs = [await c.cast("math", "sqrt", i) for i in range(1000)]
            await asyncio.gather(*futs)

    The arguments are Client's. It connects on first use (or `await c.connect()`,
    or `async with`), and again after the connection was lost.
    """

    def __init__(self, address, *, token=None, connect_timeout=10.0, answer_timeout=None,
                 client_name=_wire.CLIENT_NAME, client_version=__version__):
        self.kind, self.where = _wire.parse_address(address)
        self.label = self.where if self.kind == "unix" else f"{self.where[0]}:{self.where[1]}"
        self.token = token
        self.connect_timeout = connect_timeout
        self.answer_timeout = answer_timeout
        self.client_name = client_name
        self.client_version = client_version
        self.server = None
        self._ids = itertools.count(1)
        self._proto = None
        self._lock = None
        self._closed = False

    async def connect(self):
        await self._connection()
        return self

    async def _connection(self):
        proto = self._proto
        if proto is not None and not proto.closed:
            return proto
        if self._lock is None:
            self._lock = asyncio.Lock()
        async with self._lock:
            if self._closed:
                raise errors.ConnectionLost("the client is closed")
            proto = self._proto
            if proto is None or proto.closed:
                self._proto = None
                proto = await asyncio.wait_for(self._connect(), self.connect_timeout) \
                    if self.connect_timeout else await self._connect()
                self._proto = proto
            return proto

    async def _connect(self):
        loop = asyncio.get_running_loop()
        try:
            if self.kind == "unix":
                _, proto = await loop.create_unix_connection(lambda: _Protocol(self.label), self.where)
            else:
                _, proto = await loop.create_connection(lambda: _Protocol(self.label), *self.where)
                sock = proto.transport.get_extra_info("socket")
                if sock is not None:
                    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except OSError as e:
            raise errors.ConnectionLost(f"cannot connect to the daemon at {self.label}: {e}") from e
        try:
            if self.kind == "tcp" or self.token is not None:
                if self.token is None:
                    raise errors.Unauthorized("Unauthorized", f"{self.label} is a TCP listener: it needs token=")
                if await self._handshake(proto, "auth", [self.token]) is not True:
                    raise errors.ProtocolError("auth did not answer true")
            self.server = _wire.check_hello(await self._handshake(
                proto, "hello", _wire.hello_params(self.client_name, self.client_version)))
        except BaseException:
            proto.transport.abort()
            raise
        return proto

    async def _handshake(self, proto, method, params):
        msgid = next(self._ids) & _wire.MSGID_MASK
        fut = asyncio.get_running_loop().create_future()
        proto.pending[msgid] = fut
        proto.send(_wire.packb([_wire.REQUEST, msgid, method, params]))
        try:
            return await fut
        except errors.ConnectionLost:
            if isinstance(proto.last_words, errors.RemoteError):
                raise proto.last_words from None
            raise

    async def _send(self, method, params, fut):
        msgid = next(self._ids) & _wire.MSGID_MASK
        data = _wire.packb([_wire.REQUEST, msgid, method, params])
        proto = self._proto
        if proto is None or proto.closed:
            proto = await self._connection()
        if proto.paused:
            await proto.writable()
        while msgid in proto.pending:       # the msgids wrapped around to one still in flight
            msgid = next(self._ids) & _wire.MSGID_MASK
            data = _wire.packb([_wire.REQUEST, msgid, method, params])
        proto.pending[msgid] = fut
        try:
            proto.send(data)
        except errors.ConnectionLost:
            proto.pending.pop(msgid, None)
            raise
        return proto, msgid

    async def _request(self, method, params, timeout, check=None):
        proto = self._proto
        fut = (proto.loop if proto is not None else asyncio.get_running_loop()).create_future()
        proto, msgid = await self._send(method, params, fut)
        wait = self.answer_timeout
        if timeout is not None:
            wait = max(wait or 0, timeout + TIMEOUT_GRACE)
        try:
            if wait is None:
                result = await fut
            else:
                try:
                    result = await asyncio.wait_for(asyncio.shield(fut), wait)
                except asyncio.TimeoutError:
                    if proto.pending.pop(msgid, None) is fut:
                        proto.cancel(msgid)
                        raise errors.NoAnswer(f"no answer to {method} within {wait} s "
                                              "(the call was cancelled)") from None
                    result = await fut
        except asyncio.CancelledError:
            # the awaiting task was cancelled: so is the call on the daemon
            if proto.pending.pop(msgid, None) is fut:
                proto.cancel(msgid)
            raise
        return result if check is None else check(result)

    async def _cast(self, method, params, timeout):
        fut = AsyncCallFuture()
        proto, msgid = await self._send(method, params, fut)
        fut.msgid = msgid
        fut._proto = proto
        fut.add_done_callback(_cancelled_here)
        return fut

    def cancel(self, future):
        """Asks the daemon to cancel a cast; the future then raises
        pyrpool.Cancelled. True if the call was still in flight."""
        proto = getattr(future, "_proto", None)
        if proto is None or future.done() or proto.pending.get(future.msgid) is not future:
            return False
        proto.cancel(future.msgid)
        return True

    @property
    def connected(self):
        return self._proto is not None and not self._proto.closed

    async def close(self):
        self._closed = True
        proto, self._proto = self._proto, None
        if proto is not None and not proto.closed:
            proto.reason = errors.ConnectionLost("the client was closed")
            proto.transport.close()
            # connection_lost fails what is still in flight
            for _ in range(100):
                if proto.closed:
                    break
                await asyncio.sleep(0.01)

    async def __aenter__(self):
        await self._connection()
        return self

    async def __aexit__(self, *exc):
        await self.close()

    def __repr__(self):
        return f"<pyrpool.AsyncClient {self.kind}:{self.label} {'connected' if self.connected else 'not connected'}>"


def _cancelled_here(fut):
    if fut.cancelled():
        proto = fut._proto
        if proto.pending.pop(fut.msgid, None) is fut:
            proto.cancel(fut.msgid)
