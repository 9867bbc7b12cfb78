"""Names: those a call cannot use say what to do instead (a value that is not
callable, eval/exec through call, a class written as if it were a module;
with and without python.allow, its strict resolver); and the names ps shows."""
import os

import pytest

POOLS = {"default": {"size": 1}, "io": {"size": 1}}


@pytest.fixture(params=["pkgutil", "strict"])
def d(request, daemon_factory):
    allow = ["math", "builtins", "collections.*", "json.*"] if request.param == "strict" else None
    return daemon_factory(pools=POOLS, allow=allow)


def test_not_callable_says_what_it_is(d):
    with d.connect() as c:
        err, _ = c.call("math.pi", [])
        assert err["type"] == "TypeError"
        assert err["message"] == "math:pi is a 'float', which is not callable"
        assert c.ok("math.sqrt", [4]) == 2.0


@pytest.mark.parametrize("fn", ["eval", "exec"])
def test_eval_and_exec_through_call_point_to_their_methods(d, fn):
    with d.connect() as c:
        err, _ = c.call("call", ["builtins", fn, ["1"]])
        assert err["type"] == "TypeError", err
        assert err["message"] == (f"builtins:{fn} cannot run through call (it needs a calling frame): "
                                  f"use the {fn} method, which python.allow_eval turns on")
        # with explicit globals it would run: it is refused all the same
        err, _ = c.call("call", ["builtins", fn, ["1", {}]])
        assert err["type"] == "TypeError" and "use the" in err["message"]


def test_a_class_written_as_a_module_gets_a_hint(d):
    with d.connect() as c:
        err, _ = c.call("collections.OrderedDict.fromkeys", [["a"]])
        assert err["type"] == "ModuleNotFoundError"
        assert err["message"] == (
            "No module named 'collections.OrderedDict': 'OrderedDict' is an attribute of the module "
            "'collections'; call it as module 'collections', function 'OrderedDict.fromkeys' "
            "(shorthand \"collections:OrderedDict.fromkeys\")")
        assert c.ok("collections:OrderedDict.fromkeys", [["a"]]) == {"a": None}
        # a module that does not exist keeps the usual error
        err, _ = c.call("json.nosuchmodule.f", [])
        assert err["type"] == "ModuleNotFoundError" and err["message"] == "No module named 'json.nosuchmodule'"


def children(pid):
    out = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    if int(f.read().rsplit(")", 1)[1].split()[1]) == pid:
                        out.append(int(entry))
            except (OSError, IndexError, ValueError):
                pass
    return out


def title(pid):
    with open(f"/proc/{pid}/cmdline", "rb") as f:
        return f.read().split(b"\0")[0].decode()


def test_ps_names_each_process_by_pool_and_role(daemon_factory):
    d = daemon_factory(pools={"default": {"size": 2}, "io": {"size": 3, "mode": "thread"},
                              "fresh": {"size": 1, "preload_in_template": False}})
    executors = {pool: sorted(d.pool_pids(pool)) for pool in ("default", "io", "fresh")}
    titles = {title(p): p for p in children(d.proc.pid)}
    assert "pyrpool: default template" in titles and "pyrpool: io template" in titles, titles
    assert title(executors["fresh"][0]) == "pyrpool: fresh executor 0"
    assert sorted(title(p) for p in executors["default"]) == ["pyrpool: default executor 0",
                                                              "pyrpool: default executor 1"]
    assert title(executors["io"][0]) == "pyrpool: io executor (thread mode)"
    with open(f"/proc/{executors['default'][0]}/comm") as f:
        assert f.read().strip().startswith("pyrp default/")
