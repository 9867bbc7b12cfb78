"""Integrity: every call runs at most once and is answered exactly once, a
crash is charged to the call that caused it (and quarantines only its
function), one client can neither starve nor bloat the daemon for another,
processes a call starts (os.fork, subprocess) do not outlive their executor
or leave zombies, and a SIGTERM to the daemon's whole process group drains
like a SIGTERM to the master.

Executions are counted, not inferred: the helper functions append a token
to a file (O_APPEND, one write per run) before doing anything else, so a
call that ran twice shows its token twice.

Every time bound is multiplied by `factor` (the slow-down factor)."""
import collections
import contextlib
import os
import random
import signal
import socket
import threading
import time
from pathlib import Path

import msgpack
import pytest

from conftest import ACTIVE, proc_stat, start_daemon, wait_pool, wait_until

INTEG_PY = """\
import ctypes
import os
import subprocess
import time


def _append(path, token):
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, (str(token) + "\\n").encode())
    finally:
        os.close(fd)


def mark(path, token):
    _append(path, token)
    return token


def mark_crash(path, token):
    _append(path, token)
    ctypes.string_at(0)   # a NULL read: SIGSEGV raised by the executor itself


_gil_kept = ctypes.PyDLL(None)   # libc, called without releasing the GIL


def hold_gil(path, seconds):
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write(str(os.getpid()))
    _gil_kept.rename(tmp.encode(), path.encode())   # it runs now, and keeps the GIL
    _gil_kept.sleep(seconds)


def every_100th(path, i):
    if i % 100 == 99:
        _append(path, i)
        ctypes.string_at(0)
    return i


def slow_mark(path, token, seconds):
    _append(path, token + "-start")
    time.sleep(seconds)
    _append(path, token)
    return token


def started_sleep(path, seconds, value):
    open(path, "w").close()   # it runs now
    time.sleep(seconds)
    return value


def add_pid(i):
    return [i + 1, os.getpid()]


def fork_child(how):
    pid = os.fork()
    if pid == 0:
        if how == "return":
            return -1            # the child goes back into the executor's code
        if how == "sleep":
            time.sleep(0.5)
        os._exit(0)
    return pid


def fork_scribbler(delay):
    # the child writes garbage on the executor's socket a while later, as a
    # C library (or a careless child) using an inherited fd might
    pid = os.fork()
    if pid == 0:
        time.sleep(delay)
        try:
            os.write(3, b"\\xc1\\xc1 not a frame")
        except OSError:
            pass
        os._exit(0)
    return pid


def fork_with_atexit(path):
    # an exit handler in the parent, inherited by the child, which returns
    # into the executor's code: the child must exit at once, not run it
    import atexit
    atexit.register(_append, path, "atexit %d" % os.getpid())
    pid = os.fork()
    if pid == 0:
        atexit.register(_append, path, "child-atexit %d" % os.getpid())
        return -1
    return pid


def spawn_sleep():
    p = subprocess.Popen(["sleep", "300"])
    return [os.getpid(), p.pid]


def forge_answer(frame, value):
    # writes a RESULT frame for a call id the master never sent, on the
    # executor's own socket, then returns value: the stray answer must be
    # dropped, never given to another call (this one, or any other)
    os.write(3, frame)
    return value
"""

MODULES = {"integ.py": INTEG_PY}


# ------------------------------------------------------------- helpers --

def runs(path):
    """token -> how many times it was written to path."""
    try:
        return collections.Counter(Path(path).read_text().split())
    except FileNotFoundError:
        return collections.Counter()


def kill_if_alive(pid, first):
    """Cleans up after a failed check: SIGKILL to pid if it is still the
    process first describes (same start time) and not dead already."""
    now = proc_stat(pid)
    if first is not None and now is not None and now["start"] == first["start"] and now["state"] != "Z":
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


