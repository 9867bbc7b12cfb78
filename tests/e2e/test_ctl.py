"""pyrpoolctl against the real daemon: every subcommand, as text and as
--json, where it finds the socket, and its exit codes (0 ok, 1 the daemon
answered an error, 2 usage, 3 cannot connect). `top` runs as a pipe
would run it, and on a pseudo-terminal as a person would."""
import base64
import contextlib
import fcntl
import json
import os
import pty
import re
import select
import signal
import struct
import subprocess
import termios
import threading
import time

import pytest

from conftest import HERE, Daemon, finish_daemon, module_daemon, slow_factor, wait_until

CTL = HERE.parent.parent / "build" / "pyrpoolctl"


def ctl_env():
    """The environment without PYRPOOL_* variables (they choose the daemon)."""
    return {k: v for k, v in os.environ.items() if not k.startswith("PYRPOOL_")}


def ctl(*args, sock=None, env=None, timeout=60):
    cmd = [str(CTL)] + (["-s", str(sock)] if sock is not None else []) + [str(a) for a in args]
    e = ctl_env()
    e.update(env or {})
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=e)


def ok(*args, **kw):
    r = ctl(*args, **kw)
    assert r.returncode == 0, f"pyrpoolctl {args}: {r.returncode}\n{r.stdout}{r.stderr}"
    return r.stdout


@pytest.fixture(scope="module")
def d(request, tmp_path_factory):
    d = module_daemon(request, tmp_path_factory, "ctl", tcp=True, tcp_opts={"admin": True},
                      pools={"default": {"size": 2}, "io": {"size": 3, "mode": "thread"}},
                      routes={"requests": "io", "json:dumps": "default"})
    yield d
    finish_daemon(d)


def rows(text):
    return [line.split() for line in text.strip().splitlines()]


def test_ping_and_hello(d):
    assert ok("ping", sock=d.socket_path) == "pong\n"
    assert ok("--json", "ping", sock=d.socket_path) == '"pong"\n'
    text = ok("hello", sock=d.socket_path)
    assert text.startswith("pyrpoold 0.1.0, protocol 1\npools: default, io\nfeatures: call, map")
    assert text.endswith("admin methods: yes\n")
    h = json.loads(ok("hello", "--json", sock=d.socket_path))
    assert h["protocol"] == 1 and h["pools"] == ["default", "io"]


def test_pools_table_and_json(d):
    table = rows(ok("pools", sock=d.socket_path))
    assert table[0] == ["NAME", "MODE", "SIZE", "BUSY", "IDLE", "QUEUED", "COMPLETED", "FAILED", "RESTARTS", "STATE"]
    by_name = {r[0]: r for r in table[1:]}
    assert by_name["default"][1:3] == ["process", "2"] and by_name["io"][1:3] == ["thread", "3"]
    assert by_name["default"][-1] == "ok"
    got = json.loads(ok("--json", "pools", sock=d.socket_path))
    with d.connect() as c:
        want = c.ok("pools", [])
    assert [p["name"] for p in got] == [p["name"] for p in want] and got[0]["size"] == 2
    # the columns line up: each row's cells start where the header's names do
    lines = ok("pools", sock=d.socket_path).splitlines()
    for word, cell in [("MODE", "process"), ("STATE", "ok")]:
        assert lines[1].index(cell) == lines[0].index(word)
    assert lines[1].index(" 2 ") + 2 == lines[0].index("SIZE") + len("SIZE")   # numbers right-aligned


