/* executor: spawning, feeding and supervising one executor process from the
 * master. See executor.h for the states. */
#include "executor.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "board_map.h"
#include "child.h"
#include "conn.h"
#include "daemon.h"
#include "frame.h"
#include "log.h"
#include "mpk.h"
#include "pool.h"
#include "protocol.h"
#include "reply.h"
#include "rpc.h"
#include "template.h"
#include "util.h"
#include "xalloc.h"

/* An executor that dies this soon after READY without having answered a
 * call died young, as if it had not started (see young_deaths). */
#define EXECUTOR_YOUNG_MS 1000
#define EXECUTOR_BACKOFF_MIN_MS 100
#define EXECUTOR_BACKOFF_MAX_MS 10000
#define EXECUTOR_READ_CHUNK 65536

/* A process-mode batch's calls take one board slot each. */
_Static_assert(BATCH_MAX <= BOARD_SLOTS, "a batch must fit the board's slots");

static void spawn(struct executor *ex);
static void schedule_restart(struct executor *ex);
static int on_frame(struct executor *ex, const char *body, size_t len);

static void maybe_idle(struct executor *ex);

static struct board *board(const struct executor *ex)
{
    return board_map_get(&ex->pool->boards, ex->board);
}

const char *executor_state_name(enum executor_state s)
{
    static const char *const names[] = {"starting", "idle", "busy", "dead"};

    return names[s];
}

static void set_state(struct executor *ex, enum executor_state s)
{
    if (ex->state == s)
        return;
    log_debug("executor %s/%d (pid %d): %s -> %s", ex->pool->name, ex->index, ex->child.pid,
              executor_state_name(ex->state), executor_state_name(s));
    ex->state = s;
}

static void mark_dirty(struct executor *ex)
{
    struct daemon *d = ex->pool->d;

    if (ex->dirty)
        return;
    ex->dirty = true;
    ex->next_dirty = d->dirty_executors;
    d->dirty_executors = ex;
}

/* Runs after each handle closes: once the pipe and the process are both
 * closed, the executor restarts, or is freed when the daemon is stopping. */
static void after_close(struct executor *ex)
{
    struct pool *pool;

    if (child_handles_open(&ex->child) || (ex->forked && !ex->exited))
        return;
    if (!ex->shutting_down && ex->leaving) { /* died while leaving: no restart */
        executor_shutdown(ex);
        return;
    }
    if (!ex->shutting_down) {
        schedule_restart(ex);
        return;
    }
    if (ex->timer_open)
        return;
    pool = ex->pool;
    board_map_give(&pool->boards, ex->board);
    ex->ev->freed(ex);
    free(ex->abandoned);
    child_destroy(&ex->child);
    free(ex);
}

static void on_timer_closed(uv_handle_t *h)
{
    struct executor *ex = h->data;

    ex->timer_open = false;
    after_close(ex);
}

/* True when c, sent to ex, provably never started: its board slot still
 * says SENT. */
static bool never_started(const struct executor *ex, const struct call *c)
{
    return board_load(&board(ex)->slot[c->slot]) == board_word(c->id, SLOT_SENT);
}

/* Thread mode: a free slot for c, sent to ex: the lowest, since the
 * executor looks for a call's slot from slot 0. There is one: ex holds at
 * most its pool's size in calls (executor_room), and a size is at most
 * BOARD_SLOTS. */
static void take_slot(struct executor *ex, struct call *c)
{
    unsigned i = 0, bit;

    while (i < BOARD_SLOTS / 64 - 1 && ex->slot_taken[i] == UINT64_MAX)
        i++;
    bit = (unsigned)__builtin_ctzll(~ex->slot_taken[i]);
    ex->slot_taken[i] |= (uint64_t)1 << bit;
    c->slot = (uint16_t)(i * 64 + bit);
}

/* c leaves ex's calls (answered, abandoned, given up, handed back). */
static void unrun(struct executor *ex, struct call *c)
{
    call_list_remove(&ex->running, c);
    if (ex->threaded)
        ex->slot_taken[c->slot / 64] &= ~((uint64_t)1 << (c->slot % 64));
}

