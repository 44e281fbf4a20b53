/* The game's word lists and what the game does with a word: its shape with
 * hidden letters, hints, and the form guesses are compared in.
 *
 * Lists are data files, one word or title per line (UTF-8), named
 * <category>.<lang>.txt (words/movies.en.txt, words/movies.ko.txt, ...);
 * adding a file adds a category or a language.  Every worker reads them when
 * it starts; blank lines and lines starting with '#' are skipped. */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/irc.h"
#include "common/log.h"
#include "common/paths.h"
#include "worker/game.h"

/* Owned by `lists`; freed by game_words_free(). */
struct word_list {
    char category[GAME_CATEGORY_MAX];
    char lang[GAME_LANG_MAX];
    char **words;
    int n;
};

static struct word_list *lists;
static int nlists;


void game_words_free(void)
{
    for (int i = 0; i < nlists; i++) {
        for (int j = 0; j < lists[i].n; j++)
            free(lists[i].words[j]);
        free(lists[i].words);
    }
    free(lists);
    lists = NULL;
    nlists = 0;
}

static bool name_ok(const char *s, size_t len, size_t cap)
{
    if (len == 0 || len >= cap)
        return false;
    for (size_t i = 0; i < len; i++)
        if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '-' || s[i] == '_'))
            return false;
    return true;
}

static int load_file(const char *path, struct word_list *l)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return -errno;
    char line[1024];
    int cap = 0;
    while (fgets(line, sizeof line, f)) {
        size_t n = strcspn(line, "\r\n");
        line[n] = '\0';
        char *s = line;
        while (*s == ' ' || *s == '\t')
            s++;
        n = strlen(s);
        while (n && (s[n - 1] == ' ' || s[n - 1] == '\t'))
            s[--n] = '\0';
        if (!n || s[0] == '#' || n >= GAME_WORD_MAX || !utf8_valid(s, n))
            continue;
        struct game_word w;
        game_word_split(s, &w);
        if (w.letters == 0 || w.n >= GAME_CPS_MAX)
            continue;
        if (l->n == cap) {
            cap = cap ? cap * 2 : 128;
            l->words = realloc(l->words, (size_t)cap * sizeof *l->words);
            PARLOR_ASSERT(l->words != NULL);
        }
        l->words[l->n] = strdup(s);
        PARLOR_ASSERT(l->words[l->n] != NULL);
        l->n++;
    }
    fclose(f);
    return 0;
}

int game_words_load(const char *dir_setting)
{
    char dir[PATH_MAX];
    if (dir_setting && dir_setting[0])
        snprintf(dir, sizeof dir, "%s", dir_setting);
    else
        data_dir("words", dir, sizeof dir);
    game_words_free();
    DIR *d = opendir(dir);
    if (!d) {
        int e = errno;
        log_warn("game: word lists directory %s: %s; GameServ has no categories", dir, strerror(e));
        return -e;
    }
    int total = 0;
    for (struct dirent *e; (e = readdir(d));) {
        /* <category>.<lang>.txt */
        const char *name = e->d_name;
        size_t len = strlen(name);
        if (len < 5 || strcmp(name + len - 4, ".txt") != 0)
            continue;
        const char *dot = memchr(name, '.', len - 4);
        if (!dot || !name_ok(name, (size_t)(dot - name), GAME_CATEGORY_MAX) ||
            !name_ok(dot + 1, (size_t)(name + len - 4 - dot - 1), GAME_LANG_MAX))
            continue;
        struct word_list l;
        memset(&l, 0, sizeof l);
        snprintf(l.category, sizeof l.category, "%.*s", (int)(dot - name), name);
        snprintf(l.lang, sizeof l.lang, "%.*s", (int)(name + len - 4 - dot - 1), dot + 1);
        char path[PATH_MAX + 300];
        snprintf(path, sizeof path, "%s/%s", dir, name);
        int r = load_file(path, &l);
        if (r < 0 || l.n == 0) {
            if (r < 0)
                log_warn("game: word list %s: %s", path, strerror(-r));
            free(l.words);
            continue;
        }
        lists = realloc(lists, (size_t)(nlists + 1) * sizeof *lists);
        PARLOR_ASSERT(lists != NULL);
        lists[nlists++] = l;
        total += l.n;
    }
    closedir(d);
    log_debug("game: %d words in %d lists from %s", total, nlists, dir);
    return total;
}

