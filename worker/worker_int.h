/* State and internal API shared by the worker's files.
 *
 * A worker process has exactly one `struct worker` (the global W), one libuv
 * loop, and owns:
 *   - its clients (struct client, worker/client.c),
 *   - its mesh links to the other workers (struct peer, worker/peer.c),
 *   - the nick registrations whose owner it is (worker/nick.c),
 *   - channels: the ones it owns (authoritative: sequence, members, modes) and
 *     mirrors of channels owned elsewhere in which it has local members
 *     (worker/channel.c).  Both use struct channel; `owned` tells which.
 *
 * Owner of a nick or channel: irc_casehash(name) % nworkers.  The owner is the
 * single place that decides (nick unique, channel order); every change to a
 * channel is an event the owner numbers and sends once to each worker with
 * members there, which applies it to its mirror and delivers it to its own
 * clients.  So all members see one order.
 *
 * Identity and lifetime rules (every file follows them):
 *   - Identity is the connection (client id) or the account, never a nick:
 *     channel members are keyed by client id, operator checks look the
 *     requester up by its client id, game seats and invites belong to a
 *     connection (or an account).  A nick is only a label that someone else
 *     may hold tomorrow.
 *   - Everything a client acquired (nick claim, memberships, pending JOINs,
 *     invites, pending requests) is released by client_close(), whatever
 *     state the client reached (registered or not).
 *   - A call that may free a channel or a client (delivering a line can
 *     close a client over its sendq; applying an event can drop a channel)
 *     is the last use of those pointers: look them up again by name or id
 *     afterwards.  Channel code never handles a request of this worker's own
 *     synchronously while another channel call is on the stack: such
 *     requests are queued and run when the outer call has returned
 *     (channel.c, send_request).
 */
#ifndef PARLOR_WORKER_INT_H
#define PARLOR_WORKER_INT_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <uv.h>

#include "common/buf.h"
#include "common/config.h"
#include "common/hmap.h"
#include "common/irc.h"

#define MAX_WORKERS 64
#define PEER_PENDING_MAX (32u * 1024 * 1024)  /* frames kept for a worker being restarted */

/* Client capabilities (IRCv3 CAP). */
enum {
    CAP_MULTI_PREFIX = 1u << 0,
    CAP_SERVER_TIME = 1u << 1,
    CAP_ECHO_MESSAGE = 1u << 2,
    CAP_USERHOST_IN_NAMES = 1u << 3,
    CAP_CAP_NOTIFY = 1u << 4,
    CAP_MESSAGE_TAGS = 1u << 5,
    CAP_BATCH = 1u << 6,
    CAP_LABELED_RESPONSE = 1u << 7,
    CAP_SASL = 1u << 8,
    CAP_CHATHISTORY = 1u << 9,     /* draft/chathistory (worker/history.c) */
    /* user state notifications (worker/userstate.c, worker/monitor.c) */
    CAP_ACCOUNT_NOTIFY = 1u << 10,
    CAP_ACCOUNT_TAG = 1u << 11,
    CAP_AWAY_NOTIFY = 1u << 12,
    CAP_CHGHOST = 1u << 13,
    CAP_EXTENDED_JOIN = 1u << 14,
    CAP_INVITE_NOTIFY = 1u << 15,
    CAP_SETNAME = 1u << 16,
    CAP_EXTENDED_MONITOR = 1u << 17,
    CAP_NO_IMPLICIT_NAMES = 1u << 18,  /* draft/no-implicit-names */
    CAP_QUIET = 1u << 19,          /* parlor.chat/quiet: joins and leaves not announced */
    CAP_EVENT_PLAYBACK = 1u << 30, /* draft/event-playback */
    CAP_STANDARD_REPLIES = 1u << 31,
};

#define AWAY_MAX 200               /* ISUPPORT AWAYLEN */
#define REALNAME_MAX 127           /* ISUPPORT NAMELEN (bytes) */
#define MONITOR_MAX 100            /* ISUPPORT MONITOR */

/* Member modes in a channel. */
enum { MEMBER_VOICE = 1u << 0, MEMBER_OP = 1u << 1 };

struct channel;
struct account_state;
struct tls_conn;

/* One connection.  Owned by W.clients; freed by client_free() from the close
 * callback of its poll handle. */
