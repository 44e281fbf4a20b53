/* common/irc.c: line parser, UTF-8 validation, casemapping, name rules. */
#include <check.h>
#include <errno.h>
#include <string.h>

#include "common/irc.h"

/* ---- irc_parse ---- */

START_TEST(test_parse_plain_command_with_params)
{
    char line[] = "JOIN #room key";
    struct irc_msg m;
    ck_assert_int_eq(irc_parse(line, &m), 0);
    ck_assert_ptr_null(m.tags);
    ck_assert_ptr_null(m.source);
    ck_assert_str_eq(m.command, "JOIN");
    ck_assert_int_eq(m.nparams, 2);
    ck_assert_str_eq(m.params[0], "#room");
    ck_assert_str_eq(m.params[1], "key");
    ck_assert(!m.trailing);
}
END_TEST

START_TEST(test_parse_command_without_params)
{
    char line[] = "QUIT";
    struct irc_msg m;
    ck_assert_int_eq(irc_parse(line, &m), 0);
    ck_assert_str_eq(m.command, "QUIT");
    ck_assert_int_eq(m.nparams, 0);
    ck_assert(!m.trailing);
}
END_TEST

START_TEST(test_parse_line_with_source)
{
    char line[] = ":alice!a@host PRIVMSG #room hi";
    struct irc_msg m;
    ck_assert_int_eq(irc_parse(line, &m), 0);
    ck_assert_ptr_null(m.tags);
    ck_assert_str_eq(m.source, "alice!a@host");
    ck_assert_str_eq(m.command, "PRIVMSG");
    ck_assert_int_eq(m.nparams, 2);
    ck_assert_str_eq(m.params[0], "#room");
    ck_assert_str_eq(m.params[1], "hi");
}
END_TEST

START_TEST(test_parse_line_with_tags_and_trailing)
{
    char line[] = "@time=2026-01-01T00:00:00.000Z;+draft/reply=12 PRIVMSG #room :hello there";
    struct irc_msg m;
    ck_assert_int_eq(irc_parse(line, &m), 0);
    ck_assert_str_eq(m.tags, "time=2026-01-01T00:00:00.000Z;+draft/reply=12");
    ck_assert_ptr_null(m.source);
    ck_assert_str_eq(m.command, "PRIVMSG");
    ck_assert_int_eq(m.nparams, 2);
    ck_assert_str_eq(m.params[1], "hello there");
    ck_assert(m.trailing);
}
END_TEST

START_TEST(test_parse_line_with_tags_and_source)
{
    char line[] = "@msgid=abc :srv.example 001 bob :Welcome";
    struct irc_msg m;
    ck_assert_int_eq(irc_parse(line, &m), 0);
    ck_assert_str_eq(m.tags, "msgid=abc");
    ck_assert_str_eq(m.source, "srv.example");
    ck_assert_str_eq(m.command, "001");
    ck_assert_int_eq(m.nparams, 2);
    ck_assert_str_eq(m.params[0], "bob");
    ck_assert_str_eq(m.params[1], "Welcome");
}
END_TEST

START_TEST(test_parse_fields_point_into_the_line)
{
    char line[] = ":src CMD a :b c";
    struct irc_msg m;
    ck_assert_int_eq(irc_parse(line, &m), 0);
    ck_assert_ptr_eq(m.source, line + 1);
    ck_assert_ptr_eq(m.command, line + 5);
    ck_assert_ptr_eq(m.params[0], line + 9);
    ck_assert_ptr_eq(m.params[1], line + 12);
}
END_TEST

START_TEST(test_parse_trailing_keeps_spaces_and_colons)
{
    char line[] = "PRIVMSG #room :  see: http://x :) a  ";
    struct irc_msg m;
    ck_assert_int_eq(irc_parse(line, &m), 0);
    ck_assert_int_eq(m.nparams, 2);
    ck_assert_str_eq(m.params[1], "  see: http://x :) a  ");
    ck_assert(m.trailing);
}
END_TEST

START_TEST(test_parse_empty_trailing_is_a_param)
{
    char line[] = "TOPIC #room :";
    struct irc_msg m;
    ck_assert_int_eq(irc_parse(line, &m), 0);
    ck_assert_int_eq(m.nparams, 2);
    ck_assert_str_eq(m.params[1], "");
    ck_assert(m.trailing);
}
END_TEST