def test_register_lookup_routes_unregister(d):
    assert ok("register", "io", "colorsys", sock=d.socket_path) == "colorsys -> io\n"
    assert ok("register", "default", "json:loads", sock=d.socket_path) == "json:loads -> default\n"
    assert ok("register", "io", "xml.dom", "minidom", sock=d.socket_path) == "xml.dom:minidom -> io\n"
    assert ok("lookup", "colorsys", "hls_to_rgb", sock=d.socket_path) == "io\n"
    assert ok("lookup", "colorsys.sub", sock=d.socket_path) == "io\n"
    assert ok("lookup", "json:loads", sock=d.socket_path) == "default\n"
    assert ok("--json", "lookup", "requests", "get", sock=d.socket_path) == '"io"\n'
    table = rows(ok("routes", sock=d.socket_path))
    assert table[0] == ["MODULE", "FUNCTION", "POOL", "SOURCE"]
    assert ["colorsys", "*", "io", "runtime"] in table and ["requests", "*", "io", "config"] in table
    assert ["json", "dumps", "default", "config"] in table and ["json", "loads", "default", "runtime"] in table
    listed = json.loads(ok("routes", "--json", sock=d.socket_path))
    with d.connect() as c:
        assert listed == c.ok("list_pool_registrations", [])
    assert ok("unregister", "colorsys", sock=d.socket_path) == "colorsys: unregistered\n"
    assert ok("unregister", "colorsys", sock=d.socket_path) == "colorsys: was not registered\n"
    assert ok("--json", "unregister", "json", "loads", sock=d.socket_path) == "true\n"
    assert ok("unregister", "xml.dom:minidom", sock=d.socket_path) == "xml.dom:minidom: unregistered\n"
    assert ok("lookup", "colorsys", "x", sock=d.socket_path) == "default\n"


def test_start_resize_stop_pool(d):
    out = ok("start-pool", "gpu", "2", sock=d.socket_path)
    assert out.startswith("pool gpu started (2 executors; pids ")
    pids = [int(p) for p in out.split("pids ")[1].rstrip(")\n").split()]
    with d.connect() as c:
        assert sorted(c.ok("contexts", ["gpu"])) == sorted(pids)
    assert json.loads(ok("--json", "start-pool", "net", "2", "--mode", "thread", sock=d.socket_path)) != []
    assert ok("resize", "gpu", "3", sock=d.socket_path) == "pool gpu resized to 3\n"
    with d.connect() as c:
        assert c.ok("num_contexts", ["gpu"]) == 3 and c.ok("pools", [])[-1]["mode"] == "thread"
    assert ok("stop-pool", "gpu", sock=d.socket_path).startswith("pool gpu stopping")
    assert ok("stop-pool", "net", "--json", sock=d.socket_path) == "true\n"
    with d.connect() as c:
        assert c.ok("pool_started", ["gpu"]) is False


def test_call(d):
    s = d.socket_path
    assert ok("call", "math.sqrt", "16", sock=s) == "4.0\n"
    assert json.loads(ok("call", "json.dumps", '{"b": [1, 2.5, null], "a": true}', "sort_keys=true", sock=s)) == \
        '{"a": true, "b": [1, 2.5, null]}'
    assert ok("call", "os.path.join", "a", "b c", sock=s) == '"a/b c"\n'        # bare words are strings
    assert ok("call", "builtins.str", '"16"', sock=s) == '"16"\n'
    assert ok("call", "builtins.abs", "-5", sock=s) == "5\n"                     # not an option
    assert ok("call", "builtins.pow", "2", "-1", sock=s) == "0.5\n"
    assert ok("call", "builtins.pow", "2", "63", sock=s) == "9223372036854775808\n"
    assert base64.b64decode(json.loads(ok("call", "builtins.bytes", "[0, 1, 255]", sock=s))) == b"\x00\x01\xff"
    assert ok("call", "collections:OrderedDict.fromkeys", '["x"]', sock=s) == '{"x": null}\n'
    with d.connect() as c:
        io_pids = c.ok("contexts", ["io"])
    assert json.loads(ok("call", "os.getpid", "--pool", "io", sock=s)) in io_pids
    r = ctl("call", "time.sleep", "5", "--timeout", "0.2", sock=s)
    assert r.returncode == 1 and r.stderr.startswith("Timeout: ")
    r = ctl("call", "fractions.Fraction", "1", "0", sock=s)
    assert r.returncode == 1 and r.stdout == ""
    assert r.stderr.startswith("ZeroDivisionError: Fraction(1, 0)\nTraceback (most recent call last):")
    r = ctl("call", "operator.truediv", "1", "0", sock=s)
    assert r.returncode == 1 and r.stderr == "ZeroDivisionError: division by zero\n"


