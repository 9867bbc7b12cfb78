"""What the sync and asyncio clients share: addresses, the MessagePack
options, the request shapes, the handshake check and answer decoding."""
import msgpack

from . import errors

PROTOCOL_VERSIONS = (1,)       # the `protocol` values of hello this client speaks
CLIENT_NAME = "pyrpool-python"
REQUEST, RESPONSE, NOTIFICATION = 0, 1, 2
MSGID_MASK = 0xFFFFFFFF
MAX_BUFFER = 2 ** 31 - 1       # an answer may be as large as the daemon's limit allows

# The codec: str as str, bytes as bin, floats as float64, ints in their
# smallest encoding; decoding: str -> str, bin -> bytes, arrays -> lists,
# maps -> dicts with any hashable key (ints too). Ext types are refused by the
# daemon, and decoding one here raises.
PACK_OPTIONS = {"use_bin_type": True}
UNPACK_OPTIONS = {"raw": False, "strict_map_key": False, "use_list": True}


def packb(obj):
    """Encodes obj as the client does on the wire."""
    return msgpack.packb(obj, **PACK_OPTIONS)


def _refuse_ext(code, data):
    raise errors.ProtocolError(f"the server sent a MessagePack ext type ({code}), "
                               "which is not in the protocol's type mapping")


def new_unpacker():
    return msgpack.Unpacker(max_buffer_size=MAX_BUFFER, ext_hook=_refuse_ext, **UNPACK_OPTIONS)


def unpackb(data):
    """Decodes one message as the client does on the wire."""
    return msgpack.unpackb(data, ext_hook=_refuse_ext, **UNPACK_OPTIONS)


def parse_address(address):
    """("unix", path) or ("tcp", (host, port)) from "unix:/path", "unix:///path",
    a bare path, "tcp://host:port" or a (host, port) tuple."""
    if isinstance(address, tuple) and len(address) == 2:
        return "tcp", (str(address[0]), int(address[1]))
    if hasattr(address, "__fspath__"):
        return "unix", str(address)
    if not isinstance(address, str) or not address:
        raise ValueError(f"address must be 'unix:PATH' or 'tcp://HOST:PORT', got {address!r}")
    if address.startswith("unix://"):
        return "unix", address[len("unix://"):]
    if address.startswith("unix:"):
        return "unix", address[len("unix:"):]
    if address.startswith("tcp://"):
        rest = address[len("tcp://"):].rstrip("/")
        host, sep, port = rest.rpartition(":")
        if not sep or not port.isdigit() or not host:
            raise ValueError(f"tcp address must be tcp://HOST:PORT, got {address!r}")
        if host.startswith("[") and host.endswith("]"):
            host = host[1:-1]
        return "tcp", (host, int(port))
    if "://" in address:
        raise ValueError(f"unknown address scheme in {address!r} (unix: or tcp://)")
    return "unix", address


def call_opts(pool, timeout):
    opts = {}
    if pool is not None:
        opts["pool"] = pool
    if timeout is not None:
        if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or not timeout > 0:
            raise ValueError(f"timeout must be a number of seconds > 0, got {timeout!r}")
        opts["timeout"] = timeout
    return opts


def call_params(module, function, args, kwargs, pool, timeout):
    """The params of `call` / `map`: [module, function, args, kwargs?, opts?]."""
    params = [module, function, list(args) if args is not None else []]
    opts = call_opts(pool, timeout)
    if kwargs or opts:
        params.append(dict(kwargs) if kwargs else None)
    if opts:
        params.append(opts)
    return params


def map_args(iterable, star):
    if star:
        return [list(a) for a in iterable]
    return [[a] for a in iterable]


def name_params(first, second=None):
    return [first] if second is None else [first, second]


def hello_params(client_name, client_version):
    return [client_name, client_version, {"errors": "map"}]


def check_hello(answer):
    """Validates the hello answer; returns it."""
    if not isinstance(answer, dict):
        raise errors.ProtocolError(f"hello answered {answer!r:.200}, not a map")
    proto = answer.get("protocol")
    if proto not in PROTOCOL_VERSIONS or isinstance(proto, bool):
        raise errors.UnsupportedProtocol(
            f"the server ({answer.get('server')!r} {answer.get('version')!r}) speaks protocol "
            f"{proto!r}; this client knows protocol {', '.join(map(str, PROTOCOL_VERSIONS))}")
    if answer.get("errors", "map") != "map":
        raise errors.ProtocolError(f"the server keeps error answers as {answer.get('errors')!r}, not map")
    return answer


def check_response(msg):
    """(msgid, error, result) of a response; ProtocolError for anything else."""
    if type(msg) is not list or len(msg) != 4 or msg[0] != RESPONSE:
        raise errors.ProtocolError(f"the server sent {msg!r:.200}, not a response [1, msgid, error, result]")
    return msg[1], msg[2], msg[3]


def decode_response(msg):
    """(msgid, exception or None, result) for one message as it arrived."""
    msgid, err, result = check_response(msg)
    if err is not None:
        return msgid, errors.error_from_answer(err), None
    return msgid, None, result
