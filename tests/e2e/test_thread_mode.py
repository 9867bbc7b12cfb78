"""Thread mode: a pool that is ONE executor process running `size` Python
threads (`pools.NAME.mode: thread`), with the per-pool `timeout` and
`hard_timeout` keys, the admin methods' thread-mode answers, timeouts,
cancels, crashes and max_requests on such a pool."""
import subprocess
import time

import pytest

from conftest import (BINARY, assert_recycled_every, finish_daemon, module_daemon, pid_alive, pool_status,
                      wait_file, wait_until)


# A module of its own on the daemons' python path.
TM = """\
import os
import threading
import time


def forever():
    n = 0
    while True:
        n += 1


def span(seconds):
    \"\"\"[start, end, pid, thread] around a sleep (wall-clock times).\"\"\"
    t0 = time.time()
    time.sleep(seconds)
    return [t0, time.time(), os.getpid(), threading.get_ident()]


def spin_for(seconds, value):
    \"\"\"Runs Python code (no C call that blocks) for seconds, returns value.\"\"\"
    end = time.monotonic() + seconds
    n = 0
    while time.monotonic() < end:
        n += 1
    return value


def work(i):
    \"\"\"A little pure-Python work: a stray asynchronous exception would surface here.\"\"\"
    total = 0
    for k in range(20000):
        total += k % 7
    return [i, total]
"""

WORK_TOTAL = sum(k % 7 for k in range(20000))

POOLS = {
    "default": {"size": 2, "mode": "process"},
    "io": {"size": 2, "mode": "process"},
    "par": {"size": 4, "mode": "thread"},          # concurrency
    "duo": {"size": 2, "mode": "thread"},          # concurrency bound by size
    "procs": {"size": 3, "mode": "process"},       # the contrast
    "spin1": {"size": 1, "mode": "thread"},        # timeouts free the one thread
    "ptime": {"size": 1, "mode": "thread", "timeout": 0.3},      # pool-level timeout
    "ptproc": {"size": 1, "mode": "process", "timeout": 0.3},    # same, process mode
    "race": {"size": 4, "mode": "thread"},         # timeouts hit the right thread only
    "hard": {"size": 3, "mode": "thread", "hard_timeout": 1},    # C-blocked call, timed out
    "hardc": {"size": 2, "mode": "thread", "hard_timeout": 1},   # C-blocked call, cancelled
    "lazy": {"size": 2, "mode": "thread"},         # default hard_timeout (10 s)
    "cx": {"size": 2, "mode": "thread"},           # cancel
    "crash": {"size": 3, "mode": "thread"},        # os.kill(getpid, 9) with another call running
    "crashq": {"size": 1, "mode": "thread"},       # calls queued behind a crash
    "recyc": {"size": 2, "mode": "thread", "max_requests": 5},
    "grow": {"size": 2, "mode": "thread"},         # resize_pool
    "stat": {"size": 3, "mode": "thread"},         # pools / contexts / get_context
}

# A grace period that differs from the hard_timeout under test, so that a
# thread pool replaced after limits.timeout_grace_ms (the process-mode rule)
# instead of after its hard_timeout is noticed.
EXTRA = "limits:\n  timeout_grace_ms: 300\n"


@pytest.fixture(scope="module")
def d(request, tmp_path_factory):
    d = module_daemon(request, tmp_path_factory, "threadmode", pools=POOLS,
                      modules={"tm.py": TM}, extra_yaml=EXTRA)
    yield d
    finish_daemon(d)


# ------------------------------------------------------------- helpers --

def on(pool, timeout=None):
    opts = {"pool": pool}
    if timeout is not None:
        opts["timeout"] = timeout
    return opts


def the_pid(c, pool):
    """The one pid `contexts` gives for a thread pool."""
    pids = c.ok("contexts", [pool])
    assert isinstance(pids, list) and len(pids) == 1, f"contexts {pool}: {pids!r}"
    assert isinstance(pids[0], int) and pids[0] > 0, f"contexts {pool}: {pids!r}"
    return pids[0]


pool_info = pool_status


def wait_for(pred, timeout, what):
    """Polls pred() until it returns a true value (bounded); returns it."""
    return wait_until(pred, timeout, what, interval=0.05)


