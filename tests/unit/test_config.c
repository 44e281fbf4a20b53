/* Settings: defaults, the configuration file, flags over the file, errors. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/config.h"
#include "common/log.h"

static struct parlor_config cfg;
static char err[512];

static int parse(int argc, char **argv)
{
    config_defaults(&cfg);
    err[0] = '\0';
    return config_parse_args(&cfg, argc, argv, err, sizeof err);
}

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    fputs(text, f);
    fclose(f);
}

/* path: a mkstemp template, replaced by the name of the new file. */
static void write_temp_file(char *path, const char *text)
{
    int fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    close(fd);
    write_file(path, text);
}

START_TEST(test_defaults_listen_on_loopback_6667_with_limits)
{
    char *argv[] = { "parlord", NULL };
    ck_assert_int_eq(parse(1, argv), 0);
    ck_assert_int_eq(cfg.nlisten, 1);
    ck_assert_str_eq(cfg.listen[0].host, "127.0.0.1");
    ck_assert_int_eq(cfg.listen[0].port, 6667);
    ck_assert_int_eq(cfg.line_length, 512);
    /* The documented defaults (README, parlord.8), each exactly. */
    ck_assert_uint_eq(cfg.sendq, 1024 * 1024);
    ck_assert_int_eq(cfg.workers, (int)sysconf(_SC_NPROCESSORS_ONLN));
    ck_assert_int_eq(cfg.log_level, LOG_INFO);
    ck_assert_str_eq(cfg.server_name, "parlor.local");
    ck_assert_str_eq(cfg.history_tz, "UTC");
    ck_assert_str_eq(cfg.password, "");
    ck_assert_str_eq(cfg.control_path, "");
    ck_assert_str_eq(cfg.spool_dir, "");
    ck_assert_int_eq(cfg.max_clients, 20000);
    ck_assert_int_eq(cfg.max_clients_per_worker, 20000);
    ck_assert_int_eq(cfg.flood_lines, 5);
    ck_assert_int_eq(cfg.flood_burst, 20);
    ck_assert_int_eq(cfg.ping_timeout, 120);
    ck_assert_int_eq(cfg.registration_timeout, 30);
    ck_assert_int_eq(cfg.game_invite_timeout, 60);
    ck_assert_int_eq(cfg.game_round_seconds, 60);
}
END_TEST

START_TEST(test_flags_set_values_and_repeat_listen)
{
    char *argv[] = { "parlord", "--listen", "127.0.0.1:7000", "--listen", "[::1]:7001",
                     "--workers", "3", "--sendq", "65536", "--log-level", "warn", NULL };
    ck_assert_int_eq(parse(11, argv), 0);
    ck_assert_int_eq(cfg.nlisten, 2);
    ck_assert_int_eq(cfg.listen[1].port, 7001);
    ck_assert_str_eq(cfg.listen[1].host, "::1");      /* brackets are only syntax */
    ck_assert_int_eq(cfg.workers, 3);
    ck_assert_uint_eq(cfg.sendq, 65536);
}
END_TEST

START_TEST(test_tls_settings)
{
    char *none[] = { "parlord", NULL };
    ck_assert_int_eq(parse(1, none), 0);
    ck_assert_int_eq(cfg.ntls_listen, 0);
    ck_assert_int_eq(cfg.sts_duration, 2592000);
    ck_assert(!cfg.plaintext_passwords_refused);
    char *ok[] = { "parlord", "--tls-listen", "127.0.0.1:6697", "--tls-listen", "[::1]:6698",
                   "--tls-cert", "/c.pem", "--tls-key", "/k.pem", "--sts-duration", "0",
                   "--plaintext-passwords", "refuse", NULL };
    ck_assert_int_eq(parse(13, ok), 0);
    ck_assert_int_eq(cfg.ntls_listen, 2);
    ck_assert_int_eq(cfg.tls_listen[1].port, 6698);
    ck_assert_int_eq(cfg.nlisten, 1);                  /* the plaintext default stays */
    ck_assert_str_eq(cfg.tls_cert, "/c.pem");
    ck_assert_int_eq(cfg.sts_duration, 0);
    ck_assert(cfg.plaintext_passwords_refused);
    char *nocert[] = { "parlord", "--tls-listen", "127.0.0.1:6697", NULL };
    ck_assert_int_eq(parse(3, nocert), -1);
    ck_assert_ptr_nonnull(strstr(err, "tls-cert"));
    char *bad[] = { "parlord", "--plaintext-passwords", "maybe", NULL };
    ck_assert_int_eq(parse(3, bad), -1);
    ck_assert_ptr_nonnull(strstr(err, "allow or refuse"));
}
END_TEST

