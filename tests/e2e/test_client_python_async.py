"""pyrpool.AsyncClient (clients/python) against the real daemon: the calls
as coroutines, thousands in flight on one connection, errors, cancel (by the
client, and by cancelling the awaiting task), the no-answer bound, a daemon
restart, TCP with a token and the hello check."""
import asyncio
import socket
import threading
import time

import msgpack
import pytest

import pyrpool
from conftest import finish_daemon, module_daemon, wait_file, wait_pool
from test_client_python import CLIENTMOD

# nap and started_nap: the Python client suite's module, loaded here as napmod
NAPMOD = CLIENTMOD


@pytest.fixture(scope="module")
def d(request, tmp_path_factory):
    d = module_daemon(request, tmp_path_factory, "pyclient-async", allow_eval=True, tcp=True,
                      modules={"napmod.py": NAPMOD},
                      pools={"default": {"size": 2}, "io": {"size": 2, "mode": "process"}})
    yield d
    finish_daemon(d)


def run(coro, timeout=60):
    """Runs coro on a new loop, bounded."""
    return asyncio.run(asyncio.wait_for(coro, timeout))


def client(d, **kw):
    kw.setdefault("answer_timeout", 30 * d.factor)
    return pyrpool.AsyncClient(f"unix:{d.socket_path}", **kw)


def test_calls_as_coroutines(d):
    async def main():
        async with client(d) as c:
            assert await c.call("math", "sqrt", 16) == 4.0
            assert await c.call("helpers", "add_kw", 1, b=2, c=3) == [1, 2, 3]
            assert await c.call_kw("helpers", "kwargs_echo", [1], {"pool": "p", "timeout": 2}) == \
                [[1], {"pool": "p", "timeout": 2}]
            assert await c.call("json", "dumps", [1], pool="io", timeout=5) == "[1]"
            assert await c.map("math", "sqrt", [1, 4]) == [1.0, 2.0]
            assert await c.starmap("operator", "add", [(1, 2)]) == [3]
            assert await c.eval("2 + 4") == 6 and await c.exec("import os") is None
            assert await c.ping() == "pong"
            h = await c.hello()
            assert h["protocol"] == 1 and c.server["server"] == "pyrpoold"
            assert await c.lookup_pool("math") == "default"
            assert [p["name"] for p in await c.pools()] == ["default", "io"]
            assert await c.num_contexts("io") == 2
            assert await c.request("math.sqrt", [9]) == 3.0
            f = await c.cast("operator", "mul", 6, 7)
            assert await f == 42
    run(main())


def test_thousands_in_flight_on_one_connection(d):
    async def main():
        async with client(d) as c:
            n = 5000
            futures = [await c.cast("operator", "add", i, 1) for i in range(n)]
            assert await asyncio.gather(*futures) == [i + 1 for i in range(n)]
            # and as concurrent coroutines
            res = await asyncio.gather(*(c.call("operator", "neg", i) for i in range(n)))
            assert res == [-i for i in range(n)]
    run(main())


def test_errors(d):
    async def main():
        async with client(d) as c:
            with pytest.raises(pyrpool.PythonError) as info:
                await c.call("helpers", "raise_value_error", "bad")
            assert info.value.type == "ValueError" and info.value.message == "bad"
            assert "raise_value_error" in info.value.traceback
            with pytest.raises(pyrpool.NoSuchPool):
                await c.call("math", "sqrt", 1, pool="nope")
            with pytest.raises(pyrpool.Timeout):
                await c.call("napmod", "nap", 5, pool="io", timeout=0.1)
            with pytest.raises(pyrpool.RemoteError) as info:
                await c.starmap("operator", "truediv", [[1, 1], [1, 0]])
            assert info.value.index == 1
            assert await c.ping() == "pong"
    run(main())


def test_cancel(d, tmp_path, factor):
    async def main():
        async with client(d) as c:
            path = tmp_path / "started"
            f = await c.cast("napmod", "started_nap", str(path), 30, pool="io")
            await asyncio.get_running_loop().run_in_executor(None, wait_file, path, 10 * factor)
            assert c.cancel(f) is True
            with pytest.raises(pyrpool.Cancelled):
                await f
            assert c.cancel(f) is False
            # cancelling the task that awaits a call cancels the call on the daemon
            path2 = tmp_path / "started2"
            task = asyncio.ensure_future(c.call("napmod", "started_nap", str(path2), 30, pool="io"))
            await asyncio.get_running_loop().run_in_executor(None, wait_file, path2, 10 * factor)
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            # so does cancelling a cast's future here
            path3 = tmp_path / "started3"
            f3 = await c.cast("napmod", "started_nap", str(path3), 30, pool="io")
            await asyncio.get_running_loop().run_in_executor(None, wait_file, path3, 10 * factor)
            f3.cancel()
            assert await c.ping() == "pong"
    run(main())
    with d.connect() as raw:     # both calls were stopped: io is idle again, well before 30 s
        wait_pool(raw, "io", 10 * factor, busy=0, queued=0)


def test_answer_timeout(d, factor):
    async def main():
        async with client(d, answer_timeout=0.3) as c:
            t0 = time.monotonic()
            with pytest.raises(pyrpool.NoAnswer):
                await c.call("napmod", "nap", 30, pool="io")
            assert time.monotonic() - t0 < 3 * factor
            assert await c.call("math", "sqrt", 4) == 2.0
    run(main())


def test_restart_then_reconnect(daemon_factory, tmp_path, factor):
    d2 = daemon_factory(pools={"default": {"size": 1}, "io": {"size": 1}}, modules={"napmod.py": NAPMOD})

    async def main():
        async with client(d2) as c:
            path = tmp_path / "started"
            f = await c.cast("napmod", "started_nap", str(path), 30)
            await asyncio.get_running_loop().run_in_executor(None, wait_file, path, 10 * factor)
            d2.proc.kill()
            d2.proc.wait(10)
            with pytest.raises(pyrpool.ConnectionLost):
                await asyncio.wait_for(f, 10 * factor)
            with pytest.raises(pyrpool.ConnectionLost):
                await c.ping()
            await asyncio.get_running_loop().run_in_executor(None, d2.start)
            assert await c.call("math", "sqrt", 16) == 4.0
            assert c.connected
    run(main())


def test_tcp_token(d):
    async def main():
        async with pyrpool.AsyncClient(f"tcp://127.0.0.1:{d.tcp_port}", token=d.token) as c:
            assert await c.call("math", "sqrt", 16) == 4.0
            assert c.server["admin"] is False
        with pytest.raises(pyrpool.Unauthorized):
            await pyrpool.AsyncClient(f"tcp://127.0.0.1:{d.tcp_port}", token="wrong").connect()
    run(main())


def test_hello_with_an_unknown_protocol_is_refused(tmp_path):
    path = str(tmp_path / "fake.sock")
    srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    srv.bind(path)
    srv.listen(1)
    srv.settimeout(10)

    def serve():
        conn, _ = srv.accept()
        with conn:
            msg = msgpack.unpackb(conn.recv(65536), raw=False)
            conn.sendall(msgpack.packb([1, msg[1], None, {"server": "x", "version": "9", "protocol": 99,
                                                          "errors": "map"}]))
            conn.recv(10)

    th = threading.Thread(target=serve, daemon=True)
    th.start()

    async def main():
        with pytest.raises(pyrpool.UnsupportedProtocol) as info:
            await pyrpool.AsyncClient(f"unix:{path}", connect_timeout=5).connect()
        assert "99" in str(info.value)
    try:
        run(main(), 20)
    finally:
        th.join(10)
        srv.close()