def new_pid(c, pool, old, timeout):
    """Waits until the thread pool runs on a process other than old, and that
    process answers a call; returns its pid."""
    def check():
        pids = c.ok("contexts", [pool])
        if len(pids) == 1 and isinstance(pids[0], int) and pids[0] != old:
            return pids[0]
        return None
    pid = wait_for(check, timeout, f"pool {pool} replaces executor {old}")
    got = c.ok("call", ["os", "getpid", [], None, on(pool)], timeout=timeout)
    assert got == pid, f"contexts says {pid}, the call ran on {got}"
    return pid

    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def spans_at_once(pool, n, seconds=0.3):
    return [("call", ["tm", "span", [seconds], None, on(pool)])] * n


def max_overlap(spans):
    """The most spans [start, end) running at one instant."""
    return max(sum(1 for a, b in spans if a <= t < b) for t, _ in spans)


def timed_many(c, requests, timeout):
    t = time.monotonic()
    res = c.request_many(requests, timeout=timeout)
    return time.monotonic() - t, res


def warm(c, pool):
    """Imports tm in the pool's executor before anything is timed."""
    c.ok("call", ["tm", "span", [0], None, on(pool)], timeout=20)


# -------------------------------------------------------------- admin --

def test_admin_methods_describe_one_process_of_threads(d):
    """contexts: one pid; num_contexts: the number of threads; get_context:
    that pid; pools: mode thread, size = threads, every counter present."""
    with d.connect() as c:
        pid = the_pid(c, "stat")
        assert c.ok("num_contexts", ["stat"]) == 3
        assert c.ok("get_context", ["stat"]) == pid
        assert c.ok("call", ["os", "getpid", [], None, on("stat")]) == pid
        p = pool_info(c, "stat")
        assert set(p) == {"name", "mode", "size", "busy", "idle", "starting", "queued",
                          "completed", "failed", "restarts", "degraded", "quarantined"}, p
        assert p["mode"] == "thread" and p["size"] == 3, p
        assert p["degraded"] is False and p["quarantined"] == []
        # the process pools still say so
        assert pool_info(c, "procs")["mode"] == "process"
        assert len(c.ok("contexts", ["procs"])) == 3


def test_pools_counts_busy_and_idle_threads(d, factor):
    """busy = threads running a call, idle = size - busy, for a thread pool."""
    with d.connect() as c:
        warm(c, "stat")
        wait_for(lambda: pool_info(c, "stat")["idle"] == 3, 5 * factor, "stat idle")
        before = pool_info(c, "stat")
        first = [c.send("call", ["tm", "span", [0.8], None, on("stat")]) for _ in range(2)]
        p = wait_for(lambda: (lambda q: q if q["busy"] == 2 else None)(pool_info(c, "stat")),
                     0.6 * factor, "2 busy threads")
        assert p["idle"] == 1 and p["starting"] == 0 and p["size"] == 3, p
        more = [c.send("call", ["tm", "span", [0.6], None, on("stat")]) for _ in range(3)]
        p = wait_for(lambda: (lambda q: q if q["busy"] == 3 else None)(pool_info(c, "stat")),
                     0.6 * factor, "3 busy threads")
        assert p["idle"] == 0 and p["busy"] + p["idle"] + p["starting"] == 3, p
        assert p["queued"] <= 2, p
        for m in first + more:
            assert c.wait(m, timeout=10 * factor)[2] is None
        p = wait_for(lambda: (lambda q: q if q["busy"] == 0 else None)(pool_info(c, "stat")),
                     2 * factor, "no busy thread after the calls")
        assert p["idle"] == 3 and p["queued"] == 0, p
        assert p["completed"] - before["completed"] == 5, (before, p)
        assert p["restarts"] == before["restarts"], (before, p)


