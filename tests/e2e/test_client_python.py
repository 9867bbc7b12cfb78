"""pyrpool, the Python client (clients/python), against the real daemon:
every call shape, casts and their futures, map, cancel, timeouts, the error
classes, the admin calls, threads sharing one client, a daemon restarted
under the client, TCP with a token, the hello check (against a fake server),
the shared protocol vectors through the client's decoding path, and the
offline install into a venv."""
import concurrent.futures
import itertools
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import msgpack
import pytest

import pyrpool
from conftest import (ACTIVE, PYRPOOL_SRC, Daemon, finish_daemon, module_daemon, remote_error, start_daemon,
                      wait_file, wait_pool)

VECTORS = Path(__file__).resolve().parent.parent.parent / "proto" / "vectors"

CLIENTMOD = """\
import os
import time


def nap(seconds, value=None):
    # sleeps in Python-level steps, so a cancel or timeout stops it at once
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        time.sleep(0.01)
    return value


def started_nap(path, seconds, value=None):
    with open(path, "w") as f:
        f.write(str(os.getpid()))
    return nap(seconds, value)


def opts_echo(*args, pool=None, timeout=None, module=None, function=None, **kwargs):
    return [list(args), pool, timeout, module, function, kwargs]


def pid_kw(**kwargs):
    return [os.getpid(), kwargs]


def check(i):
    if i % 7 == 3:
        raise ValueError(f"item {i}")
    return i * 2
"""


@pytest.fixture(scope="module")
def d(request, tmp_path_factory):
    d = module_daemon(request, tmp_path_factory, "pyclient", allow_eval=True, tcp=True,
                      modules={"clientmod.py": CLIENTMOD},
                      pools={"default": {"size": 2}, "io": {"size": 2, "mode": "process"},
                             "small": {"size": 1, "max_queue": 1},
                             "crashy": {"size": 1, "crash_limit": 1, "crash_interval": 60}})
    yield d
    finish_daemon(d)


@pytest.fixture
def c(d):
    with d.pyrpool_client() as c:
        yield c


# ---- call shapes ------------------------------------------------------------

def test_call_shapes(c, d):
    assert c.call("math", "sqrt", 16) == 4.0
    assert c.call("operator", "add", 2, 3) == 5
    assert c.call("helpers", "add_kw", 1, b=2, c=3) == [1, 2, 3]
    assert c.call("os.path", "join", "a", "b") == "a/b"
    assert c.call("collections", "OrderedDict.fromkeys", ["a"]) == {"a": None}
    assert c.call("json", "dumps", {"b": 1, "a": 2}, sort_keys=True, pool="io", timeout=5) == '{"a": 2, "b": 1}'
    assert c.call("echo", "echo", (1, (2, 3))) == [1, [2, 3]]        # tuples go as arrays
    assert c.call("echo", "echo", b"\x00\xff") == b"\x00\xff"
    assert c.call("echo", "echo", bytearray(b"ab")) == b"ab"
    assert c.call("echo", "echo", {1: "int key", b"k": None}) == {1: "int key", b"k": None}
    assert c.request("math.sqrt", [25]) == 5.0
    assert c.call("helpers", "pid", pool="io") in d.pool_pids("io")


def test_kwargs_named_like_the_options(c, d):
    # module and function are positional-only: kwargs of those names go through
    assert c.call("clientmod", "opts_echo", 1, module="m", function="f") == [[1], None, None, "m", "f", {}]
    # pool and timeout are the call's options; call_kw passes them to the function
    io = d.pool_pids("io")
    pid, kw = c.call_kw("clientmod", "pid_kw", [], {"pool": "p", "timeout": 3}, pool="io", timeout=5)
    assert pid in io and kw == {"pool": "p", "timeout": 3}
    assert c.call_kw("clientmod", "opts_echo", (1, 2), {"pool": "x", "timeout": 1, "z": 0}) == \
        [[1, 2], "x", 1, None, None, {"z": 0}]
    assert c.cast_kw("clientmod", "opts_echo", [], {"timeout": 2}).result(10) == [[], None, 2, None, None, {}]
    assert c.map_kw("clientmod", "opts_echo", [[1], [2]], {"pool": "y"}) == \
        [[[1], "y", None, None, None, {}], [[2], "y", None, None, None, {}]]


