/* Log-linear latency histogram; see hist.h. */
#include "bench/hist.h"

#include <string.h>

void hist_init(struct hist *h)
{
    memset(h, 0, sizeof(*h));
}

static unsigned bucket_of(uint64_t us)
{
    if (us < HIST_LINEAR)
        return (unsigned)us;
    unsigned e = 63u - (unsigned)__builtin_clzll(us);     /* >= 7 */
    unsigned sub = (unsigned)(us >> (e - 6)) & (HIST_SUB - 1);
    unsigned idx = HIST_LINEAR + (e - 7) * HIST_SUB + sub;
    return idx < HIST_BUCKETS ? idx : HIST_BUCKETS - 1;
}

/* Upper edge (us, exclusive) of bucket idx. */
static uint64_t bucket_top(unsigned idx)
{
    if (idx < HIST_LINEAR)
        return idx + 1;
    unsigned e = (idx - HIST_LINEAR) / HIST_SUB + 7;
    unsigned sub = (idx - HIST_LINEAR) % HIST_SUB;
    return ((uint64_t)(HIST_SUB + sub + 1)) << (e - 6);
}

void hist_add(struct hist *h, uint64_t ns)
{
    h->buckets[bucket_of(ns / 1000)]++;
    h->count++;
    if (ns > h->max_ns)
        h->max_ns = ns;
}

uint64_t hist_quantile(const struct hist *h, double q)
{
    if (h->count == 0)
        return 0;
    uint64_t rank = (uint64_t)(q * (double)h->count);
    if (rank >= h->count)
        rank = h->count - 1;
    uint64_t seen = 0;
    for (unsigned i = 0; i < HIST_BUCKETS; i++) {
        seen += h->buckets[i];
        if (seen > rank) {
            uint64_t ns = bucket_top(i) * 1000;
            return ns < h->max_ns ? ns : h->max_ns;
        }
    }
    return h->max_ns;
}
