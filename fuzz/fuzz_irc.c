/* common/irc.c: the IRC line and tag parser, UTF-8 validation, casemapping,
 * ban masks and name rules, with the properties callers rely on. */
#include <stdbool.h>
#include <string.h>

#include "common/irc.h"
#include "fuzz/fuzz.h"

static bool inside(const char *p, const char *buf, size_t len)
{
    return p >= buf && p <= buf + len;
}

/* The line as the worker hands it over: no NUL inside, NUL-terminated. */
static void parse_line(const char *line, size_t len)
{
    char *buf = malloc(len + 1);
    FUZZ_CHECK(buf != NULL);
    memcpy(buf, line, len);
    buf[len] = '\0';
    struct irc_msg m;
    if (irc_parse(buf, &m) == 0) {
        FUZZ_CHECK(m.command && m.command[0] && inside(m.command, buf, len));
        FUZZ_CHECK(!strchr(m.command, ' '));
        FUZZ_CHECK(m.nparams >= 0 && m.nparams <= IRC_MAX_PARAMS);
        if (m.tags)
            FUZZ_CHECK(inside(m.tags, buf, len) && !strchr(m.tags, ' '));
        if (m.source)
            FUZZ_CHECK(inside(m.source, buf, len) && !strchr(m.source, ' '));
        for (int i = 0; i < m.nparams; i++) {
            FUZZ_CHECK(inside(m.params[i], buf, len));
            bool last = i == m.nparams - 1;
            /* Only the trailing (or 15th) parameter may hold spaces, and
             * only a trailing one may be empty or start with ':'. */
            if (!last || (!m.trailing && m.nparams < IRC_MAX_PARAMS)) {
                FUZZ_CHECK(!strchr(m.params[i], ' '));
                FUZZ_CHECK(m.params[i][0] != '\0');
            }
        }
        if (m.trailing)
            FUZZ_CHECK(m.nparams >= 1);
        /* Tags the way the worker reads them: ';'-separated key[=value]. */
        if (m.tags) {
            size_t tl = strlen(m.tags);
            FUZZ_CHECK(tl <= len);
            for (char *save, *tok = strtok_r(m.tags, ";", &save); tok;
                 tok = strtok_r(NULL, ";", &save))
                FUZZ_CHECK(strlen(tok) <= tl && !strchr(tok, ';'));
        }
    }
    free(buf);
}

static void names(const char *s, size_t len)
{
    bool valid = utf8_valid(s, len);
    if (irc_nick_valid(s, len)) {
        FUZZ_CHECK(valid && len >= 1 && len <= IRC_NICK_MAX);
        FUZZ_CHECK(!memchr(s, ' ', len) && !memchr(s, '\0', len) && !memchr(s, ',', len));
        FUZZ_CHECK(!(s[0] >= '0' && s[0] <= '9') && s[0] != '-' && s[0] != '#');
    }
    if (irc_channel_valid(s, len)) {
        FUZZ_CHECK(valid && len >= 2 && len <= IRC_CHANNEL_MAX && s[0] == '#');
        FUZZ_CHECK(!memchr(s, ' ', len) && !memchr(s, ',', len) && !memchr(s, '\0', len));
    }
    /* Casefolding keeps the length, is idempotent and does not change the
     * hash nor the comparison. */
    char *a = malloc(len + 1), *b = malloc(len + 1);
    FUZZ_CHECK(a && b);
    irc_casefold(a, s, len);
    irc_casefold(b, a, len);
    FUZZ_CHECK(memcmp(a, b, len + 1) == 0);
    FUZZ_CHECK(irc_casehash(s, len) == irc_casehash(a, len));
    FUZZ_CHECK(utf8_valid(a, len) == valid);
    memcpy(b, s, len);
    b[len] = '\0';
    FUZZ_CHECK(irc_casecmp(a, b) == 0);
    /* A name matches itself as a mask, and "*" matches everything. */
    FUZZ_CHECK(strchr(b, '*') || strchr(b, '?') || irc_mask_match(b, a));
    FUZZ_CHECK(irc_mask_match("*", b));
    free(a);
    free(b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *s = (const char *)data;
    /* The whole input as one line (up to the first NUL, as the worker
     * refuses lines with a NUL before parsing). */
    const char *nul = memchr(s, '\0', size);
    parse_line(s, nul ? (size_t)(nul - s) : size);
    names(s, nul ? (size_t)(nul - s) : size);
    (void)utf8_valid(s, size);

    /* mask NUL subject: a ban mask against "nick!user@host". */
    if (nul) {
        size_t rest = size - (size_t)(nul - s) - 1;
        char *subject = malloc(rest + 1);
        FUZZ_CHECK(subject != NULL);
        memcpy(subject, nul + 1, rest);
        subject[rest] = '\0';
        bool m1 = irc_mask_match(s, subject);
        /* The casemapping does not change the answer. */
        char *folded = malloc(rest + 1);
        FUZZ_CHECK(folded != NULL);
        irc_casefold(folded, subject, strlen(subject));
        FUZZ_CHECK(irc_mask_match(s, folded) == m1);
        free(folded);
        free(subject);
    }
    return 0;
}
