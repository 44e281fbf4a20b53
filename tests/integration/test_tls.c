/* TLS (issue 12): listeners, handshakes on the workers, bad handshakes,
 * certificate reload, TLS in WHOIS and +z rooms, STS, plaintext-passwords,
 * client certificates (CertFP, NickServ CERT, SASL EXTERNAL).
 *
 * Each server gets a self-signed certificate made with the openssl command
 * in its test's directory, and a TLS port besides its plaintext one.  The
 * test client speaks TLS through common/tls.c (it_client_start_tls). */
#include "tests/integration/harness.h"
#include "tests/integration/pg.h"
#include "tests/integration/suites.h"
#include "tests/integration/term.h"
#include "tests/integration/tls_server.h"

#include <stdbool.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/ssl.h>

#include "common/tls.h"

void tls_server_start(struct tls_server *t, const char *const *extra)
{
    strcpy(t->certdir, "/tmp/parlor-tls-XXXXXX");
    ck_assert(mkdtemp(t->certdir) != NULL);
    it_make_cert(t->certdir, "server", "localhost", t->cert, sizeof t->cert);
    t->tls_port = it_free_port();
    ck_assert_int_gt(t->tls_port, 0);
    char listen[64];
    snprintf(listen, sizeof listen, "127.0.0.1:%d", t->tls_port);
    const char *args[40];
    int n = 0;
    args[n++] = "--tls-listen";
    args[n++] = listen;
    args[n++] = "--tls-cert";
    args[n++] = t->cert;
    args[n++] = "--tls-key";
    args[n++] = t->cert;
    for (int i = 0; extra && extra[i] && n < 38; i++)
        args[n++] = extra[i];
    args[n] = NULL;
    it_server_start(&t->s, args);
}

void tls_server_stop(struct tls_server *t)
{
    it_server_stop(&t->s);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", t->certdir);
    ck_assert_int_eq(system(cmd), 0);
}

/* Connect over TLS until the connection lands on `worker`. */
static struct it_client *tls_on_worker(const struct tls_server *t, SSL_CTX *ctx, int worker)
{
    struct it_client *spare[8];
    int nspare = 0;
    struct it_client *c = NULL;
    for (int i = 0; i < 8 && !c; i++) {
        struct it_client *x = it_connect_tls(t->tls_port, ctx);
        if (x->worker == worker)
            c = x;
        else
            spare[nspare++] = x;
    }
    for (int i = 0; i < nspare; i++)
        it_client_free(spare[i]);
    ck_assert_msg(c != NULL, "no TLS connection landed on worker %d", worker);
    return c;
}

START_TEST(test_handshake_and_chat_over_tls_across_workers)
{
    struct tls_server t;
    /* The burst below is 40 lines: without flood pacing (5 lines/s after 20
     * would take 4 s, close to the expectation's bound under load). */
    const char *extra[] = { "--flood-lines", "0", NULL };
    tls_server_start(&t, extra);
    SSL_CTX *ctx = it_tls_ctx(NULL);
    struct it_client *a = tls_on_worker(&t, ctx, 0);
    struct it_client *b = tls_on_worker(&t, ctx, 1);
    struct it_client *p = it_connect_on_worker(&t.s, 1);
    it_register(a, "alice");
    it_register(b, "bob");
    it_register(p, "plain");
    char room[64];
    it_name_owned_by("#sec", 1, 2, room, sizeof room);
    it_join(a, room, NULL);
    it_join(b, room, NULL);
    it_join(p, room, NULL);
    it_send(a, "PRIVMSG %s :hello over TLS", room);
    it_expect(b, "PRIVMSG");
    it_expect(p, ":hello over TLS");
    it_send(p, "PRIVMSG alice :and back in plaintext");
    it_expect(a, ":and back in plaintext");
    it_send(b, "PRIVMSG alice :from bob");
    it_expect(a, ":from bob");
    /* A long burst arrives whole (several TLS records each way). */
    for (int i = 0; i < 40; i++)
        it_send(a, "PRIVMSG %s :line %d %0300d", room, i, i);
    it_expect(b, ":line 39 ");
    it_expect_alive(a);
    it_client_free(a);
    it_client_free(b);
    it_client_free(p);
    SSL_CTX_free(ctx);
    tls_server_stop(&t);
}
END_TEST