def test_start_pool_thread_mode(d, factor):
    """start_pool [name, size, "thread"] answers one pid, which serves every
    call, size threads at once; stop_pool then ends that process."""
    with d.connect() as c:
        pids = c.ok("start_pool", ["tp", 3, "thread"])
        assert isinstance(pids, list) and len(pids) == 1, pids
        pid = pids[0]
        assert isinstance(pid, int) and pid > 0
        assert c.ok("pool_started", ["tp"]) is True
        assert c.ok("num_contexts", ["tp"]) == 3
        assert c.ok("contexts", ["tp"]) == [pid]
        p = pool_info(c, "tp")
        assert p["mode"] == "thread" and p["size"] == 3, p
        warm(c, "tp")
        # (while its executor starts, get_context may answer nil, as in process mode)
        assert c.ok("get_context", ["tp"]) == pid
        took, res = timed_many(c, spans_at_once("tp", 3), 20 * factor)
        assert all(e is None for e, _ in res), res
        assert {r[2] for _, r in res} == {pid}
        assert took < 0.55 * factor, f"3 sleeps of 0.3 s on 3 threads took {took:.2f}s"
        err, _ = c.call("start_pool", ["tp", 1, "thread"])
        assert err["type"] == "PoolExists"
        assert c.ok("stop_pool", ["tp"]) is True
        wait_for(lambda: not pid_alive(pid), 10 * factor, f"the stopped pool's executor {pid} ends")


# --------------------------------------------------------- concurrency --

def test_calls_run_in_parallel_threads_of_one_process(d, factor):
    """4 sleeps of 0.3 s sent at once to a 4-thread pool run together, in one
    process, each on its own thread."""
    with d.connect() as c:
        pid = the_pid(c, "par")
        warm(c, "par")
        took, res = timed_many(c, spans_at_once("par", 4), 20 * factor)
        assert all(e is None for e, _ in res), res
        spans = [r for _, r in res]
        assert {s[2] for s in spans} == {pid}, "every call runs in the pool's one process"
        assert len({s[3] for s in spans}) == 4, "each call on its own thread"
        assert max(s[0] for s in spans) < min(s[1] for s in spans), f"not all at once: {spans}"
        assert took < 0.55 * factor, f"4 sleeps of 0.3 s on 4 threads took {took:.2f}s"


def test_concurrency_is_bounded_by_the_number_of_threads(d, factor):
    """2 threads: 4 sleeps of 0.3 s take two rounds, never more than 2 at once."""
    with d.connect() as c:
        pid = the_pid(c, "duo")
        warm(c, "duo")
        took, res = timed_many(c, spans_at_once("duo", 4), 20 * factor)
        assert all(e is None for e, _ in res), res
        spans = [(r[0], r[1]) for _, r in res]
        assert {r[2] for _, r in res} == {pid}
        assert took >= 0.55, f"4 sleeps of 0.3 s on 2 threads took only {took:.2f}s"
        assert max_overlap(spans) <= 2, spans


def test_process_mode_contrast(d, factor):
    """A process pool spreads the same calls over its processes."""
    pids = d.pool_pids("procs")
    with d.connect() as c:
        assert set(c.ok("contexts", ["procs"])) == pids
        took, res = timed_many(c, spans_at_once("procs", 3), 20 * factor)
        assert all(e is None for e, _ in res), res
        assert {r[2] for _, r in res} == pids
        assert took < 0.55 * factor


# ------------------------------------------------------------ timeouts --

def test_spinning_call_times_out_with_its_stack_and_frees_its_thread(d, factor):
    """On a one-thread pool, a Python loop with timeout 0.3: Timeout at about
    0.3 s with a traceback naming the loop; the thread is freed (same
    process, 50 calls right after all correct), three times over."""
    with d.connect() as c:
        pid = the_pid(c, "spin1")
        for _ in range(3):
            t = time.monotonic()
            err, res = c.call("call", ["tm", "forever", [], None, on("spin1", 0.3)],
                              timeout=10 * factor)
            took = time.monotonic() - t
            assert res is None and err is not None and err["type"] == "Timeout", err
            assert 0.25 <= took < 1.0 * factor, took
            tb = err["traceback"]
            assert isinstance(tb, str) and tb.strip(), err
            assert "forever" in tb, tb
            time.sleep(0.5)   # past limits.timeout_grace_ms: still the same process
            res = c.request_many([("call", ["tm", "work", [i], None, on("spin1")])
                                  for i in range(50)], timeout=30 * factor)
            assert res == [(None, [i, WORK_TOTAL]) for i in range(50)], \
                [r for r in res if r[0] is not None][:3]
            assert c.ok("contexts", ["spin1"]) == [pid]
            assert c.ok("call", ["os", "getpid", [], None, on("spin1")]) == pid
        assert c.nothing_arrives(0.2)


