#include "worker/history_args.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "worker/worker_int.h"    /* CHATHISTORY_MAX */

#define PARAM_SHOWN_MAX 64        /* longest client parameter repeated in a FAIL */

const struct history_sub history_subs[] = {
    [SUB_LATEST] = { "LATEST", 4 },
    [SUB_BEFORE] = { "BEFORE", 4 },
    [SUB_AFTER] = { "AFTER", 4 },
    [SUB_AROUND] = { "AROUND", 4 },
    [SUB_BETWEEN] = { "BETWEEN", 5 },
    [SUB_TARGETS] = { "TARGETS", 4 },
};

const char *history_shown(const char *p)
{
    if (!p || !p[0] || p[0] == ':' || strchr(p, ' ') || strlen(p) > PARAM_SHOWN_MAX)
        return "*";
    return p;
}

int history_parse_timestamp(const char *s, int64_t *ms_out)
{
    static const char shape[] = "dddd-dd-ddTdd:dd:dd";
    size_t n = strlen(shape);
    if (strlen(s) < n + 1)
        return -EINVAL;
    for (size_t i = 0; i < n; i++)
        if (shape[i] == 'd' ? (s[i] < '0' || s[i] > '9') : s[i] != shape[i])
            return -EINVAL;
    struct tm tm = { 0 };
    tm.tm_year = atoi(s) - 1900;
    tm.tm_mon = atoi(s + 5) - 1;
    tm.tm_mday = atoi(s + 8);
    tm.tm_hour = atoi(s + 11);
    tm.tm_min = atoi(s + 14);
    tm.tm_sec = atoi(s + 17);
    const char *p = s + n;
    int frac_ms = 0, digits = 0;
    if (*p == '.') {
        for (p++; *p >= '0' && *p <= '9'; p++, digits++)
            if (digits < 3)
                frac_ms = frac_ms * 10 + (*p - '0');
        if (digits == 0 || digits > 9)
            return -EINVAL;
        for (int d = digits; d < 3; d++)
            frac_ms *= 10;
    }
    if (strcmp(p, "Z") != 0)
        return -EINVAL;
    struct tm want = tm;
    time_t t = timegm(&tm);
    /* Reject what timegm had to normalise (Feb 30, 25:00, ...). */
    if (t == (time_t)-1 || tm.tm_year != want.tm_year || tm.tm_mon != want.tm_mon ||
        tm.tm_mday != want.tm_mday || tm.tm_hour != want.tm_hour || tm.tm_min != want.tm_min ||
        tm.tm_sec != want.tm_sec || tm.tm_year < 0 - 1900 + 1 || tm.tm_year > 9999 - 1900)
        return -EINVAL;
    *ms_out = (int64_t)t * 1000 + frac_ms;
    return 0;
}

void history_format_ms(int64_t ms, bool iso, char *out, size_t cap)
{
    time_t sec = (time_t)(ms / 1000);
    int frac = (int)(ms % 1000);
    if (frac < 0) {
        frac += 1000;
        sec--;
    }
    struct tm tm;
    gmtime_r(&sec, &tm);
    snprintf(out, cap, iso ? "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ" : "%04d-%02d-%02d %02d:%02d:%02d.%03d+00",
             tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, frac);
}

/* msgid=ID, timestamp=..., or * (only where star_ok). */
static int parse_selector(const char *p, bool star_ok, struct selector *s)
{
    memset(s, 0, sizeof *s);
    if (strcmp(p, "*") == 0) {
        s->kind = SEL_STAR;
        return star_ok ? 0 : -EINVAL;
    }
    if (strncmp(p, "msgid=", 6) == 0) {
        size_t len = strlen(p + 6);
        if (len == 0 || len >= sizeof s->value)
            return -EINVAL;
        s->kind = SEL_MSGID;
        memcpy(s->value, p + 6, len + 1);
        return 0;
    }
    if (strncmp(p, "timestamp=", 10) == 0 && history_parse_timestamp(p + 10, &s->ms) == 0) {
        s->kind = SEL_TIME;
        history_format_ms(s->ms, false, s->value, sizeof s->value);
        return 0;
    }
    return -EINVAL;
}

/* Positive decimal; bigger than CHATHISTORY_MAX is clamped.  -1 if invalid. */
static int parse_limit(const char *p)
{
    if (!p[0])
        return -1;
    for (const char *q = p; *q; q++)
        if (*q < '0' || *q > '9')
            return -1;
    long n = strlen(p) > 9 ? CHATHISTORY_MAX : strtol(p, NULL, 10);
    if (n < 1)
        return -1;
    return n > CHATHISTORY_MAX ? CHATHISTORY_MAX : (int)n;
}

