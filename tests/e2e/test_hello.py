"""hello (the handshake), the error shape per listener and per connection,
empty arrays taken as maps, unknown notifications ignored."""
import msgpack
import pytest

from conftest import finish_daemon, module_daemon, run_check


@pytest.fixture(scope="module")
def d(request, tmp_path_factory):
    d = module_daemon(request, tmp_path_factory, "hello", tcp=True,
                      pools={"default": {"size": 1}, "io": {"size": 1, "mode": "thread"},
                             "gpu": {"size": 1}},
                      tcp_opts={"errors": "string"})
    yield d
    finish_daemon(d)


def test_hello_answers_who_the_daemon_is(d):
    with d.connect() as c:
        h = c.ok("hello", ["tests", "1.0"])
    assert h["server"] == "pyrpoold"
    assert h["protocol"] == 1
    assert isinstance(h["version"], str) and h["version"].count(".") == 2
    assert {"call", "map", "cancel", "errors"} <= set(h["features"])
    assert h["pools"] == ["default", "io", "gpu"]
    assert h["errors"] == "map" and h["admin"] is True


@pytest.mark.parametrize("params", [[], ["x"], ["x", "1"], [None, None], ["x", "1", {}],
                                    ["x", "1", []], ["x", "1", None], [b"bin-name", "1"]])
def test_hello_params_forms(d, params):
    with d.connect() as c:
        assert c.ok("hello", params)["protocol"] == 1


@pytest.mark.parametrize("params,says", [
    (["a", "b", {}, 4], "hello params must be"),
    ([1], "client_name must be a str"),
    (["a", 2.5], "client_version must be a str"),
    (["a", "b", {"errors": "xml"}], "errors must be \"map\", \"string\" or \"array\""),
    (["a", "b", {"colour": "red"}], "unknown hello option 'colour'"),
    (["a", "b", [1]], "hello options must be a map, got array"),
    (["a", "b", {1: "map"}], "option names must be str"),
    (["x" * 300], "at most 255 bytes"),
])
def test_hello_bad_params_say_what_is_wrong(d, params, says):
    with d.connect() as c:
        err, res = c.call("hello", params)
        assert res is None and err["type"] == "BadRequest" and says in err["message"], err
        assert c.ok("ping", []) == "pong"   # the connection carries on, shape unchanged
        assert c.call("nosuch", [])[0]["type"] == "NoSuchMethod"


def test_hello_lists_started_pools_not_stopped_ones(d):
    with d.connect() as c:
        c.ok("start_pool", ["extra", 1])
        assert "extra" in c.ok("hello", [])["pools"]
        c.ok("stop_pool", ["extra"])
        assert "extra" not in c.ok("hello", [])["pools"]


def test_error_shape_string_from_hello(d):
    with d.connect() as c:
        assert c.ok("hello", ["t", "1", {"errors": "string"}])["errors"] == "string"
        # a Python exception: "Type: message", a newline, the traceback
        err, res = c.call("fractions.Fraction", [1, 0])   # raised in Python code: a traceback
        assert res is None and isinstance(err, str), err
        head, _, tb = err.partition("\n")
        assert head == "ZeroDivisionError: Fraction(1, 0)"
        assert tb.startswith("Traceback (most recent call last):") and "ZeroDivisionError" in tb
        # a daemon error: no traceback, so no newline
        assert c.call("call", ["math", "sqrt", [1], None, {"pool": "nope"}])[0] == \
            "NoSuchPool: no pool named 'nope'"
        assert c.call("call", "x")[0] == "BadRequest: params must be an array, got str"
        # successes are untouched, on the same connection
        assert c.ok("math.sqrt", [16]) == 4.0
        # a map item's error says which item
        err, _ = c.call("map", ["statistics", "mean", [[[1]], [[2, 4]], [[]]]])
        assert err.startswith("StatisticsError: mean requires at least one data point (args_list item 2)"
                              "\nTraceback (most recent call last):"), err
        # back to maps
        assert c.ok("hello", ["t", "1", {"errors": "map"}])["errors"] == "map"
        assert c.call("operator.truediv", [1, 0])[0]["type"] == "ZeroDivisionError"