def test_timeout_stops_only_the_thread_it_is_for(d, factor):
    """While one thread's call times out, a call spinning in Python on
    another thread of the same process runs to its end untouched."""
    with d.connect() as c:
        pid = the_pid(c, "race")
        warm(c, "race")
        kept = c.send("call", ["tm", "spin_for", [0.9, "kept"], None, on("race")])
        stopped = c.send("call", ["tm", "forever", [], None, on("race", 0.3)])
        err = c.wait(stopped, timeout=10 * factor)[2]
        assert err is not None and err["type"] == "Timeout", err
        assert c.wait(kept, timeout=10 * factor)[2:] == [None, "kept"]
        assert c.ok("contexts", ["race"]) == [pid]


def test_late_timeouts_never_leak_into_later_calls(d, factor):
    """Calls whose timeout falls about when they finish, mixed with calls
    that have none, wave after wave on the same threads: a call with a
    timeout answers its value or Timeout; a call without one always answers
    its value (a TimeoutError meant for an earlier call never hits it)."""
    durations = [0.03, 0.04, 0.05, 0.06, 0.07]
    timed_out = 0
    with d.connect() as c:
        pid = the_pid(c, "race")
        warm(c, "race")
        for wave in range(40):
            reqs, kinds = [], []
            for j in range(2):
                i = wave * 10 + j
                reqs.append(("call", ["tm", "spin_for", [durations[(wave + j) % 5], i], None,
                                      on("race", 0.05)]))
                kinds.append(("timed", i))
            for j in range(2, 4):
                i = wave * 10 + j
                reqs.append(("call", ["tm", "work", [i], None, on("race")]))
                kinds.append(("free", i))
            res = c.request_many(reqs, timeout=20 * factor)
            for (kind, i), (err, val) in zip(kinds, res):
                if kind == "timed":
                    if err is None:
                        assert val == i
                    else:
                        # the daemon answers its own timeouts Timeout at once; a call
                        # answered with a Python TimeoutError was hit by a stray one
                        assert err["type"] == "Timeout", (wave, i, err)
                        timed_out += 1
                else:
                    assert (err, val) == (None, [i, WORK_TOTAL]), (wave, i, err)
        res = c.request_many([("call", ["tm", "work", [i], None, on("race")]) for i in range(40)],
                             timeout=30 * factor)
        assert res == [(None, [i, WORK_TOTAL]) for i in range(40)], \
            [r for r in res if r[0] is not None][:3]
        assert c.ok("contexts", ["race"]) == [pid]
        assert timed_out > 0, "no call timed out: the test did not test anything"


def test_pool_level_timeout_and_its_overrides(d, factor):
    """ptime has `timeout: 0.3`: a call without opts.timeout times out at
    about 0.3 s; opts.timeout overrides it both ways."""
    with d.connect() as c:
        pid = the_pid(c, "ptime")
        assert c.ok("call", ["operator", "add", [1, 2], None, on("ptime")]) == 3
        t = time.monotonic()
        err, _ = c.call("call", ["tm", "forever", [], None, on("ptime")], timeout=10 * factor)
        took_pool = time.monotonic() - t
        assert err is not None and err["type"] == "Timeout", err
        assert 0.25 <= took_pool < 1.0 * factor, took_pool
        assert "forever" in (err["traceback"] or ""), err
        # a shorter opts.timeout
        t = time.monotonic()
        err, _ = c.call("call", ["tm", "forever", [], None, on("ptime", 0.05)], timeout=10 * factor)
        took = time.monotonic() - t
        assert err is not None and err["type"] == "Timeout", err
        assert took < 0.27 * factor, f"opts.timeout 0.05 answered after {took:.2f}s: the pool's 0.3 s won"
        # (the same on a slowed-down machine, where the bound above is loose:
        # the gap between the two timeouts, 0.25 s, does not scale)
        assert took < took_pool - 0.1, \
            f"opts.timeout 0.05 answered after {took:.2f}s, the pool's 0.3 s after {took_pool:.2f}s"
        # a longer opts.timeout lets a 0.6 s call finish
        assert c.ok("call", ["helpers", "sleep_echo", ["done", 0.6], None, on("ptime", 3)],
                    timeout=10 * factor) == "done"
        # without opts.timeout the same call is stopped by the pool's
        err, _ = c.call("call", ["helpers", "sleep_echo", ["late", 0.6], None, on("ptime")],
                        timeout=10 * factor)
        assert err is not None and err["type"] == "Timeout", err
        wait_for(lambda: pool_info(c, "ptime")["busy"] == 0, 5 * factor,
                 "that sleep ends; its thread comes back")
        assert c.ok("call", ["os", "getpid", [], None, on("ptime")], timeout=10 * factor) == pid


