/* board_map: a pool's boards in one memfd. See board_map.h. */
#include "board_map.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "xalloc.h"

static int resize(struct board_map *m, size_t n)
{
    void *p;

    if (ftruncate(m->fd, (off_t)(n * BOARD_STRIDE)) != 0)
        return -errno;
    if (m->base == NULL)
        p = mmap(NULL, n * BOARD_STRIDE, PROT_READ | PROT_WRITE, MAP_SHARED, m->fd, 0);
    else
        p = mremap(m->base, m->cap * BOARD_STRIDE, n * BOARD_STRIDE, MREMAP_MAYMOVE);
    if (p == MAP_FAILED)
        return -errno;
    m->base = p;
    m->used = xrealloc(m->used, n * sizeof *m->used);
    memset(m->used + m->cap, 0, (n - m->cap) * sizeof *m->used);
    m->cap = n;
    return 0;
}

int board_map_init(struct board_map *m, size_t n)
{
    int rc;

    memset(m, 0, sizeof *m);
    m->fd = memfd_create("pyrpool-boards", MFD_CLOEXEC);
    if (m->fd < 0)
        return -errno;
    rc = resize(m, n > 0 ? n : 1);
    if (rc < 0) {
        close(m->fd);
        m->fd = -1;
    }
    return rc;
}

int board_map_take(struct board_map *m)
{
    size_t i;
    int rc;

    for (i = 0; i < m->cap && m->used[i]; i++)
        ;
    if (i == m->cap && (rc = resize(m, m->cap * 2)) < 0)
        return rc;
    m->used[i] = true;
    board_map_reset(m, (int)i);
    return (int)i;
}

void board_map_give(struct board_map *m, int i)
{
    m->used[i] = false;
}

void board_map_reset(struct board_map *m, int i)
{
    struct board *b = board_map_get(m, i);

    memset(b->slot, 0, sizeof b->slot);
    b->culprit = 0;
    b->committed = 0;
}

void board_map_destroy(struct board_map *m)
{
    if (m->base != NULL)
        munmap(m->base, m->cap * BOARD_STRIDE);
    if (m->fd >= 0)
        close(m->fd);
    free(m->used);
    memset(m, 0, sizeof *m);
    m->fd = -1;
}
