"""Many clients at once, and clients that go away."""
import socket
import threading
import time

import msgpack
import pytest

from conftest import Client, finish_daemon, module_daemon, pool_status, wait_file, wait_pool, wait_until


@pytest.fixture(scope="module")
def d(request, tmp_path_factory):
    d = module_daemon(request, tmp_path_factory, "conns",
                      pools={"default": {"size": 2}, "io": {"size": 4}, "solo": {"size": 1}})
    yield d
    finish_daemon(d)


def test_200_concurrent_connections(d):
    conns = [d.connect() for _ in range(200)]
    try:
        # every connection is open at once, then each does a ping and a call
        for i, c in enumerate(conns):
            c.send("ping", [], msgid=1)
            c.send("call", ["operator", "add", [i, 1000]], msgid=2)
        for i, c in enumerate(conns):
            assert c.wait(1) == [1, 1, None, "pong"]
            assert c.wait(2) == [1, 2, None, i + 1000]
    finally:
        for c in conns:
            c.close()


def test_200_connections_from_threads(d):
    errors = []
    barrier = threading.Barrier(50)

    def worker(n):
        try:
            for k in range(4):
                with Client(d.socket_path, timeout=30 * d.factor) as c:
                    if k == 0:
                        barrier.wait(timeout=30)
                    assert c.ok("ping", []) == "pong"
                    assert c.ok("call", ["operator", "mul", [n, k]]) == n * k
        except Exception as e:  # noqa: BLE001 -- collected and reported
            errors.append(repr(e))

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(50)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60 * d.factor)
    assert not any(t.is_alive() for t in threads)
    assert not errors, errors[:5]


def test_disconnect_with_call_in_flight(d, tmp_path):
    started = tmp_path / "started"
    c = d.connect()
    c.send("call", ["helpers", "started_sleep", [str(started), 0.3, "orphan"]])
    wait_file(started, 5 * d.factor)
    c.close()
    with d.connect() as c2:
        assert c2.ok("ping", []) == "pong"
        assert c2.ok("math.sqrt", [9]) == 3.0
        # the orphaned call finishes, its answer has no taker
        wait_pool(c2, "default", 5 * d.factor, busy=0, queued=0)
    with d.connect() as c3:
        assert c3.ok("ping", []) == "pong"
        assert c3.ok("call", ["helpers", "pid", []]) > 0


def test_disconnect_with_many_calls_in_flight_on_every_pool(d):
    for _ in range(3):
        c = d.connect()
        for pool in ("default", "io", "solo"):
            for _ in range(10):
                c.send("call", ["helpers", "sleep_pid", [0.05], None, {"pool": pool}])
        c.close()
    with d.connect() as c:
        for pool in ("default", "io", "solo"):
            assert c.ok("call", ["helpers", "pid", [], None, {"pool": pool}], timeout=20) > 0


def test_queued_calls_of_a_gone_client_are_dropped(d, tmp_path, factor):
    """On a one-executor pool: the running call finishes, the queued ones of a
    client that left are not run."""
    path = tmp_path / "ran.txt"
    c = d.connect()
    wait_pool(c, "solo", 5 * factor, busy=0, queued=0)
    c.send("call", ["helpers", "record", [str(path), "first", 0.3], None, {"pool": "solo"}])
    wait_pool(c, "solo", 5 * factor, busy=1, queued=0)   # the first one is running
    for i in range(5):
        c.send("call", ["helpers", "record", [str(path), f"queued{i}", 0.3], None, {"pool": "solo"}])
    wait_pool(c, "solo", 5 * factor, busy=1, queued=5)   # the others wait in the daemon
    c.close()
    t = time.monotonic()
    with d.connect() as c2:
        assert c2.ok("call", ["helpers", "pid", [], None, {"pool": "solo"}], timeout=10 * factor) > 0
    waited = time.monotonic() - t
    assert waited < 0.8 * factor, f"the solo pool was busy {waited:.2f}s: dropped calls ran"
    with d.connect() as c3:
        wait_pool(c3, "solo", 5 * factor, busy=0, queued=0)
    assert path.read_text().split() == ["first"]


def test_close_right_after_connect(d):
    for _ in range(100):
        s = socket.socket(socket.AF_UNIX)
        s.connect(str(d.socket_path))
        s.close()
    with d.connect() as c:
        assert c.ok("ping", []) == "pong"


