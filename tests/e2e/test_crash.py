"""Executors that die while running a call: WorkerCrashed, a restart, and
the pool keeps working. A function that keeps crashing its executors is
quarantined on its pool (its calls fail fast with Quarantined for a while);
the pool and its other functions are not held off, and kills from outside
count for no one."""
import os
import signal
import time

import msgpack
import pytest

from conftest import finish_daemon, module_daemon, pool_status, wait_pool, wait_until

POOLS = {"default": {"size": 2}, "io": {"size": 2}, "solo": {"size": 1},
         "p1": {"size": 2}, "p2": {"size": 2}, "p3": {"size": 2}, "p4": {"size": 1},
         "p5": {"size": 2}, "p6": {"size": 2}}


@pytest.fixture(scope="module")
def d(request, tmp_path_factory):
    d = module_daemon(request, tmp_path_factory, "crash", pools=POOLS)
    yield d
    finish_daemon(d)


def crash_error(err, res, *words):
    assert res is None
    assert err is not None and err["type"] == "WorkerCrashed", err
    for w in words:
        assert w in err["message"], err["message"]
    assert err["traceback"] is None


def serves_again(d, pool, timeout=5.0):
    """Retries a call on pool until it answers (bounded); returns its pid."""
    deadline = time.monotonic() + timeout * d.factor
    last = None
    with d.connect() as c:
        while time.monotonic() < deadline:
            err, res = c.call("call", ["helpers", "pid", [], None, {"pool": pool}])
            if err is None:
                return res
            last = err
            time.sleep(0.05)
    raise AssertionError(f"pool {pool} does not serve again: {last!r}")


def test_exit_status_3(d):
    before = d.pool_pids("p1")
    with d.connect() as c:
        err, res = c.call("call", ["helpers", "die", [3], None, {"pool": "p1"}])
        crash_error(err, res, "exited with status 3", "p1/")
        assert any(f"pid {p}" in err["message"] for p in before), err["message"]
    serves_again(d, "p1")
    after = d.pool_pids("p1")
    assert len(after) == 2 and len(after & before) == 1      # one new process


def test_os_exit_via_shorthand_on_default(d):
    with d.connect() as c:
        err, res = c.call("os._exit", [3])
        crash_error(err, res, "exited with status 3")
    serves_again(d, "default")
    assert len(d.pool_pids("default")) == 2


def test_exit_status_0_is_a_crash_too(d):
    with d.connect() as c:
        err, res = c.call("call", ["os", "_exit", [0], None, {"pool": "p2"}])
        crash_error(err, res, "exited with status 0")
    serves_again(d, "p2")


def test_killed_by_signal_9(d):
    with d.connect() as c:
        err, res = c.call("call", ["helpers", "kill_self", [9], None, {"pool": "p3"}])
        crash_error(err, res, "killed by signal 9")
    serves_again(d, "p3")
    assert len(d.pool_pids("p3")) == 2


def test_os_kill_getpid_9(d):
    """helpers.kill_self(9) is os.kill(os.getpid(), 9) inside the executor."""
    with d.connect() as c:
        err, res = c.call("call", ["helpers", "kill_self", [int(signal.SIGKILL)], None, {"pool": "io"}])
        crash_error(err, res, "killed by signal 9")
    serves_again(d, "io")


def test_killed_by_sigsegv(d):
    with d.connect() as c:
        err, res = c.call("call", ["helpers", "kill_self", [int(signal.SIGSEGV)], None, {"pool": "p5"}])
        crash_error(err, res, "killed by signal 11")
    serves_again(d, "p5")


def test_queued_calls_survive_a_crash(d, factor):
    """On a one-executor pool, calls queued behind the crashing one run on
    the restarted executor: only the call that was running when the
    executor died gets WorkerCrashed."""
    with d.connect() as c:
        old = c.ok("call", ["helpers", "pid", [], None, {"pool": "solo"}])
        # one write: the daemon sees the crashing call and the others together
        crash, queued = 1001, [1002 + i for i in range(5)]
        data = msgpack.packb([0, crash, "call", ["helpers", "die", [7], None, {"pool": "solo"}]])
        data += b"".join(msgpack.packb([0, m, "call", ["helpers", "sleep_echo", [i, 0.0], None,
                                                       {"pool": "solo"}]])
                         for i, m in enumerate(queued))
        c.send_raw(data)
        err = c.wait(crash, timeout=10 * factor)[2]
        assert err["type"] == "WorkerCrashed" and "status 7" in err["message"]
        for i, m in enumerate(queued):
            assert c.wait(m, timeout=10 * factor)[2:] == [None, i]
        new = c.ok("call", ["helpers", "pid", [], None, {"pool": "solo"}])
        assert new != old


