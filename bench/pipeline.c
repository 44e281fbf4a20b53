/* bin/parlor-pipeline: what replies in command order cost a client that
 * pipelines (issue 10, worker/order.c).
 *
 *   parlor-pipeline PORT ROOM COUNT [echo|noecho]
 *
 * One client registers on 127.0.0.1:PORT (with echo-message unless
 * `noecho`), joins ROOM, then writes COUNT "PRIVMSG ROOM :..." lines and a
 * PING in one go and reads until the PONG and (with echo) every echo.
 * Prints the time until the PONG and until the last reply, and how many
 * echoes came before the PONG: all of them when replies keep command order.
 * Exit status 1 on a protocol error or when they did not. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int fd;
static char in[1 << 16];
static size_t in_len;

static void die(const char *msg)
{
    fprintf(stderr, "parlor-pipeline: %s\n", msg);
    exit(1);
}

/* Write everything, reading (and keeping) what comes meanwhile. */
static void write_all(const char *data, size_t len, void (*on_line)(const char *))
{
    size_t off = 0;
    while (off < len) {
        struct pollfd p = { fd, POLLOUT | POLLIN, 0 };
        if (poll(&p, 1, 30000) <= 0)
            die("timed out writing");
        if (p.revents & POLLIN) {
            ssize_t n = read(fd, in + in_len, sizeof in - in_len - 1);
            if (n <= 0)
                die("connection closed");
            in_len += (size_t)n;
            char *s = in, *nl;
            while ((nl = memchr(s, '\n', in_len - (size_t)(s - in)))) {
                *nl = '\0';
                on_line(s);
                s = nl + 1;
            }
            in_len -= (size_t)(s - in);
            memmove(in, s, in_len);
        }
        if (p.revents & POLLOUT) {
            ssize_t n = write(fd, data + off, len - off);
            if (n < 0 && errno != EAGAIN)
                die("write failed");
            if (n > 0)
                off += (size_t)n;
        }
    }
}

/* Read lines until on_line returns true. */
static void read_until(bool (*on_line)(const char *))
{
    for (;;) {
        char *s = in, *nl;
        while ((nl = memchr(s, '\n', in_len - (size_t)(s - in)))) {
            *nl = '\0';
            bool done = on_line(s);
            s = nl + 1;
            if (done) {
                in_len -= (size_t)(s - in);
                memmove(in, s, in_len);
                return;
            }
        }
        in_len -= (size_t)(s - in);
        memmove(in, s, in_len);
        struct pollfd p = { fd, POLLIN, 0 };
        if (poll(&p, 1, 60000) <= 0)
            die("timed out reading");
        ssize_t n = read(fd, in + in_len, sizeof in - in_len - 1);
        if (n <= 0)
            die("connection closed");
        in_len += (size_t)n;
    }
}

static const char *want;
static long echoes;
static bool got_pong;

static long want_echoes;
static void count_line(const char *line);

static bool until_all_echoes(const char *line)
{
    count_line(line);
    return echoes >= want_echoes;
}

static bool until_want(const char *line)
{
    return strstr(line, want) != NULL;
}

static void count_line(const char *line)
{
    if (strstr(line, " PRIVMSG ") && strstr(line, ":pipelined "))
        echoes++;
    else if (strstr(line, " PONG ") && strstr(line, "pipeline-end"))
        got_pong = true;
}

static bool count_until_pong(const char *line)
{
    count_line(line);
    return got_pong;
}

int main(int argc, char **argv)
{
    if (argc < 4)
        die("usage: parlor-pipeline PORT ROOM COUNT [echo|noecho]");
    int port = atoi(argv[1]);
    const char *room = argv[2];
    long count = atol(argv[3]);
    bool echo = argc < 5 || strcmp(argv[4], "noecho") != 0;
    fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
    inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
    if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof a) < 0)
        die("cannot connect");
    fcntl(fd, F_SETFL, O_NONBLOCK);
    char nick[32], line[512];
    snprintf(nick, sizeof nick, "pipe%d", (int)getpid() % 100000);
    int n = snprintf(line, sizeof line, "%sNICK %s\r\nUSER p 0 * :pipeline\r\n",
                     echo ? "CAP REQ :echo-message\r\nCAP END\r\n" : "", nick);
    write_all(line, (size_t)n, count_line);
    want = " 001 ";
    read_until(until_want);
    n = snprintf(line, sizeof line, "JOIN %s\r\n", room);
    write_all(line, (size_t)n, count_line);
    want = " 366 ";
    read_until(until_want);

    size_t cap = (size_t)count * 64 + 64, len = 0;
    char *burst = malloc(cap);
    if (!burst)
        die("out of memory");
    for (long i = 0; i < count; i++)
        len += (size_t)snprintf(burst + len, cap - len, "PRIVMSG %s :pipelined %ld\r\n", room, i);
    len += (size_t)snprintf(burst + len, cap - len, "PING pipeline-end\r\n");
    double t0 = now();
    write_all(burst, len, count_line);
    if (!got_pong)
        read_until(count_until_pong);
    double t = now() - t0;
    long at_pong = echoes;
    if (echo && echoes < count) {     /* a server that answers PING first */
        want_echoes = count;
        read_until(until_all_echoes);
    }
    double t_all = now() - t0;
    printf("pipeline room=%s count=%ld echo=%d pong_s=%.3f all_replies_s=%.3f us_per_msg=%.1f "
           "echoes_before_pong=%ld\n", room, count, echo, t, t_all, t_all * 1e6 / (double)count,
           at_pong);
    free(burst);
    close(fd);
    return echo && at_pong != count ? 1 : 0;   /* replies out of command order */
}
