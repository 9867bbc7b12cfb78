/* board_map: the master's side of a pool's boards (board.h): one memfd
 * with a board per executor, mapped into the master, handed to the pool's
 * template and executors on BOARD_FD. A board is taken by an executor for
 * its whole life (restarts included) and freed with it; the memfd grows
 * when a pool grows and never shrinks (executors leaving after a resize
 * keep theirs until they are gone). */
#ifndef PYRPOOL_BOARD_MAP_H
#define PYRPOOL_BOARD_MAP_H

#include <stdbool.h>
#include <stddef.h>

#include "board.h"

struct board_map {
    int fd;          /* the memfd, close-on-exec in the master */
    char *base;      /* cap boards, mapped */
    size_t cap;
    bool *used;
};

/* Creates the memfd with room for n boards. Returns 0 or a negative errno. */
int board_map_init(struct board_map *m, size_t n);

/* Takes a free board (growing the map when none is). Returns its index, or
 * a negative errno. */
int board_map_take(struct board_map *m);

/* Gives board i back. */
void board_map_give(struct board_map *m, int i);

/* Board i, blank (every slot FREE, nothing committed) when reset. */
static inline struct board *board_map_get(const struct board_map *m, int i)
{
    return (struct board *)(m->base + (size_t)i * BOARD_STRIDE);
}
void board_map_reset(struct board_map *m, int i);

void board_map_destroy(struct board_map *m);

#endif
