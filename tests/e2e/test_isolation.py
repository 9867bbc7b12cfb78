"""The promise of pools: slow calls in one pool do not hold up another, and
a pool runs as many calls at once as it has executors."""
import time

import msgpack
import pytest

from conftest import finish_daemon, module_daemon, wait_pool


@pytest.fixture(scope="module")
def d(request, tmp_path_factory):
    d = module_daemon(request, tmp_path_factory, "isolation",
                      pools={"default": {"size": 2}, "io": {"size": 4}, "solo": {"size": 1}})
    # every executor up, so timings measure running, not starting
    for pool in ("default", "io", "solo"):
        d.pool_pids(pool)
    yield d
    finish_daemon(d)


def test_slow_io_does_not_block_default(d, factor):
    with d.connect() as slow, d.connect() as fast:
        t0 = time.monotonic()
        ids = [slow.send("call", ["time", "sleep", [1.0], None, {"pool": "io"}]) for _ in range(4)]
        wait_pool(fast, "io", 0.5 * factor, busy=4)   # the 4 io threads sleep
        worst = 0.0
        for i in range(20):
            t = time.monotonic()
            assert fast.call("math.sqrt", [float(i * i)], timeout=5 * factor) == (None, float(i))
            worst = max(worst, time.monotonic() - t)
        during = time.monotonic() - t0
        assert slow.nothing_arrives(0), \
            f"the 20 quick calls took {during:.2f}s: not all done while io slept"
        assert worst < 0.25 * factor, f"a default call took {worst:.3f}s while io was busy"
        for m in ids:
            assert slow.wait(m, timeout=10 * factor)[2:] == [None, None]
        total = time.monotonic() - t0
        assert total < 1.8 * factor, f"4 sleeps of 1s on 4 executors took {total:.2f}s"
        assert total >= 0.95


def test_sleeps_on_several_connections_run_together(d, factor):
    conns = [d.connect() for _ in range(4)]
    try:
        t0 = time.monotonic()
        ids = [c.send("call", ["time", "sleep", [1.0], None, {"pool": "io"}]) for c in conns]
        for c, m in zip(conns, ids):
            assert c.wait(m, timeout=10 * factor)[2:] == [None, None]
        total = time.monotonic() - t0
        assert 0.95 <= total < 1.8 * factor, f"took {total:.2f}s"
    finally:
        for c in conns:
            c.close()


def test_n_slow_calls_on_n_executors_overlap(d, factor):
    """Each of the 4 io threads runs one call, in one process; their run
    times overlap."""
    with d.connect() as c:
        res = c.request_many([("call", ["helpers", "times", [0.0, 0.6], None, {"pool": "io"}])] * 4,
                             timeout=10 * factor)
    assert all(e is None for e, _ in res)
    spans = [r for _, r in res]
    assert len({p for _, _, p in spans}) == 1, "io is one thread-mode executor"
    latest_start = max(s for s, _, _ in spans)
    earliest_end = min(e for _, e, _ in spans)
    assert latest_start < earliest_end, f"the calls did not run at the same time: {spans}"


def test_more_calls_than_executors_queue(d, factor):
    """5 calls of 0.5s on 4 executors: 4 together, the fifth after them."""
    with d.connect() as c:
        t0 = time.monotonic()
        ids = [c.send("call", ["helpers", "sleep_pid", [0.5], None, {"pool": "io"}]) for _ in range(5)]
        done = []
        for _ in range(5):
            r = c.recv_response(timeout=10 * factor)
            assert r[2] is None
            done.append((r[1], time.monotonic() - t0))
        done_at = sorted(t for _, t in done)
        assert done_at[3] < 0.9 * factor, done_at
        assert done_at[4] >= 0.95, done_at           # had to wait for a free executor
        assert done_at[4] < 1.6 * factor, done_at
        assert {m for m, _ in done} == set(ids)