/* ex died: the calls it still holds are settled. One that never started
 * goes back to the front of its queue, in order, for another executor
 * (unless its frame was given away: then it fails, unrun). One that may
 * have started fails with WorkerCrashed; when the death counts (crashed:
 * not a kill from outside), the culprit is charged with it: the call whose
 * thread raised the fatal signal, or in process mode the call running. */
static void settle_calls(struct executor *ex, const char *why, bool crashed)
{
    uint64_t culprit = board_load(&board(ex)->culprit);
    struct call_list back = {0};
    char msg[300];
    struct call *c;

    snprintf(msg, sizeof msg, "executor %s/%d (pid %d) %s while running this call", ex->pool->name,
             ex->index, ex->child.pid, why);
    while ((c = call_list_pop(&ex->running)) != NULL) {
        c->ex = NULL;
        if (never_started(ex, c) && !c->frame_given) {
            call_list_push(&back, c);
            continue;
        }
        ex->counts.failed++;
        if (never_started(ex, c)) {
            reply_error(c, ERROR_WORKER_CRASHED, "its executor died before this call started; it did not run");
            continue;
        }
        if (crashed && (culprit == c->id || (culprit == 0 && !ex->threaded)))
            ex->ev->crashed(ex, c);
        reply_error(c, ERROR_WORKER_CRASHED, msg);
    }
    while ((c = back.tail) != NULL) {
        call_list_remove(&back, c);
        ex->ev->requeue(ex, c);
    }
}

/* After a death: the RESULT frames in its board's arena, results of calls
 * that finished before the batch's answers were written. Results that did
 * reach the socket find no call any more and are dropped (by call id). */
static void recover_results(struct executor *ex)
{
    struct board *b = board(ex);
    uint64_t n = board_load(&b->committed), off = 0;
    int64_t body;

    while (n <= BOARD_ARENA && n - off >= FRAME_PREFIX) {
        body = frame_body_len(b->arena + off);
        if (body < 0 || n - off - FRAME_PREFIX < (uint64_t)body)
            return;
        if (on_frame(ex, b->arena + off + FRAME_PREFIX, (size_t)body) != 0)
            return;
        off += FRAME_PREFIX + (uint64_t)body;
    }
}

static struct executor *of(struct child *ch)
{
    return container_of(ch, struct executor, child);
}

/* A handle of its process closed. */
static void on_closed(struct child *ch)
{
    after_close(of(ch));
}

/* Signals ex's process, if it has one that has not been reaped. */
static void kill_process(struct executor *ex, int sig)
{
    if (ex->exited)
        return;
    if (!ex->forked)
        child_kill(&ex->child, sig);
    else if (ex->child.pid > 0)
        kill(ex->child.pid, sig);
}

/* The pipe broke (EOF, error, garbage): make sure the process goes too. */
static void lost_pipe(struct executor *ex, const char *why)
{
    if (ex->state != EX_DEAD && !ex->shutting_down)
        log_warn("executor %s/%d (pid %d): %s", ex->pool->name, ex->index, ex->child.pid, why);
    child_close_pipe(&ex->child);
    kill_process(ex, SIGKILL);
}

static void on_lost(struct child *ch, int err, const char *why)
{
    (void)err;
    lost_pipe(of(ch), why);
}

static void on_restart(uv_timer_t *t)
{
    spawn(t->data);
}

static void schedule_restart(struct executor *ex)
{
    uint64_t now = uv_now(ex->pool->d->loop), delay = 0;

    if (ex->recycling) { /* a planned replacement, not a death */
        ex->recycling = false;
        uv_timer_start(&ex->restart_timer, on_restart, 0, 0);
        return;
    }
    /* a death once it served is replaced at once (what its calls did is
     * charged to them: the crashed event); only dying young backs off */
    if (ex->started_ms == 0 || (ex->served == 0 && now - ex->started_ms < EXECUTOR_YOUNG_MS))
        ex->young_deaths++;
    else
        ex->young_deaths = 0;
    if (ex->young_deaths > 1) {
        delay = (uint64_t)EXECUTOR_BACKOFF_MIN_MS << (ex->young_deaths > 9 ? 7 : ex->young_deaths - 2);
        if (delay > EXECUTOR_BACKOFF_MAX_MS)
            delay = EXECUTOR_BACKOFF_MAX_MS;
    }
    if (delay > 0)
        log_warn("executor %s/%d: restarting in %llu ms", ex->pool->name, ex->index,
                 (unsigned long long)delay);
    uv_timer_start(&ex->restart_timer, on_restart, delay, 0);
}

