"""Under load, with executors (and now and then a pool's template) killed
at random, and optionally the config reloaded over and over, every request
gets exactly one response: a result, WorkerCrashed for the calls a killed
process was running, or PoolDegraded while a pool's executors keep being
killed as they start. Budget: PYRPOOL_CHAOS_SECONDS (default 3)."""
import os
import random
import signal
import threading
import time

import msgpack
import pytest

from conftest import finish_daemon, start_daemon


def ppid(pid):
    with open(f"/proc/{pid}/stat") as f:
        return int(f.read().rsplit(")", 1)[1].split()[1])


@pytest.mark.parametrize("reloads", [False, True], ids=["kills", "kills-and-reloads"])
def test_every_request_answered_once_while_executors_die(tmp_path, request, factor, reloads):
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
                    if rng.random() < 0.15 and ppid(victim) != d.proc.pid:
                        victim = ppid(victim)  # its pool's template, and with it the pool
                    os.kill(victim, signal.SIGKILL)
                    killed.append(victim)
                except (ProcessLookupError, FileNotFoundError):
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
                        elif err["type"] not in ("WorkerCrashed", "PoolDegraded"):
                            # PoolDegraded: executors killed while starting,
                            # 3 times in a row, make the pool fail fast a while
                            problems.append(("unexpected error", k, m, err))
                # nothing more may arrive: every request was answered exactly once
                if not c.nothing_arrives(0.3):
                    problems.append(("extra answer", k, c.recv_response(timeout=1)))
        except Exception as e:
            problems.append(("client failed", k, repr(e)))

    def reloader():
        rng = random.Random(7)
        while not stop.wait(rng.uniform(0.2, 0.5)):
            d.pools["default"]["size"] = rng.choice([1, 2, 3])
            d.pools["io"]["mode"] = rng.choice(["thread", "process"])
            d.write_config()
            d.send_signal(signal.SIGHUP)

    t = threading.Thread(target=killer)
    r = threading.Thread(target=reloader) if reloads else None
    if r is not None:
        r.start()
    clients = [threading.Thread(target=client, args=(k,)) for k in range(4)]
    t.start()
    for th in clients:
        th.start()
    for th in clients:
        th.join(120 * factor)
    stop.set()
    t.join(30)
    if r is not None:
        r.join(30)
    try:
        assert not any(th.is_alive() for th in clients), "a client hung"
        assert problems == [], problems[:5]
        assert len(killed) >= 5, f"only {len(killed)} executors were killed"
        if reloads:
            applied = d.stderr_text(tail=100000).count("reload: generation")
            assert applied >= 2, f"only {applied} reloads took over"
        with d.connect() as c:  # every pool serves again
            for pool in ("default", "io"):
                deadline = time.monotonic() + 20 * factor
                while c.call("call", ["operator", "add", [1, 1], None, {"pool": pool}], timeout=30)[1] != 2:
                    assert time.monotonic() < deadline
    finally:
        finish_daemon(d)
