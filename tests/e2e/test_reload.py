"""SIGHUP: the config file is read again. A new generation of executors
starts (with the Python code as it is on disk now), takes over once its
preload imports are done, and the old one drains; a broken file or a new
generation that cannot start is refused and the old config keeps serving.
No call is lost either way."""
import os
import signal
import threading
import time

from conftest import ACTIVE, Client, start_daemon, wait_pool, wait_until

VERSIONED = """\
import os
import time

VERSION = {version}


def version():
    return VERSION


def slow_version(seconds):
    time.sleep(seconds)
    return VERSION


def pid():
    return os.getpid()
"""


def write_module(d, version):
    (d.pydir / "versioned.py").write_text(VERSIONED.format(version=version))


def wait_log(d, text, factor, after=0, timeout=20.0):
    """Waits until the daemon's stderr has text (counting only lines past
    line number after); returns the matching line."""
    deadline = time.monotonic() + timeout * factor
    while True:
        lines = d.stderr_path.read_text(errors="replace").splitlines()[after:]
        for line in lines:
            if text in line:
                return line
        assert time.monotonic() < deadline, f"no {text!r} in the log:\n{d.stderr_text()}"
        time.sleep(0.05)


def log_len(d):
    return len(d.stderr_path.read_text(errors="replace").splitlines())


def pools_by_name(c):
    return {p["name"]: p for p in c.ok("pools", [])}


def children(pid):
    """The pids of pid's child processes."""
    out = set()
    for tid in os.listdir(f"/proc/{pid}/task"):
        with open(f"/proc/{pid}/task/{tid}/children") as f:
            out |= {int(x) for x in f.read().split()}
    return out


def hup(d, factor):
    """Sends SIGHUP and waits for the new generation to serve."""
    mark = log_len(d)
    d.send_signal(signal.SIGHUP)
    return wait_log(d, "reload: generation", factor, after=mark)


def test_reload_applies_a_changed_config(daemon_factory, factor):
    """Sizes, modes, a new pool, a removed pool, new routes, new pool keys
    and new Python code all apply; a call running across the reload
    finishes on the old executor and is answered."""
    d = daemon_factory(pools={"default": {"size": 1}, "io": {"size": 2}, "old": {"size": 1}},
                       routes={"versioned": "old"})
    write_module(d, 1)
    with d.connect() as c:
        assert c.ok("versioned.version", []) == 1
        # imported on the default pool's executor too, so that the call that
        # runs across the reload has the old code whenever it starts
        assert c.ok("call", ["versioned", "version", [], None, {"pool": "default"}]) == 1
        old_default = c.ok("contexts", ["default"])
        running = c.send("call", ["versioned", "slow_version", [1.0], None, {"pool": "default"}])
        wait_pool(c, "default", 0.8 * factor, busy=1)   # it runs when the reload comes
        d.pools = {"default": {"size": 2}, "io": {"size": 3, "mode": "process"},
                   "fresh": {"size": 1, "mode": "thread", "timeout": 0.3}}
        d.routes = {"versioned": "fresh"}
        d.write_config()
        write_module(d, 2)
        hup(d, factor)
        # the call that ran across the reload is answered by the old code
        assert c.wait(running, timeout=10 * factor)[2:] == [None, 1]
        pools = pools_by_name(c)
        assert set(pools) == {"default", "io", "fresh"}, pools
        assert (pools["default"]["size"], pools["default"]["mode"]) == (2, "process")
        assert (pools["io"]["size"], pools["io"]["mode"]) == (3, "process")
        assert (pools["fresh"]["size"], pools["fresh"]["mode"]) == (1, "thread")
        new_default = c.ok("contexts", ["default"])
        assert len(new_default) == 2 and not set(new_default) & set(old_default)
        # the new routes, the new code, the new pool's own timeout
        assert c.ok("lookup_pool", ["versioned", "version"]) == "fresh"
        assert c.ok("versioned.version", []) == 2
        err, _ = c.call("call", ["time", "sleep", [5], None, {"pool": "fresh"}], timeout=10 * factor)
        assert err["type"] == "Timeout", err
        # the removed pool is gone
        err, _ = c.call("call", ["versioned", "pid", [], None, {"pool": "old"}])
        assert err["type"] == "NoSuchPool", err
    assert len(d.pool_pids("io")) == 3


