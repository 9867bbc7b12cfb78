"""`call`, the shorthand form, names, kwargs, opts and Python errors.

Through the project's Python client (pyrpool): its call() where the call's
shape is ordinary, its request() where the exact params are the point."""
import pytest

import pyrpool
from conftest import finish_daemon, module_daemon, remote_error


@pytest.fixture(scope="module")
def d(request, tmp_path_factory):
    d = module_daemon(request, tmp_path_factory, "calls")
    yield d
    finish_daemon(d)


@pytest.fixture
def c(d):
    with d.pyrpool_client() as c:
        yield c


def test_call_math_sqrt(c):
    assert c.call("math", "sqrt", 16) == 4.0
    assert c.request("call", ["math", "sqrt", [16]]) == 4.0


def test_call_result_type_is_float(c):
    res = c.call("math", "sqrt", 16)
    assert isinstance(res, float)


def test_shorthand_last_dot(c):
    assert c.request("math.sqrt", [16]) == 4.0
    assert c.request("operator.add", [2, 3]) == 5


def test_shorthand_dotted_module(c):
    # splits at the last '.': module os.path, function join
    assert c.request("os.path.join", ["a", "b"]) == "a/b"


def test_shorthand_colon(c):
    assert c.request("os.path:join", ["a", "b", "c"]) == "a/b/c"


def test_shorthand_colon_qualname(c):
    # with ':' the part after it is a dotted qualname
    assert c.request("collections:OrderedDict.fromkeys", [["a", "b"]]) == {"a": None, "b": None}


def test_shorthand_no_args(c):
    res = c.request("helpers.pid", [])
    assert isinstance(res, int) and res > 0


def test_shorthand_method_as_bin(c):
    assert c.request(b"math.sqrt", [25]) == 5.0


def test_json_dumps_kwargs_and_pool_io(c, d):
    res = c.call("json", "dumps", {"b": 1, "a": 2}, sort_keys=True, pool="io")
    assert res == '{"a": 2, "b": 1}'


def test_call_runs_on_pool_from_opts(c, d):
    io = d.pool_pids("io")
    default = d.pool_pids("default")
    assert not io & default
    for _ in range(6):
        assert c.call("helpers", "pid", pool="io") in io
        assert c.call("helpers", "pid", pool="default") in default
        assert c.call("helpers", "pid") in default


def test_names_as_bin(c):
    assert c.call(b"math", b"sqrt", 9) == 3.0
    assert c.request(b"call", [b"operator", b"mul", [6, 7]]) == 42


def test_pool_name_as_bin(c, d):
    io = d.pool_pids("io")
    assert c.call("helpers", "pid", pool=b"io") in io


def test_qualname_with_dot(c):
    assert c.call("collections", "OrderedDict.fromkeys", ["a"]) == {"a": None}


def test_dotted_module(c):
    assert c.call("os.path", "basename", "/x/y.txt") == "y.txt"


def test_kwargs(c):
    assert c.call("helpers", "add_kw", 1, b=2, c=3) == [1, 2, 3]
    assert c.call_kw("helpers", "add_kw", [1], {"b": 2, "c": 3}) == [1, 2, 3]


def test_kwargs_only_args_nil(c):
    assert c.request("call", ["helpers", "add_kw", None, {"a": 5}]) == [5, 0, 0]
    assert c.call("helpers", "add_kw", a=5) == [5, 0, 0]


def test_kwargs_nil_and_empty(c):
    assert c.request("call", ["helpers", "add_kw", [1], None]) == [1, 0, 0]
    assert c.request("call", ["helpers", "add_kw", [1], {}]) == [1, 0, 0]


def test_kwargs_values_of_every_type(c):
    kw = {"n": None, "b": True, "i": -3, "f": 0.5, "s": "é", "y": b"\x00", "l": [1], "m": {"k": 1}}
    assert c.call_kw("helpers", "kwargs_echo", [1, 2], kw) == [[1, 2], kw]
    assert c.call("helpers", "kwargs_echo", 1, 2, **kw) == [[1, 2], kw]


def test_kwargs_non_str_key_is_type_error(c):
    err = remote_error(c.call_kw, "helpers", "kwargs_echo", [], {1: 2})
    assert err.type == "TypeError"
    assert "keywords must be strings" in err.message


def test_args_nil(c):
    res = c.request("call", ["helpers", "pid", None])
    assert isinstance(res, int)


def test_args_omitted(c):
    res = c.request("call", ["helpers", "pid"])
    assert isinstance(res, int)


def test_opts_nil_and_empty(c):
    assert c.request("call", ["operator", "add", [1, 2], None, None]) == 3
    assert c.request("call", ["operator", "add", [1, 2], None, {}]) == 3


def test_opts_timeout_accepted(c):
    assert c.call("operator", "add", 1, 2, timeout=5) == 3
    assert c.call("operator", "add", 1, 2, timeout=0.5, pool="io") == 3
    assert c.request("call", ["operator", "add", [1, 2], None, {"timeout": None}]) == 3


@pytest.mark.parametrize("timeout", [0, -1, -0.5, 0.0, "5", [1], True])
def test_opts_timeout_invalid(c, timeout):
    # raw params: the client itself refuses these timeouts before sending
    err = remote_error(c.request, "call", ["operator", "add", [1, 2], None, {"timeout": timeout}])
    assert err.type == "BadRequest", err
    assert "timeout" in err.message
    assert err.traceback is None
    with pytest.raises(ValueError):
        c.call("operator", "add", 1, 2, timeout=timeout)


def test_opts_unknown_key(c):
    err = remote_error(c.request, "call", ["operator", "add", [1, 2], None, {"retries": 3}])
    assert err.type == "BadRequest"
    assert "retries" in err.message