struct client {
    uint64_t id;
    int fd;
    uv_poll_t poll;
    int poll_events;
    struct tls_conn *tls;          /* from a TLS listener (worker/client_tls.c), else NULL */
    char certfp[65];               /* its client certificate's SHA-256, "" if none */
    struct buf in, out;
    char ip[64];
    int port;
    char nick[IRC_NICK_MAX + 1];   /* "*" until registered */
    char user[16];
    char realname[128];
    char host[64];
    char *away;                    /* NULL when not away */
    bool oper;                     /* IRC operator, user mode +o (worker/oper.c);
                                      shown by WHO, USERHOST, LUSERS */
    char account[IRC_NICK_MAX + 1];/* "" until logged in (worker/account.c) */
    struct account_state *auth;    /* SASL/NickServ exchange in progress, or NULL */
    const char *pending_ctags;     /* client-only tags of the line being handled */
    uint32_t caps;
    bool registered, got_user, got_nick, pass_ok, cap_wait;
    bool blocked;                  /* waiting for a nick claim; input paused */
    bool closing, dirty, throttled, discarding, invisible;
    bool in_input;                 /* inside client_process_input (no re-entry) */
    /* Replies in command order (worker/order.c): the running command's
     * token, its fences not answered yet, and the rest of its steps (one
     * line per target of a list, run one after the other). */
    int cmd_fences;
    double cmd_deadline;
    bool cmd_wait;                 /* input waits until the command is complete */
    char pipe_room[IRC_CHANNEL_MAX + 1];  /* messages to it in flight (order_may_pipeline) */
    struct buf steps;
    bool wallops;                  /* user mode +w: gets WALLOPS */
    char oper_name[32];            /* the [oper] block it used ("" when not oper) */
    int oper_failures;             /* failed OPER attempts on this connection */
    /* labeled-response (worker/label.c): label of the command being answered */
    char label[65];
    struct buf label_out;          /* its responses, collected */
    uint32_t label_batch;
    double signon, last_recv, last_active, ping_sent;
    double flood_tokens, flood_at;
    struct channel **chans;        /* channels it is in (mirrors; not owned) */
    int nchans, chans_cap;
    /* JOINs sent to the channel's owner and not answered yet: they count
     * toward the room limit and follow nick changes (client.c). */
    char (*pjoins)[IRC_CHANNEL_MAX + 1];
    int npjoins, pjoins_cap;
    struct client_invite *invites;      /* operators' invitations to this connection */
    int ninvites;
    bool bot;                      /* user mode +B (bot-mode) */
    struct monitor_entry *monitors;/* MONITOR list (worker/monitor.c) */
    int nmonitors;
    struct client *next_dirty;
};

/* A nick a client monitors, and whether it was last told it is online
 * (-1: not told yet).  Owned by its client. */
struct monitor_entry {
    char nick[IRC_NICK_MAX + 1];
    signed char online;
};

/* An operator's INVITE that reached this connection: lets it past +i, +l
 * and +b of that room once, until it expires.  Owned by its client. */
struct client_invite {
    char channel[IRC_CHANNEL_MAX + 1];
    double expires;
};
#define CLIENT_INVITES_MAX 16      /* the oldest is forgotten beyond this */

/* A channel member.  Owned by its channel's `members` map (keyed by client
 * id: the nick is what the member is shown as, not who it is). */
struct member {
    char nick[IRC_NICK_MAX + 1];
    char account[IRC_NICK_MAX + 1];/* "" when not logged in at JOIN */
    char user[16];
    char host[64];
    char realname[128];
    char away[AWAY_MAX + 1];       /* "" when here (worker/userstate.c keeps it current) */
    bool bot;                      /* user mode +B */
    bool invisible;                /* user mode +i: not in NAMES for outsiders */
    bool quiet;                    /* joined with parlor.chat/quiet: its JOIN/PART/QUIT
                                      are not announced (it is in NAMES) */
    uint64_t client;
    int slot;
    unsigned modes;
    bool oper;                     /* an IRC operator (owner: kept up to date) */
    struct client *local;          /* when slot == W.slot and still connected */
};

#define MAX_BANS 64
#define CHAN_KEY_MAX 23            /* ISUPPORT KEYLEN */

struct ban {
    char mask[128];
    char by[IRC_NICK_MAX + 1];
    double at;
};

/* Owned by W.channels; freed when it has no members (owner) or no local
 * members (mirror). */
struct channel {
    char name[IRC_CHANNEL_MAX + 1];
    bool owned;
    double gathering_until;        /* cluster: members re-announced before then
                                      are not shown as JOINs (channel.c net_join) */
    uint64_t seq;                  /* last event number */
    double created;
    char topic[512];
    char topic_by[128];
    double topic_at;
    bool mode_i, mode_m, mode_n, mode_t;
    bool mode_s, mode_p;           /* secret (hidden from non-members), private */
    bool mode_z;                   /* secure-only: TLS clients may join (InspIRCd's +z) */
    char key[64];
    int limit;
    struct ban *bans;              /* +b masks, nbans of them */
    int nbans;
    struct hmap members;           /* client id -> struct member */
    struct member **local;         /* members on this worker */
    int nlocal, local_cap;
    int per_worker[MAX_WORKERS];   /* owner only: members per worker */
    uint64_t msg_seq;              /* last message number (stored as messages.seq) */
    bool loading;                  /* owner only: waiting for its stored state */
    struct parked_req *parked;     /* owner only: requests that came while loading */
    /* owner only: the room has a row in `channels` (its modes and bans
     * protect it even when empty), and the accounts (folded) that get op
     * back when they join: its creator's and those opped by an op. */
    bool stored;
    char (*op_accounts)[IRC_NICK_MAX + 1];
    int nop_accounts;
    double *invite_times;          /* owner only: when recent INVITEs were sent */
    int ninvite_times;
    /* The last numbered request (worker/outbox.c) of each worker whose
     * message was delivered here: one sent again to a new owner is
     * delivered once. */
    uint64_t origin_seq[MAX_WORKERS];
};

