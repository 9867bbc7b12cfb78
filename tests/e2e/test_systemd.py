"""systemd's notify protocol, checked with a datagram socket as
NOTIFY_SOCKET: READY=1 only once every pool is ready, RELOADING=1 then
READY=1 around a reload, STOPPING=1 at the drain, WATCHDOG=1 pings at half
WATCHDOG_USEC; executors never see those variables. And the reload method,
which does what SIGHUP does and answers how it ended."""
import os
import signal
import socket
import tempfile
import time

import pytest

from conftest import BINARY, Daemon, finish_daemon, slow_factor

SLOW_IMPORT = 0.8
POOLS = {"default": {"size": 2}, "io": {"size": 2, "mode": "thread"}}


class Notifications:
    """A datagram socket standing in for systemd's."""

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="pyrp-n-")
        self.path = os.path.join(self.dir, "notify.sock")
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(self.path)
        self.seen = []   # (monotonic time, {key: value})

    def next(self, timeout):
        self.sock.settimeout(timeout)
        data = self.sock.recv(4096).decode()
        msg = dict(line.split("=", 1) for line in data.splitlines())
        self.seen.append((time.monotonic(), msg))
        return msg

    def wait_for(self, key, timeout=20.0):
        """The next message that has key (others are kept in seen)."""
        deadline = time.monotonic() + timeout
        while True:
            msg = self.next(max(0.01, deadline - time.monotonic()))
            if key in msg:
                return msg

    def close(self):
        self.sock.close()
        os.unlink(self.path)
        os.rmdir(self.dir)


@pytest.fixture
def notes():
    n = Notifications()
    yield n
    n.close()


def start(tmp_path, request, notes, env=None, preload=True, **kw):
    environ = dict(os.environ, NOTIFY_SOCKET=notes.path, **(env or {}))
    d = Daemon(tmp_path, factor=slow_factor(request.config), pools=POOLS,
               modules={"slowstart.py": f"import time\ntime.sleep({SLOW_IMPORT})\n"},
               popen_kw={"env": environ}, **kw)
    if preload:
        d.config_path.write_text(d.config_path.read_text().replace(
            "  path: [py]\n", "  path: [py]\n  preload: [slowstart]\n"))
    d.t0 = time.monotonic()
    d.start(wait=False)
    return d


def test_ready_only_once_every_pool_is_ready(tmp_path, request, notes):
    d = start(tmp_path, request, notes)
    try:
        msg = notes.wait_for("READY")
        waited = time.monotonic() - d.t0
        with d.connect() as c:
            pools = c.ok("pools", [])
            assert all(p["starting"] == 0 and p["idle"] == p["size"] for p in pools), pools
            assert waited >= SLOW_IMPORT
            assert msg["READY"] == "1" and msg["STATUS"] == "pools 2, calls 0 done, 0 queued"
            # the executors do not see what is systemd's
            for pool in ("default", "io"):
                for var in ("NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID"):
                    assert c.ok("call", ["os", "getenv", [var], None, {"pool": pool}]) is None
        assert not any("WATCHDOG" in m for _, m in notes.seen)   # no watchdog asked for
    finally:
        finish_daemon(d)
    assert notes.wait_for("STOPPING", timeout=5)["STOPPING"] == "1"


def test_reloading_then_ready_around_a_reload(tmp_path, request, notes):
    d = start(tmp_path, request, notes)
    try:
        notes.wait_for("READY")
        d.send_signal(signal.SIGHUP)
        msg = notes.wait_for("RELOADING")
        sent = int(msg["MONOTONIC_USEC"])
        now = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
        assert 0 <= now - sent < 5_000_000
        began = time.monotonic()
        msg = notes.wait_for("READY")
        assert time.monotonic() - began >= SLOW_IMPORT * 0.9   # the new generation imported slowstart
        assert msg["STATUS"].startswith("pools 2, calls")
        # a file that does not load: RELOADING, then READY saying why
        good = d.config_path.read_text()
        d.config_path.write_text(good + "nonsense: 1\n")
        d.send_signal(signal.SIGHUP)
        notes.wait_for("RELOADING")
        msg = notes.wait_for("READY")
        assert msg["STATUS"].startswith("reload refused: ") and "nonsense" in msg["STATUS"], msg
        d.config_path.write_text(good)
    finally:
        finish_daemon(d)


