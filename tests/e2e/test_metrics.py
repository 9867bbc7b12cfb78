"""metrics.listen: the HTTP listener for Prometheus. /metrics parses with
prometheus_client's own text parser and agrees with the `stats` method
asked right before and after; /healthz says whether every pool serves;
bad HTTP is refused or closed while calls on the RPC socket keep being
answered; metrics config errors are clear."""
import http.client
import select
import socket
import subprocess
import threading
import time

import msgpack
import pytest
from prometheus_client.parser import text_string_to_metric_families

import pyrpool
from conftest import (BINARY, Daemon, finish_daemon, free_tcp_port, module_daemon, remote_error, slow_factor,
                      wait_file, wait_until)

HTTP_TIMEOUT = 5.0   # src/master/http.h: HTTP_TIMEOUT_MS
MAX_CONNS = 64       # HTTP_MAX_CONNS
MAX_HEAD = 8192      # HTTP_MAX_HEAD

CRASHY = """\
import ctypes


def segv():
    ctypes.string_at(0)
"""

# Imported by every executor (python.preload): refuses while a file
# named "closed" is beside it.
GATE = """\
import os

if os.path.exists(os.path.join(os.path.dirname(__file__), "closed")):
    raise ImportError("the gate is closed")
"""


def metrics_yaml(port, host="127.0.0.1"):
    return f"metrics:\n  listen: {host}:{port}\n"


@pytest.fixture(scope="module")
def md(request, tmp_path_factory):
    """A daemon with a metrics listener; pool mixed takes every kind of
    outcome, pool counted only calls that succeed."""
    port = free_tcp_port()
    d = module_daemon(request, tmp_path_factory, "metrics", modules={"crashy.py": CRASHY},
                      extra_yaml=metrics_yaml(port),
                      pools={"default": {"size": 1}, "io": {"size": 2, "mode": "thread"},
                             "mixed": {"size": 1}, "counted": {"size": 1}})
    d.metrics_port = port
    yield d
    finish_daemon(d)


class Answer:
    def __init__(self, status, headers, body):
        self.status, self.headers, self.body = status, headers, body


def get(d, path, method="GET"):
    """One HTTP request to d's metrics listener, with Python's own client."""
    conn = http.client.HTTPConnection("127.0.0.1", d.metrics_port, timeout=10 * d.factor)
    try:
        conn.request(method, path)
        r = conn.getresponse()
        return Answer(r.status, {k.lower(): v for k, v in r.getheaders()}, r.read())
    finally:
        conn.close()


def parse(text):
    """{(sample name, frozenset of labels): value}, le read as a float, and
    {family name: type}, from prometheus_client's parser."""
    samples, types = {}, {}
    for fam in text_string_to_metric_families(text):
        types[fam.name] = fam.type
        for s in fam.samples:
            labels = dict(s.labels)
            if "le" in labels:
                labels["le"] = float(labels["le"])
            key = (s.name, frozenset(labels.items()))
            assert key not in samples, f"{key} twice"
            samples[key] = s.value
    return samples, types


def scrape(d):
    a = get(d, "/metrics")
    assert a.status == 200, a.body
    return parse(a.body.decode())


def value(samples, name, **labels):
    key = (name, frozenset(labels.items()))
    assert key in samples, f"no sample {name}{labels}"
    return samples[key]


def raw_exchange(d, data, timeout=10.0):
    """Sends data on a fresh connection and reads until the daemon closes
    it; returns what arrived (failing the test if it stays open)."""
    with socket.create_connection(("127.0.0.1", d.metrics_port), timeout=timeout * d.factor) as s:
        s.sendall(data)
        return read_to_close(s, timeout * d.factor)


def read_to_close(s, timeout):
    out = b""
    deadline = time.monotonic() + timeout
    while True:
        s.settimeout(max(0.01, deadline - time.monotonic()))
        try:
            chunk = s.recv(65536)
        except ConnectionResetError:
            return out
        except socket.timeout:
            raise AssertionError(f"still open after {timeout:.1f}s; got {out[:200]!r}")
        if not chunk:
            return out
        out += chunk