/* A counter of `parlorctl stats` (Prometheus), summed over the workers. */
static long stat_value(const struct it_server *s, const char *name)
{
    char ctl[512], out[65536];
    it_parlorctl_path(ctl, sizeof ctl);
    const char *args[] = { "-s", s->control_path, "stats", NULL };
    int st = it_run(ctl, args, out, sizeof out, 10000);
    ck_assert_msg(st == 0, "parlorctl stats: %s", out);
    size_t nl = strlen(name);
    long sum = 0;
    bool seen = false;
    for (char *p = out; (p = strstr(p, name)); p += nl)
        if ((p == out || p[-1] == '\n') && (p[nl] == ' ' || p[nl] == '{')) {
            const char *v = strchr(p, ' ');
            sum += atol(v + 1);
            seen = true;
        }
    ck_assert_msg(seen, "no %s in stats:\n%s", name, out);
    return sum;
}

/* Raw bytes to the TLS port: the server closes the connection (or, for a
 * silent or truncated client, after the registration timeout). */
static void bad_handshake(const struct tls_server *t, const void *data, size_t len, int timeout_ms)
{
    struct it_client *c = it_client_connect(t->tls_port, 0);
    ck_assert(c != NULL);
    if (len)
        ck_assert_int_eq(it_send_raw(c, data, len), 0);
    it_expect_closed(c, NULL, timeout_ms);
    it_client_free(c);
}

START_TEST(test_bad_handshakes_end_cleanly_and_are_counted)
{
    struct tls_server t;
    static const char *const extra[] = { "--registration-timeout", "2", NULL };
    tls_server_start(&t, extra);
    SSL_CTX *ctx = it_tls_ctx(NULL);
    struct it_client *ok = it_connect_tls(t.tls_port, ctx);
    it_register(ok, "steady");
    long before = stat_value(&t.s, "parlor_tls_handshake_failures_total");

    static const char irc[] = "NICK plain\r\nUSER plain 0 * :plain\r\n";
    bad_handshake(&t, irc, sizeof irc - 1, IT_TIMEOUT_MS);
    static const char garbage[] = "\x16\x03\x01\xff\xff garbage garbage garbage garbage";
    bad_handshake(&t, garbage, sizeof garbage - 1, IT_TIMEOUT_MS);
    /* The first bytes of a ClientHello, then nothing: timed out. */
    static const unsigned char partial[] = { 0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc, 0x03, 0x03 };
    bad_handshake(&t, partial, sizeof partial, 2000 + IT_TIMEOUT_MS);
    bad_handshake(&t, NULL, 0, 2000 + IT_TIMEOUT_MS);   /* silent */

    it_server_expect_log(&t.s, "TLS handshake failed: wrong version number", 1, IT_TIMEOUT_MS);
    it_server_expect_log(&t.s, "TLS handshake failed: timed out", 2, IT_TIMEOUT_MS);
    ck_assert(IT_EVENTUALLY(stat_value(&t.s, "parlor_tls_handshake_failures_total") == before + 4, 5000));
    /* The registered TLS client was never disturbed. */
    it_expect_alive(ok);
    it_send(ok, "PRIVMSG steady :still here");
    it_expect(ok, ":still here");
    it_client_free(ok);
    SSL_CTX_free(ctx);
    tls_server_stop(&t);
}
END_TEST


/* The server certificate's fingerprint a new TLS connection sees. */
static void server_fp(int port, SSL_CTX *ctx, char out[TLS_FP_LEN + 1])
{
    struct it_client *c = it_connect_tls(port, ctx);
    ck_assert(tls_peer_fingerprint(c->tls, out));
    it_client_free(c);
}

static void file_fp(const char *path, char out[TLS_FP_LEN + 1])
{
    ck_assert_msg(tls_file_fingerprint(path, out), "no certificate in %s", path);
}

static void ctl_reload(const struct it_server *s, bool want_ok, const char *want)
{
    char ctl[512], out[4096];
    it_parlorctl_path(ctl, sizeof ctl);
    const char *args[] = { "-s", s->control_path, "reload", NULL };
    int st = it_run(ctl, args, out, sizeof out, 10000);
    ck_assert_msg((st == 0) == want_ok && strstr(out, want), "parlorctl reload (status %d): %s", st, out);
}