@pytest.mark.parametrize("args,says", [
    ([], "Usage: pyrpoolctl"),
    (["bogus"], "unknown command 'bogus'"),
    (["register", "io"], "usage: register POOL MODULE[:FUNCTION]"),
    (["resize", "io", "many"], "'many' is not a pool size (1 to 1024)"),
    (["resize", "io", "0"], "'0' is not a pool size"),
    (["start-pool", "x", "1", "--mode", "fork"], "usage: start-pool NAME SIZE [--mode process|thread]"),
    (["call", "sqrt", "1"], "'sqrt' is not MODULE.FUNCTION"),
    (["call", "math.sqrt", "[1, 2"], "argument 1 ('[1, 2'): not JSON"),
    (["call", "math.sqrt", "--timeout", "soon"], "--timeout takes seconds > 0"),
    (["call", "math.sqrt", "--pool"], "--pool needs a value"),
    (["call", "builtins.len", "[" * 70 + "]" * 70], "nested deeper than 64 levels"),
    (["call", "builtins.len", "x={"], "x: not JSON"),
    (["--nope"], "Usage: pyrpoolctl"),
    (["stats", "pools"], "usage: stats"),
    (["top", "-d", "0"], "top: -d takes seconds from 0.1 to 3600, not '0'"),
    (["top", "-d", "abc"], "top: -d takes seconds from 0.1 to 3600, not 'abc'"),
    (["top", "-d", "3601"], "not '3601'"),
    (["top", "-d", "nan"], "not 'nan'"),
    (["top", "-d0.05"], "not '0.05'"),
    (["top", "-n", "-1"], "top: -n takes a number of frames from 1, not '-1'"),
    (["top", "-n", "0"], "not '0'"),
    (["top", "-n", "2x"], "not '2x'"),
    (["top", "-d"], "top: -d needs a value"),
    (["top", "-x"], "top: unknown option or argument '-x' (usage: top [-d SECONDS] [-n ITERATIONS])"),
    (["top", "now"], "unknown option or argument 'now'"),
    (["top", "-d", "1", "-n", "2", "x"], "usage: top [-d SECONDS] [-n ITERATIONS]"),
    (["top", "--json"], "top has no --json"),
])
def test_usage_errors_exit_2(d, args, says):
    r = ctl(*args, sock=d.socket_path)
    assert r.returncode == 2 and says in r.stderr, r.stderr


@pytest.mark.parametrize("args,says", [
    (["register", "nope", "json"], "NoSuchPool: no pool named 'nope'"),
    (["start-pool", "default", "1"], "PoolExists: "),
    (["stop-pool", "io"], "Forbidden: the default and io pools cannot be stopped"),
    (["resize", "nope", "2"], "NoSuchPool: "),
    (["call", "nosuchmod_q.f"], "ModuleNotFoundError: No module named 'nosuchmod_q'"),
])
def test_daemon_errors_exit_1(d, args, says):
    r = ctl(*args, sock=d.socket_path)
    assert r.returncode == 1 and r.stderr.startswith(says), r.stderr


def test_cannot_connect_exits_3_naming_the_socket(d, tmp_path):
    r = ctl("ping", sock=tmp_path / "none.sock")
    assert r.returncode == 3 and str(tmp_path / "none.sock") in r.stderr and "No such file" in r.stderr
    r = ctl("ping", env={"PYRPOOL_SOCKET": str(tmp_path / "env.sock")})
    assert r.returncode == 3 and "env.sock" in r.stderr and "$PYRPOOL_SOCKET" in r.stderr
    r = ctl("ping", sock=f"tcp:127.0.0.1:{d.tcp_port}", env={"PYRPOOL_TOKEN_FILE": str(tmp_path / "t")})
    assert r.returncode == 3 and "token" in r.stderr
    (tmp_path / "bad").write_text("x" * 20 + "\n")
    r = ctl("--token-file", tmp_path / "bad", "ping", sock=f"tcp:127.0.0.1:{d.tcp_port}")
    assert r.returncode == 3 and "Unauthorized" in r.stderr, r.stderr


