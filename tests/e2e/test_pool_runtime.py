"""Pool status methods, bounded queues, per-connection backpressure and
executor recycling (max_requests)."""
import time

import msgpack
import pytest

import pyrpool
from conftest import assert_recycled_every, finish_daemon, module_daemon, remote_error, start_daemon, wait_pool


@pytest.fixture(scope="module")
def d(request, tmp_path_factory):
    d = module_daemon(request, tmp_path_factory, "runtime",
                      pools={"default": {"size": 2}, "io": {"size": 3, "mode": "process"},
                             "small": {"size": 1, "max_queue": 3},
                             "recycled": {"size": 1, "max_requests": 5},
                             "lean": {"size": 1, "max_memory": "80MiB"}},
                      modules={"hog.py": "KEEP = []\n\ndef grow(mib):\n"
                                         "    KEEP.append(bytearray(mib << 20))\n"
                                         "    import os\n    return os.getpid()\n"})
    for pool in ("default", "io", "small", "recycled", "lean"):
        d.pool_pids(pool)
    yield d
    finish_daemon(d)


def test_pools_lists_every_pool_with_counters(d):
    with d.pyrpool_client() as c:
        before = {p["name"]: p for p in c.pools()}
        assert set(before) == {"default", "io", "small", "recycled", "lean"}
        assert before["io"]["size"] == 3 and before["io"]["mode"] == "process"
        for _ in range(5):
            c.call("os", "getpid", pool="io")
        assert remote_error(c.call, "operator", "truediv", 1, 0, pool="io").type == "ZeroDivisionError"
        after = {p["name"]: p for p in c.pools()}
        assert after["io"]["completed"] - before["io"]["completed"] == 6
        assert after["io"]["queued"] == 0
        assert after["io"]["idle"] + after["io"]["busy"] + after["io"]["starting"] == 3
        assert set(after["io"]) == {"name", "mode", "size", "busy", "idle", "starting", "queued",
                                    "completed", "failed", "restarts", "degraded", "quarantined"}
        assert after["io"]["degraded"] is False and after["io"]["quarantined"] == []


def test_contexts_and_friends(d):
    with d.pyrpool_client() as c:
        assert c.pool_started("io") is True
        assert c.pool_started("nope") is False
        assert c.num_contexts("io") == 3
        assert c.num_contexts("default") == 2
        pids = c.contexts("io")
        assert len(pids) == 3 and len(set(pids)) == 3
        assert set(pids) == set(d.pool_pids("io"))
        assert c.get_context("io") in pids
        for method in ("num_contexts", "contexts", "get_context"):
            err = remote_error(getattr(c, method), "nope")
            assert err.type == "NoSuchPool"
            assert isinstance(err, pyrpool.NoSuchPool)
            err = remote_error(c.request, method, [])
            assert err.type == "BadRequest"


def test_max_queue_answers_overloaded_at_once(d, factor):
    """small: one executor, max_queue 3. One slow call runs, three wait, the
    next ones are refused at once with Overloaded; the others succeed."""
    with d.pyrpool_client() as c, d.connect() as status:
        slow = c.cast("time", "sleep", 0.5 * factor, pool="small")
        wait_pool(status, "small", 5 * factor, busy=1, queued=0)  # the sleep runs, the queue is empty
        waiting = [c.cast("operator", "add", i, 1, pool="small") for i in range(3)]
        t0 = time.monotonic()
        refused = [c.cast("operator", "add", i, 1, pool="small") for i in range(2)]
        for f in refused:
            err = f.exception(timeout=5 * factor)
            assert isinstance(err, pyrpool.Overloaded), err
            assert err.type == "Overloaded"
            assert "max_queue" in err.message
        assert time.monotonic() - t0 < 0.3 * factor, "Overloaded must come at once, not after the queue drains"
        err = remote_error(c.map, "math", "sqrt", [1], pool="small")
        assert err.type == "Overloaded"
        assert slow.result(timeout=5 * factor) is None
        assert [f.result(timeout=5 * factor) for f in waiting] == [i + 1 for i in range(3)]


