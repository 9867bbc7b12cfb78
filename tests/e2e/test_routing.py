"""register_pool / unregister_pool / lookup_pool / list_pool_registrations and
where calls actually run."""
import pytest

import pyrpool
from conftest import finish_daemon, module_daemon, remote_error

MODULES = {
    "where.py": """
        import os
        def pid():
            return os.getpid()
        def other():
            return os.getpid()
    """,
    "cfgmod/__init__.py": """
        import os
        def pid():
            return os.getpid()
    """,
    "cfgmod/inner.py": """
        import os
        def f():
            return os.getpid()
        def g():
            return os.getpid()
    """,
    "pkg/__init__.py": "",
    "pkg/sub/__init__.py": "",
    "pkg/sub/leaf.py": """
        import os
        def pid():
            return os.getpid()
    """,
}


@pytest.fixture(scope="module")
def d(request, tmp_path_factory):
    d = module_daemon(request, tmp_path_factory, "routing", modules=MODULES,
                      pools={"default": {"size": 2}, "io": {"size": 3}, "gpu": {"size": 1}},
                      routes={"requests": "io", "json:dumps": "default", "cfgmod": "gpu",
                              "cfgmod.inner:f": "io"})
    yield d
    finish_daemon(d)


@pytest.fixture(scope="module")
def pids(d):
    p = {name: d.pool_pids(name) for name in ("default", "io", "gpu")}
    assert not (p["default"] & p["io"]) and not (p["io"] & p["gpu"]) and not (p["default"] & p["gpu"])
    return p


CONFIG_ROUTES = [
    {"module": "cfgmod", "function": None, "pool": "gpu", "source": "config"},
    {"module": "cfgmod.inner", "function": "f", "pool": "io", "source": "config"},
    {"module": "json", "function": "dumps", "pool": "default", "source": "config"},
    {"module": "requests", "function": None, "pool": "io", "source": "config"},
]


@pytest.fixture
def c(d):
    with d.pyrpool_client() as c:
        yield c
        # leave only the config's routes behind
        for r in c.list_pool_registrations():
            if r not in CONFIG_ROUTES:
                args = [r["module"]] + ([r["function"]] if r["function"] is not None else [])
                assert c.unregister_pool(*args) is True
        assert c.list_pool_registrations() == CONFIG_ROUTES


def test_config_routes_listed(c):
    assert c.list_pool_registrations() == CONFIG_ROUTES


def test_config_routes_looked_up(c):
    assert c.lookup_pool("requests", "get") == "io"
    assert c.lookup_pool("requests.adapters", "send") == "io"
    assert c.lookup_pool("json", "dumps") == "default"
    assert c.lookup_pool("json", "loads") == "default"
    assert c.lookup_pool("cfgmod", "x") == "gpu"
    assert c.lookup_pool("cfgmod.inner", "f") == "io"
    assert c.lookup_pool("cfgmod.inner", "g") == "gpu"


def test_unrouted_is_default(c):
    assert c.lookup_pool("math", "sqrt") == "default"
    assert c.lookup_pool("xml.etree.ElementTree", "parse") == "default"


def test_register_parent_package(c):
    assert c.register_pool("io", "xml") is True
    assert c.lookup_pool("xml.etree.ElementTree", "parse") == "io"
    assert c.lookup_pool("xml", "x") == "io"
    # a name that merely starts with the same letters is not a sub-package
    assert c.lookup_pool("xmlrpc.client", "dumps") == "default"
    assert c.lookup_pool("xm", "x") == "default"


def test_nearest_parent_wins(c):
    assert c.register_pool("io", "xml") is True
    assert c.register_pool("gpu", "xml.etree") is True
    assert c.lookup_pool("xml.etree.ElementTree", "parse") == "gpu"
    assert c.lookup_pool("xml.dom", "parse") == "io"
    assert c.unregister_pool("xml.etree") is True
    assert c.lookup_pool("xml.etree.ElementTree", "parse") == "io"


def test_function_beats_module(c):
    assert c.register_pool("io", "mymod") is True
    assert c.register_pool("gpu", "mymod", "special") is True
    assert c.lookup_pool("mymod", "special") == "gpu"
    assert c.lookup_pool("mymod", "other") == "io"
    # registration order does not matter
    assert c.register_pool("default", "mymod2", "f") is True
    assert c.register_pool("io", "mymod2") is True
    assert c.lookup_pool("mymod2", "f") == "default"
    assert c.lookup_pool("mymod2", "g") == "io"


