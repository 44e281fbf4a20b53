/* A small chained hash table from keys to pointers.
 *
 * Keys are either integers (hmap_*_id) or IRC names compared under the ASCII
 * casemapping (hmap_*_name; the table keeps its own folded copy).  The table
 * owns its entries, never the values.  Grows by doubling; iteration order is
 * unspecified and stable only while the table is not modified, except that
 * hmap_iter_remove() may delete the current entry. */
#ifndef PARLOR_HMAP_H
#define PARLOR_HMAP_H

#include <stddef.h>
#include <stdint.h>

struct hmap_entry {
    struct hmap_entry *next;
    uint64_t hash;
    uint64_t id;
    char *name;          /* folded; NULL for integer keys */
    void *value;
};

struct hmap {
    struct hmap_entry **b;
    size_t nb;
    size_t count;
};

void hmap_init(struct hmap *m);
void hmap_free(struct hmap *m);        /* entries only, not values */

void *hmap_get_name(const struct hmap *m, const char *name);
/* Insert or replace; returns the previous value or NULL. */
void *hmap_put_name(struct hmap *m, const char *name, void *value);
void *hmap_del_name(struct hmap *m, const char *name);

void *hmap_get_id(const struct hmap *m, uint64_t id);
void *hmap_put_id(struct hmap *m, uint64_t id, void *value);
void *hmap_del_id(struct hmap *m, uint64_t id);

struct hmap_iter {
    struct hmap *m;
    size_t bucket;
    struct hmap_entry **link;   /* link to the current entry */
    struct hmap_entry *cur;
};
void hmap_iter_init(struct hmap_iter *it, struct hmap *m);
/* Advances; returns the next entry or NULL at the end. */
struct hmap_entry *hmap_iter_next(struct hmap_iter *it);
/* Delete the entry last returned by hmap_iter_next(). */
void hmap_iter_remove(struct hmap_iter *it);

#endif
