/* parlor: interactive mode.
 *
 * What the server says is turned into lines for people here.  Where they
 * go depends on the front end: the full-screen one (parlor_tui.c, when
 * standard input and output are a terminal that curses can drive) puts each
 * line in a window, chosen by `U.route` (the room or conversation the line
 * is about; NULL: the current window), with `U.flags` saying whether it is
 * a message and whether it mentions us; line mode prints everything in one
 * stream, the room's name in front.
 *
 * Line mode (TERM=dumb, --line): the line editor is libedit's readline-compatible callback interface:
 * rl_callback_handler_install() draws the prompt and puts the terminal in
 * raw mode, and a uv_poll_t on standard input calls rl_callback_read_char()
 * whenever a key arrives, so the socket and the keyboard share one libuv
 * loop and neither waits for the other.
 *
 * Printing above the prompt (ui_print): the input area (prompt plus the
 * half-typed line, which may wrap over several rows) is erased by moving
 * the cursor up to its first row and clearing to the end of the screen;
 * the new line is written there, and rl_forced_update_display() makes
 * libedit draw the prompt and the line again below it, cursor where it was.
 * How many rows to climb is computed from display widths (wcwidth), so
 * Korean text, two columns per character, is counted right.
 *
 * libedit quirk: after the line handler runs, libedit leaves the terminal in
 * cooked mode and does not start a new line until its next el_gets call.
 * We therefore install the handler again after every accepted line, which
 * resets the line, restores raw mode and draws the prompt. */
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>
#include <wchar.h>

#include <editline/readline.h>

#include "client-cli/parlor.h"
#include "common/log.h"

#define QUIT_GRACE_MS 700
#define SEEN_MAX 512              /* msgids remembered to drop duplicates */
#define HISTORY_AFTER_LIMIT 100
#define JOIN_RECENT 10              /* messages shown when joining a room */
#define CONNECT_TRIES 4           /* a server never reached: give up after this many */

int ui_histserv_pending;

/* The screen side of interactive mode.  One instance (static). */
static struct {
    uv_poll_t stdin_poll;
    uv_signal_t sigint, sigterm, sigwinch;
    uv_timer_t quit_timer;
    bool started;
    bool editing;                 /* the handler is installed and a line is being edited */
    bool line_done;               /* a line was accepted: install the handler again */
    bool tty;                     /* stdout is a terminal */
    char prompt[PARLOR_NAME_MAX + 8];
    char current[PARLOR_NAME_MAX];
    char switch_to[PARLOR_NAME_MAX];  /* /join asked for this room: show it when joined */
    struct buf names;             /* 353 lines being collected */
    char names_room[PARLOR_NAME_MAX];
    int names_count;
    char seen[SEEN_MAX][PARLOR_MSGID_MAX];
    int seen_next;
    char batch_ref[32];           /* the open chathistory batch */
    char batch_target[PARLOR_NAME_MAX];
    int batch_count;
    bool day_auto;                /* /day: fetch the following pages too */
    int history_asked;            /* /history requests whose batch has not come yet */
    bool batch_asked;             /* the open batch answers /history: say when empty */
    int connections;              /* successful registrations with this server */
    int connect_fails;            /* failed connects in a row */
    char before_game[PARLOR_NAME_MAX];  /* the current target when a game took over */
    bool screen;                  /* the full-screen front end runs */
    const char *route;            /* the window of the lines being printed; NULL: current */
    int flags;                    /* their LINE_* flags */
    char fatal[512];              /* shown on stderr once the screen is gone */
    char notice[512];             /* said at start: again in the first room's window */
    int list_rows;                /* rooms in the LIST being shown */
} U;

/* ---- output ---- */

static int term_cols(void)
{
    struct winsize ws;
    if (ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0)
        return ws.ws_col;
    return 80;
}

/* Erase the prompt and the line being typed; the cursor ends at column 0 of
 * the input area's first row. */
static void clear_input(void)
{
    int cols = term_cols();
    const char *line = rl_line_buffer ? rl_line_buffer : "";
    size_t point = rl_point > 0 ? (size_t)rl_point : 0;
    if (point > strlen(line))
        point = strlen(line);
    int w = ui_text_cols(U.prompt, strlen(U.prompt)) + ui_text_cols(line, point);
    int row = w / cols;
    if (row > 0)
        printf("\033[%dA", row);
    fputs("\r\033[J", stdout);
}

static void emit(const char *s)
{
    bool redraw = U.editing && U.tty;
    if (redraw)
        clear_input();
    fputs(s, stdout);
    fputc('\n', stdout);
    fflush(stdout);
    if (redraw)
        rl_forced_update_display();
}

void ui_print(struct app *a, time_t when, const char *fmt, ...)
{
    char text[4096];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    time_t now = time(NULL);
    if (when == 0)
        when = now;
    struct tm tm, today;
    localtime_r(&when, &tm);
    localtime_r(&now, &today);
    char stamp[32];
    if (tm.tm_year == today.tm_year && tm.tm_yday == today.tm_yday)
        strftime(stamp, sizeof stamp, "%H:%M", &tm);
    else
        strftime(stamp, sizeof stamp, "%Y-%m-%d %H:%M", &tm);
    char line[4200];
    snprintf(line, sizeof line, "%s %s", stamp, text);
    if (U.screen)
        tui_add(U.route ? U.route : U.current, U.flags, line);
    else
        emit(line);
}

bool ui_fullscreen(void)
{
    return U.screen;
}

/* Line mode shows every room in one stream: "#room " before a room's
 * lines; a window needs no such prefix. */
static const char *room_prefix(const char *room, char *out, size_t cap)
{
    snprintf(out, cap, "%s%s", U.screen ? "" : room, U.screen ? "" : " ");
    return out;
}