START_TEST(test_parse_colon_inside_a_middle_param_is_not_trailing)
{
    char line[] = "MODE #room +k a:b";
    struct irc_msg m;
    ck_assert_int_eq(irc_parse(line, &m), 0);
    ck_assert_int_eq(m.nparams, 3);
    ck_assert_str_eq(m.params[2], "a:b");
    ck_assert(!m.trailing);
}
END_TEST

START_TEST(test_parse_multiple_spaces_between_params)
{
    char line[] = "  :src    JOIN    #a     #b   ";
    struct irc_msg m;
    ck_assert_int_eq(irc_parse(line, &m), 0);
    ck_assert_str_eq(m.source, "src");
    ck_assert_str_eq(m.command, "JOIN");
    ck_assert_int_eq(m.nparams, 2);
    ck_assert_str_eq(m.params[0], "#a");
    ck_assert_str_eq(m.params[1], "#b");
}
END_TEST

START_TEST(test_parse_fifteen_params_fill_the_array)
{
    char line[] = "CMD 1 2 3 4 5 6 7 8 9 10 11 12 13 14 :fifteen and more";
    struct irc_msg m;
    ck_assert_int_eq(irc_parse(line, &m), 0);
    ck_assert_int_eq(m.nparams, IRC_MAX_PARAMS);
    ck_assert_str_eq(m.params[0], "1");
    ck_assert_str_eq(m.params[13], "14");
    ck_assert_str_eq(m.params[14], "fifteen and more");
    ck_assert(m.trailing);
}
END_TEST

START_TEST(test_parse_more_than_fifteen_params_puts_the_rest_in_the_last)
{
    char line[] = "CMD 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 :17 x";
    struct irc_msg m;
    ck_assert_int_eq(irc_parse(line, &m), 0);
    ck_assert_int_eq(m.nparams, IRC_MAX_PARAMS);
    ck_assert_str_eq(m.params[13], "14");
    ck_assert_str_eq(m.params[14], "15 16 :17 x");
    ck_assert(!m.trailing);
}
END_TEST

START_TEST(test_parse_empty_line_is_rejected)
{
    char line[] = "";
    struct irc_msg m;
    ck_assert_int_eq(irc_parse(line, &m), -EINVAL);
}
END_TEST

START_TEST(test_parse_line_of_only_spaces_is_rejected)
{
    char line[] = "     ";
    struct irc_msg m;
    ck_assert_int_eq(irc_parse(line, &m), -EINVAL);
}
END_TEST

START_TEST(test_parse_line_without_a_command_is_rejected)
{
    const char *cases[] = { ":source", ":source   ", "@a=b", "@a=b :src", "@a=b   " };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char line[32];
        strcpy(line, cases[i]);
        struct irc_msg m;
        ck_assert_msg(irc_parse(line, &m) == -EINVAL, "accepted \"%s\"", cases[i]);
    }
}
END_TEST

/* ---- utf8_valid ---- */

START_TEST(test_utf8_accepts_ascii_korean_and_four_byte_max)
{
    ck_assert(utf8_valid("", 0));
    ck_assert(utf8_valid("hello", 5));
    ck_assert(utf8_valid("민영", strlen("민영")));
    ck_assert(utf8_valid("\xc2\x80", 2));            /* U+0080, smallest 2-byte */
    ck_assert(utf8_valid("\xe0\xa0\x80", 3));        /* U+0800, smallest 3-byte */
    ck_assert(utf8_valid("\xed\x9f\xbf", 3));        /* U+D7FF, just below surrogates */
    ck_assert(utf8_valid("\xee\x80\x80", 3));        /* U+E000, just above */
    ck_assert(utf8_valid("\xf0\x9f\x98\x80", 4));    /* U+1F600 */
    ck_assert(utf8_valid("\xf4\x8f\xbf\xbf", 4));    /* U+10FFFF */
}
END_TEST

START_TEST(test_utf8_rejects_overlong_encodings)
{
    ck_assert(!utf8_valid("\xc0\xaf", 2));           /* '/' in two bytes */
    ck_assert(!utf8_valid("\xc1\xbf", 2));
    ck_assert(!utf8_valid("\xe0\x80\xaf", 3));
    ck_assert(!utf8_valid("\xe0\x9f\xbf", 3));       /* U+07FF in three bytes */
    ck_assert(!utf8_valid("\xf0\x80\x80\xaf", 4));
    ck_assert(!utf8_valid("\xf0\x8f\xbf\xbf", 4));   /* U+FFFF in four bytes */
}
END_TEST

