"""eval and exec: Forbidden by default, and what they do when allowed."""
import pytest

import pyrpool
from conftest import finish_daemon, module_daemon, remote_error


@pytest.fixture(scope="module")
def forbidding(request, tmp_path_factory):
    d = module_daemon(request, tmp_path_factory, "noeval",
                      pools={"default": {"size": 1}, "io": {"size": 1}})
    yield d
    finish_daemon(d)


@pytest.fixture(scope="module")
def allowing(request, tmp_path_factory):
    d = module_daemon(request, tmp_path_factory, "eval", allow_eval=True,
                      pools={"default": {"size": 2}, "io": {"size": 1}})
    yield d
    finish_daemon(d)


@pytest.mark.parametrize("method,params", [
    ("eval", ["2 + 4"]),
    ("eval", ["x * 2", {"x": 5}]),
    ("exec", ["import math"]),
    ("exec", ["import os; os._exit(1)"]),
    ("eval", []),               # even a malformed one is Forbidden first
])
def test_forbidden_by_default(forbidding, method, params):
    with forbidding.pyrpool_client() as c:
        err = remote_error(c.request, method, params)
        assert isinstance(err, pyrpool.Forbidden)
        assert err.type == "Forbidden", err
        assert "allow_eval" in err.message
        assert err.traceback is None
        assert c.ping() == "pong"
        if params:      # the same through the client's own method
            assert remote_error(getattr(c, method), *params).type == "Forbidden"


def test_forbidden_does_not_run(forbidding, tmp_path):
    path = tmp_path / "ran"
    with forbidding.pyrpool_client() as c:
        err = remote_error(c.exec, f"open({str(path)!r}, 'w').write('x')")
        assert err.type == "Forbidden"
        assert isinstance(c.request("helpers.sleep_pid", [0.1]), int)
    assert not path.exists()


@pytest.fixture
def c(allowing):
    with allowing.pyrpool_client() as c:
        yield c


def test_eval(c):
    assert c.eval("2 + 4") == 6


def test_eval_with_locals(c):
    assert c.eval("x*2", {"x": 5}) == 10
    assert c.eval("a + b", {"a": "x", "b": "y"}) == "xy"


def test_eval_locals_nil(c):
    assert c.request("eval", ["1 + 1", None]) == 2


def test_eval_locals_do_not_leak(c):
    assert c.eval("y", {"y": 3}) == 3
    for _ in range(4):      # whichever executor answers
        err = remote_error(c.eval, "y")
        assert err.type == "NameError"


def test_eval_result_types(c):
    assert c.eval("[1, 'a', None, b'x', {'k': (1, 2)}]") == [1, "a", None, b"x", {"k": [1, 2]}]
    assert c.eval("3.5") == 3.5


def test_eval_code_as_bin(c):
    assert c.eval(b"7 * 6") == 42


def test_exec_returns_none(c):
    assert c.exec("import math") is None
    assert c.exec("x = 1\nfor i in range(3):\n    x += i\n") is None


def test_eval_syntax_error(c):
    err = remote_error(c.eval, "1 +")
    assert err.type == "SyntaxError"
    assert isinstance(err.traceback, str) and "SyntaxError" in err.traceback


def test_exec_syntax_error(c):
    err = remote_error(c.exec, "def (")
    assert err.type == "SyntaxError"


def test_eval_statement_is_syntax_error(c):
    err = remote_error(c.eval, "import os")
    assert err.type == "SyntaxError"


def test_eval_exception(c):
    err = remote_error(c.eval, "1 / 0")
    assert err.type == "ZeroDivisionError"
    assert "ZeroDivisionError" in err.traceback


def test_exec_exception(c):
    err = remote_error(c.exec, "raise KeyError('k')")
    assert err.type == "KeyError"
    assert err.message == "'k'"


def test_eval_unencodable(c):
    err = remote_error(c.eval, "{1, 2}")
    assert err.type == "EncodeError"
    assert "'set'" in err.message


def test_eval_runs_on_default_pool(allowing, c):
    default = allowing.pool_pids("default")
    for _ in range(4):
        assert c.eval("__import__('os').getpid()") in default


@pytest.mark.parametrize("method,params", [
    ("eval", []),
    ("eval", ["1", {}, "extra"]),
    ("eval", [1]),
    ("eval", ["1", [1]]),
    ("eval", ["1", "x"]),
    ("exec", []),
    ("exec", ["x = 1", "y"]),
    ("exec", [None]),
])
def test_eval_bad_params(c, method, params):
    err = remote_error(c.request, method, params)
    assert err.type == "BadRequest", err


def test_calls_still_work_with_eval_allowed(c):
    assert c.request("math.sqrt", [81]) == 9.0
    assert c.call("math", "sqrt", 81) == 9.0


# Run on an executor: its pid and what its eval/exec namespace holds. The
# sleep makes two of them sent together run on both executors of the pool.
PEEK = ("__import__('time').sleep(0.3) or [__import__('os').getpid(), globals().get('counter'),"
        " globals().get('owner'), math.sqrt(16) if 'math' in globals() else None]")


def test_exec_state_is_per_executor(daemon_factory, factor):
    """exec state lives in the namespace of the executor that ran it, shared
    by the eval and exec calls that run there: the pool's other executor
    does not see it, and locals given to eval change neither."""
    d = daemon_factory(allow_eval=True, pools={"default": {"size": 2}, "io": {"size": 1}})
    pids = d.pool_pids("default")
    assert len(pids) == 2

    def peek(c):
        """{pid: [counter, owner, math.sqrt(16) if exec imported math]} for both executors."""
        for _ in range(5):
            futures = [c.cast_request("eval", [PEEK]) for _ in range(2)]
            res = [f.result(timeout=10 * factor) for f in futures]   # raises if one failed
            seen = {r[0]: r[1:] for r in res}
            if set(seen) == pids:
                return seen
        raise AssertionError(f"two slow evals sent together did not run on both executors {pids}")

    with d.pyrpool_client() as c:
        assert peek(c) == {p: [None, None, None] for p in pids}
        # one exec: its executor has the state, the other has none of it
        assert c.exec("import math, os\ncounter = 41\nowner = os.getpid()") is None
        state = peek(c)
        owner = [p for p, (counter, _, _) in state.items() if counter is not None]
        assert len(owner) == 1, f"state set by one exec is seen on {len(owner)} executors: {state}"
        a, = owner
        b, = pids - {a}
        assert state == {a: [41, a, 4.0], b: [None, None, None]}, state
        # an exec on each executor changes only its own namespace
        bump = "import time\ntime.sleep(0.3)\ncounter = globals().get('counter', 0) + 1"
        futures = [c.cast_request("exec", [bump]) for _ in range(2)]
        assert [f.result(timeout=10 * factor) for f in futures] == [None] * 2
        assert peek(c) == {a: [42, a, 4.0], b: [1, None, None]}
        # locals given to eval do not change the executor's namespace
        assert c.eval("counter", {"counter": 7}) == 7
        assert peek(c) == {a: [42, a, 4.0], b: [1, None, None]}
