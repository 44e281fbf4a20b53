#include "common/irc.h"

#include <errno.h>
#include <string.h>

static char *skip_spaces(char *p)
{
    while (*p == ' ')
        p++;
    return p;
}

/* Cut the word at p: NUL-terminate it and return the start of what follows
 * (past the spaces), or NULL if the line ends inside the word. */
static char *cut_word(char *p)
{
    p = strchr(p, ' ');
    if (!p)
        return NULL;
    *p = '\0';
    return skip_spaces(p + 1);
}

/* Grammar (RFC 2812 section 2.3.1, IRCv3 message-tags):
 *   ['@' tags SPACE] [':' source SPACE] command {SPACE middle} [SPACE ':' trailing]
 * Runs of spaces count as one separator, as most servers accept.  After 14
 * middle parameters the rest of the line is the 15th, ':' or not (RFC 2812). */
int irc_parse(char *line, struct irc_msg *out)
{
    memset(out, 0, sizeof *out);
    char *p = skip_spaces(line);

    if (*p == '@') {
        out->tags = p + 1;
        if (!(p = cut_word(p)))
            return -EINVAL;
    }
    if (*p == ':') {
        out->source = p + 1;
        if (!(p = cut_word(p)))
            return -EINVAL;
    }
    if (*p == '\0')
        return -EINVAL;
    out->command = p;
    p = cut_word(p);

    while (p && *p) {
        if (*p == ':') {
            out->params[out->nparams++] = p + 1;
            out->trailing = true;
            break;
        }
        if (out->nparams == IRC_MAX_PARAMS - 1) {
            out->params[out->nparams++] = p;
            break;
        }
        out->params[out->nparams++] = p;
        p = cut_word(p);
    }
    return 0;
}

/* Decode one code point from s[0..len) (len >= 1).  Returns the sequence
 * length and sets *cp, or 0 if the bytes are not strict UTF-8. */
static size_t utf8_decode(const unsigned char *s, size_t len, uint32_t *cp)
{
    unsigned char c = s[0];
    size_t n;
    uint32_t v, min;

    if (c < 0x80) {
        *cp = c;
        return 1;
    } else if (c >= 0xc2 && c <= 0xdf) {
        n = 2, v = c & 0x1f, min = 0x80;
    } else if (c >= 0xe0 && c <= 0xef) {
        n = 3, v = c & 0x0f, min = 0x800;
    } else if (c >= 0xf0 && c <= 0xf4) {
        n = 4, v = c & 0x07, min = 0x10000;
    } else {
        return 0;   /* continuation byte, 0xc0/0xc1 (overlong), or > U+10FFFF */
    }
    if (len < n)
        return 0;
    for (size_t i = 1; i < n; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        v = (v << 6) | (s[i] & 0x3f);
    }
    if (v < min || v > 0x10ffff || (v >= 0xd800 && v <= 0xdfff))
        return 0;
    *cp = v;
    return n;
}

bool utf8_valid(const char *s, size_t len)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0;
    while (i < len) {
        uint32_t cp;
        size_t n = utf8_decode(p + i, len - i, &cp);
        if (n == 0)
            return false;
        i += n;
    }
    return true;
}

size_t utf8_cut(const char *s, size_t len, size_t max)
{
    if (len <= max)
        return len;
    size_t n = max;
    /* Back up over continuation bytes (10xxxxxx): at most three. */
    for (int i = 0; i < 3 && n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80; i++)
        n--;
    return n;
}

void utf8_copy(char *dst, size_t cap, const char *src)
{
    if (cap == 0)
        return;
    size_t n = utf8_cut(src, strlen(src), cap - 1);
    memmove(dst, src, n);
    dst[n] = '\0';
}

static bool control_allowed(unsigned char ch)
{
    switch (ch) {
    case 0x01: case 0x02: case 0x03: case 0x0F: case 0x11: case 0x16: case 0x1D: case 0x1E: case 0x1F:
        return true;
    default:
        return false;
    }
}

size_t irc_strip_controls(char *s, size_t len)
{
    size_t o = 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char ch = (unsigned char)s[i];
        if (ch == '\t') {
            s[o++] = ' ';                 /* keeps the words apart */
            continue;
        }
        if ((ch < 0x20 && !control_allowed(ch)) || ch == 0x7F)
            continue;
        if (ch == 0xC2 && i + 1 < len && (unsigned char)s[i + 1] >= 0x80 &&
            (unsigned char)s[i + 1] <= 0x9F) {
            i++;                          /* U+0080..U+009F */
            continue;
        }
        s[o++] = (char)ch;
    }
    s[o] = '\0';
    return o;
}

void irc_casefold(char *dst, const char *src, size_t len)
{
    for (size_t i = 0; i < len; i++)
        dst[i] = irc_tolower(src[i]);
    dst[len] = '\0';
}

int irc_casecmp(const char *a, const char *b)
{
    for (;; a++, b++) {
        unsigned char ca = (unsigned char)irc_tolower(*a);
        unsigned char cb = (unsigned char)irc_tolower(*b);
        if (ca != cb || ca == '\0')
            return (int)ca - (int)cb;
    }
}

uint64_t irc_casehash(const char *s, size_t len)
{
    uint64_t h = 0xcbf29ce484222325ull;   /* FNV-1a 64 offset basis */
    for (size_t i = 0; i < len; i++) {
        h ^= (unsigned char)irc_tolower(s[i]);
        h *= 0x100000001b3ull;            /* FNV-1a 64 prime */
    }
    return h;
}

