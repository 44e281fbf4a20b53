/* Running bin/parlor from integration tests: script mode with pipes
 * (run_parlor) and interactive mode under tmux as a person would use it
 * (term_*: `tmux send-keys` types, `tmux capture-pane -p` reads the screen).
 * Each tmux session has a unique name and its own tmux server (-L name:
 * suites run side by side, and a session started while a shared server is
 * exiting could die with it); it is killed by that name at the end;
 * a failed test's session ends by itself (parlor runs under `timeout`, and
 * the window closes a few seconds after it exits).
 *
 * The client binary is $PARLOR_CLIENT, else "parlor" next to $PARLORD when
 * it exists, else bin/parlor. */
#ifndef PARLOR_IT_TERM_H
#define PARLOR_IT_TERM_H

#include <stddef.h>

#include "tests/integration/harness.h"

#define RUN_TIMEOUT_MS 20000
#define SCREEN_TIMEOUT_MS 8000

const char *client_path(void);

/* ---- script mode ---- */
struct run {
    int status;                   /* exit status, or -1 if it was killed */
    char out[16384];
    char err[4096];
};
/* Run parlor with `args` (NULL-terminated, without argv[0]); `input` is
 * written to its stdin (NULL: stdin is /dev/null). */
void run_parlor(struct run *r, const char *const *args, const char *input);
/* Run argv (stdout and stderr to /dev/null); the exit status or -1. */
int run_argv(const char *const *argv);

/* ---- interactive mode under tmux (120x30) ---- */
struct term {
    char name[64];
};
/* parlor --port PORT --nick NICK --join ROOM */
void term_start(struct term *t, const struct it_server *s, const char *nick, const char *room);
/* parlor ARGS (a shell-quoted string) with `env` ("VAR=value ...", may be
 * NULL) added to its environment. */
void term_start_args(struct term *t, const char *env, const char *args);
void term_type(const struct term *t, const char *text);     /* literal text */
void term_key(const struct term *t, const char *key);       /* a tmux key name */
/* The visible screen, NUL-terminated. */
void term_screen(const struct term *t, char *out, size_t cap);
/* The same with the colours and attributes as escape sequences (-e). */
void term_screen_attrs(const struct term *t, char *out, size_t cap);
/* Wait until the screen shows `needle`; fail with the screen otherwise. */
void term_wait(const struct term *t, const char *needle, char *screen, size_t cap);
void term_stop(struct term *t);
/* The last non-empty line of a screen. */
void last_line(const char *screen, char *out, size_t cap);

#endif
