"""pyrpoolctl against the real daemon: every subcommand, as text and as
--json, where it finds the socket, and its exit codes (0 ok, 1 the daemon
answered an error, 2 usage, 3 cannot connect)."""
import base64
import json
import os
import subprocess

import pytest

from conftest import HERE, finish_daemon, module_daemon

CTL = HERE.parent.parent / "build" / "pyrpoolctl"


def ctl(*args, sock=None, env=None, timeout=60):
    cmd = [str(CTL)] + (["-s", str(sock)] if sock is not None else []) + [str(a) for a in args]
    e = {k: v for k, v in os.environ.items() if not k.startswith("PYRPOOL_")}
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