/* Why ex, which just died of sig (0: none), will be started again. */
static enum restart_cause death_cause(const struct executor *ex, int sig)
{
    if (ex->recycling)
        return ex->retire_cause;
    if (ex->killed)
        return RESTART_TIMEOUT;
    if (ex->state == EX_STARTING)
        return RESTART_START_FAILED;
    if (sig == SIGKILL || sig == SIGTERM)
        return RESTART_KILLED;
    return RESTART_CRASH;
}

/* ex's process ended (reason NULL: status or signal tells): its calls are
 * settled, and it restarts (or is freed when shutting down). */
static void exited(struct executor *ex, int64_t status, int sig, const char *reason)
{
    char why[128];
    bool crashed;

    if (reason != NULL)
        snprintf(why, sizeof why, "%s", reason);
    else if (sig != 0)
        snprintf(why, sizeof why, "was killed by signal %d (%s)", sig, strsignal(sig));
    else
        snprintf(why, sizeof why, "exited with status %lld", (long long)status);
    if (ex->recycling)
        log_info("executor %s/%d (pid %d) retired after %llu calls", ex->pool->name, ex->index,
                 ex->child.pid, (unsigned long long)ex->served);
    else if (!ex->shutting_down)
        log_warn("executor %s/%d (pid %d) %s", ex->pool->name, ex->index, ex->child.pid, why);
    ex->exited = true;
    /* what its calls started: its process group (a forked executor's
     * template kills it before reaping the executor, so the group's number
     * cannot have been reused; libuv reaped this one just now) */
    if (!ex->forked && ex->child.pid > 0)
        kill(-ex->child.pid, SIGKILL);
    /* a death by SIGKILL or SIGTERM came from outside (an operator, the
     * OOM killer): it is charged to no call */
    crashed = !ex->recycling && !ex->shutting_down && !ex->leaving && !ex->killed &&
              ex->state != EX_STARTING && sig != SIGKILL && sig != SIGTERM;
    ex->cause = death_cause(ex, sig);
    tally_tick(); /* the results it left are timed from now */
    ex->ev->gone(ex);
    if (ex->state == EX_STARTING) {
        ex->start_failures++;
        ex->ev->start_failed(ex, why);
    }
    set_state(ex, EX_DEAD);
    /* what it did before dying (the frames on its socket the loop has not
     * read yet, then its board's arena): results first, then who was
     * running */
    child_drain(&ex->child);
    recover_results(ex);
    ex->nabandoned = 0;
    uv_timer_stop(&ex->restart_timer);
    child_close_pipe(&ex->child);
    settle_calls(ex, why, crashed);
    after_close(ex); /* a forked one whose pipe closed already */
}

static void on_process_exit(struct child *ch, int64_t status, int sig)
{
    exited(of(ch), status, sig, NULL);
}

static struct call *find_running(struct executor *ex, uint64_t id)
{
    struct call *c;

    for (c = ex->running.head; c != NULL && c->id != id; c = c->next)
        ;
    return c;
}

/* max_requests: the executor served its share; it exits (its pipe closes,
 * it sees EOF) and a fresh one starts at once. */
static void retire(struct executor *ex, enum restart_cause cause)
{
    ex->recycling = true;
    ex->retire_cause = cause;
    set_state(ex, EX_DEAD);
    child_close_pipe(&ex->child);
}

size_t executor_rss(const struct executor *ex)
{
    char path[64];
    unsigned long pages = 0, resident = 0;
    FILE *f;

    snprintf(path, sizeof path, "/proc/%d/statm", ex->child.pid);
    f = fopen(path, "r");
    if (f == NULL)
        return 0;
    if (fscanf(f, "%lu %lu", &pages, &resident) != 2)
        resident = 0;
    fclose(f);
    return (size_t)resident * (size_t)sysconf(_SC_PAGESIZE);
}