void ui_nick(struct app *a, const char *nick, char *out, size_t cap)
{
    static const int palette[] = { 31, 32, 33, 34, 35, 36, 91, 92, 93, 94, 95, 96 };
    if (!a->color) {
        snprintf(out, cap, "%s", nick);
        return;
    }
    uint64_t h = irc_casehash(nick, strlen(nick));
    snprintf(out, cap, "\033[%dm%s\033[0m", palette[h % (sizeof palette / sizeof palette[0])], nick);
}

/* ---- prompt and current target ---- */

static void set_prompt(void)
{
    snprintf(U.prompt, sizeof U.prompt, "[%s] ", U.current[0] ? U.current : "parlor");
    if (U.screen) {
        tui_dirty();
        return;
    }
    if (!U.editing) {
        rl_set_prompt(U.prompt);
        return;
    }
    if (U.tty)
        clear_input();
    rl_set_prompt(U.prompt);
    rl_forced_update_display();
}

const char *ui_current(struct app *a)
{
    return U.current[0] ? U.current : NULL;
}

void ui_set_current(struct app *a, const char *name)
{
    char old[PARLOR_NAME_MAX];
    snprintf(old, sizeof old, "%s", U.current);
    snprintf(U.current, sizeof U.current, "%s", name ? name : "");
    if (U.screen) {
        win_open(U.current);
        tui_switched(old);
    }
    set_prompt();
}

void ui_win(struct app *a, int number)
{
    struct win *w = win_at(number - 1);
    if (!w) {
        ui_print(a, 0, "-!- No window %d (there are %d)", number, win_count());
        return;
    }
    ui_set_current(a, w->name[0] ? w->name : NULL);
}

/* A room or conversation is gone for good: its window too. */
static void drop_target(struct app *a, const char *name)
{
    char copy[PARLOR_NAME_MAX];
    snprintf(copy, sizeof copy, "%s", name);
    target_remove(a, copy);
    if (U.screen)
        win_close(copy);
}

/* ---- leaving ---- */

static void close_handle(uv_handle_t *h)
{
    if (h->loop && !uv_is_closing(h))
        uv_close(h, NULL);
}

static void stop_all(struct app *a)
{
    if (U.screen) {
        tui_stop();
        U.screen = false;
        if (U.fatal[0])
            fprintf(stderr, "parlor: %s\n", U.fatal);
    }
    if (U.editing || U.line_done) {
        rl_callback_handler_remove();
        U.editing = false;
        U.line_done = false;
        if (U.tty) {
            fputs("\r\033[K", stdout);
            fflush(stdout);
        }
    }
    close_handle((uv_handle_t *)&U.stdin_poll);
    close_handle((uv_handle_t *)&U.sigint);
    close_handle((uv_handle_t *)&U.sigterm);
    close_handle((uv_handle_t *)&U.sigwinch);
    close_handle((uv_handle_t *)&U.quit_timer);
    net_shutdown(a);
    buf_free(&U.names);
}

static void on_quit_timer(uv_timer_t *t)
{
    stop_all(t->data);
}

void ui_quit(struct app *a, const char *reason)
{
    if (a->quitting)
        return;
    a->quitting = true;
    if (a->connected) {
        net_sendf(a, "QUIT :%s", reason && reason[0] ? reason : "parlor");
        /* Give the QUIT a moment to leave; the server closing first ends it
         * sooner (ui_disconnected). */
        uv_timer_start(&U.quit_timer, on_quit_timer, QUIT_GRACE_MS, 0);
    } else {
        stop_all(a);
    }
}

/* ---- input ---- */

static void on_line(char *line)
{
    struct app *a = app;
    U.editing = false;
    U.line_done = true;
    if (!line) {                       /* Ctrl-D on an empty line */
        if (U.tty)
            fputs("\n", stdout);
        ui_quit(a, "parlor");
        return;
    }
    /* libedit left the typed line on the screen and moved below it: erase
     * it, the message comes back formatted (echo). */
    if (U.tty) {
        int cols = term_cols();
        int w = ui_text_cols(U.prompt, strlen(U.prompt)) + ui_text_cols(line, strlen(line));
        int rows = w / cols + 1;
        printf("\033[%dA\r\033[J", rows);
        fflush(stdout);
    }
    if (line[0])
        add_history(line);
    ui_submit(a, line);
    free(line);
}

static bool is_service(const char *nick);

void ui_submit(struct app *a, const char *line)
{
    if (line[0] == '/' && line[1] != '/') {
        cmd_run(a, line);
    } else if (line[0]) {
        const char *text = line[0] == '/' ? line + 1 : line;
        const char *cur = ui_current(a);
        if (!cur)
            ui_print(a, 0, "-!- No room or conversation yet: /join #room or /query nick");
        else if (!a->registered)
            ui_print(a, 0, "-!- Not connected; the message was not sent");
        else {
            if (irc_casecmp(cur, "NickServ") == 0)
                acct_note_nickserv(a, text);
            net_privmsg(a, cur, text);
            /* Shown at once; with echo-message dim until the server's echo
             * (sent once the message is stored) confirms it (full screen). */
            bool pending = (a->caps & PCAP_ECHO_MESSAGE) && U.screen && !is_service(cur);
            if (!(a->caps & PCAP_ECHO_MESSAGE) || pending) {
                char n[128];
                ui_nick(a, a->nick, n, sizeof n);
                char rp[PARLOR_NAME_MAX + 1];
                int was = U.flags;
                const char *route = U.route;
                U.flags = LINE_MSG | (pending ? LINE_PENDING : 0);
                U.route = cur;
                ui_print(a, 0, "%s<%s> %s", room_prefix(cur, rp, sizeof rp), n, text);
                U.flags = was;
                U.route = route;
            }
        }
    }
}