/* A mesh link to another worker.  Owned by W.peers[]. */
struct peer {
    int fd;                        /* -1 when not connected */
    uv_poll_t *poll;               /* freed in its close callback */
    struct buf in, out;            /* out: frames not written yet */
    bool remote;                   /* a worker of another node, linked over NATS
                                      (worker/cluster.c); fd stays -1 */
};

struct worker {
    const struct parlor_config *cfg;
    int slot, nworkers;            /* with cluster: slots of the whole network
                                      (worker/cluster.c), nworkers = MAX_WORKERS */
    int local_slot;                /* the master's number for us (= slot alone) */
    bool cluster;                  /* --cluster: worker/cluster.c runs */
    pid_t pid;
    uv_loop_t *loop;
    int master_fd;
    uv_poll_t master_poll;
    uv_check_t flush_check;
    uv_timer_t tick;
    uv_signal_t sigterm;
    struct peer peers[MAX_WORKERS];
    struct hmap clients;           /* id -> client */
    struct hmap nicks;             /* local registered nick -> client */
    struct hmap nick_owner;        /* nicks this worker owns -> struct nick_rec */
    struct hmap channels;          /* name -> struct channel */
    struct hmap asks;              /* questions to other workers: id -> struct ask (ask.c) */
    struct client *dirty;
    uint32_t closed_unreported;
    uint32_t next_client;
    int nclients;
    bool stopping;
    bool unsolicited;              /* the line being sent is not a response (label.c) */
    struct current_req {           /* the numbered request being handled (outbox.c) */
        int slot;
        uint64_t seq, mseq;
        bool forwarded;            /* it came through a worker that no longer owns it (handover.c) */
    } req;
    struct {
        uint64_t messages_in;      /* PRIVMSG/NOTICE from local clients */
        uint64_t lines_out;        /* lines queued to local clients */
        uint64_t bytes_in, bytes_out;
        uint64_t sendq_kills;
        uint64_t tls_handshakes, tls_resumed, tls_failures;
    } stats;
    int ntls;                      /* clients whose TLS handshake is done */
    double now;                    /* wall clock seconds, refreshed per loop iteration */
};

extern struct worker W;

/* order.c: every command's replies in command order */
void order_begin(struct client *c);
void order_end(struct client *c);
bool order_waiting(const struct client *c);
/* The running command sent work along this path (a room's owner, a nick's
 * route); its replies come back along it. */
void order_note_channel(const char *channel);
void order_note_nick(const char *nick);
/* The running command is a PRIVMSG/NOTICE to one room. */
void order_note_message(void);
bool order_may_pipeline(const struct client *c, const char *line, size_t len);
/* An asynchronous part of the running command (LIST): returns an id for
 * order_release, or 0 when no command of `c` is running. */
uint32_t order_hold(struct client *c);
void order_release(uint32_t id);
void order_handle_fence(int from, const char *payload, size_t len);
void order_handle_ack(const char *payload, size_t len);
void order_resend(int slot);
void order_fail_slot(int slot);
void order_reroute(int slot);      /* cluster: its node is gone; fences follow the requests */
void order_tick(double now);
void order_run_resumed(void);
/* ---- ask.c: questions to every worker (or one), answered with lines ---- */
enum ask_kind { ASK_LIST = 1, ASK_WHO, ASK_USERHOST, ASK_WHOWAS, ASK_KINDS };
/* A question as each worker asked sees it. */
struct ask_args {
    int kind;
    uint64_t client;               /* who asks */
    int slot;                      /* its worker */
    const char *nick;              /* its nick (the numerics are addressed to it) */
    uint32_t caps;                 /* its capabilities (multi-prefix) */
    const char *a1, *a2;           /* by kind: LIST mask; WHO mask, options;
                                      USERHOST nicks; WHOWAS nick, count */
};
/* Ask worker `slot` (-1: every worker, this one included) and send the
 * answers to `c` as they come; the kind's end (worker/ask.c) follows once
 * every worker asked answered or after 2 s. */
void ask_start(struct client *c, int kind, int slot, const char *a1, const char *a2);
void ask_handle_request(int from_slot, const char *payload, size_t len);
void ask_handle_answer(const char *payload, size_t len);
void ask_tick(double now);
/* ---- end ask.c ---- */

/* ---- who.c: WHO (with WHOX) and USERHOST over every worker's clients ---- */
void who_command(struct client *c, struct irc_msg *m);
void userhost_command(struct client *c, struct irc_msg *m);
void who_answer(const struct ask_args *a, struct buf *out);
void userhost_answer(const struct ask_args *a, struct buf *out);
/* USERHOST's 302, the replies in the order asked. */
void userhost_finish(struct client *c, const struct ask_args *a, const char *data, size_t len);
/* ---- end who.c ---- */

/* ---- whowas.c: nicks given up, kept by the nick's owner ---- */
void whowas_command(struct client *c, struct irc_msg *m);
/* `c` gives up its nick (QUIT, NICK): its owner remembers who held it. */
void whowas_note(const struct client *c);
void whowas_handle_frame(const char *payload, size_t len);
void whowas_answer(const struct ask_args *a, struct buf *out);
/* ---- end whowas.c ---- */

