"""python.preload: modules imported when an executor starts, before it is
ready; a preload that keeps failing makes the pools degraded (calls fail
fast with PoolDegraded) until an executor starts again."""
import time

from conftest import Daemon, finish_daemon, slow_factor

CHECK = """\
import sys


def loaded(name):
    return name in sys.modules
"""


def preload_daemon(tmp_path, request, modules, preload):
    d = Daemon(tmp_path, valgrind=request.config.getoption("--valgrind"),
               factor=slow_factor(request.config),
               pools={"default": {"size": 1}, "io": {"size": 1}}, modules=modules)
    text = d.config_path.read_text().replace(
        "  path: [py]\n", "  path: [py]\n  preload: [" + ", ".join(preload) + "]\n")
    d.config_path.write_text(text)
    return d


def test_preload_runs_before_ready(tmp_path, request, factor):
    d = preload_daemon(tmp_path / "ok", request, {"check.py": CHECK, "heavy.py": "VALUE = 42\n"},
                       ["heavy", "json"])
    d.start()
    try:
        with d.connect() as c:
            for pool in ("default", "io"):
                assert c.ok("call", ["check", "loaded", ["heavy"], None, {"pool": pool}]) is True
            assert c.ok("call", ["check", "loaded", ["colorsys"]]) is False
    finally:
        finish_daemon(d)


def test_failing_preload_degrades_then_recovers(tmp_path, request, factor):
    d = preload_daemon(tmp_path / "bad", request, {"broken.py": "raise ImportError('not today')\n"},
                       ["broken"])
    d.start(wait=False)
    try:
        deadline = time.monotonic() + 20 * factor
        while True:
            assert time.monotonic() < deadline, f"never degraded:\n{d.stderr_text()}"
            try:
                with d.connect(timeout=5) as c:
                    err, _ = c.call("math.sqrt", [4])
                    if err is not None and err["type"] == "PoolDegraded":
                        break
            except OSError:
                pass
            time.sleep(0.1)
        assert "exited with status" in err["message"], err   # 3 (1 under LeakSanitizer)
        # fails fast: no waiting for an executor
        with d.connect(timeout=5) as c:
            t0 = time.monotonic()
            err, _ = c.call("call", ["math", "sqrt", [4], None, {"pool": "io"}])
            assert err["type"] == "PoolDegraded" and time.monotonic() - t0 < 0.5 * factor
            assert {p["name"]: p["degraded"] for p in c.ok("pools", [])} == {"default": True, "io": True}
        assert "not today" in d.stderr_path.read_text(errors="replace")
        # the module is fixed: the pools recover on a later retry
        (d.pydir / "broken.py").write_text("OK = True\n")
        deadline = time.monotonic() + 30 * factor
        while True:
            with d.connect(timeout=5) as c:
                err, res = c.call("math.sqrt", [4])
                if err is None:
                    assert res == 2.0
                    break
            assert time.monotonic() < deadline, f"never recovered:\n{d.stderr_text()}"
            time.sleep(0.2)
    finally:
        finish_daemon(d)