def test_reset_with_unread_answers(d):
    """A client that stops reading and goes away while big answers are being
    written does not disturb the daemon."""
    with d.connect() as watch:
        before = pool_status(watch, "default")["completed"]
        s = socket.socket(socket.AF_UNIX)
        s.settimeout(10)
        s.connect(str(d.socket_path))
        s.sendall(b"".join(msgpack.packb([0, i, "helpers.big_string", [200000]]) for i in range(40)))
        # every answer is made (8 MB: more than the socket holds, so some wait to be written)
        wait_until(lambda: pool_status(watch, "default")["completed"] >= before + 40, 10 * d.factor,
                   "the 40 calls are answered")
        s.close()
    with d.connect() as c:
        assert c.ok("ping", []) == "pong"
        assert len(c.ok("helpers.big_string", [100000])) == 100000


def test_connection_churn(d):
    for i in range(300):
        with Client(d.socket_path, timeout=10 * d.factor) as c:
            assert c.ok("operator.add", [i, 1]) == i + 1


def test_many_idle_connections_do_not_hurt(d):
    idle = [d.connect() for _ in range(300)]
    try:
        with d.connect() as c:
            t = time.monotonic()
            for i in range(50):
                assert c.ok("operator.add", [i, 1]) == i + 1
            assert time.monotonic() - t < 2 * d.factor
    finally:
        for c in idle:
            c.close()


def test_open_files_limit_is_raised(tmp_path, request):
    """Started with a soft open-files limit of 64 (hard 4096), the daemon
    raises it itself: 300 clients connect and are all served."""
    from conftest import Daemon, slow_factor

    if request.config.getoption("--valgrind"):
        pytest.skip("valgrind keeps file descriptors of its own and fakes the open-files limit")

    class Limited(Daemon):
        def command(self):
            return ["prlimit", "--nofile=64:4096", "--"] + super().command()

    d2 = Limited(tmp_path / "nofile", valgrind=request.config.getoption("--valgrind"),
                 factor=slow_factor(request.config),
                 pools={"default": {"size": 1}, "io": {"size": 1}})
    d2.start()
    try:
        conns = [d2.connect() for _ in range(300)]
        try:
            for i, c in enumerate(conns):
                c.send("call", ["operator", "add", [i, 1]], msgid=i)
            for i, c in enumerate(conns):
                assert c.wait(i) == [1, i, None, i + 1]
        finally:
            for c in conns:
                c.close()
        pid = d2.proc.pid
        limits = open(f"/proc/{pid}/limits").read()
        soft = [l for l in limits.splitlines() if l.startswith("Max open files")][0].split()[3]
        assert soft == "4096"
    finally:
        finish_daemon(d2)


def test_calls_held_for_a_client_that_leaves_are_dropped(tmp_path, request):
    """A client that does not read has calls held back (its unwritten
    answers fill limits.max_output); when it closes, those calls go, at
    once: the pool's queue empties, and a drain does not wait for them."""
    import signal
    import socket as _socket
    from conftest import Daemon, slow_factor
    d = Daemon(tmp_path, factor=slow_factor(request.config), pools={"default": {"size": 2}, "io": {"size": 1}},
               extra_yaml="limits:\n  max_output: 2MiB\n").start()
    c = _socket.socket(_socket.AF_UNIX)
    c.connect(str(d.socket_path))
    c.settimeout(1.0)
    data = b"".join(msgpack.packb([0, i + 1, "call", ["helpers", "sleep_echo", ["x" * 1_000_000, 0.02]]])
                    for i in range(60))
    try:
        c.sendall(data)
    except _socket.timeout:
        pass
    with d.connect() as o:
        # held, with nothing of it running (no answer to come that would look at its queue again)
        wait_until(lambda: (lambda p: p["queued"] > 10 and p["busy"] == 0)(
            next(p for p in o.ok("pools", []) if p["name"] == "default")), 10,
            "calls held for the client that does not read, none running")
        c.close()
        wait_until(lambda: next(p for p in o.ok("pools", []) if p["name"] == "default")["queued"] == 0, 5,
                   "the held calls of a client that left dropped")
    t = time.monotonic()
    d.send_signal(signal.SIGTERM)
    assert d.wait_exit(timeout=10) == 0     # it was 30 s (limits.shutdown_timeout) before the fix
    assert time.monotonic() - t < 5
