/* parlor: interactive slash commands.
 *
 * A sorted table of { name, usage, help, handler, flags } (like parlorctl
 * and HAProxy's CLI): cmd_run() finds the entry, checks the connection when
 * the command needs one, and a handler that returns USAGE gets the entry's
 * one-line usage printed for it. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "client-cli/parlor.h"

#define NEED_CONN 1
#define OK 0
#define USAGE (-1)
#define HISTORY_DEFAULT 20
#define HISTORY_MAX 100

typedef int cmd_fn(struct app *a, char *args);

struct command {
    const char *name;
    const char *usage;
    const char *help;
    cmd_fn *fn;
    int flags;
};

/* The next space-separated word of *p, NUL-terminated in place; NULL when
 * there is none.  *p moves past it and the spaces after it. */
static char *word(char **p)
{
    char *s = *p;
    while (*s == ' ')
        s++;
    if (!*s) {
        *p = s;
        return NULL;
    }
    char *e = s;
    while (*e && *e != ' ')
        e++;
    if (*e)
        *e++ = '\0';
    while (*e == ' ')
        e++;
    *p = e;
    return s;
}

static bool is_room(const char *s) { return s && s[0] == '#'; }

static bool valid_target(const char *s)
{
    return s && (is_room(s) ? irc_channel_valid(s, strlen(s)) : irc_nick_valid(s, strlen(s)));
}

static void say(struct app *a, const char *text)
{
    ui_print(a, 0, "-!- %s", text);
}

/* The room or conversation a command acts on: the given one or the
 * current one.  NULL (with a message) when there is none. */
static const char *target_or_current(struct app *a, const char *given)
{
    if (given)
        return given;
    const char *cur = ui_current(a);
    if (!cur)
        say(a, "No current room: give one, or /join #room first");
    return cur;
}

static int c_join(struct app *a, char *args)
{
    char *rooms = word(&args), *key = word(&args);
    if (!rooms || word(&args))
        return USAGE;
    /* "lobby" means "#lobby", as in other clients. */
    char copy[512], list[600] = "", first[PARLOR_NAME_MAX + 1] = "";
    snprintf(copy, sizeof copy, "%s", rooms);
    size_t n = 0;
    for (char *save, *tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        char room[PARLOR_NAME_MAX + 1];
        snprintf(room, sizeof room, "%s%s", is_room(tok) ? "" : "#", tok);
        if (!irc_channel_valid(room, strlen(room)))
            return USAGE;
        if (!first[0])
            snprintf(first, sizeof first, "%s", room);
        n += (size_t)snprintf(list + n, n < sizeof list ? sizeof list - n : 0, "%s%s",
                              n ? "," : "", room);
    }
    if (!first[0] || n >= sizeof list)
        return USAGE;
    ui_expect_join(first);
    if (key)
        net_sendf(a, "JOIN %s %s", list, key);
    else
        net_sendf(a, "JOIN %s", list);
    return OK;
}

/* "CMD [#room] [nick] [text]": the room defaults to the current one; with
 * `with_nick` a nick must follow (KICK); the rest of the line, if any, is
 * the trailing parameter (PART reason, new topic, kick reason). */
static int room_command(struct app *a, char *args, const char *cmd, bool with_nick)
{
    char *room = NULL, *nick = NULL;
    if (is_room(args))
        room = word(&args);
    if (with_nick) {
        nick = word(&args);
        if (!nick || !irc_nick_valid(nick, strlen(nick)))
            return USAGE;
    }
    const char *r = target_or_current(a, room);
    if (!r)
        return OK;
    if (!is_room(r))
        return USAGE;
    char head[128];
    snprintf(head, sizeof head, "%s %s%s%s", cmd, r, nick ? " " : "", nick ? nick : "");
    if (*args)
        net_sendf(a, "%s :%s", head, args);
    else
        net_sendf(a, "%s", head);
    return OK;
}

static int c_part(struct app *a, char *args)
{
    return room_command(a, args, "PART", false);
}

static int c_msg(struct app *a, char *args)
{
    char *to = word(&args);
    if (!valid_target(to) || !*args)
        return USAGE;
    if (irc_casecmp(to, "NickServ") == 0)
        acct_note_nickserv(a, args);
    net_privmsg(a, to, args);
    return OK;
}

