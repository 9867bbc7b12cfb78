"""The methods of Client and AsyncClient, written once.

Each method builds the request's params and hands them to the client's
_request (a value for Client, an awaitable for AsyncClient) or _cast (a
future). `module` and `function` are positional-only, so a keyword argument
of the remote function may be named anything but `pool` and `timeout`, which
are the call's options; call_kw / cast_kw / map_kw take the remote function's
args and kwargs as plain values instead, so every name goes through.
"""
from . import _wire


class API:
    __slots__ = ()

    # -- calls --
    def call(self, module, function, /, *args, pool=None, timeout=None, **kwargs):
        """module.function(*args, **kwargs) on the daemon; returns its result.
        pool: run on this pool (routing otherwise); timeout: seconds, the
        daemon answers Timeout when they pass (pyrpool.Timeout)."""
        return self._request("call", _wire.call_params(module, function, args, kwargs, pool, timeout), timeout)

    def call_kw(self, module, function, args=(), kwargs=None, *, pool=None, timeout=None):
        """call() with args and kwargs given as a sequence and a dict, for a
        remote function that takes keyword arguments named pool or timeout."""
        return self._request("call", _wire.call_params(module, function, args, kwargs, pool, timeout), timeout)

    def cast(self, module, function, /, *args, pool=None, timeout=None, **kwargs):
        """Sends the call and returns a future of its result at once (many may
        be in flight). The future's cancel() cancels the call on the daemon."""
        return self._cast("call", _wire.call_params(module, function, args, kwargs, pool, timeout), timeout)

    def cast_kw(self, module, function, args=(), kwargs=None, *, pool=None, timeout=None):
        """cast() with args and kwargs given as values (see call_kw)."""
        return self._cast("call", _wire.call_params(module, function, args, kwargs, pool, timeout), timeout)

    def map(self, module, function, iterable, /, *, pool=None, timeout=None, **kwargs):
        """[function(x, **kwargs) for x in iterable], spread over the pool in one
        request, results in order (like multiprocessing.Pool.map). A failing
        item raises its error with .index set to its position."""
        return self._request("map", _wire.call_params(module, function, _wire.map_args(iterable, False),
                                                      kwargs, pool, timeout), timeout)

    def starmap(self, module, function, iterable, /, *, pool=None, timeout=None, **kwargs):
        """map() where each item is a sequence of positional args
        (like multiprocessing.Pool.starmap)."""
        return self._request("map", _wire.call_params(module, function, _wire.map_args(iterable, True),
                                                      kwargs, pool, timeout), timeout)

    def map_kw(self, module, function, args_list, kwargs=None, *, pool=None, timeout=None):
        """starmap() with kwargs given as a dict (see call_kw)."""
        return self._request("map", _wire.call_params(module, function, _wire.map_args(args_list, True),
                                                      kwargs, pool, timeout), timeout)

    def cast_map(self, module, function, args_list, kwargs=None, *, pool=None, timeout=None):
        """map_kw() returning a future at once; cancel() cancels the whole map."""
        return self._cast("map", _wire.call_params(module, function, _wire.map_args(args_list, True),
                                                   kwargs, pool, timeout), timeout)

    def eval(self, expr, locals=None):  # noqa: A002 -- the protocol's name
        """The value of a Python expression on the daemon (python.allow_eval)."""
        return self._request("eval", [expr] if locals is None else [expr, locals], None)

    def exec(self, code):
        """Runs Python statements on the daemon (python.allow_eval); returns None."""
        return self._request("exec", [code], None)

    # -- routing --
    def register_pool(self, pool, module, function=None):
        """Routes calls to module (or module.function) to pool; True."""
        return self._request("register_pool", [pool] + _wire.name_params(module, function), None)

    def unregister_pool(self, module, function=None):
        """Removes a registration; True if there was one."""
        return self._request("unregister_pool", _wire.name_params(module, function), None)

    def lookup_pool(self, module, function=None):
        """The name of the pool a call to module.function would run on."""
        return self._request("lookup_pool", _wire.name_params(module, function), None)

    def list_pool_registrations(self):
        """[{"module", "function", "pool"}, ...] sorted by module."""
        return self._request("list_pool_registrations", [], None)

    # -- pools --
    def pools(self):
        """One status map per pool (name, mode, size, busy, idle, queued, ...)."""
        return self._request("pools", [], None)

    def pool_started(self, pool):
        return self._request("pool_started", [pool], None)

    def num_contexts(self, pool):
        return self._request("num_contexts", [pool], None)

    def contexts(self, pool):
        return self._request("contexts", [pool], None)

    def get_context(self, pool):
        return self._request("get_context", [pool], None)

    def start_pool(self, name, size, mode=None):
        """Starts a pool (mode "process" or "thread"); the executors' pids once all are ready."""
        return self._request("start_pool", [name, size] + ([mode] if mode is not None else []), None)

    def stop_pool(self, name):
        return self._request("stop_pool", [name], None)

    def resize_pool(self, name, size):
        return self._request("resize_pool", [name, size], None)

    def reload(self):
        """What SIGHUP does: the config read again; True once the new executors
        serve (ReloadFailed, with the reason, when the running config stays)."""
        return self._request("reload", [], None)

    # -- connection --
    def ping(self):
        """"pong"."""
        return self._request("ping", [], None)

    def hello(self):
        """Sends hello again and returns the daemon's answer (server, version,
        protocol, features, pools, errors, admin)."""
        return self._request("hello", _wire.hello_params(self.client_name, self.client_version), None,
                             check=_wire.check_hello)

    def request(self, method, params=(), timeout=None):
        """Any method with raw params, e.g. request("math.sqrt", [16]);
        timeout only lengthens the client's own wait (see answer_timeout)."""
        return self._request(method, list(params), timeout)

    def cast_request(self, method, params=()):
        """request() returning a future at once (e.g. several evals in flight)."""
        return self._cast(method, list(params), None)
