/* parlor, the terminal chat client: what its files share.
 *
 *   parlor.c         options, password prompt, main(): picks a mode
 *   parlor_net.c     the connection: resolve, connect, read lines, write,
 *                    CAP / SASL / registration, PING, reconnect timer
 *   parlor_ui.c      interactive mode: what the server says, shown for
 *                    people; the line-mode editor (libedit on the libuv
 *                    loop, output above the prompt) for dumb terminals
 *   parlor_tui.c     the full-screen front end (ncursesw): windows, status
 *                    line, input line, keys, completion, scrollback
 *   parlor_win.c     the full-screen client's windows: lines, unread
 *                    counts, read marker, room members
 *   parlor_cmd.c     interactive slash commands (a table, as in parlorctl)
 *   parlor_script.c  script mode: --send, stdin lines, --days, --day
 *   parlor_tz.c      the user's time zone, for HistServ's days (tz=)
 *   parlor_account.c a NickServ login made during the session is kept for
 *                    reconnects (SASL) and remembered in a state file
 *   parlor_servers.c the list of servers (--server): the next one when a
 *                    connection drops or cannot be made
 *
 * One libuv loop drives everything.  The connection layer knows nothing
 * about the screen: it hands every line to the mode's callbacks (struct
 * mode_ops), and the mode decides what to show and whether to reconnect. */
#ifndef PARLOR_CLIENT_H
#define PARLOR_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <uv.h>

#include "common/buf.h"
#include "common/config.h"
#include "common/irc.h"

#define PARLOR_CLIENT_VERSION PARLOR_VERSION

#define PARLOR_NAME_MAX 64        /* a room or nick, with room to spare */
#define PARLOR_MSGID_MAX 96
#define PARLOR_TARGETS_MAX 64     /* rooms and private conversations */
#define PARLOR_TEXT_MAX 400       /* bytes of message text per PRIVMSG */
#define PARLOR_SERVERS_MAX 16     /* --server entries */

/* One server of the list. */
struct server_addr {
    char host[256];
    int port;
};

/* Capabilities we ask for, as bits. */
enum {
    PCAP_SERVER_TIME = 1u << 0,
    PCAP_MESSAGE_TAGS = 1u << 1,
    PCAP_ECHO_MESSAGE = 1u << 2,
    PCAP_BATCH = 1u << 3,
    PCAP_MULTI_PREFIX = 1u << 4,
    PCAP_CHATHISTORY = 1u << 5,
    PCAP_SASL = 1u << 6,
    PCAP_QUIET = 1u << 7,          /* parlor.chat/quiet: script mode's joins unannounced */
};

/* A room or a private conversation the client takes part in.  Owned by
 * app.targets (a fixed array). */
struct target {
    char name[PARLOR_NAME_MAX];
    bool is_room;
    bool joined;                  /* rooms: we are in it on this connection */
    char last_msgid[PARLOR_MSGID_MAX];  /* newest message seen; "" if none */
};

struct app;

/* What a mode does with the connection's events.  Every callback is
 * optional except line. */
struct mode_ops {
    /* 001 received: the connection is usable. */
    void (*registered)(struct app *a);
    /* Every parsed line from the server (also the ones the connection
     * layer handled itself, such as CAP or 001). */
    void (*line)(struct app *a, struct irc_msg *m);
    /* A progress or status message ("Connecting to ..."). */
    void (*status)(struct app *a, const char *text);
    /* The connection is gone (after a failed connect as well).
     * `reason` says why, for people. */
    void (*disconnected)(struct app *a, const char *reason);
    /* Registration cannot succeed (SASL refused, nick refused...). */
    void (*fatal)(struct app *a, const char *text);
};

/* The whole client.  One instance, owned by main(). */
struct app {
    uv_loop_t *loop;
    const struct mode_ops *ops;