static int c_me(struct app *a, char *args)
{
    if (!*args)
        return USAGE;
    const char *cur = target_or_current(a, NULL);
    if (!cur)
        return OK;
    char text[PARLOR_TEXT_MAX + 16];
    snprintf(text, sizeof text, "\001ACTION %.*s\001", PARLOR_TEXT_MAX - 10, args);
    net_sendf(a, "PRIVMSG %s :%s", cur, text);
    return OK;
}

static int c_query(struct app *a, char *args)
{
    char *nick = word(&args);
    if (!nick || is_room(nick) || !irc_nick_valid(nick, strlen(nick)))
        return USAGE;
    if (!target_add(a, nick)) {
        say(a, "Too many conversations; /part or /close one first");
        return OK;
    }
    ui_set_current(a, nick);
    if (*args) {
        if (!a->registered)
            say(a, "Not connected; the message was not sent");
        else {
            if (irc_casecmp(nick, "NickServ") == 0)
                acct_note_nickserv(a, args);
            net_privmsg(a, nick, args);
        }
    }
    return OK;
}

static int c_clear(struct app *a, char *args)
{
    if (word(&args))
        return USAGE;
    ui_clear(a);
    return OK;
}

static int c_close(struct app *a, char *args)
{
    char *name = word(&args);
    const char *t = target_or_current(a, name);
    if (!t || word(&args))
        return t ? USAGE : OK;
    const struct target *tg = target_find(a, t);
    if (is_room(t) && tg && tg->joined) {
        say(a, "You are in that room: /part leaves it (and closes its window)");
        return OK;
    }
    char copy[PARLOR_NAME_MAX];
    snprintf(copy, sizeof copy, "%s", t);
    target_remove(a, copy);
    const char *cur = ui_current(a);
    bool was_current = cur && irc_casecmp(cur, copy) == 0;
    if (was_current)
        ui_set_current(a, a->ntargets ? a->targets[0].name : NULL);
    if (ui_fullscreen())
        win_close(copy);
    return OK;
}

static int c_names(struct app *a, char *args)
{
    char *room = word(&args);
    if (word(&args) || (room && !is_room(room)))
        return USAGE;
    const char *r = target_or_current(a, room);
    if (!r)
        return OK;
    if (!is_room(r))
        return USAGE;
    net_sendf(a, "NAMES %s", r);
    return OK;
}

static int c_topic(struct app *a, char *args)
{
    return room_command(a, args, "TOPIC", false);
}

static int c_list(struct app *a, char *args)
{
    char *mask = word(&args);
    if (word(&args))
        return USAGE;
    if (mask)
        net_sendf(a, "LIST %s", mask);
    else
        net_sendf(a, "LIST");
    return OK;
}

static int c_who(struct app *a, char *args)
{
    char *mask = word(&args);
    if (word(&args))
        return USAGE;
    const char *t = target_or_current(a, mask);
    if (!t)
        return OK;
    net_sendf(a, "WHO %s", t);
    return OK;
}

static int c_whois(struct app *a, char *args)
{
    char *nick = word(&args);
    if (!nick || word(&args) || !irc_nick_valid(nick, strlen(nick)))
        return USAGE;
    net_sendf(a, "WHOIS %s", nick);
    return OK;
}

static int c_nick(struct app *a, char *args)
{
    char *nick = word(&args);
    if (!nick || word(&args) || !irc_nick_valid(nick, strlen(nick)))
        return USAGE;
    snprintf(a->want_nick, sizeof a->want_nick, "%s", nick);
    net_sendf(a, "NICK %s", nick);
    return OK;
}

static int c_away(struct app *a, char *args)
{
    if (*args)
        net_sendf(a, "AWAY :%s", args);
    else
        net_sendf(a, "AWAY");
    return OK;
}

static int c_invite(struct app *a, char *args)
{
    char *nick = word(&args), *room = word(&args);
    if (!nick || word(&args) || !irc_nick_valid(nick, strlen(nick)) || (room && !is_room(room)))
        return USAGE;
    const char *r = target_or_current(a, room);
    if (!r)
        return OK;
    if (!is_room(r))
        return USAGE;
    net_sendf(a, "INVITE %s %s", nick, r);
    return OK;
}