size_t executor_room(const struct executor *ex)
{
    size_t used = ex->running.len + ex->nabandoned;

    if (ex->threaded)
        return (size_t)ex->pool->size > used ? (size_t)ex->pool->size - used : 0;
    return used == 0 ? BATCH_MAX : 0;
}

bool executor_running(const struct executor *ex, const struct call *c)
{
    return !never_started(ex, c);
}

bool executor_unsend(struct executor *ex, struct call *c)
{
    if (!board_claim(board(ex), c->slot, c->id, SLOT_ABANDONED))
        return false;
    unrun(ex, c);
    c->ex = NULL;
    maybe_idle(ex);
    return true;
}

/* ex takes no new calls: off the pool's idle stack. */
static void take_off(struct executor *ex)
{
    if (ex->state != EX_IDLE)
        return;
    ex->ev->gone(ex);
    set_state(ex, EX_BUSY);
}

/* After calls came back or the pool was resized: puts ex on its pool's idle
 * stack when it has room, takes it off when it has none, and retires it
 * once empty when it is due (max_requests, max_memory, resize_pool). A
 * thread-mode executor takes no new calls once it is due. */
static void maybe_idle(struct executor *ex)
{
    bool empty = ex->running.len == 0 && ex->nabandoned == 0;
    size_t mem;

    if (ex->state != EX_IDLE && ex->state != EX_BUSY)
        return;
    if (ex->leaving || (ex->recycle_at != 0 && ex->served >= ex->recycle_at)) {
        take_off(ex);
        if (!empty)
            return;
        if (ex->leaving)
            executor_shutdown(ex);
        else
            retire(ex, RESTART_MAX_REQUESTS);
        return;
    }
    if (executor_room(ex) == 0) {
        take_off(ex);
        return;
    }
    if (ex->state == EX_IDLE)
        return;
    if (empty && ex->pool->max_memory != 0 && (mem = executor_rss(ex)) > ex->pool->max_memory) {
        log_info("executor %s/%d (pid %d) uses %zu MiB (max_memory %zu MiB): replacing it",
                 ex->pool->name, ex->index, ex->child.pid, mem >> 20, ex->pool->max_memory >> 20);
        retire(ex, RESTART_MAX_MEMORY);
        return;
    }
    set_state(ex, EX_IDLE);
    ex->ev->idle(ex);
}

void executor_leave(struct executor *ex)
{
    ex->leaving = true;
    take_off(ex);
    if (ex->running.len == 0)
        executor_shutdown(ex); /* idle or starting: nothing to finish */
}

void executor_resized(struct executor *ex)
{
    maybe_idle(ex);
}

static void on_grace_over(uv_timer_t *t);

/* Forgets abandoned call id: it came back. Returns false if it was not one. */
static bool unabandon(struct executor *ex, uint64_t id)
{
    size_t i;

    for (i = 0; i < ex->nabandoned && ex->abandoned[i].id != id; i++)
        ;
    if (i == ex->nabandoned)
        return false;
    memmove(&ex->abandoned[i], &ex->abandoned[i + 1], (ex->nabandoned - i - 1) * sizeof *ex->abandoned);
    ex->nabandoned--;
    if (i == 0)
        uv_timer_stop(&ex->restart_timer);
    if (i == 0 && ex->nabandoned > 0) {
        uint64_t now = uv_now(ex->pool->d->loop), until = ex->abandoned[0].until_ms;

        uv_timer_start(&ex->restart_timer, on_grace_over, until > now ? until - now : 0, 0);
    }
    return true;
}

/* A RESULT frame: [1, call_id, error, result]. */
static int on_result(struct executor *ex, struct mpk_reader *r)
{
    struct mpk_item it;
    struct call *c;

    if (mpk_read(r, &it) != 0 || it.type != MPK_UINT)
        return -1;
    if (ex->nabandoned > 0 && unabandon(ex, it.v.u)) {
        /* a stopped call came back (TimeoutError, Cancelled): the executor
         * lives on and its answer is dropped */
        maybe_idle(ex);
        return 0;
    }
    c = find_running(ex, it.v.u);
    if (c == NULL) {
        /* a call that timed out before it started: its answer has no taker */
        log_debug("executor %s/%d: result for call %llu dropped (already answered)", ex->pool->name,
                  ex->index, (unsigned long long)it.v.u);
        return 0;
    }
    unrun(ex, c);
    ex->counts.completed++;
    ex->served++;
    reply_result(c, r->p, (size_t)(r->end - r->p));
    maybe_idle(ex);
    return 0;
}

