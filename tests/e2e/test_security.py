"""Who may do what (README "Security"): what code in a call can reach of
the daemon and of the machine, and what python.allow lets a client call.

Each door is tried the way a call or a client would, not by looking at the
code: a call tries pidfd_getfd and /proc on the master; the executors'
descriptors and core-file limit are read from /proc; a client calls
os.system."""
import os
import resource
import shutil
import subprocess
import tempfile
import time

import msgpack
import pytest

from conftest import BINARY, Daemon, finish_daemon, slow_factor, start_daemon, wait_until

PROBE_PY = """\
import ctypes
import os

SYS_PIDFD_GETFD = 438


def grab(pid):
    \"\"\"What this call can take from process pid: each attempt's outcome.\"\"\"
    out = {}
    libc = ctypes.CDLL(None, use_errno=True)
    pidfd = os.pidfd_open(pid)
    try:
        fd = libc.syscall(SYS_PIDFD_GETFD, pidfd, 0, 0)
        out["pidfd_getfd"] = "ok" if fd >= 0 else os.strerror(ctypes.get_errno())
        if fd >= 0:
            os.close(fd)
    finally:
        os.close(pidfd)
    try:
        with open(f"/proc/{pid}/mem", "rb"):   # opening it takes ptrace rights
            out["mem"] = "ok"
    except OSError as e:
        out["mem"] = e.strerror
    try:
        os.readlink(f"/proc/{pid}/fd/0")
        out["fd"] = "ok"
    except OSError as e:
        out["fd"] = e.strerror
    return out


def fds():
    # this process's descriptors: fd -> what it is
    out = {}
    for n in os.listdir("/proc/self/fd"):
        try:
            out[int(n)] = os.readlink(f"/proc/self/fd/{n}")
        except OSError:   # the descriptor listdir itself used
            pass
    return out


def core_limit():
    import resource
    return list(resource.getrlimit(resource.RLIMIT_CORE))


def segfault():
    ctypes.string_at(0)
"""

SIDE_EFFECT_PY = """\
import os

open(os.environ.get("SIDE_EFFECT_MARK", "/nonexistent/mark"), "w").close()


def f():
    return "imported"
"""


TOOLS_PY = """\
class T:
    @staticmethod
    def twice(x):
        return 2 * x
"""


def err_type(err):
    return err["type"] if isinstance(err, dict) else err


# --------------------------------------------- what a call can reach --

def test_a_call_cannot_take_the_masters_sockets_or_memory(daemon_factory, factor):
    """The master is not dumpable and executors give up CAP_SYS_PTRACE, so
    even with the daemon running as root a call cannot take the master's
    descriptors (pidfd_getfd: a client's socket, to forge answers) nor read
    its memory or the descriptors it holds. The same probe on a process it
    may reach (its own executor, from another one) works."""
    d = daemon_factory(modules={"probe.py": PROBE_PY},
                       pools={"default": {"size": 1}, "io": {"size": 1, "mode": "thread"}})
    with d.connect() as c:
        for pool in ("default", "io"):
            got = c.ok("call", ["probe", "grab", [d.proc.pid], None, {"pool": pool}], timeout=10 * factor)
            assert got == {"pidfd_getfd": "Operation not permitted", "mem": "Permission denied",
                           "fd": "Permission denied"}, (pool, got)
        other = c.ok("call", ["os", "getpid", [], None, {"pool": "default"}], timeout=10 * factor)
        got = c.ok("call", ["probe", "grab", [other], None, {"pool": "io"}], timeout=10 * factor)
        assert got == {"pidfd_getfd": "ok", "mem": "ok", "fd": "ok"}, got


NOBODY = 65534


