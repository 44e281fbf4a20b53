/* Issues 11 and 12, the remaining pieces: the `parlor` client follows an
 * IRCv3 STS policy (upgrade, remembered per host, duration=0 forgets it). */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "tests/integration/harness.h"
#include "tests/integration/pg.h"
#include "tests/integration/suites.h"
#include "tests/integration/term.h"
#include "tests/integration/tls_server.h"

#define SCREEN_CAP 16384

/* The contents of the client's STS state file under `state` ("" if none). */
static void read_sts_file(const char *state, char *out, size_t cap)
{
    char path[256];
    snprintf(path, sizeof path, "%s/parlor/sts", state);
    out[0] = '\0';
    FILE *f = fopen(path, "r");
    if (!f)
        return;
    size_t n = fread(out, 1, cap - 1, f);
    out[n] = '\0';
    fclose(f);
}

/* A private state folder for the client (XDG_STATE_HOME) in the server's
 * certificate folder (removed with it). */
static void state_home(const struct tls_server *t, char *out, size_t cap)
{
    snprintf(out, cap, "%s/state", t->certdir);
    ck_assert_int_eq(mkdir(out, 0700), 0);
    setenv("XDG_STATE_HOME", out, 1);
    setenv("SSL_CERT_FILE", t->cert, 1);    /* the system store, for the upgrade */
}

START_TEST(test_parlor_follows_sts_and_remembers_the_policy)
{
    struct tls_server t;
    const char *extra[] = { "--sts-duration", "3600", NULL };
    tls_server_start(&t, extra);
    char state[128], file[1024], bin[512], port[16], out[8192];
    state_home(&t, state, sizeof state);
    snprintf(bin, sizeof bin, "%s", client_path());
    snprintf(port, sizeof port, "%d", t.s.port);
    struct it_client *w = it_connect(&t.s);
    it_register(w, "watcher");
    it_join(w, "#sts", NULL);

    /* Plaintext port: the client sees sts=port=P, reconnects with TLS and
     * sends there; the policy is remembered with its expiry. */
    const char *say[] = { "--host", "localhost", "--port", port, "--nick", "stsbot", "--join",
                          "#sts", "--send", "upgraded by STS", NULL };
    int st = it_run(bin, say, out, sizeof out, 15000);
    ck_assert_msg(st == 0, "parlor (%d): %s", st, out);
    it_expect(w, "PRIVMSG #sts :upgraded by STS");
    it_server_expect_log(&t.s, "registered as stsbot", 1, IT_TIMEOUT_MS);
    ck_assert_msg(it_server_log_count(&t.s, ": TLS TLSv1.") >= 1, "stsbot did not use TLS");
    read_sts_file(state, file, sizeof file);
    char host;
    int p;
    long long expiry;
    ck_assert_msg(sscanf(file, "localhost %d %lld%c", &p, &expiry, &host) == 3 &&
                  p == t.tls_port, "the STS file: \"%s\" (TLS port %d)", file, t.tls_port);
    long long now = (long long)time(NULL);
    ck_assert_msg(expiry > now + 3500 && expiry <= now + 3600, "expiry %lld, now %lld", expiry, now);

    /* Next time, interactive: straight to TLS on the policy's port. */
    struct term term;
    char env[512], args[256], screen[SCREEN_CAP], want[128];
    snprintf(env, sizeof env, "XDG_STATE_HOME=%s SSL_CERT_FILE=%s", state, t.cert);
    snprintf(args, sizeof args, "--host localhost --port %d --nick stsuser --join '#sts'", t.s.port);
    term_start_args(&term, env, args);
    term_wait(&term, "[2:#sts]", screen, sizeof screen);
    term_type(&term, "/win 1");               /* the status window: how it connected */
    term_key(&term, "Enter");
    snprintf(want, sizeof want, "Connecting to localhost:%d with TLS (the server's STS policy)",
             t.tls_port);
    term_wait(&term, want, screen, sizeof screen);
    snprintf(want, sizeof want, "Connected to localhost:%d as stsuser", t.tls_port);
    term_wait(&term, want, screen, sizeof screen);
    ck_assert_msg(!strstr(screen, "The server asks for TLS"), "upgraded again:\n%s", screen);
    it_expect(w, ":stsuser!");
    term_type(&term, "/win 2");
    term_key(&term, "Enter");
    term_type(&term, "hello, secure");
    term_key(&term, "Enter");
    it_expect(w, "PRIVMSG #sts :hello, secure");
    term_type(&term, "/quit");
    term_key(&term, "Enter");
    term_stop(&term);
    it_client_free(w);
    tls_server_stop(&t);
}
END_TEST

/* A TLS connection that sees duration=0 removes the host's policy; other
 * hosts' lines stay. */
START_TEST(test_parlor_sts_duration_zero_forgets_the_policy)
{
    struct tls_server t;
    const char *extra[] = { "--sts-duration", "0", NULL };
    tls_server_start(&t, extra);
    char state[128], file[1024], bin[512], port[16], out[8192], path[256];
    state_home(&t, state, sizeof state);
    snprintf(path, sizeof path, "%s/parlor", state);
    ck_assert_int_eq(mkdir(path, 0700), 0);
    snprintf(path, sizeof path, "%s/parlor/sts", state);
    FILE *f = fopen(path, "w");
    ck_assert(f != NULL);
    long long later = (long long)time(NULL) + 86400;
    fprintf(f, "other.example 6697 %lld\nlocalhost %d %lld\n", later, t.tls_port, later);
    fclose(f);
    snprintf(bin, sizeof bin, "%s", client_path());
    snprintf(port, sizeof port, "%d", t.s.port);
    struct it_client *w = it_connect(&t.s);
    it_register(w, "watcher");
    it_join(w, "#sts", NULL);
    /* The remembered policy takes the plaintext port to TLS; the server
     * withdraws it. */
    const char *say[] = { "--host", "localhost", "--port", port, "--nick", "stsbot", "--join",
                          "#sts", "--send", "policy withdrawn", NULL };
    int st = it_run(bin, say, out, sizeof out, 15000);
    ck_assert_msg(st == 0, "parlor (%d): %s", st, out);
    it_expect(w, "PRIVMSG #sts :policy withdrawn");
    ck_assert_msg(it_server_log_count(&t.s, ": TLS TLSv1.") >= 1, "stsbot did not use TLS");
    read_sts_file(state, file, sizeof file);
    char want[128];
    snprintf(want, sizeof want, "other.example 6697 %lld\n", later);
    ck_assert_msg(strcmp(file, want) == 0, "the STS file: \"%s\"", file);
    /* Without a policy, plaintext stays plaintext (duration=0 asks no upgrade). */
    const char *again[] = { "--host", "localhost", "--port", port, "--nick", "plainbot", "--join",
                            "#sts", "--send", "in plaintext", NULL };
    st = it_run(bin, again, out, sizeof out, 15000);
    ck_assert_msg(st == 0, "parlor (%d): %s", st, out);
    it_expect(w, "PRIVMSG #sts :in plaintext");
    ck_assert_int_eq(it_server_log_count(&t.s, ": TLS TLSv1."), 1);
    it_client_free(w);
    tls_server_stop(&t);
}
END_TEST

Suite *left_suite(void)
{
    Suite *s = suite_create("left");
    TCase *tc = tcase_create("sts");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_parlor_follows_sts_and_remembers_the_policy);
    tcase_add_test(tc, test_parlor_sts_duration_zero_forgets_the_policy);
    suite_add_tcase(s, tc);
    return s;
}