def test_broken_config_is_refused_and_the_old_one_keeps_serving(daemon_factory, factor):
    d = daemon_factory(pools={"default": {"size": 1}, "io": {"size": 1}, "keep": {"size": 1}})
    with d.connect() as c:
        pids = c.ok("contexts", ["keep"])
        good = d.config_path.read_text()
        assert "keep: {size: 1}" in good
        d.config_path.write_text(good.replace("keep: {size: 1}", "keep: {size: lots}"))
        mark = log_len(d)
        d.send_signal(signal.SIGHUP)
        line = wait_log(d, "reload refused", factor, after=mark)
        assert "size" in line and "lots" in line and str(d.config_path) in line, line
        assert c.ok("contexts", ["keep"]) == pids
        assert c.ok("call", ["operator", "add", [2, 3], None, {"pool": "keep"}]) == 5
        # invalid YAML too
        d.config_path.write_text("pools: {default: [\n")
        mark = log_len(d)
        d.send_signal(signal.SIGHUP)
        wait_log(d, "reload refused", factor, after=mark)
        assert c.ok("call", ["operator", "add", [2, 3], None, {"pool": "keep"}]) == 5
        # a good file afterwards applies
        d.config_path.write_text(good)
        hup(d, factor)
        assert c.ok("contexts", ["keep"]) != pids


def test_new_generation_whose_preload_fails_is_refused(daemon_factory, factor):
    """The new file loads, but its preload import fails: the new executors
    stop, the old ones never stopped serving."""
    d = daemon_factory(pools={"default": {"size": 1}, "io": {"size": 1}},
                       modules={"broken.py": "raise RuntimeError('cannot import me')\n"})
    with d.connect() as c:
        pids = c.ok("contexts", ["default"])
        text = d.config_path.read_text().replace("  path: [py]\n",
                                                 "  path: [py]\n  preload: [json, broken]\n")
        d.config_path.write_text(text)
        mark = log_len(d)
        d.send_signal(signal.SIGHUP)
        line = wait_log(d, "reload of", factor, after=mark)
        assert "refused" in line and "before it was ready" in line, line
        assert "cannot import me" in d.stderr_text()
        assert c.ok("contexts", ["default"]) == pids
        for _ in range(20):
            assert c.ok("call", ["os", "getpid", [], None, {"pool": "default"}]) == pids[0]
        assert pools_by_name(c)["default"]["degraded"] is False


def test_registrations_and_started_pools_survive_a_reload(daemon_factory, factor):
    d = daemon_factory(pools={"default": {"size": 1}, "io": {"size": 1}},
                       routes={"zlib": "io"})
    with d.connect() as c:
        started = c.ok("start_pool", ["extra", 2, "thread"], timeout=20 * factor)
        assert c.ok("register_pool", ["extra", "colorsys"]) is True
        assert c.ok("register_pool", ["io", "json", "dumps"]) is True
        c.ok("call", ["os", "getpid", [], None, {"pool": "extra"}], timeout=20 * factor)
        d.routes = {"zlib": "default"}  # the file's route changes
        d.write_config()
        hup(d, factor)
        assert c.ok("lookup_pool", ["colorsys", "hls_to_rgb"]) == "extra"
        assert c.ok("lookup_pool", ["json", "dumps"]) == "io"
        assert c.ok("lookup_pool", ["zlib", "crc32"]) == "default"
        extra = pools_by_name(c)["extra"]
        assert (extra["size"], extra["mode"]) == (2, "thread")
        assert c.ok("contexts", ["extra"]) != started
        assert c.ok("call", ["operator", "mul", [6, 7], None, {"pool": "extra"}]) == 42


