/* The stateful target: random command sequences from several clients
 * through one worker's input path (socket -> read_input -> line framing ->
 * command_dispatch -> channels, nicks, services ...), in process, with one
 * worker (every nick and channel is owned here) and no database.
 *
 * The input is a program of steps; each step starts with an opcode byte:
 *   CONNECT            a new client (up to HARNESS_CLIENTS at once)
 *   HANGUP k           client k closes its connection
 *   LINE k t ...       queue one line from a template (NICK, USER, JOIN,
 *                      PART, QUIT, PRIVMSG, MODE, KICK, INVITE, TOPIC, CAP,
 *                      AUTHENTICATE, CHATHISTORY, ...) for client k; names
 *                      come from small pools so clients meet, text from the
 *                      input
 *   RAW k n bytes      queue n raw bytes for client k
 *   REGISTER k n       queue NICK + USER (+ CAP) for client k
 *   SEND               write every queued packet, then run the loop
 * Lines queued for a client before a SEND go out in one packet (pipelined,
 * like "JOIN #a\r\nNICK b\r\n").  At the end everything queued is sent,
 * every client hangs up, and the worker must be empty again: no client, nick
 * or channel left behind (harness_leftovers).  With PARLOR_FUZZ_LEFTOVERS=forget
 * in the environment, leftovers are dropped instead of reported, to look
 * for other bugs while that one is open. */
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "fuzz/fuzz.h"
#include "fuzz/worker_harness.h"

struct input {
    const uint8_t *p;
    size_t left;
};

static unsigned byte(struct input *in)
{
    if (!in->left)
        return 0;
    in->left--;
    return *in->p++;
}

static const char *pick(struct input *in, const char *const *pool, size_t n)
{
    return pool[byte(in) % n];
}
#define PICK(in, pool) pick(in, pool, sizeof pool / sizeof pool[0])

static const char *const nicks[] = {
    "alice", "bob", "ghost", "vic1", "nn1", "Alice", "carol", "\xeb\xaf\xbc\xec\x98\x81",
};
static const char *const chans[] = { "#room0", "#room1", "#ROOM0", "#vault", "#game-1", "#a,#b" };
static const char *const targets[] = {
    "alice", "bob", "ghost", "#room0", "#room1", "NickServ", "HistServ", "GameServ", "*",
    "alice,bob", "#room0,ghost",
};
static const char *const modes[] = {
    "+o", "-o", "+v", "+i", "-i", "+k", "-k", "+l", "-l", "+m", "+n", "+t", "-t",
    "+b", "-b", "b", "+ov", "+kl", "+bbb", "+imnt", "",
};
static const char *const caps[] = {
    "sasl", "echo-message", "labeled-response batch", "message-tags server-time",
    "draft/chathistory batch", "multi-prefix userhost-in-names", "cap-notify", "-sasl",
};
static const char *const sasl[] = {
    "PLAIN", "*", "+", "AGFsaWNlAHNlY3JldHB3", "YWxpY2UAYWxpY2UAc2VjcmV0cHc=", "EXTERNAL",
};
static const char *const history[] = {
    "LATEST %s * 10", "BEFORE %s timestamp=2026-01-01T00:00:00.000Z 5",
    "AFTER %s msgid=abc 5", "AROUND %s msgid=x 3", "BETWEEN %s * * 2",
    "TARGETS timestamp=2020-01-01T00:00:00Z timestamp=2030-01-01T00:00:00Z 10",
};
static const char *const tags[] = {
    "", "@label=L1 ", "@+typing=active ", "@label=x;+draft/reply=abc ", "@time=bogus ",
};
static const char *const services[] = {
    "help", "register secretpw1", "identify secretpw1", "days #room0", "show #room0 2026-01-01",
    "invite bob", "accept 1", "decline 1", "status 1", "categories", "top", "quit 1",
};

/* Up to 24 bytes of text from the input (any bytes but CR, LF and NUL, which
 * RAW covers). */
static void text(struct input *in, char *out, size_t cap)
{
    size_t n = byte(in) % 25, k = 0;
    for (size_t i = 0; i < n && k + 1 < cap; i++) {
        char c = (char)byte(in);
        if (c != '\r' && c != '\n' && c != '\0')
            out[k++] = c;
    }
    out[k] = '\0';
}

static struct {
    char data[8192];
    size_t len;
} pending[HARNESS_CLIENTS];

static void queue(int k, const char *data, size_t len)
{
    if (len > sizeof pending[k].data - pending[k].len)
        len = sizeof pending[k].data - pending[k].len;
    memcpy(pending[k].data + pending[k].len, data, len);
    pending[k].len += len;
}

static void queue_line(int k, const char *line)
{
    char buf[1024];
    int n = snprintf(buf, sizeof buf, "%s\r\n", line);
    queue(k, buf, n < (int)sizeof buf ? (size_t)n : sizeof buf - 1);
}

static void send_all(void)
{
    for (int k = 0; k < HARNESS_CLIENTS; k++) {
        harness_send(k, pending[k].data, pending[k].len);
        pending[k].len = 0;
    }
    harness_run();
}

