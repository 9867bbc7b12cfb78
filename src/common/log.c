/* log: see log.h. One write(2) per message so lines from the master and its
 * executors, which share stderr, never interleave mid-line. JSON lines are
 * written by hand: one flat object of strings and an int. */
#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

static const char *const level_names[] = {"debug", "info", "warning", "error"};
static enum log_level min_level = LOG_INFO;
static bool as_json;
static char log_name[64] = "pyrpoold";

void log_set_json(bool json)
{
    as_json = json;
}

int log_level_parse(const char *s, enum log_level *out)
{
    int i;

    for (i = 0; i <= LOG_ERROR; i++) {
        if (strcmp(s, level_names[i]) == 0) {
            *out = (enum log_level)i;
            return 0;
        }
    }
    return -1;
}

/* Appends s to line (n used of cap) as the inside of a JSON string; cut
 * at cap (whole escapes only). Returns the new length. */
static size_t json_escape(char *line, size_t n, size_t cap, const char *s)
{
    for (; *s != '\0' && n + 7 < cap; s++) {
        unsigned char c = (unsigned char)*s;

        if (c == '"' || c == '\\')
            n += (size_t)snprintf(line + n, cap - n, "\\%c", c);
        else if (c == '\n')
            n += (size_t)snprintf(line + n, cap - n, "\\n");
        else if (c < 0x20 || c == 0x7f)
            n += (size_t)snprintf(line + n, cap - n, "\\u%04x", c);
        else
            line[n++] = (char)c;
    }
    return n;
}

/* {"time": ..., "level": ..., "name": ..., "pid": ..., "msg": ...} */
static size_t json_line(char *line, size_t cap, enum log_level level, const char *msg)
{
    struct timeval tv;
    struct tm tm;
    size_t n;

    gettimeofday(&tv, NULL);
    gmtime_r(&tv.tv_sec, &tm);
    n = (size_t)snprintf(line, cap, "{\"time\": \"%04d-%02d-%02dT%02d:%02d:%02d.%03dZ\", \"level\": \"%s\", "
                         "\"name\": \"", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
                         tm.tm_sec, (int)(tv.tv_usec / 1000), level_names[level]);
    n = json_escape(line, n, cap, log_name);
    n += (size_t)snprintf(line + n, cap - n, "\", \"pid\": %d, \"msg\": \"", (int)getpid());
    n = json_escape(line, n, cap - 3, msg);
    n += (size_t)snprintf(line + n, cap - n, "\"}");
    return n;
}

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
    char line[4096], msg[3000];
    va_list ap;
    int n;

    if (level < min_level)
        return;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (as_json)
        n = (int)json_line(line, sizeof line - 1, level, msg);
    else
        n = snprintf(line, sizeof line - 1, "%s[%d]: %s: %s", log_name, (int)getpid(), level_names[level], msg);
    if (n > (int)sizeof line - 2)
        n = (int)sizeof line - 2;
    line[n++] = '\n';
    if (write(STDERR_FILENO, line, (size_t)n) < 0)
        return;
}