def test_where_the_socket_comes_from(d, tmp_path):
    # PYRPOOL_SOCKET, plain and unix:
    assert ctl("ping", env={"PYRPOOL_SOCKET": str(d.socket_path)}).stdout == "pong\n"
    assert ctl("ping", sock=f"unix:{d.socket_path}").stdout == "pong\n"
    # -s wins over the environment
    assert ctl("ping", sock=d.socket_path, env={"PYRPOOL_SOCKET": "/nowhere.sock"}).returncode == 0
    # -c: the first admin listener of the daemon's own config (here the unix one)
    assert ctl("-c", d.config_path, "ping").stdout == "pong\n"
    # a config whose only admin listener is TCP: its token_file is used
    cfg = tmp_path / "tcp.yaml"
    cfg.write_text(f"listen:\n  - unix: {tmp_path}/other.sock\n    admin: false\n"
                   f"  - tcp: 127.0.0.1:{d.tcp_port}\n    admin: true\n    token_file: {d.token_path}\n")
    assert ctl("-c", cfg, "register", "io", "viatcp").returncode == 0
    assert ok("lookup", "viatcp", sock=d.socket_path) == "io\n"
    ok("unregister", "viatcp", sock=d.socket_path)
    cfg.write_text(f"listen:\n  - unix: {tmp_path}/other.sock\n    admin: false\n")
    r = ctl("-c", cfg, "ping")
    assert r.returncode == 3 and "has no listener with admin methods" in r.stderr
    # TCP with --token-file
    assert ctl("--token-file", d.token_path, "ping", sock=f"tcp:127.0.0.1:{d.tcp_port}").stdout == "pong\n"


def test_check(tmp_path, d):
    good = tmp_path / "good.yaml"
    good.write_text("listen:\n  - unix: s.sock\n")
    r = ctl("check", "-c", good)
    assert r.returncode == 0 and r.stdout.startswith(f"{good}: ok")
    r = ctl("-c", good, "check")
    assert r.returncode == 0
    bad = tmp_path / "bad.yaml"
    bad.write_text("listen:\n  - unix: s.sock\npools:\n  io: {size: 0}\nroutes:\n  x: nope\n")
    r = ctl("check", "-c", bad)
    assert r.returncode == 1 and "pools.io.size" in r.stderr and "no pool named 'nope'" in r.stderr


def test_reload(daemon_factory):
    d = daemon_factory(pools={"default": {"size": 1}, "io": {"size": 1}})
    assert ok("reload", sock=d.socket_path) == "reloaded: the new generation serves\n"
    good = d.config_path.read_text()
    d.config_path.write_text(good + "bogus_key: 1\n")
    r = ctl("reload", sock=d.socket_path)
    assert r.returncode == 1 and r.stderr.startswith("ReloadFailed: ") and "bogus_key" in r.stderr
    d.config_path.write_text(good)


def test_admin_commands_on_a_listener_without_admin(daemon_factory):
    d = daemon_factory(pools={"default": {"size": 1}, "io": {"size": 1}}, tcp=True)
    r = ctl("--token-file", d.token_path, "register", "io", "json", sock=f"tcp:127.0.0.1:{d.tcp_port}")
    assert r.returncode == 1 and r.stderr.startswith("Forbidden: register_pool is an admin method")
    for args in (["stats"], ["stats", "--json"], ["top"], ["top", "-n", "2", "-d", "0.1"]):
        r = ctl("--token-file", d.token_path, *args, sock=f"tcp:127.0.0.1:{d.tcp_port}")
        assert r.returncode == 1 and r.stdout == "", (args, r.stdout)
        assert r.stderr == "Forbidden: stats is an admin method: this listener has admin: false\n", (args, r.stderr)
    out = ok("--token-file", d.token_path, "hello", sock=f"tcp:127.0.0.1:{d.tcp_port}")
    assert out.endswith("admin methods: no\n")


