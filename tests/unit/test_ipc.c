/* ipc/frame.c: frame encoding, peeking, decoding, descriptor passing. */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "ipc/frame.h"

static void put_le32(char *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (char)(v >> (8 * i));
}

/* ---- encode / peek / decode ---- */

START_TEST(test_frame_round_trips_u8_u32_u64_and_str_fields)
{
    struct buf b = BUF_INIT;
    size_t start = ipc_begin(&b, 7);
    ipc_put_u8(&b, 0);
    ipc_put_u8(&b, 0xff);
    ipc_put_u32(&b, 0xdeadbeefu);
    ipc_put_u64(&b, 0x0123456789abcdefull);
    ipc_put_u64(&b, UINT64_MAX);
    ipc_put_cstr(&b, "민영");
    ipc_put_str(&b, "a\0b", 3);
    ipc_put_cstr(&b, NULL);
    ipc_put_str(&b, "", 0);
    ipc_end(&b, start);

    uint8_t type = 0;
    const char *payload = NULL;
    size_t plen = 0;
    ck_assert_int_eq(ipc_frame_peek(b.data, b.len, &type, &payload, &plen), (long)b.len);
    ck_assert_uint_eq(type, 7);
    ck_assert_ptr_eq(payload, b.data + IPC_HEADER_LEN);
    ck_assert_uint_eq(plen, b.len - IPC_HEADER_LEN);

    struct ipc_reader r;
    ipc_reader_init(&r, payload, plen);
    ck_assert_uint_eq(ipc_get_u8(&r), 0);
    ck_assert_uint_eq(ipc_get_u8(&r), 0xff);
    ck_assert_uint_eq(ipc_get_u32(&r), 0xdeadbeefu);
    ck_assert_uint_eq(ipc_get_u64(&r), 0x0123456789abcdefull);
    ck_assert_uint_eq(ipc_get_u64(&r), UINT64_MAX);
    size_t len = 99;
    ck_assert_str_eq(ipc_get_str(&r, &len), "민영");
    ck_assert_uint_eq(len, strlen("민영"));
    const char *s = ipc_get_str(&r, &len);
    ck_assert_uint_eq(len, 3);
    ck_assert_mem_eq(s, "a\0b", 4);              /* plus the uncounted NUL */
    ck_assert_str_eq(ipc_get_str(&r, &len), "");
    ck_assert_uint_eq(len, 0);
    ck_assert_str_eq(ipc_get_str(&r, NULL), "");
    ck_assert(!r.err);
    ck_assert_uint_eq(r.left, 0);
    buf_free(&b);
}
END_TEST

START_TEST(test_frame_header_is_length_version_type_and_zero_reserved)
{
    struct buf b = BUF_INIT;
    buf_append_str(&b, "xyz");                 /* frames may follow other data */
    size_t start = ipc_begin(&b, 0x42);
    ck_assert_uint_eq(start, 3);
    ipc_put_u32(&b, 0x04030201u);
    ipc_end(&b, start);
    const unsigned char want[] = { 12, 0, 0, 0, IPC_VERSION, 0x42, 0, 0, 1, 2, 3, 4 };
    ck_assert_uint_eq(b.len, 3 + sizeof want);
    ck_assert_mem_eq(b.data + 3, want, sizeof want);
    buf_free(&b);
}
END_TEST

START_TEST(test_frame_with_empty_payload_is_just_the_header)
{
    struct buf b = BUF_INIT;
    ipc_end(&b, ipc_begin(&b, 1));
    uint8_t type;
    const char *payload;
    size_t plen = 99;
    ck_assert_int_eq(ipc_frame_peek(b.data, b.len, &type, &payload, &plen), IPC_HEADER_LEN);
    ck_assert_uint_eq(plen, 0);
    struct ipc_reader r;
    ipc_reader_init(&r, payload, plen);
    ck_assert_uint_eq(ipc_get_u8(&r), 0);
    ck_assert(r.err);
    buf_free(&b);
}
END_TEST