def test_opts_pool_not_str(c):
    err = remote_error(c.call, "operator", "add", 1, 2, pool=1)
    assert err.type == "BadRequest"


def test_unknown_pool(c):
    err = remote_error(c.call, "math", "sqrt", 4, pool="nope")
    assert isinstance(err, pyrpool.NoSuchPool)
    assert err.type == "NoSuchPool"
    assert "nope" in err.message
    assert err.traceback is None


def test_unknown_module(c):
    err = remote_error(c.call, "no_such_module_xyz", "f")
    assert isinstance(err, pyrpool.PythonError)
    assert err.type == "ModuleNotFoundError"
    assert "no_such_module_xyz" in err.message
    assert isinstance(err.traceback, str)
    assert "ModuleNotFoundError" in err.traceback


def test_unknown_module_shorthand(c):
    err = remote_error(c.request, "no_such_module_xyz.f", [])
    assert err.type == "ModuleNotFoundError"


def test_unknown_function(c):
    err = remote_error(c.call, "math", "no_such_function", 1)
    assert err.type == "AttributeError"
    assert "no_such_function" in err.message
    assert "AttributeError" in err.traceback


def test_not_callable(c):
    err = remote_error(c.call, "math", "pi")
    assert err.type == "TypeError"
    assert "not callable" in err.message


def test_unknown_method(c):
    err = remote_error(c.request, "frobnicate", [])
    assert isinstance(err, pyrpool.NoSuchMethod)
    assert err.type == "NoSuchMethod"
    assert "frobnicate" in err.message
    assert err.traceback is None


def test_python_value_error_with_traceback(c):
    err = remote_error(c.call, "builtins", "int", "x")
    assert err.type == "ValueError"
    assert "invalid literal" in err.message
    assert isinstance(err.traceback, str)
    assert "ValueError" in err.traceback


def test_python_exception_traceback_names_the_frame(c, d):
    err = remote_error(c.call, "helpers", "raise_value_error", "bad input")
    assert err.raw == {"type": "ValueError", "message": "bad input", "traceback": err.traceback}
    assert (err.type, err.message, err.index) == ("ValueError", "bad input", None)
    tb = err.traceback
    assert tb.startswith("Traceback (most recent call last):")
    assert "helpers.py" in tb and "raise_value_error" in tb
    assert tb.rstrip().endswith("ValueError: bad input")


def test_custom_exception_class_name(c):
    err = remote_error(c.call, "helpers", "raise_custom", "oops")
    assert err.type == "Custom"
    assert err.message == "oops"
    assert "Custom: oops" in err.traceback


def test_wrong_arg_count_is_type_error(c):
    err = remote_error(c.call, "echo", "echo", 1, 2)
    assert err.type == "TypeError"


def test_sys_exit_is_an_error_not_a_crash(c, d):
    pids = d.pool_pids("default")
    err = remote_error(c.call, "helpers", "sysexit", 3)
    assert err.type == "SystemExit"
    assert err.message == "3"
    # the executors are the same processes
    assert d.pool_pids("default") == pids


def test_recursion_error(c):
    err = remote_error(c.call, "helpers", "recurse", 0)
    assert err.type == "RecursionError"
    assert "recursion" in err.message
    assert c.ping() == "pong"


def test_error_map_has_exactly_three_keys(c):
    for params in (["math", "nope", []], ["math", "sqrt", [1], None, {"pool": "x"}]):
        err = remote_error(c.request, "call", params)
        assert set(err.raw) == {"type", "message", "traceback"}
        assert err.index is None
    err = remote_error(c.request, "nomethod", [])
    assert set(err.raw) == {"type", "message", "traceback"}


def test_ping(c):
    assert c.ping() == "pong"
    assert c.request("ping", []) == "pong"


@pytest.mark.parametrize("params", [
    [],                                         # no module, no function
    ["math"],                                   # no function
    ["math", "sqrt", [1], None, None, "extra"],  # 6 items
    [1, "sqrt", [1]],                           # module not a str
    ["math", 2, [1]],                           # function not a str
    ["math", "sqrt", {"a": 1}],                 # args a map
    ["math", "sqrt", "16"],                     # args a str
    ["math", "sqrt", [16], [1]],                # kwargs a list
    ["math", "sqrt", [16], 5],                  # kwargs an int
    ["math", "sqrt", [16], None, [1]],          # opts a list
    ["math", "sqrt", [16], None, {1: "io"}],    # opts key not a str
    ["", "sqrt", [16]],                         # empty module
    ["math", "", [16]],                         # empty function
    ["ma\x00th", "sqrt", [16]],                 # NUL in module
    ["m" * 256, "f", []],                       # module too long
], ids=lambda p: repr(p)[:40])
def test_call_bad_params(c, params):
    err = remote_error(c.request, "call", params)
    assert err.type == "BadRequest", err
    assert isinstance(err, pyrpool.BadRequest)
    assert err.traceback is None
    # the connection still works
    assert c.ping() == "pong"


@pytest.mark.parametrize("method", ["math.", ".sqrt", "os.path:", ":join", "."])
def test_shorthand_empty_part(c, method):
    err = remote_error(c.request, method, [1])
    assert err.type == "BadRequest", err


def test_name_255_bytes_accepted(c):
    err = remote_error(c.call, "m" * 255, "f")
    assert err.type == "ModuleNotFoundError"


def test_many_distinct_callables(c):
    # resolved callables are cached per module:function; all must stay right
    fns = ["sqrt", "floor", "ceil", "fabs", "trunc"]
    futures = [c.cast("math", f, 2.5) for _ in range(4) for f in fns]   # all in flight at once
    import math
    assert [f.result(30) for f in futures] == [getattr(math, f)(2.5) for f in fns] * 4
