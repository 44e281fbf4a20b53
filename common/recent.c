#include "common/recent.h"

#include <stdio.h>

bool recent_seen(struct recent_ids *r, const char *id)
{
    if (!id[0])
        return false;
    if (!r->ready) {
        hmap_init(&r->index);
        r->ready = true;
    }
    if (hmap_get_name(&r->index, id))
        return true;
    char *slot = r->ring[r->pos];
    if (slot[0])
        hmap_del_name(&r->index, slot);
    snprintf(slot, RECENT_ID_MAX + 1, "%s", id);
    hmap_put_name(&r->index, slot, (void *)1);
    r->pos = (r->pos + 1) % RECENT_IDS;
    return false;
}
