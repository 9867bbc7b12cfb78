"""Pools started and stopped while the daemon serves."""
import time

import pytest

from conftest import finish_daemon, module_daemon, pid_alive, wait_pool


@pytest.fixture(scope="module")
def d(request, tmp_path_factory):
    d = module_daemon(request, tmp_path_factory, "lifecycle",
                      pools={"default": {"size": 1}, "io": {"size": 1}})
    yield d
    finish_daemon(d)


def test_start_pool_then_use_it(d, factor):
    with d.connect() as c:
        pids = c.ok("start_pool", ["gpu", 2])
        assert len(pids) == 2 and all(isinstance(p, int) and p > 0 for p in pids)
        assert c.ok("pool_started", ["gpu"]) is True
        assert c.ok("num_contexts", ["gpu"]) == 2
        seen = {c.ok("call", ["os", "getpid", [], None, {"pool": "gpu"}], timeout=20 * factor)
                for _ in range(10)}
        assert seen <= set(pids)
        assert c.ok("register_pool", ["gpu", "colorsys"]) is True
        assert c.ok("lookup_pool", ["colorsys", "rgb_to_hsv"]) == "gpu"
        err, _ = c.call("start_pool", ["gpu", 1])
        assert err["type"] == "PoolExists"
        assert "gpu" in {p["name"] for p in c.ok("pools", [])}


@pytest.mark.parametrize("params", [[], ["x"], ["bad name", 1], ["ok", 0], ["ok", 2000],
                                    ["ok", "2"], ["ok", 1, "fork"]])
def test_start_pool_bad_params(d, params):
    with d.connect() as c:
        err, _ = c.call("start_pool", params)
        assert err["type"] == "BadRequest", err


def test_start_pool_in_thread_mode(d, factor):
    """start_pool with mode "thread": one executor of 3 threads, whose calls
    overlap; a bad mode is refused."""
    with d.connect() as c:
        err, _ = c.call("start_pool", ["ok", 1, "fiber"])
        assert err["type"] == "BadRequest" and "thread" in err["message"]
        pids = c.ok("start_pool", ["threaded", 3, "thread"], timeout=20 * factor)
        assert len(pids) == 1
        assert c.ok("num_contexts", ["threaded"]) == 3
        t = time.monotonic()
        res = c.request_many([("call", ["helpers", "sleep_pid", [0.4], None, {"pool": "threaded"}])] * 3,
                             timeout=20 * factor)
        took = time.monotonic() - t
        assert [r for _, r in res] == pids * 3, res
        assert took < 1.1 * factor, took
        assert c.ok("stop_pool", ["threaded"]) is True


def test_stop_pool_drains_then_stops(d, factor):
    with d.connect() as c:
        pids = c.ok("start_pool", ["batch", 1])
        c.ok("pools", [])
        assert c.ok("register_pool", ["batch", "zlib"]) is True
        c.ok("call", ["os", "getpid", [], None, {"pool": "batch"}], timeout=20 * factor)
        running = c.send("call", ["time", "sleep", [0.5], None, {"pool": "batch"}])
        wait_pool(c, "batch", 5 * factor, busy=1, queued=0)
        queued = c.send("call", ["operator", "add", [2, 3], None, {"pool": "batch"}])
        wait_pool(c, "batch", 5 * factor, busy=1, queued=1)
        assert c.ok("stop_pool", ["batch"]) is True
        # new calls: the pool is gone; its registrations too
        err, _ = c.call("call", ["os", "getpid", [], None, {"pool": "batch"}])
        assert err["type"] == "NoSuchPool"
        assert c.ok("pool_started", ["batch"]) is False
        assert all(r["pool"] != "batch" for r in c.ok("list_pool_registrations", []))
        assert c.ok("lookup_pool", ["zlib", "compress"]) == "default"
        # what it had finishes normally
        assert c.wait(running, timeout=10 * factor)[2:] == [None, None]
        assert c.wait(queued, timeout=10 * factor)[2:] == [None, 5]
        deadline = time.monotonic() + 10 * factor
        while any(pid_alive(p) for p in pids):
            assert time.monotonic() < deadline, "the stopped pool's executor still runs"
            time.sleep(0.05)
        # the name can be used again, once the old pool is gone for good
        while True:
            err, res = c.call("start_pool", ["batch", 1])
            if err is None:
                break
            assert err["type"] == "PoolExists" and "stopping" in err["message"], err
            assert time.monotonic() < deadline
            time.sleep(0.05)
        assert len(res) == 1
        assert c.ok("call", ["operator", "add", [1, 1], None, {"pool": "batch"}], timeout=20 * factor) == 2
        assert c.ok("stop_pool", ["batch"]) is True


def test_default_and_io_cannot_be_stopped(d):
    with d.connect() as c:
        for name in ("default", "io"):
            err, _ = c.call("stop_pool", [name])
            assert err["type"] == "Forbidden"
        err, _ = c.call("stop_pool", ["nope"])
        assert err["type"] == "NoSuchPool"


