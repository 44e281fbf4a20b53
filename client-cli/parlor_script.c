/* parlor: script mode.
 *
 *   --send TEXT      send TEXT to every --join room, then leave
 *   stdin lines      (stdin not a terminal, no --send) each line is sent
 *   --days TARGET    print the days with messages: "DATE<TAB>COUNT"
 *   --day DATE T     print that day's messages: "HH:MM:SS<TAB>NICK<TAB>TEXT"
 *
 * Steps: connect and register, join the rooms (every --join room, and the
 * room of --days/--day, since only members may read a room's history), do
 * the work, QUIT.  A message counts as sent when the server echoes it back
 * (echo-message: the server echoes once the message is stored), so exit
 * status 0 means every message arrived.  Without echo-message a PING/PONG
 * round trip after the last message stands in for it.
 *
 * The day views come from the HistServ pseudo-user (worker/history.c); its
 * NOTICE lines are parsed here, and every page of a day is fetched.
 *
 * Any failure (cannot connect, nick or login refused, cannot join, a
 * message refused, HistServ error, connection lost, no answer within
 * --timeout seconds) prints "parlor: ..." on stderr and exits 1. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "client-cli/parlor.h"
#include "common/log.h"

#define QUIT_GRACE_MS 1000
#define PENDING_HIGH 200          /* stop reading stdin with this many unechoed */
#define PENDING_LOW 50
#define SYNC_TOKEN "parlor-sync"

/* Script mode state.  One instance (static). */
static struct {
    struct script_opts o;
    char rooms[PARLOR_TARGETS_MAX][PARLOR_NAME_MAX];
    int nrooms, njoined;
    bool working;                 /* joined; doing the work */
    bool was_registered;          /* a connection got to 001 */
    bool finishing;
    int pending;                  /* messages sent, not yet echoed */
    bool sync_pending;            /* PING sent instead of echoes */
    bool stdin_open;              /* still reading stdin */
    bool stdin_paused;
    uv_pipe_t in_pipe;
    bool pipe_used;
    struct buf in;                /* stdin bytes not yet a full line */
    uv_timer_t timeout, quit_timer;
    bool have_record;             /* --day: a message is being assembled */
    char when[9], nick[PARLOR_NAME_MAX], kind[8];
    struct buf body;
    int lines_out;
} S;

/* ---- ending ---- */

static void close_handle(uv_handle_t *h)
{
    if (h->loop && !uv_is_closing(h))
        uv_close(h, NULL);
}

static void stop_all(struct app *a)
{
    close_handle((uv_handle_t *)&S.timeout);
    close_handle((uv_handle_t *)&S.quit_timer);
    if (S.pipe_used)
        close_handle((uv_handle_t *)&S.in_pipe);
    net_shutdown(a);
    buf_free(&S.in);
    buf_free(&S.body);
    fflush(stdout);
}