/* Copy file `from` over `to` (through a temporary file and rename). */
static void replace_file(const char *from, const char *to)
{
    char cmd[700];
    snprintf(cmd, sizeof cmd, "cp %s %s.new && mv %s.new %s", from, to, to, to);
    ck_assert_int_eq(system(cmd), 0);
}

START_TEST(test_reload_takes_a_new_certificate_refuses_a_bad_pair_and_keeps_connections)
{
    struct tls_server t;
    char dir[] = "/tmp/parlor-tlsconf-XXXXXX";
    ck_assert(mkdtemp(dir) != NULL);
    char conf[128], live[128], second[256], third[256], other[256];
    snprintf(conf, sizeof conf, "%s/parlord.conf", dir);
    snprintf(live, sizeof live, "%s/live.pem", dir);
    it_make_cert(dir, "second", "localhost", second, sizeof second);
    it_make_cert(dir, "third", "localhost", third, sizeof third);
    it_make_cert(dir, "other", "localhost", other, sizeof other);
    FILE *f = fopen(conf, "w");
    ck_assert(f != NULL);
    fprintf(f, "tls-cert = %s\ntls-key = %s\n", live, live);
    fclose(f);
    /* The first certificate is the one tls_server_start made. */
    strcpy(t.certdir, "/tmp/parlor-tls-XXXXXX");
    ck_assert(mkdtemp(t.certdir) != NULL);
    it_make_cert(t.certdir, "server", "localhost", t.cert, sizeof t.cert);
    replace_file(t.cert, live);
    t.tls_port = it_free_port();
    char listen[64];
    snprintf(listen, sizeof listen, "127.0.0.1:%d", t.tls_port);
    const char *args[] = { "--config", conf, "--tls-listen", listen, NULL };
    it_server_start(&t.s, args);

    SSL_CTX *ctx = it_tls_ctx(NULL);
    char fp[TLS_FP_LEN + 1], want[TLS_FP_LEN + 1];
    struct it_client *old = it_connect_tls(t.tls_port, ctx);
    it_register(old, "stayer");
    file_fp(t.cert, want);
    ck_assert(tls_peer_fingerprint(old->tls, fp));
    ck_assert_str_eq(fp, want);

    /* A new pair: new connections get it, the old one stays. */
    replace_file(second, live);
    ctl_reload(&t.s, true, "reloaded");
    it_server_expect_log(&t.s, "TLS: certificate reloaded", 2, IT_TIMEOUT_MS);
    file_fp(second, want);
    server_fp(t.tls_port, ctx, fp);
    ck_assert_str_eq(fp, want);
    it_expect_alive(old);

    /* A certificate with another certificate's key: refused, the second stays. */
    char cmd[1200];
    snprintf(cmd, sizeof cmd, "(openssl x509 -in %s; openssl pkey -in %s) > %s.new && mv %s.new %s",
             third, other, live, live, live);
    ck_assert_int_eq(system(cmd), 0);
    ctl_reload(&t.s, false, "the key does not match the certificate");
    server_fp(t.tls_port, ctx, fp);
    ck_assert_str_eq(fp, want);
    /* Garbage: refused as well. */
    f = fopen(live, "w");
    fputs("not a certificate\n", f);
    fclose(f);
    ctl_reload(&t.s, false, "the old certificate stays");
    server_fp(t.tls_port, ctx, fp);
    ck_assert_str_eq(fp, want);

    /* SIGHUP does the same as parlorctl reload. */
    replace_file(third, live);
    kill(t.s.pid, SIGHUP);
    it_server_expect_log(&t.s, "TLS: certificate reloaded", 4, IT_TIMEOUT_MS);
    file_fp(third, want);
    server_fp(t.tls_port, ctx, fp);
    ck_assert_str_eq(fp, want);

    it_expect_alive(old);
    it_send(old, "PRIVMSG stayer :through three certificates");
    it_expect(old, ":through three certificates");
    it_client_free(old);
    SSL_CTX_free(ctx);
    tls_server_stop(&t);
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    ck_assert_int_eq(system(cmd), 0);
}
END_TEST

/* One resumption attempt with a copy of `sess`: did it resume?  *worker
 * (may be NULL): where the connection landed. */
