"""What executors write on their fd 1 and 2 is in the daemon's log, one
record per line, tagged with the pool, the executor (POOL/INDEX, or
POOL/template) and its pid and the stream: from forked and spawned
executors, thread mode, the template; whole lines however they were
written; long ones cut into parts that say so; the last line without a
newline when the executor ends; JSON records with the tags as keys. A flood
of output neither blocks the executor nor the daemon, nor pushes the
daemon's own lines out of the log, even when the log itself stalls; what is
dropped is counted and said."""
import json
import os
import re
import threading
import time

import pytest

from conftest import ACTIVE, BINARY, Daemon, finish_daemon, slow_factor, wait_until

OUT_PY = '''\
import os
import sys
import time
import warnings


def say(text):
    print(text)
    return [os.getpid(), os.getppid()]


def say_err(text):
    os.write(2, text.encode() + b"\\n")   # below Python, as a C extension writes
    return os.getpid()


def in_pieces(a, b, c):
    sys.stdout.write(a)
    sys.stdout.flush()
    time.sleep(0.05)
    sys.stdout.write(b)
    sys.stdout.flush()
    time.sleep(0.05)
    sys.stdout.write(c + "\\n")
    return os.getpid()


def warn(text):
    warnings.warn(text)
    return os.getpid()


def print_traceback(text):
    import traceback
    try:
        raise ValueError(text)
    except ValueError:
        traceback.print_exc()
    return os.getpid()


def raw(data):
    os.write(1, data)
    return os.getpid()


def lines(tag, n, width):
    for i in range(n):
        print(f"{tag}:{i}:" + tag * width)
    return os.getpid()


def flood_lines(total):
    line = "f" * 99 + "\\n"
    sys.stdout.write(line * (total // len(line)))
    sys.stdout.flush()
    return os.getpid()


def flood_one_line(total):
    print("L" * total)
    return os.getpid()


def last_words(text):
    sys.stdout.write(text)
    sys.stdout.flush()
    os._exit(0)
'''

# imported by every template and executor at start (python.preload)
LOUD_PY = '''\
import os

print("loud imported in", os.getpid())
'''

POOLS = {"default": {"size": 1}, "io": {"size": 2, "mode": "thread"},
         "fresh": {"size": 1, "preload_in_template": False}}


def make(folder, request, pools=POOLS, log="", preload=True, start=True):
    d = Daemon(folder, valgrind=request.config.getoption("--valgrind"), factor=slow_factor(request.config),
               pools=pools, modules={"out.py": OUT_PY, "loud.py": LOUD_PY}, extra_yaml=log)
    if preload:
        d.config_path.write_text(d.config_path.read_text().replace(
            "  path: [py]\n", "  path: [py]\n  preload: [loud]\n"))
    ACTIVE.append(d)
    if start:
        d.start()
    return d


@pytest.fixture(scope="module")
def text_daemon(request, tmp_path_factory):
    d = make(tmp_path_factory.mktemp("out"), request)
    yield d
    finish_daemon(d)


@pytest.fixture(scope="module")
def json_daemon(request, tmp_path_factory):
    d = make(tmp_path_factory.mktemp("outjson"), request, log="log:\n  format: json\n")
    yield d
    finish_daemon(d)


def log_lines(d):
    return d.stderr_path.read_text(errors="replace").splitlines()


def records(d, pattern):
    """The log lines that are exactly pattern (a regex) after the daemon's
    'pyrpoold[pid]: level: ' prefix; the level is the first group."""
    pat = re.compile(rf"pyrpoold\[{d.proc.pid}\]: (\w+): {pattern}$")
    return [m for m in map(pat.match, log_lines(d)) if m]


def wait_records(d, pattern, n=1, timeout=10):
    return wait_until(lambda: len(records(d, pattern)) >= n and records(d, pattern),
                      timeout * d.factor, f"a log line matching {pattern!r}")


def call(d, function, args, pool, timeout=30):
    with d.connect() as c:
        return c.ok("call", ["out", function, args, None, {"pool": pool}], timeout=timeout)