def test_msgids_wrap_around_past_one_in_flight(c, tmp_path, factor):
    """msgids are uint32 and wrap; one still in flight is never reused."""
    path = tmp_path / "started"
    c._ids = itertools.count(2 ** 32 - 2)
    slow = c.cast("clientmod", "started_nap", str(path), 0.5, "slow", pool="io")   # msgid 2**32 - 2
    wait_file(path, 10 * factor)
    assert slow.msgid == 2 ** 32 - 2
    assert [c.call("operator", "add", i, 1) for i in range(3)] == [1, 2, 3]        # ..., 0, 1
    c._ids = itertools.count(2 ** 32 - 2)                                          # the same again
    f = c.cast("operator", "mul", 6, 7)
    assert f.msgid != slow.msgid
    assert f.result(10 * factor) == 42 and slow.result(10 * factor) == "slow"


def test_unencodable_argument_sends_nothing(c):
    with pytest.raises(TypeError):
        c.call("echo", "echo", {1, 2})
    assert c.ping() == "pong"


def test_bad_timeout_option_refused_before_sending(c):
    for t in (0, -1, "5", True):
        with pytest.raises(ValueError):
            c.call("math", "sqrt", 4, timeout=t)


# ---- casts and futures ---------------------------------------------------------

def test_cast_futures(c):
    futures = [c.cast("operator", "mul", i, 3) for i in range(200)]
    assert all(isinstance(f, concurrent.futures.Future) for f in futures)
    done, not_done = concurrent.futures.wait(futures, timeout=30)
    assert not not_done
    assert [f.result() for f in futures] == [i * 3 for i in range(200)]
    f = c.cast("operator", "truediv", 1, 0)
    e = f.exception(timeout=10)
    assert isinstance(e, pyrpool.PythonError) and e.type == "ZeroDivisionError"
    with pytest.raises(pyrpool.PythonError):
        f.result()
    got = sorted(f.result() for f in concurrent.futures.as_completed(
        [c.cast("helpers", "sleep_echo", i, 0.01 * (5 - i)) for i in range(5)], timeout=30))
    assert got == list(range(5))


def test_cast_callbacks_run(c):
    seen = []
    ev = threading.Event()
    f = c.cast("math", "sqrt", 9)
    f.add_done_callback(lambda fut: (seen.append(fut.result()), ev.set()))
    assert ev.wait(10) and seen == [3.0]


def test_blocking_call_in_a_done_callback_is_refused_not_a_deadlock(c):
    got = []
    ev = threading.Event()

    def callback(fut):
        try:
            got.append(c.call("math", "sqrt", 4))
        except RuntimeError as e:
            got.append(e)
        got.append(c.cast("math", "sqrt", 9))     # casting from there is fine
        ev.set()

    c.cast("math", "sqrt", 1).add_done_callback(callback)
    assert ev.wait(10)
    assert isinstance(got[0], RuntimeError) and got[1].result(10) == 3.0


# ---- map ---------------------------------------------------------------------

def test_map_forms(c):
    assert c.map("math", "sqrt", [1, 4, 9]) == [1.0, 2.0, 3.0]
    assert c.map("math", "sqrt", iter(range(5))) == [i ** 0.5 for i in range(5)]
    assert c.starmap("operator", "add", [(1, 2), [3, 4]]) == [3, 7]
    assert c.map("math", "sqrt", []) == []
    assert c.starmap("clientmod", "opts_echo", [[1]], z=1) == [[[1], None, None, None, None, {"z": 1}]]
    assert c.cast_map("operator", "neg", [[1], [2]]).result(10) == [-1, -2]
    assert c.map("os", "getpid", [], pool="io") == []


def test_map_error_has_the_index(c):
    err = remote_error(c.starmap, "operator", "truediv", [[1, 1], [2, 1], [1, 0], [3, 0]])
    assert err.type == "ZeroDivisionError" and err.index == 2 and "map item 2" in str(err)
    err = remote_error(c.map, "builtins", "set", [[1]])
    assert isinstance(err, pyrpool.EncodeError) and err.index == 0


# ---- cancel and timeouts -----------------------------------------------------------

