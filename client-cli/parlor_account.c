/* parlor: remembering a login made during the session.
 *
 * A user who registers or identifies with NickServ (/msg NickServ REGISTER
 * pw, IDENTIFY [account] pw) is logged in on this connection only.  The
 * client notes the account and password it sent (acct_note_nickserv); when
 * the server confirms the login (900), they become the client's SASL
 * credentials (a->account, a->password), so a reconnect logs in again by
 * itself instead of coming back as Guest12345.
 *
 * The account name (never the password) is also written to a state file,
 * $XDG_STATE_HOME/parlor/accounts (default ~/.local/state/parlor/accounts),
 * one "HOST PORT NICK ACCOUNT" line each, so that the next start with that
 * nick and without --account says how to log in. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "client-cli/parlor.h"

/* Credentials sent to NickServ, waiting for the server's 900. */
static char pending_account[PARLOR_NAME_MAX];
static char *pending_password;

static void forget_pending(void)
{
    if (pending_password) {
        memset(pending_password, 0, strlen(pending_password));
        free(pending_password);
        pending_password = NULL;
    }
    pending_account[0] = '\0';
}

void acct_note_nickserv(struct app *a, const char *text)
{
    char copy[512];
    snprintf(copy, sizeof copy, "%s", text);
    char *save, *verb = strtok_r(copy, " ", &save);
    char *w1 = verb ? strtok_r(NULL, " ", &save) : NULL;
    char *w2 = w1 ? strtok_r(NULL, " ", &save) : NULL;
    const char *account = NULL, *password = NULL;
    if (verb && strcasecmp(verb, "REGISTER") == 0 && w1) {
        account = a->nick;
        password = w1;
    } else if (verb && strcasecmp(verb, "IDENTIFY") == 0 && w1) {
        account = w2 ? w1 : a->nick;
        password = w2 ? w2 : w1;
    }
    if (account && password && account[0]) {
        forget_pending();
        snprintf(pending_account, sizeof pending_account, "%s", account);
        pending_password = strdup(password);
    }
    memset(copy, 0, sizeof copy);
}

int state_path(const char *file, char *out, size_t cap, bool make_dir)
{
    const char *xdg = getenv("XDG_STATE_HOME");
    const char *home = getenv("HOME");
    char dir[512];
    if (xdg && xdg[0] == '/')
        snprintf(dir, sizeof dir, "%s/parlor", xdg);
    else if (home && home[0])
        snprintf(dir, sizeof dir, "%s/.local/state/parlor", home);
    else
        return -1;
    if (make_dir) {
        /* mkdir -p, private */
        for (char *p = dir + 1; *p; p++) {
            if (*p != '/')
                continue;
            *p = '\0';
            mkdir(dir, 0700);
            *p = '/';
        }
        if (mkdir(dir, 0700) < 0 && errno != EEXIST)
            return -1;
    }
    snprintf(out, cap, "%s/%s", dir, file);
    return 0;
}

/* The remembered account for (host, port, nick), or false. */
static bool state_lookup(const struct app *a, const char *nick, char *account, size_t cap)
{
    char path[600];
    if (state_path("accounts", path, sizeof path, false) < 0)
        return false;
    FILE *f = fopen(path, "r");
    if (!f)
        return false;
    char line[512];
    bool found = false;
    while (!found && fgets(line, sizeof line, f)) {
        char h[256], n[PARLOR_NAME_MAX], acc[PARLOR_NAME_MAX];
        int port;
        if (sscanf(line, "%255s %d %63s %63s", h, &port, n, acc) == 4 && strcmp(h, a->host) == 0 &&
            port == a->port && irc_casecmp(n, nick) == 0) {
            snprintf(account, cap, "%s", acc);
            found = true;
        }
    }
    fclose(f);
    return found;
}

static void state_save(const struct app *a, const char *account)
{
    char have[PARLOR_NAME_MAX];
    if (state_lookup(a, a->nick, have, sizeof have) && strcmp(have, account) == 0)
        return;
    char path[600];
    if (state_path("accounts", path, sizeof path, true) < 0)
        return;
    FILE *f = fopen(path, "a");
    if (!f)
        return;
    fprintf(f, "%s %d %s %s\n", a->host, a->port, a->nick, account);
    fclose(f);
}

bool acct_logged_in(struct app *a, const char *account)
{
    if (!pending_password || irc_casecmp(account, pending_account) != 0) {
        forget_pending();
        return false;
    }
    snprintf(a->account, sizeof a->account, "%s", account);
    if (a->password) {
        memset(a->password, 0, strlen(a->password));
        free(a->password);
    }
    a->password = pending_password;      /* ownership moves */
    pending_password = NULL;
    pending_account[0] = '\0';
    state_save(a, account);
    return true;
}

bool acct_remembered(const struct app *a, char *account, size_t cap)
{
    return !a->account[0] && state_lookup(a, a->want_nick, account, cap);
}
