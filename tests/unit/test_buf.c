/* common/buf.c: growable byte buffer. */
#include <check.h>
#include <string.h>

#include "common/buf.h"

START_TEST(test_new_buffer_is_empty_and_unallocated)
{
    struct buf b = BUF_INIT;
    ck_assert_ptr_null(b.data);
    ck_assert_uint_eq(b.len, 0);
    buf_init(&b);
    ck_assert_ptr_null(b.data);
    ck_assert_uint_eq(b.cap, 0);
    buf_free(&b);
    buf_free(NULL);
}
END_TEST

START_TEST(test_append_keeps_bytes_in_order_including_nul)
{
    struct buf b = BUF_INIT;
    buf_append(&b, "ab\0c", 4);
    buf_append_str(&b, "de");
    buf_append_byte(&b, 'f');
    buf_append(&b, NULL, 0);
    ck_assert_uint_eq(b.len, 7);
    ck_assert_mem_eq(b.data, "ab\0cdef", 7);
    ck_assert_uint_ge(b.cap, b.len);
    buf_free(&b);
    ck_assert_ptr_null(b.data);
    ck_assert_uint_eq(b.len, 0);
    ck_assert_uint_eq(b.cap, 0);
}
END_TEST

START_TEST(test_append_grows_across_many_reallocations)
{
    struct buf b = BUF_INIT;
    for (int i = 0; i < 100000; i++)
        buf_append_byte(&b, (char)('a' + i % 26));
    ck_assert_uint_eq(b.len, 100000);
    for (int i = 0; i < 100000; i += 997)
        ck_assert_int_eq(b.data[i], 'a' + i % 26);
    buf_free(&b);
}
END_TEST

START_TEST(test_reserve_makes_room_without_changing_len)
{
    struct buf b = BUF_INIT;
    buf_append_str(&b, "xy");
    buf_reserve(&b, 1000);
    ck_assert_uint_eq(b.len, 2);
    ck_assert_uint_ge(b.cap, 1002);
    char *before = b.data;
    size_t cap = b.cap;
    buf_reserve(&b, 10);
    ck_assert_ptr_eq(b.data, before);
    ck_assert_uint_eq(b.cap, cap);
    ck_assert_mem_eq(b.data, "xy", 2);
    buf_free(&b);
}
END_TEST

START_TEST(test_appendf_formats_and_returns_length)
{
    struct buf b = BUF_INIT;
    size_t n = buf_appendf(&b, ":%s %03d %s", "srv", 1, "bob");
    ck_assert_uint_eq(n, strlen(":srv 001 bob"));
    ck_assert_uint_eq(b.len, n);
    ck_assert_mem_eq(b.data, ":srv 001 bob", n);
    n = buf_appendf(&b, "%s", "");
    ck_assert_uint_eq(n, 0);
    ck_assert_uint_eq(b.len, strlen(":srv 001 bob"));
    buf_free(&b);
}
END_TEST