bool game_category_exists(const char *category, const char *lang)
{
    for (int i = 0; i < nlists; i++)
        if (strcmp(lists[i].category, category) == 0 && (!lang[0] || strcmp(lists[i].lang, lang) == 0))
            return true;
    return false;
}

static int cmp_lists(const void *a, const void *b)
{
    const struct word_list *x = a, *y = b;
    int c = strcmp(x->category, y->category);
    return c ? c : strcmp(x->lang, y->lang);
}

void game_categories_describe(struct buf *out)
{
    qsort(lists, (size_t)nlists, sizeof *lists, cmp_lists);
    for (int i = 0; i < nlists; i++) {
        if (i == 0 || strcmp(lists[i].category, lists[i - 1].category) != 0)
            buf_appendf(out, "%s%s (", i ? "\n" : "", lists[i].category);
        else
            buf_append_str(out, ", ");
        buf_appendf(out, "%s %d", lists[i].lang, lists[i].n);
        if (i + 1 == nlists || strcmp(lists[i].category, lists[i + 1].category) != 0)
            buf_append_str(out, ")");
    }
}

void game_lang_pick(const char *category, char *out, size_t cap)
{
    int n = 0;
    out[0] = '\0';
    for (int i = 0; i < nlists; i++)
        if (strcmp(lists[i].category, category) == 0 && lists[i].n > 0 && random() % ++n == 0)
            snprintf(out, cap, "%s", lists[i].lang);   /* each language equally likely */
}

int game_word_pick(const char *category, const char *lang, char **avoid, int navoid,
                   char *word, size_t wcap, char *lang_out, size_t lcap)
{
    int total = 0;
    for (int i = 0; i < nlists; i++)
        if (strcmp(lists[i].category, category) == 0 && (!lang[0] || strcmp(lists[i].lang, lang) == 0))
            total += lists[i].n;
    if (total == 0)
        return -ENOENT;
    for (int attempt = 0; attempt < 64; attempt++) {
        int k = (int)(random() % total);
        for (int i = 0; i < nlists; i++) {
            if (strcmp(lists[i].category, category) != 0 || (lang[0] && strcmp(lists[i].lang, lang) != 0))
                continue;
            if (k >= lists[i].n) {
                k -= lists[i].n;
                continue;
            }
            const char *w = lists[i].words[k];
            bool used = false;
            for (int j = 0; j < navoid; j++)
                used = used || (avoid[j] && strcmp(avoid[j], w) == 0);
            if (used && attempt < 63)
                break;
            snprintf(word, wcap, "%s", w);
            snprintf(lang_out, lcap, "%s", lists[i].lang);
            return 0;
        }
    }
    return -ENOENT;
}

/* ---- one word ---- */

static uint32_t decode(const unsigned char *s, uint8_t *len)
{
    if (s[0] < 0x80) {
        *len = 1;
        return s[0];
    }
    if ((s[0] & 0xe0) == 0xc0 && s[1]) {
        *len = 2;
        return (uint32_t)(s[0] & 0x1f) << 6 | (s[1] & 0x3f);
    }
    if ((s[0] & 0xf0) == 0xe0 && s[1] && s[2]) {
        *len = 3;
        return (uint32_t)(s[0] & 0x0f) << 12 | (uint32_t)(s[1] & 0x3f) << 6 | (s[2] & 0x3f);
    }
    if ((s[0] & 0xf8) == 0xf0 && s[1] && s[2] && s[3]) {
        *len = 4;
        return (uint32_t)(s[0] & 0x07) << 18 | (uint32_t)(s[1] & 0x3f) << 12 |
               (uint32_t)(s[2] & 0x3f) << 6 | (s[3] & 0x3f);
    }
    *len = 1;
    return 0xfffd;
}