def rpc_answers_quickly(d, bound=1.0):
    """A call on the RPC socket is answered within bound seconds (times the factor)."""
    with d.pyrpool_client() as c:
        t0 = time.monotonic()
        assert c.call("echo", "echo", "still here") == "still here"
        assert time.monotonic() - t0 < bound * d.factor


def pool_stats(stats, pool):
    return stats["pools"][pool]


# ---- /metrics and the stats method --------------------------------------

def test_metrics_agree_with_the_stats_method(md, tmp_path):
    """A call of each outcome on pool mixed; then stats, /metrics, stats:
    every sample of /metrics lies between the two (counters are equal: no
    call ran in between)."""
    with md.pyrpool_client() as c:
        before = pool_stats(c.request("stats"), "mixed")["outcomes"]
        assert c.call("echo", "echo", 7, pool="mixed") == 7
        assert remote_error(c.call, "helpers", "raise_value_error", "no", pool="mixed").type == "ValueError"
        assert remote_error(c.call, "helpers", "sleep_pid", 30, pool="mixed", timeout=0.2).type == "Timeout"
        started = tmp_path / "started"
        f = c.cast("helpers", "started_sleep", str(started), 30, pool="mixed")
        wait_file(started, 10 * md.factor)
        f.cancel()
        with pytest.raises(pyrpool.Cancelled):
            f.result(10 * md.factor)
        assert remote_error(c.call, "crashy", "segv", pool="mixed").type == "WorkerCrashed"
        wait_until(lambda: pool_stats(c.request("stats"), "mixed")["executors"]["idle"] == 1, 20 * md.factor,
                   "pool mixed's executor back and idle")
        s1 = c.request("stats")
        samples, types = scrape(md)
        s2 = c.request("stats")

    after = pool_stats(s1, "mixed")["outcomes"]
    for outcome in ("ok", "error", "Timeout", "Cancelled", "WorkerCrashed"):
        assert after[outcome] - before[outcome] == 1, (outcome, before, after)
    assert pool_stats(s1, "mixed")["restarts"]["crash"] >= 1

    def between(name, v1, v2, **labels):
        got = value(samples, name, **labels)
        assert v1 <= got <= v2, (name, labels, v1, got, v2)

    assert list(s1["pools"]) == list(s2["pools"])
    for pool, p1 in s1["pools"].items():
        p2 = s2["pools"][pool]
        for outcome, n in p1["outcomes"].items():
            between("pyrpool_calls_total", n, p2["outcomes"][outcome], pool=pool, outcome=outcome)
        for state, n in p1["executors"].items():
            assert value(samples, "pyrpool_executors", pool=pool, state=state) == n == p2["executors"][state]
        for cause, n in p1["restarts"].items():
            between("pyrpool_executor_restarts_total", n, p2["restarts"][cause], pool=pool, cause=cause)
        for name, key in (("pyrpool_call_duration_seconds", "run_time"), ("pyrpool_queue_wait_seconds", "queue_wait")):
            h1, h2 = p1[key], p2[key]
            assert h1["count"] == h2["count"] and h1["buckets"] == h2["buckets"]
            for le, n in h1["buckets"]:
                assert value(samples, name + "_bucket", pool=pool, le=float(le)) == n
            assert value(samples, name + "_bucket", pool=pool, le=float("inf")) == h1["count"]
            assert value(samples, name + "_count", pool=pool) == h1["count"]
            assert value(samples, name + "_sum", pool=pool) == h1["sum"]
        between("pyrpool_queue_length", p1["queue"], p2["queue"], pool=pool)
        between("pyrpool_queue_length_max", p1["queue_max"], p2["queue_max"], pool=pool)
        assert value(samples, "pyrpool_pool_up", pool=pool) == (1 if p1["state"] == "ready" else 0)
        assert value(samples, "pyrpool_executor_resident_bytes", pool=pool) > 0
    assert value(samples, "pyrpool_call_duration_seconds_count", pool="mixed") >= 1
    for l1, l2 in zip(s1["listeners"], s2["listeners"]):
        for name, key in (("pyrpool_connections", "connections"), ("pyrpool_connections_accepted_total", "accepted"),
                          ("pyrpool_requests_total", "requests"), ("pyrpool_received_bytes_total", "bytes_in"),
                          ("pyrpool_sent_bytes_total", "bytes_out")):
            between(name, l1[key], l2[key], listener=l1["name"])
    between("pyrpool_uptime_seconds", s1["daemon"]["uptime"], s2["daemon"]["uptime"])
    assert value(samples, "pyrpool_config_generation") == s1["daemon"]["generation"]
    assert value(samples, "pyrpool_master_resident_bytes") > 0
    assert value(samples, "pyrpool_build_info", version=s1["daemon"]["version"]) == 1
    assert types == {
        "pyrpool_calls": "counter", "pyrpool_call_duration_seconds": "histogram",
        "pyrpool_queue_wait_seconds": "histogram", "pyrpool_queue_length": "gauge",
        "pyrpool_queue_length_max": "gauge", "pyrpool_executors": "gauge",
        "pyrpool_executor_restarts": "counter", "pyrpool_executor_resident_bytes": "gauge",
        "pyrpool_pool_up": "gauge", "pyrpool_connections": "gauge", "pyrpool_connections_accepted": "counter",
        "pyrpool_requests": "counter", "pyrpool_received_bytes": "counter", "pyrpool_sent_bytes": "counter",
        "pyrpool_master_resident_bytes": "gauge", "pyrpool_uptime_seconds": "gauge",
        "pyrpool_config_generation": "gauge", "pyrpool_build_info": "gauge",
    }


