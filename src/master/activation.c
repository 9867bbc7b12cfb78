/* activation: sockets passed by systemd. See activation.h. */
#include "activation.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#ifdef HAVE_SYSTEMD
#include <systemd/sd-daemon.h>
#endif

#include "log.h"

int activation_take(struct activated **out, char *err, size_t errlen)
{
    *out = NULL;
#ifdef HAVE_SYSTEMD
    char **names = NULL;
    int n = sd_listen_fds_with_names(1, &names), i;

    if (n < 0) {
        snprintf(err, errlen, "cannot read the sockets systemd passed (LISTEN_FDS): %s", strerror(-n));
        return -1;
    }
    if (n > 0) {
        *out = calloc((size_t)n, sizeof **out);
        if (*out == NULL) {
            snprintf(err, errlen, "out of memory");
            return -1;
        }
    }
    for (i = 0; i < n; i++) {
        (*out)[i].fd = SD_LISTEN_FDS_START + i;
        fcntl((*out)[i].fd, F_SETFD, FD_CLOEXEC);
        snprintf((*out)[i].name, sizeof (*out)[i].name, "%s", names != NULL && names[i] ? names[i] : "unknown");
    }
    if (names != NULL) {
        for (i = 0; i < n; i++)
            free(names[i]);
        free(names);
    }
    return n;
#else
    (void)err;
    (void)errlen;
    if (getenv("LISTEN_FDS") != NULL)
        log_warn("systemd passed sockets (LISTEN_FDS), but this build has no socket activation: binding instead");
    unsetenv("LISTEN_FDS");
    unsetenv("LISTEN_PID");
    unsetenv("LISTEN_FDNAMES");
    return 0;
#endif
}

void activation_free(struct activated *a, size_t n)
{
    size_t i;

    for (i = 0; i < n; i++)
        if (a[i].fd >= 0)
            close(a[i].fd);
    free(a);
}
