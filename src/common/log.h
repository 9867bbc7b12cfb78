/* log: one-line messages on stderr ("pyrpoold[pid]: level: text"), which
 * systemd's journal or the terminal picks up. */
#ifndef PYRPOOL_LOG_H
#define PYRPOOL_LOG_H

enum log_level { LOG_DEBUG, LOG_INFO, LOG_WARN, LOG_ERROR };

/* Messages below this level are dropped (LOG_INFO unless changed). */
void log_set_level(enum log_level level);

/* Sets the name printed before the pid ("pyrpoold", "executor io/3"). */
void log_set_name(const char *name);

void log_msg(enum log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define log_debug(...) log_msg(LOG_DEBUG, __VA_ARGS__)
#define log_info(...) log_msg(LOG_INFO, __VA_ARGS__)
#define log_warn(...) log_msg(LOG_WARN, __VA_ARGS__)
#define log_error(...) log_msg(LOG_ERROR, __VA_ARGS__)

#endif