@pytest.fixture
def as_nobody(request):
    """A daemon run as the unprivileged user nobody (so that nothing but
    the daemon's own measures stands between a call and the master), in a
    folder nobody may use; skipped when the tests do not run as root."""
    if os.geteuid() != 0:
        pytest.skip("starting the daemon as another user takes root")
    folder = tempfile.mkdtemp(prefix="pyrp-nobody-")
    os.chmod(folder, 0o755)
    started = []

    def make(**kw):
        sub = os.path.join(folder, f"d{len(started)}")
        os.makedirs(os.path.join(sub, "py"))
        for path in (sub, os.path.join(sub, "py")):
            os.chown(path, NOBODY, NOBODY)
        d = start_daemon(sub, request.config, popen_kw={"user": NOBODY, "group": NOBODY, "extra_groups": []},
                         **kw)
        started.append(d)
        return d

    yield make
    for d in started:
        finish_daemon(d)
    shutil.rmtree(folder, ignore_errors=True)


def test_as_an_unprivileged_user_a_call_cannot_reach_the_master(as_nobody, factor):
    """The daemon as an ordinary user: its executors have no capability to
    give up, so only the master being non-dumpable keeps a call (same uid)
    from taking its client sockets with pidfd_getfd, opening its memory or
    reading its descriptors; another executor of the same user stays
    reachable, as any process of that user would be."""
    d = as_nobody(modules={"probe.py": PROBE_PY}, pools={"default": {"size": 1}, "io": {"size": 1}})
    with d.connect() as c:
        assert c.ok("call", ["os", "getuid", [], None, None]) == NOBODY
        got = c.ok("call", ["probe", "grab", [d.proc.pid], None, {"pool": "default"}], timeout=10 * factor)
        assert got == {"pidfd_getfd": "Operation not permitted", "mem": "Permission denied",
                       "fd": "Permission denied"}, got
        other = c.ok("call", ["os", "getpid", [], None, {"pool": "default"}], timeout=10 * factor)
        got = c.ok("call", ["probe", "grab", [other], None, {"pool": "io"}], timeout=10 * factor)
        assert got == {"pidfd_getfd": "ok", "mem": "ok", "fd": "ok"}, got


def test_executors_keep_only_their_own_descriptors(daemon_factory, factor, tmp_path):
    """A descriptor the daemon's launcher left open (here: a file passed to
    it) does not reach any executor, forked or spawned, process or thread
    mode: a call sees stdin, its stdout and stderr (pipes the master reads
    into its log), its socket to the master on fd 3, the daemon's log on
    fd 5 (where the executor writes its own lines), and the pipe its
    executor made for itself (reaping what calls start), nothing else."""
    leaked = str(tmp_path / "leak.txt")
    leak = os.open(leaked, os.O_CREAT | os.O_RDWR, 0o600)
    try:
        d = daemon_factory(modules={"probe.py": PROBE_PY}, popen_kw={"pass_fds": (leak,)},
                           pools={"default": {"size": 1}, "io": {"size": 1, "mode": "thread"},
                                  "fresh": {"size": 1, "preload_in_template": False}})
        assert os.path.exists(f"/proc/{d.proc.pid}/fd/{leak}"), "the daemon did not get the descriptor"
        with d.connect() as c:
            for pool in ("default", "io", "fresh"):
                got = {int(k): v for k, v in c.ok("call", ["probe", "fds", [], None, {"pool": pool}],
                                                   timeout=10 * factor).items()}
                assert leaked not in got.values(), (pool, got)
                assert got[0] == "/dev/null" and got[1].startswith("pipe:") and got[2].startswith("pipe:")
                assert got[1] != got[2], (pool, got)
                assert got[3].startswith("socket:") and got[5] == str(d.stderr_path), (pool, got)
                assert all(v.startswith("pipe:") for k, v in got.items() if k > 5 or k == 4), (pool, got)
    finally:
        os.close(leak)


def _raise_core_limit():
    resource.setrlimit(resource.RLIMIT_CORE, (resource.RLIM_INFINITY, resource.RLIM_INFINITY))


