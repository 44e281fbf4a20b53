/* Running bin/parlor from integration tests; see term.h. */
#include <check.h>
#include <fcntl.h>
#include <libgen.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tests/integration/term.h"

const char *client_path(void)
{
    static char path[512];
    const char *p = getenv("PARLOR_CLIENT");
    if (p && *p)
        return p;
    const char *d = getenv("PARLORD");
    if (d && *d) {
        char copy[512];
        snprintf(copy, sizeof copy, "%s", d);
        snprintf(path, sizeof path, "%s/parlor", dirname(copy));
        if (access(path, X_OK) == 0)
            return path;
        /* e.g. the sanitizer build's parlord without its own parlor */
    }
    return "bin/parlor";
}

/* ---- running parlor in script mode ---- */

/* Run parlor with `args` (NULL-terminated, without argv[0]); `input` is
 * written to its stdin (NULL: stdin is /dev/null). */
void run_parlor(struct run *r, const char *const *args, const char *input)
{
    memset(r, 0, sizeof *r);
    int in[2], out[2], err[2];
    ck_assert_int_eq(pipe(in), 0);
    ck_assert_int_eq(pipe(out), 0);
    ck_assert_int_eq(pipe(err), 0);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        if (input) {
            dup2(in[0], 0);
        } else {
            int nul = open("/dev/null", O_RDONLY);
            dup2(nul, 0);
        }
        dup2(out[1], 1);
        dup2(err[1], 2);
        for (int fd = 3; fd < 1024; fd++)
            close(fd);
        const char *argv[64];
        int n = 0;
        argv[n++] = client_path();
        for (int i = 0; args[i] && n < 63; i++)
            argv[n++] = args[i];
        argv[n] = NULL;
        setenv("LC_ALL", "C.UTF-8", 1);
        execv(argv[0], (char *const *)argv);
        _exit(127);
    }
    close(in[0]);
    close(out[1]);
    close(err[1]);
    if (input) {
        size_t len = strlen(input), off = 0;
        while (off < len) {
            ssize_t w = write(in[1], input + off, len - off);
            if (w <= 0)
                break;
            off += (size_t)w;
        }
    }
    close(in[1]);
    size_t no = 0, ne = 0;
    long deadline = it_now_ms() + RUN_TIMEOUT_MS;
    bool out_open = true, err_open = true;
    while ((out_open || err_open) && it_now_ms() < deadline) {
        struct pollfd p[2] = { { out_open ? out[0] : -1, POLLIN, 0 }, { err_open ? err[0] : -1, POLLIN, 0 } };
        if (poll(p, 2, 200) <= 0)
            continue;
        if (p[0].revents) {
            ssize_t n = read(out[0], r->out + no, sizeof r->out - 1 - no);
            if (n <= 0)
                out_open = false;
            else
                no += (size_t)n;
        }
        if (p[1].revents) {
            ssize_t n = read(err[0], r->err + ne, sizeof r->err - 1 - ne);
            if (n <= 0)
                err_open = false;
            else
                ne += (size_t)n;
        }
    }
    close(out[0]);
    close(err[0]);
    int st;
    if (it_proc_wait(pid, (int)(deadline - it_now_ms() > 0 ? deadline - it_now_ms() : 1), &st) == 0) {
        r->status = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
    } else {
        kill(pid, SIGKILL);
        waitpid(pid, NULL, 0);
        r->status = -1;
    }
}

/* ---- tmux ---- */

int run_argv(const char *const *argv)
{
    pid_t pid = fork();
    if (pid == 0) {
        int nul = open("/dev/null", O_RDWR);
        dup2(nul, 1);
        dup2(nul, 2);
        execvp(argv[0], (char *const *)argv);
        _exit(127);
    }
    int st = 0;
    if (pid < 0 || waitpid(pid, &st, 0) < 0)
        return -1;
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

void term_start_args(struct term *t, const char *env, const char *args)
{
    static int seq;
    snprintf(t->name, sizeof t->name, "parlor-it-%d-%d", (int)getpid(), ++seq);
    char cmd[2048];
    snprintf(cmd, sizeof cmd,
             "env LANG=C.UTF-8 LC_ALL=C.UTF-8 TERM=screen %s timeout --foreground 90 %s %s; sleep 3",
             env ? env : "", client_path(), args);
    const char *argv[] = { "tmux", "-L", t->name, "new-session", "-d", "-s", t->name, "-x", "120", "-y", "30",
                           cmd, NULL };
    ck_assert_msg(run_argv(argv) == 0, "tmux new-session failed (is tmux installed?)");
}

void term_start(struct term *t, const struct it_server *s, const char *nick, const char *room)
{
    char args[512];
    snprintf(args, sizeof args, "--port %d --nick %s --join '%s'", s->port, nick, room);
    term_start_args(t, NULL, args);
}

void term_type(const struct term *t, const char *text)
{
    const char *argv[] = { "tmux", "-L", t->name, "send-keys", "-t", t->name, "-l", text, NULL };
    ck_assert_int_eq(run_argv(argv), 0);
}

void term_key(const struct term *t, const char *key)
{
    const char *argv[] = { "tmux", "-L", t->name, "send-keys", "-t", t->name, key, NULL };
    ck_assert_int_eq(run_argv(argv), 0);
}

static void capture(const struct term *t, const char *flags, char *out, size_t cap)
{
    char cmd[256];
    snprintf(cmd, sizeof cmd, "tmux -L '%s' capture-pane -p %s -t '%s'", t->name, flags, t->name);
    out[0] = '\0';
    FILE *p = popen(cmd, "r");
    if (!p)
        return;
    size_t n = fread(out, 1, cap - 1, p);
    out[n] = '\0';
    pclose(p);
}

/* The visible screen, NUL-terminated. */
void term_screen(const struct term *t, char *out, size_t cap)
{
    capture(t, "", out, cap);
}

void term_screen_attrs(const struct term *t, char *out, size_t cap)
{
    capture(t, "-e", out, cap);
}

/* Wait until the screen shows `needle`; fail with the screen otherwise. */
void term_wait(const struct term *t, const char *needle, char *screen, size_t cap)
{
    long deadline = it_now_ms() + SCREEN_TIMEOUT_MS;
    do {
        term_screen(t, screen, cap);
        if (strstr(screen, needle))
            return;
        it_sleep_ms(50);
    } while (it_now_ms() < deadline);
    ck_abort_msg("the screen never showed \"%s\"; it shows:\n%s", needle, screen);
}

void term_stop(struct term *t)
{
    const char *argv[] = { "tmux", "-L", t->name, "kill-session", "-t", t->name, NULL };
    run_argv(argv);
}

/* The last non-empty line of a screen. */
void last_line(const char *screen, char *out, size_t cap)
{
    out[0] = '\0';
    const char *p = screen;
    while (*p) {
        const char *e = strchr(p, '\n');
        size_t len = e ? (size_t)(e - p) : strlen(p);
        size_t trimmed = len;
        while (trimmed > 0 && p[trimmed - 1] == ' ')
            trimmed--;
        if (trimmed > 0)
            snprintf(out, cap, "%.*s", (int)trimmed, p);
        p += len + (e ? 1 : 0);
    }
}

