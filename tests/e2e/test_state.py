"""state_file: run-time registrations and pools (register_pool, start_pool,
resize_pool) survive a restart; each change is written atomically before it
is made; a state file that cannot be written fails the admin call and
leaves the old file whole; a corrupt one stops the start with file:line."""
import os
import subprocess

import pytest
import yaml

from conftest import Daemon, run_check, slow_factor

POOLS = {"default": {"size": 1}, "io": {"size": 1}}


def make(tmp_path, request, state="state/pyrpoold.state", **kw):
    (tmp_path / "state").mkdir(exist_ok=True)
    kw.setdefault("pools", POOLS)
    d = Daemon(tmp_path, factor=slow_factor(request.config),
               extra_yaml=f"state_file: {state}\n" if state else "", **kw)
    return d


def restart(d):
    assert d.stop() == 0
    d.start()
    return d


def test_registrations_and_pools_survive_a_restart(tmp_path, request):
    d = make(tmp_path, request, routes={"json:dumps": "io"}).start()
    try:
        with d.connect() as c:
            assert len(c.ok("start_pool", ["gpu", 2], timeout=30)) == 2
            c.ok("start_pool", ["net", 2, "thread"], timeout=30)
            assert c.ok("resize_pool", ["gpu", 3]) is True
            assert c.ok("register_pool", ["gpu", "colorsys"]) is True
            assert c.ok("register_pool", ["net", "urllib.parse", "quote"]) is True
            assert c.ok("register_pool", ["default", "json", "dumps"]) is True   # overrides the config's
            assert c.ok("register_pool", ["io", "odd \"name\"\\x"]) is True
            before = c.ok("list_pool_registrations", [])
        state = yaml.safe_load((tmp_path / "state" / "pyrpoold.state").read_text())
        assert state["version"] == 1
        assert state["pools"] == [{"name": "gpu", "size": 3, "mode": "process"},
                                  {"name": "net", "size": 2, "mode": "thread"}]
        restart(d)
        with d.connect() as c:
            assert c.ok("list_pool_registrations", []) == before
            assert {"module": "colorsys", "function": None, "pool": "gpu", "source": "runtime"} in before
            assert c.ok("num_contexts", ["gpu"]) == 3
            assert c.ok("num_contexts", ["net"]) == 2
            assert c.ok("lookup_pool", ["json", "dumps"]) == "default"
            assert c.ok("lookup_pool", ["colorsys", "rgb_to_hsv"]) == "gpu"
            assert c.ok("colorsys.rgb_to_hsv", [1, 0, 0]) == [0.0, 1.0, 1]
            # changes after the restart are kept too
            assert c.ok("unregister_pool", ["colorsys"]) is True
            assert c.ok("stop_pool", ["net"]) is True
        restart(d)
        with d.connect() as c:
            assert c.ok("lookup_pool", ["colorsys", "x"]) == "default"
            assert c.ok("pool_started", ["net"]) is False
            assert c.ok("lookup_pool", ["urllib.parse", "quote"]) == "default"   # its pool is gone
            assert c.ok("pool_started", ["gpu"]) is True
    finally:
        d.finish()


def test_config_pools_keep_the_config_size(tmp_path, request):
    d = make(tmp_path, request).start()
    try:
        with d.connect() as c:
            assert c.ok("resize_pool", ["default", 2]) is True
        restart(d)
        with d.connect() as c:
            assert c.ok("num_contexts", ["default"]) == 1
    finally:
        d.finish()


def test_without_state_file_nothing_is_written(tmp_path, request):
    d = make(tmp_path, request, state=None).start()
    try:
        with d.connect() as c:
            c.ok("register_pool", ["io", "colorsys"])
        restart(d)
        with d.connect() as c:
            assert c.ok("lookup_pool", ["colorsys", "x"]) == "default"
        assert os.listdir(tmp_path / "state") == []
    finally:
        d.finish()


def test_an_unwritable_state_file_fails_the_change_and_keeps_the_old_file(tmp_path, request):
    if os.geteuid() == 0:
        pass   # root ignores folder modes: make the folder unusable another way below
    d = make(tmp_path, request).start()
    try:
        state = tmp_path / "state" / "pyrpoold.state"
        with d.connect() as c:
            assert c.ok("register_pool", ["io", "colorsys"]) is True
            good = state.read_text()
            # the temporary file's name taken by a folder: the write fails
            (tmp_path / "state" / "pyrpoold.state.tmp").mkdir()
            err, res = c.call("register_pool", ["io", "json"])
            assert res is None and err["type"] == "StateNotSaved", err
            assert err["message"].startswith("not done: cannot write state_file ") and str(state) in err["message"]
            assert c.ok("lookup_pool", ["json", "x"]) == "default"         # not made
            err, _ = c.call("start_pool", ["gpu", 1])
            assert err["type"] == "StateNotSaved" and c.ok("pool_started", ["gpu"]) is False
            err, _ = c.call("unregister_pool", ["colorsys"])
            assert err["type"] == "StateNotSaved" and c.ok("lookup_pool", ["colorsys", "x"]) == "io"
            assert state.read_text() == good                                # whole
            assert c.ok("math.sqrt", [4]) == 2.0
            (tmp_path / "state" / "pyrpoold.state.tmp").rmdir()
            assert c.ok("register_pool", ["io", "json"]) is True
        assert "StateNotSaved" not in d.stderr_text() and "cannot write state_file" in d.stderr_text()
    finally:
        d.finish()


