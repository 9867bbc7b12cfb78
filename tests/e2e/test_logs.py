"""log.level and log.format: text lines, or one JSON object per line that a
standard JSON parser reads, from the master and its executors alike; a
reload applies the new file's settings."""
import json
import signal
import subprocess

import pytest

from conftest import BINARY, Daemon, slow_factor, wait_until

POOLS = {"default": {"size": 1}, "io": {"size": 1}}


def start(tmp_path, request, log, preload=None):
    d = Daemon(tmp_path, factor=slow_factor(request.config), pools=POOLS,
               modules={"broken.py": "raise ImportError('not today')\n"}, extra_yaml=log)
    if preload:
        d.config_path.write_text(d.config_path.read_text().replace(
            "  path: [py]\n", f"  path: [py]\n  preload: [{preload}]\n"))
    return d


def json_lines(d):
    lines = d.stderr_path.read_text().splitlines()
    return [json.loads(line) for line in lines]      # every line parses, or this fails


def test_json_lines_from_the_master_and_its_executors(tmp_path, request):
    d = start(tmp_path, request, "log:\n  format: json\n  level: debug\n", preload="broken")
    d.start(wait=False)
    try:
        wait_until(lambda: "preloading broken failed" in d.stderr_path.read_text(), 20, "a preload failure")
        d.send_signal(signal.SIGTERM)
        d.wait_exit(20)
    finally:
        if d.alive():
            d.proc.kill()
    records = json_lines(d)
    assert records and all(set(r) == {"time", "level", "name", "pid", "msg"} for r in records)
    assert any(r["name"] == "pyrpoold" and r["level"] == "info" and r["msg"].startswith("pyrpoold 0.1.0 serving")
               for r in records)
    assert any(r["level"] == "debug" for r in records)
    failed = [r for r in records if r["msg"].startswith("preloading broken failed: ")]
    assert failed and failed[0]["name"].startswith("executor ") and failed[0]["level"] == "error"
    # the traceback is inside the one record, not lines of its own
    assert "Traceback (most recent call last)" in failed[0]["msg"] and "ImportError: not today" in failed[0]["msg"]
    assert records[0]["time"].endswith("Z") and "T" in records[0]["time"]


def test_level_warning_drops_info(daemon_factory):
    d = daemon_factory(pools=POOLS, extra_yaml="log:\n  level: warning\n")
    with d.connect() as c:
        assert c.ok("math.sqrt", [4]) == 2.0
    text = d.stderr_path.read_text()
    assert "info:" not in text and "serving" not in text


def test_text_is_the_default_and_a_reload_switches_to_json(daemon_factory):
    d = daemon_factory(pools=POOLS)
    assert d.stderr_path.read_text().splitlines()[0].startswith(f"pyrpoold[{d.proc.pid}]: info: listening on ")
    d.config_path.write_text(d.config_path.read_text() + "log:\n  format: json\n")
    d.send_signal(signal.SIGHUP)
    wait_until(lambda: '"msg": "reload: generation 1 serving' in d.stderr_path.read_text(), 30, "a JSON line")
    last = json.loads(d.stderr_path.read_text().splitlines()[-1])
    assert last["name"] == "pyrpoold"


@pytest.mark.parametrize("text,says", [
    ("log:\n  level: loud\n", "log.level: expected debug, info, warning or error, got 'loud'"),
    ("log:\n  format: xml\n", "log.format: expected text or json, got 'xml'"),
    ("log:\n  colour: red\n", "log: unknown key 'colour' (expected one of: level, format)"),
])
def test_bad_log_settings_are_refused(tmp_path, text, says):
    cfg = tmp_path / "c.yaml"
    cfg.write_text("listen:\n  - unix: s.sock\n" + text)
    out = subprocess.run([str(BINARY), "--check", "-c", str(cfg)], capture_output=True, text=True, timeout=30)
    assert out.returncode == 1 and says in out.stderr, out.stderr
