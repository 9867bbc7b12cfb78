"""The MessagePack-RPC envelope: shapes, msgids, notifications, framing,
garbage and the message size limit."""
import os
import socket
import time

import msgpack
import pytest

from conftest import Client, ConnectionClosed, finish_daemon, module_daemon, wait_pool

LIMIT = 4096   # limits.max_message_size of this module's daemon


@pytest.fixture(scope="module")
def d(request, tmp_path_factory):
    d = module_daemon(request, tmp_path_factory, "protocol", max_message_size="4KiB")
    yield d
    finish_daemon(d)


@pytest.fixture
def c(d):
    with d.connect() as c:
        yield c


def bad_request(resp, msgid):
    """Checks resp is [1, msgid, {BadRequest...}, nil]; returns the message."""
    assert resp[0] == 1
    assert resp[1] == msgid and type(resp[1]) is type(msgid), resp
    err = resp[2]
    assert isinstance(err, dict) and err["type"] == "BadRequest", resp
    assert isinstance(err["message"], str) and err["message"]
    assert err["traceback"] is None
    assert resp[3] is None
    return err["message"]


def still_serving(c):
    assert c.call("ping", []) == (None, "pong")


# ---- envelope shapes --------------------------------------------------

@pytest.mark.parametrize("msg,msgid", [
    ([0, 6, "call", "notalist"], 6),
    ([0, 7, 42, []], 7),
    ([0, 8, None, []], 8),
    ([0, 10, "", []], 10),
    ([0, 11, "ping", {"a": 1}], 11),
    ([0, 12, "ping", None], 12),
    ([0, 13, ["call"], []], 13),
    ([0, 14, "call", [1, 2, 3]], 14),
    ([0, 15, "call", ["math"]], 15),
    ([0, 16, "call", ["math", "sqrt", 4]], 16),
], ids=lambda v: repr(v)[:40])
def test_wrong_shape_answers_with_msgid(c, msg, msgid):
    c.send_raw(msgpack.packb(msg))
    bad_request(c.recv_response(timeout=10), msgid)
    still_serving(c)


@pytest.mark.parametrize("msg,msgid", [
    ([0, 5, "call"], 5),                  # 3 items: no params
    ([0, 17, "ping", [], "extra"], 17),   # 5 items
    ([0, 18], 18),                        # 2 items
    ([0, 19, "ping", [], 5, 6], 19),      # 6 items
], ids=["3-items", "5-items", "2-items", "6-items"])
def test_wrong_item_count_keeps_readable_msgid(c, msg, msgid):
    """A request array with the wrong number of items still has a readable
    msgid at index 1: the BadRequest must echo it (nil is for unreadable
    msgids only)."""
    c.send_raw(msgpack.packb(msg))
    resp = c.recv_response(timeout=10)
    assert resp[2]["type"] == "BadRequest"
    assert resp[1] == msgid, f"msgid not echoed: {resp!r}"
    still_serving(c)


@pytest.mark.parametrize("msg", [[3, 1, "ping", []], [-1, 1, "ping", []], ["0", 1, "ping", []]],
                         ids=repr)
def test_bad_message_type(c, msg):
    c.send_raw(msgpack.packb(msg))
    resp = c.recv_response(timeout=10)
    assert resp[2]["type"] == "BadRequest" and resp[1] in (None, 1)
    still_serving(c)


@pytest.mark.parametrize("msg", [
    5, "hello", None, {"a": 1}, [], [0],
    [0, "one", "ping", []], [0, -1, "ping", []], [0, 2 ** 32, "ping", []],
    [0, 1.0, "ping", []], [0, None, "ping", []], [0, b"\x01", "ping", []],
], ids=lambda v: repr(v)[:40])
def test_unreadable_msgid_answers_nil(c, msg):
    c.send_raw(msgpack.packb(msg))
    bad_request(c.recv_response(timeout=10), None)
    still_serving(c)


def test_msgid_as_string(c):
    c.send_raw(msgpack.packb([0, "abc", "ping", []]))
    msg = bad_request(c.recv_response(timeout=10), None)
    assert "msgid" in msg


def test_response_message_is_bad_request(c):
    c.send_raw(msgpack.packb([1, 9, None, None]))
    msg = bad_request(c.recv_response(timeout=10), 9)
    assert "response" in msg
    still_serving(c)


@pytest.mark.parametrize("msgid", [0, 1, 127, 128, 255, 256, 65535, 65536, 2 ** 31, 2 ** 32 - 1])
def test_msgid_echoed_exactly(c, msgid):
    c.send_raw(msgpack.packb([0, msgid, "ping", []]))
    assert c.recv_response(timeout=10) == [1, msgid, None, "pong"]
    c.send_raw(msgpack.packb([0, msgid, "call", ["operator", "add", [msgid, 1]]]))
    assert c.recv_response(timeout=10) == [1, msgid, None, msgid + 1]