START_TEST(test_utf8_rejects_surrogates)
{
    ck_assert(!utf8_valid("\xed\xa0\x80", 3));       /* U+D800 */
    ck_assert(!utf8_valid("\xed\xbf\xbf", 3));       /* U+DFFF */
}
END_TEST

START_TEST(test_utf8_rejects_code_points_above_max)
{
    ck_assert(!utf8_valid("\xf4\x90\x80\x80", 4));   /* U+110000 */
    ck_assert(!utf8_valid("\xf5\x80\x80\x80", 4));
    ck_assert(!utf8_valid("\xff", 1));
}
END_TEST

START_TEST(test_utf8_rejects_truncated_and_stray_bytes)
{
    ck_assert(!utf8_valid("\xeb\xaf", 2));           /* '민' without its last byte */
    ck_assert(!utf8_valid("a\xf0\x9f\x98", 4));
    ck_assert(!utf8_valid("\x80", 1));               /* lone continuation */
    ck_assert(!utf8_valid("\xc3(", 2));              /* lead byte then ASCII */
    /* The length is honoured: a valid sequence cut by len is truncated. */
    ck_assert(!utf8_valid("\xc3\xa9", 1));
}
END_TEST

/* ---- casemapping ---- */

START_TEST(test_casefold_lowers_ascii_only)
{
    char out[32];
    irc_casefold(out, "NiCk[]", 6);
    ck_assert_str_eq(out, "nick[]");
    irc_casefold(out, "민영AB", strlen("민영AB"));
    ck_assert_str_eq(out, "민영ab");
}
END_TEST

START_TEST(test_casefold_in_place_terminates_at_len)
{
    char s[] = "ABCDEF";
    irc_casefold(s, s, 3);
    ck_assert_str_eq(s, "abc");
}
END_TEST

START_TEST(test_casecmp_ignores_ascii_case_only)
{
    ck_assert_int_eq(irc_casecmp("NiCk", "nick"), 0);
    ck_assert_int_eq(irc_casecmp("#Room", "#rOOM"), 0);
    ck_assert_int_eq(irc_casecmp("민영", "민영"), 0);
    ck_assert_int_ne(irc_casecmp("민영", "민수"), 0);
    ck_assert_int_lt(irc_casecmp("abc", "ABD"), 0);
    ck_assert_int_gt(irc_casecmp("abcd", "ABC"), 0);
    /* RFC 1459 casemapping would fold these; CASEMAPPING=ascii does not. */
    ck_assert_int_ne(irc_casecmp("a[", "a{"), 0);
}
END_TEST

START_TEST(test_casehash_equal_for_names_equal_under_casemapping)
{
    ck_assert_uint_eq(irc_casehash("NiCk", 4), irc_casehash("nick", 4));
    ck_assert_uint_eq(irc_casehash("#ROOM", 5), irc_casehash("#room", 5));
    ck_assert_uint_ne(irc_casehash("nick", 4), irc_casehash("nicj", 4));
    size_t k = strlen("민영");
    ck_assert_uint_ne(irc_casehash("민영", k), irc_casehash("민수", k));
    ck_assert_uint_ne(irc_casehash("민영", k), irc_casehash("nick", 4));
}
END_TEST

START_TEST(test_casehash_is_fnv1a_64)
{
    /* Published FNV-1a 64 values: "" and "a". */
    ck_assert_uint_eq(irc_casehash("", 0), 0xcbf29ce484222325ull);
    ck_assert_uint_eq(irc_casehash("a", 1), 0xaf63dc4c8601ec8cull);
    ck_assert_uint_eq(irc_casehash("A", 1), 0xaf63dc4c8601ec8cull);
}
END_TEST

/* ---- names ---- */

static bool nick_ok(const char *s) { return irc_nick_valid(s, strlen(s)); }
static bool chan_ok(const char *s) { return irc_channel_valid(s, strlen(s)); }

START_TEST(test_nick_accepts_ascii_specials_and_korean)
{
    ck_assert(nick_ok("alice"));
    ck_assert(nick_ok("a"));
    ck_assert(nick_ok("Bob-2"));
    ck_assert(nick_ok("[away]"));
    ck_assert(nick_ok("_x_"));
    ck_assert(nick_ok("`^{}|\\"));
    ck_assert(nick_ok("민영"));
    ck_assert(nick_ok("민영2"));
    ck_assert(nick_ok("José"));
    ck_assert(nick_ok("\xf0\x9f\x98\x80"));          /* an emoji is a symbol, allowed */
}
END_TEST