START_TEST(test_peek_with_partial_header_needs_more_bytes)
{
    struct buf b = BUF_INIT;
    size_t start = ipc_begin(&b, 3);
    ipc_put_u32(&b, 5);
    ipc_end(&b, start);
    uint8_t type = 0xee;
    const char *payload = NULL;
    size_t plen = 0;
    for (size_t len = 0; len < IPC_HEADER_LEN; len++)
        ck_assert_int_eq(ipc_frame_peek(b.data, len, &type, &payload, &plen), 0);
    ck_assert_uint_eq(type, 0xee);             /* outputs untouched */
    ck_assert_ptr_null(payload);
    buf_free(&b);
}
END_TEST

START_TEST(test_peek_with_partial_body_needs_more_bytes)
{
    struct buf b = BUF_INIT;
    size_t start = ipc_begin(&b, 3);
    ipc_put_cstr(&b, "some payload text");
    ipc_end(&b, start);
    uint8_t type;
    const char *payload;
    size_t plen;
    for (size_t len = IPC_HEADER_LEN; len < b.len; len++)
        ck_assert_int_eq(ipc_frame_peek(b.data, len, &type, &payload, &plen), 0);
    ck_assert_int_eq(ipc_frame_peek(b.data, b.len, &type, &payload, &plen), (long)b.len);
    buf_free(&b);
}
END_TEST

START_TEST(test_peek_rejects_a_bad_version)
{
    struct buf b = BUF_INIT;
    size_t start = ipc_begin(&b, 3);
    ipc_put_u64(&b, 1);
    ipc_end(&b, start);
    b.data[4] = IPC_VERSION + 1;
    uint8_t type;
    const char *payload;
    size_t plen;
    ck_assert_int_eq(ipc_frame_peek(b.data, b.len, &type, &payload, &plen), -EPROTO);
    /* Known as soon as the header is in, before the body arrives. */
    ck_assert_int_eq(ipc_frame_peek(b.data, IPC_HEADER_LEN, &type, &payload, &plen), -EPROTO);
    b.data[4] = 0;
    ck_assert_int_eq(ipc_frame_peek(b.data, b.len, &type, &payload, &plen), -EPROTO);
    buf_free(&b);
}
END_TEST

START_TEST(test_peek_rejects_impossible_lengths)
{
    char hdr[IPC_HEADER_LEN] = { 0, 0, 0, 0, IPC_VERSION, 1, 0, 0 };
    uint8_t type;
    const char *payload;
    size_t plen;

    put_le32(hdr, IPC_FRAME_MAX + 1);
    ck_assert_int_eq(ipc_frame_peek(hdr, sizeof hdr, &type, &payload, &plen), -EPROTO);
    put_le32(hdr, UINT32_MAX);
    ck_assert_int_eq(ipc_frame_peek(hdr, sizeof hdr, &type, &payload, &plen), -EPROTO);
    put_le32(hdr, IPC_HEADER_LEN - 1);         /* shorter than its own header */
    ck_assert_int_eq(ipc_frame_peek(hdr, sizeof hdr, &type, &payload, &plen), -EPROTO);
    put_le32(hdr, 0);
    ck_assert_int_eq(ipc_frame_peek(hdr, sizeof hdr, &type, &payload, &plen), -EPROTO);
    /* The largest legal frame is just incomplete. */
    put_le32(hdr, IPC_FRAME_MAX);
    ck_assert_int_eq(ipc_frame_peek(hdr, sizeof hdr, &type, &payload, &plen), 0);
}
END_TEST