def test_same_msgid_twice_sequentially(c):
    for _ in range(3):
        c.send_raw(msgpack.packb([0, 42, "math.sqrt", [4]]))
        assert c.recv_response(timeout=10) == [1, 42, None, 2.0]


def wide_msgid(fmt, value):
    """msgid value in a given MessagePack int format (not the shortest)."""
    return {
        "fixint": bytes([value]),
        "uint8": b"\xcc" + value.to_bytes(1, "big"),
        "uint16": b"\xcd" + value.to_bytes(2, "big"),
        "uint32": b"\xce" + value.to_bytes(4, "big"),
        "uint64": b"\xcf" + value.to_bytes(8, "big"),
        "int8": b"\xd0" + value.to_bytes(1, "big"),
        "int16": b"\xd1" + value.to_bytes(2, "big"),
        "int32": b"\xd2" + value.to_bytes(4, "big"),
        "int64": b"\xd3" + value.to_bytes(8, "big"),
    }[fmt]


FORMATS = ["fixint", "uint8", "uint16", "uint32", "int8", "int16", "int32", "uint64", "int64"]


@pytest.mark.parametrize("fmt", FORMATS)
def test_msgid_any_int_encoding_ping(c, fmt):
    c.send_raw(b"\x94\x00" + wide_msgid(fmt, 7) + msgpack.packb("ping") + b"\x90")
    assert c.recv_response(timeout=10) == [1, 7, None, "pong"]


@pytest.mark.parametrize("fmt", FORMATS)
def test_msgid_any_int_encoding_call(daemon_factory, fmt):
    """A uint32 msgid is any MessagePack encoding of it; calls must echo it
    like ping does. (Own daemon: a crash here must not hide other results.)"""
    d = daemon_factory(pools={"default": {"size": 1}, "io": {"size": 1}})
    with d.connect(timeout=10) as c:
        c.send_raw(b"\x94\x00" + wide_msgid(fmt, 7) + msgpack.packb("call")
                   + msgpack.packb(["operator", "add", [1, 2]]))
        try:
            resp = c.recv_response(timeout=5)
        except Exception as e:  # noqa: BLE001
            resp = repr(e)
        assert resp == [1, 7, None, 3]
        assert d.alive()
        still_serving(c)


# ---- notifications ----------------------------------------------------

def test_notification_ignored(c):
    c.notify("hello", [])
    c.notify("ping", [])
    c.notify("math.sqrt", [4])
    c.notify("no_such_method", [1, 2])
    msgid = c.send("ping", [])
    assert c.recv_response(timeout=10) == [1, msgid, None, "pong"]
    assert c.nothing_arrives(0.3)


def test_notification_of_a_call_does_not_run(c, d):
    path = d.folder / "notified.txt"
    c.notify("helpers.record", [str(path), "x"])
    c.notify("call", ["helpers", "record", [str(path), "y"]])
    assert c.call("ping", []) == (None, "pong")
    # a (wrongly) running call was read before this one, so it would be
    # running or done once this one is, and done once the pool is idle
    assert c.call("helpers.sleep_pid", [0.2])[0] is None
    wait_pool(c, "default", 5 * d.factor, busy=0, queued=0)
    assert not path.exists()
    assert c.nothing_arrives(0.2)


def test_notification_with_bad_params_ignored(c):
    c.send_raw(msgpack.packb([2, "x", "notalist"]))
    c.send_raw(msgpack.packb([2, 42, []]))
    c.send_raw(msgpack.packb([2, "x", [], "extra"]))
    msgid = c.send("ping", [])
    assert c.recv_response(timeout=10) == [1, msgid, None, "pong"]
    assert c.nothing_arrives(0.3)


@pytest.mark.parametrize("msg", [[2, "hello"], [2, "hello", [], 1, 2]], ids=["2-items", "5-items"])
def test_malformed_notification_not_answered(c, msg):
    """Notifications are never answered, malformed ones included (the
    daemon already ignores [2, 42, []] and [2, "x", "notalist"])."""
    c.send_raw(msgpack.packb(msg))
    msgid = c.send("ping", [])
    first = c.recv_response(timeout=10)
    assert first == [1, msgid, None, "pong"], f"unexpected answer to a notification: {first!r}"
    assert c.nothing_arrives(0.3)


# ---- framing ------------------------------------------------------------

def test_message_in_one_byte_writes(c):
    data = msgpack.packb([0, 301, "call", ["echo", "echo", [{"k": "v" * 100, "n": [1, 2.5, None]}]]])
    for b in data:
        c.send_raw(bytes([b]))
        time.sleep(0.0005)
    assert c.recv_response(timeout=10) == [1, 301, None, {"k": "v" * 100, "n": [1, 2.5, None]}]


