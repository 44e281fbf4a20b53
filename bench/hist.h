/* Latency histogram for the load generator.
 *
 * Log-linear buckets over microseconds, like HdrHistogram with two
 * significant digits: exact below 128 us, then 64 buckets per power of two,
 * so a reported percentile is within 1.6% of the true value.  The maximum is
 * kept exactly.  Fixed size, no allocation; one per run. */
#ifndef PARLOR_BENCH_HIST_H
#define PARLOR_BENCH_HIST_H

#include <stdint.h>

#define HIST_LINEAR 128
#define HIST_SUB 64
#define HIST_BUCKETS (HIST_LINEAR + 40 * HIST_SUB)

struct hist {
    uint64_t count;
    uint64_t max_ns;
    uint64_t buckets[HIST_BUCKETS];
};

void hist_init(struct hist *h);
void hist_add(struct hist *h, uint64_t ns);
/* Value (ns) at quantile q in [0,1]: the upper edge of the bucket holding
 * the q-th sample, never above the recorded maximum.  0 when empty. */
uint64_t hist_quantile(const struct hist *h, double q);

#endif
