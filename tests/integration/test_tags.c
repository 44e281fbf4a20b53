/* IRCv3 message-tags and what builds on them: client-only tags relayed to
 * message-tags clients only (channels and private messages, across the two
 * workers), TAGMSG, the 4094-byte limit of client tag data (417), labels on
 * TAGMSG and on early errors (421, 451, 461), SASL PLAIN in 400-byte
 * AUTHENTICATE chunks, CHATHISTORY of private conversations (every
 * subcommand, messages to oneself, client tags kept), TARGETS as a
 * draft/chathistory-targets batch, the capabilities advertised and the
 * standard-replies format.  One PostgreSQL for the suite, one parlord (two
 * workers) per test. */
#include <check.h>
#include <regex.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/integration/harness.h"
#include "tests/integration/pg.h"
#include "tests/integration/suites.h"

#define TAG_CAPS "message-tags echo-message batch labeled-response server-time draft/chathistory"
#define FROM_2000 "timestamp=2000-01-01T00:00:00.000Z"
#define TO_2100 "timestamp=2100-01-01T00:00:00.000Z"

/* Start parlord; with `room`, a room name owned by worker `owner` goes to
 * chan[64]. */
static void start(struct it_server *s, const char *room, int owner, char *chan)
{
    const char *extra[] = { "--database", it_suite_pg.conninfo, "--flood-lines", "0", NULL };
    it_server_start(s, extra);
    if (room)
        it_name_owned_by(room, owner, 2, chan, 64);
}

/* A client on `worker` with `caps` ("" for none), registered as `nick`, in
 * room `chan` unless it is NULL. */
static struct it_client *member(const struct it_server *s, int worker, const char *nick,
                                const char *caps, const char *chan)
{
    struct it_client *c = it_connect_on_worker(s, worker);
    if (caps[0]) {
        it_send(c, "CAP REQ :%s", caps);
        it_expect_re(c, " CAP [^ ]+ ACK :");
        it_send(c, "CAP END");
    }
    it_register(c, nick);
    if (chan)
        it_join(c, chan, NULL);
    return c;
}

/* The line's source, after its tags. */
static const char *after_tags(const char *l)
{
    return l[0] == '@' ? strchr(l, ' ') + 1 : l;
}

/* Is `tag` ("+x=1", "msgid") one of the line's tags, whole? A tag given
 * without '=' matches any value. */
static bool has_tag(const char *l, const char *tag)
{
    if (l[0] != '@')
        return false;
    size_t end = strcspn(l, " "), tl = strlen(tag);
    bool key_only = !strchr(tag, '=');
    for (const char *p = l + 1; p < l + end;) {
        size_t n = strcspn(p, "; ");
        if (n == tl && memcmp(p, tag, tl) == 0)
            return true;
        if (key_only && n > tl && memcmp(p, tag, tl) == 0 && p[tl] == '=')
            return true;
        p += n + 1;
    }
    return false;
}

/* The next line from `nick` with command `cmd` (other lines are skipped). */
static const char *next_from(struct it_client *c, const char *nick, const char *cmd)
{
    char want[128];
    snprintf(want, sizeof want, ":%s!", nick);
    long deadline = it_now_ms() + IT_TIMEOUT_MS;
    for (;;) {
        const char *l = it_next_line(c, (int)(deadline - it_now_ms()));
        if (!l)
            it_fail(c, "no %s from %s", cmd, nick);
        const char *src = after_tags(l);
        const char *sp = strchr(src, ' ');
        if (strncmp(src, want, strlen(want)) == 0 && sp && strncmp(sp + 1, cmd, strlen(cmd)) == 0 &&
            sp[1 + strlen(cmd)] == ' ')
            return l;
    }
}

/* Read up to the line holding `marker`: fail if a TAGMSG or a client-only
 * tag came before it (c did not negotiate message-tags). */
static void expect_untagged_until(struct it_client *c, const char *marker)
{
    long deadline = it_now_ms() + IT_TIMEOUT_MS;
    for (;;) {
        const char *l = it_next_line(c, (int)(deadline - it_now_ms()));
        if (!l)
            it_fail(c, "no line with %s", marker);
        if (strstr(l, " TAGMSG ") || (l[0] == '@' && strstr(l, ";+")))
            it_fail(c, "a client without message-tags got: %s", l);
        if (strstr(l, marker))
            return;
    }
}