def test_crash_does_not_disturb_the_other_executor(d, factor):
    with d.connect() as c:
        slow = c.send("call", ["helpers", "sleep_echo", ["survived", 0.5], None, {"pool": "p6"}])
        wait_pool(c, "p6", 5 * factor, busy=1)   # the slow call runs: the crash goes to the other
        crash = c.send("call", ["helpers", "die", [5], None, {"pool": "p6"}])
        assert c.wait(crash, timeout=10 * factor)[2]["type"] == "WorkerCrashed"
        assert c.wait(slow, timeout=10 * factor)[2:] == [None, "survived"]


def test_crash_does_not_disturb_other_pools_or_connections(d, factor):
    with d.connect() as c, d.connect() as other:
        slow = other.send("call", ["helpers", "sleep_echo", ["fine", 0.3], None, {"pool": "io"}])
        err, _ = c.call("call", ["helpers", "die", [1], None, {"pool": "p4"}])
        assert err["type"] == "WorkerCrashed"
        assert other.call("ping", []) == (None, "pong")
        assert other.wait(slow, timeout=10 * factor)[2:] == [None, "fine"]
        assert c.call("math.sqrt", [4]) == (None, 2.0)
    serves_again(d, "p4")


def test_repeated_crashes_recover(d):
    """Several quick deaths in a row (restart back-off) and the pool still
    comes back within a few seconds."""
    with d.connect() as c:
        for _ in range(3):
            pid = serves_again(d, "p4")
            err, res = c.call("call", ["helpers", "die", [2], None, {"pool": "p4"}], timeout=15)
            crash_error(err, res, "exited with status 2", f"pid {pid}")
    serves_again(d, "p4", timeout=8.0)


def test_idle_executor_killed_from_outside(d):
    pids = d.pool_pids("p2")
    victim = sorted(pids)[0]
    os.kill(victim, signal.SIGKILL)
    deadline = time.monotonic() + 5 * d.factor
    while True:
        now = d.pool_pids("p2")
        if victim not in now and len(now) == 2:
            break
        assert time.monotonic() < deadline, f"pool p2 still has {now} (killed {victim})"
        time.sleep(0.1)


def test_crash_of_client_connection_closed_meanwhile(d, factor):
    """The client that made the crashing call is gone when the crash is seen."""
    with d.connect() as watcher:
        restarts = pool_status(watcher, "p1")["restarts"]
        c = d.connect()
        # the call is running when its client goes; 0.3 s later its executor dies
        c.send("call", ["os", "system", ["sleep 0.3; kill -9 $PPID"], None, {"pool": "p1"}])
        wait_pool(c, "p1", 5 * factor, busy=1)
        c.close()
        wait_until(lambda: pool_status(watcher, "p1")["restarts"] > restarts, 5 * factor,
                   "the crash seen (an executor restarted)")
    serves_again(d, "p1")


CRASHY = """\
import ctypes
import time


def maybe_segv(crash):
    if crash:
        ctypes.string_at(0)   # SIGSEGV raised by the executor itself
    return "ok"


def started_sleep(path, seconds):
    open(path, "w").close()
    time.sleep(seconds)
    return "done"
"""


def test_crash_limit_quarantines_the_function_then_retries_it(daemon_factory, factor):
    """crash_limit deaths caused by one function within crash_interval: that
    function alone is held off on that pool, its calls answered Quarantined
    at once for a hold-off (1 s, then 2 s at the next trip in a row), whatever
    their arguments; other functions on the same pool keep being served (no
    PoolDegraded, the pool is not degraded); then the function is tried
    again."""
    d = daemon_factory(pools={"default": {"size": 1}, "io": {"size": 1},
                              "fragile": {"size": 1, "crash_limit": 3, "crash_interval": 30}},
                       modules={"crashy.py": CRASHY})
    fragile = {"pool": "fragile"}

    def crash_until_quarantined(c, most):
        """Crashes the function until it is quarantined; returns the number
        of crashes and the Quarantined error."""
        crashes = 0
        while True:
            err, res = c.call("call", ["crashy", "maybe_segv", [True], None, fragile],
                              timeout=20 * factor)
            if err is not None and err["type"] == "Quarantined":
                return crashes, err
            crash_error(err, res, f"signal {int(signal.SIGSEGV)}")
            crashes += 1
            assert crashes <= most, f"{crashes} crashes and still not quarantined"

    def quarantined_now(c, crash=False):
        t = time.monotonic()
        err, _ = c.call("call", ["crashy", "maybe_segv", [crash], None, fragile], timeout=20 * factor)
        return err is not None and err["type"] == "Quarantined" and time.monotonic() - t < 0.2 * factor, err

    def others_served(c, held):
        assert c.call("call", ["operator", "add", [1, 2], None, fragile], timeout=20 * factor) == (None, 3)
        assert c.call("call", ["crashy", "started_sleep", ["/dev/null", 0], None, fragile],
                      timeout=20 * factor) == (None, "done")
        assert c.ok("call", ["operator", "add", [2, 2], None, {"pool": "default"}]) == 4
        pools = {p["name"]: p for p in c.ok("pools", [])}
        assert pools["fragile"]["degraded"] is False, pools["fragile"]
        assert pools["fragile"]["quarantined"] == (["crashy.maybe_segv"] if held else []), pools["fragile"]
        assert pools["default"]["quarantined"] == [], pools["default"]

    def wait_retried(c, within):
        t = time.monotonic()
        while True:
            err, res = c.call("call", ["crashy", "maybe_segv", [False], None, fragile],
                              timeout=20 * factor)
            if err is None:
                assert res == "ok"
                return time.monotonic() - t
            assert err["type"] == "Quarantined", err
            assert time.monotonic() - t < within * factor, err
            time.sleep(0.05)

    with d.connect() as c:
        crashes, err = crash_until_quarantined(c, 3)
        assert crashes == 3, f"quarantined after {crashes} crashes (crash_limit 3)"
        assert err["traceback"] is None
        assert "crashy.maybe_segv" in err["message"] and "fragile" in err["message"], err
        for crash in (True, False):   # the function, whatever its arguments
            ok, err = quarantined_now(c, crash)
            assert ok, err
        others_served(c, held=True)
        took = wait_retried(c, 5)
        assert 0.5 < took, f"the hold-off ended after {took:.2f}s"
        # a second trip in a row holds it off twice as long
        crashes, err = crash_until_quarantined(c, 3)
        assert crashes >= 1
        ok, err = quarantined_now(c)
        assert ok, err
        others_served(c, held=True)
        time.sleep(1.2)   # into the hold-off: a duration is what is tested
        ok, err = quarantined_now(c)
        assert ok, f"no longer held off 1.2 s into a 2 s hold-off: {err}"
        others_served(c, held=True)
        wait_retried(c, 5)
        others_served(c, held=False)