def test_cancel_a_running_cast(c, tmp_path, factor):
    path = tmp_path / "started"
    f = c.cast("clientmod", "started_nap", str(path), 30, pool="io")
    wait_file(path, 10 * factor)
    t0 = time.monotonic()
    assert f.cancel() is True
    with pytest.raises(pyrpool.Cancelled) as info:
        f.result(timeout=10 * factor)
    assert time.monotonic() - t0 < 5 * factor
    assert info.value.type == "Cancelled" and info.value.traceback is None
    assert not f.cancelled()                  # completed by the daemon's answer, not locally
    assert f.cancel() is False                # done: nothing to cancel
    assert c.cancel(f) is False
    assert c.call("math", "sqrt", 4) == 2.0


def test_cancel_a_queued_cast_never_runs(c, tmp_path, factor):
    first, second = tmp_path / "first", tmp_path / "second"
    a = c.cast("clientmod", "started_nap", str(first), 1.0, "a", pool="small")
    wait_file(first, 10 * factor)
    b = c.cast("clientmod", "started_nap", str(second), 0, "b", pool="small")
    assert c.cancel(b) is True
    assert isinstance(b.exception(timeout=10 * factor), pyrpool.Cancelled)
    assert a.result(timeout=10 * factor) == "a"
    assert c.call("math", "sqrt", 1, pool="small") == 1.0
    assert not second.exists(), "a call cancelled while queued ran"


def test_cancel_a_map(c, factor):
    f = c.cast_map("clientmod", "nap", [[30]] * 4, pool="io")
    time.sleep(0.2)
    assert f.cancel() is True
    assert isinstance(f.exception(timeout=10 * factor), pyrpool.Cancelled)


def test_timeout_option(c, factor):
    t0 = time.monotonic()
    err = remote_error(c.call, "clientmod", "nap", 30, pool="io", timeout=0.2)
    assert isinstance(err, pyrpool.Timeout) and err.type == "Timeout"
    assert not isinstance(err, TimeoutError)      # not the builtin: documented
    assert time.monotonic() - t0 < 5 * factor
    assert c.call("math", "sqrt", 4, timeout=1) == 2.0


def test_answer_timeout_raises_no_answer_and_cancels(d, factor):
    with d.pyrpool_client(answer_timeout=0.3) as c:
        t0 = time.monotonic()
        with pytest.raises(pyrpool.NoAnswer):
            c.call("clientmod", "nap", 30, pool="io")
        assert time.monotonic() - t0 < 3 * factor
        assert c.call("math", "sqrt", 9) == 3.0
    with d.connect() as raw:       # the cancel reached the daemon: the io pool is idle again
        wait_pool(raw, "io", 15 * factor, busy=0, queued=0)


# ---- the daemon's error types ------------------------------------------------------

def test_error_classes_from_the_daemon(c, factor):
    cases = [
        (pyrpool.BadRequest, lambda: c.request("call", "x")),
        (pyrpool.NoSuchMethod, lambda: c.request("frobnicate", [])),
        (pyrpool.NoSuchPool, lambda: c.call("math", "sqrt", 1, pool="nope")),
        (pyrpool.Forbidden, lambda: c.stop_pool("default")),
        (pyrpool.EncodeError, lambda: c.call("builtins", "object")),
        (pyrpool.Timeout, lambda: c.call("clientmod", "nap", 5, pool="io", timeout=0.05)),
        (pyrpool.PoolExists, lambda: c.start_pool("io", 1)),
    ]
    for cls, fn in cases:
        err = remote_error(fn)
        assert type(err) is cls and err.type == cls.__name__, (cls, err)
        assert isinstance(err, pyrpool.DaemonError) and isinstance(err, pyrpool.RemoteError)
        assert isinstance(err, pyrpool.PyrpoolError) and err.message and err.index is None
    err = remote_error(c.call, "helpers", "raise_value_error", "x")
    assert type(err) is pyrpool.PythonError and err.type == "ValueError"
    assert not isinstance(err, ValueError)          # the remote type is a string, never imported
    assert err.traceback.startswith("Traceback")


