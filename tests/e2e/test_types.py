"""The MessagePack <-> Python type mapping, both ways, and what cannot be mapped.

Values go through the project's Python client (pyrpool, fixture c); the
tests of particular bytes on the wire use the raw client (fixture raw)."""
import math

import msgpack
import pytest

import pyrpool
from conftest import finish_daemon, module_daemon, remote_error


@pytest.fixture(scope="module")
def d(request, tmp_path_factory):
    d = module_daemon(request, tmp_path_factory, "types")
    yield d
    finish_daemon(d)


@pytest.fixture
def c(d):
    with d.pyrpool_client() as c:
        yield c


@pytest.fixture
def raw(d):
    with d.connect() as raw:
        yield raw


def echo(c, value):
    return c.call("echo", "echo", value)


def typename(c, value):
    return c.call("echo", "typename", value)


ROUND_TRIP = [
    (None, "NoneType"),
    (True, "bool"),
    (False, "bool"),
    (0, "int"),
    (1, "int"),
    (-1, "int"),
    (127, "int"),
    (-32, "int"),
    (-33, "int"),
    (255, "int"),
    (65535, "int"),
    (2 ** 31, "int"),
    (2 ** 32, "int"),
    (2 ** 63 - 1, "int"),
    (-2 ** 63, "int"),
    (2 ** 63, "int"),
    (2 ** 64 - 1, "int"),
    (1.5, "float"),
    (-0.0, "float"),
    (1e308, "float"),
    (5e-324, "float"),
    (float("inf"), "float"),
    (float("-inf"), "float"),
    ("", "str"),
    ("héllo ☃", "str"),
    ("\U0001f600 emoji", "str"),
    ("a\x00b", "str"),
    ("x" * 70000, "str"),
    (b"", "bytes"),
    (b"\x00\xff", "bytes"),
    (bytes(range(256)) * 300, "bytes"),
    ([], "list"),
    ([1, "a", None, [2.5, [b"x"]]], "list"),
    (list(range(70000)), "list"),
    ({}, "dict"),
    ({"a": {"b": {"c": [1, {"d": None}]}}}, "dict"),
    ({1: "one", -2: "minus two", 2 ** 64 - 1: "big"}, "dict"),
    ({True: 1, None: 2, 1.5: 3, b"k": 4, "s": 5}, "dict"),
    ({str(i): i for i in range(5000)}, "dict"),
]


@pytest.mark.parametrize("value,pytype", ROUND_TRIP, ids=lambda v: repr(v)[:30])
def test_round_trip(c, value, pytype):
    got = echo(c, value)
    assert got == value
    assert type(got) is type(value)
    if isinstance(value, float) and value == 0:
        assert math.copysign(1, got) == math.copysign(1, value)
    assert typename(c, value) == pytype


def test_nan(c):
    assert math.isnan(echo(c, float("nan")))
    assert typename(c, float("nan")) == "float"


def test_bool_is_not_int(c):
    got = echo(c, [True, False, 1, 0])
    assert [type(x) for x in got] == [bool, bool, int, int]


def test_float32_arrives_as_float(raw):
    c = raw
    msg = msgpack.packb([0, 77, "call", ["echo", "typename", [1.5]]], use_single_float=True)
    assert b"\xca" in msg
    c.send_raw(msg)
    assert c.wait(77)[2:] == [None, "float"]
    msg = msgpack.packb([0, 78, "call", ["echo", "echo", [0.25]]], use_single_float=True)
    c.send_raw(msg)
    resp = c.wait(78)
    assert resp[2] is None and resp[3] == 0.25 and isinstance(resp[3], float)


def test_float32_nonexact_value(raw):
    c = raw
    c.send_raw(msgpack.packb([0, 79, "call", ["echo", "echo", [0.1]]], use_single_float=True))
    resp = c.wait(79)
    assert resp[2] is None
    assert abs(resp[3] - 0.1) < 1e-7