/* ---- client-only tags -------------------------------------------------- */

START_TEST(test_client_only_tags_reach_message_tags_clients_on_both_workers_only)
{
    struct it_server s;
    char chan[64];
    start(&s, "#tagroom", 1, chan);
    struct it_client *a = member(&s, 0, "tgalice", TAG_CAPS, chan);
    struct it_client *b = member(&s, 1, "tgbob", "message-tags", chan);
    struct it_client *c = member(&s, 1, "tgcarol", "", chan);
    struct it_client *d = member(&s, 0, "tgdave", "server-time", chan);

    it_send(a, "@+example=raw+:=,escaped\\:\\s\\\\;+typing=active;vendor.example/x=1 PRIVMSG %s :hello",
            chan);
    const char *l = next_from(b, "tgalice", "PRIVMSG");
    ck_assert_msg(has_tag(l, "+example=raw+:=,escaped\\:\\s\\\\") && has_tag(l, "+typing=active"), "%s", l);
    ck_assert_msg(!has_tag(l, "vendor.example/x"), "a tag without '+' was relayed: %s", l);
    /* The server's tags come first. */
    ck_assert_msg(strstr(l, "msgid=") < strstr(l, "+example="), "%s", l);
    l = next_from(a, "tgalice", "PRIVMSG");                /* echo-message */
    ck_assert_msg(has_tag(l, "+typing=active") && has_tag(l, "msgid"), "%s", l);
    l = next_from(c, "tgalice", "PRIVMSG");
    ck_assert_msg(l[0] == ':' && strstr(l, " :hello"), "untagged client got: %s", l);
    l = next_from(d, "tgalice", "PRIVMSG");
    ck_assert_msg(has_tag(l, "time") && !strstr(l, ";+") && !strstr(l, "@+"), "server-time only: %s", l);

    /* Private messages and NOTICE, across workers; a repeated key: the last. */
    it_send(a, "@+x=1;+k=1;+k=2 PRIVMSG tgbob :psst");
    l = next_from(b, "tgalice", "PRIVMSG");
    ck_assert_msg(has_tag(l, "+x=1") && has_tag(l, "+k=2") && !has_tag(l, "+k=1"), "%s", l);
    it_send(d, "@+y=2 NOTICE tgbob :from dave");
    l = next_from(b, "tgdave", "NOTICE");
    ck_assert_msg(has_tag(l, "+y=2"), "%s", l);
    it_send(b, "@+z=3 PRIVMSG tgalice :back");
    l = next_from(a, "tgbob", "PRIVMSG");
    ck_assert_msg(has_tag(l, "+z=3"), "%s", l);
    it_send(a, "@+x=2 NOTICE tgcarol :psst");
    l = next_from(c, "tgalice", "NOTICE");
    ck_assert_msg(l[0] == ':', "untagged client got: %s", l);

    it_client_free(a);
    it_client_free(b);
    it_client_free(c);
    it_client_free(d);
    it_server_stop(&s);
}
END_TEST

/* ---- TAGMSG ------------------------------------------------------------- */