static bool resumes(const struct tls_server *t, SSL_CTX *ctx, SSL_SESSION *sess, int *worker)
{
    struct it_client *c = it_client_connect(t->tls_port, 0);
    ck_assert(c != NULL);
    char err[256];
    SSL_SESSION *copy = SSL_SESSION_dup(sess);        /* OpenSSL uses a TLS 1.3 session once */
    ck_assert_msg(it_client_start_tls_session(c, ctx, copy, IT_TIMEOUT_MS, err, sizeof err) == 0,
                  "handshake: %s", err);
    SSL_SESSION_free(copy);
    it_expect(c, "*** Connected to worker");
    bool r = tls_resumed(c->tls);
    if (worker)
        *worker = c->worker;
    it_client_free(c);
    return r;
}

/* A session made on one worker resumes on the other (the shared ticket key). */
START_TEST(test_a_session_resumes_on_another_worker)
{
    struct tls_server t;
    tls_server_start(&t, NULL);
    SSL_CTX *ctx = it_tls_ctx(NULL);
    struct it_client *first = tls_on_worker(&t, ctx, 0);
    it_register(first, "ticket");           /* TLS 1.3 tickets come after the handshake */
    SSL_SESSION *sess = SSL_get1_session((SSL *)tls_conn_ssl(first->tls));
    ck_assert(sess != NULL);
    it_client_free(first);
    bool resumed_on_1 = false;
    for (int i = 0; i < 8 && !resumed_on_1; i++) {
        int w = -1;
        bool r = resumes(&t, ctx, sess, &w);
        ck_assert_msg(r, "the session was not resumed on worker %d", w);
        resumed_on_1 = w == 1;
    }
    ck_assert_msg(resumed_on_1, "no resumed connection landed on worker 1");
    ck_assert(IT_EVENTUALLY(stat_value(&t.s, "parlor_tls_resumed_total") >= 1, 5000));
    SSL_SESSION_free(sess);
    SSL_CTX_free(ctx);
    tls_server_stop(&t);
}
END_TEST

/* The session-ticket key is rotated every --tls-ticket-rotate seconds: a
 * ticket made before one rotation still resumes (the previous key is
 * kept), one made before two does not (a full handshake, still working). */
START_TEST(test_ticket_key_rotation_keeps_one_previous_key)
{
    struct tls_server t;
    static const char *const extra[] = { "--tls-ticket-rotate", "2", NULL };
    tls_server_start(&t, extra);
    SSL_CTX *ctx = it_tls_ctx(NULL);
    struct it_client *first = it_connect_tls(t.tls_port, ctx);
    it_register(first, "rotor");           /* TLS 1.3 tickets come after the handshake */
    SSL_SESSION *sess = SSL_get1_session((SSL *)tls_conn_ssl(first->tls));
    ck_assert(sess != NULL);
    it_client_free(first);
    ck_assert_msg(resumes(&t, ctx, sess, NULL), "a fresh ticket did not resume");
    int seen = it_server_log_count(&t.s, "TLS: session-ticket key rotated");
    it_server_expect_log(&t.s, "TLS: session-ticket key rotated", seen + 3, 10000);   /* master, 2 workers */
    ck_assert_msg(resumes(&t, ctx, sess, NULL), "a ticket from before one rotation did not resume");
    it_server_expect_log(&t.s, "TLS: session-ticket key rotated", seen + 6, 10000);
    ck_assert_msg(!resumes(&t, ctx, sess, NULL), "a ticket from before two rotations still resumed");
    SSL_SESSION_free(sess);
    SSL_CTX_free(ctx);
    tls_server_stop(&t);
}
END_TEST