START_TEST(test_nick_rejects_leading_digit_or_dash)
{
    ck_assert(!nick_ok("1abc"));
    ck_assert(!nick_ok("-abc"));
    ck_assert(nick_ok("a1-"));
}
END_TEST

START_TEST(test_nick_rejects_empty_and_too_long)
{
    char s[IRC_NICK_MAX + 2];
    memset(s, 'n', sizeof s);
    ck_assert(!irc_nick_valid(s, 0));
    ck_assert(irc_nick_valid(s, IRC_NICK_MAX));
    ck_assert(!irc_nick_valid(s, IRC_NICK_MAX + 1));
    /* The limit is bytes: eleven 3-byte Hangul syllables are 33 bytes. */
    char k[64] = "";
    for (int i = 0; i < 11; i++)
        strcat(k, "민");
    ck_assert(!nick_ok(k));
    k[30] = '\0';
    ck_assert(nick_ok(k));
}
END_TEST

START_TEST(test_nick_rejects_space_comma_and_punctuation)
{
    const char *bad[] = { "a b", "a,b", "a:b", "a!b", "a@b", "#ab", "a.b", "a*",
                          "a\tb", "a\x01", "a\x7f" };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        ck_assert_msg(!nick_ok(bad[i]), "accepted \"%s\"", bad[i]);
    ck_assert(!irc_nick_valid("a\0b", 3));
}
END_TEST