static void fail(struct app *a, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void fail(struct app *a, const char *fmt, ...)
{
    if (a->quitting)
        return;
    va_list ap;
    va_start(ap, fmt);
    fputs("parlor: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    a->exit_code = 1;
    stop_all(a);
}

static void on_quit_timer(uv_timer_t *t)
{
    stop_all(t->data);
}

static void finish(struct app *a)
{
    if (S.finishing)
        return;
    S.finishing = true;
    fflush(stdout);
    if (ferror(stdout)) {
        fail(a, "cannot write to standard output");
        return;
    }
    a->quitting = true;
    net_sendf(a, "QUIT :parlor");
    uv_timer_start(&S.quit_timer, on_quit_timer, QUIT_GRACE_MS, 0);
}

/* ---- the timeout: only while we wait for the server ---- */

static void on_timeout(uv_timer_t *t)
{
    struct app *a = t->data;
    bool waiting_for_server = !S.working || S.pending > 0 || S.sync_pending ||
                              S.o.kind != SCRIPT_SEND || !S.stdin_open;
    if (waiting_for_server)
        fail(a, "no answer from %s:%d within %d s", a->host, net_port(a), S.o.timeout_s);
    else
        uv_timer_again(t);
}

static void activity(void)
{
    if (S.o.timeout_s > 0 && !uv_is_closing((uv_handle_t *)&S.timeout))
        uv_timer_again(&S.timeout);
}

/* ---- sending ---- */

static void maybe_finish_send(struct app *a)
{
    if (S.o.kind != SCRIPT_SEND || !S.working || S.stdin_open || S.pending > 0)
        return;
    if (!(a->caps & PCAP_ECHO_MESSAGE) && !S.sync_pending && !S.finishing) {
        /* No echoes to wait for: a round trip shows the server read it all. */
        S.sync_pending = true;
        net_sendf(a, "PING :" SYNC_TOKEN);
        return;
    }
    if (!S.sync_pending)
        finish(a);
}

static void send_text(struct app *a, const char *text)
{
    if (!text[0])
        return;                   /* the server refuses empty messages */
    for (int i = 0; i < S.nrooms; i++) {
        int n = net_privmsg(a, S.rooms[i], text);
        if (a->caps & PCAP_ECHO_MESSAGE)
            S.pending += n;
    }
    activity();
}

static void on_stdin_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *b)
{
    static char space[65536];
    *b = uv_buf_init(space, sizeof space);
}

static void take_lines(struct app *a, bool eof)
{
    size_t start = 0;
    for (;;) {
        char *nl = memchr(S.in.data + start, '\n', S.in.len - start);
        size_t end;
        if (nl)
            end = (size_t)(nl - S.in.data);
        else if (eof && start < S.in.len)
            end = S.in.len;
        else
            break;
        size_t len = end - start;
        if (len > 0 && S.in.data[start + len - 1] == '\r')
            len--;
        char *line = malloc(len + 1);
        PARLOR_ASSERT(line != NULL);
        memcpy(line, S.in.data + start, len);
        line[len] = '\0';
        if (!utf8_valid(line, len)) {
            free(line);
            fail(a, "standard input is not UTF-8 text");
            return;
        }
        send_text(a, line);
        free(line);
        start = end < S.in.len ? end + 1 : end;
    }
    buf_consume(&S.in, start);
}

static void on_stdin_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *b)
{
    struct app *a = s->data;
    if (nread == 0)
        return;
    if (nread < 0) {
        if (nread != UV_EOF) {
            fail(a, "reading standard input: %s", uv_strerror((int)nread));
            return;
        }
        take_lines(a, true);
        S.stdin_open = false;
        uv_read_stop(s);
        if (!a->quitting)
            maybe_finish_send(a);
        return;
    }
    buf_append(&S.in, b->base, (size_t)nread);
    take_lines(a, false);
    if (S.pending >= PENDING_HIGH && !S.stdin_paused) {
        S.stdin_paused = true;
        uv_read_stop(s);
    }
}

static void read_stdin(struct app *a)
{
    uv_handle_type t = uv_guess_handle(STDIN_FILENO);
    if (t == UV_NAMED_PIPE || t == UV_TCP) {
        uv_pipe_init(a->loop, &S.in_pipe, 0);
        S.pipe_used = true;
        S.in_pipe.data = a;
        if (uv_pipe_open(&S.in_pipe, STDIN_FILENO) == 0 &&
            uv_read_start((uv_stream_t *)&S.in_pipe, on_stdin_alloc, on_stdin_read) == 0) {
            S.stdin_open = true;
            return;
        }
    }
    /* A file (or /dev/null): finite, read it at once. */
    char chunk[65536];
    ssize_t n;
    while ((n = read(STDIN_FILENO, chunk, sizeof chunk)) > 0)
        buf_append(&S.in, chunk, (size_t)n);
    if (n < 0) {
        fail(a, "reading standard input: %s", strerror(errno));
        return;
    }
    take_lines(a, true);
    S.stdin_open = false;
    if (!a->quitting)
        maybe_finish_send(a);
}

/* ---- HistServ answers ---- */

static void out_field(const char *s)
{
    for (; *s; s++)
        putchar(*s == '\t' ? ' ' : *s);
}

/* Print the --day message being assembled (a long one arrives on several
 * NOTICE lines, so it is printed when the next one starts). */
static void flush_record(void)
{
    if (!S.have_record)
        return;
    buf_append_byte(&S.body, '\0');
    if (S.o.json) {
        struct buf b = BUF_INIT;
        buf_append_str(&b, "{\"date\":");
        buf_append_json(&b, S.o.date);
        buf_append_str(&b, ",\"time\":");
        buf_append_json(&b, S.when);
        buf_append_str(&b, ",\"nick\":");
        buf_append_json(&b, S.nick);
        buf_append_str(&b, ",\"kind\":");
        buf_append_json(&b, S.kind);
        buf_append_str(&b, ",\"text\":");
        buf_append_json(&b, S.body.data);
        buf_append_str(&b, "}\n");
        fwrite(b.data, 1, b.len, stdout);
        buf_free(&b);
    } else {
        printf("%s\t", S.when);
        out_field(S.nick);
        putchar('\t');
        if (strcmp(S.kind, "action") == 0)
            fputs("/me ", stdout);
        out_field(S.body.data);
        putchar('\n');
    }
    S.lines_out++;
    buf_clear(&S.body);
    S.have_record = false;
}