@pytest.mark.parametrize("text,says", [
    ("version: 1\npools: [\n", "not YAML"),
    ("version: 2\n", ":1:10: version: expected 1"),
    ("version: 1\npools:\n  - {name: gpu, size: 0, mode: process}\n", ":3:23: pools[].size: expected 1 to 1024"),
    ("version: 1\nroutes:\n  - {module: x, pool: io, colour: red}\n", ":3:27: routes[]: unknown key 'colour'"),
    ("version: 1\nroutes:\n  - {module: x, pool: io}\n", "routes[].function: expected a function name or null"),
    ("version: 1\nflavour: x\n", ":2:1: (top level): unknown key 'flavour'"),
])
def test_a_corrupt_state_file_stops_the_start(tmp_path, request, text, says):
    d = make(tmp_path, request)
    state = tmp_path / "state" / "pyrpoold.state"
    state.write_text(text)
    out = subprocess.run(d.command(), capture_output=True, text=True, timeout=30)
    assert out.returncode == 1
    assert str(state) in out.stderr and says in out.stderr, out.stderr
    assert "remove it to start without the run-time pools and registrations it holds" in out.stderr


def test_entries_the_config_contradicts_are_skipped(tmp_path, request):
    d = make(tmp_path, request, pools=dict(POOLS, gpu={"size": 1}))
    (tmp_path / "state" / "pyrpoold.state").write_text(
        "version: 1\npools:\n  - {name: gpu, size: 4, mode: process}\n"
        "routes:\n  - {module: a, function: null, pool: gone}\n  - {module: b, function: \"f\", pool: gpu}\n")
    d.start()
    try:
        with d.connect() as c:
            assert c.ok("num_contexts", ["gpu"]) == 1                    # the config's pool
            assert c.ok("lookup_pool", ["a", "x"]) == "default"
            assert c.ok("lookup_pool", ["b", "f"]) == "gpu"
        log = d.stderr_text()
        assert "pool gpu is made by the config now" in log and "no pool named 'gone' now" in log
    finally:
        d.finish()


def test_state_file_folder_must_exist(tmp_path):
    cfg = tmp_path / "c.yaml"
    cfg.write_text("listen:\n  - unix: s.sock\nstate_file: nowhere/x.state\n")
    out = run_check(cfg)
    assert out.returncode == 1 and "3:13: state_file: its folder" in out.stderr and "does not exist" in out.stderr


def test_many_clients_changing_at_once_leave_a_whole_file(tmp_path, request):
    import threading
    d = make(tmp_path, request).start()
    try:
        errors = []

        def churn(k):
            try:
                with d.connect() as c:
                    for i in range(40):
                        assert c.ok("register_pool", ["io", f"m{k}_{i}"]) is True
                        if i % 3 == 0:
                            assert c.ok("unregister_pool", [f"m{k}_{i}"]) is True
            except Exception as e:  # noqa: BLE001 -- reported below
                errors.append(e)
        threads = [threading.Thread(target=churn, args=(k,)) for k in range(6)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        assert not errors, errors
        with d.connect() as c:
            before = c.ok("list_pool_registrations", [])
        state = yaml.safe_load((tmp_path / "state" / "pyrpoold.state").read_text())
        assert len(state["routes"]) == len(before) == 6 * (40 - 14)
        assert not (tmp_path / "state" / "pyrpoold.state.tmp").exists()
        # a reload keeps them, in the daemon and in the file
        d.send_signal(__import__("signal").SIGHUP)
        from conftest import wait_until
        wait_until(lambda: "generation 1 serving" in d.stderr_text(), 30, "the reload")
        with d.connect() as c:
            assert c.ok("list_pool_registrations", []) == before
        assert yaml.safe_load((tmp_path / "state" / "pyrpoold.state").read_text()) == state
        restart(d)
        with d.connect() as c:
            assert c.ok("list_pool_registrations", []) == before
    finally:
        d.finish()