START_TEST(test_tagmsg_reaches_message_tags_clients_only_across_workers_with_echo)
{
    struct it_server s;
    char chan[64];
    start(&s, "#tagmsg", 1, chan);
    struct it_client *a = member(&s, 0, "tmalice", TAG_CAPS, chan);
    struct it_client *b = member(&s, 1, "tmbob", "message-tags", chan);
    struct it_client *c = member(&s, 1, "tmcarol", "", chan);

    it_send(a, "@+typing=active TAGMSG %s", chan);
    const char *l = next_from(b, "tmalice", "TAGMSG");
    char tail[80];
    snprintf(tail, sizeof tail, " TAGMSG %s", chan);
    ck_assert_msg(has_tag(l, "+typing=active") && strcmp(l + strlen(l) - strlen(tail), tail) == 0,
                  "%s", l);
    l = next_from(a, "tmalice", "TAGMSG");
    ck_assert_msg(has_tag(l, "+typing=active") && has_tag(l, "msgid"), "echo: %s", l);

    /* Without client-only tags it is still delivered (with none). */
    it_send(a, "@vendor.example/x TAGMSG %s", chan);
    l = next_from(b, "tmalice", "TAGMSG");
    ck_assert_msg(!strstr(l, "vendor") && !strstr(l, ";+"), "%s", l);

    /* To nicks, both ways across the workers. */
    it_send(a, "@+typing=paused TAGMSG tmbob");
    l = next_from(b, "tmalice", "TAGMSG");
    ck_assert_msg(has_tag(l, "+typing=paused") &&
                  strcmp(l + strlen(l) - strlen(" TAGMSG tmbob"), " TAGMSG tmbob") == 0,
                  "no text after the target: %s", l);
    it_send(b, "@+typing=done TAGMSG tmalice");
    l = next_from(a, "tmbob", "TAGMSG");
    ck_assert_msg(has_tag(l, "+typing=done"), "%s", l);

    /* Never to a client without message-tags. */
    it_send(a, "@+typing=active TAGMSG tmcarol");
    it_send(a, "@+typing=active TAGMSG %s", chan);
    it_send(a, "PRIVMSG tmcarol :marker");
    expect_untagged_until(c, ":marker");

    it_client_free(a);
    it_client_free(b);
    it_client_free(c);
    it_server_stop(&s);
}
END_TEST

/* ---- labels --------------------------------------------------------------- */

START_TEST(test_labeled_tagmsg_and_early_errors_carry_the_label)
{
    struct it_server s;
    char chan[64];
    start(&s, "#taglabel", 1, chan);
    struct it_client *a = member(&s, 0, "tlalice", TAG_CAPS, chan);
    struct it_client *q = member(&s, 1, "tlquiet", "labeled-response batch message-tags", chan);

    /* With echo-message: the echo is the labeled response. */
    it_send(a, "@label=tg1;+typing=active TAGMSG %s", chan);
    const char *l = it_expect(a, "@label=tg1");
    ck_assert_msg(strstr(l, " TAGMSG ") && has_tag(l, "+typing=active") && has_tag(l, "msgid"), "%s", l);
    it_send(a, "@label=tg2;+typing=paused TAGMSG tlquiet");
    l = it_expect(a, "@label=tg2");
    ck_assert_msg(strstr(l, " TAGMSG tlquiet") && has_tag(l, "+typing=paused"), "%s", l);
    /* Without it: ACK, for a room and for a nick on the other worker. */
    it_send(q, "@label=tg3;+typing=active TAGMSG %s", chan);
    it_expect_re(q, "^@label=tg3 :[^ ]+ ACK$");
    it_send(q, "@label=tg4;+typing=active TAGMSG tlalice");
    it_expect_re(q, "^@label=tg4 :[^ ]+ ACK$");

    /* Early errors. */
    it_send(a, "@label=tg5 NOSUCHCOMMAND x");
    it_expect_re(a, "^@label=tg5 :[^ ]+ 421 tlalice NOSUCHCOMMAND :");
    it_send(a, "@label=tg6 JOIN");
    it_expect_re(a, "^@label=tg6 :[^ ]+ 461 tlalice JOIN :");
    struct it_client *x = it_connect(&s);
    it_send(x, "CAP REQ :labeled-response batch");
    it_expect(x, " ACK ");
    it_send(x, "@label=tg7 PRIVMSG tlalice :too early");
    it_expect_re(x, "^@label=tg7 :[^ ]+ 451 ");
    it_send(x, "@label=tg8 BOGUS");
    it_expect_re(x, "^@label=tg8 :[^ ]+ 421 [^ ]+ BOGUS :");

    it_client_free(x);
    it_client_free(a);
    it_client_free(q);
    it_server_stop(&s);
}
END_TEST

/* ---- size limit ----------------------------------------------------------- */

