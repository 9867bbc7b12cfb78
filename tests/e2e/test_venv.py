"""python.venv: executors (and templates) start in a virtual environment
made by Debian's `/usr/bin/python3 -m venv`, as the venv's own interpreter would: sys.prefix,
its site-packages, its .pth files, system packages only if the venv says
so. A missing venv, or one made for another Python, is refused at load."""
import subprocess
import sys

import pytest

from conftest import BINARY, Daemon, finish_daemon, slow_factor

PY = f"python{sys.version_info.major}.{sys.version_info.minor}"
PROBE = """\
import importlib.util
import sys


def probe():
    return {"prefix": sys.prefix, "base_prefix": sys.base_prefix, "executable": sys.executable,
            "yaml": importlib.util.find_spec("yaml") is not None, "file": __file__}
"""


def make_venv(path, system_site=False):
    args = ["/usr/bin/python3", "-m", "venv", "--without-pip", str(path)]
    if system_site:
        args.insert(3, "--system-site-packages")
    subprocess.run(args, check=True, timeout=120)
    site = path / "lib" / PY / "site-packages"
    (site / "venvpkg").mkdir()
    (site / "venvpkg" / "__init__.py").write_text(PROBE)
    extra = path / "extra"
    extra.mkdir()
    (extra / "pthmod.py").write_text("def seven():\n    return 7\n")
    (site / "extra.pth").write_text(str(extra) + "\n")
    return path


def start(tmp_path, request, venv, preload=None, **kw):
    d = Daemon(tmp_path / "d", factor=slow_factor(request.config),
               pools={"default": {"size": 1}, "io": {"size": 2, "mode": "thread"},
                      "fresh": {"size": 1, "preload_in_template": False}}, **kw)
    extra = f"  venv: {venv}\n" + (f"  preload: [{preload}]\n" if preload else "")
    d.config_path.write_text(d.config_path.read_text().replace("  path: [py]\n", "  path: [py]\n" + extra))
    return d.start()


@pytest.mark.parametrize("system_site", [False, True])
def test_executors_run_in_the_venv(tmp_path, request, system_site):
    venv = make_venv(tmp_path / "venv", system_site)
    d = start(tmp_path, request, venv, preload="venvpkg")
    try:
        with d.connect() as c:
            for pool in ("default", "io", "fresh"):       # forked from a template, thread mode, exec'd
                got = c.ok("call", ["venvpkg", "probe", [], None, {"pool": pool}])
                assert got["prefix"] == str(venv) and got["base_prefix"] == "/usr", got
                assert got["executable"] == str(venv / "bin" / "python3")
                assert got["file"].startswith(str(venv / "lib" / PY / "site-packages"))
                assert got["yaml"] is system_site          # Debian's dist-packages only if asked for
                assert c.ok("call", ["pthmod", "seven", [], None, {"pool": pool}]) == 7   # the .pth file
    finally:
        finish_daemon(d)


def test_without_venv_its_packages_are_not_seen(daemon_factory):
    d = daemon_factory(pools={"default": {"size": 1}, "io": {"size": 1}})
    with d.connect() as c:
        err, _ = c.call("venvpkg.probe", [])
        assert err["type"] == "ModuleNotFoundError"


def check(tmp_path, venv_line):
    cfg = tmp_path / "c.yaml"
    cfg.write_text(f"listen:\n  - unix: s.sock\npython:\n  venv: {venv_line}\n")
    return subprocess.run([str(BINARY), "--check", "-c", str(cfg)], capture_output=True, text=True, timeout=30)


def test_a_missing_venv_is_refused_at_load(tmp_path):
    out = check(tmp_path, "nowhere")
    assert out.returncode == 1
    assert "4:9: python.venv: '" in out.stderr and "is not a virtual environment" in out.stderr
    assert "pyvenv.cfg: No such file or directory" in out.stderr


def test_a_venv_for_another_python_is_refused_at_load(tmp_path):
    venv = make_venv(tmp_path / "old")
    cfg = venv / "pyvenv.cfg"
    cfg.write_text(cfg.read_text().replace(f"version = {sys.version_info.major}.{sys.version_info.minor}",
                                           "version = 3.9"))
    out = check(tmp_path, str(venv))
    assert out.returncode == 1
    assert f"was made for Python 3.9" in out.stderr and f"the executors run Python {sys.version_info.major}." \
        f"{sys.version_info.minor}" in out.stderr, out.stderr


def test_a_venv_check_shows_in_the_summary(tmp_path):
    venv = make_venv(tmp_path / "ok")
    out = check(tmp_path, str(venv))
    assert out.returncode == 0, out.stderr
    assert f"  venv {venv}\n" in out.stdout
