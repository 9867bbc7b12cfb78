/* init: the INIT frame, the first frame the master sends an executor (or a
 * pool's template) on fd 3: everything it needs before it can serve.
 *
 *   [FRAME_INIT, {"board": int, "template": bool, "threads": bool,
 *                 "preload": [str...], "spin_us": uint, "handback_ms": uint,
 *                 "name": str, "path": [str...], "allow_eval": bool,
 *                 "uid": int, "gid": int, "strict_names": bool, "venv": str,
 *                 "log_level": uint, "log_json": bool, "slow_call_ms": uint,
 *                 "capture_output": bool}]
 *
 *   board: the executor's board in the memfd on fd 4 (board.h); -1 for a
 *     template, whose children get theirs in their FORK frame
 *   template: this process is a pool's template (forkserver.h has its
 *     FORK and EXITED frames); its forked children inherit the INIT
 *   threads: thread mode (frame.h) instead of process mode
 *   preload: modules imported before READY (python.preload)
 *   spin_us, handback_ms: process mode's limits.spin_us and
 *     limits.handback_ms (serial.c)
 *   name: the executor's name in its log lines
 *   path: entries put first on sys.path (python.path)
 *   allow_eval: EVAL and EXEC frames are run, not refused
 *   strict_names: python.allow is set: a call's module:a.b may not pass
 *     through another module, nor name anything starting with _ (pyrun.c)
 *   uid, gid: the user and group the process takes before Python starts
 *     (the pool's user: and group:, the daemon being root); -1 for none
 *   venv: python.venv, the virtual environment Python starts in ("": none)
 *   log_level, log_json: the daemon's log settings (log.level, log.format;
 *     log.h's enum log_level), which the executor's own lines follow
 *   slow_call_ms: a call running this long has its Python stack sent to
 *     the master once (FRAME_SLOW; the pool's slow_call); 0: never
 *   capture_output: its fd 1 and 2 are pipes the master reads into its log
 *     (log.executor_output); a template gives each executor it forks pipes
 *     of their own and passes their read ends on with its socket
 *
 * The master packs it with init_pack, the executor reads it with
 * init_parse: one struct and one table of keys (init.c) for both ends, so
 * the two cannot drift apart. */
#ifndef PYRPOOL_INIT_H
#define PYRPOOL_INIT_H

#include <stdbool.h>
#include <stddef.h>

#include <msgpack.h>

struct frame_init {
    char name[128];
    char **path;
    size_t npath;
    char **preload;
    size_t npreload;
    bool allow_eval;
    bool threads;
    bool template;
    unsigned handback_ms;
    unsigned spin_us;
    int board;
    int uid, gid;   /* -1: keep the daemon's */
    bool strict_names;
    char venv[4096];
    unsigned log_level; /* enum log_level */
    bool log_json;
    unsigned slow_call_ms; /* 0: off */
    bool capture_output;
};

/* Appends one whole FRAME_INIT frame (frame.h's prefix included) to sb.
 * Reads init only: path and preload are borrowed (the master points them
 * at its config's arrays) and stay the caller's. */
void init_pack(msgpack_sbuffer *sb, const struct frame_init *init);

/* Reads the body of a FRAME_INIT frame (after its prefix) into init.
 * Fields whose key the body lacks keep the values init had (the caller's
 * defaults); path and preload start empty. The arrays and strings it
 * stores in path and preload are its own copies, NULL-terminated, which
 * init_free releases. A negative board, or one past INT32_MAX, is read as
 * -1. Returns 0, or -1 for anything else than a FRAME_INIT array holding a
 * map of known keys with the types above, uints fitting an unsigned
 * (nothing is left allocated then). */
int init_parse(const char *body, size_t len, struct frame_init *init);

/* Releases what init_parse allocated and empties path and preload. Only
 * for a struct init_parse filled: one filled for init_pack borrows its
 * arrays. */
void init_free(struct frame_init *init);

#endif