def test_state_survives_a_restart_through_pyrpoolctl(tmp_path, request):
    from conftest import Daemon, slow_factor
    (tmp_path / "st").mkdir()
    d = Daemon(tmp_path, factor=slow_factor(request.config), pools={"default": {"size": 1}, "io": {"size": 1}},
               extra_yaml="state_file: st/state\n").start()
    try:
        ok("register", "io", "colorsys", sock=d.socket_path)
        ok("start-pool", "gpu", "1", sock=d.socket_path)
        assert d.stop() == 0
        d.start()
        assert ["colorsys", "*", "io", "runtime"] in rows(ok("routes", sock=d.socket_path))
        assert "gpu" in [r[0] for r in rows(ok("pools", sock=d.socket_path))]
    finally:
        d.finish()


# ------------------------------------------------------------------ stats, top --

STATS_POOLS = {"default": {"size": 1}, "io": {"size": 2, "mode": "thread"}, "solo": {"size": 1}}
STATS_ROW = re.compile(r"^(\S+)\s+(\S+)" + r"\s+(\d+)" * 9 + r"\s+(\d+(?: \([^)]*\))?)" + r"\s+(\S+)" * 5 + r"\s+(.*)$")
STATS_COLS = ["POOL", "STATE", "SIZE", "BUSY", "IDLE", "START", "RETIRE", "QUEUE", "QMAX", "COMPLETED", "FAILED",
              "RESTARTS", "RUN_P50", "RUN_P99", "RUN_MAX", "WAIT_P99", "RSS_MiB", "OUTCOMES"]
TOP_COLS = ["POOL", "CALLS/S", "RUN_P50", "RUN_P99", "QUEUE", "BUSY", "IDLE", "RESTARTS"]


def stats_sections(text):
    """`pyrpoolctl stats` as (daemon line, {pool: {column: cell}}, notes, {listener: [cells]})."""
    daemon, pools, listeners = text.split("\n\n")
    lines = pools.splitlines()
    assert lines[0].split() == STATS_COLS, lines[0]
    rows, notes = {}, []
    for line in lines[1:]:
        m = STATS_ROW.match(line)
        if m:
            rows[m.group(1)] = dict(zip(STATS_COLS, m.groups()))
        else:
            notes.append(line)
    lines = listeners.splitlines()
    assert lines[0].split() == ["LISTENER", "CONNECTIONS", "ACCEPTED", "REQUESTS", "BYTES_IN", "BYTES_OUT"]
    return daemon, rows, notes, {r.split()[0]: r.split()[1:] for r in lines[1:]}


def counts(cell):
    """'ok=3 error=1' -> {"ok": 3, "error": 1}; '-' -> {}."""
    return {} if cell == "-" else {k: int(v) for k, v in (w.split("=") for w in cell.split())}


def test_stats_shows_each_pool_and_the_outcomes_that_happened(daemon_factory):
    d = daemon_factory(pools=STATS_POOLS)
    with d.connect() as c:
        for i in range(5):
            assert c.ok("math.sqrt", [i * i]) == i
        assert c.call("operator.truediv", [1, 0])[0]["type"] == "ZeroDivisionError"
        assert c.call("call", ["builtins", "set", [[1]], None, {"pool": "solo"}])[0]["type"] == "EncodeError"
        c.ok("start_pool", ["fresh", 1], timeout=30)
        text = ok("stats", sock=d.socket_path)
        want = c.ok("stats", [])
    daemon, rows, notes, listeners = stats_sections(text)
    assert re.fullmatch(rf"pyrpoold 0\.1\.0, pid {d.proc.pid}, up \d\d:\d\d:\d\d, generation 0, "
                        r"RSS \d+\.\d MiB, \d+ connections?", daemon), daemon
    assert list(rows) == ["default", "io", "solo", "fresh"]
    default, fresh = rows["default"], rows["fresh"]
    assert default["STATE"] == "ready" and default["SIZE"] == "1" and rows["io"]["SIZE"] == "2"
    # the outcomes that happened, as the daemon counts them, and none of those that did not
    for name, row in rows.items():
        assert counts(row["OUTCOMES"]) == {k: v for k, v in want["pools"][name]["outcomes"].items() if v}, name
        assert int(row["COMPLETED"]) == want["pools"][name]["completed"]
    assert counts(default["OUTCOMES"])["error"] == 1 and counts(default["OUTCOMES"])["ok"] >= 5
    assert counts(rows["solo"]["OUTCOMES"])["EncodeError"] == 1
    assert "Timeout" not in default["OUTCOMES"]
    assert float(default["RUN_P50"]) > 0 and float(default["RUN_MAX"]) >= float(default["RUN_P99"])
    assert float(default["RSS_MiB"]) > 1
    # a pool no call has reached: no times in its window, no outcomes
    assert [fresh[k] for k in ("RUN_P50", "RUN_P99", "RUN_MAX", "WAIT_P99", "OUTCOMES")] == ["-"] * 5
    assert fresh["RESTARTS"] == "0" and fresh["COMPLETED"] == "0"
    assert notes[0].startswith("run time (RUN_*) and queue wait (WAIT_P99) in ms over the last 60 s")
    assert listeners[f"unix:{d.socket_path}"][1] == str(want["listeners"][0]["accepted"])