START_TEST(test_client_tag_data_over_4094_bytes_is_refused_with_417)
{
    struct it_server s;
    char chan[64];
    start(&s, "#tagsize", 1, chan);
    struct it_client *a = member(&s, 0, "tsalice", TAG_CAPS, chan);
    struct it_client *b = member(&s, 1, "tsbob", "message-tags", chan);
    static char v[4200];
    memset(v, 'v', sizeof v - 1);

    /* "+a=" and 4091 bytes: 4094, the most a client may send. */
    it_send(a, "@+a=%.*s TAGMSG %s", 4091, v, chan);
    const char *l = next_from(b, "tsalice", "TAGMSG");
    ck_assert_msg(strstr(l, ";+a=vvvv") && strlen(strstr(l, "+a=")) == 4094 + 1 + strlen(after_tags(l)),
                  "the tag came cut or changed (%zu bytes)", strlen(l));
    /* One more byte, or counted with the other tags: 417, nothing sent. */
    it_send(a, "@+a=%.*s PRIVMSG %s :too long", 4092, v, chan);
    it_expect(a, " 417 tsalice :Input line was too long");
    it_send(a, "@label=x;+a=%.*s PRIVMSG %s :too long", 4085, v, chan);
    it_expect(a, " 417 tsalice :Input line was too long");
    it_send(a, "PRIVMSG %s :after", chan);
    l = next_from(b, "tsalice", "PRIVMSG");
    ck_assert_msg(strstr(l, " :after"), "a refused line was relayed: %.200s", l);

    it_client_free(a);
    it_client_free(b);
    it_server_stop(&s);
}
END_TEST

/* ---- SASL chunks ---------------------------------------------------------- */

/* Register `nick` as an account with `password` through NickServ. */
static void register_account(const struct it_server *s, const char *nick, const char *password)
{
    struct it_client *c = it_connect_registered(s, nick);
    it_send(c, "PRIVMSG NickServ :REGISTER %s", password);
    it_expect_numeric(c, "900");
    it_client_free(c);
}

/* A connection (nick `nick`, not registered yet) that chose SASL PLAIN. */
static struct it_client *sasl_plain_begin(const struct it_server *s, const char *nick)
{
    struct it_client *c = it_connect(s);
    it_send(c, "CAP REQ :sasl");
    it_expect(c, " ACK :sasl");
    it_send(c, "NICK %s", nick);
    it_send(c, "USER u 0 * :u");
    it_send(c, "AUTHENTICATE PLAIN");
    it_expect(c, "AUTHENTICATE +");
    return c;
}

/* Send "account NUL account NUL password" in 400-byte chunks, with a
 * closing "AUTHENTICATE +" when the payload is a multiple of 400. */
static size_t sasl_send_chunked(struct it_client *c, const char *account, const char *password)
{
    char plain[1024], b64[1500];
    int n = snprintf(plain, sizeof plain, "%s%c%s%c%s", account, 0, account, 0, password);
    it_base64(plain, (size_t)n, b64);
    size_t len = strlen(b64);
    for (size_t i = 0; i < len; i += 400)
        it_send(c, "AUTHENTICATE %.400s", b64 + i);
    if (len % 400 == 0)
        it_send(c, "AUTHENTICATE +");
    return len;
}

START_TEST(test_sasl_plain_payloads_longer_than_400_bytes_come_in_chunks)
{
    struct it_server s;
    start(&s, NULL, 0, NULL);
    /* "tgsasla" twice and 284 bytes: 300 bytes, exactly 400 in base64. */
    char pw1[300], pw2[400];
    memset(pw1, 'p', 284);
    pw1[284] = '\0';
    memset(pw2, 'q', 390);
    pw2[390] = '\0';
    pw1[0] = 'A';
    pw2[0] = 'B';
    register_account(&s, "tgsasla", pw1);
    register_account(&s, "tgsaslb", pw2);

    struct it_client *c = sasl_plain_begin(&s, "tgchunk1");
    ck_assert_uint_eq(sasl_send_chunked(c, "tgsasla", pw1), 400);
    it_expect_numeric(c, "900");
    it_expect_numeric(c, "903");
    it_client_free(c);

    c = sasl_plain_begin(&s, "tgchunk2");
    ck_assert_uint_gt(sasl_send_chunked(c, "tgsaslb", pw2), 400);
    it_expect_numeric(c, "900");
    it_expect_numeric(c, "903");
    it_client_free(c);

    /* A wrong long password is an ordinary failure. */
    c = sasl_plain_begin(&s, "tgchunk3");
    pw2[1] = 'x';
    sasl_send_chunked(c, "tgsaslb", pw2);
    it_expect_numeric(c, "904");
    it_client_free(c);

    /* More than 8 KiB in all, or one chunk over 400 bytes: 905. */
    c = sasl_plain_begin(&s, "tgchunk4");
    static char a400[401];
    memset(a400, 'A', 400);
    for (int i = 0; i < 21; i++)
        it_send(c, "AUTHENTICATE %s", a400);
    it_expect_numeric(c, "905");
    it_send(c, "AUTHENTICATE PLAIN");
    it_expect(c, "AUTHENTICATE +");
    it_send(c, "AUTHENTICATE %sA", a400);
    it_expect_numeric(c, "905");
    it_client_free(c);
    it_server_stop(&s);
}
END_TEST

