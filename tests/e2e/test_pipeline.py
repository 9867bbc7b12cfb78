"""Pipelining: many requests in flight on one connection."""
import random
import time

import msgpack
import pytest

from conftest import finish_daemon, module_daemon, pool_status, wait_until


@pytest.fixture(scope="module")
def d(request, tmp_path_factory):
    d = module_daemon(request, tmp_path_factory, "pipeline")
    yield d
    finish_daemon(d)


def test_2000_pipelined_calls_random_msgids(d):
    rnd = random.Random(1234)
    msgids = rnd.sample(range(2 ** 32), 2000)
    msgids[0], msgids[1] = 0, 2 ** 32 - 1          # the edges too
    with d.connect() as c:
        data = b"".join(msgpack.packb([0, m, "call", ["operator", "add", [i, i]]])
                        for i, m in enumerate(msgids))
        c.send_raw(data)
        seen = {}
        deadline = time.monotonic() + 60 * d.factor
        while len(seen) < len(msgids):
            r = c.recv_response(timeout=max(0.1, deadline - time.monotonic()))
            assert r[1] not in seen, f"msgid {r[1]} answered twice"
            seen[r[1]] = r
        for i, m in enumerate(msgids):
            assert seen[m] == [1, m, None, 2 * i], seen[m]
        assert c.nothing_arrives(0.2), "more answers than requests"


def test_pipelined_mixed_methods_and_errors(d):
    reqs, expect = [], []
    for i in range(500):
        k = i % 5
        if k == 0:
            reqs.append(("call", ["operator", "mul", [i, 3]])); expect.append((None, i * 3))
        elif k == 1:
            reqs.append(("ping", [])); expect.append((None, "pong"))
        elif k == 2:
            reqs.append(("math.sqrt", [i * i])); expect.append((None, float(i)))
        elif k == 3:
            reqs.append(("nosuchmethod", [])); expect.append("NoSuchMethod")
        else:
            reqs.append(("call", ["builtins", "int", ["x%d" % i]])); expect.append("ValueError")
    with d.connect() as c:
        got = c.request_many(reqs)
    for (err, res), exp in zip(got, expect):
        if isinstance(exp, str):
            assert err["type"] == exp and res is None
        else:
            assert (err, res) == exp


def test_pipelined_across_pools(d):
    reqs = []
    for i in range(400):
        pool = ("default", "io")[i % 2]
        reqs.append(("call", ["operator", "add", [i, 1], None, {"pool": pool}]))
    with d.connect() as c:
        got = c.request_many(reqs)
    assert got == [(None, i + 1) for i in range(400)]


def test_pipeline_on_several_connections_at_once(d):
    conns = [d.connect() for _ in range(8)]
    try:
        for n, c in enumerate(conns):
            c.send_raw(b"".join(msgpack.packb([0, i, "operator.add", [i, n * 1000]])
                                for i in range(250)))
        for n, c in enumerate(conns):
            got = {}
            for _ in range(250):
                r = c.recv_response()
                got[r[1]] = r[3]
            assert got == {i: i + n * 1000 for i in range(250)}
    finally:
        for c in conns:
            c.close()


def test_slow_reader_gets_every_answer(d):
    """Answers pile up while the client does not read; none is lost."""
    n, size = 150, 64 * 1024
    with d.connect() as c, d.connect() as watch:
        before = pool_status(watch, "default")["completed"]
        c.send_raw(b"".join(msgpack.packb([0, i, "helpers.big_string", [size]]) for i in range(n)))
        # every answer is made (9.6 MB, far more than the socket holds) before the client reads
        wait_until(lambda: pool_status(watch, "default")["completed"] >= before + n, 20 * d.factor,
                   f"the {n} calls are answered")
        got = set()
        for _ in range(n):
            r = c.recv_response()
            assert r[2] is None and len(r[3]) == size
            got.add(r[1])
        assert got == set(range(n))


def test_pipelined_slow_calls_complete_in_completion_order(d):
    with d.connect() as c:
        ids = {}
        for delay in (0.6, 0.3, 0.0):
            ids[c.send("call", ["helpers", "sleep_echo", [delay, delay], None, {"pool": "io"}])] = delay
        order = [ids[c.recv_response()[1]] for _ in range(3)]
        assert order == [0.0, 0.3, 0.6]


def test_large_args_round_trip(d):
    blob = bytes(range(256)) * (80 * 1024)       # 20 MiB
    with d.connect(timeout=60) as c:
        err, res = c.call("echo.echo", [blob], timeout=60 * d.factor)
        assert err is None
        assert res == blob


def test_large_messages_back_to_back(d):
    """Several large requests in one stream, so reads end and start inside
    messages; every answer is whole and right."""
    sizes = [300000, 70000, 1, 2 * 1024 * 1024, 65536, 65535, 5000000]
    with d.connect(timeout=60) as c:
        data = b"".join(msgpack.packb([0, i, "echo.echo", [bytes([i]) * n]]) for i, n in enumerate(sizes))
        data += msgpack.packb([0, 99, "ping", []])
        c.send_raw(data)
        for i, n in enumerate(sizes):
            r = c.wait(i, timeout=60 * d.factor)
            assert r[2] is None and r[3] == bytes([i]) * n
        assert c.wait(99) == [1, 99, None, "pong"]


def test_large_and_small_calls_interleaved_across_pools(d):
    big = b"z" * (1024 * 1024)
    reqs = []
    for i in range(40):
        if i % 4 == 0:
            reqs.append(("call", ["echo", "echo", [big], None, {"pool": "io"}]))
        else:
            reqs.append(("call", ["operator", "add", [i, 1], None, {"pool": ("default", "io")[i % 2]}]))
    with d.connect(timeout=60) as c:
        got = c.request_many(reqs, timeout=60 * d.factor)
    for i, (err, res) in enumerate(got):
        assert err is None
        assert res == (big if i % 4 == 0 else i + 1)
