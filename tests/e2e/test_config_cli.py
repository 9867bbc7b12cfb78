"""Command line, --check, config errors, listeners, signals."""
import os
import re
import signal
import socket
import subprocess
import time
from pathlib import Path

import msgpack
import pytest

from conftest import BINARY, HERE, VALGRIND_CMD, Client, free_tcp_port, wait_file, wait_pool, wait_until


def run(args, cwd=None, timeout=20):
    return subprocess.run([str(BINARY)] + args, cwd=cwd, capture_output=True, text=True,
                          timeout=timeout, stdin=subprocess.DEVNULL)


def write(path, text):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


TOKEN = "0123456789abcdef-cli-token"


def tcp_listener(folder, address):
    """The YAML lines of a TCP listener on address, with a token file
    (TOKEN, mode 0600) written into folder."""
    token = Path(folder) / "token"
    token.parent.mkdir(parents=True, exist_ok=True)
    token.write_text(TOKEN + "\n")
    token.chmod(0o600)
    return f"  - tcp: {address}\n    token_file: {token}\n"


def authed(c):
    """c, once it has sent auth [TOKEN] (a TCP listener's first request)."""
    assert c.ok("auth", [TOKEN]) is True
    return c


GOOD = """\
listen:
  - unix: run/pyrpoold.sock
  - tcp: 127.0.0.1:7717
    token_file: token
pools:
  default: {size: 2, mode: process}
  io:      {size: 10, mode: thread, hard_timeout: 2.5, timeout: 30}
  gpu: {size: 1, timeout: 0.5}
python:
  path: [examples]
  allow_eval: false
routes:
  requests: io
  "json:dumps": default
limits:
  max_message_size: 64MiB
"""


# ---- command line -------------------------------------------------------

def test_check_good_config(tmp_path):
    tcp_listener(tmp_path, "127.0.0.1:7717")
    (tmp_path / "examples").mkdir()
    cfg = write(tmp_path / "good.yaml", GOOD)
    r = run(["--check", "-c", str(cfg)])
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0] == f"{cfg}: ok"
    out = r.stdout
    assert f"listen unix:{tmp_path}/run/pyrpoold.sock" in out
    assert "listen tcp:127.0.0.1:7717" in out
    assert "pool default: 2 executors" in out
    assert "pool io: 10 threads, thread mode" in out
    assert "pool gpu: 1 executor" in out
    assert "route requests -> io" in out
    assert "route json:dumps -> default" in out
    assert "eval forbidden" in out
    # --check starts nothing
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("name", ["pyrpoold.yaml", "conf/pyrpoold.example.yaml"])
def test_shipped_configs_check(name):
    """The default config and the annotated example (every key) load."""
    cfg = Path(__file__).resolve().parents[2] / name
    r = run(["--check", "-c", str(cfg)])
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines()[0] == f"{cfg}: ok"


