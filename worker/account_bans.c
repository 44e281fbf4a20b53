/* Admin bans on accounts, as the master sends them (IPC_M_BANS, the whole
 * list after each change; master/bans.c).  A login to a banned account
 * (SASL PLAIN or EXTERNAL, NickServ IDENTIFY or REGISTER) is refused and the
 * connection closed with the reason (worker/account.c asks
 * account_ban_check); connections already logged in to an account when its
 * ban arrives are closed. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/log.h"
#include "ipc/frame.h"
#include "worker/worker_int.h"

#define ACCOUNT_BANS_MAX 1024

static struct account_ban {
    char folded[IRC_NICK_MAX + 1];
    time_t until;
    char reason[160];
} abans[ACCOUNT_BANS_MAX];
static int nabans;

bool account_ban_check(const char *account, char *why, size_t cap)
{
    char folded[IRC_NICK_MAX + 1];
    size_t len = strlen(account);
    if (len > IRC_NICK_MAX)
        return false;
    irc_casefold(folded, account, len);
    time_t now = time(NULL);
    for (int i = 0; i < nabans; i++)
        if (abans[i].until > now && strcmp(abans[i].folded, folded) == 0) {
            long left = (long)(abans[i].until - now);
            snprintf(why, cap, "Banned: the account %s is banned: %s (%ld min left)", account,
                     abans[i].reason, (left + 59) / 60);
            return true;
        }
    return false;
}

void account_bans_handle(const char *payload, size_t len)
{
    struct ipc_reader r;
    ipc_reader_init(&r, payload, len);
    uint32_t n = ipc_get_u32(&r);
    int got = 0;
    for (uint32_t i = 0; i < n && !r.err && got < ACCOUNT_BANS_MAX; i++) {
        const char *name = ipc_get_str(&r, NULL);
        uint64_t until = ipc_get_u64(&r);
        const char *reason = ipc_get_str(&r, NULL);
        if (r.err || strlen(name) > IRC_NICK_MAX)
            break;
        snprintf(abans[got].folded, sizeof abans[got].folded, "%s", name);
        abans[got].until = (time_t)until;
        snprintf(abans[got].reason, sizeof abans[got].reason, "%s", reason);
        got++;
    }
    if (r.err) {
        log_warn("bans: a malformed account ban list from the master");
        return;
    }
    nabans = got;
    /* Close who is logged in to a banned account (ids first: closing
     * changes the table). */
    uint64_t *ids = malloc(sizeof *ids * (size_t)(W.nclients + 1));
    PARLOR_ASSERT(ids != NULL);
    int nids = 0;
    struct hmap_iter it;
    hmap_iter_init(&it, &W.clients);
    for (struct hmap_entry *e; (e = hmap_iter_next(&it)) && nids < W.nclients + 1;) {
        struct client *c = e->value;
        char why[300];
        if (c->account[0] && !c->closing && account_ban_check(c->account, why, sizeof why))
            ids[nids++] = c->id;
    }
    for (int i = 0; i < nids; i++) {
        struct client *c = client_by_id(ids[i]);
        char why[300];
        if (c && !c->closing && account_ban_check(c->account, why, sizeof why)) {
            log_info("bans: closing %s (%s:%d), logged in to a banned account %s", c->nick, c->ip,
                     c->port, c->account);
            client_close(c, why);
        }
    }
    free(ids);
}