@pytest.mark.parametrize("pool", ["default", "io", "fresh"])
def test_a_print_is_logged_tagged_with_its_pool_executor_and_pid(text_daemon, pool):
    """Forked from the template (default), thread mode (io: one process,
    its threads' lines tagged with it) and spawned (fresh)."""
    d = text_daemon
    token = f"hello from {pool} {os.urandom(4).hex()}"
    pid, parent = call(d, "say", [token], pool)
    got = wait_records(d, re.escape(f"executor {pool}/0 (pid {pid}) stdout: {token}"))
    assert len(got) == 1 and got[0].group(1) == "info"
    if pool == "fresh":
        assert parent == d.proc.pid          # spawned by the daemon
    else:
        assert parent != d.proc.pid          # forked by its template, with pipes of its own


@pytest.mark.parametrize("pool", ["default", "fresh"])
def test_stderr_from_c_a_warning_and_a_printed_traceback(text_daemon, pool):
    d = text_daemon
    token = os.urandom(4).hex()
    pid = call(d, "say_err", [f"from C {token}"], pool)
    tag = re.escape(f"executor {pool}/0 (pid {pid}) stderr: ")
    assert wait_records(d, tag + f"from C {token}")[0].group(1) == "warning"
    call(d, "warn", [f"careful {token}"], pool)
    wait_records(d, tag + rf".*UserWarning: careful {token}")
    call(d, "print_traceback", [f"oops {token}"], pool)
    wait_records(d, tag + re.escape(f"ValueError: oops {token}"))
    text = "\n".join(log_lines(d))
    tb = text.index(f"stderr: ValueError: oops {token}")
    assert f"(pid {pid}) stderr: Traceback (most recent call last):" in text[:tb]


def test_a_line_written_in_pieces_is_one_record(text_daemon):
    d = text_daemon
    token = os.urandom(4).hex()
    pid = call(d, "in_pieces", [f"first-{token}", " second", " third"], "default")
    wait_records(d, re.escape(f"executor default/0 (pid {pid}) stdout: first-{token} second third"))
    assert not [line for line in log_lines(d) if f"first-{token}" in line and not line.endswith("third")]


def test_the_templates_own_output_is_tagged_as_the_template(text_daemon):
    """The preloaded module prints at import: once in the template (forked
    executors import nothing again), and in each spawned executor."""
    d = text_daemon
    _, template = call(d, "say", ["where"], "default")
    wait_records(d, re.escape(f"executor default/template (pid {template}) stdout: loud imported in {template}"))
    pid, _ = call(d, "say", ["where"], "fresh")
    wait_records(d, re.escape(f"executor fresh/0 (pid {pid}) stdout: loud imported in {pid}"))


def test_lines_of_two_executors_writing_at_once_stay_whole(tmp_path, request):
    d = make(tmp_path / "d", request, pools={"default": {"size": 2}, "io": {"size": 1}}, preload=False,
             log="log:\n  executor_output_rate: 100000\n")
    try:
        with d.connect() as c:
            answers = c.request_many([("call", ["out", "lines", [tag, 300, 5000], None, {"pool": "default"}])
                                      for tag in "AB"], timeout=60 * d.factor)
        pids = [r for _, r in answers]
        assert len(set(pids)) == 2, "both executors ran at once"
        got = wait_records(d, r"executor default/\d \(pid (\d+)\) stdout: ([AB]):(\d+):(.*)", 600)
        for m in got:
            pid, tag, text = int(m.group(2)), m.group(3), m.group(5)
            assert pid == pids["AB".index(tag)] and text == tag * 5000, m.group(0)[:200]
        for tag in "AB":
            assert sorted(int(m.group(4)) for m in got if m.group(3) == tag) == list(range(300))
    finally:
        finish_daemon(d)


@pytest.mark.parametrize("pool", ["default", "fresh"])
def test_a_last_line_without_newline_is_logged_when_the_executor_ends(text_daemon, pool):
    d = text_daemon
    token = f"last words {os.urandom(4).hex()}"
    with d.connect() as c:
        before = c.ok("contexts", [pool])
        err, _ = c.call("call", ["out", "last_words", [token], None, {"pool": pool}], timeout=30 * d.factor)
    assert err["type"] == "WorkerCrashed"
    pid = before[0]
    wait_records(d, re.escape(f"executor {pool}/0 (pid {pid}) exited with status 0"))
    text = "\n".join(log_lines(d))
    said = text.index(f"executor {pool}/0 (pid {pid}) stdout: {token}")
    assert said < text.index(f"executor {pool}/0 (pid {pid}) exited with status 0")


def json_records(d):
    return [json.loads(line) for line in log_lines(d)]     # every line parses, or this fails


