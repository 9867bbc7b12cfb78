%% The codec on its own (every type and width, streaming, bad input) and the
%% shared protocol vectors (proto/vectors): every response: line decoded,
%% error answers mapped to {Type, ...}, the type-* values re-encoded to the
%% daemon's bytes; and every vector with requests run against a real daemon.
-module(pyrpool_msgpack_tests).
-include_lib("eunit/include/eunit.hrl").

-define(M, pyrpool_msgpack).

hex(S) -> binary:decode_hex(iolist_to_binary(string:replace(S, " ", "", all))).

rt(Term, Hex) ->
    Bytes = hex(Hex),
    ?assertEqual(Bytes, ?M:pack(Term)),
    ?assertEqual({ok, Term}, ?M:unpack(Bytes)).

widths_test_() ->
    [?_test(rt(0, "00")), ?_test(rt(127, "7f")), ?_test(rt(128, "cc 80")),
     ?_test(rt(255, "cc ff")), ?_test(rt(256, "cd 01 00")), ?_test(rt(65535, "cd ff ff")),
     ?_test(rt(65536, "ce 00 01 00 00")), ?_test(rt(16#ffffffff, "ce ff ff ff ff")),
     ?_test(rt(16#100000000, "cf 00 00 00 01 00 00 00 00")),
     ?_test(rt(16#ffffffffffffffff, "cf ff ff ff ff ff ff ff ff")),
     ?_test(rt(-1, "ff")), ?_test(rt(-32, "e0")), ?_test(rt(-33, "d0 df")),
     ?_test(rt(-128, "d0 80")), ?_test(rt(-129, "d1 ff 7f")), ?_test(rt(-32768, "d1 80 00")),
     ?_test(rt(-32769, "d2 ff ff 7f ff")), ?_test(rt(-16#80000000, "d2 80 00 00 00")),
     ?_test(rt(-16#80000001, "d3 ff ff ff ff 7f ff ff ff")),
     ?_test(rt(-16#8000000000000000, "d3 80 00 00 00 00 00 00 00")),
     ?_assertError({unencodable, _}, ?M:pack(16#10000000000000000)),
     ?_assertError({unencodable, _}, ?M:pack(-16#8000000000000001)),
     %% wide encodings of small values decode to the same integer
     ?_assertEqual({ok, 5}, ?M:unpack(hex("cc 05"))), ?_assertEqual({ok, 5}, ?M:unpack(hex("cd 00 05"))),
     ?_assertEqual({ok, 5}, ?M:unpack(hex("ce 00 00 00 05"))),
     ?_assertEqual({ok, 5}, ?M:unpack(hex("cf 00 00 00 00 00 00 00 05"))),
     ?_assertEqual({ok, -1}, ?M:unpack(hex("d0 ff"))), ?_assertEqual({ok, -1}, ?M:unpack(hex("d1 ff ff"))),
     ?_assertEqual({ok, -1}, ?M:unpack(hex("d2 ff ff ff ff"))),
     ?_assertEqual({ok, -1}, ?M:unpack(hex("d3 ff ff ff ff ff ff ff ff")))].

scalars_test_() ->
    [?_test(rt(none, "c0")), ?_test(rt(true, "c3")), ?_test(rt(false, "c2")),
     ?_assertEqual(hex("c0"), ?M:pack(undefined)),
     ?_test(rt(1.5, "cb 3f f8 00 00 00 00 00 00")),
     ?_assertEqual({ok, 1.5}, ?M:unpack(hex("ca 3f c0 00 00"))),
     ?_test(rt(infinity, "cb 7f f0 00 00 00 00 00 00")),
     ?_test(rt(neg_infinity, "cb ff f0 00 00 00 00 00 00")),
     ?_test(rt(nan, "cb 7f f8 00 00 00 00 00 00")),
     ?_assertEqual({ok, infinity}, ?M:unpack(hex("ca 7f 80 00 00"))),
     ?_assertEqual({ok, neg_infinity}, ?M:unpack(hex("ca ff 80 00 00"))),
     ?_assertEqual({ok, nan}, ?M:unpack(hex("ca 7f c0 00 00"))),
     ?_assertEqual(hex("a3 61 62 63"), ?M:pack(abc))].

strings_test_() ->
    S = fun(N) -> binary:copy(<<"x">>, N) end,
    [?_test(rt(<<>>, "a0")), ?_test(rt(S(31), ["bf", lists:duplicate(31, "78")])),
     ?_assertEqual(<<16#d9, 32, (S(32))/binary>>, ?M:pack(S(32))),
     ?_assertEqual(<<16#d9, 255, (S(255))/binary>>, ?M:pack(S(255))),
     ?_assertEqual(<<16#da, 1, 0, (S(256))/binary>>, ?M:pack(S(256))),
     ?_assertEqual(<<16#db, 0, 1, 0, 0, (S(65536))/binary>>, ?M:pack(S(65536))),
     ?_assertEqual({ok, S(65536)}, ?M:unpack(?M:pack(S(65536)))),
     ?_test(rt({bytes, <<>>}, "c4 00")), ?_test(rt({bytes, <<0, 255>>}, "c4 02 00 ff")),
     ?_assertEqual(<<16#c5, 1, 0, (S(256))/binary>>, ?M:pack({bytes, S(256)})),
     ?_assertEqual(<<16#c6, 0, 1, 0, 0, (S(65536))/binary>>, ?M:pack({bytes, S(65536)})),
     ?_assertEqual({ok, {bytes, S(65536)}}, ?M:unpack(?M:pack({bytes, S(65536)})))].

containers_test_() ->
    L = fun(N) -> lists:seq(1, N) end,
    Mp = fun(N) -> maps:from_list([{I, I} || I <- L(N)]) end,
    [?_test(rt([], "90")), ?_test(rt([1, [2, []]], "92 01 92 02 90")),
     ?_assertEqual(hex("93 01 a1 61 c0"), ?M:pack({1, <<"a">>, none})),
     ?_assertEqual(hex("dc 00 10"), binary:part(?M:pack(L(16)), 0, 3)),
     ?_assertEqual(hex("dd 00 01 00 00"), binary:part(?M:pack(L(65536)), 0, 5)),
     ?_assertEqual({ok, L(65536)}, ?M:unpack(?M:pack(L(65536)))),
     ?_test(rt(#{}, "80")), ?_test(rt(#{1 => <<"a">>}, "81 01 a1 61")),
     ?_assertEqual(hex("de 00 10"), binary:part(?M:pack(Mp(16)), 0, 3)),
     ?_assertEqual(hex("df 00 01 00 00"), binary:part(?M:pack(Mp(65536)), 0, 5)),
     ?_assertEqual({ok, Mp(65536)}, ?M:unpack(?M:pack(Mp(65536)))),
     ?_assertEqual({ok, #{[1] => #{<<"k">> => none}}}, ?M:unpack(?M:pack(#{[1] => #{k => none}}))),
     ?_assertError({unencodable, _}, ?M:pack([1 | 2])),
     ?_assertError({unencodable, _}, ?M:pack(self()))].

ext_test_() ->
    E = fun(N) -> binary:copy(<<7>>, N) end,
    [?_test(rt({ext, 1, E(1)}, "d4 01 07")), ?_test(rt({ext, -1, E(2)}, "d5 ff 07 07")),
     ?_test(rt({ext, 2, E(4)}, ["d6 02", lists:duplicate(4, "07")])),
     ?_test(rt({ext, 3, E(8)}, ["d7 03", lists:duplicate(8, "07")])),
     ?_test(rt({ext, 4, E(16)}, ["d8 04", lists:duplicate(16, "07")])),
     ?_test(rt({ext, 5, E(3)}, "c7 03 05 07 07 07")), ?_test(rt({ext, 5, <<>>}, "c7 00 05")),
     ?_assertEqual(<<16#c8, 1, 0, 6, (E(256))/binary>>, ?M:pack({ext, 6, E(256)})),
     ?_assertEqual(<<16#c9, 0, 1, 0, 0, 6, (E(65536))/binary>>, ?M:pack({ext, 6, E(65536)})),
     ?_assertEqual({ok, {ext, 6, E(65536)}}, ?M:unpack(?M:pack({ext, 6, E(65536)})))].

%% Every prefix of a message is {more, N} with N a true lower bound, never
%% past the message's end; bad bytes are an error.
streaming_test() ->
    Msg = ?M:pack([1, 16#ffffffff, #{<<"type">> => <<"T">>, <<"traceback">> => none},
                   [1.5, -200, {bytes, <<1, 2, 3>>}, {ext, 1, <<9>>}, binary:copy(<<"y">>, 300)]]),
    Size = byte_size(Msg),
    [begin
         {more, N} = ?M:decode(binary:part(Msg, 0, K)),
         ?assert(N > K andalso N =< Size)
     end || K <- lists:seq(0, Size - 1)],
    ?assertEqual({ok, element(2, ?M:unpack(Msg)), <<1, 2>>}, ?M:decode(<<Msg/binary, 1, 2>>)),
    ?assertMatch({error, _}, ?M:decode(<<16#c1>>)),
    ?assertMatch({error, _}, ?M:unpack(<<1, 2>>)),
    Deep = lists:foldl(fun(_, Acc) -> [Acc] end, [], lists:seq(1, 1000)),
    ?assertMatch({error, too_deep}, ?M:decode(?M:pack(Deep))).

%% scan/2 finds the end of a message however it is cut into pieces: every
%% cut into two, every cut into one-byte pieces, with trailing bytes after.
scan_test_() ->
    Msgs = [?M:pack(T) || T <- [1, [], <<"abc">>, [1, 16#ffffffff, none, 4.0],
                                 #{<<"k">> => [{bytes, <<1, 2>>}, {ext, 5, <<1, 2, 3>>}], 2 => -300},
                                 [binary:copy(<<"z">>, 70000), {bytes, binary:copy(<<1>>, 300)}],
                                 {ext, 1, <<1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16>>},
                                 [[[[]]], #{}, 1.5, -(1 bsl 63), lists:seq(1, 20)]]],
    [?_test(scan_all_cuts(M)) || M <- Msgs].

scan_all_cuts(Msg) ->
    Size = byte_size(Msg),
    Tail = <<16#c0, 16#c0>>,
    ?assertEqual({done, Size}, ?M:scan(<<Msg/binary, Tail/binary>>, new)),
    [begin
         <<A:K/binary, B/binary>> = <<Msg/binary, Tail/binary>>,
         {more, S} = ?M:scan(A, new),
         ?assertEqual({done, Size - K}, ?M:scan(B, S))
     end || K <- lists:seq(0, Size - 1)],
    Bytes = [<<X>> || <<X>> <= Msg],
    {Last, Before} = lists:split(1, lists:reverse(Bytes)),
    S1 = lists:foldl(fun(P, St) -> {more, St1} = ?M:scan(P, St), St1 end, new, lists:reverse(Before)),
    ?assertEqual({done, 1}, ?M:scan(hd(Last), S1)),
    ?assertMatch({error, _}, ?M:scan(<<16#92, 1, 16#c1>>, new)).

%% ------------------------------------------------------------- vectors --

vectors_dir() -> os:getenv("PYRPOOL_VECTORS", "../../proto/vectors").

%% [{Name, [{Key, Value}]}] of every .vec file
vectors() ->
    Files = lists:sort(filelib:wildcard(filename:join(vectors_dir(), "*.vec"))),
    [{filename:basename(F, ".vec"), parse_vec(F)} || F <- Files].

parse_vec(F) ->
    {ok, B} = file:read_file(F),
    [begin [K, V] = binary:split(L, <<":">>), {K, string:trim(V)} end
     || L <- binary:split(B, <<"\n">>, [global]), L =/= <<>>, binary:first(L) =/= $#].

there_are_vectors_test() ->
    ?assert(length(vectors()) >= 60).

%% Each response: line decodes whole; an error answer maps to {Type, ...}
%% (an atom for the daemon's own types, the Python class name as a binary);
%% in the type-* and answer-* cases the value re-encodes to the same bytes
%% (maps: the same entries, as an Erlang map keeps no order; elsewhere the
%% msgid's width is the point of the case, and an integer keeps no width).
decode_vectors_test_() ->
    [{Name, ?_test(check_response(Name, hex(V)))}
     || {Name, Lines} <- vectors(), {<<"response">>, V} <- Lines].

check_response(Name, Bytes) ->
    {ok, Msg} = ?M:unpack(Bytes),
    [1, _Id, Err, Res] = Msg,
    case Err of
        none -> ok;
        _ ->
            ?assertEqual(none, Res),
            Reason = pyrpool_conn:error_reason(Err),
            ?assertEqual(expected_type(Name, Err), element(1, Reason)),
            ?assert(is_binary(element(2, Reason))),
            ?assert(is_binary(element(3, Reason)) orelse element(3, Reason) =:= none),
            case Name of
                "answer-map-error-index" -> ?assertMatch({_, _, _, 1}, Reason);
                _ -> ?assertEqual(3, tuple_size(Reason))
            end
    end,
    Again = ?M:pack(Msg),
    Exact = lists:prefix("type-", Name) orelse lists:prefix("answer-", Name),
    case has_big_map(Msg) of
        _ when not Exact -> ok;
        false -> ?assertEqual(Bytes, Again);
        true -> ?assertEqual(byte_size(Bytes), byte_size(Again)),
                ?assertEqual({ok, Msg}, ?M:unpack(Again))
    end.

%% The type the vector's error answer names, whatever its shape (map, or the
%% array and string shapes a connection may ask for in hello): an atom for
%% the daemon's own types, else the Python class name as a binary.
expected_type("answer-python-exception", Err) ->
    #{<<"type">> := T} = Err,
    false = is_atom(daemon_type(T)),
    T;
expected_type(_, #{<<"type">> := T}) -> daemon_type(T);
expected_type(_, [T, _, _]) -> daemon_type(T);
expected_type(_, S) when is_binary(S) -> [T, _] = binary:split(S, <<": ">>), daemon_type(T).

daemon_type(T) ->
    Known = [<<"BadRequest">>, <<"NoSuchMethod">>, <<"NoSuchPool">>, <<"Unauthorized">>,
             <<"Forbidden">>, <<"EncodeError">>, <<"Timeout">>, <<"Cancelled">>, <<"PoolExists">>,
             <<"PoolDegraded">>, <<"Quarantined">>, <<"Overloaded">>, <<"WorkerCrashed">>,
             <<"ReloadFailed">>, <<"StateNotSaved">>, <<"ShuttingDown">>],
    case lists:member(T, Known) of
        true -> binary_to_atom(T, utf8);
        false -> T
    end.

has_big_map(M) when is_map(M) -> map_size(M) > 1 orelse lists:any(fun has_big_map/1, maps:values(M));
has_big_map(L) when is_list(L) -> lists:any(fun has_big_map/1, L);
has_big_map(_) -> false.

%% The vectors with requests, sent as they are to a real daemon on the
%% defaults the vectors assume (pools default and io of one executor each,
%% eval off, a Unix listener with admin), each on its own connection.
live_vectors_test_() ->
    Live = [V || V = {_, Lines} <- vectors(), lists:keymember(<<"request">>, 1, Lines)],
    {setup,
     fun() -> pyrpool_test_daemon:start(#{pools => [{default, "{size: 1}"}, {io, "{size: 1}"}]}) end,
     fun(D) -> 0 = pyrpool_test_daemon:stop(D) end,
     fun(D) ->
             [?_assert(length(Live) >= 40)
              | [{Name, {timeout, 30, ?_test(run_live(D, Lines))}} || {Name, Lines} <- Live]]
     end}.

run_live(D, Lines) ->
    "unix:" ++ Path = pyrpool_test_daemon:address(D),
    {ok, S} = gen_tcp:connect({local, Path}, 0, [local, binary, {active, false}], 5000),
    ok = gen_tcp:send(S, [hex(V) || {<<"request">>, V} <- Lines]),
    Expect = [E || E = {K, _} <- Lines, K =/= <<"request">>],
    try
        lists:foldl(fun(E, Buf) -> expect_one(S, E, Buf) end, <<>>, Expect)
    after
        gen_tcp:close(S)
    end.

%% The next message: {Bytes, Rest}
next_message(S, Buf) ->
    case ?M:decode(Buf) of
        {ok, _, Rest} -> {binary:part(Buf, 0, byte_size(Buf) - byte_size(Rest)), Rest};
        {more, _} ->
            {ok, Data} = gen_tcp:recv(S, 0, 15000),
            next_message(S, <<Buf/binary, Data/binary>>)
    end.

expect_one(S, {Kind, V}, Buf) ->
    {Bytes, Rest} = next_message(S, Buf),
    {ok, [1, Id, Err, Res]} = ?M:unpack(Bytes),
    case Kind of
        <<"response">> -> ?assertEqual(hex(V), Bytes);
        <<"answer">> -> ?assertEqual({msgid(V), none}, {Id, Err});
        <<"error">> ->
            [IdS, TypeS] = binary:split(V, <<" ">>),
            ?assertEqual(msgid(IdS), Id),
            ?assertEqual(none, Res),
            ?assertEqual(daemon_type(TypeS), element(1, pyrpool_conn:error_reason(Err)))
    end,
    Rest.

msgid(<<"nil">>) -> none;
msgid(B) -> binary_to_integer(B).