START_TEST(test_peek_reads_two_frames_back_to_back)
{
    struct buf b = BUF_INIT;
    size_t s1 = ipc_begin(&b, 10);
    ipc_put_u32(&b, 111);
    ipc_end(&b, s1);
    size_t s2 = ipc_begin(&b, 20);
    ipc_put_cstr(&b, "second");
    ipc_put_u64(&b, 222);
    ipc_end(&b, s2);

    uint8_t type;
    const char *payload;
    size_t plen;
    long n1 = ipc_frame_peek(b.data, b.len, &type, &payload, &plen);
    ck_assert_int_eq(n1, (long)s2);
    ck_assert_uint_eq(type, 10);
    struct ipc_reader r;
    ipc_reader_init(&r, payload, plen);
    ck_assert_uint_eq(ipc_get_u32(&r), 111);
    ck_assert(!r.err);
    ck_assert_uint_eq(r.left, 0);

    long n2 = ipc_frame_peek(b.data + n1, b.len - (size_t)n1, &type, &payload, &plen);
    ck_assert_int_eq(n2, (long)(b.len - s2));
    ck_assert_uint_eq(type, 20);
    ipc_reader_init(&r, payload, plen);
    ck_assert_str_eq(ipc_get_str(&r, NULL), "second");
    ck_assert_uint_eq(ipc_get_u64(&r), 222);
    ck_assert(!r.err);
    ck_assert_uint_eq(r.left, 0);
    buf_free(&b);
}
END_TEST

START_TEST(test_reader_overrun_sets_err_and_returns_zeros)
{
    struct buf b = BUF_INIT;
    ipc_put_u32(&b, 77);
    ipc_put_u8(&b, 5);
    struct ipc_reader r;
    ipc_reader_init(&r, b.data, b.len);
    ck_assert_uint_eq(ipc_get_u32(&r), 77);
    ck_assert_uint_eq(ipc_get_u64(&r), 0);     /* only one byte left */
    ck_assert(r.err);
    /* The error sticks: the byte that is there is not handed out any more. */
    ck_assert_uint_eq(ipc_get_u8(&r), 0);
    ck_assert_uint_eq(ipc_get_u32(&r), 0);
    size_t len = 99;
    ck_assert_str_eq(ipc_get_str(&r, &len), "");
    ck_assert_uint_eq(len, 0);
    ck_assert(r.err);
    buf_free(&b);
}
END_TEST

START_TEST(test_reader_rejects_string_longer_than_payload)
{
    struct buf b = BUF_INIT;
    ipc_put_u32(&b, 1000);                     /* claims 1000 bytes */
    buf_append_str(&b, "short");
    buf_append_byte(&b, '\0');
    struct ipc_reader r;
    ipc_reader_init(&r, b.data, b.len);
    size_t len = 99;
    ck_assert_str_eq(ipc_get_str(&r, &len), "");
    ck_assert_uint_eq(len, 0);
    ck_assert(r.err);

    /* A length near UINT32_MAX must not wrap the bounds check. */
    buf_clear(&b);
    ipc_put_u32(&b, UINT32_MAX);
    buf_append_str(&b, "abc");
    ipc_reader_init(&r, b.data, b.len);
    ck_assert_str_eq(ipc_get_str(&r, NULL), "");
    ck_assert(r.err);
    buf_free(&b);
}
END_TEST

START_TEST(test_reader_rejects_string_without_its_nul)
{
    struct buf b = BUF_INIT;
    ipc_put_u32(&b, 3);
    buf_append_str(&b, "abcd");                /* 'd' where the NUL belongs */
    struct ipc_reader r;
    ipc_reader_init(&r, b.data, b.len);
    ck_assert_str_eq(ipc_get_str(&r, NULL), "");
    ck_assert(r.err);
    buf_free(&b);
}
END_TEST

/* ---- descriptor passing ---- */

static void seqpacket_pair(int sv[2])
{
    ck_assert_int_eq(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv), 0);
}