def test_function_registration_is_not_inherited_by_submodules(c):
    assert c.register_pool("io", "fmod", "f") is True
    assert c.lookup_pool("fmod.sub", "f") == "default"


def test_colon_form_register_lookup_unregister(c):
    assert c.register_pool("io", "colmod:fn") is True
    assert c.lookup_pool("colmod", "fn") == "io"
    assert c.lookup_pool("colmod:fn") == "io"
    assert {"module": "colmod", "function": "fn", "pool": "io", "source": "runtime"} in \
        c.list_pool_registrations()
    assert c.unregister_pool("colmod:fn") is True
    assert c.lookup_pool("colmod", "fn") == "default"


def test_lookup_module_only(c):
    assert c.register_pool("gpu", "modonly") is True
    assert c.lookup_pool("modonly") == "gpu"
    assert c.lookup_pool("modonly.x") == "gpu"


def test_reregister_moves_the_route(c):
    assert c.register_pool("io", "mover") is True
    assert c.register_pool("gpu", "mover") is True
    assert c.lookup_pool("mover", "f") == "gpu"
    regs = [r for r in c.list_pool_registrations() if r["module"] == "mover"]
    assert regs == [{"module": "mover", "function": None, "pool": "gpu", "source": "runtime"}]


def test_unregister(c):
    assert c.register_pool("io", "unreg") is True
    assert c.register_pool("io", "unreg", "f") is True
    assert c.unregister_pool("unreg", "f") is True
    assert c.unregister_pool("unreg", "f") is False
    assert c.lookup_pool("unreg", "f") == "io"
    assert c.unregister_pool("unreg") is True
    assert c.unregister_pool("unreg") is False
    assert c.lookup_pool("unreg", "f") == "default"
    assert c.unregister_pool("never_registered") is False
    assert c.unregister_pool("never_registered", "f") is False


def test_unregister_module_keeps_function_routes(c):
    assert c.register_pool("io", "keep") is True
    assert c.register_pool("gpu", "keep", "f") is True
    assert c.unregister_pool("keep") is True
    assert c.lookup_pool("keep", "f") == "gpu"
    assert c.lookup_pool("keep", "g") == "default"


def test_unregister_config_route_then_restore(c):
    assert c.unregister_pool("requests") is True
    assert c.lookup_pool("requests", "get") == "default"
    assert c.register_pool("io", "requests") is True
    assert c.lookup_pool("requests", "get") == "io"
    # the config's own route again: listed as the config's
    assert [r for r in c.list_pool_registrations() if r["module"] == "requests"] == \
        [{"module": "requests", "function": None, "pool": "io", "source": "config"}]


def test_register_unknown_pool(c):
    err = remote_error(c.register_pool, "nope", "xml")
    assert isinstance(err, pyrpool.NoSuchPool)
    assert err.type == "NoSuchPool"
    assert "nope" in err.message
    assert err.traceback is None
    assert c.lookup_pool("xml", "x") == "default"


def test_names_as_bin(c):
    assert c.register_pool(b"io", b"binmod", b"f") is True
    assert c.lookup_pool(b"binmod", b"f") == "io"
    assert c.unregister_pool(b"binmod", b"f") is True


def test_list_sorted_by_module_then_function(c):
    for pool, mod, fn in [("io", "zeta", None), ("gpu", "alpha", "b"), ("io", "alpha", None),
                          ("default", "alpha", "a"), ("gpu", "alpha.beta", None),
                          ("io", "mid", "z"), ("io", "mid", "a")]:
        args = [pool, mod] + ([fn] if fn else [])
        assert c.register_pool(*args) is True
    regs = c.list_pool_registrations()
    keys = [(r["module"], r["function"]) for r in regs]
    assert keys == [
        ("alpha", None), ("alpha", "a"), ("alpha", "b"), ("alpha.beta", None),
        ("cfgmod", None), ("cfgmod.inner", "f"), ("json", "dumps"),
        ("mid", "a"), ("mid", "z"), ("requests", None), ("zeta", None)]
    assert {"module": "alpha", "function": "a", "pool": "default", "source": "runtime"} in regs
    for r in regs:
        assert set(r) == {"module", "function", "pool", "source"}
        assert r["source"] == ("config" if r in CONFIG_ROUTES else "runtime")


