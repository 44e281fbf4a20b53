#include "ipc/frame.h"

#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

static void put_le(struct buf *b, uint64_t v, int n)
{
    char tmp[8];
    for (int i = 0; i < n; i++)
        tmp[i] = (char)((v >> (8 * i)) & 0xff);
    buf_append(b, tmp, (size_t)n);
}

static uint64_t get_le(const char *p, int n)
{
    uint64_t v = 0;
    for (int i = 0; i < n; i++)
        v |= (uint64_t)(unsigned char)p[i] << (8 * i);
    return v;
}

size_t ipc_begin(struct buf *b, uint8_t type)
{
    size_t start = b->len;
    put_le(b, 0, 4);
    ipc_put_u8(b, IPC_VERSION);
    ipc_put_u8(b, type);
    put_le(b, 0, 2);
    return start;
}

void ipc_end(struct buf *b, size_t start)
{
    uint32_t n = (uint32_t)(b->len - start);
    for (int i = 0; i < 4; i++)
        b->data[start + (size_t)i] = (char)((n >> (8 * i)) & 0xff);
}

void ipc_put_u8(struct buf *b, uint8_t v) { buf_append_byte(b, (char)v); }
void ipc_put_u32(struct buf *b, uint32_t v) { put_le(b, v, 4); }
void ipc_put_u64(struct buf *b, uint64_t v) { put_le(b, v, 8); }

void ipc_put_str(struct buf *b, const char *s, size_t len)
{
    put_le(b, len, 4);
    buf_append(b, s, len);
    buf_append_byte(b, '\0');
}

void ipc_put_cstr(struct buf *b, const char *s)
{
    ipc_put_str(b, s ? s : "", s ? strlen(s) : 0);
}

long ipc_frame_peek(const char *data, size_t len, uint8_t *type,
                    const char **payload, size_t *payload_len)
{
    if (len < IPC_HEADER_LEN)
        return 0;
    uint32_t n = (uint32_t)get_le(data, 4);
    if ((unsigned char)data[4] != IPC_VERSION || n < IPC_HEADER_LEN || n > IPC_FRAME_MAX)
        return -EPROTO;
    if (len < n)
        return 0;
    *type = (uint8_t)data[5];
    *payload = data + IPC_HEADER_LEN;
    *payload_len = n - IPC_HEADER_LEN;
    return (long)n;
}

void ipc_reader_init(struct ipc_reader *r, const char *payload, size_t len)
{
    r->p = payload;
    r->left = len;
    r->err = false;
}

static bool take(struct ipc_reader *r, size_t n)
{
    if (r->err || r->left < n) {
        r->err = true;
        return false;
    }
    return true;
}

uint8_t ipc_get_u8(struct ipc_reader *r)
{
    if (!take(r, 1))
        return 0;
    uint8_t v = (uint8_t)r->p[0];
    r->p++;
    r->left--;
    return v;
}

uint32_t ipc_get_u32(struct ipc_reader *r)
{
    if (!take(r, 4))
        return 0;
    uint32_t v = (uint32_t)get_le(r->p, 4);
    r->p += 4;
    r->left -= 4;
    return v;
}

uint64_t ipc_get_u64(struct ipc_reader *r)
{
    if (!take(r, 8))
        return 0;
    uint64_t v = get_le(r->p, 8);
    r->p += 8;
    r->left -= 8;
    return v;
}

const char *ipc_get_str(struct ipc_reader *r, size_t *len)
{
    uint32_t n = ipc_get_u32(r);
    if (!take(r, (size_t)n + 1) || r->p[n] != '\0') {
        r->err = true;
        if (len)
            *len = 0;
        return "";
    }
    const char *s = r->p;
    r->p += (size_t)n + 1;
    r->left -= (size_t)n + 1;
    if (len)
        *len = n;
    return s;
}

int ipc_send_fd(int sock, const void *data, size_t len, int fd)
{
    struct iovec iov = { .iov_base = (void *)data, .iov_len = len };
    union {
        struct cmsghdr align;
        char buf[CMSG_SPACE(sizeof(int))];
    } ctl;
    struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1 };
    if (fd >= 0) {
        memset(&ctl, 0, sizeof ctl);
        msg.msg_control = ctl.buf;
        msg.msg_controllen = sizeof ctl.buf;
        struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
        c->cmsg_level = SOL_SOCKET;
        c->cmsg_type = SCM_RIGHTS;
        c->cmsg_len = CMSG_LEN(sizeof(int));
        memcpy(CMSG_DATA(c), &fd, sizeof fd);
    }
    ssize_t n;
    do {
        n = sendmsg(sock, &msg, MSG_NOSIGNAL);
    } while (n < 0 && errno == EINTR);
    return n < 0 ? -errno : 0;
}

long ipc_recv_fd(int sock, void *buf, size_t cap, int *fd)
{
    struct iovec iov = { .iov_base = buf, .iov_len = cap };
    union {
        struct cmsghdr align;
        char buf[CMSG_SPACE(sizeof(int))];
    } ctl;
    struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1,
                          .msg_control = ctl.buf, .msg_controllen = sizeof ctl.buf };
    *fd = -1;
    ssize_t n;
    do {
        n = recvmsg(sock, &msg, MSG_CMSG_CLOEXEC);
    } while (n < 0 && errno == EINTR);
    if (n < 0)
        return -errno;
    for (struct cmsghdr *c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
        if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS) {
            /* One header may carry several descriptors (CMSG_SPACE rounds
             * up, so two fit in our buffer); keep the first, close the rest. */
            size_t count = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
            for (size_t i = 0; i < count; i++) {
                int got;
                memcpy(&got, CMSG_DATA(c) + i * sizeof got, sizeof got);
                if (*fd < 0)
                    *fd = got;
                else
                    close(got);   /* we only ever send one */
            }
        }
    }
    /* A datagram longer than cap lost its tail; a cut frame must not be
     * taken for a short one. */
    if (msg.msg_flags & MSG_TRUNC) {
        if (*fd >= 0)
            close(*fd);
        *fd = -1;
        return -EMSGSIZE;
    }
    return (long)n;
}
