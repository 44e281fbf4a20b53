/* One line per event on stderr: "2026-11-24T10:00:00.123Z LEVEL role[pid]: text". */
#ifndef PARLOR_LOG_H
#define PARLOR_LOG_H

#include <stdlib.h>

enum log_level { LOG_DEBUG = 0, LOG_INFO, LOG_WARN, LOG_ERROR };

void log_set_level(enum log_level level);
enum log_level log_get_level(void);
/* Parse "debug", "info", "warn", "error" (case-insensitive); -1 if unknown. */
int log_parse_level(const char *s);
/* Role printed in every line ("master", "worker 2"); copied. */
void log_set_role(const char *role);
void log_msg(enum log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define log_debug(...) do { if (log_get_level() <= LOG_DEBUG) log_msg(LOG_DEBUG, __VA_ARGS__); } while (0)
#define log_info(...)  log_msg(LOG_INFO, __VA_ARGS__)
#define log_warn(...)  log_msg(LOG_WARN, __VA_ARGS__)
#define log_error(...) log_msg(LOG_ERROR, __VA_ARGS__)

/* Broken invariant: log and abort. */
#define PARLOR_ASSERT(cond) do { if (!(cond)) { \
    log_msg(LOG_ERROR, "assertion failed: %s (%s:%d)", #cond, __FILE__, __LINE__); \
    abort(); } } while (0)

#endif