/* ---- lusers.c: network-wide counts for LUSERS ---- */
void lusers_command(struct client *c, struct irc_msg *m);
void lusers_send(struct client *c);
/* Something LUSERS counts changed here: the others are told at the end of
 * the loop iteration (lusers_flush, from worker_on_check). */
void lusers_changed(void);
void lusers_flush(void);
void lusers_handle_frame(int slot, const char *payload, size_t len);
void lusers_link_up(int slot);
void lusers_forget_slot(int slot);
/* ---- end lusers.c ---- */

/* label.c: IRCv3 labeled-response */
bool label_capturing(const struct client *c);
void label_begin(struct client *c, const char *label);
void label_finish(struct client *c);

/* session.c: the sessions table */
void session_open(struct client *c);
void session_registered(struct client *c);
void session_nick(struct client *c);
void session_account(struct client *c);
void session_close(struct client *c, const char *reason);

/* admin.c */
void admin_query(uint32_t qid, int what, const char *arg1, const char *arg2);

/* worker.c */
double now_wall(void);
/* How many bytes of members (STATE) or lines (answers) one mesh frame
 * carries (PARLOR_TEST_FRAME_BUDGET lowers it in tests). */
size_t frame_budget(void);
int owner_of(const char *name);
void worker_mark_dirty(struct client *c);
/* The check handle's callback: flushes clients, store and peers once per
 * loop iteration (public for fuzz/worker_harness.c). */
void worker_on_check(uv_check_t *h);
/* W's tables, empty, and no mesh links (worker_main; fuzz/worker_harness.c). */
void worker_tables_init(void);
void worker_check_stop(void);
void worker_send_master(uint8_t type, uint32_t value);
/* A client from `ip` is gone: the master releases it from that address's
 * count.  Called once per client, from session_close(). */
void worker_client_gone(const char *ip);

/* client_tls.c: TLS client connections (the layer is common/tls.c) */
void client_tls_init(void);
/* IPC_M_TLS: a new certificate chain and key from the master. */
void client_tls_handle_material(const char *payload, size_t len);
/* Start TLS on c->fd (server side); false when TLS is not available. */
bool client_tls_wrap(struct client *c);
void client_tls_handshake_done(struct client *c);
void client_tls_failed(struct client *c, const char *why);
/* Free c->tls (from the close callback). */
void client_tls_gone(struct client *c);
/* "TLSv1.3 TLS_AES_256_GCM_SHA384", "handshake", or "" for plaintext. */
void client_tls_describe(const struct client *c, char *out, size_t cap);
/* The TLS port clients are sent to (sts-port, else the first tls-listen; 0: none). */
int client_tls_port(void);
/* plaintext-passwords = refuse and c is not on TLS: true, with the reason
 * (naming the TLS port) in msg. */
bool client_password_refused(const struct client *c, char *msg, size_t cap);
/* The sts capability's value for c ("port=6697,duration=N" on plaintext,
 * "duration=N" on TLS), "" when not advertised. */
void client_tls_sts_value(const struct client *c, char *out, size_t cap);
/* certfp.c: NickServ CERT ADD|DEL|LIST (the words after CERT in args). */
void certfp_command(struct client *c, char *args);
/* Whether c is on TLS (handshake done). */
#define client_is_tls(c) ((c)->tls != NULL)

/* client.c */
void client_accept(int fd, const char *ip, int port, bool tls);
void client_send(struct client *c, const char *data, size_t len);
/* For lines that are not a response to what the client asked (other
 * people's messages): never collected into a labeled response. */