static void install_handler(void)
{
    rl_callback_handler_install(U.prompt, on_line);
    U.editing = true;
}

static void on_stdin(uv_poll_t *p, int status, int events)
{
    struct app *a = p->data;
    if (status < 0) {
        ui_quit(a, "parlor");
        return;
    }
    if (!U.editing)
        return;
    rl_callback_read_char();
    if (U.line_done && !a->quitting) {
        U.line_done = false;
        install_handler();
    }
}

static void on_signal(uv_signal_t *s, int signum)
{
    struct app *a = s->data;
    if (signum == SIGWINCH) {
        if (U.screen)
            tui_resize();
        else if (U.editing)
            rl_resize_terminal();
        return;
    }
    ui_quit(a, "parlor");
}

/* ---- what the server says ---- */

static bool seen_before(const char *msgid)
{
    if (!msgid[0])
        return false;
    for (int i = 0; i < SEEN_MAX; i++)
        if (strcmp(U.seen[i], msgid) == 0)
            return true;
    snprintf(U.seen[U.seen_next], sizeof U.seen[0], "%s", msgid);
    U.seen_next = (U.seen_next + 1) % SEEN_MAX;
    return false;
}

static void on_game_over(struct app *a, const char *room, const char *from, const char *text);

/* `text` names `nick` as a word (a mention). */
static bool mentions(const char *text, const char *nick)
{
    size_t n = strlen(nick);
    if (!n)
        return false;
    for (const char *p = text; *p; p++) {
        if (strncasecmp(p, nick, n) != 0)
            continue;
        unsigned char before = p > text ? (unsigned char)p[-1] : ' ';
        unsigned char after = (unsigned char)p[n];
        bool word_before = before < 0x80 && (before == '_' || before == '-' ||
                                             (before >= '0' && before <= '9') ||
                                             ((before | 0x20) >= 'a' && (before | 0x20) <= 'z'));
        bool word_after = after && after < 0x80 &&
                          (after == '_' || after == '-' || (after >= '0' && after <= '9') ||
                           ((after | 0x20) >= 'a' && (after | 0x20) <= 'z'));
        if (!word_before && !word_after)
            return true;
    }
    return false;
}

static bool is_game_room(const char *name)
{
    return strncasecmp(name, "#game-", 6) == 0;
}

static bool is_me(struct app *a, const char *nick)
{
    return irc_casecmp(nick, a->nick) == 0;
}

static bool is_service(const char *nick)
{
    return irc_casecmp(nick, "HistServ") == 0 || irc_casecmp(nick, "NickServ") == 0 ||
           irc_casecmp(nick, "GameServ") == 0;
}

static void show_message(struct app *a, struct irc_msg *m, time_t when, const char *msgid)
{
    bool notice = strcmp(m->command, "NOTICE") == 0;
    char from[PARLOR_NAME_MAX], fromc[128];
    source_nick(m->source, from, sizeof from);
    const char *to = m->params[0];
    char text[1024];
    snprintf(text, sizeof text, "%s", m->nparams > 1 ? m->params[1] : "");
    bool room = to[0] == '#';
    bool mine = m->source && is_me(a, from);
    if (!m->source || strchr(from, '.')) {      /* the server itself */
        U.route = "";                           /* the status window */
        text_sanitize(text);
        if (strncmp(text, "*** Connected to worker ", 24) == 0)
            return;                             /* the server's internals: not for people */
        ui_print(a, when, "-!- %s", text);
        return;
    }
    if (mine && !room && is_service(to)) {
        /* The echo of what we told a service: passwords stay hidden. */
        if (irc_casecmp(to, "NickServ") == 0) {
            char *sp = strchr(text, ' ');
            if (sp)
                snprintf(sp, sizeof text - (size_t)(sp - text), " ****");
            ui_print(a, when, "-> *%s* %s", to, text);
        } else if (ui_histserv_pending > 0) {
            ui_histserv_pending--;
        } else {
            ui_print(a, when, "-> *%s* %s", to, text);
        }
        return;
    }
    const char *conv = room ? to : mine ? to : from;
    if (!room && !is_service(conv) && !target_find(a, conv) && !notice) {
        target_add(a, conv);
        if (!mine)
            ui_print(a, 0, "-!- Private message from %s: %s", from,
                     U.screen ? "its window is in the status line" : "/switch NICK to answer");
    }
    if (!is_service(conv) && (room || target_find(a, conv)))
        U.route = conv;
    bool in_batch = U.batch_ref[0] && m->tags && strstr(m->tags, "batch=");
    U.flags = LINE_MSG | (in_batch ? LINE_HISTORY : 0);
    if (!mine && !is_service(from) && (!room || mentions(text, a->nick)))
        U.flags |= LINE_MENTION;
    if (msgid[0])
        target_seen(a, conv, msgid);
    if (is_service(from) && notice) {
        text_sanitize(text);
        if (irc_casecmp(from, "HistServ") == 0 && U.day_auto &&
            strncmp(text, "More: /msg HistServ SHOW ", 25) == 0) {
            net_sendf(a, "PRIVMSG HistServ :SHOW %s", text + 25);
            ui_histserv_pending++;
            return;
        }
        if (irc_casecmp(from, "HistServ") == 0 && strncmp(text, "End of ", 7) == 0)
            U.day_auto = false;
        ui_print(a, when, "-%s- %s", from, text);
        return;
    }
    ui_nick(a, from, fromc, sizeof fromc);
    const char *hist = in_batch ? "[history] " : "";
    char rp[PARLOR_NAME_MAX + 1];
    room_prefix(to, rp, sizeof rp);
    size_t tl = strlen(text);
    if (!notice && strncmp(text, "\001ACTION ", 8) == 0) {
        if (tl > 8 && text[tl - 1] == '\001')
            text[tl - 1] = '\0';
        text_sanitize(text + 8);
        if (room)
            ui_print(a, when, "%s%s* %s %s", hist, rp, fromc, text + 8);
        else
            ui_print(a, when, "%s* %s %s%s%s", hist, fromc, text + 8, mine ? " -> " : "",
                     mine ? to : "");
        return;
    }
    if (text[0] == '\001')
        return;                                 /* other CTCP requests: not answered */
    text_sanitize(text);
    if (mine && !in_batch && U.screen && !notice) {
        struct win *w = win_find(conv);
        char shown[1100];
        snprintf(shown, sizeof shown, "> %s", text);
        if (w && win_confirm(w, shown)) {   /* shown dim when sent: now stored */
            tui_dirty();
            return;
        }
    }
    if (room && !hist[0] && is_game_room(to) && irc_casecmp(from, "GameServ") == 0 &&
        (strncmp(text, "Game over", 9) == 0 || strstr(text, " was aborted"))) {
        ui_print(a, when, "%s<%s> %s", rp, fromc, text);
        on_game_over(a, to, fromc, text);
        return;
    }
    if (room) {
        if (notice)
            ui_print(a, when, "%s%s-%s- %s", hist, rp, fromc, text);
        else
            ui_print(a, when, "%s%s<%s> %s", hist, rp, fromc, text);
    } else if (mine) {
        char toc[128];
        ui_nick(a, to, toc, sizeof toc);
        ui_print(a, when, "%s-> *%s* %s", hist, toc, text);
    } else if (notice) {
        ui_print(a, when, "%s-%s- %s", hist, fromc, text);
    } else {
        ui_print(a, when, "%s*%s* %s", hist, fromc, text);
    }
}