def test_no_core_files_unless_asked(daemon_factory, factor):
    """Started with core files allowed, the daemon still runs its executors
    with RLIMIT_CORE 0 (a segfault in a call writes no core file);
    limits.core_files: true leaves the limit as the daemon got it."""
    d = daemon_factory(modules={"probe.py": PROBE_PY}, popen_kw={"preexec_fn": _raise_core_limit},
                       pools={"default": {"size": 1}, "io": {"size": 1}})
    with d.connect() as c:
        got = c.ok("call", ["probe", "core_limit", [], None, {"pool": "default"}], timeout=10 * factor)
        assert got[0] == 0, got
        before = set(os.listdir("/"))
        err, _ = c.call("call", ["probe", "segfault", [], None, {"pool": "default"}], timeout=10 * factor)
        assert err_type(err) == "WorkerCrashed", err
        assert not {n for n in set(os.listdir("/")) - before if n.startswith("core")}

    d2 = daemon_factory(modules={"probe.py": PROBE_PY}, popen_kw={"preexec_fn": _raise_core_limit},
                        pools={"default": {"size": 1}, "io": {"size": 1}},
                        extra_yaml="limits:\n  core_files: true\n")
    with d2.connect() as c:
        got = c.ok("call", ["probe", "core_limit", [], None, {"pool": "default"}], timeout=10 * factor)
        assert got[0] == resource.RLIM_INFINITY, got


# ------------------------------------------------------ python.allow --

@pytest.fixture
def allowed(daemon_factory, tmp_path, monkeypatch):
    """A daemon whose python.allow names math, json, helpers.* and tools only."""
    monkeypatch.setenv("SIDE_EFFECT_MARK", str(tmp_path / "imported.mark"))
    d = daemon_factory(modules={"sidefx.py": SIDE_EFFECT_PY, "probe.py": PROBE_PY, "tools.py": TOOLS_PY},
                       allow=["math", "json", "helpers.*", "tools"],
                       pools={"default": {"size": 1}, "io": {"size": 1}})
    d.mark = tmp_path / "imported.mark"
    return d


def test_allow_refuses_every_other_module(allowed, factor):
    """os.system, builtins.eval, subprocess.run, pickle.loads: Forbidden,
    naming the module; math, json and helpers work; nothing else is even
    imported (a module with an import side effect leaves no trace)."""
    d = allowed
    with d.connect() as c:
        assert c.ok("math.sqrt", [16.0]) == 4.0
        assert c.ok("call", ["json", "dumps", [[1]], None, None]) == "[1]"
        assert c.ok("call", ["helpers", "pid", [], None, None]) > 0
        for module, function, args in [("os", "system", ["id"]), ("builtins", "eval", ["1"]),
                                       ("subprocess", "run", [["id"]]), ("pickle", "loads", [b"x"]),
                                       ("json.decoder", "JSONDecoder", []), ("mathx", "f", []),
                                       ("sidefx", "f", [])]:
            err, res = c.call("call", [module, function, args, None, None], timeout=10 * factor)
            assert err_type(err) == "Forbidden" and res is None, (module, err, res)
            assert f"module '{module}' is not in python.allow" in err["message"], err
        err, _ = c.call("os.system", ["id"])
        assert err_type(err) == "Forbidden", err
        err, _ = c.call("map", ["os", "getpid", [[], []], None, None])
        assert err_type(err) == "Forbidden", err
        err, _ = c.call("call", ["os", "getpid", [], None, {"pool": "io"}])
        assert err_type(err) == "Forbidden", err
    assert not d.mark.exists(), "a module not in python.allow was imported"


def test_allow_cannot_be_walked_around_through_attributes(allowed, factor):
    """module:a.b.c is an attribute chain, and attributes lead to other
    modules (json.codecs.builtins.eval is eval): under python.allow a chain
    through a module, or a name starting with _, is refused
    (PermissionError) and nothing runs; attribute chains inside the allowed
    module (a class's method) still work."""
    d = allowed
    with d.connect() as c:
        for module, function, args in [("json", "codecs.builtins.eval", ["__import__('os').getpid()"]),
                                       ("json", "codecs.open", ["/etc/hostname"]),
                                       ("json", "decoder.re.compile", ["x"]),
                                       ("math", "__loader__.load_module", ["os"]),
                                       ("json", "__builtins__", []),
                                       ("helpers", "os.system", ["id"])]:
            err, res = c.call("call", [module, function, args, None, None], timeout=10 * factor)
            assert err_type(err) == "PermissionError" and res is None, (module, function, err, res)
        assert c.ok("call", ["tools", "T.twice", [21], None, None]) == 42
        assert c.ok("call", ["json", "dumps", [[2]], None, None]) == "[2]"


