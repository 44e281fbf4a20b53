/* IPC frames: the one format spoken between parlord's processes.
 *
 * Every frame, on every channel (master<->worker SOCK_SEQPACKET pairs and the
 * worker<->worker SOCK_STREAM mesh), is:
 *
 *   offset size  field
 *   0      4     length of the whole frame, header included (little-endian)
 *   4      1     version (IPC_VERSION); a peer refuses any other version
 *   5      1     type (enum ipc_type, see ipc/proto.h)
 *   6      2     reserved, zero
 *   8      ...   payload: a sequence of fields, each one of
 *                  u8, u32, u64   little-endian integers
 *                  str            u32 length, the bytes, then one NUL byte that
 *                                 is not counted (so decoders can hand out C
 *                                 strings that point into the frame)
 *
 * The payload of each type is the sequence of put calls in its encoder; the
 * decoder reads the same sequence.  A reader that runs past the end sets
 * `err` and returns zeros, so decoders check once at the end.
 *
 * Frames carry no IRC semantics here; ipc/ never includes worker/ or master/.
 */
#ifndef PARLOR_IPC_FRAME_H
#define PARLOR_IPC_FRAME_H

#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>
#include "common/buf.h"

#define IPC_VERSION 1
#define IPC_HEADER_LEN 8
#define IPC_FRAME_MAX (16u * 1024 * 1024)

/* Start a frame of `type` at the end of b; returns its offset for ipc_end(). */
size_t ipc_begin(struct buf *b, uint8_t type);
/* Patch the length of the frame that starts at `start`. */
void ipc_end(struct buf *b, size_t start);

void ipc_put_u8(struct buf *b, uint8_t v);
void ipc_put_u32(struct buf *b, uint32_t v);
void ipc_put_u64(struct buf *b, uint64_t v);
void ipc_put_str(struct buf *b, const char *s, size_t len);
void ipc_put_cstr(struct buf *b, const char *s);   /* NULL puts "" */

struct ipc_reader {
    const char *p;
    size_t left;
    bool err;
};

/* Look at the start of data[0..len): if a whole frame is there, fill *type,
 * *payload, *payload_len and return the frame's total size; return 0 when more
 * bytes are needed; -EPROTO for a bad version or an impossible length. */
long ipc_frame_peek(const char *data, size_t len, uint8_t *type,
                    const char **payload, size_t *payload_len);

void ipc_reader_init(struct ipc_reader *r, const char *payload, size_t len);
uint8_t ipc_get_u8(struct ipc_reader *r);
uint32_t ipc_get_u32(struct ipc_reader *r);
uint64_t ipc_get_u64(struct ipc_reader *r);
/* Returns a NUL-terminated string inside the frame ("" on error). */
const char *ipc_get_str(struct ipc_reader *r, size_t *len);

/* Send one datagram (on a SOCK_SEQPACKET socket) with an optional descriptor
 * attached (fd < 0: none).  Returns 0 or -errno. */
int ipc_send_fd(int sock, const void *data, size_t len, int fd);
/* Receive one datagram into buf[0..cap); *fd gets an attached descriptor or
 * -1.  Returns the byte count, 0 on EOF, or -errno (-EAGAIN when empty). */
long ipc_recv_fd(int sock, void *buf, size_t cap, int *fd);

#endif
