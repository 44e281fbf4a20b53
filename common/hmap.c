#include "common/hmap.h"

#include <stdlib.h>
#include <string.h>

#include "common/irc.h"
#include "common/log.h"

static void *xcalloc(size_t n, size_t sz)
{
    void *p = calloc(n, sz);
    PARLOR_ASSERT(p != NULL);
    return p;
}

void hmap_init(struct hmap *m)
{
    m->nb = 16;
    m->b = xcalloc(m->nb, sizeof *m->b);
    m->count = 0;
}

void hmap_free(struct hmap *m)
{
    if (!m->b)
        return;
    for (size_t i = 0; i < m->nb; i++) {
        struct hmap_entry *e = m->b[i];
        while (e) {
            struct hmap_entry *n = e->next;
            free(e->name);
            free(e);
            e = n;
        }
    }
    free(m->b);
    m->b = NULL;
    m->nb = m->count = 0;
}

static uint64_t mix_id(uint64_t x)
{
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdULL;
    x ^= x >> 33;
    return x;
}

static void grow(struct hmap *m)
{
    size_t nb = m->nb * 2;
    struct hmap_entry **b = xcalloc(nb, sizeof *b);
    for (size_t i = 0; i < m->nb; i++) {
        struct hmap_entry *e = m->b[i];
        while (e) {
            struct hmap_entry *n = e->next;
            size_t k = e->hash & (nb - 1);
            e->next = b[k];
            b[k] = e;
            e = n;
        }
    }
    free(m->b);
    m->b = b;
    m->nb = nb;
}

/* Returns the link that points at the matching entry (or at NULL). */
static struct hmap_entry **find(const struct hmap *m, uint64_t h, const char *folded, uint64_t id)
{
    struct hmap_entry **l = &m->b[h & (m->nb - 1)];
    for (; *l; l = &(*l)->next) {
        struct hmap_entry *e = *l;
        if (e->hash != h)
            continue;
        if (folded ? (e->name && strcmp(e->name, folded) == 0) : (!e->name && e->id == id))
            return l;
    }
    return l;
}

static void *put(struct hmap *m, uint64_t h, const char *folded, uint64_t id, void *value)
{
    struct hmap_entry **l = find(m, h, folded, id);
    if (*l) {
        void *old = (*l)->value;
        (*l)->value = value;
        return old;
    }
    struct hmap_entry *e = xcalloc(1, sizeof *e);
    e->hash = h;
    e->id = id;
    e->value = value;
    if (folded) {
        e->name = strdup(folded);
        PARLOR_ASSERT(e->name != NULL);
    }
    e->next = m->b[h & (m->nb - 1)];
    m->b[h & (m->nb - 1)] = e;
    if (++m->count > m->nb)
        grow(m);
    return NULL;
}

static void *del(struct hmap *m, uint64_t h, const char *folded, uint64_t id)
{
    struct hmap_entry **l = find(m, h, folded, id);
    struct hmap_entry *e = *l;
    if (!e)
        return NULL;
    void *v = e->value;
    *l = e->next;
    free(e->name);
    free(e);
    m->count--;
    return v;
}

#define FOLD(name, buf) \
    size_t name##_len = strlen(name); \
    char buf[name##_len + 1]; \
    irc_casefold(buf, name, name##_len)

void *hmap_get_name(const struct hmap *m, const char *name)
{
    FOLD(name, f);
    struct hmap_entry *e = *find(m, irc_casehash(f, name_len), f, 0);
    return e ? e->value : NULL;
}

void *hmap_put_name(struct hmap *m, const char *name, void *value)
{
    FOLD(name, f);
    return put(m, irc_casehash(f, name_len), f, 0, value);
}

void *hmap_del_name(struct hmap *m, const char *name)
{
    FOLD(name, f);
    return del(m, irc_casehash(f, name_len), f, 0);
}

void *hmap_get_id(const struct hmap *m, uint64_t id)
{
    struct hmap_entry *e = *find(m, mix_id(id), NULL, id);
    return e ? e->value : NULL;
}

void *hmap_put_id(struct hmap *m, uint64_t id, void *value)
{
    return put(m, mix_id(id), NULL, id, value);
}

void *hmap_del_id(struct hmap *m, uint64_t id)
{
    return del(m, mix_id(id), NULL, id);
}

void hmap_iter_init(struct hmap_iter *it, struct hmap *m)
{
    it->m = m;
    it->bucket = 0;
    it->link = m->nb ? &m->b[0] : NULL;
    it->cur = NULL;
}

struct hmap_entry *hmap_iter_next(struct hmap_iter *it)
{
    struct hmap *m = it->m;
    if (!m->nb)
        return NULL;
    if (it->cur)          /* advance past the current entry, unless it was removed */
        it->link = &it->cur->next;
    for (;;) {
        if (*it->link) {
            it->cur = *it->link;
            return it->cur;
        }
        if (++it->bucket >= m->nb)
            return it->cur = NULL;
        it->link = &m->b[it->bucket];
    }
}

void hmap_iter_remove(struct hmap_iter *it)
{
    struct hmap_entry *e = it->cur;
    if (!e)
        return;
    *it->link = e->next;
    free(e->name);
    free(e);
    it->m->count--;
    it->cur = NULL;       /* next call continues from *link */
}