def test_resize_grow_and_shrink_without_losing_calls(d, factor):
    with d.connect() as c:
        c.ok("start_pool", ["elastic", 1])
        first = c.ok("contexts", ["elastic"])
        assert c.ok("resize_pool", ["elastic", 3]) is True
        assert c.ok("num_contexts", ["elastic"]) == 3
        # the new executors are ready (a bounded wait, not a guess)
        wait_pool(c, "elastic", 20 * factor, idle=3, busy=0, starting=0, size=3)
        all_pids = c.ok("contexts", ["elastic"])
        assert set(first) <= set(all_pids) and len(set(all_pids)) == 3, (first, all_pids)
        # three slow calls at once run on the three executors, together
        res = c.request_many([("call", ["helpers", "times", [0.0, 0.4], None, {"pool": "elastic"}])] * 3,
                             timeout=30 * factor)
        assert all(e is None for e, _ in res), res
        spans = [r for _, r in res]
        assert {p for _, _, p in spans} == set(all_pids), f"3 calls on 3 executors ran on {spans}"
        latest_start = max(s for s, _, _ in spans)
        earliest_end = min(e for _, e, _ in spans)
        assert latest_start < earliest_end, f"the 3 calls did not all run at once: {spans}"
        # shrink while calls run: none fails
        ids = [c.send("call", ["helpers", "sleep_pid", [0.4], None, {"pool": "elastic"}])
               for _ in range(3)]
        wait_pool(c, "elastic", 5 * factor, busy=3, queued=0)
        assert c.ok("resize_pool", ["elastic", 1]) is True
        assert c.ok("num_contexts", ["elastic"]) == 1
        for m in ids:
            assert c.wait(m, timeout=10 * factor)[2] is None
        kept = c.ok("contexts", ["elastic"])
        gone = set(all_pids) - set(kept)
        assert len(gone) == 2
        deadline = time.monotonic() + 10 * factor
        while any(pid_alive(p) for p in gone):
            assert time.monotonic() < deadline, "executors removed by a resize still run"
            time.sleep(0.05)
        assert c.ok("call", ["operator", "add", [3, 4], None, {"pool": "elastic"}]) == 7
        info = {p["name"]: p for p in c.ok("pools", [])}
        assert info["elastic"]["size"] == 1 and info["elastic"]["failed"] == 0
        c.ok("stop_pool", ["elastic"])


def test_resize_bad_params(d):
    with d.connect() as c:
        for params in ([], ["io"], ["io", 0], ["io", 5000], ["io", "2"]):
            assert c.call("resize_pool", params)[0]["type"] == "BadRequest", params
        assert c.call("resize_pool", ["nope", 2])[0]["type"] == "NoSuchPool"
        assert c.ok("resize_pool", ["io", 1]) is True   # same size: nothing to do


def test_contexts_and_get_context_right_after_start_are_pids(tmp_path, request):
    from conftest import Daemon, Client, slow_factor, wait_file
    d = Daemon(tmp_path, factor=slow_factor(request.config),
               pools={"default": {"size": 3}, "io": {"size": 1}},
               modules={"slowstart.py": "import time\ntime.sleep(1.0)\n"})
    d.config_path.write_text(d.config_path.read_text().replace(
        "  path: [py]\n", "  path: [py]\n  preload: [slowstart]\n"))
    d.start(wait=False)
    try:
        wait_file(d.socket_path, 10)
        with Client(d.socket_path, timeout=30) as c:
            early = c.ok("contexts", ["default"])
            assert early == [], early      # the template still imports: no executor has a process
            pid = c.ok("get_context", ["default"], timeout=30)
            assert isinstance(pid, int) and pid > 0
            d.wait_ready()
            ready = c.ok("contexts", ["default"])
            assert len(ready) == 3 and all(isinstance(p, int) for p in ready)
            assert c.ok("get_context", ["default"]) in ready
    finally:
        d.finish()


def test_many_get_context_waiting_at_start_are_all_answered(tmp_path, request):
    """A client that sends thousands of get_context while no executor has a
    process gets every one answered with a pid once one has; another
    client is served meanwhile; a stop while they wait answers them."""
    import signal
    from conftest import Daemon, Client, slow_factor, wait_file
    for stop_early in (False, True):
        d = Daemon(tmp_path / f"s{int(stop_early)}", factor=slow_factor(request.config),
                   pools={"default": {"size": 2}, "io": {"size": 1}},
                   modules={"slowstart.py": "import time\ntime.sleep(1.0)\n"})
        d.config_path.write_text(d.config_path.read_text().replace(
            "  path: [py]\n", "  path: [py]\n  preload: [slowstart]\n"))
        d.start(wait=False)
        try:
            wait_file(d.socket_path, 10)
            with Client(d.socket_path, timeout=30) as c, Client(d.socket_path, timeout=30) as other:
                msgids = [c.send("get_context", ["default"]) for _ in range(2000)]
                assert other.ok("ping", []) == "pong"
                assert other.ok("contexts", ["default"]) == []
                if stop_early:
                    d.send_signal(signal.SIGTERM)
                    assert d.wait_exit(20) == 0
                    continue
                pids = {c.wait(m, timeout=30)[3] for m in msgids}
                assert None not in pids and pids <= set(c.ok("contexts", ["default"]))
        finally:
            if d.alive():
                d.finish()