@pytest.mark.parametrize("encoded,value", [
    (b"\xcc\x05", 5), (b"\xcd\x00\x05", 5), (b"\xce\x00\x00\x00\x05", 5),
    (b"\xcf\x00\x00\x00\x00\x00\x00\x00\x05", 5),
    (b"\xd0\x05", 5), (b"\xd1\xff\xfb", -5), (b"\xd2\xff\xff\xff\xfb", -5),
    (b"\xd3\xff\xff\xff\xff\xff\xff\xff\xfb", -5),
    (b"\xd9\x03abc", "abc"), (b"\xda\x00\x03abc", "abc"), (b"\xdb\x00\x00\x00\x03abc", "abc"),
    (b"\xc5\x00\x02hi", b"hi"), (b"\xc6\x00\x00\x00\x02hi", b"hi"),
    (b"\xdc\x00\x02\x01\x02", [1, 2]), (b"\xdd\x00\x00\x00\x02\x01\x02", [1, 2]),
    (b"\xde\x00\x01\xa1k\x01", {"k": 1}), (b"\xdf\x00\x00\x00\x01\xa1k\x01", {"k": 1}),
], ids=lambda v: v.hex() if isinstance(v, bytes) else None)
def test_non_minimal_encodings_of_args(raw, encoded, value):
    """Every MessagePack format of a value decodes to the same Python value."""
    c = raw
    head = msgpack.packb(0) + msgpack.packb(91) + msgpack.packb("call")
    params = b"\x93" + msgpack.packb("echo") + msgpack.packb("echo") + b"\x91" + encoded
    c.send_raw(b"\x94" + head + params)
    assert c.wait(91)[2:] == [None, value]


def test_bytearray_result_is_bin(c):
    assert c.call("helpers", "make", "bytearray") == b"\x00ab\xff"


def test_tuple_result_is_array(c):
    assert c.call("helpers", "make", "tuple") == [1, "two", [3.0, None]]


def test_nested_mixed_result(c):
    assert c.call("helpers", "make", "ok_nested") == {"k": [1, 2, {"x": [b"y", b"z"]}]}


def test_args_arrive_as_python_types(c):
    res = c.call("helpers", "kwargs_echo", None, True, 3, 1.0, "s", b"b", [1], {"k": 2})
    assert res == [[None, True, 3, 1.0, "s", b"b", [1], {"k": 2}], {}]


def test_list_arrives_as_list_not_tuple(c):
    assert typename(c, [1, 2]) == "list"
    assert typename(c, {"a": 1}) == "dict"
    assert typename(c, b"x") == "bytes"
    assert typename(c, "x") == "str"


def test_large_bin_round_trip(c):
    blob = bytes(range(256)) * 4096      # 1 MiB
    assert echo(c, blob) == blob


def test_large_result(c):
    res = c.call("helpers", "big_string", 3 * 1024 * 1024)
    assert res == "x" * (3 * 1024 * 1024)


def test_deep_nesting_round_trip(c):
    v = []
    for _ in range(60):
        v = [v]
    assert echo(c, v) == v


# ---- results that cannot be encoded ------------------------------------

@pytest.mark.parametrize("kind,words", [
    ("object", ["'object'", "not in the MessagePack type mapping"]),
    ("big", ["'int'", "64 bits"]),
    ("neg_big", ["'int'", "64 bits"]),
    ("cycle", ["'list'"]),
    ("set", ["'set'"]),
    ("surrogate", ["'str'", "surrogate"]),
    ("generator", ["'generator'"]),
    ("nested_bad", ["'object'"]),
])
def test_unencodable_result(c, kind, words):
    err = remote_error(c.call, "helpers", "make", kind)
    assert isinstance(err, pyrpool.EncodeError)
    assert err.type == "EncodeError", err
    assert err.message.startswith("cannot encode result")
    for w in words:
        assert w in err.message, err.message
    assert err.traceback is None
    # the executor survives and the daemon answers
    assert c.ping() == "pong"
    assert echo(c, [1, 2]) == [1, 2]


def test_unencodable_result_path_is_named(c):
    err = remote_error(c.call, "helpers", "make", "nested_bad")
    assert err.message.startswith("cannot encode result['a'][1]['b']: type 'object'"), err.message


def test_object_encode_error_message_exact_start(c):
    err = remote_error(c.call, "builtins", "object")
    assert err.type == "EncodeError"
    assert err.message.startswith(
        "cannot encode result: type 'object' is not in the MessagePack type mapping"), err


# ---- args that cannot be decoded in Python ------------------------------

