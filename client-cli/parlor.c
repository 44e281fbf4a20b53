/* parlor: the terminal chat client for Parlor (any IRC server with the same
 * extensions works too).  See parlor.h for how the files divide the work and
 * man/parlor.1 for the user's view.
 *
 * main() reads the options, asks for what is missing (nick, password), and
 * starts one of two modes on a libuv loop: interactive (parlor_ui.c) or
 * script (parlor_script.c).
 *
 * Exit status: 0 success, 1 a failure (message on stderr), 2 bad usage. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <locale.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include "client-cli/parlor.h"
#include "common/tls.h"

enum { EXIT_FAILED = 1, EXIT_USAGE = 2 };
enum { OPT_HOST = 256, OPT_PORT, OPT_SERVER, OPT_NICK, OPT_ACCOUNT, OPT_JOIN, OPT_SEND, OPT_DAYS, OPT_DAY,
       OPT_JSON, OPT_TIMEOUT, OPT_LINE, OPT_TLS, OPT_TLS_CA, OPT_TLS_INSECURE, OPT_TLS_CERT };

static void usage(FILE *out)
{
    fprintf(out,
        "usage: parlor [--host H] [--port P] [--nick N] [--account A] [--join '#room,...']\n"
        "       parlor --server H:P,H2:P2 ...              several servers (nodes of one network)\n"
        "       parlor ... --join '#room' --send TEXT      send TEXT and exit\n"
        "       command | parlor ... --join '#room'        send each line of stdin\n"
        "       parlor ... [--json] --days '#room|nick'    days with messages, a count each\n"
        "       parlor ... [--json] --day YYYY-MM-DD '#room|nick'   that day's messages\n"
        "  --host H        server (default 127.0.0.1)\n"
        "  --port P        port (default 6667)\n"
        "  --server LIST   servers HOST[:PORT], comma separated (or repeated): when the\n"
        "                  connection drops or cannot be made, the next one is tried\n"
        "  --tls           TLS (the default with --port 6697): the server's certificate\n"
        "                  and name are checked against the system's authorities\n"
        "  --tls-ca FILE   ... or against the certificate(s) in FILE (self-signed)\n"
        "  --tls-insecure  do not check the certificate (a warning is shown)\n"
        "  --tls-cert FILE client certificate and key (PEM): log in with it (SASL EXTERNAL)\n"
        "  --nick N        nick (default: the account, or $USER)\n"
        "  --account A     log in with SASL PLAIN; the password is asked without echo\n"
        "                  (or taken from $PARLOR_PASSWORD)\n"
        "  --join ROOMS    rooms to join, comma separated\n"
        "  --send TEXT     script mode: send TEXT to every --join room, then exit\n"
        "  --days TARGET   script mode: print DATE<TAB>COUNT lines, newest first\n"
        "  --day DATE      script mode: print TIME<TAB>NICK<TAB>TEXT lines of that day\n"
        "  --json          script mode: JSON objects, one a line, instead of tabs\n"
        "  --timeout SEC   script mode: give up when the server is silent this long (30)\n"
        "  --line          interactive without the full screen: one stream, a prompt\n"
        "  -h, --help      this text\n"
        "  -V, --version   print the version\n"
        "Without --send/--days/--day: interactive when stdin is a terminal (type /help),\n"
        "else every line of stdin is sent to the --join rooms.  Exit status: 0 success,\n"
        "1 failure (with a message on stderr), 2 bad usage.  See parlor(1).\n");
}

static int bad_usage(const char *fmt, const char *arg)
{
    fputs("parlor: ", stderr);
    fprintf(stderr, fmt, arg);
    fputs(" (see parlor --help)\n", stderr);
    return EXIT_USAGE;
}

/* Read one line from the terminal, echo off when `secret`.  Returns a
 * malloc'd string without the newline, or NULL (no terminal, EOF). */
static char *ask(const char *question, bool secret)
{
    int fd = open("/dev/tty", O_RDWR | O_CLOEXEC);
    if (fd < 0)
        return NULL;
    struct termios old, quiet;
    bool restore = false;
    if (secret && tcgetattr(fd, &old) == 0) {
        quiet = old;
        quiet.c_lflag &= (tcflag_t)~(ECHO | ECHONL);
        quiet.c_lflag |= ICANON;
        restore = tcsetattr(fd, TCSAFLUSH, &quiet) == 0;
    }
    if (write(fd, question, strlen(question)) < 0) {
        /* the answer can still be read */
    }
    char line[512];
    size_t n = 0;
    bool got = false;
    for (;;) {
        char ch;
        ssize_t r = read(fd, &ch, 1);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        got = true;
        if (ch == '\n')
            break;
        if (n + 1 < sizeof line)
            line[n++] = ch;
    }
    line[n] = '\0';
    if (restore) {
        tcsetattr(fd, TCSAFLUSH, &old);
        if (write(fd, "\n", 1) < 0) {
            /* nothing to do: only cosmetic */
        }
    }
    close(fd);
    char *s = got ? strdup(line) : NULL;
    memset(line, 0, sizeof line);
    return s;
}