def test_pool_level_timeout_in_process_mode(d, factor):
    """`timeout:` is a pool key for process pools too."""
    with d.connect() as c:
        pid = c.ok("call", ["os", "getpid", [], None, on("ptproc")], timeout=10 * factor)
        t = time.monotonic()
        err, _ = c.call("call", ["tm", "forever", [], None, on("ptproc")], timeout=10 * factor)
        took = time.monotonic() - t
        assert err is not None and err["type"] == "Timeout", err
        assert 0.25 <= took < 1.0 * factor, took
        assert c.ok("call", ["helpers", "sleep_echo", ["done", 0.5], None, on("ptproc", 3)],
                    timeout=10 * factor) == "done"
        assert c.ok("call", ["os", "getpid", [], None, on("ptproc")], timeout=10 * factor) == pid


def test_call_blocked_in_c_past_hard_timeout_replaces_the_executor(d, factor):
    """hard (3 threads, hard_timeout 1): time.sleep(30) with timeout 0.2 is
    answered Timeout at once; the other threads keep serving on the same
    process meanwhile; about 1 s later the process is replaced, and a call
    it was running then gets WorkerCrashed. The pool then serves again."""
    with d.connect() as c:
        old = the_pid(c, "hard")
        warm(c, "hard")
        restarts = pool_info(c, "hard")["restarts"]
        t0 = time.monotonic()
        stuck = c.send("call", ["time", "sleep", [30], None, on("hard", 0.2)])
        err = c.wait(stuck, timeout=10 * factor)[2]
        assert err is not None and err["type"] == "Timeout", err
        assert time.monotonic() - t0 < 0.8 * factor
        # the process still serves on its other threads
        assert c.ok("call", ["os", "getpid", [], None, on("hard")], timeout=5 * factor) == old
        victim = c.send("call", ["helpers", "sleep_echo", ["never", 5], None, on("hard")])
        wait_for(lambda: pool_info(c, "hard")["busy"] == 2, 0.6 * factor,
                 "the victim runs beside the stuck call")
        assert c.ok("contexts", ["hard"]) == [old], "replaced before hard_timeout"
        msg = c.wait(victim, timeout=10 * factor)
        when = time.monotonic() - t0
        assert msg[3] is None and msg[2] is not None and msg[2]["type"] == "WorkerCrashed", msg
        assert when >= 1.0, f"replaced {when:.2f}s after the call: hard_timeout is 1 s after 0.2 s"
        assert when < 4.0 * factor, f"replaced only {when:.2f}s after the call"
        new = new_pid(c, "hard", old, 10 * factor)
        assert new != old
        wait_for(lambda: not pid_alive(old), 5 * factor, f"the replaced executor {old} ends")
        res = c.request_many([("call", ["tm", "work", [i], None, on("hard")]) for i in range(10)],
                             timeout=20 * factor)
        assert res == [(None, [i, WORK_TOTAL]) for i in range(10)], res
        assert pool_info(c, "hard")["restarts"] > restarts
        assert c.nothing_arrives(0.3), "the stuck call was answered twice"


