"""The README's client examples run as they are shown: the Python one
through pyrpool, the C one is clients/c/example.c (built and run by the C
client's suite), the Erlang one by the Erlang suite, the Node one by
test_offtheshelf."""
import os
import subprocess

from conftest import HERE

ROOT = HERE.parent.parent


def block(after, lang):
    text = (ROOT / "README.md").read_text().split(after, 1)[1]
    return text.split(f"```{lang}\n", 1)[1].split("```", 1)[0]


def test_the_python_example(daemon_factory):
    d = daemon_factory(pools={"default": {"size": 1}, "io": {"size": 1}})
    code = block("**Python**", "python").replace("/run/pyrpoold/pyrpoold.sock", str(d.socket_path))
    out = subprocess.run(["/usr/bin/python3", "-c", code], capture_output=True, text=True, timeout=60,
                         env=dict(os.environ, PYTHONPATH=str(ROOT / "clients" / "python")))
    assert out.returncode == 0, out.stderr
    assert out.stdout == '4.0\n{"b": 1}\n'


def test_the_c_example_is_the_one_the_suite_runs():
    shown = block("**C**", "c")
    with open(ROOT / "clients" / "c" / "README.md") as f:
        assert shown in f.read()


def test_the_erlang_example_is_the_one_its_suite_runs():
    shown = block("**Erlang**", "erlang")
    with open(ROOT / "clients" / "erlang" / "README.md") as f:
        assert shown in f.read()