START_TEST(test_bad_values_are_refused_with_the_flag_named)
{
    char *a[] = { "parlord", "--workers", "0", NULL };
    ck_assert_int_eq(parse(3, a), -1);
    ck_assert_ptr_nonnull(strstr(err, "workers"));
    char *b[] = { "parlord", "--listen", "nocolon", NULL };
    ck_assert_int_eq(parse(3, b), -1);
    ck_assert_ptr_nonnull(strstr(err, "HOST:PORT"));
    char *c[] = { "parlord", "--log-level", "loud", NULL };
    ck_assert_int_eq(parse(3, c), -1);
    char *d[] = { "parlord", "--no-such-flag", NULL };
    ck_assert_int_eq(parse(2, d), -1);
    ck_assert_ptr_nonnull(strstr(err, "unknown option"));
    char *e[] = { "parlord", "--line-length", "100", NULL };
    ck_assert_int_eq(parse(3, e), -1);
}
END_TEST

START_TEST(test_file_is_read_and_flags_override_it)
{
    char path[] = "/tmp/parlor-conf-XXXXXX";
    write_temp_file(path, "# a comment\n[network]\nlisten = 127.0.0.1:7100\nlisten = 127.0.0.1:7101\n"
                     "[limits]\nsendq = 70000\nmotd = \"hello there\"\nworkers = 2\n");
    char *argv[] = { "parlord", "--config", path, "--workers", "5", NULL };
    ck_assert_int_eq(parse(5, argv), 0);
    ck_assert_int_eq(cfg.nlisten, 2);
    ck_assert_int_eq(cfg.listen[0].port, 7100);
    ck_assert_uint_eq(cfg.sendq, 70000);
    ck_assert_str_eq(cfg.motd, "hello there");
    ck_assert_int_eq(cfg.workers, 5);              /* the flag wins */
    char *argv2[] = { "parlord", "--config", path, "--listen", "127.0.0.1:7200", NULL };
    ck_assert_int_eq(parse(5, argv2), 0);
    ck_assert_int_eq(cfg.nlisten, 1);              /* flags replace the file's addresses */
    ck_assert_int_eq(cfg.listen[0].port, 7200);
    unlink(path);
}
END_TEST

/* Found by fuzz_config: getopt kept its place inside "-xy" after the error
 * on 'x', and the next parse read on from there, in an argv that was gone
 * (heap-use-after-free under ASan).  config.c now resets optind to 0, which
 * makes glibc forget that place. */
START_TEST(test_a_parse_after_an_error_inside_an_option_cluster_starts_afresh)
{
    char *cluster = strdup("-xy");
    char *bad[] = { "parlord", cluster, NULL };
    ck_assert_int_eq(parse(2, bad), -1);
    /* Stale, it used to make the next parse skip its first argument: here
     * --config, so the file was never read. */
    cluster[1] = 'z';
    char path[] = "/tmp/parlor-test-config-XXXXXX";
    write_temp_file(path, "workers = 5\n");
    char *good[] = { "parlord", "--config", path, NULL };
    ck_assert_int_eq(parse(3, good), 0);
    unlink(path);
    free(cluster);
    ck_assert_int_eq(cfg.workers, 5);
}
END_TEST