def test_allow_refuses_registrations_and_eval(allowed, factor):
    """register_pool of a module outside python.allow is Forbidden (it
    could only route calls that are refused anyway, but says so at once);
    eval and exec stay Forbidden with allow_eval off."""
    d = allowed
    with d.connect() as c:
        err, _ = c.call("register_pool", ["io", "os"])
        assert err_type(err) == "Forbidden", err
        assert c.ok("register_pool", ["io", "math"]) is True
        assert c.ok("lookup_pool", ["math", "sqrt"]) == "io"
        err, _ = c.call("eval", ["__import__('os').getpid()"])
        assert err_type(err) == "Forbidden", err


def test_allow_eval_with_allow_is_warned(daemon_factory):
    """allow_eval: true reaches every module whatever python.allow says:
    the daemon says so when it starts."""
    d = daemon_factory(allow=["math"], allow_eval=True, pools={"default": {"size": 1}, "io": {"size": 1}})
    assert wait_until(lambda: "eval and exec reach every module" in d.stderr_text(), 5,
                      "the warning in the log")


def test_an_empty_allow_list_allows_no_call(daemon_factory, factor):
    d = daemon_factory(allow=[], pools={"default": {"size": 1}, "io": {"size": 1}})
    with d.connect() as c:
        err, _ = c.call("math.sqrt", [4.0])
        assert err_type(err) == "Forbidden", err
        assert c.ok("ping", []) == "pong"   # the admin methods still answer


# ------------------------------------------------------------ listeners --

SMALL = {"default": {"size": 1}, "io": {"size": 1}}


def _umask_000():
    os.umask(0)


def test_unix_socket_is_0600_whatever_the_umask(daemon_factory):
    """Started under umask 000, the socket file is still 0600 (the default
    mode) and the folder the daemon made for it 0750."""
    d = daemon_factory(pools=SMALL, popen_kw={"preexec_fn": _umask_000})
    assert os.stat(d.socket_path).st_mode & 0o777 == 0o600
    assert os.stat(d.socket_path.parent).st_mode & 0o777 == 0o750


def test_unix_socket_mode_and_group(daemon_factory):
    """mode and group set the socket file's mode and group before the daemon
    serves."""
    d = daemon_factory(pools=SMALL, unix_opts={"mode": "0660", "group": "nogroup"})
    st = os.stat(d.socket_path)
    assert (st.st_mode & 0o777, st.st_gid) == (0o660, NOBODY)
    if os.geteuid() == 0:   # owner: another user, which takes root
        d2 = daemon_factory(pools=SMALL, unix_opts={"owner": "nobody"})
        st = os.stat(d2.socket_path)
        assert (st.st_mode & 0o777, st.st_uid) == (0o600, NOBODY)


def _client_as(uid, path, payload):
    """Runs a client as user uid: connects to the Unix socket path, sends
    payload, returns what it printed (the error, or what came back)."""
    code = ("import socket, sys\n"
            "s = socket.socket(socket.AF_UNIX)\n"
            "try:\n"
            f"    s.connect({str(path)!r})\n"
            f"    s.sendall({payload!r})\n"
            "    print(s.recv(100))\n"
            "except OSError as e:\n"
            "    print(type(e).__name__)\n")
    r = subprocess.run(["/usr/bin/python3", "-c", code], user=uid, group=uid, extra_groups=[],
                       capture_output=True, text=True, timeout=20)
    return r.stdout.strip()