/* "[HH:MM:SS] <nick> text", "[..] * nick text", "[..] -nick- text". */
static bool day_line(const char *text)
{
    if (strlen(text) < 12 || text[0] != '[' || text[9] != ']' || text[10] != ' ')
        return false;
    const char *p = text + 11;
    const char *kind, *body;
    size_t nl, skip;
    if (p[0] == '<' && (nl = strcspn(p + 1, ">")) && p[1 + nl] == '>') {
        kind = "message";
        skip = 1;
    } else if (p[0] == '*' && p[1] == ' ') {
        kind = "action";
        nl = strcspn(p + 2, " ");
        skip = 2;
    } else if (p[0] == '-' && (nl = strcspn(p + 1, "-")) && p[1 + nl] == '-') {
        kind = "notice";
        skip = 1;
    } else {
        return false;
    }
    flush_record();
    snprintf(S.when, sizeof S.when, "%.8s", text + 1);
    snprintf(S.nick, sizeof S.nick, "%.*s", (int)nl, p + skip);
    snprintf(S.kind, sizeof S.kind, "%s", kind);
    body = p + skip + nl + (strcmp(kind, "action") == 0 ? 0 : 1);
    if (*body == ' ')
        body++;
    buf_append_str(&S.body, body);
    S.have_record = true;
    return true;
}

/* HistServ has nothing: never a silent success.  A room: say so on stderr
 * (exit 0, the answer is "none").  A nick: most likely a room meant
 * without its '#' ("--days lobby"): fail and say how to write it. */
static void nothing_stored(struct app *a, const char *text)
{
    if (S.o.target[0] != '#') {
        fail(a, "no conversation with %s is stored (%s); for the room, write '#%s' "
             "(quoted in the shell)", S.o.target, text, S.o.target);
        return;
    }
    fprintf(stderr, "parlor: %s\n", text);
    finish(a);
}

static void on_histserv(struct app *a, const char *text)
{
    if (S.o.kind == SCRIPT_DAYS) {
        char date[11];
        long count;
        if (strncmp(text, "Days with messages in ", 22) == 0 || strncmp(text, "Only the ", 9) == 0)
            return;
        if (sscanf(text, "  %10s  %ld message", date, &count) == 2 && strlen(date) == 10) {
            if (S.o.json)
                printf("{\"date\":\"%s\",\"count\":%ld}\n", date, count);
            else
                printf("%s\t%ld\n", date, count);
            S.lines_out++;
            return;
        }
        if (strncmp(text, "Read a day with:", 16) == 0) {
            finish(a);
            return;
        }
        if (strncmp(text, "No messages stored for ", 23) == 0) {
            nothing_stored(a, text);
            return;
        }
        fail(a, "HistServ: %s", text);
        return;
    }
    /* SCRIPT_DAY */
    if (strncmp(text, "More: /msg HistServ SHOW ", 25) == 0) {
        net_sendf(a, "PRIVMSG HistServ :SHOW %s", text + 25);
        return;
    }
    if (strncmp(text, "No messages in ", 15) == 0) {
        nothing_stored(a, text);
        return;
    }
    if (strncmp(text, "End of ", 7) == 0 || strncmp(text, "There is no page ", 17) == 0) {
        flush_record();
        finish(a);
        return;
    }
    if (text[0] == '[' && day_line(text))
        return;
    size_t tl = strlen(text);
    if (tl && text[tl - 1] == ':' && strstr(text, ", page ") && strstr(text, S.o.date)) {
        flush_record();                       /* a page header */
        return;
    }
    if (S.have_record) {
        buf_append_str(&S.body, text);        /* a long message, continued */
        return;
    }
    fail(a, "HistServ: %s", text);
}

/* ---- the mode's callbacks ---- */

static void start_work(struct app *a)
{
    S.working = true;
    activity();
    switch (S.o.kind) {
    case SCRIPT_SEND:
        if (S.o.send_text)
            send_text(a, S.o.send_text);
        if (S.o.read_stdin)
            read_stdin(a);
        if (!a->quitting)
            maybe_finish_send(a);
        break;
    case SCRIPT_DAYS:
    case SCRIPT_DAY: {
        char tz[64];
        local_zone(tz, sizeof tz);
        if (S.o.kind == SCRIPT_DAYS)
            net_sendf(a, "PRIVMSG HistServ :DAYS %s tz=%s", S.o.target, tz);
        else
            net_sendf(a, "PRIVMSG HistServ :SHOW %s %s tz=%s", S.o.target, S.o.date, tz);
        break;
    }
    }
}