START_TEST(test_whois_671_and_secure_only_rooms)
{
    struct tls_server t;
    tls_server_start(&t, NULL);
    SSL_CTX *ctx = it_tls_ctx(NULL);
    struct it_client *sec = tls_on_worker(&t, ctx, 0);
    struct it_client *plain = it_connect_on_worker(&t.s, 1);
    it_register(sec, "secure");
    it_send(plain, "NICK plainy");
    it_send(plain, "USER plainy 0 * :plain");
    it_expect_re(plain, " 004 plainy .* [a-y]*z[a-y]*$");
    it_expect(plain, "CHANMODES=b,k,l,imnpstz ");
    it_expect(plain, " 376 ");
    snprintf(plain->nick, sizeof plain->nick, "plainy");
    /* 671 for the TLS client only, whoever asks, across workers. */
    it_send(plain, "WHOIS secure");
    it_expect(plain, " 671 plainy secure :is using a secure connection");
    it_send(sec, "WHOIS plainy");
    for (const char *l; (l = it_next_line(sec, IT_TIMEOUT_MS)) && !strstr(l, " 318 ");)
        ck_assert_msg(!strstr(l, " 671 "), "671 for a plaintext client: %s", l);
    /* +z: TLS clients only; members already in stay. */
    char room[64];
    it_name_owned_by("#vault", 1, 2, room, sizeof room);
    it_join(sec, room, NULL);
    it_send(sec, "MODE %s +z", room);
    it_expect(sec, "MODE");
    it_send(sec, "MODE %s", room);
    it_expect_re(sec, " 324 secure #vault[0-9]* \\+[a-y]*z");
    it_send(plain, "JOIN %s", room);
    it_expect(plain, " 489 plainy ");
    struct it_client *sec2 = tls_on_worker(&t, ctx, 1);
    it_register(sec2, "secure2");
    it_join(sec2, room, NULL);
    it_send(sec, "MODE %s -z", room);
    it_expect(sec, "-z");
    it_join(plain, room, NULL);
    it_client_free(sec);
    it_client_free(sec2);
    it_client_free(plain);
    SSL_CTX_free(ctx);
    tls_server_stop(&t);
}
END_TEST

/* The CAP LS 302 list a client gets (all its lines, joined). */
static void cap_ls(struct it_client *c, char *out, size_t cap)
{
    it_send(c, "CAP LS 302");
    out[0] = '\0';
    for (;;) {
        const char *l = it_expect(c, " CAP * LS ");
        const char *list = strstr(l, " :");
        ck_assert(list != NULL);
        snprintf(out + strlen(out), cap - strlen(out), "%s ", list + 2);
        if (!strstr(l, " LS * :"))
            return;
    }
}

START_TEST(test_sts_policy_values_on_plaintext_and_tls)
{
    struct tls_server t;
    static const char *const extra[] = { "--sts-duration", "300", NULL };
    tls_server_start(&t, extra);
    SSL_CTX *ctx = it_tls_ctx(NULL);
    char list[4096], want[64];
    struct it_client *p = it_connect(&t.s);
    cap_ls(p, list, sizeof list);
    snprintf(want, sizeof want, " sts=port=%d,duration=300 ", t.tls_port);
    ck_assert_msg(strstr(list, want), "plaintext CAP LS: %s", list);
    ck_assert_msg(strstr(list, " sasl=PLAIN ") && !strstr(list, "EXTERNAL"), "plaintext: %s", list);
    it_send(p, "CAP REQ sts");                  /* not a capability one requests */
    it_expect(p, " NAK ");
    struct it_client *s = it_connect_tls(t.tls_port, ctx);
    cap_ls(s, list, sizeof list);
    ck_assert_msg(strstr(list, " sts=duration=300 ") && !strstr(list, "port="), "TLS CAP LS: %s", list);
    ck_assert_msg(strstr(list, " sasl=PLAIN,EXTERNAL "), "TLS: %s", list);
    /* Without 302 there are no values, and no sts. */
    struct it_client *old = it_connect(&t.s);
    it_send(old, "CAP LS");
    const char *l = it_expect(old, " CAP * LS ");
    ck_assert_msg(!strstr(l, "sts"), "CAP LS without 302: %s", l);
    it_client_free(p);
    it_client_free(s);
    it_client_free(old);
    tls_server_stop(&t);

    /* duration=0 withdraws the policy: no upgrade asked on plaintext. */
    static const char *const zero[] = { "--sts-duration", "0", NULL };
    tls_server_start(&t, zero);
    p = it_connect(&t.s);
    cap_ls(p, list, sizeof list);
    ck_assert_msg(!strstr(list, "sts="), "plaintext CAP LS with duration 0: %s", list);
    s = it_connect_tls(t.tls_port, ctx);
    cap_ls(s, list, sizeof list);
    ck_assert_msg(strstr(list, " sts=duration=0 "), "TLS CAP LS with duration 0: %s", list);
    it_client_free(p);
    it_client_free(s);
    SSL_CTX_free(ctx);
    tls_server_stop(&t);
}
END_TEST