def test_overloaded(c, tmp_path, factor):
    path = tmp_path / "started"
    busy = c.cast("clientmod", "started_nap", str(path), 0.5, pool="small")
    wait_file(path, 10 * factor)
    queued = c.cast("operator", "add", 1, 1, pool="small")
    err = remote_error(c.call, "operator", "add", 2, 2, pool="small")
    assert isinstance(err, pyrpool.Overloaded) and "max_queue" in err.message
    assert busy.result(10 * factor) is None and queued.result(10 * factor) == 2


def test_worker_crashed_then_quarantined(c, factor):
    err = remote_error(c.call, "helpers", "die", 3, pool="crashy")
    assert isinstance(err, pyrpool.WorkerCrashed)
    err = remote_error(c.call, "helpers", "die", 3, pool="crashy")
    assert isinstance(err, pyrpool.Quarantined) and "die" in err.message
    assert c.call("operator", "add", 1, 2, pool="crashy") == 3


def test_pool_degraded(tmp_path, request, factor):
    """A preload that fails: the pools' calls fail fast with PoolDegraded."""
    d2 = Daemon(tmp_path / "deg", valgrind=request.config.getoption("--valgrind"), factor=factor,
                pools={"default": {"size": 1}, "io": {"size": 1}},
                modules={"broken.py": "raise ImportError('not today')\n"})
    d2.config_path.write_text(d2.config_path.read_text().replace(
        "  path: [py]\n", "  path: [py]\n  preload: [broken]\n"))
    ACTIVE.append(d2)
    d2.start(wait=False)
    try:
        deadline = time.monotonic() + 20 * factor
        while not d2.socket_path.exists():
            assert time.monotonic() < deadline and d2.alive(), d2.stderr_text()
            time.sleep(0.05)
        with d2.pyrpool_client() as c:
            while True:
                try:
                    c.call("math", "sqrt", 4)
                except pyrpool.PoolDegraded as e:
                    assert e.type == "PoolDegraded" and e.traceback is None
                    break
                except pyrpool.ConnectionLost:
                    pass
                assert time.monotonic() < deadline, f"never degraded:\n{d2.stderr_text()}"
                time.sleep(0.1)
            assert {p["name"]: p["degraded"] for p in c.pools()}["default"] is True
    finally:
        finish_daemon(d2)


def test_reload_and_reload_failed(daemon_factory):
    d2 = daemon_factory(pools={"default": {"size": 1}, "io": {"size": 1}})
    good = d2.config_path.read_text()
    with d2.pyrpool_client(answer_timeout=60) as c:
        before = c.contexts("default")
        d2.config_path.write_text(good + "pools_typo: 1\n")
        err = remote_error(c.reload)
        assert isinstance(err, pyrpool.ReloadFailed) and "pools_typo" in err.message
        assert c.contexts("default") == before          # the running config stays
        d2.config_path.write_text(good)
        assert c.reload() is True
        assert c.call("math", "sqrt", 4) == 2.0


def test_shutting_down(tmp_path, request, factor):
    d2 = start_daemon(tmp_path / "sd", request.config,
                      pools={"default": {"size": 1}, "io": {"size": 1}},
                      extra_yaml="limits:\n  shutdown_timeout: 1\n")
    try:
        with d2.pyrpool_client() as c:
            path = tmp_path / "started"
            f = c.cast("helpers", "started_sleep", str(path), 30)
            wait_file(path, 10 * factor)
            d2.send_signal(signal.SIGTERM)
            assert isinstance(f.exception(timeout=10 * factor), pyrpool.ShuttingDown)
            assert d2.wait_exit() == 0
            with pytest.raises(pyrpool.ConnectionLost):
                c.ping()
    finally:
        d2.kill()
        if d2 in ACTIVE:
            ACTIVE.remove(d2)


# ---- admin and status --------------------------------------------------------------

