"""The slow-call log (slow_call per pool, or limits.slow_call): a call still
running after slow_call has the Python stack of its thread logged once,
tagged with pool, executor pid, connection, msgid, module.function and the
time so far, while the call runs on undisturbed; in both modes."""
import json
import re

import pytest

from conftest import run_check, wait_until

SLOWMOD = """\
import os
import time


def napper(seconds):
    time.sleep(seconds)
    return [seconds, os.getpid()]


def deep(n, seconds):
    if n == 0:
        time.sleep(seconds)
        return "bottom"
    return deeper(n - 1, seconds)


def deeper(n, seconds):     # two functions in turn: no repeated frames to fold
    return deep(n, seconds)
"""

LINE = re.compile(r"slow call: (\S+) (\S+) has run ([0-9.]+) s on executor (\S+) \(pid (\d+)\), "
                  r"conn (\d+) msgid (\d+); its stack:")


def slow_records(d):
    """The slow-call records in the daemon's log (text format): the header
    line's fields and the stack lines that follow it."""
    out = []
    lines = d.stderr_path.read_text().splitlines()
    for i, line in enumerate(lines):
        m = LINE.search(line)
        if not m:
            continue
        stack = []
        for follow in lines[i + 1:]:
            if re.match(r"pyrpoold\[\d+\]: ", follow) or follow.startswith("{"):
                break
            stack.append(follow)
        out.append((m.groups(), "\n".join(stack)))
    return out


@pytest.mark.parametrize("mode", ["process", "thread"])
def test_a_slow_call_has_its_stack_logged_once_while_it_runs(daemon_factory, factor, mode):
    d = daemon_factory(pools={"default": {"size": 1}, "io": {"size": 1},
                              "p": {"size": 2, "mode": mode, "slow_call": 0.3}},
                       modules={"slowmod.py": SLOWMOD})
    with d.connect() as c:
        m = c.send("call", ["slowmod", "napper", [2.0], None, {"pool": "p"}])
        wait_until(lambda: slow_records(d), 1.5 * factor, "the slow call logged while it runs")
        assert c.nothing_arrives(0.05), "the call was disturbed"
        answer = c.wait(m, timeout=20 * factor)
        for _ in range(20):
            c.ok("call", ["math", "sqrt", [4], None, {"pool": "p"}])
    assert answer[2] is None and answer[3][0] == 2.0
    records = slow_records(d)
    assert len(records) == 1, records          # once, and not for the quick calls
    (pool, name, ran, executor, pid, conn, msgid), stack = records[0]
    assert (pool, name) == ("p", "slowmod.napper")
    assert executor.startswith("p/") and int(pid) == answer[3][1]
    assert int(msgid) == m and int(conn) >= 1
    assert 0.3 <= float(ran) < 2.0
    assert 'in napper' in stack and "time.sleep(seconds)" in stack, stack


def test_limits_slow_call_is_the_default_and_zero_turns_it_off(daemon_factory, factor):
    d = daemon_factory(pools={"default": {"size": 1}, "io": {"size": 1, "slow_call": 0}},
                       modules={"slowmod.py": SLOWMOD}, extra_yaml="limits:\n  slow_call: 0.2\n")
    with d.connect() as c:
        c.ok("call", ["slowmod", "napper", [0.6], None, {"pool": "io"}], timeout=20 * factor)
        c.ok("slowmod.napper", [0.6], timeout=20 * factor)
    assert [r[0][:2] for r in slow_records(d)] == [("default", "slowmod.napper")]


def test_a_deep_stack_keeps_its_innermost_frames(daemon_factory, factor):
    d = daemon_factory(pools={"default": {"size": 1, "slow_call": 0.2}, "io": {"size": 1}},
                       modules={"slowmod.py": SLOWMOD})
    with d.connect() as c:
        assert c.ok("slowmod.deep", [150, 0.6], timeout=20 * factor) == "bottom"
    [(fields, stack)] = slow_records(d)
    assert stack.startswith("...") and "time.sleep(seconds)" in stack.splitlines()[-1]


def test_json_log_carries_the_stack_in_one_record(daemon_factory, factor):
    d = daemon_factory(pools={"default": {"size": 1, "slow_call": 0.2}, "io": {"size": 1}},
                       modules={"slowmod.py": SLOWMOD}, extra_yaml="log:\n  format: json\n")
    with d.connect() as c:
        c.ok("slowmod.napper", [0.6], timeout=20 * factor)
    records = [json.loads(line) for line in d.stderr_path.read_text().splitlines()]
    slow = [r for r in records if r["msg"].startswith("slow call: ")]
    assert len(slow) == 1 and slow[0]["level"] == "warning"
    assert "in napper" in slow[0]["msg"] and "\n" in slow[0]["msg"]


@pytest.mark.parametrize("text,says", [
    ("pools:\n  p: {slow_call: -1}\n", "pools.p.slow_call: -1 seconds is out of range"),
    ("pools:\n  p: {slow_call: soon}\n", "pools.p.slow_call: expected a number of seconds, got 'soon'"),
    ("limits:\n  slow_call: [1]\n", "limits.slow_call: expected a number of seconds"),
])
def test_bad_slow_call_settings_are_refused(tmp_path, text, says):
    cfg = tmp_path / "c.yaml"
    cfg.write_text("listen:\n  - unix: s.sock\n" + text)
    out = run_check(cfg)
    assert out.returncode == 1 and says in out.stderr, out.stderr