@pytest.fixture
def shared():
    """A folder every user may enter (set up before the daemons, removed
    after them)."""
    folder = tempfile.mkdtemp(prefix="pyrp-shared-")
    os.chmod(folder, 0o755)
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


def test_another_user_cannot_reach_the_socket(shared, daemon_factory):
    """Tried as another local user would: with the default mode, nobody
    cannot connect, even to a socket in a folder it may enter; with mode
    0660 and its group, it can (through the folder the daemon made for the
    socket, which gets that group too)."""
    if os.geteuid() != 0:
        pytest.skip("running a client as another user takes root")
    d = daemon_factory(pools=SMALL, socket_name=f"{shared}/one.sock")
    d2 = daemon_factory(pools=SMALL, socket_name=f"{shared}/run/two.sock",
                        unix_opts={"mode": "0660", "group": "nogroup"})
    st = os.stat(d2.socket_path.parent)   # the folder it made: 0750, the socket's group
    assert (st.st_mode & 0o777, st.st_gid) == (0o750, NOBODY)
    ping = msgpack.packb([0, 1, "ping", []])
    assert _client_as(NOBODY, d.socket_path, ping) == "PermissionError"
    assert _client_as(NOBODY, d2.socket_path, ping).startswith("b'\\x94\\x01\\x01\\xc0"), \
        "a member of the socket's group connects"


def test_tcp_needs_the_token_first(daemon_factory, factor):
    """On TCP the first request must be auth [token]. Anything else first, or
    a wrong token, is answered Unauthorized (after a fixed 0.25 s, so that
    each guess costs that) and the connection closed; a
    client that authenticates is served, pipelined requests included, and
    the failures beside it do not disturb it."""
    d = daemon_factory(pools=SMALL, tcp=True)
    good = d.connect_tcp()
    assert good.ok("math.sqrt", [16.0]) == 4.0

    c = d.connect_tcp(auth=False)
    err, _ = c.call("math.sqrt", [4.0])
    assert err_type(err) == "Unauthorized", err
    assert c.expect_closed(timeout=5 * factor)

    c = d.connect_tcp(auth=False)
    t0 = time.monotonic()
    err, _ = c.call("auth", [d.token + "x"])
    assert time.monotonic() - t0 >= 0.2, "a wrong token was answered at once (no delay per guess)"
    assert err_type(err) == "Unauthorized" and err["message"] == "wrong token", err
    assert c.expect_closed(timeout=5 * factor)

    c = d.connect_tcp(auth=False)
    err, _ = c.call("auth", [d.token[:-1]])
    assert err_type(err) == "Unauthorized", err
    assert c.expect_closed(timeout=5 * factor)

    c = d.connect_tcp(auth=False)
    c.notify("cancel", [1])
    assert c.expect_closed(timeout=5 * factor)

    c = d.connect_tcp(auth=False)
    c.send_raw(b"\xc1")
    assert c.expect_closed(timeout=5 * factor)

    c = d.connect_tcp(auth=False)
    res = c.request_many([("auth", [d.token]), ("math.sqrt", [9.0]), ("auth", [d.token])])
    assert res == [(None, True), (None, 3.0), (None, True)]
    c.close()
    assert good.ok("math.sqrt", [25.0]) == 5.0

    # the Unix listener needs no auth; an auth there is answered true
    with d.connect() as u:
        assert u.ok("auth", ["anything"]) is True
        assert u.ok("math.sqrt", [1.0]) == 1.0


ADMIN_CALLS = [("start_pool", ["extra", 1]), ("resize_pool", ["default", 2]), ("stop_pool", ["nosuch"]),
               ("register_pool", ["io", "math"]), ("unregister_pool", ["math"])]


