/* ipc/frame.c: frames cut from a byte stream the way the mesh reads them
 * (worker/peer.c: ipc_frame_peek in a loop over the input buffer), and the
 * field reader run over each payload.  The first byte of each payload picks
 * the field sequence, so every decoder shape (u8, u32, u64, str in any
 * order) is tried; a re-encoding of what was read must read back the same. */
#include <stdbool.h>
#include <string.h>

#include "common/buf.h"
#include "ipc/frame.h"
#include "fuzz/fuzz.h"

enum { F_U8, F_U32, F_U64, F_STR };

struct field {
    int kind;
    uint64_t v;
    const char *s;
    size_t len;
};

#define MAX_FIELDS 64

static int read_fields(const char *payload, size_t plen, struct field *f)
{
    struct ipc_reader r;
    ipc_reader_init(&r, payload, plen);
    uint8_t shape = ipc_get_u8(&r);
    int n = 0;
    while (!r.err && r.left > 0 && n < MAX_FIELDS) {
        size_t before = r.left;
        struct field *x = &f[n];
        *x = (struct field){ 0 };
        x->kind = (shape >> (2 * (n % 4))) & 3;
        switch (x->kind) {
        case F_U8: x->v = ipc_get_u8(&r); break;
        case F_U32: x->v = ipc_get_u32(&r); break;
        case F_U64: x->v = ipc_get_u64(&r); break;
        default:
            x->s = ipc_get_str(&r, &x->len);
            if (!r.err) {
                /* Inside the payload, NUL-terminated, no longer than said. */
                FUZZ_CHECK(x->s >= payload && x->s + x->len < payload + plen);
                FUZZ_CHECK(x->s[x->len] == '\0');
            } else {
                FUZZ_CHECK(x->len == 0 && x->s[0] == '\0');
            }
        }
        if (r.err) {
            /* A failed read consumes at most a string's length field, and
             * every read after it returns zeros. */
            FUZZ_CHECK(r.left == before || (x->kind == F_STR && r.left + 4 == before));
            FUZZ_CHECK(ipc_get_u64(&r) == 0 && ipc_get_u8(&r) == 0);
            break;
        }
        FUZZ_CHECK(r.left < before && r.p == payload + (plen - r.left));
        n++;
    }
    return n;
}

static void reencode(const struct field *f, int n, uint8_t type, const char *payload)
{
    struct buf b = BUF_INIT;
    size_t start = ipc_begin(&b, type);
    ipc_put_u8(&b, (uint8_t)payload[0]);
    for (int i = 0; i < n; i++) {
        switch (f[i].kind) {
        case F_U8: ipc_put_u8(&b, (uint8_t)f[i].v); break;
        case F_U32: ipc_put_u32(&b, (uint32_t)f[i].v); break;
        case F_U64: ipc_put_u64(&b, f[i].v); break;
        default: ipc_put_str(&b, f[i].s, f[i].len);
        }
    }
    ipc_end(&b, start);
    uint8_t t2;
    const char *p2;
    size_t l2;
    long fl = ipc_frame_peek(b.data, b.len, &t2, &p2, &l2);
    FUZZ_CHECK(fl == (long)b.len && t2 == type);
    struct field g[MAX_FIELDS];
    int m = read_fields(p2, l2, g);
    FUZZ_CHECK(m == n);
    for (int i = 0; i < n; i++) {
        FUZZ_CHECK(g[i].kind == f[i].kind && g[i].v == f[i].v && g[i].len == f[i].len);
        if (f[i].kind == F_STR)
            FUZZ_CHECK(memcmp(g[i].s, f[i].s, f[i].len) == 0);
    }
    buf_free(&b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* A private copy whose end is the end of the allocation, so ASan sees
     * any read past it. */
    char *in = malloc(size ? size : 1);
    FUZZ_CHECK(in != NULL);
    memcpy(in, data, size);
    size_t pos = 0;
    for (;;) {
        uint8_t type;
        const char *payload;
        size_t plen;
        long fl = ipc_frame_peek(in + pos, size - pos, &type, &payload, &plen);
        if (fl <= 0) {
            FUZZ_CHECK(fl == 0 || size - pos >= IPC_HEADER_LEN);
            break;
        }
        FUZZ_CHECK((size_t)fl <= size - pos && (size_t)fl >= IPC_HEADER_LEN);
        FUZZ_CHECK(payload == in + pos + IPC_HEADER_LEN && plen == (size_t)fl - IPC_HEADER_LEN);
        FUZZ_CHECK(type == (uint8_t)in[pos + 5]);
        if (plen > 0) {
            struct field f[MAX_FIELDS];
            int n = read_fields(payload, plen, f);
            reencode(f, n, type, payload);
        }
        pos += (size_t)fl;
    }
    free(in);
    return 0;
}