void client_send_unsolicited(struct client *c, const char *data, size_t len);
/* Would this line (no CR LF) be run rather than refused at once? */
bool client_line_acceptable(const char *line, size_t len);
void client_sendf(struct client *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void client_flush(struct client *c);
void client_close(struct client *c, const char *reason);
void client_process_input(struct client *c);
void client_unblock(struct client *c);
void client_resume_all(void);      /* cluster: input starts once the network is heard */
void client_tick(double now);
void client_add_channel(struct client *c, struct channel *ch);
/* JOINs on their way to the owner (see struct client). */
void client_pjoin_add(struct client *c, const char *channel);
void client_pjoin_del(struct client *c, const char *channel);
bool client_pjoin_has(const struct client *c, const char *channel);
/* Operators' invitations to this connection (see struct client_invite). */
void client_invite_add(struct client *c, const char *channel);
bool client_invited(const struct client *c, const char *channel);
void client_invite_del(struct client *c, const char *channel);
void client_remove_channel(struct client *c, struct channel *ch);
struct client *client_by_id(uint64_t id);

/* account_bans.c: admin bans on accounts (IPC_M_BANS from the master) */
/* True, with the reason for the user in `why`, if `account` is banned. */
bool account_ban_check(const char *account, char *why, size_t cap);
/* A new list: keep it, close connections logged in to a banned account. */
void account_bans_handle(const char *payload, size_t len);
/* Lines for a client that may live on another worker. */
void send_raw(int slot, uint64_t client, const char *data, size_t len);

/* reply.c: numerics to a local client ("*" as nick before registration) */
/* One numeric line for `nick`, CRLF included, cut to 512 bytes; returns its length. */
size_t reply_format(char *line, size_t cap, const char *nick, const char *numeric,
                    const char *fmt, ...) __attribute__((format(printf, 5, 6)));
void reply(struct client *c, const char *numeric, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* Format a numeric for a client known only by (slot, id, nick) and send it. */
void reply_remote(int slot, uint64_t client, const char *nick, const char *numeric,
                  const char *fmt, ...) __attribute__((format(printf, 5, 6)));
void send_welcome(struct client *c);
void send_motd(struct client *c);
/* "nick!user@host" */
void client_prefix(const struct client *c, char *out, size_t cap);
/* "@time=...Z " for a wall-clock time in seconds */
size_t format_time_tag(double t, char *out, size_t cap);

/* A message line and the tags each client gets according to its caps:
 * message-tags clients get time, msgid and the sender's client-only tags;
 * server-time clients get time only. */
struct msgline {
    double time;
    const char *msgid;             /* "" or NULL: none */
    const char *ctags;             /* client-only tags ("+typing=active"), "" or NULL */
    const char *source, *command, *target;
    const char *text;              /* NULL for TAGMSG */
    const char *batch;             /* batch reference, or NULL */
    const char *account;           /* the sender's account (account-tag), "" or NULL */
    bool bot;                      /* the sender is a bot (bot tag, message-tags clients) */
};
/* Which of the three forms a client gets: 0 plain, 1 time, 2 all tags. */
int msgline_form(uint32_t caps);
/* The same, plus 3 when the client gets an account tag for a sender
 * logged in to `account` (account-tag): one of MSGLINE_FORMS forms. */
#define MSGLINE_FORMS 6
int msgline_form_for(uint32_t caps, const char *account);
/* The tags of form `form` ("@time=...;account=x " or nothing), appended to b. */
void msgline_tags(struct buf *b, const struct msgline *m, int form);
size_t msgline_format(const struct msgline *m, int form, char *out, size_t cap);
void send_msgline(struct client *c, const struct msgline *m);
/* The durable echo of a client's own message (echo-message). */
void send_echo(int slot, uint64_t client, const struct msgline *m);
void handle_echo_frame(const char *payload, size_t len);
/* The echo of a message that is not stored (to a service such as NickServ
 * or HistServ): sent at once to an echo-message client. */
void echo_unstored(struct client *c, const char *cmd, const char *target, const char *text);

/* commands.c */
void command_dispatch(struct client *c, char *line);
/* Run the next of c->steps (a command split per target; worker/order.c). */
void command_run_step(struct client *c);

/* nick.c */
void nick_request(struct client *c, const char *nick);
void nick_handle_claim(const char *nick, const char *old, uint64_t client, int slot, bool force);
void nick_handle_result(uint64_t client, bool ok, const char *nick);
void nick_release(const char *nick, uint64_t client);
void nick_handle_release(const char *nick, uint64_t client);
void nick_forget_slot(int slot);
void nick_reannounce(int slot);
enum { TO_NICK_MSG = 1, TO_NICK_INVITE, TO_NICK_WHOIS, TO_NICK_KILL };
/* Something addressed to a nick, on its way to the holder's worker. */
struct nick_msg {
    int kind;
    const char *target;
    uint64_t from_client;
    int from_slot;
    const char *from_nick, *from_account;
    const char *source;            /* sender's nick!user@host */
    const char *command;           /* PRIVMSG, NOTICE, TAGMSG */
    const char *text;              /* message text; INVITE: the channel */
    const char *msgid, *ctags;     /* "" when none */
    double time;
    bool by_op;                    /* INVITE from a channel operator */
    bool from_oper;                /* the sender is an IRC operator (WHOIS details) */
    bool from_bot;                 /* the sender has user mode +B */
};
/* command/text/msgid/ctags may be NULL (WHOIS); INVITE: text = channel;
 * KILL: text = reason. */
void to_nick(int kind, const char *target, struct client *from, const char *command,
             const char *text, const char *msgid, const char *ctags);
void nick_route(const struct nick_msg *m);
void nick_handle_frame(const char *payload, size_t len);
/* At a nick's owner: the worker holding it, or -1. */
int nick_holder_slot(const char *nick);
void nick_try_register(struct client *c);

/* channel.c */
enum chan_op {
    CHAN_JOIN = 1, CHAN_PART, CHAN_MSG, CHAN_TOPIC, CHAN_MODE, CHAN_KICK, CHAN_INVITE,
    CHAN_NAMES, CHAN_QUIT, CHAN_NICK,
    CHAN_OPER,                     /* the requester's operator status changed */
};
struct chan_req {
    int op;
    const char *channel;
    uint64_t client;
    int slot;
    uint32_t caps;                 /* the requester's, for NAMES formatting */
    const char *nick, *user, *host, *realname;
    const char *arg1, *arg2;
    const char *account;           /* the requester's, "" if none */
    const char *away;              /* CHAN_JOIN: the requester's away message, "" if here */
    bool bot;                      /* CHAN_JOIN: the requester has user mode +B */
    bool quiet;                    /* CHAN_JOIN: the requester has parlor.chat/quiet */
    bool invisible;                /* CHAN_JOIN: the requester has user mode +i */
    bool tls;                      /* CHAN_JOIN: the requester is on TLS (+z) */
    const char *ctags;             /* client-only tags of a message, "" if none */
    const char *msgid;             /* CHAN_MSG: given by the sender's worker, so a
                                      request sent twice is one message; else "" */
    bool oper;                     /* the requester is an IRC operator (KICK
                                      anywhere; WHO's flag) */
    /* The numbered request this came in (worker/outbox.c; 0: none) and, for a
     * message sent again to a new owner, the number the old owner gave it. */
    int origin_slot;
    uint64_t origin_seq, mseq;
    bool forwarded;                /* passed on by a former owner (handover.c) */
};
void chan_request(struct client *c, int op, const char *channel, const char *arg1, const char *arg2);
void chan_handle_request_frame(const char *payload, size_t len);
void chan_handle_event(const char *payload, size_t len);
void chan_handle_state(int from_slot, const char *payload, size_t len);
void chan_forget_slot(int slot, const char *reason);   /* reason: the QUIT text */
void chan_reannounce(int slot);
/* LIST's answer at each worker: a 322 for each room it owns that the asker may see. */
void chan_list_answer(const struct ask_args *a, struct buf *out);
struct channel *chan_find(const char *name);
/* The member that is connection `client`, or NULL. */
struct member *chan_member_id(struct channel *ch, uint64_t client);
/* The member shown as `nick` (for KICK, MODE +o and the like), or NULL. */
struct member *chan_member_nick(struct channel *ch, const char *nick);
/* Our client's JOIN was refused or had nothing to do (owner -> client's worker). */
void chan_join_done(uint64_t client, const char *channel);
/* "+iklmnt"-style flags, with the key and limit after them when `params`. */
void chan_mode_string(const struct channel *ch, bool params, char *out, size_t cap);
/* Prefix characters of a member for NAMES/WHO ("@", "+", "@+" with all). */
const char *member_prefix(unsigned modes, bool all);

/* outbox.c: requests to other workers' rooms and nicks survive their death */
void outbox_init(void);
bool outbox_synced(void);
/* Send a request frame to the owner worker `slot` (not us), numbered and
 * kept until it is acknowledged; `command` and `target` name it in a FAIL
 * if the owner does not come back; `msgid` ("" or NULL) de-duplicates its
 * echo. */
void outbox_request(int slot, const struct buf *frame, uint64_t client, const char *command,
                    const char *target, const char *msgid);
/* Keep a frame (a REQ payload from `slot`, or one of our own requests to
 * ourselves when slot == W.slot) until every worker has re-announced. */
void outbox_hold(int slot, const char *frame, size_t len);
/* Hold a whole frame from `slot` (not a request) until synced. */
void outbox_hold_frame(int slot, const char *frame, size_t len);
void outbox_handle_ack(int slot, uint64_t seq);
void outbox_handle_synced(int slot);
void outbox_resend(int slot);
void outbox_reroute(int slot);      /* cluster: its node is gone; to the new owners */
bool outbox_echo_is_duplicate(const char *msgid);
/* Our own message went out with number `mseq` (seen on our mirror): a copy
 * sent again to a new owner keeps it. */
void outbox_note_mseq(const char *msgid, uint64_t mseq);
void outbox_link_up(int slot);
void outbox_peer_hello(int slot, int pid, uint64_t base);
uint64_t outbox_hello_base(int slot);
bool outbox_is_new(int slot, uint64_t seq);
void outbox_handled(int slot, uint64_t seq);
void outbox_batch_done(int slot);
void outbox_tick(double now);

/* peer.c */
/* Handle one whole frame as if it came from `slot` (held requests). */
void peer_dispatch_frame(int slot, const char *frame, size_t len);
/* Handle a REQ payload from `slot`: its request, then note it as handled. */
void peer_dispatch_request(int slot, const char *payload, size_t len);
void peer_attach(int slot, int fd);
/* A link to `slot` is up (a socket or, with cluster, NATS): announce
 * ourselves, re-announce, resend.  peer_link_lost: it is gone. */
void peer_link_up(int slot);
void peer_link_lost(int slot, const char *reason);

/* cluster.c: several nodes over NATS (only with --cluster) */
void cluster_init(void);
void cluster_close(void);
bool cluster_slot_live(int slot);
int cluster_owner(uint64_t hash);
void cluster_flush(void);
bool cluster_defer_state(int slot, const char *payload, size_t len);
void chan_owner_moved(const char *name);
void nick_claim_again(struct client *c);
void nick_handle_lost(uint64_t client, const char *nick);   /* nick.c: a healed split */

/* handover.c: names that change owner in a running network */
bool handover_forward(int slot, uint64_t seq, uint64_t origin, uint64_t mseq, const char *target,
                      const char *frame, size_t len);
void outbox_pass_on(int slot, const struct buf *frame, const char *target, int via, uint64_t via_seq);
void handover_wrap(struct buf *out, int origin, uint64_t oseq, uint64_t mseq, int hops, bool in_order,
                   const char *target, const char *frame, size_t len);
bool handover_is_forward(const char *frame, size_t len);
void handover_handle_forwarded(const char *payload, size_t len);
void handover_node_joined(void);
uint64_t handover_forwarded_count(void);
unsigned chan_hand_over_moved(void);   /* channel.c */
unsigned nick_forget_moved(void);      /* nick.c */
/* Rooms and nicks that changed owner (membership changes): counted for
 * the stats. */
void cluster_count_moves(unsigned rooms, unsigned nicks);
/* A node as this worker sees it, for parlorctl (worker/admin.c). */
struct cluster_node_view {
    const char *name;
    int id, workers;
    int clients;                   /* self: this worker's; remote: from its heartbeats */
    const char *pids;              /* remote workers' pids; "-" for self */
    double heard_ago;              /* seconds since its last heartbeat; 0 for self */
    const char *state;             /* "self" or "live" */
    const char *nats;              /* self: this worker's NATS connection state;
                                      remote: "connected" when every worker was
                                      heard in the last two beats */
};
void cluster_answer_nodes(void (*rec)(void *arg, const struct cluster_node_view *n), void *arg);
/* This worker's NATS counters (README "Cluster over NATS", Operations). */
struct cluster_stats {
    const char *nats;              /* connected, connecting, reconnecting, disconnected */
    uint64_t msgs_in, msgs_out, frames_in, frames_out, publish_errors, reconnects;
    uint64_t rooms_moved, nicks_moved;
    int live_nodes;                /* this one included */
};
void cluster_get_stats(struct cluster_stats *s);
/* Start a frame to `slot` in its out buffer; returns the offset for ipc_end. */
struct buf *peer_buf(int slot);
void peer_flush_all(void);
void peer_close_all(void);
bool peer_connected(int slot);

/* services.c: the service pseudo-users */
/* NICKs nobody may take. */
bool service_nick_reserved(const char *nick);
/* PRIVMSG/NOTICE/TAGMSG to a service: echoed, never routed nor stored; a
 * PRIVMSG runs the service's command.  False for any other target. */
bool service_message(struct client *c, const char *target, const char *cmd, const char *text);
/* WHOIS on a service: answered here; false for any other nick. */
bool service_whois(struct client *c, const char *nick);
/* A NOTICE from `service` to a local client, split over lines if long. */
void service_notice(struct client *c, const char *service, const char *text);

/* ---- oper.c: IRC operators (OPER, KILL, WALLOPS, user modes +o +w) ---- */
void oper_command(struct client *c, struct irc_msg *m);    /* OPER */
void oper_kill(struct client *c, struct irc_msg *m);       /* KILL */
void oper_wallops(struct client *c, struct irc_msg *m);    /* WALLOPS */
/* PRIVMSG/NOTICE $*: an operator's message to everyone (worker/oper.c). */
void oper_global_message(struct client *c, const char *cmd, const char *target, const char *text);
/* At the victim's worker: close it with "Killed (killer (reason))". */
void oper_kill_local(struct client *t, const char *killer, const char *reason);
/* MODE nick -o. */
void oper_drop(struct client *c);
/* "+iow"-style user modes for 221. */
void oper_user_modes(const struct client *c, char *out, size_t cap);
/* IPC_P_WALLOPS from another worker. */
void oper_handle_wallops(const char *payload, size_t len);
/* channel.c: tell the owners of c's rooms that c's operator status changed. */
void chan_note_oper(struct client *c);
/* ---- end oper.c ---- */

/* ---- account.c: SASL PLAIN, NickServ, registered-nick protection ---- */
/* AUTHENTICATE (command table entry). */
void account_authenticate(struct client *c, struct irc_msg *m);
/* CAP END before registration: aborts a SASL exchange waiting for data (906). */
void account_cap_end(struct client *c);
/* NICK to a service name: replies 432 and returns true. */
bool account_nick_refused(struct client *c, const char *nick);
/* A PRIVMSG to NickServ, split by services.c (verb NULL when empty). */
void account_service_command(struct client *c, const char *verb, char *args);
/* A registered client has a new nick (or just registered): protect it if it
 * is an account the client is not logged in to. */
void account_nick_check(struct client *c);
/* ---- end account.c ---- */

/* ---- history.c: draft/chathistory and the HistServ pseudo-user ---- */
#define CHATHISTORY_MAX 100        /* ISUPPORT CHATHISTORY: bigger limits are clamped */
/* CHATHISTORY (command table entry). */
void history_command(struct client *c, struct irc_msg *m);
/* A PRIVMSG to HistServ, split by services.c (verb NULL when empty). */
void history_service_command(struct client *c, const char *verb, char *args);
/* Who may read one side of a private message (messages.sender_key and
 * target_key): "a:<account> <peer>" when that side is logged in to
 * `account`, else "c:<client id> <peer>"; peer is the other side's folded
 * nick.  Private history is read by these keys, never by a current nick. */
#define HISTORY_KEY_MAX (2 + 20 + 1 + IRC_NICK_MAX + 1)
void history_private_key(const char *account, uint64_t client, const char *peer_nick,
                         char *out, size_t cap);
/* SQL for a stored time: whole seconds and milliseconds, as two columns. */
#define HISTORY_SQL_TIME(col) "floor(extract(epoch FROM " col "))::bigint, " \
    "mod(extract(microseconds FROM " col ")::bigint, 1000000) / 1000"
/* Columns of every message query on `messages m`, after a first column
 * (0, "part"), in this order: 1 sender_nick, 2 command, 3 target, 4 body,
 * 5 msgid, 6-7 time, 8-9 the ordering key, 10 the client-only tags (NULL:
 * none). */
#define HISTORY_MSG_COLS "m.sender_nick, m.command, m.target, m.body, m.msgid, " \
    HISTORY_SQL_TIME("m.server_time") ", m.server_time AS st, m.id AS id, m.client_tags"
/* Rows from..to-1 of such a query to `c`, oldest first: a `chathistory`
 * batch for `target` with the batch cap, else the lines alone.  A client
 * that gets no time tag gets column `when_col` ("12:03") in front of each
 * text, when when_col >= 0. */
struct pg_result;                  /* libpq's PGresult */
void history_send_rows(struct client *c, const char *target, const struct pg_result *res, int from,
                       int to, int when_col);
/* ---- end history.c ---- */

/* ---- replay.c: a room's recent messages on JOIN (join-replay) ---- */
/* JOIN of `channel` by `c`, from its command: the replay to come is one of
 * the command's replies (worker/order.c holds the client's next command). */
void replay_join_asked(struct client *c, const char *channel);
/* Our client's JOIN came back and its NAMES were sent: its recent messages
 * (numbered up to msg_seq, the ones it will not get live) follow. */
void replay_join_done(struct client *c, const char *channel, uint64_t msg_seq);
/* Our client's JOIN was refused or had nothing to do. */
void replay_join_refused(uint64_t client, const char *channel);
/* ---- end replay.c ---- */

/* ---- userstate.c: away, account, realname and bot mode of a user, told to
 * the members of its rooms on every worker (away-notify, account-notify,
 * setname) and to those monitoring its nick (extended-monitor) ---- */
enum user_change { USER_AWAY = 1, USER_ACCOUNT, USER_SETNAME, USER_BOT, USER_INVISIBLE };
/* c's state changed (c->away, c->account, c->realname or c->bot already set). */
void user_changed(struct client *c, int what);
/* Our client's JOIN came back as member m: a change made meanwhile goes to
 * that room's members too (channel.c; may deliver lines, never frees). */
void user_joined(struct client *c, struct member *m);
void user_handle_frame(const char *payload, size_t len);
/* ":nick!user@host AWAY :text" (or without text) for a client with `caps`,
 * with the tags it gets; appended to out. */
void user_away_line(struct buf *out, uint32_t caps, const char *source, const char *account,
                    bool bot, const char *away);
/* ---- end userstate.c ---- */

/* ---- monitor.c: MONITOR and extended-monitor ---- */
/* MONITOR (command table entry). */
void monitor_command(struct client *c, struct irc_msg *m);
/* The client is closing: its MONITOR list is withdrawn. */
void monitor_client_gone(struct client *c);
/* At a nick's owner: it is now held (claimed) / no longer held. */
void monitor_nick_online(const char *nick);
void monitor_nick_offline(const char *nick);
/* Worker `slot` died / restarted (watchers of ours go to its nicks again). */
void monitor_forget_slot(int slot);
void monitor_reannounce(int slot);
/* This worker (restarted) has every worker's re-announcement: tell each
 * watcher the status of its nicks where it changed (outbox.c). */
void monitor_synced(void);
void monitor_handle_frame(int from_slot, const char *payload, size_t len);
/* At a nick's owner: send a user-state frame (userstate.c) to every worker
 * with clients monitoring `nick`, with their ids. */
typedef void monitor_send_fn(int slot, const uint64_t *watchers, int n, void *arg);
void monitor_watchers(const char *nick, monitor_send_fn *fn, void *arg);
/* ---- end monitor.c ---- */

/* ---- game.c: GameServ, the word-guessing game ---- */
void game_init(void);             /* after store_init: word lists, open games of dead workers */
void game_close(void);            /* stopping: timers and games */
/* A PRIVMSG to GameServ, split by services.c (verb NULL when empty). */
void game_service_command(struct client *c, const char *verb, char *args);
/* Channel owner: a message to a room, before it goes out.  True when it
 * must not (in a game room during a round it would give the word away:
 * anyone's that contains the word, a spectator's even when it is the word;
 * the sender is told why). */
bool game_message_refused(const struct chan_req *q);
/* Channel owner: a message to a room went out (a guess, in a game room). */
void game_on_message(const struct chan_req *q);
/* Channel owner: a room was re-announced after this worker (re)started. */
void game_on_room_back(const char *room);
void game_network_heard(void);     /* cluster: owners are known; check open games */
void game_rooms_moved(void);       /* cluster: cancel games whose room moved away */
void game_node_gone(void);         /* cluster: abort the open games of rooms now ours */
/* IPC_P_GAME frames. */
void game_handle_frame(int from_slot, const char *payload, size_t len);
/* channel.c: a message from a service (source nick!nick@services.parlor.local)
 * to a room this worker owns; stored like any other; dropped when the room
 * does not exist here. */
void chan_service_message(const char *channel, const char *nick, const char *command,
                          const char *text);
/* ---- end game.c ---- */

#endif
