/* log: one message per line on stderr, which systemd's journal or the
 * terminal picks up: "pyrpoold[pid]: level: text", or with the JSON format
 * one JSON object per line: {"time", "level", "name", "pid", "msg"}. */
#ifndef PYRPOOL_LOG_H
#define PYRPOOL_LOG_H

#include <stdbool.h>
#include <stdint.h>

enum log_level { LOG_DEBUG, LOG_INFO, LOG_WARN, LOG_ERROR };

/* Messages below this level are dropped (LOG_INFO unless changed). */
void log_set_level(enum log_level level);

/* Writes JSON lines (true) or text lines (false, the default). */
void log_set_json(bool json);

/* The level named s ("debug", "info", "warning", "error"): 0, or -1. */
int log_level_parse(const char *s, enum log_level *out);

/* Sets the name printed before the pid ("pyrpoold", "executor io/3"). */
void log_set_name(const char *name);

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