START_TEST(test_appendf_grows_beyond_initial_capacity)
{
    struct buf b = BUF_INIT;
    buf_append_str(&b, "head:");
    size_t cap = b.cap;
    char big[5000];
    memset(big, 'z', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    ck_assert_uint_lt(cap, sizeof big);
    size_t n = buf_appendf(&b, "[%s]%d", big, 42);
    ck_assert_uint_eq(n, 1 + 4999 + 1 + 2);
    ck_assert_uint_eq(b.len, 5 + n);
    ck_assert_uint_gt(b.cap, cap);
    ck_assert_mem_eq(b.data, "head:[zzz", 9);
    ck_assert_mem_eq(b.data + b.len - 4, "z]42", 4);
    buf_free(&b);
}
END_TEST

START_TEST(test_appendf_fills_exactly_the_remaining_space)
{
    /* The formatted text fits the spare capacity but its NUL would not. */
    struct buf b = BUF_INIT;
    buf_reserve(&b, 1);
    size_t cap = b.cap;
    char fill[256];
    ck_assert_uint_lt(cap, sizeof fill);
    memset(fill, 'q', cap);
    fill[cap] = '\0';
    size_t n = buf_appendf(&b, "%s", fill);
    ck_assert_uint_eq(n, cap);
    ck_assert_uint_eq(b.len, cap);
    ck_assert_mem_eq(b.data, fill, cap);
    buf_free(&b);
}
END_TEST

START_TEST(test_consume_drops_the_front)
{
    struct buf b = BUF_INIT;
    buf_append_str(&b, "NICK a\r\nUSER b\r\n");
    buf_consume(&b, 8);
    ck_assert_uint_eq(b.len, 8);
    ck_assert_mem_eq(b.data, "USER b\r\n", 8);
    buf_consume(&b, 0);
    ck_assert_uint_eq(b.len, 8);
    buf_consume(&b, 8);
    ck_assert_uint_eq(b.len, 0);
    buf_append_str(&b, "x");
    ck_assert_mem_eq(b.data, "x", 1);
    buf_free(&b);
}
END_TEST

START_TEST(test_clear_keeps_capacity)
{
    struct buf b = BUF_INIT;
    buf_append_str(&b, "something");
    size_t cap = b.cap;
    buf_clear(&b);
    ck_assert_uint_eq(b.len, 0);
    ck_assert_uint_eq(b.cap, cap);
    ck_assert_ptr_nonnull(b.data);
    buf_free(&b);
}
END_TEST

START_TEST(test_shrink_releases_capacity_only_when_empty)
{
    struct buf b = BUF_INIT;
    buf_reserve(&b, 64 * 1024);
    buf_append_str(&b, "pending");
    buf_shrink(&b, 256);
    ck_assert_uint_ge(b.cap, 64 * 1024);   /* not empty: untouched */
    ck_assert_mem_eq(b.data, "pending", 7);

    buf_clear(&b);
    buf_shrink(&b, 256);
    ck_assert_uint_eq(b.cap, 256);
    ck_assert_uint_eq(b.len, 0);
    buf_append_str(&b, "again");
    ck_assert_mem_eq(b.data, "again", 5);

    buf_clear(&b);
    buf_shrink(&b, 1024);                  /* already below keep */
    ck_assert_uint_eq(b.cap, 256);

    buf_shrink(&b, 0);
    ck_assert_ptr_null(b.data);
    ck_assert_uint_eq(b.cap, 0);
    buf_append_str(&b, "fresh");
    ck_assert_mem_eq(b.data, "fresh", 5);
    buf_free(&b);
}
END_TEST

START_TEST(test_append_json_escapes_quotes_backslashes_and_controls)
{
    struct buf b = BUF_INIT;
    buf_append_json(&b, "a\"b\\c\nd\te\001 민영");
    buf_append_byte(&b, '\0');
    ck_assert_str_eq(b.data, "\"a\\\"b\\\\c\\nd\\te\\u0001 민영\"");
    buf_free(&b);
}
END_TEST

START_TEST(test_str_trim_strips_both_ends_in_place)
{
    char s1[] = " \t key = value \r\n";
    ck_assert_str_eq(str_trim(s1), "key = value");
    char s2[] = "   ";
    ck_assert_str_eq(str_trim(s2), "");
    char s3[] = "inner  spaces kept";
    ck_assert_str_eq(str_trim(s3), "inner  spaces kept");
}
END_TEST

Suite *buf_suite(void)
{
    Suite *s = suite_create("buf");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_new_buffer_is_empty_and_unallocated);
    tcase_add_test(tc, test_append_json_escapes_quotes_backslashes_and_controls);
    tcase_add_test(tc, test_str_trim_strips_both_ends_in_place);
    tcase_add_test(tc, test_append_keeps_bytes_in_order_including_nul);
    tcase_add_test(tc, test_append_grows_across_many_reallocations);
    tcase_add_test(tc, test_reserve_makes_room_without_changing_len);
    tcase_add_test(tc, test_appendf_formats_and_returns_length);
    tcase_add_test(tc, test_appendf_grows_beyond_initial_capacity);
    tcase_add_test(tc, test_appendf_fills_exactly_the_remaining_space);
    tcase_add_test(tc, test_consume_drops_the_front);
    tcase_add_test(tc, test_clear_keeps_capacity);
    tcase_add_test(tc, test_shrink_releases_capacity_only_when_empty);
    suite_add_tcase(s, tc);
    return s;
}
