/* `parlord hash-password`: print the argon2id hash of a password, for the
 * password-hash line of an [oper] block.
 *
 * From a terminal the password is asked twice without echo; otherwise the
 * first line of standard input is the password (without its line end), so
 * `printf '%s\n' "$pw" | parlord hash-password` works in scripts. */
#include "master/master.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include "common/password.h"

#define PW_MAX 256

/* One line of at most PW_MAX bytes from stdin into pw; -1 on EOF, error or
 * a longer line. */
static int read_line(char *pw, size_t cap)
{
    if (!fgets(pw, (int)cap, stdin))
        return -1;
    size_t n = strlen(pw);
    if (n && pw[n - 1] == '\n')
        pw[--n] = '\0';
    else if (!feof(stdin))
        return -1;                      /* longer than the buffer */
    if (n && pw[n - 1] == '\r')
        pw[--n] = '\0';
    return 0;
}

static int ask(const char *prompt, char *pw, size_t cap)
{
    struct termios old, quiet;
    fputs(prompt, stderr);
    fflush(stderr);
    bool tty = tcgetattr(STDIN_FILENO, &old) == 0;
    if (tty) {
        quiet = old;
        quiet.c_lflag &= (tcflag_t)~ECHO;
        tcsetattr(STDIN_FILENO, TCSAFLUSH, &quiet);
    }
    int r = read_line(pw, cap);
    if (tty) {
        tcsetattr(STDIN_FILENO, TCSAFLUSH, &old);
        fputc('\n', stderr);
    }
    return r;
}

int hash_password_main(void)
{
    char pw[PW_MAX + 2], again[PW_MAX + 2], hash[PASSWORD_HASH_MAX];
    int rc = 1;
    if (isatty(STDIN_FILENO)) {
        if (ask("Password: ", pw, sizeof pw) < 0 || ask("Again: ", again, sizeof again) < 0) {
            fprintf(stderr, "parlord hash-password: no password read (at most %d bytes)\n", PW_MAX);
            goto out;
        }
        if (strcmp(pw, again) != 0) {
            fprintf(stderr, "parlord hash-password: the two passwords differ\n");
            goto out;
        }
    } else if (read_line(pw, sizeof pw) < 0) {
        fprintf(stderr, "parlord hash-password: expected one line on standard input "
                "(at most %d bytes)\n", PW_MAX);
        goto out;
    }
    if (!pw[0]) {
        fprintf(stderr, "parlord hash-password: the password is empty\n");
        goto out;
    }
    if (password_hash(pw, strlen(pw), hash) < 0) {
        fprintf(stderr, "parlord hash-password: hashing failed (out of memory?)\n");
        goto out;
    }
    printf("%s\n", hash);
    rc = fflush(stdout) == 0 ? 0 : 1;
out:
    explicit_bzero(pw, sizeof pw);
    explicit_bzero(again, sizeof again);
    return rc;
}
