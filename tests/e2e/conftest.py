"""Shared machinery for pyrpoold's end-to-end tests.

Every test talks to a real daemon (build/pyrpoold, next to this repository's
Makefile) over its Unix socket (or TCP). A daemon is started on a config
written into a temporary folder, with a python path folder ("py") holding the
helper modules below plus any the test asks for; start-up waits until `ping`
answers and a call on every configured pool has run (executors ready).

At teardown every daemon must still be alive and answer `ping`, then it gets
SIGTERM and must exit with status 0 (under --valgrind: with no valgrind error
and no definite leak either).

Fixtures:
  daemon_factory   function-scoped: daemon_factory(**config) -> Daemon (started)
  Daemon.client()  a connected Client

Module-scoped daemons are made with `module_daemon(request, tmp_path_factory,
**config)`, used by the test files' own fixtures.
"""
import contextlib
import json
import os
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import msgpack
import pytest

HERE = Path(__file__).resolve().parent
BINARY = (HERE / ".." / ".." / "build" / "pyrpoold").resolve()

# The project's Python client, imported in place (clients/python), so that
# every run of the suite exercises it.
PYRPOOL_SRC = (HERE / ".." / ".." / "clients" / "python").resolve()
if str(PYRPOOL_SRC) not in sys.path:
    sys.path.insert(0, str(PYRPOOL_SRC))
import pyrpool  # noqa: E402

VALGRIND_CMD = ["valgrind", "--error-exitcode=99", "--leak-check=full",
                "--errors-for-leak-kinds=definite", "-q"]

# Modules every daemon finds on its python path.
ECHO_PY = """\
def echo(x):
    return x


def typename(x):
    return type(x).__name__
"""

HELPERS_PY = '''\
"""Helpers for the end-to-end tests (written by conftest.py)."""
import os
import sys
import time


def pid():
    return os.getpid()


def sleep_pid(seconds):
    time.sleep(seconds)
    return os.getpid()


def sleep_echo(value, seconds):
    time.sleep(seconds)
    return value


def times(start_delay, seconds):
    """Returns (start, end) wall-clock times around a sleep."""
    time.sleep(start_delay)
    t0 = time.time()
    time.sleep(seconds)
    return [t0, time.time(), os.getpid()]


def started_sleep(path, seconds, value=None):
    """Creates path as soon as the call runs, then sleeps; returns value.
    A test waits for path instead of sleeping to know the call started."""
    with open(path, "w") as f:
        f.write(str(os.getpid()))
    time.sleep(seconds)
    return value


def started_spin(path):
    """Creates path as soon as the call runs, then loops in Python forever."""
    with open(path, "w") as f:
        f.write(str(os.getpid()))
    n = 0
    while True:
        n += 1


def die(code):
    os._exit(code)


def kill_self(sig):
    os.kill(os.getpid(), sig)


def record(path, text, seconds=0.0):
    """Appends a line to path (after sleeping), returns the pid."""
    time.sleep(seconds)
    with open(path, "a") as f:
        f.write(text + "\\n")
    return os.getpid()


def add_kw(a, b=0, *, c=0):
    return [a, b, c]


def kwargs_echo(*args, **kwargs):
    return [list(args), kwargs]


def raise_value_error(msg):
    raise ValueError(msg)


def sysexit(code):
    sys.exit(code)


class Custom(Exception):
    pass


def raise_custom(msg):
    raise Custom(msg)


def make(kind):
    """Returns values that do or do not fit the MessagePack type mapping."""
    if kind == "object":
        return object()
    if kind == "big":
        return 2 ** 64
    if kind == "neg_big":
        return -2 ** 63 - 1
    if kind == "cycle":
        a = []
        a.append(a)
        return a
    if kind == "set":
        return {1, 2}
    if kind == "surrogate":
        return "a\\udc80b"
    if kind == "bytearray":
        return bytearray(b"\\x00ab\\xff")
    if kind == "tuple":
        return (1, "two", (3.0, None))
    if kind == "nested_bad":
        return {"a": [1, {"b": object()}]}
    if kind == "generator":
        return (i for i in range(3))
    if kind == "ok_nested":
        return {"k": [1, 2, {"x": (b"y", bytearray(b"z"))}]}
    raise KeyError(kind)


def recurse(n):
    return recurse(n + 1)


def big_string(n):
    return "x" * n
'''


