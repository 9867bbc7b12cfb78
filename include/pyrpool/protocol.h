/* protocol: the names a client sees on the wire (proto/PROTOCOL.md), each
 * defined once: the methods the daemon answers, and the type of every error
 * the daemon itself sends (errors raised in Python carry the exception's
 * own type name). The master, the executor and client code use these. */
#ifndef PYRPOOL_PROTOCOL_H
#define PYRPOOL_PROTOCOL_H

/* Calls: run on a pool's executors. "module.function" is a call too. */
#define METHOD_CALL "call"
#define METHOD_MAP "map"
#define METHOD_EVAL "eval"
#define METHOD_EXEC "exec"
#define METHOD_CANCEL "cancel" /* a notification: [2, "cancel", [msgid]] */
#define METHOD_AUTH "auth"     /* [token]: a TCP connection's first request */
#define METHOD_HELLO "hello"   /* [client_name?, client_version?, options?]: the handshake */

/* The protocol version hello answers: bumped on an incompatible change. */
#define PROTOCOL_VERSION 1

/* The shape of error answers on a connection: a listener's `errors` and
 * hello's options choose it (proto/PROTOCOL.md, "Errors"). */
enum error_shape {
    ERRORS_MAP,    /* {"type", "message", "traceback"[, "index"]} */
    ERRORS_STRING, /* "Type: message", then a newline and the traceback if any */
    ERRORS_ARRAY,  /* [type, message, traceback] */
};
#define ERRORS_MAP_NAME "map"
#define ERRORS_STRING_NAME "string"
#define ERRORS_ARRAY_NAME "array"

/* Admin methods: answered by the master. */
#define METHOD_REGISTER_POOL "register_pool"
#define METHOD_UNREGISTER_POOL "unregister_pool"
#define METHOD_LOOKUP_POOL "lookup_pool"
#define METHOD_LIST_POOL_REGISTRATIONS "list_pool_registrations"
#define METHOD_POOLS "pools"
#define METHOD_START_POOL "start_pool"
#define METHOD_STOP_POOL "stop_pool"
#define METHOD_RESIZE_POOL "resize_pool"
#define METHOD_POOL_STARTED "pool_started"
#define METHOD_NUM_CONTEXTS "num_contexts"
#define METHOD_CONTEXTS "contexts"
#define METHOD_GET_CONTEXT "get_context"
#define METHOD_PING "ping"
#define METHOD_STATS "stats"
#define METHOD_RELOAD "reload"   /* []: what SIGHUP does, answered when it ends */

/* Error types ({"type": ..., "message": ..., "traceback": ...}). */
#define ERROR_BAD_REQUEST "BadRequest"         /* malformed, or bad params */
#define ERROR_NO_SUCH_METHOD "NoSuchMethod"
#define ERROR_FORBIDDEN "Forbidden"           /* not allowed by the config */
#define ERROR_UNAUTHORIZED "Unauthorized"     /* no auth, or a wrong token: then closed */
#define ERROR_NO_SUCH_POOL "NoSuchPool"
#define ERROR_POOL_EXISTS "PoolExists"
#define ERROR_POOL_DEGRADED "PoolDegraded"     /* its executors fail to start */
#define ERROR_OVERLOADED "Overloaded"          /* the pool's max_queue is full */
#define ERROR_TIMEOUT "Timeout"                /* opts.timeout passed */
#define ERROR_CANCELLED "Cancelled"            /* the client cancelled it */
#define ERROR_WORKER_CRASHED "WorkerCrashed"   /* its executor died under it */
#define ERROR_QUARANTINED "Quarantined"        /* its function keeps crashing executors */
#define ERROR_SHUTTING_DOWN "ShuttingDown"
#define ERROR_ENCODE "EncodeError"             /* a result MessagePack cannot carry */
#define ERROR_RELOAD_FAILED "ReloadFailed"     /* reload: the file or its executors refused */
#define ERROR_STATE_NOT_SAVED "StateNotSaved"  /* state_file cannot be written: the change is not made */

/* Not sent to clients: how a pool tells a reload that an executor of its
 * new generation died before READY (pool_when_ready). */
#define ERROR_START_FAILED "StartFailed"

#endif