START_TEST(test_nick_rejects_invisible_and_space_code_points)
{
    const char *bad[] = {
        "a\xc2\x85",          /* U+0085 NEXT LINE */
        "a\xc2\xa0",          /* U+00A0 NO-BREAK SPACE */
        "a\xc2\xad",          /* U+00AD SOFT HYPHEN */
        "a\xe1\x9a\x80",      /* U+1680 OGHAM SPACE MARK */
        "a\xe2\x80\x80",      /* U+2000 EN QUAD */
        "a\xe2\x80\x8b",      /* U+200B ZERO WIDTH SPACE */
        "a\xe2\x80\x8f",      /* U+200F RIGHT-TO-LEFT MARK */
        "a\xe2\x80\xa8",      /* U+2028 LINE SEPARATOR */
        "a\xe2\x80\xae",      /* U+202E RIGHT-TO-LEFT OVERRIDE */
        "a\xe2\x80\xaf",      /* U+202F NARROW NO-BREAK SPACE */
        "a\xe2\x81\x9f",      /* U+205F MEDIUM MATHEMATICAL SPACE */
        "a\xe2\x81\xa6",      /* U+2066 LEFT-TO-RIGHT ISOLATE */
        "a\xe2\x81\xaf",      /* U+206F */
        "a\xe3\x80\x80",      /* U+3000 IDEOGRAPHIC SPACE */
        "a\xef\xbb\xbf",      /* U+FEFF BOM */
        "a\xf3\xa0\x80\x81",  /* U+E0001 LANGUAGE TAG */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        ck_assert_msg(!nick_ok(bad[i]), "accepted case %zu", i);
    /* Neighbours of the forbidden ranges are fine. */
    ck_assert(nick_ok("a\xc2\xa1"));                 /* U+00A1 ¡ */
    ck_assert(nick_ok("a\xe2\x80\x90"));             /* U+2010 HYPHEN */
    ck_assert(nick_ok("a\xe2\x80\xb0"));             /* U+2030 PER MILLE */
}
END_TEST

START_TEST(test_nick_rejects_invalid_utf8)
{
    ck_assert(!nick_ok("a\xc0\xaf"));
    ck_assert(!nick_ok("a\xed\xa0\x80"));
    ck_assert(!irc_nick_valid("민", 2));
}
END_TEST

START_TEST(test_channel_accepts_hash_names_including_korean)
{
    ck_assert(chan_ok("#a"));
    ck_assert(chan_ok("#room"));
    ck_assert(chan_ok("#방"));
    ck_assert(chan_ok("#1-2_3.x!@"));
}
END_TEST

START_TEST(test_channel_rejects_missing_hash_and_bad_length)
{
    ck_assert(!chan_ok("room"));
    ck_assert(!chan_ok("&room"));
    ck_assert(!chan_ok("#"));
    ck_assert(!chan_ok(""));
    char s[IRC_CHANNEL_MAX + 2];
    memset(s, 'c', sizeof s);
    s[0] = '#';
    ck_assert(irc_channel_valid(s, IRC_CHANNEL_MAX));
    ck_assert(!irc_channel_valid(s, IRC_CHANNEL_MAX + 1));
}
END_TEST

START_TEST(test_channel_rejects_separators_and_controls)
{
    const char *bad[] = { "#a b", "#a,b", "#a:b", "#a\ab", "#a\rb", "#a\nb" };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        ck_assert_msg(!chan_ok(bad[i]), "accepted case %zu", i);
    ck_assert(!irc_channel_valid("#a\0b", 4));
}
END_TEST

START_TEST(test_channel_rejects_invalid_utf8)
{
    ck_assert(!chan_ok("#\xc0\xaf"));
    ck_assert(!chan_ok("#\xed\xa0\x80"));
    ck_assert(!irc_channel_valid("#방", 3));
}
END_TEST

START_TEST(test_mask_match_handles_stars_questions_and_case)
{
    ck_assert(irc_mask_match("*!*@127.0.0.1", "Alice!~alice@127.0.0.1"));
    ck_assert(irc_mask_match("alice!*@*", "ALICE!~a@host"));
    ck_assert(irc_mask_match("a?ice*", "alice!x@y"));
    ck_assert(irc_mask_match("*", ""));
    ck_assert(irc_mask_match("*a*b*c", "xxaxxbxxc"));
    ck_assert(!irc_mask_match("*a*b*c", "xxaxxbxxcx"));
    ck_assert(!irc_mask_match("bob!*@*", "alice!~a@host"));
    ck_assert(!irc_mask_match("?", ""));
    ck_assert(irc_mask_match("민영!*@*", "민영!~u@127.0.0.1"));
}
END_TEST


START_TEST(test_utf8_cut_never_splits_a_character)
{
    const char *s = "ab\xea\xb0\x80\xed\x9e\xa3";   /* "ab" + two 3-byte Hangul */
    ck_assert_uint_eq(utf8_cut(s, 8, 8), 8);
    ck_assert_uint_eq(utf8_cut(s, 8, 7), 5);
    ck_assert_uint_eq(utf8_cut(s, 8, 6), 5);
    ck_assert_uint_eq(utf8_cut(s, 8, 5), 5);
    ck_assert_uint_eq(utf8_cut(s, 8, 4), 2);
    ck_assert_uint_eq(utf8_cut(s, 8, 3), 2);
    ck_assert_uint_eq(utf8_cut(s, 8, 0), 0);
    const char *four = "\xf0\x9f\x98\x80x";          /* U+1F600 then x */
    ck_assert_uint_eq(utf8_cut(four, 5, 3), 0);
    ck_assert_uint_eq(utf8_cut(four, 5, 4), 4);
}
END_TEST

START_TEST(test_utf8_copy_cuts_at_a_boundary_and_stays_valid)
{
    char out[5];
    utf8_copy(out, sizeof out, "a\xc3\xa9\xc3\xa9");   /* a é é: 5 bytes, 4 fit */
    ck_assert_str_eq(out, "a\xc3\xa9");
    ck_assert(utf8_valid(out, strlen(out)));
    utf8_copy(out, sizeof out, "abcd");
    ck_assert_str_eq(out, "abcd");
}
END_TEST

START_TEST(test_strip_controls_keeps_formatting_and_ctcp)
{
    char s[64];
    strcpy(s, "\x01" "ACTION \x02" "b\x03" "4c\x0f\x11\x16\x1d\x1e\x1f" "x\x01");
    size_t n = strlen(s);
    ck_assert_uint_eq(irc_strip_controls(s, n), n);
    ck_assert_str_eq(s, "\x01" "ACTION \x02" "b\x03" "4c\x0f\x11\x16\x1d\x1e\x1f" "x\x01");
}
END_TEST

START_TEST(test_strip_controls_removes_escape_bell_del_and_c1)
{
    char s[64];
    strcpy(s, "a\x1b]52;c;ZXZpbA==\x07" "b\x7f" "c\xc2\x9b" "2Jd\xc2\xa0" "e\t");
    size_t n = irc_strip_controls(s, strlen(s));
    ck_assert_str_eq(s, "a]52;c;ZXZpbA==bc2Jd\xc2\xa0" "e ");
    ck_assert_uint_eq(n, strlen(s));
}
END_TEST

START_TEST(test_client_tags_keeps_plus_tags_once_at_their_last_occurrence)
{
    char out[64];
    ck_assert_uint_eq(irc_client_tags("label=1;+a=x;time=2;+b;+a=y;+;;+c=\\s\\:", out, sizeof out),
                      strlen("+b;+a=y;+c=\\s\\:"));
    ck_assert_str_eq(out, "+b;+a=y;+c=\\s\\:");
    ck_assert_uint_eq(irc_client_tags("msgid=1;label=x", out, sizeof out), 0);
    ck_assert_str_eq(out, "");
    /* +ab is not +a; a tag that does not fit is left out whole. */
    ck_assert_str_eq((irc_client_tags("+a=1;+ab=2", out, sizeof out), out), "+a=1;+ab=2");
    ck_assert_uint_eq(irc_client_tags("+a=1;+bbbbbbbbbb=2", out, 12), 4);
    ck_assert_str_eq(out, "+a=1");
}
END_TEST

Suite *irc_suite(void)
{
    Suite *s = suite_create("irc");

    TCase *tc = tcase_create("parse");
    tcase_add_test(tc, test_parse_plain_command_with_params);
    tcase_add_test(tc, test_parse_command_without_params);
    tcase_add_test(tc, test_parse_line_with_source);
    tcase_add_test(tc, test_parse_line_with_tags_and_trailing);
    tcase_add_test(tc, test_parse_line_with_tags_and_source);
    tcase_add_test(tc, test_parse_fields_point_into_the_line);
    tcase_add_test(tc, test_parse_trailing_keeps_spaces_and_colons);
    tcase_add_test(tc, test_parse_empty_trailing_is_a_param);
    tcase_add_test(tc, test_parse_colon_inside_a_middle_param_is_not_trailing);
    tcase_add_test(tc, test_parse_multiple_spaces_between_params);
    tcase_add_test(tc, test_parse_fifteen_params_fill_the_array);
    tcase_add_test(tc, test_parse_more_than_fifteen_params_puts_the_rest_in_the_last);
    tcase_add_test(tc, test_parse_empty_line_is_rejected);
    tcase_add_test(tc, test_parse_line_of_only_spaces_is_rejected);
    tcase_add_test(tc, test_parse_line_without_a_command_is_rejected);
    suite_add_tcase(s, tc);

    tc = tcase_create("utf8");
    tcase_add_test(tc, test_utf8_accepts_ascii_korean_and_four_byte_max);
    tcase_add_test(tc, test_utf8_rejects_overlong_encodings);
    tcase_add_test(tc, test_utf8_rejects_surrogates);
    tcase_add_test(tc, test_utf8_rejects_code_points_above_max);
    tcase_add_test(tc, test_utf8_rejects_truncated_and_stray_bytes);
    tcase_add_test(tc, test_utf8_cut_never_splits_a_character);
    tcase_add_test(tc, test_utf8_copy_cuts_at_a_boundary_and_stays_valid);
    tcase_add_test(tc, test_strip_controls_keeps_formatting_and_ctcp);
    tcase_add_test(tc, test_strip_controls_removes_escape_bell_del_and_c1);
    tcase_add_test(tc, test_client_tags_keeps_plus_tags_once_at_their_last_occurrence);
    suite_add_tcase(s, tc);

    tc = tcase_create("casemapping");
    tcase_add_test(tc, test_casefold_lowers_ascii_only);
    tcase_add_test(tc, test_casefold_in_place_terminates_at_len);
    tcase_add_test(tc, test_casecmp_ignores_ascii_case_only);
    tcase_add_test(tc, test_casehash_equal_for_names_equal_under_casemapping);
    tcase_add_test(tc, test_casehash_is_fnv1a_64);
    tcase_add_test(tc, test_mask_match_handles_stars_questions_and_case);
    suite_add_tcase(s, tc);

    tc = tcase_create("names");
    tcase_add_test(tc, test_nick_accepts_ascii_specials_and_korean);
    tcase_add_test(tc, test_nick_rejects_leading_digit_or_dash);
    tcase_add_test(tc, test_nick_rejects_empty_and_too_long);
    tcase_add_test(tc, test_nick_rejects_space_comma_and_punctuation);
    tcase_add_test(tc, test_nick_rejects_invisible_and_space_code_points);
    tcase_add_test(tc, test_nick_rejects_invalid_utf8);
    tcase_add_test(tc, test_channel_accepts_hash_names_including_korean);
    tcase_add_test(tc, test_channel_rejects_missing_hash_and_bad_length);
    tcase_add_test(tc, test_channel_rejects_separators_and_controls);
    tcase_add_test(tc, test_channel_rejects_invalid_utf8);
    suite_add_tcase(s, tc);

    return s;
}
