"""The test vectors of proto/PROTOCOL.md, compared byte for byte."""
import time

import msgpack
import pytest

from conftest import finish_daemon, module_daemon


@pytest.fixture(scope="module")
def d(request, tmp_path_factory):
    d = module_daemon(request, tmp_path_factory, "vectors",
                      pools={"default": {"size": 1}, "io": {"size": 1}})
    yield d
    finish_daemon(d)


def exchange(d, request_hex, timeout=10):
    """Sends the bytes, returns exactly the bytes of one answer."""
    with d.connect(timeout=timeout) as c:
        c.send_raw(bytes.fromhex(request_hex))
        data = b""
        deadline = time.monotonic() + timeout
        unp = msgpack.Unpacker(raw=False)
        while True:
            c.sock.settimeout(max(0.01, deadline - time.monotonic()))
            chunk = c.sock.recv(65536)
            assert chunk, f"connection closed after {data.hex()}"
            data += chunk
            unp.feed(chunk)
            if list(unp):
                return data


VECTORS = [
    ("ping", "94 00 01 a4 70 69 6e 67 90", "94 01 01 c0 a4 70 6f 6e 67"),
    ("call-sqrt", "94 00 07 a4 63 61 6c 6c 93 a4 6d 61 74 68 a4 73 71 72 74 91 10",
     "94 01 07 c0 cb 40 10 00 00 00 00 00 00"),
    ("shorthand-uint32-msgid", "94 00 ce ff ff ff ff a9 6d 61 74 68 2e 73 71 72 74 91 10",
     "94 01 ce ff ff ff ff c0 cb 40 10 00 00 00 00 00 00"),
    ("method-as-bin", "94 00 02 c4 04 70 69 6e 67 90", "94 01 02 c0 a4 70 6f 6e 67"),
    # the same msgid bytes, whatever their width
    ("msgid-uint8", "94 00 cc 05 a4 70 69 6e 67 90", "94 01 cc 05 c0 a4 70 6f 6e 67"),
    ("msgid-uint16", "94 00 cd 00 05 a4 70 69 6e 67 90", "94 01 cd 00 05 c0 a4 70 6f 6e 67"),
    ("msgid-uint32-small", "94 00 ce 00 00 00 05 a4 70 69 6e 67 90",
     "94 01 ce 00 00 00 05 c0 a4 70 6f 6e 67"),
    ("msgid-int32-positive-call", "94 00 d2 00 00 00 05 a9 6d 61 74 68 2e 73 71 72 74 91 10",
     "94 01 d2 00 00 00 05 c0 cb 40 10 00 00 00 00 00 00"),
    ("msgid-uint64-call", "94 00 cf 00 00 00 00 00 00 00 05 a9 6d 61 74 68 2e 73 71 72 74 91 10",
     "94 01 cf 00 00 00 00 00 00 00 05 c0 cb 40 10 00 00 00 00 00 00"),
]


@pytest.mark.parametrize("name,req,resp", VECTORS, ids=[v[0] for v in VECTORS])
def test_vector(daemon_factory, d, name, req, resp):
    target = d
    if "uint64" in name:      # may take its daemon down: keep it apart
        target = daemon_factory(pools={"default": {"size": 1}, "io": {"size": 1}})
    got = exchange(target, req)
    assert got.hex(" ") == resp


def test_vector_wrong_shape(d):
    got = exchange(d, "94 00 03 a4 63 61 6c 6c a1 78")
    assert msgpack.unpackb(got, raw=False) == [
        1, 3, {"type": "BadRequest", "message": "params must be an array, got str", "traceback": None}, None]
    assert got.startswith(bytes.fromhex("94 01 03"))
