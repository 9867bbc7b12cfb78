/* table: aligned columns. See table.h. */
#include "table.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "xalloc.h"

void table_init(struct table *t, const char *const *header, size_t ncols)
{
    memset(t, 0, sizeof *t);
    t->ncols = ncols;
    table_add(t, header);
}

void table_add(struct table *t, const char *const *row)
{
    size_t i;

    if (t->nrows == t->cap) {
        t->cap = t->cap ? 2 * t->cap : 16;
        t->cells = xrealloc(t->cells, t->cap * t->ncols * sizeof *t->cells);
    }
    for (i = 0; i < t->ncols; i++)
        t->cells[t->nrows * t->ncols + i] = xstrdup(row[i]);
    t->nrows++;
}

/* A count, a figure such as 0.25, or "-" (none): right-aligned. */
static bool numeric(const char *s)
{
    return strcmp(s, "-") == 0 || (s[0] >= '0' && s[0] <= '9' && strspn(s, "0123456789.") == strlen(s));
}

void table_print(const struct table *t, FILE *f)
{
    size_t widths[32] = {0}, r, i, w;
    bool right[32];

    for (i = 0; i < t->ncols && i < 32; i++) {
        right[i] = t->nrows > 1;
        for (r = 0; r < t->nrows; r++) {
            w = strlen(t->cells[r * t->ncols + i]);
            if (w > widths[i])
                widths[i] = w;
            if (r > 0 && !numeric(t->cells[r * t->ncols + i]))
                right[i] = false;
        }
    }
    for (r = 0; r < t->nrows; r++) {
        for (i = 0; i < t->ncols && i < 32; i++) {
            const char *cell = t->cells[r * t->ncols + i];
            bool last = i + 1 == t->ncols;

            if (right[i])
                fprintf(f, "%*s%s", (int)widths[i], cell, last ? "" : "  ");
            else if (last)
                fputs(cell, f);
            else
                fprintf(f, "%-*s  ", (int)widths[i], cell);
        }
        fputc('\n', f);
    }
}

void table_free(struct table *t)
{
    size_t i;

    for (i = 0; i < t->nrows * t->ncols; i++)
        free(t->cells[i]);
    free(t->cells);
}