bool irc_mask_match(const char *mask, const char *s)
{
    /* Iterative glob with one backtrack point: linear enough for masks of a
     * few dozen bytes, and no recursion a hostile mask could deepen. */
    const char *star = NULL, *resume = NULL;
    while (*s) {
        if (*mask == '*') {
            star = mask++;
            resume = s;
        } else if (*mask == '?' || (*mask && irc_tolower(*mask) == irc_tolower(*s))) {
            mask++;
            s++;
        } else if (star) {
            mask = star + 1;
            s = ++resume;
        } else {
            return false;
        }
    }
    while (*mask == '*')
        mask++;
    return *mask == '\0';
}

/* Non-ASCII code points in Unicode general categories Cc, Cf, Zs, Zl and Zp
 * (controls, format characters, spaces, line/paragraph separators): text
 * that is invisible or moves other text, so two nicks that look the same
 * could differ, or a nick could look empty.  Ranges are inclusive. */
static const struct { uint32_t lo, hi; } nick_forbidden[] = {
    { 0x0080, 0x00a0 },   /* C1 controls, NO-BREAK SPACE */
    { 0x00ad, 0x00ad },   /* SOFT HYPHEN */
    { 0x0600, 0x0605 },   /* Arabic number signs */
    { 0x061c, 0x061c },   /* ARABIC LETTER MARK */
    { 0x06dd, 0x06dd },
    { 0x070f, 0x070f },
    { 0x0890, 0x0891 },
    { 0x08e2, 0x08e2 },
    { 0x1680, 0x1680 },   /* OGHAM SPACE MARK */
    { 0x180e, 0x180e },   /* MONGOLIAN VOWEL SEPARATOR */
    { 0x2000, 0x200f },   /* spaces, zero-width joiners, LRM/RLM */
    { 0x2028, 0x202f },   /* line/paragraph separators, bidi embeddings */
    { 0x205f, 0x206f },   /* math space, invisible operators, bidi isolates */
    { 0x3000, 0x3000 },   /* IDEOGRAPHIC SPACE */
    { 0xfeff, 0xfeff },   /* ZERO WIDTH NO-BREAK SPACE (BOM) */
    { 0xfff9, 0xfffb },   /* interlinear annotation */
    { 0x110bd, 0x110bd },
    { 0x110cd, 0x110cd },
    { 0x13430, 0x1343f }, /* Egyptian hieroglyph format controls */
    { 0x1bca0, 0x1bca3 }, /* shorthand format controls */
    { 0x1d173, 0x1d17a }, /* musical beam and slur controls */
    { 0xe0001, 0xe0001 }, /* LANGUAGE TAG */
    { 0xe0020, 0xe007f }, /* tag characters */
};

static bool nick_code_point_ok(uint32_t cp)
{
    for (size_t i = 0; i < sizeof nick_forbidden / sizeof nick_forbidden[0]; i++)
        if (cp >= nick_forbidden[i].lo && cp <= nick_forbidden[i].hi)
            return false;
    return true;
}

static bool is_ascii_letter(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static bool is_ascii_digit(unsigned char c)
{
    return c >= '0' && c <= '9';
}

/* RFC 2812 "special" plus '-'.  The NUL test matters: strchr() would find
 * the terminator of its own string. */
static bool is_nick_special(unsigned char c)
{
    return c != '\0' && strchr("-[]\\`^{}|_", c) != NULL;
}

bool irc_nick_valid(const char *s, size_t len)
{
    if (len == 0 || len > IRC_NICK_MAX)
        return false;
    const unsigned char *p = (const unsigned char *)s;
    if (is_ascii_digit(p[0]) || p[0] == '-')
        return false;
    size_t i = 0;
    while (i < len) {
        uint32_t cp;
        size_t n = utf8_decode(p + i, len - i, &cp);
        if (n == 0)
            return false;
        if (cp < 0x80) {
            if (!is_ascii_letter(p[i]) && !is_ascii_digit(p[i]) &&
                !is_nick_special(p[i]))
                return false;
        } else if (!nick_code_point_ok(cp)) {
            return false;
        }
        i += n;
    }
    return true;
}

bool irc_channel_valid(const char *s, size_t len)
{
    if (len < 2 || len > IRC_CHANNEL_MAX || s[0] != '#')
        return false;
    for (size_t i = 1; i < len; i++)
        if (s[i] == '\0' || strchr(" ,\a\r\n:", s[i]))
            return false;
    return utf8_valid(s + 1, len - 1);
}

/* Length of the key of the tag at p (up to '=', ';' or the end). */
static size_t tag_key_len(const char *p)
{
    return strcspn(p, "=;");
}

size_t irc_client_tags(const char *tags, char *out, size_t cap)
{
    size_t len = 0;
    if (cap == 0)
        return 0;
    out[0] = '\0';
    for (const char *p = tags; *p;) {
        size_t tl = strcspn(p, ";"), kl = tag_key_len(p);
        const char *next = p[tl] ? p + tl + 1 : p + tl;
        bool keep = p[0] == '+' && kl > 1;
        for (const char *q = next; keep && *q;) {      /* a later one wins */
            size_t ql = strcspn(q, ";");
            if (tag_key_len(q) == kl && memcmp(q, p, kl) == 0)
                keep = false;
            q += q[ql] ? ql + 1 : ql;
        }
        if (keep && len + (len ? 1 : 0) + tl < cap) {
            if (len)
                out[len++] = ';';
            memcpy(out + len, p, tl);
            len += tl;
            out[len] = '\0';
        }
        p = next;
    }
    return len;
}
