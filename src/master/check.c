/* check: --check's import test. See check.h. */
#include "check.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "xalloc.h"

/* Runs argv with its stdout into out (NUL-terminated, cut to len - 1);
 * returns its exit status, or -1 (killed after CHECK_IMPORT_TIMEOUT, or
 * not run), with why in out. */
static int run(char **argv, char *out, size_t len)
{
    int fds[2], status = 0;
    size_t used = 0;
    time_t until = time(NULL) + CHECK_IMPORT_TIMEOUT;
    pid_t pid;
    ssize_t n;

    out[0] = '\0';
    if (pipe(fds) != 0)
        return snprintf(out, len, "cannot make a pipe: %s", strerror(errno)), -1;
    pid = fork();
    if (pid < 0) {
        close(fds[0]);
        close(fds[1]);
        return snprintf(out, len, "cannot fork: %s", strerror(errno)), -1;
    }
    if (pid == 0) {
        dup2(fds[1], 1);
        close(fds[0]);
        close(fds[1]);
        execv(argv[0], argv);
        _exit(127);
    }
    close(fds[1]);
    for (;;) {
        struct pollfd p = {fds[0], POLLIN, 0};
        long left = (long)(until - time(NULL));

        if (left <= 0 || poll(&p, 1, (int)left * 1000) == 0) {
            kill(pid, SIGKILL);
            waitpid(pid, NULL, 0);
            close(fds[0]);
            return snprintf(out, len, "the import did not finish within %d s", CHECK_IMPORT_TIMEOUT), -1;
        }
        n = read(fds[0], out + used, len - 1 - used);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        used += (size_t)n;
        if (used == len - 1)
            break;
    }
    out[used] = '\0';
    close(fds[0]);
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

int check_preload(const struct config *cfg, const char *executor)
{
    char **argv, out[8192], *line, *tab, *save = NULL;
    size_t i, n = 0;
    int rc;

    if (cfg->npreload == 0)
        return 0;
    argv = xcalloc(6 + 2 * cfg->npython_path + cfg->npreload, sizeof *argv);
    argv[n++] = (char *)executor;
    argv[n++] = "--check-imports";
    if (cfg->venv != NULL) {
        argv[n++] = "--venv";
        argv[n++] = cfg->venv;
    }
    for (i = 0; i < cfg->npython_path; i++) {
        argv[n++] = "--path";
        argv[n++] = cfg->python_path[i];
    }
    argv[n++] = "--";
    for (i = 0; i < cfg->npreload; i++)
        argv[n++] = cfg->preload[i];
    rc = run(argv, out, sizeof out);
    free(argv);
    if (rc == 0)
        return 0;
    if (rc != 1 || out[0] == '\0') {
        fprintf(stderr, "pyrpoold: %s: python.preload: cannot test the imports: %s\n", cfg->file,
                out[0] != '\0' ? out : "the executor failed to start Python");
        return -1;
    }
    for (line = strtok_r(out, "\n", &save); line != NULL; line = strtok_r(NULL, "\n", &save)) {
        tab = strchr(line, '\t');
        if (tab == NULL)
            continue;
        *tab = '\0';
        fprintf(stderr, "pyrpoold: %s: python.preload: cannot import '%s': %s\n", cfg->file, line, tab + 1);
    }
    return -1;
}
