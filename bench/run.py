"""make bench: pyrpoold side by side with what a Python user would use instead.

    /usr/bin/python3 bench/run.py        (from the repository root, or anywhere)

Environment:
    BENCH_SCALE=F   multiply every call count by F (default 1; 0.1 for a smoke run)
    BENCH_REPS=N    repetitions of every measurement (default 3, medians reported)
    BENCH_SAVE=1    also write the results to the tracked bench/RESULTS.md

Starts the daemon (build/pyrpoold) on a temporary config (default pool: one
executor per CPU, io pool: 10) and bench/asyncio_server.py, then runs, REPS
times each: build/pingpong, build/loadgen against both servers, and
bench/alternatives.py (ProcessPoolExecutor, multiprocessing.Pool). Prints one
table of medians and writes build/bench-results.md (bench/RESULTS.md with
BENCH_SAVE=1, so a run does not leave the tree changed) with the machine, the table and
the raw medians.

Nothing here is a pass/fail test of speed. The exit status is non-zero only
when something is broken: the daemon does not start or dies, a tool fails,
a call that should succeed answers an error, or an answer is wrong.
"""
import datetime
import json
import os
import platform
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time

import msgpack

from alternatives import proc_kib  # bench/ is on sys.path: this script's folder

BENCH = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(BENCH)
BUILD = os.path.join(ROOT, "build")
DAEMON = os.path.join(BUILD, "pyrpoold")
LOADGEN = os.path.join(BUILD, "loadgen")
PINGPONG = os.path.join(BUILD, "pingpong")
CLIENT_C = os.path.join(BUILD, "bench-client-c")
PYTHON = "/usr/bin/python3"

NCPU = os.cpu_count() or 1
IO_SIZE = 10
REPLACE_KILLS = 5   # executors killed once each, per pool, for the replacement time
MAP_ITEMS = 200_000
HOL_SLEEP = 0.3
HOL_TRIES = 3           # head-of-line tries on pyrpoold per repetition
FAIR_FLOOD = 2000       # fairness: client A's calls in flight (time.sleep(FAIR_SLEEP) each)
FAIR_SLEEP = 0.001
FAIR_WINDOW = 8.0       # fairness: seconds client B calls, one at a time (times BENCH_SCALE, >= 3)


def env_float(name, default):
    try:
        v = float(os.environ.get(name, default))
    except ValueError:
        sys.exit(f"bench: {name} must be a number")
    if v <= 0:
        sys.exit(f"bench: {name} must be > 0")
    return v


SCALE = env_float("BENCH_SCALE", 1.0)
REPS = max(1, int(env_float("BENCH_REPS", 3)))


def n(count, minimum=1):
    return max(minimum, int(count * SCALE))


def fair_window():
    """Seconds client B calls in the fairness row."""
    return max(3.0, FAIR_WINDOW * SCALE)


class BenchError(Exception):
    pass


def log(msg):
    print(f"bench: {msg}", file=sys.stderr, flush=True)


# ---- a small synchronous client (readiness, checks, the head-of-line call) ----

class Client:
    def __init__(self, path, timeout=30.0):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(timeout)
        self.sock.connect(path)
        self.unpacker = msgpack.Unpacker(raw=False, max_buffer_size=1 << 30)
        self.msgid = 0
        self.answers = {}

    def close(self):
        self.sock.close()

    def send(self, method, params):
        self.msgid += 1
        self.sock.sendall(msgpack.packb([0, self.msgid, method, params], use_bin_type=True))
        return self.msgid

    def wait(self, msgid):
        while msgid not in self.answers:
            data = self.sock.recv(1 << 20)
            if not data:
                raise BenchError("the server closed the connection")
            self.unpacker.feed(data)
            for msg in self.unpacker:
                self.answers[msg[1]] = (msg[2], msg[3])
        return self.answers.pop(msgid)

    def call(self, method, params):
        return self.wait(self.send(method, params))


def wait_for_socket(path, proc, what, deadline):
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise BenchError(f"{what} exited with status {proc.returncode} while starting")
        if os.path.exists(path):
            try:
                c = Client(path, timeout=5)
                err, res = c.call("ping", [])
                c.close()
                if err is None and res == "pong":
                    return
            except (OSError, BenchError):
                pass
        time.sleep(0.05)
    raise BenchError(f"{what} did not answer ping in time")


def wait_for_pool(path, pool, size, deadline):
    """Calls os.getpid on the pool, size at a time, until size executors answered."""
    c = Client(path, timeout=max(1.0, deadline - time.monotonic()))
    pids = set()
    try:
        while len(pids) < size:
            if time.monotonic() > deadline:
                raise BenchError(f"pool {pool}: only {len(pids)} of {size} executors answered")
            ids = [c.send("call", ["os", "getpid", [], {}, {"pool": pool}]) for _ in range(size)]
            for i in ids:
                err, res = c.wait(i)
                if err is not None:
                    raise BenchError(f"pool {pool}: os.getpid answered {err}")
                pids.add(res)
    finally:
        c.close()
    return pids


# ---- processes ----

def read_status_kib(pid, key="VmRSS"):
    return proc_kib(pid, "status", key)


def read_pss_kib(pid):
    return proc_kib(pid, "smaps_rollup", "Pss")


def children_of(ppid):
    out = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2:].split()
        if int(fields[1]) == ppid:
            out.append(int(d))
    return out


