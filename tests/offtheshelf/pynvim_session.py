"""An off-the-shelf MessagePack-RPC client in Python: pynvim's msgpack-rpc
session (Debian's python3-pynvim), used unchanged. pynvim sends a
notification (nvim_set_client_info) when it connects, which the daemon
ignores, and raises errors the Neovim way: NvimError(error[1]), the error
being an array. Run by tests/e2e/test_offtheshelf.py.
Usage: /usr/bin/python3 pynvim_session.py SOCKET [hello]
  hello: first asks for array errors on this connection (hello's option);
  without it the listener must be configured with errors: array.
Prints one JSON line per step for the test to check."""
import json
import sys

from pynvim.api.nvim import NvimError
from pynvim.msgpack_rpc import socket_session


def main():
    session = socket_session(sys.argv[1])
    session.error_wrapper = lambda e: NvimError(e[1])   # what pynvim's Nvim sets

    def step(name, method, *args):
        try:
            result = session.request(method, *args)
            print(json.dumps({"step": name, "result": result}), flush=True)
        except NvimError as e:
            print(json.dumps({"step": name, "error": str(e), "nvim_error": True}), flush=True)

    if len(sys.argv) > 2 and sys.argv[2] == "hello":
        step("hello", "hello", "pynvim", "0.4", {"errors": "array"})
    step("sqrt", "math.sqrt", 16)
    step("dumps", "call", "json", "dumps", [{"a": 1}])
    step("error", "operator.truediv", 1, 0)
    step("daemon_error", "call", "math", "sqrt", [1], None, {"pool": "nope"})
    step("after", "math.sqrt", 25)
    step("many", "map", "math", "sqrt", [[i * i] for i in range(100)])
    session.close()


main()