/* A TIMEOUT frame: [6, call_id, stack|nil]: the executor saw the running
 * call pass its time and is raising TimeoutError in it. */
static int on_timeout(struct executor *ex, struct mpk_reader *r)
{
    struct mpk_item it;
    struct call *c;
    char msg[200];
    char *stack = NULL;

    if (mpk_read(r, &it) != 0 || it.type != MPK_UINT)
        return -1;
    c = find_running(ex, it.v.u);
    if (mpk_read(r, &it) != 0 || (it.type != MPK_STR && it.type != MPK_NIL))
        return -1;
    if (c == NULL || !executor_running(ex, c))
        return 0; /* answered already (the master's own deadline came first) */
    if (it.type == MPK_STR) {
        stack = xmalloc(it.v.s.len + 1);
        memcpy(stack, it.v.s.ptr, it.v.s.len);
        stack[it.v.s.len] = '\0';
    }
    snprintf(msg, sizeof msg, "the call did not finish within its timeout of %g s", c->timeout);
    deadlines_remove(&ex->pool->d->deadlines, &c->deadline);
    executor_give_up(ex, c);
    ex->counts.failed++;
    reply_error_traceback(c, ERROR_TIMEOUT, msg, stack);
    free(stack);
    return 0;
}

/* A RETURN frame: [4, [call_id...]]: unstarted calls handed back because the
 * call before them ran long. They go back to the front of the queue, in
 * order, for another executor. */
static int on_return(struct executor *ex, struct mpk_reader *r)
{
    struct mpk_item it;
    struct call *c, *back[BATCH_MAX];
    uint32_t i, n, kept = 0;

    if (mpk_read(r, &it) != 0 || it.type != MPK_ARRAY)
        return -1;
    n = it.v.n;
    for (i = 0; i < n; i++) {
        if (mpk_read(r, &it) != 0 || it.type != MPK_UINT)
            return -1;
        c = find_running(ex, it.v.u);
        if (c == NULL || kept == BATCH_MAX)
            continue;
        unrun(ex, c);
        back[kept++] = c;
    }
    log_debug("executor %s/%d: %u calls handed back", ex->pool->name, ex->index, kept);
    while (kept > 0)
        ex->ev->requeue(ex, back[--kept]);
    maybe_idle(ex);
    return 0;
}

/* Bytes of a slow call's stack the log line keeps (a log line holds 3000). */
#define SLOW_STACK_MAX 2400

/* A SLOW frame: [11, call_id, ms, stack|nil]: the call passed the pool's
 * slow_call and runs on: logged once, with where it is. */
static int on_slow(struct executor *ex, struct mpk_reader *r)
{
    struct mpk_item id, ms, stack;
    char name[RPC_NAME_MAX * 2 + 2];
    const char *text = "(not known)", *cut = "";
    size_t len = 11;
    struct call *c;

    if (mpk_read(r, &id) != 0 || id.type != MPK_UINT || mpk_read(r, &ms) != 0 || ms.type != MPK_UINT ||
        mpk_read(r, &stack) != 0 || (stack.type != MPK_STR && stack.type != MPK_NIL))
        return -1;
    c = find_running(ex, id.v.u);
    if (c == NULL || c->slow_logged)
        return 0; /* it ended meanwhile, or was reported already */
    c->slow_logged = true;
    call_fn_name(c, name, sizeof name);
    if (stack.type == MPK_STR) {
        text = stack.v.s.ptr;
        for (len = stack.v.s.len; len > 0 && text[len - 1] == '\n'; len--)
            ;
    }
    if (len > SLOW_STACK_MAX) { /* the innermost frames are last: keep them */
        text += len - SLOW_STACK_MAX;
        len = SLOW_STACK_MAX;
        cut = "...";
    }
    log_warn("slow call: %s %s has run %.1f s on executor %s/%d (pid %d), conn %llu msgid %u; its stack:\n%s%.*s",
             ex->pool->name, name, (double)ms.v.u / 1000.0, ex->pool->name, ex->index, ex->child.pid,
             c->conn != NULL ? (unsigned long long)c->conn->id : 0ULL, c->msgid_value, cut, (int)len, text);
    return 0;
}