class RssSampler(threading.Thread):
    def __init__(self, pid, period=0.01):
        super().__init__(daemon=True)
        self.pid, self.period, self.max_kib = pid, period, 0
        self.done = threading.Event()

    def run(self):
        while not self.done.is_set():
            v = read_status_kib(self.pid)
            if v is not None and v > self.max_kib:
                self.max_kib = v
            time.sleep(self.period)

    def stop(self):
        self.done.set()
        self.join()
        return self.max_kib


def stop_process(proc, timeout=10):
    if proc is None or proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def tail(path, lines=30):
    try:
        with open(path, errors="replace") as f:
            return "".join(f.readlines()[-lines:])
    except OSError:
        return ""


# ---- the bench ----

class Bench:
    def __init__(self):
        self.tmp = tempfile.mkdtemp(prefix="pyrpoold-bench-")
        self.sock = os.path.join(self.tmp, "d.sock")
        self.asock = os.path.join(self.tmp, "a.sock")
        self.daemon = self.aserver = None
        self.daemon_log = os.path.join(self.tmp, "pyrpoold.log")
        self.samples = {}        # metric -> [value per rep]
        self.failures = []
        self.map_status = None   # None: available; else why not
        self.files = {}

    # -- setup

    def write_params(self):
        doc = {f"key{i:03d}": ("value-%d" % i) * 2 if i % 2 else i * 1.5 for i in range(40)}
        doc["nested"] = {"list": list(range(20)), "flag": True, "none": None}
        self.json_doc = doc
        params = {
            "sqrt": ["math", "sqrt", [16]],
            "sqrt_io_sleep": ["time", "sleep", [0.05], {}, {"pool": "io"}],
            "sleep_1ms": ["time", "sleep", [FAIR_SLEEP]],
            "json": ["json", "dumps", [doc]],
            "bytes": ["builtins", "bytes", [b"\xa5" * (1 << 20)]],
            "map": ["math", "sqrt", [[16]] * n(MAP_ITEMS)],
        }
        for name, p in params.items():
            path = os.path.join(self.tmp, name + ".mp")
            with open(path, "wb") as f:
                f.write(msgpack.packb(p, use_bin_type=True))
            self.files[name] = path
        self.json_len = len(json.dumps(doc))

    def start_daemon(self):
        cfg = os.path.join(self.tmp, "pyrpoold.yaml")
        with open(cfg, "w") as f:
            f.write(f"""listen:
  - unix: {self.sock}
pools:
  default: {{size: {NCPU}, mode: process}}
  io:      {{size: {IO_SIZE}, mode: process}}
  forked:  {{size: {REPLACE_KILLS}}}
  fresh:   {{size: {REPLACE_KILLS}, preload_in_template: false}}
python:
  path: [{self.tmp}]
  preload: [json]
""")
        logf = open(self.daemon_log, "wb")
        self.daemon = subprocess.Popen([DAEMON, "-c", cfg], stdout=logf, stderr=subprocess.STDOUT,
                                       stdin=subprocess.DEVNULL)
        logf.close()
        deadline = time.monotonic() + 60
        wait_for_socket(self.sock, self.daemon, "pyrpoold", deadline)
        self.pool_pids = {"default": wait_for_pool(self.sock, "default", NCPU, deadline),
                          "io": wait_for_pool(self.sock, "io", IO_SIZE, deadline)}
        self.samples["master_rss_idle_kib"] = [read_status_kib(self.daemon.pid)]

    def start_asyncio(self):
        self.alog = os.path.join(self.tmp, "asyncio_server.log")
        logf = open(self.alog, "wb")
        self.aserver = subprocess.Popen([PYTHON, os.path.join(BENCH, "asyncio_server.py"), self.asock],
                                        stdout=logf, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        logf.close()
        wait_for_socket(self.asock, self.aserver, "asyncio_server.py", time.monotonic() + 30)

    def check_answers(self):
        """One call of every workload on both servers, answers compared with local Python."""
        expect = [
            ("math.sqrt", "call", ["math", "sqrt", [16]], 4.0),
            ("json.dumps", "call", ["json", "dumps", [self.json_doc]], json.dumps(self.json_doc)),
            ("builtins.bytes", "call", ["builtins", "bytes", [b"\xa5" * 1000]], b"\xa5" * 1000),
            ("shorthand math.sqrt", "math.sqrt", [25], 5.0),
        ]
        for server, path in (("pyrpoold", self.sock), ("asyncio server", self.asock)):
            c = Client(path)
            try:
                for what, method, params, want in expect:
                    err, res = c.call(method, params)
                    if err is not None or res != want:
                        raise BenchError(f"{server}: {what} answered error={err!r} result={res!r:.200}")
            finally:
                c.close()
        c = Client(self.sock)
        try:
            err, res = c.call("map", ["math", "sqrt", [[16], [25], [36]]])
        finally:
            c.close()
        if err is not None and isinstance(err, dict) and err.get("type") == "NoSuchMethod":
            self.map_status = "n/a (map not available)"
        elif err is not None:
            self.map_status = f"n/a (map failed: {err.get('type') if isinstance(err, dict) else err})"
            self.failures.append(f"map answered an error: {err!r:.300}")
        elif res != [4.0, 5.0, 6.0]:
            self.map_status = "n/a (map answered wrongly)"
            self.failures.append(f"map of math.sqrt over [[16],[25],[36]] answered {res!r:.300}")

    # -- runners

    def daemon_alive(self):
        if self.daemon.poll() is not None:
            raise BenchError(f"pyrpoold exited with status {self.daemon.returncode}; its log:\n"
                             + tail(self.daemon_log))

    def run_tool(self, argv, timeout=600):
        p = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=timeout)
        if p.returncode != 0:
            raise BenchError(f"{os.path.basename(argv[0])} failed ({p.returncode}): {p.stderr.strip()[-2000:]}")
        try:
            r = json.loads(p.stdout.strip().splitlines()[-1])
        except (ValueError, IndexError):
            raise BenchError(f"{argv[0]} printed no JSON: {p.stdout[-500:]!r} {p.stderr[-500:]!r}")
        r["_stderr"] = p.stderr
        return r

    def loadgen_argv(self, server, params, conns=1, inflight=1, calls=None, warmup=0, method="call",
                     duration=None):
        argv = [LOADGEN, "--socket", self.sock if server == "ours" else self.asock, "--method", method,
                "--params-file", self.files[params], "--conns", str(conns), "--inflight", str(inflight),
                "--warmup", str(warmup), "--timeout", "300"]
        if calls is not None:
            argv += ["--calls", str(calls)]
        if duration is not None:
            argv += ["--duration", str(duration)]
        return argv

    def check_errors(self, what, r, stderr=None):
        if r["errors"] or r.get("warmup_errors"):
            msg = (stderr if stderr is not None else r.get("_stderr", "")).strip()
            raise BenchError(f"{what}: {r['errors'] + r.get('warmup_errors', 0)} calls answered an error; "
                             f"{msg[:1500]}")

    def loadgen(self, what, server, params, **kw):
        r = self.run_tool(self.loadgen_argv(server, params, **kw))
        self.check_errors(what, r)
        if server == "ours":
            self.daemon_alive()
        return r

    def record(self, key, value):
        self.samples.setdefault(key, []).append(value)

    def median(self, key):
        v = self.samples.get(key)
        return statistics.median(v) if v else None

    def step(self, name, fn):
        """Runs one measurement; a failure is recorded and the bench goes on
        (unless the daemon is gone)."""
        t0 = time.monotonic()
        try:
            fn()
        except (BenchError, subprocess.TimeoutExpired, OSError) as e:
            self.failures.append(f"{name}: {e}")
            log(f"FAILED {name}: {e}")
            if self.daemon.poll() is not None:
                raise BenchError(f"pyrpoold is gone (status {self.daemon.returncode}); its log:\n"
                                 + tail(self.daemon_log))
            return
        log(f"  {name}: {time.monotonic() - t0:.1f} s")

    # -- the measurements (one repetition each)

    def m_pingpong(self):
        r = self.run_tool([PINGPONG, "--count", str(n(50_000, 1000)), "--warmup", "1000"])
        self.record("pingpong_p50_us", r["p50_us"])
        self.record("pingpong_round_trips_per_s", r["round_trips_per_s"])

    def m_sequential(self):
        for server in ("ours", "asyncio"):
            r = self.loadgen(f"{server} math.sqrt 1x1", server, "sqrt", calls=n(20_000, 100), warmup=1000)
            self.record(f"{server}_seq_p50_us", r["p50_us"])
            self.record(f"{server}_seq_p99_us", r["p99_us"])

    def m_alternatives(self):
        r = self.run_tool([PYTHON, os.path.join(BENCH, "alternatives.py"), "--workers", str(NCPU),
                           "--seq-calls", str(n(5000, 100)), "--map-calls-1", str(n(20_000, 100)),
                           "--map-calls-64", str(n(400_000, 1000)), "--map-items", str(n(MAP_ITEMS))],
                          timeout=900)
        for k, v in r.items():
            if k not in ("workers", "_stderr"):
                self.record("alt_" + k, v)

    def m_pipelined(self):
        for server in ("ours", "asyncio"):
            r = self.loadgen(f"{server} math.sqrt 1x64", server, "sqrt", inflight=64,
                             calls=n(400_000, 1000), warmup=5000)
            self.record(f"{server}_1x64_calls_per_s", r["calls_per_s"])
            self.record(f"loadgen_cpu_share_{server}_1x64", r["loadgen_cpu_s"] / r["seconds"])
            self.record(f"{server}_1x64_p50_us", r["p50_us"])

    def client_rate(self, what, argv, timeout=300):
        """calls_per_s=<float> from a client library's bench program."""
        p = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=timeout)
        line = p.stdout.strip().splitlines()[-1] if p.stdout.strip() else ""
        if p.returncode != 0 or not line.startswith("calls_per_s="):
            raise BenchError(f"{what} failed ({p.returncode}): {(p.stderr or p.stdout).strip()[-1500:]}")
        self.daemon_alive()
        return float(line.split("=", 1)[1])

    def m_clients(self):
        """math.sqrt 1×64 through each client library (clients/), beside the
        load generator's figure from the same repetition (row 3)."""
        secs = str(max(2.0, 5.0 * SCALE))
        runs = [("client_c_1x64", "C client", [CLIENT_C, self.sock, secs, "64"]),
                ("client_py_threads", "Python client, 16 threads",
                 [PYTHON, os.path.join(BENCH, "client_python.py"), self.sock, "threads",
                  "--calls", str(n(160_000, 1600))]),
                ("client_py_asyncio", "Python client, asyncio",
                 [PYTHON, os.path.join(BENCH, "client_python.py"), self.sock, "asyncio",
                  "--calls", str(n(160_000, 1600)), "--inflight", "64"]),
                ("client_erl_1x64", "Erlang client",
                 ["escript", os.path.join(BENCH, "client_erlang.erl"), self.sock, secs, "64"])]
        for key, what, argv in runs:
            program = argv[0] if argv[0] == CLIENT_C else argv[1]
            if not os.path.exists(program):
                self.failures.append(f"{what}: {program} is missing")
                continue
            self.record(key + "_calls_per_s", self.client_rate(what, argv))

    def m_many_conns(self):
        sampler = RssSampler(self.daemon.pid)
        sampler.start()
        try:
            r = self.loadgen("ours math.sqrt 8x64", "ours", "sqrt", conns=8, inflight=64,
                             calls=n(400_000, 1000), warmup=5000)
        finally:
            rss = sampler.stop()
        self.record("ours_8x64_calls_per_s", r["calls_per_s"])
        self.record("loadgen_cpu_share_ours_8x64", r["loadgen_cpu_s"] / r["seconds"])
        self.record("ours_8x64_p99_us", r["p99_us"])
        self.record("master_rss_8x64_max_kib", rss)
        sampler = RssSampler(self.aserver.pid)
        sampler.start()
        try:
            r = self.loadgen("asyncio math.sqrt 8x64", "asyncio", "sqrt", conns=8, inflight=64,
                             calls=n(400_000, 1000), warmup=5000)
        finally:
            rss = sampler.stop()
        self.record("asyncio_8x64_calls_per_s", r["calls_per_s"])
        self.record("loadgen_cpu_share_asyncio_8x64", r["loadgen_cpu_s"] / r["seconds"])
        self.record("asyncio_rss_8x64_max_kib", rss)

    def m_json(self):
        for server in ("ours", "asyncio"):
            r = self.loadgen(f"{server} json.dumps 1x64", server, "json", inflight=64,
                             calls=n(50_000, 500), warmup=2000)
            self.record(f"{server}_json_calls_per_s", r["calls_per_s"])

    def m_bytes(self):
        for server in ("ours", "asyncio"):
            r = self.loadgen(f"{server} 1 MiB echo 1x4", server, "bytes", inflight=4,
                             calls=n(300, 20), warmup=20)
            gbs = (r["bytes_sent"] + r["bytes_received"]) / r["seconds"] / 1e9
            self.record(f"{server}_bytes_gb_per_s", gbs)
            self.record(f"{server}_bytes_calls_per_s", r["calls_per_s"])

    def background(self, server, method, **kw):
        """Starts a load generator that runs until stop_background."""
        return subprocess.Popen(self.loadgen_argv(server, method, **kw),
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    @staticmethod
    def check_started(proc, what):
        if proc.poll() is not None:
            raise BenchError(f"{what} exited early: {proc.stderr.read()[-1000:]}")

    @staticmethod
    def kill_background(proc):
        proc.kill()
        proc.communicate(timeout=60)

    def stop_background(self, proc, what, load):
        """Stops proc (its calls in flight are awaited) and returns its
        figures; a failure or an error answer is a BenchError."""
        proc.send_signal(signal.SIGTERM)
        out, errtext = proc.communicate(timeout=120)
        if proc.returncode != 0:
            raise BenchError(f"{what} failed: {errtext[-1000:]}")
        r = json.loads(out.strip().splitlines()[-1])
        self.check_errors(load, r, errtext)
        return r

    def m_isolation(self):
        calls = n(50_000, 500)
        r = self.loadgen("isolation, io idle", "ours", "sqrt", inflight=8, calls=calls, warmup=1000)
        self.record("iso_idle_p99_us", r["p99_us"])
        self.record("iso_idle_p50_us", r["p50_us"])
        bg = self.background("ours", "sqrt_io_sleep", inflight=2 * IO_SIZE, duration=300)
        try:
            time.sleep(0.3)  # every io executor busy, a queue behind them
            self.check_started(bg, "the io load generator")
            r = self.loadgen("isolation, io saturated", "ours", "sqrt", inflight=8, calls=calls, warmup=1000)
        except BaseException:
            self.kill_background(bg)
            raise
        io = self.stop_background(bg, "the io load generator", "io pool time.sleep(0.05) load")
        self.record("iso_sat_p99_us", r["p99_us"])
        self.record("iso_sat_p50_us", r["p50_us"])
        self.record("iso_io_calls_per_s", io["calls_per_s"])

    def head_of_line(self, server):
        """Quick calls (1 conn x 4 in flight) on the default pool; after 0.3 s
        one time.sleep(0.3) on the same pool from another connection; 0.1 s
        later the quick calls stop. Returns the quick calls' max latency."""
        path = self.sock if server == "ours" else self.asock
        bg = self.background(server, "sqrt", inflight=4, duration=60, warmup=500)
        try:
            time.sleep(0.3)
            self.check_started(bg, "the quick-call load generator")
            c = Client(path)
            try:
                t0 = time.monotonic()
                err, _ = c.call("call", ["time", "sleep", [HOL_SLEEP]])
                slow = time.monotonic() - t0
            finally:
                c.close()
            if err is not None:
                raise BenchError(f"time.sleep({HOL_SLEEP}) answered {err!r:.300}")
            time.sleep(0.1)
        except BaseException:
            self.kill_background(bg)
            raise
        r = self.stop_background(bg, "the quick-call load generator",
                                 f"{server} quick calls during time.sleep({HOL_SLEEP})")
        self.record(f"{server}_hol_max_us", r["max_us"])
        self.record(f"{server}_hol_p99_us", r["p99_us"])
        self.record(f"{server}_hol_sleep_ms", slow * 1e3)

    def m_head_of_line(self):
        # a stall is a rare race, not a steady state: several tries per repetition
        for _ in range(HOL_TRIES):
            self.head_of_line("ours")
            self.daemon_alive()
        self.head_of_line("asyncio")

    def queued(self, pool):
        c = Client(self.sock)
        try:
            err, pools = c.call("pools", [])
        finally:
            c.close()
        if err is not None:
            raise BenchError(f"pools answered {err!r:.300}")
        return [p for p in pools if p["name"] == pool][0]["queued"]

    def fairness(self, server):
        """Client A keeps FAIR_FLOOD time.sleep(FAIR_SLEEP) calls in flight on
        the default pool (the asyncio server runs them inline); 0.5 s later
        client B, on its own connection, calls math.sqrt one at a time for
        the window; then A stops (its calls in flight are awaited)."""
        a = self.background(server, "sleep_1ms", inflight=FAIR_FLOOD, duration=300)
        try:
            time.sleep(0.5)  # A's calls sent: a backlog on the pool
            self.check_started(a, "client A's load generator")
            if server == "ours":
                self.record("ours_fair_queued_at_b_start", self.queued("default"))
            r = self.loadgen(f"{server} fairness, client B", server, "sqrt", duration=fair_window())
        except BaseException:
            self.kill_background(a)
            raise
        ra = self.stop_background(a, "client A's load generator",
                                  f"{server} fairness, client A (time.sleep({FAIR_SLEEP}))")
        self.record(f"{server}_fair_b_p50_us", r["p50_us"])
        self.record(f"{server}_fair_b_p99_us", r["p99_us"])
        self.record(f"{server}_fair_b_calls", r["calls"])
        self.record(f"{server}_fair_a_calls_per_s", ra["calls_per_s"])

    def m_fairness(self):
        self.fairness("ours")
        self.daemon_alive()
        self.fairness("asyncio")

    def m_map(self):
        r = self.loadgen("map of math.sqrt", "ours", "map", method="map", calls=5, warmup=1)
        self.record("ours_map_calls_per_s", n(MAP_ITEMS) * r["calls"] / r["seconds"])
        self.record("ours_map_request_p50_ms", r["p50_us"] / 1e3)
        self.record("ours_map_bytes_received", r["bytes_received"])

    def replace_ms(self, pool, victim, size):
        """SIGKILL one executor of pool; ms until its replacement is ready:
        first the victim's pid leaves `contexts` (the master saw the death),
        then `pools` shows every executor idle again, none starting (the new
        one answered READY). In that order: a `pools` read before the master
        saw the death would still show the victim idle."""
        c = Client(self.sock)
        try:
            t = time.monotonic()
            os.kill(victim, signal.SIGKILL)
            while victim in c.call("contexts", [pool])[1]:
                if time.monotonic() - t > 30:
                    raise BenchError(f"pool {pool}: the master did not see a SIGKILL in 30 s")
            while True:
                err, pools = c.call("pools", [])
                p = [x for x in pools if x["name"] == pool][0]
                if p["idle"] == size and p["starting"] == 0:
                    return (time.monotonic() - t) * 1e3
                if time.monotonic() - t > 30:
                    raise BenchError(f"pool {pool}: not whole again 30 s after a SIGKILL")
        finally:
            c.close()

    def m_replace(self):
        """Each executor of the forked and fresh pools is killed once (all of
        them have lived long enough that the restart has no backoff)."""
        for pool in ("forked", "fresh"):
            c = Client(self.sock)
            try:
                err, pids = c.call("contexts", [pool])
            finally:
                c.close()
            if err is not None or None in pids:
                raise BenchError(f"pool {pool}: contexts answered {err or pids}")
            for victim in pids:
                self.record(f"ours_replace_{pool}_ms", self.replace_ms(pool, victim, len(pids)))

    def measure_executors(self):
        c = Client(self.sock)
        try:
            kids = [pid for pool in ("default", "io") for pid in c.call("contexts", [pool])[1]]
        finally:
            c.close()
        rss = {pid: read_status_kib(pid) for pid in kids}
        rss = {k: v for k, v in rss.items() if v is not None}
        if not rss:
            raise BenchError("no executor processes found under the master")
        pss = [v for v in (read_pss_kib(pid) for pid in rss) if v is not None]
        self.samples["executor_rss_median_kib"] = [statistics.median(rss.values())]
        self.samples["executor_pss_median_kib"] = [statistics.median(pss)] if pss else []
        self.samples["executor_rss_total_kib"] = [sum(rss.values())]
        self.samples["executor_count"] = [len(rss)]

    # -- the whole run

    def run(self):
        t_start = time.monotonic()
        self.write_params()
        log(f"starting pyrpoold (default pool {NCPU}, io pool {IO_SIZE}) in {self.tmp}")
        self.start_daemon()
        self.start_asyncio()
        self.check_answers()
        if self.map_status:
            log(self.map_status)
        steps = [
            ("ping-pong", self.m_pingpong),
            ("sequential math.sqrt", self.m_sequential),
            ("ProcessPoolExecutor / multiprocessing.Pool", self.m_alternatives),
            ("math.sqrt 1x64", self.m_pipelined),
            ("math.sqrt 8x64", self.m_many_conns),
            ("json.dumps 1x64", self.m_json),
            ("1 MiB echo 1x4", self.m_bytes),
            ("isolation", self.m_isolation),
            ("head-of-line", self.m_head_of_line),
        ]
        if self.map_status is None:
            steps.append(("map", self.m_map))
        steps.append(("two-client fairness", self.m_fairness))
        steps.append(("client libraries 1x64", self.m_clients))
        for rep in range(REPS):
            log(f"repetition {rep + 1} of {REPS}")
            for name, fn in steps:
                self.step(name, fn)
        self.step("executor RSS", self.measure_executors)
        self.step("executor replacement", self.m_replace)
        self.elapsed = time.monotonic() - t_start

    def cleanup(self):
        stop_process(self.aserver)
        stop_process(self.daemon)
        if self.daemon is not None and self.daemon.returncode not in (0, None):
            self.failures.append(f"pyrpoold exited with status {self.daemon.returncode} on SIGTERM")
        shutil.rmtree(self.tmp, ignore_errors=True)


# ---- reporting ----

def fmt_us(v):
    if v is None:
        return "—"
    if v >= 10_000:
        return f"{v / 1e3:,.1f} ms"
    return f"{v:,.1f} µs"


def fmt_rate(v):
    return "—" if v is None else f"{v:,.0f} calls/s"


def fmt_kib(v):
    return "—" if v is None else f"{v / 1024:,.1f} MiB"


def fmt_gbs(v):
    return "—" if v is None else f"{v:.2f} GB/s"


def ratio(a, b):
    if a is None or b is None or b == 0:
        return "—"
    r = a / b
    if r >= 100:
        return f"{r:,.0f}×"
    if r >= 0.1:
        return f"{r:.2f}×"
    return f"{r:.2g}×"


def build_rows(b):
    m = b.median
    rows = []

    def row(num, workload, ours, alt_name, alt, r):
        rows.append((num, workload, ours, alt_name, alt, r))

    pp = m("pingpong_p50_us")
    row("1", "round-trip floor: socketpair ping-pong p50", fmt_us(pp),
        "round trips/s", f"{m('pingpong_round_trips_per_s') or 0:,.0f}/s", "")

    seq = m("ours_seq_p50_us")
    w = "math.sqrt(16) sequential (1×1) p50 latency (lower is better)"
    row("2", w, fmt_us(seq), "ProcessPoolExecutor submit().result()", fmt_us(m("alt_ppe_submit_p50_us")),
        ratio(seq, m("alt_ppe_submit_p50_us")))
    row("", "", "", "multiprocessing.Pool.apply", fmt_us(m("alt_mp_apply_p50_us")),
        ratio(seq, m("alt_mp_apply_p50_us")))
    row("", "", "", "asyncio server (1×1)", fmt_us(m("asyncio_seq_p50_us")), ratio(seq, m("asyncio_seq_p50_us")))
    row("", "", "", "ping-pong round trip (row 1)", fmt_us(pp), ratio(seq, pp))

    t = m("ours_1x64_calls_per_s")
    w = "math.sqrt(16) 1 conn × 64 in flight, calls/s (higher is better)"
    row("3", w, fmt_rate(t), "ProcessPoolExecutor.map chunksize=1", fmt_rate(m("alt_ppe_map_c1_calls_per_s")),
        ratio(t, m("alt_ppe_map_c1_calls_per_s")))
    row("", "", "", "ProcessPoolExecutor.map chunksize=64", fmt_rate(m("alt_ppe_map_c64_calls_per_s")),
        ratio(t, m("alt_ppe_map_c64_calls_per_s")))
    row("", "", "", "multiprocessing map_async chunksize=1", fmt_rate(m("alt_mp_map_async_c1_calls_per_s")),
        ratio(t, m("alt_mp_map_async_c1_calls_per_s")))
    row("", "", "", "multiprocessing map_async chunksize=64", fmt_rate(m("alt_mp_map_async_c64_calls_per_s")),
        ratio(t, m("alt_mp_map_async_c64_calls_per_s")))
    row("", "", "", "asyncio server (1×64)", fmt_rate(m("asyncio_1x64_calls_per_s")),
        ratio(t, m("asyncio_1x64_calls_per_s")))

    t8 = m("ours_8x64_calls_per_s")
    row("4", "math.sqrt(16) 8 conns × 64 in flight, calls/s", fmt_rate(t8), "pyrpoold at 1 conn × 64 (row 3)",
        fmt_rate(t), ratio(t8, t))
    row("", "", "", "asyncio server (8×64)", fmt_rate(m("asyncio_8x64_calls_per_s")),
        ratio(t8, m("asyncio_8x64_calls_per_s")))

    j = m("ours_json_calls_per_s")
    row("5", f"json.dumps of a {b.json_len}-byte dict, 1×64, calls/s", fmt_rate(j), "asyncio server (1×64)",
        fmt_rate(m("asyncio_json_calls_per_s")), ratio(j, m("asyncio_json_calls_per_s")))

    g = m("ours_bytes_gb_per_s")
    row("6", "1 MiB bytes echo, 1×4, payload GB/s (sent + received)", fmt_gbs(g), "asyncio server (1×4)",
        fmt_gbs(m("asyncio_bytes_gb_per_s")), ratio(g, m("asyncio_bytes_gb_per_s")))

    sat, idle = m("iso_sat_p99_us"), m("iso_idle_p99_us")
    row("7", f"isolation: default-pool math.sqrt 1×8 p99, io pool saturated "
             f"(time.sleep(0.05), {2 * IO_SIZE} in flight)", fmt_us(sat), "the same, io pool idle", fmt_us(idle),
        ratio(sat, idle))

    h = m("ours_hol_max_us")
    tries = b.samples.get("ours_hol_max_us", [])
    stalls = sum(1 for v in tries if v >= 0.8 * HOL_SLEEP * 1e6)
    row("8", "head-of-line: max latency of math.sqrt calls (1×4) around one time.sleep(0.3), "
             "median of tries", fmt_us(h), "asyncio server, same", fmt_us(m("asyncio_hol_max_us")),
        ratio(h, m("asyncio_hol_max_us")))
    row("", f"  tries where a quick call waited ≥ {0.8 * HOL_SLEEP * 1e3:.0f} ms (worst: "
            f"{fmt_us(max(tries) if tries else None)})", f"{stalls} of {len(tries)}", "", "", "")

    if b.map_status is None:
        mp = m("ours_map_calls_per_s")
        row("9", f"map math.sqrt over {n(MAP_ITEMS):,} args in one request, calls/s", fmt_rate(mp),
            "multiprocessing map_async chunksize=64", fmt_rate(m("alt_mp_map_async_big_c64_calls_per_s")),
            ratio(mp, m("alt_mp_map_async_big_c64_calls_per_s")))
    else:
        row("9", f"map math.sqrt over {n(MAP_ITEMS):,} args in one request, calls/s", b.map_status,
            "multiprocessing map_async chunksize=64", fmt_rate(m("alt_mp_map_async_big_c64_calls_per_s")), "—")

    rss = m("master_rss_8x64_max_kib")
    row("10", "master RSS, max during the 8×64 run", fmt_kib(rss), "asyncio server RSS, max during its 8×64",
        fmt_kib(m("asyncio_rss_8x64_max_kib")), ratio(rss, m("asyncio_rss_8x64_max_kib")))
    ex = m("executor_rss_median_kib")
    row("", f"executor RSS, idle (median of {int(m('executor_count') or 0)}; "
            f"total {fmt_kib(m('executor_rss_total_kib'))})", fmt_kib(ex),
        "ProcessPoolExecutor worker RSS (median)", fmt_kib(m("alt_ppe_worker_rss_kib")),
        ratio(ex, m("alt_ppe_worker_rss_kib")))
    row("", "", "", "multiprocessing.Pool worker RSS (median)", fmt_kib(m("alt_mp_worker_rss_kib")),
        ratio(ex, m("alt_mp_worker_rss_kib")))
    ex = m("executor_pss_median_kib")
    row("", "executor PSS, idle (median)", fmt_kib(ex), "ProcessPoolExecutor worker PSS (median)",
        fmt_kib(m("alt_ppe_worker_pss_kib")), ratio(ex, m("alt_ppe_worker_pss_kib")))
    row("", "", "", "multiprocessing.Pool worker PSS (median)", fmt_kib(m("alt_mp_worker_pss_kib")),
        ratio(ex, m("alt_mp_worker_pss_kib")))
    f, fr = m("ours_replace_forked_ms"), m("ours_replace_fresh_ms")
    row("11", "executor replaced after a SIGKILL, until the new one is ready: forked from the template",
        f"{f:.1f} ms" if f is not None else "n/a", "fresh process (preload_in_template: false)",
        f"{fr:.1f} ms" if fr is not None else "n/a", ratio(f, fr))

    fp, fa = m("ours_fair_b_p99_us"), m("asyncio_fair_b_p99_us")
    row("12", f"fairness: client B's math.sqrt (1×1) p99 while client A keeps {FAIR_FLOOD:,} "
              f"time.sleep({FAIR_SLEEP:g}) in flight on the same pool", fmt_us(fp),
        "asyncio server, same", fmt_us(fa), ratio(fp, fa))
    fp, fa = m("ours_fair_b_p50_us"), m("asyncio_fair_b_p50_us")
    row("", "  client B's p50, same", fmt_us(fp), "asyncio server, same", fmt_us(fa), ratio(fp, fa))
    fp, fa = m("ours_fair_b_calls"), m("asyncio_fair_b_calls")
    row("", f"  client B's calls (issued for {fair_window():g} s, one at a time)",
        "—" if fp is None else f"{fp:,.0f}", "asyncio server, same", "—" if fa is None else f"{fa:,.0f}", "")
    for num, key, what in [("13", "client_c_1x64", "C client (libpyrpool): 1 conn × 64 in flight"),
                           ("", "client_py_threads", "Python client: 16 threads sharing one connection"),
                           ("", "client_py_asyncio", "Python client: AsyncClient, 64 in flight"),
                           ("", "client_erl_1x64", "Erlang client: 1 conn × 64 in flight (cast/await)")]:
        v = m(key + "_calls_per_s")
        row(num, f"math.sqrt(16) through the {what}, calls/s", fmt_rate(v),
            "load generator 1×64 (row 3)", fmt_rate(t), ratio(v, t))

    return rows


def notes(b):
    m = b.median
    out = []
    a, c = m("loadgen_cpu_share_ours_8x64"), m("loadgen_cpu_share_asyncio_8x64")
    if a is not None and c is not None:
        out.append(f"Load generator CPU during the 8×64 runs: {a:.2f} CPU against pyrpoold, "
                   f"{c:.2f} CPU against the asyncio server ({NCPU} CPUs in all).")
    mi = m("master_rss_idle_kib")
    if mi is not None:
        out.append(f"Master RSS when idle after start: {fmt_kib(mi)}.")
    return out


def render_table(rows):
    head = ("#", "workload", "pyrpoold", "compared with", "their figure", "ours ÷ theirs")
    cols = list(zip(*([head] + rows)))
    widths = [max(len(str(x)) for x in col) for col in cols]
    right = {2, 4, 5}

    def line(cells):
        out = []
        for i, c in enumerate(cells):
            out.append(str(c).rjust(widths[i]) if i in right else str(c).ljust(widths[i]))
        return "| " + " | ".join(out) + " |"

    sep = "|" + "|".join(("-" * (w + 1) + ":") if i in right else ("-" * (w + 2))
                         for i, w in enumerate(widths)) + "|"
    return "\n".join([line(head), sep] + [line(r) for r in rows])


def machine():
    model = "unknown"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    try:
        rev = subprocess.run(["git", "-C", ROOT, "describe", "--always", "--dirty"], capture_output=True,
                             text=True).stdout.strip() or "unknown"
    except OSError:
        rev = "unknown"
    return {
        "nproc": NCPU,
        "cpu": model,
        "kernel": platform.release(),
        "python": platform.python_version(),
        "msgpack (python)": ".".join(map(str, msgpack.version)),
        "pyrpoold revision": rev,
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
    }


def write_results(b, table, info):
    medians = {k: b.median(k) for k in sorted(b.samples)}
    lines = [
        "# pyrpoold benchmark results",
        "",
        "Written by `make bench` (`bench/run.py`); every figure is the median of "
        f"{REPS} repetitions (BENCH_SCALE={SCALE:g}).",
        "",
    ]
    lines += [f"- {k}: {v}" for k, v in info.items()]
    lines += [
        f"- pools: default {NCPU} executors, io {IO_SIZE} executors (process mode); "
        f"forked and fresh, {REPLACE_KILLS} each, for the replacement time; python.preload: [json]",
        f"- whole run: {b.elapsed:.0f} s",
        "",
        "Ratios are pyrpoold's figure divided by the other one: for latencies and",
        "memory lower is better, for calls/s and GB/s higher is better.",
        "",
        table,
        "",
    ] + notes(b) + [""]
    if b.failures:
        lines += ["## Failures", ""] + [f"- {f}" for f in b.failures] + [""]
    lines += [
        "## How each figure is measured",
        "",
        "- Load: `build/loadgen` (bench/loadgen.c), one epoll loop, requests pre-packed, written in "
        "batches; per-call latency from CLOCK_MONOTONIC into a log-bucketed histogram (<1% buckets).",
        "- Round-trip floor: `build/pingpong`, parent and child on a socketpair, 32-byte messages.",
        "- asyncio server: `bench/asyncio_server.py`, one process, calls run inline on the loop.",
        "- ProcessPoolExecutor / multiprocessing.Pool: `bench/alternatives.py`, "
        f"{NCPU} workers, pools warmed up before timing.",
        "- RSS: VmRSS from /proc; the master sampled every 10 ms during the 8×64 run; the default "
        "and io executors (forks of their pools' templates) read once, idle, at the end. PSS "
        "(/proc/PID/smaps_rollup) shares pages among the processes mapping them: fairer for "
        "forked pool workers.",
        f"- Replacement: each of the {REPLACE_KILLS} executors of pool `forked` (forked from its "
        "template) and of pool `fresh` (preload_in_template: false) is sent SIGKILL once, at the "
        "end of the run; the time is from the kill until the victim's pid has left `contexts` and "
        "then `pools` shows the pool whole again (every executor idle, none starting: the "
        "replacement has answered READY), polled back to back.",
        f"- Fairness: two `build/loadgen` runs on their own connections to the default pool: client A "
        f"keeps {FAIR_FLOOD:,} calls of time.sleep({FAIR_SLEEP:g}) in flight; 0.5 s after it starts, "
        f"client B calls math.sqrt(16) one at a time for {fair_window():g} s, then A "
        "stops and waits for its calls. The figures are B's per-call latencies; with few B calls, "
        "its p99 is its slowest call. ours_fair_queued_at_b_start is the pool's `queued` count read "
        "just before B starts; *_fair_a_calls_per_s is A's rate. The asyncio server runs A's calls "
        "inline on its event loop: the calls of one read all run before it reads again.",
        "- The load generator's own CPU use (loadgen_cpu_share_*: CPU seconds per second of run) "
        "is in the raw medians; with 2 CPUs it competes with the server it measures.",
        "",
        "## Raw medians",
        "",
        "```json",
        json.dumps(medians, indent=1),
        "```",
        "",
        "## Every repetition",
        "",
        "```json",
        json.dumps(b.samples, indent=1),
        "```",
        "",
    ]
    for path in results_paths():
        with open(path, "w") as f:
            f.write("\n".join(lines))


def results_paths():
    """build/bench-results.md, and the tracked bench/RESULTS.md on request."""
    paths = [os.path.join(BUILD, "bench-results.md")]
    if os.environ.get("BENCH_SAVE") == "1":
        paths.append(os.path.join(BENCH, "RESULTS.md"))
    return paths


def ensure_built():
    missing = [p for p in (DAEMON, LOADGEN, PINGPONG, CLIENT_C) if not os.access(p, os.X_OK)]
    if missing:
        log(f"building {', '.join(os.path.basename(p) for p in missing)}")
        r = subprocess.run(["make", "-C", ROOT, "--no-print-directory", "all", "bench-bins"])
        if r.returncode != 0:
            sys.exit("bench: build failed")


def main():
    ensure_built()
    b = Bench()
    try:
        b.run()
    except BenchError as e:
        log(f"error: {e}")
        if b.daemon is not None and b.daemon.poll() is not None:
            log("pyrpoold log:\n" + tail(b.daemon_log))
        b.cleanup()
        return 1
    except KeyboardInterrupt:
        b.cleanup()
        return 130
    b.cleanup()
    info = machine()
    table = render_table(build_rows(b))
    print()
    print(f"pyrpoold bench — {info['nproc']} × {info['cpu']}, {info['date']}, "
          f"medians of {REPS} (BENCH_SCALE={SCALE:g}), {b.elapsed:.0f} s")
    print()
    print(table)
    print()
    for line in notes(b):
        print(line)
    write_results(b, table, info)
    print("written to " + ", ".join(os.path.relpath(p) for p in results_paths()))
    if b.failures:
        print("\nFAILURES:", file=sys.stderr)
        for f in b.failures:
            print(f"  {f}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
