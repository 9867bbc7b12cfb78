/* child: spawning a pyrpool-executor, its INIT frame, its frames. See child.h. */
#include "child.h"

#include <string.h>

#include "board.h"
#include "daemon.h"
#include "frame.h"
#include "pool.h"
#include "rpc.h"

void child_pack_init(msgpack_sbuffer *sb, const struct pool *p, const char *name, int board)
{
    bool template = board < 0;
    const struct config *cfg = p->cfg;
    msgpack_packer pk;
    size_t start, i;

    msgpack_packer_init(&pk, sb, msgpack_sbuffer_write);
    start = frame_begin(sb);
    msgpack_pack_array(&pk, 2);
    msgpack_pack_uint8(&pk, FRAME_INIT);
    msgpack_pack_map(&pk, 9);
    rpc_pack_cstr(&pk, "board");
    msgpack_pack_int(&pk, board);
    rpc_pack_cstr(&pk, "template");
    if (template)
        msgpack_pack_true(&pk);
    else
        msgpack_pack_false(&pk);
    rpc_pack_cstr(&pk, "threads");
    if (p->mode == POOL_THREAD)
        msgpack_pack_true(&pk);
    else
        msgpack_pack_false(&pk);
    rpc_pack_cstr(&pk, "preload");
    msgpack_pack_array(&pk, cfg->npreload);
    for (i = 0; i < cfg->npreload; i++)
        rpc_pack_cstr(&pk, cfg->preload[i]);
    rpc_pack_cstr(&pk, "spin_us");
    msgpack_pack_unsigned_int(&pk, cfg->spin_us);
    rpc_pack_cstr(&pk, "handback_ms");
    msgpack_pack_unsigned_int(&pk, cfg->handback_ms);
    rpc_pack_cstr(&pk, "name");
    rpc_pack_cstr(&pk, name);
    rpc_pack_cstr(&pk, "path");
    msgpack_pack_array(&pk, cfg->npython_path);
    for (i = 0; i < cfg->npython_path; i++)
        rpc_pack_cstr(&pk, cfg->python_path[i]);
    rpc_pack_cstr(&pk, "allow_eval");
    if (cfg->allow_eval)
        msgpack_pack_true(&pk);
    else
        msgpack_pack_false(&pk);
    frame_end(sb, start);
}

int child_spawn(struct pool *p, uv_process_t *proc, uv_pipe_t *pipe, const char *name, uv_exit_cb exit_cb)
{
    struct daemon *d = p->d;
    uv_process_options_t o;
    uv_stdio_container_t stdio[BOARD_FD + 1];
    char *args[4];

    args[0] = d->executor_path;
    args[1] = "--name";
    args[2] = (char *)name;
    args[3] = NULL;
    memset(&o, 0, sizeof o);
    memset(stdio, 0, sizeof stdio);
    stdio[0].flags = UV_IGNORE;
    stdio[1].flags = UV_INHERIT_FD;
    stdio[1].data.fd = 1;
    stdio[2].flags = UV_INHERIT_FD;
    stdio[2].data.fd = 2;
    stdio[3].flags = UV_CREATE_PIPE | UV_READABLE_PIPE | UV_WRITABLE_PIPE;
    stdio[3].data.stream = (uv_stream_t *)pipe;
    stdio[BOARD_FD].flags = UV_INHERIT_FD;
    stdio[BOARD_FD].data.fd = p->boards.fd;
    o.file = d->executor_path;
    o.args = args;
    o.exit_cb = exit_cb;
    o.stdio = stdio;
    o.stdio_count = BOARD_FD + 1;
    return uv_spawn(d->loop, proc, &o);
}

void child_alloc(struct rbuf *in, size_t chunk, uv_buf_t *buf)
{
    if (rbuf_reserve(in, chunk) != 0) {
        *buf = uv_buf_init(NULL, 0);
        return;
    }
    *buf = uv_buf_init(rbuf_end(in), (unsigned)rbuf_room(in));
}

int child_read_frames(struct rbuf *in, int (*fn)(void *arg, const char *body, size_t len), void *arg)
{
    size_t off = 0;
    int64_t body;

    while (in->len - off >= FRAME_PREFIX) {
        body = frame_body_len(in->data + off);
        if (body < 0)
            return CHILD_EMALFORMED;
        if (in->len - off - FRAME_PREFIX < (size_t)body) {
            rbuf_reserve(in, (size_t)body + FRAME_PREFIX - (in->len - off));
            break;
        }
        if (fn(arg, in->data + off + FRAME_PREFIX, (size_t)body) != 0)
            return CHILD_EREFUSED;
        off += FRAME_PREFIX + (size_t)body;
    }
    rbuf_consume(in, off);
    return 0;
}
