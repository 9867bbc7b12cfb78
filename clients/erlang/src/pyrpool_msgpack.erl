%% MessagePack encoder and decoder: every type of the spec.
%%
%% Erlang -> MessagePack (encode/1, pack/1):
%%   integer                       the smallest int encoding (-2^63 .. 2^64-1)
%%   float                         float64
%%   binary                        str
%%   {bytes, Binary}               bin
%%   true | false                  bool
%%   none | undefined              nil
%%   infinity | neg_infinity | nan the float64 specials (Erlang has no such floats)
%%   other atoms                   str (the atom's UTF-8 name)
%%   list, tuple                   array
%%   map                           map
%%   {ext, Type, Data}             ext (Type -128..127)
%% MessagePack -> Erlang (decode/1, unpack/1):
%%   nil -> none, bool -> true | false, int -> integer,
%%   float32/float64 -> float (or infinity | neg_infinity | nan),
%%   str -> binary, bin -> {bytes, Binary}, array -> list, map -> map,
%%   ext -> {ext, Type, Data}.
%% proto/erlang-types.md is the table, with the reasons.
-module(pyrpool_msgpack).

-export([encode/1, pack/1, decode/1, unpack/1, scan/2]).
-export_type([scan_state/0]).

-opaque scan_state() :: {non_neg_integer(), binary(), [non_neg_integer()], non_neg_integer()}.

-define(MAX_DEPTH, 512).

%% ---------------------------------------------------------------- encode --

%% Raises error({unencodable, Term}) for a term outside the mapping.
-spec encode(term()) -> iodata().
encode(Term) -> enc(Term).

-spec pack(term()) -> binary().
pack(Term) -> iolist_to_binary(enc(Term)).

enc(B) when is_binary(B) -> enc_str(B);
enc(I) when is_integer(I) -> enc_int(I);
enc(F) when is_float(F) -> <<16#cb, F:64/float>>;
enc(true) -> <<16#c3>>;
enc(false) -> <<16#c2>>;
enc(none) -> <<16#c0>>;
enc(undefined) -> <<16#c0>>;
enc(infinity) -> <<16#cb, 16#7ff0000000000000:64>>;
enc(neg_infinity) -> <<16#cb, 16#fff0000000000000:64>>;
enc(nan) -> <<16#cb, 16#7ff8000000000000:64>>;
enc(A) when is_atom(A) -> enc_str(atom_to_binary(A, utf8));
enc(L) when is_list(L) -> enc_list(L, 0, []);
enc(M) when is_map(M) ->
    [map_hdr(map_size(M)) | [[enc(K) | enc(V)] || {K, V} <- maps:to_list(M)]];
enc({bytes, B}) when is_binary(B) -> enc_bin(B);
enc({ext, T, D}) when is_integer(T), T >= -128, T =< 127, is_binary(D) -> enc_ext(T, D);
enc(T) when is_tuple(T) -> enc_list(tuple_to_list(T), 0, []);
enc(Other) -> error({unencodable, Other}).

enc_list([H | T], N, Acc) -> enc_list(T, N + 1, [enc(H) | Acc]);
enc_list([], N, Acc) -> [arr_hdr(N) | lists:reverse(Acc)];
enc_list(Improper, _, _) -> error({unencodable, Improper}).

enc_int(I) when I >= 0, I < 128 -> <<I>>;
enc_int(I) when I < 0, I >= -32 -> <<I:8/signed>>;
enc_int(I) when I >= 0, I < 16#100 -> <<16#cc, I>>;
enc_int(I) when I >= 0, I < 16#10000 -> <<16#cd, I:16>>;
enc_int(I) when I >= 0, I < 16#100000000 -> <<16#ce, I:32>>;
enc_int(I) when I >= 0, I < 16#10000000000000000 -> <<16#cf, I:64>>;
enc_int(I) when I < 0, I >= -16#80 -> <<16#d0, I:8/signed>>;
enc_int(I) when I < 0, I >= -16#8000 -> <<16#d1, I:16/signed>>;
enc_int(I) when I < 0, I >= -16#80000000 -> <<16#d2, I:32/signed>>;
enc_int(I) when I < 0, I >= -16#8000000000000000 -> <<16#d3, I:64/signed>>;
enc_int(I) -> error({unencodable, I}).

enc_str(B) ->
    case byte_size(B) of
        N when N < 32 -> [<<(16#a0 bor N)>>, B];
        N when N < 16#100 -> [<<16#d9, N>>, B];
        N when N < 16#10000 -> [<<16#da, N:16>>, B];
        N when N < 16#100000000 -> [<<16#db, N:32>>, B];
        _ -> error({unencodable, too_long})
    end.

enc_bin(B) ->
    case byte_size(B) of
        N when N < 16#100 -> [<<16#c4, N>>, B];
        N when N < 16#10000 -> [<<16#c5, N:16>>, B];
        N when N < 16#100000000 -> [<<16#c6, N:32>>, B];
        _ -> error({unencodable, too_long})
    end.

enc_ext(T, D) ->
    case byte_size(D) of
        1 -> [<<16#d4, T:8/signed>>, D];
        2 -> [<<16#d5, T:8/signed>>, D];
        4 -> [<<16#d6, T:8/signed>>, D];
        8 -> [<<16#d7, T:8/signed>>, D];
        16 -> [<<16#d8, T:8/signed>>, D];
        N when N < 16#100 -> [<<16#c7, N, T:8/signed>>, D];
        N when N < 16#10000 -> [<<16#c8, N:16, T:8/signed>>, D];
        N when N < 16#100000000 -> [<<16#c9, N:32, T:8/signed>>, D];
        _ -> error({unencodable, too_long})
    end.

arr_hdr(N) when N < 16 -> <<(16#90 bor N)>>;
arr_hdr(N) when N < 16#10000 -> <<16#dc, N:16>>;
arr_hdr(N) when N < 16#100000000 -> <<16#dd, N:32>>;
arr_hdr(_) -> error({unencodable, too_long}).

map_hdr(N) when N < 16 -> <<(16#80 bor N)>>;
map_hdr(N) when N < 16#10000 -> <<16#de, N:16>>;
map_hdr(N) when N < 16#100000000 -> <<16#df, N:32>>;
map_hdr(_) -> error({unencodable, too_long}).

%% ---------------------------------------------------------------- decode --

%% Decodes the first object of Bin. {more, N}: Bin is the start of an
%% object that needs at least N bytes in all (N > byte_size(Bin)).
-spec decode(binary()) -> {ok, term(), binary()} | {more, pos_integer()} | {error, term()}.
decode(Bin) when is_binary(Bin) ->
    try d(Bin, 0) of
        {T, Rest} -> {ok, T, Rest}
    catch
        throw:{more, Need} -> {more, byte_size(Bin) + Need};
        throw:{bad, Why} -> {error, Why}
    end.

%% Decodes a binary that holds exactly one object.
-spec unpack(binary()) -> {ok, term()} | {error, term()}.
unpack(Bin) ->
    case decode(Bin) of
        {ok, T, <<>>} -> {ok, T};
        {ok, _, Rest} -> {error, {trailing_bytes, byte_size(Rest)}};
        {more, _} -> {error, incomplete};
        {error, _} = E -> E
    end.

%% d(Bin, Depth) -> {Term, Rest}; throws {more, AtLeastThisManyMoreBytes}
%% or {bad, Reason}.
d(_, Depth) when Depth > ?MAX_DEPTH -> throw({bad, too_deep});
d(<<0:1, I:7, R/binary>>, _) -> {I, R};
d(<<16#c0, R/binary>>, _) -> {none, R};
d(<<16#c2, R/binary>>, _) -> {false, R};
d(<<16#c3, R/binary>>, _) -> {true, R};
d(<<2#101:3, N:5, R/binary>>, _) -> raw(N, R, str);
d(<<2#1001:4, N:4, R/binary>>, D) -> arr(N, R, D + 1, []);
d(<<2#1000:4, N:4, R/binary>>, D) -> map(N, R, D + 1, []);
d(<<I:8/signed, R/binary>>, _) when I >= -32 -> {I, R};
d(<<16#cc, I:8, R/binary>>, _) -> {I, R};
d(<<16#cd, I:16, R/binary>>, _) -> {I, R};
d(<<16#ce, I:32, R/binary>>, _) -> {I, R};
d(<<16#cf, I:64, R/binary>>, _) -> {I, R};
d(<<16#d0, I:8/signed, R/binary>>, _) -> {I, R};
d(<<16#d1, I:16/signed, R/binary>>, _) -> {I, R};
d(<<16#d2, I:32/signed, R/binary>>, _) -> {I, R};
d(<<16#d3, I:64/signed, R/binary>>, _) -> {I, R};
d(<<16#ca, F:4/binary, R/binary>>, _) -> {float32(F), R};
d(<<16#cb, F:8/binary, R/binary>>, _) -> {float64(F), R};
d(<<16#d9, N:8, R/binary>>, _) -> raw(N, R, str);
d(<<16#da, N:16, R/binary>>, _) -> raw(N, R, str);
d(<<16#db, N:32, R/binary>>, _) -> raw(N, R, str);
d(<<16#c4, N:8, R/binary>>, _) -> raw(N, R, bin);
d(<<16#c5, N:16, R/binary>>, _) -> raw(N, R, bin);
d(<<16#c6, N:32, R/binary>>, _) -> raw(N, R, bin);
d(<<16#dc, N:16, R/binary>>, D) -> arr(N, R, D + 1, []);
d(<<16#dd, N:32, R/binary>>, D) -> arr(N, R, D + 1, []);
d(<<16#de, N:16, R/binary>>, D) -> map(N, R, D + 1, []);
d(<<16#df, N:32, R/binary>>, D) -> map(N, R, D + 1, []);
d(<<16#d4, T:8/signed, R/binary>>, _) -> ext(1, T, R);
d(<<16#d5, T:8/signed, R/binary>>, _) -> ext(2, T, R);
d(<<16#d6, T:8/signed, R/binary>>, _) -> ext(4, T, R);
d(<<16#d7, T:8/signed, R/binary>>, _) -> ext(8, T, R);
d(<<16#d8, T:8/signed, R/binary>>, _) -> ext(16, T, R);
d(<<16#c7, N:8, T:8/signed, R/binary>>, _) -> ext(N, T, R);
d(<<16#c8, N:16, T:8/signed, R/binary>>, _) -> ext(N, T, R);
d(<<16#c9, N:32, T:8/signed, R/binary>>, _) -> ext(N, T, R);
d(<<16#c1, _/binary>>, _) -> throw({bad, {invalid_byte, 16#c1}});
d(<<>>, _) -> throw({more, 1});
d(<<Tag, R/binary>>, _) -> throw({more, header_size(Tag) - 1 - byte_size(R)}).

%% A header's size, its tag byte included (the only way a clause above
%% fails to match a non-empty binary is a cut header).
header_size(T) when T =:= 16#cc; T =:= 16#d0; T =:= 16#d9; T =:= 16#c4;
                    T >= 16#d4, T =< 16#d8 -> 2;
header_size(T) when T =:= 16#cd; T =:= 16#d1; T =:= 16#da; T =:= 16#c5;
                    T =:= 16#dc; T =:= 16#de; T =:= 16#c7 -> 3;
header_size(16#c8) -> 4;
header_size(T) when T =:= 16#ce; T =:= 16#d2; T =:= 16#ca; T =:= 16#db; T =:= 16#c6;
                    T =:= 16#dd; T =:= 16#df -> 5;
header_size(16#c9) -> 6;
header_size(T) when T =:= 16#cf; T =:= 16#d3; T =:= 16#cb -> 9.

raw(N, R, Kind) ->
    case R of
        <<B:N/binary, Rest/binary>> when Kind =:= str -> {B, Rest};
        <<B:N/binary, Rest/binary>> -> {{bytes, B}, Rest};
        _ -> throw({more, N - byte_size(R)})
    end.

ext(N, T, R) ->
    case R of
        <<B:N/binary, Rest/binary>> -> {{ext, T, B}, Rest};
        _ -> throw({more, N - byte_size(R)})
    end.

arr(0, R, _, Acc) -> {lists:reverse(Acc), R};
arr(N, R, D, Acc) ->
    {V, R1} = d(R, D),
    arr(N - 1, R1, D, [V | Acc]).

map(0, R, _, Acc) -> {maps:from_list(Acc), R};
map(N, R, D, Acc) ->
    {K, R1} = d(R, D),
    {V, R2} = d(R1, D),
    map(N - 1, R2, D, [{K, V} | Acc]).

float32(<<0:1, 255:8, 0:23>>) -> infinity;
float32(<<1:1, 255:8, 0:23>>) -> neg_infinity;
float32(<<_:1, 255:8, _:23>>) -> nan;
float32(<<F:32/float>>) -> F.

float64(<<0:1, 2047:11, 0:52>>) -> infinity;
float64(<<1:1, 2047:11, 0:52>>) -> neg_infinity;
float64(<<_:1, 2047:11, _:52>>) -> nan;
float64(<<F:64/float>>) -> F.

%% ------------------------------------------------------------------ scan --

%% Finds where an object ends in a stream that arrives in pieces, without
%% building it and without joining the pieces: scan(Piece, State) reads each
%% piece once (a large object is then joined and decoded once, instead of
%% decoded again from its start at every piece). State: `new` at the
%% object's first piece, then the one from {more, State}. {done, N}: the
%% object ends after the first N bytes of this piece.
-spec scan(binary(), new | scan_state()) ->
          {done, non_neg_integer()} | {more, scan_state()} | {error, term()}.
scan(Piece, new) -> scan(Piece, {0, <<>>, [1], 0});
scan(Piece, {Skip, <<>>, Stack, D}) when Skip > byte_size(Piece) ->
    {more, {Skip - byte_size(Piece), <<>>, Stack, D}};
scan(Piece, {Skip, <<>>, Stack, D}) ->
    sc(Piece, Skip, Stack, D, 0);
scan(Piece, {0, Cut, Stack, D}) ->
    %% a header cut by the end of the last piece: a few bytes, put in front
    sc(<<Cut/binary, Piece/binary>>, 0, Stack, D, byte_size(Cut)).

%% Stack: the items still to pass at each open level, innermost first.
%% Extra: bytes at the start of Bin that came from the last piece.
sc(_, Off, [], _, Extra) -> {done, Off - Extra};
sc(Bin, Off, [0 | S], D, X) -> sc(Bin, Off, S, D - 1, X);
sc(Bin, Off, [N | S], D, X) ->
    case item(Bin, Off) of
        {error, _} = E -> E;
        more -> {more, {0, binary:part(Bin, Off, byte_size(Bin) - Off), [N | S], D}};
        {Next, 0} when Next > byte_size(Bin) -> {more, {Next - byte_size(Bin), <<>>, [N - 1 | S], D}};
        {Next, 0} -> sc(Bin, Next, [N - 1 | S], D, X);
        {_, _} when D >= ?MAX_DEPTH -> {error, too_deep};
        {Next, Count} -> sc(Bin, Next, [Count, N - 1 | S], D + 1, X)
    end.

%% {where the item's own bytes end (maybe past the end of Bin), how many
%% items it holds}, or more when its header is cut.
item(Bin, Off) ->
    case Bin of
        <<_:Off/binary, T, R/binary>> -> item(T, R, Off + 1);
        _ -> more
    end.

item(T, _, P) when T < 16#80; T >= 16#e0; T =:= 16#c0; T =:= 16#c2; T =:= 16#c3 -> {P, 0};
item(T, _, P) when T =< 16#8f -> {P, 2 * (T band 15)};
item(T, _, P) when T =< 16#9f -> {P, T band 15};
item(T, _, P) when T =< 16#bf -> {P + (T band 31), 0};
item(T, _, P) when T =:= 16#cc; T =:= 16#d0 -> {P + 1, 0};
item(T, _, P) when T =:= 16#cd; T =:= 16#d1 -> {P + 2, 0};
item(T, _, P) when T =:= 16#ce; T =:= 16#d2; T =:= 16#ca -> {P + 4, 0};
item(T, _, P) when T =:= 16#cf; T =:= 16#d3; T =:= 16#cb -> {P + 8, 0};
item(T, R, P) when T =:= 16#d9; T =:= 16#c4 ->
    case R of <<L:8, _/binary>> -> {P + 1 + L, 0}; _ -> more end;
item(T, R, P) when T =:= 16#da; T =:= 16#c5 ->
    case R of <<L:16, _/binary>> -> {P + 2 + L, 0}; _ -> more end;
item(T, R, P) when T =:= 16#db; T =:= 16#c6 ->
    case R of <<L:32, _/binary>> -> {P + 4 + L, 0}; _ -> more end;
item(16#dc, R, P) -> case R of <<N:16, _/binary>> -> {P + 2, N}; _ -> more end;
item(16#dd, R, P) -> case R of <<N:32, _/binary>> -> {P + 4, N}; _ -> more end;
item(16#de, R, P) -> case R of <<N:16, _/binary>> -> {P + 2, 2 * N}; _ -> more end;
item(16#df, R, P) -> case R of <<N:32, _/binary>> -> {P + 4, 2 * N}; _ -> more end;
item(16#d4, _, P) -> {P + 2, 0};
item(16#d5, _, P) -> {P + 3, 0};
item(16#d6, _, P) -> {P + 5, 0};
item(16#d7, _, P) -> {P + 9, 0};
item(16#d8, _, P) -> {P + 17, 0};
item(16#c7, R, P) -> case R of <<L:8, _/binary>> -> {P + 2 + L, 0}; _ -> more end;
item(16#c8, R, P) -> case R of <<L:16, _/binary>> -> {P + 3 + L, 0}; _ -> more end;
item(16#c9, R, P) -> case R of <<L:32, _/binary>> -> {P + 5 + L, 0}; _ -> more end;
item(T, _, _) -> {error, {invalid_byte, T}}.