START_TEST(test_send_fd_passes_a_pipe_write_end_over_seqpacket)
{
    int sv[2], pfd[2];
    seqpacket_pair(sv);
    ck_assert_int_eq(pipe(pfd), 0);

    struct buf b = BUF_INIT;
    size_t start = ipc_begin(&b, 9);
    ipc_put_cstr(&b, "take this");
    ipc_end(&b, start);
    ck_assert_int_eq(ipc_send_fd(sv[0], b.data, b.len, pfd[1]), 0);
    ck_assert_int_eq(close(pfd[1]), 0);        /* only the passed copy remains */

    char in[256];
    int fd = -2;
    long n = ipc_recv_fd(sv[1], in, sizeof in, &fd);
    ck_assert_int_eq(n, (long)b.len);
    ck_assert_mem_eq(in, b.data, b.len);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_ne(fcntl(fd, F_GETFD) & FD_CLOEXEC, 0);

    ck_assert_int_eq(write(fd, "through", 7), 7);
    ck_assert_int_eq(close(fd), 0);
    char out[16];
    ck_assert_int_eq(read(pfd[0], out, sizeof out), 7);
    ck_assert_mem_eq(out, "through", 7);
    ck_assert_int_eq(read(pfd[0], out, sizeof out), 0);   /* all write ends closed */

    close(pfd[0]);
    close(sv[0]);
    close(sv[1]);
    buf_free(&b);
}
END_TEST

START_TEST(test_recv_without_fd_reports_minus_one)
{
    int sv[2];
    seqpacket_pair(sv);
    ck_assert_int_eq(ipc_send_fd(sv[0], "one", 3, -1), 0);
    ck_assert_int_eq(ipc_send_fd(sv[0], "two!", 4, -1), 0);
    char in[16];
    int fd = 123;
    ck_assert_int_eq(ipc_recv_fd(sv[1], in, sizeof in, &fd), 3);
    ck_assert_int_eq(fd, -1);
    ck_assert_mem_eq(in, "one", 3);
    /* Datagram boundaries are kept. */
    ck_assert_int_eq(ipc_recv_fd(sv[1], in, sizeof in, &fd), 4);
    ck_assert_mem_eq(in, "two!", 4);
    close(sv[0]);
    close(sv[1]);
}
END_TEST

START_TEST(test_recv_reports_eagain_when_empty_and_zero_at_eof)
{
    int sv[2];
    seqpacket_pair(sv);
    ck_assert_int_eq(fcntl(sv[1], F_SETFL, O_NONBLOCK), 0);
    char in[16];
    int fd;
    ck_assert_int_eq(ipc_recv_fd(sv[1], in, sizeof in, &fd), -EAGAIN);
    close(sv[0]);
    ck_assert_int_eq(ipc_recv_fd(sv[1], in, sizeof in, &fd), 0);
    ck_assert_int_eq(fd, -1);
    close(sv[1]);
}
END_TEST

START_TEST(test_send_to_a_closed_peer_returns_epipe)
{
    int sv[2];
    seqpacket_pair(sv);
    close(sv[1]);
    /* MSG_NOSIGNAL: an error code, not a SIGPIPE that kills the process. */
    ck_assert_int_eq(ipc_send_fd(sv[0], "x", 1, -1), -EPIPE);
    close(sv[0]);
}
END_TEST

START_TEST(test_recv_refuses_a_datagram_larger_than_the_buffer)
{
    int sv[2], pfd[2];
    seqpacket_pair(sv);
    ck_assert_int_eq(pipe(pfd), 0);
    char big[100];
    memset(big, 'b', sizeof big);
    ck_assert_int_eq(ipc_send_fd(sv[0], big, sizeof big, pfd[1]), 0);
    ck_assert_int_eq(ipc_send_fd(sv[0], "next", 4, -1), 0);
    close(pfd[1]);
    ck_assert_int_eq(fcntl(pfd[0], F_SETFL, O_NONBLOCK), 0);

    /* A cut frame must not look like a short one: the rest of it is gone. */
    char in[64];
    int fd = 123;
    ck_assert_int_eq(ipc_recv_fd(sv[1], in, sizeof in, &fd), -EMSGSIZE);
    ck_assert_int_eq(fd, -1);
    /* The descriptor that came with it was closed, not leaked (a leak shows
     * as -1/EAGAIN: a write end is still open). */
    char c;
    ck_assert_int_eq(read(pfd[0], &c, 1), 0);
    /* The next datagram is intact. */
    ck_assert_int_eq(ipc_recv_fd(sv[1], in, sizeof in, &fd), 4);
    ck_assert_mem_eq(in, "next", 4);
    close(pfd[0]);
    close(sv[0]);
    close(sv[1]);
}
END_TEST