/* The parameters after our nick, joined by spaces: generic numerics. */
static void show_numeric(struct app *a, struct irc_msg *m)
{
    char text[1024] = "";
    size_t n = 0;
    for (int i = 1; i < m->nparams; i++)
        n += (size_t)snprintf(text + n, n < sizeof text ? sizeof text - n : 0, "%s%s",
                              i > 1 ? " " : "", m->params[i]);
    text_sanitize(text);
    ui_print(a, 0, "-!- %s", text);
}

/* WHOIS 317: "alice has been idle 3 min, online since 2026-05-01 09:12". */
static void show_idle(struct app *a, const char *nick, long idle, time_t signon)
{
    char span[48], since[40] = "";
    if (idle < 60)
        snprintf(span, sizeof span, "%ld s", idle);
    else if (idle < 3600)
        snprintf(span, sizeof span, "%ld min", idle / 60);
    else if (idle < 86400)
        snprintf(span, sizeof span, "%ld h %ld min", idle / 3600, idle / 60 % 60);
    else
        snprintf(span, sizeof span, "%ld day%s", idle / 86400, idle / 86400 == 1 ? "" : "s");
    struct tm tm;
    if (signon > 0 && localtime_r(&signon, &tm))
        strftime(since, sizeof since, ", online since %Y-%m-%d %H:%M", &tm);
    ui_print(a, 0, "-!- %s has been idle %s%s", nick, span, since);
}

static void on_join_self(struct app *a, const char *room)
{
    struct target *t = target_add(a, room);
    if (!t) {
        ui_print(a, 0, "-!- Too many rooms; leave one first");
        return;
    }
    t->joined = true;
    if (U.screen) {
        struct win *w = win_open(room);
        if (w) {
            win_member_clear(w);        /* the NAMES reply that follows fills it */
            win_member_add(w, a->nick);
            U.route = t->name;
        }
    }
    ui_print(a, 0, "-!- You joined %s", room);
    if (t->last_msgid[0] && (a->caps & PCAP_CHATHISTORY)) {
        /* A rejoin: fetch what was said while we were away. */
        net_sendf(a, "CHATHISTORY AFTER %s msgid=%s %d", t->name, t->last_msgid,
                  HISTORY_AFTER_LIMIT);
    } else if ((a->caps & PCAP_CHATHISTORY) && !is_game_room(room)) {
        /* A first join: the last few messages, as the server's join-replay
         * gives clients without draft/chathistory. */
        net_sendf(a, "CHATHISTORY LATEST %s * %d", t->name, JOIN_RECENT);
    }
    if (is_game_room(room) && irc_casecmp(U.current, room) != 0) {
        /* GameServ joined us to a game: guesses typed now go there. */
        if (!is_game_room(U.current))
            snprintf(U.before_game, sizeof U.before_game, "%s", U.current);
        ui_set_current(a, room);
        ui_print(a, 0, "-!- The game is in %s: what you type now goes there "
                 "(back to %s when it ends)", room, U.before_game[0] ? U.before_game : "where you were");
        return;
    }
    if (!U.current[0] || irc_casecmp(U.switch_to, room) == 0) {
        U.switch_to[0] = '\0';
        ui_set_current(a, room);
        if (U.screen && U.notice[0])    /* the status window it was in is not shown now */
            ui_print(a, 0, "%s", U.notice);
        U.notice[0] = '\0';
    }
}

/* GameServ said the game in `room` is over: leave the room (it is not
 * rejoined on reconnect and does not fill /list) and go back to where the
 * user was when the game started. */