START_TEST(test_plaintext_passwords_refuse_names_the_tls_port)
{
    struct tls_server t;
    static const char *const extra[] = { "--plaintext-passwords", "refuse", NULL };
    tls_server_start(&t, extra);
    char port[16];
    snprintf(port, sizeof port, "port %d", t.tls_port);
    /* PASS before registration. */
    struct it_client *p = it_connect(&t.s);
    it_send(p, "PASS secret-word");
    const char *l = it_expect(p, " 464 ");
    ck_assert_msg(strstr(l, "plaintext") && strstr(l, port), "PASS: %s", l);
    /* SASL PLAIN. */
    it_send(p, "CAP REQ :sasl");
    it_expect(p, " ACK ");
    it_send(p, "AUTHENTICATE PLAIN");
    l = it_expect(p, " 904 ");
    ck_assert_msg(strstr(l, "plaintext") && strstr(l, port), "SASL: %s", l);
    it_send(p, "CAP END");
    it_register(p, "plainpw");
    /* NickServ IDENTIFY and REGISTER: the password is not even looked at. */
    it_send(p, "PRIVMSG NickServ :IDENTIFY plainpw some-password");
    l = it_expect(p, "NOTICE plainpw :");
    ck_assert_msg(strstr(l, "plaintext") && strstr(l, port), "IDENTIFY: %s", l);
    it_send(p, "PRIVMSG NickServ :REGISTER some-password");
    l = it_expect(p, "NOTICE plainpw :");
    ck_assert_msg(strstr(l, "plaintext") && strstr(l, port), "REGISTER: %s", l);
    /* Over TLS the same exchange goes on. */
    SSL_CTX *ctx = it_tls_ctx(NULL);
    struct it_client *s = it_connect_tls(t.tls_port, ctx);
    it_send(s, "CAP REQ :sasl");
    it_expect(s, " ACK ");
    it_send(s, "AUTHENTICATE PLAIN");
    it_expect(s, "AUTHENTICATE +");
    it_client_free(p);
    it_client_free(s);
    SSL_CTX_free(ctx);
    tls_server_stop(&t);
}
END_TEST

/* A TLS client with `cert` (NULL: none) asks for SASL EXTERNAL; returns
 * the reply line to the empty authorization identity (903/904...). */
static struct it_client *external(const struct tls_server *t, const char *cert, const char **outcome)
{
    SSL_CTX *ctx = it_tls_ctx(cert);
    struct it_client *c = it_connect_tls(t->tls_port, ctx);
    SSL_CTX_free(ctx);                      /* the connection keeps its reference */
    it_send(c, "CAP REQ :sasl");
    it_expect(c, " ACK ");
    it_send(c, "AUTHENTICATE EXTERNAL");
    const char *l = it_expect_re(c, "AUTHENTICATE \\+| 90[0-79] ");
    if (strstr(l, "AUTHENTICATE +")) {
        it_send(c, "AUTHENTICATE +");
        l = it_expect_re(c, " 90[0-9] ");
    }
    *outcome = l;
    return c;
}

