"""The map method: function(*args) for each args array, answered in order."""
import math

import pytest

import pyrpool
from conftest import finish_daemon, module_daemon, remote_error

FLAKY = """\
def inv(x):
    return 1 / x


def pair(a, b, scale=1):
    return [a * scale, b * scale]


def ident(x):
    return x
"""


# Its functions run a little while, so that a map's chunks spread over the
# pool's executors; cfg_pid is routed by the config, slow_pid by register_pool.
ROUTED = """\
import os
import time


def slow_pid(seconds):
    time.sleep(seconds)
    return os.getpid()


def cfg_pid(seconds):
    time.sleep(seconds)
    return os.getpid()
"""


@pytest.fixture(scope="module")
def d(request, tmp_path_factory):
    d = module_daemon(request, tmp_path_factory, "map",
                      pools={"default": {"size": 2}, "io": {"size": 3}, "routed": {"size": 2}},
                      routes={"routedmap:cfg_pid": "routed"},
                      modules={"mapmod.py": FLAKY, "routedmap.py": ROUTED})
    yield d
    finish_daemon(d)


def test_order_kept(d):
    with d.pyrpool_client() as c:
        n = 1000
        res = c.map("math", "sqrt", [i * i for i in range(n)])
        assert res == [float(i) for i in range(n)]


def test_empty_list(d):
    with d.pyrpool_client() as c:
        assert c.map("math", "sqrt", []) == []
        assert c.request("map", ["math", "sqrt", []]) == []


def test_list_larger_than_many_chunks(d):
    """200,000 items: far more than one chunk (4096 items) and many frames."""
    with d.pyrpool_client(answer_timeout=60) as c:
        n = 200_000
        res = c.starmap("mapmod", "ident", [[i] for i in range(n)])
        assert len(res) == n
        assert res == list(range(n))


def test_large_chunks_by_bytes(d):
    """Items of 100 KiB: chunks are cut by size too, and still come back in order."""
    with d.pyrpool_client(answer_timeout=60) as c:
        items = [[bytes([i]) * 100_000] for i in range(40)]
        res = c.starmap("builtins", "bytes", items)
        assert res == [it[0] for it in items]


def test_kwargs_apply_to_every_item(d):
    with d.pyrpool_client() as c:
        res = c.starmap("mapmod", "pair", [[1, 2], [3, 4]], scale=10)
        assert res == [[10, 20], [30, 40]]
        assert c.map_kw("mapmod", "pair", [[1, 2], [3, 4]], {"scale": 10}) == [[10, 20], [30, 40]]


def test_error_names_the_index(d):
    with d.pyrpool_client() as c:
        args = [[i] for i in range(1, 5000)] + [[0]] + [[i] for i in range(1, 100)]
        err = remote_error(c.starmap, "mapmod", "inv", args)
        assert isinstance(err, pyrpool.PythonError)
        assert err.type == "ZeroDivisionError"
        assert err.index == 4999
        assert err.raw["index"] == 4999
        assert "ZeroDivisionError" in err.traceback


def test_first_failing_item_wins(d):
    with d.pyrpool_client() as c:
        args = [[1]] * 10 + [[0]] + [[1]] * 10_000 + [[0]]
        err = remote_error(c.starmap, "mapmod", "inv", args)
        assert err.type == "ZeroDivisionError" and err.index == 10


def test_unencodable_item_result(d):
    with d.pyrpool_client() as c:
        err = remote_error(c.map, "builtins", "set", [[1], [2]])
        assert isinstance(err, pyrpool.EncodeError)
        assert err.type == "EncodeError" and "set" in err.message
        assert err.index == 0


def test_bad_args_list(d):
    with d.pyrpool_client() as c:
        err = remote_error(c.request, "map", ["math", "sqrt", [[1], 2]])
        assert err.type == "BadRequest"
        assert err.message == "args_list[1] must be an array of arguments, got int"
        err = remote_error(c.request, "map", ["math", "sqrt"])
        assert err.type == "BadRequest"
        err = remote_error(c.map, "nosuchmodule_xyz", "f", [1])
        assert err.type == "ModuleNotFoundError"


def test_routed_pool_and_opts_pool(d):
    with d.pyrpool_client() as c:
        io = set(d.pool_pids("io"))
        pids = c.starmap("os", "getpid", [[]] * 30, pool="io")
        assert set(pids) <= io
        assert remote_error(c.map, "math", "sqrt", [1], pool="nope").type == "NoSuchPool"


@pytest.mark.parametrize("how", ["config-route", "register-module", "register-function"])
def test_map_runs_on_the_routed_pool(d, factor, how):
    """A map without opts.pool goes where routing sends its function (a
    `routes:` entry of the config, or a register_pool of the module or of
    the function): every item runs on that pool's executors, which share
    the chunks, and none on default."""
    default = d.pool_pids("default")
    with d.pyrpool_client(answer_timeout=30) as c:
        if how == "config-route":
            pool, function = "routed", "cfg_pid"
            pids = d.pool_pids(pool)
        else:
            pool, function = f"map-{how}", "slow_pid"
            pids = set(c.start_pool(pool, 2))
            target = ["routedmap"] if how == "register-module" else ["routedmap", "slow_pid"]
            assert c.register_pool(pool, *target) is True
        try:
            assert len(pids) == 2 and not pids & default
            assert c.lookup_pool("routedmap", function) == pool
            res = c.map("routedmap", function, [0.02] * 40)
            assert len(res) == 40
            assert set(res) == pids, \
                f"the map's items ran on {set(res)}: pool {pool} is {pids}, default {default}"
        finally:
            if pool != "routed":
                assert c.stop_pool(pool) is True


def test_maps_and_calls_interleave_on_one_connection(d):
    with d.pyrpool_client(answer_timeout=60) as c:
        futures = []
        for i in range(50):
            futures.append(c.cast_map("math", "sqrt", [[j] for j in range(i)]))
            futures.append(c.cast("math", "sqrt", float(i)))
        for i, f in enumerate(futures):
            res = f.result(60 * d.factor)
            if i % 2 == 0:
                assert res == [math.sqrt(j) for j in range(i // 2)]
            else:
                assert res == math.sqrt(i // 2)
