"""The same work on what a Python user would pick instead of pyrpoold.

    /usr/bin/python3 bench/alternatives.py [--workers N] [--seq-calls N]
        [--map-calls-1 N] [--map-calls-64 N] [--map-items N]

  concurrent.futures.ProcessPoolExecutor(max_workers=N)
    ppe_submit_*        submit(math.sqrt, 16).result(), one at a time: latency
    ppe_map_c1/_c64     list(ex.map(math.sqrt, items, chunksize=1 / 64)): calls/s
  multiprocessing.Pool(N)
    mp_apply_*          pool.apply(math.sqrt, (16,)), one at a time: latency
    mp_map_async_c1/_c64  pool.map_async(math.sqrt, items, chunksize=1 / 64).get()
    mp_map_async_big_c64  the same over --map-items items (the `map` comparison)

ppe_worker_{rss,pss}_kib, mp_worker_{rss,pss}_kib: median VmRSS / Pss of the
warm workers.
Pools are started and warmed up (every worker has run a task) before
anything is timed. Prints one JSON object.
"""
import argparse
import concurrent.futures
import json
import math
import multiprocessing
import os
import time


def percentile(sorted_values, q):
    if not sorted_values:
        return 0.0
    i = min(len(sorted_values) - 1, max(0, int(math.ceil(q * len(sorted_values))) - 1))
    return sorted_values[i]


def latency_stats(prefix, samples_ns):
    s = sorted(samples_ns)
    return {
        prefix + "_p50_us": percentile(s, 0.50) / 1e3,
        prefix + "_p99_us": percentile(s, 0.99) / 1e3,
        prefix + "_calls": len(s),
    }


def proc_kib(pid, path, key):
    try:
        with open(f"/proc/{pid}/{path}") as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def median(values):
    values = sorted(v for v in values if v is not None)
    return values[len(values) // 2] if values else None


def worker_memory(pids):
    """Median VmRSS and Pss (KiB) of the given worker processes."""
    return (median(proc_kib(p, "status", "VmRSS") for p in pids),
            median(proc_kib(p, "smaps_rollup", "Pss") for p in pids))


def sequential(call, n):
    clock = time.perf_counter_ns
    samples = []
    append = samples.append
    for _ in range(n):
        t0 = clock()
        call()
        append(clock() - t0)
    return samples


def throughput(run, n):
    t0 = time.perf_counter()
    results = run()
    secs = time.perf_counter() - t0
    if len(results) != n or results[0] != 4.0 or results[-1] != 4.0:
        raise SystemExit("alternatives: wrong results")
    return n / secs


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--workers", type=int, default=os.cpu_count())
    ap.add_argument("--seq-calls", type=int, default=5000)
    ap.add_argument("--map-calls-1", type=int, default=50000)
    ap.add_argument("--map-calls-64", type=int, default=200000)
    ap.add_argument("--map-items", type=int, default=200000)
    a = ap.parse_args()
    out = {"workers": a.workers}
    sqrt = math.sqrt

    # Both pools are started (and forked) first, from a still small parent,
    # and warmed up: every worker has run a task before anything is timed.
    ex = concurrent.futures.ProcessPoolExecutor(max_workers=a.workers)
    before = {p.pid for p in multiprocessing.active_children()}
    list(ex.map(sqrt, [16] * (50 * a.workers), chunksize=1))
    ppe_pids = {p.pid for p in multiprocessing.active_children()} - before
    pool = multiprocessing.Pool(a.workers)
    pool.map(sqrt, [16] * (50 * a.workers), chunksize=1)
    mp_pids = {p.pid for p in multiprocessing.active_children()} - before - ppe_pids
    out["ppe_worker_rss_kib"], out["ppe_worker_pss_kib"] = worker_memory(ppe_pids)
    out["mp_worker_rss_kib"], out["mp_worker_pss_kib"] = worker_memory(mp_pids)

    with ex:
        out.update(latency_stats("ppe_submit", sequential(lambda: ex.submit(sqrt, 16).result(), a.seq_calls)))
        n = a.map_calls_1
        out["ppe_map_c1_calls_per_s"] = throughput(lambda: list(ex.map(sqrt, [16] * n, chunksize=1)), n)
        n = a.map_calls_64
        out["ppe_map_c64_calls_per_s"] = throughput(lambda: list(ex.map(sqrt, [16] * n, chunksize=64)), n)

    with pool:
        out.update(latency_stats("mp_apply", sequential(lambda: pool.apply(sqrt, (16,)), a.seq_calls)))
        n = a.map_calls_1
        out["mp_map_async_c1_calls_per_s"] = throughput(
            lambda: pool.map_async(sqrt, [16] * n, chunksize=1).get(), n)
        n = a.map_calls_64
        out["mp_map_async_c64_calls_per_s"] = throughput(
            lambda: pool.map_async(sqrt, [16] * n, chunksize=64).get(), n)
        n = a.map_items
        out["mp_map_async_big_c64_calls_per_s"] = throughput(
            lambda: pool.map_async(sqrt, [16] * n, chunksize=64).get(), n)

    print(json.dumps(out))


if __name__ == "__main__":
    main()