START_TEST(test_certfp_nickserv_cert_and_sasl_external)
{
    struct tls_server t;
    const char *extra[] = { "--database", it_suite_pg.conninfo, NULL };
    tls_server_start(&t, extra);
    char cert[256], other[256], fp[TLS_FP_LEN + 1];
    it_make_cert(t.certdir, "client", "certy", cert, sizeof cert);
    it_make_cert(t.certdir, "stranger", "stranger", other, sizeof other);
    ck_assert(tls_file_fingerprint(cert, fp));

    SSL_CTX *ctx = it_tls_ctx(cert);
    struct it_client *a = it_connect_tls(t.tls_port, ctx);
    it_register(a, "certy");
    it_send(a, "PRIVMSG NickServ :REGISTER correct-horse-42");
    it_expect(a, " 900 ");
    /* CertFP: shown to its owner, not to others. */
    it_send(a, "WHOIS certy");
    const char *l = it_expect(a, " 276 certy certy :has client certificate fingerprint ");
    ck_assert_msg(strstr(l, fp), "276: %s (want %s)", l, fp);
    struct it_client *p = it_connect(&t.s);
    it_register(p, "nosy");
    it_send(p, "WHOIS certy");
    for (const char *x; (x = it_next_line(p, IT_TIMEOUT_MS)) && !strstr(x, " 318 ");)
        ck_assert_msg(!strstr(x, " 276 "), "CertFP shown to another user: %s", x);

    /* Before CERT ADD the certificate logs nobody in. */
    struct it_client *e = external(&t, cert, &l);
    ck_assert_msg(strstr(l, " 904 ") && strstr(l, "not tied"), "EXTERNAL before CERT ADD: %s", l);
    it_client_free(e);

    it_send(a, "PRIVMSG NickServ :CERT ADD");
    l = it_expect(a, "NOTICE certy :Certificate ");
    ck_assert_msg(strstr(l, fp) && strstr(l, "added"), "CERT ADD: %s", l);
    it_send(a, "PRIVMSG NickServ :CERT LIST");
    it_expect(a, ":1 certificate tied to certy:");
    it_expect(a, fp);
    /* Someone else cannot take it. */
    it_send(p, "PRIVMSG NickServ :REGISTER another-pass-42");
    it_expect(p, " 900 ");
    it_send(p, "PRIVMSG NickServ :CERT ADD %s", fp);
    it_expect(p, "was not added");

    e = external(&t, cert, &l);
    ck_assert_msg(strstr(l, " 900 "), "EXTERNAL: %s", l);
    ck_assert_msg(strstr(l, " certy :You are now logged in as certy"), "EXTERNAL: %s", l);
    it_expect(e, " 903 ");
    it_send(e, "CAP END");
    it_register(e, "certy_two");
    it_client_free(e);
    /* No certificate, another certificate: refused. */
    e = external(&t, NULL, &l);
    ck_assert_msg(strstr(l, " 904 ") && strstr(l, "no client certificate"), "no certificate: %s", l);
    it_client_free(e);
    e = external(&t, other, &l);
    ck_assert_msg(strstr(l, " 904 "), "other certificate: %s", l);
    it_client_free(e);

    it_send(a, "PRIVMSG NickServ :CERT DEL %s", fp);
    it_expect(a, "removed");
    e = external(&t, cert, &l);
    ck_assert_msg(strstr(l, " 904 "), "EXTERNAL after CERT DEL: %s", l);
    it_client_free(e);
    it_client_free(a);
    it_client_free(p);
    SSL_CTX_free(ctx);
    tls_server_stop(&t);
}
END_TEST

/* bin/parlor beside bin/parlorctl. */
static void parlor_path(char *out, size_t cap)
{
    it_parlorctl_path(out, cap);
    char *ctl = strstr(out, "parlorctl");
    ck_assert(ctl != NULL);
    ctl[strlen("parlor")] = '\0';
    it_require_file(out, "bin/parlor");
}

START_TEST(test_parlor_client_tls_verifies_the_certificate)
{
    struct tls_server t;
    tls_server_start(&t, NULL);
    struct it_client *w = it_connect(&t.s);
    it_register(w, "watcher");
    it_join(w, "#tlsroom", NULL);
    char bin[512], port[16], out[8192];
    parlor_path(bin, sizeof bin);
    snprintf(port, sizeof port, "%d", t.tls_port);
    /* Self-signed and no --tls-ca: refused, nothing sent. */
    const char *unverified[] = { "--port", port, "--tls", "--nick", "tlsbot", "--join", "#tlsroom",
                                 "--send", "must not arrive", "--timeout", "5", NULL };
    int st = it_run(bin, unverified, out, sizeof out, 15000);
    ck_assert_msg(st != 0 && strstr(out, "verif"), "parlor without --tls-ca (%d): %s", st, out);
    /* With the server's certificate as the authority. */
    const char *ok[] = { "--port", port, "--tls-ca", t.cert, "--nick", "tlsbot", "--join",
                         "#tlsroom", "--send", "hello over parlor --tls", NULL };
    st = it_run(bin, ok, out, sizeof out, 15000);
    ck_assert_msg(st == 0, "parlor --tls-ca (%d): %s", st, out);
    const char *l = it_expect_re(w, "PRIVMSG #tlsroom :(must not arrive|hello over parlor --tls)");
    ck_assert_msg(strstr(l, "hello over"), "the unverified connection sent: %s", l);
    /* --tls-insecure: works, with a warning. */
    const char *insecure[] = { "--port", port, "--tls-insecure", "--nick", "tlsbot", "--join",
                               "#tlsroom", "--send", "insecure but encrypted", NULL };
    st = it_run(bin, insecure, out, sizeof out, 15000);
    ck_assert_msg(st == 0 && strstr(out, "WARNING") && strstr(out, "not checked"),
                  "parlor --tls-insecure (%d): %s", st, out);
    it_expect(w, "PRIVMSG #tlsroom :insecure but encrypted");
    it_client_free(w);
    tls_server_stop(&t);
}
END_TEST

