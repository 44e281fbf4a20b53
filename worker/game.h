/* Between the game's two files: the word lists and word helpers
 * (worker/game_words.c) used by the game itself (worker/game.c). */
#ifndef PARLOR_WORKER_GAME_H
#define PARLOR_WORKER_GAME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"

#define GAME_WORD_MAX 200         /* bytes of one word or title */
#define GAME_CATEGORY_MAX 32
#define GAME_LANG_MAX 8
#define GAME_CPS_MAX 100          /* code points of one word */

/* Read every <category>.<lang>.txt of `dir` ("" = the default place: next
 * to the binary, bin/../words or PREFIX/share/parlor/words).  Replaces what
 * was loaded.  Returns the number of words, or -errno when the directory
 * cannot be read (logged once, here). */
int game_words_load(const char *dir);
void game_words_free(void);

/* Is there a list for `category` (any language when lang is "")? */
bool game_category_exists(const char *category, const char *lang);
/* A line per category: "movies (en 115, ko 114)". */
void game_categories_describe(struct buf *out);
/* One of `category`'s languages, at random ("" when it has none). */
void game_lang_pick(const char *category, char *out, size_t cap);
/* Pick a random word of `category` (lang "" = any of its languages) that is
 * not one of `avoid` (navoid of them); copies it and its language. */
int game_word_pick(const char *category, const char *lang, char **avoid, int navoid,
                   char *word, size_t wcap, char *lang_out, size_t lcap);

/* A word split into code points: which ones are hidden letters, which are
 * spaces (word breaks) and which are shown as they are (punctuation). */
struct game_word {
    int n;
    uint32_t cp[GAME_CPS_MAX];
    uint8_t len[GAME_CPS_MAX];    /* UTF-8 bytes of each */
    size_t off[GAME_CPS_MAX];     /* byte offset of each in the word */
    uint8_t kind[GAME_CPS_MAX];   /* GW_LETTER, GW_SPACE, GW_SHOWN */
    bool revealed[GAME_CPS_MAX];
    int letters;                  /* GW_LETTER code points */
};
enum { GW_LETTER = 1, GW_SPACE, GW_SHOWN };

void game_word_split(const char *word, struct game_word *w);
/* "_ _ a _ _   _ _ _" plus the letter counts "(5 3)". */
void game_word_shape(const char *word, const struct game_word *w, char *out, size_t cap);
/* Reveal one hidden letter at random; false when none is left. */
bool game_word_reveal(struct game_word *w);
/* The comparison form of a guess or a word: ASCII letters lowered, spaces
 * and punctuation dropped, everything else (Hangul, ...) kept as typed. */
void game_normalize(const char *in, char *out, size_t cap);

#endif
