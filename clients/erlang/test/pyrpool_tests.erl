%% The client against real daemons (build/pyrpoold, started by the tests on
%% temporary sockets): erlang_python's guide's examples, every call shape,
%% errors, routing and pool administration, many processes at once, TCP with
%% a token, and a daemon killed and restarted under the client. Every test
%% has a hard time limit.
-module(pyrpool_tests).
-include_lib("eunit/include/eunit.hrl").

-define(ERLTEST_PY, <<"
import os, time


def echo(x):
    return x


def typename(x):
    return type(x).__name__


def pid():
    return os.getpid()


def sleep_echo(value, seconds):
    time.sleep(seconds)
    return value


def kw(*args, **kwargs):
    return [list(args), kwargs]


def fail(msg):
    raise ValueError(msg)


def ints(n):
    return list(range(n))


def text(n):
    return 'x' * n
">>).

%% stand-ins for the guide's psycopg2, boto3 and model modules
-define(DB_PY, <<"
import os, time


def fetchone(sql, params):
    time.sleep(0.01)
    return {'id': params[0], 'name': 'user-' + params[0], 'sql': sql, 'pid': os.getpid()}
">>).
-define(STORE_PY, <<"
import os, time


def download_file(key):
    time.sleep(0.2)
    return {'key': key, 'data': key.encode() * 3, 'pid': os.getpid()}
">>).
-define(MODEL_PY, <<"
def predict(file):
    return len(file['data'])
">>).

modules() ->
    [{"erltest.py", ?ERLTEST_PY}, {"db.py", ?DB_PY}, {"store.py", ?STORE_PY},
     {"model.py", ?MODEL_PY}].

-define(T(Secs, Fun), {??Fun, {timeout, Secs, ?_test(Fun)}}).

%% ------------------------------------------------- the default connection --

%% A daemon with eval allowed; the application's default connection to it
%% (application environment `address`).
api_test_() ->
    {setup, fun start_app/0, fun stop_app/1,
     fun(D) ->
             [?T(10, readme_example()), ?T(10, seed_calls()), ?T(10, call_shapes()), ?T(10, cast_await()), ?T(10, map_calls()),
              ?T(10, types()), ?T(20, big_answers()), ?T(10, python_exception()), ?T(10, no_such_pool()),
              ?T(10, daemon_timeout()), ?T(10, client_timeout_cancels()), ?T(10, eval_exec()),
              ?T(10, request_handler()), ?T(15, batch_of_casts()), ?T(10, registrations()),
              ?T(60, pool_admin()), ?T(60, concurrency()), ?T(10, explicit_connections(D)),
              ?T(10, no_connection())]
     end}.

start_app() ->
    D = pyrpool_test_daemon:start(#{allow_eval => true, modules => modules()}),
    ok = application:load(pyrpool),
    ok = application:set_env(pyrpool, address, pyrpool_test_daemon:address(D)),
    {ok, _} = application:ensure_all_started(pyrpool),
    wait_until(fun() -> pyrpool:ping() =:= {ok, <<"pong">>} end, 10000),
    D.

stop_app(D) ->
    ok = application:stop(pyrpool),
    ok = application:unload(pyrpool),
    ?assertEqual(0, pyrpool_test_daemon:stop(D)).

%% README.md's example (its address is the test daemon's)
readme_example() ->
    {ok, _} = application:ensure_all_started(pyrpool),
    {ok, 4.0} = pyrpool:call(math, sqrt, [16]),
    Refs = [pyrpool:cast(json, dumps, [#{n => N}]) || N <- [1, 2, 3]],
    [{ok, <<"{\"n\": 1}">>}, {ok, _}, {ok, _}] = [pyrpool:await(R) || R <- Refs].

%% the guide's first examples
seed_calls() ->
    ?assertEqual({ok, 4.0}, pyrpool:call(default, math, sqrt, [16])),
    ?assertEqual({ok, 4.0}, pyrpool:call(math, sqrt, [16])),
    ?assertEqual({ok, <<"{\"a\": 1}">>}, pyrpool:call(json, dumps, [#{a => 1}])),
    %% a map's keys go in Erlang term order (proto/erlang-types.md)
    ?assertEqual({ok, <<"{\"a\": 2, \"b\": 1}">>}, pyrpool:call(json, dumps, [#{b => 1, a => 2}])),
    {ok, IoPid} = pyrpool:call(io, erltest, pid, []),
    ?assertEqual([IoPid], pyrpool:contexts(io)),
    ?assertEqual({ok, <<"{\"b\": 1, \"c\": 2}">>},
                 pyrpool:call(io, json, dumps, [#{c => 2, b => 1}], #{sort_keys => true})).

call_shapes() ->
    ?assertEqual({ok, 3.0}, pyrpool:call(math, sqrt, [9])),
    ?assertEqual({ok, 3.0}, pyrpool:call(<<"math">>, "sqrt", [9])),
    ?assertEqual({ok, 3.0}, pyrpool:call(undefined, math, sqrt, [9])),
    ?assertEqual({ok, [[1, 2], #{<<"c">> => 3, <<"d">> => none}]},
                 pyrpool:call(default, erltest, kw, [1, 2], #{c => 3, <<"d">> => none})),
    ?assertEqual({ok, [[], #{}]}, pyrpool:call(erltest, kw, [])),
    %% call/4 and cast/4 with a map last: Module, Function, Args, Kwargs
    ?assertEqual({ok, [[1], #{<<"c">> => 3}]}, pyrpool:call(erltest, kw, [1], #{c => 3})),
    ?assertEqual({ok, [[1], #{<<"c">> => 4}]}, pyrpool:await(pyrpool:cast(erltest, kw, [1], #{c => 4}))),
    ?assertEqual({ok, [[2], #{}]}, pyrpool:call(io, erltest, kw, [2])),
    {ok, P} = pyrpool:call(undefined, erltest, pid, [], #{}, #{pool => io, timeout => 5}),
    ?assertEqual([P], pyrpool:contexts(io)),
    ?assertEqual({ok, <<"a/b">>}, pyrpool:call('os.path', join, [<<"a">>, <<"b">>])),
    ?assertEqual({ok, #{<<"a">> => none}},
                 pyrpool:call(collections, 'OrderedDict.fromkeys', [[a]])).

cast_await() ->
    R1 = pyrpool:cast(math, sqrt, [16]),
    R2 = pyrpool:cast(io, erltest, echo, [<<"x">>]),
    R3 = pyrpool:cast(default, erltest, kw, [1], #{k => 2}),
    R4 = pyrpool:cast(undefined, erltest, fail, [<<"no">>], #{}, #{}),
    ?assertEqual({ok, [[1], #{<<"k">> => 2}]}, pyrpool:await(R3, 5000)),
    ?assertEqual({ok, <<"x">>}, pyrpool:await(R2)),
    ?assertEqual({ok, 4.0}, pyrpool:await(R1, 5000)),
    ?assertMatch({error, {<<"ValueError">>, <<"no">>, _}}, pyrpool:await(R4, 5000)).

map_calls() ->
    ?assertEqual({ok, [1.0, 2.0, 3.0]}, pyrpool:map(math, sqrt, [[1], [4], [9]])),
    ?assertEqual({ok, []}, pyrpool:map(math, sqrt, [])),
    ?assertEqual({ok, [[[1], #{<<"k">> => 2}], [[2], #{<<"k">> => 2}]]},
                 pyrpool:map(io, erltest, kw, [[1], [2]], #{k => 2}, #{timeout => 5})),
    ?assertEqual({ok, lists:duplicate(1000, 4.0)}, pyrpool:map(default, math, sqrt, lists:duplicate(1000, [16]))),
    ?assertMatch({error, {<<"ZeroDivisionError">>, _, _, 1}}, pyrpool:map(operator, truediv, [[1, 1], [1, 0]])).

%% proto/erlang-types.md, through Python and back
types() ->
    Cases = [{<<"héllo"/utf8>>, <<"str">>, <<"héllo"/utf8>>},
             {{bytes, <<0, 255>>}, <<"bytes">>, {bytes, <<0, 255>>}},
             {true, <<"bool">>, true}, {false, <<"bool">>, false},
             {none, <<"NoneType">>, none}, {undefined, <<"NoneType">>, none},
             {some_atom, <<"str">>, <<"some_atom">>},
             {{1, <<"two">>}, <<"list">>, [1, <<"two">>]},
             {[1, [2.5]], <<"list">>, [1, [2.5]]},
             {#{1 => a, <<"k">> => [none]}, <<"dict">>, #{1 => <<"a">>, <<"k">> => [none]}},
             {1.5, <<"float">>, 1.5}, {-(1 bsl 63), <<"int">>, -(1 bsl 63)},
             {(1 bsl 64) - 1, <<"int">>, (1 bsl 64) - 1},
             {infinity, <<"float">>, infinity}, {nan, <<"float">>, nan},
             {"abc", <<"list">>, [97, 98, 99]}],
    [begin
         ?assertEqual({ok, PyType}, pyrpool:call(erltest, typename, [V])),
         ?assertEqual({ok, Back}, pyrpool:call(erltest, echo, [V]))
     end || {V, PyType, Back} <- Cases],
    ?assertEqual({ok, {bytes, <<0, "ab", 255>>}}, pyrpool:call(builtins, bytearray, [{bytes, <<0, "ab", 255>>}])),
    ?assertMatch({error, {'EncodeError', _, none}}, pyrpool:call(builtins, set, [[1]])),
    ?assertMatch({error, {'BadRequest', _, none}}, pyrpool:call(erltest, echo, [{ext, 1, <<0>>}])),
    ?assertError({unencodable, _}, pyrpool:call(erltest, echo, [self()])).

%% answers of many pieces come whole, and fast (each piece read once)
big_answers() ->
    T0 = now_ms(),
    {ok, Text} = pyrpool:call(erltest, text, [8000000]),
    ?assertEqual(binary:copy(<<"x">>, 8000000), Text),
    {ok, Ints} = pyrpool:call(erltest, ints, [300000]),
    ?assertEqual(lists:seq(0, 299999), Ints),
    R = pyrpool:cast(erltest, echo, [binary:copy(<<"y">>, 3000000)]),
    ?assertEqual({ok, 7}, pyrpool:call(io, erltest, echo, [7])),
    ?assertEqual({ok, binary:copy(<<"y">>, 3000000)}, pyrpool:await(R, 10000)),
    ?assert(now_ms() - T0 < 10000).

python_exception() ->
    {error, {Type, Msg, TB}} = pyrpool:call(erltest, fail, [<<"boom">>]),
    ?assertEqual({<<"ValueError">>, <<"boom">>}, {Type, Msg}),
    ?assertMatch({_, _}, binary:match(TB, <<"Traceback">>)),
    ?assertMatch({error, {<<"ZeroDivisionError">>, _, _}}, pyrpool:call(operator, truediv, [1, 0])),
    ?assertMatch({error, {<<"ModuleNotFoundError">>, _, _}}, pyrpool:call(no_such_module, f, [])).

no_such_pool() ->
    ?assertMatch({error, {'NoSuchPool', _, none}}, pyrpool:call(nope, math, sqrt, [1])),
    ?assertMatch({error, {'NoSuchPool', _, none}}, pyrpool:register_pool(nope, math)).

%% opts timeout: the daemon answers Timeout, and the call is stopped
daemon_timeout() ->
    T0 = now_ms(),
    ?assertMatch({error, {'Timeout', _, _}},
                 pyrpool:call(undefined, erltest, sleep_echo, [1, 5], #{}, #{timeout => 0.2})),
    ?assert(now_ms() - T0 < 3000),
    ?assertEqual({ok, 2.0}, pyrpool:call(math, sqrt, [4])).

%% await/2 gives up after its timeout, cancels the call in the daemon, and no
%% late answer lands in the caller's mailbox
client_timeout_cancels() ->
    Ref = pyrpool:cast(io, erltest, sleep_echo, [1, 1.0]),
    ?assertEqual({error, timeout}, pyrpool:await(Ref, 100)),
    ?assertEqual({error, timeout},
                 pyrpool:call(io, erltest, sleep_echo, [1, 1.0], #{}, #{call_timeout => 100})),
    receive Stray -> ?assertEqual(no_message, Stray) after 1500 -> ok end,
    ?assertEqual({ok, 3}, pyrpool:call(io, erltest, echo, [3])).

eval_exec() ->
    ?assertEqual({ok, 6}, pyrpool:eval(<<"2 + 4">>)),
    ?assertEqual({ok, 10}, pyrpool:eval(<<"x * 2">>, #{x => 5})),
    ?assertMatch({error, {<<"SyntaxError">>, _, _}}, pyrpool:eval(<<"2 +">>)).

%% the guide's request handler: hashlib and json on default, the database
%% module registered to io
request_handler() ->
    ok = pyrpool:register_pool(io, db),
    try
        {ok, Json} = handle_request(<<"42">>),
        {ok, Json2} = handle_request(<<"42">>),
        ?assertEqual(Json, Json2),
        {ok, User} = pyrpool:call(json, loads, [Json]),
        ?assertMatch(#{<<"id">> := <<"42">>, <<"name">> := <<"user-42">>}, User),
        ?assertEqual([maps:get(<<"pid">>, User)], pyrpool:contexts(io))
    after
        ok = pyrpool:unregister_pool(db)
    end.

handle_request(UserId) ->
    %% fast: default pool
    {ok, {bytes, Hash}} = pyrpool:call(hashlib, pbkdf2_hmac, [<<"sha256">>, {bytes, UserId}, {bytes, <<"s">>}, 1]),
    32 = byte_size(Hash),
    %% slow: routed to io by its registration
    {ok, User} = pyrpool:call(db, fetchone, [<<"SELECT * FROM users WHERE id = ?">>, [UserId]]),
    %% fast: default pool
    {ok, Json} = pyrpool:call(json, dumps, [User]),
    {ok, Json}.

%% the guide's process_batch: casts to an io-registered module, then awaits
batch_of_casts() ->
    ok = pyrpool:register_pool(io, store),
    try
        Items = [<<"k", (integer_to_binary(I))/binary>> || I <- lists:seq(1, 8)],
        T0 = now_ms(),
        Futures = [pyrpool:cast(store, download_file, [Key]) || Key <- Items],
        Files = [begin {ok, F} = pyrpool:await(Fu), F end || Fu <- Futures],
        Elapsed = now_ms() - T0,
        ?assert(Elapsed < 1200),          % 8 x 0.2 s run 4 at a time, not one by one
        ?assertEqual(Items, [K || #{<<"key">> := K} <- Files]),
        ?assertEqual(pyrpool:contexts(io), lists:usort([P || #{<<"pid">> := P} <- Files])),
        Preds = [{ok, _} = pyrpool:call(model, predict, [File]) || File <- Files],
        ?assertEqual([{ok, 3 * byte_size(K)} || K <- Items], Preds)
    after
        ok = pyrpool:unregister_pool(store)
    end.

%% register / lookup / unregister, as in the guide
registrations() ->
    ok = pyrpool:register_pool(io, requests),
    ok = pyrpool:register_pool(io, {urllib, urlopen}),
    ok = pyrpool:register_pool(io, json),
    ok = pyrpool:register_pool(default, {json, dumps}),
    try
        ?assertEqual(io, pyrpool:lookup_pool(requests, get)),
        ?assertEqual(io, pyrpool:lookup_pool('requests.adapters', send)),
        ?assertEqual(io, pyrpool:lookup_pool(urllib, urlopen)),
        ?assertEqual(default, pyrpool:lookup_pool(urllib, quote)),
        ?assertEqual(io, pyrpool:lookup_pool(json, loads)),
        ?assertEqual(default, pyrpool:lookup_pool(json, dumps)),
        ?assertEqual(default, pyrpool:lookup_pool(math, sqrt)),
        Regs = pyrpool:list_pool_registrations(),
        ?assertEqual([{{json, '_'}, io}, {{json, dumps}, default}, {{requests, '_'}, io},
                      {{urllib, urlopen}, io}], Regs),
        %% the route is used: erltest.pid registered to io runs there
        ok = pyrpool:register_pool(io, erltest, pid),
        ?assertEqual(io, pyrpool:lookup_pool(erltest, pid)),
        {ok, P} = pyrpool:call(erltest, pid, []),
        ?assertEqual([P], pyrpool:contexts(io)),
        ok = pyrpool:unregister_pool(erltest, pid)
    after
        ok = pyrpool:unregister_pool(requests),
        ok = pyrpool:unregister_pool({urllib, urlopen}),
        ok = pyrpool:unregister_pool(json),
        ok = pyrpool:unregister_pool({json, dumps})
    end,
    ?assertEqual(default, pyrpool:lookup_pool(json, loads)),
    ?assertEqual([], pyrpool:list_pool_registrations()),
    ok = pyrpool:unregister_pool(never_registered).

pool_admin() ->
    ?assert(pyrpool:pool_started(default)),
    ?assert(pyrpool:pool_started(io)),
    ?assertNot(pyrpool:pool_started(gpu)),
    ?assertEqual(2, pyrpool:num_contexts(default)),
    ?assertEqual(4, pyrpool:num_contexts(io)),
    Ctx = pyrpool:contexts(default),
    ?assertMatch([A, B] when is_integer(A) andalso is_integer(B), Ctx),
    ?assert(lists:member(pyrpool:get_context(default), Ctx)),
    ?assertMatch({error, {'NoSuchPool', _, none}}, pyrpool:num_contexts(gpu)),
    {ok, [GpuPid]} = pyrpool:start_pool(gpu, 1),
    try
        ?assert(pyrpool:pool_started(gpu)),
        ?assertEqual(1, pyrpool:num_contexts(gpu)),
        ?assertEqual({ok, GpuPid}, pyrpool:call(gpu, erltest, pid, [])),
        ok = pyrpool:resize_pool(gpu, 2),
        ?assertEqual(2, pyrpool:num_contexts(gpu)),
        ok = pyrpool:register_pool(gpu, torch),
        ?assertEqual(gpu, pyrpool:lookup_pool(torch, tensor)),
        ?assertMatch({error, {'PoolExists', _, none}}, pyrpool:start_pool(gpu, 1))
    after
        ok = pyrpool:stop_pool(gpu)
    end,
    ?assertNot(pyrpool:pool_started(gpu)),
    ?assertEqual(default, pyrpool:lookup_pool(torch, tensor)),
    ?assertMatch({error, {'Forbidden', _, none}}, pyrpool:stop_pool(default)),
    {ok, [_]} = pyrpool:start_pool(threads, 3, thread),
    ?assertEqual(3, pyrpool:num_contexts(threads)),
    ok = pyrpool:stop_pool(threads),
    {ok, Pools} = pyrpool:pools(),
    ?assertEqual([<<"default">>, <<"io">>], [N || #{<<"name">> := N} <- Pools]).

%% many processes calling at once on the one connection, calls and casts
concurrency() ->
    Self = self(),
    N = 40,
    Pids = [spawn_link(fun() -> Self ! {self(), worker(I)} end) || I <- lists:seq(1, N)],
    Results = [receive {P, R} -> R after 50000 -> timeout end || P <- Pids],
    ?assertEqual(lists:duplicate(N, ok), Results).

worker(I) ->
    Vals = [{I, J, <<"v", (integer_to_binary(J))/binary>>} || J <- lists:seq(1, 25)],
    Refs = [{V, pyrpool:cast(erltest, echo, [V])} || V <- Vals],
    Calls = [pyrpool:call(io, erltest, echo, [V]) =:= {ok, tuple_to_list(V)} || V <- Vals],
    Casts = [pyrpool:await(R, 30000) =:= {ok, tuple_to_list(V)} || {V, R} <- Refs],
    case lists:all(fun(X) -> X end, Calls ++ Casts) of
        true -> ok;
        false -> {failed, I}
    end.

%% pyrpool:connect/1 gives the supervised connection per address (here the
%% default one's); pyrpool_conn has the API with the connection first
explicit_connections(D) ->
    Addr = pyrpool_test_daemon:address(D),
    {ok, C} = pyrpool:connect(Addr),
    ?assertEqual(whereis(pyrpool:default_connection()), C),
    ?assertEqual({ok, 3.0}, pyrpool_conn:call(C, math, sqrt, [9])),
    {ok, C2} = pyrpool_conn:start_link(Addr, #{client_name => <<"second">>}),
    try
        wait_until(fun() -> maps:get(connected, pyrpool_conn:info(C2)) end, 5000),
        #{hello := Hello} = pyrpool_conn:info(C2),
        ?assertMatch(#{<<"server">> := <<"pyrpoold">>, <<"protocol">> := 1, <<"errors">> := <<"map">>,
                       <<"pools">> := [<<"default">>, <<"io">>], <<"admin">> := true}, Hello),
        ?assertEqual({ok, 4.0}, pyrpool_conn:call(C2, io, math, sqrt, [16])),
        R = pyrpool_conn:cast(C2, math, sqrt, [25]),
        ?assertEqual({ok, 5.0}, pyrpool_conn:await(R, 5000)),
        ?assertEqual(default, pyrpool_conn:lookup_pool(C2, never_registered, get))
    after
        unlink(C2),
        pyrpool_conn:stop(C2)
    end.

no_connection() ->
    ?assertEqual({error, {not_connected, noproc}}, pyrpool_conn:call(no_such_conn, math, sqrt, [1])),
    %% a daemon that says protocol 2 is refused with a clear reason
    ?assertEqual(ok, pyrpool_conn:check_hello(#{<<"protocol">> => 1})),
    ?assertEqual({error, {unsupported_protocol, 2, [1]}},
                 pyrpool_conn:check_hello(#{<<"protocol">> => 2, <<"server">> => <<"pyrpoold">>})),
    ?assertMatch({error, {bad_hello_answer, _}}, pyrpool_conn:check_hello(<<"pong">>)),
    %% nothing listens there: an error at once, no hang
    Nowhere = filename:join(os:getenv("TMPDIR", "/tmp"), "pyrpool-erl-nothing-listens.sock"),
    {ok, C} = pyrpool_conn:start_link("unix:" ++ Nowhere, #{}),
    T0 = now_ms(),
    ?assertMatch({error, {not_connected, {connect, _}}}, pyrpool_conn:call(C, math, sqrt, [1])),
    ?assert(now_ms() - T0 < 1000),
    unlink(C),
    pyrpool_conn:stop(C).

%% ------------------------------------- eval off, and TCP with a token --

tcp_test_() ->
    {setup,
     fun() -> pyrpool_test_daemon:start(#{tcp => true, modules => modules(),
                                          pools => [{default, "{size: 1}"}, {io, "{size: 1}"}]}) end,
     fun(D) -> ?assertEqual(0, pyrpool_test_daemon:stop(D)) end,
     fun(D) -> [?T(10, forbidden_eval(D)), ?T(10, tcp_token(D)), ?T(10, tcp_token_file(D)),
                ?T(10, tcp_wrong_token(D)), ?T(20, app_over_tcp(D))]
     end}.

with_conn(Addr, Opts, Fun) ->
    {ok, C} = pyrpool_conn:start_link(Addr, Opts),
    unlink(C),
    try Fun(C) after pyrpool_conn:stop(C) end.

forbidden_eval(D) ->
    with_conn(pyrpool_test_daemon:address(D), #{},
              fun(C) ->
                      ?assertMatch({error, {'Forbidden', _, none}}, pyrpool_conn:eval(C, <<"2 + 4">>)),
                      ?assertMatch({error, {'Forbidden', _, none}}, pyrpool_conn:exec(C, <<"x = 1">>))
              end).

tcp_token(D) ->
    with_conn(pyrpool_test_daemon:tcp_address(D), #{token => pyrpool_test_daemon:token(D)},
              fun(C) ->
                      ?assertEqual({ok, 4.0}, pyrpool_conn:call(C, math, sqrt, [16])),
                      #{hello := Hello} = pyrpool_conn:info(C),
                      ?assertMatch(#{<<"protocol">> := 1, <<"admin">> := false}, Hello),
                      %% admin methods are not for TCP listeners by default
                      ?assertMatch({error, {'Forbidden', _, none}}, pyrpool_conn:register_pool(C, io, json)),
                      ?assertEqual(default, pyrpool_conn:lookup_pool(C, json, dumps))
              end).

tcp_token_file(D) ->
    File = filename:join(pyrpool_test_daemon:dir(D), "token"),
    with_conn({tcp, "127.0.0.1", maps:get(tcp_port, D)}, #{token_file => File},
              fun(C) -> ?assertEqual({ok, 5.0}, pyrpool_conn:call(C, io, math, sqrt, [25])) end).

tcp_wrong_token(D) ->
    with_conn(pyrpool_test_daemon:tcp_address(D), #{token => <<"wrong">>, backoff_min_ms => 5000},
              fun(C) ->
                      ?assertMatch({error, {not_connected, {auth_failed, {'Unauthorized', _, none}}}},
                                   pyrpool_conn:call(C, math, sqrt, [16]))
              end),
    %% no token on TCP: hello comes first and is refused
    with_conn(pyrpool_test_daemon:tcp_address(D), #{backoff_min_ms => 5000},
              fun(C) ->
                      ?assertMatch({error, {not_connected, {hello_failed, {'Unauthorized', _, none}}}},
                                   pyrpool_conn:call(C, math, sqrt, [16]))
              end).

%% the application's default connection over TCP (address and token_file
%% from its environment), and a second supervised connection by connect/2
app_over_tcp(D) ->
    ok = application:load(pyrpool),
    ok = application:set_env(pyrpool, address, pyrpool_test_daemon:tcp_address(D)),
    ok = application:set_env(pyrpool, token_file, filename:join(pyrpool_test_daemon:dir(D), "token")),
    {ok, _} = application:ensure_all_started(pyrpool),
    try
        wait_until(fun() -> pyrpool:ping() =:= {ok, <<"pong">>} end, 5000),
        ?assertEqual({ok, 4.0}, pyrpool:call(math, sqrt, [16])),
        ?assertMatch({error, {'Forbidden', _, none}}, pyrpool:eval(<<"1">>)),
        Unix = pyrpool_test_daemon:address(D),
        {ok, C} = pyrpool:connect(Unix),
        ?assertEqual({ok, C}, pyrpool:connect(Unix)),
        ?assertNotEqual(whereis(pyrpool:default_connection()), C),
        wait_until(fun() -> maps:get(connected, pyrpool_conn:info(C)) end, 5000),
        ?assertEqual({ok, 5.0}, pyrpool_conn:call(C, math, sqrt, [25])),
        ok = pyrpool:disconnect(Unix),
        ?assertNot(is_process_alive(C)),
        {ok, C2} = pyrpool:connect(Unix),
        ?assertNotEqual(C, C2),
        ?assertEqual({ok, 6.0}, pyrpool_conn:call(C2, math, sqrt, [36]))
    after
        ok = application:stop(pyrpool),
        ok = application:unload(pyrpool)
    end.

%% ------------------------------------------- the daemon killed and back --

restart_test_() ->
    {timeout, 60,
     ?_test(begin
                D = pyrpool_test_daemon:start(#{modules => modules(),
                                                pools => [{default, "{size: 2}"}, {io, "{size: 2, mode: thread}"}]}),
                try killed_and_back(D) after pyrpool_test_daemon:stop(D) end
            end)}.

%% a daemon that answers nothing (stopped): callers get {error, timeout}
%% after their wait, nothing hangs; once it runs again, so do calls
stopped_test_() ->
    {timeout, 60,
     ?_test(begin
                D = pyrpool_test_daemon:start(#{modules => modules(),
                                                pools => [{default, "{size: 1}"}, {io, "{size: 1}"}]}),
                try stopped_and_continued(D) after pyrpool_test_daemon:stop(D) end
            end)}.

stopped_and_continued(D) ->
    Pid = integer_to_list(pyrpool_test_daemon:os_pid(D)),
    with_conn(pyrpool_test_daemon:address(D), #{},
              fun(C) ->
                      ?assertEqual({ok, 2.0}, pyrpool_conn:call(C, math, sqrt, [4])),
                      _ = os:cmd("kill -STOP " ++ Pid),
                      try
                          T0 = now_ms(),
                          Self = self(),
                          Callers = [spawn_link(fun() ->
                                                        Self ! {self(), pyrpool_conn:call(C, undefined, math, sqrt, [I], #{},
                                                                                          #{call_timeout => 300})}
                                                end) || I <- lists:seq(1, 10)],
                          [?assertEqual({error, timeout}, receive {P, R} -> R after 5000 -> hang end)
                           || P <- Callers],
                          ?assert(now_ms() - T0 < 2000)
                      after
                          os:cmd("kill -CONT " ++ Pid)
                      end,
                      ?assertEqual({ok, 3.0}, pyrpool_conn:call(C, math, sqrt, [9])),
                      #{connected := true} = pyrpool_conn:info(C),
                      %% a reload (a new generation of executors) under the connection
                      [P1] = pyrpool_conn:contexts(C, default),
                      ok = pyrpool_conn:reload(C),
                      ?assertEqual({ok, 4.0}, pyrpool_conn:call(C, math, sqrt, [16])),
                      ?assertNotEqual([P1], pyrpool_conn:contexts(C, default))
              end).

killed_and_back(D) ->
    Addr = pyrpool_test_daemon:address(D),
    {ok, C} = pyrpool_conn:start_link(Addr, #{backoff_min_ms => 50, backoff_max_ms => 400}),
    unlink(C),
    try
        ?assertEqual({ok, 2.0}, pyrpool_conn:call(C, math, sqrt, [4])),
        Refs = [pyrpool_conn:cast(C, P, erltest, sleep_echo, [I, 30]) || I <- [1, 2], P <- [default, io]],
        timer:sleep(200),
        T0 = now_ms(),
        _ = pyrpool_test_daemon:kill(D),
        [?assertMatch({error, {disconnected, _}}, pyrpool_conn:await(R, 5000)) || R <- Refs],
        ?assert(now_ms() - T0 < 2000),
        %% while it is down: an error at once
        T1 = now_ms(),
        ?assertMatch({error, {not_connected, _}}, pyrpool_conn:call(C, math, sqrt, [4])),
        ?assert(now_ms() - T1 < 1000),
        D2 = pyrpool_test_daemon:restart(D),
        %% the connection comes back by itself (backoff), calls work again
        wait_until(fun() -> maps:get(connected, pyrpool_conn:info(C)) end, 10000),
        ?assertEqual({ok, 3.0}, pyrpool_conn:call(C, math, sqrt, [9])),
        Many = [pyrpool_conn:cast(C, erltest, echo, [I]) || I <- lists:seq(1, 100)],
        ?assertEqual([{ok, I} || I <- lists:seq(1, 100)], [pyrpool_conn:await(R, 10000) || R <- Many]),
        ?assertEqual(0, pyrpool_test_daemon:stop(D2))
    after
        pyrpool_conn:stop(C)
    end.

%% --------------------------------------------------------------- helpers --

now_ms() -> erlang:monotonic_time(millisecond).

wait_until(Fun, Ms) -> wait_until(Fun, Ms, now_ms() + Ms).
wait_until(Fun, Ms, Deadline) ->
    case Fun() of
        true -> ok;
        _ ->
            case now_ms() > Deadline of
                true -> error({not_within_ms, Ms});
                false -> timer:sleep(25), wait_until(Fun, Ms, Deadline)
            end
    end.
