/* Fuzz target: the master's request path on arbitrary client bytes.
 *
 * Differential: the resumable scanner (mpk_scan) must frame the input the
 * same whether it arrives whole or a few bytes at a time; the fast decoder
 * (rpc_decode_prefix) must accept only what the scanner frames as one
 * whole message of the same length, and what it accepts rpc_decode must
 * accept too; every framed message then goes through rpc_decode and, for
 * calls, rpc_parse_call, as conn.c and method.c do. A disagreement aborts. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "mpk.h"
#include "rpc.h"

#define MAX_MESSAGE (1u << 20)

/* The scanner fed the first n bytes in steps of step. */
static ssize_t scan_chunked(const char *buf, size_t n, size_t step)
{
    struct mpk_scan s;
    size_t have = 0;
    ssize_t r = 0;

    mpk_scan_reset(&s);
    while (have < n) {
        have = have + step < n ? have + step : n;
        r = mpk_scan(&s, buf, have, MAX_MESSAGE);
        if (r != 0)
            return r;
    }
    return r;
}

static void decode(const char *buf, size_t len)
{
    struct rpc_msg m;
    struct rpc_call call;
    char err[256];

    if (rpc_decode(buf, len, &m, err, sizeof err) != 0 || m.type != RPC_REQUEST)
        return;
    rpc_parse_call(&m, RPC_CALL, &call, err, sizeof err);
    rpc_parse_call(&m, RPC_MAP, &call, err, sizeof err);
    rpc_parse_shorthand(&m, &call, err, sizeof err);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *buf = (const char *)data;
    size_t off = 0, step = size > 0 ? (data[0] % 7) + 1 : 1;
    struct mpk_scan s;
    struct rpc_msg m;
    ssize_t whole, chunked, fast;

    while (off < size) {
        mpk_scan_reset(&s);
        whole = mpk_scan(&s, buf + off, size - off, MAX_MESSAGE);
        chunked = scan_chunked(buf + off, size - off, step);
        if (whole != chunked)
            abort();
        fast = rpc_decode_prefix(buf + off, size - off, &m);
        if (fast > 0 && (size_t)fast <= MAX_MESSAGE &&
            (fast != whole || rpc_decode(buf + off, (size_t)fast, &m, NULL, 0) != 0))
            abort();
        if (whole <= 0)
            break;
        decode(buf + off, (size_t)whole);
        off += (size_t)whole;
    }
    return 0;
}