def raw_call(msgid, args_items: bytes, nargs=1, module=b"echo", function=b"echo"):
    """[0, msgid, "call", [module, function, [<raw args>]]] with raw arg bytes."""
    return (b"\x94\x00" + msgpack.packb(msgid) + msgpack.packb("call") + b"\x93"
            + msgpack.packb(module.decode()) + msgpack.packb(function.decode())
            + bytes([0x90 | nargs]) + args_items)


def assert_bad_args(c, msgid, data, where="args"):
    c.send_raw(data)
    resp = c.wait(msgid, timeout=10)
    err = resp[2]
    assert resp[3] is None
    assert err is not None and err["type"] == "BadRequest", err
    assert err["message"].startswith(f"cannot decode {where}: "), err["message"]
    assert err["traceback"] is None
    assert c.call("ping", []) == (None, "pong")
    assert c.call("call", ["echo", "echo", ["still fine"]]) == (None, "still fine")


def test_invalid_utf8_str_arg(raw):
    c = raw
    assert_bad_args(c, 101, raw_call(101, b"\xa2\xff\xfe"))


def test_invalid_utf8_nested_str_arg(raw):
    c = raw
    assert_bad_args(c, 102, raw_call(102, b"\x91\x81\xa1k\xa1\xc3"))


def test_unhashable_map_key_list(raw):
    c = raw
    # {[1]: 2}
    assert_bad_args(c, 103, raw_call(103, b"\x81\x91\x01\x02"))


def test_unhashable_map_key_map(raw):
    c = raw
    # {{}: 1}
    assert_bad_args(c, 104, raw_call(104, b"\x81\x80\x01"))


def test_ext8_arg(raw):
    c = raw
    data = msgpack.packb([0, 105, "call", ["echo", "echo", [msgpack.ExtType(5, b"abc")]]])
    assert b"\xc7\x03\x05abc" in data
    assert_bad_args(c, 105, data)


@pytest.mark.parametrize("payload", [b"a", b"ab", b"abcd", b"abcdefgh", b"0123456789abcdef"],
                         ids=["fixext1", "fixext2", "fixext4", "fixext8", "fixext16"])
def test_fixext_arg(raw, payload):
    """fixext formats (0xd4..0xd8) are as undecodable as ext8: BadRequest, and
    the connection goes on (a ping right after in the same write is answered)."""
    c = raw
    data = msgpack.packb([0, 106, "call", ["echo", "echo", [msgpack.ExtType(5, payload)]]])
    assert data[-len(payload) - 2] in (0xd4, 0xd5, 0xd6, 0xd7, 0xd8)
    c.send_raw(data + msgpack.packb([0, 107, "ping", []]))
    got = []
    try:
        while len(got) < 2:
            got.append(c.recv_response(timeout=3))
    except Exception as e:  # noqa: BLE001 -- the assertion says what arrived
        got.append(repr(e))
    by_id = {m[1]: m for m in got if isinstance(m, list)}
    assert 107 in by_id and by_id[107][2:] == [None, "pong"], f"got {got!r}"
    assert 106 in by_id and by_id[106][2]["type"] == "BadRequest", f"got {got!r}"
    assert by_id[106][2]["message"].startswith("cannot decode args: ")
    assert len(got) == 2, f"got {got!r}"


def test_timestamp_ext_arg(raw):
    c = raw
    """The standard Timestamp extension (type -1, fixext8) is refused, not hung on."""
    ts = msgpack.Timestamp(1700000000, 5)
    data = msgpack.packb([0, 108, "call", ["echo", "echo", [ts]]])
    c.send_raw(data)
    resp = c.wait(108, timeout=5)
    assert resp[2]["type"] == "BadRequest"


def test_ext_in_kwargs(raw):
    c = raw
    data = msgpack.packb([0, 109, "call", ["echo", "echo", [], {"x": msgpack.ExtType(1, b"xyz")}]])
    assert_bad_args(c, 109, data, where="kwargs")


def test_invalid_utf8_in_kwargs(raw):
    c = raw
    # kwargs {"x": <invalid str>}
    data = (b"\x94\x00" + msgpack.packb(110) + msgpack.packb("call") + b"\x94"
            + msgpack.packb("echo") + msgpack.packb("echo") + b"\x90" + b"\x81\xa1x\xa1\xff")
    assert_bad_args(c, 110, data, where="kwargs")


def test_bad_args_several_in_a_row(raw):
    c = raw
    for i in range(10):
        assert_bad_args(c, 200 + i, raw_call(200 + i, b"\xa1\x80"))