static int refuse(struct history_args *out, const char *code, const char *param, const char *text)
{
    out->fail_code = code;
    out->fail_text = text;
    if (param)
        snprintf(out->fail_context, sizeof out->fail_context, "%s %s", out->name,
                 history_shown(param));
    else
        snprintf(out->fail_context, sizeof out->fail_context, "%s", out->name);
    return -EINVAL;
}

int history_args_parse(int nparams, char *const *params, struct history_args *out)
{
    memset(out, 0, sizeof *out);
    if (nparams < 1)
        return refuse(out, "NEED_MORE_PARAMS", NULL, "Missing parameters");
    snprintf(out->name, sizeof out->name, "%s", params[0]);
    for (char *p = out->name; *p; p++)
        if (*p >= 'a' && *p <= 'z')
            *p = (char)(*p - 32);
    int sub, nsubs = (int)(sizeof history_subs / sizeof history_subs[0]);
    for (sub = 0; sub < nsubs; sub++)
        if (strcmp(history_subs[sub].name, out->name) == 0 && strlen(params[0]) < sizeof out->name)
            break;
    if (sub == nsubs) {
        refuse(out, "UNKNOWN_COMMAND", NULL, "Unknown command");
        snprintf(out->fail_context, sizeof out->fail_context, "%s", history_shown(params[0]));
        return -EINVAL;
    }
    out->sub = (enum sub)sub;
    int want = history_subs[sub].nparams;
    if (nparams < want)
        return refuse(out, "NEED_MORE_PARAMS", NULL, "Missing parameters");
    if (nparams > want)
        return refuse(out, "INVALID_PARAMS", NULL, "Too many parameters");
    const char *limit_p = params[want - 1];
    out->limit = parse_limit(limit_p);
    if (out->limit < 0)
        return refuse(out, "INVALID_PARAMS", limit_p, "Invalid limit");
    if (sub == SUB_TARGETS) {
        for (int i = 1; i <= 2; i++) {
            struct selector *s = i == 1 ? &out->a : &out->b;
            if (parse_selector(params[i], false, s) < 0 || s->kind != SEL_TIME)
                return refuse(out, "INVALID_PARAMS", params[i], "Invalid timestamp");
        }
        return 0;
    }
    for (int i = 2; i < want - 1; i++) {
        struct selector *s = i == 2 ? &out->a : &out->b;
        if (parse_selector(params[i], sub == SUB_LATEST && i == 2, s) < 0)
            return refuse(out, "INVALID_PARAMS", params[i],
                          strncmp(params[i], "timestamp=", 10) == 0 ? "Invalid timestamp"
                                                                     : "Invalid message reference");
    }
    return 0;
}

int history_parse_zone(const char *s, char *out, size_t cap, bool *is_offset)
{
    size_t len = strlen(s);
    if (len == 0 || len >= cap || len > 63)
        return -EINVAL;
    const char *p = s;
    if (strncasecmp(p, "UTC", 3) == 0 && (p[3] == '+' || p[3] == '-'))
        p += 3;
    if (*p == '+' || *p == '-') {
        char sign = *p++;
        int digits = 0, hh = 0, mm = 0;
        while (*p >= '0' && *p <= '9' && digits < 4) {
            digits++;
            p++;
        }
        const char *d = p - digits;
        if (digits == 1 || digits == 2) {
            hh = atoi(d);
            if (*p == ':' && p[1] >= '0' && p[1] <= '9' && p[2] >= '0' && p[2] <= '9') {
                mm = (p[1] - '0') * 10 + (p[2] - '0');
                p += 3;
            }
        } else if (digits == 4) {
            hh = (d[0] - '0') * 10 + (d[1] - '0');
            mm = (d[2] - '0') * 10 + (d[3] - '0');
        } else {
            return -EINVAL;
        }
        if (*p || hh > 14 || mm > 59)
            return -EINVAL;
        snprintf(out, cap, "%c%02d:%02d", sign, hh, mm);
        *is_offset = true;
        return 0;
    }
    for (const char *q = s; *q; q++) {
        char ch = *q;
        bool ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
                  ch == '/' || ch == '_' || ch == '+' || ch == '-';
        if (!ok)
            return -EINVAL;
    }
    if (s[0] == '/' || strstr(s, "//"))
        return -EINVAL;
    snprintf(out, cap, "%s", s);
    *is_offset = false;
    return 0;
}