    /* options; host and port: the server of this connection, from
     * servers[server_cur] (parlor_servers.c) */
    char host[256];
    int port;
    struct server_addr servers[PARLOR_SERVERS_MAX];
    int nservers, server_cur;
    int servers_failed;               /* connections lost or refused since the last 001 */
    char want_nick[PARLOR_NAME_MAX];
    char account[PARLOR_NAME_MAX];    /* "" without --account */
    char *password;                   /* SASL password (malloc'd), NULL if none */
    char join[512];                   /* --join, comma separated */
    bool json;
    bool color;
    bool line_mode;                   /* --line: no full-screen client */
    /* TLS (--tls; parlor_net.c): the context made from the options, and on
     * a connection the TLS state and the lines written before its
     * handshake was done. */
    bool tls, tls_insecure;
    char tls_ca[512];                 /* --tls-ca, "" for the system store */
    int sts_port;                     /* STS: TLS to this port instead (0: none) */
    char tls_cert[512];               /* --tls-cert: SASL EXTERNAL with it */
    struct ssl_ctx_st *tls_ctx;
    struct tls_conn *tlsc;
    struct buf tls_wait;

    /* connection state (parlor_net.c) */
    uv_tcp_t *tcp;                    /* NULL when not connected; freed on close */
    bool connecting, connected, registered;
    bool cap_done;                    /* CAP END sent */
    uint32_t caps;                    /* acknowledged PCAP_* */
    char nick[PARLOR_NAME_MAX];       /* our nick on this connection */
    int nick_tries;
    struct buf in;                    /* bytes read, not yet a full line */
    char error_line[256];             /* the server's ERROR text, if any */
    uv_timer_t reconnect_timer;
    uv_timer_t idle_timer;
    int backoff_s;                    /* next reconnect delay */
    uint64_t last_rx_ms;
    bool ping_sent;
    bool quitting;                    /* QUIT sent or closing for good */

    /* rooms and conversations */
    struct target targets[PARLOR_TARGETS_MAX];
    int ntargets;

    int exit_code;
};

extern struct app *app;