def test_many_registrations(c):
    for i in range(300):
        assert c.register_pool(("io", "gpu", "default")[i % 3], f"many{i:03d}") is True
    for i in range(300):
        assert c.lookup_pool(f"many{i:03d}.sub", "f") == ("io", "gpu", "default")[i % 3]
    mods = [r["module"] for r in c.list_pool_registrations() if r["module"].startswith("many")]
    assert mods == [f"many{i:03d}" for i in range(300)]
    for i in range(0, 300, 2):
        assert c.unregister_pool(f"many{i:03d}") is True
    for i in range(300):
        want = "default" if i % 2 == 0 else ("io", "gpu", "default")[i % 3]
        assert c.lookup_pool(f"many{i:03d}", "f") == want


@pytest.mark.parametrize("method,params", [
    ("register_pool", []),
    ("register_pool", ["io"]),
    ("register_pool", ["io", "a", "b", "c"]),
    ("register_pool", ["io", ""]),
    ("register_pool", ["io", "a", ""]),
    ("register_pool", ["io", 5]),
    ("register_pool", ["io", "a:b", "c"]),
    ("unregister_pool", []),
    ("unregister_pool", [1]),
    ("unregister_pool", ["a", "b", "c"]),
    ("lookup_pool", []),
    ("lookup_pool", [None, "f"]),
    ("list_pool_registrations", ["x"]),
], ids=lambda v: repr(v)[:30])
def test_admin_bad_params(c, method, params):
    err = remote_error(c.request, method, params)
    assert err.type == "BadRequest", err


# ---- where calls run ---------------------------------------------------

def test_default_routing_runs_on_default(c, pids):
    for _ in range(5):
        assert c.call("where", "pid") in pids["default"]
        assert c.request("where.pid", []) in pids["default"]


def test_registration_moves_calls(c, pids):
    assert c.register_pool("io", "where") is True
    for _ in range(5):
        assert c.call("where", "pid") in pids["io"]
        assert c.request("where.pid", []) in pids["io"]
        assert c.request("where:pid", []) in pids["io"]
    assert c.register_pool("gpu", "where", "other") is True
    for _ in range(3):
        assert c.call("where", "other") in pids["gpu"]
        assert c.call("where", "pid") in pids["io"]
    assert c.unregister_pool("where") is True
    assert c.call("where", "pid") in pids["default"]
    assert c.call("where", "other") in pids["gpu"]


def test_parent_package_registration_moves_calls(c, pids):
    assert c.register_pool("gpu", "pkg") is True
    assert c.call("pkg.sub.leaf", "pid") in pids["gpu"]
    assert c.request("pkg.sub.leaf.pid", []) in pids["gpu"]
    assert c.register_pool("io", "pkg.sub") is True
    assert c.request("pkg.sub.leaf.pid", []) in pids["io"]


def test_config_routes_move_calls(c, pids):
    for _ in range(3):
        assert c.call("cfgmod", "pid") in pids["gpu"]
        assert c.request("cfgmod.inner.f", []) in pids["io"]
        assert c.request("cfgmod.inner.g", []) in pids["gpu"]
    # json:dumps stays on default even when json is routed elsewhere
    assert c.register_pool("gpu", "json") is True
    assert c.lookup_pool("json", "dumps") == "default"
    assert c.lookup_pool("json", "loads") == "gpu"
    assert c.request("json.dumps", [[1]]) == "[1]"


def test_opts_pool_beats_registration(c, pids):
    assert c.register_pool("io", "where") is True
    assert c.call("where", "pid", pool="gpu") in pids["gpu"]
    assert c.call("where", "pid", pool="default") in pids["default"]


def test_unregister_all_back_to_default(c, pids):
    assert c.register_pool("io", "where") is True
    assert c.register_pool("gpu", "where", "pid") is True
    assert c.call("where", "pid") in pids["gpu"]
    assert c.unregister_pool("where", "pid") is True
    assert c.call("where", "pid") in pids["io"]
    assert c.unregister_pool("where") is True
    assert c.call("where", "pid") in pids["default"]
