/* Fuzz target: the executor's reading of its INIT frame (init_parse) on
 * arbitrary bytes; what it accepts packs again (init_pack) and reads back
 * the same. Never a crash or a leak (init_free). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "frame.h"
#include "init.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct frame_init in = {.board = -1, .uid = -1, .gid = -1}, again = {.board = -1, .uid = -1, .gid = -1};
    msgpack_sbuffer sb;
    size_t i;

    if (init_parse((const char *)data, size, &in) != 0)
        return 0;
    msgpack_sbuffer_init(&sb);
    init_pack(&sb, &in);
    if (init_parse(sb.data + FRAME_PREFIX, sb.size - FRAME_PREFIX, &again) != 0 ||
        strcmp(in.name, again.name) != 0 || in.npath != again.npath || in.npreload != again.npreload ||
        in.board != again.board || in.uid != again.uid || in.gid != again.gid ||
        in.allow_eval != again.allow_eval || in.threads != again.threads || in.template != again.template ||
        in.spin_us != again.spin_us || in.handback_ms != again.handback_ms)
        abort();
    for (i = 0; i < in.npath; i++)
        if (strcmp(in.path[i], again.path[i]) != 0)
            abort();
    init_free(&in);
    init_free(&again);
    msgpack_sbuffer_destroy(&sb);
    return 0;
}
