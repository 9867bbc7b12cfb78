"""Pools started and stopped while the daemon serves."""
import os
import time

import pytest

from conftest import finish_daemon, module_daemon


@pytest.fixture(scope="module")
def d(request, tmp_path_factory):
    d = module_daemon(request, tmp_path_factory, "lifecycle",
                      pools={"default": {"size": 1}, "io": {"size": 1}})
    yield d
    finish_daemon(d)


def alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    with open(f"/proc/{pid}/stat") as f:
        return f.read().split()[2] != "Z"


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


def test_start_pool_thread_mode_refused(d):
    with d.connect() as c:
        err, _ = c.call("start_pool", ["ok", 1, "thread"])
        assert err["type"] == "BadRequest" and "thread" in err["message"]


def test_stop_pool_drains_then_stops(d, factor):
    with d.connect() as c:
        pids = c.ok("start_pool", ["batch", 1])
        c.ok("pools", [])
        assert c.ok("register_pool", ["batch", "zlib"]) is True
        c.ok("call", ["os", "getpid", [], None, {"pool": "batch"}], timeout=20 * factor)
        running = c.send("call", ["time", "sleep", [0.5], None, {"pool": "batch"}])
        time.sleep(0.1)
        queued = c.send("call", ["operator", "add", [2, 3], None, {"pool": "batch"}])
        time.sleep(0.05)
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
        while any(alive(p) for p in pids):
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