def test_a_tcp_listener_other_machines_reach_is_warned_about(daemon_factory, request, tmp_path):
    """Nothing on TCP is encrypted: a listener on an address other machines
    reach gets a warning at start, one on a loopback address none."""
    d = daemon_factory(pools=SMALL, tcp=True)
    assert "reachable from other machines" not in d.stderr_text()
    d = Daemon(tmp_path / "any", valgrind=request.config.getoption("--valgrind"),
               factor=slow_factor(request.config), pools=SMALL, tcp=True)
    d.config_path.write_text(d.config_path.read_text().replace("tcp: 127.0.0.1:", "tcp: 0.0.0.0:"))
    d.start()
    try:
        assert d.connect_tcp().ok("ping", []) == "pong"
        assert (f"tcp:0.0.0.0:{d.tcp_port}: reachable from other machines, and nothing on it is encrypted"
                in d.stderr_text())
    finally:
        finish_daemon(d)


def test_admin_methods_only_on_admin_listeners(daemon_factory, factor):
    """TCP is not an admin listener unless it says so: start_pool,
    resize_pool, stop_pool, register_pool and unregister_pool answer
    Forbidden there, while the status methods and calls work. The Unix
    socket is one by default; admin: false makes it like TCP."""
    d = daemon_factory(pools=SMALL, tcp=True)
    c = d.connect_tcp()
    for method, params in ADMIN_CALLS:
        err, _ = c.call(method, params)
        assert err_type(err) == "Forbidden", (method, err)
        assert f"{method} is an admin method" in err["message"], err
    assert c.ok("ping", []) == "pong"
    assert {p["name"] for p in c.ok("pools", [])} == {"default", "io"}
    assert c.ok("num_contexts", ["default"]) == 1
    assert c.ok("math.sqrt", [4.0]) == 2.0
    with d.connect() as u:
        assert u.ok("register_pool", ["io", "math"]) is True
        assert u.ok("unregister_pool", ["math"]) is True

    d2 = daemon_factory(pools=SMALL, tcp=True, tcp_opts={"admin": True}, unix_opts={"admin": False})
    with d2.connect() as u:
        err, _ = u.call("register_pool", ["io", "math"])
        assert err_type(err) == "Forbidden", err
    c = d2.connect_tcp()
    assert c.ok("register_pool", ["io", "math"]) is True


# ---------------------------------------------------------- connections --

def test_past_max_connections_one_error_then_closed(daemon_factory, factor):
    """limits.max_connections 3: a fourth client is answered one Overloaded
    frame (msgid nil) and closed, and the daemon logs it; the three are
    served all along, and once one leaves a new client gets in."""
    d = daemon_factory(pools=SMALL, extra_yaml="limits:\n  max_connections: 3\n")
    # (the start-up check's connection may still be closing: a client turned
    # away then is tried again)
    clients = [wait_until(lambda: _served(d), 5 * factor, "a client served") for _ in range(3)]
    extra = d.connect()
    msg = extra.recv_response(timeout=5 * factor)
    assert msg[1] is None and err_type(msg[2]) == "Overloaded", msg
    assert "limits.max_connections" in msg[2]["message"], msg
    assert extra.expect_closed(timeout=5 * factor)
    assert all(c.ok("math.sqrt", [4.0]) == 2.0 for c in clients)
    clients.pop().close()
    again = wait_until(lambda: _pings(d), 5 * factor, "a new client served after one left")
    assert again == "pong"
    assert "turned away" in d.stderr_text()
    for c in clients:
        c.close()
    wait_until(lambda: _pings(d), 5 * factor, "served once the clients left")


def _served(d):
    """A client the daemon answers ping on, or None (turned away)."""
    c = d.connect()
    try:
        if c.ok("ping", []) == "pong":
            return c
    except Exception:   # noqa: BLE001 -- turned away while a slot frees: try again
        pass
    c.close()
    return None


def _pings(d):
    c = _served(d)
    if c is None:
        return None
    c.close()
    return "pong"