def test_admin_calls(c, factor):
    names = [p["name"] for p in c.pools()]
    assert names == ["default", "io", "small", "crashy"]
    assert c.pool_started("io") is True and c.pool_started("nope") is False
    assert c.num_contexts("io") == 2
    pids = c.contexts("io")
    assert len(pids) == 2 and c.get_context("io") in pids
    new = c.start_pool("pyc-extra", 1)
    assert len(new) == 1 and c.num_contexts("pyc-extra") == 1
    try:
        assert c.resize_pool("pyc-extra", 2) is True
        assert c.num_contexts("pyc-extra") == 2
        assert c.register_pool("pyc-extra", "clientmod") is True
        assert c.register_pool("pyc-extra", "clientmod", "check") is True
        assert c.lookup_pool("clientmod") == "pyc-extra"
        assert c.lookup_pool("clientmod", "check") == "pyc-extra"
        assert {"module": "clientmod", "function": None, "pool": "pyc-extra", "source": "runtime"} \
            in c.list_pool_registrations()
        pid, _ = c.call("clientmod", "pid_kw")
        assert pid in c.contexts("pyc-extra")
        assert c.unregister_pool("clientmod", "check") is True
        assert c.unregister_pool("clientmod") is True
        assert c.unregister_pool("clientmod") is False
    finally:
        assert c.stop_pool("pyc-extra") is True
    assert c.pool_started("pyc-extra") is False
    assert remote_error(c.num_contexts, "pyc-extra").type == "NoSuchPool"
    t = c.start_pool("pyc-threads", 3, "thread")
    assert len(t) == 1
    assert c.stop_pool("pyc-threads") is True


def test_eval_exec(c):
    assert c.eval("2 + 4") == 6
    assert c.eval("x * 2", {"x": 5}) == 10
    assert c.exec("import math") is None


def test_ping_and_hello(c, d):
    assert c.ping() == "pong"
    h = c.hello()
    assert h["server"] == "pyrpoold" and h["protocol"] == 1 and h["errors"] == "map"
    assert {"call", "map", "cancel"} <= set(h["features"])
    assert h["pools"][:2] == ["default", "io"] and h["admin"] is True
    assert c.server["protocol"] == 1 and c.server["pools"] == h["pools"]
    assert isinstance(pyrpool.__version__, str)


def test_context_manager_closes(d):
    with d.pyrpool_client() as c:
        assert c.connected
        f = c.cast("clientmod", "nap", 0.5, pool="io")
    assert not c.connected
    assert isinstance(f.exception(timeout=5), pyrpool.ConnectionLost)
    with pytest.raises(pyrpool.ConnectionLost):
        c.ping()


def test_addresses(d):
    for addr in (f"unix:{d.socket_path}", f"unix://{d.socket_path}", str(d.socket_path), d.socket_path):
        with pyrpool.Client(addr, answer_timeout=30) as c:
            assert c.ping() == "pong"
    with pytest.raises(ValueError):
        pyrpool.Client("http://example.com")
    with pytest.raises(pyrpool.ConnectionLost) as info:
        pyrpool.Client(f"unix:{d.socket_path}.nothing-here")
    assert isinstance(info.value, ConnectionError)


# ---- threads -----------------------------------------------------------------------

def test_sixteen_threads_share_one_client(d, factor):
    """16 threads, each its own arguments, on one client: every thread gets
    its own answers (results and errors), all on one connection."""
    n = 300
    with d.pyrpool_client() as c:
        conn = c._conn
        failures = []

        def work(t):
            try:
                for i in range(n):
                    x = t * 100_000 + i
                    if i % 50 == 7:
                        err = remote_error(c.call, "clientmod", "check", 3)
                        assert err.message == "item 3"
                    else:
                        assert c.call("operator", "add", x, 1) == x + 1
                    if i % 100 == 0:
                        assert c.cast("operator", "neg", x).result(30) == -x
            except BaseException as e:  # noqa: BLE001 -- reported below
                failures.append(repr(e))

        threads = [threading.Thread(target=work, args=(t,)) for t in range(16)]
        for th in threads:
            th.start()
        for th in threads:
            th.join(60 * factor)
        assert not any(th.is_alive() for th in threads), "a thread hangs"
        assert not failures, failures[:3]
        assert c._conn is conn, "the client reconnected"


# ---- restart --------------------------------------------------------------------