def test_counters_move_and_histograms_count_every_call(md):
    """Five calls on pool counted: its ok counter and both histograms' counts
    grow by five, and the RPC listener's request and byte counters grow."""
    before, _ = scrape(md)
    with md.pyrpool_client() as c:
        for i in range(5):
            assert c.call("echo", "echo", i, pool="counted") == i
    # the pages are made again at most every 100 ms: a scrape may be that old
    after = wait_until(lambda: (lambda a: a if value(a, "pyrpool_calls_total", pool="counted", outcome="ok") >
                                value(before, "pyrpool_calls_total", pool="counted", outcome="ok") else None)
                       (scrape(md)[0]), 5 * md.factor, "the calls in a scrape")

    def grew(name, **labels):
        return value(after, name, **labels) - value(before, name, **labels)

    assert grew("pyrpool_calls_total", pool="counted", outcome="ok") == 5
    assert grew("pyrpool_call_duration_seconds_count", pool="counted") == 5
    assert grew("pyrpool_queue_wait_seconds_count", pool="counted") == 5
    assert grew("pyrpool_call_duration_seconds_bucket", pool="counted", le=float("inf")) == 5
    assert grew("pyrpool_call_duration_seconds_sum", pool="counted") > 0
    listener = f"unix:{md.socket_path}"
    assert grew("pyrpool_requests_total", listener=listener) >= 5
    assert grew("pyrpool_connections_accepted_total", listener=listener) >= 1
    assert grew("pyrpool_received_bytes_total", listener=listener) > 0
    assert grew("pyrpool_sent_bytes_total", listener=listener) > 0
    assert grew("pyrpool_uptime_seconds") > 0


def test_a_flood_of_scrapes_makes_the_pages_once_per_100_ms(md):
    """Scrapes asked back to back get the same page (made at most every
    100 ms, not once per asker: a flood of scrapes costs the loop a copy
    each), and a `stats` request has the next scrape made anew."""
    def uptime(body):
        return [line for line in body.decode().splitlines() if line.startswith("pyrpool_uptime_seconds ")]

    t = time.monotonic()
    first = get(md, "/metrics").body
    again = [get(md, "/metrics").body for _ in range(3)]
    if time.monotonic() - t < 0.09:      # all within 100 ms of the first (the usual case)
        assert again == [first] * 3
    with md.pyrpool_client() as c:
        c.request("stats")
        assert uptime(get(md, "/metrics").body) != uptime(first)


