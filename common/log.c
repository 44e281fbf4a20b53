#include "common/log.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

/* A line no longer than PIPE_BUF is written atomically to a pipe, so lines
 * from the master and all workers sharing one stderr never interleave.
 * Longer messages are cut and end in "...". */
#define LOG_LINE_MAX 4096

static enum log_level current_level = LOG_INFO;
static char role[64] = "parlord";

static const char *const level_words[] = {
    [LOG_DEBUG] = "DEBUG",
    [LOG_INFO] = "INFO",
    [LOG_WARN] = "WARN",
    [LOG_ERROR] = "ERROR",
};

void log_set_level(enum log_level level)
{
    current_level = level;
}

enum log_level log_get_level(void)
{
    return current_level;
}

int log_parse_level(const char *s)
{
    for (int i = LOG_DEBUG; i <= LOG_ERROR; i++)
        if (strcasecmp(s, level_words[i]) == 0)
            return i;
    return -1;
}

void log_set_role(const char *r)
{
    snprintf(role, sizeof role, "%s", r ? r : "");
}

/* Never allocates: it is called on the way to abort() after ENOMEM.  Keeps
 * errno so a caller can log and then still look at it. */
void log_msg(enum log_level level, const char *fmt, ...)
{
    if (level < current_level)
        return;
    if ((int)level < LOG_DEBUG || level > LOG_ERROR)
        level = LOG_ERROR;
    int saved_errno = errno;

    struct timespec ts;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);

    char line[LOG_LINE_MAX];
    size_t n = strftime(line, sizeof line, "%Y-%m-%dT%H:%M:%S", &tm);
    n += (size_t)snprintf(line + n, sizeof line - n, ".%03ldZ %s %s[%ld]: ",
                          ts.tv_nsec / 1000000L, level_words[level], role,
                          (long)getpid());
    if (n >= sizeof line)
        n = sizeof line - 1;   /* only with an absurd role; still one line */

    size_t head = n;
    va_list ap;
    va_start(ap, fmt);
    int m = vsnprintf(line + n, sizeof line - n, fmt, ap);
    va_end(ap);
    if (m > 0) {
        size_t room = sizeof line - n - 1;   /* keep one byte for '\n' */
        if ((size_t)m > room) {
            n += room;
            line[n - 3] = line[n - 2] = line[n - 1] = '.';
        } else {
            n += (size_t)m;
        }
    }
    /* One event, one line: a newline inside a message (say, text a client
     * sent) must not start a line that looks like another event. */
    for (size_t i = head; i < n; i++)
        if (line[i] == '\n' || line[i] == '\r')
            line[i] = ' ';
    line[n++] = '\n';

    ssize_t w;
    do {
        w = write(STDERR_FILENO, line, n);
    } while (w < 0 && errno == EINTR);

    errno = saved_errno;
}