/* ---- CHATHISTORY ---------------------------------------------------------- */

/* Send "@tags PRIVMSG target :text" (no tags when `tags` is "") and wait
 * for its echo; its msgid goes to msgid[64] unless NULL. */
static void say(struct it_client *c, const char *tags, const char *target, const char *text,
                char *msgid)
{
    if (tags[0])
        it_send(c, "@%s PRIVMSG %s :%s", tags, target, text);
    else
        it_send(c, "PRIVMSG %s :%s", target, text);
    char want[300];
    snprintf(want, sizeof want, " PRIVMSG %s :%s", target, text);
    long deadline = it_now_ms() + IT_TIMEOUT_MS;
    for (;;) {
        const char *l = it_next_line(c, (int)(deadline - it_now_ms()));
        if (!l)
            it_fail(c, "no echo of %s", text);
        const char *src = after_tags(l);
        if (strncmp(src + 1, c->nick, strlen(c->nick)) != 0 || !strstr(src, want))
            continue;
        if (msgid) {
            const char *m = strstr(l, "msgid=");
            ck_assert_msg(m != NULL, "%s", l);
            snprintf(msgid, 64, "%.*s", (int)strcspn(m + 6, "; "), m + 6);
        }
        return;
    }
}

/* "text[+tag;+tag]|..." of the messages of a chathistory batch, or of the
 * targets of a TARGETS batch ("name|name"); the batch type goes to type. */
static const char *replay(struct it_client *c, char *type, size_t type_cap, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static const char *replay(struct it_client *c, char *type, size_t type_cap, const char *fmt, ...)
{
    static char out[4096];
    char cmd[512], ref[64] = "", open_re[64];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof cmd, fmt, ap);
    va_end(ap);
    it_send(c, "CHATHISTORY %s", cmd);
    out[0] = '\0';
    long deadline = it_now_ms() + IT_TIMEOUT_MS;
    for (;;) {
        const char *l = it_next_line(c, (int)(deadline - it_now_ms()));
        if (!l)
            it_fail(c, "no complete answer to CHATHISTORY %s", cmd);
        const char *src = after_tags(l);
        if (!ref[0]) {
            if (strstr(src, " FAIL "))
                it_fail(c, "CHATHISTORY %s: %s", cmd, l);
            if (sscanf(src, ":%*s BATCH +%63s %63s", ref, open_re) == 2)
                snprintf(type, type_cap, "%s", open_re);
            else
                ref[0] = '\0';
            continue;
        }
        char end[80], tag[80];
        snprintf(end, sizeof end, "BATCH -%s", ref);
        if (strstr(src, end))
            return out;
        snprintf(tag, sizeof tag, "batch=%s", ref);
        if (!has_tag(l, tag))
            continue;
        if (out[0])
            strcat(out, "|");
        const char *t = strstr(src, " CHATHISTORY TARGETS ");
        if (t) {
            strncat(out, t + 21, strcspn(t + 21, " "));
            continue;
        }
        const char *text = strstr(strchr(src, ' ') + 1, " :");
        strncat(out, text ? text + 2 : "?", 40);
        strcat(out, "[");
        bool first = true;
        for (const char *p = l + 1; l[0] == '@' && p < src - 1;) {
            size_t n = strcspn(p, "; ");
            if (p[0] == '+') {
                if (!first)
                    strcat(out, ";");
                strncat(out, p, n);
                first = false;
            }
            p += n + 1;
        }
        strcat(out, "]");
    }
}