/* ---- parlor_net.c ---- */
/* Start connecting (resolving first).  Status goes to ops->status. */
void net_connect(struct app *a);
/* Send one line (CRLF added).  Dropped when not connected. */
void net_sendf(struct app *a, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Close the connection; ops->disconnected is called with `reason`. */
void net_close(struct app *a, const char *reason);
/* Reconnect after the current backoff delay (and double it, up to 30 s). */
void net_schedule_reconnect(struct app *a);
/* Make a->tls_ctx from the TLS options if not made yet; -1 with `err`. */
int net_tls_ctx(struct app *a, char *err, size_t cap);
/* The port and TLS use of the next connection (an STS upgrade applied). */
int net_port(const struct app *a);
bool net_use_tls(const struct app *a);
/* Stop timers and the connection so the loop can end. */
void net_shutdown(struct app *a);
/* Split `text` into PRIVMSG lines of at most PARLOR_TEXT_MAX bytes (cut at
 * a space when there is one, else between UTF-8 characters) and send them;
 * returns how many were sent. */
int net_privmsg(struct app *a, const char *target, const char *text);

/* ---- helpers (parlor_net.c) ---- */
/* The value of tag `key` in a tag string (unescaped); false if absent. */
bool tag_get(const char *tags, const char *key, char *out, size_t cap);
/* The nick part of a source "nick!user@host". */
void source_nick(const char *source, char *out, size_t cap);
/* Milliseconds of a monotonic clock. */
uint64_t now_ms(void);

/* ---- targets (parlor_net.c) ---- */
struct target *target_find(struct app *a, const char *name);
/* Find or add; NULL when the table is full. */
struct target *target_add(struct app *a, const char *name);
void target_remove(struct app *a, const char *name);
/* Remember the newest msgid seen in a conversation. */
void target_seen(struct app *a, const char *name, const char *msgid);

/* ---- parlor_ui.c ---- */
extern const struct mode_ops ui_ops;
/* Interactive mode: set up the terminal and connect.  Returns 0 or -1. */
int ui_start(struct app *a);
/* Print one line above the prompt (timestamped with `when`, 0 = now). */
void ui_print(struct app *a, time_t when, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* The current target's name, or NULL. */
const char *ui_current(struct app *a);
void ui_set_current(struct app *a, const char *name);
/* Start `nick` coloured (when colours are on) into out. */
void ui_nick(struct app *a, const char *nick, char *out, size_t cap);
/* Stop: remove the line editor, close handles. */
void ui_quit(struct app *a, const char *reason);
/* Interactive commands asked HistServ for something (suppress the echo). */
extern int ui_histserv_pending;
/* /join asked for `room`: make it the current room once joined. */
void ui_expect_join(const char *room);
/* /history sent a CHATHISTORY request: say so when its batch is empty. */
void ui_expect_history(void);
/* /server, /connect: (re)connect now, to host:port when host is given. */
void ui_connect_to(struct app *a, const char *host, int port);
/* The terminal's width in columns (80 when unknown). */
int ui_columns(void);
/* /clear: empty the screen (the terminal's scrollback too). */
void ui_clear(struct app *a);
/* /day: fetch the day's further pages as they are announced. */
void ui_day_auto(bool on);

/* A line the user typed (without the newline): a command or a message to
 * the current window.  Shared by both front ends. */
void ui_submit(struct app *a, const char *line);
/* True when the full-screen front end is running. */
bool ui_fullscreen(void);
/* /win N|next|prev|close, Alt-N, Ctrl-N/P: go to a window (1 = status). */
void ui_win(struct app *a, int number);
/* Screen columns of the first `len` bytes of UTF-8 text (wcwidth); ANSI
 * colour sequences take none. */
int ui_text_cols(const char *s, size_t len);

/* ---- parlor_win.c: the full-screen client's windows ---- */
enum { LINE_MSG = 1, LINE_MENTION = 2, LINE_HISTORY = 4,
       LINE_PENDING = 8 };           /* our own line, shown dim until its echo comes */
#define WIN_LINES 2000            /* scrollback kept per window */
#define WIN_MAX (PARLOR_TARGETS_MAX + 1)
struct win {
    char name[PARLOR_NAME_MAX];   /* "" for the status window */
    char *lines[WIN_LINES];       /* a ring: lines [first, total) */
    unsigned char flags[WIN_LINES];
    long first, total;
    long read_mark;               /* lines before it were read; -1: no marker */
    int unread, mentions;         /* arrived while another window was shown */
    int scroll;                   /* screen rows scrolled back from the bottom */
    char *topic;                  /* rooms: the topic (malloc'd), NULL if none */
    char **members;               /* rooms: who is in it */
    int nmembers, members_cap;
};
int win_count(void);
struct win *win_at(int i);                /* 0 is the status window */
int win_index(const struct win *w);
struct win *win_find(const char *name);   /* NULL or "": the status window */
struct win *win_open(const char *name);   /* find or add; NULL when full */
void win_close(const char *name);
void win_close_all(void);
void win_add(struct win *w, const char *text, int flags);
/* Line number `seq` (first <= seq < total) and its LINE_* flags. */
const char *win_line(const struct win *w, long seq, int *flags);
void win_clear(struct win *w);
/* Our own pending line in `w` with this text (the oldest): confirmed, no
 * longer dim.  False when there is none. */
bool win_confirm(struct win *w, const char *text);
bool win_member_has(const struct win *w, const char *nick);
void win_member_add(struct win *w, const char *nick);
void win_member_del(struct win *w, const char *nick);
void win_member_clear(struct win *w);
void win_member_rename(const char *old, const char *nick);
/* A private conversation's window follows its nick (not when `nick` has a
 * window already). */
void win_rename(const char *old, const char *nick);
/* The topic shown at the top of a room's window (NULL or "": none). */
void win_set_topic(const char *room, const char *topic);

/* ---- parlor_tui.c ---- */
/* Take the terminal (curses); false when it cannot (the caller uses line
 * mode).  Keys go to ui_submit/ui_win. */
bool tui_start(struct app *a);
void tui_stop(void);
/* Add a formatted line to window `name` (NULL or "": status). */
void tui_add(const char *name, int flags, const char *line);
/* The current window changed (ui_set_current); `old` is the one left. */
void tui_switched(const char *old);
/* Something on screen changed: draw before the loop next waits. */
void tui_dirty(void);
void tui_resize(void);
int tui_columns(void);

/* ---- parlor_cmd.c ---- */
/* Run one input line that starts with '/'. */
void cmd_run(struct app *a, const char *line);
/* The i-th command name (sorted), NULL past the end: Tab completion. */
const char *cmd_name(size_t i);

/* ---- parlor_tz.c ---- */
/* The user's time zone as HistServ's tz= takes it: a zone name from $TZ or
 * /etc/localtime, else the current UTC offset ("+09:00"). */
void local_zone(char *out, size_t cap);

/* ---- parlor_account.c ---- */
/* The user sent `text` to NickServ: note REGISTER/IDENTIFY credentials. */
void acct_note_nickserv(struct app *a, const char *text);
/* 900 for `account`: if it answers a noted REGISTER/IDENTIFY, keep the
 * credentials for SASL on reconnect, remember the account; true then. */
bool acct_logged_in(struct app *a, const char *account);
/* Without --account: the account remembered for this server and nick. */
bool acct_remembered(const struct app *a, char *account, size_t cap);
/* The path of state file `file` in $XDG_STATE_HOME/parlor (default
 * ~/.local/state/parlor), the folder made (0700) when `make_dir`; -1 when
 * there is no home. */
int state_path(const char *file, char *out, size_t cap, bool make_dir);

/* ---- parlor_servers.c ---- */
/* --server LIST: append HOST[:PORT] entries (comma separated; [v6]:PORT);
 * -1 on a bad entry or too many. */
int servers_add(struct app *a, const char *list);
/* After the options: without --server the list is --host:--port; a missing
 * port is --port.  Sets host and port to the first server. */
void servers_finish(struct app *a);
/* The connection dropped or could not be made: host and port become the
 * next server's.  False when there is only one server, or every server
 * failed since the last registration (the caller may give up or wait). */
bool servers_next(struct app *a);
/* /server HOST PORT: the list is that one server. */
void servers_set_one(struct app *a, const char *host, int port);

/* ---- parlor_sts.c: IRCv3 STS ---- */
/* Before connecting: a plaintext connection to a host with a remembered,
 * unexpired policy becomes TLS to the policy's port (a->sts_port). */
void sts_apply(struct app *a);
/* CAP LS offered sts=VALUE.  On plaintext with a port: returns true and
 * sets a->sts_port (the caller reconnects with TLS).  On a verified TLS
 * connection: remembers the policy (duration=0 forgets it). */
bool sts_offered(struct app *a, const char *value);

/* ---- parlor_script.c ---- */
enum script_kind { SCRIPT_SEND, SCRIPT_DAYS, SCRIPT_DAY };
struct script_opts {
    enum script_kind kind;
    const char *send_text;        /* --send, may be NULL */
    bool read_stdin;              /* send stdin's lines */
    const char *date;             /* --day */
    const char *target;           /* --days / --day target */
    bool json;                    /* JSON lines instead of tab-separated */
    int timeout_s;
};
extern const struct mode_ops script_ops;
int script_start(struct app *a, const struct script_opts *o);

/* ---- text helpers (parlor_net.c) ---- */
/* Replace control characters (terminal escapes) and strip mIRC formatting
 * codes, in place. */
void text_sanitize(char *s);
/* "YYYY-MM-DDThh:mm:ss[.sss]Z" -> time_t, or 0. */
time_t parse_time_tag(const char *s);
/* Append s as a JSON string (quoted, escaped). */

#endif
