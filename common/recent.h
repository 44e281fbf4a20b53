/* The last RECENT_IDS ids seen (msgids), in a ring with a hash index: "was
 * this one seen lately?" in one lookup.  A request sent again to a new
 * owner after a worker died (worker/outbox.c) may come back twice; these
 * let it through once. */
#ifndef PARLOR_RECENT_H
#define PARLOR_RECENT_H

#include <stdbool.h>

#include "common/hmap.h"

#define RECENT_IDS 8192
#define RECENT_ID_MAX 32

struct recent_ids {
    char ring[RECENT_IDS][RECENT_ID_MAX + 1];
    int pos;
    struct hmap index;             /* id -> (void *)1 */
    bool ready;
};

/* True if `id` was seen among the last RECENT_IDS; else remembers it.
 * An empty id is never seen. */
bool recent_seen(struct recent_ids *r, const char *id);

#endif