def test_answers_are_what_prometheus_expects(md):
    a = get(md, "/metrics")
    assert a.status == 200
    assert a.headers["content-type"] == "text/plain; version=0.0.4; charset=utf-8"
    assert a.headers["connection"] == "close"
    assert int(a.headers["content-length"]) == len(a.body)
    assert a.body.endswith(b"\n")
    # a query string is not part of the path
    assert get(md, "/metrics?name[]=pyrpool_pool_up").status == 200
    # HEAD: the same headers, no body
    h = get(md, "/metrics", "HEAD")
    assert h.status == 200 and h.body == b"" and int(h.headers["content-length"]) > 1000
    h = get(md, "/healthz", "HEAD")
    assert h.status == 200 and h.body == b"" and h.headers["content-length"] == "3"


def test_healthz_ok(md):
    a = get(md, "/healthz")
    assert (a.status, a.body) == (200, b"ok\n")
    assert a.headers["content-type"] == "text/plain; charset=utf-8"


# ---- /healthz when a pool does not serve --------------------------------

def gated_daemon(tmp_path, request, **kw):
    """A daemon (not started) whose executors import GATE first."""
    port = free_tcp_port()
    d = Daemon(tmp_path, valgrind=request.config.getoption("--valgrind"), factor=slow_factor(request.config),
               modules={"gate.py": GATE}, extra_yaml=metrics_yaml(port), **kw)
    d.config_path.write_text(d.config_path.read_text().replace("  path: [py]\n", "  path: [py]\n  preload: [gate]\n"))
    d.metrics_port = port
    return d


def test_healthz_503_names_a_degraded_pool_then_200_again(tmp_path, request, factor):
    d = gated_daemon(tmp_path, request, pools={"default": {"size": 1}, "io": {"size": 1}})
    d.start()
    try:
        assert get(d, "/healthz").status == 200
        (d.pydir / "closed").write_text("")
        with d.pyrpool_client(answer_timeout=60) as c:
            with pytest.raises(pyrpool.PoolDegraded):
                c.start_pool("extra", 1)
        a = get(d, "/healthz")
        assert a.status == 503, a.body
        assert a.body.decode().startswith("pool extra: degraded"), a.body
        assert a.body.count(b"\n") == 1   # the others serve
        samples, _ = scrape(d)
        assert value(samples, "pyrpool_pool_up", pool="extra") == 0
        assert value(samples, "pyrpool_pool_up", pool="default") == 1
        # the module is fixed: the pool starts on a later retry
        (d.pydir / "closed").unlink()
        wait_until(lambda: get(d, "/healthz").status == 200, 40 * factor, "/healthz 200 once extra starts")
        assert value(scrape(d)[0], "pyrpool_pool_up", pool="extra") == 1
    finally:
        finish_daemon(d)


def test_healthz_503_while_the_pools_start(tmp_path, request, factor):
    """The listener answers from the start: 503 naming the pools that are
    still starting (their preload takes 2 s), then 200."""
    d = gated_daemon(tmp_path, request, pools={"default": {"size": 1}, "io": {"size": 1}})
    (d.pydir / "gate.py").write_text("import time\ntime.sleep(2)\n")
    d.start(wait=False)
    try:
        def first_answer():
            try:
                return get(d, "/healthz")
            except OSError:
                return None
        a = wait_until(first_answer, 10 * factor, "the metrics listener answering")
        assert a.status == 503, a.body
        assert b"pool default: starting" in a.body, a.body
        wait_until(lambda: get(d, "/healthz").status == 200, 30 * factor, "/healthz 200 once the pools are ready")
        d.wait_ready()
    finally:
        finish_daemon(d)


# ---- bad HTTP --------------------------------------------------------------

def status_line(data):
    return data.split(b"\r\n", 1)[0]


def test_garbage_is_400_and_closed(md):
    """Bytes that are not HTTP, a MessagePack-RPC request among them (the
    listener runs no call): 400, and the connection closes."""
    for junk in (b"\x00\x01\x02\xff\r\n\r\n", msgpack.packb([0, 1, "echo.echo", [1]]),
                 b"GET /metrics HTTP/x.y\r\n\r\n", b"GET /metrics HTTP/1.1\r\nBad Header\r\n\r\n"):
        out = raw_exchange(md, junk)
        assert status_line(out) == b"HTTP/1.1 400 Bad Request", (junk, out)
        assert b"\r\nConnection: close\r\n" in out
    rpc_answers_quickly(md)