def test_daemon_restart_fails_in_flight_then_reconnects(daemon_factory, tmp_path, factor):
    d2 = daemon_factory(pools={"default": {"size": 1}, "io": {"size": 1}})
    with d2.pyrpool_client() as c:
        assert c.ping() == "pong"
        path = tmp_path / "started"
        inflight = c.cast("helpers", "started_sleep", str(path), 30)
        blocked = []
        th = threading.Thread(target=lambda: blocked.append(
            pytest.raises(pyrpool.ConnectionLost, c.call, "helpers", "sleep_pid", 30, pool="io")))
        th.start()
        wait_file(path, 10 * factor)
        d2.proc.kill()                      # the daemon dies with calls in flight
        d2.proc.wait(10)
        err = inflight.exception(timeout=10 * factor)
        assert isinstance(err, pyrpool.ConnectionLost) and isinstance(err, ConnectionError), err
        assert "closed the connection" in str(err) or "broke" in str(err)
        th.join(10 * factor)
        assert not th.is_alive() and len(blocked) == 1
        with pytest.raises(pyrpool.ConnectionLost):     # down: a clear error, at once
            c.ping()
        d2.start()                          # the same socket, a new daemon
        assert c.call("math", "sqrt", 16) == 4.0   # reconnected
        assert c.connected and c.server["protocol"] == 1
        assert [f.result(10) for f in [c.cast("operator", "add", i, i) for i in range(10)]] == \
            [2 * i for i in range(10)]


def test_idle_closed_connection_reconnects(daemon_factory, factor):
    d2 = daemon_factory(pools={"default": {"size": 1}, "io": {"size": 1}},
                        extra_yaml="limits:\n  idle_timeout: 1\n")
    with d2.pyrpool_client() as c:
        assert c.ping() == "pong"
        deadline = time.monotonic() + 10 * factor
        while c.connected:
            assert time.monotonic() < deadline, "the daemon did not close the idle connection"
            time.sleep(0.05)
        assert c.call("math", "sqrt", 4) == 2.0


# ---- TCP -----------------------------------------------------------------------

def test_tcp_with_token(d):
    with d.pyrpool_tcp_client() as c:
        assert c.call("math", "sqrt", 16) == 4.0
        assert c.server["admin"] is False
        assert remote_error(c.register_pool, "io", "x").type == "Forbidden"
        assert c.lookup_pool("math") == "default"


def test_tcp_wrong_or_no_token(d, factor):
    t0 = time.monotonic()
    with pytest.raises(pyrpool.Unauthorized) as info:
        pyrpool.Client(f"tcp://127.0.0.1:{d.tcp_port}", token="wrong")
    assert "token" in info.value.message and time.monotonic() - t0 < 5 * factor
    with pytest.raises(pyrpool.Unauthorized):
        pyrpool.Client(f"tcp://127.0.0.1:{d.tcp_port}")


def test_tcp_listener_with_string_errors(daemon_factory):
    """A listener whose errors are strings: Unauthorized still raises its
    class, and after hello the connection's errors are maps."""
    d2 = daemon_factory(tcp=True, pools={"default": {"size": 1}, "io": {"size": 1}},
                        tcp_opts={"errors": "string"})
    with pytest.raises(pyrpool.Unauthorized):
        pyrpool.Client(("127.0.0.1", d2.tcp_port), token="wrong")
    with d2.pyrpool_tcp_client() as c:
        err = remote_error(c.call, "builtins", "int", "x")
        assert isinstance(err.raw, dict) and err.type == "ValueError" and err.traceback


# ---- a fake server: hello check, the vectors through the client --------------------

class FakeServer:
    """A Unix socket server that answers hello with `hello` and every other
    request with the next bytes of `script` (as they are), in a thread."""

    def __init__(self, path, hello, script=(), close_after=False):
        self.path, self.hello, self.script = str(path), hello, list(script)
        self.close_after = close_after
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.bind(self.path)
        self.sock.listen(4)
        self.sock.settimeout(10)
        self.thread = threading.Thread(target=self.serve, daemon=True)
        self.thread.start()

    def serve(self):
        try:
            conn, _ = self.sock.accept()
        except OSError:
            return
        conn.settimeout(10)
        unpacker = msgpack.Unpacker(raw=False)
        try:
            while True:
                data = conn.recv(65536)
                if not data:
                    return
                unpacker.feed(data)
                for msg in unpacker:
                    if msg[0] != 0:
                        continue
                    if msg[2] == "hello":
                        conn.sendall(msgpack.packb([1, msg[1], None, self.hello]))
                    elif self.script:
                        conn.sendall(self.script.pop(0))
                        if self.close_after and not self.script:
                            return
        except OSError:
            return
        finally:
            conn.close()

    def close(self):
        self.sock.close()
        self.thread.join(5)


