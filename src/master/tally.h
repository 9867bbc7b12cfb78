/* tally: what a pool counts for the stats method and /metrics: how its
 * calls ended (by outcome), how long they queued and ran (hist.h), how high
 * its queue has been, and why its executors were started again. A pool's
 * tally carries over a reload like its other counters. */
#ifndef PYRPOOL_TALLY_H
#define PYRPOOL_TALLY_H

#include <stddef.h>
#include <stdint.h>

#include "hist.h"

/* How a call ended. The names are the error types, with "ok" for a
 * result, "error" for an exception its Python code raised, and "dropped"
 * for a call whose client left first. */
enum outcome {
    OUTCOME_OK,
    OUTCOME_ERROR,
    OUTCOME_ENCODE,
    OUTCOME_TIMEOUT,
    OUTCOME_CANCELLED,
    OUTCOME_CRASHED,
    OUTCOME_QUARANTINED,
    OUTCOME_SHUTTING_DOWN,
    OUTCOME_OVERLOADED,
    OUTCOME_DEGRADED,
    OUTCOME_DROPPED,
    OUTCOME_OTHER,          /* another daemon error (a pool stopped under it, ...) */
    OUTCOME_N
};

/* Why an executor was started again. */
enum restart_cause {
    RESTART_CRASH,          /* it died of itself once ready: a fatal signal, an exit */
    RESTART_START_FAILED,   /* it died before it was ready */
    RESTART_KILLED,         /* SIGKILL or SIGTERM from outside the daemon */
    RESTART_TIMEOUT,        /* the daemon killed it: a stopped call did not come back */
    RESTART_MAX_REQUESTS,
    RESTART_MAX_MEMORY,
    RESTART_RELOAD,         /* a reload's new generation replaced it */
    RESTART_N
};

struct tally {
    uint64_t outcomes[OUTCOME_N];
    size_t queue_max;          /* the most calls its queue has held */
    struct hist wait;          /* queued -> sent to an executor */
    struct hist run;           /* sent -> answered */
};

/* The time (uv_hrtime) of the read or the dispatch being handled now: read
 * once per read from a client or an executor and once per pool dispatch
 * (tally_tick), so that timing every call costs no clock read of its own. */
extern uint64_t tally_now_ns;

/* Reads the clock into tally_now_ns. */
void tally_tick(void);

extern const char *const outcome_names[OUTCOME_N];
extern const char *const restart_cause_names[RESTART_N];

/* The outcome of a daemon error type (ERROR_*), or of an executor's error
 * map's type: a type the daemon does not give is the function's exception. */
enum outcome outcome_of_type(const char *type);

/* A call that ended at end_ns, queued at queued_ns, sent at sent_ns (0:
 * never sent): counts its outcome and its times. */
void tally_call(struct tally *t, enum outcome o, uint64_t queued_ns, uint64_t sent_ns, uint64_t end_ns);

/* Adds from into t (a reload). */
void tally_merge(struct tally *t, const struct tally *from);

#endif