def test_a_head_over_the_bound_is_431_and_closed(md):
    big = b"GET /metrics HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * (100 * 1024) + b"\r\n\r\n"
    out = raw_exchange(md, big)
    assert status_line(out) == b"HTTP/1.1 431 Request Header Fields Too Large", out[:200]
    # just under the bound: served
    line = b"GET /healthz HTTP/1.1\r\nX-Pad: "
    fits = line + b"a" * (MAX_HEAD - len(line) - 4) + b"\r\n\r\n"
    assert len(fits) == MAX_HEAD
    assert status_line(raw_exchange(md, fits)) == b"HTTP/1.1 200 OK"
    rpc_answers_quickly(md)


def test_other_methods_and_paths(md):
    for method, path, status in (("DELETE", "/metrics", 405), ("POST", "/healthz", 405), ("PUT", "/metrics", 405),
                                 ("GET", "/", 404), ("GET", "/metrics/", 404), ("GET", "/stats", 404),
                                 ("HEAD", "/nope", 404)):
        a = get(md, path, method)
        assert a.status == status, (method, path, a.status, a.body)
        if status == 405:
            assert a.headers["allow"] == "GET, HEAD"
    # a method http_parser does not know is malformed
    assert status_line(raw_exchange(md, b"BREW /metrics HTTP/1.1\r\n\r\n")) == b"HTTP/1.1 400 Bad Request"
    rpc_answers_quickly(md)


def test_a_body_on_get_is_ignored(md):
    out = raw_exchange(md, b"GET /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n" + b"b" * 100000)
    assert status_line(out) == b"HTTP/1.1 200 OK" and out.endswith(b"\r\n\r\nok\n"), out[:300]


def test_slow_clients_are_closed_while_calls_go_on(md):
    """One client sends nothing, another a byte every 0.2 s: both are closed
    HTTP_TIMEOUT after they connected; meanwhile calls are answered and
    scrapes served at once."""
    request = b"GET /metrics HTTP/1.1\r\nHost: localhost\r\nUser-Agent: slow\r\n\r\n"
    silent = socket.create_connection(("127.0.0.1", md.metrics_port))
    trickle = socket.create_connection(("127.0.0.1", md.metrics_port))
    t0 = time.monotonic()
    closed = {}

    def trickler():
        for b in request:
            try:
                trickle.sendall(bytes([b]))
            except OSError:
                break
            r, _, _ = select.select([trickle], [], [], 0.2)
            if r:
                break
        closed["trickle"] = (read_to_close(trickle, 30 * md.factor), time.monotonic() - t0)

    th = threading.Thread(target=trickler)
    th.start()
    try:
        while time.monotonic() - t0 < HTTP_TIMEOUT - 1:
            rpc_answers_quickly(md, 0.5)
            assert get(md, "/healthz").status == 200
            time.sleep(0.1)
        assert read_to_close(silent, 30 * md.factor) == b""
        silent_after = time.monotonic() - t0
        th.join(40 * md.factor)
        assert not th.is_alive()
    finally:
        silent.close()
        trickle.close()
    got, trickle_after = closed["trickle"]
    assert got == b""   # closed without an answer: its request never arrived whole
    for after in (silent_after, trickle_after):
        assert HTTP_TIMEOUT - 0.5 <= after <= HTTP_TIMEOUT + 3 * md.factor, after
    rpc_answers_quickly(md)


def test_connections_past_the_bound_are_closed_at_once(md):
    held = []
    try:
        for _ in range(MAX_CONNS):
            held.append(socket.create_connection(("127.0.0.1", md.metrics_port)))
        t0 = time.monotonic()
        with socket.create_connection(("127.0.0.1", md.metrics_port)) as extra:
            assert read_to_close(extra, 10 * md.factor) == b""
        assert time.monotonic() - t0 < 2 * md.factor
        # the ones held are still open, and calls go on
        r, _, _ = select.select(held, [], [], 0)
        assert r == []
        rpc_answers_quickly(md)
    finally:
        for s in held:
            s.close()

    def scraped():
        try:
            return get(md, "/healthz").status == 200
        except OSError:
            return False
    wait_until(scraped, 10 * md.factor, "a scrape served once the held connections closed")