START_TEST(test_chathistory_replays_private_conversations_and_self_messages_with_their_tags)
{
    struct it_server s;
    char chan[64], type[64], around[64];
    start(&s, "#taghist", 1, chan);
    struct it_client *a = member(&s, 0, "thalice", TAG_CAPS, chan);
    struct it_client *b = member(&s, 1, "thbob", TAG_CAPS, chan);
    say(a, "+x=1", "thbob", "p1", around);
    say(b, "+y=a\\sb", "thalice", "p2", NULL);
    say(a, "", "thbob", "p3", NULL);
    say(a, "+z=3", "thalice", "self1", NULL);
    say(a, "+c=4", chan, "c1", NULL);

    const char *conv = "p1[+x=1]|p2[+y=a\\sb]|p3[]";
    ck_assert_str_eq(replay(a, type, sizeof type, "LATEST thbob * 10"), conv);
    ck_assert_str_eq(type, "chathistory");
    ck_assert_str_eq(replay(a, type, sizeof type, "BEFORE thbob " TO_2100 " 10"), conv);
    ck_assert_str_eq(replay(a, type, sizeof type, "AFTER thbob " FROM_2000 " 10"), conv);
    ck_assert_str_eq(replay(a, type, sizeof type, "AROUND thbob msgid=%s 10", around), conv);
    ck_assert_str_eq(replay(a, type, sizeof type, "BETWEEN thbob " FROM_2000 " " TO_2100 " 10"), conv);
    ck_assert_str_eq(replay(a, type, sizeof type, "AFTER thbob msgid=%s 1", around), "p2[+y=a\\sb]");
    /* The other side reads the same conversation. */
    ck_assert_str_eq(replay(b, type, sizeof type, "LATEST thalice * 10"), conv);
    /* A message to oneself, once. */
    ck_assert_str_eq(replay(a, type, sizeof type, "LATEST thalice * 10"), "self1[+z=3]");
    ck_assert_str_eq(replay(a, type, sizeof type, "BETWEEN thalice " TO_2100 " " FROM_2000 " 10"),
                     "self1[+z=3]");
    ck_assert_str_eq(replay(b, type, sizeof type, "LATEST %s * 10", chan), "c1[+c=4]");
    /* A client without message-tags gets no client tags. */
    struct it_client *d = member(&s, 1, "thdave", "batch server-time draft/chathistory", chan);
    ck_assert_str_eq(replay(d, type, sizeof type, "LATEST %s * 10", chan), "c1[]");

    it_client_free(d);
    it_client_free(a);
    it_client_free(b);
    it_server_stop(&s);
}
END_TEST

START_TEST(test_chathistory_targets_is_a_batch_in_time_order)
{
    struct it_server s;
    char chan[64], type[64];
    start(&s, "#tagtargets", 0, chan);
    struct it_client *a = member(&s, 0, "ttalice", TAG_CAPS, chan);
    struct it_client *b = member(&s, 1, "ttbob", "", NULL);
    struct it_client *c = member(&s, 1, "ttcarol", "", NULL);
    say(a, "", "ttcarol", "first", NULL);
    say(a, "", chan, "second", NULL);
    say(a, "", "ttbob", "third", NULL);
    say(a, "", "ttalice", "fourth", NULL);
    char want[128];
    snprintf(want, sizeof want, "ttcarol|%s|ttbob|ttalice", chan);
    ck_assert_str_eq(replay(a, type, sizeof type, "TARGETS " FROM_2000 " " TO_2100 " 10"), want);
    ck_assert_str_eq(type, "draft/chathistory-targets");
    /* Asked backwards, the same order: oldest first. */
    ck_assert_str_eq(replay(a, type, sizeof type, "TARGETS " TO_2100 " " FROM_2000 " 2"),
                     "ttbob|ttalice");
    it_client_free(a);
    it_client_free(b);
    it_client_free(c);
    it_server_stop(&s);
}
END_TEST

/* ---- capabilities and standard replies ------------------------------------ */