static void line(struct input *in, int k)
{
    char l[900], t[32], u[32];
    const char *tag = PICK(in, tags);
    unsigned what = byte(in) % 24;
    text(in, t, sizeof t);
    switch (what) {
    case 0: snprintf(l, sizeof l, "%sNICK %s", tag, PICK(in, nicks)); break;
    case 1: snprintf(l, sizeof l, "USER %s 0 * :%s", PICK(in, nicks), t); break;
    case 2: {
        const char *ch = PICK(in, chans);
        snprintf(l, sizeof l, "%sJOIN %s%s", tag, ch, byte(in) & 1 ? " key" : "");
        break;
    }
    case 3: snprintf(l, sizeof l, "%sPART %s :%s", tag, PICK(in, chans), t); break;
    case 4: snprintf(l, sizeof l, "QUIT :%s", t); break;
    case 5: snprintf(l, sizeof l, "%sPRIVMSG %s :%s", tag, PICK(in, targets), t); break;
    case 6: snprintf(l, sizeof l, "%sNOTICE %s :%s", tag, PICK(in, targets), t); break;
    case 7: {
        const char *ch = PICK(in, chans);
        const char *m = PICK(in, modes);
        snprintf(l, sizeof l, "%sMODE %s %s %s %s", tag, ch, m, PICK(in, nicks), t);
        break;
    }
    case 8: {
        const char *ch = PICK(in, chans);
        snprintf(l, sizeof l, "%sKICK %s %s :%s", tag, ch, PICK(in, nicks), t);
        break;
    }
    case 9: {
        const char *n = PICK(in, nicks);
        snprintf(l, sizeof l, "%sINVITE %s %s", tag, n, PICK(in, chans));
        break;
    }
    case 10: {
        const char *ch = PICK(in, chans);
        snprintf(l, sizeof l, "%sTOPIC %s%s%s", tag, ch, byte(in) & 1 ? " :" : "", t);
        break;
    }
    case 11: snprintf(l, sizeof l, "CAP LS 302"); break;
    case 12: snprintf(l, sizeof l, "CAP REQ :%s", PICK(in, caps)); break;
    case 13: snprintf(l, sizeof l, "CAP END"); break;
    case 14: snprintf(l, sizeof l, "AUTHENTICATE %s", PICK(in, sasl)); break;
    case 15:
        snprintf(u, sizeof u, "%s", PICK(in, targets));
        snprintf(l, sizeof l, "%sCHATHISTORY ", tag);
        {
            /* The format is one of history[], each with at most one %s. */
            const char *fmt = PICK(in, history);
#pragma clang diagnostic push
#pragma clang diagnostic ignored "-Wformat-nonliteral"
            snprintf(l + strlen(l), sizeof l - strlen(l), fmt, u);
#pragma clang diagnostic pop
        }
        break;
    case 16: {
        static const char *const service_nicks[] = { "NickServ", "HistServ", "GameServ" };
        const char *to = PICK(in, service_nicks);
        snprintf(l, sizeof l, "%sPRIVMSG %s :%s", tag, to, PICK(in, services));
        break;
    }
    case 17: snprintf(l, sizeof l, "%sWHOIS %s", tag, PICK(in, nicks)); break;
    case 18: snprintf(l, sizeof l, "%sWHO %s", tag, PICK(in, chans)); break;
    case 19: snprintf(l, sizeof l, "%sNAMES %s", tag, PICK(in, chans)); break;
    case 20: snprintf(l, sizeof l, "%sLIST", tag); break;
    case 21: snprintf(l, sizeof l, "AWAY :%s", t); break;
    case 22: snprintf(l, sizeof l, "%sTAGMSG %s", tag, PICK(in, targets)); break;
    default: snprintf(l, sizeof l, "PING :%s", t); break;
    }
    queue_line(k, l);
}

enum { OP_CONNECT, OP_HANGUP, OP_LINE, OP_RAW, OP_REGISTER, OP_SEND, OP_COUNT };

static bool lenient;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    const char *l = getenv("PARLOR_FUZZ_LEFTOVERS");
    lenient = l && strcmp(l, "forget") == 0;
    harness_init(1);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct input in = { data, size };
    memset(pending, 0, sizeof pending);
    harness_connect();
    harness_connect();
    for (int steps = 0; in.left && steps < 200; steps++) {
        unsigned op = byte(&in) % (OP_COUNT + 2);   /* LINE twice as likely */
        int k = (int)(byte(&in) % HARNESS_CLIENTS);
        switch (op) {
        case OP_CONNECT:
            harness_connect();
            break;
        case OP_HANGUP:
            send_all();
            harness_hangup(k);
            harness_run();
            break;
        case OP_RAW: {
            char raw[64];
            size_t n = byte(&in) % sizeof raw;
            for (size_t i = 0; i < n; i++)
                raw[i] = (char)byte(&in);
            queue(k, raw, n);
            break;
        }
        case OP_REGISTER: {
            char l[96];
            if (byte(&in) & 1)
                queue_line(k, "CAP LS 302");
            snprintf(l, sizeof l, "NICK %s", PICK(&in, nicks));
            queue_line(k, l);
            queue_line(k, "USER u 0 * :Fuzz");
            break;
        }
        case OP_SEND:
            send_all();
            break;
        default:
            line(&in, k);
        }
    }
    send_all();
    harness_reset(false);
    const char *left = harness_leftovers();
    if (left && lenient) {
        harness_forget_leftovers();
    } else if (left) {
        fprintf(stderr, "worker state left after every client closed: %s\n", left);
        FUZZ_CHECK(left == NULL);
    }
    return 0;
}
