"""Pool status methods, bounded queues, per-connection backpressure and
executor recycling (max_requests)."""
import time

import msgpack
import pytest

from conftest import assert_recycled_every, finish_daemon, module_daemon, start_daemon, wait_pool


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
    with d.connect() as c:
        before = {p["name"]: p for p in c.ok("pools", [])}
        assert set(before) == {"default", "io", "small", "recycled", "lean"}
        assert before["io"]["size"] == 3 and before["io"]["mode"] == "process"
        for _ in range(5):
            c.ok("call", ["os", "getpid", [], None, {"pool": "io"}])
        c.call("call", ["operator", "truediv", [1, 0], None, {"pool": "io"}])
        after = {p["name"]: p for p in c.ok("pools", [])}
        assert after["io"]["completed"] - before["io"]["completed"] == 6
        assert after["io"]["queued"] == 0
        assert after["io"]["idle"] + after["io"]["busy"] + after["io"]["starting"] == 3
        assert set(after["io"]) == {"name", "mode", "size", "busy", "idle", "starting", "queued",
                                    "completed", "failed", "restarts", "degraded", "quarantined"}
        assert after["io"]["degraded"] is False and after["io"]["quarantined"] == []


def test_contexts_and_friends(d):
    with d.connect() as c:
        assert c.ok("pool_started", ["io"]) is True
        assert c.ok("pool_started", ["nope"]) is False
        assert c.ok("num_contexts", ["io"]) == 3
        assert c.ok("num_contexts", ["default"]) == 2
        pids = c.ok("contexts", ["io"])
        assert len(pids) == 3 and len(set(pids)) == 3
        assert set(pids) == set(d.pool_pids("io"))
        assert c.ok("get_context", ["io"]) in pids
        for method in ("num_contexts", "contexts", "get_context"):
            err, _ = c.call(method, ["nope"])
            assert err["type"] == "NoSuchPool"
            err, _ = c.call(method, [])
            assert err["type"] == "BadRequest"


def test_max_queue_answers_overloaded_at_once(d, factor):
    """small: one executor, max_queue 3. One slow call runs, three wait, the
    next ones are refused at once with Overloaded; the others succeed."""
    with d.connect() as c:
        opts = {"pool": "small"}
        slow = c.send("call", ["time", "sleep", [0.5 * factor], None, opts])
        wait_pool(c, "small", 5 * factor, busy=1, queued=0)  # the sleep runs, the queue is empty
        waiting = [c.send("call", ["operator", "add", [i, 1], None, opts]) for i in range(3)]
        t0 = time.monotonic()
        refused = [c.send("call", ["operator", "add", [i, 1], None, opts]) for i in range(2)]
        for m in refused:
            msg = c.wait(m, timeout=5 * factor)
            assert msg[2]["type"] == "Overloaded", msg
            assert "max_queue" in msg[2]["message"]
        assert time.monotonic() - t0 < 0.3 * factor, "Overloaded must come at once, not after the queue drains"
        err, _ = c.call("map", ["math", "sqrt", [[1]], None, opts])
        assert err["type"] == "Overloaded"
        assert c.wait(slow, timeout=5 * factor)[2] is None
        assert [c.wait(m, timeout=5 * factor)[2:] for m in waiting] == [[None, i + 1] for i in range(3)]


def test_max_requests_replaces_the_executor(d):
    """recycled: max_requests 5: every 5 calls the pid changes."""
    with d.connect() as c:
        pids = [c.ok("call", ["os", "getpid", [], None, {"pool": "recycled"}], timeout=20)
                for _ in range(16)]
    assert_recycled_every(pids, 5)
    with d.connect() as c:
        info = {p["name"]: p for p in c.ok("pools", [])}
        assert info["recycled"]["restarts"] >= 2
        assert info["recycled"]["failed"] == 0


def test_max_inflight_pauses_reading_without_errors(tmp_path, request, factor):
    """limits.max_inflight 4: 12 slow calls sent at once on a pool of 12
    executors never run more than 4 at a time, and all succeed."""
    d2 = start_daemon(tmp_path / "inflight", request.config,
                      pools={"default": {"size": 1}, "io": {"size": 12}},
                      extra_yaml="limits:\n  max_inflight: 4\n")
    try:
        with d2.connect() as c:
            deadline = time.monotonic() + 20 * factor
            while {p["name"]: p for p in c.ok("pools", [])}["io"]["idle"] < 12:
                assert time.monotonic() < deadline, "io executors not ready"
                time.sleep(0.05)
            reqs = [("call", ["helpers", "times", [0.0, 0.3], None, {"pool": "io"}])] * 12
            res = c.request_many(reqs, timeout=30 * factor)
            assert all(err is None for err, _ in res), res
            spans = [(r[0], r[1]) for _, r in res]
            worst = max(sum(1 for a, b in spans if a <= t < b) for t, _ in spans)
            assert worst <= 4, f"{worst} calls ran at once with max_inflight 4"
            # and the daemon still answers other requests on other connections meanwhile
        with d2.connect() as c2:
            assert c2.ok("ping", []) == "pong"
    finally:
        finish_daemon(d2)


def test_max_memory_replaces_a_grown_executor(d, factor):
    """lean: max_memory 80 MiB. A call that leaves 150 MiB allocated is
    answered, then its executor is replaced; small calls keep their pid."""
    with d.connect() as c:
        lean = {"pool": "lean"}
        a = c.ok("call", ["os", "getpid", [], None, lean], timeout=20 * factor)
        assert c.ok("call", ["os", "getpid", [], None, lean], timeout=20 * factor) == a
        assert c.ok("call", ["hog", "grow", [150], None, lean], timeout=20 * factor) == a
        b = c.ok("call", ["os", "getpid", [], None, lean], timeout=20 * factor)
        assert b != a
        assert c.ok("call", ["os", "getpid", [], None, lean], timeout=20 * factor) == b


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
