"""The `stats` admin method: per-pool outcomes, restarts by cause, queue
high-water mark, queue-wait and run-time histograms with a sliding window's
percentiles, executors' processes and memory; per-listener connections,
requests and bytes; the daemon's uptime, RSS and config generation. Each
figure is checked to move as calls run, fail, time out, are cancelled and
crash."""
import os
import signal
import time

from conftest import pool_status, wait_pool, wait_until

POOLS = {"default": {"size": 1, "mode": "process"},
         "th": {"size": 2, "mode": "thread"},
         "rec": {"size": 1, "max_requests": 3},
         "solo": {"size": 1}}
GRACE = "limits:\n  timeout_grace_ms: 300\n"


def stats(c):
    return c.ok("stats", [])


def pool_stats(c, name):
    return stats(c)["pools"][name]


def delta(after, before, key):
    return {k: after[key][k] - before[key][k] for k in after[key]}


def check_hist(h):
    """A histogram's figures are consistent with each other."""
    counts = [n for _, n in h["buckets"]]
    bounds = [le for le, _ in h["buckets"]]
    assert bounds == sorted(bounds) and counts == sorted(counts), h
    assert counts[-1] <= h["count"], h
    assert h["window_count"] <= h["count"]
    if h["window_count"] == 0:
        assert h["p50"] is None and h["max"] is None
    else:
        assert 0 <= h["p50"] <= h["p90"] <= h["p99"] <= h["max"], h


def test_outcomes_times_and_restarts_move(daemon_factory, factor):
    d = daemon_factory(pools=POOLS, extra_yaml=GRACE)
    with d.connect() as c:
        before = pool_stats(c, "default")
        for i in range(20):
            assert c.ok("math.sqrt", [i * i]) == i
        assert c.ok("time.sleep", [0.05]) is None
        assert c.call("operator.truediv", [1, 0])[0]["type"] == "ZeroDivisionError"
        assert c.call("builtins.set", [[1]])[0]["type"] == "EncodeError"
        # blocked in C past its timeout and the grace: the daemon kills it
        err, _ = c.call("call", ["time", "sleep", [30], None, {"timeout": 0.2}], timeout=10 * factor)
        assert err["type"] == "Timeout"
        wait_pool(c, "default", 20 * factor, idle=1)
        m = c.send("time.sleep", [30])
        wait_pool(c, "default", 10 * factor, busy=1)
        c.notify("cancel", [m])
        assert c.wait(m, timeout=10 * factor)[2]["type"] == "Cancelled"
        wait_pool(c, "default", 20 * factor, idle=1)
        assert c.call("os._exit", [3])[0]["type"] == "WorkerCrashed"
        wait_pool(c, "default", 20 * factor, idle=1)
        # refused before the pool: counted nowhere
        assert c.call("call", ["math", "sqrt", [1], None, {"pool": "nope"}])[0]["type"] == "NoSuchPool"
        after = pool_stats(c, "default")
        status = pool_status(c, "default")

    out = delta(after, before, "outcomes")
    assert out == {"ok": 21, "error": 1, "EncodeError": 1, "Timeout": 1, "Cancelled": 1,
                   "WorkerCrashed": 1, "Quarantined": 0, "ShuttingDown": 0, "Overloaded": 0,
                   "PoolDegraded": 0, "dropped": 0, "other": 0}, out
    assert after["completed"] - before["completed"] == 23
    assert after["failed"] - before["failed"] == 3
    assert (after["completed"], after["failed"]) == (status["completed"], status["failed"])
    restarts = delta(after, before, "restarts")
    assert restarts["crash"] == 1 and restarts["timeout"] >= 1, restarts
    assert restarts["killed"] == restarts["max_requests"] == restarts["reload"] == 0, restarts
    total = {k: v for k, v in after["restarts"].items() if k != "reload"}
    assert sum(total.values()) == status["restarts"], (after["restarts"], status)
    for h in ("queue_wait", "run_time"):
        check_hist(after[h])
        assert after[h]["count"] - before[h]["count"] == 26, (h, after[h]["count"], before[h]["count"])
    run = after["run_time"]
    assert run["max"] >= 0.2        # the call that timed out ran at least its timeout
    assert run["p50"] < 0.05        # most calls were quick
    assert run["sum"] - before["run_time"]["sum"] >= 0.05 + 0.2
    assert run["window"] == 60.0 or 59 < run["window"] < 61


def test_thread_pool_counts_threads_and_one_process(daemon_factory, factor):
    d = daemon_factory(pools=POOLS)
    with d.connect() as c:
        before = pool_stats(c, "th")
        pid = c.ok("call", ["os", "getpid", [], None, {"pool": "th"}])
        ms = [c.send("call", ["time", "sleep", [0.3], None, {"pool": "th"}]) for _ in range(2)]
        wait_until(lambda: pool_stats(c, "th")["executors"]["busy"] == 2, 10 * factor, "both threads busy")
        busy = pool_stats(c, "th")
        for m in ms:
            c.wait(m, timeout=10 * factor)
        after = pool_stats(c, "th")
    assert busy["executors"] == {"busy": 2, "idle": 0, "starting": 0, "retiring": 0}
    assert [p["pid"] for p in after["processes"]] == [pid]
    assert after["processes"][0]["rss"] > 1 << 20 and after["rss"] == after["processes"][0]["rss"]
    assert after["mode"] == "thread" and after["state"] == "ready" and after["reason"] is None
    assert after["outcomes"]["ok"] - before["outcomes"]["ok"] == 3
    assert after["run_time"]["count"] - before["run_time"]["count"] == 3
    assert after["run_time"]["max"] >= 0.3


