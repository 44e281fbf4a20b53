/* Screen columns of UTF-8 text, for tables printed to a terminal (parlorctl
 * answers): East Asian wide and fullwidth characters (Hangul, CJK, kana,
 * fullwidth forms, most emoji) take two columns, combining marks none,
 * everything else one.  It does not depend on the locale, so the master
 * (which never calls setlocale) lines up Korean names like a terminal does. */
#ifndef PARLOR_COMMON_COLUMNS_H
#define PARLOR_COMMON_COLUMNS_H

#include <stddef.h>

/* Columns of s[0..len); an invalid byte counts as one. */
int text_columns(const char *s, size_t len);

#endif