def test_single_executor_pool_is_fifo(d, factor):
    with d.connect() as c:
        ids = [c.send("call", ["helpers", "sleep_echo", [i, 0.1], None, {"pool": "solo"}])
               for i in range(5)]
        order = [c.recv_response(timeout=10 * factor) for _ in range(5)]
        assert [r[3] for r in order] == [0, 1, 2, 3, 4]
        assert [r[1] for r in order] == ids


def test_busy_solo_pool_does_not_block_others(d, factor):
    with d.connect() as c, d.connect() as other:
        busy = [c.send("call", ["helpers", "sleep_pid", [0.4], None, {"pool": "solo"}]) for _ in range(3)]
        t = time.monotonic()
        assert other.call("call", ["operator", "add", [1, 2], None, {"pool": "io"}]) == (None, 3)
        assert other.call("operator.add", [1, 2]) == (None, 3)
        assert time.monotonic() - t < 0.25 * factor
        for m in busy:
            assert c.wait(m, timeout=10 * factor)[2] is None


def test_default_saturated_io_still_fast(d, factor):
    """The other way round: default busy, io answers."""
    with d.connect() as c, d.connect() as other:
        busy = [c.send("call", ["helpers", "sleep_pid", [0.6]]) for _ in range(4)]   # 2 run, 2 queue
        wait_pool(other, "default", 0.5 * factor, busy=2, queued=2)
        t = time.monotonic()
        for _ in range(10):
            assert other.call("call", ["operator", "add", [1, 2], None, {"pool": "io"}]) == (None, 3)
        assert time.monotonic() - t < 0.5 * factor
        for m in busy:
            assert c.wait(m, timeout=10 * factor)[2] is None


def test_admin_methods_answer_while_all_pools_busy(d, factor):
    with d.connect() as c, d.connect() as other:
        busy = [c.send("call", ["helpers", "sleep_pid", [0.5], None, {"pool": p}])
                for p in ["default"] * 2 + ["io"] * 4 + ["solo"]]
        for pool, n in (("default", 2), ("io", 4), ("solo", 1)):
            wait_pool(other, pool, 0.4 * factor, busy=n, queued=0)
        t = time.monotonic()
        assert other.call("ping", []) == (None, "pong")
        assert other.call("lookup_pool", ["x", "y"]) == (None, "default")
        assert other.call("list_pool_registrations", [])[0] is None
        assert time.monotonic() - t < 0.2 * factor
        for m in busy:
            assert c.wait(m, timeout=10 * factor)[2] is None


def test_quick_calls_behind_a_slow_one_are_not_held(d, factor):
    """A slow call and quick ones arriving in the same write: the quick ones
    are answered long before the slow one ends, whatever batch they were put
    in (handed back after limits.handback_ms)."""
    with d.connect() as c:
        data = msgpack.packb([0, 1, "call", ["time", "sleep", [1.0], None, {"pool": "io"}]])
        data += b"".join(msgpack.packb([0, 100 + i, "call", ["operator", "add", [i, 1], None, {"pool": "io"}]])
                         for i in range(15))
        t0 = time.monotonic()
        c.send_raw(data)
        for i in range(15):
            assert c.wait(100 + i, timeout=10 * factor) == [1, 100 + i, None, i + 1]
        quick = time.monotonic() - t0
        assert quick < 0.4 * factor, f"quick calls waited {quick:.2f}s behind the slow one"
        assert c.wait(1, timeout=10 * factor)[2:] == [None, None]


def test_quick_calls_behind_a_slow_one_on_two_executors(daemon_factory, factor):
    d = daemon_factory(pools={"default": {"size": 2}, "io": {"size": 1}})
    d.pool_pids("default")
    with d.connect() as c:
        data = msgpack.packb([0, 1, "helpers.sleep_pid", [1.0]])
        data += b"".join(msgpack.packb([0, 100 + i, "operator.add", [i, 1]]) for i in range(40))
        t0 = time.monotonic()
        c.send_raw(data)
        for i in range(40):
            assert c.wait(100 + i, timeout=10 * factor) == [1, 100 + i, None, i + 1]
        assert time.monotonic() - t0 < 0.5 * factor
        assert c.wait(1, timeout=10 * factor)[2] is None