def test_error_shape_array_from_hello(d):
    with d.connect() as c:
        c.ok("hello", ["t", "1", {"errors": "array"}])
        err, res = c.call("fractions.Fraction", [1, 0])
        assert res is None and isinstance(err, list) and len(err) == 3, err
        assert err[0] == "ZeroDivisionError" and err[1] == "Fraction(1, 0)"
        assert err[2].startswith("Traceback (most recent call last):")
        assert c.call("eval", ["1"])[0][0:1] == ["Forbidden"] and c.call("eval", ["1"])[0][2] is None
        err, _ = c.call("map", ["operator", "truediv", [[1, 0]]])
        assert err[:2] == ["ZeroDivisionError", "division by zero (args_list item 0)"]
        # daemon errors answered later, from the pool (Timeout, Cancelled)
        err, _ = c.call("call", ["time", "sleep", [5], None, {"timeout": 0.05}])
        assert err[0] == "Timeout" and "timeout" in err[1]
        m = c.send("time.sleep", [5])
        c.notify("cancel", [m])
        assert c.wait(m)[2][0] == "Cancelled"
        assert c.ok("math.sqrt", [4]) == 2.0


def test_each_connection_keeps_its_own_shape(d):
    with d.connect() as a, d.connect() as b:
        a.ok("hello", ["a", "1", {"errors": "string"}])
        assert isinstance(a.call("nosuch", [])[0], str)
        assert isinstance(b.call("nosuch", [])[0], dict)


def test_listener_errors_setting_applies_from_the_first_answer(d):
    # the TCP listener says errors: string; its auth failure already uses it
    with d.connect_tcp(auth=False) as c:
        err, _ = c.call("ping", [])
        assert err == "Unauthorized: this listener needs auth [token] as the first request"
    with d.connect_tcp() as c:
        assert c.call("nosuch", [])[0].startswith("NoSuchMethod: no method 'nosuch'")
        h = c.ok("hello", [])
        assert h["errors"] == "string" and h["admin"] is False
        c.ok("hello", ["x", "1", {"errors": "map"}])
        assert c.call("nosuch", [])[0]["type"] == "NoSuchMethod"


def test_bad_listener_errors_setting_is_refused(daemon_factory, tmp_path):
    cfg = tmp_path / "bad.yaml"
    cfg.write_text("listen:\n  - unix: s.sock\n    errors: xml\n")
    out = run_check(cfg)
    assert out.returncode != 0
    assert "listen[0].errors: expected map, string or array, got 'xml'" in out.stderr
    assert f"{cfg}:3:13" in out.stderr


def test_empty_array_stands_for_an_empty_map(daemon_factory):
    d = daemon_factory(allow_eval=True, pools={"default": {"size": 1}, "io": {"size": 1}})
    with d.connect() as c:
        assert c.ok("call", ["math", "sqrt", [16], [], []]) == 4.0
        assert c.ok("map", ["math", "sqrt", [[16]], [], []]) == [4.0]
        assert c.ok("eval", ["1 + 1", []]) == 2
        # only an empty one: a non-empty array is still refused
        err, _ = c.call("call", ["math", "sqrt", [16], [1]])
        assert err["message"] == "kwargs must be a map or nil, got array"
        err, _ = c.call("call", ["math", "sqrt", [16], None, ["pool"]])
        assert err["message"] == "opts must be a map or nil, got array"
        err, _ = c.call("eval", ["1", [1]])
        assert err["message"] == "eval locals must be a map or nil"


def test_unknown_notifications_are_ignored(d):
    with d.connect() as c:
        c.send_raw(msgpack.packb([2, "nvim_subscribe", ["event"]]) + msgpack.packb([2, b"x", []]) +
                   msgpack.packb([2, "cancel", "not a list"]))
        assert c.ok("ping", []) == "pong"
        assert c.nothing_arrives(0.2)


def test_check_names_the_listener_error_shape(tmp_path):
    cfg = tmp_path / "ok.yaml"
    cfg.write_text("listen:\n  - unix: s.sock\n    errors: string\n  - unix: t.sock\n")
    out = run_check(cfg)
    assert out.returncode == 0, out.stderr
    lines = [l for l in out.stdout.splitlines() if "listen unix:" in l]
    assert lines[0].endswith("admin, errors as strings)") and lines[1].endswith("admin)")