def pytest_addoption(parser):
    parser.addoption("--valgrind", action="store_true", default=False,
                     help="run every daemon under valgrind (memcheck); a valgrind error or a "
                          "definite leak makes the daemon's exit status non-zero")


@pytest.fixture(scope="session")
def valgrind(request):
    on = request.config.getoption("--valgrind")
    if on and shutil.which("valgrind") is None:
        pytest.fail("--valgrind given but valgrind is not installed")
    return on


def slow_factor(config):
    """How much slower everything is (timing bounds are multiplied by it)."""
    return 6.0 if config.getoption("--valgrind") else 1.0


# ---------------------------------------------------------------- client --

class ConnectionClosed(Exception):
    """The daemon closed the connection."""


class Client:
    """A MessagePack-RPC client over a Unix (path) or TCP ((host, port)) socket.

    Responses are matched by msgid; responses to other msgids that arrive
    meanwhile are kept for later. Every socket operation has a timeout.
    """

    def __init__(self, address, timeout=30.0):
        if isinstance(address, tuple):
            self.sock = socket.create_connection(address, timeout=timeout)
        else:
            self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            self.sock.settimeout(timeout)
            self.sock.connect(str(address))
        self.sock.settimeout(timeout)
        self.timeout = timeout
        self.unpacker = msgpack.Unpacker(raw=False, strict_map_key=False)
        self.pending = {}        # msgid -> [responses], arrived but not taken
        self.arrivals = []       # msgids of those, in arrival order
        self.order = []          # every response ever received, in arrival order
        self.next_msgid = 1
        self.eof = False

    # -- sending --
    def _msgid(self):
        m = self.next_msgid
        self.next_msgid = (self.next_msgid + 1) % (2 ** 32)
        return m

    def send_raw(self, data):
        self.sock.sendall(data)

    def send(self, method, params, msgid=None):
        """Sends a request; returns its msgid."""
        if msgid is None:
            msgid = self._msgid()
        self.send_raw(msgpack.packb([0, msgid, method, params]))
        return msgid

    def notify(self, method, params):
        self.send_raw(msgpack.packb([2, method, params]))

    # -- receiving --
    def _fill(self, deadline):
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise socket.timeout("no answer from the daemon in time")
        self.sock.settimeout(remaining)
        try:
            data = self.sock.recv(1 << 20)
        except ConnectionResetError:
            data = b""
        finally:
            self.sock.settimeout(self.timeout)
        if not data:
            self.eof = True
            raise ConnectionClosed("the daemon closed the connection")
        self.unpacker.feed(data)
        for msg in self.unpacker:
            self.order.append(msg)
            assert isinstance(msg, list) and len(msg) == 4 and msg[0] == 1, \
                f"not a response: {msg!r}"
            key = msg[1]
            if key is not None:
                assert key not in self.pending, f"msgid {key!r} answered twice"
            self.pending.setdefault(key, []).append(msg)
            self.arrivals.append(key)

    def _take(self, key):
        msg = self.pending[key].pop(0)
        if not self.pending[key]:
            del self.pending[key]
        self.arrivals.remove(key)
        return msg

    def recv_response(self, timeout=None):
        """The next response not taken yet, in arrival order (whatever its msgid)."""
        deadline = time.monotonic() + (timeout or self.timeout)
        while not self.arrivals:
            self._fill(deadline)
        return self._take(self.arrivals[0])

    def wait(self, msgid, timeout=None):
        """The response [1, msgid, error, result] to msgid."""
        deadline = time.monotonic() + (timeout or self.timeout)
        while msgid not in self.pending:
            self._fill(deadline)
        return self._take(msgid)

    def call(self, method, params, timeout=None):
        """Sends one request and returns (error, result)."""
        msgid = self.send(method, params)
        msg = self.wait(msgid, timeout)
        return msg[2], msg[3]

    def ok(self, method, params, timeout=None):
        """Like call, but the call must succeed; returns the result."""
        err, result = self.call(method, params, timeout)
        assert err is None, f"{method} {params!r} failed: {err!r}"
        return result

    def pycall(self, module, function, args=None, kwargs=None, opts=None, timeout=None):
        """`call` [module, function, args, kwargs, opts] -> (error, result)."""
        params = [module, function, args]
        if kwargs is not None or opts is not None:
            params.append(kwargs)
        if opts is not None:
            params.append(opts)
        return self.call("call", params, timeout)

    def request_many(self, requests, timeout=None, msgids=None):
        """Pipelines requests [(method, params), ...] in one write and returns
        their responses [(error, result), ...] in request order."""
        if msgids is None:
            msgids = [self._msgid() for _ in requests]
        data = b"".join(msgpack.packb([0, m, meth, params])
                        for m, (meth, params) in zip(msgids, requests))
        self.send_raw(data)
        deadline = time.monotonic() + (timeout or self.timeout)
        out = []
        for m in msgids:
            msg = self.wait(m, max(0.001, deadline - time.monotonic()))
            out.append((msg[2], msg[3]))
        return out

    def expect_closed(self, timeout=10.0):
        """True when the daemon closes the connection within timeout
        (answers that arrive before the close are kept)."""
        deadline = time.monotonic() + timeout
        try:
            while True:
                self._fill(deadline)
        except ConnectionClosed:
            return True
        except socket.timeout:
            return False

    def nothing_arrives(self, seconds):
        """True when no byte arrives for seconds (and the connection stays open)."""
        r, _, _ = select.select([self.sock], [], [], seconds)
        return not r

    def close(self):
        with contextlib.suppress(OSError):
            self.sock.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


