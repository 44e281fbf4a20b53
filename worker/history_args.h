/* CHATHISTORY arguments: subcommand, selectors (msgid=, timestamp=, *) and
 * limit, checked before worker/history.c looks at the target or asks the
 * database.  Pure: no I/O, no allocation, no client. */
#ifndef PARLOR_WORKER_HISTORY_ARGS_H
#define PARLOR_WORKER_HISTORY_ARGS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum sub { SUB_LATEST, SUB_BEFORE, SUB_AFTER, SUB_AROUND, SUB_BETWEEN, SUB_TARGETS };

/* Indexed by enum sub: the name and the parameter count with the subcommand. */
extern const struct history_sub { const char *name; int nparams; } history_subs[];

enum sel_kind { SEL_STAR, SEL_MSGID, SEL_TIME };

struct selector {
    enum sel_kind kind;
    char value[96];               /* the msgid, or the time as SQL text */
    int64_t ms;                   /* SEL_TIME */
};

/* What history_args_parse found; on failure, the FAIL reply to send. */
struct history_args {
    enum sub sub;
    char name[16];                /* the subcommand, upper case */
    int limit;                    /* 1..CHATHISTORY_MAX */
    struct selector a, b;         /* as many as the subcommand takes */
    const char *fail_code;        /* NEED_MORE_PARAMS, INVALID_PARAMS, ... */
    char fail_context[160];       /* subcommand and the offending parameter */
    const char *fail_text;
};

/* Check params[0..nparams) of a CHATHISTORY command (params[0] is the
 * subcommand; the target, params[1] except for TARGETS, is not looked at).
 * Returns 0, or -EINVAL with out->fail_* set. */
int history_args_parse(int nparams, char *const *params, struct history_args *out);

/* A client's parameter repeated in a reply: itself when it is one short
 * middle parameter, "*" otherwise. */
const char *history_shown(const char *p);

/* "YYYY-MM-DDThh:mm:ss[.fraction]Z" -> milliseconds since the epoch
 * (truncated to the millisecond).  0 or -EINVAL. */
int history_parse_timestamp(const char *s, int64_t *ms_out);

/* HistServ's tz= value: a UTC offset ("+09:00", "+0900", "+9", "UTC+9";
 * east is +) becomes "+HH:MM" with *is_offset set, for PostgreSQL as an
 * interval; anything else must look like a zone name ("Asia/Seoul", "UTC":
 * letters, digits, '/', '_', '+', '-'), copied as it is, whether PostgreSQL
 * knows it is asked separately.  0 or -EINVAL. */
int history_parse_zone(const char *s, char *out, size_t cap, bool *is_offset);

/* Milliseconds since the epoch -> "YYYY-MM-DD hh:mm:ss.mmm+00" (for SQL)
 * or, with iso, "YYYY-MM-DDThh:mm:ss.mmmZ" (for clients). */
void history_format_ms(int64_t ms, bool iso, char *out, size_t cap);

#endif
