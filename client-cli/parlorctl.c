/* parlorctl: talk to parlord's control socket (see master/control.h).
 *
 *   parlorctl [-s SOCKET] [--json] COMMAND...   one command, then exit
 *   parlorctl [-s SOCKET] [--json]              a prompt (libedit), or
 *                                               commands from a pipe
 *
 * The protocol is line based: we send one command per line and print the
 * answer's lines up to the empty line that ends it.  An answer is an error
 * when its first line starts with "error: " or, for JSON answers, when it is
 * an object with a top-level "error" key.
 *
 * Answers carry text from IRC users (topics, away messages, real names), so
 * nothing the server sends reaches the terminal raw: text answers show
 * control characters as escapes, JSON answers stay JSON with the same
 * characters as \u escapes (see put_line).
 *
 * Exit status: 0 when every answer was a success, 1 when one was an error,
 * 2 for bad usage or when the socket cannot be reached (or the server hung
 * up before answering). */
#include <errno.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <editline/readline.h>

#include "common/buf.h"
#include "common/config.h"
#include "common/irc.h"
#include "common/paths.h"

enum { EXIT_ANSWER_ERROR = 1, EXIT_USAGE = 2, EXIT_UNREACHABLE = 2 };

/* One connection to the control socket and its input buffer.  Owned by
 * main(); conn_close() releases it. */
struct conn {
    const char *path;
    int fd;                 /* -1 when not connected */
    char rbuf[8192];
    size_t rpos, rlen;      /* unread bytes are rbuf[rpos .. rlen) */
    char *line;             /* the answer line being assembled */
    size_t line_cap;
};

/* Result of one exchange. */
enum answer { ANSWER_OK, ANSWER_ERROR, ANSWER_LOST };

static void usage(FILE *out)
{
    fprintf(out,
        "usage: parlorctl [-s SOCKET] [--json] [COMMAND...]\n"
        "  -s, --socket PATH  control socket (default %s)\n"
        "  -j, --json         ask for JSON answers (one line each)\n"
        "  -h, --help         this text\n"
        "  -V, --version      print the version\n"
        "With a COMMAND, send it and print the answer; without one, read\n"
        "commands at a prompt (or one per line from a pipe).  Send 'help' for\n"
        "the server's list of commands.  Exit status: 0 success, 1 the server\n"
        "answered with an error, 2 bad usage or the socket cannot be reached.\n",
        default_control_path());
}

static int conn_open(struct conn *c)
{
    struct sockaddr_un sa;
    memset(&sa, 0, sizeof sa);
    sa.sun_family = AF_UNIX;
    if (strlen(c->path) >= sizeof sa.sun_path) {
        fprintf(stderr, "parlorctl: %s: path too long for a Unix socket (at most %zu bytes)\n",
                c->path, sizeof sa.sun_path - 1);
        return -1;
    }
    memcpy(sa.sun_path, c->path, strlen(c->path) + 1);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        fprintf(stderr, "parlorctl: socket: %s\n", strerror(errno));
        return -1;
    }
    if (connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0) {
        int e = errno;
        fprintf(stderr, "parlorctl: cannot connect to %s: %s%s\n", c->path, strerror(e),
                e == ENOENT || e == ECONNREFUSED ? " (is parlord running? see -s)" : "");
        close(fd);
        return -1;
    }
    c->fd = fd;
    c->rpos = c->rlen = 0;
    return 0;
}

static void conn_close(struct conn *c)
{
    if (c->fd >= 0)
        close(c->fd);
    c->fd = -1;
}