/* irssi (a real TLS client) under tmux chats with a `parlor --tls` user. */
START_TEST(test_irssi_over_tls_chats_with_parlor_tls)
{
    it_require_file("/usr/bin/irssi", "irssi (apt-get install irssi)");
    struct tls_server t;
    tls_server_start(&t, NULL);
    char home[128];
    snprintf(home, sizeof home, "%s/irssi", t.certdir);
    ck_assert_int_eq(mkdir(home, 0700), 0);
    setenv("PARLOR_CLIENT", "irssi", 1);        /* term.c runs it under tmux */
    struct term term;
    char args[256], screen[8192];
    snprintf(args, sizeof args, "--home=%s -! -n ircuser", home);
    term_start_args(&term, NULL, args);
    term_wait(&term, "Irssi", screen, sizeof screen);
    char line[256];
    snprintf(line, sizeof line, "/connect -tls -notls_verify 127.0.0.1 %d", t.tls_port);
    term_type(&term, line);
    term_key(&term, "Enter");
    it_server_expect_log(&t.s, "registered as ircuser", 1, IT_TIMEOUT_MS);
    ck_assert(it_server_log_count(&t.s, ": TLS TLSv1.") >= 1);
    term_type(&term, "/join #irssi");
    term_key(&term, "Enter");
    term_wait(&term, "has joined #irssi", screen, sizeof screen);

    /* parlor --tls says something: irssi shows it. */
    char bin[512], port[16], out[4096];
    parlor_path(bin, sizeof bin);
    snprintf(port, sizeof port, "%d", t.tls_port);
    const char *say[] = { "--port", port, "--tls-ca", t.cert, "--nick", "tlsfan", "--join",
                          "#irssi", "--send", "hello irssi, from parlor over TLS", NULL };
    int st = it_run(bin, say, out, sizeof out, 15000);
    ck_assert_msg(st == 0, "parlor --tls (%d): %s", st, out);
    term_wait(&term, "hello irssi, from parlor over TLS", screen, sizeof screen);

    /* irssi answers; a TLS user in the room reads it. */
    SSL_CTX *ctx = it_tls_ctx(NULL);
    struct it_client *c = it_connect_tls(t.tls_port, ctx);
    it_register(c, "listener");
    it_join(c, "#irssi", NULL);
    term_type(&term, "hi back over TLS");
    term_key(&term, "Enter");
    const char *l = it_expect(c, "PRIVMSG #irssi :hi back over TLS");
    ck_assert_msg(strncmp(l, ":ircuser!", 9) == 0, "not from irssi: %s", l);
    term_type(&term, "/quit");
    term_key(&term, "Enter");
    term_stop(&term);
    it_client_free(c);
    SSL_CTX_free(ctx);
    tls_server_stop(&t);
}
END_TEST

Suite *tls_suite(void)
{
    Suite *s = suite_create("tls");
    TCase *tc = tcase_create("tls");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_handshake_and_chat_over_tls_across_workers);
    tcase_add_test(tc, test_bad_handshakes_end_cleanly_and_are_counted);
    tcase_add_test(tc, test_reload_takes_a_new_certificate_refuses_a_bad_pair_and_keeps_connections);
    tcase_add_test(tc, test_a_session_resumes_on_another_worker);
    tcase_add_test(tc, test_ticket_key_rotation_keeps_one_previous_key);
    tcase_add_test(tc, test_whois_671_and_secure_only_rooms);
    tcase_add_test(tc, test_sts_policy_values_on_plaintext_and_tls);
    tcase_add_test(tc, test_plaintext_passwords_refuse_names_the_tls_port);
    tcase_add_test(tc, test_parlor_client_tls_verifies_the_certificate);
    tcase_add_test(tc, test_irssi_over_tls_chats_with_parlor_tls);
    suite_add_tcase(s, tc);
    TCase *db = tcase_create("tls with accounts");
    tcase_set_timeout(db, 90);
    tcase_add_unchecked_fixture(db, it_suite_pg_up, it_suite_pg_down);
    tcase_add_test(db, test_certfp_nickserv_cert_and_sasl_external);
    suite_add_tcase(s, db);
    return s;
}
