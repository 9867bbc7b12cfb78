#!/usr/bin/env escript
%% -*- erlang -*-
%% The Erlang client's throughput: math.sqrt(16) with a window of calls in
%% flight on one connection (cast, then await the oldest and cast again),
%% for a number of seconds after a warm-up. Prints one line:
%%   calls_per_s=<float>
%% Usage: escript bench/client_erlang.erl SOCKET [SECONDS (5)] [INFLIGHT (64)]
%%        [--profile eprof|fprof]   (profile a shorter run of this process
%%                                   and the connection's, report on stderr)
%% Needs the client built: make erlang (clients/erlang/ebin).
-mode(compile).

main(Args) ->
    {Pos, Profile} = case lists:splitwith(fun(A) -> A =/= "--profile" end, Args) of
                         {P, ["--profile", Tool]} -> {P, list_to_atom(Tool)};
                         {P, []} -> {P, none}
                     end,
    {Sock, Secs, Window} = case Pos of
                               [S] -> {S, 5.0, 64};
                               [S, T] -> {S, num(T), 64};
                               [S, T, W] -> {S, num(T), list_to_integer(W)};
                               _ -> usage()
                           end,
    Root = filename:dirname(filename:dirname(filename:absname(escript:script_name()))),
    Ebin = filename:join([Root, "clients", "erlang", "ebin"]),
    filelib:is_regular(filename:join(Ebin, "pyrpool_conn.beam"))
        orelse fail("the client is not built: run make erlang"),
    true = code:add_patha(Ebin),
    {ok, C} = pyrpool_conn:start_link("unix:" ++ Sock, #{}),
    wait_connected(C, 50),
    {ok, 4.0} = pyrpool_conn:call(C, math, sqrt, [16]),
    _ = run(C, Window, 1.0),                      % warm-up
    {Cpu0, _} = statistics(runtime),
    Calls = case Profile of
                none -> run(C, Window, Secs);
                Prof -> profile(Prof, C, Window, Secs)
            end,
    {Cpu1, _} = statistics(runtime),
    io:format("calls_per_s=~.1f~n", [Calls / Secs]),
    io:format(standard_error, "client_cpu_us_per_call=~.2f~n", [(Cpu1 - Cpu0) * 1000 / max(Calls, 1)]),
    halt(0).

num(S) ->
    try list_to_float(S) catch error:badarg -> float(list_to_integer(S)) end.

usage() -> fail("usage: client_erlang.erl SOCKET [SECONDS] [INFLIGHT] [--profile eprof|fprof]").

fail(Msg) ->
    io:format(standard_error, "client_erlang: ~s~n", [Msg]),
    halt(2).

wait_connected(_, 0) -> fail("cannot connect to the daemon");
wait_connected(C, N) ->
    case maps:get(connected, pyrpool_conn:info(C)) of
        true -> ok;
        false -> timer:sleep(100), wait_connected(C, N - 1)
    end.

%% The number of calls answered within Secs, with Window in flight.
run(C, Window, Secs) ->
    Deadline = erlang:monotonic_time(microsecond) + round(Secs * 1000000),
    Q = queue:from_list([cast(C) || _ <- lists:seq(1, Window)]),
    loop(C, Q, Deadline, 0).

cast(C) -> pyrpool_conn:cast(C, math, sqrt, [16]).

loop(C, Q, Deadline, N) ->
    {{value, Ref}, Q1} = queue:out(Q),
    {ok, 4.0} = pyrpool_conn:await(Ref, 30000),
    case erlang:monotonic_time(microsecond) < Deadline of
        true -> loop(C, queue:in(cast(C), Q1), Deadline, N + 1);
        false ->
            [{ok, 4.0} = pyrpool_conn:await(R, 30000) || R <- queue:to_list(Q1)],
            N + 1
    end.

profile(eprof, C, Window, Secs) ->
    {ok, _} = eprof:start(),
    profiling = eprof:start_profiling([self(), C]),
    N = run(C, Window, Secs),
    profiling_stopped = eprof:stop_profiling(),
    {ok, Dev} = file:open("/dev/stderr", [write]),
    eprof:log(Dev),
    eprof:analyze(total),
    N;
profile(fprof, C, Window, Secs) ->
    ok = fprof:trace([start, {procs, [self(), C]}]),
    N = run(C, Window, Secs),
    ok = fprof:trace(stop),
    ok = fprof:profile(),
    ok = fprof:analyse([{dest, "/dev/stderr"}, {totals, true}, {details, false}, {sort, own}]),
    N.
