/* tally: a pool's outcomes, latencies and restart causes. See tally.h. */
#include "tally.h"

#include <string.h>

#include <uv.h>

#include "protocol.h"

uint64_t tally_now_ns;

void tally_tick(void)
{
    tally_now_ns = uv_hrtime();
}

const char *const outcome_names[OUTCOME_N] = {
    [OUTCOME_OK] = "ok",
    [OUTCOME_ERROR] = "error",
    [OUTCOME_ENCODE] = ERROR_ENCODE,
    [OUTCOME_TIMEOUT] = ERROR_TIMEOUT,
    [OUTCOME_CANCELLED] = ERROR_CANCELLED,
    [OUTCOME_CRASHED] = ERROR_WORKER_CRASHED,
    [OUTCOME_QUARANTINED] = ERROR_QUARANTINED,
    [OUTCOME_SHUTTING_DOWN] = ERROR_SHUTTING_DOWN,
    [OUTCOME_OVERLOADED] = ERROR_OVERLOADED,
    [OUTCOME_DEGRADED] = ERROR_POOL_DEGRADED,
    [OUTCOME_DROPPED] = "dropped",
    [OUTCOME_OTHER] = "other",
};

const char *const restart_cause_names[RESTART_N] = {
    [RESTART_CRASH] = "crash",
    [RESTART_START_FAILED] = "start_failed",
    [RESTART_KILLED] = "killed",
    [RESTART_TIMEOUT] = "timeout",
    [RESTART_MAX_REQUESTS] = "max_requests",
    [RESTART_MAX_MEMORY] = "max_memory",
    [RESTART_RELOAD] = "reload",
};

/* Daemon error types that are not outcomes of their own. */
static const char *const other_types[] = {
    ERROR_BAD_REQUEST, ERROR_NO_SUCH_METHOD, ERROR_FORBIDDEN, ERROR_UNAUTHORIZED, ERROR_NO_SUCH_POOL,
    ERROR_POOL_EXISTS, ERROR_RELOAD_FAILED, ERROR_STATE_NOT_SAVED, ERROR_START_FAILED,
};

enum outcome outcome_of_type(const char *type)
{
    size_t i;

    for (i = OUTCOME_ENCODE; i <= OUTCOME_DEGRADED; i++)
        if (strcmp(type, outcome_names[i]) == 0)
            return (enum outcome)i;
    for (i = 0; i < sizeof other_types / sizeof *other_types; i++)
        if (strcmp(type, other_types[i]) == 0)
            return OUTCOME_OTHER;
    return OUTCOME_ERROR;
}

void tally_call(struct tally *t, enum outcome o, uint64_t queued_ns, uint64_t sent_ns, uint64_t end_ns)
{
    t->outcomes[o]++;
    if (queued_ns == 0)
        return; /* refused before it queued */
    if (sent_ns == 0) {
        hist_add(&t->wait, end_ns > queued_ns ? end_ns - queued_ns : 0, end_ns);
        return;
    }
    hist_add(&t->wait, sent_ns > queued_ns ? sent_ns - queued_ns : 0, end_ns);
    hist_add(&t->run, end_ns > sent_ns ? end_ns - sent_ns : 0, end_ns);
}

void tally_merge(struct tally *t, const struct tally *from)
{
    size_t i;

    for (i = 0; i < OUTCOME_N; i++)
        t->outcomes[i] += from->outcomes[i];
    if (from->queue_max > t->queue_max)
        t->queue_max = from->queue_max;
    hist_merge(&t->wait, &from->wait);
    hist_merge(&t->run, &from->run);
}