def test_check_long_options_and_relative_path(tmp_path):
    write(tmp_path / "sub" / "c.yaml", "listen:\n  - unix: s.sock\n")
    r = run(["--check", "--config", "sub/c.yaml"], cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines()[0] == "sub/c.yaml: ok"
    assert f"listen unix:{tmp_path}/sub/s.sock" in r.stdout


def test_check_defaults(tmp_path):
    cfg = write(tmp_path / "min.yaml", "listen:\n  - unix: x.sock\n")
    r = run(["--check", "-c", str(cfg)])
    assert r.returncode == 0, r.stderr
    ncpu = len(os.sched_getaffinity(0))
    assert f"pool default: {ncpu} executor" in r.stdout
    assert "pool io: 10 threads, thread mode" in r.stdout
    assert "eval forbidden" in r.stdout


def test_check_size_auto_and_allow_eval(tmp_path):
    cfg = write(tmp_path / "a.yaml", "listen:\n  - unix: x.sock\npools:\n  default: {size: auto}\n"
                                     "  extra: {size: auto}\npython:\n  allow_eval: true\n")
    r = run(["--check", "-c", str(cfg)])
    assert r.returncode == 0, r.stderr
    ncpu = len(os.sched_getaffinity(0))
    assert f"pool default: {ncpu} executor" in r.stdout
    assert f"pool extra: {ncpu} executor" in r.stdout
    assert "eval allowed" in r.stdout


def test_default_config_file_name(tmp_path):
    write(tmp_path / "pyrpoold.yaml", "listen:\n  - unix: x.sock\n")
    r = run(["--check"], cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert "pyrpoold.yaml: ok" in r.stdout


def test_help():
    r = run(["--help"])
    assert r.returncode == 0
    assert "--check" in r.stdout and "-c" in r.stdout
    assert "SIGHUP reloads the config" in r.stdout
    r = run(["-h"])
    assert r.returncode == 0 and "--check" in r.stdout


def test_version():
    r = run(["--version"])
    assert r.returncode == 0
    assert re.match(r"pyrpoold \d+\.\d+", r.stdout)


@pytest.mark.parametrize("args", [["--bogus"], ["-x"], ["unexpected"], ["-c"], ["--check", "extra"]])
def test_bad_arguments_exit_2(args):
    r = run(args)
    assert r.returncode == 2, (r.stdout, r.stderr)
    assert r.stderr


def test_missing_config_file(tmp_path):
    r = run(["--check", "-c", str(tmp_path / "nope.yaml")])
    assert r.returncode == 1
    assert "nope.yaml" in r.stderr
    r = run(["-c", str(tmp_path / "nope.yaml")])
    assert r.returncode == 1


# ---- bad configs ----------------------------------------------------------

NO_POSITION = "no position"   # the error is about the whole file: "FILE: message"

BAD = [
    # (name, text, line, col, words); line and col are where the error names
    # the problem, or NO_POSITION for an error that has no place in the file
    ("unknown-top-key", "lisen:\n  - unix: a.sock\n", 1, 1, ["lisen"]),
    ("size-negative", "listen:\n  - unix: a.sock\npools:\n  default: {size: -1}\n", 4, 19, ["size", "-1"]),
    ("size-zero", "listen:\n  - unix: a.sock\npools:\n  io: {size: 0}\n", 4, 14, ["size", "0"]),
    ("size-too-big", "listen:\n  - unix: a.sock\npools:\n  io: {size: 1025}\n", 4, 14, ["size", "1025"]),
    ("size-word", "listen:\n  - unix: a.sock\npools:\n  io:\n    size: ten\n", 5, 11, ["size", "ten"]),
    ("hard-timeout-process", "listen:\n  - unix: a.sock\npools:\n  cpu:\n    hard_timeout: 3\n    mode: process\n",
     5, 19, ["pools.cpu.hard_timeout", "thread mode only"]),
    ("hard-timeout-zero", "listen:\n  - unix: a.sock\npools:\n  io: {hard_timeout: 0}\n", 4, 22,
     ["hard_timeout", "0"]),
    ("pool-timeout-word", "listen:\n  - unix: a.sock\npools:\n  io: {timeout: soon}\n", 4, 17,
     ["timeout", "soon"]),
    ("pool-timeout-negative", "listen:\n  - unix: a.sock\npools:\n  default: {timeout: -1}\n", 4, 22,
     ["timeout", "-1"]),
    ("mode-other", "listen:\n  - unix: a.sock\npools:\n  io: {mode: fork}\n", 4, 14, ["mode", "fork"]),
    ("unknown-pool-key", "listen:\n  - unix: a.sock\npools:\n  io: {sise: 3}\n", 4, 8, ["sise"]),
    ("route-unknown-pool", "listen:\n  - unix: a.sock\nroutes:\n  requests: gpu\n", 4, 13, ["gpu"]),
    ("invalid-yaml", "listen:\n  - unix: a.sock\npools: {default: [\n", 4, 1,
     ["invalid YAML", "did not find expected node content"]),
    ("max-msg-too-small", "listen:\n  - unix: a.sock\nlimits:\n  max_message_size: 1023\n", 4, 21,
     ["max_message_size", "1023"]),
    ("max-msg-too-big", "listen:\n  - unix: a.sock\nlimits:\n  max_message_size: 3GiB\n", 4, 21,
     ["max_message_size", "3GiB"]),
    ("max-msg-bad-unit", "listen:\n  - unix: a.sock\nlimits:\n  max_message_size: 12MB\n", 4, 21,
     ["max_message_size", "12MB"]),
    ("no-listener", "pools:\n  io: {size: 1}\n", 1, 1, ["listen", "at least one listener"]),
    ("listen-kind", "listen:\n  - udp: 1.2.3.4:5\n", 2, 5, ["udp"]),
    ("tcp-port", "listen:\n  - tcp: 127.0.0.1:70000\n", 2, 10, ["70000"]),
    ("tcp-no-port", "listen:\n  - tcp: localhost\n", 2, 10, ["localhost"]),
    ("pool-name", "listen:\n  - unix: a.sock\npools:\n  \"bad name\": {size: 1}\n", 4, 3, ["bad name"]),
    ("allow-eval-word", "listen:\n  - unix: a.sock\npython:\n  allow_eval: maybe\n", 4, 15, ["allow_eval", "maybe"]),
    ("python-path-scalar", "listen:\n  - unix: a.sock\npython:\n  path: examples\n", 4, 9, ["path"]),
    ("duplicate-key", "listen:\n  - unix: a.sock\nlisten:\n  - unix: b.sock\n", 3, 1, ["listen"]),
    ("bad-route-key", "listen:\n  - unix: a.sock\nroutes:\n  \"a:b:c\": io\n", 4, 3, ["a:b:c"]),
    ("empty-file", "", NO_POSITION, None, ["the file is empty", "listen"]),
]


@pytest.mark.parametrize("name,text,line,col,words", BAD, ids=[b[0] for b in BAD])
def test_bad_config(tmp_path, name, text, line, col, words):
    cfg = write(tmp_path / f"{name}.yaml", text)
    for args in (["--check", "-c", str(cfg)], ["-c", str(cfg)]):
        r = run(args)
        assert r.returncode == 1, (r.stdout, r.stderr)
        err = r.stderr.strip()
        assert "\n" not in err, f"one line expected: {err}"
        if line == NO_POSITION:
            assert err.startswith(f"pyrpoold: {cfg}: "), err
        else:
            assert err.startswith(f"pyrpoold: {cfg}:{line}:{col}: "), err
        for w in words:
            assert w in err, err
        assert not r.stdout.strip().endswith("ok")
    assert not (tmp_path / "a.sock").exists()


# ---- running daemons with special set-ups ---------------------------------

def spawn(cfg, cwd="/", valgrind=False):
    cmd = [str(BINARY), "-c", str(cfg)]
    if valgrind:
        cmd = VALGRIND_CMD + cmd
    return subprocess.Popen(cmd, cwd=cwd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def wait_for_socket(path, proc, timeout):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, f"daemon exited {proc.returncode}: {proc.stderr.read()}"
        try:
            with Client(path, timeout=5) as c:
                if c.ok("ping", []) == "pong":
                    return
        except (OSError, Exception):  # noqa: BLE001 -- not up yet
            time.sleep(0.05)
    raise AssertionError(f"no daemon answers on {path}")


def stop(proc, sig=signal.SIGTERM, timeout=20):
    if proc.poll() is None:
        proc.send_signal(sig)
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(10)
        raise AssertionError("the daemon did not stop")
    err = proc.stderr.read()
    proc.stdout.close()
    proc.stderr.close()
    return proc.returncode, err


@pytest.fixture
def spawned(request):
    procs = []
    vg = request.config.getoption("--valgrind")
    factor = 6 if vg else 1

    def go(cfg, cwd="/"):
        p = spawn(cfg, cwd, vg)
        procs.append(p)
        return p
    go.factor = factor
    yield go
    for p in procs:
        if p.poll() is None:
            p.kill()
            p.wait(10)


SMALL_POOLS = "pools:\n  default: {size: 1}\n  io: {size: 1}\n"


def test_relative_socket_and_python_path_from_config_folder(tmp_path, spawned):
    """Relative paths resolve against the config's folder, not the cwd."""
    folder = tmp_path / "conf"
    write(folder / "mods" / "relmod.py", "def hi():\n    return 'hi from relmod'\n")
    cfg = write(folder / "pyrpoold.yaml",
                "listen:\n  - unix: deep/er/d.sock\n" + SMALL_POOLS + "python:\n  path: [mods]\n")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    p = spawned(cfg, cwd=str(elsewhere))
    sock = folder / "deep" / "er" / "d.sock"
    wait_for_socket(sock, p, 10 * spawned.factor)
    assert not list(elsewhere.iterdir())
    with Client(sock) as c:
        assert c.ok("relmod.hi", []) == "hi from relmod"
    rc, err = stop(p)
    assert rc == 0, err
    assert not sock.exists()


def test_relative_config_path(tmp_path, spawned):
    write(tmp_path / "sub" / "c.yaml", "listen:\n  - unix: run/s.sock\n" + SMALL_POOLS)
    p = spawned("sub/c.yaml", cwd=str(tmp_path))
    wait_for_socket(tmp_path / "sub" / "run" / "s.sock", p, 10 * spawned.factor)
    rc, err = stop(p)
    assert rc == 0, err


def test_stale_socket_file_is_replaced(tmp_path, spawned):
    sock_path = tmp_path / "run" / "d.sock"
    sock_path.parent.mkdir()
    s = socket.socket(socket.AF_UNIX)
    s.bind(str(sock_path))      # a socket file nobody listens on
    s.close()
    assert sock_path.exists()
    cfg = write(tmp_path / "c.yaml", "listen:\n  - unix: run/d.sock\n" + SMALL_POOLS)
    p = spawned(cfg)
    wait_for_socket(sock_path, p, 10 * spawned.factor)
    rc, err = stop(p)
    assert rc == 0, err
    assert not sock_path.exists()


def test_regular_file_at_socket_path_is_an_error(tmp_path, spawned):
    path = write(tmp_path / "d.sock", "precious")
    cfg = write(tmp_path / "c.yaml", "listen:\n  - unix: d.sock\n" + SMALL_POOLS)
    p = spawned(cfg)
    rc = p.wait(20 * spawned.factor)
    assert rc == 1
    assert "not a socket" in p.stderr.read()
    assert path.read_text() == "precious"


def test_second_daemon_on_same_socket(tmp_path, spawned):
    cfg = write(tmp_path / "c.yaml", "listen:\n  - unix: run/d.sock\n" + SMALL_POOLS)
    first = spawned(cfg)
    sock = tmp_path / "run" / "d.sock"
    wait_for_socket(sock, first, 10 * spawned.factor)
    second = spawned(cfg)
    rc = second.wait(20 * spawned.factor)
    err = second.stderr.read()
    assert rc == 1, err
    assert "already listening" in err
    # the first one is untouched
    assert sock.exists()
    with Client(sock) as c:
        assert c.ok("ping", []) == "pong"
        assert c.ok("math.sqrt", [4]) == 2.0
    rc, err = stop(first)
    assert rc == 0, err
    assert not sock.exists()


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_signal_stops_and_removes_socket(tmp_path, spawned, sig):
    cfg = write(tmp_path / "c.yaml", "listen:\n  - unix: run/d.sock\n" + SMALL_POOLS)
    p = spawned(cfg)
    sock = tmp_path / "run" / "d.sock"
    wait_for_socket(sock, p, 10 * spawned.factor)
    idle = Client(sock)               # a connected, idle client does not hold it up
    rc, err = stop(p, sig)
    idle.close()
    assert rc == 0, err
    assert not sock.exists()
    assert "stopping" in err


# A module for the daemons started by hand below: a call that says when it starts.
DRAIN_PY = """\
import time


def slow(path, seconds, value):
    \"\"\"Creates path as soon as it runs, sleeps, returns value.\"\"\"
    with open(path, "w"):
        pass
    time.sleep(seconds)
    return value
"""


def drain_config(tmp_path, limits=""):
    """A config with SMALL_POOLS and the drain module on the python path."""
    write(tmp_path / "mods" / "drain.py", DRAIN_PY)
    return write(tmp_path / "c.yaml", "listen:\n  - unix: run/d.sock\n" + SMALL_POOLS +
                 "python:\n  path: [mods]\n" + limits)


def slow_call(c, path, seconds, value, pool="default"):
    """Sends drain.slow on pool; returns its msgid."""
    return c.send("call", ["drain", "slow", [str(path), seconds, value], None, {"pool": pool}])


def test_sigterm_with_a_call_running(tmp_path, spawned):
    """SIGTERM while calls run: a new call is answered ShuttingDown, the
    daemon waits for the running call, which answers its own result; a call
    that outlasts limits.shutdown_timeout does not hold the stop: it is
    answered ShuttingDown once that has passed, and the daemon exits 0."""
    f = spawned.factor
    grace = 2 * f                                   # limits.shutdown_timeout
    cfg = drain_config(tmp_path, f"limits:\n  shutdown_timeout: {grace}\n")
    p = spawned(cfg)
    sock = tmp_path / "run" / "d.sock"
    wait_for_socket(sock, p, 10 * f)
    c = Client(sock, timeout=10 * f)
    short = slow_call(c, tmp_path / "short.started", 0.8, "finished", pool="default")
    long = slow_call(c, tmp_path / "long.started", 30, "never", pool="io")
    wait_file(tmp_path / "short.started", 5 * f)
    wait_file(tmp_path / "long.started", 5 * f)
    t = time.monotonic()
    p.send_signal(signal.SIGTERM)
    wait_until(lambda: not sock.exists(), 5 * f, "the socket file is removed at SIGTERM")
    # draining: a new call is refused at once
    late = c.send("call", ["operator", "add", [1, 1]])
    msg = c.wait(late, timeout=5 * f)
    assert msg[3] is None and msg[2] is not None and msg[2]["type"] == "ShuttingDown", msg
    # the running call ends by itself and is answered with its result: the
    # daemon waited for it (it is still there to relay the answer)
    msg = c.wait(short, timeout=5 * f)
    assert msg[2:] == [None, "finished"], msg
    assert p.poll() is None, "the daemon exited with a call still running before shutdown_timeout"
    # the call that outlasts shutdown_timeout is answered ShuttingDown when it passes
    msg = c.wait(long, timeout=grace + 5 * f)
    waited = time.monotonic() - t
    assert msg[3] is None and msg[2] is not None and msg[2]["type"] == "ShuttingDown", msg
    assert waited >= grace - 0.1, f"gave up on the running call after {waited:.2f}s, not {grace}s"
    assert p.wait(timeout=5 * f) == 0          # by itself, with no second signal
    rc, err = stop(p)
    assert rc == 0, err
    assert time.monotonic() - t < grace + 5 * f
    assert c.expect_closed(timeout=5 * f)
    c.close()
    assert not sock.exists()


def test_sigterm_answers_queued_calls_shutting_down(tmp_path, spawned):
    """Calls still queued when limits.shutdown_timeout passes are failed with
    ShuttingDown: the client must get that answer (before its connection
    closes)."""
    f = spawned.factor
    cfg = drain_config(tmp_path, "limits:\n  shutdown_timeout: 1\n")
    p = spawned(cfg)
    sock = tmp_path / "run" / "d.sock"
    wait_for_socket(sock, p, 10 * f)
    c = Client(sock, timeout=10 * f)
    slow_call(c, tmp_path / "running.started", 30, "never")
    wait_file(tmp_path / "running.started", 5 * f)
    queued = c.send("call", ["math", "sqrt", [4]])
    wait_pool(c, "default", 5 * f, busy=1, queued=1)   # queued in the master
    rc, err = stop(p)
    assert rc == 0, err
    c.expect_closed(timeout=5 * f)
    got = [m for m in c.order if m[1] == queued]
    c.close()
    assert got, f"no answer for the queued call (all answers: {c.order!r})"
    assert got[0][2]["type"] == "ShuttingDown", got


def test_sigterm_drains_calls_in_flight(tmp_path, spawned):
    """SIGTERM: running and queued calls are answered normally, new calls get
    ShuttingDown, new connections are refused, then the daemon exits 0."""
    f = spawned.factor
    cfg = drain_config(tmp_path)
    p = spawned(cfg)
    sock = tmp_path / "run" / "d.sock"
    wait_for_socket(sock, p, 10 * f)
    c = Client(sock, timeout=10 * f)
    assert c.ok("ping", []) == "pong"
    running = slow_call(c, tmp_path / "running.started", 0.8, "slept")
    wait_file(tmp_path / "running.started", 5 * f)
    queued = [c.send("call", ["operator", "add", [i, 1]]) for i in range(3)]
    wait_pool(c, "default", 5 * f, busy=1, queued=3)   # all in the daemon before the signal
    t = time.monotonic()
    p.send_signal(signal.SIGTERM)
    wait_until(lambda: not sock.exists(), 5 * f, "the socket file is removed at SIGTERM")
    late = c.send("call", ["operator", "add", [1, 1]])
    assert c.wait(late)[2]["type"] == "ShuttingDown"
    assert c.ok("ping", []) == "pong"          # admin methods still answer
    assert not sock.exists()                    # no new connections
    assert c.wait(running, timeout=10 * f)[2:] == [None, "slept"]
    assert [c.wait(m, timeout=10 * f)[2:] for m in queued] == [[None, i + 1] for i in range(3)]
    rc = p.wait(timeout=10 * f)
    assert rc == 0
    assert time.monotonic() - t < 5 * f
    c.close()


def test_second_signal_stops_at_once(tmp_path, spawned):
    f = spawned.factor
    cfg = drain_config(tmp_path)
    p = spawned(cfg)
    sock = tmp_path / "run" / "d.sock"
    wait_for_socket(sock, p, 10 * f)
    c = Client(sock, timeout=10 * f)
    m = slow_call(c, tmp_path / "running.started", 30, "never")
    wait_file(tmp_path / "running.started", 5 * f)
    t = time.monotonic()
    p.send_signal(signal.SIGTERM)
    wait_until(lambda: not sock.exists(), 5 * f, "the socket file is removed at SIGTERM")
    p.send_signal(signal.SIGINT)
    assert p.wait(timeout=5 * f) == 0
    assert time.monotonic() - t < 3 * f
    c.expect_closed(timeout=5 * f)
    got = [x for x in c.order if x[1] == m]
    assert got and got[0][2]["type"] == "ShuttingDown"
    c.close()


def test_tcp_listener(tmp_path, spawned):
    port = free_tcp_port()
    cfg = write(tmp_path / "c.yaml",
                "listen:\n  - unix: run/d.sock\n" + tcp_listener(tmp_path, f"127.0.0.1:{port}") + SMALL_POOLS)
    p = spawned(cfg)
    wait_for_socket(tmp_path / "run" / "d.sock", p, 10 * spawned.factor)
    with authed(Client(("127.0.0.1", port), timeout=10)) as c:
        assert c.ok("ping", []) == "pong"
        assert c.ok("math.sqrt", [16]) == 4.0
        res = c.request_many([("operator.add", [i, i]) for i in range(200)])
        assert res == [(None, 2 * i) for i in range(200)]
        c.send_raw(b"\xc1")
        assert c.expect_closed(timeout=5)
    with authed(Client(("127.0.0.1", port), timeout=10)) as c:
        assert c.ok("ping", []) == "pong"
    rc, err = stop(p)
    assert rc == 0, err
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", port), timeout=2).close()


def test_tcp_only(tmp_path, spawned):
    port = free_tcp_port()
    cfg = write(tmp_path / "c.yaml", "listen:\n" + tcp_listener(tmp_path, f"127.0.0.1:{port}") + SMALL_POOLS)
    p = spawned(cfg)
    deadline = time.monotonic() + 10 * spawned.factor
    while True:
        assert p.poll() is None, p.stderr.read()
        try:
            with authed(Client(("127.0.0.1", port), timeout=5)) as c:
                assert c.ok("ping", []) == "pong"
                break
        except OSError:
            assert time.monotonic() < deadline
            time.sleep(0.05)
    rc, err = stop(p)
    assert rc == 0, err


def test_tcp_port_in_use(tmp_path, spawned):
    busy = socket.socket()
    busy.bind(("127.0.0.1", 0))
    busy.listen(1)
    port = busy.getsockname()[1]
    try:
        cfg = write(tmp_path / "c.yaml",
                    "listen:\n  - unix: run/d.sock\n" + tcp_listener(tmp_path, f"127.0.0.1:{port}") + SMALL_POOLS)
        p = spawned(cfg)
        rc = p.wait(20 * spawned.factor)
        err = p.stderr.read()
        assert rc == 1, err
        assert str(port) in err
        assert not (tmp_path / "run" / "d.sock").exists(), "socket file left behind"
    finally:
        busy.close()


def test_tcp_ipv6_loopback(tmp_path, spawned):
    try:
        s = socket.socket(socket.AF_INET6)
        s.bind(("::1", 0))
        port = s.getsockname()[1]
        s.close()
    except OSError:
        pytest.skip("no IPv6 loopback here")
    cfg = write(tmp_path / "c.yaml",
                "listen:\n  - unix: run/d.sock\n" + tcp_listener(tmp_path, f'"[::1]:{port}"') + SMALL_POOLS)
    p = spawned(cfg)
    wait_for_socket(tmp_path / "run" / "d.sock", p, 10 * spawned.factor)
    s = socket.create_connection(("::1", port), timeout=10)
    s.sendall(msgpack.packb([0, 0, "auth", [TOKEN]]) + b"\x94\x00\x01\xa4ping\x90")
    want = b"\x94\x01\x00\xc0\xc3" + b"\x94\x01\x01\xc0\xa4pong"
    got = b""
    while len(got) < len(want):
        chunk = s.recv(100)
        assert chunk, f"closed after {got!r}"
        got += chunk
    assert got == want
    s.close()
    rc, err = stop(p)
    assert rc == 0, err


def test_extra_pools_and_routes_from_config(daemon_factory):
    d = daemon_factory(pools={"default": {"size": 1}, "io": {"size": 2}, "gpu": {"size": 1},
                              "batch-2_x": {"size": 3}},
                       routes={"requests": "io", "json:dumps": "default", "wave": "batch-2_x"})
    with d.connect() as c:
        assert c.ok("list_pool_registrations", []) == [
            {"module": "json", "function": "dumps", "pool": "default", "source": "config"},
            {"module": "requests", "function": None, "pool": "io", "source": "config"},
            {"module": "wave", "function": None, "pool": "batch-2_x", "source": "config"},
        ]
        assert c.ok("lookup_pool", ["wave", "open"]) == "batch-2_x"
    assert len(d.pool_pids("batch-2_x")) == 3
    assert len(d.pool_pids("gpu")) == 1
    assert len(d.pool_pids("io")) == 1  # thread mode: one executor...
    with d.connect() as c:
        assert c.ok("num_contexts", ["io"]) == 2  # ...of 2 threads


def test_io_pool_defaults_to_10_threads(daemon_factory, factor):
    d = daemon_factory(pools={"default": {"size": 1}})
    with d.connect() as c:
        assert c.ok("num_contexts", ["io"]) == 10
        # io is not among the pools the daemon_factory waits for: its one
        # executor may still be being forked (left out of contexts)
        wait_until(lambda: len(c.ok("contexts", ["io"])) == 1, 20 * factor, "io's one executor process")
        io = [p for p in c.ok("pools", []) if p["name"] == "io"][0]
        assert (io["mode"], io["size"]) == ("thread", 10)
        # ten sleeps overlap on the ten threads of one process
        t = time.monotonic()
        res = c.request_many([("call", ["helpers", "sleep_pid", [0.4], None, {"pool": "io"}])] * 10,
                             timeout=20 * factor)
        took = time.monotonic() - t
    assert all(e is None for e, _ in res), res
    assert len({r for _, r in res}) == 1
    assert took < 1.5 * factor, took


def test_executor_runs_with_config_python_path(daemon_factory):
    d = daemon_factory(modules={"pathcheck.py": "import sys\ndef first():\n    return sys.path[0]\n"})
    with d.connect() as c:
        assert c.ok("pathcheck.first", []) == str(d.pydir)


def test_check_tells_every_error_at_once(tmp_path):
    cfg = tmp_path / "c.yaml"
    cfg.write_text("listen:\n  - unix: a.sock\n  - unix: a.sock\npools:\n  io: {size: many}\n"
                   "python:\n  path: [missing]\n")
    out = subprocess.run([str(BINARY), "--check", "-c", str(cfg)], capture_output=True, text=True, timeout=30)
    assert out.returncode == 1
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 3, out.stderr
    assert lines[0].endswith(":3:5: listen[1]: listen[0] has that address already")
    assert ":5:14: pools.io.size:" in lines[1]
    assert lines[2].endswith(":7:10: python.path[0]: 'missing' is not a folder (it does not exist)")


def test_check_imports_the_preload_modules(tmp_path):
    (tmp_path / "mods").mkdir()
    (tmp_path / "mods" / "good.py").write_text("X = 1\n")
    (tmp_path / "mods" / "broken.py").write_text("raise RuntimeError('not today')\n")
    cfg = tmp_path / "c.yaml"
    cfg.write_text("listen:\n  - unix: a.sock\npython:\n  path: [mods]\n  preload: [json, good, broken, nosuch_q]\n")
    out = subprocess.run([str(BINARY), "--check", "-c", str(cfg)], capture_output=True, text=True, timeout=90)
    assert out.returncode == 1 and out.stdout == ""
    assert out.stderr.splitlines() == [
        f"pyrpoold: {cfg}: python.preload: cannot import 'broken': RuntimeError: not today",
        f"pyrpoold: {cfg}: python.preload: cannot import 'nosuch_q': ModuleNotFoundError: No module named 'nosuch_q'",
    ]
    cfg.write_text("listen:\n  - unix: a.sock\npython:\n  path: [mods]\n  preload: [json, good]\n")
    out = subprocess.run([str(BINARY), "--check", "-c", str(cfg)], capture_output=True, text=True, timeout=90)
    assert out.returncode == 0 and out.stdout.startswith(f"{cfg}: ok"), out.stderr


def test_the_readme_shows_the_root_config_as_it_is():
    readme = (HERE.parent.parent / "README.md").read_text()
    block = readme.split("`pyrpoold.yaml` at the root is what `make run` uses", 1)[1]
    block = block.split("```yaml\n", 1)[1].split("```", 1)[0]
    assert block == (HERE.parent.parent / "pyrpoold.yaml").read_text()


def test_the_readme_shows_the_help_as_it_is():
    readme = (HERE.parent.parent / "README.md").read_text()
    block = readme.split("$ pyrpoold --help\n", 1)[1].split("```", 1)[0]
    out = subprocess.run([str(BINARY), "--help"], capture_output=True, text=True, timeout=10)
    assert block == out.stdout