GOOD_HELLO = {"server": "pyrpoold", "version": "0.1.0", "protocol": 1, "features": ["call"],
              "pools": ["default"], "errors": "map", "admin": True}


def test_hello_with_an_unknown_protocol_is_refused(tmp_path):
    srv = FakeServer(tmp_path / "fake.sock", dict(GOOD_HELLO, protocol=99))
    try:
        with pytest.raises(pyrpool.UnsupportedProtocol) as info:
            pyrpool.Client(f"unix:{srv.path}", connect_timeout=5)
        assert "99" in str(info.value) and "protocol" in str(info.value)
        assert isinstance(info.value, pyrpool.ProtocolError)
    finally:
        srv.close()


def test_a_server_that_does_not_speak_the_protocol(tmp_path):
    srv = FakeServer(tmp_path / "fake.sock", "not a map")
    try:
        with pytest.raises(pyrpool.ProtocolError):
            pyrpool.Client(f"unix:{srv.path}", connect_timeout=5)
    finally:
        srv.close()


def read_vectors():
    """[(file name, response bytes)] of every response line of proto/vectors."""
    out = []
    files = sorted(VECTORS.glob("*.vec"))
    assert len(files) >= 60
    for f in files:
        for line in f.read_text().splitlines():
            if line.startswith("response:"):
                out.append((f.name, bytes.fromhex(line.split(":", 1)[1].replace(" ", ""))))
    return out


VECTOR_RESPONSES = read_vectors()


def test_vectors_decode_through_the_client(tmp_path):
    """Each response of the vectors, sent by a fake server to a real Client as
    the answer to a request with the same msgid: the result, or the exception
    of the class its type names, with the map's fields; a nil msgid fails
    the call in flight (with the daemon's words as its cause) when the server
    then closes. type-* results re-encode to the same bytes."""
    normal = [(n, r) for n, r in VECTOR_RESPONSES if msgpack.unpackb(r, strict_map_key=False)[1] is not None]
    nil = [(n, r) for n, r in VECTOR_RESPONSES if msgpack.unpackb(r, strict_map_key=False)[1] is None]
    assert nil and len(normal) > 40
    srv = FakeServer(tmp_path / "fake.sock", GOOD_HELLO, [r for _, r in normal])
    seen_types = set()
    try:
        with pyrpool.Client(f"unix:{srv.path}", connect_timeout=5, answer_timeout=10) as c:
            for name, resp in normal:
                msg = msgpack.unpackb(resp, raw=False, strict_map_key=False)
                c._ids = itertools.count(msg[1])       # the request gets the vector's msgid
                if msg[2] is None:
                    got = c.request("ping", [])
                    assert got == msg[3] and type(got) is type(msg[3]), name
                    if name.startswith("type-"):      # the value as the client got it re-encodes the same
                        assert pyrpool.packb([1, msg[1], None, got]) == resp, name
                    continue
                with pytest.raises(pyrpool.RemoteError) as info:
                    c.request("ping", [])
                e, err = info.value, msg[2]
                if isinstance(err, dict):           # the map shape (the default, and this client's)
                    fields = (err["type"], err["message"], err["traceback"], err.get("index"))
                elif isinstance(err, list):         # the array shape: [type, message, traceback]
                    fields = (err[0], err[1], err[2], None)
                else:                               # the string shape: "Type: message[\ntraceback]"
                    head, _, tb = err.partition("\n")
                    fields = (head.partition(": ")[0], head.partition(": ")[2], tb or None, None)
                want = pyrpool.DAEMON_ERRORS.get(fields[0], pyrpool.PythonError)
                assert type(e) is want, (name, type(e), err)
                assert (e.type, e.message, e.traceback, e.index) == fields, name
                assert e.raw == err
                seen_types.add(e.type)
                if name == "answer-map-error-index.vec":
                    assert e.index == 1 and e.type == "ZeroDivisionError"
                if name.startswith("answer-") and name[7:-4] in pyrpool.DAEMON_ERRORS:
                    assert e.type == name[7:-4] and type(e) is pyrpool.DAEMON_ERRORS[e.type]
    finally:
        srv.close()
    assert set(pyrpool.DAEMON_ERRORS) <= seen_types, set(pyrpool.DAEMON_ERRORS) - seen_types
    for name, resp in nil:
        srv = FakeServer(tmp_path / "nil.sock", GOOD_HELLO, [resp], close_after=True)
        try:
            with pyrpool.Client(f"unix:{srv.path}", connect_timeout=5, answer_timeout=10) as c:
                with pytest.raises(pyrpool.ConnectionLost) as info:
                    c.request("ping", [])
                cause = info.value.__cause__
                err = msgpack.unpackb(resp, raw=False)[2]
                assert isinstance(cause, pyrpool.DAEMON_ERRORS[err["type"]]), (name, cause)
                assert cause.message == err["message"] and err["type"] in str(info.value)
        finally:
            srv.close()
            os.unlink(tmp_path / "nil.sock")