static void script_registered(struct app *a)
{
    S.was_registered = true;
    activity();
    if (S.nrooms == 0) {
        start_work(a);
        return;
    }
    struct buf b = BUF_INIT;
    for (int i = 0; i < S.nrooms; i++)
        buf_appendf(&b, "%s%s", i ? "," : "", S.rooms[i]);
    buf_append_byte(&b, '\0');
    net_sendf(a, "JOIN %s", b.data);
    buf_free(&b);
}

static bool one_of(const char *cmd, const char *const *list)
{
    for (; *list; list++)
        if (strcmp(cmd, *list) == 0)
            return true;
    return false;
}

static void script_line(struct app *a, struct irc_msg *m)
{
    activity();
    const char *cmd = m->command;
    char nick[PARLOR_NAME_MAX];
    source_nick(m->source, nick, sizeof nick);
    const char *last = m->nparams ? m->params[m->nparams - 1] : "";
    static const char *const join_errors[] = { "403", "405", "471", "473", "474", "475", "476",
                                               "477", "489", NULL };
    static const char *const send_errors[] = { "401", "404", "407", "411", "412", "413", "414",
                                               "417", NULL };
    if (strcmp(cmd, "JOIN") == 0 && m->source && irc_casecmp(nick, a->nick) == 0 && !S.working) {
        if (++S.njoined >= S.nrooms)
            start_work(a);
    } else if (one_of(cmd, join_errors) && !S.working) {
        fail(a, "cannot join %s: %s", m->nparams > 1 ? m->params[1] : "?", last);
    } else if (one_of(cmd, send_errors) && S.working) {
        fail(a, "%s: %s", m->nparams > 1 ? m->params[1] : "?", last);
    } else if (strcmp(cmd, "FAIL") == 0) {
        fail(a, "%s", last);
    } else if (strcmp(cmd, "PRIVMSG") == 0 && m->source && irc_casecmp(nick, a->nick) == 0 &&
               m->nparams > 0 && m->params[0][0] == '#') {
        if (S.pending > 0)
            S.pending--;
        if (S.stdin_paused && S.pending <= PENDING_LOW) {
            S.stdin_paused = false;
            uv_read_start((uv_stream_t *)&S.in_pipe, on_stdin_alloc, on_stdin_read);
        }
        maybe_finish_send(a);
    } else if (strcmp(cmd, "PONG") == 0 && strcmp(last, SYNC_TOKEN) == 0 && S.sync_pending) {
        S.sync_pending = false;
        finish(a);
    } else if (strcmp(cmd, "NOTICE") == 0 && irc_casecmp(nick, "HistServ") == 0 && S.working &&
               S.o.kind != SCRIPT_SEND) {
        on_histserv(a, last);
    }
}

static void script_disconnected(struct app *a, const char *reason)
{
    if (S.finishing) {
        stop_all(a);
        return;
    }
    /* Several servers (--server): an unreachable one before we were ever
     * registered is skipped for the next. */
    if (!S.was_registered && servers_next(a)) {
        net_connect(a);
        return;
    }
    fail(a, "%s", reason);
}

static void script_fatal(struct app *a, const char *text)
{
    fail(a, "%s", text);
}

const struct mode_ops script_ops = {
    .registered = script_registered,
    .line = script_line,
    .disconnected = script_disconnected,
    .fatal = script_fatal,
};

int script_start(struct app *a, const struct script_opts *o)
{
    S.o = *o;
    buf_init(&S.in);
    buf_init(&S.body);
    char copy[sizeof a->join];
    snprintf(copy, sizeof copy, "%s", a->join);
    for (char *save, *tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        if (!tok[0] || S.nrooms >= PARLOR_TARGETS_MAX)
            continue;
        snprintf(S.rooms[S.nrooms++], PARLOR_NAME_MAX, "%s", tok);
    }
    if (o->kind != SCRIPT_SEND && o->target[0] == '#') {
        bool have = false;
        for (int i = 0; i < S.nrooms; i++)
            have = have || irc_casecmp(S.rooms[i], o->target) == 0;
        if (!have && S.nrooms < PARLOR_TARGETS_MAX)
            snprintf(S.rooms[S.nrooms++], PARLOR_NAME_MAX, "%s", o->target);
    }
    uv_timer_init(a->loop, &S.timeout);
    S.timeout.data = a;
    uv_timer_init(a->loop, &S.quit_timer);
    S.quit_timer.data = a;
    if (o->timeout_s > 0)
        uv_timer_start(&S.timeout, on_timeout, (uint64_t)o->timeout_s * 1000,
                       (uint64_t)o->timeout_s * 1000);
    net_connect(a);
    return 0;
}
