/* WHO (with WHOX) and USERHOST: questions about users, answered by every
 * worker for the clients it holds (worker/ask.c), so they see every user on
 * the server once, wherever the user and the room live.
 *
 * WHO <mask> [o][%<fields>[,<token>]]:
 *   #room  the room's members, as the worker holding each one sees it on its
 *          copy of the room; a secret room shows nothing to a non-member,
 *          and invisible (+i) members are shown only to members;
 *   nick   that user, invisible or not;
 *   mask   users whose nick, user, host or nick!user@host match ('*', '?';
 *          "*", "0" or nothing: everyone), except invisible users who share
 *          no room with the asker;
 *   o      IRC operators only.
 * A 352 per user (flags: H or G, "*" for an operator, then the member's
 * prefixes in the room), or a 354 with the WHOX fields asked for, in the
 * standard order t c u i h s n f d l a o r; then 315 with the mask. */
#include <stdio.h>
#include <string.h>

#include "worker/worker_int.h"

#define USERHOST_MAX 5
#define WHOX_ORDER "tcuihsnfdlaor"

struct who_opts {
    bool opers_only;
    bool whox;
    char fields[sizeof WHOX_ORDER];  /* the WHOX fields asked for, any order */
    char token[4];                   /* up to three digits; "0" when none */
};

static void parse_opts(const char *s, struct who_opts *o)
{
    memset(o, 0, sizeof *o);
    snprintf(o->token, sizeof o->token, "0");
    for (; *s && *s != '%'; s++)
        if (*s == 'o')
            o->opers_only = true;
    if (*s != '%')
        return;
    o->whox = true;
    size_t n = 0;
    for (s++; *s && *s != ','; s++)
        if (strchr(WHOX_ORDER, *s) && !strchr(o->fields, *s) && n + 1 < sizeof o->fields)
            o->fields[n++] = *s;
    if (*s == ',' && s[1] && strspn(s + 1, "0123456789") == strlen(s + 1) && strlen(s + 1) <= 3)
        snprintf(o->token, sizeof o->token, "%s", s + 1);
}

/* One user's 352 or 354 for the asker, appended to out. */
static void who_line(struct buf *out, const struct ask_args *a, const struct who_opts *o,
                     const struct client *t, const char *chan, const char *prefix)
{
    char flags[16], line[1024];
    snprintf(flags, sizeof flags, "%c%s%s%s", t->away ? 'G' : 'H', t->oper ? "*" : "", prefix,
             t->bot ? "B" : "");        /* bot-mode: after the prefixes */
    const char *server = W.cfg->server_name;
    if (!o->whox) {
        buf_append(out, line, reply_format(line, sizeof line, a->nick, "352", "%s %s %s %s %s %s :0 %s",
                                           chan, t->user, t->host, server, t->nick, flags,
                                           t->realname));
        return;
    }
    struct buf f = BUF_INIT;
    for (const char *p = WHOX_ORDER; *p; p++) {
        if (!strchr(o->fields, *p))
            continue;
        if (f.len)
            buf_append_byte(&f, ' ');
        switch (*p) {
        case 't': buf_append_str(&f, o->token); break;
        case 'c': buf_append_str(&f, chan); break;
        case 'u': buf_append_str(&f, t->user); break;
        case 'i': buf_append_str(&f, t->ip); break;
        case 'h': buf_append_str(&f, t->host); break;
        case 's': buf_append_str(&f, server); break;
        case 'n': buf_append_str(&f, t->nick); break;
        case 'f': buf_append_str(&f, flags); break;
        case 'd': buf_append_str(&f, "0"); break;
        case 'l': buf_appendf(&f, "%ld", (long)(W.now - t->last_active)); break;
        case 'a': buf_append_str(&f, t->account[0] ? t->account : "0"); break;
        case 'o': buf_append_str(&f, "n/a"); break;
        case 'r': buf_appendf(&f, ":%s", t->realname); break;
        }
    }
    buf_append(out, line, reply_format(line, sizeof line, a->nick, "354", "%.*s", (int)f.len,
                                       f.data ? f.data : ""));
    buf_free(&f);
}

/* Does local client t share a room with client `who` (on any worker)? */
static bool shares_room(const struct client *t, uint64_t who)
{
    for (int i = 0; i < t->nchans; i++)
        if (chan_member_id(t->chans[i], who))
            return true;
    return false;
}

static bool mask_matches(const char *mask, const struct client *t)
{
    char full[256];
    snprintf(full, sizeof full, "%s!%s@%s", t->nick, t->user, t->host);
    return irc_mask_match(mask, t->nick) || irc_mask_match(mask, t->user) ||
           irc_mask_match(mask, t->host) || irc_mask_match(mask, full);
}