/* A RAN frame: [10, calls, ns]: the batch just answered ran this long. */
static int on_ran(struct executor *ex, struct mpk_reader *r)
{
    struct mpk_item calls, ns;

    if (mpk_read(r, &calls) != 0 || calls.type != MPK_UINT || mpk_read(r, &ns) != 0 || ns.type != MPK_UINT)
        return -1;
    if (calls.v.u > 0)
        ex->ev->batch_ran(ex, ns.v.u, calls.v.u);
    return 0;
}

static int on_frame(struct executor *ex, const char *body, size_t len)
{
    struct mpk_reader r;
    struct mpk_item it;

    mpk_reader_init(&r, body, len);
    if (mpk_read(&r, &it) != 0 || it.type != MPK_ARRAY || it.v.n < 2)
        return -1;
    if (mpk_read(&r, &it) != 0 || it.type != MPK_UINT)
        return -1;
    if (it.v.u == FRAME_RESULT)
        return on_result(ex, &r);
    if (it.v.u == FRAME_RETURN)
        return on_return(ex, &r);
    if (it.v.u == FRAME_TIMEOUT)
        return on_timeout(ex, &r);
    if (it.v.u == FRAME_RAN)
        return on_ran(ex, &r);
    if (it.v.u == FRAME_SLOW)
        return on_slow(ex, &r);
    if (it.v.u == FRAME_READY && ex->state == EX_STARTING) {
        ex->started_ms = uv_now(ex->pool->d->loop);
        ex->start_failures = 0;
        log_debug("executor %s/%d (pid %d) ready", ex->pool->name, ex->index, ex->child.pid);
        set_state(ex, EX_IDLE);
        ex->ev->idle(ex);
        ex->ev->ready(ex);
        return 0;
    }
    return -1;
}

static int child_frame(struct child *ch, const char *body, size_t len)
{
    return on_frame(of(ch), body, len);
}

static const struct child_ops child_ops = {
    .frame = child_frame,
    .lost = on_lost,
    .exit = on_process_exit,
    .closed = on_closed,
};

static void on_write_done(struct outq *q, int status)
{
    struct executor *ex = container_of(q, struct executor, child.out);

    if (status < 0 && status != UV_ECANCELED)
        lost_pipe(ex, uv_strerror(status));
    else if (q->buf.size > 0 && child_pipe_usable(&ex->child))
        mark_dirty(ex);
}

void executor_flush(struct executor *ex)
{
    int rc = child_flush(&ex->child);

    if (rc < 0)
        lost_pipe(ex, uv_strerror(rc));
}

/* Starts ex as a fresh process (no template, or the template cannot). */
static void spawn_process(struct executor *ex)
{
    struct daemon *d = ex->pool->d;
    char name[128];
    int rc;

    snprintf(name, sizeof name, "%s/%d", ex->pool->name, ex->index);
    ex->forked = false;
    rc = child_spawn(&ex->child, ex->pool, name, ex->board, false);
    if (rc < 0) {
        log_error("executor %s: cannot start %s: %s", name, d->executor_path, uv_strerror(rc));
        ex->exited = true;
        set_state(ex, EX_DEAD);
        return;
    }
    log_debug("executor %s started, pid %d", name, ex->child.pid);
    mark_dirty(ex); /* its INIT frame */
}

static void spawn(struct executor *ex)
{
    ex->exited = false;
    ex->killed = false;
    ex->child.pid = 0;
    ex->served = 0;
    ex->started_ms = 0;
    board_map_reset(&ex->pool->boards, ex->board);
    ex->slots_used = 0;
    memset(ex->slot_taken, 0, sizeof ex->slot_taken);
    ex->nabandoned = 0;
    ex->threaded = ex->pool->mode == POOL_THREAD;
    ex->recycle_at = 0;
    if (ex->pool->max_requests > 0)
        ex->recycle_at = ex->pool->max_requests +
                         (ex->pool->max_requests_jitter ? (uint64_t)random() % (ex->pool->max_requests_jitter + 1) : 0);
    if (ex->started_before) {
        ex->counts.restarts++;
        ex->counts.restarts_by[ex->cause]++;
    }
    ex->started_before = true;
    child_reset(&ex->child);
    set_state(ex, EX_STARTING);
    if (ex->pool->template != NULL && template_fork(ex->pool->template, &ex->fork)) {
        ex->forked = true; /* on_forked or on_unforked follows */
        return;
    }
    spawn_process(ex);
}