START_TEST(test_broken_file_names_file_and_line)
{
    char path[] = "/tmp/parlor-conf-XXXXXX";
    write_temp_file(path, "workers = 2\n\nsendq = banana\n");
    char *argv[] = { "parlord", "--config", path, NULL };
    ck_assert_int_eq(parse(3, argv), -1);
    char want[600];
    snprintf(want, sizeof want, "%s:3:", path);
    ck_assert_ptr_nonnull(strstr(err, want));
    ck_assert_ptr_nonnull(strstr(err, "sendq"));
    write_file(path, "just words\n");
    ck_assert_int_eq(parse(3, argv), -1);
    ck_assert_ptr_nonnull(strstr(err, "name = value"));
    write_file(path, "colour = blue\n");
    ck_assert_int_eq(parse(3, argv), -1);
    ck_assert_ptr_nonnull(strstr(err, "unknown setting"));
    unlink(path);
    ck_assert_int_eq(parse(3, argv), -1);          /* the file is gone */
}
END_TEST

START_TEST(test_oper_blocks_are_read_and_checked)
{
    const char *hash = "$argon2id$v=19$m=65536,t=2,p=1$c2FsdHNhbHRzYWx0$aGFzaGhhc2hoYXNoaGFzaGhhc2g";
    char path[] = "/tmp/parlor-conf-XXXXXX", text[1024];
    snprintf(text, sizeof text, "password = serverpass\n[oper]\nname = alice\npassword-hash = %s\n"
             "host = *@10.0.0.*\n[oper]\nname = bob\npassword-hash = %s\n[limits]\nsendq = 70000\n",
             hash, hash);
    write_temp_file(path, text);
    char *argv[] = { "parlord", "--config", path, NULL };
    ck_assert_int_eq(parse(3, argv), 0);
    ck_assert_int_eq(cfg.nopers, 2);
    ck_assert_str_eq(cfg.opers[0].name, "alice");
    ck_assert_str_eq(cfg.opers[0].mask, "*@10.0.0.*");
    ck_assert_str_eq(cfg.opers[1].hash, hash);
    ck_assert_str_eq(cfg.opers[1].mask, "");
    ck_assert_str_eq(cfg.password, "serverpass");  /* outside the blocks: the server's */
    ck_assert_uint_eq(cfg.sendq, 70000);           /* [limits] ended the block */
    write_file(path, "[oper]\nname = carol\npassword-hash = plain-text\n");
    ck_assert_int_eq(parse(3, argv), -1);
    ck_assert_ptr_nonnull(strstr(err, "argon2id"));
    write_file(path, "[oper]\nname = carol\n");
    ck_assert_int_eq(parse(3, argv), -1);
    ck_assert_ptr_nonnull(strstr(err, "without password-hash"));
    snprintf(text, sizeof text, "[oper]\nname = dup\npassword-hash = %s\n[oper]\nname = dup\n", hash);
    write_file(path, text);
    ck_assert_int_eq(parse(3, argv), -1);
    ck_assert_ptr_nonnull(strstr(err, "two [oper] blocks"));
    write_file(path, "[oper]\nsendq = 5000\n");
    ck_assert_int_eq(parse(3, argv), -1);
    ck_assert_ptr_nonnull(strstr(err, "unknown oper setting"));
    unlink(path);
}
END_TEST

Suite *config_suite(void)
{
    Suite *s = suite_create("config");
    TCase *tc = tcase_create("config");
    tcase_add_test(tc, test_defaults_listen_on_loopback_6667_with_limits);
    tcase_add_test(tc, test_flags_set_values_and_repeat_listen);
    tcase_add_test(tc, test_bad_values_are_refused_with_the_flag_named);
    tcase_add_test(tc, test_file_is_read_and_flags_override_it);
    tcase_add_test(tc, test_broken_file_names_file_and_line);
    tcase_add_test(tc, test_a_parse_after_an_error_inside_an_option_cluster_starts_afresh);
    tcase_add_test(tc, test_oper_blocks_are_read_and_checked);
    tcase_add_test(tc, test_tls_settings);
    suite_add_tcase(s, tc);
    return s;
}