static int write_all(int fd, const char *p, size_t n)
{
    while (n) {
        ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

/* Read one line (without its "\n" or "\r\n") into c->line.  Returns its
 * length, or -1 when the server closed the connection or reading failed. */
static long read_line(struct conn *c)
{
    size_t len = 0;
    for (;;) {
        if (c->rpos == c->rlen) {
            ssize_t r = read(c->fd, c->rbuf, sizeof c->rbuf);
            if (r < 0 && errno == EINTR)
                continue;
            if (r <= 0) {
                if (r < 0)
                    fprintf(stderr, "parlorctl: reading from %s: %s\n", c->path, strerror(errno));
                return -1;
            }
            c->rpos = 0;
            c->rlen = (size_t)r;
        }
        char *start = c->rbuf + c->rpos;
        char *nl = memchr(start, '\n', c->rlen - c->rpos);
        size_t take = nl ? (size_t)(nl - start) : c->rlen - c->rpos;
        if (len + take + 1 > c->line_cap) {
            size_t cap = c->line_cap ? c->line_cap : 256;
            while (cap < len + take + 1)
                cap *= 2;
            char *p = realloc(c->line, cap);
            if (!p) {
                fprintf(stderr, "parlorctl: out of memory\n");
                exit(EXIT_FAILURE);
            }
            c->line = p;
            c->line_cap = cap;
        }
        memcpy(c->line + len, start, take);
        len += take;
        c->rpos += take + (nl ? 1 : 0);
        if (nl) {
            if (len && c->line[len - 1] == '\r')
                len--;
            c->line[len] = '\0';
            return (long)len;
        }
    }
}

static const char *skip_ws(const char *p)
{
    while (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n')
        p++;
    return p;
}

/* p is at a '"': return the byte after the closing quote, or NULL. */
static const char *skip_string(const char *p)
{
    for (p++; *p; p++) {
        if (*p == '\\' && p[1])
            p++;
        else if (*p == '"')
            return p + 1;
    }
    return NULL;
}

/* Skip one JSON value (no validation beyond nesting and strings). */
static const char *skip_value(const char *p)
{
    int depth = 0;
    for (; *p; p++) {
        if (*p == '"') {
            p = skip_string(p);
            if (!p)
                return NULL;
            p--;
        } else if (*p == '{' || *p == '[') {
            depth++;
        } else if (*p == '}' || *p == ']') {
            if (depth == 0)
                return p;               /* the end of the enclosing object */
            depth--;
        } else if (*p == ',' && depth == 0) {
            return p;
        }
    }
    return p;
}

/* Is this line a JSON object with a top-level "error" key? */
static bool json_has_error_key(const char *p)
{
    p = skip_ws(p);
    if (*p != '{')
        return false;
    p = skip_ws(p + 1);
    while (*p == '"') {
        const char *key = p + 1, *end = skip_string(p);
        if (!end)
            return false;
        if (end - key - 1 == 5 && memcmp(key, "error", 5) == 0)
            return true;
        p = skip_ws(end);
        if (*p != ':')
            return false;
        p = skip_value(p + 1);
        if (!p || *p != ',')
            return false;
        p = skip_ws(p + 1);
    }
    return false;
}

/* Length of the strict UTF-8 sequence at p[0..len), 0 if it is not one
 * (p[0] >= 0x80). */
static size_t utf8_seq(const unsigned char *p, size_t len)
{
    size_t n = p[0] >= 0xf0 ? 4 : p[0] >= 0xe0 ? 3 : p[0] >= 0xc0 ? 2 : 0;
    return n && n <= len && utf8_valid((const char *)p, n) ? n : 0;
}

/* A C1 control (U+0080..U+009F) encoded in UTF-8. */
static bool is_c1(const unsigned char *p, size_t n)
{
    return n == 2 && p[0] == 0xc2 && p[1] <= 0x9f;
}

/* Print one answer line so that it cannot drive the terminal.
 *
 * Text: C0 controls, DEL and bytes that are not UTF-8 as \xNN (ESC is
 * \x1b), C1 controls as \u0080..\u009f, and a backslash as \\ so that an
 * escape on the screen is always one parlorctl made.
 *
 * JSON: the server escapes C0 and DEL already (a raw one would be invalid
 * JSON anyway); C1 controls are valid raw in JSON but not safe on a
 * terminal, so they become \u0080..\u009f, and a byte that is not UTF-8
 * (which JSON cannot carry) becomes \ufffd: the line stays valid JSON with
 * the same text.
 *
 * Everything else, Korean included, is printed as it is. */
static void put_line(const char *s, size_t len, bool json, FILE *out)
{
    const unsigned char *p = (const unsigned char *)s;
    for (size_t i = 0; i < len;) {
        size_t n = p[i] < 0x80 ? 1 : utf8_seq(p + i, len - i);
        if (p[i] < 0x20 || p[i] == 0x7f)
            fprintf(out, json ? "\\u%04x" : "\\x%02x", p[i]);
        else if (p[i] == '\\' && !json)
            fputs("\\\\", out);
        else if (n == 0 && json)
            fputs("\\ufffd", out);
        else if (n == 0)
            fprintf(out, "\\x%02x", p[i]);
        else if (is_c1(p + i, n))
            fprintf(out, "\\u%04x", p[i + 1]);
        else
            fwrite(p + i, 1, n, out);
        i += n ? n : 1;
    }
}

/* "json status" asks for JSON by itself: --json must not double the prefix. */
static bool has_json_prefix(const char *cmd)
{
    return strncmp(cmd, "json", 4) == 0 && (cmd[4] == ' ' || cmd[4] == '\0');
}

/* Send one command line (with "json " in front when json is set and the
 * command does not have it) and print its answer on stdout. */
static enum answer exchange(struct conn *c, const char *cmd, bool json)
{
    bool prefix = json && !has_json_prefix(cmd);
    json = json || has_json_prefix(cmd);
    size_t n = strlen(cmd);
    char *msg = malloc(n + 7);
    if (!msg) {
        fprintf(stderr, "parlorctl: out of memory\n");
        exit(EXIT_FAILURE);
    }
    int m = snprintf(msg, n + 7, "%s%s\n", prefix ? "json " : "", cmd);
    int rc = write_all(c->fd, msg, (size_t)m);
    free(msg);
    /* A server that refuses us (permission denied) writes why and closes:
     * the send may fail with EPIPE while the reason waits to be read. */
    if (rc < 0 && rc != -EPIPE && rc != -ECONNRESET) {
        fprintf(stderr, "parlorctl: sending to %s: %s\n", c->path, strerror(-rc));
        return ANSWER_LOST;
    }
    enum answer result = ANSWER_OK;
    for (bool first = true; ; first = false) {
        long len = read_line(c);
        if (len < 0) {
            fflush(stdout);
            fprintf(stderr, "parlorctl: %s closed the connection before the end of the answer\n",
                    c->path);
            return ANSWER_LOST;
        }
        if (len == 0)
            break;
        if (first && (strncmp(c->line, "error: ", 7) == 0 ||
                      (json && json_has_error_key(c->line))))
            result = ANSWER_ERROR;
        put_line(c->line, (size_t)len, json, stdout);
        fputc('\n', stdout);
    }
    fflush(stdout);
    return result;
}

/* One line typed or piped in: returns false to leave the loop. */
static bool handle_line(struct conn *c, char *raw, bool json, bool interactive, int *status)
{
    char *cmd = str_trim(raw);
    if (!*cmd || *cmd == '#')
        return true;
    if (strcmp(cmd, "quit") == 0 || strcmp(cmd, "exit") == 0)
        return false;
    if (interactive)
        add_history(cmd);
    /* After the server hung up (a restart, say), try again for this command. */
    if (c->fd < 0 && conn_open(c) < 0) {
        *status = EXIT_UNREACHABLE;
        return interactive;
    }
    enum answer a = exchange(c, cmd, json);
    if (a == ANSWER_ERROR && *status == 0)
        *status = EXIT_ANSWER_ERROR;
    if (a == ANSWER_LOST) {
        conn_close(c);
        *status = EXIT_UNREACHABLE;
        return interactive;
    }
    return true;
}

static int run_prompt(struct conn *c, bool json)
{
    int status = 0;
    rl_readline_name = "parlorctl";
    using_history();
    stifle_history(500);
    for (;;) {
        char *line = readline("parlorctl> ");
        if (!line) {
            putchar('\n');
            break;
        }
        bool more = handle_line(c, line, json, true, &status);
        free(line);
        if (!more)
            break;
    }
    /* In a session, errors were shown as they came; leaving is a success. */
    return 0;
}

static int run_pipe(struct conn *c, bool json)
{
    int status = 0;
    char *line = NULL;
    size_t cap = 0;
    while (getline(&line, &cap, stdin) >= 0) {
        if (!handle_line(c, line, json, false, &status))
            break;
    }
    free(line);
    return status;
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"socket", required_argument, 0, 's'},
        {"json", no_argument, 0, 'j'},
        {"help", no_argument, 0, 'h'},
        {"version", no_argument, 0, 'V'},
        {0, 0, 0, 0},
    };
    struct conn c = { .path = NULL, .fd = -1 };
    bool json = false;
    int opt;
    opterr = 0;
    /* '+': stop at the first word of the command, so "kick bob -x" works. */
    while ((opt = getopt_long(argc, argv, "+s:jhV", opts, NULL)) != -1) {
        switch (opt) {
        case 's':
            if (!*optarg) {
                fprintf(stderr, "parlorctl: -s needs a non-empty path\n");
                return EXIT_USAGE;
            }
            c.path = optarg;
            break;
        case 'j':
            json = true;
            break;
        case 'h':
            usage(stdout);
            return 0;
        case 'V':
            printf("parlorctl %s\n", PARLOR_VERSION);
            return 0;
        default:
            if (optopt == 's')
                fprintf(stderr, "parlorctl: option '%s' needs a value (try --help)\n", argv[optind - 1]);
            else
                fprintf(stderr, "parlorctl: unknown option '%s' (try --help)\n", argv[optind - 1]);
            return EXIT_USAGE;
        }
    }
    if (!c.path)
        c.path = default_control_path();

    /* Join the command's words; a newline would smuggle in a second command. */
    char *cmd = NULL;
    if (optind < argc) {
        size_t len = 0;
        for (int i = optind; i < argc; i++)
            len += strlen(argv[i]) + 1;
        cmd = malloc(len);
        if (!cmd) {
            fprintf(stderr, "parlorctl: out of memory\n");
            return EXIT_FAILURE;
        }
        cmd[0] = '\0';
        for (int i = optind; i < argc; i++) {
            if (strpbrk(argv[i], "\r\n")) {
                fprintf(stderr, "parlorctl: the command must not contain a line break\n");
                free(cmd);
                return EXIT_USAGE;
            }
            if (i > optind)
                strcat(cmd, " ");
            strcat(cmd, argv[i]);
        }
    }

    if (conn_open(&c) < 0) {
        free(cmd);
        return EXIT_UNREACHABLE;
    }

    int status;
    if (cmd) {
        enum answer a = exchange(&c, cmd, json);
        status = a == ANSWER_OK ? 0 : a == ANSWER_ERROR ? EXIT_ANSWER_ERROR : EXIT_UNREACHABLE;
        free(cmd);
    } else if (isatty(STDIN_FILENO)) {
        status = run_prompt(&c, json);
    } else {
        status = run_pipe(&c, json);
    }
    conn_close(&c);
    free(c.line);
    return status;
}
