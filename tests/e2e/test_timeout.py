"""opts.timeout as proto/PROTOCOL.md documents it: a call still running or
queued when its timeout passes is answered with Timeout at once."""
import time

import pytest

from conftest import finish_daemon, module_daemon, wait_pool


@pytest.fixture(scope="module")
def d(request, tmp_path_factory):
    d = module_daemon(request, tmp_path_factory, "timeout",
                      pools={"default": {"size": 2}, "io": {"size": 2, "mode": "process"},
                             "solo": {"size": 1}})
    yield d
    finish_daemon(d)


def test_quick_call_with_timeout_answers_normally(d):
    with d.connect() as c:
        assert c.call("call", ["operator", "add", [1, 2], None, {"timeout": 5}]) == (None, 3)


def test_running_call_times_out(d, factor):
    with d.connect() as c:
        t = time.monotonic()
        err, res = c.call("call", ["time", "sleep", [10], None, {"timeout": 0.3, "pool": "io"}],
                          timeout=10 * factor)
        took = time.monotonic() - t
        assert res is None
        assert err["type"] == "Timeout", err
        assert err["traceback"] is None
        assert 0.25 <= took < 1.5 * factor, took
    # the executor is replaced: io has its 2 executors again
    deadline = time.monotonic() + 5 * factor
    while True:
        try:
            assert len(d.pool_pids("io", timeout=2)) == 2
            break
        except AssertionError:
            assert time.monotonic() < deadline
            time.sleep(0.1)


def test_queued_call_times_out_in_the_queue(d, factor):
    with d.connect() as c:
        busy = c.send("call", ["helpers", "sleep_echo", ["done", 1.0], None, {"pool": "solo"}])
        wait_pool(c, "solo", 0.5 * factor, busy=1, queued=0)
        t = time.monotonic()
        err, res = c.call("call", ["helpers", "pid", [], None, {"pool": "solo", "timeout": 0.2}],
                          timeout=10 * factor)
        took = time.monotonic() - t
        assert err is not None and err["type"] == "Timeout", err
        assert took < 0.7 * factor, f"answered after {took:.2f}s, not at its timeout"
        # the running call is not disturbed
        assert c.wait(busy, timeout=10 * factor)[2:] == [None, "done"]


def test_timeout_does_not_answer_twice(d, factor):
    with d.connect() as c:
        m = c.send("call", ["helpers", "sleep_echo", ["late", 0.4], None, {"pool": "io", "timeout": 0.1}])
        r = c.wait(m, timeout=10 * factor)
        assert r[2]["type"] == "Timeout"
        assert c.nothing_arrives(0.6)
        assert c.call("ping", []) == (None, "pong")


SPIN = """\
def forever():
    n = 0
    while True:
        n += 1


def catch_and_return():
    try:
        forever()
    except TimeoutError as e:
        return "caught: " + str(e)
"""


@pytest.fixture(scope="module")
def ds(request, tmp_path_factory):
    d = module_daemon(request, tmp_path_factory, "softtimeout",
                      pools={"default": {"size": 1}, "io": {"size": 1}}, modules={"spin.py": SPIN},
                      extra_yaml="limits:\n  timeout_grace_ms: 500\n")
    yield d
    finish_daemon(d)


def test_python_loop_is_stopped_softly_with_its_stack(ds, factor):
    """A call spinning in Python code: Timeout at once, carrying the stack it
    was stuck in; a TimeoutError stops it and the executor lives on."""
    with ds.connect() as c:
        pid = c.ok("os.getpid", [])
        t = time.monotonic()
        err, res = c.call("call", ["spin", "forever", [], None, {"timeout": 0.3}], timeout=10 * factor)
        took = time.monotonic() - t
        assert err["type"] == "Timeout" and res is None
        assert 0.25 <= took < 1.0 * factor, took
        assert err["traceback"] is not None and "in forever" in err["traceback"], err
        time.sleep(0.8)   # past the grace period: it was not replaced
        assert c.ok("os.getpid", []) == pid


def test_the_timeout_error_is_raised_inside_the_call(ds, factor):
    """Code that catches the TimeoutError runs on; its late answer is dropped,
    the caller already had Timeout."""
    with ds.connect() as c:
        pid = c.ok("os.getpid", [])
        err, _ = c.call("call", ["spin", "catch_and_return", [], None, {"timeout": 0.2}],
                        timeout=10 * factor)
        assert err["type"] == "Timeout"
        assert c.ok("operator.add", [1, 2]) == 3
        assert c.ok("os.getpid", []) == pid
        assert c.nothing_arrives(0.2)


def test_call_blocked_in_c_is_replaced_after_the_grace(ds, factor):
    """time.sleep holds the thread in C: Timeout at once (no stack to be
    had), and the executor is replaced when the grace period passes."""
    with ds.connect() as c:
        pid = c.ok("os.getpid", [])
        t = time.monotonic()
        err, _ = c.call("call", ["time", "sleep", [30], None, {"timeout": 0.3}], timeout=10 * factor)
        assert err["type"] == "Timeout" and time.monotonic() - t < 1.0 * factor
        new = c.ok("os.getpid", [], timeout=20 * factor)
        assert new != pid
        assert time.monotonic() - t >= 0.75   # 0.3 s + the 0.5 s grace, roughly