def test_queue_length_and_its_high_water_mark(daemon_factory, factor):
    d = daemon_factory(pools=POOLS)
    with d.connect() as c, d.connect() as watcher:
        assert pool_stats(watcher, "solo")["queue_max"] <= 1
        slow = c.send("call", ["time", "sleep", [0.5], None, {"pool": "solo"}])
        wait_pool(watcher, "solo", 10 * factor, busy=1)
        quick = [c.send("call", ["math", "sqrt", [4], None, {"pool": "solo"}]) for _ in range(10)]
        during = wait_until(lambda: (lambda s: s if s["queue"] == 10 else None)(pool_stats(watcher, "solo")),
                            10 * factor, "10 calls queued")
        c.wait(slow, timeout=10 * factor)
        for m in quick:
            c.wait(m, timeout=10 * factor)
        after = pool_stats(watcher, "solo")
    assert during["queue_max"] >= 10
    assert after["queue"] == 0 and after["queue_max"] >= 10
    # the quick calls waited behind the slow one: the window's worst wait shows it
    assert after["queue_wait"]["max"] >= 0.2


def test_restart_causes_recycling_and_a_kill_from_outside(daemon_factory, factor):
    d = daemon_factory(pools=POOLS)
    with d.connect() as c:
        before = pool_stats(c, "rec")["restarts"]["max_requests"]
        for _ in range(6):
            c.ok("call", ["math", "sqrt", [1], None, {"pool": "rec"}])
        wait_until(lambda: pool_stats(c, "rec")["restarts"]["max_requests"] >= before + 2, 20 * factor,
                   "two recycled")
        pid = c.ok("call", ["os", "getpid", [], None, {"pool": "solo"}])
        os.kill(pid, signal.SIGKILL)
        wait_until(lambda: pool_stats(c, "solo")["restarts"]["killed"] == 1, 20 * factor, "the kill counted")
        rec, solo = pool_stats(c, "rec"), pool_stats(c, "solo")
    assert rec["restarts"]["crash"] == rec["restarts"]["killed"] == 0, rec["restarts"]
    assert solo["restarts"]["crash"] == 0 and solo["outcomes"]["WorkerCrashed"] == 0, solo


def test_listener_and_daemon_figures(daemon_factory):
    d = daemon_factory(pools=POOLS)
    with d.connect() as c:
        s1 = stats(c)
        with d.connect() as other:
            for i in range(5):
                other.ok("math.sqrt", [i])
            s2 = stats(c)
        for i in range(3):
            c.ok("operator.add", [i, 1])
        s3 = stats(c)
    [l1], [l2], [l3] = s1["listeners"], s2["listeners"], s3["listeners"]
    assert l1["name"] == "unix:" + str(d.socket_path)
    assert l2["accepted"] - l1["accepted"] == 1
    assert l2["connections"] == l1["connections"] + 1 == 2
    assert s2["daemon"]["connections"] == 2
    # the 5 calls, and the first stats request (counted once it was handled)
    assert l2["requests"] - l1["requests"] == 6
    assert l3["requests"] - l2["requests"] == 4
    assert l2["bytes_in"] > l1["bytes_in"] and l2["bytes_out"] > l1["bytes_out"]
    daemon = s3["daemon"]
    assert daemon["pid"] == d.proc.pid and daemon["version"]
    assert daemon["rss"] > 1 << 20
    assert s3["daemon"]["uptime"] > s1["daemon"]["uptime"] > 0
    assert daemon["generation"] == 0
    assert set(s3["pools"]) == set(POOLS) | {"io"}   # io always exists


def test_reload_carries_the_figures_on(daemon_factory, factor):
    d = daemon_factory(pools=POOLS)
    with d.connect() as c:
        for i in range(4):
            c.ok("math.sqrt", [i])
        before = pool_stats(c, "default")
        assert c.ok("reload", [], timeout=60 * factor) is True
        s = stats(c)
    after = s["pools"]["default"]
    assert s["daemon"]["generation"] == 1
    assert after["outcomes"]["ok"] >= before["outcomes"]["ok"]
    assert after["run_time"]["count"] >= before["run_time"]["count"] >= 4
    assert after["restarts"]["reload"] == before["restarts"]["reload"] + 1


def test_stats_takes_no_params_and_is_for_admin_listeners_only(daemon_factory):
    d = daemon_factory(pools=POOLS, tcp=True)
    with d.connect() as c:
        assert c.call("stats", [1])[0]["type"] == "BadRequest"
    with d.connect_tcp() as t:
        err, _ = t.call("stats", [])
        assert err["type"] == "Forbidden", err
        assert t.ok("math.sqrt", [9]) == 3.0
