/* Growable byte buffer with an explicit length.
 *
 * Used for client input/output queues and IPC frames.  The buffer owns
 * `data`; buf_free() releases it and leaves an empty buffer.  Data is not
 * NUL-terminated unless the caller appends a NUL. */
#ifndef PARLOR_BUF_H
#define PARLOR_BUF_H

#include <stddef.h>
#include <stdarg.h>

struct buf {
    char *data;
    size_t len;
    size_t cap;
};

#define BUF_INIT {NULL, 0, 0}

void buf_init(struct buf *b);
void buf_free(struct buf *b);
/* Make room for `extra` more bytes; aborts on out-of-memory (the servers
 * treat ENOMEM as fatal, like Redis does). */
void buf_reserve(struct buf *b, size_t extra);
void buf_append(struct buf *b, const void *data, size_t len);
void buf_append_str(struct buf *b, const char *s);
void buf_append_byte(struct buf *b, char c);
/* printf-style append; returns the number of bytes appended. */
size_t buf_appendf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
size_t buf_vappendf(struct buf *b, const char *fmt, va_list ap);
/* Drop the first n bytes (n <= len). */
void buf_consume(struct buf *b, size_t n);
void buf_clear(struct buf *b);
/* Release memory above `keep` bytes of capacity when the buffer is empty, so an
 * idle client does not pin a burst-sized allocation. */
void buf_shrink(struct buf *b, size_t keep);

/* Append s as a JSON string literal (quotes and escapes included). */
void buf_append_json(struct buf *b, const char *s);
/* Strip spaces, tabs and line ends from both ends, in place. */
char *str_trim(char *s);

#endif
