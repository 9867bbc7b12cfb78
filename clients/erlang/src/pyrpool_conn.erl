%% One connection to one pyrpoold (a gen_server), and the client API with
%% the connection as first argument (pyrpool has the same functions on the
%% application's default connection).
%%
%% Requests are pipelined: each gets a msgid, answers are matched by msgid in
%% whatever order they come. The caller encodes its params itself and waits
%% for its answer as a message ({MRef, Reply}) while monitoring the
%% connection process, so a dead connection never leaves it hanging. The
%% answer is sent to the monitor's alias, which await/2 deactivates when it
%% gives up: a late answer is dropped, not left in the caller's mailbox.
%%
%% On connect the connection sends `auth` (when it has a token) and `hello`
%% in one write, checks the protocol version, then serves. When the socket
%% drops, every call in flight is answered {error, {disconnected, Why}} at
%% once and the connection reconnects with a growing delay (backoff_min_ms
%% doubling up to backoff_max_ms). A call made while it is down tries to
%% connect at once (at most once per backoff_min_ms) and otherwise answers
%% {error, {not_connected, Why}} at once.
-module(pyrpool_conn).
-behaviour(gen_server).

%% connection
-export([start_link/2, start_link/3, stop/1, info/1, parse_address/1]).
%% requests
-export([send_request/3, await/1, await/2, request/3, request/4]).
%% the client API, connection first
-export([call/4, call/5, call/6, call/7, cast/4, cast/5, cast/6, cast/7,
         map/4, map/5, map/7,
         eval/2, eval/3, exec/2, ping/1, pools/1,
         register_pool/3, register_pool/4, unregister_pool/2, unregister_pool/3,
         lookup_pool/3, list_pool_registrations/1,
         start_pool/3, start_pool/4, stop_pool/2, resize_pool/3, reload/1,
         pool_started/2, num_contexts/2,
         contexts/2, get_context/2]).
%% internals tested by the suite
-export([error_reason/1, check_hello/1]).
-export([init/1, handle_continue/2, handle_call/3, handle_cast/2, handle_info/2,
         terminate/2]).

-define(PROTOCOL, 1).
-define(CLIENT_NAME, <<"pyrpool-erlang">>).
-define(CLIENT_VERSION, <<"0.1.0">>).
-define(BATCH, 64).          % requests written to the socket in one send, at most
-define(ACTIVE, 64).         % {active, N} socket messages before re-arming

-type conn() :: pid() | atom().
-type reason() :: {atom() | binary(), binary(), binary() | none}
                | {atom() | binary(), binary(), binary() | none, non_neg_integer()}
                | {disconnected, term()} | {not_connected, term()} | timeout | term().
-opaque ref() :: {pyrpool_ref, reference(), pid() | undefined}.
-export_type([conn/0, ref/0, reason/0]).

-record(st, {addr, opts, sock, buf = <<>>, scan = new, parts = [], pending = #{}, next = 1,
             backoff, timer, last_try = -1000000, hello, last_error}).

%% ------------------------------------------------------------ connection --

%% Address: "unix:/path", "/path", "tcp:host:port", {unix, Path} or
%% {tcp, Host, Port}. Opts (map): token | token_file (TCP), connect_timeout_ms
%% (5000, also the handshake's limit), backoff_min_ms (100), backoff_max_ms
%% (5000), send_timeout_ms (30000: a daemon that reads nothing for that long
%% is taken for gone), client_name.
start_link(Address, Opts) -> gen_server:start_link(?MODULE, {Address, Opts}, []).
start_link(Name, Address, Opts) -> gen_server:start_link({local, Name}, ?MODULE, {Address, Opts}, []).

stop(Conn) -> gen_server:stop(Conn).

%% #{address, connected, hello (the daemon's hello answer, or none)}
info(Conn) -> gen_server:call(Conn, info, 10000).

parse_address({unix, Path}) -> {unix, to_list(Path)};
parse_address({tcp, Host, Port}) when is_integer(Port) -> {tcp, to_list(Host), Port};
parse_address(Bin) when is_binary(Bin) -> parse_address(binary_to_list(Bin));
parse_address("unix:" ++ Path) -> {unix, Path};
parse_address("/" ++ _ = Path) -> {unix, Path};
parse_address("tcp:" ++ HostPort) ->
    case string:split(HostPort, ":", trailing) of
        [Host, Port] ->
            {tcp, string:trim(Host, both, "[]"), list_to_integer(Port)};
        _ -> error({bad_address, HostPort})
    end;
parse_address(Other) -> error({bad_address, Other}).

%% -------------------------------------------------------------- requests --

%% Sends [0, msgid, Method, Params]; the answer goes to the calling process,
%% which takes it with await/1,2.
-spec send_request(conn(), binary(), list()) -> ref().
send_request(Conn, Method, Params) ->
    send_encoded(Conn, [pyrpool_msgpack:encode(Method) | pyrpool_msgpack:encode(Params)]).

%% Body: the request's method and params, encoded (by the calling process,
%% so that the connection process only adds the envelope).
send_encoded(Conn, Body) ->
    Bin = iolist_to_binary(Body),
    case resolve(Conn) of
        undefined ->
            MRef = make_ref(),
            self() ! {MRef, {error, {not_connected, noproc}}},
            {pyrpool_ref, MRef, undefined};
        Pid ->
            MRef = erlang:monitor(process, Pid, [{alias, demonitor}]),
            Pid ! {'$pyrpool_req', MRef, Bin},
            {pyrpool_ref, MRef, Pid}
    end.

-spec await(ref()) -> {ok, term()} | {error, reason()}.
await(Ref) -> await(Ref, default_timeout()).

%% After Timeout ms: {error, timeout}, and the request is cancelled (a
%% `cancel` notification to the daemon; a late answer is dropped).
-spec await(ref(), timeout()) -> {ok, term()} | {error, reason()}.
await({pyrpool_ref, MRef, Pid}, Timeout) ->
    receive
        {MRef, Reply} ->
            erlang:demonitor(MRef, [flush]),
            Reply;
        {'DOWN', MRef, process, _, Why} ->
            {error, {disconnected, Why}}
    after Timeout ->
        erlang:demonitor(MRef, [flush]),       % and the alias: no answer comes now
        is_pid(Pid) andalso (Pid ! {'$pyrpool_cancel', MRef}),
        receive {MRef, _} -> ok after 0 -> ok end,
        {error, timeout}
    end.

request(Conn, Method, Params) -> request(Conn, Method, Params, default_timeout()).
request(Conn, Method, Params, Timeout) -> await(send_request(Conn, Method, Params), Timeout).

%% ------------------------------------------------------------- the API --

%% Pool: a pool name, or undefined for the daemon's routing. With a map
%% last, call/5 and cast/5 are (C, Module, Function, Args, Kwargs).
%% Opts: pool (same as Pool), timeout (seconds, enforced by the daemon:
%% {error, {'Timeout', ...}}), call_timeout (ms this process waits at most;
%% default: the application's call_timeout, 60000, or timeout + 5 s).
call(C, M, F, A) -> call(C, undefined, M, F, A, #{}, #{}).
call(C, M, F, A, Kw) when is_list(A), is_map(Kw) -> call(C, undefined, M, F, A, Kw, #{});
call(C, Pool, M, F, A) -> call(C, Pool, M, F, A, #{}, #{}).
call(C, Pool, M, F, A, Kw) -> call(C, Pool, M, F, A, Kw, #{}).
call(C, Pool, M, F, A, Kw, Opts) -> await(cast(C, Pool, M, F, A, Kw, Opts), wait_ms(Opts)).

cast(C, M, F, A) -> cast(C, undefined, M, F, A, #{}, #{}).
cast(C, M, F, A, Kw) when is_list(A), is_map(Kw) -> cast(C, undefined, M, F, A, Kw, #{});
cast(C, Pool, M, F, A) -> cast(C, Pool, M, F, A, #{}, #{}).
cast(C, Pool, M, F, A, Kw) -> cast(C, Pool, M, F, A, Kw, #{}).
cast(C, Pool, M, F, A, Kw, Opts) when is_list(A), is_map(Kw), is_map(Opts) ->
    Head = [pyrpool_msgpack:encode(name(M)), pyrpool_msgpack:encode(name(F)) | pyrpool_msgpack:encode(A)],
    Body = case {map_size(Kw), wire_opts(Pool, Opts)} of
               {0, none} -> [<<16#a4, "call", 16#93>> | Head];
               {_, none} -> [<<16#a4, "call", 16#94>>, Head | pyrpool_msgpack:encode(Kw)];
               {_, WireOpts} -> [<<16#a4, "call", 16#95>>, Head, pyrpool_msgpack:encode(Kw)
                                 | pyrpool_msgpack:encode(WireOpts)]
           end,
    send_encoded(C, Body).

%% map: Function(*Args) for each Args of ArgsList, spread over the pool's
%% executors by the daemon; {ok, Results} in the order of ArgsList, or the
%% first failed item's error {Type, Message, Traceback, Index}.
map(C, M, F, ArgsList) -> map(C, undefined, M, F, ArgsList, #{}, #{}).
map(C, Pool, M, F, ArgsList) -> map(C, Pool, M, F, ArgsList, #{}, #{}).
map(C, Pool, M, F, ArgsList, Kw, Opts) when is_list(ArgsList), is_map(Kw), is_map(Opts) ->
    Params = case wire_opts(Pool, Opts) of
                 none -> [name(M), name(F), ArgsList, Kw];
                 WireOpts -> [name(M), name(F), ArgsList, Kw, WireOpts]
             end,
    request(C, <<"map">>, Params, wait_ms(Opts)).

eval(C, Expr) -> request(C, <<"eval">>, [Expr]).
eval(C, Expr, Locals) -> request(C, <<"eval">>, [Expr, Locals]).
exec(C, Code) -> ok_or_error(request(C, <<"exec">>, [Code])).
ping(C) -> request(C, <<"ping">>, []).
pools(C) -> request(C, <<"pools">>, []).

register_pool(C, Pool, {M, F}) -> register_pool(C, Pool, M, F);
register_pool(C, Pool, M) -> ok_or_error(request(C, <<"register_pool">>, [name(Pool), name(M)])).
register_pool(C, Pool, M, F) ->
    ok_or_error(request(C, <<"register_pool">>, [name(Pool), name(M), name(F)])).

%% ok whether or not there was such a registration (as in erlang_python).
unregister_pool(C, {M, F}) -> unregister_pool(C, M, F);
unregister_pool(C, M) -> ok_or_error(request(C, <<"unregister_pool">>, [name(M)])).
unregister_pool(C, M, F) -> ok_or_error(request(C, <<"unregister_pool">>, [name(M), name(F)])).

%% The pool (an atom) a call of M:F would run on.
lookup_pool(C, M, F) ->
    case request(C, <<"lookup_pool">>, [name(M), name(F)]) of
        {ok, Pool} when is_binary(Pool) -> binary_to_atom(Pool, utf8);
        {ok, Other} -> {error, {bad_answer, Other}};
        {error, _} = E -> E
    end.

%% [{{Module, Function | '_'}, Pool}], atoms, sorted by module.
list_pool_registrations(C) ->
    case request(C, <<"list_pool_registrations">>, []) of
        {ok, Regs} when is_list(Regs) ->
            [{{binary_to_atom(M, utf8), fun_atom(F)}, binary_to_atom(P, utf8)}
             || #{<<"module">> := M, <<"function">> := F, <<"pool">> := P} <- Regs];
        {ok, Other} -> {error, {bad_answer, Other}};
        {error, _} = E -> E
    end.

%% {ok, OsPids} once the pool serves. Mode: process (default) | thread.
start_pool(C, Pool, Size) -> start_pool(C, Pool, Size, process).
start_pool(C, Pool, Size, Mode) ->
    request(C, <<"start_pool">>, [name(Pool), Size, name(Mode)], max(default_timeout(), 120000)).

stop_pool(C, Pool) -> ok_or_error(request(C, <<"stop_pool">>, [name(Pool)])).
resize_pool(C, Pool, Size) -> ok_or_error(request(C, <<"resize_pool">>, [name(Pool), Size])).
%% what SIGHUP does: ok once the new generation of executors serves
reload(C) -> ok_or_error(request(C, <<"reload">>, [], max(default_timeout(), 120000))).
pool_started(C, Pool) -> value(request(C, <<"pool_started">>, [name(Pool)])).
num_contexts(C, Pool) -> value(request(C, <<"num_contexts">>, [name(Pool)])).
%% the OS pids of the pool's executor processes that exist now (one being
%% forked is left out); get_context: the one the next call would most likely
%% run on (right after a start it waits for one, up to 30 s)
contexts(C, Pool) -> value(request(C, <<"contexts">>, [name(Pool)])).
get_context(C, Pool) -> value(request(C, <<"get_context">>, [name(Pool)], max(default_timeout(), 40000))).

%% ------------------------------------------------------------- helpers --

resolve(Pid) when is_pid(Pid) -> Pid;
resolve(Name) when is_atom(Name) -> whereis(Name).

default_timeout() -> application:get_env(pyrpool, call_timeout, 60000).

wait_ms(#{call_timeout := Ms}) -> Ms;
wait_ms(#{timeout := S}) when is_number(S) -> max(default_timeout(), ceil(S * 1000) + 5000);
wait_ms(_) -> default_timeout().

%% opts for the daemon, or none
wire_opts(undefined, Opts) when map_size(Opts) =:= 0 -> none;
wire_opts(Pool, Opts) ->
    O1 = maps:fold(fun(pool, P, Acc) when P =/= undefined -> Acc#{<<"pool">> => name(P)};
                      (timeout, T, Acc) -> Acc#{<<"timeout">> => T};
                      (_, _, Acc) -> Acc
                   end, #{}, Opts),
    case {Pool, O1} of
        {undefined, #{}} when map_size(O1) =:= 0 -> none;
        {undefined, _} -> O1;
        _ -> O1#{<<"pool">> => name(Pool)}
    end.

name(A) when is_atom(A) -> atom_to_binary(A, utf8);
name(B) when is_binary(B) -> B;
name(L) when is_list(L) -> unicode:characters_to_binary(L).

fun_atom(none) -> '_';
fun_atom(F) -> binary_to_atom(F, utf8).

ok_or_error({ok, _}) -> ok;
ok_or_error({error, _} = E) -> E.

value({ok, V}) -> V;
value({error, _} = E) -> E.

to_list(B) when is_binary(B) -> binary_to_list(B);
to_list(L) when is_list(L) -> L;
to_list(A) when is_atom(A) -> atom_to_list(A);
to_list(T) when is_tuple(T) -> T.   % an IP address tuple

%% An error answer as {Type, Message, Traceback} (plus the index of the failed
%% item for map). Type: an atom for the daemon's own error types, a binary
%% for a Python exception's class name (atoms are never made from names the
%% remote side picks). Traceback: a binary or none.
error_reason(#{<<"type">> := T} = E) ->
    M = maps:get(<<"message">>, E, <<>>),
    TB = maps:get(<<"traceback">>, E, none),
    case E of
        #{<<"index">> := I} -> {type(T), M, TB, I};
        _ -> {type(T), M, TB}
    end;
error_reason([T, M, TB]) -> {type(T), M, TB};
error_reason(S) when is_binary(S) ->
    case binary:split(S, <<": ">>) of
        [T, Rest] -> {type(T), Rest, none};
        _ -> {<<"Error">>, S, none}
    end;
error_reason(Other) -> {<<"Error">>, iolist_to_binary(io_lib:format("~0p", [Other])), none}.

type(<<"BadRequest">>) -> 'BadRequest';
type(<<"NoSuchMethod">>) -> 'NoSuchMethod';
type(<<"NoSuchPool">>) -> 'NoSuchPool';
type(<<"Unauthorized">>) -> 'Unauthorized';
type(<<"Forbidden">>) -> 'Forbidden';
type(<<"EncodeError">>) -> 'EncodeError';
type(<<"Timeout">>) -> 'Timeout';
type(<<"Cancelled">>) -> 'Cancelled';
type(<<"PoolExists">>) -> 'PoolExists';
type(<<"PoolDegraded">>) -> 'PoolDegraded';
type(<<"Quarantined">>) -> 'Quarantined';
type(<<"Overloaded">>) -> 'Overloaded';
type(<<"WorkerCrashed">>) -> 'WorkerCrashed';
type(<<"ReloadFailed">>) -> 'ReloadFailed';
type(<<"StateNotSaved">>) -> 'StateNotSaved';
type(<<"ShuttingDown">>) -> 'ShuttingDown';
type(Other) -> Other.

%% ok, or why this hello answer is not one this client can talk to.
check_hello(#{<<"protocol">> := ?PROTOCOL}) -> ok;
check_hello(#{<<"protocol">> := P}) -> {error, {unsupported_protocol, P, [?PROTOCOL]}};
check_hello(Other) -> {error, {bad_hello_answer, Other}}.

%% ------------------------------------------------------------ gen_server --

init({Address, Opts}) ->
    process_flag(trap_exit, true),
    Addr = parse_address(Address),
    St = #st{addr = Addr, opts = Opts, backoff = opt(backoff_min_ms, Opts, 100)},
    {ok, St, {continue, connect}}.

handle_continue(connect, St) ->
    {noreply, try_connect(St)}.

handle_call(info, _From, St = #st{addr = A, sock = S, hello = H, last_error = E}) ->
    {reply, #{address => A, connected => S =/= undefined,
              hello => case H of undefined -> none; _ -> H end,
              last_error => case E of undefined -> none; _ -> E end}, St};
handle_call(_, _From, St) ->
    {reply, {error, unknown_call}, St}.

handle_cast(_, St) -> {noreply, St}.

handle_info({'$pyrpool_req', _, _} = Req, St) ->
    {noreply, requests(collect([Req], ?BATCH - 1), St)};
handle_info({'$pyrpool_cancel', MRef}, St = #st{pending = P}) ->
    case [Id || {Id, R} <- maps:to_list(P), R =:= MRef] of
        [Id | _] ->
            St1 = St#st{pending = maps:remove(Id, P)},
            {noreply, send(St1, pyrpool_msgpack:encode([2, <<"cancel">>, [Id]]))};
        [] -> {noreply, St}
    end;
handle_info({tcp, S, Data}, St = #st{sock = S, scan = new, buf = Buf}) ->
    {noreply, parse(St#st{buf = <<Buf/binary, Data/binary>>})};
handle_info({tcp, S, Data}, St = #st{sock = S}) ->
    {noreply, piece(Data, St)};
handle_info({tcp_passive, S}, St = #st{sock = S}) ->
    _ = inet:setopts(S, [{active, ?ACTIVE}]),     % if closed, tcp_closed follows
    {noreply, St};
handle_info({tcp_closed, S}, St = #st{sock = S}) ->
    {noreply, disconnect(closed, St)};
handle_info({tcp_error, S, Why}, St = #st{sock = S}) ->
    {noreply, disconnect(Why, St)};
handle_info(reconnect, St) ->
    {noreply, try_connect(St#st{timer = undefined})};
handle_info(_, St) ->
    {noreply, St}.

terminate(_, #st{sock = S}) ->
    S =:= undefined orelse gen_tcp:close(S),
    ok.

%% ----------------------------------------------------------- internals --

opt(K, Opts, Default) -> maps:get(K, Opts, Default).

%% Up to N more requests already in the mailbox, to write in one send.
collect(Acc, 0) -> lists:reverse(Acc);
collect(Acc, N) ->
    receive
        {'$pyrpool_req', _, _} = Req -> collect([Req | Acc], N - 1)
    after 0 -> lists:reverse(Acc)
    end.

requests(Reqs, St = #st{sock = undefined}) ->
    St1 = case now_ms() - St#st.last_try >= opt(backoff_min_ms, St#st.opts, 100) of
              true -> try_connect(St);
              false -> St
          end,
    case St1#st.sock of
        undefined ->
            Why = {not_connected, St1#st.last_error},
            [MRef ! {MRef, {error, Why}} || {_, MRef, _} <- Reqs],
            St1;
        _ -> requests(Reqs, St1)
    end;
requests(Reqs, St) ->
    {Out, St1} = lists:foldl(
                   fun({_, MRef, Body}, {Acc, S = #st{next = Id, pending = P}}) ->
                           Frame = [<<16#94, 0>>, pyrpool_msgpack:encode(Id) | Body],
                           {[Frame | Acc], S#st{next = next_id(Id, P), pending = P#{Id => MRef}}}
                   end, {[], St}, Reqs),
    send(St1, lists:reverse(Out)).

next_id(Id, P) ->
    N = (Id + 1) band 16#ffffffff,
    case maps:is_key(N, P) of
        true -> next_id(N, P);
        false -> N
    end.

send(St = #st{sock = undefined}, _) -> St;
send(St = #st{sock = S}, Data) ->
    case gen_tcp:send(S, Data) of
        ok -> St;
        {error, Why} -> disconnect(Why, St)
    end.

%% The answers in the buffer. A message that has not arrived whole goes
%% to `parts` piece by piece as pyrpool_msgpack:scan/2 reads them, and is
%% joined and decoded once complete: a large answer costs one pass, not one
%% per piece.
parse(St = #st{buf = Buf}) ->
    case pyrpool_msgpack:decode(Buf) of
        {ok, Msg, Rest} -> next(message(Msg, St#st{buf = Rest}));
        {more, _} -> piece(Buf, St#st{buf = <<>>, scan = new, parts = []});
        {error, Why} -> disconnect({bad_stream, Why}, St)
    end.

%% Data: the next piece of a message that has not arrived whole.
piece(Data, St = #st{scan = Scan, parts = Parts}) ->
    case pyrpool_msgpack:scan(Data, Scan) of
        {more, Scan1} -> St#st{scan = Scan1, parts = [Data | Parts]};
        {done, N} ->
            <<Last:N/binary, Rest/binary>> = Data,
            Whole = iolist_to_binary(lists:reverse(Parts, [Last])),
            St1 = St#st{buf = Rest, scan = new, parts = []},
            case pyrpool_msgpack:unpack(Whole) of
                {ok, Msg} -> next(message(Msg, St1));
                {error, Why} -> disconnect({bad_stream, Why}, St1)
            end;
        {error, Why} -> disconnect({bad_stream, Why}, St)
    end.

next(St = #st{sock = undefined}) -> St;
next(St = #st{buf = <<>>}) -> St;
next(St) -> parse(St).

message([1, none, Err, _], St) ->
    %% the daemon says why it is about to close the connection
    St#st{last_error = error_reason(Err)};
message([1, Id, Err, Res], St = #st{pending = P}) ->
    case maps:take(Id, P) of
        {MRef, P1} ->
            MRef ! {MRef, reply(Err, Res)},
            St#st{pending = P1};
        error -> St      % cancelled, or timed out on the caller's side
    end;
message(_, St) -> St.    % notifications: none is defined towards clients

reply(none, Res) -> {ok, Res};
reply(Err, _) -> {error, error_reason(Err)}.

disconnect(Why0, St = #st{sock = S, pending = P}) ->
    gen_tcp:close(S),
    Why = case St#st.last_error of
              undefined -> Why0;
              E -> E       % the daemon's own word on it (nil-msgid answer)
          end,
    [MRef ! {MRef, {error, {disconnected, Why}}} || MRef <- maps:values(P)],
    logger:notice("pyrpool: connection to ~0p lost: ~0p", [St#st.addr, Why]),
    schedule(St#st{sock = undefined, buf = <<>>, scan = new, parts = [], pending = #{}, hello = undefined,
                   last_error = Why}).

schedule(St = #st{timer = undefined, backoff = B, opts = O}) ->
    T = erlang:send_after(B, self(), reconnect),
    St#st{timer = T, backoff = min(B * 2, opt(backoff_max_ms, O, 5000))};
schedule(St) -> St.

try_connect(St = #st{sock = undefined, addr = Addr, opts = O}) ->
    St0 = St#st{last_try = now_ms()},
    case connect(Addr, O, St0#st.next) of
        {ok, Sock, Hello, Rest, Next} ->
            case St0#st.timer of
                undefined -> ok;
                T -> erlang:cancel_timer(T)
            end,
            ok = inet:setopts(Sock, [{active, ?ACTIVE}]),
            parse(St0#st{sock = Sock, hello = Hello, buf = Rest, scan = new, parts = [], next = Next,
                         timer = undefined, last_error = undefined,
                         backoff = opt(backoff_min_ms, O, 100)});
        {error, Why} ->
            schedule(St0#st{last_error = Why})
    end;
try_connect(St) -> St.

now_ms() -> erlang:monotonic_time(millisecond).

connect(Addr, O, Id0) ->
    Timeout = opt(connect_timeout_ms, O, 5000),
    Deadline = now_ms() + Timeout,
    {Host, Port, Extra} = case Addr of
                              {unix, Path} -> {{local, Path}, 0, [local]};
                              {tcp, H, P} -> {H, P, [{nodelay, true}, {keepalive, true}]}
                          end,
    %% a daemon that stops reading for that long is taken for gone
    SendTimeout = [{send_timeout, opt(send_timeout_ms, O, 30000)}, {send_timeout_close, true}],
    case gen_tcp:connect(Host, Port, [binary, {packet, raw}, {active, false} | SendTimeout ++ Extra],
                         Timeout) of
        {ok, Sock} ->
            case handshake(Sock, Addr, O, Id0, Deadline) of
                {ok, Hello, Rest, Next} -> {ok, Sock, Hello, Rest, Next};
                {error, _} = E -> gen_tcp:close(Sock), E
            end;
        {error, Why} -> {error, {connect, Why}}
    end.

%% auth (TCP with a token) and hello in one write; the answers in order.
handshake(Sock, Addr, O, Id0, Deadline) ->
    Token = token(Addr, O),
    Name = maps:get(client_name, O, ?CLIENT_NAME),
    HelloId = case Token of undefined -> Id0; _ -> Id0 + 1 end,
    Hello = [0, HelloId, <<"hello">>, [name(Name), ?CLIENT_VERSION, #{<<"errors">> => <<"map">>}]],
    Auth = case Token of
               undefined -> [];
               _ -> [pyrpool_msgpack:encode([0, Id0, <<"auth">>, [Token]])]
           end,
    Next = (HelloId + 1) band 16#ffffffff,
    case gen_tcp:send(Sock, [Auth, pyrpool_msgpack:encode(Hello)]) of
        ok ->
            Steps = case Token of undefined -> [{hello, HelloId}]; _ -> [{auth, Id0}, {hello, HelloId}] end,
            handshake_answers(Sock, Steps, <<>>, Deadline, Next);
        {error, Why} -> {error, {connect, Why}}
    end.

handshake_answers(Sock, Steps, Buf, Deadline, Next) ->
    case pyrpool_msgpack:decode(Buf) of
        {ok, [1, Id, Err, Res], Rest} ->
            case {Steps, Err} of
                {[{auth, Id} | More], none} -> handshake_answers(Sock, More, Rest, Deadline, Next);
                {[{auth, _} | _], _} -> {error, {auth_failed, error_reason(Err)}};
                {[{hello, Id}], none} ->
                    case check_hello(Res) of
                        ok -> {ok, Res, Rest, Next};
                        {error, _} = E -> E
                    end;
                {[{hello, _}], _} -> {error, {hello_failed, error_reason(Err)}};
                _ -> {error, {bad_answer, [1, Id, Err, Res]}}
            end;
        {ok, Other, _} -> {error, {bad_answer, Other}};
        {error, Why} -> {error, {bad_stream, Why}};
        {more, _} ->
            Left = Deadline - now_ms(),
            case Left > 0 andalso gen_tcp:recv(Sock, 0, Left) of
                false -> {error, {handshake, timeout}};
                {ok, Data} -> handshake_answers(Sock, Steps, <<Buf/binary, Data/binary>>, Deadline, Next);
                {error, closed} when element(1, hd(Steps)) =:= auth -> {error, {auth_failed, closed}};
                {error, Why} -> {error, {handshake, Why}}
            end
    end.

token({unix, _}, _) -> undefined;
token({tcp, _, _}, #{token := T}) -> name(T);
token({tcp, _, _}, #{token_file := F}) ->
    {ok, Bin} = file:read_file(F),
    string:trim(Bin);
token({tcp, _, _}, _) -> undefined.