def test_no_call_is_lost_across_reloads(daemon_factory, factor):
    """Several connections keep calls flowing while the config is reloaded
    three times: every request gets exactly one answer, all of them
    results."""
    d = daemon_factory(pools={"default": {"size": 2}, "io": {"size": 2}})
    write_module(d, 1)
    stop = threading.Event()
    results, errors = [], []

    def client(n):
        try:
            with Client(d.socket_path, timeout=30 * factor) as c:
                i = 0
                while not stop.is_set():
                    reqs = [("call", ["operator", "add", [i, k], None,
                                      {"pool": "io" if k % 3 == 0 else "default"}]) for k in range(20)]
                    res = c.request_many(reqs, timeout=30 * factor)
                    assert len(res) == 20
                    for k, (e, r) in enumerate(res):
                        assert e is None, e
                        assert r == i + k
                    results.append(len(res))
                    i += 1
        except BaseException as e:  # noqa: BLE001 -- reported below
            errors.append(e)

    threads = [threading.Thread(target=client, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    def calls_flow(what):
        """Waits until a few more batches of calls are answered."""
        n = len(results)
        wait_until(lambda: len(results) >= n + 3 or errors, 20 * factor, f"calls answered {what}")

    try:
        for size in (3, 1, 2):
            calls_flow(f"before the reload to size {size}")
            d.pools["default"]["size"] = size
            d.write_config()
            hup(d, factor)
        calls_flow("after the last reload")
    finally:
        stop.set()
        for t in threads:
            t.join(60 * factor)
    assert not errors, errors[0]
    assert sum(results) > 0
    with d.connect() as c:
        assert pools_by_name(c)["default"]["size"] == 2


def test_sighup_while_a_reload_starts_is_ignored(daemon_factory, factor):
    """A second SIGHUP while the new generation imports is ignored; the old
    generation serves meanwhile; the new one takes over with its preload."""
    d = daemon_factory(pools={"default": {"size": 1}, "io": {"size": 1}},
                       modules={"slowimport.py": "import time\ntime.sleep(1.0)\n",
                                "check.py": "import sys\n\ndef loaded(name):\n"
                                            "    return name in sys.modules\n"})
    text = d.config_path.read_text().replace("  path: [py]\n", "  path: [py]\n  preload: [slowimport]\n")
    d.config_path.write_text(text)
    mark = log_len(d)
    d.send_signal(signal.SIGHUP)
    wait_log(d, "SIGHUP: reloading", factor, after=mark)   # the new generation starts
    d.send_signal(signal.SIGHUP)
    wait_log(d, "already starting", factor, after=mark)
    with d.connect() as c:
        # the old generation serves while the new one imports
        assert c.ok("call", ["operator", "add", [1, 1]]) == 2
    wait_log(d, "reload: generation 1", factor, after=mark)
    with d.connect() as c:
        assert c.ok("call", ["check", "loaded", ["slowimport"]]) is True


def test_sigterm_while_a_reload_starts(tmp_path, request, factor):
    """SIGTERM while the new generation imports: both generations stop and
    the daemon exits 0, removing its socket."""
    d = start_daemon(tmp_path / "d", request.config,
                     pools={"default": {"size": 1}, "io": {"size": 1}},
                     modules={"slowimport.py": "import time\ntime.sleep(2.0)\n"})
    try:
        text = d.config_path.read_text().replace("  path: [py]\n",
                                                 "  path: [py]\n  preload: [slowimport]\n")
        d.config_path.write_text(text)
        before = children(d.proc.pid)
        mark = log_len(d)
        d.send_signal(signal.SIGHUP)
        wait_log(d, "SIGHUP: reloading", factor, after=mark)
        # the new generation's processes exist (and import slowimport for 2 s)
        wait_until(lambda: children(d.proc.pid) - before, 5 * factor, "a process of the new generation")
        assert d.stop() == 0, d.stderr_text()
        assert not d.socket_path.exists()
        assert "reload of" in d.stderr_text() and "the daemon is stopping" in d.stderr_text()
    finally:
        d.kill()
        ACTIVE.remove(d)


def test_reload_applies_limits_to_open_connections(daemon_factory, factor):
    """limits apply at once, even on connections opened before the reload."""
    d = daemon_factory(pools={"default": {"size": 1}, "io": {"size": 1}})
    with d.connect() as c:
        big = "x" * 20000
        assert c.ok("call", ["builtins", "len", [big]]) == 20000
        d.max_message_size = "4KiB"
        d.write_config()
        hup(d, factor)
        assert c.ok("call", ["builtins", "len", ["small"]]) == 5
        c.send("call", ["builtins", "len", [big]])
        assert c.expect_closed(timeout=10 * factor)
    assert "max_message_size" in d.stderr_text()