def test_stats_shows_restarts_by_cause_and_the_functions_held_off(daemon_factory, factor):
    d = daemon_factory(pools=dict(STATS_POOLS, solo={"size": 1, "crash_limit": 1, "crash_interval": 60}))
    crashes = 0
    with d.connect() as c:
        for _ in range(3):   # the first hold lasts 1 s, the next ones longer
            err = c.call("call", ["os", "_exit", [3], None, {"pool": "solo"}])[0]
            assert err["type"] in ("WorkerCrashed", "Quarantined"), err
            crashes += err["type"] == "WorkerCrashed"
            text = ok("stats", sock=d.socket_path)
            if c.ok("stats", [])["pools"]["solo"]["quarantined"]:
                break        # held off after the text was taken, so while it was
        else:
            pytest.fail("os._exit never seen held off")
        wait_until(lambda: c.ok("stats", [])["pools"]["solo"]["executors"]["idle"] == 1, 20 * factor,
                   "solo's executor back")
        _, rows, _, _ = stats_sections(ok("stats", sock=d.socket_path))
    assert rows["solo"]["RESTARTS"] == f"{crashes} (crash={crashes})" and rows["default"]["RESTARTS"] == "0"
    assert counts(rows["solo"]["OUTCOMES"])["WorkerCrashed"] == crashes
    assert "pool solo holds off (crash_limit): os._exit" in stats_sections(text)[2]


def test_stats_restarts_match_pools_after_a_reload(daemon_factory):
    """A reload's new executors are a cause of their own: shown beside the
    sum, which is the pools method's restarts."""
    d = daemon_factory(pools=STATS_POOLS)
    with d.connect() as c:
        assert c.ok("reload", [], timeout=60) is True
        pools = {p["name"]: p["restarts"] for p in c.ok("pools", [])}
        _, rows, _, _ = stats_sections(ok("stats", sock=d.socket_path))
    assert pools["default"] == 0
    assert rows["default"]["RESTARTS"] == "0 (reload=1)" and rows["io"]["RESTARTS"] == "0 (reload=1)", rows


