/* access: the access log (log.calls: true): one info line per call when it
 * is answered, "call POOL MODULE.FUNCTION OUTCOME wait=MS run=MS conn=N
 * msgid=M": OUTCOME is ok, or the error's type (a Python exception's, or the
 * daemon's: Timeout, Overloaded, ...), or "dropped" when its client had
 * gone; wait is the time it spent in the daemon before an executor took
 * it, run the time from then to its answer. Calls refused before they
 * queue (Overloaded, Quarantined, PoolDegraded, ShuttingDown) are logged
 * too, with zero times. A leaf: it formats and logs. */
#ifndef PYRPOOL_ACCESS_H
#define PYRPOOL_ACCESS_H

#include <stdint.h>

struct access_entry {
    const char *pool;
    const char *name;      /* module.function */
    const char *outcome;
    uint64_t queued_ns;    /* uv_hrtime() when it queued; 0: not known */
    uint64_t sent_ns;      /* when an executor took it; 0: never */
    uint64_t conn;
    uint32_t msgid;
};

void access_log(const struct access_entry *e);

#endif
