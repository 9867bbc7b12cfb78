"""log.level and log.format: text lines, or one JSON object per line that a
standard JSON parser reads, from the master and its executors alike; a
reload applies the new file's settings."""
import json
import signal

import pytest

from conftest import Daemon, run_check, slow_factor, wait_until

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
    ("log:\n  colour: red\n", "log: unknown key 'colour' (expected one of: level, format, calls, executor_output, "
                              "executor_output_rate)"),
])
def test_bad_log_settings_are_refused(tmp_path, text, says):
    cfg = tmp_path / "c.yaml"
    cfg.write_text("listen:\n  - unix: s.sock\n" + text)
    out = run_check(cfg)
    assert out.returncode == 1 and says in out.stderr, out.stderr


def access_lines(d):
    import re
    pat = re.compile(r"call (\S+) (\S+) (\S+) wait=([\d.]+)ms run=([\d.]+)ms conn=(\d+) msgid=(\d+)$")
    out = []
    for line in d.stderr_path.read_text().splitlines():
        m = pat.search(line)
        if m:
            out.append((m.group(1), m.group(2), m.group(3), float(m.group(4)), float(m.group(5)), int(m.group(7))))
    return out


def test_the_access_log_has_a_line_per_call(daemon_factory):
    d = daemon_factory(pools={"default": {"size": 1, "max_queue": 2}, "io": {"size": 1}},
                       extra_yaml="log:\n  calls: true\n")
    with d.connect() as c:
        assert c.ok("math.sqrt", [4]) == 2.0
        assert c.call("operator.truediv", [1, 0])[0]["type"] == "ZeroDivisionError"
        assert c.ok("call", ["time", "sleep", [0.2], None, {"pool": "io"}]) is None
        assert c.call("call", ["time", "sleep", [5], None, {"timeout": 0.1}])[0]["type"] == "Timeout"
        m = c.send("time.sleep", [5])
        c.notify("cancel", [m])
        assert c.wait(m)[2]["type"] == "Cancelled"
        # max_queue 2: of four slow calls sent at once, those past the queue are refused
        answers = c.request_many([("time.sleep", [0.3])] * 4, timeout=30)
        refused = [e["type"] for e, _ in answers if e]
        assert refused and set(refused) == {"Overloaded"}
    wait_until(lambda: len(access_lines(d)) >= 9, 10, "nine access lines")
    lines = access_lines(d)
    by_outcome = {}
    for pool, name, outcome, wait, run, msgid in lines:
        by_outcome.setdefault(outcome, []).append((pool, name, wait, run))
    assert ("default", "math.sqrt") in [r[:2] for r in by_outcome["ok"]]
    assert by_outcome["ZeroDivisionError"][0][:2] == ("default", "operator.truediv")
    slept = [r for r in by_outcome["ok"] if r[1] == "time.sleep" and r[0] == "io"]
    assert slept and slept[0][3] >= 190                       # run time: the 0.2 s sleep
    assert by_outcome["Timeout"][0][1] == "time.sleep" and 90 <= by_outcome["Timeout"][0][3] < 2000
    assert by_outcome["Cancelled"][0][1] == "time.sleep"
    assert by_outcome["Overloaded"] == [("default", "time.sleep", 0.0, 0.0)] * len(refused)
    ran = sorted(r for r in by_outcome["ok"] if r[1] == "time.sleep" and r[0] == "default")
    assert len(ran) == 4 - len(refused) and all(r[3] >= 290 for r in ran)
    assert max(r[2] for r in ran) >= 250                      # the last one waited for another's sleep


def test_no_access_log_by_default(daemon_factory):
    d = daemon_factory(pools=POOLS)
    with d.connect() as c:
        c.ok("math.sqrt", [4])
    assert access_lines(d) == []