# ---------------------------------------------------------------- daemon --

def free_tcp_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def yaml_scalar(v):
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return str(v)
    return json.dumps(str(v))   # a JSON string is a valid YAML double-quoted scalar


class Daemon:
    """One pyrpoold process on a config written into folder."""

    DEFAULT_POOLS = {"default": {"size": 2, "mode": "process"},
                     "io": {"size": 4, "mode": "process"}}

    def __init__(self, folder, *, valgrind=False, factor=1.0, pools=None, routes=None,
                 allow_eval=False, max_message_size=None, tcp=False, modules=None,
                 extra_yaml="", socket_name="run/pyrpoold.sock", new_session=False, allow=None,
                 popen_kw=None, unix_opts=None, tcp_opts=None):
        self.folder = Path(folder)
        self.new_session = new_session   # its own session and process group
        self.folder.mkdir(parents=True, exist_ok=True)
        self.valgrind = valgrind
        self.factor = factor
        self.pools = dict(self.DEFAULT_POOLS if pools is None else pools)
        self.routes = dict(routes or {})
        self.allow_eval = allow_eval
        self.allow = allow                 # python.allow, when not None
        self.unix_opts = dict(unix_opts or {})   # more keys of the unix listener (mode, admin, ...)
        self.tcp_opts = dict(tcp_opts or {})     # and of the tcp one
        self.popen_kw = dict(popen_kw or {})   # more for subprocess.Popen (pass_fds, ...)
        self.max_message_size = max_message_size
        self.pydir = self.folder / "py"
        self.pydir.mkdir(exist_ok=True)
        self.config_path = self.folder / "pyrpoold.yaml"
        self.stderr_path = self.folder / "daemon.stderr"
        self.stdout_path = self.folder / "daemon.stdout"
        self.proc = None
        self.returncode = None
        self.clients = []
        self._shortdir = None
        # The socket path must fit in sun_path (107 bytes).
        if len(str(self.folder / socket_name)) > 100:
            self._shortdir = tempfile.mkdtemp(prefix="pyrp-")
            self.socket_path = Path(self._shortdir) / "d.sock"
            self.socket_yaml = str(self.socket_path)
        else:
            self.socket_path = self.folder / socket_name
            self.socket_yaml = socket_name       # relative: resolved from the config folder
        self.tcp_port = free_tcp_port() if tcp else None
        self.token = "t0ken-" + os.urandom(12).hex()   # a TCP listener's (token_file)
        self.token_path = self.folder / "token"
        (self.pydir / "echo.py").write_text(ECHO_PY)
        (self.pydir / "helpers.py").write_text(HELPERS_PY)
        for name, src in (modules or {}).items():
            path = self.pydir / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(textwrap.dedent(src))
        self.extra_yaml = extra_yaml
        self.write_config()

    def write_config(self):
        lines = ["listen:", f"  - unix: {yaml_scalar(self.socket_yaml)}"]
        lines += [f"    {k}: {yaml_scalar(v)}" for k, v in self.unix_opts.items()]
        if self.tcp_port:
            self.token_path.write_text(self.token + "\n")
            self.token_path.chmod(0o600)
            lines += [f"  - tcp: 127.0.0.1:{self.tcp_port}", f"    token_file: {yaml_scalar(str(self.token_path))}"]
            lines += [f"    {k}: {yaml_scalar(v)}" for k, v in self.tcp_opts.items()]
        lines.append("pools:")
        for name, spec in self.pools.items():
            inner = ", ".join(f"{k}: {yaml_scalar(v)}" for k, v in spec.items())
            lines.append(f"  {name}: {{{inner}}}")
        lines += ["python:", "  path: [py]", f"  allow_eval: {yaml_scalar(self.allow_eval)}"]
        if self.allow is not None:
            lines.append("  allow: [" + ", ".join(yaml_scalar(a) for a in self.allow) + "]")
        if self.routes:
            lines.append("routes:")
            for k, v in self.routes.items():
                lines.append(f"  {yaml_scalar(k)}: {yaml_scalar(v)}")
        if self.max_message_size is not None:
            lines += ["limits:", f"  max_message_size: {self.max_message_size}"]
        text = "\n".join(lines) + "\n" + self.extra_yaml
        self.config_path.write_text(text)

    # -- life cycle --
    def command(self):
        cmd = [str(BINARY), "-c", str(self.config_path)]
        return (VALGRIND_CMD + cmd) if self.valgrind else cmd

    def start(self, wait=True):
        assert BINARY.exists(), f"{BINARY} is missing: run `make -C {HERE.parent.parent} all`"
        self._err = open(self.stderr_path, "wb")
        self._out = open(self.stdout_path, "wb")
        self.proc = subprocess.Popen(self.command(), stdin=subprocess.DEVNULL,
                                     stdout=self._out, stderr=self._err, cwd="/",
                                     start_new_session=self.new_session, **self.popen_kw)
        if wait:
            self.wait_ready()
        return self

    def stderr_text(self, tail=200):
        try:
            lines = self.stderr_path.read_text(errors="replace").splitlines()
        except OSError:
            return "(no stderr file)"
        return "\n".join(lines[-tail:])

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def connect(self, timeout=30.0):
        c = Client(self.socket_path, timeout=timeout * self.factor)
        self.clients.append(c)
        return c

    client = connect

    def connect_tcp(self, timeout=30.0, auth=True):
        """A TCP client; auth: it sends auth [token] first, as it must."""
        c = Client(("127.0.0.1", self.tcp_port), timeout=timeout * self.factor)
        self.clients.append(c)
        if auth:
            assert c.ok("auth", [self.token]) is True
        return c

    def pyrpool_client(self, answer_timeout=30.0, **kw):
        """A pyrpool.Client (clients/python) on the Unix socket; every wait
        for an answer bounded by answer_timeout (times the slow-down factor)."""
        c = pyrpool.Client(f"unix:{self.socket_path}", answer_timeout=answer_timeout * self.factor,
                           connect_timeout=10 * self.factor, **kw)
        self.clients.append(c)
        return c

    def pyrpool_tcp_client(self, answer_timeout=30.0, **kw):
        """A pyrpool.Client on the TCP listener, with its token."""
        kw.setdefault("token", self.token)
        c = pyrpool.Client(f"tcp://127.0.0.1:{self.tcp_port}", answer_timeout=answer_timeout * self.factor,
                           connect_timeout=10 * self.factor, **kw)
        self.clients.append(c)
        return c

    def wait_ready(self, timeout=10.0):
        """Bounded wait until ping answers and every pool runs a call."""
        deadline = time.monotonic() + timeout * (6 if self.valgrind else 1)
        last = None
        while time.monotonic() < deadline:
            if not self.alive():
                raise AssertionError(
                    f"pyrpoold exited with status {self.proc.returncode} during start-up\n"
                    f"--- stderr ---\n{self.stderr_text()}")
            try:
                with Client(self.socket_path, timeout=5 * self.factor) as c:
                    assert c.ok("ping", []) == "pong"
                    if self.allow is not None and "helpers.*" not in self.allow:
                        if not self._pools_started(c):   # python.allow: no call to make
                            time.sleep(0.05)
                            continue
                        return self
                    for pool in self.pools:
                        pid = c.ok("call", ["helpers", "pid", [], None, {"pool": pool}])
                        assert isinstance(pid, int) and pid > 0
                return self
            except (OSError, ConnectionClosed, socket.timeout) as e:
                last = e
                time.sleep(0.05)
        raise AssertionError(f"pyrpoold not ready after {timeout}s ({last!r})\n"
                             f"--- stderr ---\n{self.stderr_text()}")

    def _pools_started(self, c):
        """Every pool of the config has its executors up (from `pools`)."""
        info = {p["name"]: p for p in c.ok("pools", [])}
        return all(name in info and info[name]["starting"] == 0 and info[name]["idle"] + info[name]["busy"] > 0
                   for name in self.pools)

    def pool_mode(self, pool):
        """The mode pool was configured with (io defaults to thread mode)."""
        spec = self.pools.get(pool, {})
        return spec.get("mode", "thread" if pool == "io" else "process")

    def pool_pids(self, pool, size=None, timeout=10.0):
        """The pids of every executor of pool, once all of them answer (bounded).
        A thread-mode pool has one executor."""
        if size is None:
            size = 1 if self.pool_mode(pool) == "thread" else self.pools[pool]["size"]
        deadline = time.monotonic() + timeout * self.factor
        with self.connect() as c:
            while True:
                res = c.request_many([("call", ["helpers", "sleep_pid", [0.15], None, {"pool": pool}])]
                                     * size)
                pids = {r for e, r in res if e is None}
                if len(pids) == size:
                    return pids
                assert time.monotonic() < deadline, \
                    f"pool {pool}: only {len(pids)} of {size} executors answer"

    def send_signal(self, sig):
        self.proc.send_signal(sig)

    def wait_exit(self, timeout=20.0):
        """Waits (bounded) for the process to end; returns its exit status."""
        try:
            self.returncode = self.proc.wait(timeout * (6 if self.valgrind else 1))
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)
            raise AssertionError(f"pyrpoold did not exit within {timeout}s\n"
                                 f"--- stderr ---\n{self.stderr_text()}")
        return self.returncode

    def stop(self, sig=signal.SIGTERM):
        """SIGTERM and bounded wait; returns the exit status."""
        for c in self.clients:
            c.close()
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        rc = self.wait_exit()
        self.cleanup()
        return rc

    def kill(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(10)
        self.cleanup()

    def cleanup(self):
        for f in ("_err", "_out"):
            if hasattr(self, f):
                getattr(self, f).close()
        if self._shortdir:
            shutil.rmtree(self._shortdir, ignore_errors=True)
            self._shortdir = None

    def finish(self):
        """The teardown check: still alive and serving, then a clean stop."""
        try:
            assert self.alive(), (f"pyrpoold died during the test (status {self.proc.returncode})"
                                  f"\n--- stderr ---\n{self.stderr_text()}")
            try:
                with Client(self.socket_path, timeout=10 * self.factor) as c:
                    pong = c.ok("ping", [])
            except Exception as e:  # noqa: BLE001 -- reported below
                pong = repr(e)
            assert pong == "pong", (f"pyrpoold no longer serves at the end of the test: {pong}"
                                    f"\n--- stderr ---\n{self.stderr_text()}")
            rc = self.stop()
            what = "valgrind found errors or definite leaks (status 99)" if rc == 99 else ""
            assert rc == 0, (f"pyrpoold exited with status {rc} after SIGTERM {what}"
                             f"\n--- stderr ---\n{self.stderr_text()}")
            assert not self.socket_path.exists(), "the socket file is still there after SIGTERM"
        finally:
            self.kill()


ACTIVE = []   # running daemons, whose stderr is shown when a test fails


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    if rep.failed:
        for d in ACTIVE:
            rep.sections.append((f"pyrpoold stderr ({d.folder})", d.stderr_text(80)))


def start_daemon(folder, config, **kw):
    d = Daemon(folder, valgrind=config.getoption("--valgrind"), factor=slow_factor(config), **kw)
    ACTIVE.append(d)
    try:
        d.start()
    except BaseException:
        d.kill()
        ACTIVE.remove(d)
        raise
    return d


def finish_daemon(d):
    try:
        d.finish()
    finally:
        if d in ACTIVE:
            ACTIVE.remove(d)


@pytest.fixture
def daemon_factory(request, tmp_path):
    """daemon_factory(**config) starts a daemon on its own config and folder."""
    started = []

    def make(**kw):
        folder = tmp_path / f"d{len(started)}"
        d = start_daemon(folder, request.config, **kw)
        started.append(d)
        return d

    yield make
    errors = []
    for d in started:
        try:
            finish_daemon(d)
        except AssertionError as e:
            errors.append(str(e))
    assert not errors, "\n\n".join(errors)


@pytest.fixture
def daemon(daemon_factory):
    """A daemon with the default test config (default: 2, io: 4)."""
    return daemon_factory()


@pytest.fixture
def client_factory(daemon):
    """Opens a new Client on the `daemon` fixture's socket at each call."""
    return daemon.connect


def module_daemon(request, tmp_path_factory, name, **kw):
    """Starts a daemon for a whole test module; use from a module-scoped
    fixture as `d = module_daemon(...); yield d; finish_daemon(d)`."""
    folder = tmp_path_factory.mktemp(name)
    return start_daemon(folder, request.config, **kw)


def run_check(cfg):
    """pyrpoold --check -c cfg, bounded: its CompletedProcess (text)."""
    return subprocess.run([str(BINARY), "--check", "-c", str(cfg)], capture_output=True, text=True, timeout=60)


def wait_until(predicate, timeout, what="the expected state", interval=0.01):
    """Polls predicate() until it returns a true value, which it returns;
    fails the test if that takes more than timeout seconds (the caller
    scales timeout by the slow-down factor)."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        assert time.monotonic() < deadline, f"not within {timeout:.2f}s: {what}"
        time.sleep(interval)


def pool_status(client, pool):
    """The `pools` entry of pool (a map of its counters)."""
    info = {p["name"]: p for p in client.ok("pools", [])}
    assert pool in info, f"pools has no {pool}: {sorted(info)}"
    return info[pool]


def wait_pool(client, pool, timeout, what=None, **counters):
    """Waits (bounded) until pool's `pools` entry has the given counters, e.g.
    wait_pool(c, "solo", 5, busy=1, queued=0); returns that entry."""
    def check():
        p = pool_status(client, pool)
        return p if all(p[k] == v for k, v in counters.items()) else None
    return wait_until(check, timeout, what or f"pool {pool} with {counters}")


def proc_stat(pid):
    """State, parent, group and start time of pid from /proc, or None once
    it is gone (the read itself fails with ESRCH if it goes in between)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            text = f.read()
    except (FileNotFoundError, ProcessLookupError):
        return None
    rest = text.rsplit(")", 1)[1].split()
    return {"state": rest[0], "ppid": int(rest[1]), "pgrp": int(rest[2]), "start": int(rest[19])}


def ppid(pid):
    """The parent of pid, or None once pid is gone."""
    st = proc_stat(pid)
    return st and st["ppid"]


def pid_alive(pid):
    """pid runs: not gone, and not a zombie waiting for its parent."""
    st = proc_stat(pid)
    return st is not None and st["state"] != "Z"


def wait_file(path, timeout, what=None):
    """Waits (bounded) until path exists (e.g. written by started_sleep)."""
    path = Path(path)
    return wait_until(path.exists, timeout, what or f"{path.name} written by the call")


def assert_recycled_every(pids, n):
    """pids: the pids that answered calls sent one at a time to a pool whose
    executor is replaced every n calls. The first share may have begun
    before (earlier calls): past it, each pid serves exactly n calls."""
    changes = [i for i in range(1, len(pids)) if pids[i] != pids[i - 1]]
    assert len(changes) >= 2, pids
    assert changes[1] - changes[0] == n, pids
    if len(changes) > 2:
        assert changes[2] - changes[1] == n, pids


@pytest.fixture
def factor(request):
    return slow_factor(request.config)


def remote_error(fn, *args, **kwargs):
    """The pyrpool.RemoteError that fn(*args, **kwargs) raises (the test fails
    if it returns or raises anything else); its class must be the one for its
    .type: the daemon's own class, else pyrpool.PythonError."""
    with pytest.raises(pyrpool.RemoteError) as info:
        fn(*args, **kwargs)
    e = info.value
    assert type(e) is pyrpool.DAEMON_ERRORS.get(e.type, pyrpool.PythonError), (type(e), e.type)
    return e