def test_bad_bytes_after_requests_answer_them_first(daemon_factory, factor):
    """Requests before bytes that are not MessagePack are answered, the ones
    running included, then one BadRequest with msgid nil says what was wrong
    and where, then the connection closes."""
    d = daemon_factory(pools=SMALL)
    with d.connect() as c:
        c.send_raw(msgpack.packb([0, 1, "ping", []]) +
                   msgpack.packb([0, 2, "call", ["time", "sleep", [0.3]]]) + b"\xc1garbage")
        first = c.recv_response(timeout=5 * factor)
        second = c.recv_response(timeout=5 * factor)
        last = c.recv_response(timeout=5 * factor)
        assert first == [1, 1, None, "pong"], first
        assert second == [1, 2, None, None], second
        assert last[1] is None and err_type(last[2]) == "BadRequest", last
        assert "at byte 0 of the message that starts at byte" in last[2]["message"], last
        assert c.expect_closed(timeout=5 * factor)


def test_pool_limits_bound_what_admin_calls_start(daemon_factory, factor):
    """limits.max_pools and limits.max_executors refuse start_pool and a
    growing resize_pool past them, naming the limit; a file that passes
    them is refused at load."""
    d = daemon_factory(pools=SMALL, extra_yaml="limits:\n  max_pools: 3\n  max_executors: 4\n")
    with d.connect() as c:
        err, _ = c.call("start_pool", ["big", 3])          # 1 + 1 + 3 > 4
        assert err_type(err) == "Forbidden" and "limits.max_executors" in err["message"], err
        assert c.ok("start_pool", ["small", 2]) and c.ok("num_contexts", ["small"]) == 2
        err, _ = c.call("start_pool", ["more", 1, "thread"])
        assert err_type(err) == "Forbidden" and "limits.max_pools" in err["message"], err
        err, _ = c.call("resize_pool", ["small", 3])
        assert err_type(err) == "Forbidden" and "limits.max_executors" in err["message"], err
        assert c.ok("resize_pool", ["small", 1]) is True
        # the executor that left counts until it has stopped; then there is room again
        wait_until(lambda: c.call("resize_pool", ["small", 2])[0] is None, 5 * factor,
                   "room for the executor again")
        assert c.ok("num_contexts", ["small"]) == 2


def test_a_slow_request_is_cut_off(daemon_factory, factor):
    """limits.request_timeout 1: a client that sends a request a byte every
    0.2 s is answered BadRequest (msgid nil) about 1 s after its first byte
    and closed, whatever it keeps sending; another client is served
    meanwhile, and a client that is slow between whole requests is not cut
    off."""
    d = daemon_factory(pools=SMALL, extra_yaml="limits:\n  request_timeout: 1\n")
    data = msgpack.packb([0, 1, "ping", []])
    with d.connect() as slow, d.connect() as other, d.connect() as patient:
        t0 = time.monotonic()
        closed_at = None
        for i in range(len(data) - 1):        # never the last byte
            try:
                slow.send_raw(data[i:i + 1])
            except OSError:
                break
            assert other.ok("math.sqrt", [4.0]) == 2.0
            if slow.nothing_arrives(0.2) is False:
                closed_at = time.monotonic()
                break
        for _ in range(3):                    # whole requests, 0.6 s apart: 1.8 s in all
            assert patient.ok("ping", []) == "pong"
            time.sleep(0.6)
        msg = slow.recv_response(timeout=5 * factor)
        assert msg[1] is None and err_type(msg[2]) == "BadRequest", msg
        assert "limits.request_timeout (1 s)" in msg[2]["message"], msg
        assert slow.expect_closed(timeout=5 * factor)
        if closed_at is not None:
            assert 0.8 <= closed_at - t0 <= 3 * factor, closed_at - t0