/* The template's answers to ex's fork request (template.h). */
static void on_forked(struct fork_req *req, int pid)
{
    struct executor *ex = container_of(req, struct executor, fork);

    child_adopt(&ex->child, pid);
    log_debug("executor %s/%d forked, pid %d", ex->pool->name, ex->index, pid);
}

static void on_unforked(struct fork_req *req, bool template_gone)
{
    struct executor *ex = container_of(req, struct executor, fork);

    if (template_gone) { /* start it the other way */
        spawn_process(ex);
        return;
    }
    exited(ex, 1, 0, "could not be forked from its template");
}

static void on_fork_exited(struct fork_req *req, int64_t status, int sig, const char *reason)
{
    exited(container_of(req, struct executor, fork), status, sig, reason);
}

struct executor *executor_new(struct pool *pool, int index, const struct executor_events *ev)
{
    struct executor *ex = xcalloc(1, sizeof *ex);

    ex->pool = pool;
    ex->ev = ev;
    ex->index = index;
    ex->fork = (struct fork_req){.index = index, .child = &ex->child, .forked = on_forked,
                                 .failed = on_unforked, .exited = on_fork_exited};
    ex->board = board_map_take(&pool->boards);
    if (ex->board < 0) {
        log_error("pool %s: no shared memory for another executor: %s", pool->name, strerror(-ex->board));
        abort();
    }
    ex->fork.board = ex->board;
    ex->timer_open = true;
    child_init(&ex->child, &child_ops, EXECUTOR_READ_CHUNK, on_write_done);
    uv_timer_init(pool->d->loop, &ex->restart_timer);
    ex->restart_timer.data = ex;
    spawn(ex);
    return ex;
}

/* Writes the time c has left into its frame's timeout_ms slot. */
static void stamp_timeout(struct executor *ex, struct call *c)
{
    uint64_t now = uv_now(ex->pool->d->loop), left;
    unsigned char *p = (unsigned char *)c->frame.data + c->timeout_slot;

    if (c->timeout <= 0)
        return;
    left = c->deadline.at > now ? c->deadline.at - now : 1;
    if (left > UINT32_MAX)
        left = UINT32_MAX;
    p[0] = (unsigned char)(left >> 24);
    p[1] = (unsigned char)(left >> 16);
    p[2] = (unsigned char)(left >> 8);
    p[3] = (unsigned char)left;
}

void executor_send(struct executor *ex, struct call *c)
{
    msgpack_sbuffer tmp;

    stamp_timeout(ex, c);
    c->ex = ex;
    if (ex->threaded) {
        take_slot(ex, c);
    } else { /* a batch's calls take slots 0, 1, ... in order */
        if (ex->running.len == 0) { /* the first of a batch: nothing of ex's is in flight */
            board_clear_slots(board(ex), ex->slots_used);
            ex->slots_used = 0;
        }
        c->slot = (uint16_t)ex->running.len;
        ex->slots_used++;
    }
    board_store(&board(ex)->slot[c->slot], board_word(c->id, SLOT_SENT));
    call_list_push(&ex->running, c);
    c->sent_ns = tally_now_ns; /* pool_dispatch read the clock */
    if (c->frame.size >= BATCH_BYTES && ex->child.out.buf.size == 0 && !ex->child.out.writing &&
        !ex->pool->d->cfg.log_calls) { /* the access log names it from its frame: keep it */
        /* a large call travels alone in its batch and starts at once, so it
         * is never handed back: its frame can be given away, not copied
         * (its name is kept: a crash is charged to it by name) */
        call_fn_hash(c);
        c->frame_given = true;
        tmp = ex->child.out.buf;
        ex->child.out.buf = c->frame;
        c->frame = tmp;
    } else {
        msgpack_sbuffer_write(&ex->child.out.buf, c->frame.data, c->frame.size);
    }
    if (executor_room(ex) == 0)
        take_off(ex);
    mark_dirty(ex);
}