static bool is_space(uint32_t cp)
{
    return cp == ' ' || cp == '\t' || cp == 0xa0 || cp == 0x3000;
}

/* Punctuation and symbols: shown in the shape, ignored in guesses. */
static bool is_punct(uint32_t cp)
{
    if (cp < 0x80)
        return !((cp >= 'a' && cp <= 'z') || (cp >= 'A' && cp <= 'Z') || (cp >= '0' && cp <= '9'));
    return (cp >= 0xa1 && cp <= 0xbf) || cp == 0xd7 || cp == 0xf7 ||
           (cp >= 0x2000 && cp <= 0x206f) ||      /* general punctuation */
           (cp >= 0x3001 && cp <= 0x303f) ||      /* CJK symbols and punctuation */
           (cp >= 0xff01 && cp <= 0xff0f) || (cp >= 0xff1a && cp <= 0xff20);
}

void game_word_split(const char *word, struct game_word *w)
{
    memset(w, 0, sizeof *w);
    const unsigned char *s = (const unsigned char *)word;
    size_t off = 0;
    while (s[off] && w->n < GAME_CPS_MAX) {
        uint8_t len;
        uint32_t cp = decode(s + off, &len);
        w->cp[w->n] = cp;
        w->len[w->n] = len;
        w->off[w->n] = off;
        if (is_space(cp)) {
            w->kind[w->n] = GW_SPACE;
        } else if (is_punct(cp)) {
            w->kind[w->n] = GW_SHOWN;
        } else {
            w->kind[w->n] = GW_LETTER;
            w->letters++;
        }
        w->n++;
        off += len;
    }
}

void game_word_shape(const char *word, const struct game_word *w, char *out, size_t cap)
{
    struct buf b = BUF_INIT;
    bool need_sep = false;
    int counts[GAME_CPS_MAX], nwords = 0, cur = 0;
    for (int i = 0; i < w->n; i++) {
        if (w->kind[i] == GW_SPACE) {
            if (need_sep)
                buf_append_str(&b, "   ");
            need_sep = false;
            if (cur)
                counts[nwords++] = cur;
            cur = 0;
            continue;
        }
        if (need_sep)
            buf_append_str(&b, " ");
        if (w->kind[i] == GW_LETTER && !w->revealed[i])
            buf_append_str(&b, "_");
        else
            buf_append(&b, word + w->off[i], w->len[i]);
        if (w->kind[i] == GW_LETTER)
            cur++;
        need_sep = true;
    }
    if (cur)
        counts[nwords++] = cur;
    buf_append_str(&b, "  (");
    for (int i = 0; i < nwords; i++)
        buf_appendf(&b, "%s%d", i ? " " : "", counts[i]);
    buf_append_str(&b, ")");
    snprintf(out, cap, "%.*s", (int)b.len, b.data);
    buf_free(&b);
}

bool game_word_reveal(struct game_word *w)
{
    int hidden = 0;
    for (int i = 0; i < w->n; i++)
        hidden += w->kind[i] == GW_LETTER && !w->revealed[i];
    if (hidden == 0)
        return false;
    int k = (int)(random() % hidden);
    for (int i = 0; i < w->n; i++)
        if (w->kind[i] == GW_LETTER && !w->revealed[i] && k-- == 0) {
            w->revealed[i] = true;
            return true;
        }
    return false;
}

void game_normalize(const char *in, char *out, size_t cap)
{
    const unsigned char *s = (const unsigned char *)in;
    size_t o = 0;
    while (*s) {
        uint8_t len;
        uint32_t cp = decode(s, &len);
        bool keep = !is_space(cp) && !is_punct(cp);
        if (keep && o + len < cap) {
            if (len == 1)
                out[o++] = irc_tolower((char)*s);
            else {
                memcpy(out + o, s, len);
                o += len;
            }
        }
        s += len;
    }
    out[o] = '\0';
}
