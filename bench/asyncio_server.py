"""The MessagePack-RPC server a Python team would write in an afternoon.

    /usr/bin/python3 bench/asyncio_server.py SOCKET_PATH

One asyncio process, python3-msgpack, no pool: every call runs inline on the
event loop. It speaks the same protocol as pyrpoold for what the benchmark
uses: ``call`` with params [module, function, args, kwargs?, opts?] (opts is
ignored), the shorthand "module.function" / "module:function" with params =
args, and ``ping``. Answers are [1, msgid, None, result] or
[1, msgid, {"type", "message", "traceback"}, None].

It is written plainly but not slowly: a streaming Unpacker per connection,
callables resolved once and cached, and all the answers to one read written
with one transport.write.
"""
import asyncio
import os
import pkgutil
import signal
import sys
import traceback

import msgpack

_callables = {}


def resolve(module, function):
    key = module + ":" + function
    fn = _callables.get(key)
    if fn is None:
        fn = pkgutil.resolve_name(key)
        _callables[key] = fn
    return fn


def error(exc, with_traceback=True):
    return {
        "type": type(exc).__name__,
        "message": str(exc),
        "traceback": "".join(traceback.format_exception(exc)) if with_traceback else None,
    }


def handle(method, params):
    """Returns (error, result) for one request."""
    if method == "call":
        if not isinstance(params, list) or not 3 <= len(params) <= 5:
            return {"type": "BadRequest", "message": "params must be [module, function, args, kwargs?, opts?]",
                    "traceback": None}, None
        module, function, args = params[0], params[1], params[2]
        kwargs = params[3] if len(params) > 3 and params[3] is not None else {}
    elif method == "ping":
        return None, "pong"
    elif ":" in method:
        module, _, function = method.partition(":")
        args, kwargs = params, {}
    elif "." in method:
        module, _, function = method.rpartition(".")
        args, kwargs = params, {}
    else:
        return {"type": "NoSuchMethod", "message": "no method %r" % method, "traceback": None}, None
    try:
        fn = resolve(module, function)
        return None, fn(*(args or ()), **kwargs)
    except Exception as exc:  # the error goes back to the caller
        return error(exc), None


class RPCProtocol(asyncio.Protocol):
    def connection_made(self, transport):
        self.transport = transport
        self.unpacker = msgpack.Unpacker(raw=False, max_buffer_size=256 * 1024 * 1024)
        self.packer = msgpack.Packer(use_bin_type=True)

    def data_received(self, data):
        self.unpacker.feed(data)
        out = []
        for msg in self.unpacker:
            if not isinstance(msg, list) or len(msg) not in (3, 4):
                continue
            if msg[0] == 2:  # notification: nothing to answer
                continue
            _, msgid, method, params = msg
            err, result = handle(method, params)
            try:
                out.append(self.packer.pack([1, msgid, err, result]))
            except Exception as exc:
                out.append(self.packer.pack([1, msgid, error(exc, False), None]))
        if out:
            self.transport.write(b"".join(out) if len(out) > 1 else out[0])


async def main(path):
    loop = asyncio.get_running_loop()
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
    server = await loop.create_unix_server(RPCProtocol, path)
    stop = asyncio.Event()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    loop.add_signal_handler(signal.SIGINT, stop.set)
    async with server:
        await stop.wait()


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: asyncio_server.py SOCKET_PATH")
    asyncio.run(main(sys.argv[1]))
