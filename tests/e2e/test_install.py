"""make install / uninstall into a DESTDIR: the installed daemon runs from
there (its executor found under libexec), the units pass systemd-analyze
verify, the config is not overwritten, uninstall removes what install put."""
import os
import shutil
import subprocess
import tempfile
import time

import pytest

from conftest import Client, HERE

ROOT = HERE.parent.parent


def make(*args, timeout=300):
    out = subprocess.run(["make", "--no-print-directory", "-s", *args], cwd=str(ROOT), capture_output=True,
                         text=True, timeout=timeout)
    assert out.returncode == 0, out.stdout + out.stderr
    return out.stdout


@pytest.fixture
def dest(tmp_path):
    d = tmp_path / "dest"
    make("install", f"DESTDIR={d}", "PREFIX=/usr")
    return d


def installed_files(root):
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


def test_install_puts_everything_in_place(dest):
    files = installed_files(dest)
    for f in ["etc/pyrpoold/pyrpoold.yaml", "usr/sbin/pyrpoold", "usr/libexec/pyrpoold/pyrpool-executor",
              "usr/bin/pyrpoolctl", "usr/share/man/man8/pyrpoolctl.8",
              "usr/share/bash-completion/completions/pyrpoolctl", "usr/include/pyrpool/client.h",
              "usr/lib/libpyrpool.a", "usr/lib/libpyrpool.so.0.1.0", "usr/lib/pkgconfig/pyrpool.pc",
              "usr/share/man/man8/pyrpoold.8", "usr/share/man/man5/pyrpoold.yaml.5",
              "usr/lib/systemd/system/pyrpoold.service", "usr/lib/systemd/system/pyrpoold.socket",
              "usr/lib/sysusers.d/pyrpoold.conf"]:
        assert f in files, files
    unit = (dest / "usr/lib/systemd/system/pyrpoold.service").read_text()
    assert "ExecStart=/usr/sbin/pyrpoold -c /etc/pyrpoold/pyrpoold.yaml" in unit
    assert "@" not in unit.replace("ExecReload", "")
    assert (dest / "usr/lib/pkgconfig/pyrpool.pc").read_text().startswith("prefix=/usr\n")


def test_installed_units_verify(dest, tmp_path):
    units = tmp_path / "units"
    units.mkdir()
    # ExecStart must exist for verify: point it at the staged copy
    (units / "pyrpoold.service").write_text((dest / "usr/lib/systemd/system/pyrpoold.service").read_text()
                                            .replace("/usr/sbin/pyrpoold", str(dest / "usr/sbin/pyrpoold")))
    shutil.copy(dest / "usr/lib/systemd/system/pyrpoold.socket", units / "pyrpoold.socket")
    out = subprocess.run(["systemd-analyze", "verify", "--man=no", str(units / "pyrpoold.service"),
                          str(units / "pyrpoold.socket")], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0 and out.stdout + out.stderr == "", out.stdout + out.stderr


def test_the_installed_daemon_runs_from_destdir(dest, tmp_path):
    sockdir = tempfile.mkdtemp(prefix="pyrp-i-")
    sock = os.path.join(sockdir, "d.sock")
    cfg = tmp_path / "installed.yaml"
    # the installed config, with its paths moved to where a test may write
    cfg.write_text((dest / "etc/pyrpoold/pyrpoold.yaml").read_text()
                   .replace("/run/pyrpoold/pyrpoold.sock", sock)
                   .replace("/var/lib/pyrpoold/pyrpoold.state", str(tmp_path / "state")))
    proc = subprocess.Popen([str(dest / "usr/sbin/pyrpoold"), "-c", str(cfg)], stderr=subprocess.PIPE,
                            stdout=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 20
        while not os.path.exists(sock):
            assert proc.poll() is None and time.monotonic() < deadline, proc.stderr.read().decode()
            time.sleep(0.02)
        with Client(sock, timeout=20) as c:
            assert c.ok("math.sqrt", [16], timeout=20) == 4.0
            assert c.ok("lookup_pool", ["requests", "get"]) == "io"
        # the installed pyrpoolctl against it
        ctl = str(dest / "usr/bin/pyrpoolctl")
        run = lambda *a: subprocess.run([ctl, "-s", sock, *a], capture_output=True, text=True, timeout=60)
        assert run("register", "io", "colorsys").stdout == "colorsys -> io\n"
        assert run("lookup", "colorsys", "x").stdout == "io\n"
        assert run("call", "math.sqrt", "9").stdout == "3.0\n"
        assert "pyrpoold" in (tmp_path / "state").read_text()
        # its check runs the installed daemon's --check
        out = subprocess.run([ctl, "check", "-c", str(cfg)], capture_output=True, text=True, timeout=60)
        assert out.returncode == 0 and out.stdout.startswith(f"{cfg}: ok"), out.stderr
    finally:
        proc.terminate()
        assert proc.wait(timeout=30) == 0
        shutil.rmtree(sockdir)


def test_install_keeps_a_changed_config_and_uninstall_removes_the_rest(dest):
    conf = dest / "etc/pyrpoold/pyrpoold.yaml"
    conf.write_text(conf.read_text() + "# mine\n")
    out = make("install", f"DESTDIR={dest}", "PREFIX=/usr")
    assert "exists: left as it is" in out
    assert conf.read_text().endswith("# mine\n")
    out = make("uninstall", f"DESTDIR={dest}", "PREFIX=/usr")
    assert "was changed: left in place" in out
    assert installed_files(dest) == ["etc/pyrpoold/pyrpoold.yaml"]
    conf.write_text((ROOT / "conf/pyrpoold.system.yaml").read_text())
    make("uninstall", f"DESTDIR={dest}", "PREFIX=/usr")
    assert installed_files(dest) == []
