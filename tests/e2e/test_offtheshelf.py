"""Off-the-shelf MessagePack-RPC clients, used unchanged: Go's net/rpc with
ugorji's MsgpackSpecRpc codec (wants the error as a string), pynvim's
msgpack-rpc session (wants an array, and sends a notification on connect),
and msgpack-rpc-lite from npm (takes the error map as it is). Each makes
successful calls, gets an error, then makes more calls on the same
connection. `make test` builds them (build/offtheshelf, `make offtheshelf`)."""
import json
import os
import subprocess

import pytest

from conftest import HERE, finish_daemon, module_daemon

ROOT = HERE.parent.parent
BUILT = ROOT / "build" / "offtheshelf"
SRC = ROOT / "tests" / "offtheshelf"
GO_CLIENT = BUILT / "go_msgpackrpc"
NODE_MODULES = BUILT / "node" / "node_modules"
POOLS = {"default": {"size": 1}, "io": {"size": 1}}
SUM_OF_ROOTS = float(sum(range(100)))       # sqrt(i*i) for i < 100


def run(cmd, env=None, timeout=60):
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, cwd=str(ROOT),
                         env=dict(os.environ, **(env or {})))
    assert out.returncode == 0, f"{cmd} exited {out.returncode}:\n{out.stdout}\n{out.stderr}"
    return {s["step"]: s for s in map(json.loads, out.stdout.splitlines())}


@pytest.fixture(scope="module")
def daemons(request, tmp_path_factory):
    made = {}
    try:
        made["map"] = module_daemon(request, tmp_path_factory, "ots-map", pools=POOLS, tcp=True)
        made["string"] = module_daemon(request, tmp_path_factory, "ots-string", pools=POOLS,
                                       unix_opts={"errors": "string"})
        made["array"] = module_daemon(request, tmp_path_factory, "ots-array", pools=POOLS,
                                      unix_opts={"errors": "array"})
        yield made
    finally:
        for d in made.values():
            finish_daemon(d)


def check_go(steps):
    assert steps["sqrt"] == {"step": "sqrt", "result": "4"}
    assert steps["dumps"]["result"] == '{"a": 1}'
    # a Python exception: a server error whose text is "Type: message\ntraceback"
    err = steps["error"]
    assert err.get("server_error") and err["error"].startswith("ZeroDivisionError: division by zero"), err
    assert steps["daemon_error"]["error"] == "NoSuchPool: no pool named 'nope'"
    assert steps["after"] == {"step": "after", "result": "5"}
    assert steps["pipelined"]["result"] == "4950" and "error" not in steps["pipelined"]


def test_go_ugorji_on_a_listener_with_string_errors(daemons):
    assert GO_CLIENT.exists(), "run `make offtheshelf` first"
    check_go(run([str(GO_CLIENT), str(daemons["string"].socket_path)]))


def test_go_ugorji_asking_for_string_errors_with_hello(daemons):
    steps = run([str(GO_CLIENT), str(daemons["map"].socket_path), "hello"])
    assert steps["hello"]["result"] == "string" and "error" not in steps["hello"]
    check_go(steps)


def test_go_ugorji_breaks_on_map_errors_without_the_setting(daemons):
    # what the setting is for: the codec cannot read a map where it wants a string
    out = subprocess.run([str(GO_CLIENT), str(daemons["map"].socket_path)], capture_output=True,
                         text=True, timeout=60)
    steps = {s["step"]: s for s in map(json.loads, out.stdout.splitlines())}
    assert steps["sqrt"]["result"] == "4"
    assert "error" in steps["after"] and "server_error" not in steps["after"], steps


def check_pynvim(steps):
    assert steps["sqrt"]["result"] == 4.0
    assert steps["dumps"]["result"] == '{"a": 1}'
    assert steps["error"] == {"step": "error", "error": "division by zero", "nvim_error": True}
    assert steps["daemon_error"]["error"] == "no pool named 'nope'"
    assert steps["after"]["result"] == 5.0
    assert steps["many"]["result"] == [float(i) for i in range(100)]


def test_pynvim_on_a_listener_with_array_errors(daemons):
    check_pynvim(run(["/usr/bin/python3", str(SRC / "pynvim_session.py"), str(daemons["array"].socket_path)]))


def test_pynvim_asking_for_array_errors_with_hello(daemons):
    steps = run(["/usr/bin/python3", str(SRC / "pynvim_session.py"), str(daemons["map"].socket_path), "hello"])
    assert steps["hello"]["result"]["errors"] == "array"
    check_pynvim(steps)


def node_env():
    assert NODE_MODULES.exists(), "run `make offtheshelf` first (npm ci)"
    return {"NODE_PATH": str(NODE_MODULES)}


def test_node_msgpack_rpc_lite_over_tcp_with_a_token(daemons):
    d = daemons["map"]
    steps = run(["node", str(SRC / "node_msgpackrpc.js"), str(d.tcp_port), d.token], env=node_env())
    assert steps["auth"]["result"] is True
    assert steps["hello"]["result"]["protocol"] == 1
    assert steps["sqrt"]["result"] == 4
    assert steps["kwargs"]["result"] == "[1, 2]"         # {} and [] as kwargs and opts
    err = steps["error"]["error"]
    assert err["type"] == "ZeroDivisionError" and err["message"] == "division by zero", err
    assert steps["daemon_error"]["error"] == {"type": "NoSuchPool", "message": "no pool named 'nope'",
                                              "traceback": None}
    assert steps["after"]["result"] == 5
    assert steps["pipelined"]["result"] == SUM_OF_ROOTS


def test_the_readme_node_example(daemons):
    d = daemons["map"]
    out = subprocess.run(["node", str(ROOT / "examples" / "node" / "client.js"), str(d.socket_path)],
                         capture_output=True, text=True, timeout=60, env=dict(os.environ, **node_env()))
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines() == ['4 {"a": 2, "b": 1}', "ZeroDivisionError: division by zero"]
