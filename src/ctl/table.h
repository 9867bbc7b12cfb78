/* table: pyrpoolctl's aligned tables: a header row, then rows of text
 * cells, each column as wide as its widest cell; a column of numbers
 * (counts, figures such as 0.25, "-" for none) right-aligned. */
#ifndef PYRPOOL_CTL_TABLE_H
#define PYRPOOL_CTL_TABLE_H

#include <stddef.h>
#include <stdio.h>

struct table {
    size_t ncols, nrows, cap;
    char **cells;       /* nrows * ncols copies, the header first */
};

void table_init(struct table *t, const char *const *header, size_t ncols);
void table_add(struct table *t, const char *const *row);
void table_print(const struct table *t, FILE *f);
void table_free(struct table *t);

#endif
