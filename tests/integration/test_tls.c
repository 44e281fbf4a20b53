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

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/ssl.h>

#include "common/tls.h"

/* A server with a TLS listener; its certificate is dir/server.pem. */
struct tls_server {
    struct it_server s;
    int tls_port;
    char cert[256];
    char certdir[64];
};

static void tls_server_start(struct tls_server *t, const char *const *extra)
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

static void tls_server_stop(struct tls_server *t)
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
    tls_server_start(&t, NULL);
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

Suite *tls_suite(void)
{
    Suite *s = suite_create("tls");
    TCase *tc = tcase_create("tls");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_handshake_and_chat_over_tls_across_workers);
    tcase_add_test(tc, test_bad_handshakes_end_cleanly_and_are_counted);
    suite_add_tcase(s, tc);
    return s;
}