def test_many_messages_in_one_write(c):
    data = b"".join(msgpack.packb([0, 400 + i, "operator.add", [i, 1]]) for i in range(300))
    data += msgpack.packb([0, 999, "ping", []])
    c.send_raw(data)
    got = {}
    for _ in range(301):
        r = c.recv_response(timeout=10)
        got[r[1]] = r
    assert got[999] == [1, 999, None, "pong"]
    for i in range(300):
        assert got[400 + i] == [1, 400 + i, None, i + 1]


def test_messages_split_across_writes_at_every_offset(c):
    a = msgpack.packb([0, 501, "operator.add", [20, 22]])
    b = msgpack.packb([0, 502, "ping", []])
    blob = a + b
    for cut in range(1, len(blob)):
        c.send_raw(blob[:cut])
        time.sleep(0.002)
        c.send_raw(blob[cut:])
        r1, r2 = c.recv_response(timeout=10), c.recv_response(timeout=10)
        assert sorted([r1, r2], key=lambda r: r[1]) == [[1, 501, None, 42], [1, 502, None, "pong"]]


def test_answers_in_completion_order(c):
    slow = c.send("call", ["helpers", "sleep_echo", ["slow", 0.5]])
    fast = c.send("ping", [])
    fast_call = c.send("call", ["echo", "echo", ["fast"]])
    first = c.recv_response(timeout=10)
    second = c.recv_response(timeout=10)
    third = c.recv_response(timeout=10)
    assert first[1] in (fast, fast_call) and second[1] in (fast, fast_call)
    assert third == [1, slow, None, "slow"]


# ---- garbage and limits ------------------------------------------------

def test_invalid_byte_closes_only_that_connection(d):
    with d.connect(timeout=10) as good, d.connect(timeout=10) as bad:
        assert good.call("ping", []) == (None, "pong")
        bad.send_raw(b"\xc1")
        assert bad.expect_closed(timeout=10), "the connection stayed open after 0xc1"
        assert good.call("ping", []) == (None, "pong")
        assert good.call("math.sqrt", [16]) == (None, 4.0)


@pytest.mark.parametrize("seed", range(5))
def test_random_garbage_closes_only_that_connection(d, seed):
    import random
    rnd = random.Random(seed)
    blob = b"\xc1" + bytes(rnd.getrandbits(8) for _ in range(rnd.randint(1, 3000)))
    with d.connect(timeout=10) as good, d.connect(timeout=10) as bad:
        try:
            bad.send_raw(blob)
        except (BrokenPipeError, ConnectionResetError):
            pass
        assert bad.expect_closed(timeout=10)
        assert good.call("ping", []) == (None, "pong")
    with d.connect(timeout=10) as fresh:
        assert fresh.call("operator.add", [1, 1]) == (None, 2)


def test_urandom_garbage_after_good_message(d):
    with d.connect(timeout=10) as bad:
        bad.send_raw(msgpack.packb([0, 1, "ping", []]))
        assert bad.recv_response(timeout=10) == [1, 1, None, "pong"]
        bad.send_raw(b"\xc1" + os.urandom(500))
        assert bad.expect_closed(timeout=10)
    with d.connect(timeout=10) as c:
        still_serving(c)


def test_invalid_byte_inside_a_message(d):
    with d.connect(timeout=10) as bad:
        bad.send_raw(b"\x94\x00\x01\xa4ping\x91\xc1")
        assert bad.expect_closed(timeout=10)
    with d.connect(timeout=10) as c:
        still_serving(c)


def test_too_large_message_closes_only_that_connection(d):
    with d.connect(timeout=10) as good, d.connect(timeout=10) as big:
        try:
            big.send_raw(msgpack.packb([0, 1, "call", ["echo", "echo", [b"x" * 10240]]]))
        except (BrokenPipeError, ConnectionResetError):
            pass
        assert big.expect_closed(timeout=10)
        assert not [m for m in big.order if m[1] == 1], "the oversized call was answered"
        assert good.call("ping", []) == (None, "pong")


def test_too_large_declared_length_closes_at_once(d):
    """A str32 header announcing 1 GiB is refused before the bytes arrive."""
    with d.connect(timeout=10) as big:
        big.send_raw(b"\x94\x00\x01\xa4ping\x91\xdb\x40\x00\x00\x00")
        assert big.expect_closed(timeout=5)
    with d.connect(timeout=10) as c:
        still_serving(c)


def sized_call(msgid, size):
    """A call message of exactly size bytes (echoing a bin)."""
    for n in range(size):
        m = msgpack.packb([0, msgid, "call", ["echo", "echo", [b"x" * n]]])
        if len(m) == size:
            return m, n
        assert len(m) < size
    raise AssertionError("no such size")


def test_message_of_exactly_the_limit_is_accepted(c):
    m, n = sized_call(601, LIMIT)
    c.send_raw(m)
    assert c.recv_response(timeout=10) == [1, 601, None, b"x" * n]