def test_default_hard_timeout_is_not_the_grace_period(d, factor):
    """lazy has no hard_timeout (default 10 s): a timed-out call blocked in
    C for 3 s keeps its thread, and the process is not replaced, even
    past limits.timeout_grace_ms (0.3 s here) and past 1 s."""
    with d.connect() as c:
        pid = the_pid(c, "lazy")
        warm(c, "lazy")
        stuck = c.send("call", ["time", "sleep", [3], None, on("lazy", 0.2)])
        assert c.wait(stuck, timeout=10 * factor)[2]["type"] == "Timeout"
        t = time.monotonic()
        r = c.ok("call", ["helpers", "sleep_pid", [1.6], None, on("lazy")], timeout=10 * factor)
        assert r == pid, "the process was replaced long before its hard_timeout"
        assert time.monotonic() - t >= 1.5
        assert c.ok("contexts", ["lazy"]) == [pid]
        # once the sleep returns by itself, both threads serve again
        wait_for(lambda: pool_info(c, "lazy")["busy"] == 0, 5 * factor, "the stuck sleep returns")
        took, res = timed_many(c, spans_at_once("lazy", 2), 20 * factor)
        assert {r[2] for _, r in res} == {pid}
        assert took < 0.55 * factor, f"2 sleeps on 2 threads took {took:.2f}s: a thread is lost"


# -------------------------------------------------------------- cancel --

def test_cancel_a_spinning_call_frees_its_thread(d, factor, tmp_path):
    """cancel of a call looping in Python: Cancelled at once; a call on the
    other thread is untouched; both threads then serve (same process)."""
    with d.connect() as c:
        pid = the_pid(c, "cx")
        warm(c, "cx")
        started = tmp_path / "started"
        kept = c.send("call", ["tm", "spin_for", [0.8, "kept"], None, on("cx")])
        m = c.send("call", ["helpers", "started_spin", [str(started)], None, on("cx")])
        wait_file(started, 5 * factor)   # looping in Python now
        t = time.monotonic()
        c.notify("cancel", [m])
        msg = c.wait(m, timeout=5 * factor)
        assert time.monotonic() - t < 0.5 * factor
        assert msg[3] is None and msg[2]["type"] == "Cancelled", msg
        assert c.wait(kept, timeout=10 * factor)[2:] == [None, "kept"]
        time.sleep(0.5)   # past limits.timeout_grace_ms
        wait_for(lambda: pool_info(c, "cx")["busy"] == 0, 2 * factor, "the cancelled thread is freed")
        took, res = timed_many(c, spans_at_once("cx", 2), 20 * factor)
        assert all(e is None for e, _ in res), res
        assert {r[2] for _, r in res} == {pid}
        assert took < 0.55 * factor, f"2 sleeps on 2 threads took {took:.2f}s: a thread is lost"
        res = c.request_many([("call", ["tm", "work", [i], None, on("cx")]) for i in range(20)],
                             timeout=20 * factor)
        assert res == [(None, [i, WORK_TOTAL]) for i in range(20)]
        assert c.ok("contexts", ["cx"]) == [pid]
        assert c.nothing_arrives(0.2)


def test_cancelled_call_blocked_in_c_past_hard_timeout(d, factor, tmp_path):
    """hard_timeout counts for a cancelled call too: a cancelled time.sleep(30)
    is answered at once, and about 1 s later the process is replaced."""
    with d.connect() as c:
        old = the_pid(c, "hardc")
        warm(c, "hardc")
        started = tmp_path / "started"
        m = c.send("call", ["helpers", "started_sleep", [str(started), 30], None, on("hardc")])
        wait_file(started, 5 * factor)   # in time.sleep now
        t = time.monotonic()
        c.notify("cancel", [m])
        assert c.wait(m, timeout=5 * factor)[2]["type"] == "Cancelled"
        assert time.monotonic() - t < 0.5 * factor
        assert c.ok("call", ["os", "getpid", [], None, on("hardc")], timeout=5 * factor) == old
        new_pid(c, "hardc", old, 10 * factor)
        assert time.monotonic() - t >= 0.8, "replaced before hard_timeout"


# --------------------------------------------------------------- crash --

