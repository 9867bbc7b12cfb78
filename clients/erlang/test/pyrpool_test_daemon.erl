%% A real pyrpoold for the tests: a config in a fresh temporary folder, the
%% daemon started through a small shell wrapper that kills it when this VM
%% goes away (its stdin closes), readiness awaited (ping, then a call on
%% every pool), every wait bounded.
-module(pyrpool_test_daemon).
-export([start/1, stop/1, kill/1, restart/1, os_pid/1, address/1, tcp_address/1, token/1,
         dir/1, log/1]).

-define(WRAPPER,
        "exec 3<&0\n"
        "\"$0\" -c \"$1\" >>\"$2\" 2>&1 &\n"
        "d=$!\n"
        "echo \"pid $d\"\n"
        "(read x <&3; kill -TERM $d) 2>/dev/null &\n"
        "w=$!\n"
        "wait $d; s=$?\n"
        "kill $w 2>/dev/null\n"
        "echo \"exit $s\"\n").

%% Opts: allow_eval (false), tcp (false: also a TCP listener with a token),
%% pools (default 2 processes, io 4 threads), modules ([{Name, Source}]
%% written to the python path), extra (more YAML).
start(Opts) ->
    Bin = os:getenv("PYRPOOLD", "../../build/pyrpoold"),
    true = filelib:is_regular(Bin),
    Dir = mkdtemp(),
    ok = file:make_dir(filename:join(Dir, "py")),
    [ok = file:write_file(filename:join([Dir, "py", N]), Src)
     || {N, Src} <- maps:get(modules, Opts, [])],
    Token = iolist_to_binary(["tok-", integer_to_list(erlang:unique_integer([positive])),
                              "-", integer_to_list(os:system_time())]),
    TcpPort = case maps:get(tcp, Opts, false) of
                  true -> free_port();
                  false -> undefined
              end,
    ok = file:write_file(filename:join(Dir, "token"), [Token, "\n"]),
    ok = file:change_mode(filename:join(Dir, "token"), 8#600),
    Pools = maps:get(pools, Opts, [{default, "{size: 2, mode: process}"},
                                   {io, "{size: 4, mode: thread}"}]),
    Yaml = ["listen:\n",
            "  - unix: \"", Dir, "/d.sock\"\n",
            case TcpPort of
                undefined -> [];
                _ -> ["  - tcp: 127.0.0.1:", integer_to_list(TcpPort), "\n",
                      "    token_file: \"", Dir, "/token\"\n"]
            end,
            "pools:\n", [["  ", atom_to_list(P), ": ", S, "\n"] || {P, S} <- Pools],
            "python:\n  path: [py]\n",
            "  allow_eval: ", atom_to_list(maps:get(allow_eval, Opts, false)), "\n",
            maps:get(extra, Opts, "")],
    Config = filename:join(Dir, "pyrpoold.yaml"),
    ok = file:write_file(Config, Yaml),
    D = #{bin => Bin, dir => Dir, config => Config, token => Token, tcp_port => TcpPort,
          pools => [P || {P, _} <- Pools]},
    launch(D).

