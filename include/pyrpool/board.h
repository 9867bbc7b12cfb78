/* board: the shared memory between the master and one executor, so that
 * what an executor did is known even after it died.
 *
 * A pool owns one memfd holding a board per executor slot (board_map.h,
 * master side); executors map their own board (the template passes the
 * memfd on to the executors it forks, on fd BOARD_FD).
 *
 * DESIGN. Three things the master cannot learn from the socket once an
 * executor is dead:
 *  - which calls sent had started: each call sent gets a slot word,
 *    (call id << 2) | state. The master writes SENT when it sends the call;
 *    the executor moves it SENT -> STARTED (compare-and-swap) just before
 *    running it; the master moves it SENT -> ABANDONED (compare-and-swap)
 *    when the call is answered Timeout or Cancelled before it started.
 *    Whoever wins decides: a call the executor claimed may have run (it is
 *    never run again); a call the master abandoned never starts.
 *  - the results of calls finished since the last write: process-mode
 *    executors gather a batch's RESULT frames in the arena and write them
 *    to the socket together; `committed` (release-stored after each whole
 *    frame) says how many bytes of the arena hold whole frames. After a
 *    death the master reads the socket to its end, then the arena; a
 *    result found in both is delivered once (by call id).
 *  - which call caused a crash: a fatal signal's handler stores the id of
 *    the call its thread was running in `culprit`.
 * Slots are reused by the next batch only once every call of the previous
 * one has come back (answered, abandoned or handed back), so a slot word
 * names at most one live call. */
#ifndef PYRPOOL_BOARD_H
#define PYRPOOL_BOARD_H

#include <stdbool.h>
#include <stdint.h>

/* The executor's fd for the pool's memfd (fd 3 is its socket). */
#define BOARD_FD 4
/* Slots per board: a process-mode batch takes slots 0, 1, ... (at most
 * 64 calls); a thread-mode executor has a slot for each call it holds (at
 * most a pool's size, 1024), any free one. */
#define BOARD_SLOTS 1024
/* Results waiting for the end of a batch; a larger one is written at once. */
#define BOARD_ARENA (256 * 1024)

enum board_state { SLOT_FREE = 0, SLOT_SENT = 1, SLOT_STARTED = 2, SLOT_ABANDONED = 3 };

struct board {
    uint64_t slot[BOARD_SLOTS];
    uint64_t culprit;     /* call id whose thread raised a fatal signal; 0: none */
    uint64_t committed;   /* bytes of whole frames at the start of arena */
    char arena[BOARD_ARENA];
};

/* Boards are page-aligned in the memfd. */
#define BOARD_STRIDE ((sizeof(struct board) + 4095) & ~(size_t)4095)

static inline uint64_t board_word(uint64_t id, enum board_state s)
{
    return id << 2 | (uint64_t)s;
}

static inline enum board_state board_word_state(uint64_t w)
{
    return (enum board_state)(w & 3);
}

static inline uint64_t board_load(const uint64_t *w)
{
    return __atomic_load_n(w, __ATOMIC_ACQUIRE);
}

static inline void board_store(uint64_t *w, uint64_t v)
{
    __atomic_store_n(w, v, __ATOMIC_RELEASE);
}

/* Moves slot i from (id, SENT) to (id, to). False when the slot holds
 * anything else (the other side got there first, or another call). */
static inline bool board_claim(struct board *b, unsigned i, uint64_t id, enum board_state to)
{
    uint64_t want = board_word(id, SLOT_SENT);

    return __atomic_compare_exchange_n(&b->slot[i], &want, board_word(id, to), false,
                                       __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE);
}

/* The master, before it sends a batch: slots 0..n-1 (those the last batch
 * used) FREE, so that no slot of an earlier batch can match a call again.
 * A call the executor handed back keeps its (id, SENT) slot; sent again to
 * the same executor, it would hold two, and the executor could claim the
 * stale one while the master watches the new one, still SENT, and take the
 * call for never started. */
static inline void board_clear_slots(struct board *b, unsigned n)
{
    unsigned i;

    for (i = 0; i < n && i < BOARD_SLOTS; i++)
        board_store(&b->slot[i], board_word(0, SLOT_FREE));
}

#endif
