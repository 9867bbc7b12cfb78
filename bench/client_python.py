"""The Python client's throughput: math.sqrt(16) calls through pyrpool.

    /usr/bin/python3 bench/client_python.py SOCKET MODE [--calls N] [--threads T]
                                            [--inflight W] [--warmup K] [--profile FILE]

MODE threads: T threads (default 16) share one pyrpool.Client, each making
N / T blocking calls one after another (so T calls are in flight).
MODE asyncio: one pyrpool.AsyncClient keeps W calls (default 64) in flight
(W coroutines, each calling one after another).

The first K calls (default 2000) warm up, not measured. Every answer is
checked (4.0). Prints one line: calls_per_s=<float>. With --profile, the
measured part runs under cProfile and its stats go to FILE (pstats format).
"""
import argparse
import asyncio
import os
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "clients", "python"))

import pyrpool  # noqa: E402


def check(value):
    if value != 4.0:
        raise SystemExit(f"client_python: math.sqrt(16) answered {value!r}")


PROFILES = []   # with --profile: a cProfile.Profile per thread that ran measured work


def profiled(fn):
    """fn run under a cProfile.Profile of its own thread (kept in PROFILES)."""
    import cProfile

    def wrapper(*args, **kw):
        prof = cProfile.Profile()
        PROFILES.append(prof)
        prof.enable()
        try:
            return fn(*args, **kw)
        finally:
            prof.disable()
    return wrapper


def run_threads(address, calls, nthreads, warmup, profile=False):
    if profile:   # the reader thread of the connection too
        from pyrpool import client as client_module
        client_module._Conn._read_loop = profiled(client_module._Conn._read_loop)
    with pyrpool.Client(address) as c:
        for _ in range(warmup):
            check(c.call("math", "sqrt", 16))
        per = max(1, calls // nthreads)
        start = threading.Barrier(nthreads + 1)
        failures = []

        def work():
            start.wait()
            try:
                for _ in range(per):
                    check(c.call("math", "sqrt", 16))
            except BaseException as e:  # noqa: BLE001 -- reported below
                failures.append(e)

        threads = [threading.Thread(target=profiled(work) if profile else work) for _ in range(nthreads)]
        for t in threads:
            t.start()
        start.wait()
        t0 = time.perf_counter()
        for t in threads:
            t.join()
        elapsed = time.perf_counter() - t0
        if failures:
            raise SystemExit(f"client_python: {len(failures)} threads failed: {failures[0]!r}")
        return per * nthreads / elapsed


async def run_asyncio(address, calls, inflight, warmup):
    async with pyrpool.AsyncClient(address) as c:
        for _ in range(warmup):
            check(await c.call("math", "sqrt", 16))
        per = max(1, calls // inflight)

        async def worker():
            for _ in range(per):
                check(await c.call("math", "sqrt", 16))

        t0 = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(inflight)))
        return per * inflight / (time.perf_counter() - t0)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("socket")
    ap.add_argument("mode", choices=["threads", "asyncio"])
    ap.add_argument("--calls", type=int, default=160_000)
    ap.add_argument("--threads", type=int, default=16)
    ap.add_argument("--inflight", type=int, default=64)
    ap.add_argument("--warmup", type=int, default=2000)
    ap.add_argument("--profile", metavar="FILE")
    a = ap.parse_args()
    address = a.socket if ":" in a.socket.split("/")[0] else f"unix:{a.socket}"
    if a.mode == "threads":
        rate = run_threads(address, a.calls, a.threads, a.warmup, profile=bool(a.profile))
    else:
        run = run_asyncio(address, a.calls, a.inflight, a.warmup)
        rate = profiled(asyncio.run)(run) if a.profile else asyncio.run(run)
    if a.profile:
        import pstats
        stats = pstats.Stats(PROFILES[0])
        for p in PROFILES[1:]:
            stats.add(p)
        stats.dump_stats(a.profile)
    print(f"calls_per_s={rate:.1f}")


if __name__ == "__main__":
    main()