static int c_kick(struct app *a, char *args)
{
    return room_command(a, args, "KICK", true);
}

static int c_mode(struct app *a, char *args)
{
    while (*args == ' ')
        args++;
    if (!*args) {
        const char *cur = target_or_current(a, NULL);
        if (cur && is_room(cur))
            net_sendf(a, "MODE %s", cur);
        else if (cur)
            return USAGE;
        return OK;
    }
    if (args[0] == '+' || args[0] == '-') {
        const char *cur = target_or_current(a, NULL);
        if (!cur)
            return OK;
        if (!is_room(cur))
            return USAGE;
        net_sendf(a, "MODE %s %s", cur, args);
        return OK;
    }
    net_sendf(a, "MODE %s", args);
    return OK;
}

static int c_switch(struct app *a, char *args)
{
    char *name = word(&args);
    if (word(&args))
        return USAGE;
    if (!name) {
        if (a->ntargets == 0) {
            say(a, "No rooms or conversations yet");
            return OK;
        }
        const char *cur = ui_current(a);
        for (int i = 0; i < a->ntargets; i++)
            ui_print(a, 0, "-!- %d: %s%s", i + 1, a->targets[i].name,
                     cur && irc_casecmp(cur, a->targets[i].name) == 0 ? " (current)" : "");
        return OK;
    }
    char *end;
    long n = strtol(name, &end, 10);
    if (!*end && ui_fullscreen()) {
        ui_win(a, (int)(n > 0 && n <= WIN_MAX ? n : 0));
        return OK;
    }
    if (!*end && n >= 1 && n <= a->ntargets) {
        ui_set_current(a, a->targets[n - 1].name);
        return OK;
    }
    struct target *t = target_find(a, name);
    if (!t) {
        ui_print(a, 0, "-!- You are not in %s (/switch lists where you are)", name);
        return OK;
    }
    ui_set_current(a, t->name);
    return OK;
}

static int c_win(struct app *a, char *args)
{
    char *what = word(&args);
    if (!what || word(&args))
        return USAGE;
    if (!ui_fullscreen()) {
        say(a, "Windows are in the full-screen client; here /switch changes the room");
        return OK;
    }
    const char *cur = ui_current(a);
    struct win *w = win_find(cur);
    int idx = w ? win_index(w) + 1 : 1, n = win_count();
    if (strcasecmp(what, "next") == 0) {
        ui_win(a, idx % n + 1);
    } else if (strcasecmp(what, "prev") == 0) {
        ui_win(a, idx > 1 ? idx - 1 : n);
    } else if (strcasecmp(what, "close") == 0) {
        return c_close(a, args);
    } else {
        char *end;
        long v = strtol(what, &end, 10);
        if (*end || v < 1 || v > WIN_MAX)
            return USAGE;
        ui_win(a, (int)v);
    }
    return OK;
}

static int c_history(struct app *a, char *args)
{
    char *first = word(&args), *second = word(&args);
    if (word(&args))
        return USAGE;
    const char *target = NULL;
    int n = HISTORY_DEFAULT;
    char *count = NULL;
    if (first && !second && first[0] >= '0' && first[0] <= '9')
        count = first;
    else {
        target = first;
        count = second;
    }
    if (count) {
        char *end;
        long v = strtol(count, &end, 10);
        if (*end || v < 1 || v > HISTORY_MAX)
            return USAGE;
        n = (int)v;
    }
    if (target && !valid_target(target))
        return USAGE;
    const char *t = target_or_current(a, target);
    if (!t)
        return OK;
    if (!(a->caps & PCAP_CHATHISTORY)) {
        say(a, "The server does not offer chat history");
        return OK;
    }
    ui_expect_history();
    net_sendf(a, "CHATHISTORY LATEST %s * %d", t, n);
    return OK;
}

static int c_days(struct app *a, char *args)
{
    char *target = word(&args);
    if (word(&args) || (target && !valid_target(target)))
        return USAGE;
    const char *t = target_or_current(a, target);
    if (!t)
        return OK;
    ui_histserv_pending++;
    char tz[64];
    local_zone(tz, sizeof tz);
    net_sendf(a, "PRIVMSG HistServ :DAYS %s tz=%s", t, tz);
    return OK;
}