def test_crash_fails_every_call_running_in_the_process(d, factor):
    """os.kill(os.getpid(), 9) in one thread: that call and the one running
    on another thread both get WorkerCrashed (no hang); a new process serves."""
    with d.connect() as c:
        old = the_pid(c, "crash")
        warm(c, "crash")
        restarts = pool_info(c, "crash")["restarts"]
        other = c.send("call", ["helpers", "sleep_echo", ["x", 3], None, on("crash")])
        wait_for(lambda: pool_info(c, "crash")["busy"] == 1, 5 * factor, "the other call runs")
        t = time.monotonic()
        err, res = c.pycall("helpers", "kill_self", [9], None, on("crash"), timeout=10 * factor)
        assert res is None and err is not None and err["type"] == "WorkerCrashed", err
        assert "signal 9" in err["message"], err
        msg = c.wait(other, timeout=10 * factor)
        assert msg[3] is None and msg[2] is not None and msg[2]["type"] == "WorkerCrashed", msg
        assert time.monotonic() - t < 2.5 * factor, "the other call was not failed at the crash"
        new = new_pid(c, "crash", old, 10 * factor)
        assert new != old and not pid_alive(old)
        res = c.request_many([("call", ["tm", "work", [i], None, on("crash")]) for i in range(10)],
                             timeout=20 * factor)
        assert res == [(None, [i, WORK_TOTAL]) for i in range(10)]
        assert pool_info(c, "crash")["restarts"] > restarts


def test_calls_queued_behind_a_crash_are_answered(d, factor):
    """One thread: a crashing call with calls queued behind it in the same
    write. Every one of them is answered (its value, or WorkerCrashed), none
    hangs, and the pool serves again on a new process."""
    with d.connect() as c:
        old = the_pid(c, "crashq")
        reqs = [("call", ["helpers", "die", [7], None, on("crashq")])]
        reqs += [("call", ["helpers", "sleep_echo", [i, 0.0], None, on("crashq")]) for i in range(5)]
        res = c.request_many(reqs, timeout=20 * factor)
        assert res[0][0] is not None and res[0][0]["type"] == "WorkerCrashed", res[0]
        assert "status 7" in res[0][0]["message"], res[0]
        for i, (err, val) in enumerate(res[1:]):
            assert (err is None and val == i) or err["type"] == "WorkerCrashed", (i, err, val)
        new_pid(c, "crashq", old, 10 * factor)


# -------------------------------------------------------- max_requests --

def test_max_requests_replaces_the_process(d, factor):
    """recyc: max_requests 5: with calls sent one at a time, the pid changes
    every 5 calls."""
    with d.connect() as c:
        pids = [c.ok("call", ["os", "getpid", [], None, on("recyc")], timeout=20 * factor)
                for _ in range(16)]
        assert_recycled_every(pids, 5)
        p = pool_info(c, "recyc")
        assert p["restarts"] >= 2 and p["failed"] == 0, p
        assert len(c.ok("contexts", ["recyc"])) == 1


# -------------------------------------------------------------- resize --

def test_resize_changes_the_number_of_threads(d, factor):
    """Growing 2 -> 4 runs 4 calls at once at once (same process); shrinking
    to 1 while 3 calls run lets them finish, then calls run one at a time."""
    with d.connect() as c:
        pid = the_pid(c, "grow")
        warm(c, "grow")
        assert c.ok("resize_pool", ["grow", 4]) is True
        assert c.ok("num_contexts", ["grow"]) == 4
        assert pool_info(c, "grow")["size"] == 4
        took, res = timed_many(c, spans_at_once("grow", 4), 20 * factor)
        assert all(e is None for e, _ in res), res
        assert {r[2] for _, r in res} == {pid}, "growing a thread pool keeps its process"
        assert took < 0.55 * factor, f"4 sleeps after growing to 4 threads took {took:.2f}s"
        assert c.ok("contexts", ["grow"]) == [pid]
        running = [c.send("call", ["tm", "span", [0.5], None, on("grow")]) for _ in range(3)]
        wait_for(lambda: pool_info(c, "grow")["busy"] == 3, 0.4 * factor, "the 3 calls run")
        assert c.ok("resize_pool", ["grow", 1]) is True
        for m in running:
            msg = c.wait(m, timeout=10 * factor)
            assert msg[2] is None and msg[3][2] == pid, msg
        assert c.ok("num_contexts", ["grow"]) == 1
        took, res = timed_many(c, spans_at_once("grow", 2), 20 * factor)
        assert all(e is None for e, _ in res), res
        assert took >= 0.55, f"2 sleeps of 0.3 s on 1 thread took only {took:.2f}s"
        assert max_overlap([(r[0], r[1]) for _, r in res]) == 1
        p = wait_for(lambda: (lambda q: q if q["busy"] == 0 else None)(pool_info(c, "grow")),
                     2 * factor, "grow idle")
        assert p["size"] == 1 and p["idle"] == 1, p
        assert c.ok("contexts", ["grow"]) == [pid]