def test_an_idle_connection_is_closed_unless_it_waits_for_a_call(daemon_factory, factor):
    """limits.idle_timeout 1: a client that sends nothing is closed after
    about 1 s; one waiting 1.5 s for its call is not (it gets its answer),
    and is closed about 1 s after it."""
    d = daemon_factory(pools=SMALL, extra_yaml="limits:\n  idle_timeout: 1\n")
    with d.connect() as idle:
        t0 = time.monotonic()
        assert idle.expect_closed(timeout=5 * factor)
        assert 0.8 <= time.monotonic() - t0 <= 3 * factor, time.monotonic() - t0
    with d.connect() as busy:
        assert busy.call("call", ["time", "sleep", [1.5]], timeout=10 * factor) == (None, None)
        assert busy.ok("ping", []) == "pong", "closed while its call ran"
        t1 = time.monotonic()
        assert busy.expect_closed(timeout=5 * factor)
        assert 0.8 <= time.monotonic() - t1 <= 3 * factor, time.monotonic() - t1


# ------------------------------------------------------- per-pool users --

@pytest.fixture
def in_shared(shared, request):
    """Starts daemons (as root) in a folder every user may read, so that
    executors run as another user can import the test's modules."""
    if os.geteuid() != 0:
        pytest.skip("pools run as another user take a daemon run as root")
    started = []

    def make(**kw):
        d = start_daemon(os.path.join(shared, f"d{len(started)}"), request.config, **kw)
        started.append(d)
        return d

    yield make
    for d in started:
        finish_daemon(d)


def test_a_pool_runs_as_its_user(in_shared, factor):
    """user: nobody (and group: nogroup) on a pool: its executors, forked
    from a template, spawned, or in thread mode, run as nobody with nogroup
    as their only group, and cannot read what root alone may; the other
    pools run as the daemon's user."""
    d = in_shared(pools={"default": {"size": 1}, "io": {"size": 1},
                         "low": {"size": 1, "user": "nobody"},
                         "lowf": {"size": 1, "user": "nobody", "group": "nogroup", "preload_in_template": False},
                         "lowt": {"size": 2, "mode": "thread", "user": "nobody"}})
    with d.connect() as c:
        for pool in ("low", "lowf", "lowt"):
            on = {"pool": pool}
            assert c.ok("call", ["os", "getuid", [], None, on]) == NOBODY, pool
            assert c.ok("call", ["os", "geteuid", [], None, on]) == NOBODY, pool
            assert c.ok("call", ["os", "getgid", [], None, on]) == NOBODY, pool
            assert c.ok("call", ["os", "getgroups", [], None, on]) == [NOBODY], pool
            err, _ = c.call("call", ["os", "setuid", [0], None, on], timeout=10 * factor)
            assert err_type(err) == "PermissionError", (pool, err)
            err, _ = c.call("call", ["builtins", "open", ["/etc/shadow"], None, on], timeout=10 * factor)
            assert err_type(err) == "PermissionError", (pool, err)
        assert c.ok("call", ["os", "getuid", [], None, {"pool": "default"}]) == 0


def test_a_pool_user_takes_a_root_daemon(tmp_path):
    """user: on a pool is refused at load when the daemon is not root (it
    could not switch), naming the key; so is group: without user:."""
    if os.geteuid() != 0:
        pytest.skip("checking as another user takes root")
    folder = tempfile.mkdtemp(prefix="pyrp-check-")
    try:
        os.chmod(folder, 0o755)
        cfg = os.path.join(folder, "c.yaml")
        with open(cfg, "w") as f:
            f.write("listen: [{unix: s.sock}]\npools:\n  low: {size: 1, user: nobody}\n")
        os.chmod(cfg, 0o644)
        r = subprocess.run([str(BINARY), "--check", "-c", cfg], user=NOBODY, group=NOBODY, extra_groups=[],
                           capture_output=True, text=True, timeout=20)
        assert r.returncode == 1
        assert "pools.low.user: running a pool as another user takes a daemon run as root" in r.stderr, r.stderr
        with open(cfg, "w") as f:
            f.write("listen: [{unix: s.sock}]\npools:\n  low: {size: 1, group: nogroup}\n")
        r = subprocess.run([str(BINARY), "--check", "-c", cfg], capture_output=True, text=True, timeout=20)
        assert r.returncode == 1 and "pools.low.group: needs user: too" in r.stderr, r.stderr
    finally:
        shutil.rmtree(folder, ignore_errors=True)
