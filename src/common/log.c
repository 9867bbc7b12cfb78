/* log: see log.h. One write(2) per message so lines from the master and its
 * executors, which share stderr, never interleave mid-line. */
#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static enum log_level min_level = LOG_INFO;
static char log_name[64] = "pyrpoold";

void log_set_level(enum log_level level)
{
    min_level = level;
}

void log_set_name(const char *name)
{
    snprintf(log_name, sizeof log_name, "%s", name);
}

void log_msg(enum log_level level, const char *fmt, ...)
{
    static const char *const names[] = {"debug", "info", "warning", "error"};
    char line[1024];
    va_list ap;
    int n;

    if (level < min_level)
        return;
    n = snprintf(line, sizeof line, "%s[%d]: %s: ", log_name, (int)getpid(), names[level]);
    va_start(ap, fmt);
    n += vsnprintf(line + n, sizeof line - (size_t)n, fmt, ap);
    va_end(ap);
    if (n > (int)sizeof line - 2)
        n = (int)sizeof line - 2;
    line[n++] = '\n';
    if (write(STDERR_FILENO, line, (size_t)n) < 0)
        return;
}