START_TEST(test_recv_closes_extra_descriptors_in_one_message)
{
    int sv[2], p1[2], p2[2];
    seqpacket_pair(sv);
    ck_assert_int_eq(pipe(p1), 0);
    ck_assert_int_eq(pipe(p2), 0);

    /* Two descriptors in a single SCM_RIGHTS header, which ipc_send_fd never
     * produces but a confused peer could. */
    int fds[2] = { p1[1], p2[1] };
    union {
        struct cmsghdr align;
        char buf[CMSG_SPACE(sizeof fds)];
    } ctl;
    memset(&ctl, 0, sizeof ctl);
    struct iovec iov = { .iov_base = "hi", .iov_len = 2 };
    struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1,
                          .msg_control = ctl.buf, .msg_controllen = sizeof ctl.buf };
    struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof fds);
    memcpy(CMSG_DATA(c), fds, sizeof fds);
    ck_assert_int_eq(sendmsg(sv[0], &msg, 0), 2);
    close(p1[1]);
    close(p2[1]);
    ck_assert_int_eq(fcntl(p2[0], F_SETFL, O_NONBLOCK), 0);

    char in[16];
    int fd;
    ck_assert_int_eq(ipc_recv_fd(sv[1], in, sizeof in, &fd), 2);
    ck_assert_int_ge(fd, 0);
    close(fd);
    char ch;
    ck_assert_int_eq(read(p1[0], &ch, 1), 0);  /* the one we got, now closed */
    /* The extra one must not leak: -1/EAGAIN here means it is still open. */
    ck_assert_int_eq(read(p2[0], &ch, 1), 0);
    close(p1[0]);
    close(p2[0]);
    close(sv[0]);
    close(sv[1]);
}
END_TEST

Suite *ipc_suite(void)
{
    Suite *s = suite_create("ipc");

    TCase *tc = tcase_create("frame");
    tcase_add_test(tc, test_frame_round_trips_u8_u32_u64_and_str_fields);
    tcase_add_test(tc, test_frame_header_is_length_version_type_and_zero_reserved);
    tcase_add_test(tc, test_frame_with_empty_payload_is_just_the_header);
    tcase_add_test(tc, test_peek_with_partial_header_needs_more_bytes);
    tcase_add_test(tc, test_peek_with_partial_body_needs_more_bytes);
    tcase_add_test(tc, test_peek_rejects_a_bad_version);
    tcase_add_test(tc, test_peek_rejects_impossible_lengths);
    tcase_add_test(tc, test_peek_reads_two_frames_back_to_back);
    tcase_add_test(tc, test_reader_overrun_sets_err_and_returns_zeros);
    tcase_add_test(tc, test_reader_rejects_string_longer_than_payload);
    tcase_add_test(tc, test_reader_rejects_string_without_its_nul);
    suite_add_tcase(s, tc);

    /* A broken fd test could block in read(); fail it quickly instead. */
    tc = tcase_create("fd");
    tcase_set_timeout(tc, 5);
    tcase_add_test(tc, test_send_fd_passes_a_pipe_write_end_over_seqpacket);
    tcase_add_test(tc, test_recv_without_fd_reports_minus_one);
    tcase_add_test(tc, test_recv_reports_eagain_when_empty_and_zero_at_eof);
    tcase_add_test(tc, test_send_to_a_closed_peer_returns_epipe);
    tcase_add_test(tc, test_recv_refuses_a_datagram_larger_than_the_buffer);
    tcase_add_test(tc, test_recv_closes_extra_descriptors_in_one_message);
    suite_add_tcase(s, tc);

    return s;
}
