/* proctitle: process titles. See proctitle.h. */
#include "proctitle.h"

#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>

static char *area;    /* argv[0], through the end of the last argument */
static size_t area_len;

void proctitle_init(int argc, char **argv)
{
    int i;

    if (argc < 1 || argv[0] == NULL)
        return;
    area = argv[0];
    area_len = strlen(argv[0]) + 1;
    for (i = 1; i < argc; i++) {
        if (argv[i] != area + area_len)
            break; /* not contiguous: keep to what is */
        area_len += strlen(argv[i]) + 1;
    }
}

void proctitle_set(const char *name, bool threads)
{
    const char *slash = strrchr(name, '/');
    char title[256], comm[16];
    int plen = slash != NULL ? (int)(slash - name) : (int)strlen(name);

    if (slash == NULL)
        snprintf(title, sizeof title, "pyrpool: %s", name);
    else if (strcmp(slash + 1, "template") == 0)
        snprintf(title, sizeof title, "pyrpool: %.*s template", plen, name);
    else if (threads)
        snprintf(title, sizeof title, "pyrpool: %.*s executor (thread mode)", plen, name);
    else
        snprintf(title, sizeof title, "pyrpool: %.*s executor %s", plen, name, slash + 1);
    snprintf(comm, sizeof comm, "pyrp %s", name);
    prctl(PR_SET_NAME, comm, 0, 0, 0);
    if (area == NULL || area_len < 2)
        return;
    memset(area, 0, area_len);
    memcpy(area, title, strlen(title) < area_len - 1 ? strlen(title) : area_len - 1);
}
