"""Batching without head-of-line blocking: calls handed to an executor in one
batch never wait behind a slow call for much longer than limits.handback_ms
(10 ms by default), because the executor hands them back (or writes the
answers it has) when the running call passes that bound."""
import time

import msgpack
import pytest

from conftest import finish_daemon, module_daemon, start_daemon

# generous for a loaded 2-core machine: the bound plus scheduling noise
SLACK = 0.09


@pytest.fixture(scope="module")
def d(request, tmp_path_factory):
    d = module_daemon(request, tmp_path_factory, "batching",
                      pools={"default": {"size": 2}, "io": {"size": 2}, "solo": {"size": 1}})
    for pool in ("default", "solo"):
        d.pool_pids(pool)
    yield d
    finish_daemon(d)


def arrivals(client, msgids, t0, timeout):
    """msgid -> seconds from t0 to its answer; every answer must be a success."""
    out = {}
    deadline = time.monotonic() + timeout
    while len(out) < len(msgids):
        msg = client.recv_response(timeout=max(0.01, deadline - time.monotonic()))
        assert msg[2] is None, msg
        out[msg[1]] = time.monotonic() - t0
    return out


@pytest.mark.parametrize("quick", [1, 30, 200])
def test_quick_calls_behind_a_slow_one(d, factor, quick):
    """One time.sleep(0.3) on default, quick calls pipelined right behind it in
    the same write: every quick call answers within the bound plus its own time."""
    with d.connect() as c:
        reqs = [("call", ["time", "sleep", [0.3]])] + [("math.sqrt", [float(i)]) for i in range(quick)]
        ids = list(range(1, len(reqs) + 1))
        t0 = time.monotonic()
        c.send_raw(b"".join(msgpack.packb([0, m, meth, p]) for m, (meth, p) in zip(ids, reqs)))
        got = arrivals(c, ids, t0, 10 * factor)
        slowest_quick = max(got[m] for m in ids[1:])
        assert slowest_quick < SLACK * factor, \
            f"a quick call waited {slowest_quick * 1000:.0f} ms behind a 300 ms call"
        assert got[1] >= 0.29


def test_answers_done_before_a_slow_call_are_not_held(d, factor):
    """A pool of one executor: a quick call then a slow one in one batch. The
    quick answer goes out at the bound, not when the slow call ends."""
    with d.connect() as c:
        for attempt in range(5):
            t0 = time.monotonic()
            c.send_raw(msgpack.packb([0, 1, "call", ["math", "sqrt", [4], None, {"pool": "solo"}]]) +
                       msgpack.packb([0, 2, "call", ["time", "sleep", [0.3], None, {"pool": "solo"}]]))
            got = arrivals(c, [1, 2], t0, 10 * factor)
            assert got[1] < SLACK * factor, f"try {attempt}: quick answer after {got[1]:.3f}s"
            assert got[2] >= 0.29


def test_handed_back_calls_run_elsewhere(d, factor):
    """Calls handed back by a stuck executor run on the pool's other executor:
    none of the quick calls sent right behind a 0.5 s call runs on the
    executor that sleeps (they would, 0.5 s late, if they were not handed
    back)."""
    pool = d.pool_pids("default")
    assert len(pool) == 2
    with d.connect() as c:
        # the pool learns its calls are quick, so it puts many of them in the
        # sleeper's batch (slow calls would be spread one by one instead)
        for _ in range(10):
            assert c.request_many([("math.sqrt", [4.0])] * 64, timeout=10 * factor) == [(None, 2.0)] * 64
        for attempt in range(3):
            reqs = [("call", ["helpers", "sleep_pid", [0.5]])] + [("os.getpid", [])] * 40
            res = c.request_many(reqs, timeout=10 * factor)
            assert all(err is None for err, _ in res), res
            slow = res[0][1]
            quick = {r for _, r in res[1:]}
            assert slow in pool, (slow, pool)
            assert quick == pool - {slow}, \
                f"try {attempt}: quick calls ran on {quick}, the slow call on {slow}"


def test_handback_bound_is_configurable(tmp_path, request, factor):
    d2 = start_daemon(tmp_path / "hb", request.config,
                      pools={"default": {"size": 2}, "io": {"size": 1}},
                      extra_yaml="limits:\n  handback_ms: 200\n")
    try:
        d2.pool_pids("default")
        with d2.connect() as c:
            ids = list(range(1, 32))
            t0 = time.monotonic()
            c.send_raw(msgpack.packb([0, 1, "call", ["time", "sleep", [0.6]]]) +
                       b"".join(msgpack.packb([0, m, "math.sqrt", [1]]) for m in ids[1:]))
            got = arrivals(c, ids, t0, 10 * factor)
            # the quick calls that shared the sleeper's batch waited about 200 ms
            waited = max(got[m] for m in ids[1:])
            assert 0.15 < waited < 0.45 * factor, f"{waited:.3f}s"
    finally:
        finish_daemon(d2)


def test_quick_calls_go_out_together_slow_ones_spread(tmp_path, request, factor, valgrind):
    """A process pool sizes its batches by how long its calls take: once its
    calls are known to be quick, a few of them sent together run as one batch
    on one executor (not one or two per idle executor); slow calls still
    spread over every executor."""
    if valgrind:
        pytest.skip("under valgrind no call is quick")
    d2 = start_daemon(tmp_path / "sizing", request.config,
                      pools={"default": {"size": 2}, "io": {"size": 1}})
    try:
        pids = d2.pool_pids("default")
        with d2.connect() as c:
            for _ in range(20):  # the pool learns its calls are quick
                assert c.request_many([("math.sqrt", [4.0])] * 64, timeout=10 * factor) == [(None, 2.0)] * 64
            together = 0
            for attempt in range(5):
                res = c.request_many([("os.getpid", [])] * 16, timeout=10 * factor)
                assert all(err is None for err, _ in res)
                together += len({r for _, r in res}) == 1
            assert together >= 4, f"16 quick calls sent together ran as one batch in {together} of 5 tries"
            for attempt in range(3):
                t0 = time.monotonic()
                res = c.request_many([("call", ["helpers", "sleep_pid", [0.2]])] * 4, timeout=10 * factor)
                took = time.monotonic() - t0
                assert {r for _, r in res} == pids, f"try {attempt}: slow calls ran on {res}"
                assert took < 0.7 * factor, f"try {attempt}: 4 calls of 0.2 s on 2 executors took {took:.2f}s"
    finally:
        finish_daemon(d2)
