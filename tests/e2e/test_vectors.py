"""proto/vectors/*.vec against the real daemon, byte for byte (the format is
proto/vectors/README.md)."""
import pathlib
import time

import msgpack
import pytest

from conftest import finish_daemon, module_daemon

VECTOR_DIR = pathlib.Path(__file__).resolve().parents[2] / "proto" / "vectors"


def load(path):
    desc, lines = None, []
    for raw in path.read_text().splitlines():
        if raw.startswith("#"):
            desc = desc or raw[1:].strip()
            continue
        if not raw.strip():
            continue
        key, _, value = raw.partition(":")
        lines.append((key.strip(), value.strip()))
    assert desc, f"{path.name}: no description line"
    return desc, lines


VECTORS = sorted(VECTOR_DIR.glob("*.vec"))
LIVE = [v for v in VECTORS if any(k == "request" for k, _ in load(v)[1])]


def test_there_are_vectors():
    assert len(LIVE) >= 40 and len(VECTORS) > len(LIVE)


@pytest.fixture(scope="module")
def d(request, tmp_path_factory):
    d = module_daemon(request, tmp_path_factory, "vectors",
                      pools={"default": {"size": 1}, "io": {"size": 1}})
    yield d
    finish_daemon(d)


def read_messages(c, count, timeout=10):
    """The next count messages, each as its exact bytes."""
    unp = msgpack.Unpacker(raw=False, strict_map_key=False)
    out, pending = [], b""
    deadline = time.monotonic() + timeout
    while len(out) < count:
        c.sock.settimeout(max(0.01, deadline - time.monotonic()))
        chunk = c.sock.recv(65536)
        assert chunk, f"connection closed after {[m.hex(' ') for m in out]}"
        pending += chunk
        unp.feed(chunk)
        for _ in unp:
            # the bytes of that message: what the unpacker has consumed so far
            used = unp.tell() - sum(len(m) for m in out)
            out.append(pending[:used])
            pending = pending[used:]
    return out


@pytest.mark.parametrize("path", LIVE, ids=[v.stem for v in LIVE])
def test_vector(daemon_factory, d, path):
    desc, lines = load(path)
    target = d
    if "uint64" in path.stem and path.stem.startswith("msgid"):
        target = daemon_factory(pools={"default": {"size": 1}, "io": {"size": 1}})
    sent = b"".join(bytes.fromhex(v) for k, v in lines if k == "request")
    expect = [(k, v) for k, v in lines if k in ("response", "error", "answer")]
    assert expect, f"{path.name}: nothing expected"
    with target.connect() as c:
        c.send_raw(sent)
        got = read_messages(c, len(expect))
    for (kind, value), msg in zip(expect, got):
        if kind == "response":
            assert msg.hex(" ") == bytes.fromhex(value).hex(" "), \
                f"{desc}: got {msgpack.unpackb(msg, raw=False)!r}"
        elif kind == "answer":
            answer = msgpack.unpackb(msg, raw=False)
            assert answer[:3] == [1, int(value), None], answer
        else:
            msgid, typ = value.split()
            answer = msgpack.unpackb(msg, raw=False)
            assert answer[0] == 1 and answer[3] is None, answer
            assert answer[1] == (None if msgid == "nil" else int(msgid)), answer
            assert isinstance(answer[2], dict) and answer[2]["type"] == typ, answer


@pytest.mark.parametrize("path", [v for v in VECTORS if v not in LIVE],
                         ids=[v.stem for v in VECTORS if v not in LIVE])
def test_answer_vectors_decode(path):
    desc, lines = load(path)
    (kind, value), = lines
    assert kind == "response"
    answer = msgpack.unpackb(bytes.fromhex(value), raw=False)
    assert answer[0] == 1 and answer[3] is None and answer[2]["type"]
    assert set(answer[2]) >= {"type", "message", "traceback"}
