"""Executors forked from a pool's template process: python.preload is
imported once, in the template, and shared; a killed executor is replaced
by a fork in milliseconds; preload_in_template: false starts fresh
processes instead; a template that dies takes its executors with it and the
pool recovers."""
import os
import signal
import time

import pytest

from conftest import ACTIVE, Daemon, finish_daemon, ppid, slow_factor, wait_pool, wait_until

MARK = """\
import os
import random

IMPORTED_IN = os.getpid()


def where():
    return [IMPORTED_IN, os.getpid(), os.getppid()]


def draw():
    return random.random()
"""


def cmdline(pid):
    with open(f"/proc/{pid}/cmdline", "rb") as f:
        return f.read().split(b"\0")


def make(tmp_path, request, name, pools, preload=("mark",)):
    """Starts a daemon whose executors preload the mark module."""
    d = Daemon(tmp_path / name, valgrind=request.config.getoption("--valgrind"),
               factor=slow_factor(request.config), pools=pools, modules={"mark.py": MARK})
    text = d.config_path.read_text().replace(
        "  path: [py]\n", "  path: [py]\n  preload: [" + ", ".join(preload) + "]\n")
    d.config_path.write_text(text)
    ACTIVE.append(d)
    d.start()
    return d


@pytest.fixture
def forked(tmp_path, request):
    d = make(tmp_path, request, "forked", {"default": {"size": 3}, "io": {"size": 2}})
    yield d
    finish_daemon(d)


def test_executors_are_forks_of_the_template_after_preload(forked):
    """Every executor is a child of one template process, itself a child of
    the daemon, and finds the preloaded module imported already (by the
    template: same module, another pid)."""
    with forked.connect() as c:
        rows = [c.ok("call", ["mark", "where", [], None, {"pool": "default"}]) for _ in range(30)]
        pids = set(c.ok("contexts", ["default"]))
    assert len(pids) == 3
    templates = {ppid(p) for p in pids}
    assert len(templates) == 1, templates
    template = templates.pop()
    assert ppid(template) == forked.proc.pid
    assert cmdline(template)[0] == b"pyrpool: default template"
    for imported_in, pid, parent in rows:
        assert imported_in == template != pid
        assert parent == template


def test_forked_executors_do_not_share_random_state(forked):
    """CPython's at-fork hooks ran in each child: random is reseeded."""
    with forked.connect() as c:
        draws = set()
        for _ in range(3):
            res = c.request_many([("call", ["mark", "draw", [], None, {"pool": "default"}])] * 3)
            draws |= {r for _, r in res}
    assert len(draws) == 9


def test_killed_executor_is_replaced_by_a_fork_quickly(forked, factor):
    with forked.connect() as c:
        def started():   # every executor has a pid (none still starting after an earlier test)
            pids = c.ok("contexts", ["default"])
            return None not in pids and pids

        before = set(wait_until(started, 5 * factor, "every default executor started"))
        victim = sorted(before)[0]
        template = ppid(victim)
        t = time.monotonic()
        os.kill(victim, signal.SIGKILL)
        while victim in c.ok("contexts", ["default"]):  # the master saw the death
            assert time.monotonic() - t < 5 * factor
        while True:  # the replacement answered READY
            p = [p for p in c.ok("pools", []) if p["name"] == "default"][0]
            if p["idle"] == 3 and p["starting"] == 0:
                break
            assert time.monotonic() - t < 5 * factor, p
            time.sleep(0.002)
        took = time.monotonic() - t
        now = set(c.ok("contexts", ["default"]))
        new = (now - before).pop()
        assert ppid(new) == template
        # it serves
        res = c.request_many([("call", ["mark", "where", [], None, {"pool": "default"}])] * 12)
        assert new in {r[1] for _, r in res}
    # a fresh interpreter plus imports takes tens of ms; a fork, a few
    assert took < 1.0 * factor, took


def test_killed_template_takes_its_executors_and_the_pool_recovers(forked, factor):
    with forked.connect() as c:
        pids = set(c.ok("contexts", ["default"]))
        template = ppid(next(iter(pids)))
        running = c.send("call", ["time", "sleep", [5], None, {"pool": "default"}])
        wait_pool(c, "default", 5 * factor, busy=1)   # it runs when the template dies
        os.kill(template, signal.SIGKILL)
        msg = c.wait(running, timeout=10 * factor)
        assert msg[2]["type"] == "WorkerCrashed", msg
        assert "template" in msg[2]["message"]
        deadline = time.monotonic() + 10 * factor
        while True:
            now = c.ok("contexts", ["default"])
            if None not in now and not set(now) & pids:
                break
            assert time.monotonic() < deadline, now
            time.sleep(0.05)
        for _ in range(10):
            imported_in, pid, _ = c.ok("call", ["mark", "where", [], None, {"pool": "default"}])
            assert pid in now
        # io has a template of its own: untouched
        assert c.ok("call", ["operator", "add", [1, 2], None, {"pool": "io"}]) == 3


def test_preload_in_template_false_starts_fresh_processes(tmp_path, request):
    d = make(tmp_path, request, "lazy",
             {"default": {"size": 2, "preload_in_template": False},
              "io": {"size": 2, "preload_in_template": False}})
    try:
        with d.connect() as c:
            rows = [c.ok("call", ["mark", "where", [], None, {"pool": "default"}]) for _ in range(10)]
        for imported_in, pid, parent in rows:
            assert imported_in == pid        # imported after it started, by itself
            assert parent == d.proc.pid      # started by the daemon
    finally:
        finish_daemon(d)