def vm_rss(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


def p99(latencies):
    s = sorted(latencies)
    return s[min(len(s) - 1, int(len(s) * 0.99))]


def pack_call(msgid, module, function, args, pool, **opts):
    return msgpack.packb([0, msgid, "call", [module, function, args, None, dict(pool=pool, **opts)]])


def warm_up(c, pool, factor, rounds=3, n=32):
    """Quick calls in batches, so that the pool sizes its batches for quick
    calls (the next calls travel to one executor together)."""
    for _ in range(rounds):
        res = c.request_many([("call", ["os", "getpid", [], None, {"pool": pool}])] * n,
                             timeout=20 * factor)
        assert all(e is None for e, _ in res), res


def pool_info(c, name):
    return {p["name"]: p for p in c.ok("pools", [])}[name]


def err_type(err):
    return None if err is None else err["type"]


# ----------------------------------------- 1. at most once, attribution --

@pytest.mark.parametrize("mode", ["process", "thread"])
def test_an_answer_for_an_unknown_call_is_dropped(daemon_factory, factor, mode):
    """An executor's answer that names no call in flight (a late or stray
    one) reaches no caller: every call gets its own answer."""
    d = daemon_factory(pools={"default": {"size": 1}, "io": {"size": 1},
                              "p": {"size": 1 if mode == "process" else 2, "mode": mode}},
                       modules=MODULES)
    body = msgpack.packb([1, 2 ** 62 + 7, None, "forged"])
    frame = b"\xce" + len(body).to_bytes(4, "big") + body
    with d.connect() as c:
        warm_up(c, "p", factor)
        for _ in range(3):
            answers = c.request_many(
                [("call", ["integ", "forge_answer", [frame, "real"], None, {"pool": "p"}]),
                 ("call", ["operator", "add", [1, 2], None, {"pool": "p"}])],
                timeout=10 * factor)
            assert answers == [(None, "real"), (None, 3)], answers
        assert c.nothing_arrives(0.2)

@pytest.mark.parametrize("crash_limit", [0, None], ids=["crash_limit-0", "crash_limit-default"])
@pytest.mark.parametrize("mode", ["process", "thread"])
def test_batch_with_a_crasher_runs_every_call_at_most_once(daemon_factory, factor, tmp_path, mode,
                                                           crash_limit):
    """One write holding harmless calls and a segfaulting one. Process mode:
    the calls before the crasher keep their real results, the crasher alone
    gets WorkerCrashed and runs once, the calls after it run once elsewhere.
    Thread mode: nothing runs twice; what finished has its result."""
    spec = {"size": 2 if mode == "process" else 4, "mode": mode}
    if crash_limit is not None:
        spec["crash_limit"] = crash_limit
    d = daemon_factory(pools={"default": {"size": 1}, "io": {"size": 1}, "work": spec},
                       modules=MODULES)
    path = str(tmp_path / "runs.txt")
    layouts = {"a": [False] * 15 + [True], "b": [False] * 8 + [True] + [False] * 8}
    with d.connect() as c:
        msgid = 1000
        for name, layout in layouts.items():
            warm_up(c, "work", factor)
            calls = []   # (msgid, token, crashes)
            data = b""
            for i, crashes in enumerate(layout):
                msgid += 1
                token = f"{name}{i}"
                calls.append((msgid, token, crashes))
                data += pack_call(msgid, "integ", "mark_crash" if crashes else "mark",
                                  [path, token], "work")
            c.send_raw(data)
            answers = {m: c.wait(m, timeout=30 * factor) for m, _, _ in calls}
            assert c.nothing_arrives(0.2), "an answer more than the requests"
            # every executor of the pool answers once more: a call that would
            # still run (a second time) has run by then
            d.pool_pids("work", size=2 if mode == "process" else 1)
            count = runs(path)
            summary = [(t, err_type(answers[m][2]) or answers[m][3]) for m, t, _ in calls]
            where = f"layout {name}, {mode} mode: answers {summary}, runs {dict(count)}"
            for m, token, crashes in calls:
                err, res = answers[m][2], answers[m][3]
                assert count[token] <= 1, f"{token} ran {count[token]} times; {where}"
                if crashes:
                    assert err_type(err) == "WorkerCrashed", f"crasher {token}: {err!r}; {where}"
                    assert "signal 11" in err["message"], err
                    assert count[token] == 1, f"crasher {token} ran {count[token]} times; {where}"
                elif mode == "process":
                    assert err is None and res == token, f"{token} answered {err!r} {res!r}; {where}"
                    assert count[token] == 1, f"{token} ran {count[token]} times; {where}"
                elif err is None:
                    assert res == token and count[token] == 1, f"{token}: {res!r}; {where}"
                else:
                    assert err_type(err) == "WorkerCrashed", f"{token}: {err!r}; {where}"
        tokens = {f"{n}{i}" for n, lay in layouts.items() for i in range(len(lay))}
        assert set(runs(path)) <= tokens


# ------------------------------------------------------- 2. crash storm --

def test_thread_mode_charges_a_crash_to_the_crashing_call_only(daemon_factory, factor, tmp_path):
    """In a thread-mode executor, a crash kills every call it runs, but only
    the call whose thread crashed is charged with it: crash after crash, the
    crasher is quarantined and the function that merely ran beside it is
    not."""
    d = daemon_factory(pools={"default": {"size": 1}, "io": {"size": 1},
                              "t": {"size": 2, "mode": "thread", "crash_limit": 2, "crash_interval": 60}},
                       modules=MODULES)
    opts = {"pool": "t"}
    with d.connect() as c:
        for i in range(3):
            started = tmp_path / f"started{i}"
            beside = c.send("call", ["integ", "started_sleep", [str(started), 5, "done"], None, opts])
            wait_until(started.exists, 10 * factor, "the call beside the crasher runs")
            err, _ = c.call("call", ["integ", "mark_crash", [str(tmp_path / "runs"), i], None, opts],
                            timeout=20 * factor)
            assert err_type(err) == ("WorkerCrashed" if i < 2 else "Quarantined"), (i, err)
            if i < 2:
                assert err_type(c.wait(beside, timeout=20 * factor)[2]) == "WorkerCrashed"
            else:
                assert pool_info(c, "t")["quarantined"] == ["integ.mark_crash"]
                assert c.wait(beside, timeout=20 * factor)[2:] == [None, "done"]
        assert c.ok("call", ["integ", "started_sleep", ["/dev/null", 0, "ok"], None, opts]) == "ok"


def test_thread_mode_calls_not_started_at_a_death_run_elsewhere_once(daemon_factory, factor, tmp_path):
    """A thread-mode executor that dies with calls it was sent but had not
    started (their threads were still waiting for the GIL, which another
    call held in C): those calls provably never started, so they run on the
    new executor, once each, and get their real results; only the call that
    was running is answered WorkerCrashed."""
    d = daemon_factory(pools={"default": {"size": 1}, "io": {"size": 1},
                              "t": {"size": 4, "mode": "thread"}}, modules=MODULES)
    opts = {"pool": "t"}
    runs = str(tmp_path / "runs")
    started = tmp_path / "started"
    with d.connect() as c:
        holder = c.send("call", ["integ", "hold_gil", [str(started), 60], None, opts])
        wait_until(started.exists, 10 * factor, "the call holds the GIL")
        waiting = [c.send("call", ["integ", "mark", [runs, f"w{i}"], None, opts]) for i in range(3)]
        wait_pool(c, "t", 10 * factor, busy=4, queued=0)   # all sent to the executor
        os.kill(int(started.read_text()), signal.SIGKILL)
        assert err_type(c.wait(holder, timeout=20 * factor)[2]) == "WorkerCrashed"
        answers = [c.wait(m, timeout=20 * factor) for m in waiting]
    assert [a[2:] for a in answers] == [[None, f"w{i}"] for i in range(3)], answers
    assert sorted(Path(runs).read_text().split()) == ["w0", "w1", "w2"]


def test_thread_mode_calls_stopped_while_waiting_for_a_thread_never_run(daemon_factory, factor, tmp_path):
    """Thread mode: calls sent to the executor whose threads wait for the
    GIL (another call holds it in C) are answered Timeout or Cancelled when
    their time comes, at once, and never run afterwards; the executor lives
    on."""
    d = daemon_factory(pools={"default": {"size": 1}, "io": {"size": 1},
                              "t": {"size": 4, "mode": "thread"}}, modules=MODULES)
    opts = {"pool": "t"}
    runs = tmp_path / "runs"
    started = tmp_path / "started"
    with d.connect() as c:
        holder = c.send("call", ["integ", "hold_gil", [str(started), 2], None, opts])
        wait_until(started.exists, 10 * factor, "the call holds the GIL")
        timed = c.send("call", ["integ", "mark", [str(runs), "timed"], None, dict(opts, timeout=0.3)])
        cancelled = c.send("call", ["integ", "mark", [str(runs), "cancelled"], None, opts])
        wait_pool(c, "t", 10 * factor, busy=3, queued=0)   # sent to the executor
        t = time.monotonic()
        c.notify("cancel", [cancelled])
        assert err_type(c.wait(cancelled, timeout=10 * factor)[2]) == "Cancelled"
        assert err_type(c.wait(timed, timeout=10 * factor)[2]) == "Timeout"
        assert time.monotonic() - t < 1.0 * factor     # not held until the GIL came back
        assert c.wait(holder, timeout=20 * factor)[2:] == [None, None]
        assert c.ok("call", ["integ", "mark", [str(runs), "after"], None, opts]) == "after"
        assert c.ok("call", ["os", "getpid", [], None, opts]) == int(started.read_text())
    assert runs.read_text().split() == ["after"]


def test_crash_storm_of_one_client_does_not_reach_another(daemon_factory, factor, tmp_path):
    """Client A pipelines calls to a function that segfaults on every 100th
    call; client B calls math.sqrt on the same pool meanwhile. B never fails
    (no WorkerCrashed, no PoolDegraded: the crashes are charged to A's
    function, which alone is quarantined); A's crashing calls run at most
    once. Budget: PYRPOOL_STORM_SECONDS (default 3)."""
    seconds = float(os.environ.get("PYRPOOL_STORM_SECONDS", "3"))
    d = daemon_factory(pools={"default": {"size": 1}, "io": {"size": 1}, "shared": {"size": 2}},
                       modules=MODULES)
    path = str(tmp_path / "crashers.txt")
    stop = threading.Event()
    deadline = time.monotonic() + seconds + 10 * factor   # for every wait below
    problems = []
    a_stats = collections.Counter()
    a_crashers = {}        # i -> error type
    b_lat = []

    def client_a():
        try:
            with d.connect(timeout=60) as c:
                i = 0
                msgid = 0
                while not stop.is_set():
                    batch = []
                    for _ in range(200):
                        msgid += 1
                        batch.append((msgid, i))
                        i += 1
                    c.send_raw(b"".join(pack_call(m, "integ", "every_100th", [path, x], "shared")
                                        for m, x in batch))
                    for m, x in batch:
                        msg = c.wait(m, timeout=max(0.01, deadline - time.monotonic()))
                        err, res = msg[2], msg[3]
                        t = err_type(err)
                        a_stats[t or "ok"] += 1
                        if x % 100 == 99:
                            a_crashers[x] = t
                            if t not in ("WorkerCrashed", "Quarantined"):
                                problems.append(("A crasher", x, err, res))
                        elif not (t is None and res == x or t == "Quarantined"):
                            problems.append(("A call", x, err, res))
        except Exception as e:  # noqa: BLE001 -- reported below
            problems.append(("client A failed", repr(e), f"waiting for call {x} (msgid {m})",
                             dict(a_stats)))

    def client_b():
        try:
            with d.connect(timeout=60) as c:
                x = 0
                while not stop.is_set():
                    x += 1
                    t0 = time.monotonic()
                    err, res = c.call("call", ["math", "sqrt", [x * x], None, {"pool": "shared"}],
                                      timeout=max(0.01, deadline - time.monotonic()))
                    b_lat.append(time.monotonic() - t0)
                    if err is not None or res != x:
                        problems.append(("B call", x, err, res))
        except Exception as e:  # noqa: BLE001
            problems.append(("client B failed", repr(e), f"waiting for call {x}"))

    threads = [threading.Thread(target=client_a), threading.Thread(target=client_b)]
    for t in threads:
        t.start()
    stop.wait(seconds)    # the storm's length, not a synchronisation
    stop.set()
    for t in threads:
        t.join(max(0.01, deadline - time.monotonic()) + 5)
    assert not any(t.is_alive() for t in threads), "a client hung"
    failed = [p for p in problems if p[0].endswith("failed")]
    assert problems == [], (f"{len(problems)} problems; clients that failed: {failed}; "
                            f"A's answers: {dict(a_stats)}; first ones: {problems[:5]}")
    assert a_stats["WorkerCrashed"] >= 3, f"too few crashes to be a storm: {dict(a_stats)}"
    assert len(b_lat) >= 20, f"B made only {len(b_lat)} calls"
    # B's calls wait for at most a batch of A's quick calls and an executor
    # restart (a fork from the template): 0.5 s is a generous bound
    assert p99(b_lat) < 0.5 * factor, f"B's p99 latency {p99(b_lat):.3f}s (A: {dict(a_stats)})"
    count = runs(path)
    twice = {k: v for k, v in count.items() if v > 1}
    assert not twice, f"A's crashing calls ran more than once: {twice}"
    for x, t in a_crashers.items():
        if t == "WorkerCrashed":
            assert count[str(x)] == 1, f"crasher {x} answered WorkerCrashed but ran {count[str(x)]} times"
        else:
            assert count[str(x)] == 0, f"crasher {x} answered Quarantined but ran"


# ----------------------------------------------- 3. outside-kill storm --

def test_outside_kills_fail_only_the_calls_they_hit(daemon_factory, factor, tmp_path):
    """Executors SIGKILLed from outside every 150 ms while client B pipelines
    calls: each answer is the result or WorkerCrashed, no more WorkerCrashed
    than kills, no call runs twice, and kills (charged to no one) never make
    the pool PoolDegraded or a function Quarantined."""
    seconds = float(os.environ.get("PYRPOOL_STORM_SECONDS", "3"))
    d = daemon_factory(pools={"default": {"size": 1}, "io": {"size": 1}, "shared": {"size": 2}},
                       modules=MODULES)
    path = str(tmp_path / "runs.txt")
    stop = threading.Event()
    problems = []
    kills = []
    answers = {}          # token -> (error type, result)
    lat = []

    def killer():
        rng = random.Random(3)
        try:
            with d.connect(timeout=10) as c:
                seen = set(p for p in c.ok("contexts", ["shared"]) if p)
                while not stop.wait(0.15):
                    now = set(p for p in c.ok("contexts", ["shared"]) if p)
                    # only executors already there at the last look (150 ms
                    # ago): they are READY, a kill is a death after READY
                    old = sorted(now & seen)
                    seen = now
                    if not old:
                        continue
                    victim = rng.choice(old)
                    try:
                        os.kill(victim, signal.SIGKILL)
                        kills.append(victim)
                    except ProcessLookupError:
                        pass
        except Exception as e:  # noqa: BLE001
            problems.append(("killer failed", repr(e)))

    def client_b():
        try:
            with d.connect(timeout=60) as c:
                n = 0
                end = time.monotonic() + seconds
                while time.monotonic() < end:
                    batch = []
                    for _ in range(20):
                        n += 1
                        batch.append((n, f"b{n}"))
                    t0 = time.monotonic()
                    c.send_raw(b"".join(pack_call(m, "integ", "mark", [path, tok], "shared")
                                        for m, tok in batch))
                    for m, tok in batch:
                        msg = c.wait(m, timeout=30 * factor)
                        lat.append(time.monotonic() - t0)
                        answers[tok] = (err_type(msg[2]), msg[3], msg[2])
                if not c.nothing_arrives(0.2):
                    problems.append(("extra answer", c.recv_response(timeout=1)))
        except Exception as e:  # noqa: BLE001
            problems.append(("client B failed", repr(e)))

    k = threading.Thread(target=killer)
    b = threading.Thread(target=client_b)
    k.start()
    b.start()
    b.join(60 * factor)
    stop.set()
    k.join(30)
    assert not b.is_alive(), "client B hung"
    assert problems == [], problems[:5]
    assert len(kills) >= 5, f"only {len(kills)} kills"
    d.pool_pids("shared")        # anything that would run again has run
    count = runs(path)
    crashed = 0
    for tok, (t, res, err) in answers.items():
        assert count[tok] <= 1, f"{tok} ran {count[tok]} times"
        if t is None:
            assert res == tok and count[tok] == 1, (tok, res, count[tok])
        else:
            assert t == "WorkerCrashed", f"{tok}: {err!r} ({len(kills)} kills)"
            crashed += 1
    assert crashed <= len(kills), f"{crashed} WorkerCrashed for {len(kills)} kills"
    # a kill costs the calls it hits a restart by fork: 1 s is generous
    assert p99(lat) < 1.0 * factor, f"B's p99 latency {p99(lat):.3f}s with {len(kills)} kills"
    with d.connect() as c:
        info = pool_info(c, "shared")
        assert info["degraded"] is False and info["quarantined"] == [], info
        assert c.ok("call", ["integ", "mark", [path, "after"], None, {"pool": "shared"}]) == "after"


# ----------------------------------------------------------- 4. fairness --

def test_a_backlog_of_one_client_does_not_delay_another(daemon_factory, factor):
    """A queues 10,000 calls of 1 ms (about 5 s of work for two executors);
    B's single call is served in turn with A's, not after A's backlog."""
    d = daemon_factory(pools={"default": {"size": 1}, "io": {"size": 1}, "busy": {"size": 2}})
    n = 10000
    a = d.connect(timeout=120)
    data = b"".join(pack_call(i + 1, "helpers", "sleep_echo", [i, 0.001], "busy") for i in range(n))
    send_error = []

    def send_a():   # blocks while the daemon holds off reading A (max_inflight)
        try:
            a.send_raw(data)
        except OSError as e:
            send_error.append(repr(e))

    sender = threading.Thread(target=send_a)
    sender.start()
    try:
        first = a.recv_response(timeout=20 * factor)
        assert first[2] is None, first
        with d.connect() as b:
            t0 = time.monotonic()
            err, res = b.call("call", ["operator", "add", [2, 3], None, {"pool": "busy"}],
                              timeout=60 * factor)
            took = time.monotonic() - t0
            backlog = pool_info(b, "busy")["queued"]
        assert (err, res) == (None, 5)
        assert took < 0.5 * factor, f"B waited {took:.2f}s behind A's backlog ({backlog} still queued)"
    finally:
        # drain A: every call answered once, with its own result
        got = {first[1]: first[3]}
        deadline = time.monotonic() + 120 * factor
        while len(got) < n:
            msg = a.recv_response(timeout=max(0.1, deadline - time.monotonic()))
            assert msg[2] is None, msg
            assert msg[1] not in got
            got[msg[1]] = msg[3]
        sender.join(10)
        assert not send_error, send_error
        assert all(got[i + 1] == i for i in range(n))
        a.close()


# ------------------------------------------------------- 5. output bound --

def test_a_client_that_never_reads_cannot_bloat_the_master(daemon_factory, factor):
    """10,000 calls answering 1 MiB each from a client that never reads, with
    max_output 4 MiB: the master's RSS stays under 200 MiB and another
    client of the same pool is served meanwhile."""
    d = daemon_factory(pools={"default": {"size": 1}, "io": {"size": 1}, "out": {"size": 2}},
                       extra_yaml="limits:\n  max_output: 4194304\n")
    limit = 200 << 20
    hostile = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    hostile.connect(str(d.socket_path))
    data = b"".join(pack_call(i + 1, "helpers", "big_string", [1 << 20], "out") for i in range(10000))

    def send_hostile():
        try:
            hostile.sendall(data)
        except OSError:
            pass   # shut down below while the daemon is not reading it

    sender = threading.Thread(target=send_hostile)
    other = {}

    def other_client():
        try:
            with d.connect() as c:
                t0 = time.monotonic()
                other["answer"] = c.call("call", ["operator", "add", [20, 22], None, {"pool": "out"}],
                                         timeout=30 * factor)
                other["took"] = time.monotonic() - t0
        except Exception as e:  # noqa: BLE001
            other["error"] = repr(e)

    peak = 0
    b = threading.Thread(target=other_client)
    sender.start()
    try:
        t_start = time.monotonic()
        while time.monotonic() - t_start < 3.0:
            peak = max(peak, vm_rss(d.proc.pid))
            if peak > limit:
                break          # stop the flood at once: the master's memory is at stake
            if b.ident is None and time.monotonic() - t_start > 0.5:
                b.start()      # the other client, once the flood is on
            time.sleep(0.01)
    finally:
        hostile.shutdown(socket.SHUT_RDWR)
        hostile.close()
        sender.join(10)
    if b.ident is not None:
        b.join(30 * factor)
    assert peak <= limit, f"master VmRSS reached {peak >> 20} MiB (bound 200 MiB)"
    assert "error" not in other, other
    assert other.get("answer") == (None, 42), other
    assert other["took"] < 1.0 * factor, f"the other client waited {other['took']:.2f}s"
    with d.connect() as c:   # still healthy
        assert c.ok("ping", []) == "pong"
        assert c.ok("call", ["operator", "add", [1, 2], None, {"pool": "out"}], timeout=30 * factor) == 3


# ---------------------------------------------------------- 6. os.fork --

@pytest.mark.parametrize("how", ["return", "sleep", "exit"])
def test_fork_in_a_call(daemon_factory, factor, how):
    """os.fork() in a call whose child returns into the executor's code,
    sleeps 0.5 s then exits, or exits at once: the parent's answer is the
    child's pid, the executor serves on (and only it: the child never
    answers), shows idle, and the child is gone, not left a zombie."""
    d = daemon_factory(pools={"default": {"size": 1}, "io": {"size": 1}, "forky": {"size": 1}},
                       modules=MODULES)
    opts = {"pool": "forky"}
    with d.connect() as c:
        ex = c.ok("call", ["os", "getpid", [], None, opts])
        err, child = c.call("call", ["integ", "fork_child", [how], None, opts], timeout=10 * factor)
        assert err is None, err
        assert isinstance(child, int) and child > 0 and child != ex, child
        first = proc_stat(child)
        for i in range(20):
            res = c.ok("call", ["integ", "add_pid", [i], None, opts], timeout=10 * factor)
            assert res == [i + 1, ex], f"call {i}: {res} (executor {ex}, child {child})"
        wait_pool(c, "forky", 2 * factor, "the executor shows idle", busy=0, idle=1, queued=0)
        assert c.ok("contexts", ["forky"]) == [ex]

    def child_gone():
        now = proc_stat(child)
        return now is None or (first is not None and now["start"] != first["start"])

    try:
        wait_until(child_gone, 2 * factor, f"child {child} gone")
    except AssertionError as e:
        raise AssertionError(f"{e}: it is still there, {proc_stat(child)} (executor {ex})") from None
    finally:
        kill_if_alive(child, first)


def test_a_forked_child_cannot_reach_the_master(daemon_factory, factor):
    """A child forked in a call holds /dev/null where the executor's socket
    was: what it writes there later never reaches the master (the executor
    is not taken for broken and killed, no call fails)."""
    d = daemon_factory(pools={"default": {"size": 1}, "io": {"size": 1}, "forky": {"size": 1}},
                       modules=MODULES)
    opts = {"pool": "forky"}
    with d.connect() as c:
        ex = c.ok("call", ["os", "getpid", [], None, opts])
        child = c.ok("call", ["integ", "fork_scribbler", [0.3], None, opts], timeout=10 * factor)
        first = proc_stat(child)
        try:
            wait_until(lambda: proc_stat(child) is None or proc_stat(child)["state"] == "Z"
                       or proc_stat(child)["start"] != first["start"], 3 * factor, "the child done")
            for i in range(20):
                assert c.ok("call", ["integ", "add_pid", [i], None, opts], timeout=10 * factor) == [i + 1, ex]
            assert pool_info(c, "forky")["restarts"] == 0
        finally:
            kill_if_alive(child, first)


def test_a_forked_child_returning_into_the_executor_exits_at_once(daemon_factory, factor, tmp_path):
    """A child that returns from the call into the executor's code exits at
    once: it runs no exit handler (it does not finalize Python as if it were
    the executor)."""
    d = daemon_factory(pools={"default": {"size": 1}, "io": {"size": 1}, "forky": {"size": 1}},
                       modules=MODULES)
    opts = {"pool": "forky"}
    out = tmp_path / "atexit.txt"
    with d.connect() as c:
        child = c.ok("call", ["integ", "fork_with_atexit", [str(out)], None, opts], timeout=10 * factor)
        first = proc_stat(child)
        try:
            wait_until(lambda: proc_stat(child) is None or proc_stat(child)["start"] != first["start"],
                       3 * factor, f"child {child} gone")
        finally:
            kill_if_alive(child, first)
        assert c.ok("call", ["integ", "add_pid", [1], None, opts], timeout=10 * factor)[0] == 2
    text = out.read_text() if out.exists() else ""
    assert f"child-atexit {child}" not in text and f"atexit {child}\n" not in text, text


# --------------------------------------------- 7. SIGTERM to the group --

def test_sigterm_to_the_process_group_drains(tmp_path, request, factor):
    """The daemon in a session of its own; SIGTERM to its whole process group
    (as a service manager or a terminal does): the calls in flight finish
    with their results and the daemon exits 0."""
    d = start_daemon(tmp_path / "pg", request.config, modules=MODULES, new_session=True,
                     pools={"default": {"size": 1}, "io": {"size": 1}, "three": {"size": 3}})
    try:
        pgid = os.getpgid(d.proc.pid)
        assert pgid == d.proc.pid and pgid != os.getpgrp()
        c = d.connect()
        files = [tmp_path / f"started{i}" for i in range(3)]
        ids = [c.send("call", ["integ", "started_sleep", [str(f), 0.5, i], None, {"pool": "three"}])
               for i, f in enumerate(files)]
        wait_until(lambda: all(f.exists() for f in files), 5 * factor, "the 3 calls run")
        os.killpg(pgid, signal.SIGTERM)
        for i, m in enumerate(ids):
            msg = c.wait(m, timeout=10 * factor)
            assert msg[2:] == [None, i], msg
        c.close()
        rc = d.wait_exit(20)
        assert rc == 0, f"exit status {rc}\n{d.stderr_text()}"
    finally:
        d.kill()
        ACTIVE.remove(d)


# ------------------------------------------- 8. subprocess + outside kill --

def test_a_subprocess_dies_with_its_executor(daemon_factory, factor):
    """A call starts `sleep 300`; its executor is then SIGKILLed from outside:
    the sleep is killed with the executor's process group."""
    d = daemon_factory(pools={"default": {"size": 1}, "io": {"size": 1}, "sub": {"size": 1}},
                       modules=MODULES)
    opts = {"pool": "sub"}
    with d.connect() as c:
        ex, sleeper = c.ok("call", ["integ", "spawn_sleep", [], None, opts], timeout=10 * factor)
        assert c.ok("call", ["helpers", "pid", [], None, opts]) == ex
        first = proc_stat(sleeper)
        assert first is not None and first["state"] != "Z", first

        def sleeper_gone():   # a zombie is dead too: reaping it is its new parent's job
            now = proc_stat(sleeper)
            return now is None or now["state"] == "Z" or now["start"] != first["start"]

        try:
            os.kill(ex, signal.SIGKILL)
            wait_until(sleeper_gone, 2 * factor, f"sleep {sleeper} gone (now {proc_stat(sleeper)})")
        finally:
            kill_if_alive(sleeper, first)
        assert wait_until(lambda: c.call("call", ["helpers", "pid", [], None, opts],
                                         timeout=10 * factor)[1], 5 * factor, "the pool serves") != ex


# ----------------------------------------- 9. stopped inside the batch --

@pytest.mark.parametrize("handback_ms", [10, 1000])
@pytest.mark.parametrize("how", ["timeout", "cancel"])
def test_a_call_stopped_behind_a_slow_one_never_runs(daemon_factory, factor, tmp_path, how,
                                                     handback_ms):
    """A one-executor pool; one write: a 0.5 s call, then a call stopped by
    its 0.1 s timeout (or a cancel) while it waits behind the slow one, in
    the master's queue or (handback_ms 1000: not handed back yet) inside the
    executor's batch. It is answered Timeout/Cancelled and never runs."""
    d = daemon_factory(pools={"default": {"size": 1}, "io": {"size": 1}, "solo": {"size": 1}},
                       modules=MODULES, extra_yaml=f"limits:\n  handback_ms: {handback_ms}\n")
    path = str(tmp_path / "runs.txt")
    with d.connect() as c:
        warm_up(c, "solo", factor)
        data = pack_call(1, "integ", "slow_mark", [path, "slow", 0.5], "solo")
        data += pack_call(2, "integ", "mark", [path, "stopped"], "solo",
                          **({"timeout": 0.1} if how == "timeout" else {}))
        c.send_raw(data)
        if how == "cancel":
            wait_until(lambda: runs(path)["slow-start"], 5 * factor, "the slow call runs")
            c.notify("cancel", [2])
        msg = c.wait(2, timeout=10 * factor)
        assert err_type(msg[2]) == ("Timeout" if how == "timeout" else "Cancelled"), msg
        assert 1 not in c.pending, "answered only after the slow call ended"
        assert c.wait(1, timeout=10 * factor)[2:] == [None, "slow"]
        time.sleep(0.5)   # a window for a late run to show (the flush below confirms)
        assert c.ok("call", ["integ", "mark", [path, "flush"], None, {"pool": "solo"}],
                    timeout=10 * factor) == "flush"
        count = runs(path)
        assert count["stopped"] == 0, f"the stopped call ran: {dict(count)}"
        assert count == {"slow-start": 1, "slow": 1, "flush": 1}, dict(count)


def test_a_call_handed_back_then_sent_again_to_the_same_executor_runs_once(daemon_factory, factor,
                                                                           tmp_path):
    """A one-executor pool, handback_ms 50; one write: a 0.3 s call, then a
    call that marks a file and segfaults. The executor hands the second call
    back while the first runs, and gets it again, alone, once the first is
    answered. Its board still held the call's slot from the first batch:
    whichever slot the executor claims, the master must see the call started,
    so it is answered WorkerCrashed and runs once, not requeued and run
    again."""
    d = daemon_factory(pools={"default": {"size": 1}, "io": {"size": 1}, "solo": {"size": 1}},
                       modules=MODULES, extra_yaml="limits:\n  handback_ms: 50\n")
    path = str(tmp_path / "runs.txt")
    with d.connect() as c:
        warm_up(c, "solo", factor)
        data = pack_call(1, "integ", "slow_mark", [path, "slow", 0.3], "solo")
        data += pack_call(2, "integ", "mark_crash", [path, "crash"], "solo")
        c.send_raw(data)
        assert c.wait(1, timeout=10 * factor)[2:] == [None, "slow"]
        msg = c.wait(2, timeout=10 * factor)
        assert err_type(msg[2]) == "WorkerCrashed", msg
        assert c.ok("call", ["integ", "mark", [path, "flush"], None, {"pool": "solo"}],
                    timeout=10 * factor) == "flush"
        count = runs(path)
        assert count == {"slow-start": 1, "slow": 1, "crash": 1, "flush": 1}, dict(count)


# ----------------------------------------------- 10. head of line, sum --

def test_medium_calls_do_not_hold_a_quick_one_for_long(daemon_factory, factor):
    """handback_ms 100; one write of 6 calls of 80 ms then a quick one, all
    sent to one executor (the pool sizes batches for quick calls after the
    warm-up). Each medium call is shorter than handback_ms, so a per-call
    bound never hands anything back and the quick call waits for all of them
    (0.48 s at least, on the first executor). With the bound on the batch's
    total, the unstarted calls are handed back every 100 ms and move between
    the two executors (at 0.1 s to the second, at 0.2 s to the first, at
    0.3 s the quick call alone to the second), so the quick call is answered
    after about 0.3 s, on the other executor than the first medium call.
    (handback_ms 50 with 40 ms calls is the same at half the scale, with
    half the margins.)"""
    d = daemon_factory(pools={"default": {"size": 1}, "io": {"size": 1}, "hol": {"size": 2}},
                       extra_yaml="limits:\n  handback_ms: 100\n")
    with d.connect() as c:
        warm_up(c, "hol", factor)
        medium = list(range(1, 7))
        data = b"".join(pack_call(m, "helpers", "sleep_pid", [0.08], "hol") for m in medium)
        data += pack_call(99, "os", "getpid", [], "hol")
        t0 = time.monotonic()
        c.send_raw(data)
        quick = c.wait(99, timeout=10 * factor)
        took = time.monotonic() - t0
        pids = {m: c.wait(m, timeout=10 * factor) for m in medium}
        assert quick[2] is None and all(p[2] is None for p in pids.values())
        first = pids[1][3]
        assert took < 0.4 * factor, f"the quick call waited {took:.3f}s"
        assert quick[3] != first, "the quick call ran on the first medium call's executor"
