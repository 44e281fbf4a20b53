#include "common/buf.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"

/* Smallest allocation; most IRC lines and IPC frames fit in one. */
#define BUF_MIN_CAP 64

void buf_init(struct buf *b)
{
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
}

void buf_free(struct buf *b)
{
    if (!b)
        return;
    free(b->data);
    buf_init(b);
}

void buf_reserve(struct buf *b, size_t extra)
{
    PARLOR_ASSERT(extra <= SIZE_MAX - b->len);
    size_t need = b->len + extra;
    if (need <= b->cap)
        return;
    /* Double so that a run of appends costs amortised O(1) per byte. */
    size_t cap = b->cap ? b->cap : BUF_MIN_CAP;
    while (cap < need)
        cap = cap > SIZE_MAX / 2 ? need : cap * 2;
    char *p = realloc(b->data, cap);
    PARLOR_ASSERT(p != NULL);
    b->data = p;
    b->cap = cap;
}

void buf_append(struct buf *b, const void *data, size_t len)
{
    if (len == 0)
        return;   /* data may be NULL, which memcpy does not allow */
    buf_reserve(b, len);
    memcpy(b->data + b->len, data, len);
    b->len += len;
}

void buf_append_str(struct buf *b, const char *s)
{
    buf_append(b, s, strlen(s));
}

void buf_append_byte(struct buf *b, char c)
{
    buf_reserve(b, 1);
    b->data[b->len++] = c;
}

size_t buf_vappendf(struct buf *b, const char *fmt, va_list ap)
{
    /* First try in the space we already have; vsnprintf tells us the real
     * size if it did not fit, and we format a second time. */
    va_list again;
    va_copy(again, ap);
    size_t room = b->cap - b->len;
    int n = vsnprintf(b->data ? b->data + b->len : NULL, room, fmt, ap);
    if (n < 0) {
        va_end(again);
        return 0;   /* encoding error: append nothing */
    }
    if ((size_t)n >= room) {
        buf_reserve(b, (size_t)n + 1);
        vsnprintf(b->data + b->len, (size_t)n + 1, fmt, again);
    }
    va_end(again);
    b->len += (size_t)n;
    return (size_t)n;
}

size_t buf_appendf(struct buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    size_t n = buf_vappendf(b, fmt, ap);
    va_end(ap);
    return n;
}

void buf_consume(struct buf *b, size_t n)
{
    PARLOR_ASSERT(n <= b->len);
    if (n == 0)
        return;
    memmove(b->data, b->data + n, b->len - n);
    b->len -= n;
}

void buf_clear(struct buf *b)
{
    b->len = 0;
}

void buf_shrink(struct buf *b, size_t keep)
{
    if (b->len != 0 || b->cap <= keep)
        return;
    if (keep == 0) {
        free(b->data);
        buf_init(b);
        return;
    }
    /* A failed shrink is harmless: keep the larger block. */
    char *p = realloc(b->data, keep);
    if (p) {
        b->data = p;
        b->cap = keep;
    }
}

void buf_append_json(struct buf *b, const char *s)
{
    buf_append_byte(b, '"');
    for (; *s; s++) {
        unsigned char ch = (unsigned char)*s;
        if (ch == '"' || ch == '\\') {
            buf_append_byte(b, '\\');
            buf_append_byte(b, (char)ch);
        } else if (ch == '\n') {
            buf_append_str(b, "\\n");
        } else if (ch == '\t') {
            buf_append_str(b, "\\t");
        } else if (ch < 0x20 || ch == 0x7f) {
            buf_appendf(b, "\\u%04x", ch);
        } else {
            buf_append_byte(b, (char)ch);
        }
    }
    buf_append_byte(b, '"');
}

char *str_trim(char *s)
{
    while (*s == ' ' || *s == '\t')
        s++;
    size_t n = strlen(s);
    while (n && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\r' || s[n - 1] == '\n'))
        s[--n] = '\0';
    return s;
}
