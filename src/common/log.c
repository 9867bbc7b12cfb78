/* log: see log.h. One write(2) per message so lines from the master and its
 * executors, which share stderr, never interleave mid-line (the master's
 * go through its log queue, which keeps them whole: log_set_sink). JSON
 * lines are written by hand: one flat object of strings and numbers, bytes
 * that are not UTF-8 written as U+FFFD so that every line parses. */
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
static int log_fd = STDERR_FILENO;
static void (*log_sink)(const char *rec, size_t len, void *arg);
static void *log_sink_arg;

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

/* printf to line (n used of cap), cut at cap: returns the new length,
 * at most cap - 1. */
__attribute__((format(printf, 4, 5))) static size_t put(char *line, size_t n, size_t cap, const char *fmt, ...)
{
    va_list ap;
    int k;

    if (n + 1 >= cap)
        return n;
    va_start(ap, fmt);
    k = vsnprintf(line + n, cap - n, fmt, ap);
    va_end(ap);
    if (k < 0)
        return n;
    return n + (size_t)k < cap ? n + (size_t)k : cap - 1;
}

/* The length of the well-formed UTF-8 sequence at s (n bytes there), or 0
 * when it is not one (overlong forms and surrogates are not). */
static size_t utf8_len(const unsigned char *s, size_t n)
{
    uint32_t cp;
    size_t len, i;

    if (s[0] < 0x80)
        return 1;
    if (s[0] >= 0xc2 && s[0] <= 0xdf)
        len = 2, cp = s[0] & 0x1fu;
    else if (s[0] >= 0xe0 && s[0] <= 0xef)
        len = 3, cp = s[0] & 0x0fu;
    else if (s[0] >= 0xf0 && s[0] <= 0xf4)
        len = 4, cp = s[0] & 0x07u;
    else
        return 0;
    if (n < len)
        return 0;
    for (i = 1; i < len; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        cp = cp << 6 | (s[i] & 0x3fu);
    }
    if ((len == 3 && cp < 0x800) || (len == 4 && (cp < 0x10000 || cp > 0x10ffff)) || (cp >= 0xd800 && cp <= 0xdfff))
        return 0;
    return len;
}

/* Appends s (len bytes) to line (n used of cap) as the inside of a JSON
 * string; cut at cap (whole escapes only). Returns the new length. */
static size_t json_escape(char *line, size_t n, size_t cap, const char *s, size_t len)
{
    const unsigned char *p = (const unsigned char *)s, *end = p + len;
    size_t k;

    while (p < end && n + 7 < cap) {
        if (*p == '"' || *p == '\\') {
            line[n++] = '\\';
            line[n++] = (char)*p++;
        } else if (*p == '\n') {
            memcpy(line + n, "\\n", 2);
            n += 2;
            p++;
        } else if (*p < 0x20 || *p == 0x7f) {
            n = put(line, n, cap, "\\u%04x", *p++);
        } else if ((k = utf8_len(p, (size_t)(end - p))) == 0) {
            memcpy(line + n, "\\ufffd", 6);
            n += 6;
            p++;
        } else {
            memcpy(line + n, p, k);
            n += k;
            p += k;
        }
    }
    return n;
}

/* {"time": ..., "level": ..., "name": ..., "pid": ..., fields..., "msg": ...} */
static size_t json_line(char *line, size_t cap, enum log_level level, const char *msg, size_t len,
                        const struct log_field *fields, size_t nfields)
{
    struct timeval tv;
    struct tm tm;
    size_t n, i;

    gettimeofday(&tv, NULL);
    gmtime_r(&tv.tv_sec, &tm);
    n = put(line, 0, cap, "{\"time\": \"%04d-%02d-%02dT%02d:%02d:%02d.%03dZ\", \"level\": \"%s\", \"name\": \"",
            tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
            (int)(tv.tv_usec / 1000), level_names[level]);
    n = json_escape(line, n, cap, log_name, strlen(log_name));
    n = put(line, n, cap, "\", \"pid\": %d", (int)getpid());
    for (i = 0; i < nfields; i++) {
        n = put(line, n, cap, ", \"%s\": ", fields[i].key);
        if (fields[i].type == LOG_INT) {
            n = put(line, n, cap, "%lld", fields[i].num);
        } else if (fields[i].type == LOG_BOOL) {
            n = put(line, n, cap, "%s", fields[i].num ? "true" : "false");
        } else {
            n = put(line, n, cap, "\"");
            n = json_escape(line, n, cap, fields[i].str, strlen(fields[i].str));
            n = put(line, n, cap, "\"");
        }
    }
    n = put(line, n, cap, ", \"msg\": \"");
    n = json_escape(line, n, cap - 3, msg, len);
    return put(line, n, cap, "\"}");
}

size_t log_format(char *buf, size_t cap, enum log_level level, const char *prefix, const char *msg, size_t len,
                  const struct log_field *fields, size_t nfields)
{
    size_t n;

    cap--; /* the newline's */
    if (as_json) {
        n = json_line(buf, cap, level, msg, len, fields, nfields);
    } else {
        n = put(buf, 0, cap, "%s[%d]: %s: %s", log_name, (int)getpid(), level_names[level], prefix);
        if (len > cap - 1 - n)
            len = cap - 1 - n;
        memcpy(buf + n, msg, len);
        n += len;
    }
    buf[n++] = '\n';
    return n;
}

void log_set_level(enum log_level level)
{
    min_level = level;
}

bool log_enabled(enum log_level level)
{
    return level >= min_level;
}

void log_set_name(const char *name)
{
    snprintf(log_name, sizeof log_name, "%s", name);
}

void log_set_fd(int fd)
{
    log_fd = fd;
}

void log_set_sink(void (*sink)(const char *rec, size_t len, void *arg), void *arg)
{
    log_sink = sink;
    log_sink_arg = arg;
}

static void emit(const char *rec, size_t len)
{
    if (log_sink != NULL)
        log_sink(rec, len, log_sink_arg);
    else if (write(log_fd, rec, len) < 0)
        return;
}

void log_record(enum log_level level, const char *prefix, const char *msg, const struct log_field *fields,
                size_t nfields)
{
    char line[4096];

    if (level < min_level)
        return;
    emit(line, log_format(line, sizeof line, level, prefix, msg, strlen(msg), fields, nfields));
}

void log_msg(enum log_level level, const char *fmt, ...)
{
    char line[4096], msg[3000];
    va_list ap;

    if (level < min_level)
        return;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    emit(line, log_format(line, sizeof line, level, "", msg, strlen(msg), NULL, 0));
}