def test_stopping_at_the_drain(tmp_path, request, notes):
    d = start(tmp_path, request, notes, preload=False)
    notes.wait_for("READY")
    d.send_signal(signal.SIGTERM)
    assert notes.wait_for("STOPPING", timeout=5)["STATUS"] == "draining the calls in flight"
    assert d.proc.wait(timeout=20) == 0


def test_watchdog_pings_at_half_the_interval(tmp_path, request, notes):
    d = start(tmp_path, request, notes, env={"WATCHDOG_USEC": "200000"}, preload=False)
    try:
        notes.wait_for("READY")
        t0 = time.monotonic()
        pings = 0
        while time.monotonic() - t0 < 1.0:
            if "WATCHDOG" in notes.next(1.0):
                pings += 1
        assert 6 <= pings <= 14, pings          # every 100 ms
        with d.connect() as c:
            assert c.ok("os.getenv", ["WATCHDOG_USEC"]) is None
    finally:
        finish_daemon(d)


def test_watchdog_stops_when_the_loop_is_stuck(tmp_path, request, notes):
    d = start(tmp_path, request, notes, env={"WATCHDOG_USEC": "200000"}, preload=False)
    try:
        notes.wait_for("READY")
        notes.wait_for("WATCHDOG")
        d.send_signal(signal.SIGSTOP)            # the loop cannot run
        time.sleep(0.3)
        with pytest.raises(socket.timeout):
            while True:                          # drain what was sent before the stop
                notes.next(0.25)
        d.send_signal(signal.SIGCONT)
        assert notes.wait_for("WATCHDOG", timeout=2)["WATCHDOG"] == "1"
    finally:
        finish_daemon(d)


def test_without_systemd_nothing_is_sent(daemon_factory):
    d = daemon_factory(pools={"default": {"size": 1}, "io": {"size": 1}})
    with d.connect() as c:
        assert c.ok("os.getenv", ["NOTIFY_SOCKET"]) is None


def test_version_says_what_systemd_support_is_built():
    import subprocess
    out = subprocess.run([str(BINARY), "--version"], capture_output=True, text=True, timeout=10)
    assert out.returncode == 0
    assert out.stdout.startswith("pyrpoold ") and "systemd: notify, watchdog, socket activation" in out.stdout


# ------------------------------------------------------------- reload method

def test_reload_method_answers_when_the_new_generation_serves(daemon_factory):
    d = daemon_factory(pools={"default": {"size": 1}, "io": {"size": 1}}, tcp=True,
                       modules={"version.py": "V = 1\ndef v():\n    return V\n"})
    with d.connect() as c:
        assert c.ok("version.v", []) == 1
        (d.pydir / "version.py").write_text("V = 2\ndef v():\n    return V\n")
        before = c.ok("contexts", ["default"])
        # two reloads asked at once: the second joins the first; both answered
        a, b = c.request_many([("reload", []), ("reload", [])], timeout=60)
        assert a == (None, True) and b == (None, True)
        assert c.ok("contexts", ["default"]) != before     # a new generation
        assert c.ok("version.v", []) == 2
        # a file that does not load: ReloadFailed with the reason; the daemon serves on
        good = d.config_path.read_text()
        d.config_path.write_text(good + "pools_typo: 1\n")
        err, _ = c.call("reload", [], timeout=60)
        assert err["type"] == "ReloadFailed" and "pools_typo" in err["message"], err
        assert c.ok("version.v", []) == 2
        d.config_path.write_text(good)
        err, _ = c.call("reload", [1])
        assert err == {"type": "BadRequest", "message": "reload takes no params", "traceback": None}
    with d.connect_tcp() as c:    # not an admin listener
        err, _ = c.call("reload", [])
        assert err["type"] == "Forbidden"


def test_reload_method_when_the_new_executors_cannot_start(daemon_factory):
    d = daemon_factory(pools={"default": {"size": 1}, "io": {"size": 1}})
    good = d.config_path.read_text()
    d.config_path.write_text(good.replace("  path: [py]\n", "  path: [py]\n  preload: [no_such_module_x]\n"))
    with d.connect() as c:
        err, _ = c.call("reload", [], timeout=60)
        assert err["type"] == "ReloadFailed" and "before it was ready" in err["message"], err
        assert c.ok("math.sqrt", [9]) == 3.0
    d.config_path.write_text(good)


# ---------------------------------------------------------- socket activation

ACTIVATE = "/usr/bin/systemd-socket-activate"


