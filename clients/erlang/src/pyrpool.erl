%% pyrpool: call Python functions in a pyrpoold daemon, with erlang_python's
%% py API (call/cast/await, eval, pool routing and pool administration).
%%
%% These functions use the application's default connection, to the address
%% in the application environment ({pyrpool, [{address, "unix:/run/pyrpoold/
%% pyrpoold.sock"}]}). connect/1,2 gives a supervised connection to another
%% daemon; pyrpool_conn has every function below with that connection as
%% first argument.
%%
%% Results: {ok, Result} | {error, Reason}. Reason for an error answer is
%% {Type, Message, Traceback}: Type an atom for the daemon's own errors
%% ('Timeout', 'NoSuchPool', ...), a binary for a Python exception's class
%% (<<"ValueError">>); Traceback a binary or none. Reasons of this side:
%% {disconnected, Why} (the connection dropped with the call in flight),
%% {not_connected, Why} (it is down and could not be made now), timeout
%% (no answer within call_timeout). See README.md and proto/erlang-types.md.
-module(pyrpool).

-export([call/3, call/4, call/5, call/6, cast/3, cast/4, cast/5, cast/6, await/1, await/2,
         map/3, map/4, map/6,
         eval/1, eval/2, exec/1, ping/0, pools/0,
         register_pool/2, register_pool/3, unregister_pool/1, unregister_pool/2,
         lookup_pool/2, list_pool_registrations/0,
         start_pool/2, start_pool/3, stop_pool/1, resize_pool/2, reload/0,
         pool_started/1, num_contexts/1,
         contexts/1, get_context/1]).
-export([connect/1, connect/2, disconnect/1, default_connection/0]).

-define(C, default_connection()).

%% The registered name of the default connection.
default_connection() -> pyrpool_default.

%% {ok, Conn}: the supervised connection to Address (one per address; a
%% second connect to the same address answers the same process).
%% Opts: see pyrpool_conn:start_link/2 (token, token_file, ...).
connect(Address) -> connect(Address, #{}).
connect(Address, Opts) -> pyrpool_sup:start_connection(Address, Opts).
disconnect(Address) -> pyrpool_sup:stop_connection(Address).

%% call(Module, Function, Args): routed by the daemon (registrations, else
%% the default pool). Pool: a pool name, or undefined to route. A map as
%% fourth argument makes call/4 erlang_python's call(Module, Function,
%% Args, Kwargs) (Args is always a list, so the two cannot be confused).
%% Opts: #{timeout => Seconds (the daemon's), call_timeout => Ms (this side's)}.
call(M, F, A) -> pyrpool_conn:call(?C, M, F, A).
call(Pool, M, F, A) -> pyrpool_conn:call(?C, Pool, M, F, A).
call(Pool, M, F, A, Kwargs) -> pyrpool_conn:call(?C, Pool, M, F, A, Kwargs).
call(Pool, M, F, A, Kwargs, Opts) -> pyrpool_conn:call(?C, Pool, M, F, A, Kwargs, Opts).

%% A reference to await/1,2 in the same process.
cast(M, F, A) -> pyrpool_conn:cast(?C, M, F, A).
cast(Pool, M, F, A) -> pyrpool_conn:cast(?C, Pool, M, F, A).
cast(Pool, M, F, A, Kwargs) -> pyrpool_conn:cast(?C, Pool, M, F, A, Kwargs).
cast(Pool, M, F, A, Kwargs, Opts) -> pyrpool_conn:cast(?C, Pool, M, F, A, Kwargs, Opts).
await(Ref) -> pyrpool_conn:await(Ref).
await(Ref, Timeout) -> pyrpool_conn:await(Ref, Timeout).

%% map(Module, Function, ArgsList): one request, run in parallel over the
%% pool; {ok, Results} in order, or {error, {Type, Message, Traceback, Index}}.
map(M, F, ArgsList) -> pyrpool_conn:map(?C, M, F, ArgsList).
map(Pool, M, F, ArgsList) -> pyrpool_conn:map(?C, Pool, M, F, ArgsList).
map(Pool, M, F, ArgsList, Kwargs, Opts) -> pyrpool_conn:map(?C, Pool, M, F, ArgsList, Kwargs, Opts).

%% Expr and Code: binaries (Python source). Forbidden unless the daemon's
%% python.allow_eval is true.
eval(Expr) -> pyrpool_conn:eval(?C, Expr).
eval(Expr, Locals) -> pyrpool_conn:eval(?C, Expr, Locals).
exec(Code) -> pyrpool_conn:exec(?C, Code).
ping() -> pyrpool_conn:ping(?C).
pools() -> pyrpool_conn:pools(?C).

register_pool(Pool, ModuleOrMF) -> pyrpool_conn:register_pool(?C, Pool, ModuleOrMF).
register_pool(Pool, M, F) -> pyrpool_conn:register_pool(?C, Pool, M, F).
unregister_pool(ModuleOrMF) -> pyrpool_conn:unregister_pool(?C, ModuleOrMF).
unregister_pool(M, F) -> pyrpool_conn:unregister_pool(?C, M, F).
lookup_pool(M, F) -> pyrpool_conn:lookup_pool(?C, M, F).
list_pool_registrations() -> pyrpool_conn:list_pool_registrations(?C).

start_pool(Pool, Size) -> pyrpool_conn:start_pool(?C, Pool, Size).
start_pool(Pool, Size, Mode) -> pyrpool_conn:start_pool(?C, Pool, Size, Mode).
stop_pool(Pool) -> pyrpool_conn:stop_pool(?C, Pool).
resize_pool(Pool, Size) -> pyrpool_conn:resize_pool(?C, Pool, Size).
reload() -> pyrpool_conn:reload(?C).
pool_started(Pool) -> pyrpool_conn:pool_started(?C, Pool).
num_contexts(Pool) -> pyrpool_conn:num_contexts(?C, Pool).
contexts(Pool) -> pyrpool_conn:contexts(?C, Pool).
get_context(Pool) -> pyrpool_conn:get_context(?C, Pool).
