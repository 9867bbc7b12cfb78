/* activation: the listening sockets systemd passes to the daemon (socket
 * activation: sd_listen_fds_with_names), each with the name its socket
 * unit gave it (FileDescriptorName=). Taken once at start; the LISTEN_*
 * variables leave the environment, and the sockets are close-on-exec, so
 * executors see neither. Without libsystemd there are none. A leaf. */
#ifndef PYRPOOL_ACTIVATION_H
#define PYRPOOL_ACTIVATION_H

#include <stddef.h>

struct activated {
    int fd;          /* -1 once a listener took it */
    char name[256];  /* FileDescriptorName, "unknown" if none was set */
};

/* The sockets systemd passed: their number (0 for none), the array in
 * *out; or -1 with the reason in err. */
int activation_take(struct activated **out, char *err, size_t errlen);

/* Closes the sockets no listener took and frees the array. */
void activation_free(struct activated *a, size_t n);

#endif