def test_json_records_carry_the_tags_as_keys(json_daemon):
    d = json_daemon
    token = os.urandom(4).hex()
    pid, template = call(d, "say", [f"json {token}"], "default")
    err_pid = call(d, "say_err", [f"json err {token}"], "io")
    call(d, "raw", [b"bad \xff\xfe bytes " + token.encode() + b"\n"], "default")

    def find(msg):
        return [r for r in json_records(d) if r["msg"] == msg]
    out = wait_until(lambda: find(f"json {token}"), 10 * d.factor, "the stdout record")
    assert out == [{"time": out[0]["time"], "level": "info", "name": "pyrpoold", "pid": d.proc.pid,
                    "pool": "default", "executor": "default/0", "executor_pid": pid, "stream": "stdout",
                    "msg": f"json {token}"}]
    err = wait_until(lambda: find(f"json err {token}"), 10 * d.factor, "the stderr record")
    assert err[0]["level"] == "warning" and err[0]["stream"] == "stderr" and err[0]["executor"] == "io/0"
    assert err[0]["executor_pid"] == err_pid and err[0]["pool"] == "io"
    bad = wait_until(lambda: find(f"bad \ufffd\ufffd bytes {token}"), 10 * d.factor, "bytes not UTF-8, replaced")
    assert bad[0]["executor_pid"] == pid
    loud = [r for r in json_records(d) if r.get("executor") == "default/template"]
    assert loud and loud[0]["executor_pid"] == template and loud[0]["msg"] == f"loud imported in {template}"


def test_a_long_line_comes_in_parts_that_say_so(json_daemon):
    d = json_daemon
    text = "".join(chr(ord("a") + i % 26) for i in range(40000)) + os.urandom(4).hex()
    pid, _ = call(d, "say", [text], "fresh")

    def parts():
        got = [r for r in json_records(d) if r.get("executor") == "fresh/0" and "part" in r]
        return got if got and not got[-1]["continues"] else None
    got = wait_until(parts, 10 * d.factor, "the last part")
    assert [r["part"] for r in got] == [1, 2, 3] and [r["continues"] for r in got] == [True, True, False]
    assert [len(r["msg"]) for r in got] == [16384, 16384, len(text) - 32768]
    assert "".join(r["msg"] for r in got) == text and all(r["executor_pid"] == pid for r in got)


def vm_hwm_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        return int(re.search(r"VmHWM:\s+(\d+) kB", f.read()).group(1))


def access_msgids(d):
    return {int(m.group(1)) for m in re.finditer(r" call \S+ \S+ \S+ wait=\S+ run=\S+ conn=\d+ msgid=(\d+)",
                                                  d.stderr_path.read_text(errors="replace"))}


def flood_while_serving(d, function, conn_calls=20):
    """Floods 10 MB from the default pool's executor on one connection while
    another connection's calls run on the other pool: returns the flood's
    wall time, the slowest other call's and every msgid sent."""
    with d.connect() as a, d.connect() as b:
        t0 = time.monotonic()
        m = a.send("call", ["out", function, [10_000_000], None, {"pool": "default"}])
        slowest, msgids = 0.0, [m]
        for _ in range(conn_calls):
            t = time.monotonic()
            msgids.append(b.send("call", ["helpers", "pid", [], None, {"pool": "other"}]))
            assert b.wait(msgids[-1], 10 * d.factor)[2] is None
            slowest = max(slowest, time.monotonic() - t)
        msg = a.wait(m, 30 * d.factor)
        assert msg[2] is None, msg[2]
        return time.monotonic() - t0, slowest, msgids, msg[3]


FLOOD_POOLS = {"default": {"size": 1}, "other": {"size": 1}, "io": {"size": 1}}


