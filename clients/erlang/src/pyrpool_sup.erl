%% The application's supervisor: the default connection (to the address in
%% the application environment), and one connection per address asked for
%% with pyrpool:connect/1,2.
-module(pyrpool_sup).
-behaviour(supervisor).
-export([start_link/0, init/1, start_connection/2, stop_connection/1]).

-define(DEFAULT_ADDRESS, "unix:/run/pyrpoold/pyrpoold.sock").

start_link() -> supervisor:start_link({local, ?MODULE}, ?MODULE, []).

init([]) ->
    Env = maps:from_list(application:get_all_env(pyrpool)),
    Address = maps:get(address, Env, ?DEFAULT_ADDRESS),
    Opts = maps:with([token, token_file, connect_timeout_ms, backoff_min_ms, backoff_max_ms,
                      send_timeout_ms, client_name], Env),
    Default = #{id => {conn, pyrpool_conn:parse_address(Address)},
                start => {pyrpool_conn, start_link,
                          [pyrpool:default_connection(), Address, Opts]}},
    {ok, {#{strategy => one_for_one, intensity => 10, period => 10}, [Default]}}.

start_connection(Address, Opts) ->
    Id = {conn, pyrpool_conn:parse_address(Address)},
    Spec = #{id => Id, start => {pyrpool_conn, start_link, [Address, Opts]}},
    case supervisor:start_child(?MODULE, Spec) of
        {ok, Pid} -> {ok, Pid};
        {error, {already_started, Pid}} -> {ok, Pid};
        {error, already_present} ->
            case supervisor:restart_child(?MODULE, Id) of
                {error, running} -> start_connection(Address, Opts);
                Other -> Other
            end;
        Error -> Error
    end.

stop_connection(Address) ->
    Id = {conn, pyrpool_conn:parse_address(Address)},
    _ = supervisor:terminate_child(?MODULE, Id),
    case supervisor:delete_child(?MODULE, Id) of
        ok -> ok;
        {error, not_found} -> ok;
        Error -> Error
    end.