def test_stats_json_is_the_daemons_answer(daemon_factory):
    d = daemon_factory(pools=STATS_POOLS)
    with d.connect() as c:
        c.ok("math.sqrt", [4])
        assert c.call("operator.truediv", [1, 0])[0]["type"] == "ZeroDivisionError"
        c.ok("start_pool", ["fresh", 1], timeout=30)
        assert list(json.loads(ok("--json", "stats", sock=d.socket_path))) == ["daemon", "pools", "listeners"]
        got = json.loads(ok("stats", "--json", sock=d.socket_path))
        want = c.ok("stats", [])
    assert list(got) == ["daemon", "pools", "listeners"]
    assert list(got["pools"]) == list(want["pools"]) == ["default", "io", "solo", "fresh"]
    assert [l["name"] for l in got["listeners"]] == [l["name"] for l in want["listeners"]]
    assert got["daemon"]["pid"] == want["daemon"]["pid"] == d.proc.pid
    assert 0 < got["daemon"]["uptime"] <= want["daemon"]["uptime"]
    for name, p in got["pools"].items():
        w = want["pools"][name]
        assert (p["mode"], p["size"], p["state"]) == (w["mode"], w["size"], w["state"])
        assert p["completed"] <= w["completed"] and p["failed"] <= w["failed"]
        for group in ("outcomes", "restarts"):
            assert list(p[group]) == list(w[group]) and all(p[group][k] <= w[group][k] for k in p[group])
        for h in ("queue_wait", "run_time"):
            assert p[h]["count"] <= w[h]["count"] and isinstance(p[h]["window"], float)
    assert got["pools"]["default"]["outcomes"]["error"] == 1
    fresh = got["pools"]["fresh"]["run_time"]
    assert fresh["p50"] is None and fresh["max"] is None and fresh["window_count"] == 0   # nil -> null


@contextlib.contextmanager
def load(d, factor, pool="default"):
    """Calls on pool, one after another on a connection of their own, while the block runs."""
    stop, done, failed = threading.Event(), [], []

    def run():
        try:
            with d.connect() as c:
                while not stop.is_set():
                    c.ok("call", ["math", "sqrt", [4], None, {"pool": pool}])
                    done.append(1)
        except Exception as e:  # noqa: BLE001 -- reported by the test
            failed.append(e)

    t = threading.Thread(target=run, daemon=True)
    t.start()
    try:
        wait_until(lambda: len(done) >= 20 or failed, 10 * factor, "the load running")
        assert not failed, failed
        yield done
    finally:
        stop.set()
        t.join(10 * factor)
    assert not failed, failed


def top_frames(text):
    """The frames `top` prints as text: [(header line, {pool: {column: cell}})]."""
    frames = []
    for block in text.strip("\n").split("\n\n"):
        lines = block.splitlines()
        assert lines[1].split() == TOP_COLS, block
        frames.append((lines[0], {r.split()[0]: dict(zip(TOP_COLS, r.split())) for r in lines[2:]}))
    return frames


def test_top_without_a_terminal_prints_frames_and_the_rate_under_load(daemon_factory, factor):
    d = daemon_factory(pools=STATS_POOLS)
    with load(d, factor):
        t0 = time.monotonic()
        out = ok("top", "-n", "2", "-d", "0.2", sock=d.socket_path)
        took = time.monotonic() - t0
    assert "\x1b" not in out and took >= 0.2
    (head1, first), (head2, second) = top_frames(out)
    assert list(first) == list(second) == ["default", "io", "solo"]
    assert re.fullmatch(r"pyrpoold 0\.1\.0, up \d\d:\d\d:\d\d, \d+ connections?, RSS \d+\.\d MiB, - calls/s", head1)
    assert all(row["CALLS/S"] == "-" for row in first.values())          # nothing to compare with yet
    assert float(second["default"]["CALLS/S"]) > 0 and float(second["solo"]["CALLS/S"]) == 0
    assert float(head2.split(", ")[-1].split()[0]) >= float(second["default"]["CALLS/S"])
    assert float(second["default"]["RUN_P50"]) > 0 and second["default"]["RESTARTS"] == "0"
    # without -n and without a terminal: one frame
    assert len(top_frames(ok("top", sock=d.socket_path))) == 1
    assert len(top_frames(ok("top", "-n3", "-d0.1", sock=d.socket_path))) == 3


def test_top_usage_is_checked_before_connecting(tmp_path):
    r = ctl("top", "-d", "0", sock=tmp_path / "none.sock")
    assert r.returncode == 2 and "-d takes seconds" in r.stderr


def read_until(fd, pred, timeout, what):
    """Reads fd (a pty's master) until pred(all read) holds; returns all read."""
    out = b""
    deadline = time.monotonic() + timeout
    while not pred(out):
        left = deadline - time.monotonic()
        assert left > 0, f"not within {timeout:.1f}s: {what}; read {out[-600:]!r}"
        if select.select([fd], [], [], left)[0]:
            out += os.read(fd, 65536)
    return out


