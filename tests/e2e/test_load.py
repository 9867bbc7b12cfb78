"""Behaviour under load: large payloads, many connections, many calls in
flight, every request answered exactly once."""
import os
import threading
import time

import pytest

from conftest import finish_daemon, module_daemon, wait_pool


@pytest.fixture(scope="module")
def d(request, tmp_path_factory):
    d = module_daemon(request, tmp_path_factory, "load",
                      pools={"default": {"size": 2}, "io": {"size": 4}})
    yield d
    finish_daemon(d)


@pytest.mark.parametrize("size", [0, 1, 65_535, 65_536, 1 << 20, 8 << 20])
def test_large_payload_round_trip(d, size):
    data = os.urandom(size)
    with d.connect() as c:
        assert c.call("call", ["builtins", "bytes", [data]], timeout=60) == (None, data)


def test_large_payloads_in_flight_with_small_ones(d):
    big = os.urandom(3 << 20)
    with d.connect() as c:
        reqs = []
        for i in range(8):
            reqs.append(("call", ["builtins", "bytes", [big]]))
            reqs.append(("math.sqrt", [float(i * i)]))
        res = c.request_many(reqs, timeout=120)
        for i, (err, r) in enumerate(res):
            assert err is None
            assert r == (big if i % 2 == 0 else float(i // 2))


def test_many_connections_many_calls(d):
    """16 connections x 500 pipelined calls each, in threads: every call is
    answered once, with its own result."""
    errors = []

    def work(k):
        try:
            with d.connect(timeout=60) as c:
                reqs = [("operator.add", [k, i]) for i in range(500)]
                res = c.request_many(reqs, timeout=60)
                for i, (err, r) in enumerate(res):
                    if err is not None or r != k + i:
                        errors.append((k, i, err, r))
                assert c.nothing_arrives(0.05)
        except Exception as e:  # reported below
            errors.append((k, repr(e)))

    threads = [threading.Thread(target=work, args=(k,)) for k in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not any(t.is_alive() for t in threads)
    assert errors == []


def test_map_from_many_connections(d):
    errors = []

    def work(k):
        try:
            with d.connect(timeout=60) as c:
                err, res = c.call("map", ["operator", "mul", [[k, i] for i in range(5000)]], timeout=60)
                if err is not None or res != [k * i for i in range(5000)]:
                    errors.append((k, err))
        except Exception as e:
            errors.append((k, repr(e)))

    threads = [threading.Thread(target=work, args=(k,)) for k in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert errors == []


def cpu_ticks(pid):
    """utime + stime of one process, in clock ticks."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])


def test_spinning_stops_when_the_calls_stop(d, valgrind):
    """limits.spin_us: after a burst of pipelined calls the master and the
    executors poll briefly for more, then sleep; an idle daemon uses no CPU."""
    if valgrind:
        pytest.skip("valgrind's own threads tick while the daemon idles")
    pids = [d.proc.pid, *d.pool_pids("default"), *d.pool_pids("io")]
    with d.connect() as c:
        for _ in range(3):
            res = c.request_many([("math.sqrt", [float(i * i)]) for i in range(2000)], timeout=60)
            assert res == [(None, float(i)) for i in range(2000)]
        for pool in ("default", "io"):   # nothing left to run anywhere
            wait_pool(c, pool, 5 * d.factor, busy=0, queued=0)
    before = [cpu_ticks(p) for p in pids]
    time.sleep(1.0)
    used = [cpu_ticks(p) - b for p, b in zip(pids, before)]
    tick = os.sysconf("SC_CLK_TCK")
    assert max(used) <= 0.05 * tick, f"CPU ticks used while idle, master first: {used}"