# ---- config --------------------------------------------------------------

def check(tmp_path, text):
    cfg = tmp_path / "m.yaml"
    cfg.write_text("listen:\n  - unix: x.sock\n" + text)
    return cfg, subprocess.run([str(BINARY), "--check", "-c", str(cfg)], capture_output=True, text=True, timeout=60,
                               stdin=subprocess.DEVNULL)


@pytest.mark.parametrize("text, error", [
    ("metrics: {listen: localhost:9717}\n",
     "3:19: metrics.listen: 'localhost' is not an IPv4 or IPv6 address (names are not looked up), e.g. "
     "127.0.0.1:9717"),
    ("metrics: {listen: 127.0.0.1:99999}\n", "3:19: metrics.listen: port must be 1 to 65535, got '99999'"),
    ("metrics: {listen: /run/m.sock}\n",
     "3:19: metrics.listen: '/run/m.sock': metrics are served over TCP only (Prometheus scrapes HTTP over TCP): "
     "give HOST:PORT, e.g. 127.0.0.1:9717"),
    ("metrics:\n  listen: 127.0.0.1:9717\n  port: 9718\n",
     "5:3: metrics: unknown key 'port' (expected one of: listen)"),
    ("metrics: {}\n",
     "3:10: metrics: needs listen: HOST:PORT (e.g. 127.0.0.1:9717); without metrics: there is no HTTP listener"),
])
def test_config_errors_name_the_file_line_and_what(tmp_path, text, error):
    cfg, r = check(tmp_path, text)
    assert r.returncode == 1
    assert r.stderr == f"pyrpoold: {cfg}:{error}\n"


def test_check_shows_the_metrics_address(tmp_path):
    cfg, r = check(tmp_path, "metrics:\n  listen: \"[::1]:9717\"\n")
    assert r.returncode == 0, r.stderr
    assert "  metrics http://[::1]:9717/metrics\n" in r.stdout


def test_a_port_in_use_stops_the_start(tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        cfg = tmp_path / "m.yaml"
        cfg.write_text(f"listen:\n  - unix: x.sock\n{metrics_yaml(port)}")
        r = subprocess.run([str(BINARY), "-c", str(cfg)], capture_output=True, text=True, timeout=60,
                           stdin=subprocess.DEVNULL)
    assert r.returncode == 1
    assert f"http:127.0.0.1:{port} (metrics.listen): cannot listen: address already in use" in r.stderr


def test_an_address_other_machines_reach_is_warned_about(daemon_factory):
    port = free_tcp_port()
    d = daemon_factory(extra_yaml=metrics_yaml(port, "0.0.0.0"))
    d.metrics_port = port
    assert get(d, "/healthz").status == 200
    assert f"http:0.0.0.0:{port}: reachable from other machines" in d.stderr_text()


def test_a_reload_keeps_the_listener(daemon_factory):
    """metrics.listen changes only at a restart: a reload that moves it logs
    so and the listener stays where it was (a second reload too)."""
    port, other = free_tcp_port(), free_tcp_port()
    d = daemon_factory(extra_yaml=metrics_yaml(port))
    d.metrics_port = port
    with d.pyrpool_client() as c:
        assert c.reload() is True
        assert "metrics.listen changed" not in d.stderr_text()
        d.extra_yaml = metrics_yaml(other)
        d.write_config()
        assert c.reload() is True
        assert "reload: metrics.listen changed; the HTTP listener changes only on a restart" in d.stderr_text()
        assert c.reload() is True
        assert d.stderr_text().count("metrics.listen changed") == 2
    assert get(d, "/healthz").status == 200
    assert value(scrape(d)[0], "pyrpool_config_generation") == 3
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", other), timeout=5).close()