static bool valid_date(const char *s)
{
    int y, m, d;
    char tail;
    return s && strlen(s) == 10 && sscanf(s, "%4d-%2d-%2d%c", &y, &m, &d, &tail) == 3 &&
           s[4] == '-' && s[7] == '-' && m >= 1 && m <= 12 && d >= 1 && d <= 31;
}

static int c_day(struct app *a, char *args)
{
    char *date = word(&args), *target = word(&args);
    if (!valid_date(date) || word(&args) || (target && !valid_target(target)))
        return USAGE;
    const char *t = target_or_current(a, target);
    if (!t)
        return OK;
    ui_histserv_pending++;
    ui_day_auto(true);
    char tz[64];
    local_zone(tz, sizeof tz);
    net_sendf(a, "PRIVMSG HistServ :SHOW %s %s tz=%s", t, date, tz);
    return OK;
}

/* /game SUBCOMMAND ...: a thin wrapper around GameServ, which answers with
 * NOTICEs (and joins the players to the game's room when it starts). */
static int c_game(struct app *a, char *args)
{
    static const char *const subs[] = { "accept", "categories", "decline", "help", "invite",
                                        "quit", "stats", "status", "top" };
    while (*args == ' ')
        args++;
    char sub[16];
    size_t n = strcspn(args, " ");
    if (n == 0 || n >= sizeof sub)
        return USAGE;
    memcpy(sub, args, n);
    sub[n] = '\0';
    for (char *p = sub; *p; p++)
        if (*p >= 'A' && *p <= 'Z')
            *p = (char)(*p + 32);
    bool known = false;
    for (size_t i = 0; i < sizeof subs / sizeof subs[0]; i++)
        known = known || strcmp(sub, subs[i]) == 0;
    if (!known)
        return USAGE;
    net_sendf(a, "PRIVMSG GameServ :%s", args);
    return OK;
}

static int c_quote(struct app *a, char *args)
{
    while (*args == ' ')
        args++;
    if (!*args)
        return USAGE;
    net_sendf(a, "%s", args);
    return OK;
}

static int c_quit(struct app *a, char *args)
{
    ui_quit(a, *args ? args : "parlor");
    return OK;
}

static int c_server(struct app *a, char *args)
{
    char *host = word(&args), *port = word(&args);
    if (!host || word(&args) || strlen(host) >= sizeof a->host)
        return USAGE;
    long p = 6667;
    if (port) {
        char *end;
        p = strtol(port, &end, 10);
        if (*end || p < 1 || p > 65535)
            return USAGE;
    }
    ui_print(a, 0, "-!- Connecting to %s:%ld", host, p);
    ui_connect_to(a, host, (int)p);
    return OK;
}

static int c_connect(struct app *a, char *args)
{
    if (word(&args))
        return USAGE;
    ui_connect_to(a, NULL, 0);
    return OK;
}

static int c_help(struct app *a, char *args);