int main(int argc, char **argv)
{
    setlocale(LC_ALL, "");
    /* A server that closes the connection (a ban, a restart) while we write
     * must be a read error to handle, not SIGPIPE ending the client. */
    signal(SIGPIPE, SIG_IGN);
    static struct app a;
    app = &a;
    snprintf(a.host, sizeof a.host, "127.0.0.1");
    a.port = 6667;
    a.backoff_s = 1;
    const char *nick = NULL, *days = NULL, *day = NULL, *tls_ca = NULL;
    struct script_opts so = { .kind = SCRIPT_SEND, .timeout_s = 30 };
    bool script = false, host_given = false;

    static const struct option longopts[] = {
        { "host", required_argument, NULL, OPT_HOST },
        { "port", required_argument, NULL, OPT_PORT },
        { "server", required_argument, NULL, OPT_SERVER },
        { "nick", required_argument, NULL, OPT_NICK },
        { "account", required_argument, NULL, OPT_ACCOUNT },
        { "join", required_argument, NULL, OPT_JOIN },
        { "send", required_argument, NULL, OPT_SEND },
        { "days", required_argument, NULL, OPT_DAYS },
        { "day", required_argument, NULL, OPT_DAY },
        { "json", no_argument, NULL, OPT_JSON },
        { "timeout", required_argument, NULL, OPT_TIMEOUT },
        { "line", no_argument, NULL, OPT_LINE },
        { "tls", no_argument, NULL, OPT_TLS },
        { "tls-ca", required_argument, NULL, OPT_TLS_CA },
        { "tls-insecure", no_argument, NULL, OPT_TLS_INSECURE },
        { "tls-cert", required_argument, NULL, OPT_TLS_CERT },
        { "help", no_argument, NULL, 'h' },
        { "version", no_argument, NULL, 'V' },
        { NULL, 0, NULL, 0 },
    };
    int opt;
    opterr = 0;
    while ((opt = getopt_long(argc, argv, "hV", longopts, NULL)) != -1) {
        char *end;
        long v;
        switch (opt) {
        case OPT_HOST:
            if (!optarg[0] || strlen(optarg) >= sizeof a.host)
                return bad_usage("--host: '%s' is not a host name", optarg);
            snprintf(a.host, sizeof a.host, "%s", optarg);
            host_given = true;
            break;
        case OPT_SERVER:
            if (servers_add(&a, optarg) < 0)
                return bad_usage("--server: '%s' is not a list of HOST[:PORT] (at most 16)", optarg);
            break;
        case OPT_PORT:
            v = strtol(optarg, &end, 10);
            if (*end || !optarg[0] || v < 1 || v > 65535)
                return bad_usage("--port: '%s' is not a port (1-65535)", optarg);
            a.port = (int)v;
            break;
        case OPT_NICK:
            nick = optarg;
            break;
        case OPT_ACCOUNT:
            if (!optarg[0] || strlen(optarg) >= sizeof a.account)
                return bad_usage("--account: '%s' is not an account name", optarg);
            snprintf(a.account, sizeof a.account, "%s", optarg);
            break;
        case OPT_JOIN:
            if (strlen(optarg) >= sizeof a.join)
                return bad_usage("--join: %s: too long", "the list");
            for (char *p = optarg; *p; p++)
                if (*p == ' ')
                    *p = ',';
            snprintf(a.join, sizeof a.join, "%s", optarg);
            break;
        case OPT_SEND:
            so.send_text = optarg;
            script = true;
            break;
        case OPT_DAYS:
            days = optarg;
            script = true;
            break;
        case OPT_DAY:
            day = optarg;
            script = true;
            break;
        case OPT_JSON:
            a.json = true;
            break;
        case OPT_TIMEOUT:
            v = strtol(optarg, &end, 10);
            if (*end || !optarg[0] || v < 1 || v > 86400)
                return bad_usage("--timeout: '%s' is not a number of seconds (1-86400)", optarg);
            so.timeout_s = (int)v;
            break;
        case OPT_LINE:
            a.line_mode = true;
            break;
        case OPT_TLS:
            a.tls = true;
            break;
        case OPT_TLS_CA:
            if (strlen(optarg) >= sizeof a.tls_ca)
                return bad_usage("--tls-ca: '%s': path too long", optarg);
            tls_ca = optarg;
            snprintf(a.tls_ca, sizeof a.tls_ca, "%s", optarg);
            a.tls = true;
            break;
        case OPT_TLS_INSECURE:
            a.tls = a.tls_insecure = true;
            break;
        case OPT_TLS_CERT:
            if (strlen(optarg) >= sizeof a.tls_cert)
                return bad_usage("--tls-cert: '%s': path too long", optarg);
            snprintf(a.tls_cert, sizeof a.tls_cert, "%s", optarg);
            a.tls = true;
            break;
        case 'h':
            usage(stdout);
            return 0;
        case 'V':
            printf("parlor %s\n", PARLOR_CLIENT_VERSION);
            return 0;
        default:
            if (optopt && optopt < 256)
                return bad_usage("unknown option -%c", (char[]){ (char)optopt, '\0' });
            return bad_usage("unknown option or missing value: %s", argv[optind - 1]);
        }
    }
    so.json = a.json;
    if (host_given && a.nservers)
        return bad_usage("%s", "--host and --server cannot be used together");
    servers_finish(&a);
    if (a.port == 6697)
        a.tls = true;
    if (a.tls) {
        char err[256];
        if (net_tls_ctx(&a, err, sizeof err) < 0) {
            fprintf(stderr, "parlor: TLS: %s%s%s\n", err, tls_ca ? "; --tls-ca " : "",
                    tls_ca ? tls_ca : "");
            return EXIT_USAGE;
        }
        if (a.tls_insecure)
            fprintf(stderr, "parlor: WARNING: --tls-insecure: the server's certificate is not "
                    "checked\n");
    }

    /* The rooms must be valid before we bother the server. */
    {
        char copy[sizeof a.join];
        snprintf(copy, sizeof copy, "%s", a.join);
        for (char *save, *tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save))
            if (tok[0] != '#' || !irc_channel_valid(tok, strlen(tok)))
                return bad_usage("--join: '%s' is not a room name (#name)", tok);
    }
    if (days && day)
        return bad_usage("%s", "--days and --day cannot be used together");
    if ((days || day) && so.send_text)
        return bad_usage("%s", "--send cannot be combined with --days or --day");
    if (days) {
        so.kind = SCRIPT_DAYS;
        so.target = days;
        if (optind < argc)
            return bad_usage("unexpected argument '%s'", argv[optind]);
    } else if (day) {
        so.kind = SCRIPT_DAY;
        so.date = day;
        if (optind + 1 != argc)
            return bad_usage("%s", "--day needs a date and a target: --day YYYY-MM-DD '#room'");
        so.target = argv[optind];
        int y, mo, d;
        char tail;
        if (strlen(day) != 10 || sscanf(day, "%4d-%2d-%2d%c", &y, &mo, &d, &tail) != 3 ||
            day[4] != '-' || day[7] != '-')
            return bad_usage("--day: '%s' is not a date (YYYY-MM-DD)", day);
    } else if (optind < argc) {
        return bad_usage("unexpected argument '%s'", argv[optind]);
    }
    if (so.target && !(so.target[0] == '#' ? irc_channel_valid(so.target, strlen(so.target))
                                           : irc_nick_valid(so.target, strlen(so.target))))
        return bad_usage("'%s' is neither a room (#name) nor a nick", so.target);

    bool stdin_tty = isatty(STDIN_FILENO);
    if (!script && !stdin_tty) {
        script = true;
        so.read_stdin = true;
    }
    if (script && so.kind == SCRIPT_SEND && !a.join[0])
        return bad_usage("%s", "sending needs --join: the rooms to send to");

    /* The nick: --nick, else the account, else $USER, else ask. */
    if (!nick && a.account[0])
        nick = a.account;
    if (!nick)
        nick = getenv("USER");
    char *asked = NULL;
    if (!nick || !nick[0]) {
        if (script)
            return bad_usage("%s", "no nick: use --nick");
        asked = ask("Nick: ", false);
        if (!asked || !asked[0]) {
            fprintf(stderr, "parlor: no nick given\n");
            free(asked);
            return EXIT_USAGE;
        }
        nick = asked;
    }
    if (!irc_nick_valid(nick, strlen(nick))) {
        int rc = bad_usage("'%s' is not a valid nick", nick);
        free(asked);
        return rc;
    }
    snprintf(a.want_nick, sizeof a.want_nick, "%s", nick);
    free(asked);

    if (a.account[0]) {
        const char *env = getenv("PARLOR_PASSWORD");
        if (env && env[0]) {
            a.password = strdup(env);
        } else {
            char q[PARLOR_NAME_MAX + 32];
            snprintf(q, sizeof q, "Password for %s: ", a.account);
            a.password = ask(q, true);
            if (!a.password) {
                fprintf(stderr, "parlor: --account needs a password: no terminal to ask on; "
                        "set PARLOR_PASSWORD\n");
                return EXIT_FAILED;
            }
        }
    }

    a.color = isatty(STDOUT_FILENO) && !(getenv("NO_COLOR") && getenv("NO_COLOR")[0]);
    a.loop = uv_default_loop();
    buf_init(&a.in);
    if (script) {
        a.ops = &script_ops;
        a.color = false;
        script_start(&a, &so);
    } else {
        a.ops = &ui_ops;
        ui_start(&a);
    }
    uv_run(a.loop, UV_RUN_DEFAULT);
    uv_loop_close(a.loop);
    buf_free(&a.in);
    if (a.password) {
        memset(a.password, 0, strlen(a.password));
        free(a.password);
    }
    tls_ctx_free(a.tls_ctx);
    buf_free(&a.tls_wait);
    return a.exit_code;
}