# ------------------------------------------------------ io and config --

def test_io_defaults_to_ten_threads(daemon_factory, factor):
    """With no io entry in the config, io is a thread pool of 10: one
    process, 10 calls at once."""
    d2 = daemon_factory(pools={"default": {"size": 1}}, modules={"tm.py": TM})
    with d2.connect() as c:
        p = pool_info(c, "io")
        assert p["mode"] == "thread" and p["size"] == 10, p
        assert c.ok("num_contexts", ["io"]) == 10
        warm(c, "io")  # its executor may still be starting (pid nil) until then
        pid = the_pid(c, "io")
        assert c.ok("get_context", ["io"]) == pid
        took, res = timed_many(c, spans_at_once("io", 10), 20 * factor)
        assert all(e is None for e, _ in res), res
        assert {r[2] for _, r in res} == {pid}
        assert took < 0.55 * factor, f"10 sleeps of 0.3 s on io took {took:.2f}s"


def run(args, timeout=20):
    return subprocess.run([str(BINARY)] + args, capture_output=True, text=True,
                          timeout=timeout, stdin=subprocess.DEVNULL, cwd="/")


def write_cfg(path, pools_yaml):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("listen:\n  - unix: a.sock\npools:\n" + pools_yaml)
    return path


HARD_ON_PROCESS = [
    ("mode-first", "  gpu: {size: 1, mode: process, hard_timeout: 5}\n"),
    ("mode-last", "  gpu: {size: 1, hard_timeout: 5, mode: process}\n"),
    ("mode-default", "  gpu: {size: 1, hard_timeout: 5}\n"),
]


@pytest.mark.parametrize("name,pools_yaml", HARD_ON_PROCESS, ids=[h[0] for h in HARD_ON_PROCESS])
def test_hard_timeout_refused_on_a_process_pool(tmp_path, name, pools_yaml):
    """hard_timeout is for thread pools only: --check and a start both fail
    with an error at the pool's line that names the key; the same pool in
    thread mode is accepted (so the key is known, just misplaced)."""
    cfg = write_cfg(tmp_path / f"{name}.yaml", pools_yaml)
    for args in (["--check", "-c", str(cfg)], ["-c", str(cfg)]):
        r = run(args)
        assert r.returncode == 1, (args, r.stdout, r.stderr)
        err = r.stderr.strip()
        assert err.startswith(f"pyrpoold: {cfg}:4:"), err
        assert "hard_timeout" in err, err
    assert not (tmp_path / "a.sock").exists()
    good = write_cfg(tmp_path / f"{name}-thread.yaml",
                     "  gpu: {size: 1, mode: thread, hard_timeout: 5}\n")
    r = run(["--check", "-c", str(good)])
    assert r.returncode == 0, r.stderr


def test_thread_mode_keys_accepted_by_check(tmp_path):
    """mode thread with timeout and hard_timeout; hard_timeout on io (thread
    by default); timeout on a process pool: all valid."""
    cfg = write_cfg(tmp_path / "good.yaml",
                    "  default: {size: 1, mode: process, timeout: 2}\n"
                    "  io: {hard_timeout: 3}\n"
                    "  gpu: {size: 4, mode: thread, timeout: 0.5, hard_timeout: 2}\n")
    r = run(["--check", "-c", str(cfg)])
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines()[0] == f"{cfg}: ok"