class Activated:
    """pyrpoold started the way systemd's socket units start it: by
    systemd-socket-activate, which listens first and starts the daemon at the
    first connection, passing the sockets with their names."""

    def __init__(self, tmp_path, names=("main", "remote"), fdnames="main:remote", unix_path=None):
        import subprocess
        from conftest import free_tcp_port
        self.dir = tempfile.mkdtemp(prefix="pyrp-a-")
        self.sock = os.path.join(self.dir, "d.sock")
        self.port = free_tcp_port()
        self.token = "activation-" + os.urandom(8).hex()
        token_file = tmp_path / "token"
        token_file.write_text(self.token + "\n")
        token_file.chmod(0o600)
        self.cfg = tmp_path / "pyrpoold.yaml"
        self.cfg.write_text(
            "listen:\n"
            f"  - unix: {unix_path or self.sock}\n    name: {names[0]}\n"
            f"  - tcp: 127.0.0.1:{self.port}\n    name: {names[1]}\n    token_file: {token_file}\n"
            "pools:\n  default: {size: 1}\n  io: {size: 1}\n")
        self.log = open(tmp_path / "daemon.stderr", "wb+")
        self.proc = subprocess.Popen(
            [ACTIVATE, "-l", self.sock, "-l", f"127.0.0.1:{self.port}", f"--fdname={fdnames}",
             str(BINARY), "-c", str(self.cfg)],
            stdout=self.log, stderr=self.log, stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while not os.path.exists(self.sock):
            assert self.proc.poll() is None and time.monotonic() < deadline, self.stderr()
            time.sleep(0.01)

    def stderr(self):
        self.log.seek(0)
        return self.log.read().decode(errors="replace")

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout=20)

    def cleanup(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.log.close()
        for name in os.listdir(self.dir):
            os.unlink(os.path.join(self.dir, name))
        os.rmdir(self.dir)


@pytest.fixture
def activated(tmp_path):
    made = []

    def make(**kw):
        folder = tmp_path / f"a{len(made)}"
        folder.mkdir()
        a = Activated(folder, **kw)
        made.append(a)
        return a
    yield make
    for a in made:
        a.cleanup()


def test_socket_activation_unix_and_tcp_by_name(activated):
    from conftest import Client
    a = activated()
    # the first connection starts the daemon; it is served, not lost
    with Client(a.sock, timeout=20) as c:
        assert c.ok("ping", []) == "pong"
        assert c.ok("math.sqrt", [16], timeout=20) == 4.0
        assert c.ok("os.getenv", ["LISTEN_FDS"]) is None          # not passed on to executors
        assert c.ok("hello", [])["admin"] is True
    # the TCP socket, with its listener's token and admin setting
    with Client(("127.0.0.1", a.port), timeout=20) as c:
        assert c.ok("auth", [a.token]) is True
        assert c.ok("math.sqrt", [9]) == 3.0
        assert c.call("register_pool", ["io", "json"])[0]["type"] == "Forbidden"
    with Client(("127.0.0.1", a.port), timeout=20) as c:
        assert c.call("ping", [])[0]["type"] == "Unauthorized"
    assert a.stop() == 0
    log = a.stderr()
    assert f"listening on unix:{a.sock} (a socket from systemd)" in log, log
    assert f"listening on tcp:127.0.0.1:{a.port} (a socket from systemd)" in log, log
    assert os.path.exists(a.sock)       # systemd's file: not removed at exit


def test_socket_activation_with_a_name_no_listener_has(activated):
    import socket as s
    a = activated(fdnames="main:other")
    with s.socket(s.AF_UNIX) as c:
        c.connect(a.sock)                 # starts it
        assert a.proc.wait(timeout=20) == 1
    assert "systemd passed a socket named 'other' that no listener of" in a.stderr()


def test_socket_activation_refuses_a_socket_every_user_may_use(activated):
    import socket as s
    a = activated()
    os.chmod(a.sock, 0o666)             # as systemd's SocketMode= default would make it
    with s.socket(s.AF_UNIX) as c:
        c.connect(a.sock)
        assert a.proc.wait(timeout=20) == 1
    assert "lets every user connect (mode 0666)" in a.stderr() and "SocketMode=" in a.stderr()


def test_socket_activation_at_another_path_than_the_config(activated, tmp_path):
    import socket as s
    a = activated(unix_path=str(tmp_path / "elsewhere.sock"))
    with s.socket(s.AF_UNIX) as c:
        c.connect(a.sock)
        assert a.proc.wait(timeout=20) == 1
    assert "systemd passed a socket at" in a.stderr() and "must name the same path" in a.stderr()