def test_kills_from_outside_never_quarantine_anything(daemon_factory, factor, tmp_path):
    """SIGKILL from outside (an operator, the OOM killer) is charged to no
    one: far more kills than crash_limit, of busy and idle executors, and
    the function that was running, like every other, is still served; the
    pool is never degraded; each kill fails only the call it hit."""
    d = daemon_factory(pools={"default": {"size": 1}, "io": {"size": 1},
                              "target": {"size": 1, "crash_limit": 2, "crash_interval": 30}},
                       modules={"crashy.py": CRASHY})
    target = {"pool": "target"}
    with d.connect() as c:
        for i in range(5):   # busy: killed while running a call
            pid = c.ok("call", ["os", "getpid", [], None, target], timeout=20 * factor)
            started = tmp_path / f"started{i}"
            m = c.send("call", ["crashy", "started_sleep", [str(started), 30], None, target])
            deadline = time.monotonic() + 10 * factor
            while not started.exists():
                assert time.monotonic() < deadline, "the call does not start"
                time.sleep(0.01)
            os.kill(pid, signal.SIGKILL)
            msg = c.wait(m, timeout=20 * factor)
            crash_error(msg[2], msg[3], "signal 9", f"pid {pid}")
        for i in range(3):   # idle
            pid = c.ok("call", ["os", "getpid", [], None, target], timeout=20 * factor)
            os.kill(pid, signal.SIGKILL)
            deadline = time.monotonic() + 10 * factor
            while pid in c.ok("contexts", ["target"]):
                assert time.monotonic() < deadline, "the killed executor is not seen gone"
                time.sleep(0.01)
        assert c.call("call", ["crashy", "started_sleep", ["/dev/null", 0], None, target],
                      timeout=20 * factor) == (None, "done")
        assert c.call("call", ["operator", "add", [1, 2], None, target], timeout=20 * factor) == (None, 3)
        pools = {p["name"]: p for p in c.ok("pools", [])}
        assert pools["target"]["degraded"] is False, pools["target"]
        assert pools["target"]["quarantined"] == [], pools["target"]


SEGV = """\
import ctypes


def segfault():
    return ctypes.string_at(0)
"""


@pytest.mark.parametrize("mode", ["process", "thread"])
def test_real_segfault_in_a_c_extension(daemon_factory, factor, mode):
    """A NULL read in C code (not a signal sent by hand): WorkerCrashed naming
    SIGSEGV, and the pool serves on."""
    d = daemon_factory(pools={"default": {"size": 1}, "io": {"size": 1},
                              "bad": {"size": 2, "mode": mode}}, modules={"segv.py": SEGV})
    with d.connect() as c:
        err, res = c.call("call", ["segv", "segfault", [], None, {"pool": "bad"}], timeout=20 * factor)
        crash_error(err, res, f"signal {int(signal.SIGSEGV)}")
        for i in range(5):
            assert c.ok("call", ["operator", "add", [i, 1], None, {"pool": "bad"}],
                        timeout=20 * factor) == i + 1
