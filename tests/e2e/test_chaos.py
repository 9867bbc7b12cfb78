"""Under load, with executors killed at random, every request gets exactly
one response: a result, or WorkerCrashed for the call a killed executor was
running. Budget: PYRPOOL_CHAOS_SECONDS (default 3)."""
import os
import random
import signal
import threading
import time

import msgpack
import pytest

from conftest import finish_daemon, start_daemon


def test_every_request_answered_once_while_executors_die(tmp_path, request, factor):
    seconds = float(os.environ.get("PYRPOOL_CHAOS_SECONDS", "3"))
    d = start_daemon(tmp_path / "chaos", request.config,
                     pools={"default": {"size": 2, "crash_limit": 0}, "io": {"size": 3, "crash_limit": 0}})
    stop = threading.Event()
    killed = []
    problems = []

    def killer():
        rng = random.Random(5)
        while not stop.is_set():
            time.sleep(rng.uniform(0.05, 0.2))
            with d.connect(timeout=10) as c:
                pids = [p for pool in ("default", "io") for p in c.ok("contexts", [pool]) if p]
            if pids:
                victim = rng.choice(pids)
                try:
                    os.kill(victim, signal.SIGKILL)
                    killed.append(victim)
                except ProcessLookupError:
                    pass

    def client(k):
        rng = random.Random(k)
        try:
            with d.connect(timeout=60) as c:
                end = time.monotonic() + seconds
                n = 0
                while time.monotonic() < end:
                    batch = []
                    for _ in range(50):
                        n += 1
                        x = rng.randrange(1000)
                        if rng.random() < 0.2:
                            batch.append(("map", ["operator", "neg", [[x], [x + 1]], None,
                                                  {"pool": rng.choice(["default", "io"])}], [-x, -x - 1]))
                        else:
                            batch.append(("call", ["operator", "add", [x, k], None,
                                                   {"pool": rng.choice(["default", "io"])}], x + k))
                    ids = [rng.randrange(2 ** 32) for _ in batch]
                    if len(set(ids)) != len(ids):
                        continue
                    c.send_raw(b"".join(msgpack.packb([0, m, meth, p]) for m, (meth, p, _) in zip(ids, batch)))
                    for m, (_, _, want) in zip(ids, batch):
                        msg = c.wait(m, timeout=30 * factor)
                        err, res = msg[2], msg[3]
                        if err is None:
                            if res != want:
                                problems.append(("wrong result", k, m, res, want))
                        elif err["type"] != "WorkerCrashed":
                            problems.append(("unexpected error", k, m, err))
                # nothing more may arrive: every request was answered exactly once
                if not c.nothing_arrives(0.3):
                    problems.append(("extra answer", k, c.recv_response(timeout=1)))
        except Exception as e:
            problems.append(("client failed", k, repr(e)))

    t = threading.Thread(target=killer)
    clients = [threading.Thread(target=client, args=(k,)) for k in range(4)]
    t.start()
    for th in clients:
        th.start()
    for th in clients:
        th.join(120 * factor)
    stop.set()
    t.join(30)
    try:
        assert not any(th.is_alive() for th in clients), "a client hung"
        assert problems == [], problems[:5]
        assert len(killed) >= 5, f"only {len(killed)} executors were killed"
        with d.connect() as c:  # every pool serves again
            for pool in ("default", "io"):
                deadline = time.monotonic() + 20 * factor
                while c.call("call", ["operator", "add", [1, 1], None, {"pool": pool}], timeout=30)[1] != 2:
                    assert time.monotonic() < deadline
    finally:
        finish_daemon(d)