static void on_game_over(struct app *a, const char *room, const char *from, const char *text)
{
    if (!target_find(a, room))
        return;
    bool was_current = irc_casecmp(U.current, room) == 0;
    char game[PARLOR_NAME_MAX];
    snprintf(game, sizeof game, "%s", room);
    net_sendf(a, "PART %s :game over", game);
    drop_target(a, game);
    if (was_current) {
        const char *back = U.before_game[0] && target_find(a, U.before_game) ? U.before_game
                         : a->ntargets ? a->targets[0].name : NULL;
        ui_set_current(a, back);
        U.route = NULL;
        if (U.screen)                   /* the game's window is gone: the result stays */
            ui_print(a, 0, "%s <%s> %s", game, from, text);
        ui_print(a, 0, "-!- The game is over; back to %s", back ? back : "no room");
    }
    U.before_game[0] = '\0';
}

/* We left `room` (PART, or kicked: the window stays to show why). */
static void forget_room(struct app *a, const char *room, bool keep_window)
{
    char copy[PARLOR_NAME_MAX];
    snprintf(copy, sizeof copy, "%s", room);
    bool was_current = irc_casecmp(U.current, copy) == 0;
    if (keep_window)
        target_remove(a, copy);
    else
        drop_target(a, copy);
    if (was_current && !keep_window)
        ui_set_current(a, a->ntargets ? a->targets[0].name : NULL);
}

/* s, then spaces up to `cols` screen columns (Korean counts two). */
static const char *pad_cols(const char *s, int cols, char *out, size_t cap)
{
    int pad = cols - ui_text_cols(s, strlen(s));
    snprintf(out, cap, "%s%*s", s, pad > 0 ? pad : 0, "");
    return out;
}

/* The next lines go to room's window, when it has one. */
static void route_room(const char *room)
{
    if (U.screen && room[0] == '#' && win_find(room))
        U.route = room;
}

/* Room members, for Tab completion and print_where. */
static void member(const char *room, const char *nick, bool in)
{
    struct win *w = U.screen && room[0] == '#' ? win_find(room) : NULL;
    if (w && in)
        win_member_add(w, nick);
    else if (w)
        win_member_del(w, nick);
}

/* A line about `nick` (quit, new nick): in every window where nick is (the
 * rooms and the private conversation), nowhere else; line mode: once. */