static bool matches(const char *s, const char *re)
{
    regex_t r;
    ck_assert_int_eq(regcomp(&r, re, REG_EXTENDED | REG_NOSUB), 0);
    bool ok = regexec(&r, s, 0, NULL, 0) == 0;
    regfree(&r);
    return ok;
}

/* FAIL <command> <code> [<context>...] :<description> */
#define STANDARD_REPLY "^:[^ ]+ (FAIL|WARN|NOTE) [^ :]+ [A-Z0-9_]+( [^ :][^ ]*)* :[^ ].*$"

START_TEST(test_caps_advertised_event_playback_has_only_messages_and_fails_are_standard)
{
    struct it_server s;
    char chan[64], type[64];
    start(&s, "#tagcaps", 1, chan);
    struct it_client *x = it_connect(&s);
    it_send(x, "CAP LS 302");
    const char *l = it_expect(x, " CAP * LS :");
    ck_assert_msg(matches(l, "[: ]standard-replies( |$)") && matches(l, "[: ]draft/event-playback( |$)") &&
                  matches(l, "[: ]message-tags( |$)"), "%s", l);
    it_send(x, "CAP REQ :standard-replies draft/event-playback batch server-time draft/chathistory");
    it_expect(x, " ACK :standard-replies");
    it_send(x, "CAP END");
    it_register(x, "tcxavier");
    it_join(x, chan, NULL);
    struct it_client *b = member(&s, 1, "tcbob", "echo-message", chan);
    say(b, "", chan, "m1", NULL);
    it_send(b, "PART %s", chan);
    next_from(x, "tcbob", "PART");
    /* Events are not stored: the playback holds the message only. */
    ck_assert_str_eq(replay(x, type, sizeof type, "LATEST %s * 10", chan), "m1[]");

    it_send(x, "CHATHISTORY LATEST #tagnowhere * 10");
    l = it_expect(x, " FAIL ");
    ck_assert_msg(matches(l, STANDARD_REPLY) && strstr(l, " FAIL CHATHISTORY INVALID_TARGET LATEST #tagnowhere :"),
                  "%s", l);
    it_send(x, "CHATHISTORY LATEST tcbob * :1 2");
    l = it_expect(x, " FAIL ");
    ck_assert_msg(matches(l, STANDARD_REPLY) && strstr(l, " INVALID_PARAMS "), "%s", l);
    it_send(x, "CHATHISTORY");
    l = it_expect(x, " FAIL ");
    ck_assert_msg(matches(l, STANDARD_REPLY), "%s", l);
    ck_assert_int_eq(it_send_raw(x, "PRIVMSG tcbob :\xff\xfe\r\n", 19), 0);
    l = it_expect(x, " FAIL ");
    ck_assert_msg(matches(l, STANDARD_REPLY) && strstr(l, " FAIL PRIVMSG INVALID_UTF8 :"), "%s", l);

    it_client_free(x);
    it_client_free(b);
    it_server_stop(&s);
}
END_TEST

Suite *tags_suite(void)
{
    Suite *s = suite_create("tags");
    TCase *tc = tcase_create("tags");
    tcase_set_timeout(tc, 60);
    tcase_add_unchecked_fixture(tc, it_suite_pg_up, it_suite_pg_down);
    tcase_add_test(tc, test_client_only_tags_reach_message_tags_clients_on_both_workers_only);
    tcase_add_test(tc, test_tagmsg_reaches_message_tags_clients_only_across_workers_with_echo);
    tcase_add_test(tc, test_labeled_tagmsg_and_early_errors_carry_the_label);
    tcase_add_test(tc, test_client_tag_data_over_4094_bytes_is_refused_with_417);
    tcase_add_test(tc, test_sasl_plain_payloads_longer_than_400_bytes_come_in_chunks);
    tcase_add_test(tc, test_chathistory_replays_private_conversations_and_self_messages_with_their_tags);
    tcase_add_test(tc, test_chathistory_targets_is_a_batch_in_time_order);
    tcase_add_test(tc, test_caps_advertised_event_playback_has_only_messages_and_fails_are_standard);
    suite_add_tcase(s, tc);
    return s;
}