/* Sorted by name (bsearch). */
static const struct command commands[] = {
    { "away",    "/away [message]", "mark yourself away (no message: back)", c_away, NEED_CONN },
    { "clear",   "/clear", "empty the window (the screen in line mode)", c_clear, 0 },
    { "close",   "/close [nick]", "close a private conversation", c_close, 0 },
    { "connect", "/connect", "connect again now (after giving up, or to skip the wait)", c_connect, 0 },
    { "day",     "/day YYYY-MM-DD [#room|nick]", "that day's messages in order", c_day, NEED_CONN },
    { "days",    "/days [#room|nick]", "the days with messages, with a count each", c_days, NEED_CONN },
    { "game",    "/game invite NICK... [category=C] [rounds=N] | accept ID | decline ID | "
                 "categories | status ID | quit ID | top [category] | stats NICK | help",
                 "the word game (GameServ)", c_game, NEED_CONN },
    { "help",    "/help [command]", "this list, or one command's usage", c_help, 0 },
    { "history", "/history [#room|nick] [N]", "the last N messages (default 20, at most 100)", c_history, NEED_CONN },
    { "invite",  "/invite nick [#room]", "invite someone to a room", c_invite, NEED_CONN },
    { "join",    "/join #room[,#room...] [key]", "join rooms (the first becomes current)", c_join, NEED_CONN },
    { "kick",    "/kick [#room] nick [reason]", "remove someone from a room", c_kick, NEED_CONN },
    { "list",    "/list [mask]", "the rooms on the server", c_list, NEED_CONN },
    { "me",      "/me action", "an action in the current room", c_me, NEED_CONN },
    { "mode",    "/mode [#room|nick] [modes [args]]", "show or change modes (+modes: current room)", c_mode, NEED_CONN },
    { "msg",     "/msg #room|nick text", "send a message without switching", c_msg, NEED_CONN },
    { "names",   "/names [#room]", "who is in the room", c_names, NEED_CONN },
    { "nick",    "/nick newnick", "change your nick", c_nick, NEED_CONN },
    { "part",    "/part [#room] [reason]", "leave a room", c_part, NEED_CONN },
    { "query",   "/query nick [text]", "open a private conversation", c_query, 0 },
    { "quit",    "/quit [reason]", "leave", c_quit, 0 },
    { "quote",   "/quote RAW IRC LINE", "send a line to the server as it is", c_quote, NEED_CONN },
    { "server",  "/server HOST [PORT]", "connect to another server (port 6667 by default)", c_server, 0 },
    { "switch",  "/switch [#room|nick|number]", "change the current room (no argument: list)", c_switch, 0 },
    { "topic",   "/topic [#room] [new topic]", "show or set the topic", c_topic, NEED_CONN },
    { "who",     "/who [#room|nick]", "who is there, with user and host", c_who, NEED_CONN },
    { "whois",   "/whois nick", "about someone", c_whois, NEED_CONN },
    { "win",     "/win N|next|prev|close", "go to window N (Alt-N), the next or previous one "
                 "(Ctrl-N, Ctrl-P), or close this one", c_win, 0 },
};
#define NCOMMANDS (sizeof commands / sizeof commands[0])

static int cmp_command(const void *key, const void *elem)
{
    return strcasecmp(key, ((const struct command *)elem)->name);
}

static const struct command *find(const char *name)
{
    return bsearch(name, commands, NCOMMANDS, sizeof commands[0], cmp_command);
}

const char *cmd_name(size_t i)
{
    return i < NCOMMANDS ? commands[i].name : NULL;
}

static int c_help(struct app *a, char *args)
{
    char *name = word(&args);
    if (name) {
        if (name[0] == '/')
            name++;
        const struct command *c = find(name);
        if (!c) {
            ui_print(a, 0, "-!- No command /%s; /help lists them", name);
            return OK;
        }
        ui_print(a, 0, "-!- usage: %s  (%s)", c->usage, c->help);
        return OK;
    }
    say(a, "Commands (a line without / is sent to the current room; // sends a line starting with /):");
    /* Wrapped at spaces to the terminal's width (after "HH:MM -!- "). */
    int width = ui_columns() - 11;
    if (width < 40)
        width = 40;
    for (size_t i = 0; i < NCOMMANDS; i++) {
        char text[600];
        snprintf(text, sizeof text, "  %-36s %s", commands[i].usage, commands[i].help);
        const char *p = text;
        bool first = true;
        while (*p) {
            int room = first ? width : width - 8;
            size_t len = strlen(p), cut = len;
            if ((int)len > room) {
                cut = (size_t)room;
                while (cut > 0 && p[cut] != ' ')
                    cut--;
                if (cut == 0)
                    cut = (size_t)room;
            }
            ui_print(a, 0, "-!- %s%.*s", first ? "" : "          ", (int)cut, p);
            p += cut;
            while (*p == ' ')
                p++;
            first = false;
        }
    }
    return OK;
}

void cmd_run(struct app *a, const char *line)
{
    char copy[2048];
    snprintf(copy, sizeof copy, "%s", line + 1);
    char *args = copy;
    char *name = word(&args);
    if (!name) {
        say(a, "Empty command; /help lists the commands");
        return;
    }
    const struct command *c = find(name);
    if (!c) {
        ui_print(a, 0, "-!- Unknown command /%s; /help lists the commands", name);
        return;
    }
    if ((c->flags & NEED_CONN) && !a->registered) {
        ui_print(a, 0, "-!- Not connected (reconnecting); /%s was not sent", c->name);
        return;
    }
    if (c->fn(a, args) == USAGE)
        ui_print(a, 0, "-!- usage: %s", c->usage);
}