def test_message_one_byte_over_the_limit_closes(d):
    m, _ = sized_call(602, LIMIT + 1)
    with d.connect(timeout=10) as c:
        c.send_raw(m)
        assert c.expect_closed(timeout=10)
        assert len(c.order) == 1, c.order   # not run: only why it was refused
        assert c.order[0][1] is None and c.order[0][2]["type"] == "BadRequest", c.order
        assert "larger than limits.max_message_size" in c.order[0][2]["message"], c.order
    with d.connect(timeout=10) as c:
        still_serving(c)


def test_result_larger_than_the_limit_is_delivered(c):
    """The limit is for incoming messages; answers may be larger."""
    err, res = c.call("helpers.big_string", [100000])
    assert err is None and res == "x" * 100000


@pytest.mark.parametrize("k", [124, 125, 126])
def test_nesting_at_the_limit_same_whole_or_in_pieces(d, k):
    """A request whose args nest right at the 128-level limit gets the same
    outcome whether it arrives in one write (the fast decoder) or a byte at
    a time (the resumable scanner): answered, or the connection closed."""
    msg = b"\x94\x00\x01\xa9echo.echo\x91" + b"\x91" * k + b"\xc0"
    outcomes = []
    for pieces in (False, True):
        with d.connect(timeout=10) as c:
            try:
                if pieces:
                    for i in range(len(msg)):
                        c.send_raw(msg[i:i + 1])
                else:
                    c.send_raw(msg)
                outcomes.append(("answered", c.wait(1, timeout=10)[2] is None))
            except (ConnectionClosed, BrokenPipeError, ConnectionResetError):
                outcomes.append(("closed", None))
    assert outcomes[0] == outcomes[1], (k, outcomes)
    assert outcomes[0][0] == ("answered" if k <= 125 else "closed"), (k, outcomes)


def test_deep_nesting_closes_only_that_connection(d):
    """Nesting deeper than 128 levels is refused like any non-MessagePack
    stream: that connection is closed, others carry on."""
    deep = b"\x91" * 300 + b"\xc0"
    with d.connect(timeout=10) as other, d.connect(timeout=10) as c:
        c.send_raw(b"\x94\x00\x01\xa9echo.echo\x91" + deep)
        assert c.expect_closed(timeout=10)
        assert other.call("ping", []) == (None, "pong")


def test_moderate_nesting_is_fine(c):
    v = "leaf"
    for _ in range(100):
        v = [v]
    assert c.call("echo.echo", [v]) == (None, v)


def test_half_message_then_close(d):
    data = msgpack.packb([0, 1, "call", ["helpers", "sleep_echo", ["x", 0.1]]])
    for cut in (1, 5, len(data) - 1):
        s = socket.socket(socket.AF_UNIX)
        s.settimeout(5)
        s.connect(str(d.socket_path))
        s.sendall(data[:cut])
        s.close()
    with d.connect(timeout=10) as c:
        still_serving(c)


def test_client_half_close_still_gets_answers(d):
    """A client may shut down its sending side and still read its answers."""
    s = socket.socket(socket.AF_UNIX)
    s.settimeout(10)
    s.connect(str(d.socket_path))
    s.sendall(msgpack.packb([0, 1, "ping", []]))
    s.shutdown(socket.SHUT_WR)
    u = msgpack.Unpacker(raw=False)
    got = []
    deadline = time.monotonic() + 10
    while not got and time.monotonic() < deadline:
        data = s.recv(4096)
        if not data:
            break
        u.feed(data)
        got.extend(u)
    s.close()
    assert got == [[1, 1, None, "pong"]]


def test_new_client_class_smoke(d):
    with Client(d.socket_path, timeout=10) as c:
        assert c.ok("ping", []) == "pong"


@pytest.mark.parametrize("method,params", [
    (b"\xff\xfe", []),
    ("call", ["math", "sqrt", [1], None, {"pool": b"\xc3\x28"}]),
    ("call", ["math", "sqrt", [1], None, {b"\xff": 1}]),
    ("register_pool", [b"\x80bad", "json"]),
])
def test_error_messages_are_valid_utf8_whatever_the_names(daemon_factory, method, params):
    """Names that are not UTF-8 come back in error messages as '?', so a
    client that decodes str strictly can read the answer."""
    d = daemon_factory()
    with d.connect() as c:
        c.send_raw(msgpack.packb([0, 9, method, params], use_bin_type=True))
        raw = c.sock.recv(65536)
        msg = msgpack.unpackb(raw, raw=False)   # raises if a str is not UTF-8
        assert msg[1] == 9 and msg[2]["type"] in ("NoSuchMethod", "NoSuchPool", "BadRequest")
        assert "?" in msg[2]["message"]