address(#{dir := Dir}) -> "unix:" ++ Dir ++ "/d.sock".
tcp_address(#{tcp_port := P}) -> "tcp:127.0.0.1:" ++ integer_to_list(P).
token(#{token := T}) -> T.
dir(#{dir := Dir}) -> Dir.
os_pid(#{keeper := K}) -> ask(K, os_pid).
log(#{dir := Dir}) ->
    case file:read_file(filename:join(Dir, "daemon.log")) of
        {ok, B} -> B;
        _ -> <<>>
    end.

%% SIGTERM, bounded wait for a clean exit (status 0), then the folder goes.
stop(D = #{keeper := K, dir := Dir}) ->
    Status = signal(D, "TERM", 20000),
    K ! stop,
    _ = file:del_dir_r(Dir),
    Status.

%% SIGKILL, bounded wait; the folder stays (restart/1 uses it).
kill(D) -> signal(D, "KILL", 10000).

%% A new daemon on the same config and socket.
restart(D) -> launch(maps:remove(keeper, D)).

%% ---------------------------------------------------------------------------

launch(D = #{bin := Bin, config := Config, dir := Dir}) ->
    Parent = self(),
    Log = filename:join(Dir, "daemon.log"),
    K = spawn(fun() -> keeper(Parent, Bin, Config, Log) end),
    receive
        {K, started} -> ok
    after 10000 -> error(daemon_did_not_start)
    end,
    D1 = D#{keeper => K},
    try
        wait_ready(D1, erlang:monotonic_time(millisecond) + 20000)
    catch
        error:Why:Stack ->
            %% no daemon and no folder left behind by a start that failed
            catch signal(D1, "KILL", 5000),
            K ! stop,
            _ = file:del_dir_r(Dir),
            erlang:raise(error, Why, Stack)
    end,
    D1.

keeper(Parent, Bin, Config, Log) ->
    Port = open_port({spawn_executable, "/bin/sh"},
                     [{args, ["-c", ?WRAPPER, Bin, Config, Log]}, {line, 1024},
                      exit_status, use_stdio]),
    OsPid = receive
                {Port, {data, {eol, "pid " ++ P}}} -> list_to_integer(P)
            after 10000 -> error(no_pid)
            end,
    Parent ! {self(), started},
    keeper_loop(Port, OsPid, undefined).

keeper_loop(Port, OsPid, Status) ->
    receive
        {Port, {data, {eol, "exit " ++ S}}} -> keeper_loop(Port, OsPid, list_to_integer(S));
        {Port, {data, _}} -> keeper_loop(Port, OsPid, Status);
        {Port, {exit_status, _}} -> keeper_loop(Port, OsPid, Status);
        {From, Ref, os_pid} -> From ! {Ref, OsPid}, keeper_loop(Port, OsPid, Status);
        {From, Ref, status} -> From ! {Ref, Status}, keeper_loop(Port, OsPid, Status);
        stop -> catch port_close(Port), ok
    end.

ask(K, What) ->
    Ref = make_ref(),
    K ! {self(), Ref, What},
    receive {Ref, V} -> V after 5000 -> error({keeper_silent, What}) end.

%% Sends the signal and waits (bounded) for the exit status.
signal(#{keeper := K}, Sig, Timeout) ->
    OsPid = ask(K, os_pid),
    _ = os:cmd("kill -" ++ Sig ++ " " ++ integer_to_list(OsPid)),
    wait_exit(K, erlang:monotonic_time(millisecond) + Timeout, OsPid).

wait_exit(K, Deadline, OsPid) ->
    case ask(K, status) of
        undefined ->
            case erlang:monotonic_time(millisecond) > Deadline of
                true ->
                    _ = os:cmd("kill -KILL " ++ integer_to_list(OsPid)),
                    error({daemon_did_not_exit, OsPid});
                false ->
                    timer:sleep(20),
                    wait_exit(K, Deadline, OsPid)
            end;
        S -> S
    end.

wait_ready(D = #{keeper := K}, Deadline) ->
    case ask(K, status) of
        undefined -> ok;
        S -> error({daemon_exited, S, log(D)})
    end,
    case ready(D) of
        true -> ok;
        false ->
            case erlang:monotonic_time(millisecond) > Deadline of
                true -> error({daemon_not_ready, log(D)});
                false -> timer:sleep(50), wait_ready(D, Deadline)
            end
    end.

%% ping answers, and a call runs on every pool (its executors are up).
ready(D = #{pools := Pools}) ->
    Path = maps:get(dir, D) ++ "/d.sock",
    case gen_tcp:connect({local, Path}, 0, [local, binary, {active, false}], 2000) of
        {ok, S} ->
            Reqs = [[0, 1, <<"ping">>, []]
                    | [[0, I + 1, <<"call">>, [<<"os">>, <<"getpid">>, [], #{}, #{<<"pool">> => P}]]
                       || {I, P} <- lists:zip(lists:seq(1, length(Pools)), Pools)]],
            ok = gen_tcp:send(S, [pyrpool_msgpack:encode(R) || R <- Reqs]),
            R = read_answers(S, length(Reqs), <<>>, []),
            gen_tcp:close(S),
            case R of
                {ok, Answers} -> lists:all(fun([1, _, none, _]) -> true; (_) -> false end, Answers);
                _ -> false
            end;
        {error, _} -> false
    end.

read_answers(_, 0, _, Acc) -> {ok, Acc};
read_answers(S, N, Buf, Acc) ->
    case pyrpool_msgpack:decode(Buf) of
        {ok, M, Rest} -> read_answers(S, N - 1, Rest, [M | Acc]);
        {more, _} ->
            case gen_tcp:recv(S, 0, 5000) of
                {ok, Data} -> read_answers(S, N, <<Buf/binary, Data/binary>>, Acc);
                E -> E
            end;
        E -> E
    end.

mkdtemp() ->
    Root = os:getenv("TMPDIR", "/tmp"),
    Dir = filename:join(Root, "pyrpool-erl-" ++ integer_to_list(erlang:unique_integer([positive]))
                        ++ "-" ++ os:getpid()),
    ok = file:make_dir(Dir),
    Dir.

free_port() ->
    {ok, L} = gen_tcp:listen(0, [{ip, {127, 0, 0, 1}}]),
    {ok, P} = inet:port(L),
    gen_tcp:close(L),
    P.