static bool shown(const struct client *t)
{
    return t && t->registered && !t->closing;
}

static void who_room(const struct ask_args *a, const struct who_opts *o, struct buf *out)
{
    struct channel *ch = chan_find(a->a1);
    if (!ch)
        return;
    bool member = chan_member_id(ch, a->client) != NULL;
    if (ch->mode_s && !member)
        return;
    for (int i = 0; i < ch->nlocal; i++) {
        struct member *m = ch->local[i];
        struct client *t = m->local;
        if (!shown(t) || (t->invisible && !member) || (o->opers_only && !t->oper))
            continue;
        who_line(out, a, o, t, ch->name, member_prefix(m->modes, a->caps & CAP_MULTI_PREFIX));
    }
}

void who_answer(const struct ask_args *a, struct buf *out)
{
    struct who_opts o;
    parse_opts(a->a2, &o);
    const char *mask = a->a1;
    if (mask[0] == '#') {
        who_room(a, &o, out);
        return;
    }
    if (!strpbrk(mask, "*?!@") && strcmp(mask, "0") != 0 && mask[0]) {   /* one nick */
        struct client *t = hmap_get_name(&W.nicks, mask);
        if (shown(t) && !(o.opers_only && !t->oper))
            who_line(out, a, &o, t, "*", "");
        return;
    }
    bool all = !mask[0] || strcmp(mask, "*") == 0 || strcmp(mask, "0") == 0;
    struct hmap_iter it;
    hmap_iter_init(&it, &W.clients);
    for (struct hmap_entry *e; (e = hmap_iter_next(&it));) {
        struct client *t = e->value;
        if (!shown(t) || (o.opers_only && !t->oper) || (!all && !mask_matches(mask, t)))
            continue;
        if (t->invisible && t->id != a->client && !shares_room(t, a->client))
            continue;
        who_line(out, a, &o, t, "*", "");
    }
}

void who_command(struct client *c, struct irc_msg *m)
{
    const char *mask = m->nparams ? m->params[0] : "*";
    ask_start(c, ASK_WHO, -1, mask[0] ? mask : "*", m->nparams > 1 ? m->params[1] : "");
}

/* ---- USERHOST nick [nick ...]: 302 :nick[*]=(+|-)user@host ... ---- */

void userhost_command(struct client *c, struct irc_msg *m)
{
    char nicks[USERHOST_MAX * (IRC_NICK_MAX + 1) + 1] = "";
    size_t n = 0;
    for (int i = 0; i < m->nparams && i < USERHOST_MAX; i++)
        if (irc_nick_valid(m->params[i], strlen(m->params[i])))
            n += (size_t)snprintf(nicks + n, sizeof nicks - n, "%s%s", n ? " " : "", m->params[i]);
    ask_start(c, ASK_USERHOST, -1, nicks, NULL);
}

/* A line "nick[*]=(+|-)user@host" per nick asked that a client here holds. */
void userhost_answer(const struct ask_args *a, struct buf *out)
{
    char copy[USERHOST_MAX * (IRC_NICK_MAX + 1) + 1];
    snprintf(copy, sizeof copy, "%s", a->a1);
    for (char *save, *nick = strtok_r(copy, " ", &save); nick; nick = strtok_r(NULL, " ", &save)) {
        struct client *t = hmap_get_name(&W.nicks, nick);
        if (shown(t))
            buf_appendf(out, "%s%s=%c%s@%s\n", t->nick, t->oper ? "*" : "", t->away ? '-' : '+',
                        t->user, t->host);
    }
}

void userhost_finish(struct client *c, const struct ask_args *a, const char *data, size_t len)
{
    char copy[USERHOST_MAX * (IRC_NICK_MAX + 1) + 1], out[600] = "";
    size_t n = 0;
    snprintf(copy, sizeof copy, "%s", a->a1);
    for (char *save, *nick = strtok_r(copy, " ", &save); nick; nick = strtok_r(NULL, " ", &save)) {
        for (const char *p = data, *end = data + len; p < end;) {
            const char *eol = memchr(p, '\n', (size_t)(end - p));
            size_t ll = eol ? (size_t)(eol - p) : (size_t)(end - p);
            char name[IRC_NICK_MAX + 1];
            size_t nn = strcspn(p, "*=");
            snprintf(name, sizeof name, "%.*s", (int)(nn < ll ? nn : ll), p);
            if (irc_casecmp(name, nick) == 0) {
                n += (size_t)snprintf(out + n, sizeof out - n, "%s%.*s", n ? " " : "", (int)ll, p);
                break;
            }
            p += ll + 1;
        }
        if (n >= sizeof out)
            break;
    }
    reply(c, "302", ":%s", out);
}
