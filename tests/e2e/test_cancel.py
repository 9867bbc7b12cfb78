"""The cancel notification: [2, "cancel", [msgid]] answers that call at once
with Cancelled and stops it (a running one's executor is replaced)."""
import time

import pytest

from conftest import finish_daemon, module_daemon, pool_status, wait_file, wait_pool


@pytest.fixture(scope="module")
def d(request, tmp_path_factory):
    d = module_daemon(request, tmp_path_factory, "cancel",
                      pools={"default": {"size": 2}, "io": {"size": 3}, "solo": {"size": 1}})
    for pool in ("default", "io", "solo"):
        d.pool_pids(pool)
    yield d
    finish_daemon(d)


SOLO = {"pool": "solo"}


def test_cancel_a_running_call(d, factor, tmp_path):
    with d.connect() as c:
        wait_pool(c, "solo", 5 * factor, idle=1, busy=0, queued=0)
        before = c.ok("contexts", ["solo"])
        started = tmp_path / "started"
        m = c.send("call", ["helpers", "started_sleep", [str(started), 30], None, SOLO])
        wait_file(started, 5 * factor)   # in time.sleep now
        t0 = time.monotonic()
        c.notify("cancel", [m])
        msg = c.wait(m, timeout=5 * factor)
        assert time.monotonic() - t0 < 1.0 * factor
        assert msg[2]["type"] == "Cancelled"
        # the pool serves again, on a new executor
        pid = c.ok("call", ["os", "getpid", [], None, SOLO], timeout=20 * factor)
        assert pid not in before


def test_cancel_a_queued_call(d, factor):
    with d.connect() as c:
        wait_pool(c, "solo", 5 * factor, idle=1, busy=0, queued=0)
        slow = c.send("call", ["time", "sleep", [0.6], None, SOLO])
        wait_pool(c, "solo", 5 * factor, busy=1, queued=0)
        queued = c.send("call", ["operator", "add", [1, 2], None, SOLO])
        wait_pool(c, "solo", 5 * factor, busy=1, queued=1)
        c.notify("cancel", [queued])
        msg = c.wait(queued, timeout=5 * factor)
        assert msg[2]["type"] == "Cancelled"
        assert c.wait(slow, timeout=5 * factor)[2:] == [None, None]
        pids_info = {p["name"]: p for p in c.ok("pools", [])}
        assert pids_info["solo"]["queued"] == 0


def test_cancel_a_map(d, factor):
    with d.connect() as c:
        wait_pool(c, "io", 5 * factor, busy=0, queued=0)
        m = c.send("map", ["time", "sleep", [[0.3]] * 40, None, {"pool": "io"}])
        wait_pool(c, "io", 5 * factor, busy=3)   # its chunks run on the 3 threads
        t0 = time.monotonic()
        c.notify("cancel", [m])
        msg = c.wait(m, timeout=5 * factor)
        assert msg[2]["type"] == "Cancelled"
        assert time.monotonic() - t0 < 1.0 * factor
        assert c.ok("call", ["operator", "add", [2, 2], None, {"pool": "io"}], timeout=20 * factor) == 4


def test_cancel_of_nothing_is_ignored(d):
    with d.connect() as c:
        c.notify("cancel", [123456])
        c.notify("cancel", ["x"])
        c.notify("cancel", [])
        assert c.ok("ping", []) == "pong"
        assert c.nothing_arrives(0.2)


def test_cancel_leaves_other_calls_alone(d, factor):
    with d.connect() as c:
        wait_pool(c, "io", 5 * factor, busy=0, queued=0)
        keep = c.send("call", ["time", "sleep", [0.3], None, {"pool": "io"}])
        drop = c.send("call", ["time", "sleep", [5], None, {"pool": "io"}])
        wait_pool(c, "io", 5 * factor, busy=2)   # both run
        c.notify("cancel", [drop])
        assert c.wait(drop, timeout=5 * factor)[2]["type"] == "Cancelled"
        assert c.wait(keep, timeout=5 * factor)[2:] == [None, None]


def test_cancel_stops_python_code_softly(d, factor, tmp_path):
    """A call looping in Python: Cancelled at once, and pyrpool.Cancelled
    raised in it stops it, so the executor keeps serving (same pid)."""
    with d.connect() as c:
        pid = c.ok("call", ["os", "getpid", [], None, SOLO], timeout=20 * factor)
        restarts = pool_status(c, "solo")["restarts"]
        started = tmp_path / "started"
        m = c.send("call", ["helpers", "started_spin", [str(started)], None, SOLO])
        wait_file(started, 5 * factor)   # looping in Python now
        c.notify("cancel", [m])
        assert c.wait(m, timeout=5 * factor)[2]["type"] == "Cancelled"
        wait_pool(c, "solo", 5 * factor, busy=0, idle=1)   # the loop stopped: the executor is back
        time.sleep(1.5)   # a window past the grace period (1 s): it must not be killed meanwhile
        assert c.ok("call", ["os", "getpid", [], None, SOLO], timeout=20 * factor) == pid
        assert pool_status(c, "solo")["restarts"] == restarts