static void print_where(struct app *a, const char *nick, time_t when, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void print_where(struct app *a, const char *nick, time_t when, const char *fmt, ...)
{
    char text[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    if (!U.screen) {
        ui_print(a, when, "%s", text);
        return;
    }
    for (int i = 1; i < win_count(); i++) {
        struct win *w = win_at(i);
        if (win_member_has(w, nick) || irc_casecmp(w->name, nick) == 0) {
            U.route = w->name;
            ui_print(a, when, "%s", text);
        }
    }
    U.route = NULL;
}

static void ui_line_show(struct app *a, struct irc_msg *m);

/* Someone we have a private conversation with changed nick: the
 * conversation (target, window, current window) follows. */
static void follow_query(struct app *a, const char *old, const char *nick)
{
    struct target *t = target_find(a, old);
    if (!t || t->is_room || target_find(a, nick))
        return;
    snprintf(t->name, sizeof t->name, "%s", nick);
    if (U.screen)
        win_rename(old, nick);
    if (irc_casecmp(U.current, old) == 0) {
        snprintf(U.current, sizeof U.current, "%s", nick);
        set_prompt();
    }
    if (U.screen)
        tui_dirty();
}

static void ui_line(struct app *a, struct irc_msg *m)
{
    U.route = NULL;
    U.flags = 0;
    ui_line_show(a, m);
    U.route = NULL;
    U.flags = 0;
}

static void ui_line_show(struct app *a, struct irc_msg *m)
{
    const char *cmd = m->command;
    char timebuf[64] = "", msgid[PARLOR_MSGID_MAX] = "", batch[32] = "";
    time_t when = 0;
    if (m->tags) {
        if (tag_get(m->tags, "time", timebuf, sizeof timebuf))
            when = parse_time_tag(timebuf);
        tag_get(m->tags, "msgid", msgid, sizeof msgid);
        tag_get(m->tags, "batch", batch, sizeof batch);
    }
    char nick[PARLOR_NAME_MAX], nickc[128];
    source_nick(m->source, nick, sizeof nick);
    ui_nick(a, nick, nickc, sizeof nickc);
    const char *p0 = m->nparams > 0 ? m->params[0] : "";
    const char *p1 = m->nparams > 1 ? m->params[1] : "";
    const char *p2 = m->nparams > 2 ? m->params[2] : "";
    const char *last = m->nparams ? m->params[m->nparams - 1] : "";

    if (strcmp(cmd, "PRIVMSG") == 0 || strcmp(cmd, "NOTICE") == 0) {
        if (m->nparams < 2)
            return;
        bool in_history = batch[0] && strcmp(batch, U.batch_ref) == 0;
        /* Live duplicates (a replay after reconnect) are dropped; a batch
         * the user asked for shows every line, also those seen before. */
        if (seen_before(msgid) && !in_history)
            return;
        if (in_history)
            U.batch_count++;
        show_message(a, m, when, msgid);
    } else if (strcmp(cmd, "JOIN") == 0) {
        route_room(p0);
        if (is_me(a, nick)) {
            on_join_self(a, p0);
        } else {
            member(p0, nick, true);
            ui_print(a, when, "-!- %s joined %s", nickc, p0);
        }
    } else if (strcmp(cmd, "PART") == 0) {
        if (is_me(a, nick))
            forget_room(a, p0, false);
        else
            route_room(p0);
        member(p0, nick, false);
        ui_print(a, when, "-!- %s left %s%s%s%s", nickc, p0, p1[0] ? " (" : "", p1,
                 p1[0] ? ")" : "");
    } else if (strcmp(cmd, "KICK") == 0) {
        char vc[128];
        ui_nick(a, p1, vc, sizeof vc);
        route_room(p0);
        member(p0, p1, false);
        ui_print(a, when, "-!- %s was kicked from %s by %s (%s)", vc, p0, nickc, p2);
        if (is_me(a, p1))
            forget_room(a, p0, true);
    } else if (strcmp(cmd, "QUIT") == 0) {
        char text[600];
        snprintf(text, sizeof text, "%s", p0);
        text_sanitize(text);
        print_where(a, nick, when, "-!- %s quit (%s)", nickc, text);
        for (int i = 1; U.screen && i < win_count(); i++)
            win_member_del(win_at(i), nick);
    } else if (strcmp(cmd, "NICK") == 0) {
        char nc[128];
        ui_nick(a, p0, nc, sizeof nc);
        if (is_me(a, p0))
            ui_print(a, when, "-!- You are now known as %s", nc);
        else
            print_where(a, nick, when, "-!- %s is now known as %s", nickc, nc);
        if (U.screen)
            win_member_rename(nick, p0);
        follow_query(a, nick, p0);
    } else if (strcmp(cmd, "TOPIC") == 0) {
        route_room(p0);
        char t[600];
        snprintf(t, sizeof t, "%s", p1);
        text_sanitize(t);
        if (U.screen)
            win_set_topic(p0, t);
        ui_print(a, when, "-!- %s changed the topic of %s to: %s", nickc, p0, t);
    } else if (strcmp(cmd, "MODE") == 0) {
        char modes[400] = "";
        size_t n = 0;
        for (int i = 1; i < m->nparams; i++)
            n += (size_t)snprintf(modes + n, n < sizeof modes ? sizeof modes - n : 0, "%s%s",
                                  i > 1 ? " " : "", m->params[i]);
        route_room(p0);
        ui_print(a, when, "-!- %s sets mode %s on %s", nickc, modes, p0);
    } else if (strcmp(cmd, "INVITE") == 0) {
        ui_print(a, when, "-!- %s invites you to %s (/join %s)", nickc, p1, p1);
    } else if (strcmp(cmd, "BATCH") == 0) {
        if (p0[0] == '+' && strcmp(p1, "chathistory") == 0) {
            snprintf(U.batch_ref, sizeof U.batch_ref, "%s", p0 + 1);
            snprintf(U.batch_target, sizeof U.batch_target, "%s", p2);
            U.batch_count = 0;
            U.batch_asked = U.history_asked > 0;
            if (U.history_asked > 0)
                U.history_asked--;
        } else if (p0[0] == '-' && strcmp(p0 + 1, U.batch_ref) == 0) {
            if (U.batch_count > 0)
                ui_print(a, 0, "-!- End of history of %s (%d message%s)", U.batch_target,
                         U.batch_count, U.batch_count == 1 ? "" : "s");
            else if (U.batch_asked)
                ui_print(a, 0, "-!- No messages %s %s", U.batch_target[0] == '#' ? "in" : "with",
                         U.batch_target);
            U.batch_ref[0] = '\0';
            U.batch_asked = false;
        }
    } else if (strcmp(cmd, "FAIL") == 0 || strcmp(cmd, "WARN") == 0) {
        char t[600];
        snprintf(t, sizeof t, "%s", last);
        text_sanitize(t);
        ui_print(a, 0, "-!- %s %s: %s", p0, p1, t);
    } else if (strcmp(cmd, "ERROR") == 0) {
        ui_print(a, 0, "-!- Server: %s", p0);
    } else if (strcmp(cmd, "001") == 0) {
        ui_print(a, 0, "-!- Connected to %s:%d as %s", a->host, net_port(a), a->nick);
    } else if (strcmp(cmd, "353") == 0) {
        /* 353 me = #room :names */
        if (irc_casecmp(U.names_room, p2) != 0) {
            buf_clear(&U.names);
            U.names_count = 0;
            snprintf(U.names_room, sizeof U.names_room, "%s", p2);
        }
        char copy[600];
        snprintf(copy, sizeof copy, "%s", last);
        for (char *save, *tok = strtok_r(copy, " ", &save); tok; tok = strtok_r(NULL, " ", &save)) {
            size_t pre = strspn(tok, "~&@%+");
            char bare[PARLOR_NAME_MAX], c[160];
            source_nick(tok + pre, bare, sizeof bare);
            ui_nick(a, bare, c, sizeof c);
            member(p2, bare, true);
            buf_appendf(&U.names, "%s%.*s%s", U.names.len ? " " : "", (int)pre, tok, c);
            U.names_count++;
        }
    } else if (strcmp(cmd, "366") == 0) {
        if (irc_casecmp(U.names_room, p1) != 0 && a->registered)
            ui_print(a, 0, "-!- Nobody in %s (or no such room)", p1);
        if (irc_casecmp(U.names_room, p1) == 0) {
            route_room(p1);
            buf_append_byte(&U.names, '\0');
            ui_print(a, 0, "-!- Users in %s (%d): %s", p1, U.names_count, U.names.data);
        }
        buf_clear(&U.names);
        U.names_room[0] = '\0';
        U.names_count = 0;
    } else if (strcmp(cmd, "332") == 0) {
        route_room(p1);
        char t[600];
        snprintf(t, sizeof t, "%s", p2);
        text_sanitize(t);
        if (U.screen)
            win_set_topic(p1, t);
        ui_print(a, 0, "-!- Topic of %s: %s", p1, t);
    } else if (strcmp(cmd, "333") == 0) {
        time_t at = (time_t)strtoll(m->nparams > 3 ? m->params[3] : "0", NULL, 10);
        char ts[40] = "";
        struct tm tm;
        if (at > 0 && localtime_r(&at, &tm))
            strftime(ts, sizeof ts, " on %Y-%m-%d %H:%M", &tm);
        char who[PARLOR_NAME_MAX];
        source_nick(p2, who, sizeof who);
        route_room(p1);
        ui_print(a, 0, "-!- Topic set by %s%s", who, ts);
    } else if (strcmp(cmd, "331") == 0) {
        route_room(p1);
        if (U.screen)
            win_set_topic(p1, NULL);
        ui_print(a, 0, "-!- No topic in %s", p1);
    } else if (strcmp(cmd, "322") == 0) {
        char t[600];
        snprintf(t, sizeof t, "%s", m->nparams > 3 ? m->params[3] : "");
        text_sanitize(t);
        char room[PARLOR_NAME_MAX * 2];
        ui_print(a, 0, "-!- %s %4s  %s", pad_cols(p1, 20, room, sizeof room), p2, t);
        U.list_rows++;
    } else if (strcmp(cmd, "321") == 0) {
        char room[PARLOR_NAME_MAX * 2];
        U.list_rows = 0;
        ui_print(a, 0, "-!- %s %4s  %s", pad_cols("Room", 20, room, sizeof room), "Users", "Topic");
    } else if (strcmp(cmd, "323") == 0) {
        if (U.list_rows == 0)             /* a new server: say how to start */
            ui_print(a, 0, "-!- No rooms yet. /join #lobby (or any #name) opens one.");
        else
            ui_print(a, 0, "-!- %d room%s", U.list_rows, U.list_rows == 1 ? "" : "s");
    } else if (strcmp(cmd, "352") == 0 && m->nparams >= 8) {
        /* 352 me #chan user host server nick flags :hops realname */
        char who[128];
        ui_nick(a, m->params[5], who, sizeof who);
        const char *real = strchr(m->params[7], ' ');
        ui_print(a, 0, "-!- %s %s (%s@%s) %s %s", p1, who, p2, m->params[3], m->params[6],
                 real ? real + 1 : "");
    } else if (strcmp(cmd, "301") == 0 && m->nparams >= 3) {
        char t[600];
        snprintf(t, sizeof t, "%s", p2);
        text_sanitize(t);
        ui_print(a, 0, "-!- %s is away: %s", p1, t);
    } else if (strcmp(cmd, "312") == 0 && m->nparams >= 3) {
        ui_print(a, 0, "-!- %s is on %s", p1, p2);
    } else if (strcmp(cmd, "317") == 0 && m->nparams >= 4) {
        show_idle(a, p1, atol(p2), (time_t)strtoll(m->params[3], NULL, 10));
    } else if (strcmp(cmd, "319") == 0 && m->nparams >= 3) {
        ui_print(a, 0, "-!- %s is in %s", p1, p2);
    } else if (strcmp(cmd, "330") == 0 && m->nparams >= 3) {
        ui_print(a, 0, "-!- %s is logged in as %s", p1, p2);
    } else if (strcmp(cmd, "311") == 0 && m->nparams >= 6) {
        ui_print(a, 0, "-!- %s is %s@%s (%s)", p1, p2, m->params[3], m->params[5]);
    } else if (strcmp(cmd, "002") == 0 || strcmp(cmd, "003") == 0 || strcmp(cmd, "004") == 0 ||
               strcmp(cmd, "005") == 0 || strcmp(cmd, "375") == 0 || strcmp(cmd, "376") == 0 ||
               strcmp(cmd, "366") == 0 || strcmp(cmd, "315") == 0 || strcmp(cmd, "318") == 0 ||
               strcmp(cmd, "329") == 0 || strcmp(cmd, "903") == 0 ||
               (strcmp(cmd, "250") >= 0 && strcmp(cmd, "266") <= 0 && strlen(cmd) == 3)) {
        return;                                        /* noise */
    } else if (strcmp(cmd, "900") == 0) {
        const char *acct = m->nparams > 2 ? m->params[2] : a->account;
        ui_print(a, 0, "-!- Logged in as %s", acct);
        if (acct_logged_in(a, acct))
            ui_print(a, 0, "-!- parlor logs in as %s again by itself if the connection drops; "
                     "next time start it with --account %s", acct, acct);
    } else if (strcmp(cmd, "372") == 0) {
        U.route = "";                                  /* the message of the day: status */
        ui_print(a, 0, "-!- %s", last);
    } else if (strcmp(cmd, "CAP") == 0 || strcmp(cmd, "PONG") == 0 ||
               strcmp(cmd, "AUTHENTICATE") == 0) {
        if (strcmp(cmd, "CAP") == 0 && strcmp(p1, "ACK") == 0 && a->account[0] &&
            !(a->caps & PCAP_SASL))
            ui_print(a, 0, "-!- The server does not support SASL");
    } else if (strlen(cmd) == 3 && cmd[0] >= '0' && cmd[0] <= '9') {
        if (strcmp(cmd, "433") == 0 && a->registered) {
            ui_print(a, 0, "-!- The nick %s is taken", p1);
            return;
        }
        show_numeric(a, m);
    }

}

static void ui_registered(struct app *a)
{
    U.connections++;
    struct buf rooms = BUF_INIT;
    for (int i = 0; i < a->ntargets; i++) {
        const struct target *t = &a->targets[i];
        if (t->is_room) {
            buf_appendf(&rooms, "%s%s", rooms.len ? "," : "", t->name);
        } else if (t->last_msgid[0] && (a->caps & PCAP_CHATHISTORY)) {
            net_sendf(a, "CHATHISTORY AFTER %s msgid=%s %d", t->name, t->last_msgid,
                      HISTORY_AFTER_LIMIT);
        }
    }
    if (rooms.len) {
        buf_append_byte(&rooms, '\0');
        net_sendf(a, "JOIN %s", rooms.data);
    }
    buf_free(&rooms);
}

static void ui_status(struct app *a, const char *text)
{
    ui_print(a, 0, "-!- %s", text);
}

static void ui_disconnected(struct app *a, const char *reason)
{
    if (a->quitting) {
        stop_all(a);
        return;
    }
    int delay = a->backoff_s < 1 ? 1 : a->backoff_s;
    char where[300] = "";
    const char *why = strstr(reason, ": ") ? strstr(reason, ": ") + 2 : reason;
    if (strncmp(reason, "cannot ", 7) != 0) {       /* "cannot connect", "cannot resolve" */
        U.connect_fails = 0;
    } else if (++U.connect_fails >= CONNECT_TRIES * a->nservers && U.connections == 0) {
        /* No server ever answered: a typo in --host or --port, most
         * likely.  Stop trying; the user picks another or tries again. */
        ui_print(a, 0, "-!- Cannot connect to %s:%d (%s); giving up. "
                 "/server HOST [PORT] tries another server, /connect this one again",
                 a->host, net_port(a), why);
        return;
    }
    /* Several servers (--server): the next one. */
    if (a->nservers > 1) {
        servers_next(a);
        snprintf(where, sizeof where, " to %s:%d", a->host, net_port(a));
    }
    if (strncmp(reason, "cannot ", 7) != 0)
        ui_print(a, 0, "-!- Disconnected: %s. Reconnecting%s in %d s (/quit to stop)", reason, where, delay);
    else
        ui_print(a, 0, "-!- C%s. Reconnecting%s in %d s (/quit to stop)", reason + 1, where, delay);
    net_schedule_reconnect(a);
}

void ui_connect_to(struct app *a, const char *host, int port)
{
    if (host) {
        servers_set_one(a, host, port);
        U.connections = 0;
    }
    U.connect_fails = 0;
    a->backoff_s = 1;
    if (a->tcp) {
        net_sendf(a, "QUIT :changing server");
        net_close(a, "changing server");     /* reconnects in 1 s, to the new one */
        return;
    }
    uv_timer_stop(&a->reconnect_timer);
    if (!a->connecting)
        net_connect(a);
}

int ui_columns(void)
{
    return U.screen ? tui_columns() : term_cols();
}

static void ui_fatal(struct app *a, const char *text)
{
    ui_print(a, 0, "-!- %s", text);
    snprintf(U.fatal, sizeof U.fatal, "%s", text);
    a->exit_code = 1;
    ui_quit(a, "parlor");
    stop_all(a);
}

const struct mode_ops ui_ops = {
    .registered = ui_registered,
    .line = ui_line,
    .status = ui_status,
    .disconnected = ui_disconnected,
    .fatal = ui_fatal,
};

/* ---- start ---- */

int ui_start(struct app *a)
{
    U.tty = isatty(STDOUT_FILENO);
    buf_init(&U.names);
    /* --join rooms are joined once registered (ui_registered). */
    char copy[sizeof a->join];
    snprintf(copy, sizeof copy, "%s", a->join);
    for (char *save, *tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save))
        if (tok[0])
            target_add(a, tok);
    if (a->ntargets)
        snprintf(U.switch_to, sizeof U.switch_to, "%s", a->targets[0].name);

    snprintf(U.prompt, sizeof U.prompt, "[parlor] ");
    U.screen = !a->line_mode && tui_start(a);
    if (!U.screen) {
        rl_readline_name = "parlor";
        rl_catch_signals = 0;
        rl_catch_sigwinch = 0;
        using_history();
        install_handler();
        uv_poll_init(a->loop, &U.stdin_poll, STDIN_FILENO);
        U.stdin_poll.data = a;
        uv_poll_start(&U.stdin_poll, UV_READABLE, on_stdin);
    }
    uv_signal_init(a->loop, &U.sigint);
    U.sigint.data = a;
    uv_signal_start(&U.sigint, on_signal, SIGINT);
    uv_signal_init(a->loop, &U.sigterm);
    U.sigterm.data = a;
    uv_signal_start(&U.sigterm, on_signal, SIGTERM);
    uv_signal_init(a->loop, &U.sigwinch);
    U.sigwinch.data = a;
    uv_signal_start(&U.sigwinch, on_signal, SIGWINCH);
    uv_timer_init(a->loop, &U.quit_timer);
    U.quit_timer.data = a;
    U.started = true;

    ui_print(a, 0, "-!- parlor %s. /help lists the commands, /quit leaves.", PARLOR_CLIENT_VERSION);
    char remembered[PARLOR_NAME_MAX];
    if (acct_remembered(a, remembered, sizeof remembered)) {
        snprintf(U.notice, sizeof U.notice, "-!- %s is a registered account on this server: "
                 "start parlor with --account %s to log in (the password is asked)",
                 remembered, remembered);
        ui_print(a, 0, "%s", U.notice);
    }
    net_connect(a);
    return 0;
}

/* For parlor_cmd.c: the pieces of state its commands touch. */
void ui_expect_join(const char *room)
{
    snprintf(U.switch_to, sizeof U.switch_to, "%s", room);
}

void ui_expect_history(void)
{
    U.history_asked++;
}

void ui_clear(struct app *a)
{
    if (U.screen) {
        struct win *w = win_find(U.current);
        if (w)
            win_clear(w);
        tui_dirty();
        return;
    }
    if (!U.tty)
        return;
    if (U.editing)
        clear_input();
    fputs("\033[H\033[2J\033[3J", stdout);
    fflush(stdout);
    if (U.editing)
        rl_forced_update_display();
}

void ui_day_auto(bool on)
{
    U.day_auto = on;
}
