/* access: access log lines. See access.h. */
#include "access.h"

#include <uv.h>

#include "log.h"

void access_log(const struct access_entry *e)
{
    uint64_t now = uv_hrtime();
    uint64_t waited = e->queued_ns == 0 ? 0 : (e->sent_ns != 0 ? e->sent_ns : now) - e->queued_ns;
    uint64_t ran = e->sent_ns != 0 ? now - e->sent_ns : 0;

    log_info("call %s %s %s wait=%.3fms run=%.3fms conn=%llu msgid=%u", e->pool, e->name, e->outcome,
             (double)waited / 1e6, (double)ran / 1e6, (unsigned long long)e->conn, e->msgid);
}
