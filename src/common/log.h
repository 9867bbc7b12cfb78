/* log: one message per line on stderr, which systemd's journal or the
 * terminal picks up: "pyrpoold[pid]: level: text", or with the JSON format
 * one JSON object per line: {"time", "level", "name", "pid", "msg"}, plus
 * the keys of its own a record may carry (log_record: an executor's
 * output, captured by the master, says whose it is). */
#ifndef PYRPOOL_LOG_H
#define PYRPOOL_LOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum log_level { LOG_DEBUG, LOG_INFO, LOG_WARN, LOG_ERROR };

/* A key of a record beyond the five every record has (JSON only; the text
 * format shows the record's prefix instead). */
enum log_type { LOG_STR, LOG_INT, LOG_BOOL };

struct log_field {
    const char *key;
    enum log_type type;
    const char *str; /* LOG_STR */
    long long num;   /* LOG_INT; LOG_BOOL: 0 is false */
};

/* Messages below this level are dropped (LOG_INFO unless changed). */
void log_set_level(enum log_level level);

/* True when a message at level is logged. */
bool log_enabled(enum log_level level);

/* Writes JSON lines (true) or text lines (false, the default). */
void log_set_json(bool json);

/* The level named s ("debug", "info", "warning", "error"): 0, or -1. */
int log_level_parse(const char *s, enum log_level *out);

/* Sets the name printed before the pid ("pyrpoold", "executor io/3"). */
void log_set_name(const char *name);

/* Records are written to fd (2 unless changed), one write(2) each. */
void log_set_fd(int fd);

/* Hands every record (whole, ending with a newline) to sink instead of
 * writing it: the master's log queue (logq.h). NULL: write them again. */
void log_set_sink(void (*sink)(const char *rec, size_t len, void *arg), void *arg);

/* Formats one record at level into buf (cap bytes, at least 256): text
 * "name[pid]: level: " then prefix then msg; JSON the five keys with msg,
 * then fields (prefix is not shown). msg is len bytes of anything (JSON
 * escapes it, invalid UTF-8 becoming U+FFFD); a record too long for cap
 * is cut. Returns its length, a newline at the end included. */
size_t log_format(char *buf, size_t cap, enum log_level level, const char *prefix, const char *msg, size_t len,
                  const struct log_field *fields, size_t nfields);

/* Logs one record (log_format's) when level is enabled. */
void log_record(enum log_level level, const char *prefix, const char *msg, const struct log_field *fields,
                size_t nfields);

void log_msg(enum log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define log_debug(...) log_msg(LOG_DEBUG, __VA_ARGS__)
#define log_info(...) log_msg(LOG_INFO, __VA_ARGS__)
#define log_warn(...) log_msg(LOG_WARN, __VA_ARGS__)
#define log_error(...) log_msg(LOG_ERROR, __VA_ARGS__)

/* A warning that clients can cause at will (turned away, a wrong token,
 * bytes that are not MessagePack): at most one line a second from each
 * place that logs it, so that a flood of them does not flood the log.
 * now_ms: the caller's clock in milliseconds. */
#define log_warn_often(now_ms, ...)                                        \
    do {                                                                   \
        static uint64_t log_last_ms_;                                      \
        uint64_t log_now_ms_ = (now_ms);                                   \
        if (log_last_ms_ == 0 || log_now_ms_ - log_last_ms_ >= 1000) {     \
            log_last_ms_ = log_now_ms_;                                    \
            log_warn(__VA_ARGS__);                                         \
        }                                                                  \
    } while (0)

#endif
