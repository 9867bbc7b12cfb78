/* packing: what the unit tests that build MessagePack by hand share: one
 * buffer and packer, reset around each test (setup, teardown), and the
 * small packers they use most. Included by one test file per program. */
#ifndef PYRPOOL_TEST_PACKING_H
#define PYRPOOL_TEST_PACKING_H

#include <stdint.h>
#include <string.h>

#include <msgpack.h>

static msgpack_sbuffer sb;
static msgpack_packer pk;

static inline int setup(void **state)
{
    (void)state;
    msgpack_sbuffer_init(&sb);
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    return 0;
}

static inline int teardown(void **state)
{
    (void)state;
    msgpack_sbuffer_destroy(&sb);
    return 0;
}

static inline void str(const char *s)
{
    msgpack_pack_str_with_body(&pk, s, strlen(s));
}

static inline void bin(const char *s)
{
    msgpack_pack_bin_with_body(&pk, s, strlen(s));
}

/* Packs [0, msgid, method, [...]] (a MessagePack-RPC request), leaving
 * the nparams items of params to the caller. */
static inline void request(uint32_t msgid, const char *method, size_t nparams)
{
    msgpack_pack_array(&pk, 4);
    msgpack_pack_uint8(&pk, 0);
    msgpack_pack_uint32(&pk, msgid);
    str(method);
    msgpack_pack_array(&pk, nparams);
}

#endif