/* Kills ex, which did not come back from a stopped call. Once it is dead
 * (exited), the calls it had not started go back to the pool and
 * those it ran fail with WorkerCrashed. Its process group goes with it. */
static void kill_stuck(struct executor *ex)
{
    ex->ev->gone(ex);
    set_state(ex, EX_DEAD);
    ex->killed = true;
    kill_process(ex, SIGKILL); /* its pipe stays open: what it wrote is read */
}

/* How long a stopped call may keep ex busy before ex is replaced. */
static uint64_t grace_ms(const struct executor *ex)
{
    if (ex->threaded)
        return (uint64_t)(ex->pool->hard_timeout * 1000.0 + 0.5);
    return ex->pool->d->cfg.timeout_grace_ms;
}

static void on_grace_over(uv_timer_t *t)
{
    struct executor *ex = t->data;

    log_warn("executor %s/%d (pid %d) did not come back from a stopped call within %llu ms: "
             "replacing it%s", ex->pool->name, ex->index, ex->child.pid, (unsigned long long)grace_ms(ex),
             ex->threaded && ex->running.len > 0 ? "; the calls it runs fail" : "");
    ex->nabandoned = 0;
    kill_stuck(ex);
}

void executor_give_up(struct executor *ex, struct call *c)
{
    uint64_t until = uv_now(ex->pool->d->loop) + grace_ms(ex);

    unrun(ex, c);
    c->ex = NULL;
    if (ex->nabandoned == ex->abandoned_cap) {
        ex->abandoned_cap = ex->abandoned_cap ? ex->abandoned_cap * 2 : 4;
        ex->abandoned = xrealloc(ex->abandoned, ex->abandoned_cap * sizeof *ex->abandoned);
    }
    ex->abandoned[ex->nabandoned++] = (struct abandoned_call){c->id, until};
    if (ex->nabandoned == 1)
        uv_timer_start(&ex->restart_timer, on_grace_over, grace_ms(ex), 0);
}

/* Thread mode: asks ex to stop call c (a STOP frame). */
static void send_stop(struct executor *ex, struct call *c, enum frame_stop_reason why)
{
    msgpack_packer pk;
    size_t start;

    if (!child_pipe_usable(&ex->child))
        return;
    msgpack_packer_init(&pk, &ex->child.out.buf, msgpack_sbuffer_write);
    start = frame_begin(&ex->child.out.buf);
    msgpack_pack_array(&pk, 3);
    msgpack_pack_uint8(&pk, FRAME_STOP);
    msgpack_pack_uint64(&pk, c->id);
    msgpack_pack_uint8(&pk, (uint8_t)why);
    frame_end(&ex->child.out.buf, start);
    mark_dirty(ex);
}

void executor_stop_timeout(struct executor *ex, struct call *c)
{
    send_stop(ex, c, STOP_TIMEOUT);
}

void executor_cancel(struct executor *ex, struct call *c)
{
    union sigval v = {.sival_ptr = (void *)(uintptr_t)c->id};

    if (ex->threaded)
        send_stop(ex, c, STOP_CANCEL);
    else if (!ex->exited && ex->child.pid > 0)
        sigqueue(ex->child.pid, SIGRTMIN, v);
    executor_give_up(ex, c);
}

void executor_shutdown(struct executor *ex)
{
    struct call *c;

    while ((c = call_list_pop(&ex->running)) != NULL) {
        ex->counts.failed++;
        reply_error(c, ERROR_SHUTTING_DOWN, "the daemon stopped before this call finished");
    }
    ex->shutting_down = true;
    ex->ev->gone(ex);
    uv_timer_stop(&ex->restart_timer);
    uv_close((uv_handle_t *)&ex->restart_timer, on_timer_closed);
    if (ex->forked && ex->child.pid == 0 && !ex->exited) { /* its fork has not come yet */
        template_forget(ex->pool->template, &ex->fork);
        ex->exited = true;
    }
    child_close_pipe(&ex->child);
    kill_process(ex, SIGTERM);
}
