/* wire: the executor's side of its socket to the master (fd 3): reading
 * whole frames, writing them whole, and the few frames both runners pack.
 * See wire.h. */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include "wire.h"

#include <errno.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "frame.h"
#include "guard.h"
#include "mpk.h"

/* Reads until buf holds one whole frame; returns its body length, 0 on EOF. */
int64_t wire_read_frame(struct rbuf *in)
{
    int64_t body;
    ssize_t n;

    for (;;) {
        if (in->len >= FRAME_PREFIX) {
            body = frame_body_len(in->data);
            if (body < 0)
                return -1;
            if (in->len - FRAME_PREFIX >= (size_t)body)
                return body;
        }
        if (rbuf_reserve(in, WIRE_READ_CHUNK) != 0)
            return -1;
        n = read(FRAME_MASTER_FD, rbuf_end(in), rbuf_room(in));
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return n == 0 ? 0 : -1;
        in->len += (size_t)n;
    }
}

/* Writes all of buf (blocking). */
int wire_write_all(const char *buf, size_t len)
{
    ssize_t n;

    while (len > 0) {
        n = write(FRAME_MASTER_FD, buf, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return -1;
        buf += n;
        len -= (size_t)n;
    }
    return 0;
}

/* Reads what the master sent, without blocking; with wait, first sleeps
 * until there is something to read. The sleep is in poll, not in a blocking
 * recv: a task blocked in recv on a Unix socket is also woken each time the
 * master reads what this process wrote (the kernel signals "writable" on the
 * same wait queue), a wasted context switch per batch; poll sleeps for
 * POLLIN alone. */
ssize_t wire_recv(void *buf, size_t room, bool wait)
{
    struct pollfd pfd[2] = {{.fd = FRAME_MASTER_FD, .events = POLLIN}, {.fd = guard_wake_fd(), .events = POLLIN}};

    if (wait && poll(pfd, 2, -1) < 0)
        return -1;
    if (wait && pfd[1].revents != 0 && pfd[0].revents == 0) {
        errno = EINTR; /* only children to reap: the caller does, and waits again */
        return -1;
    }
    return recv(FRAME_MASTER_FD, buf, room, MSG_DONTWAIT);
}

/* The id in a frame body [kind, id, ...]. */
int wire_frame_id(const char *body, size_t len, uint64_t *kind, uint64_t *id)
{
    struct mpk_reader r;
    struct mpk_item it;

    mpk_reader_init(&r, body, len);
    if (mpk_read(&r, &it) != 0 || it.type != MPK_ARRAY || mpk_read(&r, &it) != 0 ||
        it.type != MPK_UINT)
        return -1;
    *kind = it.v.u;
    if (mpk_read(&r, &it) != 0 || it.type != MPK_UINT)
        return -1;
    *id = it.v.u;
    return 0;
}

void wire_pack_numbers(msgpack_sbuffer *sb, unsigned kind, const uint64_t *v, size_t n)
{
    msgpack_packer pk;
    size_t start, i;

    msgpack_packer_init(&pk, sb, msgpack_sbuffer_write);
    start = frame_begin(sb);
    msgpack_pack_array(&pk, n + 1);
    msgpack_pack_uint8(&pk, (uint8_t)kind);
    for (i = 0; i < n; i++)
        msgpack_pack_uint64(&pk, v[i]);
    frame_end(sb, start);
}

/* Appends [FRAME_TIMEOUT, id, stack text or nil] to sb. */
void wire_pack_timeout(msgpack_sbuffer *sb, uint64_t id, const char *text, ssize_t n)
{
    msgpack_packer pk;
    size_t start;

    msgpack_packer_init(&pk, sb, msgpack_sbuffer_write);
    start = frame_begin(sb);
    msgpack_pack_array(&pk, 3);
    msgpack_pack_uint8(&pk, FRAME_TIMEOUT);
    msgpack_pack_uint64(&pk, id);
    if (text != NULL)
        msgpack_pack_str_with_body(&pk, text, (size_t)n);
    else
        msgpack_pack_nil(&pk);
    frame_end(sb, start);
}

/* [FRAME_READY, pid]: Python is up and python.preload imported. */
int wire_send_ready(void)
{
    uint64_t pid = (uint64_t)getpid();
    msgpack_sbuffer ready;
    int rc;

    msgpack_sbuffer_init(&ready);
    wire_pack_numbers(&ready, FRAME_READY, &pid, 1);
    rc = wire_write_all(ready.data, ready.size);
    msgpack_sbuffer_destroy(&ready);
    return rc;
}