def test_max_requests_replaces_the_executor(d):
    """recycled: max_requests 5: every 5 calls the pid changes."""
    with d.pyrpool_client(answer_timeout=20) as c:
        pids = [c.call("os", "getpid", pool="recycled") for _ in range(16)]
    assert_recycled_every(pids, 5)
    with d.pyrpool_client() as c:
        info = {p["name"]: p for p in c.pools()}
        assert info["recycled"]["restarts"] >= 2
        assert info["recycled"]["failed"] == 0


def test_max_inflight_pauses_reading_without_errors(tmp_path, request, factor):
    """limits.max_inflight 4: 12 slow calls sent at once on a pool of 12
    executors never run more than 4 at a time, and all succeed."""
    d2 = start_daemon(tmp_path / "inflight", request.config,
                      pools={"default": {"size": 1}, "io": {"size": 12}},
                      extra_yaml="limits:\n  max_inflight: 4\n")
    try:
        with d2.pyrpool_client() as c:
            deadline = time.monotonic() + 20 * factor
            while {p["name"]: p for p in c.pools()}["io"]["idle"] < 12:
                assert time.monotonic() < deadline, "io executors not ready"
                time.sleep(0.05)
            futures = [c.cast("helpers", "times", 0.0, 0.3, pool="io") for _ in range(12)]
            res = [f.result(timeout=30 * factor) for f in futures]   # raises if any failed
            spans = [(r[0], r[1]) for r in res]
            worst = max(sum(1 for a, b in spans if a <= t < b) for t, _ in spans)
            assert worst <= 4, f"{worst} calls ran at once with max_inflight 4"
            # and the daemon still answers other requests on other connections meanwhile
        with d2.pyrpool_client() as c2:
            assert c2.ping() == "pong"
    finally:
        finish_daemon(d2)


def test_max_memory_replaces_a_grown_executor(d, factor):
    """lean: max_memory 80 MiB. A call that leaves 150 MiB allocated is
    answered, then its executor is replaced; small calls keep their pid."""
    with d.pyrpool_client(answer_timeout=20) as c:
        a = c.call("os", "getpid", pool="lean")
        assert c.call("os", "getpid", pool="lean") == a
        assert c.call("hog", "grow", 150, pool="lean") == a
        b = c.call("os", "getpid", pool="lean")
        assert b != a
        assert c.call("os", "getpid", pool="lean") == b


def rss_mib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0


def test_max_output_stops_reading_a_client_that_does_not_read(tmp_path, request, factor):
    """limits.max_output 2MiB: a client that sends calls answering 1 MiB each
    but never reads finds its socket full; the master does not buffer the
    answers; once it reads, every call is answered."""
    import socket as _socket
    if request.config.getoption("--valgrind"):
        pytest.skip("memory figures are valgrind's own under valgrind")
    d2 = start_daemon(tmp_path / "out", request.config,
                      pools={"default": {"size": 2}, "io": {"size": 1}},
                      extra_yaml="limits:\n  max_output: 2MiB\n")
    try:
        base = rss_mib(d2.proc.pid)
        with d2.connect() as c:
            c.sock.settimeout(1.0)
            sent = []
            for i in range(400):
                try:
                    c.sock.sendall(msgpack.packb([0, i + 1, "call", ["helpers", "big_string", [1 << 20]]]))
                except _socket.timeout:
                    break
                sent.append(i + 1)
                time.sleep(0.005)
            assert len(sent) < 400, "the daemon kept reading a client that does not read"
            with d2.connect() as other:   # every call it read has run: its answer is made
                wait_pool(other, "default", 10 * factor, busy=0, queued=0)
            grown = rss_mib(d2.proc.pid) - base
            assert grown < 40, f"the master buffered {grown:.0f} MiB of unread answers"
            c.sock.settimeout(30 * factor)
            for m in sent:
                msg = c.wait(m, timeout=30 * factor)
                assert msg[2] is None and len(msg[3]) == 1 << 20
    finally:
        finish_daemon(d2)