def test_ten_megabytes_of_output_block_nothing_and_keep_the_daemons_lines(tmp_path, request):
    d = make(tmp_path / "d", request, pools=FLOOD_POOLS, preload=False, log="log:\n  calls: true\n")
    try:
        hwm = vm_hwm_kib(d.proc.pid)
        took, slowest, msgids, pid = flood_while_serving(d, "flood_lines")
        assert took < 5 * d.factor and slowest < 2 * d.factor, (took, slowest)
        # the budget (1000 lines a second) dropped most of the 100,000 lines, and says so
        got = wait_records(d, re.escape(f"executor default/0 (pid {pid}): ") +
                           r"(\d+) lines of its stdout and 0 of its stderr dropped \(more than "
                           r"log\.executor_output_rate: 1000 lines a second\)")
        dropped = int(got[0].group(2))
        logged = len(records(d, re.escape(f"executor default/0 (pid {pid}) stdout: ") + "f+"))
        assert dropped > 90000 and 1000 <= logged <= 1100 and dropped + logged == 10_000_000 // 100
        # one line of 10 MB: 611 parts, within the budget, all logged
        took, slowest, more, _ = flood_while_serving(d, "flood_one_line")
        assert took < 5 * d.factor and slowest < 2 * d.factor, (took, slowest)
        msgids += more
        wait_records(d, re.escape(f"executor default/0 (pid {pid}) stdout (part 611, last): ") + "L+")
        # every call has its access-log line: none of the daemon's own lines was lost
        wait_until(lambda: set(msgids) <= access_msgids(d), 10 * d.factor, "an access line per call")
        assert vm_hwm_kib(d.proc.pid) - hwm < 8 * 1024, "the daemon kept the output in memory"
    finally:
        finish_daemon(d)


def test_a_stalled_log_blocks_nothing_and_loses_none_of_the_daemons_lines(tmp_path, request):
    """The daemon's stderr is a pipe whose reader stops reading: executors
    still print freely and every call is answered; once the reader goes on,
    the daemon's own lines are all there, and a warning says how many lines
    of output were dropped while the log was behind."""
    d = make(tmp_path / "d", request, pools=FLOOD_POOLS, preload=False, log="log:\n  calls: true\n",
             start=False)
    fifo, copy = d.stderr_path, d.folder / "log.copy"
    os.mkfifo(fifo)
    reading = threading.Event()
    reading.set()

    def pump():
        with open(fifo, "rb") as src, open(copy, "wb") as dst:
            while True:
                reading.wait()
                data = src.read1(65536)
                if not data:
                    return
                dst.write(data)
                dst.flush()
    reader = threading.Thread(target=pump, daemon=True)
    reader.start()
    d.start(wait=False)
    d.stderr_path = copy
    try:
        d.wait_ready()
        hwm = vm_hwm_kib(d.proc.pid)
        reading.clear()
        took, slowest, msgids, pid = flood_while_serving(d, "flood_one_line")
        took2, slowest2, more, _ = flood_while_serving(d, "flood_lines")
        assert max(took, took2) < 5 * d.factor and max(slowest, slowest2) < 2 * d.factor
        assert vm_hwm_kib(d.proc.pid) - hwm < 8 * 1024, "the daemon kept the output in memory"
        reading.set()
        wait_records(d, re.escape(f"executor default/0 (pid {pid}): ") +
                     r"\d+ lines of its stdout and 0 of its stderr dropped \(.*the log was behind\)")
        wait_until(lambda: set(msgids + more) <= access_msgids(d), 10 * d.factor, "an access line per call")
    finally:
        reading.set()
        finish_daemon(d)
    reader.join(10)


def test_off_executors_write_to_the_daemons_stdout_and_stderr(tmp_path, request):
    d = make(tmp_path / "d", request, preload=False, log="log:\n  executor_output: false\n")
    try:
        token = os.urandom(4).hex()
        call(d, "say", [f"plain {token}"], "default")
        call(d, "say_err", [f"plain err {token}"], "fresh")
        wait_until(lambda: f"plain {token}\n" in d.stdout_path.read_text(), 10 * d.factor, "the raw line")
        wait_until(lambda: f"\nplain err {token}\n" in d.stderr_path.read_text(), 10 * d.factor, "the raw line")
        assert "stdout:" not in d.stderr_path.read_text()
    finally:
        finish_daemon(d)


@pytest.mark.parametrize("text,says", [
    ("log:\n  executor_output: maybe\n", "log.executor_output: expected true or false, got 'maybe'"),
    ("log:\n  executor_output_rate: 0\n",
     "log.executor_output_rate: 0 lines a second is out of range (1 to 1000000)"),
    ("log:\n  executor_output_rate: lots\n", "log.executor_output_rate: expected a number of lines a second, "
                                             "got 'lots'"),
])
def test_bad_executor_output_settings_are_refused(tmp_path, text, says):
    import subprocess
    cfg = tmp_path / "c.yaml"
    cfg.write_text("listen:\n  - unix: s.sock\n" + text)
    out = subprocess.run([str(BINARY), "--check", "-c", str(cfg)], capture_output=True, text=True, timeout=30)
    assert out.returncode == 1 and says in out.stderr, out.stderr