def test_every_daemon_error_type_of_the_protocol_has_its_class():
    """The table of the daemon's own error types in proto/PROTOCOL.md and the
    client's classes are the same set (a new type needs its class)."""
    text = (VECTORS.parent / "PROTOCOL.md").read_text()
    table = text[text.index("| type | when |"):]
    table = table[:table.index("\n\n")]
    types = {line.split("`")[1] for line in table.splitlines()[2:]}
    assert len(types) >= 14
    assert types == set(pyrpool.DAEMON_ERRORS)
    for name, cls in pyrpool.DAEMON_ERRORS.items():
        assert cls.__name__ == name and getattr(pyrpool, name) is cls and issubclass(cls, pyrpool.DaemonError)
        assert not hasattr(__builtins__, name) if isinstance(__builtins__, type(os)) else name not in __builtins__
    answers = {f.name[len("answer-"):-len(".vec")] for f in VECTORS.glob("answer-*.vec")}
    assert types <= answers, types - answers      # each one decoded by the vectors test


def test_vectors_type_values_reencode_to_the_same_bytes():
    """The client's codec (pyrpool.unpackb / packb): each type-* response
    decodes to a value that encodes to the same bytes."""
    count = 0
    for name, resp in VECTOR_RESPONSES:
        msgid, exc, result = pyrpool.decode_response(pyrpool.unpackb(resp))
        if name.startswith("type-"):
            assert exc is None, name
            assert pyrpool.packb([1, msgid, None, result]) == resp, name
            count += 1
        elif name.startswith("answer-"):
            assert isinstance(exc, pyrpool.RemoteError), name
    assert count >= 20


# ---- install into a venv ----------------------------------------------------------

def test_offline_install_into_a_venv(tmp_path, d, factor):
    """/usr/bin/python3 -m venv --system-site-packages, then pip install --no-index
    --no-build-isolation of a copy of clients/python; the venv's python
    imports pyrpool from the venv and calls the daemon."""
    import shutil
    src = tmp_path / "src"
    shutil.copytree(PYRPOOL_SRC, src, ignore=shutil.ignore_patterns("__pycache__", "build", "*.egg-info"))
    venv = tmp_path / "venv"
    run = dict(capture_output=True, text=True, timeout=120 * factor, cwd=tmp_path)
    r = subprocess.run(["/usr/bin/python3", "-m", "venv", "--system-site-packages", str(venv)], **run)
    assert r.returncode == 0, r.stderr
    r = subprocess.run([str(venv / "bin" / "pip"), "install", "-q", "--no-index", "--no-build-isolation",
                        str(src)], **run)
    assert r.returncode == 0, r.stdout + r.stderr
    code = ("import pyrpool, sys; print(pyrpool.__file__); "
            "c = pyrpool.Client(sys.argv[1]); print(c.call('math', 'sqrt', 16)); c.close()")
    r = subprocess.run([str(venv / "bin" / "python"), "-c", code, f"unix:{d.socket_path}"],
                       env={k: v for k, v in os.environ.items() if k != "PYTHONPATH"}, **run)
    assert r.returncode == 0, r.stderr
    where, value = r.stdout.split()
    assert where.startswith(str(venv)), where
    assert value == "4.0"