ESCAPE = re.compile(rb"\x1b\[[0-9;?]*[A-Za-z]")


def screen_lines(raw):
    """The text lines drawn in raw terminal output (an escape ends a line)."""
    return [line for line in ESCAPE.sub(b"\n", raw).replace(b"\r", b"").split(b"\n") if line]


@pytest.mark.parametrize("how", ["q", "SIGINT"])
def test_top_on_a_terminal(daemon_factory, factor, how):
    d = daemon_factory(pools=STATS_POOLS)
    master, slave = pty.openpty()
    try:
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 40, 0, 0))
        before = termios.tcgetattr(slave)
        # -d 60: the redraw after a resize and the quit do not wait for a refresh
        p = subprocess.Popen([str(CTL), "-s", str(d.socket_path), "top", "-d", "60"], stdin=slave, stdout=slave,
                             stderr=slave, env=ctl_env())
        try:
            first = read_until(master, lambda b: re.search(rb"\nsolo +", b.replace(b"\r", b"")), 10 * factor,
                               "the pools drawn")
            assert first.startswith(b"\x1b[?1049h\x1b[?25l\x1b[H")     # the alternate screen, from the top
            lines = screen_lines(first)
            assert lines[0].startswith(b"pyrpoold 0.1.0, up ") and max(map(len, lines)) == 40   # cut, not wrapped
            assert termios.tcgetattr(slave)[3] & (termios.ICANON | termios.ECHO) == 0
            # narrower: SIGWINCH (what the kernel sends a terminal's foreground) draws again at once
            fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 30, 0, 0))
            p.send_signal(signal.SIGWINCH)
            again = read_until(master, lambda b: b"\x1b[H" in b and b"\x1b[J" in b.split(b"\x1b[H")[-1],
                               10 * factor, "a redraw")
            lines = screen_lines(again.split(b"\x1b[H")[-1])
            assert max(map(len, lines)) == 30 and any(line.startswith(b"solo ") for line in lines)
            if how == "q":
                os.write(master, b"q")
            else:
                p.send_signal(signal.SIGINT)
            rc = p.wait(10 * factor)
        finally:
            if p.poll() is None:
                p.kill()
                p.wait(10)
        rest = read_until(master, lambda b: b.endswith(b"\x1b[?25h\x1b[?1049l"), 10 * factor, "the screen given back")
        assert rc == (0 if how == "q" else -signal.SIGINT), rc
        assert termios.tcgetattr(slave) == before        # echo and line editing back
        assert b"Traceback" not in rest and b"pyrpoolctl:" not in rest
    finally:
        os.close(master)
        os.close(slave)


def test_top_ends_with_an_error_when_the_daemon_goes(tmp_path, request):
    d = Daemon(tmp_path, factor=slow_factor(request.config), pools=STATS_POOLS).start()
    factor = d.factor
    p = None
    try:
        p = subprocess.Popen([str(CTL), "-s", str(d.socket_path), "top", "-n", "100000", "-d", "0.1"],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=ctl_env())
        assert select.select([p.stdout], [], [], 10 * factor)[0], "no frame from top"
        assert p.stdout.readline().startswith("pyrpoold 0.1.0, up ")
        assert d.stop() == 0
        rc = p.wait(10 * factor)
        err = p.stderr.read()
        # the connection closed (or a write met it closed), or the daemon said it was stopping
        assert (rc, err) == (3, "pyrpoolctl: the daemon closed the connection\n") or \
            (rc == 3 and re.fullmatch(r"pyrpoolctl: (reading from|writing to) the daemon: .+\n", err)) or \
            (rc == 1 and err.startswith("ShuttingDown: ")), (rc, err)
    finally:
        if p is not None and p.poll() is None:
            p.kill()
            p.wait(10)
        d.kill()


def test_the_readme_shows_the_help_as_it_is():
    readme = (HERE.parent.parent / "README.md").read_text()
    block = readme.split("$ pyrpoolctl --help\n", 1)[1].split("```", 1)[0]
    assert block == ok("--help")
